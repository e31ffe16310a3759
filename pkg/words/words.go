// Package words makes a message agree with a count: "1 instance",
// "3 instances"; "it", "them"; and lists names: "mi-1, mi-2 and mi-3".
// One home for these, so that no package keeps its own copy of them
// (pkg/cli, pkg/export and pkg/supervisor each had one).
package words

import (
	"strconv"
	"strings"
)

// Count is n and noun, the noun plural unless n is 1: "1 conflict",
// "0 conflicts". Nouns take an s: mictl counts no others.
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// And lists names as a sentence does: "a", "a and b", "a, b and c".
func And(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
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
