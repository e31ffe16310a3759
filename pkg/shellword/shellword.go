// Package shellword writes the words of a command the user pastes into a
// POSIX shell (advice such as "mictl up --mi-home=... starts it", an
// export's next step) so that the shell reads each word back as given.
package shellword

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Quote is s as one word of a shell command line: as it is when the shell
// reads it so (plain words stay readable), else in single quotes, each
// quote in s closing them, escaped, and opening them again ("my
// deploy/compose.yaml" unquoted is two words).
func Quote(s string) string {
	plain := func(r rune) bool {
		return r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_@%+=:,./-", r))
	}
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !plain(r) }) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join is words as a shell command line: each Quoted, separated by spaces.
func Join(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = Quote(w)
	}
	return strings.Join(quoted, " ")
}
