package supervisor

import (
	"errors"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/state"
)

// While the state file cannot be written (a full disk), the daemon's
// metrics follow the supervisor's memory, as status does: they stayed at
// the last state saved, and showed an instance the daemon had restarted
// down, its restart uncounted.
func TestMetricsFollowTheSupervisorWhileTheStateFileCannotBeWritten(t *testing.T) {
	_, sup := writtenOnce(t)
	// From now on every write fails, as on a full disk.
	sup.persist.close()
	sup.persist = startPersister(writeGap, func([]mutation, bool) error { return errors.New("no space left on device") })
	sup.record("mi-1", Event{State: StateBackoff}, func(i *state.Instance) {
		i.State, i.Restarts = StateBackoff, i.Restarts+1
	})
	if err := sup.Flush(); err == nil {
		t.Fatal("a write that fails was reported saved")
	}
	// A scrape that meets a retry under way reads the last save: read
	// again until none is (retries are at least retryMin apart). Bounded
	// by time, not by a count of reads: on a loaded machine a retry
	// preempted mid-way stayed under way for 1000 quick reads in a row.
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		insts := sup.MetricsSource().Instances()
		if len(insts) == 1 && insts[0].State == StateBackoff && insts[0].Restarts == 1 {
			return
		}
		got = nil
		for _, in := range insts {
			got = append(got, in.Name+" "+in.State)
		}
	}
	t.Fatalf("metrics while the state file cannot be written: %q, want mi-1 backoff with 1 restart", got)
}
