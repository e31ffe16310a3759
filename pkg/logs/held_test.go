package logs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/mictl/mictl/pkg/syncbuf"
)

// heldLog is a log deleted from path (logs/console.log) beside its
// rotated copy, which this process, as a running server does, still holds
// open and writes to: write appends to it, and held is where it is read.
func heldLog(t *testing.T) (path string, held *Held, write func(string)) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "console.log")
	writeFile(t, path+".1", "[2026-11-25 15:00:01,000]  INFO - rotated\n")
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	write = func(s string) {
		t.Helper()
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	write("[2026-11-25 15:00:02,000]  INFO - written before the deletion\n")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	held, err = HeldAt(os.Getpid(), strconv.Itoa(int(w.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	return path, held, write
}

// A log deleted under its writer is read, after its rotated copies,
// through the link its writer holds: the copies alone showed lines the
// writer had long moved on from.
func TestTailReadsAHeldLogAfterItsCopies(t *testing.T) {
	path, held, _ := heldLog(t)
	var out strings.Builder
	if err := Tail(&out, []Source{{Name: "mi-1", Path: path, Held: held}}, Options{Lines: -1}); err != nil {
		t.Fatal(err)
	}
	want := "[2026-11-25 15:00:01,000]  INFO - rotated\n[2026-11-25 15:00:02,000]  INFO - written before the deletion\n"
	if out.String() != want {
		t.Errorf("Tail = %q, want %q", out.String(), want)
	}
}

// Following a log deleted under its writer reads what the writer appends
// to it, also once its directory is gone too, then the log created at
// its path (the server's next start), from its first line: it waited for
// that new log and showed nothing the server wrote meanwhile.
func TestFollowAllReadsAHeldLogUntilANewOne(t *testing.T) {
	path, held, write := heldLog(t)
	var out syncbuf.Buffer
	stop := followAll(t, &out, []Source{{Name: "mi-1", Path: path, Held: held}}, Options{Lines: 1})
	waitFor(t, &out, "written before the deletion\n")
	write("after the deletion\n")
	waitFor(t, &out, "deletion\nafter the deletion\n")
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	write("after its directory went\n")
	waitFor(t, &out, "after the deletion\nafter its directory went\n")
	write("shut down")
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "started again\n")
	// The held file's partial last line is shown as it is: its writer has
	// moved on to the new log.
	waitFor(t, &out, "after its directory went\nshut down\nstarted again\n")
	stop()
}

// followAll runs FollowAll of srcs into out in the background; stop ends
// it and fails the test unless it returns nil at once.
func followAll(t *testing.T, out *syncbuf.Buffer, srcs []Source, opts Options) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- FollowAll(ctx, out, srcs, opts) }()
	t.Cleanup(cancel)
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("FollowAll: %v", err)
			}
		case <-time.After(failAfter):
			t.Fatal("FollowAll did not return after its context was cancelled")
		}
	}
}

// Without inotify, the held log is looked at as any followed file is.
// (Not run in parallel: it changes newWatcher.)
func TestFollowAllReadsAHeldLogWithoutInotify(t *testing.T) {
	newWatcher = func() (*fsnotify.Watcher, error) { return nil, os.ErrPermission }
	defer func() { newWatcher = fsnotify.NewWatcher }()
	TestFollowAllReadsAHeldLogUntilANewOne(t)
}

// The link of a held log is read only while it names that file: the
// server may close it and open another under the same fd number (or end,
// and its pid go to another process) between the look that found it and
// the read, which then showed the other file as the log.
func TestAHeldLogsLinkNamingAnotherFileIsNotRead(t *testing.T) {
	path, held, _ := heldLog(t)
	other, err := os.Create(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.WriteString("another file's line\n"); err != nil {
		t.Fatal(err)
	}
	var fd int
	if _, err := fmt.Sscanf(filepath.Base(held.Link), "%d", &fd); err != nil {
		t.Fatal(err)
	}
	// The log closed, and its fd number given to another file.
	if err := syscall.Dup3(int(other.Fd()), fd, 0); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := Tail(&out, []Source{{Name: "mi-1", Path: path, Held: held}}, Options{Lines: -1}); err != nil {
		t.Fatal(err)
	}
	if want := "[2026-11-25 15:00:01,000]  INFO - rotated\n"; out.String() != want {
		t.Errorf("Tail = %q, want the rotated copy alone, %q", out.String(), want)
	}
	var followed syncbuf.Buffer
	stop := followAll(t, &followed, []Source{{Name: "mi-1", Path: path, Held: held}}, Options{Lines: -1})
	writeFile(t, path, "started again\n")
	waitFor(t, &followed, "started again\n")
	stop()
	if strings.Contains(followed.String(), "another file") {
		t.Errorf("FollowAll read the file the link names since:\n%s", followed.String())
	}
}

// holderOf starts a process that holds the file at path open as its
// output, in process group pgid (0: one of its own), as a server and
// its script hold their console.log; end ends it (and the test's end).
func holderOf(t *testing.T, path string, pgid int) (pid int, end func()) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("sleep", "60")
	cmd.Stdout = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	end = sync.OnceFunc(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	t.Cleanup(end)
	return cmd.Process.Pid, end
}

// holdsDeleted reports whether this process holds the file deleted from
// path open.
func holdsDeleted(t *testing.T, path string) bool {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); target == path+" (deleted)" {
			return true
		}
	}
	return false
}

// Following a log deleted under its server lets it go once no process
// of the server's group holds it any more, and says so; the log created
// at its path later is followed. Kept open, its disk space stayed in use
// for as long as logs -f ran. A script that holds it too (MI's, which
// starts its JVM again on exit 121, giving it the same output) keeps it
// followed past the server's end.
func TestFollowAllLetsAHeldLogGoOnceNothingHoldsIt(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir()) // as /proc names it
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "console.log")
	script, endScript := holderOf(t, path, 0)
	server, endServer := holderOf(t, path, script)
	appendTo(t, path, "before the deletion\n")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	held, err := HeldAt(server, "1")
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan Source, 1)
	var out syncbuf.Buffer
	stop := followAll(t, &out, []Source{{Name: "mi-1", Path: path, Held: held}}, Options{Lines: -1, Released: func(s Source) { released <- s }})
	waitFor(t, &out, "before the deletion\n")
	endServer()
	appendTo(t, fmt.Sprintf("/proc/%d/fd/1", script), "the script writes on\n")
	waitFor(t, &out, "the script writes on\n")
	select {
	case <-released:
		t.Fatal("the held log was let go while the script still held it")
	default:
	}
	endScript()
	select {
	case s := <-released:
		if s.Name != "mi-1" || s.Path != path {
			t.Errorf("released %+v, want mi-1's", s)
		}
	case <-time.After(failAfter):
		t.Fatal("the held log was not let go once nothing held it")
	}
	if holdsDeleted(t, path) {
		t.Error("the follower still holds the deleted log open")
	}
	writeFile(t, path, "started again\n")
	waitFor(t, &out, "the script writes on\nstarted again\n")
	stop()
}

// Without inotify, the held log is let go as well.
// (Not run in parallel: it changes newWatcher.)
func TestFollowAllLetsAHeldLogGoWithoutInotify(t *testing.T) {
	newWatcher = func() (*fsnotify.Watcher, error) { return nil, os.ErrPermission }
	defer func() { newWatcher = fsnotify.NewWatcher }()
	TestFollowAllLetsAHeldLogGoOnceNothingHoldsIt(t)
}
