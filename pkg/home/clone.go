package home

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/mictl/mictl/pkg/fsutil"
)

// SyncStats counts what Sync did, for progress lines and tests.
type SyncStats struct {
	Linked, Copied, UpToDate int
	// Removed are files an earlier Sync put there that the distribution
	// no longer has.
	Removed int
	// Kept are files edited in the home since Sync put them there, left
	// as they are (see clonedList).
	Kept int
}

// clonedList names the file of a home that lists the files Sync last
// put there from the distribution, one a line: its slash-separated path,
// then, for a regular file, a tab, its size, a tab and its modification
// time (Unix nanoseconds), as Sync left it. A file listed that the
// distribution no longer has was the distribution's, and goes: a jar
// removed or replaced in mi_home's lib/ stayed on every instance's
// classpath beside its successor. A file the instance or its operator
// made is in no list, and stays; one edited in the home since (a log
// level tuned in its conf/log4j2.properties) no longer has the listed
// size and time, and stays too, as a package manager keeps an edited
// configuration file: a restart reverted such edits without a word.
const clonedList = ".mictl-cloned"

// stamp is a regular file's size and modification time, as a home's
// clonedList records them.
type stamp struct {
	size  int64
	mtime int64
}

func stampOf(info fs.FileInfo) stamp { return stamp{info.Size(), info.ModTime().UnixNano()} }

// readCloned is the clonedList of the home dir: each path listed, with
// its stamp when one is (nil for a symlink, or a list written before
// stamps were).
func readCloned(dir string) (listing string, listed map[string]*stamp, err error) {
	b, err := os.ReadFile(filepath.Join(dir, clonedList))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, err
	}
	listed = map[string]*stamp{}
	for line := range strings.Lines(string(b)) {
		rel, rest, stamped := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		listed[rel] = nil
		var st stamp
		if _, serr := fmt.Sscanf(rest, "%d\t%d", &st.size, &st.mtime); stamped && serr == nil {
			listed[rel] = &st
		}
	}
	return string(b), listed, nil
}

// edited reports whether the home's file at path, listed with st, was
// changed since Sync put it there. A file missing, or listed without a
// stamp, is not.
func edited(path string, st *stamp) bool {
	info, err := os.Lstat(path)
	return st != nil && err == nil && info.Mode().IsRegular() && stampOf(info) != *st
}

// readOnlyDirs hold the jars MI only ever reads (docs/mi-facts.md: lib/ and
// wso2/components/plugins are read-only and may be hard-linked).
var readOnlyDirs = []string{"lib", "wso2/lib", "wso2/components/plugins", "dropins"}

// perInstance are paths every instance must have empty and its own: MI
// writes logs, its pid file and temporary files there.
var perInstance = map[string]bool{
	"tmp":                  true,
	"repository/logs":      true,
	"wso2carbon.pid":       true,
	"logs":                 true,
	"conf/deployment.toml": true, // rendered per instance, never copied
}

// Distribution is a source distribution as read once for the homes of
// one command: each home's sync compares against this listing instead of
// walking the distribution again. A real MI holds thousands of files, and
// twenty homes walked it twenty times over (half the system calls of an
// up with nothing to copy).
type Distribution struct {
	src     string // as given, for messages
	entries []distEntry
	// files are the paths of its files (not directories), and listing
	// them as a home's clonedList holds them.
	files   map[string]bool
	listing string
}

// distEntry is one path of a distribution, in walk order (a directory
// before what it holds).
type distEntry struct {
	rel  string // slash-separated, "." for the distribution itself
	path string
	info fs.FileInfo
	// own marks a perInstance directory: made in each home, empty of
	// anything from the distribution (path and info are not set).
	own bool
}

// ReadDistribution lists the distribution at src. Neither it nor Sync
// ever writes under src.
func ReadDistribution(src string) (*Distribution, error) {
	// mi_home is often a symlink (/opt/wso2mi -> /opt/wso2mi-4.4.0): walk
	// what it points to, or the walk would list the link itself.
	root, err := filepath.EvalSymlinks(src)
	if err != nil {
		return nil, fmt.Errorf("read the distribution %s: %w", src, err)
	}
	d := &Distribution{src: src}
	err = filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if perInstance[rel] {
			if entry.IsDir() {
				d.entries = append(d.entries, distEntry{rel: rel, own: true})
				return fs.SkipDir
			}
			return nil
		}
		info, err := entry.Info()
		if err != nil {
			return err
		}
		d.entries = append(d.entries, distEntry{rel: rel, path: path, info: info})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the distribution %s: %w", src, err)
	}
	d.files = map[string]bool{}
	var listing strings.Builder
	for _, e := range d.entries {
		if e.own || e.info.IsDir() {
			continue
		}
		d.files[e.rel] = true
		listing.WriteString(e.rel)
		if e.info.Mode().IsRegular() {
			st := stampOf(e.info)
			fmt.Fprintf(&listing, "\t%d\t%d", st.size, st.mtime)
		}
		listing.WriteString("\n")
	}
	d.listing = listing.String()
	return d, nil
}

// Sync makes dir an instance home cloned from the distribution: jars and
// read-only directories are hard-linked where the filesystem allows
// (copied otherwise), everything else is copied, and files that are
// already up to date (the same inode, or the same size, modification time
// and permission bits) are left alone, so a second Sync is cheap. A file
// an earlier Sync put there that the distribution no longer has is
// removed (see clonedList); files the instance created itself never are.
// Different homes may be synced from one Distribution at once.
func (d *Distribution) Sync(dir string) (SyncStats, error) {
	var st SyncStats
	if err := outsideSource(dir, d.src); err != nil {
		return st, err
	}
	fail := func(err error) (SyncStats, error) { return st, fmt.Errorf("clone %s into %s: %w", d.src, dir, err) }
	old, listed, err := readCloned(dir)
	if err != nil {
		return fail(err)
	}
	for _, e := range d.entries {
		if err := syncEntry(e, filepath.Join(dir, e.rel), listed[e.rel], &st); err != nil {
			return fail(err)
		}
	}
	if old == d.listing {
		return st, nil // the usual case: nothing gone, nothing to write
	}
	for _, rel := range d.gone(dir, listed) {
		switch err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); {
		case err == nil:
			st.Removed++
		case !errors.Is(err, fs.ErrNotExist):
			return fail(err)
		}
	}
	// Not fsynced, as the homes' other generated files: a list lost to a
	// power failure costs one sync's removals, made at the next.
	if err := fsutil.ReplaceFile(filepath.Join(dir, clonedList), []byte(d.listing), 0o644); err != nil {
		return fail(err)
	}
	return st, nil
}

// gone are the files of the home dir that an earlier Sync listed (listed)
// and the distribution no longer has, unless edited since. A home
// without a list (cloned by an earlier mictl) has none.
func (d *Distribution) gone(dir string, listed map[string]*stamp) []string {
	var out []string
	for rel, st := range listed {
		if rel == "" || d.files[rel] || perInstance[rel] || !filepath.IsLocal(rel) || edited(filepath.Join(dir, filepath.FromSlash(rel)), st) {
			continue
		}
		out = append(out, rel)
	}
	slices.Sort(out)
	return out
}

// Behind lists what Sync would change in the home dir: the files of the
// distribution it lacks or holds another version of, and those Sync put
// there that the distribution dropped since (suffixed " (removed)"). A
// file edited in the home is not listed: Sync keeps it. A home holding
// what the distribution holds now lists none.
func (d *Distribution) Behind(dir string) ([]string, error) {
	_, listed, err := readCloned(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range d.entries {
		dst := filepath.Join(dir, e.rel)
		switch {
		case e.own || e.info.IsDir():
		case e.info.Mode()&fs.ModeSymlink != 0:
			want, err := os.Readlink(e.path)
			if cur, lerr := os.Readlink(dst); err != nil || lerr != nil || cur != want {
				out = append(out, e.rel)
			}
		case e.info.Mode().IsRegular():
			if !upToDate(e.info, dst) && !edited(dst, listed[e.rel]) {
				out = append(out, e.rel)
			}
		}
	}
	for _, rel := range d.gone(dir, listed) {
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(rel))); err == nil {
			out = append(out, rel+" (removed)")
		}
	}
	return out, nil
}

// syncEntry brings dst, in a home, up to date with the distribution's e;
// listed is dst's stamp in the home's clonedList.
func syncEntry(e distEntry, dst string, listed *stamp, st *SyncStats) error {
	switch info := e.info; {
	case e.own: // first: it has no info
		return os.MkdirAll(dst, 0o755)
	case info.IsDir():
		return os.MkdirAll(dst, info.Mode().Perm()|0o700)
	case info.Mode()&fs.ModeSymlink != 0:
		return syncSymlink(e.path, dst)
	case !info.Mode().IsRegular():
		return nil // sockets, fifos: nothing an MI home needs
	}
	if upToDate(e.info, dst) {
		st.UpToDate++
		return nil
	}
	if edited(dst, listed) {
		st.Kept++
		return nil
	}
	if readOnly(e.rel) {
		linked, err := replaceWithLink(e.path, dst)
		if err != nil {
			return err
		}
		if linked {
			st.Linked++
			return nil
		}
	}
	st.Copied++
	return fsutil.CopyFileAtomic(e.path, dst, e.info.Mode().Perm())
}

func readOnly(rel string) bool {
	if strings.HasSuffix(rel, ".jar") {
		return true
	}
	for _, d := range readOnlyDirs {
		if strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

func upToDate(src fs.FileInfo, dst string) bool {
	d, err := os.Stat(dst)
	if err != nil {
		return false
	}
	if os.SameFile(src, d) {
		return true
	}
	// Copies get the permission bits only (never setuid and the like), so
	// only those are compared.
	return d.Size() == src.Size() && d.ModTime().Equal(src.ModTime()) && d.Mode().Perm() == src.Mode().Perm()
}

// replaceWithLink hard-links src at dst (through a temporary name, so dst
// is replaced in one rename). It reports false when the filesystem cannot
// link (another device, or a filesystem without hard links), so the
// caller copies instead.
func replaceWithLink(src, dst string) (bool, error) {
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".link-tmp")
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		if errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EMLINK) || errors.Is(err, syscall.ENOTSUP) {
			return false, nil
		}
		return false, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, nil
}

func syncSymlink(src, dst string) error {
	target, err := os.Readlink(src)
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(dst); err == nil && cur == target {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".link-tmp")
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
