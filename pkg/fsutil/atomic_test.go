package fsutil_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/fsutil"
)

// withUmask runs the test under a restrictive or permissive umask; perm must
// be honoured either way. Umask is process-wide, so these tests are not parallel.
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// leftovers lists temporary files WriteFileAtomic/CopyFileAtomic may leave.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// writers are the two ways to replace a file. They differ only in the
// fsyncs, which a test cannot observe, so each test runs with both.
var writers = []struct {
	name  string
	write func(path string, data []byte, perm os.FileMode) error
}{
	{"WriteFileAtomic", fsutil.WriteFileAtomic},
	{"ReplaceFile", fsutil.ReplaceFile},
}

func TestWriteFileAtomic(t *testing.T) {
	tests := []struct {
		name     string
		umask    int
		perm     os.FileMode
		existing []byte // nil: no file before
		existPrm os.FileMode
		data     []byte
	}{
		{"new secret under permissive umask", 0o000, 0o600, nil, 0, []byte("password = \"x\"\n")},
		{"new public file under strict umask", 0o077, 0o644, nil, 0, []byte("hello\n")},
		{"0644 under umask 022", 0o022, 0o644, nil, 0, []byte("a")},
		{"executable under strict umask", 0o077, 0o755, nil, 0, []byte("#!/bin/sh\n")},
		{"replaces a longer file", 0o022, 0o644, []byte("a much longer old content\n"), 0o644, []byte("new\n")},
		{"tightens an existing 0644 file to 0600", 0o022, 0o600, []byte("old"), 0o644, []byte("secret")},
		{"loosens an existing 0600 file to 0644", 0o077, 0o644, []byte("old"), 0o600, []byte("public")},
		{"empty data", 0o022, 0o600, []byte("old"), 0o644, []byte{}},
	}
	for _, w := range writers {
		for _, tt := range tests {
			t.Run(w.name+"/"+tt.name, func(t *testing.T) {
				withUmask(t, tt.umask)
				dir := t.TempDir()
				path := filepath.Join(dir, "deployment.toml")
				if tt.existing != nil {
					if err := os.WriteFile(path, tt.existing, tt.existPrm); err != nil {
						t.Fatal(err)
					}
					if err := os.Chmod(path, tt.existPrm); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.write(path, tt.data, tt.perm); err != nil {
					t.Fatalf("%s: %v", w.name, err)
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(tt.data) {
					t.Errorf("content = %q, want %q", got, tt.data)
				}
				info, err := os.Lstat(path)
				if err != nil {
					t.Fatal(err)
				}
				if !info.Mode().IsRegular() {
					t.Errorf("mode %v: not a regular file", info.Mode())
				}
				if info.Mode().Perm() != tt.perm {
					t.Errorf("perm = %o, want %o (umask %03o must not matter)", info.Mode().Perm(), tt.perm, tt.umask)
				}
				if l := leftovers(t, dir); len(l) != 0 {
					t.Errorf("temporary files left: %v", l)
				}
			})
		}
	}
}

// WriteFileAtomic writes through a symbolic link (a configuration kept
// elsewhere and linked in): the link stays and its target changes.
// ReplaceFile, for generated files, replaces the link itself, so that a
// home's file linked to a shared one never writes into it.
func TestWriteThroughLinks(t *testing.T) {
	dir := t.TempDir()
	kept := filepath.Join(dir, "dotfiles", "mictl.toml")
	if err := os.MkdirAll(filepath.Dir(kept), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "mictl.toml")
	if err := os.Symlink(filepath.Join("dotfiles", "mictl.toml"), link); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteFileAtomic(link, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced (%v, %v)", info.Mode(), err)
	}
	if got, _ := os.ReadFile(kept); string(got) != "new\n" {
		t.Fatalf("the link's target holds %q, want the new content", got)
	}

	shared := filepath.Join(dir, "shared.toml")
	if err := os.WriteFile(shared, []byte("shared\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	generated := filepath.Join(dir, "deployment.toml")
	if err := os.Symlink(shared, generated); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.ReplaceFile(generated, []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(shared); string(got) != "shared\n" {
		t.Fatalf("ReplaceFile wrote into the linked file: %q", got)
	}
	if info, err := os.Lstat(generated); err != nil || !info.Mode().IsRegular() {
		t.Fatalf("ReplaceFile left %v (%v), want a regular file", info.Mode(), err)
	}
}

func TestWriteFileAtomicReplacesNotTruncates(t *testing.T) {
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) { testReplacesNotTruncates(t, w.write) })
	}
}

// A reader holding the old file keeps the old content: the new file is a
// new inode renamed over the path, never the old one rewritten in place.
func testReplacesNotTruncates(t *testing.T, write func(string, []byte, os.FileMode) error) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldInfo, _ := old.Stat()
	if err := write(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	newInfo, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(oldInfo, newInfo) {
		t.Error("the file was rewritten in place, not replaced by rename")
	}
	buf := make([]byte, 64)
	n, _ := old.ReadAt(buf, 0)
	if string(buf[:n]) != "old content" {
		t.Errorf("an open reader sees %q, want the old content", buf[:n])
	}
}

func TestWriteFileAtomicFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (path string)
	}{
		{
			name: "directory missing",
			setup: func(t *testing.T, dir string) string {
				return filepath.Join(dir, "missing", "deployment.toml")
			},
		},
		{
			name: "target is a directory",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "conf")
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
				// A non-empty directory cannot be replaced by a file.
				if err := os.WriteFile(filepath.Join(p, "keep"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			},
		},
	}
	for _, w := range writers {
		for _, tt := range tests {
			t.Run(w.name+"/"+tt.name, func(t *testing.T) {
				dir := t.TempDir()
				path := tt.setup(t, dir)
				err := w.write(path, []byte("data"), 0o600)
				if err == nil {
					t.Fatalf("%s succeeded, want an error", w.name)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name %s", err, path)
				}
				if strings.Contains(err.Error(), ".tmp-") {
					t.Errorf("error %q names the temporary file, which the user never sees", err)
				}
				for _, d := range []string{dir, filepath.Dir(path)} {
					if _, serr := os.Stat(d); serr != nil {
						continue
					}
					if l := leftovers(t, d); len(l) != 0 {
						t.Errorf("temporary files left in %s after a failure: %v", d, l)
					}
				}
			})
		}
	}
}

func TestCopyFileAtomic(t *testing.T) {
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name     string
		umask    int
		data     []byte
		srcPerm  os.FileMode
		perm     os.FileMode
		existing []byte
	}{
		{"script keeps 0755 under strict umask", 0o077, []byte("#!/bin/sh\necho hi\n"), 0o755, 0o755, nil},
		{"perm argument wins over the source's", 0o022, []byte("k=v\n"), 0o644, 0o600, nil},
		{"0644 under permissive umask", 0o000, []byte("k=v\n"), 0o600, 0o644, nil},
		{"replaces an existing destination", 0o022, []byte("new"), 0o644, 0o644, []byte("old and longer")},
		{"empty file", 0o022, []byte{}, 0o644, 0o644, nil},
		{"larger than one buffer", 0o022, []byte(strings.Repeat("0123456789abcdef", 40000)), 0o644, 0o644, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withUmask(t, tt.umask)
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			dstDir := filepath.Join(dir, "out")
			if err := os.Mkdir(dstDir, 0o755); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(dstDir, "dst")
			if err := os.WriteFile(src, tt.data, tt.srcPerm); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(src, tt.srcPerm); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(src, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			if tt.existing != nil {
				if err := os.WriteFile(dst, tt.existing, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := fsutil.CopyFileAtomic(src, dst, tt.perm); err != nil {
				t.Fatalf("CopyFileAtomic: %v", err)
			}
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tt.data) {
				t.Errorf("content differs: %d bytes, want %d", len(got), len(tt.data))
			}
			info, err := os.Stat(dst)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != tt.perm {
				t.Errorf("perm = %o, want %o", info.Mode().Perm(), tt.perm)
			}
			if !info.ModTime().Equal(mtime) {
				t.Errorf("mtime = %v, want the source's %v", info.ModTime(), mtime)
			}
			srcInfo, _ := os.Stat(src)
			if os.SameFile(srcInfo, info) {
				t.Error("destination is the source inode, want a copy")
			}
			if !srcInfo.ModTime().Equal(mtime) || srcInfo.Mode().Perm() != tt.srcPerm {
				t.Errorf("source changed: mtime %v perm %o", srcInfo.ModTime(), srcInfo.Mode().Perm())
			}
			if l := leftovers(t, dstDir); len(l) != 0 {
				t.Errorf("temporary files left: %v", l)
			}
		})
	}
}

func TestCopyFileAtomicFailures(t *testing.T) {
	t.Run("missing source", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "nope")
		dst := filepath.Join(dir, "dst")
		err := fsutil.CopyFileAtomic(src, dst, 0o644)
		if err == nil {
			t.Fatal("copying a missing file succeeded")
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error %v does not wrap fs.ErrNotExist", err)
		}
		if !strings.Contains(err.Error(), src) {
			t.Errorf("error %q does not name the source %s", err, src)
		}
		if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("destination created anyway: %v", err)
		}
		if l := leftovers(t, dir); len(l) != 0 {
			t.Errorf("temporary files left: %v", l)
		}
	})
	t.Run("missing destination directory", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "src")
		if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, "missing", "dst")
		err := fsutil.CopyFileAtomic(src, dst, 0o644)
		if err == nil {
			t.Fatal("copy into a missing directory succeeded")
		}
		if !strings.Contains(err.Error(), dst) || strings.Contains(err.Error(), ".tmp-") {
			t.Errorf("error %q does not name the destination %s, or names the temporary file", err, dst)
		}
		if l := leftovers(t, dir); len(l) != 0 {
			t.Errorf("temporary files left: %v", l)
		}
	})
	t.Run("destination is a non-empty directory", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "src")
		if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, "dst")
		if err := os.MkdirAll(filepath.Join(dst, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fsutil.CopyFileAtomic(src, dst, 0o644); err == nil {
			t.Fatal("copy over a directory succeeded")
		}
		if l := leftovers(t, dir); len(l) != 0 {
			t.Errorf("temporary files left: %v", l)
		}
		if info, err := os.Stat(dst); err != nil || !info.IsDir() {
			t.Errorf("destination directory damaged: %v %v", info, err)
		}
	})
}

// CopyBuildAtomic copies the build its caller read, and only that: a
// source rewritten since (a CApp rebuilt while a reload deploys it) leaves
// the destination as it was, with an error wrapping ErrChanged. Before,
// the copy took whatever the source held then, and the caller recorded it
// as the build it had read.
func TestCopyBuildAtomicCopiesOnlyTheBuildRead(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "orders_1.0.0.car"), filepath.Join(dir, "carbonapps.car")
	if err := os.WriteFile(src, []byte("build A"), 0o644); err != nil {
		t.Fatal(err)
	}
	read, err := fsutil.SHA256(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsutil.CopyBuildAtomic(src, dst, 0o644, read); err != nil {
		t.Fatalf("copy of the build read: %v", err)
	}
	if err := os.WriteFile(src, []byte("build B, rebuilt meanwhile"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = fsutil.CopyBuildAtomic(src, dst, 0o644, read)
	if !errors.Is(err, fsutil.ErrChanged) || !strings.Contains(err.Error(), src) {
		t.Fatalf("copy of a source rewritten since it was read: %v, want an error naming %s and wrapping ErrChanged", err, src)
	}
	if got, _ := os.ReadFile(dst); string(got) != "build A" {
		t.Errorf("the destination holds %q, want the build copied before, %q", got, "build A")
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

// Holds is true only for a regular file with exactly the data and mode.
func TestHolds(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if fsutil.Holds(path, nil, 0o600) {
		t.Error("a missing file holds nothing")
	}
	if err := fsutil.WriteFileAtomic(path, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		data string
		perm os.FileMode
		want bool
	}{
		{"abc", 0o600, true},
		{"abd", 0o600, false},
		{"abcd", 0o600, false},
		{"abc", 0o644, false},
	} {
		if got := fsutil.Holds(path, []byte(tc.data), tc.perm); got != tc.want {
			t.Errorf("Holds(%q, %v) = %v, want %v", tc.data, tc.perm, got, tc.want)
		}
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if fsutil.Holds(link, []byte("abc"), 0o600) {
		t.Error("a symlink is not the file it points to")
	}
}

// TempOf tells the temporary files a replace creates (whose process may
// have been killed before its rename) from every other name, and names
// the file each was to replace: a daemon removes only those.
func TestTempOf(t *testing.T) {
	tmp, err := os.CreateTemp(t.TempDir(), ".orders_1.0.0.car.tmp-*") // as a replace names them
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	left := filepath.Base(tmp.Name())
	if of, ok := fsutil.TempOf(left); !ok || of != "orders_1.0.0.car" {
		t.Errorf("TempOf(%q) = %q, %v; want orders_1.0.0.car", left, of, ok)
	}
	for _, name := range []string{"orders_1.0.0.car", ".orders_1.0.0.car", ".orders.car.tmp-", ".orders.car.tmp-12x", "orders.car.tmp-123", ".tmp-123", "x"} {
		if of, ok := fsutil.TempOf(name); ok {
			t.Errorf("TempOf(%q) = %q; want no temporary file", name, of)
		}
	}
}
