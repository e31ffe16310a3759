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
// "0 conflicts".
func Count(n int, noun string) string {
	return strconv.Itoa(n) + " " + Noun(n, noun)
}

// Noun is noun for n things, without the number: "server" for one,
// "servers" for more, where the names are said beside it ("the running
// servers of mi-1, mi-2"). Nouns take an s: mictl counts no others.
func Noun(n int, noun string) string { return agree(n, noun, noun+"s") }

// Verb is the present of verb (as the infinitive says it) with n things
// for its subject: "keeps" for one, "keep" for more. Verbs take an s:
// mictl agrees no others ("is" has IsOrAre).
func Verb(n int, verb string) string { return agree(n, verb+"s", verb) }

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

// IsOrAre is the present of "be" for n things.
func IsOrAre(n int) string { return agree(n, "is", "are") }

// ItsOrTheir is the possessive of n things: "its" for one, "their" for
// more.
func ItsOrTheir(n int) string { return agree(n, "its", "their") }

func agree(n int, one, more string) string {
	if n == 1 {
		return one
	}
	return more
}
