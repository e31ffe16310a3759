package supervisor

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

// alwaysRestart is a policy under which any exit the supervisor takes for
// a crash shows at once: a restart without delay.
func alwaysRestart() Policy {
	p := DefaultPolicy()
	p.Restart, p.BackoffBase = RestartAlways, time.Millisecond
	return p
}

// watched returns the runner of name once it watches its ready server:
// only then does a stop signal it ahead of its request (a runner that
// has just said ready is a moment from it).
func (s *simSite) watched(name string) *runner {
	s.t.Helper()
	deadline := time.Now().Add(siteTimeout)
	for {
		s.sup.mu.Lock()
		r := s.sup.runners[name]
		s.sup.mu.Unlock()
		if r != nil {
			r.mu.Lock()
			watched := r.watched != nil
			r.mu.Unlock()
			if watched {
				return r
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: not watched after %s", name, siteTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// A stop of many sends every server its SIGTERM before it records or waits
// for any of them: the servers stop side by side (issue 15), and each
// exit is still the stop's, never a crash to restart.
func TestStopSignalsEveryServerFirst(t *testing.T) {
	// Not parallel: it sets the package's signal hook.
	s := newSimSite(t, alwaysRestart())
	s.reload("instances = 3\n")
	names := []string{"mi-1", "mi-2", "mi-3"}
	for _, name := range names {
		s.next(name, StateReady)
		s.watched(name)
	}
	var mu sync.Mutex
	var signalled []time.Time
	sentSIGTERM = func(int) {
		mu.Lock()
		signalled = append(signalled, time.Now())
		mu.Unlock()
	}
	t.Cleanup(func() { sentSIGTERM = nil })

	if err := s.sup.Stop(nil, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(signalled) != len(names) {
		t.Fatalf("%d stops signalled, want one for each of %d instances", len(signalled), len(names))
	}
	lastSignal := slices.MaxFunc(signalled, func(a, b time.Time) int { return a.Compare(b) })
	for _, name := range names {
		ev := s.next(name, StateStopping)
		if ev.Time.Before(lastSignal) {
			t.Errorf("%s recorded %q %s before the last SIGTERM went out", name, ev.Message, lastSignal.Sub(ev.Time))
		}
		if ev := s.next(name, StateStopped, StateCrashed, StateBackoff, StateStarting); ev.State != StateStopped {
			t.Errorf("%s: %s after the stop, want stopped; its events:\n%s", name, ev.State, s.log(name))
		}
	}
}

// A server that exits on the early SIGTERM before its runner has taken the
// stop request is still stopped, not crashed and restarted.
func TestExitBeforeTheStopRequestIsTheStops(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, alwaysRestart())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	r := s.watched("mi-1")
	server := r.snapshot().Server
	r.aimEarly().send()
	ctx, cancel := context.WithTimeout(context.Background(), siteTimeout)
	defer cancel()
	if err := proc.WaitExit(ctx, server); err != nil {
		t.Fatalf("server pid %d did not exit on SIGTERM: %v", server.PID, err)
	}
	// Time for a runner that took the exit for a crash to say so.
	quiet := time.After(200 * time.Millisecond)
	for waiting := true; waiting; {
		select {
		case ev := <-s.events:
			s.seen = append(s.seen, ev)
			if ev.Instance == "mi-1" {
				t.Fatalf("after its early SIGTERM, before the stop request: %s", ev)
			}
		case <-quiet:
			waiting = false
		}
	}
	if err := r.stop(10*time.Second, false, func() {}); err != nil {
		t.Fatal(err)
	}
	if ev := s.next("mi-1", StateStopped, StateCrashed, StateBackoff, StateStarting); ev.State != StateStopped {
		t.Fatalf("%s after the stop, want stopped; its events:\n%s", ev.State, s.log("mi-1"))
	}
}

// A watched server this supervisor launched is aimed at without a look at
// /proc: its group is the launch's while the script leading it lives. An
// adopted server's group, or one whose script ended, is looked at as a
// group read back from the state file is.
func TestAimAtALaunchedGroup(t *testing.T) {
	// Not parallel: it sets the package's look hook.
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	r := s.watched("mi-1")
	rec := r.snapshot()
	var mu sync.Mutex
	var looked []int
	lookedAtGroup = func(pgid int) {
		mu.Lock()
		looked = append(looked, pgid)
		mu.Unlock()
	}
	t.Cleanup(func() { lookedAtGroup = nil })

	r.mu.Lock()
	cur := r.watched
	r.mu.Unlock()
	aimed := r.aimEarly()
	aimed.send()
	if !aimed.owned || !aimed.alive || aimed.pgid != rec.PGID || aimed.leader != rec.Script {
		t.Errorf("aimed at %+v; want the group %d led by the script %v and the live server %v", aimed, rec.PGID, rec.Script, rec.Server)
	}
	mu.Lock()
	if len(looked) > 0 {
		t.Errorf("the group of a server launched here, its script running, was looked at in /proc: %v", looked)
	}
	mu.Unlock()
	if err := r.stop(10*time.Second, false, func() {}); err != nil {
		t.Fatal(err)
	}
	if ev := s.next("mi-1", StateStopped, StateCrashed, StateBackoff, StateStarting); ev.State != StateStopped {
		t.Fatalf("%s after the stop, want stopped; its events:\n%s", ev.State, s.log("mi-1"))
	}

	// The same group, adopted: looked at (nothing runs in it any more, so
	// nothing is signalled).
	adopter := newRunner(s.sup, rec)
	adopter.watched = &running{server: cur.server, pgid: cur.pgid, scriptDone: make(chan struct{})}
	if aimed := adopter.aimEarly(); aimed.owned || aimed.alive {
		t.Errorf("aimed at a stopped group as %+v, want nothing owned or alive", aimed)
	}
	mu.Lock()
	if len(looked) != 1 || looked[0] != rec.PGID {
		t.Errorf("groups looked at %v, want the adopted group %d once", looked, rec.PGID)
	}
	mu.Unlock()
	ended := make(chan struct{})
	close(ended)
	if (&running{server: cur.server, pgid: cur.pgid, script: cur.script, scriptDone: ended}).launchedGroupLives() {
		t.Error("a group whose script ended is taken for the launch's")
	}
}

// stateWrite is one write of the state file as a test sees it: mi-1's
// state in it, whether the last up's flags were in it, and whether it was
// fsynced.
type stateWrite struct {
	state   string
	upArgs  bool
	durable bool
}

// recordWrites records the supervisors' writes until the test ends. It
// is called before the test's supervisor starts (the hook is not
// synchronised), and returns the writes so far.
func recordWrites(t *testing.T) func() []stateWrite {
	var mu sync.Mutex
	var writes []stateWrite
	savedState = func(f *state.File, durable bool) {
		w := stateWrite{upArgs: f.UpArgs != nil, durable: durable}
		if inst, ok := f.Instance("mi-1"); ok {
			w.state = inst.State
		}
		mu.Lock()
		writes = append(writes, w)
		mu.Unlock()
	}
	t.Cleanup(func() { savedState = nil })
	return func() []stateWrite {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(writes)
	}
}

// durableWrites are the writes of ws that were fsynced.
func durableWrites(ws []stateWrite) []stateWrite {
	return slices.DeleteFunc(slices.Clone(ws), func(w stateWrite) bool { return !w.durable })
}

// A stop of everything writes durably, while the server stops, that the
// instance is no longer wanted and that the run is forgotten (a power
// failure must not let a later daemon bring it back, nor a later up plan
// with dropped flags); how the stop ended is written after without an
// fsync, so the `down` waiting for it does not pay for one (issue 15).
func TestStopWritesItsIntentDurablyAndItsOutcomeQuickly(t *testing.T) {
	// Not parallel: it sets the package's write hook.
	written := recordWrites(t)
	s := newSimSite(t, alwaysRestart())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	s.watched("mi-1")
	if err := s.sup.update(func(f *state.File) error {
		f.UpArgs = []string{"--instances=1"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := len(written())
	if err := s.sup.Stop(nil, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	writes := written()[before:]
	durable := durableWrites(writes)
	if len(durable) != 1 || (durable[0].state != StateStopping && durable[0].state != StateStopped) || durable[0].upArgs {
		t.Fatalf("when the stop returned: durable writes %+v, want one, mi-1 stopping (or stopped) and the run forgotten; all writes: %+v", durable, writes)
	}
	if err := s.sup.flushVisible(); err != nil {
		t.Fatal(err)
	}
	writes = written()[before:]
	if again := durableWrites(writes); len(again) != 1 {
		t.Errorf("the write of the stop's outcome was fsynced: durable writes %+v", again)
	}
	if last := writes[len(writes)-1]; last.state != StateStopped || last.upArgs {
		t.Errorf("the stop's last write is %+v, want mi-1 stopped, the run forgotten; writes: %+v", last, writes)
	}
}

// A state file found deleted (or corrupt) is written again from the
// supervisor's memory, and durably, even by a write of outcomes alone:
// what it had lost is in that write.
func TestStateWrittenAgainFromMemoryIsDurable(t *testing.T) {
	// Not parallel: it sets the package's write hook (savedState).
	written := recordWrites(t)
	s := newSimSite(t, alwaysRestart())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	if err := s.sup.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.sup.store.Path()); err != nil {
		t.Fatal(err)
	}
	before := len(written())
	queueOutcome(s.sup.persist, "mi-1")
	if err := s.sup.flushVisible(); err != nil {
		t.Fatal(err)
	}
	writes := written()[before:]
	if durable := durableWrites(writes); len(durable) == 0 || durable[len(durable)-1].state != StateReady {
		t.Errorf("state.json, deleted, was written again from memory without fsync: writes %+v", writes)
	}
}

// A stop during a backoff has no stopping record to make durable: its
// record of the instance stopped is, before the stop returns.
func TestStopDuringABackoffIsDurable(t *testing.T) {
	// Not parallel: it sets the package's write hook (savedState).
	written := recordWrites(t)
	policy := DefaultPolicy()
	policy.BackoffBase = time.Hour
	s := newSimSite(t, policy)
	s.setenv("MICTL_SIM_CRASH_AFTER", "100ms")
	s.reload("instances = 1\n")
	// The first restart comes at once, the second after a backoff. (A
	// start may crash before it is found ready on a loaded machine: only
	// the backoffs are waited for.)
	for range 2 {
		s.next("mi-1", StateBackoff)
	}
	before := len(written())
	if err := s.sup.Stop([]string{"mi-1"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if writes := written()[before:]; !slices.Contains(durableWrites(writes), stateWrite{state: StateStopped, durable: true}) {
		t.Fatalf("when the stop returned, no durable write recorded mi-1 stopped; writes: %+v", writes)
	}
}

// A stop of everything that meets an instance another request is still
// stopping writes the others' records as it makes them: waiting for that
// stop to end before writing any would leave, should the daemon be
// killed meanwhile, servers already signalled recorded as wanted.
func TestStopBehindAnotherStopWritesItsRecords(t *testing.T) {
	// Not parallel: it gives the state file 1 s to say mi-2 stopped, a
	// window a CPU loaded by other tests may miss.
	s := newSimSite(t, DefaultPolicy())
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "3s") // mi-1's shutdown only
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "")
	s.reload("instances = 2\n")
	s.next("mi-2", StateReady)
	recorded := func(name string) string {
		t.Helper()
		f, err := s.sup.store.Load()
		if err != nil {
			t.Fatal(err)
		}
		inst, _ := f.Instance(name)
		return inst.State
	}
	first := make(chan error, 1)
	go func() { first <- s.sup.Stop([]string{"mi-1"}, 10*time.Second) }()
	// The first stop's own writes done, none under way or waiting: none
	// of them may carry mi-2's records.
	for deadline := time.Now().Add(siteTimeout); recorded("mi-1") != StateStopping; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("mi-1's stop was not written in %s", siteTimeout)
		}
	}
	if err := s.sup.Flush(); err != nil {
		t.Fatal(err)
	}
	all := make(chan error, 1)
	go func() { all <- s.sup.Stop(nil, 10*time.Second) }()
	s.next("mi-2", StateStopped)
	// Well within mi-1's 3 s shutdown.
	for deadline := time.Now().Add(time.Second); recorded("mi-2") == StateReady; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("mi-2 stopped a second ago, and the state file still says it is %s", StateReady)
		}
	}
	for _, done := range []chan error{first, all} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// A start of an instance whose stop no runner carries out (a killed down
// or daemon left it recorded stopping, and the next daemon finishes the
// stop) waits for that stop to end, then starts a server of its own: it
// took the server being stopped for its own, and the stop's SIGKILL and
// its record "stopped" then ended the run under it (mictl up after a
// killed down said ready, and the instance died at the stop timeout).
func TestStartWaitsForAStopNoRunnerCarriesOut(t *testing.T) {
	// Not parallel: it waits for a child of its own, whose exit the reaper
	// other tests' sites share would take (see sites).
	policy := DefaultPolicy()
	policy.Restart = RestartNever // an exit under the start is no second chance
	s := newSimSite(t, policy)
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	if err := s.sup.Stop([]string{"mi-1"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	s.next("mi-1", StateStopped)
	f, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := f.Instance("mi-1")
	// A server that ignores SIGTERM, in the home, recorded stopping.
	server := exec.Command("sh", "-c", "trap '' TERM; while :; do sleep 0.1; done")
	server.Env = append(os.Environ(), "CARBON_HOME="+rec.Home)
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = server.Wait(); close(exited) }()
	t.Cleanup(func() { _ = syscall.Kill(-server.Process.Pid, syscall.SIGKILL); <-exited })
	id, err := proc.Identify(server.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.sup.update(func(f *state.File) error {
		i, _ := f.Instance("mi-1")
		i.State, i.Server, i.PGID = StateStopping, id, id.PID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.sup.Stop([]string{"mi-1"}, time.Second) }()
	if ev := s.next("mi-1", StateStopping); ev.PID != id.PID {
		t.Fatalf("the stop began with %s; want pid %d", ev, id.PID)
	}
	if err := s.sup.Start([]string{"mi-1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.sup.WaitReady([]string{"mi-1"}, siteTimeout); err != nil {
		t.Fatalf("mi-1 not ready after the start: %v\n%s", err, s.log("mi-1"))
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	running := s.sup.Instances([]string{"mi-1"})["mi-1"]
	if running.Server.PID == id.PID || !running.Server.Alive() {
		t.Fatalf("mi-1 runs %s; want a server of its own start\n%s", running.Server, s.log("mi-1"))
	}
	if err := s.sup.Flush(); err != nil {
		t.Fatal(err)
	}
	if f, err = s.sup.store.Load(); err != nil {
		t.Fatal(err)
	}
	if rec, _ := f.Instance("mi-1"); rec.State != StateReady || rec.Server != running.Server {
		t.Fatalf("the state file records mi-1 %s with %s; want ready with %s\n%s", rec.State, rec.Server, running.Server, s.log("mi-1"))
	}
}
