package home

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/mictl/mictl/pkg/fsutil"
)

// SyncStats counts what Sync did, for progress lines and tests.
type SyncStats struct {
	Linked, Copied, UpToDate int
	// Removed are files an earlier Sync put there that the distribution
	// no longer has.
	Removed int
	// Kept are files changed in the home since Sync put them there, left
	// as they are (see clonedList).
	Kept int
}

// clonedList names the file of a home that lists what Sync put there from
// the distribution, after a first line (see listHeader), one path a line
// (slash-separated); for a regular file the line goes on, tab-separated,
// with its kind (see kindCopy), the distribution's file as it was then
// (size, modification time in Unix nanoseconds) and the home's as Sync
// left it (size, time, permission bits in octal, inode). A file listed
// that the distribution no longer has was the distribution's, and goes: a
// jar removed or replaced in mi_home's lib/ stayed on every instance's
// classpath beside its successor. A file the instance or its operator
// made is in no list, and stays; one changed in the home since Sync left
// it (a log level tuned in its conf/log4j2.properties, a conf/ file MI
// renders at every start) is kept too, as a package manager keeps an
// edited configuration file: a restart reverted such edits without a
// word. A hard link to the distribution's file is the home's own only
// once it is another file (a jar replaced by hand for one instance): an
// in-place write into the distribution's changes the link too. A
// directory's line goes on with kindDir and the permission bits it was
// given (see syncDir).
const clonedList = ".mictl-cloned"

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

// stamp is what tells a file from its earlier self.
type stamp struct {
	size, mtime int64
	mode        fs.FileMode // permission bits
	ino         uint64
}

func stampOf(info fs.FileInfo) stamp {
	st := stamp{size: info.Size(), mtime: info.ModTime().UnixNano(), mode: info.Mode().Perm()}
	if sys, ok := info.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

// clone is one regular file of a home's clonedList.
type clone struct {
	kind       string // kindCopy, kindLink, kindOwn or kindDir
	dist, home stamp  // dist: size and time only
	listed     string // its line as read, written again as it is when nothing changed
}

// The kinds of a listed file: a copy Sync made, a hard link to the
// distribution's, or one a home held when its list had no stamps (an
// older mictl cloned it), whose it is unknown: the home's from then on,
// as one changed there.
const (
	kindCopy = "copy"
	kindLink = "link"
	kindOwn  = "own"
	// kindDir is a directory's line: the permission bits the
	// distribution's had (dist.mode) and Sync gave the home's (home.mode).
	kindDir = "dir"
)

// cloneOf is the clone of a home's file home, made from the
// distribution's dist.
func cloneOf(dist, home fs.FileInfo) clone {
	c := clone{kind: kindCopy, dist: stamp{size: dist.Size(), mtime: dist.ModTime().UnixNano()}, home: stampOf(home)}
	if os.SameFile(dist, home) {
		c.kind = kindLink
	}
	return c
}

// line is c's clonedList line for the file rel.
func (c clone) line(rel string) string {
	if c.kind == kindDir {
		return fmt.Sprintf("%s\t%s\t%o\t%o\n", rel, c.kind, c.dist.mode, c.home.mode)
	}
	return fmt.Sprintf("%s\t%s\t%d\t%d\t%d\t%d\t%o\t%d\n", rel, c.kind, c.dist.size, c.dist.mtime, c.home.size, c.home.mtime, c.home.mode, c.home.ino)
}

// changedSince reports whether info, the home's file, is another than the
// one Sync left there. A link is the home's own only once it is another
// file: an in-place write into the distribution's changes the link too.
func (c *clone) changedSince(info fs.FileInfo) bool {
	now := stampOf(info)
	switch c.kind {
	case kindLink:
		return now.ino != c.home.ino
	case kindOwn:
		return true
	}
	return now != c.home
}

// readCloned is the clonedList of the home dir: each path listed, with its
// clone for a regular file listed with one (nil for a symlink, and for
// every file of a list written before mictl kept stamps, or of a home
// without a list).
func readCloned(dir string) (raw string, listed map[string]*clone, err error) {
	b, err := os.ReadFile(filepath.Join(dir, clonedList))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, err
	}
	listed = map[string]*clone{}
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, listHeader) {
			continue
		}
		fields := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if c := parseClone(fields[1:]); c != nil {
			c.listed = strings.TrimSuffix(line, "\n") + "\n" // the last may lack its newline
			listed[fields[0]] = c
		} else {
			listed[fields[0]] = nil
		}
	}
	return string(b), listed, nil
}

// listHeader begins a clonedList's first line: the fingerprint of the
// distribution its Sync cloned from and, after a dash, that of its files
// (see SyncedFiles), how many of the home's paths Behind reports kept
// whatever happens (changed in the home over a change of the
// distribution's, or of another kind), and where the distribution is
// (see SyncedFrom). With the same distribution and none such, nothing of
// the home is behind: Behind then reads this line only, where a real MI
// home is thousands of files to look at.
const listHeader = "#dist "

// header is the clonedList line of a Sync from d that left pending paths
// to report.
func (d *Distribution) header(pending int) string {
	return fmt.Sprintf("%s%s-%s %d %s\n", listHeader, d.fingerprint, d.files, pending, d.abs)
}

// Dir is the directory of the distribution, absolute, a link to it
// resolved: what SyncedFrom says of the homes synced from it.
func (d *Distribution) Dir() string { return d.abs }

// SyncedFrom is the directory of the distribution the home dir was last
// synced from, as its list says: what a crash restart puts back what the
// home lost from, though mi_home may name another since (applied at the
// next restart). ok is false for a home without a list, or listed by an
// older mictl, which did not say.
func SyncedFrom(dir string) (src string, ok bool) {
	src, _, ok = Synced(dir)
	return src, ok
}

// Synced reads the header of the home dir's list (see listHeader): src,
// the distribution's directory, as SyncedFrom says it, and files, the
// fingerprint of the files the home was last synced from: two homes with
// the same were synced from the same files, which their instances run,
// wherever each distribution lay (see Distribution.files). files is ""
// for a list that does not say (written before mictl kept it); ok is
// false without a header. One read for both, as status takes them for
// every home.
func Synced(dir string) (src, files string, ok bool) {
	f, err := os.Open(filepath.Join(dir, clonedList))
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	first, err := bufio.NewReader(f).ReadString('\n')
	fields, found := headerFields(strings.TrimSuffix(first, "\n"))
	if err != nil || !found {
		return "", "", false
	}
	_, files, _ = strings.Cut(fields[0], "-")
	return fields[2], files, true
}

// headerFields splits a list's first line, its newline taken off, into
// what follows listHeader: the fingerprints, the count and the
// directory; found is false for a line that is no header.
func headerFields(first string) (fields [3]string, found bool) {
	rest, found := strings.CutPrefix(first, listHeader)
	parts := strings.SplitN(rest, " ", 3)
	if !found || len(parts) < 3 || !filepath.IsAbs(parts[2]) {
		return fields, false
	}
	return [3]string(parts), true
}

// Follow records d as the distribution the home dir was last synced from
// when its list names another directory whose files were d's (see
// Distribution.files): mi_home pointed at a copy of the distribution
// (cp -a), which restarts nothing, as the home is behind it in nothing;
// and when d's files differ from those only in times, their bytes the
// same (see touchedOnly), recording their new times.
// Left naming the old directory, status named it, and once it was
// deleted a crash restart could not put back what the home lost (see
// Restore). The fingerprint becomes d's too, the count of paths to report
// staying: with the same files, Behind finds in the home against d just
// what it found against the old one. Left the old one's, it never matched
// d's (their inodes differ), so every diff and reload compared the home
// file by file until its next restart. It reports whether it wrote;
// a home whose list does not say its files (none, or an older mictl's) is
// left as it is. look is what Behind found in dir (nil for none), taken
// as it is while dir's list is the one it judged by.
func (d *Distribution) Follow(dir string, look *Look) (followed bool, err error) {
	fail := func(err error) (bool, error) {
		return false, fmt.Errorf("record %s as the distribution of %s: %w", d.abs, dir, fsutil.Cause(err))
	}
	// Locked before the list is read, not only before it is written: a
	// Sync (an up's, a restart's) from the old directory, whose files
	// changed since, written between that read and the lock, was taken
	// for the old files, and the home said it followed d, behind in
	// nothing, while it held the changed ones.
	unlock, err := lockList(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // no home yet: nothing synced to follow
	}
	if err != nil {
		return fail(err)
	}
	defer unlock()
	path := filepath.Join(dir, clonedList)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // never synced: nothing to follow
	}
	if err != nil {
		return fail(err)
	}
	first, rest, _ := strings.Cut(string(raw), "\n")
	fields, found := headerFields(first)
	_, files, _ := strings.Cut(fields[0], "-")
	if !found || files == "" || (files == d.files && fields[2] == d.abs) {
		return false, nil
	}
	pending, err := strconv.Atoi(fields[1])
	if err != nil {
		return false, nil // no count mictl wrote: the next sync writes the list whole
	}
	if files != d.files {
		// Another set of files: followed when the home is behind d in
		// nothing, its files with new times alone (a cp -r copy, or
		// mi_home unpacked again in place) being recorded with d's,
		// which Behind then takes as they are, reading them no more.
		// What Behind found serves while the list is as it read it:
		// judged again whatever Behind had found, a reload read every
		// touched file (on a real MI, hundreds of MB) twice over. Only a
		// sync between the two, which writes the list, makes them differ.
		if look == nil || look.list != string(raw) {
			if look, err = d.look(dir); err != nil {
				return false, nil // Behind says why
			}
		}
		if len(look.behind) > 0 {
			return false, nil
		}
		pending, rest = len(look.kept), retouched(rest, look.touched)
	}
	if err := fsutil.ReplaceFile(path, []byte(d.header(pending)+rest), 0o644); err != nil {
		return fail(err)
	}
	return true, nil
}

// retouched is list, clonedList lines, with the line of each path touched
// has replaced by touched's.
func retouched(list string, touched map[string]string) string {
	if len(touched) == 0 {
		return list
	}
	var out strings.Builder
	for line := range strings.Lines(list) {
		rel, _, _ := strings.Cut(line, "\t")
		if l, ok := touched[rel]; ok {
			line = l
		}
		out.WriteString(line)
	}
	return out.String()
}

// lockList takes the lock of the home dir's list (clonedList), held from
// a read of the list to its write: Sync (an up's, a restart's), Follow (a
// reload's, an up's) and Restore (the daemon's crash restart) each write
// the list whole from what they read, in processes of their own, and
// the last write lost what the others wrote (the distribution a home
// follows, the lines of the files put back). A lock on the home's
// directory (see fsutil.LockDir); unlock lets the next one read.
func lockList(dir string) (unlock func(), err error) {
	d, err := fsutil.LockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s against another mictl writing its list of files: %w", dir, fsutil.Cause(err))
	}
	return func() { d.Close() }, nil
}

// upToDateByHeader reports whether the home dir's list says it was synced
// from d as it is now, with nothing to report: Behind's quick answer.
func (d *Distribution) upToDateByHeader(dir string) bool {
	f, err := os.Open(filepath.Join(dir, clonedList))
	if err != nil {
		return false
	}
	defer f.Close()
	first, err := bufio.NewReader(f).ReadString('\n')
	return err == nil && first == d.header(0)
}

// parseClone reads the fields after the path of a clonedList line; nil
// when there are none (or they do not parse: the file is then taken as
// unknown).
func parseClone(f []string) *clone {
	if len(f) == 3 && f[0] == kindDir {
		dist, err1 := strconv.ParseUint(f[1], 8, 32)
		home, err2 := strconv.ParseUint(f[2], 8, 32)
		if err1 != nil || err2 != nil {
			return nil
		}
		return &clone{kind: kindDir, dist: stamp{mode: fs.FileMode(dist)}, home: stamp{mode: fs.FileMode(home)}}
	}
	if len(f) != 7 || !slices.Contains([]string{kindCopy, kindLink, kindOwn}, f[0]) {
		return nil
	}
	var n [6]int64
	for i, s := range f[1:] {
		base := 10
		if i == 4 {
			base = 8
		}
		v, err := strconv.ParseInt(s, base, 64)
		if err != nil {
			return nil
		}
		n[i] = v
	}
	return &clone{kind: f[0], dist: stamp{size: n[0], mtime: n[1]}, home: stamp{size: n[2], mtime: n[3], mode: fs.FileMode(n[4]), ino: uint64(n[5])}}
}

// homeFile is what a home holds at one path of the distribution, as Sync
// and Behind judge it against the distribution's e and the home's list.
type homeFile int

const (
	homeMissing  homeFile = iota
	homeCurrent           // the same as the distribution's (see upToDate)
	homeBehind            // Sync's own, and the distribution's changed since
	homeChanged           // changed in the home since Sync left it: kept
	homeUnlisted          // differs, and no list says whose it is
)

func judge(e distEntry, dst string, c *clone) (homeFile, fs.FileInfo) {
	info, err := os.Lstat(dst)
	switch {
	case err != nil:
		return homeMissing, nil
	case upToDate(e.info, info):
		return homeCurrent, info
	case c == nil:
		return homeUnlisted, info
	case !info.Mode().IsRegular() || c.changedSince(info):
		return homeChanged, info
	case !distChanged(e, c) && info.Mode().Perm() == e.info.Mode().Perm():
		// What Sync left from this very file (by its stamp), though
		// their times differ: Follow recorded e as the same bytes with
		// new times (see touchedOnly).
		return homeCurrent, info
	}
	return homeBehind, info
}

// distChanged reports whether the distribution's e is another file than
// the one c was cloned from.
func distChanged(e distEntry, c *clone) bool {
	return c != nil && (e.info.Size() != c.dist.size || e.info.ModTime().UnixNano() != c.dist.mtime)
}

// Distribution is a source distribution as read once for the homes of
// one command: each home's sync compares against this listing instead of
// walking the distribution again. A real MI holds thousands of files, and
// twenty homes walked it twenty times over (half the system calls of an
// up with nothing to copy).
type Distribution struct {
	src     string // as given, for messages
	abs     string // src's directory, absolute, for the homes' lists (see SyncedFrom)
	entries []distEntry
	// paths are the paths it holds, directories included.
	paths map[string]bool
	// fingerprint changes with any path, kind, size, time, permission or
	// inode of the distribution (see listHeader).
	fingerprint string
	// files changes with what a home synced from it is compared by (see
	// Behind): any path, kind, permission, a file's size and time, a
	// link's target; not with inodes, or where the distribution lies. Two
	// distributions with the same files (one unpacked from the same
	// archive as the other, or copied with cp -a) have the same.
	files string
	// compared are touchedOnly's answers, by sameAs: the homes' hard
	// links to one file of the old distribution are one file, and every
	// home after the first read both files again (a real MI's hundreds of
	// MB, twice, per home).
	compared sync.Map
}

// sameAs is what touchedOnly's answer for a home's file stands for: the
// distribution's path, and the home's file (device, and stamp: its
// inode, size and time).
type sameAs struct {
	rel  string
	dev  uint64
	home stamp
}

// comparison is one touchedOnly answer, made once however many homes ask.
type comparison struct {
	once sync.Once
	same bool
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
//
// A symbolic link that leads out of the distribution (an absolute one, or
// one climbing out with ..) is listed as what it points to (a directory
// walked, a file copied), except where MI only reads (see readOnly: the
// jars, and the directories of jars), where the link itself is cloned. An
// instance writes its conf/ (MI renders files there at every start), its
// repository/ (CApps, registry) and the rest of its home: such a link
// cloned there (a conf/ kept in /etc, a carbonapps/ on a shared volume)
// would have every instance, and mictl, write one shared file, the
// distribution's own among them. A link within the distribution is
// cloned as a link: in a home it leads to the home's own copy.
func ReadDistribution(src string) (*Distribution, error) {
	// mi_home is often a symlink (/opt/wso2mi -> /opt/wso2mi-4.4.0): walk
	// what it points to, or the walk would list the link itself.
	root, err := filepath.EvalSymlinks(src)
	if err != nil {
		return nil, fmt.Errorf("read the distribution %s: %w", src, err)
	}
	// The directory itself, not the link to it: after an upgrade turns
	// the link, a home is put back from the version it was cloned from.
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("read the distribution %s: %w", src, err)
	}
	d := &Distribution{src: src, abs: abs, paths: map[string]bool{}}
	info, err := os.Stat(root)
	if err == nil {
		err = d.walk(root, ".", info, nil, false)
	}
	if err != nil {
		return nil, fmt.Errorf("read the distribution %s: %w", src, err)
	}
	h, files := fnv.New64a(), fnv.New64a()
	for _, e := range d.entries {
		if e.own {
			fmt.Fprintf(h, "%s own\n", e.rel)
			fmt.Fprintf(files, "%s own\n", e.rel)
			continue
		}
		st := stampOf(e.info)
		fmt.Fprintf(h, "%s %o %d %d %d\n", e.rel, e.info.Mode(), st.size, st.mtime, st.ino)
		// As Behind compares a home's with them (upToDate, dirBehind).
		switch mode := e.info.Mode(); {
		case mode.IsRegular():
			fmt.Fprintf(files, "%s file %o %d %d\n", e.rel, mode.Perm(), st.size, st.mtime)
		case mode.IsDir():
			fmt.Fprintf(files, "%s dir %o\n", e.rel, dirMode(e))
		case mode&fs.ModeSymlink != 0:
			target, _ := os.Readlink(e.path)
			fmt.Fprintf(files, "%s link %s\n", e.rel, target)
		default:
			fmt.Fprintf(files, "%s %o\n", e.rel, mode.Type())
		}
	}
	d.fingerprint = fmt.Sprintf("%016x", h.Sum64())
	d.files = fmt.Sprintf("%016x", files.Sum64())
	return d, nil
}

// walk lists path (rel in the distribution, info its Lstat) and, for a
// directory, what it holds, in lexical order, a directory before its
// contents; a symbolic link out of the distribution is followed (see
// ReadDistribution) unless it points nowhere or to a directory open
// holds (the directories being walked: a loop), where the link itself is
// listed. Below a link followed (outside), every link is: a relative one
// there leads, in a home, somewhere else than where it leads now.
func (d *Distribution) walk(path, rel string, info fs.FileInfo, open []fileID, outside bool) error {
	if info.Mode()&fs.ModeSymlink != 0 && !readOnly(rel) && (outside || leadsOut(path, rel)) {
		if target, err := os.Stat(path); err == nil && !slices.Contains(open, idOf(target)) {
			info, outside = target, true
		}
	}
	if perInstance[rel] {
		if info.IsDir() {
			d.entries = append(d.entries, distEntry{rel: rel, own: true})
		}
		return nil
	}
	d.entries = append(d.entries, distEntry{rel: rel, path: path, info: info})
	d.paths[rel] = true
	if !info.IsDir() {
		return nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	open = append(open, idOf(info))
	for _, entry := range entries {
		child, err := entry.Info()
		if err != nil {
			return err
		}
		childRel := entry.Name()
		if rel != "." {
			childRel = rel + "/" + childRel
		}
		if err := d.walk(filepath.Join(path, entry.Name()), childRel, child, open, outside); err != nil {
			return err
		}
	}
	return nil
}

// leadsOut reports whether the symbolic link at path (rel in the
// distribution) leads out of the distribution, as cloned into a home:
// absolute, or climbing above the distribution's root with "..".
func leadsOut(path, rel string) bool {
	target, err := os.Readlink(path)
	return err == nil && (filepath.IsAbs(target) || !filepath.IsLocal(filepath.Join(filepath.Dir(filepath.FromSlash(rel)), target)))
}

// fileID tells a directory from every other on the host.
type fileID struct{ dev, ino uint64 }

func idOf(info fs.FileInfo) fileID {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fileID{uint64(st.Dev), st.Ino}
	}
	return fileID{}
}

// Sync makes dir an instance home cloned from the distribution: jars and
// read-only directories are hard-linked where the filesystem allows
// (copied otherwise), everything else is copied, and files that are
// already up to date (the same inode, or the same size, modification time
// and permission bits) are left alone, so a second Sync is cheap. A file
// changed in the home since an earlier Sync put it there is kept, and so
// is one a home cloned before mictl kept stamps holds in another version
// (a jar excepted: MI never writes one); a file an earlier Sync put there
// that the distribution no longer has is removed, unless changed since
// (see clonedList); files the instance created itself never are.
// Different homes may be synced from one Distribution at once.
func (d *Distribution) Sync(dir string) (SyncStats, error) {
	var st SyncStats
	if err := outsideSource(dir, d.src); err != nil {
		return st, err
	}
	fail := func(err error) (SyncStats, error) { return st, fmt.Errorf("clone %s into %s: %w", d.src, dir, err) }
	// Made first, for its lock (see lockList), as syncDir makes it from
	// the distribution's own directory, the first entry.
	if err := os.MkdirAll(dir, dirMode(d.entries[0])); err != nil {
		return fail(err)
	}
	unlock, err := lockList(dir)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	old, listed, err := readCloned(dir)
	if err != nil {
		return fail(err)
	}
	var list strings.Builder
	var keptDirs []string // the home's, where the distribution has directories
	pending := 0          // what Behind reports kept whatever happens
	for _, e := range d.entries {
		dst := filepath.Join(dir, e.rel)
		if under(keptDirs, e.rel) {
			st.Kept++
			continue
		}
		if clash, ours := kindClash(e, dst, e.rel, listed); clash && ours {
			if err := os.RemoveAll(dst); err != nil {
				return fail(err)
			}
		} else if clash {
			st.Kept++
			pending++
			if e.info.IsDir() {
				keptDirs = append(keptDirs, e.rel)
			}
			continue
		}
		line, reported, err := syncEntry(e, dst, listed[e.rel], &st)
		if err != nil {
			return fail(err)
		}
		if reported {
			pending++
		}
		list.WriteString(line)
	}
	for _, rel := range d.gone(dir, listed) {
		switch err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); {
		case err == nil:
			st.Removed++
		case !errors.Is(err, fs.ErrNotExist):
			return fail(err)
		}
	}
	content := d.header(pending) + list.String()
	if content == old {
		return st, nil // the usual case: nothing changed, nothing to write
	}
	// Not fsynced, as the homes' other generated files: a list lost to a
	// power failure costs one sync's removals, made at the next.
	if err := fsutil.ReplaceFile(filepath.Join(dir, clonedList), []byte(content), 0o644); err != nil {
		return fail(err)
	}
	return st, nil
}

// kindClash reports whether the home holds at dst another kind of path
// than the distribution's e (a file or a link where it has a directory, a
// directory where it has a file or a link), and whether what the home
// holds there is Sync's own, unchanged (see replaceable): Sync then
// replaces it; otherwise it is the home's, kept. Without this, the
// distribution's file turned directory (or the reverse) failed every sync
// of the home, or took two restarts to arrive.
func kindClash(e distEntry, dst, rel string, listed map[string]*clone) (clash, ours bool) {
	if e.own {
		return false, false
	}
	info, err := os.Lstat(dst)
	if err != nil || info.IsDir() == e.info.IsDir() {
		return false, false
	}
	return true, replaceable(dst, rel, info, listed)
}

// replaceable reports whether what the home holds at dst (rel, info) is
// what Sync put there and left unchanged: a listed file as Sync left it,
// a listed symlink, or a directory holding only such (an empty one too).
func replaceable(dst, rel string, info fs.FileInfo, listed map[string]*clone) bool {
	if !info.IsDir() {
		c, ok := listed[rel]
		if info.Mode()&fs.ModeSymlink != 0 {
			return ok
		}
		return c != nil && info.Mode().IsRegular() && !c.changedSince(info)
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		return false
	}
	for _, ent := range entries {
		sub, err := ent.Info()
		if err != nil || !replaceable(filepath.Join(dst, ent.Name()), rel+"/"+ent.Name(), sub, listed) {
			return false
		}
	}
	return true
}

// under reports whether rel lies below one of dirs.
func under(dirs []string, rel string) bool {
	return slices.ContainsFunc(dirs, func(d string) bool { return strings.HasPrefix(rel, d+"/") })
}

// gone are the files of the home dir that an earlier Sync listed (listed)
// and the distribution no longer has, and the home still does, unless
// changed since (or made a directory). A home without a list (cloned by
// an earlier mictl) has none.
func (d *Distribution) gone(dir string, listed map[string]*clone) []string {
	var out []string
	for rel, c := range listed {
		if rel == "" || d.paths[rel] || perInstance[rel] || !filepath.IsLocal(rel) {
			continue
		}
		info, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(rel)))
		switch {
		case err != nil:
			continue // gone already (or its directory turned a file)
		case info.IsDir() || (c != nil && info.Mode().IsRegular() && c.changedSince(info)):
			continue // the home's own now
		}
		out = append(out, rel)
	}
	slices.Sort(out)
	return out
}

// Behind lists what the next Sync would change in the home dir: the
// files of the distribution it lacks or holds an earlier version of, and
// those Sync put there that the distribution dropped since (suffixed
// " (removed)"). kept lists what Sync keeps though the distribution's
// differs, for someone to look at: files changed in the home that the
// distribution changed too since, and paths the home holds as another
// kind of file (suffixed with what). A file Sync put there and the home
// lost since is behind once the distribution's changed (deleting a kept
// file takes the distribution's), not before (Sync restores it at the
// next start all the same). A file Sync would copy that cannot be read is
// an error naming it: a restart would stop the instance and then fail to
// prepare its home.
// What it found is also in look, for Follow to record without reading
// the home's files again (nil when the list's first line said it all).
func (d *Distribution) Behind(dir string) (behind, kept []string, look *Look, err error) {
	if d.upToDateByHeader(dir) {
		return nil, nil, nil, nil
	}
	if look, err = d.look(dir); err != nil {
		return nil, nil, nil, err
	}
	return look.behind, look.kept, look, nil
}

// look is Behind's look at the home dir, file by file.
func (d *Distribution) look(dir string) (*Look, error) {
	raw, listed, err := readCloned(dir)
	if err != nil {
		return nil, err
	}
	behind, kept, touched, err := d.behind(dir, listed)
	if err != nil {
		return nil, err
	}
	return &Look{list: raw, behind: behind, kept: kept, touched: touched}, nil
}

// Look is what Behind found in a home: what it reports, the files it
// found the same bytes with new times (see touchedOnly), and the home's
// list it judged them by.
type Look struct {
	list         string
	behind, kept []string
	touched      map[string]string
}

// behind is Behind of the home dir, whose list is listed, file by file;
// touched are the clonedList lines, by path, of the files it found the
// same bytes as the home's with new times (see touchedOnly), for Follow
// to record.
func (d *Distribution) behind(dir string, listed map[string]*clone) (behind, kept []string, touched map[string]string, err error) {
	touched = map[string]string{}
	var skipped []string // directories kept or replaced whole
	for _, e := range d.entries {
		dst := filepath.Join(dir, e.rel)
		if under(skipped, e.rel) {
			continue
		}
		if clash, ours := kindClash(e, dst, e.rel, listed); clash {
			switch {
			case ours:
				behind = append(behind, e.rel)
			case e.info.IsDir():
				kept = append(kept, e.rel+" (not a directory in the home)")
			default:
				kept = append(kept, e.rel+" (a directory in the home)")
			}
			if e.info.IsDir() {
				skipped = append(skipped, e.rel)
			}
			continue
		}
		if e.own {
			continue
		}
		if e.info.IsDir() {
			switch b, k := dirBehind(e, dst, listed[e.rel]); {
			case b:
				behind = append(behind, e.rel+" (mode)")
			case k:
				kept = append(kept, e.rel+" (mode)")
			}
			continue
		}
		if e.info.Mode()&fs.ModeSymlink != 0 {
			want, err := os.Readlink(e.path)
			if cur, lerr := os.Readlink(dst); err != nil || lerr != nil || cur != want {
				behind = append(behind, e.rel)
			}
			continue
		}
		if !e.info.Mode().IsRegular() {
			continue
		}
		c := listed[e.rel]
		state, cur := judge(e, dst, c)
		switch {
		case state == homeCurrent && c != nil && c.kind == kindLink && distChanged(e, c):
			// Written into in place in the distribution: the link holds the
			// new content, the running server what it loaded before.
		case state == homeCurrent, state == homeMissing && c != nil && !distChanged(e, c):
			continue
		case state == homeChanged, state == homeUnlisted && !readOnly(e.rel):
			if distChanged(e, c) {
				kept = append(kept, e.rel)
			}
			continue
		case state == homeBehind && d.touchedOnly(e, dst, cur):
			touched[e.rel] = clone{kind: c.kind, dist: stamp{size: e.info.Size(), mtime: e.info.ModTime().UnixNano()}, home: c.home}.line(e.rel)
			continue
		}
		f, err := os.Open(e.path)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("cannot read %s (%w): mictl copies it into every home; make it readable to this user", e.path, fsutil.Cause(err))
		}
		f.Close()
		behind = append(behind, e.rel)
	}
	for _, rel := range d.gone(dir, listed) {
		behind = append(behind, rel+" (removed)")
	}
	return behind, kept, touched, nil
}

// touchedOnly reports whether the home's file dst (cur), as Sync left it,
// holds what the distribution's e does, with its permission bits, e
// having new times alone: a file written again as it was, or mi_home
// pointed at a copy made by cp -r (not cp -a), whose bytes are the same
// and whose times are the copy's. Told by size, it restarted every
// instance onto such a copy for lib/README.txt. Both are read once, in
// blocks, and compared: a real MI distribution (~1.5k jars, some hundreds
// of MB) is read whole, twice, by the first look at the homes, a file the
// homes link to being compared once for them all (compared); Follow then
// records the new times (see judge), so a later look reads nothing.
func (d *Distribution) touchedOnly(e distEntry, dst string, cur fs.FileInfo) bool {
	if cur.Size() != e.info.Size() || cur.Mode().Perm() != e.info.Mode().Perm() {
		return false
	}
	compare := func() bool {
		same, err := fsutil.SameBytes(e.path, dst)
		return err == nil && same
	}
	sys, ok := cur.Sys().(*syscall.Stat_t)
	if !ok {
		return compare()
	}
	c, _ := d.compared.LoadOrStore(sameAs{rel: e.rel, dev: uint64(sys.Dev), home: stampOf(cur)}, &comparison{})
	answer := c.(*comparison)
	answer.once.Do(func() { answer.same = compare() })
	return answer.same
}

// syncEntry brings dst, in a home, up to date with the distribution's e,
// c being what the home's list says of it, and returns its line of the
// new list ("" for a directory, or a path that is not the distribution's
// kind of file in the home) and whether Behind reports it kept: of
// another kind in the home, or changed there over a change of the
// distribution's.
func syncEntry(e distEntry, dst string, c *clone, st *SyncStats) (line string, reported bool, err error) {
	switch info := e.info; {
	case e.own: // first: it has no info
		return "", false, os.MkdirAll(dst, 0o755)
	case info.IsDir():
		return syncDir(e, dst, c)
	case info.Mode()&fs.ModeSymlink != 0:
		return e.rel + "\n", false, syncSymlink(e.path, dst)
	case !info.Mode().IsRegular():
		return "", false, nil // sockets, fifos: nothing an MI home needs
	}
	state, cur := judge(e, dst, c)
	switch {
	case state == homeCurrent:
		st.UpToDate++
		if c != nil && !distChanged(e, c) && stampOf(cur) == c.home {
			return c.listed, false, nil
		}
		return cloneOf(e.info, cur).line(e.rel), false, nil
	case state == homeChanged:
		st.Kept++
		// As it was: still changed, and the distribution's news still news.
		return c.listed, distChanged(e, c), nil
	case state == homeUnlisted && !readOnly(e.rel):
		// A home cloned before mictl kept stamps: whose the file is cannot
		// be told; the home's from now on (a jar is always the
		// distribution's: MI never writes one).
		st.Kept++
		own := cloneOf(e.info, cur)
		own.kind = kindOwn
		return own.line(e.rel), false, nil
	}
	linked, line, err := put(e, dst)
	if err != nil {
		return "", false, err
	}
	if linked {
		st.Linked++
	} else {
		st.Copied++
	}
	return line, false, nil
}

// put replaces dst, in a home, with the distribution's e, whole: a hard
// link for a file MI only reads where the filesystem allows (linked),
// else a copy; and returns its clonedList line.
func put(e distEntry, dst string) (linked bool, line string, err error) {
	if readOnly(e.rel) {
		if linked, err = replaceWithLink(e.path, dst); err != nil {
			return false, "", err
		}
	}
	if !linked {
		if err := fsutil.CopyFileAtomic(e.path, dst, e.info.Mode().Perm()); err != nil {
			return false, "", err
		}
	}
	line, err = recordNow(e, dst)
	return linked, line, err
}

// dirMode is the permission bits of the home's directory for the
// distribution's e: e's, and always the owner's, as mictl writes there.
func dirMode(e distEntry) fs.FileMode { return e.info.Mode().Perm() | 0o700 }

// syncDir makes dst, in a home, the distribution's directory e, with its
// permission bits (see dirMode), c being what the home's list says of it,
// and returns its line of the new list and whether Behind reports it
// kept. A directory's mode guards what it holds (a conf/security made
// 0700 in mi_home) and MI never changes one, so a change of the
// distribution's reaches the homes; one made in the home since Sync set
// it is the home's, kept, as an edited file is. A directory no list
// records (made by an older mictl) takes the distribution's.
func syncDir(e distEntry, dst string, c *clone) (line string, reported bool, err error) {
	want := dirMode(e)
	if err := os.MkdirAll(dst, want); err != nil {
		return "", false, err
	}
	info, err := os.Stat(dst)
	if err != nil {
		return "", false, err
	}
	switch have := info.Mode().Perm(); {
	case have == want:
	case c != nil && c.kind == kindDir && have != c.home.mode:
		return c.listed, c.dist.mode != want, nil
	default: // also undoing the umask MkdirAll was given
		if err := os.Chmod(dst, want); err != nil {
			return "", false, err
		}
	}
	return clone{kind: kindDir, dist: stamp{mode: want}, home: stamp{mode: want}}.line(e.rel), false, nil
}

// dirBehind reports whether Sync would change the mode of the home's
// directory dst, the distribution's e (c, its list's record), and
// whether it keeps the home's over a change of the distribution's.
func dirBehind(e distEntry, dst string, c *clone) (behind, kept bool) {
	info, err := os.Stat(dst)
	if err != nil || !info.IsDir() {
		return false, false // made by Sync, with what it holds
	}
	want, have := dirMode(e), info.Mode().Perm()
	switch {
	case have == want:
		return false, false
	case c == nil:
		// A home an older mictl cloned records no directory: Sync gives
		// it the distribution's mode, but that alone is no reason to
		// restart (upgrading mictl made every reload restart its homes).
		return false, false
	case c.kind == kindDir && have != c.home.mode:
		return false, c.dist.mode != want
	}
	return true, false
}

// recordNow is the clonedList line of e's copy or link at dst, as it is
// now.
func recordNow(e distEntry, dst string) (string, error) {
	info, err := os.Lstat(dst)
	if err != nil {
		return "", err
	}
	return cloneOf(e.info, info).line(e.rel), nil
}

// readOnly reports whether MI only reads rel: a jar, or a directory of
// readOnlyDirs or anything in one.
func readOnly(rel string) bool {
	if strings.HasSuffix(rel, ".jar") {
		return true
	}
	for _, d := range readOnlyDirs {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

func upToDate(src, dst fs.FileInfo) bool {
	if os.SameFile(src, dst) {
		return true
	}
	// Copies get the permission bits only (never setuid and the like), so
	// only those are compared.
	return dst.Mode().IsRegular() && dst.Size() == src.Size() && dst.ModTime().Equal(src.ModTime()) && dst.Mode().Perm() == src.Mode().Perm()
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
