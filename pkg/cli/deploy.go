package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/appstate"
	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/declare"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// waitOptions are the flags of deploy and undeploy.
type waitOptions struct {
	wait    bool
	timeout time.Duration
}

// defaultWaitTimeout bounds --wait of deploy and undeploy.
const defaultWaitTimeout = 2 * time.Minute

func newCmdDeploy(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &waitOptions{}
	cmd := &cobra.Command{
		Use:   "deploy FILE.car [NAME...]",
		Short: "Declare a CApp in mictl.toml and deploy it to every instance (or the named ones)",
		Long: `Add a Carbon Application (.car) to the deployment and deploy it now.

First everything is checked, and nothing is changed when a check fails:
the file must be a CApp MI would deploy (exit 2: not a zip, no
artifacts.xml, larger than a CApp may be, a path that escapes the archive,
an inbound endpoint port outside 1-65535, or the same name and version as
another CApp of a target instance), and the configuration with the file
must have no port conflict (exit 1: an inbound endpoint port that would
clash between instances or with a process of the host, named with the
endpoint, the port and the other party), nor another version of the
application declared on a target whose API or proxy service names (or
API contexts) it shares (exit 1: MI would fail it as faulty; an upgrade
undeploys the old version first).

An inbound endpoint whose port is a placeholder MI resolves as it deploys
the endpoint is warned of, not refused, where it resolves to no port.
$SYSTEM:NAME is an environment variable: a running server is judged by
the environment it runs with, and apart from that by what its next
restart gets, as is an instance not running: the running daemon's
environment, else this shell's (a daemon mictl up starts here gives it to
them). The warning names the endpoint, the variable, the instances, when
MI fails it (now, or at their next start) and the fix: mictl restart NAME
when only the running server lacks it, else export it in a shell, then
mictl down and mictl up from it (or mictl up alone when nothing runs).
$FILE:key is a key of conf/file.properties in the instance's home (for a
home not made yet, the distribution's, which mictl up copies into it):
the warning names each file that is missing, unreadable, without the key
or with no port there, and the fix: set it, then mictl restart NAME on a
running server.

Then the file is added to mictl.toml: to the top-level capps (every
instance) when no NAME is given, else to the capps of each named
instance's [[instance]] table (created when missing). Comments and layout
are kept (a new capps line goes right below its commented-out example, as
mictl init writes one, else after the table's last key); the path is stored relative to mictl.toml's directory when the
file is below it. A file declared already changes nothing (it is checked
all the same: rebuilt, it may now clash, and the daemon would not deploy it).

Then the supervisor daemon is asked to reload: it copies the file into
each target's repository/deployment/server/carbonapps/, where MI's hot
deployment picks it up (every 15 s in MI, at once in the simulator);
nothing restarts. With no daemon running, the next mictl up deploys it.

--wait then waits until MI lists the application as active on every
running target (asking each instance's Management API, or reading its
wso2carbon.log when the API is off), and fails (exit 3) naming each
instance where it is faulty, with MI's error message, still pending
when --timeout ends, or no longer in its carbonapps/ (an undeploy, or
a rebuild of the file, meanwhile: said at once), and then until mictl's own health view holds
each instance where it is faulty degraded for it, among its faulty CApps
(so a mictl status right after agrees); an instance whose server exits during the wait (a down) is
said, not waited for, but one whose server is started again (MI
restarting itself, exit 121, or mictl restarting it) is waited for on
its new server. A rebuilt file of an application that runs already counts as
deployed only once MI logs that it deployed it again.

Exit status: 0 when declared and handed to the daemon (with --wait: active
on every running target); 1 on conflicts; 2 for a file that is not a CApp
MI would deploy, or another usage or configuration error; 3 when --wait
finds it faulty, still pending or no longer in a carbonapps/;
` + exitInterrupted + `.`,
		Example: `  mictl deploy build/orders_1.0.0.car --wait
  mictl deploy build/edge_1.0.0.car mi-2 mi-3
  mictl inspect build/orders_1.0.0.car && mictl deploy build/orders_1.0.0.car`,
		Args:              usageArgs(cobra.MinimumNArgs(1)),
		ValidArgsFunction: completeFirstThenNames(g, completeCAppFile),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDeploy(cmd, streams, g, o, args[0], args[1:])
		},
	}
	addDirFlag(cmd)
	addWaitFlags(cmd, o, "until MI lists the application as active on every running target")
	return cmd
}

func addWaitFlags(cmd *cobra.Command, o *waitOptions, until string) {
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait "+until)
	cmd.Flags().DurationVar(&o.timeout, "timeout", defaultWaitTimeout, "how long --wait waits")
	// Before anything is declared or copied: a refused flag changes nothing.
	cmd.PreRunE = func(*cobra.Command, []string) error { return exitcode.PositiveFlag("timeout", o.timeout) }
}

func runDeploy(cmd *cobra.Command, streams *IOStreams, g *globalOptions, o *waitOptions, file string, names []string) error {
	app, faulty, err := readCApp(file)
	if err != nil {
		return err
	}
	d, err := openAppDeployment(cmd, g, streams)
	if err != nil {
		return err
	}
	if err := d.checkInstanceNames(names); err != nil {
		return err
	}
	names = compact(names)
	cfgFile := configFile(g)
	scopes := d.undeclared(app.Path, names)
	others := otherVersions(d.cfg, app, d.orEvery(names))
	if len(scopes) == 0 {
		fmt.Fprintf(streams.ErrOut, "%s is declared already in %s: nothing changed\n", file, cfgFile)
	}
	if len(scopes) > 0 {
		if err := refuseClashingVersions(app, file, others); err != nil {
			return err
		}
	}
	// A file declared already is checked too: rebuilt, it may now clash,
	// which is why the daemon would not deploy it.
	if err := checkDeploy(d, app, file, names); err != nil {
		return err
	}
	if faulty != "" {
		fmt.Fprintf(streams.ErrOut, "warning: MI will deploy %s as faulty (its artifacts fail to deploy): %s\n", app.ID(), faulty)
	}
	for _, w := range versionWarnings(others) {
		fmt.Fprintln(streams.ErrOut, "warning: "+w)
	}
	// Warned, not refused: the variable may reach MI later (a mictl up
	// from a shell that sets it).
	targets := d.orEvery(names)
	for _, u := range currentPlaceholderEnv(d.cfg, d.e.state, targets).unset(app, targets) {
		fmt.Fprintln(streams.ErrOut, "warning: "+u.Message)
	}
	var w *appstate.Waiter
	if o.wait {
		var s *appstate.Session
		if w, s = d.waiter(cmd.Context(), names, appstate.Declared{Path: app.Path, App: app}, appstate.GoalActive); s != nil {
			defer s.Close()
		}
	}
	ctx, stop := caughtUntilTheWait(cmd.Context(), w)
	defer stop()
	interrupted := false // the reload, by a mictl down stopping every instance
	if len(scopes) > 0 {
		r, err := declare.Add(cfgFile, app.Path, scopes)
		if err != nil {
			return err
		}
		if r.Created {
			fmt.Fprintf(streams.ErrOut, "created %s\n", cfgFile)
		}
		fmt.Fprintf(streams.ErrOut, "declared %s (%s) in %s of %s\n", app.ID(), r.Entry, joinScopes(r.Changed), cfgFile)
		for _, s := range r.Changed {
			if s.Instance != "" && !slices.Contains(d.cfg.Names(), s.Instance) {
				fmt.Fprintf(streams.ErrOut, "note: %s ran beyond the configuration; its [[instance]] table names it in %s from now on (mictl up starts it after a down; undeploy keeps the table while it runs; deleting the table stops it at the next reload)\n",
					s.Instance, cfgFile)
			}
		}
		reloaded, applied, err := d.reload(ctx, streams)
		if err != nil {
			return err
		}
		if !reloaded {
			fmt.Fprintf(streams.ErrOut, "no mictl daemon runs: the next mictl up deploys %s\n", app.ID())
			return nil
		}
		interrupted = !applied
		if w != nil && applied {
			w.Reloaded(d.redeployed(names))
		}
	}
	switch {
	case w != nil:
		until := time.Now().Add(o.timeout)
		faultyOn, err := waitApp(ctx, streams, w, app.ID(), appstate.StateActive, o.timeout)
		stop() // past the wait, a Ctrl-C ends mictl again: caught, it went unheeded while health is awaited
		// MI's /healthz says 500 for a faulty CApp, which the daemon's
		// next health check records a moment after MI lists it: until
		// then a mictl status right after this exit 3 showed the
		// instance ready (exit 0), or, degraded by another faulty CApp
		// already, without this one. Degraded for another reason than
		// faulty CApps, it shows degraded already.
		file := app.ID() + ".car"
		d.awaitHealth(cmd.Context(), until, func(i state.Instance) bool {
			behind := i.State == state.StateReady || (len(observe.FaultyAppsIn(i.LastError)) > 0 && !degradedFor(i, file))
			return slices.Contains(faultyOn, i.Name) && behind
		})
		return err
	case o.wait:
		fmt.Fprintf(streams.ErrOut, "no target instance runs: %s deploys when they start (mictl up)\n", app.ID())
	case interrupted:
		fmt.Fprintf(streams.ErrOut, "mictl down is stopping every instance: mictl up starts them with %s\n", app.ID())
	case len(scopes) > 0:
		fmt.Fprintf(streams.ErrOut, "the daemon deploys %s into the running instances; MI picks it up at its next scan (mictl apps shows it, --wait waits for it)\n", app.ID())
	}
	return nil
}

// undeclared lists the scopes of names (the top level when none) that do
// not declare the file at path yet: nothing for a file the top level
// declares, which every instance runs.
func (d *appDeployment) undeclared(path string, names []string) []declare.Scope {
	if slices.Contains(d.cfg.CApps, path) {
		return nil
	}
	var out []declare.Scope
	for _, s := range declare.Scopes(names) {
		if ic, ok := d.cfg.InstanceSettings(s.Instance); s.Instance != "" && ok && slices.Contains(ic.CApps, path) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// otherVersion is another version of an application, declared on some
// of a deploy's target instances.
type otherVersion struct {
	app       *capp.App
	instances []string
}

// otherVersions are the other versions of app that cfg declares on the
// target instances (names): MI runs every version it is given side by
// side, and fails the second to deploy as faulty when their artifacts
// share names ("Duplicate resource definition"), which an upgrade's do.
func otherVersions(cfg *config.Config, app *capp.App, names []string) []otherVersion {
	declared, err := reconcile.ReadApps(cfg, names)
	if err != nil {
		return nil // the deploy's own checks say what is wrong
	}
	var out []otherVersion
	for _, n := range names {
		for _, other := range declared[n] {
			if other.Name != app.Name || other.ID() == app.ID() {
				continue
			}
			i := slices.IndexFunc(out, func(o otherVersion) bool { return o.app.ID() == other.ID() })
			if i < 0 {
				out, i = append(out, otherVersion{app: other}), len(out)
			}
			out[i].instances = append(out[i].instances, n)
		}
	}
	return out
}

// refuseClashingVersions refuses to declare app (read from file) where
// another version runs whose artifacts MI would not run beside its own:
// the new version would only ever be faulty, and stay so after the old
// one went. An upgrade takes the old version out first.
func refuseClashingVersions(app *capp.App, file string, others []otherVersion) error {
	var why []string
	for _, o := range others {
		if clashes := o.app.Clashes(app); len(clashes) > 0 {
			why = append(why, fmt.Sprintf("%s would be faulty on %s: %s, declared there, has the same %s, and MI fails the application deployed second; to upgrade, undeploy the old version first: mictl undeploy %s && mictl deploy %s",
				app.ID(), strings.Join(o.instances, ", "), o.app.ID(), strings.Join(clashes, ", "), o.app.ID(), file))
		}
	}
	if len(why) == 0 {
		return nil
	}
	return exitcode.With(exitcode.Conflicts, errors.New(strings.Join(why, "\n")))
}

// versionWarnings say what the other versions declared beside app mean:
// both run (versions whose artifacts clash are refused before, here and
// by every plan).
func versionWarnings(others []otherVersion) []string {
	var out []string
	for _, o := range others {
		out = append(out, fmt.Sprintf("%s is declared too on %s: MI runs both versions side by side (their APIs and proxy services share no names); to run only this one, take the other out: mictl undeploy %s",
			o.app.ID(), strings.Join(o.instances, ", "), o.app.ID()))
	}
	return out
}

func joinScopes(scopes []declare.Scope) string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = s.String()
	}
	return strings.Join(out, ", ")
}

// compact drops repeated names, keeping the first of each.
func compact(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// checkDeploy plans the configuration with the app declared, as the
// daemon's reload will, and refuses what the reload would refuse: a CApp
// of the same id on a target (exit 2), and any port conflict (exit 1).
func checkDeploy(d *appDeployment, app *capp.App, file string, names []string) error {
	t, err := reconcile.Build(withCApp(d.cfg, app.Path, names), d.e.state, reconcile.Options{Offsets: d.offsets})
	if err != nil {
		// What the plan refused (its exit code kept) is this deploy's
		// refusal: the file is not declared yet, whatever position the
		// message names.
		return fmt.Errorf("refusing to deploy %s (%s), nothing was changed: %w", app.ID(), file, err)
	}
	report := t.Conflicts()
	if report.OK() {
		return nil
	}
	refused := &check.ConflictError{Report: report, Refused: fmt.Sprintf("refusing to deploy %s (%s), nothing was changed", app.ID(), file)}
	if hints := deployHints(report, app, file, t); len(hints) > 0 {
		return fmt.Errorf("%w\n%s", refused, strings.Join(hints, "\n"))
	}
	return refused
}

// deployHints says what fixes the conflicts the application's own
// endpoints are in.
func deployHints(report check.Report, app *capp.App, file string, t *reconcile.Target) []string {
	var out []string
	seen := map[string]bool{}
	add := func(h string) {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, c := range report.Conflicts {
		var mine *check.Party
		for i, p := range c.Parties {
			if p.Role == ports.RoleInbound && p.Listener != nil && strings.HasPrefix(*p.Listener, listenerPrefix(app)) {
				mine = &c.Parties[i]
			}
		}
		if mine == nil {
			continue
		}
		switch {
		case c.Kind == check.KindHost && c.HolderInstance != nil:
			// Another instance's server, on a port that is none of those
			// mictl planned for it (those are no conflict here): nothing
			// for the user to free, and most often an endpoint of an app
			// just undeployed there, which MI lets go at its next scan.
			add(fmt.Sprintf("fix: port %d is one the server of %s holds outside its planned ports: an inbound endpoint of an application undeployed from %s that MI has not let go yet (it does at its next scan, which mictl undeploy --wait waits for), or a port it took at run time; deploy again once it is free, or change the port of %s's endpoint in the CApp and rebuild it",
				c.Port, *c.HolderInstance, *c.HolderInstance, app.ID()))
		case c.Kind == check.KindHost:
			add(fmt.Sprintf("fix: free port %d on this host, or change the port of %s's endpoint in the CApp and rebuild it", c.Port, app.ID()))
		case c.Kind == check.KindPlan:
			if len(c.Instances) == 2 && !shiftedIn(t, mine) {
				add(unshiftedHint(app, strings.TrimPrefix(*mine.Listener, listenerPrefix(app)), file, t))
			} else {
				add(fmt.Sprintf("fix: change the port of the endpoint %s in the CApp, or the other party's port", strings.TrimPrefix(*mine.Listener, listenerPrefix(app))))
			}
		default:
			add(fmt.Sprintf("fix: change the port of %s's endpoint in the CApp, or the instance's offset", app.ID()))
		}
	}
	return out
}

// unshiftedHint says how to fix the clash of an endpoint whose port MI
// binds as written on every instance, by what decides that offset: the
// server's setting for HTTP(S), the endpoint's own parameter for a
// WebSocket, nothing for the other listeners. Once per endpoint, whatever
// the number of instance pairs it clashes between.
func unshiftedHint(app *capp.App, endpoint, file string, t *reconcile.Target) string {
	one := fmt.Sprintf("deploy the app to one instance only (mictl deploy %s %s)", file, t.Plan.Instances[0].Name)
	var in capp.Inbound
	for _, i := range app.Inbounds {
		if i.Name == endpoint {
			in = i
		}
	}
	switch deployment.OffsetSwitch(in) {
	case deployment.OffsetSwitchHTTP:
		return fmt.Sprintf("fix: %s's port gets no offset: remove inbound.port_offset_enable = false (%s or the [[instance]] overrides; mictl then turns it on), or %s",
			endpoint, t.Source.Path, one)
	case deployment.OffsetSwitchWebSocket:
		return fmt.Sprintf("fix: %s is a WebSocket endpoint: MI adds the offset to its port only when the endpoint's own ws.use.port.offset parameter is true; set it in the CApp and rebuild it, or %s", endpoint, one)
	}
	return fmt.Sprintf("fix: MI never adds the offset to %s's port (its kind of listener binds the port as written): give each instance its own copy of the app with its own port, or %s", endpoint, one)
}

// shiftedIn reports whether MI adds the offset to party p's port in its
// instance of t's plan.
func shiftedIn(t *reconcile.Target, p *check.Party) bool {
	for _, inst := range t.Plan.Instances {
		if inst.Name != p.Instance {
			continue
		}
		for _, e := range inst.Extras {
			if e.Role == p.Role && e.Name == *p.Listener {
				return e.Shifted
			}
		}
	}
	return false
}
