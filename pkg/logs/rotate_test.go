package logs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestRotateIfLarger(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "console.log")

	if rotated, err := RotateIfLarger(path, 10, 2); err != nil || rotated {
		t.Fatalf("missing file: rotated=%v err=%v, want false, nil", rotated, err)
	}
	writeFile(t, path, "small\n")
	if rotated, err := RotateIfLarger(path, 10, 2); err != nil || rotated {
		t.Fatalf("small file: rotated=%v err=%v, want false, nil", rotated, err)
	}

	// Three rotations with keep 2: the first generation falls off.
	for _, gen := range []string{"first generation\n", "second generation\n", "third generation\n"} {
		writeFile(t, path, gen)
		rotated, err := RotateIfLarger(path, 10, 2)
		if err != nil || !rotated {
			t.Fatalf("rotate %q: rotated=%v err=%v", gen, rotated, err)
		}
		if got := readFile(t, path); got != "" {
			t.Fatalf("original after rotation = %q, want empty", got)
		}
		if got := readFile(t, path+".1"); got != gen {
			t.Fatalf("%s.1 = %q, want %q", path, got, gen)
		}
	}
	if got := readFile(t, path+".2"); got != "second generation\n" {
		t.Errorf(".2 = %q, want the second generation", got)
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf(".3 exists (keep is 2): %v", err)
	}
	info, err := os.Stat(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o640 {
		t.Errorf(".1 mode = %v, want the original's 0640", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestRotateKeepZeroOnlyTruncates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	writeFile(t, path, "0123456789abcdef\n")
	if rotated, err := RotateIfLarger(path, 4, 0); err != nil || !rotated {
		t.Fatalf("rotated=%v err=%v", rotated, err)
	}
	if got := readFile(t, path); got != "" {
		t.Errorf("original = %q, want empty", got)
	}
	if _, err := os.Stat(path + ".1"); !os.IsNotExist(err) {
		t.Errorf(".1 exists with keep 0: %v", err)
	}
	if _, err := RotateIfLarger(path, -1, 1); err == nil {
		t.Error("negative maxBytes accepted")
	}
}

// The supervisor's writer holds the log open with O_APPEND and is never
// told about the rotation: its next write must land at the new start of
// the file, with no hole of NUL bytes where the old content was.
func TestRotateAppendWriterContinuesAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString("before rotation, a long enough line\n"); err != nil {
		t.Fatal(err)
	}
	if rotated, err := RotateIfLarger(path, 8, 3); err != nil || !rotated {
		t.Fatalf("rotated=%v err=%v", rotated, err)
	}
	if _, err := w.WriteString("after\n"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "after\n" {
		t.Errorf("original = %q, want %q", got, "after\n")
	}
	if got := readFile(t, path+".1"); got != "before rotation, a long enough line\n" {
		t.Errorf(".1 = %q", got)
	}
}

// A log its caller alone writes is renamed, not copied: the old file
// (its inode, with everything written to it) becomes path.1, a new empty
// log with the old one's mode takes path, and the caller's writes to the
// returned file append there.
func TestReplaceIfLarger(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.log")
	if next, err := ReplaceIfLarger(path, 10, 2); next != nil || err != nil {
		t.Fatalf("missing log: %v, %v; want nil, nil", next, err)
	}
	writeFile(t, path, "small\n")
	if next, err := ReplaceIfLarger(path, 10, 2); next != nil || err != nil {
		t.Fatalf("small log: %v, %v; want nil, nil", next, err)
	}
	for _, gen := range []string{"first generation\n", "second generation\n", "third generation\n"} {
		writeFile(t, path, gen)
		old, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		next, err := ReplaceIfLarger(path, 10, 2)
		if err != nil || next == nil {
			t.Fatalf("rotate %q: %v, %v", gen, next, err)
		}
		if _, err := next.WriteString("new\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := next.WriteString("more\n"); err != nil {
			t.Fatal(err)
		}
		next.Close()
		if got := readFile(t, path); got != "new\nmore\n" {
			t.Fatalf("the new log holds %q, want what was written to the returned file", got)
		}
		renamed, err := os.Stat(path + ".1")
		if err != nil || !os.SameFile(old, renamed) {
			t.Fatalf("%s.1 is not the old log renamed (%v)", path, err)
		}
		if got := readFile(t, path+".1"); got != gen {
			t.Fatalf("%s.1 = %q, want %q", path, got, gen)
		}
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o640 {
			t.Fatalf("the new log's mode: %v (%v), want the old one's 0640", info.Mode().Perm(), err)
		}
	}
	if got := readFile(t, path+".2"); got != "second generation\n" {
		t.Errorf(".2 = %q, want the second generation", got)
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf(".3 exists (keep is 2): %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	if _, err := ReplaceIfLarger(path, 1, 0); err == nil {
		t.Error("keep 0 accepted: the writer's old file would have no name to go on in")
	}
}
