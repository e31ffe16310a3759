package supervisor

import (
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// failureCounter is an Observer counting the failed reloads it hears of,
// as mictl_reload_failures_total does.
type failureCounter struct{ n atomic.Int32 }

func (*failureCounter) ObserveReady(string, time.Duration) {}
func (c *failureCounter) ObserveReload(err error) {
	if err != nil {
		c.n.Add(1)
	}
}

// counted is a site running mi-1, ready, whose failed reloads are
// counted as the daemon's metrics count them.
func counted(t *testing.T) (*simSite, *failureCounter) {
	t.Helper()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	failures := &failureCounter{}
	s.sup.observer = failures
	return s, failures
}

// reloadsFailed counts the reload-failed lines of the site's event log.
func (s *simSite) reloadsFailed() int {
	s.t.Helper()
	log, err := os.ReadFile(EventsLog(s.sup.store))
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.Count(string(log), " "+ReloadEvent+" "+ReloadFailed+": ")
}

// One save of a broken mictl.toml is refused by mictl reload and by the
// daemon's own reload of the save, whichever comes first: one refusal,
// said once in the event log and counted once. Each reported it, as a
// reload asked for: two reload-failed lines, and
// mictl_reload_failures_total 2, for one edit.
func TestARefusalMetTwiceIsReportedOnce(t *testing.T) {
	t.Parallel()
	s, failures := counted(t)
	for i, tc := range []struct {
		save          string
		first, second reloadKind
	}{
		{"bogus = 1\ninstances = 1\n", reloadAsked, reloadFollowed},
		{"other = 1\ninstances = 1\n", reloadFollowed, reloadAsked},
	} {
		s.write(tc.save)
		for _, kind := range []reloadKind{tc.first, tc.second} {
			if _, err := s.sup.reload(s.load, kind, nil); err == nil || !strings.Contains(err.Error(), "unknown key") {
				t.Fatalf("reload of:\n%s\nreturned %v; want it refused for the unknown key", tc.save, err)
			}
		}
		if said, counted := s.reloadsFailed(), int(failures.n.Load()); said != i+1 || counted != i+1 {
			t.Errorf("after %d saves refused, each met by two reloads: %d reload-failed lines, %d failures counted; want %d and %d", i+1, said, counted, i+1, i+1)
		}
	}
}

// The daemon's own reload of a save that mictl reload applied first, and
// failed (mi-1's restart never ready), finds nothing left to change and
// that failure standing: it is the same failure, said and counted once.
// It said it again ("no change to apply, and the last reload's failure
// stands"), a second reload-failed line and failure counted for one save.
func TestAFailureFoundStandingIsNotReportedAgain(t *testing.T) {
	t.Parallel()
	s, failures := counted(t)
	ready := s.sup.policy.ReadyTimeout
	s.sup.policy.ReadyTimeout = time.Nanosecond // mi-1's restart fails
	if err := s.tryReload("instances = 1\n\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"a.local\" }\n"); err == nil {
		t.Fatal("the reload whose restart of mi-1 could not turn ready succeeded")
	}
	s.sup.policy.ReadyTimeout = ready
	for _, kind := range []reloadKind{reloadFollowed, reloadAsked} {
		if _, err := s.sup.reload(s.load, kind, nil); err == nil || !strings.Contains(err.Error(), "no change to apply, and the last reload's failure stands") {
			t.Fatalf("reload of the same save: %v; want the failure standing", err)
		}
	}
	if said, counted := s.reloadsFailed(), int(failures.n.Load()); said != 1 || counted != 1 {
		t.Errorf("one failed reload, then two that found it standing: %d reload-failed lines, %d failures counted; want 1 and 1", said, counted)
	}
}

// The reply to mictl reload carries the state as its reload ended, not
// as the reload queued behind it (the daemon's own, of an edit saved
// meanwhile) has begun to change it by the time the reply is made: that
// one's mi-3, prepared and starting, showed in mictl reload's table, not
// ready, and mictl reload, whose own mi-2 was ready, exited 3 for it.
func TestAReloadsReplyIsTheStateAsItsReloadEnded(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	queued := make(chan error, 1)
	// The queued reload started mi-3, and waits for the reply to be
	// made before it goes on.
	begun, replied := make(chan struct{}), make(chan struct{})
	var planned, restarted atomic.Int32
	t.Cleanup(func() { reloadAt = nil })
	reloadAt = func(at string) {
		switch {
		case at == "planned" && planned.Add(1) == 1:
			// mictl reload's: an edit saved as it applies, the daemon's
			// own reload of it behind.
			s.write("instances = 3\n")
			go func() {
				_, err := s.sup.reload(s.load, reloadFollowed, nil)
				queued <- err
			}()
		case at == "restarted" && restarted.Add(1) == 2:
			close(begun)
			<-replied
		}
	}
	srv := NewServer(s.sup)
	srv.reload = func(window *rollWindow) (reconcile.Changes, error) {
		changes, err := s.sup.reload(s.load, reloadAsked, window)
		// The reply is made once the reload queued behind took its first
		// steps, as when the daemon serves it a moment late.
		<-begun
		return changes, err
	}
	s.write("instances = 2\n")
	reply, err := Call(t.Context(), serveControl(t, s.dir, srv), Request{Op: OpReload}, nil)
	close(replied)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-queued; err != nil {
		t.Fatalf("the reload queued behind: %v", err)
	}
	var names []string
	for _, rec := range reply.State.Instances {
		names = append(names, rec.Name+" "+rec.State)
	}
	if !slices.Equal(names, []string{"mi-1 ready", "mi-2 ready"}) {
		t.Errorf("mictl reload's reply: %q; want mi-1 and mi-2 ready, as its reload left them", names)
	}
}

// While another reload or rolling restart holds the reload lock as the
// reply is made, an instance the same server runs is shown as it is now:
// its CApp, taken by MI after the reload ended, made it degraded. The
// reply, taken whole from the state as the reload left it, showed it
// ready, and mictl reload exited 0 over a faulty CApp. An instance begun
// since (mi-9, a later reload's) is not this reload's; one whose server
// changed since (restarted by it) is shown as this reload left it.
func TestAReloadsReplyShowsItsInstancesAsTheyAreNow(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	left, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	window := &rollWindow{}
	window.left.Store(left)
	if err := s.sup.update(func(f *state.File) error {
		mi1, _ := f.Instance("mi-1")
		mi1.State = StateDegraded
		f.Instances = append(f.Instances, state.Instance{Name: "mi-9", State: StateStarting})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.sup.reloadMu.Lock() // another reload, or a rolling restart, under way
	defer s.sup.reloadMu.Unlock()
	var got []string
	for _, rec := range s.sup.replyState(window).Instances {
		got = append(got, rec.Name+" "+rec.State)
	}
	if !slices.Equal(got, []string{"mi-1 degraded"}) {
		t.Errorf("the reply: %q; want mi-1 degraded, as it is now, and no mi-9", got)
	}
	restarted := left.Clone()
	mi1, _ := restarted.Instance("mi-1")
	mi1.Server.StartTime++ // another server since
	window.left.Store(restarted)
	if rec, _ := s.sup.replyState(window).Instance("mi-1"); rec.State != StateReady {
		t.Errorf("mi-1, whose server changed since the reload ended: %s; want ready, as the reload left it", rec.State)
	}
}
