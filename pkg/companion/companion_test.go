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
	in, err := os.Open(Running().Path)
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

func build(version string, settings ...string) *debug.BuildInfo {
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/mictl/mictl", Version: version}}
	for i := 0; i+1 < len(settings); i += 2 {
		info.Settings = append(info.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return info
}

func TestSameBuild(t *testing.T) {
	t.Parallel()
	stamped := func(v string) *debug.BuildInfo {
		return build("(devel)", "-ldflags", "-X github.com/mictl/mictl/pkg/cli.Version=dev "+StampFlag(v), "vcs.modified", "true")
	}
	commit := func(rev, modified string) *debug.BuildInfo {
		return build("(devel)", "vcs.revision", rev, "vcs.time", "2026-12-02T08:00:00Z", "vcs.modified", modified)
	}
	for _, c := range []struct {
		what        string
		a, b        *debug.BuildInfo
		same, known bool
	}{
		{"one make build", stamped("1a2b"), stamped("1a2b"), true, true},
		{"make build after an edit", stamped("1a2b"), stamped("3c4d"), false, true},
		{"stamped beside unstamped", stamped("1a2b"), commit("abc", "false"), false, true},
		{"go install of one clean commit", commit("abc", "false"), commit("abc", "false"), true, true},
		{"go install of two commits", commit("abc", "false"), commit("def", "false"), false, true},
		{"uncommitted changes", commit("abc", "true"), commit("abc", "true"), false, false},
		{"no version control", build("(devel)"), build("(devel)"), false, false},
		{"one release", build("v1.2.0"), build("v1.2.0"), true, true},
		{"two releases", build("v1.2.0"), build("v1.3.0"), false, true},
	} {
		if same, known := sameBuild(c.a, c.b); same != c.same || known != c.known {
			t.Errorf("%s: same %v, known %v; want %v, %v", c.what, same, known, c.same, c.known)
		}
	}
}

func TestBeside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "mictl")
	self := Running()
	if self.Build == nil {
		t.Fatal("the test binary has no build information")
	}
	copyOfSelf(t, dir, "copy", 0o755)
	copyOfSelf(t, dir, "not-executable", 0o644)
	if err := os.WriteFile(filepath.Join(dir, "not-a-program"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The copies are unstamped: a stamped mictl tells them from itself.
	stampedSelf := self
	stampedSelf.Build = build("(devel)", "-ldflags", StampFlag("1a2b"))
	// Another program than the copies, whose build cannot tell.
	otherFile := Program{Path: filepath.Join(dir, "not-a-program"), Build: self.Build}

	for _, c := range []struct {
		name string
		self Program
		ok   bool
	}{
		{"copy", self, true},
		{"copy", stampedSelf, false},
		{"copy", otherFile, false},
		{"copy", Program{Path: self.Path}, false},
		{"not-executable", self, false},
		{"not-a-program", self, false},
		{"missing", self, false},
	} {
		path, ok := Beside(exe, c.name, c.self)
		if ok != c.ok || (ok && path != filepath.Join(dir, c.name)) {
			t.Errorf("Beside(%s) from %s = %q, %v; want ok %v", c.name, c.self.Path, path, ok, c.ok)
		}
	}
}
