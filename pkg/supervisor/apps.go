package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mictl/mictl/pkg/appstate"
	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/state"
)

// Credentials log in to the instances' Management API; From names where
// they came from (mgmt.Options.CredentialsFrom).
type Credentials struct{ User, Password, From string }

// CredentialsOf are cfg's Management API credentials.
func CredentialsOf(cfg *config.Config) Credentials {
	return Credentials{User: cfg.ManagementUser, Password: cfg.ManagementPassword, From: cfg.CredentialsFrom()}
}

// AppCounts is what MI last said of an instance's CApps: how many it runs
// and how many it could not deploy; none of either, without asking, for
// a server launched with no CApp to deploy and given none since.
type AppCounts struct{ Active, Faulty int }

// appWatch is the supervisor's knowledge of the instances' CApps, from
// their Management API, and the checks that keep it.
type appWatch struct {
	mu    sync.Mutex
	creds Credentials
	// counts are kept only while the instance is watched (ready or
	// degraded): what MI said of a server that no longer runs is unknown.
	// asked is when MI was asked for each: an answer to an earlier
	// question, come late, does not replace a later one's.
	counts map[string]AppCounts
	asked  map[string]time.Time
	// queues are the watched instances' checks.
	queues map[string]*appQueue
}

// appQueue is one instance's CApp checks: the one that runs and at most
// one after it. A change while a check runs supersedes that check (its
// builds may be gone already) and queues one of the instance's CApps as
// they are now, which also waits for every removal not yet confirmed: one
// goroutine per instance, however many changes come.
type appQueue struct {
	running *appCheck
	cancel  context.CancelFunc // ends running
	next    *appCheck
	// until is when running ends at the latest (appsVerifyTimeout).
	until time.Time
	// round is the checks that run now and those queued after them (see
	// AwaitApps); nil while none runs. last is the round that ended last.
	round, last *appRound
}

// appRound is a run of one instance's CApp checks, one after another
// until none is left.
type appRound struct {
	// done is closed once the round is over; pending is set before.
	done chan struct{}
	// pending says of each application its last check ended with MI not
	// having made its change ("good_1.0.0: not deployed after 2m0s: MI
	// did not list it"), as its event says; unknown of each MI could not
	// be asked about ("good_1.0.0: cannot tell: ... HTTP 401 ...").
	pending, unknown []string
	// Once the round is over: when it ended, and the CApps its last
	// check (which superseded those before it) waited for MI to run and
	// to drop, by id.
	ended     time.Time
	run, drop []string
}

// appCheck waits until MI has settled a change of one instance's CApps:
// each declared application active or faulty (this build), each removed
// one no longer listed.
type appCheck struct {
	inst     state.Instance
	declared []appstate.Declared
	gone     []state.App
	// session and waits are made by prepare: from what MI ran before the
	// change, so that an application MI still runs from its previous
	// build is not taken for deployed (see appstate.NewWaiter).
	session *appstate.Session
	waits   []appWait
}

type appWait struct {
	id     string
	gone   bool
	waiter *appstate.Waiter
}

// SetCredentials sets how the supervisor logs in to the Management API
// (mictl.toml's management_user, management_password).
func (s *Supervisor) SetCredentials(c Credentials) {
	s.apps.mu.Lock()
	s.apps.creds = c
	s.apps.mu.Unlock()
}

// AppCounts returns what MI last said of each watched instance's CApps
// (only the instances asked so far, and those known to run none).
func (s *Supervisor) AppCounts() map[string]AppCounts {
	s.apps.mu.Lock()
	defer s.apps.mu.Unlock()
	out := make(map[string]AppCounts, len(s.apps.counts))
	for k, v := range s.apps.counts {
		out[k] = v
	}
	return out
}

// appsVerifyTimeout bounds how long MI may take to pick up a changed
// CApp (its hot deployer scans every 15 s); appsPollEvery is how often it
// is asked meanwhile: as often as the health checks after a change.
const (
	appsVerifyTimeout = 2 * time.Minute
	appsPollEvery     = checkFirst
)

// watchApps begins the CApp checks of inst, which its runner now watches,
// with one of the CApps it runs: their states in the event log, the
// counts in the metrics. launchedWithoutCApps says that this supervisor
// launched the server while carbonapps/ held no CApp (see running).
func (s *Supervisor) watchApps(inst state.Instance, launchedWithoutCApps bool) {
	declared := make([]appstate.Declared, len(inst.Apps))
	for i, a := range inst.Apps {
		declared[i] = deployedCopy(inst, a)
	}
	// A server that had no CApp to deploy at its launch and still has
	// none runs none: the counts are known without a login to its
	// Management API (a TLS handshake per instance, while the others of a
	// start still start).
	none := launchedWithoutCApps && len(declared) == 0 && !home.HoldsCApps(inst.Home)
	s.apps.mu.Lock()
	if s.apps.queues == nil {
		s.apps.queues, s.apps.counts, s.apps.asked = map[string]*appQueue{}, map[string]AppCounts{}, map[string]time.Time{}
	}
	s.apps.queues[inst.Name] = &appQueue{}
	if none {
		s.apps.counts[inst.Name] = AppCounts{}
	}
	s.apps.mu.Unlock()
	if none {
		return
	}
	// Not a change: the check notes what MI runs when it begins, in the
	// background (see runAppCheck).
	s.queueAppCheck(inst.Name, &appCheck{inst: inst, declared: declared})
}

// unwatchApps ends the CApp checks of an instance its runner no longer
// watches: the check that runs is abandoned, the counts forgotten.
func (s *Supervisor) unwatchApps(name string) {
	s.apps.mu.Lock()
	defer s.apps.mu.Unlock()
	q := s.apps.queues[name]
	delete(s.apps.queues, name)
	delete(s.apps.counts, name)
	delete(s.apps.asked, name)
	if q == nil {
		return
	}
	if q.cancel != nil {
		q.cancel()
	}
	if q.next != nil {
		q.next.close()
		q.next = nil
	}
}

// appChanges prepares, for each running instance of names, the check of
// changing its CApps from what f records to apps: call it BEFORE the
// change. The instances are asked at once, each for appstate.DefaultTimeout
// at most: a reload waits for the slowest only, and never long. Instances
// not watched get none (their start checks them).
func (s *Supervisor) appChanges(f *state.File, names []string, apps map[string][]*capp.App) map[string]*appCheck {
	s.apps.mu.Lock()
	creds := s.apps.creds
	checks := map[string]*appCheck{}
	for _, name := range names {
		inst, ok := f.Instance(name)
		if q := s.apps.queues[name]; ok && q != nil {
			checks[name] = appChange(*inst, apps[name], q)
		}
	}
	s.apps.mu.Unlock()
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(s.ctx, appstate.DefaultTimeout)
	defer cancel()
	for _, c := range checks {
		wg.Go(func() { c.prepare(ctx, creds) })
	}
	wg.Wait()
	return checks
}

// appChange is the check of changing inst's CApps to apps: each of them
// deployed, and each removal gone, those of this change and those the
// queue q still waits for. Called under s.apps.mu.
func appChange(inst state.Instance, apps []*capp.App, q *appQueue) *appCheck {
	c := &appCheck{inst: inst}
	for _, a := range apps {
		c.declared = append(c.declared, appstate.Declared{Path: a.Path, App: a})
	}
	removed := slices.Clone(inst.Apps)
	for _, pending := range []*appCheck{q.running, q.next} {
		if pending != nil {
			removed = append(removed, pending.gone...)
		}
	}
	for _, r := range removed {
		declared := slices.ContainsFunc(apps, func(a *capp.App) bool { return a.ID() == r.ID })
		listed := slices.ContainsFunc(c.gone, func(g state.App) bool { return g.ID == r.ID })
		if !declared && !listed {
			c.gone = append(c.gone, r)
		}
	}
	return c
}

// deployedCopy is the file mictl copied into inst's carbonapps/ for a:
// what a check compares MI's applications with when the declared file is
// not at hand. It is named by MI's id; its size tells this build.
func deployedCopy(inst state.Instance, a state.App) appstate.Declared {
	path := filepath.Join(home.CarbonAppsDir(inst.Home), a.File)
	app := &capp.App{Name: a.ID, Path: path, SHA256: a.SHA256}
	if fi, err := os.Stat(path); err == nil {
		app.Size = fi.Size()
	}
	return appstate.Declared{Path: path, App: app}
}

// appSession asks the running inst's Management API about its CApps.
func appSession(inst *state.Instance, creds Credentials) *appstate.Session {
	t := appstate.Target{Name: inst.Name, State: inst.State, Running: true, Home: inst.Home}
	if appstate.APIEnabled(inst.Home) {
		t.URL = observe.ManagementURL(inst)
	}
	return appstate.NewSession([]appstate.Target{t}, appstate.Options{User: creds.User, Password: creds.Password, CredentialsFrom: creds.From, Follow: true})
}

// prepare notes what MI runs now of the check's applications. What it
// could not ask before ctx ended is taken for not listed: such an
// application counts once MI lists it.
func (c *appCheck) prepare(ctx context.Context, creds Credentials) {
	c.session = appSession(&c.inst, creds)
	for _, d := range c.declared {
		c.waits = append(c.waits, appWait{id: d.App.ID(), waiter: appstate.NewWaiter(ctx, c.session, d, appstate.GoalActive)})
	}
	for _, g := range c.gone {
		w := appstate.NewWaiter(ctx, c.session, deployedCopy(c.inst, g), appstate.GoalGone)
		c.waits = append(c.waits, appWait{id: g.ID, gone: true, waiter: w})
	}
}

// ids adds to run, once each, the ids of the CApps c waits for MI to
// run; goneIDs those it waits for MI to drop.
func (c *appCheck) ids(run []string) []string {
	for _, d := range c.declared {
		run = appendOnce(run, d.App.ID())
	}
	return run
}

func (c *appCheck) goneIDs(drop []string) []string {
	for _, g := range c.gone {
		drop = appendOnce(drop, g.ID)
	}
	return drop
}

func (c *appCheck) close() {
	if c.session != nil {
		c.session.Close()
	}
}

// appCheckWindUp bounds what a check does once its time ran out: ask MI
// again about what it still waited for, note MI's counts, wait for the
// health check (runAppCheck).
const appCheckWindUp = 2*appstate.DefaultTimeout + healthAfterAppsWait

// awaited is one instance's round of CApp checks that AwaitApps waits
// for: what its running check waits for MI to run (run) and to drop
// (drop), by id, and when that check ends at the latest.
type awaited struct {
	name      string
	round     *appRound
	run, drop []string
	until     time.Time
}

// AwaitApps waits until MI has settled every CApp change the supervisor
// checks now (see appCheck), each instance's health checked again after
// it, for timeout at most (appsVerifyTimeout when 0: no check goes on
// longer), or until the supervisor closes. begins, when some are
// checked, is told first what it waits for: the instances, their CApps,
// and until when. mictl reload waits so for the CApps it deployed: it
// answered before MI's hot deployment took them, and so exited 0 of an
// instance a faulty CApp left degraded a scan later, where up and
// restart, which wait until MI is ready, end with 3.
//
// The error (exit 3) says which changes MI had not made when the wait
// ended, and what to do: a CApp MI never takes (hot deployment off, a
// file it cannot read) kept mictl reload 2 minutes in silence, then
// exited 0.
//
// stop closing ends the wait as the supervisor's end does: the daemon's
// control socket closing (a SIGTERM waited up to the check's end for the
// daemon to exit, which waits for every request).
func (s *Supervisor) AwaitApps(since time.Time, stop <-chan struct{}, timeout time.Duration, begins func(msg string)) error {
	s.apps.mu.Lock()
	var waits, ended []awaited
	for name, q := range s.apps.queues {
		switch {
		case q.round != nil:
			w := awaited{name: name, round: q.round, until: q.until}
			for _, c := range []*appCheck{q.running, q.next} {
				if c != nil {
					w.run, w.drop = c.ids(w.run), c.goneIDs(w.drop)
				}
			}
			waits = append(waits, w)
		case q.last != nil && !q.last.ended.Before(since):
			// Over before this call (MI could not be asked, said at
			// once): its outcome is that of the changes since all the
			// same. Left out, mictl reload ended 0 of CApps MI could
			// not be asked about, where it ends 3.
			ended = append(ended, awaited{name: name, round: q.last, run: q.last.run, drop: q.last.drop, until: q.last.ended})
		}
	}
	s.apps.mu.Unlock()
	if len(waits)+len(ended) == 0 {
		return nil
	}
	byName := func(a, b awaited) int { return config.CompareNames(a.name, b.name) }
	slices.SortFunc(waits, byName)
	if len(waits) == 0 {
		return awaitedOutcome(ended, timeout)
	}
	if timeout <= 0 {
		timeout = appsVerifyTimeout
	}
	deadline := time.Now().Add(timeout)
	// A check that ends before the deadline by itself is waited for to
	// its end: it then still asks MI and the health check (see
	// runAppCheck), and cut short there, at the default --timeout, MI's
	// hot deployment off was said as a timeout of mictl's.
	limits := make([]time.Time, len(waits))
	parts := make([]string, len(waits))
	var until time.Time
	for i, w := range waits {
		limits[i], parts[i] = deadline, w.String()
		if !deadline.Before(w.until) {
			limits[i] = w.until.Add(appCheckWindUp)
		}
		if limits[i].After(until) {
			until = limits[i]
		}
	}
	begins(fmt.Sprintf("waiting until %s (%s at most) for MI's hot deployment to settle the CApps of %s (mictl apps shows them)",
		until.UTC().Format("15:04:05Z"), time.Until(until).Round(time.Second), strings.Join(parts, "; ")))
	for i, w := range waits {
		ctx, cancel := context.WithDeadline(s.ctx, limits[i])
		stopped := false
		select {
		case <-w.round.done:
		case <-ctx.Done():
		case <-stop:
			stopped = true
		}
		cancel()
		if stopped || s.ctx.Err() != nil {
			return nil // the daemon closes: its client is told so
		}
	}
	all := slices.Concat(waits, ended)
	slices.SortFunc(all, byName)
	return awaitedOutcome(all, timeout)
}

// awaitedOutcome is AwaitApps' error for the rounds of ws as they are
// now, after a wait of timeout at most: a round not over is late.
func awaitedOutcome(ws []awaited, timeout time.Duration) error {
	var o appsOutcome
	for _, w := range ws {
		select {
		case <-w.round.done:
			for _, p := range w.round.pending {
				o.pending = append(o.pending, w.name+": "+p)
			}
			if len(w.round.pending) > 0 {
				o.untaken = append(o.untaken, w.name)
			}
			for _, u := range w.round.unknown {
				o.unknown = append(o.unknown, w.name+": "+u)
			}
			if len(w.round.unknown) > 0 {
				o.unasked = append(o.unasked, w.name)
			}
		default:
			o.late, o.unsaid = append(o.late, w.String()), append(o.unsaid, w.name)
		}
	}
	return appsUnsettled(o, timeout)
}

// String is the instance and the CApps its check waits for MI to run or
// (-) to drop: "mi-1 (good_1.0.0, -old_1.0.0)".
func (w awaited) String() string {
	return fmt.Sprintf("%s (%s)", w.name, strings.Join(slices.Concat(w.run, prefixed("-", w.drop)), ", "))
}

// prefixed is each of ids after p.
func prefixed(p string, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = p + id
	}
	return out
}

// appsOutcome is what AwaitApps found of the checks it waited for:
// pending are the changes whose check ended with MI not having made them
// ("mi-1: good_1.0.0: not deployed after 2m0s: ..."), on the instances
// untaken; late the instances whose check still ran when the wait ended
// ("mi-1 (good_1.0.0)"), unsaid their names; unknown the changes MI could
// not be asked about ("mi-1: good_1.0.0: cannot tell: ... HTTP 401 ..."),
// on the instances unasked.
type appsOutcome struct {
	pending, untaken, late, unsaid, unknown, unasked []string
}

// appsUnsettled is AwaitApps' error for o, after a wait of timeout at
// most; nil when every change was made. A change MI could not be asked
// about is not known made: the reload ended 0 of a CApp nobody could say
// MI runs, where mictl apps and deploy --wait end 3 for the same answer.
func appsUnsettled(o appsOutcome, timeout time.Duration) error {
	var errs []error
	if len(o.unknown) > 0 {
		errs = append(errs, fmt.Errorf("mictl could not ask MI whether it took the CApps the reload changed: %s; "+
			"once its Management API answers (management_user and management_password in mictl.toml are what MI accepts), "+
			"mictl apps %s shows what MI runs",
			strings.Join(o.unknown, "; "), strings.Join(o.unasked, " ")))
	}
	pending, untaken, late, unsaid := o.pending, o.untaken, o.late, o.unsaid
	if len(pending) > 0 {
		errs = append(errs, fmt.Errorf("MI did not take the CApps the reload changed: %s; "+
			"its hot deployment takes what the home's repository/deployment/server/carbonapps/ holds unless it is off "+
			"([server] hot_deployment = false in mi_home's conf/deployment.toml, or in an instance's overrides): "+
			"mictl restart %s deploys them at the start, and mictl logs %s --file carbon says why MI could not read one",
			strings.Join(pending, "; "), strings.Join(untaken, " "), strings.Join(untaken, " ")))
	}
	if len(late) > 0 {
		errs = append(errs, fmt.Errorf("MI had not settled the CApps of %s when --timeout %s ended; the daemon goes on checking them: "+
			"mictl status %s shows what MI made of them in its events, mictl apps what MI runs now", strings.Join(late, "; "), timeout, strings.Join(unsaid, " ")))
	}
	if len(errs) == 0 {
		return nil
	}
	return exitcode.With(exitcode.Runtime, errors.Join(errs...))
}

// queueAppCheck runs c after the instance's check that runs, which it
// supersedes; c is dropped when the instance is not watched.
func (s *Supervisor) queueAppCheck(name string, c *appCheck) {
	s.apps.mu.Lock()
	defer s.apps.mu.Unlock()
	q := s.apps.queues[name]
	switch {
	case q == nil:
		c.close()
		return
	case q.running != nil:
		if q.next != nil {
			q.next.close()
		}
		q.next = c
		q.cancel()
		return
	}
	ctx := q.start(s.ctx, c)
	q.round = &appRound{done: make(chan struct{})}
	s.wg.Go(func() { s.runAppChecks(name, q, ctx) })
}

// start makes c the check that runs, until ctx ends. Called under
// s.apps.mu.
func (q *appQueue) start(parent context.Context, c *appCheck) context.Context {
	ctx, cancel := context.WithTimeout(parent, appsVerifyTimeout)
	q.running, q.cancel, q.until = c, cancel, time.Now().Add(appsVerifyTimeout)
	return ctx
}

// runAppChecks runs the checks of q one after another until none is left
// or the instance is no longer watched.
func (s *Supervisor) runAppChecks(name string, q *appQueue, ctx context.Context) {
	for {
		s.apps.mu.Lock()
		c, creds := q.running, s.apps.creds
		s.apps.mu.Unlock()
		pending, unknown := s.runAppCheck(ctx, name, q, c, creds)
		c.close()
		s.apps.mu.Lock()
		q.cancel()
		if s.apps.queues[name] != q || q.next == nil {
			q.running, q.cancel = nil, nil
			q.round.pending, q.round.unknown = pending, unknown
			q.round.ended, q.round.run, q.round.drop = time.Now(), c.ids(nil), c.goneIDs(nil)
			close(q.round.done)
			q.round, q.last = nil, q.round
			s.apps.mu.Unlock()
			return
		}
		ctx = q.start(s.ctx, q.next)
		q.next = nil
		s.apps.mu.Unlock()
	}
}

// runAppCheck waits until MI settled each application of c, or ctx ends,
// then keeps MI's counts and says in the event log what MI made of each
// application; it returns what it says of those still pending and of
// those MI could not be asked about (see appRound). A check superseded or
// abandoned says nothing.
func (s *Supervisor) runAppCheck(ctx context.Context, name string, q *appQueue, c *appCheck, creds Credentials) (pending, unknown []string) {
	if c.session == nil {
		c.prepare(ctx, creds)
	}
	outcomes := make([]appstate.Outcome, len(c.waits))
	for i, w := range c.waits {
		outcomes[i] = w.waiter.Wait(ctx, appsPollEvery, nil)[0]
	}
	if appCheckWaited != nil {
		appCheckWaited(name)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, nil
	}
	if ctx.Err() != nil {
		// The time ran out while an earlier application was waited for:
		// what MI says now of those still pending, not "deadline exceeded".
		last, cancel := context.WithTimeout(s.ctx, appstate.DefaultTimeout)
		defer cancel()
		for i, w := range c.waits {
			if !outcomes[i].Done() {
				outcomes[i] = w.waiter.Judge(last)[0]
			}
		}
	}
	asked := time.Now()
	if !s.keepCounts(name, q, c.session.Observe(s.ctx)[0], asked) {
		return nil, nil
	}
	s.forgetUndeployed(name, settledApps(c, outcomes))
	// MI changed: /healthz may say so now. What it says (a faulty CApp
	// makes the instance degraded) is recorded before the check's events:
	// the event log never tells of a faulty app while status still shows
	// its instance ready. (deploy --wait asks MI itself, then waits for
	// status to agree: see the CLI's awaitHealth.)
	select {
	case <-s.healthSoon(name):
	case <-time.After(healthAfterAppsWait):
	case <-s.ctx.Done():
	}
	for i, w := range c.waits {
		ev := appEvent(name, w, outcomes[i])
		s.emit(ev)
		switch {
		case !outcomes[i].Done():
			pending = append(pending, ev.Message)
		case outcomes[i].State == appstate.StateUnknown:
			unknown = append(unknown, ev.Message)
		}
	}
	return pending, unknown
}

// settledApps are the ids of c's applications whose change MI has made,
// as outcomes say of c's waits: a removed one gone, a declared one
// running this build (active or faulty), its previous build undeployed.
// One MI could not be asked about is not among them.
func settledApps(c *appCheck, outcomes []appstate.Outcome) []string {
	var ids []string
	for i, w := range c.waits {
		if o := outcomes[i]; o.Done() && o.State != appstate.StateUnknown {
			ids = append(ids, w.id)
		}
	}
	return ids
}

// forgetUndeployed drops from the record of name the undeploying ports
// (state.Instance.Undeploying) of the applications MI has undeployed
// (settled: their ids) that its server no longer holds. MI undeploys a
// removed or changed application, its inbound endpoints with it, at its
// next hot deployment scan (docs/mi-integrations.md, "Hot deployment"):
// such a port was kept in state.json until the server ended, long after
// views had stopped naming it (they name only ports it holds). One
// the server still holds, or when the host's sockets cannot be looked
// at, is kept for the next check, or the server's end, to drop. An entry
// is dropped as it was judged, its stamp (state.Extra.Since) included:
// one alike in all else, its app deployed and taken out again while the
// sockets were looked at, is another undeploy, which MI may not have
// made yet.
func (s *Supervisor) forgetUndeployed(name string, settled []string) {
	if len(settled) == 0 {
		return
	}
	f, err := s.current()
	if err != nil {
		return
	}
	inst, ok := f.Instance(name)
	if !ok || len(inst.Undeploying) == 0 {
		return
	}
	var view *observe.View
	var done []state.Extra
	for _, e := range inst.Undeploying {
		// An inbound endpoint's listener is "<application id>/<endpoint>".
		if id, _, _ := strings.Cut(e.Listener, "/"); !slices.Contains(settled, id) {
			continue
		}
		if view == nil {
			if view, err = s.newView(); err != nil {
				return
			}
		}
		if !view.Holder(inst, e.Port).Owned {
			done = append(done, e)
		}
	}
	if len(done) == 0 {
		return
	}
	if judged := undeployedJudged.Load(); judged != nil {
		(*judged)(name)
	}
	s.persist.add(name, func(i *state.Instance) {
		i.Undeploying = slices.DeleteFunc(i.Undeploying, func(e state.Extra) bool { return slices.Contains(done, e) })
	})
}

// undeployedJudged, when set (by tests), is called once forgetUndeployed
// has judged which entries of the instance's record MI let go of, before
// it drops them.
var undeployedJudged atomic.Pointer[func(name string)]

// healthAfterAppsWait bounds how long an app check waits for the health
// check it asks for before it says what MI made of the applications:
// the monitor may be busy with a slow /healthz elsewhere.
const healthAfterAppsWait = 5 * time.Second

// keepCounts keeps what MI, asked at asked, said of the instance name's
// CApps, unless its queue q is no longer the instance's or a later
// question was answered first; it reports whether q still is.
func (s *Supervisor) keepCounts(name string, q *appQueue, now appstate.Observation, asked time.Time) bool {
	s.apps.mu.Lock()
	defer s.apps.mu.Unlock()
	watched := s.apps.queues[name] == q
	if watched && now.Err == nil && now.Apps != nil && !asked.Before(s.apps.asked[name]) {
		s.apps.counts[name] = AppCounts{Active: now.Apps.ActiveCount, Faulty: now.Apps.FaultyCount}
		s.apps.asked[name] = asked
	}
	return watched
}

// recountApps asks MI again, in the background, how many CApps inst runs
// and how many are faulty: its carbonapps/ changed a hot-deploy window
// ago, and MI has taken the change by now, whoever made it (a .car
// copied in or deleted by hand is no check's: without this its counts
// would stay what MI said before).
func (s *Supervisor) recountApps(inst state.Instance) {
	s.apps.mu.Lock()
	q, creds := s.apps.queues[inst.Name], s.apps.creds
	s.apps.mu.Unlock()
	if q == nil {
		return
	}
	s.wg.Go(func() {
		ctx, cancel := context.WithTimeout(s.ctx, appstate.DefaultTimeout)
		defer cancel()
		session := appSession(&inst, creds)
		defer session.Close()
		asked := time.Now()
		s.keepCounts(inst.Name, q, session.Observe(ctx)[0], asked)
	})
}

// appCheckWaited, when set (by tests), is called once a check of the
// instance name has waited for MI, before it says what MI made of it.
var appCheckWaited func(name string)

// appEvent says what MI made of one application of a check.
func appEvent(name string, w appWait, o appstate.Outcome) Event {
	ev := Event{Instance: name, Message: w.id}
	switch o.State {
	case appstate.StateActive:
		ev.State = "app-active"
	case appstate.StateGone:
		ev.State = "app-undeployed"
	case appstate.StateFaulty:
		ev.State, ev.Message = "app-faulty", w.id+": "+o.Message
	case appstate.StateUnknown:
		ev.State, ev.Message = "apps-pending", w.id+": cannot tell: "+o.Message
	default:
		what := "not deployed"
		if w.gone {
			what = "still deployed"
		}
		why := o.Message
		if why == "" {
			why = "MI did not list it"
		}
		ev.State, ev.Message = "apps-pending", fmt.Sprintf("%s: %s after %s: %s", w.id, what, appsVerifyTimeout, why)
	}
	return ev
}
