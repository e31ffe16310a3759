package supervisor

import (
	"time"

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
}

// monitor checks the health and ports of every watched (ready or
// degraded) instance, on one timer for all: checkFirst after it is
// watched, then twice as long after each check that found nothing new, up
// to WatchInterval, and checkFirst again after a check that found a
// change; at once, then as after a change, when the supervisor changed
// it (healthSoon: its CApps). A port lost or /healthz gone bad is seen within WatchInterval
// and confirmed (or cleared) quickly. Instances due within half their
// interval are checked together, so a steady deployment costs one
// wake-up, one socket scan and one batch of keep-alive requests per
// WatchInterval. Exits need no polling: each runner sees its server's
// exit through a pidfd at once.
func (s *Supervisor) monitor() {
	defer s.wg.Done()
	checks := map[*running]*healthCheck{}
	defer func() {
		for _, c := range checks {
			c.prober.Close()
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
		}
		s.syncChecks(checks)
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
func (s *Supervisor) syncChecks(checks map[*running]*healthCheck) {
	watched := map[*running]*runner{}
	for _, r := range s.allRunners() {
		r.mu.Lock()
		if r.watched != nil {
			watched[r.watched] = r
		}
		r.mu.Unlock()
	}
	for cur, c := range checks {
		if watched[cur] == nil {
			c.prober.Close()
			delete(checks, cur)
		}
	}
	first := s.firstCheck()
	for cur, r := range watched {
		if checks[cur] == nil {
			inst := r.live(cur)
			checks[cur] = &healthCheck{r: r, prober: observe.NewProber(&inst), every: first, next: time.Now().Add(first)}
		}
	}
	for _, c := range checks {
		if c.r.recheck.Swap(false) {
			c.every, c.next = first, time.Now()
		}
	}
}

// healthSoon has the monitor check the named instance now, and then as
// often as after any change: something changed that its health may show
// (its CApps).
func (s *Supervisor) healthSoon(name string) {
	s.mu.Lock()
	r := s.runners[name]
	s.mu.Unlock()
	if r != nil {
		r.recheck.Store(true)
		notify(s.watchKick)
	}
}

// runChecks checks the instances due now or within half their interval,
// against one look at the host and one batch of /healthz requests, and
// schedules each one's next check.
func (s *Supervisor) runChecks(checks map[*running]*healthCheck) {
	now := time.Now()
	var due []*running
	var probers []*observe.Prober
	for cur, c := range checks {
		if !c.next.After(now.Add(c.every / 2)) {
			due, probers = append(due, cur), append(probers, c.prober)
		}
	}
	if len(due) == 0 {
		return
	}
	first := s.firstCheck()
	view, err := observe.NewView()
	if err != nil {
		for _, cur := range due {
			checks[cur].next = now.Add(first) // try again soon
		}
		return
	}
	answers := observe.ProbeAll(probers, observe.HealthPath)
	for i, cur := range due {
		c := checks[cur]
		if c.r.checkHealth(cur, view, c.prober, answers[i]) {
			c.every = first
		} else {
			c.every = min(2*c.every, s.policy.WatchInterval)
		}
		c.next = time.Now().Add(c.every)
	}
}
