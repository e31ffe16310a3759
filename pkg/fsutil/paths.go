package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Exists reports whether path names something this process can stat (a
// file, a directory, what a link leads to).
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// NearestExisting is path, or the nearest of its ancestors, that this
// process can stat, with what stat said; info is nil when none can be.
func NearestExisting(path string) (string, fs.FileInfo) {
	for p := path; ; p = filepath.Dir(p) {
		if info, err := os.Stat(p); err == nil {
			return p, info
		}
		if filepath.Dir(p) == p {
			return "", nil
		}
	}
}

// FileInTheWay is path, or the nearest of its ancestors, that exists and
// is not a directory, or "" if there is none: the file to name when a
// directory could not be read or made there (ENOTDIR names no path). The
// nearest that exists is the one: the ancestors of a directory are
// directories.
func FileInTheWay(path string) string {
	if p, info := NearestExisting(path); info != nil && !info.IsDir() {
		return p
	}
	return ""
}

// SameFile reports whether the paths a and b name one file, through any
// symbolic link (a directory reached by a link is its target to the
// daemon, which reads its working directory from the kernel); a file
// that does not exist is compared by its directory's real path.
func SameFile(a, b string) bool {
	ai, aerr := os.Stat(a)
	bi, berr := os.Stat(b)
	if aerr == nil && berr == nil {
		return os.SameFile(ai, bi)
	}
	return realPath(a) == realPath(b)
}

// realPath is path made absolute (mictl.toml and ./mictl.toml and its
// absolute path are one file), with its directory's symbolic links
// resolved, as far as they resolve.
func realPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		return filepath.Join(dir, filepath.Base(path))
	}
	return path
}
