// Package watch tells when files change, the way editors change them: it
// watches each file's DIRECTORY (an editor that saves by writing a temporary
// file and renaming it over the original replaces the file, and a watch on
// the file itself would be lost with it) and folds a burst of events into
// one call.
package watch

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/mictl/mictl/pkg/fsutil"
)

// A Watcher follows files (Follow) with one inotify instance, from New to
// Close, however often it stops and starts following. Letting an inotify
// instance go waits for the kernel (an RCU grace period): ~0.1 ms alone,
// but 10-20 ms when another release is under way, such as a stopping
// simulated server's, or the one that removing a watch starts in the
// kernel's background. So a daemon keeps its watcher and its watches
// while it stops servers, and lets them go as it exits.
type Watcher struct {
	w *fsnotify.Watcher
	// following is held by the Follow under way: one at a time, as they
	// would share the watcher's events.
	following sync.Mutex
}

// New makes a Watcher.
func New() (*Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	return &Watcher{w: w}, nil
}

// Close lets the watcher's inotify instance go, in the background: the
// caller does not wait for the kernel.
func (fw *Watcher) Close() { go fw.w.Close() }

// Follow calls onChange, at most once per quiet period of debounce, after
// any of the files that files() names is written, created, removed or
// renamed, or a symbolic link on the way to one is replaced (see
// eventPaths). files is asked again after every call, so the set may change
// (mi_home edited in mictl.toml). It returns when ctx is done, with no
// call under way, leaving its watches in place for the next Follow,
// which begins once this one has returned (and returns at once if its ctx
// ended meanwhile). With catchUp, once its watches are in place, it calls
// onChange once, for what changed while no Follow ran: a change the
// previous Follow read as its ctx ended is told of by no one else.
func (fw *Watcher) Follow(ctx context.Context, files func() []string, debounce time.Duration, onChange func(), catchUp bool) {
	fw.following.Lock()
	defer fw.following.Unlock()
	if ctx.Err() != nil {
		return
	}
	w := fw.w
	watched := map[string]bool{} // file path -> watched
	sync := func() {
		want := map[string]bool{}
		wantDirs := map[string]bool{}
		for _, f := range files() {
			abs, err := filepath.Abs(f)
			if err != nil {
				continue
			}
			for _, p := range eventPaths(abs) {
				want[p], wantDirs[filepath.Dir(p)] = true, true
			}
		}
		// The watches in place: a directory removed since is no longer
		// among them (the kernel dropped its watch).
		dirs := map[string]bool{}
		for _, d := range w.WatchList() {
			dirs[d] = true
		}
		for d := range dirs {
			if !wantDirs[d] {
				_ = w.Remove(d)
			}
		}
		for d := range wantDirs {
			if !dirs[d] {
				// A directory that does not exist yet cannot be watched;
				// the next sync tries again.
				_ = w.Add(d)
			}
		}
		watched = want
	}
	sync()
	if catchUp {
		onChange()
		sync()
	}
	var timer *time.Timer
	var fire <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// arm (re)starts the quiet period after which onChange runs.
	arm := func() {
		if timer == nil {
			timer = time.NewTimer(debounce)
		} else {
			timer.Reset(debounce)
		}
		fire = timer.C
	}
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if !watched[ev.Name] || ev.Op == fsnotify.Chmod {
				continue
			}
			arm()
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
			// Events were lost (the kernel queue overflowed): a change may
			// be among them, so treat it as one.
			arm()
		case <-fire:
			fire = nil
			// Watched where the links lead now before onChange reads the
			// files: an edit of the new target during a long onChange (a
			// reload restarting instances) is then an event, not lost.
			sync()
			onChange()
			sync()
		}
	}
}

// eventPaths are the paths whose events tell of a change to the file at
// path (absolute): the file in its directory as the kernel names it (the
// symbolic links of the directory's path resolved: a watch is on a
// directory, not on a path to it), what it points to if it is a link, and
// every symbolic link on the way, in its own directory. A watch of
// /opt/wso2mi/conf, /opt/wso2mi a link to /opt/wso2mi-4.3.0, watches
// 4.3.0's conf/ for good: an upgrade's `ln -sfn wso2mi-4.4.0 /opt/wso2mi`
// must be seen, and then the new version's directory watched (Follow asks
// again after every change).
func eventPaths(path string) []string {
	var out []string
	seen := map[string]bool{}
	var add func(p string)
	add = func(p string) {
		if seen[p] || len(seen) > 40 { // seen ends a loop; 40 bounds a long chain
			return
		}
		seen[p] = true
		parent := filepath.Dir(p)
		for q := parent; q != filepath.Dir(q); q = filepath.Dir(q) {
			if info, err := os.Lstat(q); err == nil && info.Mode()&fs.ModeSymlink != 0 {
				add(q)
			}
		}
		dir, err := filepath.EvalSymlinks(parent)
		if err != nil {
			// Not there yet: its nearest existing ancestor is watched for
			// the next directory on the way, whose making is a change
			// (after which Follow watches again, one step nearer).
			if anc, _ := fsutil.NearestExisting(filepath.Dir(parent)); anc != "" {
				next := strings.SplitN(strings.TrimPrefix(parent, anc+string(filepath.Separator)), string(filepath.Separator), 2)[0]
				add(filepath.Join(anc, next))
			}
			return
		}
		at := filepath.Join(dir, filepath.Base(p))
		out = append(out, at)
		if target, err := os.Readlink(at); err == nil {
			if !filepath.IsAbs(target) {
				target = filepath.Join(dir, target)
			}
			add(target)
		}
	}
	add(path)
	return out
}
