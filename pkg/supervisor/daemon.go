package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/companion"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/metrics"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

// ErrDaemonRunning means another supervisor holds the daemon lock.
var ErrDaemonRunning = errors.New("another mictl supervisor is already running for these instances")

// DaemonHeldError is the error of a daemon no command waits for (mictl
// daemon, up --foreground) when another process holds the daemon lock:
// a daemon that answers, or one that did not let go of the lock within
// awaitLockHolder's wait. A daemon a command started leaves quietly (its
// command asks the winner); this one's user has nobody else to tell
// them that it supervises nothing. PID is the daemon the state file
// records while that process exists (a zombie still exiting included),
// 0 when unknown.
type DaemonHeldError struct{ PID int }

func (e *DaemonHeldError) Error() string { return e.Holder() + " already supervises these instances" }

func (e *DaemonHeldError) Unwrap() error { return ErrDaemonRunning }

// Holder names the process that holds the lock, in the user's terms.
func (e *DaemonHeldError) Holder() string {
	if e.PID == 0 {
		return "another mictl process (a mictl daemon, or a mictl down stopping the instances itself)"
	}
	return fmt.Sprintf("a mictl daemon (pid %d)", e.PID)
}

// recordedDaemon is the pid of the daemon the state file records, when
// that process still exists (exiting, as a zombie, included: its last
// threads hold the lock); 0 otherwise.
func recordedDaemon(store *state.Store) int {
	f, err := store.Load()
	if err != nil || f.Daemon == nil {
		return 0
	}
	if id, err := proc.Identify(f.Daemon.PID); err != nil || id != f.Daemon.Identity {
		return 0
	}
	return f.Daemon.PID
}

// DaemonLog is where the detached daemon's own output goes.
func DaemonLog(store *state.Store) string { return filepath.Join(store.Dir(), "daemon.log") }

// lockDaemon takes the lock only one supervisor per instances directory
// may hold, for its whole life. The kernel drops it when the process
// dies, however it dies, so a crashed daemon never blocks the next.
func lockDaemon(store *state.Store) (*os.File, error) {
	path := filepath.Join(store.Dir(), "daemon.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrDaemonRunning
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// WithoutDaemon runs fn holding the daemon lock, so that no daemon starts
// (and re-adopts instances) while fn works on them: `mictl down` with no
// daemon uses it. It returns ErrDaemonRunning when a daemon holds the lock.
func WithoutDaemon(store *state.Store, fn func() error) error {
	lock, err := lockDaemon(store)
	if err != nil {
		return err
	}
	defer lock.Close()
	return fn()
}

// awaitLockHolder waits for the daemon lock another process holds
// without answering on the control socket: a mictl down stopping the
// instances itself (WithoutDaemon), for as long as the command that
// started this daemon waits for it (ready, its end of the pipe, stays
// open). Leaving at once, the daemon of an up racing that down left the
// up waiting for a daemon that never came, and the instances it had
// recorded starting to whichever command started a daemon next. Or a
// daemon killed a moment ago: the kernel shows it dead (a zombie) as
// soon as its main thread has exited, while its other threads, still
// exiting, hold its descriptors, the lock among them. A daemon no
// command waits for (ready nil: mictl daemon, up --foreground) waits
// for as long as a command waits for a daemon's start: leaving at once,
// mictl daemon run the moment the one before it was killed exited 0 and
// left a crash loop unsupervised. It returns ErrDaemonRunning once a
// daemon answers (a concurrent start won), the command stopped waiting,
// or, with no command, that wait is over (StartDaemon then says who
// holds the lock: DaemonHeldError).
func awaitLockHolder(store *state.Store, ready *os.File) (*os.File, error) {
	sock := SocketPath(store)
	said := false
	deadline := time.Now().Add(daemonStartTimeout)
	for {
		if _, err := Call(context.Background(), sock, Request{Op: OpPing}, nil); !gone(err) {
			return nil, ErrDaemonRunning
		}
		switch {
		case ready == nil:
			if time.Now().After(deadline) {
				return nil, ErrDaemonRunning
			}
			time.Sleep(20 * time.Millisecond)
		case !said:
			// The command waiting for this daemon says what it waits for
			// should it give up (see SpawnDaemon).
			_, _ = ready.Write([]byte{readyWaitingForLock})
			said = true
			fallthrough
		default:
			if abandoned(ready, 20*time.Millisecond) {
				return nil, ErrDaemonRunning
			}
		}
		lock, err := lockDaemon(store)
		if !errors.Is(err, ErrDaemonRunning) {
			return lock, err
		}
	}
}

// abandoned waits up to d for the reading end of the pipe whose writing
// end is w to be closed, and reports whether it was.
func abandoned(w *os.File, d time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(w.Fd())}}
	n, err := unix.Poll(fds, int(d/time.Millisecond))
	return err == nil && n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0
}

// Daemon is a running supervisor with its control socket: the detached
// `mictl daemon`, or `mictl up --foreground` in the user's terminal.
type Daemon struct {
	Sup    *Supervisor
	store  *state.Store
	lock   *os.File
	reaper *Reaper
	server *Server
	ln     interface{ Close() error }
	served chan struct{}
	// watch follows the configuration (nil when none is followed);
	// metricsDone is closed when the metrics server has ended.
	watch       *configWatch
	metricsDone chan struct{}

	// record is the daemon's record in the state file. A stop that
	// leaves nothing supervised clears it in the write its reply waits
	// for (unrecorded is then true), so that the daemon leaving after it
	// has no write of its own to make; a daemon that stays after all
	// writes it again (see Unneeded). recordMu makes each change of
	// unrecorded and the queueing of its write one step: apart, a clear
	// could be queued after the re-record that was to undo it.
	record     state.Daemon
	recordMu   sync.Mutex
	unrecorded bool

	// startedIdle is true when the state file wanted nothing run or
	// stopped when the daemon started (see StartedIdle).
	startedIdle bool

	// markers are the ups whose marks (state.Instance.MarkedBy) keep the
	// daemon and whose end is waited for (see watchMarkers).
	markersMu sync.Mutex
	markers   map[proc.Identity]bool
}

// DaemonOptions say how a daemon supervises.
type DaemonOptions struct {
	Policy Policy
	// Args are the daemon's arguments, recorded in the state file so that
	// a daemon killed by the user is replaced by one with the same policy.
	Args []string
	// Follow, when set, is the configuration the daemon follows live.
	Follow *Follow
	// Credentials log in to the instances' Management API.
	Credentials Credentials
	// MetricsAddr, when set, is where the daemon serves its Prometheus
	// metrics (checked with metrics.ParseAddr).
	MetricsAddr string
	// Dist is the source distribution the homes are cloned from, for a
	// state rebuilt from the homes ("" when unknown; see Rebuild).
	Dist string
}

// Follow is the configuration a daemon follows live.
type Follow struct {
	Load LoadConfig
	// Named reports whether the configuration file alone, without the
	// last up's planning flags, names an instance: a plain mictl up
	// starts it (see UpCommand).
	Named func(name string) bool
	// Overridden says, for each setting the configuration file gives a
	// value that the last up's planning flags (upArgs) replace, that a
	// reload does not apply it (see daemon.Overridden).
	Overridden func(upArgs []string) []string
	// Deployment names the daemon's deployment in its advice: its
	// configuration file and instances directory (DeploymentArgs), so
	// that what a user pastes acts on them (AsRunFor).
	Deployment []string
	// Files are the files to watch (mictl.toml, the source
	// deployment.toml); asked again after every reload.
	Files    func() []string
	Debounce time.Duration
}

// StartDaemon takes the daemon lock, becomes the child subreaper, opens the
// control socket (and the metrics address) and re-adopts (or restarts)
// every instance the state file wants running. The instances' servers then
// survive the daemon: Close leaves them running for the next daemon to
// adopt. With opts.Follow set, the daemon reloads the configuration
// whenever one of its files changes (and on `mictl reload`).
func StartDaemon(store *state.Store, opts DaemonOptions) (d *Daemon, err error) {
	policy, args, follow := opts.Policy, opts.Args, opts.Follow
	ready, starter, catchUp := readyPipe(), takeStarter(), takeCatchUp()
	defer func() {
		if ready != nil {
			if err == nil {
				_, _ = ready.Write([]byte{readyServing})
			}
			ready.Close()
		}
	}()
	lock, err := lockDaemon(store)
	if errors.Is(err, ErrDaemonRunning) {
		lock, err = awaitLockHolder(store, ready)
	}
	if errors.Is(err, ErrDaemonRunning) && ready == nil {
		err = &DaemonHeldError{PID: recordedDaemon(store)}
	}
	if err != nil {
		return nil, err
	}
	var metricsLn net.Listener
	if opts.MetricsAddr != "" {
		if metricsLn, err = metrics.Listen(opts.MetricsAddr); err != nil {
			lock.Close()
			return nil, fmt.Errorf("metrics_addr: %w", err)
		}
	}
	closeMetrics := func() {
		if metricsLn != nil {
			metricsLn.Close()
		}
	}
	reaper, err := NewReaper(true)
	if err != nil {
		closeMetrics()
		lock.Close()
		return nil, err
	}
	ln, err := Listen(SocketPath(store))
	if err != nil {
		reaper.Close()
		closeMetrics()
		lock.Close()
		return nil, err
	}
	sup, err := New(store, reaper, policy)
	if err != nil {
		ln.Close()
		reaper.Close()
		closeMetrics()
		lock.Close()
		return nil, err
	}
	sup.SetCredentials(opts.Credentials)
	sup.dist = opts.Dist
	sup.targets = metrics.NewTargetsWriter(store.Dir())
	self, _ := proc.Identify(os.Getpid())
	d = &Daemon{Sup: sup, store: store, lock: lock, reaper: reaper, server: NewServer(sup), ln: ln, served: make(chan struct{}),
		record: state.Daemon{Identity: self, Socket: SocketPath(store), StartedAt: time.Now(), Args: args}}
	d.server.leaving = d.leaving
	if ready == nil {
		d.server.noCommandWaits()
	} else {
		d.server.starter = starter
		sup.keepForStarter() // before anything is served or resumed
	}
	if metricsLn != nil {
		m := metrics.New(sup.MetricsSource())
		sup.observer = m
		d.metricsDone = make(chan struct{})
		go func() {
			defer close(d.metricsDone)
			if err := m.Serve(sup.ctx, metricsLn); err != nil {
				sup.emit(Event{Instance: ReloadEvent, State: "metrics-failed", Message: err.Error()})
			}
		}()
	}
	if follow != nil {
		sup.named, sup.overridden, sup.deployment = follow.Named, follow.Overridden, follow.Deployment
		sup.ups.forget() // any advice remembered named no deployment
		d.watch = newConfigWatch(sup, follow)
		d.server.reload = d.watch.reloadNow
		d.server.watch = d.watch
	}
	d.server.takenOver = make(chan struct{})
	go func() {
		defer close(d.served)
		d.server.Serve(ln)
	}()
	var wanted, stopping, restarting []string
	var resumedStopBy time.Time // the latest deadline of the stops in stopping
	var saved *state.File
	predecessorDied := false
	// Not fsynced: the first request's answer waits for a durable write
	// of the whole file.
	err = store.Quick().UpdateOrRebuild(context.Background(), func(f *state.File, corrupt *state.CorruptError) error {
		// This supervisor holds the daemon lock: a daemon recorded here
		// is a predecessor that did not clear its record (killed, or its
		// last write failed), and may have left processes unrecorded.
		// A file deleted while servers mictl started run (Lost) is rebuilt
		// as a corrupt one is: read as empty, it would leave them
		// unsupervised.
		lost := Lost(store)
		sup.strays = corrupt != nil || lost != nil || f.Daemon != nil
		predecessorDied = f.Daemon != nil
		if corrupt != nil || lost != nil {
			rebuilt, err := Rebuild(filepath.Dir(store.Dir()), config.DefaultHost, opts.Dist)
			if err != nil {
				return err
			}
			*f = *rebuilt
			msg := "; rebuilt from the instance homes and /proc"
			if corrupt != nil {
				msg = corrupt.Error() + msg + " (the bad file is kept as state.json.corrupt)"
			} else {
				msg = lost.Error() + msg
			}
			sup.emit(Event{Instance: ReloadEvent, State: "state-rewritten", Message: msg})
		}
		if predecessorDied {
			sup.removeCopyLeftovers(f)
		}
		rec := d.record
		f.Daemon = &rec
		for _, inst := range f.Instances {
			switch {
			case Wanted(inst.State):
				wanted = append(wanted, inst.Name)
			case inst.RestartUnderWay(): // not the mark of an up killed before its start
				restarting = append(restarting, inst.Name)
			case inst.State == StateStopping:
				stopping = append(stopping, inst.Name)
				resumedStopBy = later(resumedStopBy, inst.StopBy)
			}
		}
		saved = f.Clone()
		return nil
	})
	if err == nil {
		sup.rememberSaved(saved)
	}
	d.startedIdle = len(wanted) == 0 && len(stopping) == 0 && len(restarting) == 0
	// The control socket serves already: a start of one of stopping
	// waits for the stop below from the moment the file is read (not
	// from when the stop begins, nor after the resumes).
	var resumedStops []func()
	if err == nil {
		for _, name := range stopping {
			resumedStops = append(resumedStops, sup.beginUnwatchedStop(name))
		}
		// Likewise, a start of one of restarting leaves it to the
		// restart finished below, and its wait waits for that.
		sup.beginRestartsPending(restarting)
	}
	if err == nil && len(wanted) > 0 {
		err = sup.Resume(wanted)
		d.server.resumedFor(wanted)
	}
	close(d.server.takenOver)
	// The instances the dead daemon left ran on, or were being stopped or
	// restarted, while nothing followed the configuration: what was edited
	// meanwhile (or what its reload had still to do when it died: add an
	// instance, remove one) is applied, as it would have applied it, for a
	// command that applies no configuration itself (catchUpEnv), once the
	// stops and restarts it left are finished. Beside them, the reload
	// stopped a second time what a resumed stop was stopping, and
	// restarted again what a finished restart started. A daemon `up` or
	// `restart` started does not catch up even after restarts it finished
	// (the reload they belonged to then half applied): its own reload
	// raced their requests, and a `restart mi-2` restarted mi-2 twice;
	// `up` refuses to move an instance whose restart is under way and says
	// that mictl reload applies the rest.
	catchUpAfter := err == nil && catchUp && predecessorDied && d.watch != nil && len(wanted)+len(restarting) > 0
	var leftovers sync.WaitGroup // the resumed stops and the finished restarts
	if err == nil && len(stopping) > 0 {
		// A stop the previous supervisor (or a killed down) did not live
		// to finish, by the deadline it set: down --timeout 60s killed
		// after a second does not become 200 s.
		timeout := policy.StopTimeout
		if !resumedStopBy.IsZero() {
			timeout = max(time.Until(resumedStopBy), 0)
		}
		sup.wg.Add(1)
		leftovers.Go(func() {
			defer sup.wg.Done()
			_ = sup.Stop(stopping, timeout)
			for _, end := range resumedStops {
				end()
			}
		})
	}
	if err == nil && len(restarting) > 0 {
		// A restart the previous supervisor did not live to finish: it
		// stopped them to start them again.
		sup.wg.Add(1)
		leftovers.Go(func() {
			defer sup.wg.Done()
			sup.finishRestarts(restarting, d.watch.load())
		})
	}
	if catchUpAfter {
		sup.wg.Go(func() {
			leftovers.Wait()
			d.watch.catchUp()
		})
	}
	if err != nil {
		for _, end := range resumedStops { // no stop follows: no start waits for one
			end()
		}
		sup.endRestartsPending(restarting...)
		d.Close()
		return nil, err
	}
	return d, nil
}

// StartedIdle reports whether the state file asked for nothing to run or
// to stop when the daemon started. The command that starts a daemon
// records what it is to run first (`mictl up` holds the state lock the
// daemon waits for while it prepares), so this is a command that failed
// after starting it: confirm with Unneeded, and leave.
func (d *Daemon) StartedIdle() bool { return d.startedIdle }

// Idle is signalled when a stop request left nothing running; confirm
// with Unneeded before leaving.
func (d *Daemon) Idle() <-chan struct{} { return d.server.Idle() }

// Asked is closed once the command that started the daemon (SpawnDaemon
// waits for it to answer, then the command asks) has had an answer, and
// from the start when no command waits for it; another command's answer
// does not count, unless that command is gone (see Server.starter).
// Until then every instance may have failed with that command yet to ask
// (mictl up starts them again): leaving then, the daemon left it no
// daemon to ask.
func (d *Daemon) Asked() <-chan struct{} { return d.server.asked }

// CaughtUp is signalled when the state file could be written again after
// writes failed: a daemon that stayed only to keep what the file lacked
// may leave now (confirm with Unneeded).
func (d *Daemon) CaughtUp() <-chan struct{} { return d.Sup.persist.caughtUp }

// Unneeded reports whether the daemon has nothing to do: no instance is
// supervised and the state file wants none running (a concurrent `mictl
// up` writes the instances it starts there before asking the daemon). A
// daemon that stays is recorded again if the stop that made it idle
// cleared its record.
func (d *Daemon) Unneeded() bool {
	if d.unneeded() {
		return true
	}
	d.recordMu.Lock()
	defer d.recordMu.Unlock()
	if d.unrecorded {
		d.unrecorded = false
		rec := d.record
		d.Sup.persist.addFile(func(f *state.File) { f.Daemon = &rec })
		// Soon: killed while unrecorded, it would leave its successor
		// nothing to look for strays by.
		d.Sup.persist.hurry()
	}
	// Staying: the stop that made the daemon idle need not wait.
	d.server.settle(false)
	return false
}

// leaving clears the daemon's record in the state file with the next
// write: the stop being served leaves nothing supervised.
func (d *Daemon) leaving() {
	d.recordMu.Lock()
	defer d.recordMu.Unlock()
	d.unrecorded = true
	// An outcome: a record that outlives a power failure only makes the
	// next daemon look for strays.
	d.Sup.persist.enqueue(mutation{file: d.clearRecord, outcome: true})
}

// clearRecord removes the daemon's own record from f, and no other
// daemon's (a successor may have written its own).
func (d *Daemon) clearRecord(f *state.File) {
	if f.Daemon != nil && f.Daemon.PID == d.record.PID {
		f.Daemon = nil
	}
}

// recorded reports whether the state file is to hold the daemon's record.
func (d *Daemon) recorded() bool {
	d.recordMu.Lock()
	defer d.recordMu.Unlock()
	return !d.unrecorded
}

func (d *Daemon) unneeded() bool {
	// Pending starts first: one that ends its wait meanwhile has its
	// runners when Active looks.
	if d.Sup.startsPending() || len(d.Sup.Active()) > 0 {
		return false
	}
	// The last runner's last record (stopped from backoff, say) may still
	// be queued. And while the state file cannot be written the daemon
	// stays: it alone knows what the file lacks (an instance stopped only
	// in its memory would be brought back by the next daemon).
	if d.Sup.flushVisible() != nil {
		return false
	}
	f, err := d.Sup.current()
	if err != nil {
		return false
	}
	if f.WantsAny() {
		d.watchMarkers(f)
		d.stays()
		return false
	}
	return true
}

// watchMarkers has a look (RunnerEnded) follow the end of each up whose
// mark in f keeps the daemon: a mark counts only while its up runs
// (state.Instance.RestartUnderWay), and an up killed before its start
// reached the daemon ends with no request to say so. The daemon, every
// instance stopped, stayed for such a mark until its next log check.
func (d *Daemon) watchMarkers(f *state.File) {
	d.markersMu.Lock()
	defer d.markersMu.Unlock()
	for _, inst := range f.Instances {
		up := inst.MarkedBy
		if !inst.RestartUnderWay() || up.IsZero() || d.markers[up] {
			continue
		}
		if d.markers == nil {
			d.markers = map[proc.Identity]bool{}
		}
		d.markers[up] = true
		d.Sup.wg.Go(func() {
			if proc.WaitExit(d.Sup.ctx, up) == nil {
				notify(d.Sup.runnerEnded)
			}
			d.markersMu.Lock()
			defer d.markersMu.Unlock()
			delete(d.markers, up)
		})
	}
}

// stays takes up the configuration watch again, should the stop that
// made the daemon idle have paused it.
func (d *Daemon) stays() {
	if d.watch != nil {
		d.watch.resume()
	}
}

// Close stops serving and watching, leaving the instances running.
func (d *Daemon) Close() {
	d.ln.Close()
	<-d.served
	// End a reload in progress before the supervisor's writer goes.
	d.Sup.cancel()
	if d.watch != nil {
		d.watch.close()
	}
	if d.metricsDone != nil {
		<-d.metricsDone
	}
	d.Sup.Close()
	// Not fsynced: the last request was answered after a durable write,
	// and a record that outlives a power failure only makes the next
	// daemon look for strays. Not written at all when the stop that made
	// the daemon leave cleared it already. Kept while instances are meant
	// to run (a daemon ended by a signal, as README's `kill N` to replace
	// one of an older build ends it), as a SIGKILL keeps it: the next
	// command's daemon starts with its arguments (the last up's
	// --restart, --max-restarts, --backoff and --timeout, which the state
	// file holds nowhere else), and the views say nothing supervises the
	// instances until then.
	if d.recorded() {
		_ = d.store.Quick().Update(context.Background(), func(f *state.File) error {
			if !f.WantsAny() {
				d.clearRecord(f)
			}
			return nil
		})
	}
	_ = os.Remove(SocketPath(d.store))
	d.reaper.Close()
	d.lock.Close()
	// Last: the stop that made the daemon idle returns, the daemon having
	// let go of everything another would need.
	d.server.settle(true)
}

// What a starting daemon writes on its ready pipe (readyFDEnv): that it
// serves, or, first, that it waits for its lock, held by a command that
// answers nothing (see awaitLockHolder).
const (
	readyServing        byte = 1
	readyWaitingForLock byte = 2
)

// daemonStartTimeout bounds SpawnDaemon's wait, from the start of the
// daemon, for a daemon to answer: the one it started, or the one that won
// the start race.
const daemonStartTimeout = 10 * time.Second

// awaitOther waits, until deadline (the end of SpawnDaemon's wait), for
// the daemon that won a start race (it holds the daemon lock, so it
// serves soon) to answer on sock; args are those SpawnDaemon was given.
func awaitOther(ctx context.Context, sock string, deadline <-chan time.Time, store *state.Store, args []string) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := Call(ctx, sock, Request{Op: OpPing}, nil)
		if ctx.Err() != nil {
			return interruptedStart(args)
		}
		if !gone(err) {
			return err // nil: it answers
		}
		select {
		case <-tick.C:
		case <-deadline:
			return fmt.Errorf("no mictl daemon answered within %s of starting one: it found another holding its lock, which did not answer; see %s", daemonStartTimeout, DaemonLog(store))
		case <-ctx.Done():
			return interruptedStart(args)
		}
	}
}

// interruptedStart is the error of a wait for a daemon's start given up
// (Ctrl-C): the daemon, in a session of its own, is not interrupted. args
// are the daemon's: the commands named reach its deployment (AsRunFor).
func interruptedStart(args []string) error {
	return exitcode.With(exitcode.Interrupted, fmt.Errorf("interrupted while the mictl daemon starts: it goes on, and takes over what the state file asks to run (%s shows it, %s stops it)",
		AsRunFor(args, "mictl status"), AsRunFor(args, "mictl down")))
}

// readyFDEnv names the descriptor on which SpawnDaemon waits for the
// daemon it started: one byte once the daemon answers on its control
// socket, or the end of the pipe when it exits without.
const readyFDEnv = "MICTL_DAEMON_READY_FD"

// catchUpEnv tells a daemon started by a command that applies no
// configuration itself (`mictl status` replacing a killed daemon) to
// reload once after adopting the instances, for what was edited while no
// daemon followed the configuration (reloadCatchUp). A daemon started by
// `up` or `restart` is not told: those commands plan from the
// configuration themselves, and a reload of the daemon's own would race
// their requests and apply what they refused; not even after restarts it
// finished for a dead daemon (see StartDaemon).
const catchUpEnv = "MICTL_DAEMON_CATCH_UP"

// takeCatchUp reports whether this daemon was told to catch up
// (catchUpEnv), and takes the variable out of the environment, so that no
// instance inherits it.
func takeCatchUp() bool {
	_, ok := os.LookupEnv(catchUpEnv)
	os.Unsetenv(catchUpEnv)
	return ok
}

// starterEnv names the process that started the daemon (SpawnDaemon's,
// the command that waits on the ready pipe to ask it next), by its pid:
// its requests are told from those of other commands by the pid they
// come from (see Server.starter).
const starterEnv = "MICTL_DAEMON_STARTER"

// takeStarter is the process starterEnv names, zero when it names none
// alive, and takes the variable out of the environment, so that no
// instance inherits it.
func takeStarter() proc.Identity {
	v, ok := os.LookupEnv(starterEnv)
	if !ok {
		return proc.Identity{}
	}
	os.Unsetenv(starterEnv)
	pid, err := strconv.Atoi(v)
	if err != nil || pid <= 0 {
		return proc.Identity{}
	}
	id, _ := proc.Identify(pid)
	return id
}

// readyPipe takes the descriptor SpawnDaemon handed this daemon, if any,
// and takes its name out of the environment, so that no instance
// inherits it.
func readyPipe() *os.File {
	v, ok := os.LookupEnv(readyFDEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(readyFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	return os.NewFile(uintptr(fd), "daemon-ready")
}

// gone reports whether err means that no daemon is there to answer: none
// listens, or the one that did died during the call (a daemon killed a
// moment ago may still take a connection into its backlog as it dies).
func gone(err error) bool { return errors.Is(err, ErrNoDaemon) || errors.Is(err, ErrDaemonGone) }

// LeanDaemonExe is the daemon's own program (cmd/mictl-daemon), built
// beside mictl by `make build`: it links no CLI or terminal libraries, so
// the process that stays behind for as long as the instances run holds
// less memory, and starts sooner.
const LeanDaemonExe = "mictl-daemon"

// daemonCommand is how the mictl at exe starts a daemon with args:
// LeanDaemonExe beside it when it is of the same build (told which mictl
// started it), else mictl itself as `mictl daemon`.
func daemonCommand(exe string, args []string) (path string, argv, env []string) {
	if lean, ok := companion.Beside(exe, LeanDaemonExe, companion.Running()); ok {
		return lean, args, []string{companion.EnvMictl + "=" + exe}
	}
	return exe, append([]string{"daemon"}, args...), nil
}

// SpawnDaemon starts the daemon (daemonCommand) with args detached (its own session, no
// terminal, output to daemon.log) unless one already answers, and waits
// until its control socket does. A daemon that holds the socket but does
// not answer (ErrNotAnswering), or that belongs to another user, is not
// replaced: a second one could not take the lock anyway. catchUp asks a
// daemon that takes over from a dead one to apply what was edited while
// none ran (see catchUpEnv): the command starting it applies no
// configuration of its own.
func SpawnDaemon(ctx context.Context, store *state.Store, args []string, catchUp bool) error {
	sock := SocketPath(store)
	_, err := Call(ctx, sock, Request{Op: OpPing}, nil)
	if !gone(err) {
		return err // nil: one answers
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the mictl executable to start the daemon: %w", err)
	}
	logf, err := os.OpenFile(DaemonLog(store), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open the daemon log: %w", err)
	}
	defer logf.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devNull.Close()
	// The daemon says on a pipe when it answers (readyFDEnv): no polling
	// of the socket.
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start the mictl daemon: %w", err)
	}
	defer readyR.Close()
	path, argv, env := daemonCommand(exe, args)
	cmd := exec.Command(path, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, logf, logf
	cmd.ExtraFiles = []*os.File{readyW} // descriptor 3
	cmd.Env = append(append(os.Environ(), env...), readyFDEnv+"=3", starterEnv+"="+strconv.Itoa(os.Getpid()))
	if catchUp {
		cmd.Env = append(cmd.Env, catchUpEnv+"=1")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return fmt.Errorf("start the mictl daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ready := make(chan struct{})
	var waitsForLock atomic.Bool
	go func() {
		var b [1]byte
		for {
			if n, _ := readyR.Read(b[:]); n != 1 {
				return
			}
			if b[0] != readyWaitingForLock {
				close(ready)
				return
			}
			waitsForLock.Store(true)
		}
	}()
	deadline := time.After(daemonStartTimeout)
	for {
		select {
		case <-ready:
			_, err := Call(ctx, sock, Request{Op: OpPing}, nil)
			if ctx.Err() != nil {
				return interruptedStart(args)
			}
			if !gone(err) {
				return err // nil: it answers
			}
			ready = nil // it went again meanwhile: see how it exits
		case werr := <-exited:
			if werr == nil {
				// Lost the race to a concurrent `mictl up`'s daemon, which
				// holds the lock and answers once it serves: wait for it.
				return awaitOther(ctx, sock, deadline, store, args)
			}
			return fmt.Errorf("the mictl daemon exited at start (%v); see %s", werr, DaemonLog(store))
		case <-deadline:
			if waitsForLock.Load() {
				return fmt.Errorf("the mictl daemon (pid %d) waited %s for its lock, which another mictl command holds without answering (a mictl down stopping the instances itself, with no daemon, holds it until its stop ends): run the command again once that one is done", cmd.Process.Pid, daemonStartTimeout)
			}
			return fmt.Errorf("the mictl daemon (pid %d) did not answer within %s of its start; see %s", cmd.Process.Pid, daemonStartTimeout, DaemonLog(store))
		case <-ctx.Done():
			return interruptedStart(args)
		}
	}
}
