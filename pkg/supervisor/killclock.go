package supervisor

import (
	"context"
	"sync"
	"time"
)

// killClock says when a stop gives up waiting after its SIGTERM and sends
// SIGKILL: its own timeout after the signal, or sooner when a later stop
// of the same instance allows less. A server that ignores SIGTERM (a JVM
// whose shutdown hangs) while a restart or a reload waits out its 3m20s
// is then ended by `down --timeout 10s` in ten seconds, not in what is
// left of the first stop's wait.
type killClock struct {
	mu      sync.Mutex
	timeout time.Duration // the stop's own, from its SIGTERM
	due     time.Time     // when the SIGKILL is due; zero until started
	sooner  time.Time     // the earliest a later stop allows; zero if none
	allowed time.Duration // that later stop's timeout
	timer   *time.Timer
}

func newKillClock(timeout time.Duration) *killClock { return &killClock{timeout: timeout} }

// start arms the clock for a SIGTERM sent at sent: the context it returns
// ends when the SIGKILL is due; release lets go of it.
func (k *killClock) start(sent time.Time) (due context.Context, release func()) {
	ctx, cancel := context.WithCancel(context.Background())
	k.mu.Lock()
	defer k.mu.Unlock()
	k.due = sent.Add(k.timeout)
	k.bringForward()
	timer := time.AfterFunc(time.Until(k.due), cancel)
	k.timer = timer
	return ctx, func() { timer.Stop(); cancel() }
}

// hurry is a later stop that allows timeout, from its start, until by:
// the SIGKILL is due no later than that.
func (k *killClock) hurry(by time.Time, timeout time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sooner.IsZero() || by.Before(k.sooner) {
		k.sooner, k.allowed = by, timeout
	}
	if k.timer != nil && k.bringForward() {
		k.timer.Reset(time.Until(k.due))
	}
}

// bringForward moves due to sooner when that is earlier, and reports
// whether it did; mu is held.
func (k *killClock) bringForward() bool {
	if k.sooner.IsZero() || !k.sooner.Before(k.due) {
		return false
	}
	k.due = k.sooner
	return true
}

// hurried is the timeout of the later stop that brought the SIGKILL
// forward, 0 when none did (a stop's own request, looked at a moment after
// its SIGTERM went out, allows the same and hurries nothing).
func (k *killClock) hurried() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.due.Equal(k.sooner) && k.allowed < k.timeout {
		return k.allowed
	}
	return 0
}

// hurryLook is how often a stop waiting for another to end looks for it
// to hurry (see hurryUntil): the other may get under way after a look.
const hurryLook = 100 * time.Millisecond

// hurryUntil gives the stops under way (the clocks that stopping returns,
// nil for none) a later stop's timeout, which began at from, until done
// is closed.
func hurryUntil(done <-chan struct{}, from time.Time, timeout time.Duration, stopping func() []*killClock) {
	by := from.Add(timeout)
	look := time.NewTicker(hurryLook)
	defer look.Stop()
	for {
		for _, k := range stopping() {
			k.hurry(by, timeout)
		}
		select {
		case <-done:
			return
		case <-look.C:
		}
	}
}
