package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/fsutil"
)

// File is one file of an export, made in memory before anything is
// written.
type File struct {
	// Path is relative to the export's directory, with '/' separators.
	Path string `json:"path"`
	// What says what the file is, for listings: "Deployment mi".
	What string      `json:"what"`
	Data []byte      `json:"-"`
	Mode os.FileMode `json:"-"`
}

// Marker is the file in an export's directory that lists what the export
// wrote, so that exporting again may replace the directory without
// --force while a directory holding anything else is refused.
const Marker = ".mictl-export.json"

type marker struct {
	Kind  string   `json:"kind"`
	Files []string `json:"files"`
}

// UnderAFile is the error of an output path (named by flag) that a file
// above it keeps from being made: the file is named, not open's or
// stat's words.
func UnderAFile(path, flag string) *config.Error {
	return &config.Error{Where: "flag " + flag, Msg: fmt.Sprintf("%s is a file, where %s needs a directory; choose another %s",
		fsutil.FileInTheWay(filepath.Dir(path)), path, flag)}
}

// CheckDir explains why dir cannot take an export of kind, or returns
// nil: it must be missing, empty, or hold only what an earlier export of
// the same kind wrote, unless force allows replacing it whole. flag names
// the option that chose dir, for the message.
func CheckDir(dir, kind, flag string, force bool) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, syscall.ENOTDIR):
		return UnderAFile(dir, flag)
	case err != nil:
		return fmt.Errorf("cannot look at %s (%s): %w", dir, flag, fsutil.Cause(err))
	case !info.IsDir():
		return &config.Error{Where: "flag " + flag, Msg: fmt.Sprintf("%s exists and is not a directory; choose another %s", dir, flag)}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cannot read %s (%s): %w", dir, flag, fsutil.Cause(err))
	}
	if len(entries) == 0 {
		return nil
	}
	if force {
		return refuseCurrent(dir, flag)
	}
	ours := ownEntries(dir, kind)
	var other []string
	for _, e := range entries {
		if !ours[e.Name()] {
			other = append(other, e.Name())
		}
	}
	if len(other) == 0 {
		return nil
	}
	if len(other) > 3 {
		other = append(other[:3], "...")
	}
	return &config.Error{Where: "flag " + flag, Msg: fmt.Sprintf(
		"%s already holds files that no earlier `mictl export %s` wrote (%s); choose an empty or new directory, or add --force to replace %s and everything in it",
		dir, kind, strings.Join(other, ", "), dir)}
}

// ownEntries are the top-level names in dir that an earlier export of
// kind wrote, by its marker.
func ownEntries(dir, kind string) map[string]bool {
	earlier, ok := earlierFiles(dir, kind)
	if !ok {
		return nil
	}
	ours := map[string]bool{Marker: true}
	for _, f := range earlier {
		top, _, _ := strings.Cut(f, "/")
		ours[top] = true
	}
	return ours
}

// earlierFiles are the files an earlier export of kind wrote in dir, as
// its marker lists them; ok is false when dir holds no export of kind.
func earlierFiles(dir, kind string) (files []string, ok bool) {
	data, err := os.ReadFile(filepath.Join(dir, Marker))
	if err != nil {
		return nil, false
	}
	var m marker
	if json.Unmarshal(data, &m) != nil || m.Kind != kind {
		return nil, false
	}
	return m.Files, true
}

// Dropped lists the files an earlier export of kind in dir wrote that
// files does not hold (an instance or a CApp gone from the configuration
// since), sorted, relative to dir with '/' separators. WriteDir removes
// them with the rest of the earlier export; what was installed or applied
// from them (a drop-in copied into place, a Deployment in a cluster)
// stays. Call it before WriteDir.
func Dropped(dir, kind string, files []File) []string {
	earlier, _ := earlierFiles(dir, kind)
	var out []string
	for _, f := range earlier {
		if !slices.ContainsFunc(files, func(n File) bool { return n.Path == f }) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// refuseCurrent keeps --force from replacing the working directory or one
// above it: the shell would be left in a deleted directory.
func refuseCurrent(dir, flag string) error {
	abs, err1 := filepath.Abs(dir)
	wd, err2 := os.Getwd()
	if err1 != nil || err2 != nil {
		return errors.Join(err1, err2)
	}
	if rel, err := filepath.Rel(abs, wd); err == nil && filepath.IsLocal(rel) || abs == wd {
		return &config.Error{Where: "flag " + flag, Msg: fmt.Sprintf("%s holds the current directory; --force will not replace it: choose another %s", dir, flag)}
	}
	return nil
}

// WriteDir writes files as the whole content of dir: they go into a new
// directory beside dir (mode dirMode), are synced, and the new directory
// then takes dir's place in one rename (exchanged with an existing dir,
// whose old content is then removed). A reader or a crash sees the old
// export or the new one, never a mix. Where the filesystem cannot
// exchange two directories, the old dir is renamed aside first: for that
// moment there is no dir (a crash then leaves the old export beside it,
// under a hidden name), and it is renamed back if the new one cannot take
// its place. Call CheckDir first.
func WriteDir(dir, kind string, files []File, dirMode os.FileMode) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("export to %s: cannot create %s: %w", dir, pe.Path, pe.Err)
		}
		return fmt.Errorf("export to %s: %w", dir, err)
	}
	// The export is written beside dir under a temporary name, which
	// means nothing to the user: an error is said of dir's parent.
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("export to %s: cannot write in %s: %w", dir, parent, fsutil.Cause(err))
	}
	defer os.RemoveAll(tmp) // after an exchange, the old export
	if err := fill(tmp, kind, files, dirMode); err != nil {
		return fmt.Errorf("export to %s: cannot write in %s: %w", dir, parent, fsutil.Cause(err))
	}
	if err := swapInto(tmp, dir); err != nil {
		return fmt.Errorf("export to %s: %w", dir, err)
	}
	return syncDir(parent)
}

// fill writes files and the marker into the empty directory root, each
// file synced, then each directory.
func fill(root, kind string, files []File, dirMode os.FileMode) error {
	m := marker{Kind: kind}
	for _, f := range files {
		m.Files = append(m.Files, f.Path)
	}
	slices.Sort(m.Files)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	all := append(slices.Clip(files), File{Path: Marker, Data: append(data, '\n'), Mode: 0o644})
	dirs := []string{root}
	for _, f := range all {
		if !filepath.IsLocal(filepath.FromSlash(f.Path)) {
			return fmt.Errorf("%s is not a path inside the export", f.Path)
		}
		path := filepath.Join(root, filepath.FromSlash(f.Path))
		if d := filepath.Dir(path); !slices.Contains(dirs, d) {
			if err := os.MkdirAll(d, dirMode); err != nil {
				return err
			}
			dirs = append(dirs, d)
		}
		if err := writeSynced(path, f.Data, f.Mode); err != nil {
			return err
		}
	}
	if err := os.Chmod(root, dirMode); err != nil {
		return err
	}
	for _, d := range slices.Backward(dirs) {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func writeSynced(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	// The umask may have taken bits off mode: set it exactly.
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// exchange swaps two directories in one step (renameat2
// RENAME_EXCHANGE), and rename is os.Rename: variables, so that tests can
// make a filesystem that cannot exchange, or a rename that fails.
var (
	exchange = func(a, b string) error {
		return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	}
	rename = os.Rename
)

// swapInto puts the directory tmp in dir's place. An existing dir is
// exchanged with tmp in one step, so tmp then holds the old export. Where
// the filesystem cannot exchange, the old dir is renamed aside, tmp
// renamed into its place, and only then the old one removed; if tmp
// cannot take its place, the old one is renamed back. Errors are said of
// dir: tmp's name means nothing to the user (the caller names dir).
func swapInto(tmp, dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		if err := rename(tmp, dir); err != nil {
			return fmt.Errorf("cannot put the export in place: %w", fsutil.Cause(err))
		}
		return nil
	}
	err := exchange(tmp, dir)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("cannot replace the earlier export: %w", fsutil.Cause(err))
	}
	old := tmp + ".old"
	if err := rename(dir, old); err != nil {
		return fmt.Errorf("cannot move the earlier export aside: %w", fsutil.Cause(err))
	}
	if err := rename(tmp, dir); err != nil {
		if back := rename(old, dir); back != nil {
			return fmt.Errorf("cannot put the new export in place (%w), nor the earlier one back (%w): it is in %s; rename that to %s",
				fsutil.Cause(err), fsutil.Cause(back), old, dir)
		}
		return fmt.Errorf("cannot put the new export in place: %w; the earlier export is left as it was", fsutil.Cause(err))
	}
	// The new export is in place: failing to remove the old one leaves a
	// hidden directory beside it, as a crash here would, not an error.
	os.RemoveAll(old)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
