package supervisor

import (
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/state"
)

// A steady check of a ready instance whose carbonapps/ is watched, and
// has not changed lately, asks /healthz every other time; any other check
// asks.
func TestAsksHealthz(t *testing.T) {
	const steady = 5 * time.Second
	now := time.Now()
	watched := func(c healthCheck) healthCheck { c.apps = "/carbonapps"; return c }
	for _, tc := range []struct {
		name string
		c    healthCheck
		want bool
	}{
		{"steady, ready, asked last time", watched(healthCheck{every: steady, ready: true}), false},
		{"steady, ready, left out last time", watched(healthCheck{every: steady, ready: true, skipped: true}), true},
		{"tightening after a change", watched(healthCheck{every: steady / 2, ready: true}), true},
		{"not ready", watched(healthCheck{every: steady}), true},
		{"carbonapps/ not watched", healthCheck{every: steady, ready: true}, true},
		{"carbonapps/ changed lately (MI may not have taken it yet)", watched(healthCheck{every: steady, ready: true, askUntil: now.Add(time.Second)}), true},
		{"carbonapps/ changed long ago", watched(healthCheck{every: steady, ready: true, askUntil: now.Add(-time.Second)}), false},
	} {
		if got := tc.c.asksHealthz(now, steady); got != tc.want {
			t.Errorf("%s: asks %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A change makes the next check come soon and ask /healthz, and the ones
// after it start again from the first interval; a later one is not put
// off.
func TestTighten(t *testing.T) {
	now := time.Now()
	c := healthCheck{every: 5 * time.Second, next: now.Add(4 * time.Second), ready: true, apps: "/carbonapps"}
	c.tighten(250*time.Millisecond, now.Add(appsSettle))
	if !c.next.Equal(now.Add(appsSettle)) || c.every != 250*time.Millisecond || !c.asksHealthz(now, 5*time.Second) {
		t.Fatalf("after a change: next in %s, every %s, asks %v", c.next.Sub(now), c.every, c.asksHealthz(now, 5*time.Second))
	}
	c.next = now.Add(time.Millisecond)
	c.tighten(250*time.Millisecond, now.Add(appsSettle))
	if !c.next.Equal(now.Add(time.Millisecond)) {
		t.Fatalf("a sooner check was put off to %s", c.next.Sub(now))
	}
	// While carbonapps/ settles, a check wanted at once comes when it
	// is due (the monitor's timer is set by next: earlier, it would spin).
	c.settleUntil, c.next = now.Add(appsSettle), now.Add(appsSettle)
	c.tighten(250*time.Millisecond, now)
	if !c.next.Equal(c.settleUntil) {
		t.Fatalf("a check wanted at once while carbonapps/ settles: next in %s, want %s", c.next.Sub(now), appsSettle)
	}
}

// A file written into a watched instance's carbonapps/ brings its check
// forward, once the burst of writes settles (not at once, though checks
// due within half their interval run together), and has checks ask
// /healthz until MI has surely scanned it; the directory removed is
// watched no more, and its check asks /healthz from then on. The inotify
// instance stays until the monitor ends.
func TestAppDirsTellOfCAppChanges(t *testing.T) {
	dir, apps, a := appDirsOfAHome(t)
	later := time.Now().Add(time.Hour)
	c := &healthCheck{every: 5 * time.Second, next: later, ready: true}
	a.add(c, dir)
	if c.apps != apps {
		t.Fatalf("carbonapps/ not watched: %q", c.apps)
	}
	other := &healthCheck{}
	a.add(other, filepath.Join(dir, "no-such-home"))
	if other.apps != "" {
		t.Fatalf("a missing carbonapps/ is said watched: %q", other.apps)
	}

	if err := os.WriteFile(filepath.Join(apps, "shop_1.0.0.car"), []byte("zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.changed(nextAppEvent(t, a), time.Second, hotDeployWindow)
	now := time.Now()
	if !c.next.Before(later) || c.every != time.Second || c.ready || !c.askUntil.After(now.Add(15*time.Second)) {
		t.Fatalf("after a CApp was copied: next in %s, every %s, ready %v, asking /healthz for %s", c.next.Sub(now), c.every, c.ready, c.askUntil.Sub(now))
	}
	if c.due(now) {
		t.Fatal("checked while the copy may still be under way")
	}
	if !c.due(c.settleUntil) {
		t.Fatal("not checked once the copy settled")
	}

	if err := os.RemoveAll(apps); err != nil {
		t.Fatal(err)
	}
	for c.apps != "" {
		a.changed(nextAppEvent(t, a), time.Second, hotDeployWindow)
	}
	if len(a.dirs) != 0 || a.w == nil {
		t.Fatalf("still watching %v (inotify instance kept: %v, want kept)", a.dirs, a.w != nil)
	}
}

// An instance that stops is forgotten, but its watch stays in the kernel
// (removing one waits for the kernel while the servers stop, see appDirs):
// its restart takes it up again, and changes are told again.
func TestAppDirsKeepTheWatchOfAStoppedInstance(t *testing.T) {
	dir, apps, a := appDirsOfAHome(t)
	c := &healthCheck{every: 5 * time.Second, next: time.Now().Add(time.Hour), ready: true}
	a.add(c, dir)
	w := a.w
	a.remove(c)
	if c.apps != "" || len(a.dirs) != 0 {
		t.Fatalf("a stopped instance is still told of: %q, %v", c.apps, a.dirs)
	}
	if a.w != w || !slices.Contains(w.WatchList(), apps) {
		t.Fatalf("the stop let the watch of %s go (inotify instance kept: %v)", apps, a.w == w)
	}
	again := &healthCheck{every: 5 * time.Second, next: time.Now().Add(time.Hour), ready: true}
	a.add(again, dir)
	if err := os.WriteFile(filepath.Join(apps, "shop_1.0.0.car"), []byte("zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.changed(nextAppEvent(t, a), time.Second, hotDeployWindow)
	if again.ready || again.every != time.Second {
		t.Fatalf("the restarted instance was not told of a CApp copied in: ready %v, every %s", again.ready, again.every)
	}
}

// release lets go of the kept watch of an instance the supervisor no
// longer has, and keeps those of the instances it still has: one that
// runs, and one merely stopped.
func TestAppDirsReleaseOnlyTheWatchesOfGoneInstances(t *testing.T) {
	gone, goneApps, a := appDirsOfAHome(t)
	stopped, running := t.TempDir(), t.TempDir()
	for _, dir := range []string{stopped, running} {
		if err := os.MkdirAll(home.CarbonAppsDir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	checks := map[string]*healthCheck{}
	for _, dir := range []string{gone, stopped, running} {
		checks[dir] = &healthCheck{}
		a.add(checks[dir], dir)
	}
	a.remove(checks[gone])
	a.remove(checks[stopped])
	a.release(map[string]bool{home.CarbonAppsDir(stopped): true, home.CarbonAppsDir(running): true})
	want := []string{home.CarbonAppsDir(running), home.CarbonAppsDir(stopped)}
	slices.Sort(want)
	if got := slices.Sorted(slices.Values(a.w.WatchList())); !slices.Equal(got, want) {
		t.Fatalf("watched after %s's instance was removed: %v, want %v", goneApps, got, want)
	}
}

// appDirsOfAHome is a home with a carbonapps/ (apps), and an appDirs
// that watches nothing yet, closed when the test ends.
func appDirsOfAHome(t *testing.T) (dir, apps string, a *appDirs) {
	t.Helper()
	dir = t.TempDir()
	apps = home.CarbonAppsDir(dir)
	if err := os.MkdirAll(apps, 0o755); err != nil {
		t.Fatal(err)
	}
	a = newAppDirs()
	t.Cleanup(a.close)
	return dir, apps, a
}

func nextAppEvent(t *testing.T, a *appDirs) fsnotify.Event {
	t.Helper()
	select {
	case ev := <-a.events():
		return ev
	case err := <-a.errors():
		t.Fatalf("watching carbonapps/: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no event from carbonapps/ in 10s")
	}
	return fsnotify.Event{}
}

// A supervisor closed after watching an instance leaves no goroutine and
// no descriptor behind: the monitor's inotify instance (closed in the
// background) and kept probe connections included.
func TestClosedSupervisorLeavesNothingOpen(t *testing.T) {
	// Not parallel: it counts the process's goroutines and open files.
	openFDs := func() int {
		ents, _ := os.ReadDir("/proc/self/fd")
		return len(ents)
	}
	// os/signal's goroutine, started by the first signal.Notify (the
	// reaper's), lives as long as the process: start it before counting.
	primer := make(chan os.Signal, 1)
	signal.Notify(primer, syscall.SIGWINCH)
	signal.Stop(primer)
	// So is the lock file of the test offsets, opened by the first test
	// of the process that takes a span (see testports.Base): take one
	// before counting, or this test fails when it runs alone.
	freeBase(t)
	goroutines, fds := runtime.NumGoroutine(), openFDs()
	// Registered first, so run last: after the site's stop and close.
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for (runtime.NumGoroutine() > goroutines || openFDs() > fds) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if g, f := runtime.NumGoroutine(), openFDs(); g > goroutines || f > fds {
			buf := make([]byte, 1<<16)
			t.Errorf("left open: goroutines %d -> %d, descriptors %d -> %d; goroutines:\n%s", goroutines, g, fds, f, buf[:runtime.Stack(buf, true)])
		}
	})
	policy := DefaultPolicy()
	policy.WatchInterval = 100 * time.Millisecond
	s := newSimSite(t, policy)
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	time.Sleep(500 * time.Millisecond) // checked a few times: a kept connection, a watched carbonapps/
}

// A health check asked of an instance that a reload then forgets is
// answered as it goes: no check will ever run for it, and its asker (a
// CApp check) waited out its whole limit.
func TestForgetAnswersTheHealthChecksAskedOfIt(t *testing.T) {
	_, sup := supervisorOf(t, func(*state.File) {})
	ended := make(chan struct{})
	close(ended)
	asked := make(chan struct{})
	// Asked without waking the monitor, which would answer it itself
	// (nothing watched): only forget can.
	r := &runner{done: ended, rechecks: []chan struct{}{asked}}
	sup.mu.Lock()
	sup.runners["mi-1"] = r
	sup.mu.Unlock()
	if err := sup.forget([]string{"mi-1"}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-asked:
	default:
		t.Fatal("the health check asked of the forgotten mi-1 is left unanswered")
	}
}

// A health check asked of a runner that a reload forgot after healthSoon
// looked it up, but before it asked, is answered at once: the monitor no
// longer sees that runner, and its asker (a CApp check) would wait out
// its whole limit.
func TestAForgottenRunnerAnswersALateHealthCheck(t *testing.T) {
	_, sup := supervisorOf(t, func(*state.File) {})
	ended := make(chan struct{})
	close(ended)
	r := &runner{done: ended}
	sup.mu.Lock()
	sup.runners["mi-1"] = r
	sup.mu.Unlock()
	if err := sup.forget([]string{"mi-1"}, nil); err != nil {
		t.Fatal(err)
	}
	if r.askCheck(make(chan struct{})) {
		t.Fatal("a health check asked of the forgotten mi-1 was queued, where no check will run")
	}
}
