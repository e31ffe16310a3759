package supervisor

import (
	"fmt"
	"slices"
	"time"
)

// Restart policies: when a server ends without mictl asking.
const (
	RestartAlways    = "always"     // every time
	RestartOnFailure = "on-failure" // unless it shut down gracefully on its own
	RestartNever     = "never"
)

// RestartPolicies are the restart policies, as a user may name them.
var RestartPolicies = []string{RestartAlways, RestartOnFailure, RestartNever}

// RestartPoliciesText names the restart policies in a sentence.
const RestartPoliciesText = RestartAlways + ", " + RestartOnFailure + " or " + RestartNever

// Policy says how instances are started, watched, restarted and stopped.
type Policy struct {
	Restart     string
	MaxRestarts int // consecutive restarts before giving up (state failed)
	// Backoff before restart n (1-based) is BackoffBase·2^(n-2), capped at
	// BackoffMax; the first restart after a stable run is immediate, so a
	// one-off crash costs milliseconds, a crash loop slows itself down.
	BackoffBase, BackoffMax time.Duration
	// StableAfter is how long an instance must stay ready for its restart
	// count to start again from zero.
	StableAfter time.Duration
	// ReadyTimeout bounds one start: pid file, /healthz 200, ports owned.
	ReadyTimeout time.Duration
	// StopTimeout is how long a graceful stop may take before SIGKILL
	// (docs/mi-facts.md: since 4.5 the graceful drain may last up to 180 s).
	StopTimeout time.Duration
	// WatchInterval is how often a ready instance's ports are checked
	// while nothing changes, its /healthz every other time (sooner after a
	// change: see monitor and asksHealthz); exits are seen at once,
	// without it.
	WatchInterval time.Duration
	// StartProbe is how often a starting instance is probed.
	StartProbe time.Duration
	// LivenessWindow is how long a watched server's /liveness must fail,
	// at every check and at least livenessFailures checks, before mictl
	// ends it (see runner.endUnresponsive); DefaultLivenessWindow but in
	// tests.
	LivenessWindow time.Duration
}

// DefaultLivenessWindow is as long as the Kubernetes export's liveness
// probe lets a pod fail before the kubelet restarts it (periodSeconds 10 ×
// failureThreshold 3): a JVM on a busy host may pause seconds (a full GC,
// CPU taken by its siblings' starts, swap), and ending it loses the
// messages it has in flight.
const DefaultLivenessWindow = 30 * time.Second

// DefaultPolicy is the policy the README documents.
func DefaultPolicy() Policy {
	return Policy{
		Restart:       RestartOnFailure,
		MaxRestarts:   5,
		BackoffBase:   250 * time.Millisecond,
		BackoffMax:    30 * time.Second,
		StableAfter:   30 * time.Second,
		ReadyTimeout:  120 * time.Second,
		StopTimeout:   200 * time.Second,
		WatchInterval: 5 * time.Second,
		StartProbe:    10 * time.Millisecond,
		// A server ended for its /liveness gets the stop's own grace
		// (StopTimeout) after SIGTERM, as the export's pods get
		// terminationGracePeriodSeconds.
		LivenessWindow: DefaultLivenessWindow,
	}
}

// Validate explains a policy mictl cannot follow.
func (p Policy) Validate() error {
	if !slices.Contains(RestartPolicies, p.Restart) {
		return fmt.Errorf("restart policy %q: expected %s", p.Restart, RestartPoliciesText)
	}
	if p.MaxRestarts < 0 {
		return fmt.Errorf("max restarts %d: must not be negative", p.MaxRestarts)
	}
	return nil
}

// backoff is the wait before the n-th consecutive restart.
func (p Policy) backoff(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	d := p.BackoffBase
	for i := 2; i < n && d < p.BackoffMax; i++ {
		d *= 2
	}
	return min(d, p.BackoffMax)
}
