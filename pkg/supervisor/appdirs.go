package supervisor

import (
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/mictl/mictl/pkg/home"
)

// appsSettle is how long a carbonapps/ must have been quiet before its
// instance is checked: the burst of events one copy makes brings one
// check, not one each.
const appsSettle = 50 * time.Millisecond

// hotDeployWindow is how long after a change in carbonapps/ every check
// of the instance asks /healthz (see asksHealthz), and when its CApps are
// counted again (see Supervisor.recountApps): MI's hot deployer scans
// carbonapps/ every 15 s (docs/mi-facts.md), so a .car copied there is
// deployed, or found faulty, up to 15 s after the copy.
const hotDeployWindow = 20 * time.Second

// appDirs tells the monitor when a watched instance's carbonapps/ changes
// (a CApp added, replaced or removed by anyone: mictl, a user's copy, the
// Management API), so that its health is checked then rather than when the
// schedule comes round. It belongs to the monitor's goroutine. Its inotify
// instance, made with the first watch, is kept until the monitor ends, and
// so is the watch of an instance that stops (forgotten, not removed):
// letting the instance go waits for a kernel RCU grace period, and
// removing a watch starts one in the kernel's background; either, while
// the servers stop, made the releases of their own instances take 10-20
// ms, and their exits, which a stop waits for, as long (see
// watch.Watcher). The watch of an instance a reload removed goes once it
// has stopped (release): renamed instances must not pile up watches, which
// count against the user's fs.inotify.max_user_watches, for as long as the
// daemon runs. Where inotify cannot be had nothing is watched: every
// check then asks /healthz (see asksHealthz).
type appDirs struct {
	w    *fsnotify.Watcher // nil until the first watch, and once closed
	dirs map[string]*healthCheck
}

func newAppDirs() *appDirs { return &appDirs{dirs: map[string]*healthCheck{}} }

// add watches the carbonapps/ of c's instance, whose home is dir; c.apps
// says whether it could (a home without carbonapps/, no inotify instance
// or watch to be had: not watched).
func (a *appDirs) add(c *healthCheck, dir string) {
	if a.w == nil {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			return
		}
		a.w = w
	}
	apps := home.CarbonAppsDir(dir)
	if err := a.w.Add(apps); err != nil {
		return
	}
	a.dirs[apps], c.apps = c, apps
}

// remove stops telling of changes to c's carbonapps/. The watch stays in
// the kernel (see appDirs): a restart of the instance takes it up again.
func (a *appDirs) remove(c *healthCheck) {
	if c.apps == "" || a.dirs[c.apps] != c {
		return
	}
	delete(a.dirs, c.apps)
	c.apps = ""
}

// release lets go of the watches kept for instances the supervisor no
// longer has (a reload removed them, see Supervisor.forget): kept holds
// the carbonapps/ of every instance it still has, watched or not.
func (a *appDirs) release(kept map[string]bool) {
	if a.w == nil {
		return
	}
	for _, apps := range a.w.WatchList() {
		if a.dirs[apps] == nil && !kept[apps] {
			_ = a.w.Remove(apps)
		}
	}
}

// events and errors are the watcher's channels, nil (never ready) while
// nothing is watched.
func (a *appDirs) events() <-chan fsnotify.Event {
	if a.w == nil {
		return nil
	}
	return a.w.Events
}

func (a *appDirs) errors() <-chan error {
	if a.w == nil {
		return nil
	}
	return a.w.Errors
}

// changed has the instance whose carbonapps/ ev is about checked once
// the burst of changes settles (see settle). A carbonapps/ removed or
// moved away is no longer watched.
func (a *appDirs) changed(ev fsnotify.Event, first, window time.Duration) {
	if c := a.dirs[ev.Name]; c != nil && ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 {
		_ = a.w.Remove(ev.Name) // moved away, it would still be watched
		a.remove(c)
		settle(c, first, window)
		return
	}
	if c := a.dirs[filepath.Dir(ev.Name)]; c != nil && ev.Op != fsnotify.Chmod {
		settle(c, first, window)
	}
}

// changedAll is changed for every watched directory.
func (a *appDirs) changedAll(first, window time.Duration) {
	for _, c := range a.dirs {
		settle(c, first, window)
	}
}

// settle has c checked appsSettle after the last change of a burst, each
// change putting it off again, asking /healthz at every check for window
// (hotDeployWindow) and counting the instance's CApps again after it, and
// spaces the checks after it as after any change, from first.
func settle(c *healthCheck, first, window time.Duration) {
	now := time.Now()
	c.settleUntil, c.askUntil, c.recount = now.Add(appsSettle), now.Add(window), true
	c.every, c.ready, c.next = first, false, c.settleUntil
}

// close lets the inotify instance go, in the background: the monitor
// need not wait for the kernel.
func (a *appDirs) close() {
	if a.w != nil {
		go a.w.Close()
		a.w = nil
	}
}
