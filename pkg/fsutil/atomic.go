// Package fsutil holds how mictl writes files: atomically (a temporary
// file renamed over the old), and durably where the file cannot be made
// again.
package fsutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WriteFileAtomic replaces path with data so that a reader, or a crash at any
// moment, sees either the old file or the whole new one, never a torn write:
// it writes a temporary file in the same directory, fsyncs it, gives it perm,
// renames it over path and fsyncs the directory so the rename itself is
// durable. The temporary file is removed on every failure. It is for files
// that cannot be made again or that the user named: the state file, a
// user's configuration, an export's output. A symbolic link at path is
// written through: its target is replaced, and the link stays (a
// mictl.toml kept in a dotfiles repository and linked from the working
// directory is edited where it is kept). ReplaceFile, for the files mictl
// generates in homes, replaces a link instead.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	target := linkTarget(path)
	err := replace(target, data, perm, true)
	if err != nil && target != path {
		return fmt.Errorf("%s is a link to %s: %w", path, target, err)
	}
	return err
}

// linkTarget is the file a symbolic link at path leads to, path itself
// when it is no link, or a link to nothing (replaced as it was before).
func linkTarget(path string) string {
	if info, err := os.Lstat(path); err != nil || info.Mode()&os.ModeSymlink == 0 {
		return path
	}
	if target, err := filepath.EvalSymlinks(path); err == nil {
		return target
	}
	return path
}

// ReplaceFile is WriteFileAtomic without the fsyncs: readers still see the
// old file or the whole new one, but after a power failure the new file
// may be empty. It is for files made again at every use, such as an
// instance's rendered deployment.toml (rendered at every start): twenty
// homes prepared at once spent most of their time in fsync.
func ReplaceFile(path string, data []byte, perm os.FileMode) error {
	return replace(path, data, perm, false)
}

// Holds reports whether path already is a regular file with exactly data
// and perm: a write that would change nothing can be skipped, and the
// file keeps its modification time (homes cloned from it do not copy it
// again).
func Holds(path string, data []byte, perm os.FileMode) bool {
	info, err := os.Lstat(path)
	if err != nil || !info.Mode().IsRegular() || info.Mode().Perm() != perm || info.Size() != int64(len(data)) {
		return false
	}
	got, err := os.ReadFile(path)
	return err == nil && bytes.Equal(got, data)
}

func replace(path string, data []byte, perm os.FileMode, durable bool) error {
	err := replaceWith(path, perm, durable, func(tmp *os.File) error {
		_, err := tmp.Write(data)
		return err
	})
	if err != nil {
		// A PathError naming path, not the temporary file: "write PATH:
		// permission denied", whose Cause callers can take apart again.
		return &fs.PathError{Op: "write", Path: path, Err: Cause(err)}
	}
	return nil
}

// Cause is what the system said of err, an error about a path (open,
// mkdir, rename: "permission denied"), without the path: for messages that
// name the path the user knows, not a temporary file's.
func Cause(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

// replaceWith is the one way a file is replaced: fill writes a temporary
// file in path's directory, which gets perm and is renamed over path, so
// a reader sees the old file or the whole new one. durable adds an fsync
// of the file before the rename and of the directory after it. The
// temporary file is removed on every failure.
func replaceWith(path string, perm os.FileMode, durable bool, fill func(tmp *os.File) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600: perm is set before the file is
	// renamed to its name, so it is never seen there with another mode.
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = fill(tmp); err != nil {
		return err
	}
	if durable {
		if err = tmp.Sync(); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return syncDir(dir)
}

// tempInfix comes between the name of the file a temporary file is to
// replace and CreateTemp's random digits: ".orders_1.0.0.car.tmp-123".
const tempInfix = ".tmp-"

// TempOf is the name of the file that name, a temporary file's, was to
// replace (see replaceWith), and whether name is one: a process killed
// between the temporary file's creation and its rename leaves it, which
// nothing else removes.
func TempOf(name string) (string, bool) {
	i := strings.LastIndex(name, tempInfix)
	if i < 2 || name[0] != '.' {
		return "", false
	}
	digits := name[i+len(tempInfix):]
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", false
	}
	return name[1:i], true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// CopyFileAtomic copies src to dst through a temporary file renamed over
// dst, so dst is never seen half-copied. Unlike WriteFileAtomic it does
// not fsync: it clones distributions, twenty homes of files at a time,
// where fsyncs would be most of the time `mictl up` takes, and a clone can
// always be made again. After a power failure a copy whose data did not
// reach the disk has a short size (the filesystem orders data before the
// size that covers it), which the next clone's size check finds and copies
// again. The copy gets perm and src's modification time (so a later sync
// can tell unchanged files by size and time).
func CopyFileAtomic(src, dst string, perm os.FileMode) error {
	return CopyBuildAtomic(src, dst, perm, "")
}

// ErrChanged is the error of CopyBuildAtomic when src no longer holds the
// content its caller read.
var ErrChanged = errors.New("changed since it was read")

// CopyBuildAtomic is CopyFileAtomic of the content of src whose hex
// SHA-256 is sha256 (none: whatever src holds). A caller plans from what
// it read, and src may be rewritten before the copy (a CApp rebuilt while
// a reload deploys it): copied, dst would hold a build the caller records
// as another, which nothing would replace. Such a copy is not made
// (dst is left as it was) and its error wraps ErrChanged.
func CopyBuildAtomic(src, dst string, perm os.FileMode, sha256 string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	err = replaceWith(dst, perm, false, func(tmp *os.File) error {
		// Hashed as it is copied, the source read once; with no build to
		// check, io.Copy between files keeps the kernel's copy_file_range
		// (a clone copies distributions of hundreds of MB).
		sum, w := newHash(), io.Writer(tmp)
		if sha256 != "" {
			w = io.MultiWriter(tmp, sum)
		}
		if _, err := io.Copy(w, in); err != nil {
			return err
		}
		if got := hexSum(sum); sha256 != "" && got != sha256 {
			return fmt.Errorf("%w (SHA-256 %s, not %s)", ErrChanged, got, sha256)
		}
		return os.Chtimes(tmp.Name(), info.ModTime(), info.ModTime())
	})
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, Cause(err)) // not the temporary file's name
	}
	return nil
}
