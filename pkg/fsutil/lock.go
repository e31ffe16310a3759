package fsutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// LockDir takes an exclusive flock on the directory dir, waiting for
// whoever holds it (another mictl, or another goroutine: each open of dir
// is a lock of its own) to let go; closing the returned file lets go. A
// directory, not a file in it, for what guards files replaced by a
// rename: a lock on the file was on the old one, which the next writer no
// longer opens.
func LockDir(dir string) (*os.File, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(d.Fd()), unix.LOCK_EX)
		if err != unix.EINTR { // the Go runtime signals its threads
			break
		}
	}
	if err != nil {
		d.Close()
		return nil, &os.PathError{Op: "flock", Path: dir, Err: err}
	}
	return d, nil
}
