package supervisor

import (
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/mictl/mictl/pkg/home"
)

// appsSettle is how long after a change in a carbonapps/ the instance is
// checked: the burst of events one copy makes brings one check, not one
// each.
const appsSettle = 50 * time.Millisecond

// appDirs tells the monitor when a watched instance's carbonapps/ changes
// (a CApp added, replaced or removed by anyone: mictl, a user's copy, the
// Management API), so that its health is checked then rather than when the
// schedule comes round. It belongs to the monitor's goroutine. A nil
// *appDirs, when inotify cannot be had, watches nothing: every check then
// asks /healthz (see asksHealthz).
type appDirs struct {
	w    *fsnotify.Watcher
	dirs map[string]*healthCheck
}

func newAppDirs() *appDirs {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil
	}
	return &appDirs{w: w, dirs: map[string]*healthCheck{}}
}

// add watches the carbonapps/ of c's instance, whose home is dir; c.apps
// says whether it could (a home without carbonapps/, or no inotify watch
// left, is not watched).
func (a *appDirs) add(c *healthCheck, dir string) {
	if a == nil {
		return
	}
	apps := home.CarbonAppsDir(dir)
	if err := a.w.Add(apps); err != nil {
		return
	}
	a.dirs[apps], c.apps = c, apps
}

// remove stops watching c's carbonapps/.
func (a *appDirs) remove(c *healthCheck) {
	if a == nil || c.apps == "" || a.dirs[c.apps] != c {
		return
	}
	delete(a.dirs, c.apps)
	_ = a.w.Remove(c.apps)
	c.apps = ""
}

// events and errors are the watcher's channels, nil (never ready)
// without inotify.
func (a *appDirs) events() <-chan fsnotify.Event {
	if a == nil {
		return nil
	}
	return a.w.Events
}

func (a *appDirs) errors() <-chan error {
	if a == nil {
		return nil
	}
	return a.w.Errors
}

// changed tightens the checks of the instance whose carbonapps/ ev is
// about (see tighten): the next one appsSettle from now, the ones after
// it from first. A carbonapps/ removed or moved away is no longer
// watched.
func (a *appDirs) changed(ev fsnotify.Event, first time.Duration) {
	if c := a.dirs[ev.Name]; c != nil && ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 {
		delete(a.dirs, ev.Name)
		_ = a.w.Remove(ev.Name) // moved away, it would still be watched
		c.apps = ""
		c.tighten(first, time.Now().Add(appsSettle))
		return
	}
	if c := a.dirs[filepath.Dir(ev.Name)]; c != nil && ev.Op != fsnotify.Chmod {
		c.tighten(first, time.Now().Add(appsSettle))
	}
}

// changedAll is changed for every watched directory.
func (a *appDirs) changedAll(first time.Duration) {
	for _, c := range a.dirs {
		c.tighten(first, time.Now().Add(appsSettle))
	}
}

// close releases the watcher in the background: closing an inotify
// instance waits for the kernel (an RCU grace period), which a daemon on
// its way out need not spend waiting (as watch.Files).
func (a *appDirs) close() {
	if a != nil {
		go a.w.Close()
	}
}
