// Package supervisor starts Micro Integrator instances, waits until each is
// really ready, watches them, restarts the ones that crash and stops them
// gracefully. It drives real MI and the built-in simulator through the same
// code: MI's start script, its pid file, its ports and /healthz.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/metrics"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/whose"
)

// Instance states, as `mictl status` shows them; the state file stores them.
const (
	StateStarting = state.StateStarting
	StateReady    = state.StateReady
	StateDegraded = state.StateDegraded // running, but a port or /healthz is wrong
	StateCrashed  = state.StateCrashed  // ended without being asked; a restart follows
	StateBackoff  = state.StateBackoff  // waiting before the next restart
	StateStopping = state.StateStopping
	StateStopped  = state.StateStopped
	StateFailed   = state.StateFailed // gave up: a failed first start, too many restarts, or a crash under restart policy never
)

// Wanted reports whether an instance in state st should be running.
var Wanted = state.Wanted

// Event is one thing that happened to an instance.
type Event struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	State    string    `json:"state"`
	PID      int       `json:"pid,omitempty"`
	Message  string    `json:"message,omitempty"`
	// Transient events (a stop's progress) go to the commands that follow
	// the instance, not to the event log.
	Transient bool `json:"transient,omitempty"`
}

// eventTimeLayout is an event's time as its line says it: to the
// millisecond, with the zone.
const eventTimeLayout = "2006-01-02T15:04:05.000Z07:00"

func (e Event) String() string {
	s := fmt.Sprintf("%s %s %s", e.Time.Format(eventTimeLayout), e.Instance, e.State)
	if e.PID > 0 {
		s += fmt.Sprintf(" pid=%d", e.PID)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Supervisor runs one goroutine (a runner) per instance.
type Supervisor struct {
	store  *state.Store
	reaper *Reaper
	policy Policy
	ctx    context.Context
	cancel context.CancelFunc
	// dist is the source distribution of the homes, for a state rebuilt
	// from them ("" when unknown; see Rebuild). Set before the supervisor
	// runs anything.
	dist string

	mu      sync.Mutex
	runners map[string]*runner
	// unwatchedStops are the stops under way of instances no runner
	// watches (stopUnsupervised: a stop a killed down or daemon left
	// unfinished, which the next daemon finishes): a start of one waits
	// for it (awaitStops), or it would take the server being stopped for
	// its own, and the stop's SIGKILL and record would end its run.
	unwatchedStops map[string]*unwatchedStop
	// restartsPending are the instances a restart has stopped, or is
	// about to stop, and is still to start: one a dead supervisor left
	// under way (state.Instance.Restarting) until finishRestarts has
	// finished it, and one of this supervisor's restarts (a roll's, a
	// reload's) from before its stop to its start (see restartStep); a
	// value is closed then. The restart starts them: a start asked for
	// meanwhile (an up) leaves them to it, and its wait takes them for
	// pending, not for stopped (see Start and waitReady). Started by
	// both, an instance was stopped under the up's wait, which failed it;
	// or the up started it between the restart's stop and its start, and
	// the restart, bringing the home and its record up to date, wrote
	// over the record of the server the up had started: status showed it
	// starting, with no pid, for as long as it ran.
	restartsPending map[string]chan struct{}
	// subs are the subscribers' channels, each with the instances it
	// wants and how many of their events it lost (see subscribe).
	subs map[chan Event]*subscription
	// starts are the events of each instance's start under way (since it
	// was last anything but starting or backing off), for a subscriber
	// that comes in the middle of it (see subscribe).
	starts map[string][]Event
	// kept are, while the command that started the daemon is yet to be
	// answered (see keepForStarter), every event of each instance since
	// the daemon began to take over: the lines of the take-over's starts
	// that command asks to see next (mictl up), those that ended before it
	// asked included. nil otherwise.
	kept    map[string]*keptEvents
	events  *eventLog
	wg      sync.WaitGroup
	persist *persister
	// startMu makes starts one at a time: a start must not take the
	// instances another one is launching for strays.
	startMu sync.Mutex
	// pendingStarts counts the Start calls under way (see startsPending).
	pendingStarts atomic.Int32
	// starting is the look at the host that starting instances share
	// while they wait for their ports to listen.
	starting *observe.Recent
	// watchKick wakes the monitor when an instance becomes watched or
	// should be checked soon.
	watchKick chan struct{}
	// runnerEnded is signalled after a runner returns (see RunnerEnded).
	runnerEnded chan struct{}
	// runnersDropped tells the monitor that forget dropped runners: it
	// lets go of the watches it kept on their carbonapps/ (see appDirs).
	runnersDropped atomic.Bool
	// firstCheckAfter is checkFirst; tests that must tell a check brought
	// by a change from one the schedule brings make it longer.
	firstCheckAfter time.Duration
	// hotDeployWindow is the constant; tests that copy a CApp by hand
	// make it shorter (before they change a carbonapps/).
	hotDeployWindow time.Duration

	// strays is false when no process of an instance can run unrecorded:
	// the supervisor before this one ended cleanly, clearing its record
	// in the state file (Daemon.Close). A supervisor killed mid-start, or
	// one that ended while the state file could not be written, leaves
	// its record, and its successor looks for strays before each start.
	// Set before the first Start; true unless StartDaemon knows better.
	strays bool

	// reloadMu makes reloads and rolling restarts one at a time (see
	// beginRoll).
	reloadMu sync.Mutex
	// reloadUnderway is the reload that holds reloadMu, or the last one
	// that did: a reload that waits behind it tells by it what that one
	// did (see appliedBehind).
	reloadUnderway atomic.Pointer[reloadRun]

	// changes are the reloads and restarts under way: a stop of every
	// instance ends them first (see interruptChanges). stoppingAll and
	// stoppingNames are the stops under way, of everything and of named
	// instances: a change that begins meanwhile begins as those under way
	// were told (see beginChange).
	changesMu     sync.Mutex
	changes       map[*change]struct{}
	stoppingAll   int
	stoppingNames []string

	// saved is the state file as this supervisor last wrote it: what a
	// file found corrupt is written again from, with the changes since,
	// and what the metrics read. Never changed once stored.
	saved atomic.Pointer[state.File]

	apps appWatch
	// observer hears of readiness and reloads (the daemon's metrics);
	// targets keeps Prometheus's list of the instances' metrics current.
	// Both are set before the first start, nil when unused.
	observer Observer
	targets  *metrics.TargetsWriter
	// named reports whether the configuration file alone, without the
	// last up's planning flags, names an instance (Follow.Named); nil
	// when the supervisor follows none. Set before the first start.
	named func(name string) bool
	// ups remembers, per instance, the up that starts it again (see
	// upCommand).
	ups upCommands
	// deployment names the deployment the supervisor's advice is for
	// (Follow.Deployment, see asRun); nil when it follows none. Set
	// before the first start.
	deployment []string
	// overridden says which settings of that file the last up's planning
	// flags replace (Follow.Overridden); nil when it follows none.
	overridden func(upArgs []string) []string
	// conflicts is how many conflicts the last check of the plan found
	// (see SetConflicts).
	conflicts atomic.Int64
	// trim gives freed memory back after a burst of work (trimSoon).
	trim trimmer
}

// Observer hears what the daemon's metrics count.
type Observer interface {
	ObserveReady(name string, d time.Duration)
	ObserveReload(err error)
}

// eventsFile is the event log's name in the state directory.
const eventsFile = "events.log"

// EventsLog is where every event is appended, one line each.
func EventsLog(store *state.Store) string { return filepath.Join(store.Dir(), eventsFile) }

// New returns a supervisor keeping its state in store. reaper must be the
// process's only waiter for children.
func New(store *state.Store, reaper *Reaper, policy Policy) (*Supervisor, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(EventsLog(store), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the event log: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{
		store: store, reaper: reaper, policy: policy, ctx: ctx, cancel: cancel,
		runners: map[string]*runner{}, unwatchedStops: map[string]*unwatchedStop{}, restartsPending: map[string]chan struct{}{}, subs: map[chan Event]*subscription{}, starts: map[string][]Event{}, changes: map[*change]struct{}{}, events: &eventLog{file: f},
		starting:        &observe.Recent{MaxAge: startScanAge},
		watchKick:       make(chan struct{}, 1),
		runnerEnded:     make(chan struct{}, 1),
		firstCheckAfter: checkFirst,
		hotDeployWindow: hotDeployWindow,
		strays:          true,
	}
	s.starting.Whose = s.holderOf
	s.persist = startPersister(writeGap, s.save)
	s.wg.Add(1)
	go s.monitor()
	return s, nil
}

// startScanAge is how long starting instances share one look at the
// host's sockets: well under their probe interval, or a probe finds the
// view its previous probe took and a port that listens since goes unseen
// until the next.
const startScanAge = 2 * time.Millisecond

// allRunners lists the runners, taken under s.mu and returned without
// it: a runner's lock is never taken while s.mu is held (a runner
// records events, which takes s.mu, under its own lock).
func (s *Supervisor) allRunners() []*runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*runner, 0, len(s.runners))
	for _, r := range s.runners {
		out = append(out, r)
	}
	return out
}

// holderOf says which instance process pid belongs to (whose.Deployment.Of)
// from the records of the instances this supervisor runs, as they are
// now: a port of one instance held by another's server names it.
func (s *Supervisor) holderOf(pid int) (instance, about string) {
	runners := s.allRunners()
	recs := make([]state.Instance, len(runners))
	for i, r := range runners {
		recs[i] = r.snapshot()
	}
	return whose.New(filepath.Dir(s.store.Dir()), recs).Of(pid)
}

// scanFails, when set (by tests), is asked before each newView, whose
// look fails with the error it returns: a host whose sockets cannot be
// scanned (netlink refused and /proc/net unreadable, say) when a start
// reads its BindExceptions and at the monitor's checks.
var scanFails func() error

// newView is a look at the host that names the instance of a port's
// holder (holderOf).
func (s *Supervisor) newView() (*observe.View, error) {
	if scanFails != nil {
		if err := scanFails(); err != nil {
			return nil, err
		}
	}
	view, err := observe.NewView()
	if err != nil {
		return nil, err
	}
	view.Whose = s.holderOf
	return view, nil
}

// Close stops watching without stopping the instances: they keep serving
// and the next supervisor re-adopts them.
func (s *Supervisor) Close() {
	s.stopTrim()
	s.cancel()
	s.wg.Wait()
	s.persist.close()
	// Under s.mu, as every write of the log: an event a caller outside
	// the supervisor's goroutines emits now must not meet the last write
	// of the events held.
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events.close()
}

// Subscribe returns a channel receiving every event from now on; cancel
// releases it, closes the channel and says how many events it lost: a
// subscriber that does not keep up (subscriberBuffer behind) loses events
// rather than stalling the supervisor.
func (s *Supervisor) Subscribe() (<-chan Event, func() (lost int)) {
	return s.subscribe(nil, false, false, nil)
}

// subscriberBuffer is how many events a subscriber may be behind before
// it loses the next (a variable for tests); also how many events of an
// instance kept for the command that started the daemon.
var subscriberBuffer = 256

// keptEvents are the events kept of an instance (see Supervisor.kept):
// the first subscriberBuffer, and how many more were not.
type keptEvents struct {
	events []Event
	lost   int
}

// subscription is what one subscriber asked for: the events of the
// instances in want (of every instance when empty) that keep takes (every
// one when nil), and how many of those it lost.
type subscription struct {
	want []string
	keep func(Event) bool
	lost int
}

// wants reports whether the subscriber asked for ev.
func (sub *subscription) wants(ev Event) bool {
	return (len(sub.want) == 0 || slices.Contains(sub.want, ev.Instance)) && (sub.keep == nil || sub.keep(ev))
}

// subscribe is Subscribe for the events of the instances named (of every
// instance when none is) that keep takes (every one when nil): only those
// take room in the channel and count as lost. A daemon's client is shown
// its request's instances alone (a restart's, of its roll alone), and
// its answer said that lines went missing when it was the events of
// others, a reload's of a thousand instances, that did not fit (a down
// of another then did not say it was already stopped). With replay, the
// channel begins with the events so far of the starts still under way of
// the instances named: a request to start them arrives after the daemon
// has launched what the state file asked for, and its events would
// otherwise begin in the middle of the starts. For the command that
// started the daemon (starter), it begins with all their events since
// the take-over began, while they are kept: up's start showed none of a
// take-over start that had ended (failed, at once) before its request
// came, though the daemon left it as it was (see Server.start).
func (s *Supervisor) subscribe(names []string, replay, starter bool, keep func(Event) bool) (<-chan Event, func() (lost int)) {
	s.mu.Lock()
	var first []Event
	sub := &subscription{want: names, keep: keep}
	if replay {
		for _, name := range names {
			if k, ok := s.kept[name]; ok && starter {
				first, sub.lost = append(first, k.events...), sub.lost+k.lost
				continue
			}
			first = append(first, s.starts[name]...)
		}
	}
	ch := make(chan Event, len(first)+subscriberBuffer)
	for _, ev := range first {
		ch <- ev
	}
	s.subs[ch] = sub
	s.mu.Unlock()
	return ch, func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch) // emit sends under s.mu: nothing sends after this
		}
		return sub.lost
	}
}

// tell sends ev to the subscription ch alone (see subscribe), in order
// with the events emitted before: what one client is told of its own
// request, which the others must not print as theirs.
func (s *Supervisor) tell(ch <-chan Event, ev Event) {
	ev.Time = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, sub := range s.subs {
		if (<-chan Event)(c) != ch {
			continue
		}
		select {
		case c <- ev:
		default:
			sub.lost++
		}
	}
}

func (s *Supervisor) emit(ev Event) {
	ev.Time = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ev.Transient {
		s.events.append(ev)
		s.noteStart(ev)
	}
	for ch, sub := range s.subs {
		if !sub.wants(ev) {
			continue
		}
		select {
		case ch <- ev:
		default:
			sub.lost++
		}
	}
}

// keepForStarter begins keeping every instance's events for the command
// that started the daemon (see kept), until forgetKept.
func (s *Supervisor) keepForStarter() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kept = map[string]*keptEvents{}
}

// forgetKept ends what keepForStarter began: that command is answered.
func (s *Supervisor) forgetKept() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kept = nil
}

// noteStart keeps ev among its instance's start events while a start is
// under way (starting, or backing off before the next), and among the
// events kept for the command that started the daemon; s.mu is held.
func (s *Supervisor) noteStart(ev Event) {
	if s.kept != nil && ev.Instance != ReloadEvent {
		k := s.kept[ev.Instance]
		if k == nil {
			k = &keptEvents{}
			s.kept[ev.Instance] = k
		}
		if len(k.events) < subscriberBuffer {
			k.events = append(k.events, ev)
		} else {
			k.lost++
		}
	}
	if ev.State != StateStarting && ev.State != StateBackoff {
		delete(s.starts, ev.Instance)
		return
	}
	s.starts[ev.Instance] = append(s.starts[ev.Instance], ev)
}

// record queues fn for the named instance's record in the state file and
// emits ev. The write follows at most writeGap after the previous one;
// Flush writes at once and waits for it.
func (s *Supervisor) record(name string, ev Event, fn func(*state.Instance)) {
	s.recordChange(mutation{name: name, fn: fn}, ev)
}

// recordOutcome is record for an outcome (see mutation.outcome).
func (s *Supervisor) recordOutcome(name string, ev Event, fn func(*state.Instance)) {
	s.recordChange(mutation{name: name, fn: fn, outcome: true}, ev)
}

// recordChange queues m and emits ev, about m's instance.
func (s *Supervisor) recordChange(m mutation, ev Event) {
	s.persist.enqueue(m)
	ev.Instance = m.name
	s.emit(ev)
}

// Flush waits until a write has tried to save every change recorded so
// far. Its error means the file is behind the supervisor's memory (see
// SaveFailure): the changes stay queued and are retried.
func (s *Supervisor) Flush() error { return s.persist.flush() }

// flushVisible is Flush for whoever reads the file next and needs on the
// disk only what must outlive a power failure (persister.flushVisible).
func (s *Supervisor) flushVisible() error { return s.persist.flushVisible() }

// SaveFailure is the ongoing failure to write the state file, nil when
// the file holds everything the supervisor recorded.
func (s *Supervisor) SaveFailure() *SaveFailure { return s.persist.failure() }

// save writes batch into the state file, durably when asked (see
// persister). A file that cannot be trusted any more (cut short, emptied,
// not a state file) is set aside and written again from what this
// supervisor last saved, with batch: while it runs, its memory is the
// truth.
func (s *Supervisor) save(batch []mutation, durable bool) error {
	var saved *state.File
	rewritten := ""
	store := s.store
	if !durable {
		store = store.Quick()
	}
	err := store.UpdateOrRebuild(context.Background(), func(f *state.File, corrupt *state.CorruptError) error {
		var err error
		if rewritten, err = s.restore(f, corrupt); err != nil {
			return err
		}
		apply(f, batch)
		saved = f.Clone()
		return nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s mictl: saving %s: %v\n", time.Now().Format(time.RFC3339), s.store.Path(), err)
		return err
	}
	s.rememberSaved(saved)
	s.writeTargets(saved)
	if savedState != nil {
		savedState(saved, durable)
	}
	if rewritten == "" {
		return nil
	}
	s.emit(Event{Instance: ReloadEvent, State: "state-rewritten", Message: rewritten + "; written again from the supervisor's memory (a bad file is kept as state.json.corrupt)"})
	if !durable {
		// Everything the file had lost is in this write, not only the
		// batch: a write of outcomes alone would leave it unsynced. The
		// batch is saved either way (a failure here is logged by save, and
		// the next durable write tries again).
		_ = s.save(nil, true)
	}
	return nil
}

// savedState, when set (by tests), is called after each write of the
// persister with what it wrote and whether it was durable.
var savedState func(f *state.File, durable bool)

// update changes the state file as a whole (a reload's new records, the
// instances it forgets, its outcome), after every change queued before
// it, durably. What it writes becomes what this supervisor last saved, as
// a write of the persister does: a corrupt file rewritten from memory
// later must not bring back an instance a reload removed.
func (s *Supervisor) update(fn func(*state.File) error) error {
	if err := s.Flush(); err != nil {
		return err
	}
	var err error
	s.persist.quiet(func() {
		var saved *state.File
		err = s.store.UpdateOrRebuild(context.Background(), func(f *state.File, corrupt *state.CorruptError) error {
			if _, err := s.restore(f, corrupt); err != nil {
				return err
			}
			if err := fn(f); err != nil {
				return err
			}
			saved = f.Clone()
			return nil
		})
		if err == nil {
			s.rememberSaved(saved)
			s.writeTargets(saved)
		}
	})
	return err
}

// restore puts this supervisor's memory of the state file into f, the
// file as read, when the file cannot be trusted: corrupt, or deleted
// after this supervisor saved it (read as empty, it would say nothing
// runs). It returns why, "" when f stands as read. The caller holds the
// state lock.
func (s *Supervisor) restore(f *state.File, corrupt *state.CorruptError) (string, error) {
	var why string
	switch _, err := os.Stat(s.store.Path()); {
	case corrupt != nil:
		why = corrupt.Error()
	case errors.Is(err, fs.ErrNotExist) && s.saved.Load() != nil:
		why = s.store.Path() + " was deleted"
	default:
		return "", nil
	}
	base, err := s.lastSaved()
	if err != nil {
		return "", err
	}
	*f = *base
	return why, nil
}

// rememberSaved keeps f as what the state file holds now; f is not
// changed afterwards.
func (s *Supervisor) rememberSaved(f *state.File) { s.saved.Store(f) }

// lastSaved is a copy of the state file as this supervisor last saved
// it, or, when it saved none yet, the state rebuilt from the homes.
func (s *Supervisor) lastSaved() (*state.File, error) {
	if saved := s.saved.Load(); saved != nil {
		return saved.Clone(), nil
	}
	return Rebuild(filepath.Dir(s.store.Dir()), config.DefaultHost, s.dist)
}

// repair writes the state file again from this supervisor's memory when
// it cannot be read as one (cut short, emptied, edited by hand) or was
// deleted: the daemon need not wait for its next change to put it right.
func (s *Supervisor) repair() {
	var ce *state.CorruptError
	_, err := s.store.Load()
	_, statErr := os.Stat(s.store.Path())
	if (errors.As(err, &ce) && !ce.Newer()) || (errors.Is(statErr, fs.ErrNotExist) && s.saved.Load() != nil) {
		s.persist.quiet(func() { _ = s.save(nil, true) })
	}
}

// current is the state as this supervisor knows it: the state file with
// every change not written to it yet (all of them while writes fail).
// When the file cannot be read, it stands on what this supervisor saved
// last.
func (s *Supervisor) current() (*state.File, error) { return s.read(s.ctx, false) }

// currentSettled is current read under the state lock, once no command
// holds it: what an `mictl up` preparing homes records is in it, never
// the file as it was before (see planReload). The wait for the lock ends
// with ctx.
func (s *Supervisor) currentSettled(ctx context.Context) (*state.File, error) {
	return s.read(ctx, true)
}

func (s *Supervisor) read(ctx context.Context, settled bool) (*state.File, error) {
	for {
		f, busy, err := s.readOnce(settled)
		if !busy {
			return f, err
		}
		// A command holds the state lock: wait for it to let go outside
		// the writer's lock, which status, starts and the persister take.
		unlock, err := s.store.Lock(ctx)
		if err != nil {
			return nil, fmt.Errorf("wait for the state lock: %w", err)
		}
		unlock()
	}
}

// readOnce is one try of read: busy when settled and the state lock is
// held.
func (s *Supervisor) readOnce(settled bool) (f *state.File, busy bool, err error) {
	var pending []mutation
	var lockErr error
	s.persist.quiet(func() {
		// Taken while no write is under way, as every write takes it: in
		// the writers' order.
		if settled {
			unlock, ok, err := s.store.TryLock()
			if err != nil || !ok {
				lockErr, busy = err, err == nil
				return
			}
			defer unlock()
		}
		if f, err = s.store.Load(); err != nil {
			if f, err = s.lastSaved(); err != nil {
				f = nil
				return
			}
		}
		pending = s.persist.pending()
	})
	switch {
	case busy:
		return nil, true, nil
	case lockErr != nil:
		return nil, false, lockErr
	case f == nil:
		// Neither the file nor the homes could be read.
		f, err = s.store.Load()
		return f, false, err
	}
	apply(f, pending)
	return f, false, nil
}

// Start runs (or adopts) every named instance of the state file that has
// no live runner. An instance a stop is stopping (mictl down, Ctrl-C'd or
// not, while an up asks for it) is started once that stop has ended: its
// runner ends with the stop, and passed over, it left the start with
// nothing to do but answer with what the stop left. One that a restart
// is to start is left to that restart (see restartsPending). It returns
// once the starts are under way; Subscribe to follow progress.
func (s *Supervisor) Start(names []string) error {
	// An up asks for this once it has recorded its flags and plan.
	s.ups.forget()
	s.pendingStarts.Add(1)
	defer func() {
		s.pendingStarts.Add(-1)
		// A daemon that looked while this start was pending stayed for
		// it; one that ends without a runner (refused: an instance
		// forgotten meanwhile) has no runner's return to be looked
		// after, and the daemon stayed until its next log check.
		notify(s.runnerEnded)
	}()
	// Nor does it wait for their stops: the restart starts them.
	started := s.awaitStops(s.notRestarting(names))
	defer started()
	s.startMu.Lock()
	defer s.startMu.Unlock()
	// Looked at again under startMu, under which a restart marks its
	// instances before it stops them (beginRestart): one may have begun
	// while this start waited for the stops.
	return s.startLocked(s.notRestarting(names))
}

// notRestarting are those of names that no restart is to start (see
// restartsPending).
func (s *Supervisor) notRestarting(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), s.restartPending)
}

// beginRestartsPending records names as instances a restart is to start
// (see restartsPending).
func (s *Supervisor) beginRestartsPending(names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		if _, ok := s.restartsPending[name]; !ok {
			s.restartsPending[name] = make(chan struct{})
		}
	}
}

// endRestartsPending records that the restarts of names started them or
// ended, however they did (names not recorded are passed over).
func (s *Supervisor) endRestartsPending(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		if done, ok := s.restartsPending[name]; ok {
			delete(s.restartsPending, name)
			close(done)
		}
	}
}

// beginRestart records names as instances this supervisor's restart is
// to start, before it stops them, and returns the func that records it
// started them (or ended). It is recorded under startMu: a Start that
// looked before found the instances' runners still running, and left
// them be; one that looks after leaves them to the restart.
func (s *Supervisor) beginRestart(names []string) (started func()) {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	s.beginRestartsPending(names)
	return sync.OnceFunc(func() { s.endRestartsPending(names...) })
}

// restartPending reports whether a restart is still to start name.
func (s *Supervisor) restartPending(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.restartsPending[name]
	return ok
}

// restartEnds is closed once the restart that is to start name started
// it, or ended; nil when none is to start it. seen is name's runner when
// its state was read (nil for none): once another has taken its place
// (the restart's start, which ends the restart's mark after), what was
// read is out of date, and a closed channel says to look again. The two
// are looked at together, under s.mu, where a restart marks its instance
// before its stop and starts it (a new runner) before it ends the mark:
// a runner stopped by a restart is never seen without either.
func (s *Supervisor) restartEnds(name string, seen *runner) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if done, ok := s.restartsPending[name]; ok {
		return done
	}
	if s.runners[name] != seen {
		return lookAgain
	}
	return nil
}

// lookAgain is a closed channel: a wait on it ends at once.
var lookAgain = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// awaitStops waits until the runner of each of names that a stop was
// asked of has ended. The returned func, called once the instances are
// started again, lets that stop answer (see Stop).
func (s *Supervisor) awaitStops(names []string) (started func()) {
	// Stops no runner carries out first, and without becoming their
	// successor: such a stop waits for the successors of the runners it
	// stops beside them, and would wait for this start for good.
	var unwatched []chan struct{}
	var taken []string
	s.mu.Lock()
	for _, name := range names {
		if st, ok := s.unwatchedStops[name]; ok {
			unwatched = append(unwatched, st.done)
			taken = append(taken, name)
		}
	}
	s.mu.Unlock()
	s.takeMarks(taken)
	for _, done := range unwatched {
		<-done
	}
	var stopping []*runner
	taken = nil
	s.mu.Lock()
	for _, name := range names {
		if r, ok := s.runners[name]; ok && r.stopAsked.Load() && !r.finished() {
			if r.successors == 0 {
				r.succeeded = make(chan struct{})
			}
			r.successors++
			stopping = append(stopping, r)
			taken = append(taken, name)
		}
	}
	s.mu.Unlock()
	s.takeMarks(taken)
	for _, r := range stopping {
		<-r.done
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, r := range stopping {
			if r.successors--; r.successors == 0 {
				close(r.succeeded)
			}
		}
	}
}

// takeMarks makes the daemon's the marks of an up that marked names,
// which a stop is stopping, to start again once stopped
// (state.Instance.MarkedBy): that up's start waits for the stop. Ended
// then (a Ctrl-C), the up leaves the start to the daemon, and a daemon
// killed before it to the next one, as a restart's; only an up killed
// before its start reached the daemon leaves a mark that does not count.
// Written durably before the wait: queued (up to writeGap later), an up
// and a daemon that both died in between left the dead up's mark, and
// the next daemon did not start the instance.
func (s *Supervisor) takeMarks(names []string) {
	if len(names) == 0 {
		return
	}
	for _, name := range names {
		s.persist.add(name, func(i *state.Instance) { i.MarkedBy = proc.Identity{} })
	}
	_ = s.persist.flush() // a failure is retried, and shown by SaveFailure
}

// unwatchedStop is the stops under way of one instance that no runner
// watches; done is closed when the last of them ends.
type unwatchedStop struct {
	n    int
	done chan struct{}
}

// beginUnwatchedStop records a stop of name that no runner carries out,
// for the starts of name to wait for; the returned func ends it.
func (s *Supervisor) beginUnwatchedStop(name string) (end func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.unwatchedStops[name]
	if !ok {
		st = &unwatchedStop{done: make(chan struct{})}
		s.unwatchedStops[name] = st
	}
	st.n++
	return sync.OnceFunc(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if st.n--; st.n == 0 {
			delete(s.unwatchedStops, name)
			close(st.done)
		}
	})
}

// startsPending reports whether a Start is under way, waiting for a stop to
// end before it starts what the stop stopped: the supervisor is not idle.
func (s *Supervisor) startsPending() bool { return s.pendingStarts.Load() > 0 }

// startLocked is Start, under startMu.
func (s *Supervisor) startLocked(names []string) error {
	f, err := s.current()
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, ok := f.Instance(name); !ok {
			return fmt.Errorf("instance %s is not in %s; run %s", name, s.store.Dir(), s.asRun("mictl up"))
		}
	}
	s.endStrays(f, names)
	unwatched := s.unwatchedCrashes(f, names)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		inst, _ := f.Instance(name)
		if r, ok := s.runners[name]; ok && !r.finished() {
			continue
		}
		rec := *inst
		if rec.Server.IsZero() || !rec.Server.Alive() {
			// A fresh start: no reader of the state may take a stale
			// "stopped" or "failed" for its outcome.
			restarts, inARow := rec.Restarts, rec.RestartsInARow
			switch {
			case unwatched[name]:
				restarts, inARow = restarts+1, inARow+1
			case rec.State == StateBackoff:
				// The restart the previous supervisor waited to make is
				// made now: RESTARTS counts restarts made (one it had
				// begun left backoff as it was counted, see restartAfter).
				restarts++
			}
			fresh := func(i *state.Instance) {
				i.State, i.Restarts, i.RestartsInARow = StateStarting, restarts, inARow
				i.Restarting, i.MarkedBy = false, proc.Identity{}
				i.SetError("", "")
			}
			fresh(&rec)
			s.persist.add(name, fresh)
		}
		r := newRunner(s, rec)
		s.runners[name] = r
		s.wg.Add(1)
		go r.run()
	}
	return nil
}

// unwatchedCrashes finds, among names, the instances that were running
// (ready or degraded) and whose server died while no supervisor watched
// it (the daemon was killed meanwhile): crashes, each logged as one, and
// the start that follows their restart, counted as one the daemon saw.
func (s *Supervisor) unwatchedCrashes(f *state.File, names []string) map[string]bool {
	out := map[string]bool{}
	for _, name := range names {
		inst, _ := f.Instance(name)
		if inst == nil || !crashedUnwatched(inst) || s.hasRunner(name) {
			continue
		}
		out[name] = true
		s.emit(Event{Instance: name, State: StateCrashed, PID: inst.Server.PID, Message: unwatchedCrash(inst)})
	}
	return out
}

// crashedUnwatched tells whether inst's record says running (ready or
// degraded) while its server is gone.
func crashedUnwatched(inst *state.Instance) bool {
	return !inst.Server.IsZero() && !inst.Server.Alive() && (inst.State == StateReady || inst.State == StateDegraded)
}

func unwatchedCrash(inst *state.Instance) string {
	return fmt.Sprintf("server pid %d exited while no mictl daemon watched it (it was %s)", inst.Server.PID, inst.State)
}

// Resume starts again the instances the previous supervisor ran (names),
// as a daemon does at its start. A server among them that died while no
// supervisor watched it crashed like one seen: with restart policy
// "never" it is left failed, as a watched crash would be; otherwise
// Start restarts it and counts the restart.
func (s *Supervisor) Resume(names []string) error {
	if s.policy.Restart != RestartNever {
		return s.Start(names)
	}
	resumed, err := s.leaveCrashed(names)
	if err != nil || len(resumed) == 0 {
		return err
	}
	return s.Start(resumed)
}

// leaveCrashed records as failed each of names whose server died while
// no supervisor watched it, ending what is left of its group, and returns
// the others. A start asked for meanwhile (the control socket serves
// already) waits, then sees the record it leaves.
func (s *Supervisor) leaveCrashed(names []string) (others []string, err error) {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	f, err := s.current()
	if err != nil {
		return nil, err
	}
	var crashed []string
	for _, name := range names {
		inst, ok := f.Instance(name)
		if !ok || !crashedUnwatched(inst) || s.hasRunner(name) {
			others = append(others, name)
			continue
		}
		crashed = append(crashed, name)
		why := unwatchedCrash(inst)
		s.emit(Event{Instance: name, State: StateCrashed, PID: inst.Server.PID, Message: why})
		s.persist.add(name, func(i *state.Instance) {
			i.Ended(StateFailed)
			i.SetError("exited while no mictl daemon watched it", why)
		})
		s.emit(Event{Instance: name, State: StateFailed, Message: why + "; restart policy " + RestartNever})
	}
	s.endStrays(f, crashed)
	return others, nil
}

// endedOnItsOwn reports whether name's runner has ended with no stop
// asked of it: failed, or left stopped by the restart policy.
func (s *Supervisor) endedOnItsOwn(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runners[name]
	return ok && r.finished() && !r.stopAsked.Load()
}

func (s *Supervisor) hasRunner(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runners[name]
	return ok && !r.finished()
}

// Instances returns the supervisor's current view of the named
// instances that have a runner, newer than the state file by at most one
// write.
func (s *Supervisor) Instances(names []string) map[string]state.Instance {
	return snapshots(s.runnersOf(names))
}

// runnersOf are the runners of the named instances that have one.
func (s *Supervisor) runnersOf(names []string) map[string]*runner {
	picked := map[string]*runner{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		if r, ok := s.runners[name]; ok {
			picked[name] = r
		}
	}
	return picked
}

// snapshots are the views of runners, taken without s.mu (see
// allRunners).
func snapshots(runners map[string]*runner) map[string]state.Instance {
	out := map[string]state.Instance{}
	for name, r := range runners {
		out[name] = r.snapshot()
	}
	return out
}

// WaitReady waits until every name is ready (or degraded: started, with
// faulty CApps), or one failed or stopped, or timeout passed, watching
// the supervisor's own view of the instances. One stopped for a restart
// is waited for until that restart started it, or ended (see
// restartsPending).
func (s *Supervisor) WaitReady(names []string, timeout time.Duration) error {
	return s.waitReady(s.ctx, names, timeout, func(string) bool { return false })
}

// waitReady is WaitReady, ended early with ctx's error when ctx is done.
// An instance left(name) says to leave stopped is not waited for once it
// is stopped.
func (s *Supervisor) waitReady(ctx context.Context, names []string, timeout time.Duration, left func(string) bool) error {
	// Every change of an instance's state is an event, emitted once the
	// runner's view holds it: look again at each, not on a clock.
	events, cancel := s.Subscribe()
	defer cancel()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	graced := false
	for {
		runners := s.runnersOf(names)
		insts := snapshots(runners)
		if waitLooked != nil {
			waitLooked(insts)
		}
		var pending, failed []string
		// Closed when a restart, which the wait waits for, started its
		// instance or ended: it may end with no event (a stop interrupted
		// it). One restart's is selected on, the last pending; the others'
		// ends are seen at the next event or look (waitReadyLook).
		var restartEnds <-chan struct{}
		for _, name := range names {
			inst, ok := insts[name]
			ends := s.restartEnds(name, runners[name])
			switch {
			case ends != nil && (!ok || inst.State == StateStopped) && !left(name):
				// Stopped for that restart, not started by it yet (its
				// start makes a runner, whose states the wait follows).
				pending, restartEnds = append(pending, name), ends
			case !ok:
				failed = append(failed, s.unsupervised(name))
			case inst.State == StateReady, inst.State == StateDegraded:
				// Degraded is started: a faulty CApp, which MI serves without.
			case inst.State == StateFailed:
				failed = append(failed, fmt.Sprintf("%s failed: %s", name, inst.LastError))
			case inst.State == StateStopped && left(name):
			case inst.State == StateStopped:
				failed = append(failed, stoppedBeforeReady(name))
			default:
				pending = append(pending, name)
			}
		}
		if len(pending) == 0 {
			if len(failed) > 0 {
				return errors.New(strings.Join(failed, "\n"))
			}
			return nil
		}
		if time.Now().After(deadline) {
			if !graced && anyStarting(insts, pending) {
				// A start's own deadline counts from its launch, which may
				// come after this wait began (a daemon launches what the
				// state file asks for before the command's request
				// arrives): let it end the start, so that the answer says
				// how, not "starting".
				graced, deadline = true, time.Now().Add(readyGrace)
				timer.Reset(readyGrace)
				continue
			}
			return fmt.Errorf("not ready after %s: %s", timeout, strings.Join(pending, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-events:
		case <-restartEnds:
		case <-timer.C:
		case <-time.After(waitReadyLook):
			// A subscriber that falls behind loses events: look anyway.
		}
	}
}

// waitLooked, when set (by tests), is called with each look of a wait
// for instances to be ready (waitReady) at their states, before it
// looks at which of them a restart is to start.
var waitLooked func(insts map[string]state.Instance)

// unsupervised is why a wait for name, which no runner runs, ends: as
// stopped when its record says so (a stop interrupted the restart a dead
// supervisor left, which was to start it, see restartsPending).
func (s *Supervisor) unsupervised(name string) string {
	if f, err := s.current(); err == nil {
		if inst, ok := f.Instance(name); ok && inst.State == StateStopped {
			return stoppedBeforeReady(name)
		}
	}
	return name + ": not supervised"
}

func stoppedBeforeReady(name string) string {
	return name + " was stopped before it was ready (by mictl down, or its restart policy)"
}

// change is a reload or a restart under way.
type change struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// stopped is set when a stop of every instance interrupted it (its
	// context also ends when the supervisor closes).
	stopped atomic.Bool
	// stoppedNames are the instances a stop of named ones stopped while it
	// was under way: it does not start them again.
	mu           sync.Mutex
	stoppedNames []string
}

// ErrInterrupted ends a reload or a restart that a stop of every instance
// interrupted: it starts nothing more, and the stop goes on. A client
// tells it from the daemon's answer (see Call).
var ErrInterrupted = errors.New("interrupted: mictl down stops every instance")

// errStoppedMeanwhile is why a change does not start an instance that a
// stop of named ones stopped while it was under way (mictl down mi-1
// during mictl restart mi-1): it stays stopped, and a restart says so
// once it restarted the others.
var errStoppedMeanwhile = errors.New("interrupted: mictl down stopped it meanwhile, so it is not started again")

// beginChange registers a reload or a restart; it checks its context
// before each start, and calls endChange when it returns. One that
// begins during a stop (a mictl restart arriving as mictl down stops
// everything) is told of it as those under way were: it began after the
// stop had ended them, and started again what the stop was stopping.
func (s *Supervisor) beginChange() *change {
	ctx, cancel := context.WithCancel(s.ctx)
	c := &change{ctx: ctx, cancel: cancel, done: make(chan struct{})}
	s.changesMu.Lock()
	s.changes[c] = struct{}{}
	if s.stoppingAll > 0 {
		c.interrupt()
	}
	c.stoppedNames = slices.Clone(s.stoppingNames)
	s.changesMu.Unlock()
	return c
}

// interrupt marks c interrupted by a stop of everything.
func (c *change) interrupt() {
	c.stopped.Store(true)
	c.cancel()
}

// beginRoll begins a rolling restart: a change that holds reloadMu
// until end, so that rolls and reloads go one at a time. Side by side,
// one stopped the server the other was starting, and that one ended
// saying it was "stopped before it was ready (by mictl down ...)", the
// instances after it not restarted. The change begins before the wait,
// so that a stop of everything interrupts a roll waiting its turn.
// waiting (when not nil) is called when the roll must wait its turn, so
// that its client is told why nothing happens yet, as a reload's is.
func (s *Supervisor) beginRoll(waiting func()) (op *change, end func()) {
	op = s.beginChange()
	if !s.reloadMu.TryLock() {
		if waiting != nil {
			waiting()
		}
		s.reloadMu.Lock()
	}
	return op, func() {
		s.reloadMu.Unlock()
		s.endChange(op)
	}
}

func (s *Supervisor) endChange(c *change) {
	s.changesMu.Lock()
	delete(s.changes, c)
	s.changesMu.Unlock()
	c.cancel()
	close(c.done)
}

// interrupted is ErrInterrupted once a stop interrupted c, the
// context's error once the supervisor closes, else nil.
func (c *change) interrupted() error {
	if c.stopped.Load() {
		return ErrInterrupted
	}
	return c.ctx.Err()
}

// startFor starts names for the change op, unless a stop interrupted it.
// The look and the start are one step under startMu, which a named stop
// takes to tell the changes under way (leaveStopped): a stop between the
// two found no runner to stop, and the start then ran what it had just
// been told to stop.
func (s *Supervisor) startFor(op *change, names []string) error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if err := op.mayStart(names); err != nil {
		return err
	}
	if mayStartSaidYes != nil {
		mayStartSaidYes(names)
	}
	return s.startLocked(names)
}

// mayStartSaidYes, when set (by tests), is called between a change's look
// at whether it may start names and the start.
var mayStartSaidYes func(names []string)

// mayStart is why c may not start names (a stop interrupted it, or
// stopped one of them by name meanwhile), nil when it may.
func (c *change) mayStart(names []string) error {
	if err := c.interrupted(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if slices.ContainsFunc(names, func(n string) bool { return slices.Contains(c.stoppedNames, n) }) {
		return errStoppedMeanwhile
	}
	return nil
}

// stoppedByName reports whether a stop of named instances stopped name
// while c was under way.
func (c *change) stoppedByName(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.stoppedNames, name)
}

// notStoppedByName are those of names that no stop of named instances
// stopped while c was under way.
func (c *change) notStoppedByName(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), c.stoppedByName)
}

// restartStep stops names and starts them again for op, ready within
// timeout (a step of a rolling restart or of a reload's restarts: one
// instance, or those that take each other's ports, which are all stopped
// before any starts, see reconcile.Target.RestartSteps); prepare brings
// the homes of those it starts up to date in between, why (when not nil)
// says why each stops. stopped are those a stop of named instances
// stopped meanwhile: they stay stopped, and op goes on with the others. A
// prepare that fails (a distribution's deployment.toml that does not
// parse, a file gone meanwhile, a full disk) does not keep them stopped,
// where they would read as running what they ran before: they start with
// their homes as they are, and unprepared is why.
func (s *Supervisor) restartStep(op *change, names []string, why func(name string) string, timeout time.Duration, prepare func(names []string) error) (stopped []string, unprepared, err error) {
	if err := op.interrupted(); err != nil {
		return nil, nil, err
	}
	stoppedMeanwhile := func() []string {
		return slices.DeleteFunc(slices.Clone(names), func(name string) bool { return !op.stoppedByName(name) })
	}
	left := op.notStoppedByName(names)
	if len(left) == 0 {
		return stoppedMeanwhile(), nil, nil // and no stop of an empty list, which is of everything
	}
	// From before the stop to the start, a start asked for meanwhile (an
	// up) leaves them to this restart, and its wait waits for this
	// restart's start (see restartsPending).
	restarted := s.beginRestart(left)
	defer restarted()
	if why != nil {
		for _, name := range left {
			s.emit(Event{Instance: name, State: StateStopping, Message: why(name)})
		}
	}
	// The stop marks each instance restarting (state.Instance.Restarting);
	// its start clears the mark. Ended any other way (a down of it, an
	// interruption, a failed stop), the restart takes its mark with it,
	// unless this supervisor is closing: its successor finishes the
	// restart then. A mark left behind kept the daemon from ever leaving,
	// and the next one started what the user had stopped.
	var startTried []string
	defer func() {
		if s.ctx.Err() != nil {
			return
		}
		for _, name := range names {
			if !slices.Contains(startTried, name) {
				s.persist.add(name, func(i *state.Instance) { i.Restarting, i.MarkedBy = false, proc.Identity{} })
			}
		}
	}()
	if err := s.stop(left, s.policy.StopTimeout, true); err != nil {
		return nil, nil, fmt.Errorf("restart %s: %w", strings.Join(left, ", "), err)
	}
	if err := op.interrupted(); err != nil {
		return nil, nil, err
	}
	if left = op.notStoppedByName(left); len(left) == 0 {
		return stoppedMeanwhile(), nil, nil
	}
	unprepared = prepare(left)
	startTried = left
	started, err := s.startUnlessStopped(op, left)
	restarted()
	if err == nil && len(started) > 0 {
		err = s.waitReadyFor(op, started, timeout)
	}
	if ierr := op.interrupted(); ierr != nil {
		return nil, unprepared, ierr
	}
	stopped = stoppedMeanwhile()
	if len(stopped) == len(names) {
		return stopped, unprepared, nil // whatever the start or its wait said of them
	}
	if err != nil {
		return stopped, unprepared, fmt.Errorf("restart %s: %w", strings.Join(left, ", "), err)
	}
	return stopped, unprepared, nil
}

// startUnlessStopped starts names for op, but those a stop of named
// instances stops meanwhile (which stay stopped), and returns those it
// started.
func (s *Supervisor) startUnlessStopped(op *change, names []string) ([]string, error) {
	for err := s.startFor(op, names); err != nil; err = s.startFor(op, names) {
		if !errors.Is(err, errStoppedMeanwhile) {
			return nil, err
		}
		if names = op.notStoppedByName(names); len(names) == 0 {
			return nil, nil
		}
	}
	return names, nil
}

// rollEnded is the error of a rolling restart's step (restartStep) that
// ended the roll: it says so when instances after it were left as they
// were (more).
func rollEnded(err error, more bool) error {
	if more {
		return fmt.Errorf("%w (the instances after it were not restarted)", err)
	}
	return err
}

// leaveStopped tells the reloads and restarts under way, and those that
// begin until end is called (once the stop of names ended), that names
// were stopped by name: they do not start them again.
func (s *Supervisor) leaveStopped(names []string) (end func()) {
	s.startMu.Lock() // see startFor
	defer s.startMu.Unlock()
	// A restart starts no instance stopped by name (mayStart): no longer
	// its to start, the instance is an up's again. Left to the restart,
	// an up after the stop started nothing and its wait failed it.
	s.endRestartsPending(names...)
	s.changesMu.Lock()
	defer s.changesMu.Unlock()
	for c := range s.changes {
		c.mu.Lock()
		c.stoppedNames = append(c.stoppedNames, names...)
		c.mu.Unlock()
	}
	s.stoppingNames = append(s.stoppingNames, names...)
	return func() {
		s.changesMu.Lock()
		defer s.changesMu.Unlock()
		for _, name := range names {
			if i := slices.Index(s.stoppingNames, name); i >= 0 {
				s.stoppingNames = slices.Delete(s.stoppingNames, i, i+1)
			}
		}
	}
}

// waitReadyFor is waitReady for the change op: op.interrupted() once op
// is, whatever the wait saw; an instance a stop of named ones stopped
// meanwhile is waited for no longer, and is no failure.
func (s *Supervisor) waitReadyFor(op *change, names []string, timeout time.Duration) error {
	err := s.waitReady(op.ctx, names, timeout, op.stoppedByName)
	if ierr := op.interrupted(); ierr != nil {
		return ierr
	}
	return err
}

// interruptChanges ends the reloads and restarts under way, and those
// that begin until end is called (once the stop of everything ended), and
// waits for those under way to return: a stop of every instance must not
// see one of them start an instance again behind it. A stop one of them
// is waiting for is waited for, given timeout (the stop of everything's)
// when that is shorter than its own.
func (s *Supervisor) interruptChanges(timeout time.Duration) (end func()) {
	asked := time.Now()
	s.changesMu.Lock()
	s.stoppingAll++
	var under []*change
	for c := range s.changes {
		under = append(under, c)
		c.interrupt()
	}
	s.changesMu.Unlock()
	for _, c := range under {
		hurryUntil(c.done, asked, timeout, s.stopsUnderWay)
	}
	return func() {
		s.changesMu.Lock()
		s.stoppingAll--
		s.changesMu.Unlock()
	}
}

// stopsUnderWay are the clocks of the stops under way.
func (s *Supervisor) stopsUnderWay() []*killClock {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*killClock
	for _, r := range s.runners {
		out = append(out, r.stopUnderWay()...)
	}
	return out
}

// waitReadyLook is how often WaitReady looks without an event.
const waitReadyLook = 100 * time.Millisecond

// readyGrace is how long WaitReady waits past its own deadline for starts
// still under way to end on theirs.
const readyGrace = time.Second

// anyStarting reports whether one of names is starting in insts.
func anyStarting(insts map[string]state.Instance, names []string) bool {
	return slices.ContainsFunc(names, func(name string) bool { return insts[name].State == StateStarting })
}

// Stop stops the named instances in parallel and waits until each is gone
// or timeout passed and it was killed. With no names it stops every
// instance and forgets the run (reconcile.ForgetStoppedRun), as the
// `mictl down` of everything that asks for it would once nothing runs.
func (s *Supervisor) Stop(names []string, timeout time.Duration) error {
	return s.stop(names, timeout, false)
}

// StopRunning stops every instance that runs (a failed one keeps its
// state and its reason) as a stop of everything does: the reloads and
// restarts under way end first, and those that begin until it ended begin
// interrupted (see interruptChanges); what runs is read once they ended,
// so one a restart started meanwhile stops too. mictl up --foreground
// stopped what ran at its Ctrl-C, and a mictl restart beside it started
// every instance again, left running with no supervisor.
func (s *Supervisor) StopRunning(timeout time.Duration) error {
	end := s.interruptChanges(timeout)
	defer end()
	active := s.Active()
	if len(active) == 0 {
		return nil
	}
	return s.Stop(active, timeout)
}

// stop is Stop; restarting says that the stop is a restart's (or a
// reload's), which starts the instances again itself: it records so
// (state.Instance.Restarting) in the write of the stop's intent, and a
// stop that is not a restart's ends one under way.
func (s *Supervisor) stop(names []string, timeout time.Duration, restarting bool) error {
	runners := map[string]*runner{}
	s.mu.Lock()
	for name, r := range s.runners {
		if !r.finished() && (len(names) == 0 || slices.Contains(names, name)) {
			runners[name] = r
		}
	}
	s.mu.Unlock()
	// Every watched server gets its SIGTERM before any stop is recorded
	// or waited for, and before the state file is read: all aimed first
	// and then sent back to back, the servers stop side by side. Sent one
	// stop at a time, each after its record and event, the last of twenty
	// went out some 20 ms after the first, while the first ones' exits
	// took the CPU.
	picked := slices.Sorted(maps.Keys(runners))
	var aimed []*sigterm
	for _, name := range picked {
		if t := runners[name].aimEarly(); t != nil {
			aimed = append(aimed, t)
		}
	}
	for _, t := range aimed {
		t.send()
	}
	// Records of finished runners (failed, and why) may still be queued.
	// A file that cannot be read leaves the watched instances to stop,
	// signalled already: their runners stop them all the same.
	f, readErr := s.current()
	if readErr != nil {
		f = &state.File{}
	}
	// A stop of everything forgets the run with its intent (see
	// reconcile.ForgetStoppedRun).
	all := len(names) == 0
	if all {
		names = picked
		for _, inst := range f.Instances {
			if _, ok := runners[inst.Name]; !ok {
				names = append(names, inst.Name)
			}
		}
	}
	// Each stop calls intended once its first record, that the instance
	// is no longer wanted, is queued (written meanwhile as any record,
	// within writeGap).
	var intents, wg sync.WaitGroup
	errs := make([]error, len(names))
	var unsupervised []string
	for _, name := range names {
		// A restart's mark is the daemon's own; a down takes an up's off.
		s.persist.add(name, func(i *state.Instance) { i.Restarting, i.MarkedBy = restarting, proc.Identity{} })
	}
	for i, name := range names {
		r, watched := runners[name]
		if !watched {
			unsupervised = append(unsupervised, name)
			if inst, found := f.Instance(name); found && hasRunToStop(*inst) {
				// Its starts wait for the whole stop, the unrecorded
				// processes it ends (below) included.
				defer s.beginUnwatchedStop(name)()
			}
		}
		intents.Add(1)
		intended := sync.OnceFunc(intents.Done)
		wg.Go(func() {
			if watched {
				errs[i] = r.stop(timeout, restarting, intended)
				return
			}
			defer intended()
			// No runner: stop whatever the state file says is running.
			if inst, found := f.Instance(name); found {
				errs[i] = s.stopUnsupervised(*inst, timeout, intended)
			}
		})
	}
	intents.Wait()
	// Set by the write (or a read of the file with the changes queued).
	var forgot atomic.Pointer[reconcile.RunMemory]
	if all {
		s.persist.addFile(func(f *state.File) {
			if m := reconcile.ForgetStoppedRun(f); m != nil {
				forgot.Store(m)
			}
		})
	}
	s.writeIntent()
	wg.Wait()
	// A start that waited for these stops (an up during a down) has its
	// instances recorded starting before the stop answers: the answer
	// shows them started again, not stopped beside servers it did not
	// start, and a stop of everything sees them run (below, and before
	// its daemon would leave).
	var successors []chan struct{}
	s.mu.Lock()
	for _, r := range runners {
		if r.successors > 0 {
			successors = append(successors, r.succeeded)
		}
	}
	s.mu.Unlock()
	for _, c := range successors {
		<-c
	}
	// What no runner watched may run unrecorded in its home (a server
	// started while the state file could not be written, or by hand): the
	// stop ends it too. A watched instance leaves nothing unrecorded, and
	// the look walks every process's command line. Without the file
	// neither what no runner watches nor what runs unrecorded is known.
	if readErr != nil {
		errs = append(errs, fmt.Errorf("only the instances being watched were stopped: %w", readErr))
	} else if len(unsupervised) > 0 {
		errs = append(errs, s.endUnrecorded(unsupervised, timeout))
	}
	err := errors.Join(errs...)
	if m := forgot.Load(); m != nil && len(s.Active()) > 0 {
		// A start began meanwhile: the last up's flags hold while what it
		// started runs.
		s.persist.addFile(func(f *state.File) { reconcile.RecallRun(f, m) })
	}
	return err
}

// finishRestarts finishes the restarts of names, which a supervisor
// killed in the middle of them left stopping or stopped
// (state.Instance.Restarting), in the steps a restart of them takes now,
// each ready before the next, and with their homes brought up to date
// from the configuration load gives (nil when none is followed), as
// `mictl restart` does (see restartPlan). Started with the homes as the
// dead supervisor left them, the instances of a reload killed between its
// stops and its starts ran on their old settings, which no later reload
// changed, or with a home rewritten and a record that was not (an offset
// their readiness was not checked on). A stop of them meanwhile ends it,
// as it would have ended the restart.
func (s *Supervisor) finishRestarts(names []string, load LoadConfig) {
	// However it ends (the supervisor closing), no wait waits for it on.
	defer s.endRestartsPending(names...)
	op, end := s.beginRoll(nil) // no client waits for it
	defer end()
	steps, prepare, err := s.restartPlan(load, names)
	if err != nil {
		// Their new ports are held by instances still to restart: they
		// start as they were, and a reload restarts them together (the
		// catch-up of a daemon status or reload started, see
		// StartDaemon; else the mictl reload up's refusal asks for).
		for _, name := range names {
			s.emit(Event{Instance: name, State: StateStopped, Transient: true,
				Message: "restart: it starts again with its home as it was: " + err.Error()})
		}
		steps, prepare = oneByOne(names), func([]string) error { return nil }
	}
	for _, step := range steps {
		// A start that failed is recorded as any; the others go on.
		_, _, _ = s.restartStep(op, step, nil, s.policy.ReadyTimeout, prepare)
		s.endRestartsPending(step...)
	}
}

// writeIntent writes what the stops recorded so far durably, while the
// servers stop: that the instances are no longer wanted must outlive a
// power failure (a daemon started afterwards would bring them back);
// how each stop ended, written after, need not (see mutation.outcome).
// The event log is synced with it: should a later write without fsync
// leave the state file empty after a power failure, the file rebuilt
// from the homes reads from the log that the instances were stopping.
func (s *Supervisor) writeIntent() {
	// Taken under s.mu: RotateEventLog replaces the log under it.
	s.mu.Lock()
	events := s.events.file
	s.mu.Unlock()
	var synced sync.WaitGroup
	synced.Go(func() { _ = events.Sync() })
	_ = s.persist.flush() // a failure is retried, and shown by SaveFailure
	synced.Wait()
}

// Active lists the instances whose runner is still running.
func (s *Supervisor) Active() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, r := range s.runners {
		if !r.finished() {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// RunnerEnded is signalled after a runner returns, so that it is no
// longer Active: the instance failed, stopped, or was removed; and after
// a Start ended, or an up whose mark kept the daemon (see
// Daemon.watchMarkers): a look at whether the daemon is still needed is
// due. One signal
// stands for every runner that returned before it is taken, and is never
// lost, where an event is to a subscriber that fell behind (see
// Subscribe): a daemon that waited for its last instance's event to leave
// stayed on until its next log check when a huge deployment's events
// overflowed its subscription.
func (s *Supervisor) RunnerEnded() <-chan struct{} { return s.runnerEnded }

// Homes lists the homes of the instances with a live runner.
func (s *Supervisor) Homes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.runners {
		if !r.finished() {
			out = append(out, r.inst.Home)
		}
	}
	slices.Sort(out)
	return out
}

// hasRunToStop reports whether inst, which no runner watches, has
// anything for a stop to end: its server or process group still running,
// or a run recorded wanted or stopping.
func hasRunToStop(inst state.Instance) bool {
	return inst.Server.Alive() || proc.GroupOf(inst.PGID, inst.Home, inst.Server) || Wanted(inst.State) || inst.State == StateStopping
}

// stopUnsupervised stops an instance no runner watches (the daemon that
// started it died, and it was stopped before being re-adopted).
func (s *Supervisor) stopUnsupervised(inst state.Instance, timeout time.Duration, intended func()) error {
	if !hasRunToStop(inst) {
		if inst.State == StateFailed {
			// Stopping it is what was asked: left failed, it kept
			// status (and `mictl down && mictl status`) exiting 3 after
			// a down of everything. Its last error stays for status NAME.
			s.record(inst.Name, Event{State: StateStopped, Message: "was failed: nothing ran to stop"}, endFailedRun)
		}
		return nil
	}
	res, err := s.stopInstance(inst.Name, inst.Server, inst.PGID, inst.Home, newKillClock(timeout, time.Now()), nil, intended)
	removeStalePIDFile(inst.Home)
	s.recordOutcome(inst.Name, stoppedEvent(res, err), endStopped)
	return err
}
