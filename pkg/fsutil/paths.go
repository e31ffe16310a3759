package fsutil

import (
	"os"
	"path/filepath"
)

// FileInTheWay is path, or the nearest of its ancestors, that exists and
// is not a directory, or "" if there is none: the file to name when a
// directory could not be read or made there (ENOTDIR names no path).
func FileInTheWay(path string) string {
	for p := path; ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
		if filepath.Dir(p) == p {
			return ""
		}
	}
}
