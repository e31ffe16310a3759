package supervisor

import (
	"time"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/observe"
)

// checkFirst is how soon a ready instance is checked after it is watched
// or a check found it changed; each check that finds nothing new doubles
// the wait, up to the policy's WatchInterval (health_interval).
const checkFirst = 250 * time.Millisecond

// healthCheck is the monitor's schedule and connection for one watched
// incarnation.
type healthCheck struct {
	r      *runner
	prober *observe.Prober
	every  time.Duration
	next   time.Time
	// apps is the instance's carbonapps/ while the monitor is told of
	// its changes (appDirs), "" when it is not.
	apps string
	// ready is whether the last /healthz answer said ready and nothing
	// changed since that may have changed it (see tighten); skipped is
	// whether the last check left /healthz out (see asksHealthz).
	ready, skipped bool
	// checked are closed once the next check has run (healthSoon's).
	checked []chan struct{}
	// settleUntil is when a burst of changes in carbonapps/ is taken to
	// be over: no check before (see appDirs.changed). askUntil is how
	// long after the last such change every check asks /healthz; the
	// first check after it counts the CApps again when recount says so.
	settleUntil, askUntil time.Time
	recount               bool
}

// asksHealthz reports whether the check due at now asks the instance's
// /healthz, steady being the policy's WatchInterval. Only a faulty CApp
// turns MI's /healthz from ready to not ready (docs/mi-integrations.md),
// and CApps come and go only through carbonapps/, whose changes the
// monitor hears of: a steady check of a ready instance whose carbonapps/
// is watched and has not changed for hotDeployWindow may leave /healthz
// out, every other time. Its ports are checked every time (one socket
// scan for all, no request to any server); left out, /healthz would be
// most of what an idle instance costs (each answer wakes its server). A
// check while the schedule tightens after a change, or of an instance
// not ready, asks every time.
func (c *healthCheck) asksHealthz(now time.Time, steady time.Duration) bool {
	return c.apps == "" || !c.ready || c.every < steady || c.skipped || now.Before(c.askUntil)
}

// due reports whether the check is to run at now: its time has come, or
// comes within half its interval (checks close in time are run together),
// unless changes in carbonapps/ are still settling.
func (c *healthCheck) due(now time.Time) bool {
	return !now.Before(c.settleUntil) && !c.next.After(now.Add(c.every/2))
}

// tighten brings the next check forward to at (unless it comes sooner,
// or changes in carbonapps/ settle until later: a check not due yet must
// not be the monitor's next wake-up), has it ask /healthz, and spaces the
// checks after it as after any change, from first: something changed
// that the instance's health may show.
func (c *healthCheck) tighten(first time.Duration, at time.Time) {
	c.every, c.ready = first, false
	at = later(at, c.settleUntil)
	if c.next.After(at) {
		c.next = at
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// monitor checks the health and ports of every watched (ready or
// degraded) instance, on one timer for all: checkFirst after it is
// watched, then twice as long after each check that found nothing new, up
// to WatchInterval, and checkFirst again after a check that found a
// change; at once, then as after a change, when the supervisor changed
// it (healthSoon: its CApps), and appsSettle after a burst of changes in
// its carbonapps/ (see appDirs). A port lost is seen within
// WatchInterval, /healthz gone bad within twice that (see asksHealthz),
// and either is confirmed (or cleared) quickly. Instances due within half
// their interval are checked together, so a steady deployment costs one
// wake-up, one socket scan and about half the instances' /healthz
// requests (on kept connections) per WatchInterval. Exits need no
// polling: each runner sees its server's exit through a pidfd at once.
func (s *Supervisor) monitor() {
	defer s.wg.Done()
	checks := map[*running]*healthCheck{}
	dirs := newAppDirs()
	defer func() {
		dirs.close()
		for _, c := range checks {
			c.prober.Close()
			closeAll(c.checked)
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-timer.C:
		case <-s.watchKick:
		case ev := <-dirs.events():
			dirs.changed(ev, s.firstCheck(), s.hotDeployWindow)
		case <-dirs.errors():
			// Events lost (the kernel's queue overflowed): any
			// directory may have changed.
			dirs.changedAll(s.firstCheck(), s.hotDeployWindow)
		}
		s.syncChecks(checks, dirs)
		s.runChecks(checks)
		wait := time.Hour
		for _, c := range checks {
			wait = min(wait, time.Until(c.next))
		}
		timer.Reset(max(wait, 0))
	}
}

// firstCheck is checkFirst, or WatchInterval when that is shorter.
func (s *Supervisor) firstCheck() time.Duration {
	return min(s.firstCheckAfter, s.policy.WatchInterval)
}

// syncChecks schedules the incarnations that became watched or are to be
// checked soon, and forgets the ones no longer watched.
func (s *Supervisor) syncChecks(checks map[*running]*healthCheck, dirs *appDirs) {
	watched := map[*running]*runner{}
	rechecks := map[*running][]chan struct{}{}
	// Taken before the runners are read: a drop after it is seen at the
	// next wake.
	dropped := s.runnersDropped.Swap(false)
	var kept map[string]bool // every runner's carbonapps/, once some were dropped
	if dropped {
		kept = map[string]bool{}
	}
	for _, r := range s.allRunners() {
		r.mu.Lock()
		if r.watched != nil {
			watched[r.watched] = r
			rechecks[r.watched] = r.rechecks
		} else {
			closeAll(r.rechecks) // nothing to check
		}
		r.rechecks = nil
		if dropped {
			kept[home.CarbonAppsDir(r.inst.Home)] = true
		}
		r.mu.Unlock()
	}
	if dropped {
		dirs.release(kept)
	}
	for cur, c := range checks {
		if watched[cur] == nil {
			c.prober.Close()
			closeAll(c.checked)
			dirs.remove(c)
			delete(checks, cur)
		}
	}
	first := s.firstCheck()
	for cur, r := range watched {
		if checks[cur] == nil {
			inst := r.live(cur)
			c := &healthCheck{r: r, prober: observe.NewProber(&inst), every: first, next: time.Now().Add(first)}
			dirs.add(c, inst.Home)
			checks[cur] = c
		}
	}
	for cur, c := range checks {
		if asked := rechecks[cur]; len(asked) > 0 {
			c.tighten(first, time.Now())
			c.checked = append(c.checked, asked...)
		}
	}
}

func closeAll(chs []chan struct{}) {
	for _, ch := range chs {
		close(ch)
	}
}

// healthSoon has the monitor check the named instance now (once changes
// in its carbonapps/ settle), and then as often as after any change:
// something changed that its health may show (its CApps). The channel
// returned is closed once that check has run, or when there is none to
// run (the instance is not watched, the supervisor ends).
func (s *Supervisor) healthSoon(name string) <-chan struct{} {
	checked := make(chan struct{})
	s.mu.Lock()
	r := s.runners[name]
	s.mu.Unlock()
	if r == nil || !r.askCheck(checked) {
		close(checked)
		return checked
	}
	notify(s.watchKick)
	return checked
}

// askCheck queues checked for the monitor's next check of r, unless a
// reload forgot r meanwhile (between healthSoon's look-up and now), which
// no check will ever run for: false then.
func (r *runner) askCheck(checked chan struct{}) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.forgotten {
		return false
	}
	r.rechecks = append(r.rechecks, checked)
	return true
}

// runChecks checks the instances due now or within half their interval,
// against one look at the host and one batch of /healthz requests (to
// those whose check asks it, see asksHealthz), and schedules each one's
// next check.
func (s *Supervisor) runChecks(checks map[*running]*healthCheck) {
	now := time.Now()
	var due []*running
	for cur, c := range checks {
		if c.due(now) {
			due = append(due, cur)
		}
	}
	if len(due) == 0 {
		return
	}
	first := s.firstCheck()
	// A host whose sockets cannot be scanned leaves the ports unchecked,
	// not /healthz nor /liveness: each instance says so once it has
	// lasted (see unscannedChecks), and its checks go on.
	view, scanErr := s.newView()
	var probers []*observe.Prober
	asked := make([]int, len(due)) // index in probers and answers, -1: not asked
	for i, cur := range due {
		asked[i] = -1
		if c := checks[cur]; c.asksHealthz(now, s.policy.WatchInterval) {
			asked[i], probers = len(probers), append(probers, c.prober)
		}
	}
	answers := observe.ProbeAll(probers, observe.HealthPath)
	for i, cur := range due {
		c := checks[cur]
		var healthz *observe.Answer
		if asked[i] >= 0 {
			healthz = &answers[asked[i]]
			c.ready = healthz.Health() == nil
		}
		c.skipped = healthz == nil
		if c.recount && !now.Before(c.askUntil) {
			c.recount = false
			s.recountApps(c.r.live(cur))
		}
		// A first failed scan is tried again as soon as after a change:
		// it changes nothing yet (see unscannedChecks).
		if c.r.checkHealth(cur, view, scanErr, c.prober, healthz) || cur.blindChecks == 1 {
			c.every = first
		} else {
			c.every = min(2*c.every, s.policy.WatchInterval)
		}
		c.next = time.Now().Add(c.every)
		closeAll(c.checked)
		c.checked = nil
	}
}
