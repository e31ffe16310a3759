package supervisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/shellword"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/words"
)

var zeroID proc.Identity

// errStopped ends a start that a stop request interrupted.
var errStopped = errors.New("stopped while starting")

type stopRequest struct {
	timeout time.Duration
	asked   time.Time // when: a stop asked for later may hurry this one (see killClock)
	done    chan error
	// intended is called once the stop's first record, which says the
	// instance is no longer wanted, is queued (see Supervisor.Stop).
	intended func()
}

// runner owns one instance: it starts it, waits until it is ready, watches
// it and restarts it by policy, until it is stopped or gives up.
type runner struct {
	s    *Supervisor
	mu   sync.Mutex     // guards inst and watched against the monitor and views
	inst state.Instance // this runner's view; the state file is updated from it
	// watched is the running incarnation while the instance is ready or
	// degraded: the supervisor's monitor checks its health.
	watched *running
	// rechecks ask the monitor to check the watched incarnation now and
	// then as often as after any change, each closed once it has (see
	// healthSoon).
	rechecks []chan struct{}
	// forgotten is set once forget dropped the runner: no check will run
	// for it, so a check asked of it later is answered at once.
	forgotten bool
	stopCh    chan stopRequest
	// stopping is the clock of the stop under way, nil before one: a
	// later stop may bring its SIGKILL forward (see killClock).
	stopping atomic.Pointer[killClock]
	// stopAsked is set once a stop that is not a restart's is asked of
	// the runner: it ends with that stop, so a start waits for it (see
	// Supervisor.awaitStops). A restart's stop is followed by the
	// restart's own start, once it has brought the home up to date: a
	// start slipped in between ran the instance as the restart prepared
	// its record and home again under it.
	stopAsked atomic.Bool
	// successors counts the starts waiting for the stop to end (guarded
	// by s.mu); succeeded is closed once they have started the instance
	// again (see Supervisor.Stop).
	successors int
	succeeded  chan struct{}
	done       chan struct{}
}

func newRunner(s *Supervisor, inst state.Instance) *runner {
	return &runner{s: s, inst: inst, stopCh: make(chan stopRequest, 1), done: make(chan struct{})}
}

// stopUnderWay is the clock of the runner's stop under way, if any.
func (r *runner) stopUnderWay() []*killClock {
	if k := r.stopping.Load(); k != nil {
		return []*killClock{k}
	}
	return nil
}

func (r *runner) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// stop asks the runner to stop the instance (for a restart, restarting)
// and waits until the runner itself has ended, so that a start right
// after it gets a fresh runner. intended is called once (see
// stopRequest), also when the runner ended on its own before taking the
// request. A stop under way already (a restart's, a reload's) is given
// timeout when that is shorter.
func (r *runner) stop(timeout time.Duration, restarting bool, intended func()) error {
	defer intended()
	if !restarting {
		r.stopAsked.Store(true)
	}
	req := stopRequest{timeout: timeout, asked: time.Now(), done: make(chan error, 1), intended: intended}
	// From the request on, also while it waits to be taken (another
	// stop's request is before it).
	quit := make(chan struct{})
	var hurrying sync.WaitGroup
	hurrying.Go(func() { hurryUntil(quit, req.asked, timeout, r.stopUnderWay) })
	defer func() {
		close(quit)
		hurrying.Wait()
	}()
	select {
	case r.stopCh <- req:
	case <-r.done:
		return nil
	}
	<-r.done
	select {
	case err := <-req.done:
		return err
	default:
		return nil // the runner ended on its own before serving the request
	}
}

// record emits ev and makes the change fn to the instance's record. fn
// runs now on the runner's view, and again on the state file at each try
// to write it and at each read while the file is behind (a full disk):
// it must set what was true when recorded, never read the clock.
func (r *runner) record(ev Event, fn func(*state.Instance)) {
	r.change(fn)
	r.s.record(r.inst.Name, ev, fn)
}

// recordOutcome is record for an outcome (see mutation.outcome).
func (r *runner) recordOutcome(ev Event, fn func(*state.Instance)) {
	r.change(fn)
	r.s.recordOutcome(r.inst.Name, ev, fn)
}

// change applies fn to the runner's view of its instance.
func (r *runner) change(fn func(*state.Instance)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&r.inst)
}

func (r *runner) snapshot() state.Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inst
}

// running is one live incarnation of the instance.
type running struct {
	server proc.Identity
	pgid   int
	// script is the start script this supervisor launched, the leader of
	// group pgid; zero for a server adopted from a previous supervisor.
	script proc.Identity
	// scriptDone is closed when the start script has ended.
	scriptDone <-chan struct{}
	logOffset  int64
	// owned are the socket inodes last verified to hold the fixed ports
	// for this incarnation, deadChecks the checks in a row that found
	// /liveness failing, deadSince the first of them, and ending whether
	// mictl has begun to end the server for it (all read and written by
	// the monitor only).
	owned      [ports.NumRoles]uint64
	deadChecks int
	deadSince  time.Time
	ending     bool
	// portsWhy is what the last scan found wrong with the fixed ports
	// ("" when nothing, as the start found them), blindChecks the checks
	// in a row since that failed to scan the host (see unscannedChecks),
	// and unseen is true while portsWhy says nothing of the ports now: a
	// server adopted from the previous supervisor, not checked yet, or
	// one whose last scan went unread, /healthz failing then. The
	// monitor's only, once adopt has set unseen.
	portsWhy    string
	blindChecks int
	unseen      bool
	// closingSince is when the start first found a fixed port held by a
	// listener whose holder is exiting (waitsForClosing), zero when the
	// last look found none. The start's only.
	closingSince time.Time
	// endedWhy is why mictl ended the server itself (its /liveness
	// failed); read once it has exited.
	endedWhy atomic.Pointer[string]
	// killLater is the SIGKILL an ending for /liveness (endUnresponsive)
	// has due after its grace; stopped once the incarnation is no longer
	// watched (watchServer), nil until then.
	killLater atomic.Pointer[time.Timer]
	// sent is the SIGTERM a stop sent ahead of its request (aimEarly).
	sent atomic.Pointer[sigterm]
	// launchedWithoutCApps is true when this supervisor launched the
	// server while its carbonapps/ held no CApp: a server adopted, or
	// launched with one, may run CApps its carbonapps/ no longer holds
	// (MI undeploys a removed .car at its next scan, never with
	// hot_deployment off).
	launchedWithoutCApps bool
	// unbound says, for each port besides the four fixed ones that this
	// incarnation logged it could not bind (see bindFailures), which port
	// and who held it: MI serves on without that listener, degraded.
	// Written while it starts, read by the monitor once it is watched.
	unbound []string
}

func (r *runner) run() {
	defer r.s.wg.Done()
	defer notify(r.s.runnerEnded) // once done: no longer Active
	defer close(r.done)
	// A run of restarts the previous supervisor began goes on: its count,
	// and its instance was ready once (a start failing now is a crash
	// again, not a first start failing).
	restarts := r.inst.RestartsInARow
	everReady := restarts > 0
	cur, adopted := r.adopt()
	// A server adopted in the middle of its start (the previous supervisor
	// ended before it was ready) is waited for as the start would have.
	midStart := adopted && r.inst.State == StateStarting
	adoptedReady := adopted && !midStart
	for {
		if !adopted || midStart {
			var err error
			if midStart {
				cur, err = r.finishAdoptedStart(cur)
				midStart = false
			} else {
				if everReady {
					err = r.restoreHome() // a crash restart
				}
				if err == nil {
					cur, err = r.start()
				}
			}
			if errors.Is(err, errStopped) {
				return
			}
			if err != nil {
				if !everReady || finalFailure(err) {
					// A first start that fails is a configuration or host
					// problem (a port held by another process, a JDK MI
					// refuses): retrying cannot fix it, the user must; so
					// is a restart's final failure.
					e := endingOf(err)
					r.record(Event{State: StateFailed, Message: e.withRemedy(e.why)}, func(i *state.Instance) {
						i.Ended(StateFailed)
						e.setError(i, e.reason, e.why)
					})
					return
				}
				if !r.restartAfter(&restarts, time.Time{}, endingOf(err)) {
					return
				}
				continue
			}
		}
		readyAt := time.Now()
		if adoptedReady && !r.inst.StartedAt.IsZero() {
			readyAt = r.inst.StartedAt // ready since about then, as far as is known
		}
		adoptedReady = false
		adopted = false
		everReady = true
		// MI is asked about the CApps of a server that runs, and only then.
		r.s.watchApps(r.live(cur), cur.launchedWithoutCApps)
		ended, stopped := r.watch(cur)
		r.s.unwatchApps(r.inst.Name)
		if stopped || r.s.ctx.Err() != nil {
			return
		}
		if !r.restartAfter(&restarts, readyAt, ended) {
			return
		}
	}
}

// adopt picks up an instance whose server outlived the previous
// supervisor, checking pid AND start time so a reused pid is never taken
// for the server.
func (r *runner) adopt() (*running, bool) {
	if r.inst.Server.IsZero() || !r.inst.Server.Alive() {
		return nil, false
	}
	done := make(chan struct{})
	script := r.inst.Script
	r.s.wg.Add(1)
	go func() {
		defer r.s.wg.Done()
		if !script.IsZero() && proc.WaitExit(r.s.ctx, script) != nil {
			return // the supervisor is closing: the script did not end
		}
		close(done)
	}()
	r.s.emit(Event{Instance: r.inst.Name, State: r.inst.State, PID: r.inst.Server.PID, Message: "re-adopted after a supervisor restart"})
	// Only what is logged from now on is news: an old BindException in
	// the log is not this run's.
	var offset int64
	if info, err := os.Stat(home.ConsoleLog(r.inst.Home)); err == nil {
		offset = info.Size()
	}
	return &running{server: r.inst.Server, pgid: r.inst.PGID, scriptDone: done, logOffset: offset, unseen: true}, true
}

// ending is why a running instance ended: why in full, reason in a few
// words (see reasonOf).
type ending struct {
	why, reason string
	// remedy is what the user can do about it (a startFailure's), said once
	// the instance is left failed: while it is restarted, the next start
	// may succeed without it. blocker is the stranger it names, if any.
	remedy  string
	blocker *state.Blocker
	// graceful is true when the server shut down cleanly on its own (MI's
	// "Shutdown complete" in this run's log): not a failure.
	graceful bool
}

// endingOf is the ending of a start that failed with err.
func endingOf(err error) ending {
	e := ending{why: err.Error(), reason: reasonOf(err)}
	var sf *startFailure
	if errors.As(err, &sf) {
		e.remedy, e.blocker = sf.remedy, sf.blocker
	}
	return e
}

// withRemedy is s, a message about e, followed by e's remedy if it has one.
func (e ending) withRemedy(s string) string {
	if e.remedy == "" {
		return s
	}
	return s + "; " + e.remedy
}

// setError records e as i's last error, reason and why each followed by
// e's remedy, with the stranger the remedy names (state.Blocker).
func (e ending) setError(i *state.Instance, reason, why string) {
	i.SetError(e.withRemedy(reason), e.withRemedy(why))
	i.Blocker = e.blocker
}

// restartAfter decides, after the instance ended, whether and when to
// start it again. It returns false when the runner should end.
func (r *runner) restartAfter(restarts *int, readyAt time.Time, e ending) bool {
	p := r.s.policy
	why, reason := e.why, e.reason
	if reason == "" {
		reason = why
	}
	if p.Restart == RestartNever || (p.Restart == RestartOnFailure && e.graceful) {
		// A server that shut down on its own is stopped; one that
		// crashed, left alone by the policy, has failed (as systemd
		// leaves a unit with Restart=no): status must not show a crash
		// as a stop.
		left := StateStopped
		if !e.graceful {
			left = StateFailed
		}
		r.record(Event{State: left, Message: e.withRemedy(why + "; restart policy " + p.Restart)}, func(i *state.Instance) {
			i.Ended(left)
			e.setError(i, reason, why+"; restart policy "+p.Restart)
		})
		return false
	}
	if !readyAt.IsZero() && time.Since(readyAt) >= p.StableAfter {
		*restarts = 0
	}
	made := *restarts // in a row, each counted by RESTARTS as it was made
	*restarts++
	if *restarts > p.MaxRestarts {
		// In a row: RESTARTS counts every restart of the run. The count
		// is of those made, not the limit: a daemon taking over a crash
		// loop with a lower --max-restarts than its predecessor's gives
		// up after more than its own limit (see run), and said its limit
		// beside a RESTARTS of all that were made.
		gaveUp := "gave up after " + words.Count(made, "restart") + " in a row"
		switch {
		case made == 0:
			gaveUp = fmt.Sprintf("not restarted (--max-restarts %d)", p.MaxRestarts)
		case made > p.MaxRestarts:
			gaveUp += fmt.Sprintf(" (--max-restarts %d)", p.MaxRestarts)
		}
		msg := e.withRemedy(why + "; " + gaveUp)
		r.record(Event{State: StateFailed, Message: msg}, func(i *state.Instance) {
			i.Ended(StateFailed)
			e.setError(i, gaveUp+": "+reason, why+"; "+gaveUp)
		})
		return false
	}
	delay := p.backoff(*restarts)
	inARow := *restarts
	// RESTARTS counts the restarts made, and this one is made only once
	// the delay is over: it is numbered as RESTARTS will count it.
	nth := r.snapshot().Restarts + 1
	// The few words status shows say when the next start comes, too.
	next := fmt.Sprintf("%s; restart %d at %s", reason, nth, time.Now().Add(delay).Format(time.TimeOnly))
	r.record(Event{State: StateBackoff, Message: fmt.Sprintf("%s; restart %d in %s", why, nth, delay)}, func(i *state.Instance) {
		i.State, i.RestartsInARow = StateBackoff, inARow
		i.ClearProcesses()
		i.SetError(next, why)
	})
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		// The restart is made from now (its home put right, then its
		// start), whatever comes of it: RESTARTS counts it, in the same
		// change as the state that leaves backoff, so a supervisor
		// taking over never counts it again (see startLocked).
		made := func(i *state.Instance) {
			i.State, i.Restarts = StateStarting, i.Restarts+1
			i.SetError("", "")
		}
		r.change(made)
		r.s.persist.add(r.inst.Name, made)
		return true
	case req := <-r.stopCh:
		r.finishStop(req, stopResult{nothing: true}, nil, false) // waiting out a backoff: nothing runs
		return false
	case <-r.s.ctx.Done():
		return false
	}
}

// start launches the script and waits until the instance is ready: the
// fresh pid file names a live server in this start's process group,
// /healthz answers 200, and each fixed port listens and is owned by the
// instance's processes. A BindException or a port held by another process
// fails the start naming the port and its holder: never a false "ready".
func (r *runner) start() (*running, error) {
	withoutCApps := !home.HoldsCApps(r.inst.Home)
	l, err := startScript(r.s.reaper, &r.inst)
	if err != nil {
		return nil, err
	}
	scriptDone := make(chan struct{})
	var scriptStatus syscall.WaitStatus
	r.s.wg.Add(1)
	go func() {
		defer r.s.wg.Done()
		select {
		case scriptStatus = <-l.exited:
			close(scriptDone)
		case <-r.s.ctx.Done():
		}
	}()
	// With its arguments: a state file rebuilt after this server is gone
	// launches it again as it was launched (eventHistory).
	started := strings.Join(append([]string{startedScript}, r.inst.Args...), " ")
	startedAt := time.Now() // not in fn: see record
	r.record(Event{State: StateStarting, PID: l.script.PID, Message: started}, func(i *state.Instance) {
		i.State, i.Script, i.PGID, i.Server, i.StartedAt = StateStarting, l.script, l.pgid, zeroID, startedAt
		i.SetError("", "")
	})
	cur := &running{pgid: l.pgid, script: l.script, scriptDone: scriptDone, logOffset: l.logOffset, launchedWithoutCApps: withoutCApps}
	return r.awaitReady(cur, l, time.Now().Add(r.s.policy.ReadyTimeout), func() string { return describeStatus(scriptStatus) })
}

// finishAdoptedStart waits for a server adopted in the middle of its start
// to turn ready, as start does for the server it launches; the start
// keeps the time it had left (one probe at least, when the previous
// supervisor was gone longer).
func (r *runner) finishAdoptedStart(cur *running) (*running, error) {
	l := &launch{script: r.inst.Script, pgid: r.inst.PGID, logOffset: cur.logOffset}
	deadline := r.inst.StartedAt.Add(r.s.policy.ReadyTimeout)
	if least := time.Now().Add(r.s.policy.StartProbe); deadline.Before(least) {
		deadline = least
	}
	return r.awaitReady(cur, l, deadline, func() string { return "started by the previous supervisor: status unknown" })
}

// awaitReady waits until the starting instance cur (launched as l) is
// ready, or fails its start: the script ended without a server (how, from
// scriptEnd), a BindException or a port held by another process, or
// deadline passed.
func (r *runner) awaitReady(cur *running, l *launch, deadline time.Time, scriptEnd func() string) (*running, error) {
	probe := newProbes(r.s.policy.StartProbe)
	defer probe.stop()
	lastWhy := "no server pid yet"
	bindErrors := &logScan{path: home.ConsoleLog(r.inst.Home), next: l.logOffset}
	scriptWait := cur.scriptDone
	// A found server's exit is seen through its pidfd, not by reading its
	// /proc entry at every probe.
	watchCtx, stopWatching := context.WithCancel(r.s.ctx)
	var serverGone <-chan struct{}
	if cur.server.PID != 0 { // adopted: already found
		serverGone = exitOf(watchCtx, cur.server)
	}
	defer func() {
		stopWatching()
		if serverGone != nil {
			<-serverGone
		}
	}()
	lostServer := 0 // the last server found that exited before it was ready
	for {
		select {
		case <-scriptWait:
			if cur.server.PID != 0 {
				if cur.server.Alive() {
					scriptWait = nil // the script died alone (killed); the server lives on
					continue
				}
				lostServer = cur.server.PID // its exit not seen yet
			}
			r.killGroup(cur)
			// The reason (status's health) says what the error says
			// first: "start script exited" read as another fact than
			// a server that exited before it was ready.
			what := "start script ended without a running server"
			why := fmt.Sprintf("the start script ended (%s) without a running server", scriptEnd())
			if lostServer != 0 {
				what = "server exited before it was ready"
				why = fmt.Sprintf("the server (pid %d) exited before it was ready, and the start script ended (%s)", lostServer, scriptEnd())
			}
			return nil, r.startFailed(what, why, l.logOffset, true)
		case <-serverGone:
			// MI may start another server (exit 121): look for it.
			lostServer, cur.server, serverGone = cur.server.PID, zeroID, nil
			continue
		case req := <-r.stopCh:
			r.serveStop(cur, req)
			return nil, errStopped
		case <-r.s.ctx.Done():
			return nil, errStopped
		case <-probe.c():
		}
		probe.next(cur.server.PID == 0, time.Since(r.inst.StartedAt))
		if time.Now().After(deadline) {
			r.killGroup(cur)
			why := fmt.Sprintf("not ready after %s: %s", r.s.policy.ReadyTimeout, lastWhy)
			return nil, r.startFailed(why, why, l.logOffset, false)
		}
		if cur.server.PID == 0 {
			server, ok := findServer(&r.inst, l)
			if !ok {
				continue
			}
			cur.server, serverGone = server, exitOf(watchCtx, server)
			r.record(Event{State: StateStarting, PID: server.PID, Message: "server process found"}, func(i *state.Instance) {
				i.Server = server
			})
			probe.soon() // its ports follow
		}
		why, fatal, faulty := r.readiness(cur, bindErrors)
		if fatal != nil {
			r.killGroup(cur)
			return nil, fatal
		}
		if why == "" {
			// Started. Faulty CApps, or a port besides the fixed ones
			// not bound, make it degraded, never a failed start: the
			// server serves, without those apps or that listener.
			st, msg := StateReady, "ready in "+since(r.inst.StartedAt)
			var faultyApps string
			if faulty != nil {
				faultyApps = faulty.Error()
			}
			reason := degradedBy(faultyApps, cur.unbound)
			if reason != "" {
				st = StateDegraded
				msg += "; " + reason
			}
			r.record(Event{State: st, PID: cur.server.PID, Message: msg}, func(i *state.Instance) {
				i.State = st
				i.SetError(reason, reason)
			})
			r.s.observeReady(r.inst.Name, time.Since(r.inst.StartedAt))
			return cur, nil
		}
		lastWhy = why
	}
}

// readiness returns "" when a starting instance is ready, else why not,
// or fatal, the error the start fails with. An instance whose /healthz
// says only that CApps are faulty is ready as a server: faulty says
// which. bindErrors looks at this start's log (see bindFailures).
func (r *runner) readiness(cur *running, bindErrors *logScan) (why string, fatal error, faulty *observe.FaultyApps) {
	inst := r.live(cur)
	if err := r.bindFailures(cur, &inst, bindErrors); err != nil {
		return "", err, nil
	}
	// For most of a start the ports do not listen yet: the socket scan
	// shared by every starting instance says so, with no request sent.
	shared, err := r.s.starting.View()
	if err != nil {
		return unscannedHost(err), nil, nil
	}
	for role, inode := range shared.ListeningInodes(&inst) {
		if inode == 0 {
			return notListening(inst.Ports[role], ports.Role(role)) + debuggerHint(inst.Extras), nil, nil
		}
	}
	if err := observe.Healthy(r.s.ctx, &inst); err != nil && !errors.As(err, &faulty) {
		return err.Error(), nil, nil
	}
	// Ready is judged on a look begun after the answer, never on an older
	// one; instances answering together share it.
	view, err := r.s.starting.Since(time.Now())
	if err != nil {
		return unscannedHost(err), nil, nil
	}
	why, held := portsProblem(view.Observe(&inst, false))
	if closing := cur.waitsForClosing(held); held != nil && !closing {
		return "", r.heldPortFailure(why, *held), nil
	}
	return why, nil, faulty
}

// waitsForClosing reports whether a start looks again at held, a fixed
// port another process holds (nil: none, which ends any wait), rather
// than failing on it: no process shows that listener although its owner
// would show (observe.PortStatus.Closing), so its holder is exiting, the
// start's own server as often as not (a crash right after it bound its
// ports failed the start as "held by a process of user root, not by this
// instance"). The start looks again for up to hostnet.ClosingFor, and for
// as long as its own server is exiting (a JVM unmaps its heap before
// the kernel closes its sockets): by then a crash has ended the start as
// the crash it was, and an exiting stranger's port is free.
func (cur *running) waitsForClosing(held *observe.PortStatus) bool {
	if held == nil || !held.Closing {
		cur.closingSince = time.Time{}
		return false
	}
	if cur.closingSince.IsZero() {
		cur.closingSince = time.Now()
	}
	serverExiting := !cur.server.IsZero() && !cur.server.Alive()
	return serverExiting || time.Since(cur.closingSince) < hostnet.ClosingFor
}

// bindFailures reads the BindExceptions the start of cur logged since
// the last look, and returns the error the start fails with, nil when it
// goes on. A BindException about one of the four fixed ports, or naming
// no port while another process holds a fixed one, fails it: MI runs on
// without that listener and is never whole. One about any other port
// (the mediation debugger's, an inbound endpoint's) is added to
// cur.unbound, naming the port and its holder: MI serves on without that
// listener, so the instance is degraded, not killed.
//
// When the host's sockets cannot be scanned, the port a line names still
// says which kind it is; a line naming none is recorded in cur.unbound as
// a port not bound (which the log does not name), and the start's look
// at its fixed ports then finds a fixed one held by another process.
func (r *runner) bindFailures(cur *running, inst *state.Instance, scan *logScan) error {
	var lines []string
	for line, ok := scan.find("BindException"); ok; line, ok = scan.find("BindException") {
		lines = append(lines, strings.TrimSpace(line))
	}
	if len(lines) == 0 {
		return nil
	}
	view, scanErr := r.s.newView()
	var obs observe.Observation
	if scanErr == nil {
		obs = view.Observe(inst, false)
	} else {
		for role, port := range inst.Ports {
			obs.Fixed[role].Port = port // neither listening nor held, as far as is known
		}
	}
	for _, line := range lines {
		for role, port := range inst.Ports {
			if namesPort(line, port) {
				return r.fixedBindFailure(ports.Role(role), obs.Fixed[role], line, scanErr)
			}
		}
	}
	for _, line := range lines {
		if _, named := portIn(line); !named {
			if role, st, ok := obs.Foreign(); ok {
				return r.fixedBindFailure(role, st, line, nil)
			}
		}
	}
	for _, line := range unboundLines(lines, len(cur.unbound) > 0) {
		if why := unboundPort(view, inst, line, scanErr); !slices.Contains(cur.unbound, why) {
			cur.unbound = append(cur.unbound, why)
		}
	}
	return nil
}

// unscanned says that which process holds a port is unknown, the host's
// sockets having failed to scan with err.
func unscanned(err error) string {
	return fmt.Sprintf("which process holds it is unknown: the host's sockets could not be scanned (%v)", err)
}

// unscannedHost is why a start is not ready, and a running instance is
// degraded, while the host's sockets fail to scan with err: only a scan
// shows that the instance holds its ports.
func unscannedHost(err error) string {
	return fmt.Sprintf("the host's sockets could not be scanned (%v), so whether the instance holds its ports is unknown", err)
}

// unboundLines are the lines of lines, BindExceptions about none of the
// fixed ports, that each tell of a port not bound: every line naming a
// port, and the first naming none when no line names one and no reason is
// known yet (known). A stack trace repeats its exception in lines naming
// no port ("Caused by: java.net.BindException: ..."), and a reason for a
// line naming none already names every planned extra port a stranger
// holds: more such lines only said the same failure twice.
func unboundLines(lines []string, known bool) []string {
	var named []string
	for _, line := range lines {
		if _, ok := portIn(line); ok {
			named = append(named, line)
		}
	}
	if len(named) > 0 || known || len(lines) == 0 {
		return named
	}
	return lines[:1]
}

// fixedBindFailure is the error a start fails with whose server logged
// line, a BindException about its fixed port st (of role); scanErr is why
// the host's sockets could not be scanned to find st's holder, nil when
// they were.
func (r *runner) fixedBindFailure(role ports.Role, st observe.PortStatus, line string, scanErr error) error {
	if st.Listening && !st.Owned {
		return r.heldPortFailure(heldByAnother(role.String(), st)+" ("+line+")", st)
	}
	if scanErr != nil {
		return fmt.Errorf("the server could not bind its %s (%s); %s", ports.Spell(role.String(), st.Port), line, unscanned(scanErr))
	}
	return fmt.Errorf("the server could not bind its %s (%s)", ports.Spell(role.String(), st.Port), line)
}

// heldPortFailure is a start that failed, as why says, on the instance's
// fixed port st, which another process holds. Restarts cannot free it:
// the failure says what can, for status to show once the instance is
// left failed.
func (r *runner) heldPortFailure(why string, st observe.PortStatus) error {
	up := r.s.upCommand(r.inst.Name)
	f := &startFailure{reason: why, detail: why, remedy: heldPortRemedy(r.s.advised(), r.inst.Name, up, st, false)}
	if st.HolderInstance == "" && st.HolderPID > 0 {
		// Its start time tells the stranger from a later process given
		// its pid, for status to judge the advice by.
		if holder, err := proc.Identify(st.HolderPID); err == nil {
			again, around := upAgain(up, r.inst.Name)
			f.blocker = &state.Blocker{Port: st.Port, Holder: holder, Again: again, Around: around}
		}
	}
	return f
}

// upAgain says what up (the mictl up that plans name) does about a
// fixed port of name that a stranger holds: start name again once the
// port is free, or plan it around the port.
func upAgain(up, name string) (again, around string) {
	return up + " starts " + name + " again", check.UpPlansAround(up, name)
}

// heldPortRemedy is what frees or moves name's fixed port st, which
// another process holds: stopping a stranger holding it, or letting
// up (the mictl up that plans name: UpCommand, as pasted for the
// deployment: AsRunFor) plan the instance elsewhere. A process in one of the deployment's homes is no stranger
// to stop (mictl would start its instance again): up plans around its
// ports. running says that name's server runs on without the port (its
// listener lost, a stranger on the port since): MI binds its ports only
// as it starts, so a restart binds the freed port again, and up leaves a
// running instance's offset alone, so it plans the instance around the
// port only once it is down.
func heldPortRemedy(as Advised, name, up string, st observe.PortStatus, running bool) string {
	again, around := upAgain(up, name)
	if running {
		again, around = restartBindsAgain(as, name), as.AsRun("mictl down "+name)+", then "+around
	}
	switch {
	case st.HolderInstance != "":
		return around
	case st.HolderPID > 0:
		return state.Blocker{Port: st.Port, Holder: proc.Identity{PID: st.HolderPID}, Again: again, Around: around}.Remedy()
	default: // the owner cannot be seen (another user's process)
		return fmt.Sprintf("stop what holds port %d to free it, then %s; or %s", st.Port, again, around)
	}
}

// PlannedByLastUp reports whether the planning flags of the last mictl up
// (f's) planned the named instance: an up that asked for fewer did not,
// and its flags do not start it.
func PlannedByLastUp(f *state.File, name string) bool {
	return len(f.UpArgs) > 0 && slices.Contains(f.Configured, name)
}

// UpCommand is the mictl up that starts the named instance of f again: a
// plain one when the configuration file alone names it (named), else the
// last up's, whose planning flags planned it. After `mictl up --instances
// 10` over a mictl.toml that says 1, a plain up leaves a failed mi-3 as it
// is, where the advice to run it had promised mi-3 started again. When
// neither plans it (an instance left running beyond a later, smaller
// plan), no up starts it until one names it, which is what it says.
func UpCommand(f *state.File, name string, named bool) string {
	switch {
	case named:
		return "mictl up"
	case PlannedByLastUp(f, name):
		return LastUp(f)
	}
	return "mictl up, once mictl.toml or its flags name " + name + ","
}

// LastUp is the last mictl up as f records it: with its planning flags,
// which a plain up (mictl.toml alone) does not repeat, each quoted as a
// shell reads it back (--mi-home=/opt/my mi unquoted pastes as two words).
func LastUp(f *state.File) string {
	return strings.TrimSpace("mictl up " + shellword.Join(f.UpArgs))
}

// upCommand is UpCommand for the named instance, from the state as this
// supervisor knows it and the configuration file it follows, named as
// its advice pastes it (asRun). One that
// follows none (up --foreground) cannot tell whether the file names it:
// the last up's flags when they planned it, else a plain up.
//
// It is remembered until an up or a reload may change it (see
// upCommands): a running instance degraded by a port a stranger holds
// names it in its remedy at every health check, and each time read and
// decoded the state file, and mictl.toml too, for the same answer.
func (s *Supervisor) upCommand(name string) string {
	if up, ok := s.ups.get(name); ok {
		return up
	}
	gen := s.ups.generation()
	f, err := s.current()
	if err != nil {
		return s.asRun("mictl up") // not remembered: the next read may succeed
	}
	up := "mictl up"
	if s.named != nil || PlannedByLastUp(f, name) {
		up = UpCommand(f, name, s.named != nil && s.named(name))
	}
	up = s.asRun(up)
	s.ups.put(gen, name, up)
	return up
}

// upCommands remembers upCommand's answers, and how advice names the
// deployment (advisedFor). What they are made of, the last up's flags and
// the instances it or a reload planned (the state file) and what
// mictl.toml says (whether it names an instance, where it puts the
// instances), changes only as an up runs (which then asks the supervisor
// to start its instances: Start) or a reload of any kind plans from
// mictl.toml (Supervisor.reload): each forgets them.
type upCommands struct {
	mu sync.Mutex
	// gen counts the forgets: an answer read before one is not kept.
	gen    uint64
	byName map[string]string
	// as is how advice names the deployment (advisedFor), read from
	// mictl.toml as the up commands are; nil until first asked.
	as *Advised
}

// advisedFor is how advice names the deployment of a daemon run with
// args (see advisedFor), remembered until the next forget.
func (u *upCommands) advisedFor(args []string) Advised {
	u.mu.Lock()
	as, gen := u.as, u.gen
	u.mu.Unlock()
	if as != nil {
		return *as
	}
	a := advisedFor(args)
	u.mu.Lock()
	defer u.mu.Unlock()
	if gen == u.gen {
		u.as = &a
	}
	return a
}

func (u *upCommands) get(name string) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	up, ok := u.byName[name]
	return up, ok
}

func (u *upCommands) generation() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gen
}

// put keeps name's answer read since forget number gen, unless another
// forget came meanwhile: it may have been read from the file as it was
// before that up or reload.
func (u *upCommands) put(gen uint64, name, up string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if gen != u.gen {
		return
	}
	if u.byName == nil {
		u.byName = map[string]string{}
	}
	u.byName[name] = up
}

// forget drops every answer: an up or a reload may have changed them.
func (u *upCommands) forget() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gen++
	u.byName, u.as = nil, nil
}

// restartBindsAgain is what binds again a fixed port that name's running
// server lost, once the port is free: MI binds its ports only as it
// starts. as names the deployment the advice is for (see AsRunFor).
func restartBindsAgain(as Advised, name string) string {
	return as.AsRun("mictl restart "+name) + " binds it again"
}

// unboundPort says which port line, a BindException about none of inst's
// fixed ports, is about and who holds it, as view shows; view is nil when
// the host's sockets could not be scanned, scanErr saying why. A line
// naming no port (MI's mediation debugger names none) is put down to the
// planned extra ports another process holds, if any.
func unboundPort(view *observe.View, inst *state.Instance, line string, scanErr error) string {
	port, named := portIn(line)
	if scanErr != nil {
		if !named {
			return fmt.Sprintf("a port not bound (the log does not say which; %s), MI serves without it: %s", unscanned(scanErr), line)
		}
		return fmt.Sprintf("port %d not bound (%s), MI serves without it: %s", port, unscanned(scanErr), line)
	}
	if !named {
		var held []string
		for i, st := range view.Observe(inst, true).Extras {
			if st.Listening && !st.Owned {
				held = append(held, fmt.Sprintf("%s (held by %s)", ports.Spell(inst.Extras[i].Role, st.Port), st.Holder))
			}
		}
		if len(held) == 0 {
			return "a port not bound (none of the four fixed ones; the log does not say which), MI serves without it: " + line
		}
		return fmt.Sprintf("%s not bound, MI serves without it: %s", strings.Join(held, " or "), line)
	}
	holder := "nothing holds it now"
	if st := view.Holder(inst, port); st.Listening && st.Owned {
		holder = "held by the instance itself"
	} else if st.Listening {
		holder = "held by " + st.Holder
	}
	return fmt.Sprintf("port %d not bound (%s), MI serves without it: %s", port, holder, line)
}

// degradedBy joins what makes a running instance degraded, "" when
// nothing: first why its health fails, then the rest (the ports it could
// not bind, its ports left unchecked).
func degradedBy(health string, unbound []string) string {
	return strings.Join(slices.DeleteFunc(slices.Concat([]string{health}, unbound), func(s string) bool { return s == "" }), "; ")
}

// livenessFailures is how many health checks in a row must find
// /liveness failing, over at least the policy's LivenessWindow, before
// the server is ended (and restarted by policy): one slow answer is not a
// dead server, and neither is a JVM paused for seconds.
const livenessFailures = 3

// health says what is wrong with a running instance, "" when nothing,
// from healthz (its answer to /healthz; nil when this check did not ask,
// the last answer having said ready, see asksHealthz) and view, the look
// at the host's sockets (nil when it failed with scanErr).
func (r *runner) health(cur *running, view *observe.View, scanErr error, prober *observe.Prober, healthz *observe.Answer) string {
	return degradedBy(r.serverHealth(cur, view, scanErr, prober, healthz), cur.unbound)
}

// unscannedChecks is how many health checks in a row must fail to scan
// the host's sockets before a running instance is degraded for it. A
// failed scan is mictl's own look failing (netlink and /proc/net both:
// out of file descriptors for a moment, say), not the instance's: one
// showed it degraded, then ready at the next check, two events for
// nothing. The check after a first failure comes as soon as after a
// change (see runChecks), so a host that stays unscannable is said
// within a second, and a port lost meanwhile is seen as soon as a scan
// succeeds.
const unscannedChecks = 3

// serverHealth is health but for the ports besides the fixed ones that
// the server could not bind when it started: what the monitor's checks
// can see change.
func (r *runner) serverHealth(cur *running, view *observe.View, scanErr error, prober *observe.Prober, healthz *observe.Answer) string {
	var why string
	if healthz != nil {
		why = r.healthzProblem(cur, prober, *healthz)
	}
	if scanErr != nil {
		cur.blindChecks++
		// Unseen ports are said unknown once nothing else is wrong: while
		// /healthz fails, that is the news, and one failed scan then
		// changed it twice (a flap, for any instance with a faulty CApp).
		if cur.blindChecks >= unscannedChecks || cur.unseen && why == "" {
			// Only a scan shows that the instance still holds its ports:
			// from now on it is degraded for as long as none succeeds, as
			// a start is not ready.
			return degradedBy(why, []string{unscannedHost(scanErr)})
		}
		// The ports as the last scan found them, until a scan succeeds
		// or fails unscannedChecks times in a row.
		return cmp.Or(why, cur.portsWhy)
	}
	cur.blindChecks = 0
	if why != "" {
		// The ports are not looked at: a failed scan next must not
		// show them as an older scan found them (a port lost since,
		// /healthz well again then, read ready).
		cur.unseen = true
		return why
	}
	cur.portsWhy, cur.unseen = r.portsHealth(cur, view), false
	return cur.portsWhy
}

// portsHealth says what is wrong with the fixed ports of a running
// instance, as view shows them, "" when it holds them all.
func (r *runner) portsHealth(cur *running, view *observe.View) string {
	inst := r.live(cur)
	// The sockets on the fixed ports are the very ones found to be the
	// instance's last time (same inodes): ownership cannot have changed,
	// and reading the server's /proc/<pid>/fd can be skipped. Watching
	// twenty instances then costs one socket scan.
	listening := view.ListeningInodes(&inst)
	if listening == cur.owned && listening != ([ports.NumRoles]uint64{}) {
		return ""
	}
	why, held := portsProblem(view.Observe(&inst, false))
	if held != nil {
		// The server lost the port and a stranger took it: no check
		// mends that, so the instance stays degraded until the user acts.
		return why + "; " + heldPortRemedy(r.s.advised(), inst.Name, r.s.upCommand(inst.Name), *held, true)
	}
	if why == "" {
		cur.owned = listening
	} else {
		// The server lost the port's listener, nothing holding the port
		// since: MI binds its ports only as it starts.
		why += "; " + restartBindsAgain(r.s.advised(), inst.Name)
	}
	return why
}

// healthzProblem says what the answer healthz to /healthz finds wrong,
// "" when it says ready. /healthz failing makes the instance degraded;
// only /liveness failing too (asked through prober), at every check for
// the policy's LivenessWindow and at least livenessFailures checks in a
// row, ends the server: MI answers /healthz 500 for as long as a CApp is
// faulty, and that is no reason to restart.
func (r *runner) healthzProblem(cur *running, prober *observe.Prober, healthz observe.Answer) string {
	err := healthz.Health()
	if err == nil {
		cur.deadChecks = 0
		return ""
	}
	var faulty *observe.FaultyApps
	if errors.As(err, &faulty) {
		cur.deadChecks = 0
		return err.Error()
	}
	if aerr := prober.Get(observe.LivenessPath).Liveness(); aerr != nil {
		now := time.Now()
		if cur.deadChecks == 0 {
			cur.deadSince = now
		}
		cur.deadChecks++
		failing := now.Sub(cur.deadSince)
		if !cur.ending && cur.deadChecks >= livenessFailures && failing >= r.s.policy.LivenessWindow {
			cur.ending = true // once, not at every later check
			r.endUnresponsive(cur, fmt.Sprintf("%v, at every check for %s (%d checks in a row)", aerr, round(failing), cur.deadChecks))
		}
		return fmt.Sprintf("%v; %v", err, aerr)
	}
	cur.deadChecks = 0
	return err.Error()
}

// portsProblem explains the first fixed port that is not the instance's:
// held by another process (fatal while starting: held is its status), or
// not listening yet.
func portsProblem(obs observe.Observation) (why string, held *observe.PortStatus) {
	if role, st, ok := obs.Foreign(); ok {
		return heldByAnother(role.String(), st), &st
	}
	for i, st := range obs.Fixed {
		if !st.Listening {
			return notListening(st.Port, ports.Role(i)), nil
		}
	}
	return "", nil
}

// heldByAnother says that the instance's port st (of role: a fixed
// port's, or an extra's) is held by another process.
func heldByAnother(role string, st observe.PortStatus) string {
	return fmt.Sprintf("%s is held by %s, not by this instance", ports.Spell(role, st.Port), st.Holder)
}

// debuggerHint explains a starting instance's fixed port not listening
// with MI's mediation debugger on (a debugger port among extras): MI
// opens no listener until a debugger has connected to both its ports, or
// it has waited 60 s on each (docs/mi-facts.md), so its ports "not
// listening" say nothing of what holds it.
func debuggerHint(extras []state.Extra) string {
	var debugger []string
	for _, e := range extras {
		if e.Role == ports.RoleDebugger {
			debugger = append(debugger, strconv.Itoa(e.Port))
		}
	}
	if len(debugger) == 0 {
		return ""
	}
	return fmt.Sprintf(" (-Desb.debug=true: MI opens no listener until a mediation debugger connects to ports %s, or it has waited 60s on each; connect the debugger, or give the start more time with --timeout)", strings.Join(debugger, " and "))
}

// notListening says that the instance's fixed port (of role) does not
// listen, naming the port as heldByAnother and the ports table do
// ("http port 8290"): one port spelled two ways in status read as two.
func notListening(port int, role ports.Role) string {
	return ports.Spell(role.String(), port) + " is not listening"
}

// live is the runner's record with the processes of cur.
func (r *runner) live(cur *running) state.Instance {
	inst := r.snapshot()
	inst.PGID, inst.Server = cur.pgid, cur.server
	return inst
}

// watch follows a ready instance until its server exits (how it ended is
// returned) or a stop request is served (stopped is true). Exits are seen
// at once through a pidfd; the supervisor's monitor checks health and
// ports meanwhile.
func (r *runner) watch(cur *running) (e ending, stopped bool) {
	for {
		ctx, cancel := context.WithCancel(r.s.ctx)
		exited := exitOf(ctx, cur.server)
		e, stopped, next := r.watchServer(cur, exited)
		cancel()
		<-exited
		if next == nil {
			return e, stopped
		}
		// MI restarted itself (exit 121: new pid, same script). The new
		// server starts as any does (a JVM takes seconds), and is watched
		// once ready: checked at once, its /liveness refused while it
		// booted, and mictl killed it. Not yet named by its pid file, it
		// is found as a start finds its server, by the same deadline.
		cur = cur.successor(*next)
		l := &launch{script: r.inst.Script, pgid: cur.pgid, logOffset: cur.logOffset}
		restarted := func() string { return "after its server restarted itself" }
		if _, err := r.awaitReady(cur, l, time.Now().Add(r.s.policy.ReadyTimeout), restarted); err != nil {
			if errors.Is(err, errStopped) {
				return ending{}, true
			}
			return endingOf(err), false
		}
	}
}

// successor is the incarnation of server, which MI's script started after
// cur's server exited 121: the same script and group, its log read from
// where the restart began, and nothing the monitor learnt of the old
// server (the sockets it owned, its failed /liveness checks: two of them
// before the exit got the new server killed at its first).
func (cur *running) successor(server proc.Identity) *running {
	return &running{server: server, pgid: cur.pgid, script: cur.script, scriptDone: cur.scriptDone,
		logOffset: cur.logOffset, launchedWithoutCApps: cur.launchedWithoutCApps}
}

// exitOf returns a channel closed once id has exited, or ctx is done.
func exitOf(ctx context.Context, id proc.Identity) <-chan struct{} {
	exited := make(chan struct{})
	go func() {
		_ = proc.WaitExit(ctx, id)
		close(exited)
	}()
	return exited
}

func (r *runner) watchServer(cur *running, exited <-chan struct{}) (ending, bool, *proc.Identity) {
	// The monitor judges the instance only while nothing else happens to
	// it: a stop or an exit must never be overwritten by a late "degraded".
	r.setWatched(cur)
	defer func() {
		if t := cur.killLater.Load(); t != nil {
			t.Stop()
		}
	}()
	select {
	case <-exited:
		r.setWatched(nil)
		if r.s.ctx.Err() != nil {
			return ending{}, true, nil // the supervisor closes: the exit is not ours to handle
		}
		if cur.sent.Load() != nil {
			// A stop signalled it, and its request is on its way: the
			// exit is that stop's, never a crash to restart.
			select {
			case req := <-r.stopCh:
				r.serveStop(cur, req)
			case <-r.s.ctx.Done():
			}
			return ending{}, true, nil
		}
		return r.afterExit(cur)
	case req := <-r.stopCh:
		r.setWatched(nil)
		r.serveStop(cur, req)
		return ending{}, true, nil
	case <-r.s.ctx.Done():
		r.setWatched(nil)
		return ending{}, true, nil
	}
}

// setWatched publishes the incarnation the supervisor's monitor checks.
func (r *runner) setWatched(cur *running) {
	r.mu.Lock()
	r.watched = cur
	r.mu.Unlock()
	notify(r.s.watchKick) // a check to begin, or one to forget
}

// afterExit tells MI's own restart (the script starts a new server: exit
// 121) from the end of the instance (the script ends). The new server it
// returns is zero while its pid file does not name it yet.
func (r *runner) afterExit(cur *running) (ending, bool, *proc.Identity) {
	old := cur.server
	ticker := time.NewTicker(r.s.policy.StartProbe)
	defer ticker.Stop()
	for {
		select {
		case <-cur.scriptDone:
			if r.s.ctx.Err() != nil {
				return ending{}, true, nil
			}
			r.killGroup(cur)
			e := ending{why: fmt.Sprintf("server pid %d exited", old.PID)}
			if why := cur.endedWhy.Load(); why != nil {
				e.why = *why
			}
			since := &logScan{path: home.ConsoleLog(r.inst.Home), next: cur.logOffset}
			graceful, lastError := since.endOfRun()
			if graceful && cur.endedWhy.Load() == nil {
				// A server mictl ended for its /liveness may shut down
				// gracefully on its SIGTERM: that is still no end of its own.
				e = ending{why: fmt.Sprintf("server pid %d shut down gracefully", old.PID), graceful: true}
			} else if lastError != "" && cur.endedWhy.Load() == nil {
				// In full; the few words (status's HEALTH) stay short.
				e.reason = e.why
				e.why += "; its log's last error: " + lastError
			}
			if !e.graceful { // a graceful end is recorded by the restart decision
				r.record(Event{State: StateCrashed, PID: old.PID, Message: e.why}, func(i *state.Instance) {
					i.State = StateCrashed
					i.ClearProcesses()
					i.SetError(cmp.Or(e.reason, e.why), e.why)
				})
			}
			return e, false, nil
		case req := <-r.stopCh:
			r.serveStop(cur, req)
			return ending{}, true, nil
		case <-r.s.ctx.Done():
			return ending{}, true, nil
		case <-ticker.C:
			next, found := findServer(&r.inst, &launch{pgid: cur.pgid})
			found = found && next != old
			// The new JVM writes its pid file a second or more after it
			// starts: from its start the instance is starting, never
			// ready with a dead server, and the start's deadline holds
			// (see watch).
			if !found && !startedSince(cur.pgid, old) {
				continue
			}
			// Only what the new server logs is news about it: the old
			// one's "Shutdown complete" must not make a later crash look
			// graceful.
			if info, err := os.Stat(home.ConsoleLog(r.inst.Home)); err == nil {
				cur.logOffset = info.Size()
			}
			msg := fmt.Sprintf("server restarted itself (pid %d -> %d)", old.PID, next.PID)
			if !found {
				next = zeroID
				msg = fmt.Sprintf("server restarted itself (pid %d -> one its pid file does not name yet)", old.PID)
			}
			startedAt := time.Now() // not in fn: see record
			r.record(Event{State: StateStarting, PID: next.PID, Message: msg}, func(i *state.Instance) {
				i.Server, i.State, i.StartedAt = next, StateStarting, startedAt
			})
			return ending{}, false, &next
		}
	}
}

// startedSince reports whether group pgid holds a process started after
// old, its server, which has exited: MI's script starts java again only
// when it exited 121 (MI restarting itself), and its other processes (the
// diagnostics companion, the script itself) started before the server.
func startedSince(pgid int, old proc.Identity) bool {
	all, err := proc.List()
	if err != nil {
		return false // the pid file, once written, still names the new server
	}
	return slices.ContainsFunc(all, func(st proc.Stat) bool {
		return st.PGID == pgid && !st.Exited() && st.StartTime > old.StartTime
	})
}

// endUnresponsive ends the server of cur, which no longer answers
// /liveness: its exit then goes the way of a crash (restart by policy).
// It is stopped as a stop does it (SIGTERM to the server and its group,
// SIGKILL to both after the policy's StopTimeout): MI's shutdown may still
// deliver what it has in flight. A server stopped (state T: SIGSTOP, a
// debugger) is SIGKILLed at once, SIGTERM being unable to act on it.
//
// The checks took seconds, and a server that fails /liveness is often
// already exiting: it is signalled only while still the watched
// incarnation, and through proc.Signal, which never hits a pid reused
// since; a stop asked for meanwhile takes over (it is no longer watched)
// with its own timeout.
func (r *runner) endUnresponsive(cur *running, why string) {
	if !r.stillWatched(cur) {
		return // it exited, or is being stopped, meanwhile
	}
	if !cur.server.Alive() {
		return // gone already: its exit says why
	}
	if st, err := proc.ReadStat(cur.server.PID); err == nil && (st.State == 'T' || st.State == 't') {
		msg := fmt.Sprintf("server pid %d ended by mictl (SIGKILL: stopped, state %c, where SIGTERM cannot act): %s", cur.server.PID, st.State, why)
		cur.endedWhy.Store(&msg) // before the kill: its exit reads it
		r.s.emit(Event{Instance: r.inst.Name, State: StateDegraded, PID: cur.server.PID, Message: msg})
		_ = proc.Signal(cur.server, syscall.SIGKILL)
		return
	}
	grace := r.s.policy.StopTimeout
	msg := fmt.Sprintf("server pid %d ended by mictl (SIGTERM; SIGKILL after %s): %s", cur.server.PID, grace, why)
	cur.endedWhy.Store(&msg) // before the signal: its exit reads it
	r.s.emit(Event{Instance: r.inst.Name, State: StateDegraded, PID: cur.server.PID, Message: msg})
	t := r.aim(cur)
	t.send()
	// One timer, for this ending only, stopped once the incarnation is no
	// longer watched: once the server has exited its runner ends the group
	// (afterExit); once a stop has taken over, the stop's clock does.
	cur.killLater.Store(time.AfterFunc(grace, func() {
		if !r.stillWatched(cur) {
			return
		}
		r.s.emit(Event{Instance: r.inst.Name, State: StateDegraded, PID: cur.server.PID,
			Message: fmt.Sprintf("server pid %d did not exit within %s after SIGTERM: SIGKILL", cur.server.PID, grace)})
		_ = proc.Signal(cur.server, syscall.SIGKILL)
		if t.owned && groupOfHome(cur.pgid, r.inst.Home, cur.server) {
			_ = proc.SignalGroup(cur.pgid, syscall.SIGKILL)
		}
	}))
}

// stillWatched reports whether cur is still the incarnation the monitor
// watches: it has not exited, and no stop has taken it.
func (r *runner) stillWatched(cur *running) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watched == cur
}

// checkHealth moves the watched incarnation cur between ready and
// degraded (see health) and reports whether its state or the reason
// changed.
func (r *runner) checkHealth(cur *running, view *observe.View, scanErr error, prober *observe.Prober, healthz *observe.Answer) bool {
	why := r.health(cur, view, scanErr, prober, healthz)
	next := StateReady
	if why != "" {
		next = StateDegraded
	}
	// Record under the runner's lock, and only if the runner still
	// watches the same incarnation: it may have begun a stop meanwhile.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watched != cur || (next == r.inst.State && why == r.inst.LastError) {
		return false
	}
	fn := func(i *state.Instance) { i.State = next; i.SetError(why, why) }
	fn(&r.inst)
	r.s.record(r.inst.Name, Event{State: next, PID: cur.server.PID, Message: why}, fn)
	return true
}

// serveStop stops the incarnation cur for req (the signals went out
// already, see aimEarly, or go out at once), records how the stop ended
// and answers req.
func (r *runner) serveStop(cur *running, req stopRequest) {
	clock := newKillClock(req.timeout, req.asked)
	r.stopping.Store(clock)
	res, err := r.s.stopInstance(r.inst.Name, cur.server, cur.pgid, r.inst.Home, clock, cur.sent.Load(), req.intended)
	r.finishStop(req, res, err, true)
}

// finishStop records how a stop ended and answers its request. After a
// record of the instance stopping (afterStopping) it is the stop's
// outcome (see mutation.outcome); without one (nothing ran) it is the
// record that the instance is no longer wanted, the stop's intent.
func (r *runner) finishStop(req stopRequest, res stopResult, err error, afterStopping bool) {
	removeStalePIDFile(r.inst.Home)
	if afterStopping {
		r.recordOutcome(stoppedEvent(res, err), endStopped)
	} else {
		r.record(stoppedEvent(res, err), endStopped)
		req.intended()
	}
	req.done <- err
}

// stoppedEvent says how a stop ended.
func stoppedEvent(res stopResult, err error) Event {
	msg := res.String()
	if err != nil {
		msg = err.Error()
	}
	return Event{State: StateStopped, Message: msg}
}

// endStopped records the end of a run by a stop.
func endStopped(i *state.Instance) {
	i.Ended(StateStopped)
	i.SetError("", "")
}

// endFailedRun records a failed instance stopped on request: its last
// error stays (status NAME shows it), without the short reason that
// would read as the health of something stopped.
func endFailedRun(i *state.Instance) {
	i.Ended(StateStopped)
	i.Reason = ""
}

// aimEarly aims the watched incarnation's SIGTERM ahead of the stop
// request that follows (see Supervisor.Stop, which sends it), and takes
// it from the monitor: a server on its way out is not degraded. It
// returns nil when nothing is watched: an instance that is starting,
// backing off or exiting is signalled when its runner takes the request.
func (r *runner) aimEarly() *sigterm {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.watched
	if cur == nil {
		return nil
	}
	r.watched = nil
	notify(r.s.watchKick) // the monitor forgets its check
	t := r.aim(cur)
	cur.sent.Store(t)
	return t
}

// aim aims a SIGTERM at cur's server and group: known to be the launch's
// own group without a look at /proc while its leader is not reaped, else
// looked at (aimSIGTERM). Once the supervisor closes, scriptDone is not
// closed any more: the group is looked at.
func (r *runner) aim(cur *running) *sigterm {
	if r.s.ctx.Err() == nil && cur.launchedGroupLives() {
		return aimAtLaunchedGroup(cur.server, cur.pgid, cur.script)
	}
	return aimSIGTERM(cur.server, cur.pgid, r.inst.Home)
}

// launchedGroupLives reports whether cur's process group is still the one
// this supervisor's launch made, known without reading /proc: its leader
// is the start script, a child of this process not yet seen reaped, and
// the kernel gives no other group that number until the leader is reaped
// and the group is empty (the moment between a reap and scriptDone is
// the same race as any look taken before a signal). A stop of twenty
// spent 2-3 ms looking at each group the way a group read back from the
// state file must be looked at (aimSIGTERM), before the first SIGTERM.
// An adopted server's group is looked at that way.
func (cur *running) launchedGroupLives() bool {
	if cur.script.IsZero() {
		return false
	}
	select {
	case <-cur.scriptDone:
		return false
	default:
		return true
	}
}

// killGroup removes what is left of an ended start (the diagnostics
// companion the script's trap may have missed).
func (r *runner) killGroup(cur *running) {
	// Usually nothing is left (the script's trap ended the companion):
	// one kill(-pgid, 0) says so, where GroupOf walks /proc once the
	// server it would look at first is gone.
	if proc.GroupEmpty(cur.pgid) {
		return
	}
	if proc.GroupOf(cur.pgid, r.inst.Home, cur.server) {
		_ = proc.SignalGroup(cur.pgid, syscall.SIGKILL)
	}
}

// startFailed is a failed start: what happened (detail) followed by the
// last lines the start printed from logOffset on. Its reason is what
// (short) followed by the last of those lines when the start ended
// (ended): MI's script prints its one [ERROR] line and exits. A port of
// the instance those lines say is in use is said instead, with its
// holder (see portInUse).
func (r *runner) startFailed(what, detail string, logOffset int64, ended bool) error {
	lines := tailLines(home.ConsoleLog(r.inst.Home), logOffset, 10)
	f := &startFailure{reason: what, detail: detail}
	if len(lines) > 0 {
		if ended {
			last := strings.TrimSpace(lines[len(lines)-1])
			if inUse := r.portInUse(lines); inUse != "" {
				last = inUse
				f.detail += ": " + inUse
			}
			f.reason += ": " + last
		}
		f.detail += "; last output:\n    " + strings.Join(lines, "\n    ")
	}
	return f
}

// portInUse says which of the instance's ports (fixed or extra) lines
// say is in use and who holds it, as a fixed port held by another
// process is said; "" when they name none of them. Without it a start
// that ended on a pinned JMX port held by another product said only
// "java.net.BindException: Address already in use".
func (r *runner) portInUse(lines []string) string {
	for _, line := range lines {
		m := inUseLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		port, _ := strconv.Atoi(m[1])
		role := ""
		for i, p := range r.inst.Ports {
			if p == port {
				role = ports.Role(i).String()
			}
		}
		for _, e := range r.inst.Extras {
			if e.Port == port {
				role = e.Role
			}
		}
		if role == "" {
			continue
		}
		view, err := r.s.newView()
		if err != nil {
			return fmt.Sprintf("%s is in use; %s", ports.Spell(role, port), unscanned(err))
		}
		st := view.Holder(&r.inst, port)
		if !st.Listening {
			return ports.Spell(role, port) + " was in use; nothing holds it now"
		}
		return heldByAnother(role, st)
	}
	return ""
}

// startFailure is a start that failed: its reason in a few words (the
// HEALTH column of mictl status), and the whole of it; final when no
// restart can succeed until the user acts; remedy, when known, what the
// user can do about it, and blocker the stranger that remedy says to
// stop.
type startFailure struct {
	reason, detail, remedy string
	final                  bool
	blocker                *state.Blocker
}

func (e *startFailure) Error() string { return e.detail }

// finalFailure reports whether err is a start failure no restart can
// mend: restarting N times would only bury its reason.
func finalFailure(err error) bool {
	var sf *startFailure
	return errors.As(err, &sf) && sf.final
}

// reasonOf is err in a few words: a startFailure's reason, else the
// first line of err.
func reasonOf(err error) string {
	var sf *startFailure
	if errors.As(err, &sf) {
		return sf.reason
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

func describeStatus(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return "killed by " + ws.Signal().String()
	}
	return "ended"
}
