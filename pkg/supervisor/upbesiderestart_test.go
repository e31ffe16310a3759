package supervisor

import (
	"sync"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/state"
)

// restartWithUp restarts the site's ready mi-1 as mictl restart does
// (restartPlan, restartStep), calling during(names) where an mictl up's
// request may reach the daemon: the instance stopped, the restart still
// to bring its home and record up to date and to start it.
func restartWithUp(s *simSite, during func(names []string)) {
	s.t.Helper()
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	steps, prepare, err := s.sup.restartPlan(s.load, []string{"mi-1"})
	if err != nil {
		s.t.Fatal(err)
	}
	op := s.sup.beginChange()
	defer s.sup.endChange(op)
	for _, step := range steps {
		_, _, err := s.sup.restartStep(op, step, nil, siteTimeout, func(names []string) error {
			during(names)
			return prepare(names)
		})
		if err != nil {
			s.t.Fatalf("restart: %v; events:\n%s", err, s.log("mi-1"))
		}
	}
}

// An up's start that reaches the daemon between a restart's stop and
// its start leaves the instance to the restart. It started the instance
// itself, the restart then wrote its record over the record of the
// server the up had started, and started nothing: mi-1 ran, ready and
// watched, while status showed it starting with no pid, for as long as
// it ran (once in 7 to 48 tries of mictl restart mi-1 & mictl up).
func TestAnUpBetweenARestartsStopAndStartLeavesItToTheRestart(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	waited := make(chan error, 1)
	restartWithUp(s, func(names []string) {
		if err := s.sup.Start(names); err != nil {
			t.Errorf("the up's start: %v", err)
		}
		go func() { waited <- s.sup.WaitReady(names, siteTimeout) }()
		if s.sup.hasRunner("mi-1") {
			// The start took it: its server ready before the restart
			// goes on, as the chaos run saw it.
			s.next("mi-1", StateReady)
		}
	})
	if err := <-waited; err != nil {
		t.Fatalf("the up's wait: %v, want mi-1 ready; events:\n%s", err, s.log("mi-1"))
	}
	f, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := f.Instance("mi-1")
	pid, _ := home.ServerPID(inst.Home)
	if inst.State != StateReady || inst.Server.PID != pid || !inst.Server.Alive() || inst.PGID == 0 {
		t.Fatalf("mi-1 recorded %s, server %v, group %d; want it ready, its server the live one its pid file names (%d), its group recorded; events:\n%s",
			inst.State, inst.Server, inst.PGID, pid, s.log("mi-1"))
	}
}

// An up whose wait begins while a restart has stopped the instance, its
// start having found the instance running, waits for the server the
// restart starts: the restart is no stop before the instance was ready.
// It ended exit 3, "mi-2 was stopped before it was ready (by mictl down,
// or its restart policy)", beside mictl restart --all, 2 ups in 300.
func TestAnUpsWaitTakesAnInstanceStoppedByARestartForPending(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	waited := make(chan error, 1)
	restartWithUp(s, func(names []string) {
		waits := func() int {
			s.sup.mu.Lock()
			defer s.sup.mu.Unlock()
			return len(s.sup.subs)
		}
		before := waits()
		go func() { waited <- s.sup.WaitReady(names, siteTimeout) }()
		// Subscribed, it looks: mi-1 stays stopped until this returns.
		s.await("the up's wait subscribed", func() bool { return waits() > before || len(waited) > 0 })
	})
	if err := <-waited; err != nil {
		t.Fatalf("the up's wait: %v, want mi-1 ready; events:\n%s", err, s.log("mi-1"))
	}
}

// An up's wait that read the instance stopped by a restart, and looks
// for the restart's mark only once the restart has started the instance
// again (its mark gone), takes its look for out of date, not for a stop:
// it ended "mi-3 was stopped before it was ready" beside mictl restart
// --all, once in some 60 ups, the restart having started mi-3.
func TestAnUpsWaitThatReadTheRestartsStopLateWaitsForItsStart(t *testing.T) {
	// Not parallel: it sets the package's wait hook (waitLooked).
	s := newSimSite(t, DefaultPolicy())
	looked, goOn := make(chan struct{}), make(chan struct{})
	var once sync.Once
	waitLooked = func(insts map[string]state.Instance) {
		if insts["mi-1"].State == StateStopped {
			once.Do(func() {
				close(looked)
				<-goOn // until the restart has started mi-1 and ended its mark
			})
		}
	}
	t.Cleanup(func() { waitLooked = nil })
	waited := make(chan error, 1)
	restartWithUp(s, func(names []string) {
		go func() { waited <- s.sup.WaitReady(names, siteTimeout) }()
		<-looked
		go func() {
			defer close(goOn)
			for deadline := time.Now().Add(siteTimeout); s.sup.restartPending("mi-1") && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
		}()
	})
	if err := <-waited; err != nil {
		t.Fatalf("the up's wait: %v, want mi-1 ready; events:\n%s", err, s.log("mi-1"))
	}
}

// A named down between a restart's stop and its start, then an up of the
// instance: the restart starts no instance stopped by name (mayStart), so
// the up starts it. Left marked as the restart's to start, it was passed
// over by the up's start and its wait then failed it, "stopped before it
// was ready", with nothing left to start it.
func TestAnUpAfterANamedDownDuringARestartStartsTheInstance(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	waited := make(chan error, 1)
	restartWithUp(s, func(names []string) {
		stopEnded := s.sup.leaveStopped(names)
		if err := s.sup.Stop(names, siteTimeout); err != nil {
			t.Errorf("the named down: %v", err)
		}
		stopEnded()
		if err := s.sup.Start(names); err != nil {
			t.Errorf("the up's start: %v", err)
		}
		go func() { waited <- s.sup.WaitReady(names, siteTimeout) }()
	})
	if err := <-waited; err != nil {
		t.Fatalf("the up's wait: %v, want mi-1 ready; events:\n%s", err, s.log("mi-1"))
	}
}
