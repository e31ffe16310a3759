// Package words makes a message agree with a count: "1 instance",
// "3 instances"; "it", "them". One home for these, so that no package
// keeps its own copy of them (pkg/cli, pkg/export and pkg/supervisor
// each had one).
package words

import "strconv"

// Count is n and noun, the noun plural unless n is 1: "1 conflict",
// "0 conflicts". Nouns take an s: mictl counts no others.
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// ItOrThem refers back to n things: "it" for one, "them" for more.
func ItOrThem(n int) string { return agree(n, "it", "them") }

// WasOrWere is the past of "be" for n things.
func WasOrWere(n int) string { return agree(n, "was", "were") }

// GetsOrGet is "get" for n things.
func GetsOrGet(n int) string { return agree(n, "gets", "get") }

func agree(n int, one, more string) string {
	if n == 1 {
		return one
	}
	return more
}
