package export_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/export/exporttest"
)

// A new export takes the old one's place whole: files the new one does not
// write are gone, nothing temporary is left, and the marker lists it.
func TestWriteDirReplacesTheWholeExport(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	first := []export.File{{Path: "a.yaml", Data: []byte("a"), Mode: 0o644}, {Path: "sub/b.yaml", Data: []byte("b"), Mode: 0o600}}
	if err := export.WriteDir(dir, "kind", first, 0o700); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, "sub", "b.yaml")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("sub/b.yaml: %v %v", err, info)
	}
	if err := export.CheckDir(dir, "kind", "--out", false); err != nil {
		t.Fatalf("an earlier export of the same kind is refused: %v", err)
	}
	if err := export.CheckDir(dir, "other", "--out", false); err == nil {
		t.Fatal("another kind's export was taken without --force")
	}
	second := []export.File{{Path: "c.yaml", Data: []byte("c"), Mode: 0o644}}
	if err := export.WriteDir(dir, "kind", second, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != export.Marker+" c.yaml" {
		t.Errorf("after the second export: %v", names)
	}
	if all, _ := os.ReadDir(parent); len(all) != 1 {
		t.Errorf("left beside the export: %v", all)
	}
	if info, _ := os.Stat(dir); info.Mode().Perm() != 0o700 {
		t.Errorf("export directory mode %v", info.Mode())
	}
}

// An export that cannot be written says so of the directory the user
// named and its parent, not of the temporary directory beside it.
func TestWriteDirErrorsNameTheUsersPaths(t *testing.T) {
	dir := "/proc/mictl-export-test" // a directory no one may make one in
	err := export.WriteDir(dir, "kind", []export.File{{Path: "a.yaml", Data: []byte("a"), Mode: 0o644}}, 0o700)
	if err == nil || !strings.HasPrefix(err.Error(), "export to "+dir+": cannot write in /proc: ") || strings.Contains(err.Error(), ".tmp-") {
		t.Fatalf("WriteDir into /proc: %v; want it said of %s and /proc alone", err, dir)
	}
}

func TestCheckDirRefusesWhatItDidNotWrite(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := export.CheckDir(dir, "kind", "--out", false)
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "mine.txt") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v", err)
	}
	if err := export.CheckDir(dir, "kind", "--out", true); err != nil {
		t.Fatalf("--force: %v", err)
	}
	file := filepath.Join(dir, "mine.txt")
	if err := export.CheckDir(file, "kind", "--out", true); err == nil {
		t.Fatal("a file taken as an export directory")
	}
}

func TestDeclaredCAppsAreChecked(t *testing.T) {
	dir := t.TempDir()
	notCar := filepath.Join(dir, "app.zip")
	if err := os.WriteFile(notCar, []byte("zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := exporttest.Target(t, dir, exporttest.Case{Name: "capps", TOML: "instances = 1\n"})
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.car"), "no such file"},
		{notCar, "only .car files"},
		{dir + "/", "only .car"},
	} {
		_, err := export.FromTarget(target, export.Options{CApps: func(string) []string { return []string{tc.path} }})
		var ce *config.Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "instance mi-1") {
			t.Errorf("%s: err = %v, want a config error naming mi-1 and %q", tc.path, err, tc.want)
		}
	}
}
