package supervisor

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/words"
)

// LoadConfig loads the configuration a reload applies, given the planning
// flags of the last `mictl up` (state.File.UpArgs).
type LoadConfig func(upArgs []string) (*config.Config, []int, error)

// ReloadEvent names events about the whole deployment in the event log.
const ReloadEvent = "mictl"

// ReloadFailed is the state of a ReloadEvent saying that a reload was
// refused or failed, and why.
const ReloadFailed = "reload-failed"

// Reload re-reads the configuration and applies what changed, and only
// that: new instances are started, removed ones stopped gracefully, and
// running instances whose deployment.toml, offset or launch settings
// changed are restarted ONE AT A TIME, each ready before the next.
// Everything is validated and checked for conflicts before anything stops;
// an invalid configuration changes nothing and is recorded (state file,
// event log) until a later reload succeeds.
func (s *Supervisor) Reload(load LoadConfig) (changes reconcile.Changes, err error) {
	return s.reload(load, reloadAsked, nil)
}

// reloadKind says what set a reload off, and so what it reports.
type reloadKind int

const (
	// reloadAsked: an edit followed, or `mictl reload`. Every outcome is
	// reported (event log, state file, metrics), but one that stands
	// already (see countsStanding).
	reloadAsked reloadKind = iota
	// reloadCatchUp: a daemon taking over from one that died (killed, or
	// crashed) with instances running. mictl.toml, the distribution's
	// deployment.toml or a declared CApp may have changed while no daemon
	// followed them. Nothing is said when nothing changed, nor of a
	// refusal the state file records already (the dead daemon's), though
	// the metrics are told: a new daemon's know of no refusal yet.
	reloadCatchUp
	// reloadRetry: a reload refused only for ports that other programs
	// held, tried again (see configWatch.retryAfter). Nothing is said when
	// nothing changed, or when it is refused again for the same reason.
	reloadRetry
	// reloadFollowed: the daemon's own reload of an edit it follows,
	// reported as reloadAsked is; a reload that waited behind it names it
	// so (see appliedBehind).
	reloadFollowed
)

// reloadOutcome is what a reload changed and how it ended, and whether it
// was the daemon's own of an edit it follows (reloadFollowed).
type reloadOutcome struct {
	changes  reconcile.Changes
	err      error
	followed bool
}

// reloadRun is one reload: how it ended, once ended is closed.
type reloadRun struct {
	outcome reloadOutcome
	ended   chan struct{}
}

// underway is the reload under way now (see Supervisor.reloadUnderway),
// nil when none is.
func (s *Supervisor) underway() *reloadRun {
	run := s.reloadUnderway.Load()
	if run == nil {
		return nil
	}
	select {
	case <-run.ended:
		return nil
	default:
		return run
	}
}

// endedAs is how run ended, nil when run is nil.
func (run *reloadRun) endedAs() *reloadOutcome {
	if run == nil {
		return nil
	}
	<-run.ended
	return &run.outcome
}

// reload is Reload, reporting as kind says. window, when not nil, is the
// request of the client that asked for it (mictl reload, deploy,
// undeploy): marked as the reload begins, its wait for its turn over, and
// as it ends, before the next reload may begin, so that its client shows
// the reload's lines and none of another's (the daemon's own of the same
// edit, which waited behind it, said "reloaded: no change" below them).
// Its wait for its turn is told to that client alone; a reload no client
// waits for waits in silence, as nobody is there to read it.
func (s *Supervisor) reload(load LoadConfig, kind reloadKind, window *rollWindow) (changes reconcile.Changes, err error) {
	followed := kind == reloadFollowed
	if followed {
		kind = reloadAsked
	}
	// The reload under way as this one begins, which it waits behind:
	// the one whose end it reports when it finds nothing left to change
	// (see appliedBehind). Reading the last to end instead, one behind two
	// others (the daemon's own, then another mictl reload waiting behind
	// it too) reported the second, which had found no change.
	ahead := s.underway()
	// Registered before it waits its turn and plans: a stop of everything
	// meanwhile ends it there. Registered only once planned, it planned
	// after the stop from what the stop was ending, and started again
	// what mictl down had just stopped.
	c := s.beginChange()
	defer s.endChange(c)
	if !s.reloadMu.TryLock() {
		// Behind a rolling restart (each instance's stop may take MI's
		// drain of minutes) or another reload: said, not waited in
		// silence by a mictl reload or deploy.
		window.tell(Event{Instance: ReloadEvent, State: "reloading", Transient: true,
			Message: "waiting for the rolling restart or reload under way to end"})
		s.reloadMu.Lock()
	}
	defer s.reloadMu.Unlock()
	window.begin()
	// Before the unlock: the next reload's lines are its own, and so is
	// what it changes.
	defer s.endWindow(window)

	// ahead held reloadMu: it has ended.
	behind := ahead.endedAs()
	run := &reloadRun{ended: make(chan struct{})}
	s.reloadUnderway.Store(run)
	defer func() {
		run.outcome = reloadOutcome{changes: changes, err: err, followed: followed}
		close(run.ended)
	}()
	// Whatever it did, mictl.toml may name other instances now and the
	// state file records what it planned: the up a remedy names may be
	// another (upCommand). Every kind of reload, the watch's, a catch-up
	// and a retry as well as mictl reload.
	defer s.ups.forget()
	reported := true
	// besides are the errors of a reload a stop of everything
	// interrupted, which returns ErrInterrupted alone (see call): a home
	// it could not bring up to date is still told.
	var besides error
	defer func() {
		if errors.Is(err, ErrInterrupted) {
			// Not a failed reload: a stop of everything interrupted it,
			// and undid what it left undone. Nor an applied one: the
			// metrics count neither.
			msg := err.Error()
			if besides != nil {
				msg += "; before that: " + besides.Error()
			}
			s.emit(Event{Instance: ReloadEvent, State: "reload-interrupted", Message: msg})
			return
		}
		if reported && s.observer != nil {
			s.observer.ObserveReload(err)
		}
	}()
	// Planned again whenever an mictl up, run whole while the reload
	// applied its plan, took an instance the plan adds or removes (see
	// takenMeanwhile): what the reload did before stands, and the new
	// plan finds it done. The passes before the last are told with it:
	// the changes they made (earlier), their errors (failed: put right
	// once a last pass ran, see below) and the instances a stop by name
	// left stopped (left). Told by the last
	// alone, a reload whose first pass restarted every instance said
	// "no change", and a home that pass could not bring up to date went
	// unsaid.
	var earlier reconcile.Changes
	var failed error
	var left []string
	did := func() bool { return !earlier.Empty() || failed != nil || len(left) > 0 }
	// planned is the state file the last pass planned from, and standing
	// the instances an earlier reload's failure left failed that it
	// planned as they failed (see below): a failure once a pass changed
	// things is recorded with them, whatever ends the reload. Recorded
	// without, a reload whose plan made again was refused dropped the
	// failure that stood for mi-1, still failed: status no longer said
	// why, nor that mictl up would start it into that failure.
	var planned *state.File
	var standing []string
	for {
		var f *state.File
		f, err = s.currentSettled(c.ctx)
		if stopped := c.interrupted(); stopped != nil {
			besides = failed
			return earlier, stopped
		}
		if err != nil {
			s.recordReload(errors.Join(failed, err), nil, nil, did(), planned, standing)
			return earlier, errors.Join(failed, err)
		}
		var t *reconcile.Target
		t, changes, err = s.planReload(load, f)
		if stopped := c.interrupted(); stopped != nil {
			besides = failed
			return together(earlier, changes), stopped
		}
		recorded := f.ReloadError // the last reload's refusal or failure, as the file says
		if err != nil {
			// A refusal recorded beside a failure that stands (see
			// recordReload) is the same refusal.
			if f.ReloadRefused && f.ReloadLast == err.Error() {
				recorded = err.Error()
			}
			if did() {
				err = errors.Join(failed, err)
				s.recordReload(err, nil, nil, true, planned, standing)
				return earlier, err
			}
			if recorded == err.Error() {
				reported = countsStanding(kind)
				return changes, err
			}
			s.recordReload(err, nil, nil, false, nil, nil)
			return changes, err
		}
		if changes.Empty() && !did() {
			// Only a reload someone asked for: the daemon's own, behind
			// a mictl reload that applied the edit first, said "another
			// reload applied it" to everyone listening (a reload still
			// waiting for its CApps printed it as its last line).
			if kind == reloadAsked && !followed && behind != nil && !behind.changes.Empty() {
				// Its failure is that reload's, which recorded, said and
				// counted it.
				err = s.appliedBehind(*behind, f.UpArgs)
				reported = err == nil
				return changes, err
			}
			if stands := failureStands(stillFailed(t, f), "no change to apply, and", s.deployment); stands != nil {
				reported = countsStanding(kind)
				return changes, stands
			}
			if kind != reloadAsked {
				if recorded == "" && slices.Equal(f.Configured, t.Config.Names()) {
					reported = false
					return changes, nil
				}
				// A refusal recorded before is over all the same; and the
				// instances a reload killed after starting them (its
				// successor resumed them) are the configuration's: left
				// unrecorded, they were kept (reconcile.Kept) once the
				// configuration no longer named them.
				s.recordReload(nil, t.Config.Names(), f.UpArgs, false, nil, nil)
				return changes, nil
			}
			s.recordReload(nil, t.Config.Names(), f.UpArgs, false, nil, nil)
			s.emit(Event{Instance: ReloadEvent, State: "reloaded", Message: s.withOverridden("no change", f.UpArgs)})
			return changes, nil
		}
		// An earlier reload's failure stands for the instances it left
		// failed that this one plans as they failed (it leaves those to
		// mictl up, and restarts the others): recorded as cleared by one that
		// succeeded, or replaced by the failure of one that failed
		// itself, status showed them failed with nothing of why, and
		// said that mictl up starts them, into the same failure. Told
		// before anything changes: one this reload puts right (putRight)
		// has its home rendered anew, as planned, once restarted.
		planned, standing = f, stillFailed(t, f)
		var pass applied
		if !changes.Empty() {
			if reloadAt != nil {
				reloadAt("planned")
			}
			s.emit(Event{Instance: ReloadEvent, State: "reloading", Message: describe(changes)})
			pass, err = s.applyReload(c, t, changes, f.UpArgs)
		}
		for _, name := range pass.left {
			left = appendOnce(left, name) // a pass planned again finds it stopped too
		}
		if pass.again != nil {
			earlier, failed = together(earlier, pass.done), errors.Join(failed, err)
			msg := pass.again.Error() + ": planned again from what it recorded"
			if err != nil {
				// Said as it happened, and kept in the event log: the
				// reload's end tells it as put right, or its error as
				// what the last pass still left wrong.
				msg += "; what this pass left undone is the new plan's to do again: " + err.Error()
			}
			s.emit(Event{Instance: ReloadEvent, State: "reloading", Transient: err == nil, Message: msg})
			continue
		}
		if errors.Is(err, ErrInterrupted) {
			// ErrInterrupted alone, by whose text the daemon's client knows
			// it (see call): what the reload left undone is the stop's.
			// What went wrong before is its event's (besides).
			besides = errors.Join(failed, besidesInterruption(err))
			return together(earlier, changes), ErrInterrupted
		}
		// What the passes before failed (a home not brought up to date,
		// an instance held back off the ports of one) is no error of the
		// reload's for the instances the last pass changed or found as
		// configured: it planned from what they left, and so made again
		// what was still to make, or found it made; its own error is
		// what is still wrong of them. Joined to it, a reload whose every
		// instance ended as configured exited 3 with the first pass's
		// failure. A stopped or failed instance, which the last plan
		// leaves to mictl up, it put nothing right of: dropped, a home
		// still behind the distribution was told as put right, exit 0.
		// What stands for an instance stopped since (mictl down mi-2),
		// which mictl up alone puts right, is the reload's error, not a
		// failure for status to keep: recorded as begun, status said to
		// fix it first, of an instance it left failed, before an up.
		putRight, stands, upFixes := sortOut(failed, reckoned(t, f, changes), func(names []string) string { return leftToUp(f, names, s.deployment) })
		forStatus := errors.Join(append(stands, err)...)
		err = errors.Join(slices.Concat(stands, upFixes, []error{err})...)
		changes = together(earlier, changes)
		s.recordReload(forStatus, t.Config.Names(), f.UpArgs, true, f, standing)
		if fixes := errors.Join(upFixes...); fixes != nil {
			s.emit(Event{Instance: ReloadEvent, State: ReloadFailed, Message: fixes.Error() + beganHow})
		}
		if err == nil {
			msg := describe(changes)
			if len(left) > 0 {
				// A stop of named instances during the reload leaves them
				// stopped; the reload went on with the others.
				msg += "; left stopped, as mictl down stopped them meanwhile: " + strings.Join(left, ", ")
			}
			if len(putRight) > 0 {
				msg += "; put right once it planned again: " + errors.Join(putRight...).Error()
			}
			s.emit(Event{Instance: ReloadEvent, State: "reloaded", Message: s.withOverridden(msg, f.UpArgs)})
			if err = failureStands(standing, "what changed is applied, but", s.deployment); err != nil {
				s.emit(Event{Instance: ReloadEvent, State: ReloadFailed, Message: err.Error()})
			}
		}
		return changes, err
	}
}

// countsStanding reports whether a reload that kind set off, ending with
// what stands already (the refusal the state file records, or no change
// while an earlier reload's failure stands), is counted in the metrics.
// It is never recorded or said again, whatever set it off: the reload
// that met it first did both. Said again, one broken save followed by
// mictl reload was two reload-failed lines and two failures counted, the
// daemon's own reload of the save and mictl reload each meeting it,
// whichever came first, and every reload that found it standing added
// one more. Its caller (mictl reload) has it as the reload's error all
// the same. A catch-up counts it: a new daemon's metrics know of nothing
// before it.
func countsStanding(kind reloadKind) bool {
	return kind == reloadCatchUp
}

// endWindow marks the window of a reload ended, keeping the state as
// the reload left it for its client's reply (see replyState); a nil
// window marks nothing.
func (s *Supervisor) endWindow(w *rollWindow) {
	if w == nil {
		return
	}
	if f, err := s.current(); err == nil {
		w.left.Store(f)
	}
	w.end()
}

// replyState is the state the reply to the client of the reload whose
// window is w carries: the instances as the reload left them, each as it
// is now while the same server runs it (MI's hot deployment of the CApps
// the reload changed included, Request.AwaitApps: a faulty one makes its
// instance degraded after the reload ended). A reload or rolling restart
// begun since (the daemon's own reload of an edit saved meanwhile, queued
// behind it) is not this reload's outcome: an instance it added, starting,
// showed in the reply, not ready, and mictl reload exited 3 for it; one
// it restarts shows as this reload left it. Taken from the state as the
// reload left it whenever another held the reload lock, the reply showed
// ready an instance its CApp had made degraded, and reload exited 0.
func (s *Supervisor) replyState(w *rollWindow) *state.File {
	live, err := s.current()
	var left *state.File
	if w != nil {
		left = w.left.Load()
	}
	if left == nil || err != nil {
		return cmp.Or(left, live)
	}
	out := left.Clone()
	for i := range out.Instances {
		then := &out.Instances[i]
		if now, ok := live.Instance(then.Name); ok && !then.Server.IsZero() && now.Server == then.Server {
			*then = *now
		}
	}
	return out
}

// appliedBehind ends a reload that finds nothing to change once the
// reload it waited behind, which ended as behind says, made its changes:
// the daemon's own, most often, of the very edit this one was asked to
// apply. Such a reload said "no change" and exited 0, as though nothing
// had happened, even where that one failed. It ends as that one did (its
// error; recorded and said by it), and says what that one applied.
func (s *Supervisor) appliedBehind(behind reloadOutcome, upArgs []string) error {
	who := "another reload"
	if behind.followed {
		who = "the daemon's own reload of the edit it follows"
	}
	if behind.err != nil {
		return fmt.Errorf("nothing left to change: %s, under way as this reload began, applied the configuration as it is now, and failed: %w", who, behind.err)
	}
	s.emit(Event{Instance: ReloadEvent, State: "reloaded", Message: s.withOverridden(
		fmt.Sprintf("nothing left to change: %s, under way as this reload began, applied the configuration as it is now: %s", who, describe(behind.changes)), upArgs)})
	return nil
}

// besidesInterruption is what err, an error a stop of everything
// interrupted (ErrInterrupted), joins to the interruption: the errors
// met before it (a home not brought up to date); nil when none.
func besidesInterruption(err error) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		if errors.Is(err, ErrInterrupted) {
			return nil
		}
		return err
	}
	var rest []error
	for _, e := range joined.Unwrap() {
		rest = append(rest, besidesInterruption(e))
	}
	return errors.Join(rest...)
}

// lists are c's lists of instances: to add, remove, restart, redeploy.
func lists(c *reconcile.Changes) []*[]string {
	return []*[]string{&c.Add, &c.Remove, &c.Restart, &c.Redeploy}
}

// together is what two passes of a reload did, first then next: each
// instance once in each list, and the reasons of one that both
// restarted (or redeployed) both told, the first's first; one's CApps
// deployed by one and undeployed by the other are redeployed. What next says
// of a home (its deployment.toml's diff, the files it keeps, whether it
// lacks a comments-only edit) is the later look: next planned from what
// first left.
func together(first, next reconcile.Changes) reconcile.Changes {
	if first.Empty() {
		return next
	}
	all := reconcile.NoChanges()
	for _, c := range []reconcile.Changes{first, next} {
		for i, from := range lists(&c) {
			to := lists(&all)[i]
			for _, name := range *from {
				*to = appendOnce(*to, name)
			}
		}
		for name, why := range c.Why {
			if told := all.Why[name]; told != "" && told != why {
				why = told + "; then " + why
			}
			all.Why[name] = why
		}
		for name, verb := range c.CApps {
			if told := all.CApps[name]; told != "" && told != verb {
				verb = "redeploy" // CApps added by one, taken away by the other
			}
			all.CApps[name] = verb
		}
		maps.Copy(all.Diffs, c.Diffs)
		maps.Copy(all.Kept, c.Kept)
	}
	// Left out, the record of a reload planned twice had "comments": []
	// where that of one planned once named the homes still lacking it.
	all.Comments = append(all.Comments, next.Comments...)
	return all
}

// appendOnce is list with name at its end, unless list has it already.
func appendOnce(list []string, name string) []string {
	if slices.Contains(list, name) {
		return list
	}
	return append(list, name)
}

// reloadAt, when set (by tests), is called as a reload reaches point:
// "planned", between its plan and the first change it makes; "removed",
// once it stopped the instances it removes, before it forgets them;
// "restarted", once it restarted and redeployed what it does, before it
// starts the instances added that waited for that.
var reloadAt func(point string)

// withOverridden is msg, what a reload did, followed by each setting of
// the followed file that the last up's planning flags (upArgs) replace,
// which the reload did not apply: after `up --instances 10`, an edit to
// instances = 12 was followed by "reloaded: no change" alone, as though
// the edit had nothing in it to apply.
func (s *Supervisor) withOverridden(msg string, upArgs []string) string {
	if s.overridden == nil {
		return msg
	}
	for _, n := range s.overridden(upArgs) {
		msg += "; " + n
	}
	return msg
}

// planReload computes the target and the changes from f, and refuses any
// that would conflict. f is the state file read once no command holds the
// state lock (currentSettled): a reload set off while an `mictl up`
// prepares (by the source distribution that up unpacks, which the daemon
// it started follows) planned from the file as it was before, with none
// of that up's flags and instances, and recorded its default instance
// over the up's (the wrong offset: a start never ready).
//
// A reload that starts servers (restarted or new) has the distribution
// they start from ready before anything stops (reconcile.SourceDistribution,
// which writes the simulator's): one that cannot be written, or that runs
// a simulator gone since (the daemon's mictl copied elsewhere and removed,
// and no mictl wrote it for itself since, as `mictl reload` and `mictl
// restart` do) refuses the reload, every instance running as it was.
// Found only once the homes were prepared, each instance was stopped and
// failed to start again.
//
// The instances an earlier reload left failed (state.File.ReloadLeftFailed)
// that the plan now has otherwise (mi_home put back, an override fixed)
// are restarted with the rest (putRight): the reload that failed them is
// put right, and up was the only way back, which a fixed mictl.toml and
// its reload ("reloaded: no change", exit 0) did not say.
func (s *Supervisor) planReload(load LoadConfig, f *state.File) (*reconcile.Target, reconcile.Changes, error) {
	t, changes, err := s.plan(load, f, reconcile.ProposeToApply)
	if err == nil {
		changes = WithPutRight(t, f, changes)
	}
	if err == nil && (len(changes.Add) > 0 || len(changes.Restart) > 0) {
		_, err = reconcile.SourceDistribution(t.Config)
	}
	return t, changes, err
}

// planTargetFor is planReload without the changes (reconcile.ProposeTarget)
// for the homes of the instances names alone: a restart's step needs the
// target alone, and comparing every home with the distribution at each
// step made a rolling restart of N instances look at N homes N times. It
// is refused only for the conflicts one of names is a party to: a
// stranger on the port of another instance (one that failed for it) is
// that instance's trouble, and kept every restart from bringing its own
// home up to date. Nor is a stranger on the own port of one of names
// (another product that took it while the restart had it stopped) a
// fault of the configuration: the home is what it was to be, and the
// start fails naming the stranger, as any start does (exit 3); refused,
// the restart said "the new configuration has conflicts" of one nobody
// changed, and exited 1.
func (s *Supervisor) planTargetFor(load LoadConfig, f *state.File, names []string) (*reconcile.Target, error) {
	t, _, err := s.plan(load, f, reconcile.ProposeTarget)
	var refused *check.ConflictError
	if errors.As(err, &refused) {
		mine := refused.Report.Naming(names...)
		mine.Conflicts = slices.DeleteFunc(mine.Conflicts, func(c check.Finding) bool { return c.Kind == check.KindHost })
		if mine.OK() {
			return t, nil
		}
		return t, &check.ConflictError{Report: mine, Refused: refused.Refused}
	}
	return t, err
}

func (s *Supervisor) plan(load LoadConfig, f *state.File, propose func(*config.Config, *state.File, []int, []string) (reconcile.Proposal, error)) (*reconcile.Target, reconcile.Changes, error) {
	cfg, offsets, err := load(f.UpArgs)
	if err != nil {
		return nil, reconcile.Changes{}, err
	}
	s.SetCredentials(CredentialsOf(cfg))
	p, err := propose(cfg, f, offsets, CaptureEnv(os.Environ()))
	if err != nil {
		return nil, p.Changes, err
	}
	s.SetConflicts(len(p.Conflicts.Conflicts))
	return p.Target, p.Changes, p.Refusal()
}

// refreshHomes brings the homes of names up to date before a restart
// starts them again, as a reload prepares the instances it restarts:
// files added to or changed in the distribution (a JDBC driver in
// mi_home's lib/, a changed script) and the deployment.toml and CApps the
// configuration gives them. They are planned as a reload would, as if
// they still ran (so that they keep their offsets), under reloadMu, which
// the roll holds (see beginRoll: a reload must not prepare the homes at
// the same time, nor this write an older plan over a reload's). A
// configuration that cannot be planned leaves the homes as they were,
// says so and returns why: the restart goes on, and ends saying it. A
// deployment.toml edited in a home, rendered again, is said too (an
// EditKept event), as up and generate say it: a reload's restart says
// it in its reason (reconcile.EditedWhy), but a restart kept the edit
// aside without a word.
func (s *Supervisor) refreshHomes(load LoadConfig, names []string) error {
	kept, err := s.prepareHomes(load, names)
	s.sayEditsKept(kept, names)
	s.sayHomesKept("restart", names, err)
	return err
}

// sayEditsKept emits an EditKept event for each deployment.toml of names
// kept aside as it was rendered again. A reload's restart reason says an
// edit made since mictl's last render (reconcile.EditedWhy), but not the
// file of a home older than mictl's record of its renders, which the
// render keeps all the same (home.KeptEdit.Unrecorded): the reload set
// it aside without a word.
func (s *Supervisor) sayEditsKept(kept []reconcile.EditKept, names []string) {
	for _, k := range kept {
		if slices.Contains(names, k.Instance) {
			s.emit(Event{Instance: k.Instance, State: EditKept, Message: k.Note})
		}
	}
}

// EditKept is the state of an instance's event saying that its home's
// deployment.toml, edited there, was rendered again, and where the edit
// is kept (reconcile.EditKept).
const EditKept = "edit-kept"

// sayHomesKept tells, for each of names, that what (a restart, a reload)
// starts it again on its home as it was, which err kept from being
// brought up to date; nothing when err is nil.
func (s *Supervisor) sayHomesKept(what string, names []string, err error) {
	if err == nil {
		return
	}
	for _, name := range names {
		s.emit(Event{Instance: name, State: StateStopped, Transient: true,
			Message: what + ": the home could not be brought up to date, it starts as it was: " + err.Error()})
	}
}

// prepareHomes is refreshHomes without the events: it returns the
// edits it kept aside as it rendered deployment.toml again, and why a
// home could not be brought up to date.
func (s *Supervisor) prepareHomes(load LoadConfig, names []string) ([]reconcile.EditKept, error) {
	f, err := s.current()
	if err != nil {
		return nil, err
	}
	asRunning := *f
	asRunning.Instances = slices.Clone(f.Instances)
	for _, name := range names {
		if rec, ok := asRunning.Instance(name); ok {
			rec.State = StateStarting
		}
	}
	t, err := s.planTargetFor(load, &asRunning, names)
	if err != nil {
		return nil, err
	}
	planned := slices.DeleteFunc(slices.Clone(names), func(name string) bool {
		_, ok := t.Instance(name)
		return !ok // a reload removes it
	})
	if len(planned) == 0 {
		return nil, nil
	}
	err = s.prepare(t, planned)
	return t.EditsKept, err
}

// restartSteps orders a rolling restart of names as a reload orders its
// restarts (reconcile.Target.RestartSteps), planned from the
// configuration load gives as refreshHomes plans each step's homes. A
// configuration that cannot be planned moves no port: names then go one
// at a time, in the order given. It refuses, before anything stops, a
// restart of which an instance would start on a port a running instance
// not named holds until its own restart: started, it failed there.
func (s *Supervisor) restartSteps(load LoadConfig, names []string) ([][]string, error) {
	f, err := s.current()
	if err != nil {
		return oneByOne(names), nil
	}
	// A conflict refuses a step's own plan (see planTargetFor), not
	// this order.
	t, _, err := s.plan(load, f, reconcile.ProposeTarget)
	if t == nil {
		return oneByOne(names), nil
	}
	var refused *check.ConflictError
	errors.As(err, &refused)
	var others []string
	for _, rec := range f.Instances {
		if reconcile.Active(rec) && !slices.Contains(names, rec.Name) {
			others = append(others, rec.Name)
		}
	}
	for _, name := range names {
		if refused != nil && !refused.Report.Naming(name).OK() {
			// Its ports clash in the plan itself, not only until the
			// holder's restart: its step starts it as it was, saying so.
			continue
		}
		held := slices.DeleteFunc(slices.Clone(others), func(other string) bool { return !t.TakesPorts(f, name, []string{other}) })
		if len(held) > 0 {
			return nil, exitcode.With(exitcode.Conflicts, fmt.Errorf(
				"restart %s: its ports moved (%s shows how) onto ports %s holds until its own restart; nothing was restarted: restart them together (%s), or apply the change with %s",
				name, s.asRun("mictl diff"), strings.Join(held, ", "), s.asRun("mictl restart "+strings.Join(slices.Concat(names, held), " ")), s.asRun("mictl reload")))
		}
	}
	return t.RestartSteps(f, names), nil
}

// restartPlan is how a rolling restart of names goes: its steps
// (restartSteps) and how each step's homes are brought up to date before
// they start again (refreshHomes), from the configuration load gives.
// With none followed (load nil) they go one at a time, as they are.
func (s *Supervisor) restartPlan(load LoadConfig, names []string) (steps [][]string, prepare func(names []string) error, err error) {
	if load == nil {
		return oneByOne(names), func([]string) error { return nil }, nil
	}
	if steps, err = s.restartSteps(load, names); err != nil {
		return nil, nil, err
	}
	return steps, func(names []string) error { return s.refreshHomes(load, names) }, nil
}

// homesOf is how a message names the homes of a restart's step: "its
// home" for one instance, "their homes" for instances restarted together.
func homesOf(step []string) string {
	return words.ItsOrTheir(len(step)) + " " + words.Noun(len(step), "home")
}

// oneByOne is names as steps of one instance each.
func oneByOne(names []string) [][]string {
	steps := make([][]string, len(names))
	for i, name := range names {
		steps[i] = []string{name}
	}
	return steps
}

// applied is what one pass of a reload (applyReload) did.
type applied struct {
	// left are the instances a stop by name left stopped.
	left []string
	// again, when not nil, is why the pass stopped short: an mictl up ran
	// since its plan, and the reload plans again. done are then the
	// changes it made before.
	again *plannedMeanwhile
	done  reconcile.Changes
}

// passFailure is a failure of a reload's pass that concerns its
// instances names alone (a home not brought up to date, an instance held
// off the ports of one), which say words for any of them: a later pass
// of the same reload (planned again) puts it right for some of them only
// (see sortOut), and it stands, said of the others alone.
type passFailure struct {
	names []string
	say   func(names []string) error
	err   error // say(names)
}

// failedFor is the failure say words for names.
func failedFor(names []string, say func(names []string) error) *passFailure {
	return &passFailure{names: names, say: say, err: say(names)}
}

func (e *passFailure) Error() string { return e.err.Error() }
func (e *passFailure) Unwrap() error { return e.err }

// sortOut splits failed, what the passes of a reload before its last
// failed (passFailure, joined), into what the last pass put right, for
// the instances it changed or found as the configuration has them
// (reckoned), and what still stands, for the others: said of each part's
// instances alone. What stands for instances the last pass left to
// mictl up (leftAlone says why) is upFixes, followed by that why. A
// failure that names no instance stands whole.
func sortOut(failed error, reckoned func(name string) bool, leftAlone func(names []string) string) (putRight, stands, upFixes []error) {
	if joined, ok := failed.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			right, still, up := sortOut(e, reckoned, leftAlone)
			putRight, stands, upFixes = append(putRight, right...), append(stands, still...), append(upFixes, up...)
		}
		return putRight, stands, upFixes
	}
	pf, ok := failed.(*passFailure)
	if !ok {
		if failed != nil {
			stands = append(stands, failed)
		}
		return nil, stands, nil
	}
	right := slices.DeleteFunc(slices.Clone(pf.names), func(name string) bool { return !reckoned(name) })
	left := slices.DeleteFunc(slices.Clone(pf.names), reckoned)
	if len(right) > 0 {
		putRight = append(putRight, failedFor(right, pf.say))
	}
	toUp := slices.DeleteFunc(slices.Clone(left), func(name string) bool { return leftAlone([]string{name}) == "" })
	left = slices.DeleteFunc(left, func(name string) bool { return slices.Contains(toUp, name) })
	if len(toUp) > 0 {
		upFixes = append(upFixes, fmt.Errorf("%w; %s", failedFor(toUp, pf.say).err, leftAlone(toUp)))
	}
	if len(left) > 0 {
		stands = append(stands, failedFor(left, pf.say).err)
	}
	return putRight, stands, upFixes
}

// reckoned reports whether a pass of a reload, planned from f to t with
// the changes c, changed the instance name or found it as the
// configuration has it: a stopped or failed instance is neither, as the
// plan leaves it to mictl up (see reconcile.Compare), nor one running
// beyond the configuration (reconcile.Kept).
func reckoned(t *reconcile.Target, f *state.File, c reconcile.Changes) func(name string) bool {
	return func(name string) bool {
		if slices.ContainsFunc(lists(&c), func(l *[]string) bool { return slices.Contains(*l, name) }) {
			return true
		}
		_, planned := t.Instance(name)
		rec, known := f.Instance(name)
		return planned && known && state.Wanted(rec.State)
	}
}

// leftToUp says which of names f records stopped or failed, which a
// reload's plan leaves to mictl up (see reconcile.Compare): why what an
// earlier pass of the reload failed for them still stands. "" when none.
// deployment names the deployment the up named is pasted for (AsRunFor).
func leftToUp(f *state.File, names []string, deployment []string) string {
	var now []string
	for _, name := range names {
		if rec, known := f.Instance(name); known && !state.Wanted(rec.State) {
			now = append(now, fmt.Sprintf("%s is %s now", name, rec.State))
		}
	}
	if len(now) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: a reload leaves %s to %s, which brings %s up to date as it starts %s",
		strings.Join(now, ", "), words.ItOrThem(len(now)), AsRunFor(deployment, "mictl up"), homesOf(now), words.ItOrThem(len(now)))
}

// plannedAgain is a pass that err ended, having made done: one that an
// mictl up ended (plannedMeanwhile) is planned again, no error of its own.
func plannedAgain(done reconcile.Changes, err error) (applied, error) {
	var meanwhile *plannedMeanwhile
	if errors.As(err, &meanwhile) {
		return applied{again: meanwhile, done: done}, nil
	}
	return applied{}, err
}

// only is c with only the instances made says it made, and the homes c
// found lacking a comments-only edit (Comments): no change made, but
// what the pass saw, as the record of a whole reload says it.
func only(c reconcile.Changes, made func(name string) bool) reconcile.Changes {
	out := reconcile.NoChanges()
	for i, from := range lists(&c) {
		to := lists(&out)[i]
		*to = append(*to, slices.DeleteFunc(slices.Clone(*from), func(name string) bool { return !made(name) })...)
	}
	copyMade(out.CApps, c.CApps, made)
	copyMade(out.Why, c.Why, made)
	copyMade(out.Diffs, c.Diffs, made)
	copyMade(out.Kept, c.Kept, made)
	out.Comments = append(out.Comments, c.Comments...)
	return out
}

// copyMade copies into to what from says of the instances made says
// were made.
func copyMade[V any](to, from map[string]V, made func(name string) bool) {
	for name, v := range from {
		if made(name) {
			to[name] = v
		}
	}
}

// applyReload makes the changes c to reach t, planned from a state file
// whose last up had the planning flags upArgs.
func (s *Supervisor) applyReload(op *change, t *reconcile.Target, c reconcile.Changes, upArgs []string) (a applied, err error) {
	if len(c.Remove) > 0 {
		// An up since the plan may keep what it removes: one with other
		// planning flags, or one with the same that recorded the
		// configuration's names without them (up never stops an
		// instance, and a reload keeps those, see reconcile.Kept).
		// Looked at before anything stops, as the plan made again then
		// leaves a stopped instance it still names stopped; and once no
		// command holds the state lock, as the plan is (currentSettled):
		// read beside an up that held it, the look missed the record
		// the up was about to write, and stopped what it kept. An up
		// that takes the lock after the look is one that came after
		// the stop began, as one during the stop's drain does: what it
		// records then is the forget's to look at.
		if f, err := s.currentSettled(op.ctx); err == nil {
			kept := func(i state.Instance) bool { return reconcile.Kept(f, i.Name) }
			if meanwhile := takenMeanwhile(f, upArgs, c.Remove, kept); meanwhile != nil {
				return applied{again: meanwhile}, nil
			}
		}
		if err := s.Stop(c.Remove, s.policy.StopTimeout); err != nil {
			return applied{}, fmt.Errorf("stop removed instances: %w", err)
		}
		if reloadAt != nil {
			reloadAt("removed")
		}
		if err := s.forget(c.Remove, upArgs); err != nil {
			// Stopped, not forgotten: no removal yet. An up kept them;
			// the next plan removes what is still to go.
			return plannedAgain(reconcile.Changes{}, err)
		}
	}
	// An instance added on a port that an instance to restart holds until
	// its restart (a port moved in the distribution's deployment.toml
	// moves every instance's) starts once the restarts are done: started
	// first, it failed on that port. So does one added on the old port of
	// an instance to redeploy (an inbound endpoint a rebuild moved), once
	// that instance's MI let go of it.
	add := op.notStoppedByName(c.Add)
	// What runs before anything changes: the ports each instance holds
	// until its restart, or until its MI takes its new CApps.
	before, err := s.current()
	if err != nil {
		return applied{}, err
	}
	takesRedeployed := func(name string) bool { return t.TakesPorts(before, name, c.Redeploy) }
	afterRedeploys := slices.DeleteFunc(slices.Clone(add), func(name string) bool { return !takesRedeployed(name) })
	add = slices.DeleteFunc(add, takesRedeployed)
	var afterRestarts []string
	redeployNow, redeployAfter := c.Redeploy, []string(nil)
	if len(c.Restart) > 0 {
		takesRestarting := func(name string) bool { return t.TakesPorts(before, name, c.Restart) }
		afterRestarts = slices.DeleteFunc(slices.Clone(add), func(name string) bool { return !takesRestarting(name) })
		add = slices.DeleteFunc(add, takesRestarting)
		afterRestarts = append(afterRestarts, slices.DeleteFunc(afterRedeploys, func(name string) bool { return !takesRestarting(name) })...)
		afterRedeploys = slices.DeleteFunc(afterRedeploys, takesRestarting)
		// So does a redeploy whose new CApps open a port an instance to
		// restart holds until its restart (an inbound endpoint moved by
		// a rebuild, while that instance's offset moves too): given them
		// first, MI failed the endpoint and kept the CApp faulty.
		redeployAfter = slices.DeleteFunc(slices.Clone(c.Redeploy), func(name string) bool { return !takesRestarting(name) })
		redeployNow = slices.DeleteFunc(slices.Clone(c.Redeploy), takesRestarting)
	}
	add, err = s.startAdded(op, t, add, upArgs)
	if err != nil {
		return plannedAgain(only(c, func(name string) bool { return slices.Contains(c.Remove, name) }), err)
	}
	if err := s.redeploy(op, t, before, c, redeployNow); err != nil {
		// Everything after them is left undone, and said so: the error
		// came alone, as though these redeploys were the whole reload.
		if len(c.Restart) > 0 {
			err = fmt.Errorf("%w; not restarted: %s (%s restarts %s)", err, strings.Join(c.Restart, ", "), s.asRun("mictl reload"), words.ItOrThem(len(c.Restart)))
		}
		err = notRedeployed(err, s.asRun("mictl reload"), redeployAfter, nil, nil, true)
		return applied{}, s.leftUndone(op, err, add, afterRestarts, afterRedeploys, nil)
	}
	left, old, unprepared, err := s.restartInTurn(op, t, before, c, redeployNow, redeployAfter)
	a.left = left
	if err != nil {
		return a, s.leftUndone(op, err, add, afterRestarts, afterRedeploys, unprepared)
	}
	if reloadAt != nil {
		reloadAt("restarted")
	}
	afterRestarts = append(afterRestarts, afterRedeploys...)
	if notStarted := old.holdBack(t, before, &afterRestarts, func(string) string { return "start" }, s.asRun("mictl reload")); notStarted != nil {
		unprepared = append(unprepared, notStarted)
	}
	// Each starts as soon as its own ports are let go, in the wait: one
	// whose port was free at once waited, unstarted, for every other's.
	var started []string
	var startErr error
	startFreed := func(names []string) error {
		got, err := s.startAdded(op, t, names, upArgs)
		started, startErr = append(started, got...), err
		return err
	}
	err = s.awaitLetGo(op, t, before, afterRestarts, c.Redeploy, takenByStart, startFreed)
	var held *portHeld
	switch {
	case err == nil:
	case startErr != nil:
		var meanwhile *plannedMeanwhile
		if !errors.As(err, &meanwhile) {
			return a, s.leftUndone(op, err, append(add, started...), nil, nil, unprepared)
		}
		// An up recorded one of them since the plan: the reload plans
		// again, which starts the others. Those this pass started before
		// are still its own to see ready: the next plan finds them
		// running, and waits for none.
		a.again, a.done = meanwhile, only(c, func(name string) bool {
			return !slices.Contains(afterRestarts, name) || slices.Contains(started, name)
		})
	case errors.As(err, &held):
		// A port still held keeps its taker alone from starting: those
		// whose ports were let go started as they were, and the reload
		// fails naming the others.
		if rest := untold(err, held.blocked); len(rest) > 0 {
			err = fmt.Errorf("%w; not started either: %s, whose ports are still held too (%s starts %s once they are let go)", err, strings.Join(rest, ", "), s.asRun("mictl reload"), words.ItOrThem(len(rest)))
		}
		unprepared = append(unprepared, err)
	default:
		// The wait names one that waited: the others it kept from
		// starting went unsaid. Those it started are waited for.
		notStarted := slices.DeleteFunc(slices.Clone(afterRestarts), func(name string) bool { return slices.Contains(started, name) })
		if rest := untold(err, notStarted); len(rest) > 0 {
			err = fmt.Errorf("%w; not started: %s, which was to start after that wait (%s starts %s)", err, strings.Join(rest, ", "), s.asRun("mictl reload"), words.ItOrThem(len(rest)))
		}
		return a, s.leftUndone(op, err, append(add, started...), nil, nil, unprepared)
	}
	if add = append(add, started...); len(add) > 0 {
		if err := s.waitReadyFor(op, add, s.policy.ReadyTimeout); err != nil {
			// Not planned again: the reload ends with this failure, what
			// is left to do is diff's.
			return applied{left: a.left}, errors.Join(append(unprepared, err)...)
		}
	}
	a.left = append(a.left, slices.DeleteFunc(slices.Clone(c.Add), func(n string) bool { return !op.stoppedByName(n) })...)
	return a, errors.Join(unprepared...)
}

// leftUndone is err, which ended a pass of a reload before it started
// the instances it adds that wait for its restarts (afterRestarts) or its
// redeploys (afterRedeploys), followed by those, joined to unprepared
// (homes its restarts could not bring up to date) and to the failure of
// started, those it added and started before, to turn ready: waited for
// as a pass that ends well waits for them, as one that never turns ready
// is this reload's failure too.
func (s *Supervisor) leftUndone(op *change, err error, started, afterRestarts, afterRedeploys []string, unprepared []error) error {
	if len(afterRestarts) > 0 {
		err = fmt.Errorf("%w; not started: %s, which takes ports the restarts were to free (%s starts it once they succeed)", err, strings.Join(afterRestarts, ", "), s.asRun("mictl reload"))
	}
	if len(afterRedeploys) > 0 {
		err = fmt.Errorf("%w; not started: %s, which takes ports the redeploys free (%s starts it)", err, strings.Join(afterRedeploys, ", "), s.asRun("mictl reload"))
	}
	errs := append(slices.Clone(unprepared), err)
	if len(started) > 0 {
		errs = append(errs, s.waitReadyFor(op, started, s.policy.ReadyTimeout))
	}
	return errors.Join(errs...)
}

// restartInTurn restarts c.Restart for op, a step at a time, and gives
// redeployAfter, redeploys whose new CApps open a port an instance to
// restart holds until its restart, their new CApps in the same order
// (reconcile.Target.RestartSteps over both): each once the instances
// whose old ports it opens let go of them. redeployNow got their new
// CApps before. Restarted in turn before them all, a server whose new
// port one of redeployAfter still held met it taken, and MI failed the
// endpoint, its CApp faulty for good. A restart and a redeploy that take
// each other's ports are one step: the redeploy's changed CApps are
// undeployed first, as in a cycle of redeploys (see redeploy), the
// restart comes once its MI let go of the ports, and the new builds
// after it.
//
// A home that cannot be prepared once its server stopped starts with
// the home as far as the preparation got, its record as it was (see
// restartStep), on its old ports, and unprepared says so of each step:
// a later step's instance that opens one of those ports is left as it
// is, not restarted or redeployed, and unprepared says that too (see
// onOldPorts.holdBack). old are the instances left on their old ports
// so. left are the instances a stop by name left stopped.
func (s *Supervisor) restartInTurn(op *change, t *reconcile.Target, before *state.File, c reconcile.Changes, redeployNow, redeployAfter []string) (left []string, old onOldPorts, unprepared []error, err error) {
	later, err := s.beginRedeploy(op, t, before, c, redeployAfter, redeployNow, true)
	if err != nil {
		return nil, nil, nil, err
	}
	defer later.close()
	old = onOldPorts{}
	verb := func(name string) string {
		if slices.Contains(c.Restart, name) {
			return "restart"
		}
		return "redeploy"
	}
	why := func(name string) string { return "reload: " + c.Why[name] }
	restarts := func(step []string) []string {
		return slices.DeleteFunc(slices.Clone(step), func(name string) bool { return !slices.Contains(c.Restart, name) })
	}
	steps := t.RestartSteps(before, slices.Concat(c.Restart, redeployAfter))
	for i, step := range steps {
		if notMade := old.holdBack(t, before, &step, verb, s.asRun("mictl reload")); notMade != nil {
			unprepared = append(unprepared, notMade)
			// Said here: the redeploy's end does not name them again.
			later.names = slices.DeleteFunc(later.names, func(name string) bool { return old[name] != nil })
			if len(step) == 0 {
				continue
			}
		}
		restart := restarts(step)
		redeploy := slices.DeleteFunc(slices.Clone(step), func(name string) bool { return slices.Contains(restart, name) })
		how := takenByRedeploy
		if len(step) > 1 && len(redeploy) > 0 {
			err = later.undeploy(redeploy, step)
			how = takenInCycle
		}
		if err == nil && len(restart) > 0 {
			// A restarted server may open the old port of an instance
			// redeployed (an inbound endpoint its new build moved), which
			// its MI lets go of at its next scan: started on it before,
			// the restarted server failed that endpoint, its CApp faulty
			// for good.
			err = s.awaitLetGo(op, t, before, restart, slices.Concat(later.given, redeploy), takenByRestart, nil)
			var stopped []string
			var unready error
			if err == nil {
				stopped, unready, err = s.restartStep(op, restart, why, s.policy.ReadyTimeout, func(names []string) error {
					err := s.prepare(t, names)
					s.sayEditsKept(t.EditsKept, names)
					s.sayHomesKept("reload", names, err)
					return err
				})
			}
			if unready != nil {
				unprepared = append(unprepared, failedFor(restart, func(names []string) error {
					return fmt.Errorf("%s started again with %s not brought up to date: %w", strings.Join(names, ", "), homesOf(names), unready)
				}))
				for _, name := range restart {
					if !slices.Contains(stopped, name) {
						old[name] = []string{name}
					}
				}
			}
			left = append(left, stopped...)
		}
		if err == nil && len(redeploy) > 0 {
			err = later.give(redeploy, how)
		}
		if err != nil {
			more := slices.ContainsFunc(steps[i+1:], func(next []string) bool { return len(restarts(next)) > 0 })
			return left, old, unprepared, later.notGiven(rollEnded(err, more))
		}
	}
	return left, old, unprepared, nil
}

// onOldPorts are the instances a reload left on their old ports, each
// mapped to those of them a restart started again with their homes as
// they were (see restartStep), whose ports it waits for: itself for
// one of those.
type onOldPorts map[string][]string

// takingPorts are those of names that open a port one of holders holds
// (as before records it), or one of those found holds: closed over, as
// one of a cycle may take the ports of another found after it.
func takingPorts(t *reconcile.Target, before *state.File, names, holders []string) []string {
	var taking []string
	for more := true; more; {
		more = false
		for _, name := range names {
			if !slices.Contains(taking, name) && t.TakesPorts(before, name, slices.Concat(holders, taking)) {
				taking, more = append(taking, name), true
			}
		}
	}
	return taking
}

// holdBack takes out of *names, each of which the reload was to verb
// (start, restart, redeploy), those that open a port one of old still
// holds, or one taken out with them holds (a cycle), and adds them to
// old; it returns what says so of them, with what to do (reload: mictl
// reload as the advice pastes it, see asRun; nil when none). Started,
// restarted or given its new CApps, each met the port taken: a healthy
// instance restarted onto it failed.
func (old onOldPorts) holdBack(t *reconcile.Target, before *state.File, names *[]string, verb func(name string) string, reload string) error {
	if len(old) == 0 {
		return nil
	}
	candidates := slices.Sorted(maps.Keys(old))
	held := takingPorts(t, before, *names, candidates)
	if len(held) == 0 {
		return nil
	}
	*names = slices.DeleteFunc(*names, func(name string) bool { return slices.Contains(held, name) })
	// takenFrom are those of holders whose ports one of takers opens.
	takenFrom := func(takers, holders []string) []string {
		return slices.DeleteFunc(slices.Clone(holders), func(holder string) bool {
			return !slices.ContainsFunc(takers, func(name string) bool { return t.TakesPorts(before, name, []string{holder}) })
		})
	}
	var roots []string
	for _, holder := range takenFrom(held, candidates) {
		for _, root := range old[holder] {
			roots = appendOnce(roots, root)
		}
	}
	slices.Sort(roots)
	candidates = append(candidates, held...)
	var errs []error
	for _, v := range []string{"start", "restart", "redeploy"} {
		these := slices.DeleteFunc(slices.Clone(held), func(name string) bool { return verb(name) != v })
		if len(these) == 0 {
			continue
		}
		errs = append(errs, failedFor(these, func(these []string) error {
			holders := takenFrom(these, candidates)
			return fmt.Errorf("not %sed: %s, which takes ports %s still holds, as %s started again with %s as it was (once what kept %s from being brought up to date is fixed, %s restarts %s, then %ss %s)",
				v, strings.Join(these, ", "), strings.Join(holders, ", "), strings.Join(roots, ", "), homesOf(roots), words.ItOrThem(len(roots)), reload, strings.Join(roots, " "), v, strings.Join(these, " "))
		}))
	}
	for _, name := range held {
		old[name] = roots
	}
	return errors.Join(errs...)
}

// startAdded prepares the homes of the new instances add and starts
// them for op, returning those it started: a stop of named ones while
// the homes were prepared leaves those stopped, the others start all the
// same. upArgs are the planning flags t was planned with.
func (s *Supervisor) startAdded(op *change, t *reconcile.Target, add, upArgs []string) ([]string, error) {
	if len(add) == 0 {
		return nil, nil
	}
	// Checked before anything is prepared: a record prepared for a start
	// not made would read as starting.
	if err := op.interrupted(); err != nil {
		return nil, err
	}
	if err := s.prepareAdded(t, add, upArgs); err != nil {
		return nil, err
	}
	return s.startUnlessStopped(op, add)
}

// prepareAdded is prepare for instances the reload's plan (with the
// planning flags upArgs) found unrecorded, under the state lock from the
// look at the file to the record, as an up prepares its own. One recorded
// meanwhile (an mictl up that ran whole since the plan, adding it too) is
// the other command's, and so is the plan once an up with other flags
// ran: the reload plans again (plannedMeanwhile). Prepared from the plan,
// its home and record were written over the up's, at the plan's offset,
// while the up's server ran on unrecorded.
func (s *Supervisor) prepareAdded(t *reconcile.Target, names, upArgs []string) error {
	return s.update(func(f *state.File) error {
		if err := takenMeanwhile(f, upArgs, names, func(state.Instance) bool { return true }); err != nil {
			return err
		}
		records, err := t.Prepare(f, names)
		if err != nil {
			return err
		}
		t.Merge(f, records)
		return nil
	})
}

// plannedMeanwhile is why a reload plans again: an mictl up ran since
// its plan, with other planning flags (flags), or recording names.
type plannedMeanwhile struct {
	names []string
	flags bool
}

func (e *plannedMeanwhile) Error() string {
	if e.flags {
		return "an mictl up with other planning flags ran since the reload planned"
	}
	return fmt.Sprintf("%s recorded by another command (an mictl up) since the reload planned", strings.Join(e.names, ", "))
}

// takenMeanwhile is why a reload's plan, made from a state file whose
// last up had the planning flags upArgs, no longer holds for names in f,
// the file now: an up with other flags ran, or f records one of names as
// taken says; nil when it holds.
func takenMeanwhile(f *state.File, upArgs, names []string, taken func(state.Instance) bool) *plannedMeanwhile {
	if !slices.Equal(f.UpArgs, upArgs) {
		return &plannedMeanwhile{flags: true}
	}
	recorded := slices.DeleteFunc(slices.Clone(names), func(name string) bool {
		rec, ok := f.Instance(name)
		return !ok || !taken(*rec)
	})
	if len(recorded) > 0 {
		return &plannedMeanwhile{names: recorded}
	}
	return nil
}

// prepare writes the homes of names and their new records.
func (s *Supervisor) prepare(t *reconcile.Target, names []string) error {
	f, err := s.current()
	if err != nil {
		return err
	}
	records, err := t.Prepare(f, names)
	if err != nil {
		return err
	}
	return s.update(func(f *state.File) error {
		for i := range records {
			if cur, ok := f.Instance(records[i].Name); ok && len(cur.Env) > 0 {
				records[i].Env = reconcile.KeepCaptured(cur.Env, records[i].Env)
			}
		}
		t.Merge(f, records)
		return nil
	})
}

// forget drops stopped instances from the state file, and their runners:
// a daemon whose instances are renamed or removed over months must not
// keep, and walk at every health check, a runner for every name it ever
// ran. The reload that removes them planned with the planning flags
// upArgs: once an mictl up with other flags ran, or one started any of
// them again since its stop, or marked one during the stop to start
// again once stopped (reconcile.Active; that up's start reaches the
// daemon after this), they are the up's: kept, and forget returns why
// (plannedMeanwhile), for the reload to plan again. Dropped, the server
// the up started ran on with no record naming it, or the up's start
// found no record of the instance to start.
func (s *Supervisor) forget(names, upArgs []string) error {
	err := s.update(func(f *state.File) error {
		if meanwhile := takenMeanwhile(f, upArgs, names, reconcile.Active); meanwhile != nil {
			return meanwhile
		}
		f.Instances = slices.DeleteFunc(f.Instances, func(i state.Instance) bool { return slices.Contains(names, i.Name) })
		return nil
	})
	if err != nil {
		return err
	}
	var dropped []*runner
	s.mu.Lock()
	for _, name := range names {
		// One started again meanwhile (an up between the stop and this)
		// keeps its runner: it still supervises a server.
		if r, ok := s.runners[name]; ok && r.finished() {
			delete(s.runners, name)
			dropped = append(dropped, r)
			// The monitor lets go of its watch on their carbonapps/.
			s.runnersDropped.Store(true)
			notify(s.watchKick)
		}
	}
	s.mu.Unlock()
	for _, r := range dropped {
		// No check will run for it: a health check asked of it
		// (healthSoon) is answered now, not by its caller's timeout, and
		// one asked by a healthSoon that looked it up before it went, at
		// once (askCheck). Not under s.mu, which a runner takes under its
		// own lock.
		r.mu.Lock()
		closeAll(r.rechecks)
		r.rechecks, r.forgotten = nil, true
		r.mu.Unlock()
	}
	return nil
}

// beganHow ends the event of a reload that failed once it had begun.
const beganHow = "; what the reload did before that stands"

// recordReload keeps the outcome of the last reload in the state file
// for `mictl status`, and a failure in the event log; a reload that
// succeeded makes configured (the instances its configuration names) what
// the next one compares with. applied says the reload had begun to
// change things when err ended it: what it did before stands
// (state.File.ReloadBegun). Such a failure is recorded as a refusal is,
// for status to show: with the event log alone saying it, a live roll
// that stopped at a restart onto a broken distribution left status
// showing the failed instance and "mictl up starts it again", which
// started it on that distribution again, and nothing of the reload.
//
// before is the state file the reload's last pass planned from (nil when
// none did): the instances wanted running then that err left failed are
// recorded with it (state.File.ReloadLeftFailed, see stillFailed).
// standing are the instances an earlier begun failure left failed that
// the reload still plans as they failed (stillFailed): that failure is
// kept, of them alone, by a reload that succeeded, and beside its own by
// one that failed once begun (both instances' failures in reload_error,
// and in reload_left_failed the instances of each).
func (s *Supervisor) recordReload(err error, configured, upArgs []string, applied bool, before *state.File, standing []string) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	how := "; every instance keeps running as it was"
	if applied {
		how = beganHow
	}
	uerr := s.update(func(f *state.File) error {
		refused := err != nil && !applied
		switch {
		case !f.ReloadBegun && (err == nil || refused):
			// No failure once begun stands, nor begins: a refusal, or
			// nothing.
			f.ForgetReload()
			f.ReloadError = msg
		case refused:
			// Refused, it changed nothing: the failures of the reloads
			// before it stand as they stood, said after the refusal
			// (state.File.SettleReload). Written over, status no longer
			// said why mi-1 was failed, nor that up would start it into
			// the same failure.
			f.ReloadLast, f.ReloadRefused = msg, true
		default:
			// A failure stands of the instances still planned as they
			// failed alone: a success keeps it of them alone, a failure
			// once begun beside its own.
			f.KeepLeftFailed(standing)
			f.ReloadBegun, f.ReloadLast, f.ReloadRefused = true, msg, false
		}
		if err != nil && applied && before != nil {
			for _, rec := range f.Instances {
				// One an earlier failure left failed that this reload put
				// right (putRight: not standing), restarted and failed
				// again, is this failure's as one wanted running is:
				// skipped as not wanted, its failure went unrecorded, and
				// the next reload said "no change" and cleared it. It is
				// not restarted again until the plan of it changes again
				// (stillFailed compares the plan with its home, rendered
				// as this reload planned it).
				was, ok := before.Instance(rec.Name)
				ours := ok && (state.Wanted(was.State) || slices.Contains(before.ReloadLeftFailed, rec.Name))
				if ours && rec.State == StateFailed && !slices.Contains(standing, rec.Name) {
					f.LeftFailedBy(rec.Name, msg)
				}
			}
		}
		f.SettleReload()
		// What the configuration named under the flags it was planned
		// with (upArgs): an up that came meanwhile wrote its own.
		if err == nil && slices.Equal(f.UpArgs, upArgs) {
			f.Configured = configured
		}
		return nil
	})
	// Said after the state file is written, as a reload's success is:
	// whoever reads a failure in the event log finds it in mictl status.
	if err != nil {
		s.emit(Event{Instance: ReloadEvent, State: ReloadFailed, Message: msg + how})
	}
	if uerr != nil {
		s.emit(Event{Instance: ReloadEvent, State: ReloadFailed, Message: errors.Join(err, uerr).Error()})
	}
}

// stillFailed are the instances the last reload's begun failure left
// failed (f.ReloadLeftFailed) that t, planned from f, plans as they were
// when they failed: their homes as that reload prepared them, compared
// with t as though they ran, are what t would start them as. A reload
// that leaves them so (mictl reload to try again, a comment edited, an
// edit of other instances) put nothing right of them: cleared as it
// ended, status dropped the failure, and mictl up started them into it
// again. None once t plans each of them otherwise (mi_home put back, an
// override undone): what failed is no longer the plan.
func stillFailed(t *reconcile.Target, f *state.File) []string {
	same, _ := leftFailed(t, f)
	return same
}

// WithPutRight is c, the changes from f to t, with the restarts of the
// instances a reload puts right (putRight): mictl diff shows what a
// reload would do with it. c goes second, as together keeps the homes
// lacking a comments-only edit of its second alone: first, a c with
// nothing but those (Empty) was dropped whole.
func WithPutRight(t *reconcile.Target, f *state.File, c reconcile.Changes) reconcile.Changes {
	return together(putRight(t, f), c)
}

// putRight are the restarts of the instances the last reload's begun
// failure left failed that t, planned from f, plans otherwise than as
// they failed (see stillFailed): what failed is no longer the plan, and
// the reload starts them as it restarts the instances whose settings
// changed. Left to mictl up, a reload that fixed what they failed on
// said "no change" and left them failed.
func putRight(t *reconcile.Target, f *state.File) reconcile.Changes {
	_, fixed := leftFailed(t, f)
	for _, name := range fixed.Restart {
		fixed.Why[name] = "the reload that left it failed is put right: " + fixed.Why[name]
	}
	return fixed
}

// leftFailed splits the instances the last reload's begun failure left
// failed that t, planned from f, still plans into those it plans as they
// failed (same) and the restarts of the others, as t would make them
// were they running (fixed: their Restart, Why and Diffs alone).
func leftFailed(t *reconcile.Target, f *state.File) (same []string, fixed reconcile.Changes) {
	fixed = reconcile.NoChanges()
	if !f.ReloadBegun || f.ReloadError == "" {
		return nil, fixed
	}
	asRunning := &state.File{Configured: f.Configured}
	for _, name := range f.ReloadLeftFailed {
		rec, known := f.Instance(name)
		if _, planned := t.Instance(name); known && planned && rec.State == StateFailed {
			rec := *rec
			rec.State = StateStarting
			asRunning.Instances = append(asRunning.Instances, rec)
		}
	}
	if len(asRunning.Instances) == 0 {
		return nil, fixed // started since (mictl up), or no longer configured
	}
	// Unreadable (the distribution, a home), the plan cannot be told
	// from what failed: the failure stands, as nothing says it is over.
	c, err := reconcile.Compare(t, asRunning)
	for _, rec := range asRunning.Instances {
		switch {
		case !slices.ContainsFunc(lists(&c), func(l *[]string) bool { return slices.Contains(*l, rec.Name) }):
			same = append(same, rec.Name)
		case err == nil && slices.Contains(c.Restart, rec.Name):
			fixed.Restart = append(fixed.Restart, rec.Name)
			fixed.Why[rec.Name] = c.Why[rec.Name]
			if d, ok := c.Diffs[rec.Name]; ok {
				fixed.Diffs[rec.Name] = d
			}
		}
	}
	return same, fixed
}

// failureStands is the error of a reload that ended with the last
// reload's failure standing for the instances same (stillFailed), nil
// when none: lead says what the reload itself did. deployment names the
// deployment the commands it names are pasted for (AsRunFor).
func failureStands(same []string, lead string, deployment []string) error {
	if len(same) == 0 {
		return nil
	}
	// Without the failure's own words, which mictl status (and the
	// table mictl reload prints) shows below the table as reload_error.
	return exitcode.With(exitcode.Runtime, fmt.Errorf(
		"%s the last reload's failure stands (%s shows it): the configuration plans %s, which it left failed, as it did then; %s starts %s once what it failed on is fixed",
		lead, AsRunFor(deployment, "mictl status"), words.And(same), AsRunFor(deployment, "mictl up"), words.ItOrThem(len(same))))
}

func describe(c reconcile.Changes) string {
	var parts []string
	for _, n := range c.Add {
		parts = append(parts, "+"+n)
	}
	for _, n := range c.Remove {
		parts = append(parts, "-"+n)
	}
	for _, n := range c.Restart {
		parts = append(parts, fmt.Sprintf("~%s (%s)", n, c.Why[n]))
	}
	for _, n := range c.Redeploy {
		// Worded as the instance's own event and mictl diff word it.
		parts = append(parts, fmt.Sprintf("%s %s (%s)", c.CApps[n], n, c.Why[n]))
	}
	return strings.Join(parts, " ")
}
