package shellword

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// A plain word stays as it is; any other reads back, through sh, as given.
func TestQuoteReadsBackAsGiven(t *testing.T) {
	for _, plain := range []string{"deploy/compose.yaml", "--instances=3", "--offsets=10,20", "--host=127.0.0.1"} {
		if got := Quote(plain); got != plain {
			t.Errorf("Quote(%q) = %s, want it as it is", plain, got)
		}
	}
	for _, word := range []string{"my deploy/compose.yaml", "it's/x", "$HOME/x;rm", "a\tb", "ünï/x", "", "--mi-home=/opt/my mi"} {
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(word)).Output()
		if err != nil || string(out) != word {
			t.Errorf("sh read %s back as %q (%v), want %q", Quote(word), out, err, word)
		}
	}
}

// Join's line splits, in sh, into the words it was given.
func TestJoinSplitsBackIntoItsWords(t *testing.T) {
	words := []string{"--instances=3", "--mi-home=/tmp/my mi", "--name-prefix=it's", ""}
	// sh sets its arguments from the line and prints each on a line.
	got, err := exec.Command("sh", "-c", `eval "set -- $1"; printf '%s\n' "$@"`, "sh", Join(words)).Output()
	if err != nil {
		t.Fatalf("sh on %s: %v", Join(words), err)
	}
	if back := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n"); !slices.Equal(back, words) {
		t.Errorf("sh split %s into %q, want %q", Join(words), back, words)
	}
}
