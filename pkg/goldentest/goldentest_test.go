package goldentest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// recorder keeps what Check reports instead of failing the real test.
type recorder struct {
	*testing.T
	failures []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
	panic(r) // stands in for runtime.Goexit, ending Check like Fatalf would
}

func check(t *testing.T, path string, got []byte) (failures []string) {
	r := &recorder{T: t}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
		failures = r.failures
	}()
	Check(r, path, got)
	return r.failures
}

func TestCheck(t *testing.T) {
	if *Update {
		t.Skip("-update rewrites rather than compares")
	}
	path := filepath.Join(t.TempDir(), "a.golden")
	if err := os.WriteFile(path, []byte("same\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f := check(t, path, []byte("same\n")); len(f) != 0 {
		t.Errorf("equal output reported: %q", f)
	}
	f := check(t, path, []byte("other\n"))
	if len(f) != 1 || !strings.Contains(f[0], path) || !strings.Contains(f[0], "-update") || !strings.Contains(f[0], "line 1") {
		t.Errorf("different output reported as %q, want one failure naming %s and -update", f, path)
	}
	f = check(t, filepath.Join(t.TempDir(), "missing.golden"), []byte("x"))
	if len(f) != 1 || !strings.Contains(f[0], "-update to create it") {
		t.Errorf("missing golden reported as %q", f)
	}
}

func TestFirstDifference(t *testing.T) {
	for _, tc := range []struct{ got, want, says string }{
		{"a\nb\nc\n", "a\nb\nc\n", "no difference"},
		{"a\nb\nc\n", "a\nB\nc\n", "first difference at line 2, after \"a\":\n  got:  \"b\"\n  want: \"B\""},
		{"a\n", "a\nmore\n", "first difference at line 2, after \"a\":\n  got:  \"\"\n  want: \"more\""},
		{"x", "", "first difference at line 1:\n  got:  \"x\"\n  want: \"\""},
		{"a\nb", "a", "first difference at line 2, after \"a\":\n  got:  \"b\"\n  want: (end of text)"},
	} {
		if says := FirstDifference(tc.got, tc.want); says != tc.says {
			t.Errorf("FirstDifference(%q, %q) = %q, want %q", tc.got, tc.want, says, tc.says)
		}
	}
}

func TestUnsaid(t *testing.T) {
	text := "mictl reloaded: +mi-2\nmi-2 ready\n"
	if got := Unsaid(text, "mi-2 ready", "mi-1 ready", "+mi-2", "-mi-3"); !slices.Equal(got, []string{"mi-1 ready", "-mi-3"}) {
		t.Errorf("Unsaid = %q, want the two the text lacks, in order", got)
	}
	if got := Unsaid(text, "+mi-2"); len(got) != 0 {
		t.Errorf("Unsaid of a line the text says = %q, want none", got)
	}
}
