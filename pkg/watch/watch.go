// Package watch tells when files change, the way editors change them: it
// watches each file's DIRECTORY (an editor that saves by writing a temporary
// file and renaming it over the original replaces the file, and a watch on
// the file itself would be lost with it) and folds a burst of events into
// one call.
package watch

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Files calls onChange, at most once per quiet period of debounce, after
// any of the files that files() names is written, created, removed or
// renamed. files is asked again after every call, so the set may change
// (mi_home edited in mictl.toml). It returns when ctx is done, with no
// call under way; its watcher is closed in the background, as closing an
// inotify instance waits several milliseconds for the kernel (an RCU
// grace period) that a daemon on its way out need not spend waiting.
func Files(ctx context.Context, files func() []string, debounce time.Duration, onChange func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer func() { go w.Close() }()
	watched := map[string]bool{} // file path -> watched
	dirs := map[string]bool{}
	sync := func() {
		want := map[string]bool{}
		wantDirs := map[string]bool{}
		for _, f := range files() {
			abs, err := filepath.Abs(f)
			if err != nil {
				continue
			}
			want[abs], wantDirs[filepath.Dir(abs)] = true, true
		}
		for d := range dirs {
			if !wantDirs[d] {
				_ = w.Remove(d)
				delete(dirs, d)
			}
		}
		for d := range wantDirs {
			if !dirs[d] {
				// A directory that does not exist yet cannot be watched;
				// the next sync tries again.
				if err := w.Add(d); err == nil {
					dirs[d] = true
				}
			}
		}
		watched = want
	}
	sync()
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
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !watched[ev.Name] || ev.Op == fsnotify.Chmod {
				continue
			}
			arm()
		case _, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// Events were lost (the kernel queue overflowed): a change may
			// be among them, so treat it as one.
			arm()
		case <-fire:
			fire = nil
			onChange()
			sync()
		}
	}
}
