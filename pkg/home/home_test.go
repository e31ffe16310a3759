package home_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"golang.org/x/sys/unix"
)

// distFile is one file of the fake distribution.
type distFile struct {
	path string
	perm os.FileMode
	data string
}

var distFiles = []distFile{
	{"bin/micro-integrator.sh", 0o755, "#!/bin/sh\nexec java \"$@\"\n"},
	{"conf/deployment.toml", 0o644, "[server]\nhostname = \"localhost\"\n#offset = 10\n"},
	{"conf/log4j2.properties", 0o644, "appenders = CARBON_LOGFILE\n"},
	{"lib/a.jar", 0o644, "PK\x03\x04 a.jar"},
	{"lib/notice.txt", 0o444, "read-only directory, not a jar\n"},
	{"wso2/components/plugins/b.jar", 0o644, "PK\x03\x04 b.jar"},
	{"repository/components/extra.jar", 0o644, "PK\x03\x04 extra.jar outside the read-only dirs"},
	{"repository/deployment/x.xml", 0o640, "<api name=\"x\"/>\n"},
	{"repository/logs/old.log", 0o644, "an old log line\n"},
	{"tmp/junk", 0o644, "junk\n"},
	{"logs/console.log", 0o644, "old console\n"},
	{"wso2carbon.pid", 0o644, "12345\n"},
}

// Files the clone must have, by how Sync gets them there.
var (
	wantLinked = []string{"lib/a.jar", "lib/notice.txt", "wso2/components/plugins/b.jar", "repository/components/extra.jar"}
	wantCopied = []string{"bin/micro-integrator.sh", "conf/log4j2.properties", "repository/deployment/x.xml"}
	wantAbsent = []string{"conf/deployment.toml", "wso2carbon.pid", "repository/logs/old.log", "tmp/junk", "logs/console.log"}
	wantEmpty  = []string{"tmp", "repository/logs", "logs"}
)

var distMTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// makeDist writes a fake MI distribution under dir and returns dir.
func makeDist(t *testing.T, dir string) string {
	t.Helper()
	for _, f := range distFiles {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(f.data), 0o600))
		must(t, os.Chmod(p, f.perm))
		must(t, os.Chtimes(p, distMTime, distMTime))
	}
	// A relative symlink to a file and one to a directory (not followed).
	must(t, os.Symlink("micro-integrator.sh", filepath.Join(dir, "bin", "mi.sh")))
	must(t, os.Symlink("lib", filepath.Join(dir, "latest-lib")))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// entry is what a tree walk remembers of one path.
type entry struct {
	kind  string // "dir", "file", "link"
	mode  fs.FileMode
	size  int64
	mtime time.Time
	sum   [32]byte // content of a file
	link  string   // target of a symlink
	inode uint64
}

func (e entry) String() string {
	return fmt.Sprintf("%s %v size=%d mtime=%s link=%q ino=%d sum=%x", e.kind, e.mode, e.size, e.mtime.Format(time.RFC3339Nano), e.link, e.inode, e.sum[:4])
}

// tree walks root without following symlinks.
func tree(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		e := entry{mode: info.Mode(), mtime: info.ModTime(), inode: info.Sys().(*syscall.Stat_t).Ino}
		switch {
		case d.IsDir():
			e.kind = "dir"
		case info.Mode()&fs.ModeSymlink != 0:
			e.kind = "link"
			e.link, err = os.Readlink(path)
		default:
			e.kind, e.size = "file", info.Size()
			var data []byte
			data, err = os.ReadFile(path)
			e.sum = sha256.Sum256(data)
		}
		out[filepath.ToSlash(rel)] = e
		return err
	})
	must(t, err)
	return out
}

func diffTrees(before, after map[string]entry) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(before)) {
		a, ok := after[k]
		switch {
		case !ok:
			out = append(out, "removed "+k)
		case a != before[k]:
			out = append(out, fmt.Sprintf("changed %s:\n  before %v\n  after  %v", k, before[k], a))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[k]; !ok {
			out = append(out, "added "+k)
		}
	}
	return out
}

// diffClones compares two homes cloned from one distribution: the same
// entries, contents, modes and links, and the same inode for the files
// hard-linked from the distribution. Directories, symlinks and copies are
// each home's own, with inodes (and, but for copies, mtimes) of their own.
func diffClones(a, b map[string]entry) []string {
	own := func(tr map[string]entry) map[string]entry {
		out := map[string]entry{}
		for k, e := range tr {
			if !slices.Contains(wantLinked, k) {
				e.inode = 0
			}
			if e.kind != "file" {
				e.mtime = time.Time{}
			}
			if k == ".mictl-cloned" { // the home's own list: its copies' inodes and when it was written
				e.mtime, e.sum, e.size = time.Time{}, [32]byte{}, 0
			}
			out[k] = e
		}
		return out
	}
	return diffTrees(own(a), own(b))
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	ai, err := os.Stat(a)
	must(t, err)
	bi, err := os.Stat(b)
	must(t, err)
	return os.SameFile(ai, bi)
}

// syncHome syncs one home from the distribution at src, as up does for
// each of its homes.
func syncHome(src, dir string) (home.SyncStats, error) {
	dist, err := home.ReadDistribution(src)
	if err != nil {
		return home.SyncStats{}, err
	}
	return dist.Sync(dir)
}

// setup returns a fresh distribution and the home to clone it into.
func setup(t *testing.T) (src, dir string) {
	root := t.TempDir()
	src = makeDist(t, filepath.Join(root, "wso2mi-4.4.0"))
	return src, filepath.Join(root, "instances", "mi-1")
}

func TestSyncClone(t *testing.T) {
	src, dir := setup(t)
	st, err := syncHome(src, dir)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if want := (home.SyncStats{Linked: len(wantLinked), Copied: len(wantCopied)}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	for _, rel := range wantLinked {
		t.Run("linked "+rel, func(t *testing.T) {
			if !sameFile(t, filepath.Join(src, rel), filepath.Join(dir, rel)) {
				t.Errorf("%s is not a hard link of the source", rel)
			}
		})
	}
	perms := map[string]os.FileMode{}
	data := map[string]string{}
	for _, f := range distFiles {
		perms[f.path], data[f.path] = f.perm, f.data
	}
	for _, rel := range wantCopied {
		t.Run("copied "+rel, func(t *testing.T) {
			s, d := filepath.Join(src, rel), filepath.Join(dir, rel)
			info, err := os.Lstat(d)
			must(t, err)
			if !info.Mode().IsRegular() {
				t.Fatalf("%s: mode %v, want a regular file", rel, info.Mode())
			}
			if sameFile(t, s, d) {
				t.Errorf("%s shares the source's inode; an instance could write into the distribution", rel)
			}
			got, err := os.ReadFile(d)
			must(t, err)
			if string(got) != data[rel] {
				t.Errorf("%s content = %q, want %q", rel, got, data[rel])
			}
			if info.Mode().Perm() != perms[rel] {
				t.Errorf("%s perm = %o, want %o", rel, info.Mode().Perm(), perms[rel])
			}
			if !info.ModTime().Equal(distMTime) {
				t.Errorf("%s mtime = %v, want the source's %v", rel, info.ModTime(), distMTime)
			}
		})
	}
	for _, rel := range wantAbsent {
		if _, err := os.Lstat(filepath.Join(dir, rel)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s must not be cloned (err %v)", rel, err)
		}
	}
	for _, rel := range wantEmpty {
		entries, err := os.ReadDir(filepath.Join(dir, rel))
		if err != nil {
			t.Errorf("%s: %v, want an empty directory", rel, err)
			continue
		}
		if len(entries) != 0 {
			t.Errorf("%s has %d entries, want none", rel, len(entries))
		}
	}
	for link, target := range map[string]string{"bin/mi.sh": "micro-integrator.sh", "latest-lib": "lib"} {
		info, err := os.Lstat(filepath.Join(dir, link))
		if err != nil || info.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s: %v %v, want a symlink", link, info, err)
			continue
		}
		if got, _ := os.Readlink(filepath.Join(dir, link)); got != target {
			t.Errorf("%s -> %q, want -> %q", link, got, target)
		}
	}
	// latest-lib must be a link, not a walked copy of lib/.
	if _, err := os.Lstat(filepath.Join(dir, "latest-lib", "a.jar")); err != nil {
		t.Errorf("latest-lib/a.jar: %v (the recreated link should resolve inside the clone)", err)
	}
	if got := strings.Join(leftovers(t, dir), " "); got != "" {
		t.Errorf("temporary files left in the clone: %s", got)
	}
}

// TestDistributionSyncsHomesConcurrently reads the distribution once and
// syncs several homes from it at once, as up prepares its homes: each is
// the clone a home of its own gets, and a second round changes nothing.
func TestDistributionSyncsHomesConcurrently(t *testing.T) {
	src, dir := setup(t)
	alone := filepath.Join(filepath.Dir(dir), "alone")
	if _, err := syncHome(src, alone); err != nil {
		t.Fatal(err)
	}
	want := tree(t, alone)
	dist, err := home.ReadDistribution(src)
	if err != nil {
		t.Fatal(err)
	}
	homes := []string{dir, filepath.Join(filepath.Dir(dir), "mi-2"), filepath.Join(filepath.Dir(dir), "mi-3")}
	for round, wantStats := range []home.SyncStats{
		{Linked: len(wantLinked), Copied: len(wantCopied)},
		{UpToDate: len(wantLinked) + len(wantCopied)},
	} {
		stats := make([]home.SyncStats, len(homes))
		errs := make([]error, len(homes))
		var wg sync.WaitGroup
		for i, h := range homes {
			wg.Go(func() { stats[i], errs[i] = dist.Sync(h) })
		}
		wg.Wait()
		for i, h := range homes {
			if errs[i] != nil {
				t.Fatalf("round %d: Sync(%s): %v", round+1, h, errs[i])
			}
			if stats[i] != wantStats {
				t.Errorf("round %d: Sync(%s) stats = %+v, want %+v", round+1, h, stats[i], wantStats)
			}
			if d := diffClones(want, tree(t, h)); len(d) != 0 {
				t.Errorf("round %d: %s differs from a home synced alone:\n%s", round+1, h, strings.Join(d, "\n"))
			}
		}
	}
}

// leftovers lists temporary names Sync and fsutil use.
func leftovers(t *testing.T, root string) []string {
	var out []string
	for rel := range tree(t, root) {
		base := filepath.Base(rel)
		if strings.Contains(base, ".tmp-") || strings.HasSuffix(base, ".link-tmp") {
			out = append(out, rel)
		}
	}
	return out
}

func TestSyncLeavesSourceUntouched(t *testing.T) {
	src, dir := setup(t)
	before := tree(t, src)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	// The instance then writes into everything it may write into.
	must(t, os.WriteFile(filepath.Join(dir, "conf", "log4j2.properties"), []byte("changed\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "tmp", "work"), []byte("x"), 0o644))
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	if d := diffTrees(before, tree(t, src)); len(d) != 0 {
		t.Errorf("Sync changed the source distribution:\n%s", strings.Join(d, "\n"))
	}
}

func TestSyncSecondRunChangesNothing(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	st, err := syncHome(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := (home.SyncStats{UpToDate: len(wantLinked) + len(wantCopied)}); st != want {
		t.Errorf("second Sync stats = %+v, want %+v", st, want)
	}
	if d := diffTrees(before, tree(t, dir)); len(d) != 0 {
		t.Errorf("second Sync changed the clone:\n%s", strings.Join(d, "\n"))
	}
}

func TestSyncSecondRunWithSpecialModeBits(t *testing.T) {
	// A distribution file with a setuid, setgid or sticky bit: whatever the
	// copy's mode, the second Sync must see it as up to date rather than
	// copy it again on every start.
	for name, mode := range map[string]os.FileMode{"setuid": os.ModeSetuid, "setgid": os.ModeSetgid, "sticky": os.ModeSticky} {
		t.Run(name, func(t *testing.T) {
			src, dir := setup(t)
			p := filepath.Join(src, "bin", "micro-integrator.sh")
			must(t, os.Chmod(p, 0o755|mode))
			if info, _ := os.Stat(p); info.Mode()&mode == 0 {
				t.Skipf("this filesystem dropped %v", mode)
			}
			if _, err := syncHome(src, dir); err != nil {
				t.Fatal(err)
			}
			st, err := syncHome(src, dir)
			if err != nil {
				t.Fatal(err)
			}
			if want := (home.SyncStats{UpToDate: len(wantLinked) + len(wantCopied)}); st != want {
				t.Errorf("second Sync stats = %+v, want %+v", st, want)
			}
		})
	}
}

func TestSyncUpdatesChangedSource(t *testing.T) {
	later := distMTime.Add(time.Hour)
	tests := []struct {
		name   string
		change func(t *testing.T, src string)
		rel    string // the file that must be re-synced
		want   home.SyncStats
		linked bool
	}{
		{
			name: "new content and mtime",
			rel:  "conf/log4j2.properties",
			change: func(t *testing.T, src string) {
				p := filepath.Join(src, "conf/log4j2.properties")
				must(t, os.WriteFile(p, []byte("appenders = CARBON_LOGFILE, SYSLOG\n"), 0o644))
				must(t, os.Chtimes(p, later, later))
			},
			want: home.SyncStats{Copied: 1, UpToDate: 6},
		},
		{
			name: "same size, new mtime",
			rel:  "repository/deployment/x.xml",
			change: func(t *testing.T, src string) {
				p := filepath.Join(src, "repository/deployment/x.xml")
				must(t, os.WriteFile(p, []byte("<api name=\"y\"/>\n"), 0o640))
				must(t, os.Chtimes(p, later, later))
			},
			want: home.SyncStats{Copied: 1, UpToDate: 6},
		},
		{
			name: "mode changed",
			rel:  "bin/micro-integrator.sh",
			change: func(t *testing.T, src string) {
				must(t, os.Chmod(filepath.Join(src, "bin/micro-integrator.sh"), 0o700))
			},
			want: home.SyncStats{Copied: 1, UpToDate: 6},
		},
		{
			name:   "jar replaced by a new file",
			rel:    "lib/a.jar",
			linked: true,
			change: func(t *testing.T, src string) {
				p := filepath.Join(src, "lib/a.jar")
				must(t, os.Remove(p))
				must(t, os.WriteFile(p, []byte("PK\x03\x04 a.jar v2"), 0o644))
			},
			want: home.SyncStats{Linked: 1, UpToDate: 6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dir := setup(t)
			if _, err := syncHome(src, dir); err != nil {
				t.Fatal(err)
			}
			tt.change(t, src)
			st, err := syncHome(src, dir)
			if err != nil {
				t.Fatal(err)
			}
			if st != tt.want {
				t.Errorf("stats = %+v, want %+v", st, tt.want)
			}
			s, d := filepath.Join(src, tt.rel), filepath.Join(dir, tt.rel)
			want, _ := os.ReadFile(s)
			got, _ := os.ReadFile(d)
			if !bytes.Equal(got, want) {
				t.Errorf("%s = %q, want the new source %q", tt.rel, got, want)
			}
			si, _ := os.Stat(s)
			di, _ := os.Stat(d)
			if di.Mode() != si.Mode() || !di.ModTime().Equal(si.ModTime()) {
				t.Errorf("%s: mode %v mtime %v, want %v %v", tt.rel, di.Mode(), di.ModTime(), si.Mode(), si.ModTime())
			}
			if os.SameFile(si, di) != tt.linked {
				t.Errorf("%s: hard link = %v, want %v", tt.rel, os.SameFile(si, di), tt.linked)
			}
		})
	}
}

func TestSyncSymlinkRetargeted(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(src, "latest-lib")
	must(t, os.Remove(link))
	must(t, os.Symlink("wso2", link))
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "latest-lib")); got != "wso2" {
		t.Errorf("latest-lib -> %q, want -> \"wso2\"", got)
	}
}

func TestSyncKeepsInstanceFiles(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	mine := map[string]string{
		"repository/deployment/mine.xml":     "<api name=\"mine\"/>",
		"repository/logs/wso2carbon.log":     "started",
		"tmp/work":                           "tmp",
		"logs/console.log":                   "console",
		"wso2carbon.pid":                     "4242",
		"conf/deployment.toml":               "[server]\noffset = 11\n",
		"wso2/components/default/config.ini": "osgi",
	}
	for rel, data := range mine {
		p := filepath.Join(dir, rel)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(data), 0o600))
	}
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	for rel, data := range mine {
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || string(got) != data {
			t.Errorf("%s = %q, %v; want the instance's own %q kept", rel, got, err, data)
		}
	}
}

// A file edited in the home since Sync put it there (a log level tuned in
// one instance's conf/log4j2.properties) is kept by the next Sync, even
// when the distribution's changed too, and Behind does not list it; once
// the edit is removed, the distribution's comes back. Before, every
// restart reverted such edits without a word.
func TestSyncKeepsFilesEditedInTheHome(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	const rel = "conf/log4j2.properties"
	mine := filepath.Join(dir, rel)
	must(t, os.WriteFile(mine, []byte("logger.custom.level = DEBUG\n"), 0o644))
	theirs := filepath.Join(src, rel)
	must(t, os.WriteFile(theirs, []byte("appenders = CARBON_LOGFILE, SYSLOG\n"), 0o644))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	if behind, kept, _, err := dist.Behind(dir); err != nil || len(behind) != 0 || !slices.Equal(kept, []string{rel}) {
		t.Errorf("Behind = %q, kept %q, %v; want nothing behind, and %s kept over the distribution's change", behind, kept, err, rel)
	}
	st, err := dist.Sync(dir)
	must(t, err)
	if got, _ := os.ReadFile(mine); string(got) != "logger.custom.level = DEBUG\n" || st.Kept != 1 {
		t.Errorf("%s = %q (kept %d), want the home's edit kept", rel, got, st.Kept)
	}
	// Synced from this very distribution, the home is still reported: its
	// list says something is kept over a change (no quick answer).
	if behind, kept, _, err := dist.Behind(dir); err != nil || len(behind) != 0 || !slices.Equal(kept, []string{rel}) {
		t.Errorf("Behind after the sync = %q, kept %q, %v; want %s still kept over the distribution's change", behind, kept, err, rel)
	}
	must(t, os.Remove(mine))
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(mine); string(got) != "appenders = CARBON_LOGFILE, SYSLOG\n" {
		t.Errorf("%s = %q after the edit was removed, want the distribution's", rel, got)
	}
}

// A jar written into in place in the distribution (which changes every
// home's hard link to it), then replaced there by a new file, reaches the
// homes: the link is still Sync's, whatever was written through it. It
// was taken for the home's own, and kept: a mixed fleet.
func TestSyncFollowsAJarWrittenInPlaceThenReplaced(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	jar := filepath.Join(src, "lib", "a.jar")
	f, err := os.OpenFile(jar, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	f.WriteString(" fixed in place")
	f.Close()
	must(t, os.Remove(jar))
	must(t, os.WriteFile(jar, []byte("PK\x03\x04 a.jar v2"), 0o644))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	if behind, kept, _, err := dist.Behind(dir); err != nil || !slices.Equal(behind, []string{"lib/a.jar"}) || len(kept) != 0 {
		t.Errorf("Behind = %q, kept %q, %v; want lib/a.jar behind", behind, kept, err)
	}
	if _, err := dist.Sync(dir); err != nil {
		t.Fatal(err)
	}
	if !sameFile(t, jar, filepath.Join(dir, "lib", "a.jar")) {
		t.Error("the home's lib/a.jar is not the distribution's new one")
	}
}

// A home whose list predates stamps (an older mictl cloned it) keeps a
// file that differs from the distribution's, and is not behind for it: an
// edit made there, or a conf/ file MI rendered, was reverted by a restart
// the first reload forced. Once stamped, the distribution's next change
// arrives.
func TestSyncTakesAnUnstampedHomeAsItIs(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	var legacy strings.Builder
	for _, f := range []string{"bin/micro-integrator.sh", "conf/log4j2.properties", "lib/a.jar"} {
		legacy.WriteString(f + "\n")
	}
	must(t, os.WriteFile(filepath.Join(dir, ".mictl-cloned"), []byte(legacy.String()), 0o644))
	mine := filepath.Join(dir, "conf", "log4j2.properties")
	must(t, os.WriteFile(mine, []byte("logger.custom.level = DEBUG\n"), 0o644))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	if behind, _, _, err := dist.Behind(dir); err != nil || len(behind) != 0 {
		t.Errorf("Behind = %q, %v; want nothing: the home's file is taken as its own", behind, err)
	}
	if st, err := dist.Sync(dir); err != nil || st.Kept != 1 {
		t.Fatalf("Sync: %+v, %v; want the home's file kept", st, err)
	}
	if got, _ := os.ReadFile(mine); string(got) != "logger.custom.level = DEBUG\n" {
		t.Fatalf("the home's edit is gone: %q", got)
	}
	// Stamped as it is now: a file left as it was takes the
	// distribution's next change.
	script := filepath.Join(src, "bin", "micro-integrator.sh")
	later := distMTime.Add(time.Hour)
	must(t, os.WriteFile(script, []byte("#!/bin/sh\nexec java -server \"$@\"\n"), 0o755))
	must(t, os.Chtimes(script, later, later))
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "bin", "micro-integrator.sh")); !strings.Contains(string(got), "-server") {
		t.Errorf("the distribution's new script did not arrive: %q", got)
	}
	// The file taken as the home's stays the home's through later syncs
	// (it was stamped as Sync's own, and the second sync put the
	// distribution's back); a change of the distribution's is reported,
	// and deleting the home's takes it.
	if got, _ := os.ReadFile(mine); string(got) != "logger.custom.level = DEBUG\n" {
		t.Fatalf("the home's edit is gone at the second sync: %q", got)
	}
	theirs := filepath.Join(src, "conf", "log4j2.properties")
	must(t, os.WriteFile(theirs, []byte("appenders = CARBON_LOGFILE, SYSLOG\n"), 0o644))
	must(t, os.Chtimes(theirs, later, later))
	dist, err = home.ReadDistribution(src)
	must(t, err)
	if behind, kept, _, err := dist.Behind(dir); err != nil || len(behind) != 0 || !slices.Equal(kept, []string{"conf/log4j2.properties"}) {
		t.Errorf("Behind = %q, kept %q, %v; want the home's log4j2.properties kept, and said", behind, kept, err)
	}
	must(t, os.Remove(mine))
	if behind, _, _, err := dist.Behind(dir); err != nil || !slices.Equal(behind, []string{"conf/log4j2.properties"}) {
		t.Errorf("Behind after the kept file was deleted = %q, %v; want it behind", behind, err)
	}
	if _, err := dist.Sync(dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(mine); !strings.Contains(string(got), "SYSLOG") {
		t.Errorf("the distribution's log4j2.properties did not arrive: %q", got)
	}
}

// A path the home holds as another kind of file than the distribution
// (a file where it has a directory, a directory where it has a file), and
// not as Sync left it, is the home's: Sync keeps it and does not fail,
// and Behind reports it kept, not behind (a reload restarted the instance
// at every reload, each time failing to prepare its home).
func TestSyncKeepsAPathOfAnotherKind(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	must(t, os.MkdirAll(filepath.Join(src, "conf", "extra"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "conf", "extra", "x.xml"), []byte("<x/>"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "conf", "extra"), []byte("the home's"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "conf", "new.xml"), []byte("<new/>"), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "conf", "new.xml"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "conf", "new.xml", "mine.txt"), []byte("the home's"), 0o644))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	behind, kept, _, err := dist.Behind(dir)
	wantKept := []string{"conf/extra (not a directory in the home)", "conf/new.xml (a directory in the home)"}
	if err != nil || len(behind) != 0 || !slices.Equal(kept, wantKept) {
		t.Errorf("Behind = %q, kept %q, %v; want none behind, kept %q", behind, kept, err, wantKept)
	}
	if _, err := dist.Sync(dir); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "conf", "extra")); string(got) != "the home's" {
		t.Errorf("conf/extra = %q, want the home's file", got)
	}
	if _, kept, _, err := dist.Behind(dir); err != nil || !slices.Equal(kept, wantKept) {
		t.Errorf("Behind after the sync: kept %q, %v; want %q still", kept, err, wantKept)
	}
}

// A permission change in the distribution (chmod +x of a script) is behind
// even though the content is the same.
func TestBehindSeesAPermissionChange(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	must(t, os.Chmod(filepath.Join(src, "repository", "deployment", "x.xml"), 0o644))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	if behind, _, _, err := dist.Behind(dir); err != nil || !slices.Equal(behind, []string{"repository/deployment/x.xml"}) {
		t.Errorf("Behind = %q, %v; want the file whose mode changed", behind, err)
	}
}

// Permission bits tightened in a home (chmod 600 of a file holding a
// secret) are a change of the home's: kept, not reverted by a restart it
// forced.
func TestSyncKeepsPermissionsChangedInTheHome(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "repository", "deployment", "x.xml")
	must(t, os.Chmod(p, 0o600))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	if behind, _, _, err := dist.Behind(dir); err != nil || len(behind) != 0 {
		t.Errorf("Behind = %q, %v; want nothing", behind, err)
	}
	if _, err := dist.Sync(dir); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(p); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, %v; want its 0600 kept", p, info.Mode(), err)
	}
}

// A file Sync would copy that cannot be read makes Behind fail, naming it
// and what to do: a reload would otherwise stop an instance and then fail
// to prepare its home, leaving it stopped. (An unreadable file cannot be
// made for root, which runs the tests: one gone since the distribution
// was read fails alike.)
func TestBehindFailsForAFileItCannotRead(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(src, "conf", "secret.properties")
	must(t, os.WriteFile(secret, []byte("x"), 0o600))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	must(t, os.Remove(secret))
	if _, _, _, err := dist.Behind(dir); err == nil || !strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "make it readable") {
		t.Errorf("Behind: %v; want an error naming %s and what to do", err, secret)
	}
}

// Behind lists what the next Sync would change in a home: files the
// distribution added or changed, and those it dropped; none once synced.
// A file only touched in the distribution is not behind.
func TestBehindListsWhatSyncWouldChange(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	later := distMTime.Add(time.Hour)
	must(t, os.WriteFile(filepath.Join(src, "lib", "new.jar"), []byte("PK new"), 0o644))
	changed := filepath.Join(src, "conf", "log4j2.properties")
	must(t, os.WriteFile(changed, []byte("appenders = CARBON_LOGFILE, SYSLOG\n"), 0o644))
	must(t, os.Chtimes(changed, later, later))
	// Written again as it was (a distribution unpacked again, the
	// simulator's script written by another mictl and back): touched, not
	// behind.
	must(t, os.Chtimes(filepath.Join(src, "bin", "micro-integrator.sh"), later, later))
	must(t, os.Remove(filepath.Join(src, "repository", "deployment", "x.xml")))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	behind, kept, _, err := dist.Behind(dir)
	must(t, err)
	want := []string{"conf/log4j2.properties", "lib/new.jar", "repository/deployment/x.xml (removed)"}
	if !slices.Equal(behind, want) || len(kept) != 0 {
		t.Errorf("Behind = %q, kept %q; want %q, none kept", behind, kept, want)
	}
	if _, err := dist.Sync(dir); err != nil {
		t.Fatal(err)
	}
	if behind, _, _, err := dist.Behind(dir); err != nil || len(behind) != 0 {
		t.Errorf("Behind after Sync = %q, %v; want nothing", behind, err)
	}
}

// A file an earlier Sync put in a home that the distribution no longer
// has (a JDBC driver replaced in mi_home's lib/) is removed at the next
// Sync; one the instance or its operator added (a driver for this
// instance only) is kept. Before, the old driver stayed on every
// instance's classpath beside the new one.
func TestSyncRemovesWhatTheDistributionDropped(t *testing.T) {
	src, dir := setup(t)
	old := filepath.Join(src, "lib", "driver-1.0.jar")
	must(t, os.WriteFile(old, []byte("v1"), 0o644))
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(dir, "lib", "only-mine.jar")
	must(t, os.WriteFile(mine, []byte("mine"), 0o644))
	must(t, os.Remove(old))
	must(t, os.WriteFile(filepath.Join(src, "lib", "driver-2.0.jar"), []byte("v2"), 0o644))
	st, err := syncHome(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lib", "driver-1.0.jar")); !errors.Is(err, fs.ErrNotExist) || st.Removed != 1 {
		t.Errorf("the dropped driver-1.0.jar: %v, removed %d; want it gone (1 removed)", err, st.Removed)
	}
	for _, keep := range []string{mine, filepath.Join(dir, "lib", "driver-2.0.jar")} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s: %v; want it kept", keep, err)
		}
	}
}

func TestSyncRefusesInsideSource(t *testing.T) {
	src, _ := setup(t)
	tests := []struct{ name, dir string }{
		{"the source itself", src},
		{"a child", filepath.Join(src, "instances", "mi-1")},
		{"a child spelled with ..", filepath.Join(src, "bin", "..", "instances", "mi-1")},
		{"a per-instance directory of the source", filepath.Join(src, "tmp", "mi-1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tree(t, src)
			_, err := syncHome(src, tt.dir)
			if err == nil || !strings.Contains(err.Error(), "inside the source distribution") {
				t.Fatalf("Sync(src, %s) = %v, want a refusal mentioning \"inside the source distribution\"", tt.dir, err)
			}
			if d := diffTrees(before, tree(t, src)); len(d) != 0 {
				t.Errorf("refused Sync still changed the source:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

func TestSyncRefusesSymlinkIntoSource(t *testing.T) {
	// instances_dir reached through a symlink into the distribution. (The
	// link points at the source's tmp/, which Sync does not walk, so that a
	// missing refusal shows up as a changed source and not as endless
	// recursion.)
	src, _ := setup(t)
	link := filepath.Join(filepath.Dir(src), "instances")
	must(t, os.Symlink(filepath.Join(src, "tmp"), link))
	before := tree(t, src)
	_, err := syncHome(src, filepath.Join(link, "mi-1"))
	if err == nil || !strings.Contains(err.Error(), "inside the source distribution") {
		t.Errorf("Sync through a symlink into the source = %v, want a refusal mentioning \"inside the source distribution\"", err)
	}
	if d := diffTrees(before, tree(t, src)); len(d) != 0 {
		t.Errorf("Sync changed the source distribution:\n%s", strings.Join(d, "\n"))
	}
}

func TestSyncSiblingWithCommonPrefix(t *testing.T) {
	// "/x/wso2mi-4.4.0-instances" is not inside "/x/wso2mi-4.4.0".
	src, _ := setup(t)
	dir := src + "-instances/mi-1"
	if _, err := syncHome(src, dir); err != nil {
		t.Fatalf("Sync into a sibling with a common name prefix: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "micro-integrator.sh")); err != nil {
		t.Error(err)
	}
}

// MI homes are commonly reached through a version-less symlink
// (/opt/wso2mi -> /opt/wso2mi-4.4.0). Cloning through it must still produce
// a real directory, and nothing written into the instance may land in the
// distribution.
func TestSyncThroughSymlinkedSource(t *testing.T) {
	root := t.TempDir()
	real := makeDist(t, filepath.Join(root, "wso2mi-4.4.0"))
	src := filepath.Join(root, "wso2mi")
	must(t, os.Symlink(real, src))
	// instances_dir already exists, as it does after any earlier mictl run
	// (it holds .mictl/state.json).
	must(t, os.MkdirAll(filepath.Join(root, "instances", ".mictl"), 0o755))
	dir := filepath.Join(root, "instances", "mi-1")
	before := tree(t, real)

	if _, err := syncHome(src, dir); err != nil {
		t.Errorf("Sync: %v", err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !info.IsDir() {
		t.Errorf("BUG: the instance home %s is %v, not a directory: Sync walked only the symlink root and recreated it", dir, info.Mode())
	}
	if _, err := os.Lstat(filepath.Join(dir, "bin", "micro-integrator.sh")); err != nil {
		t.Errorf("clone through a symlinked mi_home has no bin/micro-integrator.sh: %v", err)
	}
	if _, err := home.WriteConf(dir, src, []byte("[server]\noffset = 11\n")); err != nil {
		t.Logf("WriteConf: %v", err)
	}
	if d := diffTrees(before, tree(t, real)); len(d) != 0 {
		t.Errorf("BUG: writing the instance's conf changed the source distribution:\n%s", strings.Join(d, "\n"))
	}
}

func TestWriteConf(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	root := t.TempDir()
	miHome := filepath.Join(root, "wso2mi")
	must(t, os.MkdirAll(filepath.Join(miHome, "conf"), 0o755))
	dir := filepath.Join(root, "instances", "mi-1")
	data := []byte("[keystore.primary]\npassword = \"wso2carbon\"\n")

	if _, err := home.WriteConf(dir, miHome, data); err != nil {
		t.Fatalf("WriteConf: %v", err)
	}
	path := home.ConfPath(dir)
	if path != filepath.Join(dir, "conf", "deployment.toml") {
		t.Errorf("ConfPath = %s", path)
	}
	check := func() {
		t.Helper()
		got, err := os.ReadFile(path)
		must(t, err)
		if !bytes.Equal(got, data) {
			t.Errorf("content = %q, want %q", got, data)
		}
		info, err := os.Stat(path)
		must(t, err)
		if info.Mode().Perm() != 0o600 {
			t.Errorf("mode = %o, want 0600 (it holds passwords)", info.Mode().Perm())
		}
	}
	check()
	// Over an existing world-readable file: still 0600.
	must(t, os.Chmod(path, 0o644))
	data = []byte("[server]\noffset = 12\n")
	if _, err := home.WriteConf(dir, miHome, data); err != nil {
		t.Fatal(err)
	}
	check()
	// With no mi_home (the simulator) there is nothing to protect.
	if _, err := home.WriteConf(filepath.Join(root, "sim", "mi-1"), "", data); err != nil {
		t.Errorf("WriteConf with no mi_home: %v", err)
	}
}

// mictl renders a home's deployment.toml again at every up, restart and
// reload that restarts it: an edit made in the home since (a setting
// tuned by hand, MI's cipher tool encrypting the passwords) was replaced
// without a trace. It is kept beside the file, 0600 as the file (it holds
// the keystore passwords), and WriteConf says where; a file as mictl
// rendered it, or an edit that is what mictl renders now, keeps nothing.
func TestWriteConfKeepsAnEditInTheHome(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mi-1")
	first := []byte("[user_store]\ntype = \"read_only_ldap\"\n")
	second := []byte("[user_store]\ntype = \"read_only_ldap\"\n# new comment\n")
	edited := []byte("# ops: JDBC store, OPS-42\n[user_store]\ntype = \"database\"\n")
	write := func(data []byte, wantKept string) {
		t.Helper()
		kept, err := home.WriteConf(dir, "", data)
		must(t, err)
		if kept != (home.KeptEdit{Path: wantKept}) {
			t.Errorf("WriteConf kept %+v, want it at %q", kept, wantKept)
		}
		if got, _ := os.ReadFile(home.ConfPath(dir)); !bytes.Equal(got, data) {
			t.Errorf("conf/deployment.toml = %q, want %q", got, data)
		}
	}
	write(first, "")
	write(second, "") // rendered again, never edited: nothing to keep
	if _, err := os.Lstat(home.EditedConfPath(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file never edited was kept: %v", err)
	}

	must(t, os.WriteFile(home.ConfPath(dir), edited, 0o600))
	if current, ok := home.ConfEdited(dir); !ok || !bytes.Equal(current, edited) {
		t.Errorf("ConfEdited = %q, %v; want the edit, true", current, ok)
	}
	write(first, home.EditedConfPath(dir))
	got, err := os.ReadFile(home.EditedConfPath(dir))
	must(t, err)
	info, err := os.Stat(home.EditedConfPath(dir))
	must(t, err)
	if !bytes.Equal(got, edited) || info.Mode().Perm() != 0o600 {
		t.Errorf("kept %q, mode %o; want the edit %q, 0600 (it holds passwords)", got, info.Mode().Perm(), edited)
	}
	if _, ok := home.ConfEdited(dir); ok {
		t.Error("ConfEdited after WriteConf rendered the file again: true, want false")
	}

	// Edited into what mictl renders now: nothing is lost.
	must(t, os.Remove(home.EditedConfPath(dir)))
	must(t, os.WriteFile(home.ConfPath(dir), second, 0o600))
	write(second, "")
}

// A home rendered by an older mictl has no copy of mictl's last render:
// its deployment.toml edited by hand was replaced by the next render
// without a word, where a home with the copy keeps the edit. Whether it
// was edited cannot be told, so a file that differs from the new render
// is kept the same way, marked Unrecorded for the warning to say why,
// not that it was edited; one that is the new render keeps nothing, and
// from then on the home has its copy. A copy emptied mid-render (mictl
// killed) is no older home: nothing is kept.
func TestWriteConfKeepsTheFileOfAHomeWithoutACopy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mi-1")
	copyPath := filepath.Join(dir, ".mictl-deployment.toml")
	rendered := []byte("[server]\nhostname = \"localhost\"\n")
	edited := []byte("[server]\nhostname = \"ops.example.com\"\n")
	_, err := home.WriteConf(dir, "", rendered)
	must(t, err)

	must(t, os.Remove(copyPath))
	must(t, os.WriteFile(home.ConfPath(dir), edited, 0o600))
	kept, err := home.WriteConf(dir, "", rendered)
	must(t, err)
	if want := (home.KeptEdit{Path: home.EditedConfPath(dir), Unrecorded: true}); kept != want {
		t.Errorf("WriteConf in a home without its copy kept %+v, want %+v", kept, want)
	}
	got, err := os.ReadFile(home.EditedConfPath(dir))
	must(t, err)
	info, err := os.Stat(home.EditedConfPath(dir))
	must(t, err)
	if !bytes.Equal(got, edited) || info.Mode().Perm() != 0o600 {
		t.Errorf("kept %q, mode %o; want the file as it was %q, 0600 (it holds passwords)", got, info.Mode().Perm(), edited)
	}
	if got, _ := os.ReadFile(copyPath); !bytes.Equal(got, rendered) {
		t.Errorf("the copy after the render: %q, want %q", got, rendered)
	}

	// The file as mictl renders it now: nothing to keep.
	must(t, os.Remove(copyPath))
	if kept, err := home.WriteConf(dir, "", rendered); kept != (home.KeptEdit{}) || err != nil {
		t.Errorf("WriteConf in a home without its copy, its file what mictl renders: kept %+v, %v; want nothing", kept, err)
	}

	// Emptied as a render empties it before it replaces the file: mictl
	// rendered the file, which is no edit.
	must(t, os.WriteFile(copyPath, nil, 0o600))
	if kept, err := home.WriteConf(dir, "", edited); kept != (home.KeptEdit{}) || err != nil {
		t.Errorf("WriteConf with an emptied copy: kept %+v, %v; want nothing", kept, err)
	}
}

// A second edit of a home's deployment.toml, rendered again in its turn,
// replaced the first one kept, without a word. The last edit is kept at
// EditedConfPath, where diff and up say it goes, and the one kept there
// before moves to .1, which WriteConf says. The last three are kept, the
// older numbered higher: each kept one is a copy full of passwords, and
// MI's cipher tool run again after each render made one per render
// without end; numbered by the first free name, an edit kept after .1
// was deleted took .1, older than .2 to read. The same edit kept again
// (a render that failed after keeping it) is kept once.
func TestWriteConfKeepsTheLastEditsInOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mi-1")
	rendered := []byte("[server]\nhostname = \"localhost\"\n")
	edit := func(n int) []byte { return fmt.Appendf(nil, "[server]\nhostname = \"ops-%d\"\n", n) }
	_, err := home.WriteConf(dir, "", rendered)
	must(t, err)
	edited := home.EditedConfPath(dir)
	keep := func(n int) {
		t.Helper()
		must(t, os.WriteFile(home.ConfPath(dir), edit(n), 0o600))
		kept, err := home.WriteConf(dir, "", rendered)
		must(t, err)
		want := home.KeptEdit{Path: edited}
		if n > 1 {
			want.Earlier = edited + ".1"
		}
		if kept != want {
			t.Errorf("edit %d: WriteConf kept %+v, want %+v", n, kept, want)
		}
		if n > 1 && !strings.Contains(kept.String(), "the last 3 edits kept") {
			t.Errorf("edit %d: the warning says %q, not how many edits are kept", n, kept)
		}
	}
	holds := func(want map[string][]byte) {
		t.Helper()
		for path, want := range want {
			got, err := os.ReadFile(path)
			info, serr := os.Stat(path)
			if err != nil || serr != nil || !bytes.Equal(got, want) || info.Mode().Perm() != 0o600 {
				t.Errorf("%s: %q (%v), want %q, mode 0600 (it holds passwords)", filepath.Base(path), got, errors.Join(err, serr), want)
			}
		}
		all, _ := filepath.Glob(edited + "*")
		if len(all) != len(want) {
			t.Errorf("edits kept: %q, want %d", all, len(want))
		}
	}
	for n := 1; n <= 5; n++ {
		keep(n)
	}
	holds(map[string][]byte{edited: edit(5), edited + ".1": edit(4), edited + ".2": edit(3)})
	must(t, os.Remove(edited+".1"))
	keep(6)
	holds(map[string][]byte{edited: edit(6), edited + ".1": edit(5), edited + ".2": edit(3)})

	// A render that failed after it kept the edit (its copy could not be
	// removed) leaves the file as edited: the next keeps it no second time.
	must(t, os.WriteFile(home.ConfPath(dir), edit(6), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, ".mictl-deployment.toml"), rendered, 0o600))
	kept, err := home.WriteConf(dir, "", rendered)
	must(t, err)
	if kept != (home.KeptEdit{Path: edited}) {
		t.Errorf("the same edit kept again: %+v, want it at %s alone", kept, edited)
	}
	holds(map[string][]byte{edited: edit(6), edited + ".1": edit(5), edited + ".2": edit(3)})
}

// The copy of what mictl rendered last tells an edit made in the home:
// left behind while the file was replaced (its write failed, or mictl was
// killed in between), it took mictl's own render for an operator's edit
// at the next render, kept it as one and warned of it. A copy that
// cannot be replaced now fails the render with the file as it was, and
// nothing is taken for an edit. Root writes whatever a mode forbids: an
// immutable copy (chattr +i) stands in for one that cannot be written.
func TestWriteConfNeverTakesItsOwnRenderForAnEdit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mi-1")
	first := []byte("[server]\nhostname = \"mi-1.local\"\n")
	second := []byte("[server]\nhostname = \"mi-1b.local\"\n")
	third := []byte("[server]\nhostname = \"mi-1c.local\"\n")
	_, err := home.WriteConf(dir, "", first)
	must(t, err)
	copyPath := filepath.Join(dir, ".mictl-deployment.toml")
	if out, err := exec.Command("chattr", "+i", copyPath).CombinedOutput(); err != nil {
		t.Skipf("no immutable files here (chattr +i: %v: %s)", err, out)
	}
	unlock := func() { _ = exec.Command("chattr", "-i", copyPath).Run() }
	t.Cleanup(unlock)
	if _, err := home.WriteConf(dir, "", second); err == nil || !strings.Contains(err.Error(), copyPath) {
		t.Errorf("WriteConf with a copy it cannot replace: %v, want an error naming %s", err, copyPath)
	}
	unlock()
	if current, edited := home.ConfEdited(dir); edited {
		t.Errorf("ConfEdited after a failed render: the file %q is taken for an edit", current)
	}
	kept, err := home.WriteConf(dir, "", third)
	must(t, err)
	if kept.Path != "" {
		t.Errorf("the next render kept %s: mictl's own render taken for an edit", kept.Path)
	}
}

// A crash restart puts back the deployment.toml deleted from a home as
// mictl last rendered it (with the conf/ it was in), leaves one that is
// there alone, and, with no copy to put back (a home an older mictl
// made, or a copy a power failure left empty), says how to render it.
func TestRestoreConf(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mi-1")
	data := []byte("[keystore.primary]\npassword = \"wso2carbon\"\n")
	_, err := home.WriteConf(dir, "", data)
	must(t, err)
	path := home.ConfPath(dir)

	edited := []byte("[server]\noffset = 99\n") // the home's to keep
	must(t, os.WriteFile(path, edited, 0o600))
	if put, err := home.RestoreConf(dir); put || err != nil {
		t.Fatalf("RestoreConf with the file there: %v, %v; want nothing done", put, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, edited) {
		t.Fatalf("RestoreConf changed the file there: %q", got)
	}

	must(t, os.RemoveAll(filepath.Dir(path)))
	if put, err := home.RestoreConf(dir); !put || err != nil {
		t.Fatalf("RestoreConf with conf/ gone: %v, %v; want it put back", put, err)
	}
	got, err := os.ReadFile(path)
	must(t, err)
	info, err := os.Stat(path)
	must(t, err)
	if !bytes.Equal(got, data) || info.Mode().Perm() != 0o600 {
		t.Fatalf("put back %q, mode %o; want %q, 0600 (it holds passwords)", got, info.Mode().Perm(), data)
	}

	copyPath := filepath.Join(dir, ".mictl-deployment.toml")
	must(t, os.Remove(path))
	for _, copyData := range [][]byte{nil, {}} {
		if copyData == nil {
			must(t, os.Remove(copyPath))
		} else {
			must(t, os.WriteFile(copyPath, copyData, 0o600))
		}
		put, err := home.RestoreConf(dir)
		if want := path + " is gone (deleted while the server ran), and the home keeps no copy of it to put back; mictl up renders it and starts the instance again"; put || err == nil || err.Error() != want {
			t.Fatalf("RestoreConf with the copy %q: %v, %v; want the error %q", copyData, put, err, want)
		}
	}
}

func TestWriteConfRefusesInsideSource(t *testing.T) {
	root := t.TempDir()
	miHome := filepath.Join(root, "wso2mi")
	conf := filepath.Join(miHome, "conf", "deployment.toml")
	must(t, os.MkdirAll(filepath.Dir(conf), 0o755))
	must(t, os.WriteFile(conf, []byte("original"), 0o644))
	// A symlink that leads into mi_home is still inside it.
	must(t, os.MkdirAll(filepath.Join(miHome, "instances"), 0o755))
	must(t, os.Symlink(filepath.Join(miHome, "instances"), filepath.Join(root, "instances")))

	tests := []struct{ name, dir string }{
		{"mi_home itself", miHome},
		{"inside mi_home", filepath.Join(miHome, "instances", "mi-1")},
		{"relative spelling", filepath.Join(miHome, "x", "..", "instances", "mi-2")},
		{"through a symlink into mi_home", filepath.Join(root, "instances", "mi-3")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := home.WriteConf(tt.dir, miHome, []byte("overwritten"))
			if err == nil || !strings.Contains(err.Error(), "inside the source distribution") {
				t.Errorf("WriteConf(%s) = %v, want a refusal mentioning \"inside the source distribution\"", tt.dir, err)
			}
			if got, _ := os.ReadFile(conf); string(got) != "original" {
				t.Errorf("the distribution's deployment.toml was overwritten: %q", got)
			}
		})
	}
}

func TestDir(t *testing.T) {
	cfg := &config.Config{InstancesDir: filepath.Join("var", "instances")}
	tests := []struct {
		name string
		want string // "" means an error
	}{
		{"mi-1", filepath.Join("var", "instances", "mi-1")},
		{"0", filepath.Join("var", "instances", "0")},
		{strings.Repeat("a", 63), filepath.Join("var", "instances", strings.Repeat("a", 63))},
		{"../x", ""},
		{"..", ""},
		{"a/b", ""},
		{"A", ""},
		{"-mi", ""},
		{"", ""},
		{"mi_1", ""},
		{".hidden", ""},
		{strings.Repeat("a", 64), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := home.Dir(cfg, tt.name)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Dir(%q) = %q, want an error", tt.name, got)
				}
				if got != "" {
					t.Errorf("Dir(%q) returned %q with its error", tt.name, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Dir(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	dir := filepath.Join("instances", "mi-1")
	tests := []struct{ got, want string }{
		{home.ConfPath(dir), "instances/mi-1/conf/deployment.toml"},
		{home.LogsDir(dir), "instances/mi-1/logs"},
		{home.ConsoleLog(dir), "instances/mi-1/logs/console.log"},
		{home.CarbonLog(dir), "instances/mi-1/repository/logs/wso2carbon.log"},
		{home.PIDFile(dir), "instances/mi-1/wso2carbon.pid"},
	}
	for _, tt := range tests {
		if filepath.ToSlash(tt.got) != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func TestHoldsCApps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string // in carbonapps/; nil: no carbonapps/ at all
		want  bool
	}{
		{"no carbonapps dir", nil, false},
		{"empty", []string{}, false},
		{"other files", []string{"README.txt", "orders_1.0.0.car.bak"}, false},
		{"a CApp", []string{"README.txt", "orders_1.0.0.car"}, true},
		{"any case of .car", []string{"ORDERS_1.0.0.CAR"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.files != nil {
				apps := home.CarbonAppsDir(dir)
				if err := os.MkdirAll(apps, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, f := range tc.files {
					if err := os.WriteFile(filepath.Join(apps, f), nil, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := home.HoldsCApps(dir); got != tc.want {
				t.Fatalf("HoldsCApps with %q = %v, want %v", tc.files, got, tc.want)
			}
		})
	}
}

// A carbonapps/ that cannot be read may hold CApps: MI is asked.
func TestHoldsCAppsWhenUnreadable(t *testing.T) {
	dir := t.TempDir()
	apps := home.CarbonAppsDir(dir)
	if err := os.MkdirAll(filepath.Dir(apps), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(apps, nil, 0o644); err != nil { // a file, not a dir
		t.Fatal(err)
	}
	if !home.HoldsCApps(dir) {
		t.Fatal("HoldsCApps of an unreadable carbonapps/ = false, want true")
	}
}

// A file the distribution turned into a directory, or the reverse, reaches
// a home that holds Sync's own unchanged file or directory there at the
// first sync: it took two restarts (and the home had neither between
// them), or never came.
func TestSyncFollowsAPathThatChangedKind(t *testing.T) {
	src, dir := setup(t)
	x := filepath.Join(src, "conf", "x.properties")
	must(t, os.WriteFile(x, []byte("a=1\n"), 0o644))
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	must(t, os.Remove(x))
	must(t, os.MkdirAll(x, 0o755))
	must(t, os.WriteFile(filepath.Join(x, "f"), []byte("b=2\n"), 0o644))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	if behind, kept, _, err := dist.Behind(dir); err != nil || !slices.Equal(behind, []string{"conf/x.properties"}) || len(kept) != 0 {
		t.Errorf("file turned directory: Behind = %q, kept %q, %v; want conf/x.properties behind", behind, kept, err)
	}
	if _, err := dist.Sync(dir); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "conf", "x.properties", "f")); err != nil || string(got) != "b=2\n" {
		t.Fatalf("the distribution's directory is not in the home after one sync: %q, %v", got, err)
	}
	// And back: the directory Sync made, holding what Sync put there.
	must(t, os.RemoveAll(x))
	must(t, os.WriteFile(x, []byte("c=3\n"), 0o644))
	dist, err = home.ReadDistribution(src)
	must(t, err)
	if behind, kept, _, err := dist.Behind(dir); err != nil || !slices.Contains(behind, "conf/x.properties") || len(kept) != 0 {
		t.Errorf("directory turned file: Behind = %q, kept %q, %v; want conf/x.properties behind", behind, kept, err)
	}
	if _, err := dist.Sync(dir); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "conf", "x.properties")); err != nil || string(got) != "c=3\n" {
		t.Errorf("the distribution's file is not in the home after one sync: %q, %v", got, err)
	}
}

// A jar written into in place in the distribution (cp over it) changes
// every home's hard link at once, under the running servers: it is behind
// until a restart loads it, where diff said nothing was to change.
func TestBehindSeesAJarWrittenInPlace(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(src, "lib", "a.jar"), os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	f.WriteString("PK\x03\x04 a.jar version 2, longer")
	f.Close()
	dist, err := home.ReadDistribution(src)
	must(t, err)
	if behind, _, _, err := dist.Behind(dir); err != nil || !slices.Equal(behind, []string{"lib/a.jar"}) {
		t.Errorf("Behind = %q, %v; want lib/a.jar", behind, err)
	}
	if _, err := dist.Sync(dir); err != nil {
		t.Fatal(err)
	}
	if behind, _, _, err := dist.Behind(dir); err != nil || len(behind) != 0 {
		t.Errorf("Behind after the sync = %q, %v; want nothing", behind, err)
	}
}

// A directory of the distribution kept elsewhere behind a symbolic link (a
// conf/ in /etc, a carbonapps/ on a shared volume) is each home's own
// copy: cloned as the link, every instance's writes there (MI renders
// conf/ at every start; mictl deploys into carbonapps/) went to one
// shared directory, the distribution's. A home cloned with the link
// before gets its own directory at the next sync; a jar directory behind
// a link (MI only reads it) stays a link.
func TestLinkOutOfTheDistributionIsCopied(t *testing.T) {
	src, dir := setup(t)
	shared := filepath.Join(filepath.Dir(src), "shared") // beside the distribution
	etcConf, capps, jars := filepath.Join(shared, "etc-conf"), filepath.Join(shared, "capps"), filepath.Join(shared, "jars")
	for _, d := range []string{etcConf, capps, jars} {
		must(t, os.MkdirAll(d, 0o755))
	}
	// conf/ by an absolute link, carbonapps/ by a relative one climbing
	// out, dropins/ (jars) by an absolute one.
	must(t, os.Rename(filepath.Join(src, "conf", "log4j2.properties"), filepath.Join(etcConf, "log4j2.properties")))
	// A relative link in the directory behind the link: in a home it
	// would lead elsewhere (home/common/...), so it is copied too.
	must(t, os.MkdirAll(filepath.Join(shared, "common"), 0o755))
	must(t, os.WriteFile(filepath.Join(shared, "common", "x.properties"), []byte("x=1\n"), 0o644))
	must(t, os.Symlink("../common/x.properties", filepath.Join(etcConf, "x.properties")))
	must(t, os.RemoveAll(filepath.Join(src, "conf")))
	must(t, os.Symlink(etcConf, filepath.Join(src, "conf")))
	must(t, os.WriteFile(filepath.Join(capps, "shipped_1.0.0.car"), []byte("PK\x03\x04 car"), 0o644))
	must(t, os.MkdirAll(filepath.Join(src, "repository", "deployment", "server"), 0o755))
	must(t, os.Symlink("../../../../shared/capps", filepath.Join(src, "repository", "deployment", "server", "carbonapps")))
	must(t, os.WriteFile(filepath.Join(jars, "c.jar"), []byte("PK\x03\x04 c.jar"), 0o644))
	must(t, os.Symlink(jars, filepath.Join(src, "dropins")))

	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"conf", "repository/deployment/server/carbonapps"} {
		if info, err := os.Lstat(filepath.Join(dir, rel)); err != nil || !info.IsDir() {
			t.Fatalf("%s in the home: %v, %v; want a directory of its own", rel, info, err)
		}
	}
	if got, err := os.ReadFile(filepath.Join(dir, "conf", "log4j2.properties")); err != nil || string(got) != "appenders = CARBON_LOGFILE\n" {
		t.Errorf("conf/log4j2.properties in the home: %q, %v", got, err)
	}
	if info, err := os.Lstat(filepath.Join(dir, "conf", "x.properties")); err != nil || !info.Mode().IsRegular() {
		t.Errorf("conf/x.properties (a relative link behind conf's link) in the home: %v, %v; want a copy", info, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "repository", "deployment", "server", "carbonapps", "shipped_1.0.0.car")); err != nil {
		t.Errorf("the shipped CApp in the home: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "dropins")); err != nil || target != jars {
		t.Errorf("dropins in the home -> %q, %v; want the link to %s", target, err, jars)
	}
	must(t, os.WriteFile(filepath.Join(dir, "conf", "carbon.xml"), []byte("<rendered/>"), 0o644))
	if _, err := os.Stat(filepath.Join(etcConf, "carbon.xml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file written in the home's conf/ reached the distribution's: %v", err)
	}

	// A home cloned with the link (as before) is given its own directory.
	must(t, os.RemoveAll(filepath.Join(dir, "conf")))
	must(t, os.Symlink(etcConf, filepath.Join(dir, "conf")))
	list := filepath.Join(dir, ".mictl-cloned")
	data, err := os.ReadFile(list)
	must(t, err)
	must(t, os.WriteFile(list, append(data, "conf\n"...), 0o644))                  // listed as the link Sync made
	must(t, os.WriteFile(filepath.Join(src, "VERSION"), []byte("4.4.1\n"), 0o644)) // a change, so the sync looks
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(filepath.Join(dir, "conf")); err != nil || !info.IsDir() {
		t.Fatalf("conf in a home cloned with the link, after a sync: %v, %v; want a directory of its own", info, err)
	}
	if entries, err := os.ReadDir(etcConf); err != nil || len(entries) != 2 {
		t.Errorf("the distribution's conf/ after the sync: %v, %v; want its two files, untouched", entries, err)
	}
}

// A crash restart puts back what the home lost since Sync put it there
// (MI's secure vault deletes password-tmp at every start), from the
// distribution as it was cloned, and nothing of the distribution's
// changes since (a file changed, added or dropped): those wait for a
// restart. Sync then takes the file put
// back for its own, and brings it up to date as any other.
func TestRestorePutsBackWhatTheHomeLostOnly(t *testing.T) {
	src, dir := setup(t)
	secret := filepath.Join(src, "password-tmp")
	must(t, os.WriteFile(secret, []byte("wso2carbon\n"), 0o600))
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	must(t, os.Remove(filepath.Join(dir, "password-tmp")))                // MI read it
	must(t, os.Remove(filepath.Join(dir, "repository/deployment/x.xml"))) // lost, and changed since in mi_home
	must(t, os.WriteFile(filepath.Join(src, "repository/deployment/x.xml"), []byte("<api name=\"y\"/>\n"), 0o640))
	must(t, os.WriteFile(filepath.Join(src, "conf/log4j2.properties"), []byte("appenders = CONSOLE\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "conf/new.properties"), []byte("new\n"), 0o644))
	must(t, os.Remove(filepath.Join(src, "lib/notice.txt"))) // dropped from mi_home: the home keeps it till a restart
	before := tree(t, dir)

	restored, err := home.Restore(src, dir, nil)
	if err != nil || !slices.Equal(restored, []string{"password-tmp"}) {
		t.Fatalf("Restore = %q, %v; want password-tmp put back", restored, err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "password-tmp"))
	info, _ := os.Stat(filepath.Join(dir, "password-tmp"))
	if err != nil || string(got) != "wso2carbon\n" || info.Mode().Perm() != 0o600 {
		t.Fatalf("password-tmp: %q, %v; want the distribution's, 0600", got, err)
	}
	after := tree(t, dir)
	delete(after, "password-tmp")
	for _, listed := range []string{".", ".mictl-cloned"} { // its list, rewritten
		delete(before, listed)
		delete(after, listed)
	}
	if d := diffTrees(before, after); len(d) > 0 {
		t.Errorf("Restore changed %q; want only password-tmp back", d)
	}

	must(t, os.WriteFile(secret, []byte("rotated\n"), 0o600))
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"password-tmp": "rotated\n", "conf/log4j2.properties": "appenders = CONSOLE\n", "conf/new.properties": "new\n"} {
		if got, err := os.ReadFile(filepath.Join(dir, rel)); err != nil || string(got) != want {
			t.Errorf("after Sync %s = %q, %v; want %q", rel, got, err, want)
		}
	}
}

// The paths mictl owns in a home (a simulated home's start script) are
// brought up to date at a crash restart, unless changed in the home.
func TestRestoreBringsCurrentPathsUpToDate(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	const script, conf = "bin/micro-integrator.sh", "conf/log4j2.properties"
	must(t, os.WriteFile(filepath.Join(src, script), []byte("#!/bin/sh\nexec /new/java \"$@\"\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, conf), []byte("appenders = CONSOLE\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, conf), []byte("edited in the home\n"), 0o644))
	restored, err := home.Restore(src, dir, []string{script, conf})
	if err != nil || !slices.Equal(restored, []string{script}) {
		t.Fatalf("Restore = %q, %v; want only the start script", restored, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, script)); !strings.Contains(string(got), "/new/java") {
		t.Errorf("the script is %q; want the distribution's", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, conf)); string(got) != "edited in the home\n" {
		t.Errorf("%s is %q; want the home's edit kept", conf, got)
	}
}

// mi_home moved away while an upgrade unpacks the new one: a crash
// restart says it could not put back what the home lost (and only when
// it lost something), and changes nothing in the home.
func TestRestoreWithoutTheDistributionChangesNothing(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	must(t, os.Rename(src, src+".old"))
	if restored, err := home.Restore(src, dir, nil); err != nil || len(restored) > 0 {
		t.Fatalf("Restore of a home that lost nothing = %q, %v; want nothing to say", restored, err)
	}
	must(t, os.Remove(filepath.Join(dir, "conf/log4j2.properties")))
	before := tree(t, dir)
	restored, err := home.Restore(src, dir, []string{"bin/micro-integrator.sh"})
	if err == nil || len(restored) > 0 || !strings.Contains(err.Error(), "conf/log4j2.properties") || !strings.Contains(err.Error(), src) {
		t.Fatalf("Restore = %q, %v; want an error naming conf/log4j2.properties and %s", restored, err, src)
	}
	if d := diffTrees(before, tree(t, dir)); len(d) > 0 {
		t.Errorf("Restore changed %q; want nothing", d)
	}
}

// A directory's mode changed in mi_home (a conf/ holding keystores made
// 0700) reaches the homes at their next Sync, and Behind says so: it
// reached no home, not even at a restart.
func TestSyncCarriesADirectoryModeChange(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	must(t, os.Chmod(filepath.Join(src, "conf"), 0o700))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	if behind, kept, _, err := dist.Behind(dir); err != nil || !slices.Equal(behind, []string{"conf (mode)"}) || len(kept) > 0 {
		t.Errorf("Behind = %q, %q, %v; want conf's mode", behind, kept, err)
	}
	if _, err := dist.Sync(dir); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, "conf")); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("the home's conf: %v, %v; want 0700", info.Mode(), err)
	}
	if behind, kept, _, err := dist.Behind(dir); err != nil || len(behind)+len(kept) > 0 {
		t.Errorf("Behind after Sync = %q, %q, %v; want nothing", behind, kept, err)
	}
}

// A home an older mictl cloned records no directory: a directory whose
// mode differs from the distribution's there is brought to it at the next
// Sync, but is no reason for Behind (which restarts the instance) on its
// own: upgrading mictl made every reload restart such homes.
func TestAHomeOfAnOlderMictlIsNotBehindForADirectorysMode(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(dir, ".mictl-cloned")
	data, err := os.ReadFile(list)
	must(t, err)
	var older []string
	for line := range strings.Lines(string(data)) {
		if !strings.Contains(line, "\tdir\t") {
			older = append(older, line)
		}
	}
	must(t, os.WriteFile(list, []byte(strings.Join(older, "")), 0o644))
	must(t, os.Chmod(filepath.Join(src, "conf"), 0o700))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	if behind, kept, _, err := dist.Behind(dir); err != nil || len(behind)+len(kept) > 0 {
		t.Errorf("Behind = %q, %q, %v; want nothing for a directory no list records", behind, kept, err)
	}
	if _, err := dist.Sync(dir); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, "conf")); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("the home's conf after Sync: %v, %v; want the distribution's 0700", info.Mode(), err)
	}
}

// A directory's mode changed in a home is the home's, as a file's: kept,
// and reported when the distribution's changes too.
func TestSyncKeepsADirectoryModeChangedInTheHome(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "conf")
	must(t, os.Chmod(conf, 0o750))
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	must(t, os.Chmod(filepath.Join(src, "conf"), 0o700))
	dist, err := home.ReadDistribution(src)
	must(t, err)
	if _, err := dist.Sync(dir); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(conf); err != nil || info.Mode().Perm() != 0o750 {
		t.Errorf("the home's conf: %v, %v; want its 0750 kept", info.Mode(), err)
	}
	if behind, kept, _, err := dist.Behind(dir); err != nil || len(behind) > 0 || !slices.Equal(kept, []string{"conf (mode)"}) {
		t.Errorf("Behind = %q, %q, %v; want conf's mode kept", behind, kept, err)
	}
}

// A home's list says where the distribution it was synced from is: the
// directory a link to it (/opt/wso2mi -> /opt/wso2mi-4.4.0) led to then,
// for a crash restart to put back what the home lost as it was, though
// mi_home names another since.
func TestSyncedFromIsTheDirectorySyncedFrom(t *testing.T) {
	src, dir := setup(t)
	link := filepath.Join(filepath.Dir(src), "wso2mi")
	must(t, os.Symlink(filepath.Base(src), link))
	if _, err := syncHome(link, dir); err != nil {
		t.Fatal(err)
	}
	if got, ok := home.SyncedFrom(dir); !ok || got != src {
		t.Errorf("SyncedFrom = %q, %v; want %s", got, ok, src)
	}
	if got, ok := home.SyncedFrom(t.TempDir()); ok {
		t.Errorf("SyncedFrom of a directory never synced = %q; want none", got)
	}
}

// Two distributions with the same files (unpacked from one archive, or
// copied with cp -a) are one MI: a home synced from one is behind the
// other in nothing, so no reload restarts it onto the other, though
// SyncedFrom names another directory for each. Synced's files tell them
// the same, and tells apart a distribution whose files changed; a home
// an older mictl listed does not say.
func TestSyncedTellsTheSameFilesApart(t *testing.T) {
	src, dir := setup(t)
	root := filepath.Dir(src)
	same := filepath.Join(root, "wso2mi-4.4.0-copy")
	if out, err := exec.Command("cp", "-a", src, same).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	other := filepath.Join(root, "instances", "mi-2")
	for home, from := range map[string]string{dir: src, other: same} {
		if _, err := syncHome(from, home); err != nil {
			t.Fatal(err)
		}
	}
	dist, err := home.ReadDistribution(same)
	must(t, err)
	if behind, kept, _, err := dist.Behind(dir); len(behind)+len(kept) > 0 || err != nil {
		t.Fatalf("a home synced from %s is behind its copy: %q, kept %q, %v", src, behind, kept, err)
	}
	_, files, ok := home.Synced(dir)
	if _, copied, cok := home.Synced(other); !ok || !cok || files == "" || files != copied {
		t.Errorf("Synced files of homes synced from a distribution and its copy: %q, %v and %q, %v; want the same", files, ok, copied, cok)
	}

	must(t, os.WriteFile(filepath.Join(same, "lib", "a.jar"), []byte("PK\x03\x04 a.jar, patched"), 0o644))
	if _, err := syncHome(same, other); err != nil {
		t.Fatal(err)
	}
	if _, patched, _ := home.Synced(other); patched == files {
		t.Errorf("Synced files of a home synced from a distribution whose jar changed: %q, the same as before", patched)
	}

	// The list's first line as an older mictl wrote it: no fingerprint
	// of the files.
	list := filepath.Join(dir, ".mictl-cloned")
	b, err := os.ReadFile(list)
	must(t, err)
	first, rest, _ := strings.Cut(string(b), "\n")
	fields := strings.SplitN(first, " ", 3)
	fp, _, _ := strings.Cut(fields[1], "-")
	must(t, os.WriteFile(list, []byte(fields[0]+" "+fp+" "+fields[2]+"\n"+rest), 0o644))
	if got, files, ok := home.Synced(dir); !ok || got != src || files != "" {
		t.Errorf("Synced of a home an older mictl listed = %q, %q, %v; want %s and no files", got, files, ok, src)
	}
	if got, ok := home.SyncedFrom(dir); !ok || got != src {
		t.Errorf("SyncedFrom of a home an older mictl listed = %q, %v; want %s", got, ok, src)
	}
}

// mi_home pointed at a copy of the distribution (cp -a) restarts nothing,
// but the home's list went on naming the old directory, and once it was
// deleted a crash restart could not put back what the home lost. Follow
// records the copy, the rest of the list as it was; it leaves alone a
// home of another distribution's files, and one already following.
func TestFollowRecordsACopyOfTheDistribution(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(filepath.Dir(src), "wso2mi-4.4.0-copy")
	patched := filepath.Join(filepath.Dir(src), "wso2mi-4.4.0-patched")
	for _, to := range []string{copied, patched} {
		if out, err := exec.Command("cp", "-a", src, to).CombinedOutput(); err != nil {
			t.Fatalf("cp -a: %v: %s", err, out)
		}
	}
	must(t, os.WriteFile(filepath.Join(patched, "lib", "a.jar"), []byte("PK\x03\x04 a.jar, patched"), 0o644))
	list := filepath.Join(dir, ".mictl-cloned")
	before, err := os.ReadFile(list)
	must(t, err)

	other, err := home.ReadDistribution(patched)
	must(t, err)
	if followed, err := other.Follow(dir, nil); followed || err != nil {
		t.Errorf("Follow of a distribution whose jar changed: %v, %v; want the home left alone", followed, err)
	}
	same, err := home.ReadDistribution(copied)
	must(t, err)
	if followed, err := same.Follow(dir, nil); !followed || err != nil {
		t.Fatalf("Follow of a copy of the distribution: %v, %v; want it recorded", followed, err)
	}
	if got, _ := home.SyncedFrom(dir); got != copied {
		t.Errorf("after Follow the home says it was synced from %s; want %s", got, copied)
	}
	after, err := os.ReadFile(list)
	must(t, err)
	_, wantRest, _ := strings.Cut(string(before), "\n")
	if _, rest, _ := strings.Cut(string(after), "\n"); rest != wantRest {
		t.Errorf("Follow changed the list's files:\n%s\nwant\n%s", rest, wantRest)
	}
	if followed, err := same.Follow(dir, nil); followed || err != nil {
		t.Errorf("Follow again: %v, %v; want nothing written", followed, err)
	}

	// What it is for: the old directory deleted, a crash restart puts
	// back a lost file from the copy.
	must(t, os.RemoveAll(src))
	must(t, os.Remove(filepath.Join(dir, "conf", "log4j2.properties")))
	from, _ := home.SyncedFrom(dir)
	if restored, err := home.Restore(from, dir, nil); err != nil || !slices.Equal(restored, []string{"conf/log4j2.properties"}) {
		t.Errorf("Restore from %s once %s is deleted: %q, %v; want conf/log4j2.properties put back", from, src, restored, err)
	}
	if behind, kept, _, err := same.Behind(dir); len(behind)+len(kept) > 0 || err != nil {
		t.Errorf("the home is behind the copy it follows: %q, kept %q, %v", behind, kept, err)
	}
}

// A home followed to a copy of its distribution kept the old one's
// fingerprint in its list's first line, which the copy's never matches
// (its inodes differ): Behind compared the home file by file at every
// diff and reload until its next restart, for a real MI thousands of
// files. Follow records the copy's fingerprint, so the first line is
// what a Sync from the copy writes, and Behind answers from it: a change
// that only a look at each file shows (a file of the home turned a
// directory) goes unseen by Behind until the next sync, as for any home
// synced from the distribution it is compared with.
func TestFollowRecordsTheFingerprintOfTheCopy(t *testing.T) {
	_, dir, copied := syncedWithACopy(t)
	same, err := home.ReadDistribution(copied)
	must(t, err)
	if followed, err := same.Follow(dir, nil); !followed || err != nil {
		t.Fatalf("Follow of a copy of the distribution: %v, %v; want it recorded", followed, err)
	}
	firstLine := func(home string) string {
		b, err := os.ReadFile(filepath.Join(home, ".mictl-cloned"))
		must(t, err)
		first, _, _ := strings.Cut(string(b), "\n")
		return first
	}
	synced := filepath.Join(filepath.Dir(dir), "mi-2")
	if _, err := same.Sync(synced); err != nil {
		t.Fatal(err)
	}
	if got, want := firstLine(dir), firstLine(synced); got != want {
		t.Errorf("the followed home's list begins %q; want %q, as a Sync from the copy writes it", got, want)
	}

	log4j := filepath.Join(dir, "conf", "log4j2.properties")
	must(t, os.Remove(log4j))
	must(t, os.MkdirAll(filepath.Join(log4j, "ops"), 0o755))
	if behind, kept, _, err := same.Behind(dir); len(behind)+len(kept) > 0 || err != nil {
		t.Errorf("Behind of the followed home compared it file by file: %q, kept %q, %v; want it answered from the list's first line", behind, kept, err)
	}
}

// A reload's Follow and the daemon's crash restore of the same home each
// read the home's list, then wrote it whole: the last write won, and
// either the copy the home follows went (a crash restart then put back
// from the old directory, deleted by then) or the lines of the files put
// back did (each then read as changed in the home, kept from every later
// change of the distribution's). Each takes the home's lock from its read
// to its write: run at once, both last.
func TestFollowAndRestoreAtOnceLoseNothing(t *testing.T) {
	src, dir := setup(t)
	var lost []string
	for i := range 100 {
		rel := fmt.Sprintf("conf/extra/f%03d.xml", i)
		p := filepath.Join(src, filepath.FromSlash(rel))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(rel), 0o644))
		lost = append(lost, rel)
	}
	copied := filepath.Join(filepath.Dir(src), "wso2mi-4.4.0-copy")
	if out, err := exec.Command("cp", "-a", src, copied).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	same, err := home.ReadDistribution(copied)
	must(t, err)
	for round := range 10 {
		if _, err := syncHome(src, dir); err != nil {
			t.Fatal(err)
		}
		for _, rel := range lost {
			must(t, os.Remove(filepath.Join(dir, filepath.FromSlash(rel))))
		}
		var wg sync.WaitGroup
		var restored []string
		var restoreErr, followErr error
		wg.Go(func() { restored, restoreErr = home.Restore(src, dir, nil) })
		wg.Go(func() { _, followErr = same.Follow(dir, nil) })
		wg.Wait()
		if restoreErr != nil || followErr != nil || len(restored) != len(lost) {
			t.Fatalf("round %d: Restore put back %d files, %v; Follow: %v; want all %d, no error", round, len(restored), restoreErr, followErr, len(lost))
		}
		if got, _ := home.SyncedFrom(dir); got != copied {
			t.Fatalf("round %d: after Follow and Restore at once the home says it was synced from %s; want %s", round, got, copied)
		}
		// A line lost, the file put back reads as changed in the home:
		// Sync keeps it, where it takes the distribution's change.
		for _, rel := range lost {
			p := filepath.Join(copied, filepath.FromSlash(rel))
			must(t, os.WriteFile(p, []byte(rel+" changed"), 0o644))
			must(t, os.Chtimes(p, distMTime.Add(time.Duration(round+1)*time.Hour), distMTime.Add(time.Duration(round+1)*time.Hour)))
		}
		st, err := syncHome(copied, dir)
		must(t, err)
		if st.Kept > 0 {
			t.Fatalf("round %d: after Follow and Restore at once, Sync kept %d files put back as the home's own: their lines were lost", round, st.Kept)
		}
		// Back to the old directory for the next round.
		if out, err := exec.Command("cp", "-a", copied+"/.", src).CombinedOutput(); err != nil {
			t.Fatalf("cp -a: %v: %s", err, out)
		}
		if same, err = home.ReadDistribution(copied); err != nil {
			t.Fatal(err)
		}
	}
}

// Follow decided from the list it read before it took the home's lock: a
// Sync of the home from its own directory, whose files had changed since
// (an up after an upgrade in place), written between that read and the
// lock, was then recorded as a copy of the old files, and the home said it
// followed the copy, behind in nothing, while it held the changed files.
// Follow reads the list under its lock: whichever of the two goes first,
// the home ends synced from the changed directory. (The Sync waits for the
// lock first, so it is usually let go first: the order that lost it.)
func TestFollowAndSyncAtOnceKeepTheSync(t *testing.T) {
	for round := range 20 {
		src, dir, copied := syncedWithACopy(t)
		same, err := home.ReadDistribution(copied)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(src, "lib", "a.jar"), []byte("PK\x03\x04 a.jar, upgraded"), 0o644))
		changed, err := home.ReadDistribution(src)
		must(t, err)

		held, err := fsutil.LockDir(dir)
		must(t, err)
		var wg sync.WaitGroup
		var syncErr, followErr error
		wg.Go(func() { _, syncErr = changed.Sync(dir) })
		waitForLockWaiters(t, dir, 1)
		wg.Go(func() { _, followErr = same.Follow(dir, nil) })
		waitForLockWaiters(t, dir, 2)
		held.Close()
		wg.Wait()
		if syncErr != nil || followErr != nil {
			t.Fatalf("round %d: Sync: %v; Follow: %v", round, syncErr, followErr)
		}
		if got, _ := home.SyncedFrom(dir); got != src {
			t.Fatalf("round %d: after a Sync from %s, whose files changed, and a Follow of a copy of the old ones at once, the home says it was synced from %s", round, src, got)
		}
		if behind, kept, _, err := changed.Behind(dir); len(behind)+len(kept) > 0 || err != nil {
			t.Fatalf("round %d: the home is behind %s, which it was synced from: %q, kept %q, %v", round, src, behind, kept, err)
		}
	}
}

// syncedWithACopy returns a home synced from a fresh distribution, and a
// copy of that distribution beside it (cp -a): the same files elsewhere.
func syncedWithACopy(t *testing.T) (src, dir, copied string) {
	t.Helper()
	src, dir = setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	copied = filepath.Join(filepath.Dir(src), "wso2mi-4.4.0-copy")
	if out, err := exec.Command("cp", "-a", src, copied).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	return src, dir, copied
}

// waitForLockWaiters waits until n locks wait (/proc/locks lists them
// blocked, "->") for the one on the file or directory at path.
func waitForLockWaiters(t *testing.T, path string, n int) {
	t.Helper()
	info, err := os.Stat(path)
	must(t, err)
	st := info.Sys().(*syscall.Stat_t)
	file := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		locks, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Skipf("no /proc/locks to see who waits for a lock: %v", err)
		}
		waiting := 0
		for line := range strings.Lines(string(locks)) {
			if f := strings.Fields(line); len(f) > 6 && f[1] == "->" && f[6] == file {
				waiting++
			}
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting for the lock on %s after 10s, want %d:\n%s", waiting, path, n, locks)
		}
	}
}

// A CApp the distribution ships that left a home's carbonapps/ was
// undeployed there (MI's Management API deletes the .car): a crash
// restart does not deploy it again.
func TestRestoreLeavesAnUndeployedCAppOut(t *testing.T) {
	src, dir := setup(t)
	car := filepath.ToSlash(filepath.Join(home.CarbonAppsDir(""), "shipped_1.0.0.car"))
	must(t, os.MkdirAll(home.CarbonAppsDir(src), 0o755))
	must(t, os.WriteFile(filepath.Join(src, car), []byte("PK\x03\x04 car"), 0o644))
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	must(t, os.Remove(filepath.Join(dir, car)))
	if restored, err := home.Restore(src, dir, nil); err != nil || len(restored) > 0 {
		t.Errorf("Restore = %q, %v; want the CApp left out", restored, err)
	}
}
