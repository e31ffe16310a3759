package supervisor

import "time"

// firstProbe is how soon a starting instance is probed after its launch
// or a sign of progress (its server found). A simulated server listens
// a few milliseconds after its launch; probing only every StartProbe
// found it up to that much late.
const firstProbe = time.Millisecond

// fastSearch is how long after its launch a server not found yet is
// looked for every firstProbe. Looking is one read of its pid file, and a
// simulated server writes it a few milliseconds after its launch:
// intervals doubling from the launch (1, 3, 7 ms) found it up to half
// that late, and an up of 1 waited ~3 ms for nothing. A real MI's JVM
// writes it later in its first second; by then the search backs off as
// every probe does.
const fastSearch = 100 * time.Millisecond

// probes times a starting instance's probes: firstProbe after the launch
// or soon, then twice as far apart after each probe, up to max.
type probes struct {
	every, max time.Duration
	timer      *time.Timer
}

func newProbes(max time.Duration) *probes {
	first := min(firstProbe, max)
	return &probes{every: first, max: max, timer: time.NewTimer(first)}
}

// c fires when the next probe is due.
func (p *probes) c() <-chan time.Time { return p.timer.C }

// next schedules the probe after one that found no server yet
// (searching) or found one not ready, sinceLaunch after the launch:
// firstProbe from now while a fast search lasts, else again.
func (p *probes) next(searching bool, sinceLaunch time.Duration) {
	if searching && sinceLaunch < fastSearch {
		p.soon()
		return
	}
	p.again()
}

// again schedules the next probe, twice as far as the last.
func (p *probes) again() {
	p.every = min(2*p.every, p.max)
	p.timer.Reset(p.every)
}

// soon brings the next probe forward to firstProbe from now.
func (p *probes) soon() {
	p.every = min(firstProbe, p.max)
	p.timer.Reset(p.every)
}

func (p *probes) stop() { p.timer.Stop() }
