package supervisor

import (
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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
