package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

// stopResult is how a stop ended, for the user: gracefully, or by
// SIGKILL after the timeout.
type stopResult struct {
	killed  bool
	took    time.Duration
	timeout time.Duration
	// hurried is the timeout of a later stop that brought the SIGKILL
	// forward (see killClock), 0 when none did.
	hurried time.Duration
	nothing bool // nothing of the instance was running
	// leftovers: its server was gone already (killed while no supervisor
	// watched it), and what stopped is what was left of its group.
	leftovers bool
}

func (r stopResult) String() string {
	what := "it"
	switch {
	case r.nothing:
		return "stopped (nothing was running)"
	case r.leftovers && !r.killed:
		return fmt.Sprintf("its server was gone already; what was left of its process group stopped in %s", round(r.took))
	case r.leftovers:
		what = "what was left of its process group (its server was gone already)"
	}
	switch {
	case r.killed && r.hurried > 0:
		return fmt.Sprintf("killed (SIGKILL) after %s: %s did not exit after SIGTERM, and a later stop allowed it %s", round(r.took), what, r.hurried)
	case r.killed:
		return fmt.Sprintf("killed (SIGKILL) after %s: %s did not exit within the %s timeout after SIGTERM", round(r.took), what, r.timeout)
	}
	return fmt.Sprintf("stopped gracefully in %s", round(r.took))
}

func round(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// progressEvery is how often a stop that waits says what it waits for.
const progressEvery = time.Second

// stopInstance stops an instance's processes (see terminate) and records
// that it is stopping. The signals go out before anything is written: the
// record is queued (written as any record, within writeGap), intended is
// called, and Supervisor.Stop writes it durably while the servers stop. A
// supervisor killed between the signal and the write leaves a record
// that still wants the instance running; its successor then finds a
// server shutting down gracefully (not a crash) or none at all. sent is
// the SIGTERM a stop of many already sent it (see Supervisor.Stop), nil
// when it is still to be sent.
func (s *Supervisor) stopInstance(name string, server proc.Identity, pgid int, dir string, clock *killClock, sent *sigterm, intended func()) (stopResult, error) {
	if sent == nil {
		sent = sendSIGTERM(server, pgid, dir)
	}
	ev := Event{State: StateStopping, PID: server.PID, Message: fmt.Sprintf("SIGTERM; SIGKILL after %s", clock.timeout)}
	switch {
	case !sent.alive && !sent.owned:
		// Nothing was signalled: the pid recorded may be a stranger's by
		// now (after a reboot), and the user must not read that it got a
		// SIGTERM.
		ev.PID, ev.Message = 0, "no server runs: nothing to signal"
		if !server.IsZero() {
			ev.Message = fmt.Sprintf("server pid %d gone already, and nothing left of its process group: nothing to signal", server.PID)
		}
	case !sent.alive && !server.IsZero():
		ev.PID, ev.Message = 0, fmt.Sprintf("server pid %d gone already: SIGTERM to what is left of its process group %d; SIGKILL after %s", server.PID, sent.pgid, clock.timeout)
	}
	stopBy := time.Now().Add(clock.timeout)
	s.record(name, ev, func(i *state.Instance) { i.State, i.StopBy = StateStopping, stopBy })
	intended()
	return terminate(sent, dir, clock, func(waited time.Duration, left []int) {
		s.emit(Event{Instance: name, State: StateStopping, Transient: true,
			Message: fmt.Sprintf("waiting %s of %s for %s to exit after SIGTERM", round(waited), round(clock.limit()), describePIDs(left))})
	})
}

// describePIDs names the processes a stop still waits for.
func describePIDs(pids []int) string {
	parts := make([]string, 0, len(pids))
	for _, pid := range pids {
		name := ""
		if st, err := proc.ReadStat(pid); err == nil {
			name = " (" + st.Comm + ")"
		}
		parts = append(parts, fmt.Sprintf("pid %d%s", pid, name))
	}
	if len(parts) == 0 {
		return "the instance's processes"
	}
	return strings.Join(parts, ", ")
}

// sigterm is a stop's SIGTERM: what it found before it went out (see
// aimSIGTERM), and when it went out (see send).
type sigterm struct {
	server proc.Identity
	pgid   int
	owned  bool // the group belongs to the home, and is signalled
	alive  bool // the server is alive, and is signalled
	// leader is the group's leader (the start script) as it was aimed at.
	leader proc.Identity
	// at is when it was aimed, the start of the stop's kill clock: its
	// signals go out right after (Supervisor.Stop sends every stop's back
	// to back). Not set by send: a second stop of the instance may be
	// served with this one's sigterm (runner.serveStop) while the first
	// still sends it.
	at time.Time
}

// sentSIGTERM, when set (by tests), is called after each stop's signals
// went out, with the process group signalled.
var sentSIGTERM func(pgid int)

// lookedAtGroup, when set (by tests), is called each time a stop looks at
// a group in /proc to aim at it.
var lookedAtGroup func(pgid int)

// aimSIGTERM looks at what a stop signals the way MI's own --stop does:
// the server pid (its shutdown runs, the script's trap stops the
// diagnostics JVM), then the process group, signalled only while it still
// belongs to the instance's home dir: a pgid read back from the state file
// may by now be a stranger's. The looks (reads of /proc) are done before
// anything is signalled: a stop of many sends all its signals back to
// back, before the first servers' exits take the CPU.
func aimSIGTERM(server proc.Identity, pgid int, dir string) *sigterm {
	if lookedAtGroup != nil {
		lookedAtGroup(pgid)
	}
	t := &sigterm{server: server, pgid: pgid, at: time.Now()}
	t.owned = groupOfHome(pgid, dir, server)
	t.alive = serverAlive(server)
	if t.owned {
		t.leader, _ = proc.GroupLeader(pgid)
	}
	return t
}

// aimAtLaunchedGroup aims a stop's SIGTERM as aimSIGTERM does, at a group
// this supervisor launched whose leader, the start script, is not reaped
// yet (see running.launchedGroupLives): the group is the home's, known
// without a look at /proc.
func aimAtLaunchedGroup(server proc.Identity, pgid int, leader proc.Identity) *sigterm {
	return &sigterm{server: server, pgid: pgid, owned: true, leader: leader, alive: serverAlive(server), at: time.Now()}
}

// serverAlive reports whether a stop has a live server to signal.
func serverAlive(server proc.Identity) bool { return !server.IsZero() && server.Alive() }

// groupOfHome reports whether process group pgid belongs to the home
// dir, as a stop may signal it: a live member runs with its CARBON_HOME
// (proc.GroupOf), or runs its start script, as findStrays knows a stray
// (a start by hand caught before its script exported CARBON_HOME). The
// second look walks /proc, only for a group the first did not place.
func groupOfHome(pgid int, dir string, hint proc.Identity) bool {
	if proc.GroupOf(pgid, dir, hint) {
		return true
	}
	if pgid <= 1 || proc.GroupEmpty(pgid) {
		return false
	}
	script := filepath.Join(dir, home.StartScript)
	groups, err := proc.GroupsRunning([]string{script})
	return err == nil && slices.Contains(groups[script], pgid)
}

// send sends the SIGTERMs t aimed.
func (t *sigterm) send() {
	if t.alive {
		_ = syscall.Kill(t.server.PID, syscall.SIGTERM)
	}
	if t.owned {
		_ = proc.SignalGroup(t.pgid, syscall.SIGTERM)
	}
	if sentSIGTERM != nil {
		sentSIGTERM(t.pgid)
	}
}

// sendSIGTERM aims a stop's SIGTERM and sends it.
func sendSIGTERM(server proc.Identity, pgid int, dir string) *sigterm {
	t := aimSIGTERM(server, pgid, dir)
	t.send()
	return t
}

// terminate finishes a stop begun by sent (see sendSIGTERM): it waits
// until clock's SIGKILL is due for the group to empty, then SIGKILLs the
// group while it still belongs to the home dir. progress, when not nil, is
// called every progressEvery while it waits, with what is left of the
// group.
func terminate(sent *sigterm, dir string, clock *killClock, progress func(waited time.Duration, left []int)) (res stopResult, err error) {
	server, pgid, start := sent.server, sent.pgid, sent.at
	res.timeout = clock.timeout
	killDue, release := clock.start(start)
	defer func() {
		release()
		if res.killed {
			res.hurried = clock.hurried()
		}
	}()
	if !sent.owned {
		res.nothing = !sent.alive
		if sent.alive {
			// No group of ours to wait on: the server alone.
			if proc.WaitExit(killDue, server) != nil && server.Alive() {
				_ = syscall.Kill(server.PID, syscall.SIGKILL)
				res.killed = true
			}
		}
		res.took = time.Since(start)
		return res, nil
	}
	res.leftovers = !sent.alive && !server.IsZero()
	// The processes whose end to wait for first: the server and the
	// script that leads the group.
	known := []proc.Identity{server}
	if !sent.leader.IsZero() {
		known = append(known, sent.leader)
	}
	stopProgress := reportProgress(start, pgid, progress)
	gone := groupGone(killDue, pgid, known)
	stopProgress()
	if gone {
		res.took = time.Since(start)
		return res, nil
	}
	res.killed = true
	if groupOfHome(pgid, dir, zeroID) {
		_ = proc.SignalGroup(pgid, syscall.SIGKILL)
	}
	afterKill, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gone = groupGone(afterKill, pgid, nil)
	res.took = time.Since(start)
	if gone {
		return res, nil
	}
	return res, fmt.Errorf("process group %d still has processes after SIGKILL", pgid)
}

// reportProgress calls progress every progressEvery with the time since
// start and the live members of group pgid, until the returned func is
// called; it returns after the last call.
func reportProgress(start time.Time, pgid int, progress func(time.Duration, []int)) func() {
	if progress == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				left, _ := proc.GroupMembers(pgid)
				progress(time.Since(start), left)
			}
		}
	}()
	return func() { close(quit); <-done }
}

// groupGone waits until no live process is left in group pgid, or ctx
// is done. It waits on the pidfds of the processes it knows, then asks the
// kernel whether the group is empty, and walks /proc for the members only
// when something is left, to wait on theirs: twenty instances stopping at
// once walked /proc twice each, nearly all the CPU a down of twenty took.
func groupGone(ctx context.Context, pgid int, known []proc.Identity) bool {
	for wait := known; ; {
		waitExits(ctx, wait)
		if groupSettles(ctx, pgid) {
			return true
		}
		pids, err := proc.GroupMembers(pgid)
		if err == nil && len(pids) == 0 {
			return true // zombies only: not ours to wait for
		}
		if ctx.Err() != nil {
			return false
		}
		// Look again after these: a member may start another before it ends.
		wait = nil
		for _, pid := range pids {
			if id, err := proc.Identify(pid); err == nil {
				wait = append(wait, id)
			}
		}
	}
}

// waitExits returns once every process of ids has exited, or ctx is done.
func waitExits(ctx context.Context, ids []proc.Identity) {
	var wg sync.WaitGroup
	for _, id := range ids {
		if !id.IsZero() {
			wg.Go(func() { _ = proc.WaitExit(ctx, id) })
		}
	}
	wg.Wait()
}

// settleWithin bounds groupSettles. A process whose threads end one by
// one leaves its group only when the last has: a simulated server's
// last thread may stay 10-20 ms in the kernel after the others (closing
// its inotify instance waits for an RCU grace period, that long when
// other releases overlap it, as twenty servers stopping together do),
// the group's zombie leader meanwhile. Given up on after 8 ms, a down of
// 20 walked /proc (~1.5 ms of CPU each, while the servers stopped) for
// seven groups that were about to empty.
const settleWithin = 32 * time.Millisecond

// groupSettles reports whether group pgid is empty, giving the members
// that just exited up to settleWithin to be waited for by their parent
// (the daemon's reaper, for orphans): until then they are zombies, and
// still in the group. It looks again at each reap of this process's
// reaper, or after a pause for a parent that is another process (a
// sleep of 250 µs took ~1 ms: the timer's granularity, paid by every
// stop while the reaper had long collected the last member). It gives up
// when ctx (the stop's timeout) is done: the SIGKILL is not delayed.
func groupSettles(ctx context.Context, pgid int) bool {
	deadline := time.Now().Add(settleWithin)
	for pause := 250 * time.Microsecond; ; pause = min(2*pause, 8*time.Millisecond) {
		reaped := reaps.next()
		if proc.GroupEmpty(pgid) {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		timer := time.NewTimer(min(pause, left))
		select {
		case <-reaped:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return false
		}
		timer.Stop()
	}
}

// removeStalePIDFile deletes the pid file when its process is gone: MI
// never removes it, and a stale one misleads every tool that trusts it.
func removeStalePIDFile(dir string) {
	path := home.PIDFile(dir)
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(string(data)), &pid); err == nil && pid > 0 {
		if st, err := proc.ReadStat(pid); err == nil && !st.Exited() {
			return
		}
	}
	_ = os.Remove(path)
}
