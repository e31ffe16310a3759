package testports

import (
	"cmp"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// lockFile is the file whose bytes stand for ports on this host (EnvLock
// names another, for testports' own tests): a process holding a span
// holds an open file description lock (F_OFD_SETLK) on the bytes of its
// claim's ports. The kernel drops it when the process ends, however it
// ends, so a killed test run leaves no span taken. OFD locks of two opens
// conflict even within one process, but all of this process's on one file
// go through one open, whose spans held keeps apart.
func lockFile() *os.File {
	path := cmp.Or(os.Getenv(EnvLock), defaultLockFile)
	lockFilesMu.Lock()
	defer lockFilesMu.Unlock()
	f, ok := lockFiles[path]
	if !ok {
		f = openLockFile(path)
		lockFiles[path] = f
	}
	return f
}

// defaultLockFile is the lock file every suite on the host shares, in
// the temporary directory as it was when the test binary started: a
// TestMain that points TMPDIR at a directory of its own (pkg/sim's does,
// for its leak check) would otherwise lock a file no other suite does.
var defaultLockFile = filepath.Join(os.TempDir(), "mictl-testports.lock")

var (
	lockFilesMu sync.Mutex
	lockFiles   = map[string]*os.File{} // by path; nil: it cannot be opened
)

// openLockFile opens (creating) the lock file at path, nil when it cannot.
func openLockFile(path string) *os.File {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// Writable by every user: another user's suite locks it too (the
		// ports are the host's). Created apart from the open above, as a
		// world-writable sticky /tmp refuses O_CREAT on another user's file
		// (fs.protected_regular).
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666); err == nil {
			_ = f.Chmod(0o666) // past the umask
		} else if errors.Is(err, fs.ErrExist) {
			f, err = os.OpenFile(path, os.O_RDWR, 0)
		}
	}
	if err != nil {
		return nil // spans are then kept apart within this process only
	}
	return f
}

// hostLock locks c's ports for this process on the host: ok is false
// when another process holds any of them. Without a lock file (another
// user's, not writable) or OFD locks (Linux before 3.15) every span counts
// as free of other processes. unlock releases them.
func hostLock(c claim) (unlock func(), ok bool) {
	f := lockFile()
	if f == nil {
		return func() {}, true
	}
	var locked []unix.Flock_t
	unlock = func() {
		for _, lk := range locked {
			lk.Type = unix.F_UNLCK
			_ = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
		}
	}
	for _, r := range c {
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: int64(r[0]), Len: int64(r[1] - r[0])}
		switch err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); {
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EACCES):
			unlock()
			return nil, false
		case err != nil:
			// No OFD locks here: the spans are kept apart within this
			// process only.
			unlock()
			return func() {}, true
		}
		locked = append(locked, lk)
	}
	return unlock, true
}
