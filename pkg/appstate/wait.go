package appstate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/mgmt"
)

// Goal is what a wait waits for on every instance.
type Goal int

const (
	// GoalActive: the application, this build, is active (or turned out
	// faulty, which ends the wait for that instance too).
	GoalActive Goal = iota
	// GoalGone: MI no longer lists the application.
	GoalGone
)

// Outcomes of a wait, per instance (besides StateActive and StateFaulty).
const (
	StateGone = "undeployed" // GoalGone reached
	// StateBack: GoalGone undone, the build deployed again meanwhile.
	StateBack = "deployed again"
)

// Outcome is where one instance ended a wait.
type Outcome struct {
	Instance string
	// State is StateActive or StateFaulty (GoalActive), StateGone
	// (GoalGone, or GoalActive when the build left the instance's
	// carbonapps/ during the wait), StateBack (GoalGone when the build
	// came back into it), or StatePending when the goal was not reached.
	State string
	// Message is MI's errorMessage of a faulty application, or why an
	// instance is still pending (its API's last error, ...).
	Message string
	// NotRunning is set for a pending instance that does not run, or
	// whose server exited during the wait: there is no MI to wait for,
	// and it takes the change when it starts.
	NotRunning bool
}

// Done reports whether the wait for the instance is over: it reached the
// goal, or it cannot (a faulty application; a refused login, unknown).
func (o Outcome) Done() bool { return o.State != StatePending }

// Waiter waits for one application to reach a goal on every target of a
// session. Make it (NewWaiter) BEFORE anything changes, so that it knows
// what the instances ran before: a rebuilt application that MI still runs
// from its previous build is not taken for deployed.
type Waiter struct {
	s    *Session
	app  Declared
	goal Goal
	// before is each target's state of the application at the start, and
	// whether MI ran this very build then.
	before []baseline
	// settled is whether each target's carbonapps/ was brought to the
	// goal during the wait: holding this build (GoalActive: seen there,
	// or copied by the reload), or without it (GoalGone: taken out by the
	// reload). One that turns the other way again had the change undone
	// meanwhile.
	settled []bool
}

type baseline struct {
	// state and message are the application's then; listed is whether MI
	// listed it at all; current whether the instance held this build.
	state, message  string
	listed, current bool
}

// NewWaiter observes the session's instances once, as they are before the
// change the wait is about. The session must follow the logs
// (Options.Follow). From then on app counts as declared on every target
// of the session, whether mictl.toml says so yet or not.
func NewWaiter(ctx context.Context, s *Session, app Declared, goal Goal) *Waiter {
	w := &Waiter{s: s, app: app, goal: goal, before: make([]baseline, len(s.targets)), settled: make([]bool, len(s.targets))}
	for i := range s.targets {
		t := &s.targets[i]
		if !slices.ContainsFunc(t.Declared, func(d Declared) bool { return d.Path == app.Path }) {
			t.Declared = append(slices.Clip(t.Declared), app)
		}
	}
	for i, o := range s.Observe(ctx) {
		if o.Source == SourceLog {
			// The followed log starts now; what ran before is in its past.
			past := tailLog(home.CarbonLog(o.Target.Home), maxLogTail)
			_ = past.read()
			o.Events = past.events
		}
		a := o.app(app)
		b := baseline{state: a.State, current: a.DeployedFile != nil, listed: o.lists(app)}
		if a.ErrorMessage != nil {
			b.message = *a.ErrorMessage
		}
		w.before[i] = b
	}
	return w
}

// Reloaded tells the waiter that the daemon's reload has returned, which
// brought the carbonapps/ of the named targets to the goal: this build is
// there (GoalActive), or no longer there (GoalGone). One found the other
// way from then on had the change undone meanwhile, though no look saw
// it settled: an undeploy landing between the copy and the first look
// left deploy --wait pending until its timeout, and a deploy of the same
// build undeploy --wait.
func (w *Waiter) Reloaded(names []string) {
	for i, t := range w.s.targets {
		if slices.Contains(names, t.Name) {
			w.settled[i] = true
		}
	}
}

// app is the application's state in observation o.
func (o Observation) app(d Declared) App {
	if d.App == nil {
		return App{State: StateUnknown}
	}
	return o.declaredApp(d, o.listed(), map[int]bool{})
}

// lists reports whether MI lists the application d (active or faulty,
// any build): in its Management API's answer, or, from its log, when the
// last event about it is not an undeployment.
func (o Observation) lists(d Declared) bool {
	if o.Source == SourceLog {
		e, ok := Last(o.Events, idOf(d), o.fileOf(d))
		return ok && e.Kind != Undeployed
	}
	for _, l := range o.listed() {
		if l.matches(idOf(d), o.fileOf(d)) {
			return true
		}
	}
	return false
}

// idOf is MI's id of the declared application d, "" when unknown.
func idOf(d Declared) string {
	if d.App == nil {
		return d.ID
	}
	return d.App.ID()
}

// Wait polls every interval until every running target reached the goal,
// or ctx ends; progress (if not nil) hears of each instance once, when it
// is done. Instances that do not run are pending: there is no MI to wait
// for.
func (w *Waiter) Wait(ctx context.Context, every time.Duration, progress func(Outcome)) []Outcome {
	out := w.start()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if !w.judge(ctx, out, progress) {
			return out
		}
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
	}
}

// Judge observes the targets once and says where each stands: the last
// word on a wait whose time ran out, with a context of its own.
func (w *Waiter) Judge(ctx context.Context) []Outcome {
	out := w.start()
	w.judge(ctx, out, nil)
	return out
}

// start is every target pending, as a wait begins. One that does not run
// takes the change at its start, which brings its carbonapps/ up to date
// with mictl.toml: with the application, or, undeployed, without it.
func (w *Waiter) start() []Outcome {
	atStart := "not running: it gets the application when it starts"
	if w.goal == GoalGone {
		atStart = "not running: it starts without the application"
	}
	out := make([]Outcome, len(w.s.targets))
	for i, t := range w.s.targets {
		out[i] = Outcome{Instance: t.Name, State: StatePending}
		if !t.Running {
			out[i].Message, out[i].NotRunning = atStart, true
		}
	}
	return out
}

// judge observes the targets once and updates the outcomes not done yet;
// it reports whether a running target is still pending.
func (w *Waiter) judge(ctx context.Context, out []Outcome, progress func(Outcome)) (pending bool) {
	observed := w.s.Observe(ctx)
	// Calls the wait's end cut short say only that ("context deadline
	// exceeded", which a wait for a hung MI ended with): the outcomes
	// stay as the last whole look left them.
	cut := ctx.Err() != nil
	for i, o := range observed {
		if o.Exited && !out[i].Done() {
			// Stopped (a down) or crashed during the wait: there is no MI
			// left to wait for, as for an instance that did not run.
			out[i].Message = fmt.Sprintf("not running: its server (pid %d) exited during the wait; it takes the change when it starts again", o.Target.Server.PID)
			out[i].NotRunning = true
		}
		if out[i].Done() || !o.Target.Running || cut {
			continue
		}
		out[i] = w.outcome(i, o)
		if out[i].Done() && progress != nil {
			progress(out[i])
		}
		pending = pending || !out[i].Done()
	}
	return pending
}

// outcome judges one observation of target i.
func (w *Waiter) outcome(i int, o Observation) Outcome {
	res := Outcome{Instance: o.Target.Name, State: StatePending}
	if o.Copies != nil {
		_, holds := o.Copies[w.app.Path]
		switch {
		case w.goal == GoalActive && holds:
			w.settled[i] = true
		case w.goal == GoalActive && w.settled[i]:
			// An undeploy, a rebuild or an edit of mictl.toml raced the
			// wait: MI will not deploy this build now.
			res.State, res.Message = StateGone, w.whyGone()
			return res
		case w.goal == GoalGone && holds && w.settled[i]:
			// A deploy of it raced the wait: MI keeps (or takes) it.
			res.State, res.Message = StateBack, "this build is back in its carbonapps/: deployed again meanwhile (mictl deploy, or mictl.toml edited)"
			return res
		}
	}
	if o.Err != nil {
		res.Message = o.Err.Error()
		if errors.Is(o.Err, mgmt.ErrUnauthorized) {
			// A refused login is not refused less by waiting.
			res.State = StateUnknown
		}
		return res
	}
	b := w.before[i]
	if w.goal == GoalGone {
		if o.Source == SourceLog && (!b.listed || w.eventSince(o, Undeployed)) || o.Source == SourceAPI && !o.lists(w.app) {
			res.State = StateGone
		}
		return res
	}
	switch {
	case b.current && b.listed:
		// This build ran at the start already: it stands.
		res.State, res.Message = b.state, b.message
		return res
	case b.listed && !w.eventSince(o, Deployed) && !w.eventSince(o, Failed):
		// MI runs its previous build until its log says it deployed this one.
		return res
	}
	a := o.app(w.app)
	switch a.State {
	case StateActive:
		res.State = StateActive
	case StateFaulty:
		res.State = StateFaulty
		if a.ErrorMessage != nil {
			res.Message = *a.ErrorMessage
		}
	default:
		if e, ok := w.lastEvent(o); ok && e.Kind == Failed {
			// Refused before deployment (MI lists such a file nowhere).
			res.State, res.Message = StateFaulty, e.Message
		} else if a.Note != nil {
			res.Message = *a.Note
		}
	}
	return res
}

// whyGone says why this build left a target's carbonapps/ during the
// wait: its file holds another build now (the daemon deploys that one),
// else mictl.toml no longer declares it there.
func (w *Waiter) whyGone() string {
	const gone = "this build is no longer in its carbonapps/: "
	fi, err := os.Stat(w.app.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return gone + w.app.Path + " was deleted meanwhile"
	case err == nil && w.app.App != nil && fi.Mode().IsRegular() &&
		(fi.Size() != w.app.App.Size || w.s.hash(fileKey{w.app.Path, fi.Size(), fi.ModTime().UnixNano()}) != w.app.App.SHA256):
		return gone + w.app.Path + " was rebuilt meanwhile, and the daemon deploys the new build (run the deploy --wait again to wait for it)"
	}
	return gone + "undeployed meanwhile (mictl undeploy, or mictl.toml edited)"
}

// lastEvent is the last event about the application in the instance's
// log since the wait began.
func (w *Waiter) lastEvent(o Observation) (Event, bool) {
	return Last(o.Events, idOf(w.app), o.fileOf(w.app))
}

// eventSince reports whether the last event about the application since
// the wait began is of kind k.
func (w *Waiter) eventSince(o Observation, k EventKind) bool {
	e, ok := w.lastEvent(o)
	return ok && e.Kind == k
}
