package supervisor

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/mictl/mictl/pkg/metrics"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// metricsSource is the supervisor as the daemon's metrics read it: its
// memory of the state (see memory) and the CApp counts. A scrape takes
// none of the supervisor's locks.
type metricsSource struct{ s *Supervisor }

// MetricsSource is what pkg/metrics reads of s.
func (s *Supervisor) MetricsSource() metrics.Source { return metricsSource{s} }

// memory is the state as last saved (a snapshot swapped in at every
// save) with the changes queued since applied, as status sees it: while
// the file cannot be written (a full disk) the last save falls ever
// further behind, and the metrics showed a restarted instance down, its
// restart uncounted. With a write under way (which a scrape never waits
// for) it is the last save alone, at most writeGap behind. nil before
// the first save.
func (m metricsSource) memory() *state.File {
	var f *state.File
	if m.s.persist.tryQuiet(func() {
		// Under quiet the save and the queue agree: no change in both.
		f = m.s.saved.Load()
		if pending := m.s.persist.pending(); f != nil && len(pending) > 0 {
			f = f.Clone()
			apply(f, pending)
		}
	}) {
		return f
	}
	return m.s.saved.Load()
}

func (m metricsSource) Instances() []metrics.InstanceSnapshot {
	f := m.memory()
	if f == nil {
		return nil
	}
	counts := m.s.AppCounts()
	out := make([]metrics.InstanceSnapshot, 0, len(f.Instances))
	for _, inst := range f.Instances {
		snap := metrics.InstanceSnapshot{Name: inst.Name, Offset: inst.Offset, State: inst.State,
			Up: inst.Server.Alive(), Restarts: uint64(inst.Restarts)}
		if snap.Up {
			snap.PGID, snap.StartedAt = inst.PGID, inst.StartedAt
		}
		if c, ok := counts[inst.Name]; ok {
			snap.AppsActive, snap.AppsFaulty = &c.Active, &c.Faulty
		}
		out = append(out, snap)
	}
	return out
}

func (m metricsSource) Deployment() metrics.DeploymentSnapshot {
	return metrics.DeploymentSnapshot{Conflicts: int(m.s.conflicts.Load())}
}

// SetConflicts records how many conflicts the last check of the plan
// found, for the metrics: up's, before the start it asks for, or a
// reload's.
func (s *Supervisor) SetConflicts(n int) { s.conflicts.Store(int64(n)) }

// writeTargets keeps Prometheus's file_sd list of the instances that
// serve MI's metrics (launched with reconcile.MetricsFlag) and are wanted
// running: written at each save that changes it, so within writeGap of an
// instance coming, going or moving.
func (s *Supervisor) writeTargets(f *state.File) {
	if s.targets == nil {
		return
	}
	var targets []metrics.Target
	for _, inst := range f.Instances {
		if Wanted(inst.State) && slices.Contains(inst.Args, reconcile.MetricsFlag) {
			targets = append(targets, metrics.Target{Name: inst.Name, Offset: inst.Offset, Host: inst.Bind, Port: inst.Ports[ports.InternalHTTP]})
		}
	}
	if _, err := s.targets.Write(targets); err != nil {
		fmt.Fprintf(os.Stderr, "%s mictl: %v\n", time.Now().Format(time.RFC3339), err)
	}
}

// observeReady tells the observer an instance became ready after d.
func (s *Supervisor) observeReady(name string, d time.Duration) {
	if s.observer != nil {
		s.observer.ObserveReady(name, d)
	}
}
