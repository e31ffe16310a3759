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
	asked   time.Time     // when the stop was asked for: later ones may hurry it
	sent    time.Time     // its SIGTERM; zero until started
	due     time.Time     // when the SIGKILL is due; zero until started
	sooner  time.Time     // the earliest a later stop allows; zero if none
	allowed time.Duration // that later stop's timeout
	timer   *time.Timer   // nil until started, and once released
}

// newKillClock is the clock of a stop asked for at asked.
func newKillClock(timeout time.Duration, asked time.Time) *killClock {
	return &killClock{timeout: timeout, asked: asked}
}

// start arms the clock for a SIGTERM sent at sent: the context it returns
// ends when the SIGKILL is due; release lets go of it.
func (k *killClock) start(sent time.Time) (due context.Context, release func()) {
	ctx, cancel := context.WithCancel(context.Background())
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sent, k.due = sent, sent.Add(k.timeout)
	k.bringForward()
	k.timer = time.AfterFunc(time.Until(k.due), cancel)
	return ctx, func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.timer.Stop()
		k.timer = nil
		cancel()
	}
}

// hurry is a stop asked for at asked that allows timeout from then: the
// SIGKILL is due no later than that, when that stop came after this one
// (the stop's own request, or one before it, changes nothing).
func (k *killClock) hurry(asked time.Time, timeout time.Duration) {
	if !asked.After(k.asked) {
		return
	}
	by := asked.Add(timeout)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sooner.IsZero() || by.Before(k.sooner) {
		k.sooner, k.allowed = by, timeout
	}
	if k.timer != nil && k.bringForward() {
		k.timer.Reset(time.Until(k.due))
	}
}

// limit is how long after its SIGTERM the SIGKILL is due, as it stands.
func (k *killClock) limit() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.due.IsZero() {
		return k.timeout
	}
	return k.due.Sub(k.sent)
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
// forward, 0 when none did.
func (k *killClock) hurried() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.sooner.IsZero() && k.due.Equal(k.sooner) {
		return k.allowed
	}
	return 0
}

// hurryLook is how often a stop waiting for another to end looks for it
// to hurry (see hurryUntil): the other may get under way after a look.
const hurryLook = 100 * time.Millisecond

// hurryUntil gives the stops under way (the clocks that stopping returns,
// nil for none) the timeout of a stop asked for at asked, until done is
// closed.
func hurryUntil(done <-chan struct{}, asked time.Time, timeout time.Duration, stopping func() []*killClock) {
	look := time.NewTicker(hurryLook)
	defer look.Stop()
	for {
		for _, k := range stopping() {
			k.hurry(asked, timeout)
		}
		select {
		case <-done:
			return
		case <-look.C:
		}
	}
}
