package export

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// cannotExchange makes the filesystem one that cannot exchange two
// directories (EINVAL, as renameat2 says there), and renames fail when
// fail says so of their source and target; both are restored after t.
func cannotExchange(t *testing.T, fail func(from, to string) bool) {
	t.Helper()
	exchange0, rename0 := exchange, rename
	t.Cleanup(func() { exchange, rename = exchange0, rename0 })
	exchange = func(string, string) error { return unix.EINVAL }
	rename = func(from, to string) error {
		if fail(from, to) {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.EXDEV}
		}
		return rename0(from, to)
	}
}

func writeExport(t *testing.T, dir, data string) error {
	t.Helper()
	return WriteDir(dir, "kind", []File{{Path: "a.yaml", Data: []byte(data), Mode: 0o644}}, 0o700)
}

// Where the filesystem cannot exchange two directories, the new export
// still replaces the old one whole, and nothing else is left beside it.
func TestWriteDirReplacesWithoutExchange(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := writeExport(t, dir, "old"); err != nil {
		t.Fatal(err)
	}
	cannotExchange(t, func(string, string) bool { return false })
	if err := writeExport(t, dir, "new"); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "a.yaml")); err != nil || string(data) != "new" {
		t.Errorf("a.yaml: %q, %v; want the new export", data, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
		t.Errorf("beside the export: %v; want it alone", entries)
	}
}

// If the new export cannot take the old one's place once the old one is
// aside, the old one is put back: the user keeps an export, and the
// error names the output directory, not a temporary one.
func TestWriteDirKeepsTheOldExportWhenTheNewCannotTakeItsPlace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := writeExport(t, dir, "old"); err != nil {
		t.Fatal(err)
	}
	cannotExchange(t, func(from, to string) bool { return to == dir && !strings.HasSuffix(from, ".old") })
	err := writeExport(t, dir, "new")
	if err == nil || !strings.HasPrefix(err.Error(), "export to "+dir+": cannot put the new export in place: ") ||
		!strings.Contains(err.Error(), "the earlier export is left as it was") || strings.Contains(err.Error(), ".tmp-") ||
		!errors.Is(err, syscall.EXDEV) {
		t.Errorf("err = %v; want it said of %s, with the cause, and that the earlier export is kept", err, dir)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "a.yaml")); err != nil || string(data) != "old" {
		t.Errorf("a.yaml: %q, %v; want the old export kept", data, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
		t.Errorf("beside the export: %v; want it alone", entries)
	}
}
