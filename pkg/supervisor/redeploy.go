package supervisor

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/words"
)

// redeploy gives names, running instances of c.Redeploy, their CApps as
// t declares them, for op: MI's hot deployment takes the new files, and
// nothing restarts. Each instance's CApps are then checked until MI
// settled them (see appChanges), and its health checked again soon: a
// CApp change is a change.
//
// A rebuilt CApp whose inbound endpoint moved can move one instance's
// port onto the port another instance's old build still holds (a move of
// 1 on instances at consecutive offsets). Copied into every home at once,
// whichever MI scanned first took the port or failed on it, and MI keeps
// a CApp it failed faulty for good: with the declared file in the home,
// diff then saw nothing to do and a reload did nothing. So the homes get
// their builds in the order a restart starts instances
// (reconcile.Target.RestartSteps): a holder first, then, once its MI let
// go of the port (awaitLetGo), the instance that takes it. Instances that
// take each other's ports in a cycle (two swapping) have their changed
// CApps undeployed first, all of them, and get the new builds once MI let
// go of the ports: only those CApps are down meanwhile, for a hot
// deployment scan or two, where a restart of the cycle, as a reload
// restarts one, took every CApp of those servers down, for as long as
// MI's stop (a drain of up to 180 s) and start take.
//
// A home that does not take its new CApps (a read-only carbonapps/, a
// full disk) keeps its old builds, and their ports: the redeploy goes on
// without it, and without the instances whose new CApps open those ports
// (heldBack), and its error names them. Ended at the first such home, a
// deploy to every instance left all those after it without the CApp.
//
// before is what ran before the reload changed anything (the ports each
// held).
func (s *Supervisor) redeploy(op *change, t *reconcile.Target, before *state.File, c reconcile.Changes, names []string) error {
	if len(names) == 0 {
		return nil
	}
	r, err := s.beginRedeploy(op, t, before, c, names, nil, false)
	if err != nil {
		return err
	}
	defer r.close()
	failed := &copiesFailed{}
	var heldBack []string
	// ended is err, which ends the redeploy, after the homes that failed
	// before it, and followed by those it did not give their new CApps.
	ended := func(err error) error {
		if err = r.notGiven(err); len(failed.names) > 0 {
			return fmt.Errorf("%s; %w", failed, err)
		}
		return err
	}
	for _, step := range t.RestartSteps(before, names) {
		// Held back: given its new CApps, it met a port the old build
		// of a home that failed (or of one held back) still holds, and
		// MI failed that endpoint, keeping its CApp faulty for good.
		heldBack = append(heldBack, takingPorts(t, before, step, slices.Concat(failed.names, heldBack))...)
		step = slices.DeleteFunc(step, func(name string) bool { return slices.Contains(heldBack, name) })
		if len(step) == 0 {
			continue
		}
		how := takenByRedeploy
		if len(step) > 1 {
			if err := r.undeploy(step, step); err != nil {
				return ended(err)
			}
			how = takenInCycle
		}
		err := r.give(step, how)
		var copies *copiesFailed
		if errors.As(err, &copies) {
			failed.names, failed.errs = append(failed.names, copies.names...), append(failed.errs, copies.errs...)
			continue
		}
		if err != nil {
			// Told alone, a swap's wait named the one instance that
			// waited: the other ran without its undeployed CApps too,
			// unsaid.
			return ended(err)
		}
	}
	return failed.said(t, before, heldBack, s.asRun("mictl reload"))
}

// copiesFailed are the instances whose homes did not take their new
// CApps, each with why (giveApps' error, which names the instance).
type copiesFailed struct {
	names []string
	errs  []error
}

func (e *copiesFailed) Error() string {
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

// said is e, after which a redeploy went on without its instances,
// followed by held, those it held back (their new CApps open ports the
// old builds of e's instances, or of held, still hold), with what brings
// them all their new CApps: reload, mictl reload as the advice pastes it
// (asRun). Nil when no home failed.
func (e *copiesFailed) said(t *reconcile.Target, before *state.File, held []string, reload string) error {
	n := len(e.names)
	if n == 0 {
		return nil
	}
	once := fmt.Sprintf("once the %s of %s %s %s new CApps", words.Noun(n, "home"), strings.Join(e.names, ", "), words.Verb(n, "take"), words.ItsOrTheir(n))
	if len(held) == 0 {
		return fmt.Errorf("%w (%s redeploys %s %s)", e, reload, words.ItOrThem(n), once)
	}
	holders := slices.DeleteFunc(slices.Concat(e.names, held), func(holder string) bool {
		return !slices.ContainsFunc(held, func(name string) bool { return t.TakesPorts(before, name, []string{holder}) })
	})
	return fmt.Errorf("%w; not redeployed: %s, whose new CApps open ports the old builds of %s still hold (%s redeploys them all %s)",
		e, strings.Join(held, ", "), strings.Join(holders, ", "), reload, once)
}

// redeployment is a redeploy under way, for op, of instances of c.Redeploy
// to the CApps t declares, step by step: what f recorded when it began,
// the checks of what MI makes of their new CApps (prepared then, before
// anything changed), and the instances given their new CApps so far,
// whose old ports the next steps wait for.
type redeployment struct {
	s      *Supervisor
	op     *change
	t      *reconcile.Target
	before *state.File
	c      reconcile.Changes
	f      *state.File
	names  []string
	checks map[string]*appCheck
	given  []string
	// afterRestarts says they come after the restarts whose ports they
	// take (see restartInTurn), which notGiven says of those it names.
	afterRestarts bool
	// undeployed are those whose changed CApps were undeployed first,
	// not given their new builds yet.
	undeployed []string
}

// beginRedeploy begins the redeploy of names (see redeploy), after given
// got their new CApps, and, when afterRestarts says so, after the
// restarts whose ports they take; close ends it.
func (s *Supervisor) beginRedeploy(op *change, t *reconcile.Target, before *state.File, c reconcile.Changes, names, given []string, afterRestarts bool) (*redeployment, error) {
	r := &redeployment{s: s, op: op, t: t, before: before, c: c, names: names, given: slices.Clone(given), afterRestarts: afterRestarts}
	if len(names) == 0 {
		return r, nil // nothing to look up
	}
	var err error
	if r.f, err = s.current(); err != nil {
		return nil, err
	}
	r.checks = s.appChanges(r.f, names, t.Apps)
	return r, nil
}

// close drops the checks not queued: a copy failed, or never came.
func (r *redeployment) close() {
	for _, check := range r.checks {
		check.close()
	}
}

// notGiven is err, which ended the reload, followed by those of the
// redeploy not given their new CApps yet (notRedeployed).
func (r *redeployment) notGiven(err error) error {
	return notRedeployed(err, r.s.asRun("mictl reload"), r.names, r.given, r.undeployed, r.afterRestarts)
}

// notRedeployed is err, which ended a reload, followed by those of names,
// a reload's redeploys, not among given, those given their new CApps,
// and how each is left: those in undeployed without the CApps they had
// undeployed first, the others as they were. afterRestarts says that
// names came after the restarts whose ports they take. One err says
// how it is left (the taker of a port still held, see awaitLetGo) is not
// told twice. reload is mictl reload as the advice pastes it (asRun).
func notRedeployed(err error, reload string, names, given, undeployed []string, afterRestarts bool) error {
	var kept []string
	for _, name := range untold(err, names) {
		switch {
		case slices.Contains(given, name):
		case slices.Contains(undeployed, name):
			if afterRestarts {
				err = fmt.Errorf("%w; not redeployed: %s, which runs without the CApps it had undeployed first, whose new builds take ports the restarts were to free (%s redeploys them once they succeed)", err, name, reload)
			} else {
				err = fmt.Errorf("%w; not redeployed: %s, which runs without the CApps it had undeployed first (%s redeploys it)", err, name, reload)
			}
		default:
			kept = append(kept, name)
		}
	}
	switch {
	case len(kept) == 0:
	case afterRestarts:
		err = fmt.Errorf("%w; not redeployed: %s, whose new CApps take ports the restarts were to free (%s redeploys them once they succeed)", err, strings.Join(kept, ", "), reload)
	default:
		err = fmt.Errorf("%w; not redeployed: %s (%s redeploys %s)", err, strings.Join(kept, ", "), reload, words.ItOrThem(len(kept)))
	}
	return err
}

// undeploy removes from the homes of names, instances of cycle, which
// take each other's ports, their changed CApps (undeployChanged). Each
// counts as undeployed once its own undeploy succeeded: counted before,
// a failure on the first said the others ran without CApps nothing had
// undeployed from them.
func (r *redeployment) undeploy(names, cycle []string) error {
	for _, name := range names {
		if err := r.s.undeployChanged(r.f, r.t, name, cycle); err != nil {
			return err
		}
		r.undeployed = append(r.undeployed, name)
	}
	return nil
}

// give gives step its new CApps, once no instance given them before (or
// with it) holds a port they open (awaitLetGo, saying how). Each counts
// as given once its CApps are in its home: counted before, one the wait
// or a copy kept from them went unsaid by notGiven. A home that does not
// take them keeps none of the others of step from theirs (the wait let
// go of their ports already); the error is then a *copiesFailed.
func (r *redeployment) give(step []string, how taking) error {
	if err := r.s.awaitLetGo(r.op, r.t, r.before, step, slices.Concat(r.given, step), how, nil); err != nil {
		return err
	}
	failed := &copiesFailed{}
	for _, name := range step {
		err := r.s.giveApps(r.f, r.t, r.c, name, r.checks, slices.Contains(r.undeployed, name))
		if errors.Is(err, fsutil.ErrChanged) {
			// A CApp rebuilt since the plan: the others would fail
			// alike, and the rebuild's own reload plans again.
			return err
		}
		if err != nil {
			failed.names, failed.errs = append(failed.names, name), append(failed.errs, err)
			continue
		}
		r.given = append(r.given, name)
		r.undeployed = slices.DeleteFunc(r.undeployed, func(n string) bool { return n == name })
	}
	if len(failed.names) > 0 {
		return failed
	}
	return nil
}

// giveApps copies into the home of name, an instance of f, the CApps t
// declares for it, records them, and queues the check of what MI makes
// of them (checks[name], prepared before anything changed).
// undeployedFirst says that its changed CApps were undeployed first (a
// cycle of instances taking each other's ports): what its home holds is
// then the record now, not f's, which a copy failing left recorded as
// still held, with its old inbound port, which another instance of the
// cycle took: two instances recorded on one port.
func (s *Supervisor) giveApps(f *state.File, t *reconcile.Target, c reconcile.Changes, name string, checks map[string]*appCheck, undeployedFirst bool) error {
	rec, ok := f.Instance(name)
	if !ok {
		return nil
	}
	verb := reconcile.AppsVerb(t.Apps[name], t.OwnApps(rec.Apps), rec.Home) // as the reload found it
	left := "it runs the CApps its home still holds"
	if undeployedFirst {
		now, err := s.current()
		if err != nil {
			return err
		}
		if rec, ok = now.Instance(name); !ok {
			return nil
		}
		left = "it runs without the CApps it had undeployed first"
	}
	apps, err := reconcile.SyncApps(rec.Home, t.Apps[name], t.OwnApps(rec.Apps))
	var extras []state.Extra
	if inst, ok := t.Instance(name); ok {
		if want, rerr := t.Record(inst); rerr == nil {
			// The new apps' inbound endpoints, those of the apps the
			// home still holds when a copy failed.
			extras = reconcile.HeldExtras(want.Extras, rec.Extras, t.Apps[name], apps)
		}
	}
	// Read once: the change runs again at each retry of a failed write
	// (see record), and the stamp must stay the one forgetUndeployed
	// judges.
	now := time.Now()
	s.record(name, Event{State: verb, Message: c.Why[name]}, func(i *state.Instance) {
		i.Apps, i.Extras, i.Undeploying = apps, extras, reconcile.Undeploying(i, extras, now)
	})
	if err != nil {
		// Said of the instance, and of how it is left: the error named
		// only a file.
		return fmt.Errorf("%s: %w; %s", name, err, left)
	}
	if check := checks[name]; check != nil {
		delete(checks, name)
		s.queueAppCheck(name, check)
	}
	s.healthSoon(name)
	return nil
}

// undeployChanged removes from the home of name, an instance of f in
// cycle, instances that take each other's ports, the CApps whose builds t
// changes or no longer declares, so that its MI lets go of the ports
// before any of cycle opens them: a new build, or a restart.
func (s *Supervisor) undeployChanged(f *state.File, t *reconcile.Target, name string, cycle []string) error {
	rec, ok := f.Instance(name)
	if !ok {
		return nil
	}
	others := strings.Join(slices.DeleteFunc(slices.Clone(cycle), func(other string) bool { return other == name }), ", ")
	apps, err := reconcile.UndeployChanged(rec.Home, t.Apps[name], t.OwnApps(rec.Apps))
	msg := "changed CApps undeployed first: their new builds and the new ports of " + others + " take each other's ports"
	if err != nil {
		// Said of the instance, and not as done: the event read
		// "undeployed first" and the error named only a file.
		err = fmt.Errorf("%s: its changed CApps could not be undeployed first (their new builds and the new ports of %s take each other's ports): %w", name, others, err)
		msg = err.Error()
	}
	s.record(name, Event{State: "redeploy", Message: msg}, func(i *state.Instance) { i.Apps = apps })
	return err
}

// letGoTimeout bounds the wait for an instance's MI to let go of a port
// its new build no longer opens: it takes the new build at its next hot
// deployment scan, as it takes any changed CApp (a variable for tests).
var letGoTimeout = appsVerifyTimeout

// taking is how an instance takes a port a redeployed one held: what a
// wait for it says. The wait's event is named by what waits, verb +
// "-waiting" (redeploy-waiting, restart-waiting, start-waiting): all
// were redeploy-waiting, a restart's and a start's too, which redeploy
// nothing.
type taking struct {
	verb  string // what the reload does to the taker: "redeploy"
	opens string // how the taker opens the port
	left  string // how the taker is left when the wait ends the reload
}

var (
	takenByRedeploy = taking{verb: "redeploy", opens: "its own new CApps open it", left: "keeps its CApps as they were"}
	takenInCycle    = taking{verb: "redeploy", opens: "its own new CApps open it", left: "runs without the CApps it had undeployed first"}
	takenByRestart  = taking{verb: "restart", opens: "it opens it once restarted", left: "keeps running as it was"}
	takenByStart    = taking{verb: "start", opens: "it opens it once started", left: "is not started"}
)

// portHeld is awaitLetGo's error when a port is still held at its end:
// it says how taker, of the step that waited, is left. blocked are the
// instances of the step whose ports were still held then, taker first:
// the others' were let go.
type portHeld struct {
	taker   string
	blocked []string
	msg     string
}

func (e *portHeld) Error() string { return e.msg }

// untold are names but the one err says how it is left when a wait for
// a port ended it (portHeld names its taker): a caller naming the others
// does not tell it twice.
func untold(err error, names []string) []string {
	var held *portHeld
	if !errors.As(err, &held) {
		return names
	}
	return slices.DeleteFunc(slices.Clone(names), func(name string) bool { return name == held.taker })
}

// taken is a port that taker, to start or to be given new CApps, opens
// and holder, given new CApps, held before.
type taken struct {
	taker, holder string
	port          int
}

// awaitLetGo waits until no instance of holders, given new CApps, holds
// a port, as f recorded their ports before the reload, that an instance
// of step opens as t plans it, for op. Opened while the old build held
// it, MI would fail that endpoint, and keep its CApp faulty. One still
// held after letGoTimeout ends the reload, with the instances of step
// left as how.left says (as they were, or, in a cycle, without the CApps
// undeployed first): diff shows what is left to do, and a reload does it.
//
// freed, when not nil, is given the instances of step whose own ports
// are all let go as soon as they are (each once, step's order kept),
// while the wait goes on for the others; an error of it ends the wait.
// The instances of a start wait start then: one whose port was free at
// once waited, unstarted, for every other's, up to letGoTimeout. Without
// it the wait is for every port (a step of restarts, stopped together).
func (s *Supervisor) awaitLetGo(op *change, t *reconcile.Target, f *state.File, step, holders []string, how taking, freed func(names []string) error) error {
	var held []taken
	for _, taker := range step {
		for _, holder := range holders {
			for _, port := range t.PortsTaken(f, taker, holder) {
				held = append(held, taken{taker, holder, port})
			}
		}
	}
	waiting := slices.Clone(step) // those not yet given to freed
	release := func() error {
		if freed == nil {
			return nil
		}
		free := slices.DeleteFunc(slices.Clone(waiting), func(name string) bool {
			return slices.ContainsFunc(held, func(h taken) bool { return h.taker == name })
		})
		if len(free) == 0 {
			return nil
		}
		waiting = slices.DeleteFunc(waiting, func(name string) bool { return slices.Contains(free, name) })
		return freed(free)
	}
	if len(held) == 0 {
		return release()
	}
	said := map[string]bool{}
	deadline := time.Now().Add(letGoTimeout)
	for {
		v, err := observe.NewView()
		if err != nil {
			return fmt.Errorf("%s %s: cannot tell whether %s let go of port %d: %w", how.verb, held[0].taker, held[0].holder, held[0].port, err)
		}
		held = slices.DeleteFunc(held, func(h taken) bool {
			rec, _ := f.Instance(h.holder)
			return !v.Holder(rec, h.port).Owned
		})
		if err := release(); err != nil || len(held) == 0 {
			return err
		}
		for _, h := range held {
			if !said[h.taker] {
				said[h.taker] = true
				s.emit(Event{Instance: h.taker, State: how.verb + "-waiting", Message: fmt.Sprintf(
					"its %s waits for %s to let go of port %d%s, which %s's new CApps no longer open: %s, and MI fails an inbound endpoint on a port still held, keeping its CApp faulty",
					how.verb, h.holder, h.port, portUse(f, h.holder, h.port), h.holder, how.opens)})
			}
		}
		if time.Now().After(deadline) {
			h := held[0]
			var blocked []string
			for _, still := range held {
				if !slices.Contains(blocked, still.taker) {
					blocked = append(blocked, still.taker)
				}
			}
			return &portHeld{taker: h.taker, blocked: blocked, msg: fmt.Sprintf("%s %s: %s still holds port %d%s after %s, which %s's new CApps no longer open: %s %s; see `%s` for why its MI did not take its new build, then apply the change with %s",
				how.verb, h.taker, h.holder, h.port, portUse(f, h.holder, h.port), letGoTimeout, h.holder, h.taker, how.left, s.asRun("mictl logs "+h.holder), s.asRun("mictl reload"))}
		}
		select {
		case <-op.ctx.Done():
			return op.interrupted()
		case <-time.After(appsPollEvery):
		}
	}
}

// portUse says what port is to holder, an instance of f, as its record
// has it: " (its inbound orders_1.0.0/HTTPIn)", "" when it is none of its
// extra ports.
func portUse(f *state.File, holder string, port int) string {
	rec, ok := f.Instance(holder)
	if !ok {
		return ""
	}
	for _, e := range rec.Extras {
		if e.Port == port {
			return fmt.Sprintf(" (its %s %s)", e.Role, e.Listener)
		}
	}
	return ""
}

// removeCopyLeftovers removes, from the homes of the instances of f that
// run, the temporary files of CApp copies a daemon killed mid-copy left
// in carbonapps/ (reconcile.RemoveCopyLeftovers), and says so of each. A
// daemon taking over from a dead one calls it holding the daemon lock and
// the state lock, before it resumes anything, and no copy into those
// homes can be under way then: the dead daemon made the copies into them
// (a reload's redeploy), no other daemon runs, an `mictl up` prepares
// homes only under the state lock (and only those of instances that do
// not run), and `mictl generate` leaves the homes of instances that run
// alone. A stopped instance's home is not looked at: a generate may be
// copying into it.
func (s *Supervisor) removeCopyLeftovers(f *state.File) {
	for _, inst := range f.Instances {
		if inst.Home == "" || !reconcile.Running(inst) {
			continue
		}
		removed, err := reconcile.RemoveCopyLeftovers(inst.Home)
		if len(removed) > 0 {
			s.emit(Event{Instance: inst.Name, State: "copy-leftovers-removed", Message: fmt.Sprintf(
				"removed from %s what a copy the previous daemon did not finish left (MI ignores it; it took disk space): %s", home.CarbonAppsDir(inst.Home), strings.Join(removed, ", "))})
		}
		if err != nil {
			s.emit(Event{Instance: inst.Name, State: "copy-leftovers-kept", Message: err.Error() + "; MI ignores such a file: removed by hand, it frees its space"})
		}
	}
}
