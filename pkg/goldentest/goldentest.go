// Package goldentest compares test output with golden files, or with the
// few lines a test wants of it (Unsaid), for tests only. Every package
// that keeps goldens shares its -update flag and its messages, so a
// changed golden always reads the same way.
package goldentest

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Update is the -update flag: rewrite the golden files from this run
// instead of comparing with them.
var Update = flag.Bool("update", false, "rewrite the golden files from this run")

// Check compares got with the file at path; with -update it first writes
// got there (making its directory). Pass an absolute path when the test
// may change directory before calling.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run the test with -update and review the diff if the change is intended): %s\n--- got\n%s--- want\n%s",
			path, FirstDifference(string(got), string(want)), got, want)
	}
}

// Unsaid are those of wants that text does not contain, in their order:
// a test that wants a few lines of an output, not the whole of it, names
// every one missing in one failure, with the output once. A failure per
// line repeated the whole output (and the event log) for each.
func Unsaid(text string, wants ...string) []string {
	return slices.DeleteFunc(slices.Clone(wants), func(want string) bool { return strings.Contains(text, want) })
}

// FirstDifference describes where got and want part: the first line that
// differs, with the line before it. Failure messages put it first, so that
// a log cut short (CI keeps the head and the tail) still shows the cause.
func FirstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		if i < len(g) && i < len(w) && g[i] == w[i] {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "first difference at line %d", i+1)
		if i > 0 {
			fmt.Fprintf(&b, ", after %q", g[i-1])
		}
		fmt.Fprintf(&b, ":\n  got:  %s\n  want: %s", lineOrEnd(g, i), lineOrEnd(w, i))
		return b.String()
	}
	return "no difference"
}

// lineOrEnd is lines[i] quoted, or says the text ended before it.
func lineOrEnd(lines []string, i int) string {
	if i >= len(lines) {
		return "(end of text)"
	}
	return strconv.Quote(lines[i])
}
