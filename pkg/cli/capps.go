package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/appstate"
	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// What the CApp commands (inspect, apps, deploy, undeploy) share.

// readDeclared reads the .car at path exactly as mictl reads a declared
// one (reconcile.ReadApps, which the daemon and mictl up use): a file MI
// would not deploy is refused, exit 2, naming the file and the reason; an
// application MI will deploy as faulty is returned as far as its
// descriptors describe it.
func readDeclared(path string) (*capp.App, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, exitcode.Usagef("%s: %v", path, err)
	}
	if !strings.EqualFold(filepath.Ext(abs), ".car") {
		return nil, exitcode.Usagef("%s is not a CApp: MI deploys only files named *.car", path)
	}
	// One instance declaring only this file: ReadApps then judges it alone.
	one := &config.Config{Instances: 1, NamePrefix: "mi", CApps: []string{abs}}
	apps, err := reconcile.ReadApps(one, one.Names())
	if err != nil {
		return nil, err
	}
	return apps[one.InstanceName(1)][0], nil
}

// readCApp is readDeclared for a file the user names on the command line;
// faulty says why MI will list it as faulty ("" when it will not).
func readCApp(path string) (app *capp.App, faulty string, err error) {
	if app, err = readDeclared(path); err != nil {
		return nil, "", err
	}
	_, err = capp.Read(app.Path)
	if ce := faultyError(err); ce != nil {
		faulty = ce.Error()
	}
	return app, faulty, nil
}

// faultyError is the error reading a CApp gave (capp.Read) when it says
// why MI lists the application as faulty: a failure in an artifact's own
// file, which MI meets only as it deploys the application (its App
// says which). Nil for none: no error, or one readDeclared refuses the
// file for already.
func faultyError(err error) *capp.Error {
	var ce *capp.Error
	if errors.As(err, &ce) && ce.Stage == capp.StageArtifact && ce.App != nil {
		return ce
	}
	return nil
}

// declaredFiles reads each declared file once, tolerating the ones that
// cannot be read (a view shows why).
type declaredFiles map[string]appstate.Declared

func (d declaredFiles) get(path string) appstate.Declared {
	if v, ok := d[path]; ok {
		return v
	}
	app, err := readDeclared(path)
	v := appstate.Declared{Path: path, App: app, Err: err}
	d[path] = v
	return v
}

// declaredFor lists the CApps cfg declares for instance name (absolute
// paths; cfg nil: none).
func declaredFor(cfg *config.Config, name string, files declaredFiles) []appstate.Declared {
	if cfg == nil {
		return nil
	}
	var out []appstate.Declared
	for _, c := range cfg.CAppsOf(name) {
		out = append(out, files.get(c.Path)) // absolute already (config)
	}
	return out
}

// appTarget is a state file instance as appstate looks at it: running or
// not, reached where it binds, with the CApps cfg declares for it and its
// distribution ships (cfg nil, a mictl.toml that cannot be trusted: none
// of either, what MI runs is shown as it is).
func appTarget(inst state.Instance, cfg *config.Config, files declaredFiles) appstate.Target {
	live, pid := liveLook(inst)
	t := appstate.Target{Name: inst.Name, State: live, Running: pid > 0, Server: inst.Server, Home: inst.Home,
		// Backing off is starting again soon: the daemon restarts it. A
		// server gone while its script runs on is MI restarting itself
		// (exit 121), the daemon about to record its successor: liveState
		// says starting.
		Starting: live == state.StateStarting || live == state.StateBackoff,
		Declared: declaredFor(cfg, inst.Name, files)}
	if cfg != nil {
		t.Shipped = home.CarbonAppsDir(deployment.Dist(cfg))
	}
	if appstate.APIEnabled(inst.Home) {
		t.URL = observe.ManagementURL(&inst)
	}
	return t
}

// sessionOptions are the Management API credentials of cfg.
func sessionOptions(cfg *config.Config) appstate.Options {
	return appstate.Options{User: cfg.ManagementUser, Password: cfg.ManagementPassword, CredentialsFrom: cfg.CredentialsFrom()}
}

// withCApp is a copy of cfg in which the CApp at path (absolute) is
// declared: at the top level when names is empty, else in each named
// instance (cfg itself is not changed).
func withCApp(cfg *config.Config, path string, names []string) *config.Config {
	c := *cfg
	if len(names) == 0 {
		if !slices.Contains(c.CApps, path) {
			c.CApps = append(slices.Clip(c.CApps), path)
		}
		return &c
	}
	c.Instance = slices.Clone(cfg.Instance)
	for _, n := range names {
		i := slices.IndexFunc(c.Instance, func(ic config.InstanceConfig) bool { return ic.Name == n })
		if i < 0 {
			c.Instance = append(c.Instance, config.InstanceConfig{Name: n, Pos: "mictl deploy " + n, CAppsPos: "mictl deploy " + n})
			i = len(c.Instance) - 1
		}
		if ic := &c.Instance[i]; !slices.Contains(ic.CApps, path) {
			ic.CApps = append(slices.Clip(ic.CApps), path)
		}
	}
	return &c
}

// checkInstanceNames refuses names a reload would not plan (exit 2):
// deploying to a typo would add an instance. Those it keeps running
// beyond the configuration (an earlier, larger up started them) are
// accepted, as restart accepts them.
func (d *appDeployment) checkInstanceNames(names []string) error {
	if err := validNames(names); err != nil {
		return err
	}
	known := d.cfg.Names()
	planned := reconcile.Planned(d.cfg, d.e.state)
	for _, n := range names {
		if slices.Contains(planned, n) {
			continue
		}
		beyond := ""
		if kept := planned[len(known):]; len(kept) > 0 {
			beyond = fmt.Sprintf(", and %s runs beyond it", strings.Join(kept, ", "))
		}
		return exitcode.Usagef("unknown instance %q: the configuration names %s%s (an instance of its own is added with an [[instance]] table in mictl.toml)",
			n, strings.Join(known, ", "), beyond)
	}
	return nil
}

// configFile is the mictl.toml a command edits: --config (which must
// exist), else ./mictl.toml (created when missing).
func configFile(g *globalOptions) string {
	if g.configPath != "" {
		return g.configPath
	}
	return config.DefaultFile
}

// listenerPrefix is how the plan names an application's inbound
// endpoints: "orders_1.0.0/" + endpoint.
func listenerPrefix(app *capp.App) string { return app.ID() + "/" }

// humanSize writes n bytes for people.
func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// appDeployment is what deploy and undeploy work on: the configuration as
// the daemon's reload will plan it (mictl.toml under the planning flags
// of the last mictl up), and what runs.
type appDeployment struct {
	cfg     *config.Config
	offsets []int
	e       *existing
}

// openAppDeployment loads it. A mictl.toml that does not load is refused
// (exit 2): mictl would not edit a file it cannot read, and a reload
// would refuse it anyway.
func openAppDeployment(cmd *cobra.Command, g *globalOptions, streams *IOStreams) (*appDeployment, error) {
	e, err := openExisting(cmd, g, streams, lookOnly)
	if err != nil {
		return nil, err
	}
	if e.cfgErr != nil {
		return nil, fmt.Errorf("fix %s first: %w", configFile(g), e.cfgErr)
	}
	cfg, offsets, err := daemon.NewFollow(g.configPath, e.cfg).Load(e.state.UpArgs)
	if err != nil {
		return nil, err
	}
	return &appDeployment{cfg: cfg, offsets: offsets, e: e}, nil
}

// orEvery is names, or when none every instance the daemon's reload
// plans: the configuration's, and those it keeps running beyond them (an
// earlier, larger up started them), which run the top-level CApps too.
func (d *appDeployment) orEvery(names []string) []string {
	if len(names) > 0 {
		return names
	}
	return reconcile.Planned(d.cfg, d.e.state)
}

// targets are the instances names (every one when none, see orEvery) as
// appstate looks at them; those the state file does not know do not run.
func (d *appDeployment) targets(names []string) []appstate.Target {
	names = d.orEvery(names)
	files := declaredFiles{}
	out := make([]appstate.Target, 0, len(names))
	for _, n := range names {
		if inst, ok := d.e.state.Instance(n); ok {
			out = append(out, appTarget(*inst, d.cfg, files))
		} else {
			out = append(out, appstate.Target{Name: n, State: "not started", Declared: declaredFor(d.cfg, n, files)})
		}
	}
	return out
}

// waiter prepares --wait for app on the targets of names, before anything
// changes (see appstate.NewWaiter); nil when nothing runs.
func (d *appDeployment) waiter(ctx context.Context, names []string, app appstate.Declared, goal appstate.Goal) (*appstate.Waiter, *appstate.Session) {
	targets := d.targets(names)
	if !slices.ContainsFunc(targets, func(t appstate.Target) bool { return t.Running }) {
		return nil, nil
	}
	opts := sessionOptions(d.cfg)
	opts.Follow = true
	// A server that restarts during the wait is waited for, as the state
	// file names its successor.
	files := declaredFiles{}
	opts.Current = func(name string) (appstate.Target, bool) {
		f, err := d.e.store.Load()
		if err != nil {
			return appstate.Target{}, false
		}
		inst, ok := f.Instance(name)
		if !ok {
			return appstate.Target{}, false
		}
		return appTarget(*inst, d.cfg, files), true
	}
	s := appstate.NewSession(targets, opts)
	return appstate.NewWaiter(ctx, s, app, goal), s
}

// redeployed are the instances of names (every one when none, see
// orEvery) whose carbonapps/ a reload brings up to date with mictl.toml:
// those meant to run; one being stopped is left as it is.
func (d *appDeployment) redeployed(names []string) []string {
	var out []string
	for _, n := range d.orEvery(names) {
		if inst, ok := d.e.state.Instance(n); ok && state.Wanted(inst.State) {
			out = append(out, n)
		}
	}
	return out
}

// reload asks the daemon (started again first if it died while
// instances run) to apply the edited mictl.toml; reloaded is false when
// no daemon runs, applied false too when a mictl down interrupted the
// reload, which then brought no carbonapps/ up to date (see
// appstate.Waiter.Reloaded). The daemon's errors keep their exit codes.
func (d *appDeployment) reload(ctx context.Context, streams *IOStreams) (reloaded, applied bool, err error) {
	e := d.e
	if e.store == nil {
		return false, false, nil
	}
	// A Ctrl-C while the daemon is awaited leaves mictl.toml edited: the
	// daemon, which follows it, applies it all the same once it answers.
	interrupted := exitcode.With(exitcode.Interrupted, errors.New("interrupted while waiting for the mictl daemon: mictl.toml holds the change, and the daemon applies it once it answers (it follows the file; mictl status shows where it stands)"))
	err = ensureDaemon(ctx, streams, e, false) // its own reload follows
	switch {
	case exitcode.Of(err) == exitcode.Interrupted:
		return false, false, interrupted
	case errors.Is(err, supervisor.ErrNotAnswering):
		// Asking it for the reload would wait as long again, and say
		// the same. Nothing failed to reload: the daemon was not asked.
		return false, false, fmt.Errorf("mictl.toml holds the change, and the daemon applies it once it answers (it follows the file), but %w", err)
	case err != nil:
		fmt.Fprintf(streams.ErrOut, "warning: %v\n", err)
	}
	reply, err := askDaemon(ctx, e.store, e.state, supervisor.Request{Op: supervisor.OpReload},
		func(ev supervisor.Event) { fmt.Fprintln(streams.ErrOut, ev.String()) })
	sayLostLines(streams, reply, "mictl status shows where each instance ended")
	switch {
	case exitcode.Of(err) == exitcode.Interrupted:
		return false, false, interrupted
	case errors.Is(err, supervisor.ErrNoDaemon):
		return false, false, nil
	case errors.Is(err, supervisor.ErrInterrupted):
		// A down stops every instance: none gets the app now, each at its
		// next start (mictl.toml holds it), which the wait says of each.
		return true, false, nil
	case err != nil:
		return false, false, fmt.Errorf("mictl.toml is edited, but the daemon's reload failed: %w", err)
	}
	return true, true, nil
}

// caughtUntilTheWait is ctx cancelled by a Ctrl-C (or SIGTERM) from the
// reload until the wait for MI (w) ends, when there is one: the reload's
// call and the wait each catch them, but one that came between the
// reload's answer and the wait's start met the default handler, which
// ended deploy --wait without a word.
func caughtUntilTheWait(ctx context.Context, w *appstate.Waiter) (context.Context, context.CancelFunc) {
	if w == nil {
		return ctx, func() {}
	}
	return interruptible(ctx)
}

// waitApp runs a wait and reports it: each instance on stderr as it is
// done, then a failure (exit 3) naming every instance that did not get
// there, with MI's reason. It returns the instances MI found the
// application faulty on (none when interrupted).
// goal is the word for the outcome waited for: "active", "undeployed".
func waitApp(ctx context.Context, streams *IOStreams, w *appstate.Waiter, what, goal string, timeout time.Duration) (faultyOn []string, err error) {
	start := time.Now()
	// A Ctrl-C ends the wait, not what the daemon was asked: said so,
	// as every other wait for the daemon's work says it (the default
	// handler ended deploy --wait without a word).
	interrupted, stop := interruptible(ctx)
	defer stop()
	ctx, cancel := context.WithTimeout(interrupted, timeout)
	defer cancel()
	outcomes := w.Wait(ctx, waitPoll, func(o appstate.Outcome) {
		reached := o.State
		if o.State == appstate.StateGone && goal != appstate.StateGone {
			reached = "not deployed" // undeployed meanwhile, or rebuilt: the failure says which
		}
		fmt.Fprintf(streams.ErrOut, "%s: %s %s (%s)\n", o.Instance, what, reached, time.Since(start).Round(time.Millisecond))
	})
	if interrupted.Err() != nil {
		return nil, exitcode.With(exitcode.Interrupted, fmt.Errorf("interrupted while waiting until %s is %s everywhere: MI goes on with it (mictl apps shows where it stands)", what, goal))
	}
	var failed, done []string
	for _, o := range outcomes {
		switch {
		case o.State == appstate.StateFaulty:
			faultyOn = append(faultyOn, o.Instance)
			failed = append(failed, fmt.Sprintf("%s: faulty: %s", o.Instance, o.Message))
		case o.State == appstate.StateGone && goal != appstate.StateGone, o.State == appstate.StateBack:
			// The change waited for was undone meanwhile: the message says how.
			failed = append(failed, fmt.Sprintf("%s: %s", o.Instance, o.Message))
		case o.State == appstate.StateUnknown:
			failed = append(failed, fmt.Sprintf("%s: cannot tell: %s", o.Instance, o.Message))
		case o.State == appstate.StatePending && o.NotRunning:
			fmt.Fprintf(streams.ErrOut, "%s: %s\n", o.Instance, o.Message)
		case o.State == appstate.StatePending:
			why := ""
			if o.Message != "" {
				why = ": " + o.Message
			}
			failed = append(failed, fmt.Sprintf("%s: still pending after %s%s", o.Instance, timeout, why))
		default:
			done = append(done, o.Instance)
		}
	}
	if len(failed) > 0 {
		return faultyOn, exitcode.With(exitcode.Runtime, fmt.Errorf("%s is not %s everywhere:\n  %s", what, goal, strings.Join(failed, "\n  ")))
	}
	if len(done) > 0 {
		fmt.Fprintf(streams.Out, "%s %s on %s\n", what, goal, strings.Join(done, ", "))
	}
	return faultyOn, nil
}

// awaitHealth waits, until at the latest, for the daemon's view of the
// instances to catch up with what MI said of a CApp, that is for no
// instance to be stale by it any more: the daemon's next health check
// says so a second or two after MI does, and a `mictl status` right
// after `deploy --wait` or `undeploy --wait` returned showed the old
// health (a faulty CApp's instance ready, exit 0; one MI no longer runs
// still degraded, exit 3). With no daemon to ask, or at until, it
// returns: status says the rest.
func (d *appDeployment) awaitHealth(ctx context.Context, until time.Time, stale func(state.Instance) bool) {
	for d.e.store != nil {
		reply, err := askDaemon(ctx, d.e.store, d.e.state, supervisorRequest(supervisor.OpStatus), nil)
		if err != nil || reply.State == nil {
			return
		}
		if !slices.ContainsFunc(reply.State.Instances, stale) || time.Now().After(until) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// degradedFor reports whether the daemon's health view holds inst
// degraded for the CApp file (name_version.car) among its faulty CApps,
// as MI's /healthz lists them.
func degradedFor(inst state.Instance, file string) bool {
	return inst.State == state.StateDegraded && slices.Contains(observe.FaultyAppsIn(inst.LastError), file)
}

// waitPoll is how often --wait asks the instances.
const waitPoll = 200 * time.Millisecond
