package logs

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// failAfter bounds how long a test waits for something that should happen
// at once; it only turns a hang into a failure, it measures nothing.
const failAfter = 10 * time.Second

// follower runs Follow in the background and collects its lines.
type follower struct {
	lines chan string
	done  chan struct{} // closed once Follow returned err
	err   error
	stop  context.CancelFunc
}

func startFollow(t *testing.T, path string, from int64) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{lines: make(chan string, 100), done: make(chan struct{}), stop: cancel}
	go func() {
		defer close(f.done)
		f.err = Follow(ctx, path, from, func(line string) { f.lines <- line })
	}()
	// Also after expect saw Follow return (a closed channel, not a value
	// that only one reader gets).
	t.Cleanup(func() { f.stop(); <-f.done })
	return f
}

// expect waits for exactly these lines, in order.
func (f *follower) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-f.lines:
			if got != w {
				t.Fatalf("line = %q, want %q", got, w)
			}
		case <-f.done:
			t.Fatalf("Follow returned %v while waiting for %q", f.err, w)
		case <-time.After(failAfter):
			t.Fatalf("no line within %v, want %q", failAfter, w)
		}
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestFollowAppendsAndPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	writeFile(t, path, "skipped\nfrom here\n")
	f := startFollow(t, path, int64(len("skipped\n")))
	f.expect(t, "from here")
	// "first" and the partial "par" arrive in one write, so once "first"
	// is out, "par" has been read and held back.
	appendTo(t, path, "first\r\npar")
	f.expect(t, "first")
	appendTo(t, path, "tial\nlast\n")
	f.expect(t, "partial", "last")
}

func TestFollowTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	writeFile(t, path, "one\ntwo\nthree\n")
	f := startFollow(t, path, 0)
	f.expect(t, "one", "two", "three")
	// Copy-truncate, as RotateIfLarger does to a file held O_APPEND.
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if rotated, err := RotateIfLarger(path, 1, 1); err != nil || !rotated {
		t.Fatalf("rotate: %v %v", rotated, err)
	}
	w.WriteString("after\n")
	f.expect(t, "after")
	w.WriteString("more\n")
	f.expect(t, "more")
}

func TestFollowRenameAndRecreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	writeFile(t, path, "a\n")
	f := startFollow(t, path, 0)
	f.expect(t, "a")

	// Rename rotation: the writer still appends to the renamed file until
	// it reopens; those lines are read too.
	old, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	old.WriteString("b, written after the rename\n")
	f.expect(t, "b, written after the rename")
	appendTo(t, path, "c, in the new file\n")
	f.expect(t, "c, in the new file")
	appendTo(t, path, "d\n")
	f.expect(t, "d")

	// Atomic replace: a new file renamed over the path.
	tmp := path + ".tmp"
	writeFile(t, tmp, "e, replaced\n")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "e, replaced")

	// Remove, then create again.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "f, recreated\n")
	f.expect(t, "f, recreated")
}

func TestFollowFileCreatedLate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	// A fromOffset for a file that does not exist does not apply to the
	// file created later.
	f := startFollow(t, path, 1000)
	appendTo(t, path, "hello\n")
	f.expect(t, "hello")
	appendTo(t, path, "world\n")
	f.expect(t, "world")
}

// A directory that does not exist yet is waited for, as tail -F does,
// several levels of it too: an instance's logs/ directory removed under it
// comes back with its next start.
func TestFollowMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	path := filepath.Join(dir, "deeper", "console.log")
	f := startFollow(t, path, 0)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "hello\n")
	f.expect(t, "hello")
	appendTo(t, path, "world\n")
	f.expect(t, "world")
}

// A directory removed while followed (rm -rf logs) is waited for again; the
// partial line of the file it held is shown, as nothing will complete it.
func TestFollowDirectoryRemovedAndRecreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	path := filepath.Join(dir, "console.log")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "before\n")
	f := startFollow(t, path, 0)
	f.expect(t, "before")
	appendTo(t, path, "partial")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "partial")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "after\n")
	f.expect(t, "after")
	// Again, renamed away this time.
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "after the rename\n")
	f.expect(t, "after the rename")
}

// With no inotify instance left to the user, Follow looks at the file
// every pollEvery, and still follows appends, truncation and a file
// created late. (Not run in parallel: it changes newWatcher.)
func TestFollowWithoutInotify(t *testing.T) {
	newWatcher = func() (*fsnotify.Watcher, error) { return nil, syscall.EMFILE }
	defer func() { newWatcher = fsnotify.NewWatcher }()
	t.Run("appends", TestFollowAppendsAndPartialLine)
	t.Run("truncate", TestFollowTruncate)
	t.Run("created late", TestFollowFileCreatedLate)
	t.Run("missing directory", TestFollowMissingDirectory)
	t.Run("directory removed", TestFollowDirectoryRemovedAndRecreated)
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(entries)
}

// settles waits until count() is back to want: goroutines end a moment
// after they are told to.
func settles(t *testing.T, what string, want int, count func() int) {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for count() > want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d", what, count(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFollowNoLeaks(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "late.log"),
		filepath.Join(dir, "missing", "dir.log")}
	writeFile(t, paths[0], "a\n")
	writeFile(t, paths[1], "b\n")
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan string, 10)
	done := make(chan error, len(paths))
	for _, p := range paths {
		go func() { done <- Follow(ctx, p, 0, func(l string) { lines <- l }) }()
	}
	for range 2 {
		select {
		case <-lines:
		case <-time.After(failAfter):
			t.Fatal("followers did not start")
		}
	}
	if openFDs(t) <= fds {
		t.Fatal("followers hold no file descriptors: the leak check would prove nothing")
	}
	cancel()
	for range paths {
		if err := <-done; err != nil {
			t.Errorf("Follow after cancel: %v", err)
		}
	}
	settles(t, "goroutines", goroutines, runtime.NumGoroutine)
	settles(t, "open fds", fds, func() int { return openFDs(t) })
}
