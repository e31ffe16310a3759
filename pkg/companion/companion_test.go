package companion

import (
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

// copyOfSelf puts a copy of the running test binary at dir/name with mode.
func copyOfSelf(t *testing.T, dir, name string, mode os.FileMode) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
}

func TestBeside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "mictl")
	self := Running()
	if self == nil {
		t.Fatal("the test binary has no build information")
	}
	copyOfSelf(t, dir, "same", 0o755)
	copyOfSelf(t, dir, "not-executable", 0o644)
	if err := os.WriteFile(filepath.Join(dir, "not-a-program"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := *self
	other.Settings = append([]debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}}, self.Settings...)
	newer := *self
	newer.Main.Version = "v9.9.9"

	for _, c := range []struct {
		name string
		want *debug.BuildInfo
		ok   bool
	}{
		{"same", self, true},
		{"same", &other, false},
		{"same", &newer, false},
		{"same", nil, false},
		{"not-executable", self, false},
		{"not-a-program", self, false},
		{"missing", self, false},
	} {
		path, ok := Beside(exe, c.name, c.want)
		if ok != c.ok || (ok && path != filepath.Join(dir, c.name)) {
			t.Errorf("Beside(%s) = %q, %v; want ok %v", c.name, path, ok, c.ok)
		}
	}
}
