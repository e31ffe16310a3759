// Package logs reads, follows, filters, merges and rotates the log files of
// mictl's Micro Integrator instances: each instance's console.log (its
// script's stdout and stderr) and MI's own wso2carbon.log.
package logs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// RotateIfLarger rotates the log at path when it has grown beyond maxBytes,
// keeping keep old copies: path.1 (newest) .. path.<keep> (oldest). It
// reports whether it rotated. A missing file is not an error: there is
// nothing to rotate yet.
//
// It copies and truncates instead of renaming because the writer (the
// instance's script, started by the supervisor) holds path open with
// O_APPEND and is never told to reopen it: after a rename it would keep
// writing into path.1. With O_APPEND every write lands at the current end
// of the file, so after the truncate the writer simply continues at offset
// 0. A writer WITHOUT O_APPEND would continue at its old offset and leave a
// sparse hole; mictl's supervisor always opens O_APPEND.
//
// Copy-truncate has a window in which lines are lost, as logrotate's
// copytruncate has: a line written after the copy reached the end of the
// file and before the truncate is in neither path.1 nor path. To keep that
// window as small as possible the order is: shift the old copies first
// (renames only, no data moves), then copy the live file to a temporary
// file up to its end, then truncate immediately — only the time between the
// copy's last read and the ftruncate call is exposed, a few microseconds,
// independent of the file's size — and only then fsync the copy and rename
// it to path.1. Each copy appears atomically under its name: a reader never
// sees a half-written path.1.
//
// If the process dies after the truncate and before the rename, the copy is
// left as ".<name>.1.tmp-*" beside path rather than deleted; the error in
// that case names it too. keep 0 truncates without keeping any copy.
func RotateIfLarger(path string, maxBytes int64, keep int) (rotated bool, err error) {
	if maxBytes < 0 || keep < 0 {
		return false, fmt.Errorf("rotate %s: maxBytes (%d) and keep (%d) must not be negative", path, maxBytes, keep)
	}
	// A look at the size first: the daemon asks every few seconds of
	// every instance's log, and most of the time the answer is no (one
	// stat, where opening, a stat of the open file and closing it were
	// three system calls and a tenth of an idle daemon's CPU).
	if info, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) || (err == nil && info.Size() <= maxBytes) {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	if info.Size() <= maxBytes {
		return false, nil
	}
	if keep == 0 {
		if err := f.Truncate(0); err != nil {
			return false, fmt.Errorf("rotate %s: truncate: %w", path, err)
		}
		return true, nil
	}

	if err := shiftCopies(path, keep); err != nil {
		return false, err
	}

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".1.tmp-*")
	if err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	truncated := false
	defer func() {
		// Before the truncate the original still holds everything: the copy
		// is only clutter. After it, the copy is the only place the old
		// lines live, so it stays on disk for the operator to find.
		if err != nil {
			tmp.Close()
			if !truncated {
				os.Remove(tmp.Name())
			} else {
				err = fmt.Errorf("%w (the rotated lines are kept in %s)", err, tmp.Name())
			}
		}
	}()
	if err = tmp.Chmod(info.Mode().Perm()); err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	// Copy from offset 0 to EOF (io.Copy reads until a read returns 0, so
	// whatever was appended during the copy is included; file to file it
	// runs in the kernel, copy_file_range), then truncate at once: this pair
	// is the loss window described above.
	if _, err = io.Copy(tmp, f); err != nil {
		return false, fmt.Errorf("rotate %s: copy: %w", path, err)
	}
	if err = f.Truncate(0); err != nil {
		return false, fmt.Errorf("rotate %s: truncate: %w", path, err)
	}
	truncated = true
	if err = tmp.Sync(); err != nil {
		return true, fmt.Errorf("rotate %s: sync copy: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return true, fmt.Errorf("rotate %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), numbered(path, 1)); err != nil {
		return true, fmt.Errorf("rotate %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		// The renames are durable only once the directory is synced; a
		// failure here loses nothing that is not already on disk.
		_ = d.Sync()
		d.Close()
	}
	return true, nil
}

// ReplaceIfLarger rotates the log at path, when it has grown beyond
// maxBytes, by renaming it: path becomes path.1 (the older copies shifted
// as RotateIfLarger shifts them, keep of them kept) and a new empty log
// takes its name, returned open for appending; nil when path was not
// rotated. It is for a log whose only writer is the caller, which writes
// to the returned file from then on: no data moves, so the caller's
// writes need wait only for a few renames, where a copy of a large log
// and its fsync would hold them up. The caller keeps its writes out
// while it runs, or the ones in between land in path.1.
//
// The new log is made before anything is renamed, so a failure to make
// it leaves the log as it was.
func ReplaceIfLarger(path string, maxBytes int64, keep int) (*os.File, error) {
	if maxBytes < 0 || keep < 1 {
		return nil, fmt.Errorf("rotate %s: maxBytes (%d) must not be negative and keep (%d) must be at least 1", path, maxBytes, keep)
	}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && info.Size() <= maxBytes) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rotate %s: %w", path, err)
	}
	next, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("rotate %s: %w", path, err)
	}
	replaced := false
	defer func() {
		if !replaced {
			next.Close()
			os.Remove(next.Name())
		}
	}()
	// CreateTemp opens read-write without O_APPEND; the log is appended
	// to, so it is opened again as the writer opens it.
	appendTo, err := os.OpenFile(next.Name(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("rotate %s: %w", path, err)
	}
	next.Close()
	next = appendTo
	if err := next.Chmod(info.Mode().Perm()); err != nil {
		return nil, fmt.Errorf("rotate %s: %w", path, err)
	}
	if err := shiftCopies(path, keep); err != nil {
		return nil, err
	}
	if err := os.Rename(path, numbered(path, 1)); err != nil {
		return nil, fmt.Errorf("rotate %s: %w", path, err)
	}
	if err := os.Rename(next.Name(), path); err != nil {
		// The writer goes on in its old file: give it its name back.
		_ = os.Rename(numbered(path, 1), path)
		return nil, fmt.Errorf("rotate %s: %w", path, err)
	}
	replaced = true
	return next, nil
}

// shiftCopies makes room for path.1: it drops the oldest of keep copies
// and shifts the others up. Renames are atomic, so every copy is at all
// times whole under one of its names.
func shiftCopies(path string, keep int) error {
	if err := os.Remove(numbered(path, keep)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotate %s: %w", path, err)
	}
	for i := keep - 1; i >= 1; i-- {
		if err := os.Rename(numbered(path, i), numbered(path, i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate %s: %w", path, err)
		}
	}
	return nil
}

// numbered is the name of the i-th old copy of path.
func numbered(path string, i int) string { return path + "." + strconv.Itoa(i) }
