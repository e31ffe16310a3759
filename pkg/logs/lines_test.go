package logs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Backwards gives every line, the last first, whole across the chunks it
// reads, a line longer than a chunk too, and stops when told.
func TestBackwards(t *testing.T) {
	long := strings.Repeat("x", 3*backwardsChunk+17)
	for _, tc := range []struct {
		what, content string
		want          []string
	}{
		{"empty", "", nil},
		{"one line", "a\n", []string{"a"}},
		{"no final newline", "a\nb", []string{"b", "a"}},
		{"empty lines", "a\n\nb\n", []string{"b", "", "a"}},
		{"a long line between", "a\n" + long + "\nb\n", []string{"b", long, "a"}},
		{"a long first line", long + "\nb\n", []string{"b", long}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.log")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var got []string
			if err := Backwards(path, func(line []byte) bool { got = append(got, string(line)); return true }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("lines %q, want %q", got, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "events.log")
	if err := os.WriteFile(path, []byte("a\nb\nc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := Backwards(path, func(line []byte) bool { got = append(got, string(line)); return len(got) < 2 }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"c", "b"}) {
		t.Fatalf("stopped after the second line, read %q", got)
	}
	if err := Backwards(filepath.Join(t.TempDir(), "none"), func([]byte) bool { t.Fatal("a missing file has a line"); return false }); err != nil {
		t.Fatal(err)
	}
}

// Lines gives every line, the first first, a line longer than a read's
// buffer whole, and one longer than maxLine cut, the lines after it
// whole.
func TestLines(t *testing.T) {
	long := strings.Repeat("y", 100<<10)
	path := filepath.Join(t.TempDir(), "events.log")
	if err := os.WriteFile(path, []byte("a\n"+long+"\n"+strings.Repeat("z", 300)+"\nb"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := Lines(path, 200<<10, func(line string) { got = append(got, line) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", long, strings.Repeat("z", 300), "b"}; !slices.Equal(got, want) {
		t.Fatalf("lines %.100q, want %.100q", got, want)
	}
	got = nil
	if err := Lines(path, 10, func(line string) { got = append(got, line) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "yyyyyyyyyy", "zzzzzzzzzz", "b"}; !slices.Equal(got, want) {
		t.Fatalf("lines cut at 10 bytes: %q, want %q", got, want)
	}
	if err := Lines(filepath.Join(t.TempDir(), "none"), 10, func(string) { t.Fatal("a missing file has a line") }); err != nil {
		t.Fatal(err)
	}
}
