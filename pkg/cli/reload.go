package cli

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/words"
)

func newCmdReload(streams *IOStreams, g *globalOptions) *cobra.Command {
	var output string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Apply changes of mictl.toml or the source deployment.toml to running instances",
		Long: `Ask the supervisor daemon to re-read mictl.toml and the source
distribution's deployment.toml and apply what changed, and only that: new
instances are started, removed ones stopped gracefully, and running instances
whose rendered deployment.toml settings (not its comments or layout), offset
or launch settings changed, or whose home is behind the distribution (a new
mi_home, or files added, changed or removed in it), are restarted one at a
time, each ready before the next.
Untouched instances are never restarted. An instance the last reload left
failed is started again once the configuration plans it otherwise than as it
failed (mi_home put back). An invalid configuration, or one with port
conflicts, changes nothing.

The daemon does this by itself whenever mictl.toml, the distribution's
deployment.toml or a declared CApp changes (not the distribution's other
files); reload does it now. "mictl diff" shows what a reload would do.

A reload that deploys, undeploys or redeploys CApps then waits until MI's
hot deployment has taken them, saying for which instances and CApps and
until when: --timeout at most, and never much more than the 2 minutes
the daemon gives MI to take a change (it then asks MI once more). When MI has not taken one by then (its
hot deployment off, [server] hot_deployment = false, or a CApp it cannot
read) reload says which, and what to do, and exits 3; so it does when MI
cannot be asked (its Management API unreachable, or refusing the login of
management_user and management_password), or the running daemon is from an
older build of mictl that does not say that it waited.

--timeout bounds that wait for CApps alone. Each instance the reload
starts or restarts is waited for until ready as the daemon's own reloads
wait for it: for the --timeout of the mictl up that started the daemon
(2 minutes by default), each, which --timeout does not shorten. The roll
is the daemon's, shared with the reloads of the edits it follows: cut
short by one client's flag, it would fail a server slow to start but
healthy, and leave it failed.

Exit status: 0 when applied (or nothing changed), 1 on conflicts, 2 for a
configuration the daemon refuses or when nothing runs to reload, 3 when
applying failed or an instance running as it ends is degraded (a faulty
CApp, a port not bound: MI's /healthz is not ready), as mictl up and
mictl status end, or MI did not take the CApps it changed in time, or
could not be asked whether it did;
` + exitInterrupted + `.`,
		Example: `  mictl diff && mictl reload`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateFormat(output, formatTable, formatJSON); err != nil {
				return err
			}
			if err := exitcode.PositiveFlag("timeout", timeout); err != nil {
				return err
			}
			e, err := openExisting(cmd, g, streams, lookOnly)
			if err != nil {
				return err
			}
			// Nothing running is the same input error as restart --all's,
			// and what diff says: also while a daemon stays a moment after
			// every instance failed (it said "reloaded: no change", exit
			// 0, of a deployment with nothing to reload), and when none
			// runs (the socket's dial error says nothing a user can act on).
			nothingRuns := exitcode.Usagef("nothing runs in %s to reload; start instances with %s", asTyped(e.cfg.InstancesDir), upFor(e.cfg))
			if e.store == nil || !reconcile.AnyActive(e.state) {
				return nothingRuns
			}
			// A broken mictl.toml is the daemon's to refuse, and another
			// user's deployment its to turn away: neither is written for.
			if e.cfgErr == nil && e.writable {
				if err := writeSimulatorDist(e.cfg); err != nil {
					return err
				}
			}
			// A daemon killed while instances run is replaced first, as
			// status replaces it: "nothing runs to reload" was not true,
			// and the edit stayed unapplied. This reload is the new
			// daemon's catch-up.
			if err := ensureDaemon(cmd.Context(), streams, e, false); err != nil {
				return showUnanswered(streams, e.store, e.state, output, err)
			}
			reply, err := askDaemon(cmd.Context(), e.store, e.state, supervisor.Request{Op: supervisor.OpReload, AwaitApps: true, Timeout: timeout},
				func(ev supervisor.Event) {
					// Its refusal or failure is this command's error, said
					// once, at the end (with a state file it could not
					// write, shown as such below the table).
					if ev.Instance != supervisor.ReloadEvent || ev.State != supervisor.ReloadFailed {
						fmt.Fprintln(streams.ErrOut, ev.String())
					}
				})
			if errors.Is(err, supervisor.ErrNoDaemon) {
				return nothingRuns
			}
			noteLostLines(streams, reply)
			// A refused or failed reload prints what runs too, as restart
			// does: -o json's reader gets its document (reload_error says
			// why) beside the exit code, never an empty stdout.
			r, rerr := reportAfter(e.store, reply, err)
			if rerr != nil {
				return errors.Join(err, rerr)
			}
			// The refusal the file records is this reload's, which its
			// error says: the table's footer leaves it out. So is the
			// failure of the reload it waited behind, which its error
			// ends with (the daemon's own of the same edit).
			r.refusalSaid = err != nil && r.ReloadError != nil && strings.HasSuffix(err.Error(), *r.ReloadError)
			// The settings the last up's flags override, which the
			// reload does not apply, its "reloaded" event says above.
			if err == nil && e.cfgErr == nil {
				warnKeptSettings(streams, r.file, e.cfg, cmd.Flags())
			}
			if perr := printStatusReport(streams, r, nil, output, e.store); perr != nil {
				return perr
			}
			if err != nil {
				// The daemon's exit code stands: 2 for a bad mictl.toml, 1
				// for conflicts, 3 for a failure while applying.
				return fmt.Errorf("reload: %w", err)
			}
			if !reply.AppsAwaited {
				// A daemon of an older build ignores the wait (or, built
				// earlier today, waits without saying so): its table may
				// be from before MI took the CApps, and read "ready" of
				// instances a faulty one made degraded a second later.
				return exitcode.With(exitcode.Runtime, fmt.Errorf("reload: applied, but the running mictl daemon (pid %d) is from a build that does not say whether it waited for MI to take the CApps the reload changed, so whether MI took them is unknown: mictl apps shows what each instance runs; to replace the daemon, when no instance is starting or stopping: kill -9 %[1]d (it leaves them running, and the last up's flags), then mictl status", reply.PID))
			}
			// As up ends, and status: every instance running as the
			// reload ends counts, degraded (a faulty CApp) or not ready.
			// Counting only those this reload changed exited 0 when the
			// daemon's own reload of the same edit, which it follows
			// (100 ms after the save), had applied it first: a script's
			// `edit && mictl reload && run-tests` then tested servers
			// failing readiness.
			return notReady(r, runningIn(r.file), e.cfg.Names())
		},
	}
	addDirFlag(cmd)
	addOutputFlag(cmd, &output, formatTable, formatJSON)
	// Not up's and restart's readiness --timeout: the instances a reload
	// restarts or starts wait as long as the daemon's own reloads of an
	// edit do (the --timeout of the up that started the daemon); this
	// bounds what mictl reload alone waits for, and says so (see Long).
	cmd.Flags().DurationVar(&timeout, "timeout", defaultWaitTimeout, "how long to wait for MI's hot deployment to take the CApps the reload changed (not the restarts' readiness: see above)")
	return cmd
}

// runningIn are the instances f records running on a server: a stopped
// or failed one is up's to start, not a reload's.
func runningIn(f *state.File) []string {
	var names []string
	for _, inst := range f.Instances {
		if !inst.Server.IsZero() {
			names = append(names, inst.Name)
		}
	}
	return names
}

type diffOptions struct {
	output string
}

func newCmdDiff(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show what a reload would do, without doing it",
		Long: `Compare what mictl.toml and the source deployment.toml ask for with what
runs: instances a reload would add, remove and restart (and why), those
whose CApps alone it would deploy, undeploy or redeploy (as the daemon's
events word them), and for each restart the difference in its
deployment.toml. Nothing is changed.
A reload plans and checks for conflicts before it changes anything; diff
does the same, and lists the conflicts a reload would be refused for.
An instance the configuration names that is stopped or failed is noted: a
reload starts only instances new to mictl, and leaves it to mictl up, named
as status names it (the last up's, with its planning flags, when those
planned it), once what the last reload failed on is fixed (while status
shows that failure). One the last reload left failed that the configuration
now plans otherwise (mi_home put back) is no such instance: a reload
restarts it, and diff lists it with the restarts.
A running instance whose home's deployment.toml differs from what mictl
renders in comments or layout alone is noted too ("comments" in -o json):
that restarts nothing, and the home takes the file at the instance's next
start (mictl restart NAME applies it now); alone, it is no change.

Exit status, like diff(1): 0 when nothing would change; 1 when something
would, or when conflicts would make the reload refuse (then nothing would
change); 2 when mictl.toml or the source deployment.toml is invalid (a
reload would refuse it too);
` + exitInterrupted + `.`,
		Example: `  mictl diff
  mictl diff -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateFormat(o.output, formatTable, formatJSON); err != nil {
				return err
			}
			return runDiff(cmd, streams, g, o)
		},
	}
	addDirFlag(cmd)
	addOutputFlag(cmd, &o.output, formatTable, formatJSON)
	return cmd
}

// diffReport is `mictl diff -o json`: the changes, and the conflicts a
// reload would be refused for (refused is then true and nothing would
// change).
type diffReport struct {
	reconcile.Changes
	Conflicts []check.Finding `json:"conflicts"`
	Refused   bool            `json:"refused"`
	// Beyond are the instances running beyond the configuration, which a
	// reload leaves running (see runningBeyond).
	Beyond []string `json:"beyond"`
	// Stopped are the instances the configuration names that are stopped
	// or failed, which a reload leaves so (see stoppedNamed).
	Stopped []string `json:"stopped"`
}

func runDiff(cmd *cobra.Command, streams *IOStreams, g *globalOptions, o *diffOptions) error {
	dirCfg, cfgErr, err := loadDirConfig(cmd, g)
	if err != nil {
		return err
	}
	if cfgErr != nil {
		return fmt.Errorf("a reload would refuse mictl.toml: %w", cfgErr)
	}
	f, err := currentState(dirCfg)
	if err != nil {
		return err
	}
	// Plan exactly as the daemon's reload would: the file it follows
	// (unless --config names another) under the planning flags of the
	// last mictl up.
	configPath := g.configPath
	if configPath == "" {
		configPath = followedConfig(f)
	}
	cfg, offsets, err := daemon.NewFollow(configPath, dirCfg).Load(f.UpArgs)
	if err != nil {
		return fmt.Errorf("a reload would refuse the configuration: %w", err)
	}
	p, err := reconcile.Propose(cfg, f, offsets, nil)
	if err != nil {
		return err
	}
	if p.Target != nil {
		// An instance the last reload left failed, which the plan now has
		// otherwise, a reload restarts.
		p.Changes = supervisor.WithPutRight(p.Target, f, p.Changes)
	}
	if !reconcile.AnyActive(f) {
		// Nothing runs (a daemon may stay a moment after every instance
		// failed, following nothing): a reload would change nothing (it
		// refuses); the configuration is valid, as far as a reload would
		// have read it.
		if o.output == formatJSON {
			return writeJSON(streams.Out, diffReport{Changes: reconcile.NoChanges(), Conflicts: []check.Finding{}, Beyond: []string{}, Stopped: []string{}})
		}
		fmt.Fprintf(streams.Out, "no changes: nothing runs in %s for a reload to change (mictl up starts what mictl.toml names; mictl ports table shows its plan)\n", asTyped(dirCfg.InstancesDir))
		return nil
	}
	advised := dirCfg
	if followed := previewed(f, configPath); followed != "" {
		warnPreview(streams, f, cfg, cmd.Flags(), configPath, followed)
		advised = appliedAs(dirCfg, followed)
	} else {
		warnKeptSettings(streams, f, cfg, cmd.Flags())
	}
	noteOverridden(streams, configPath, dirCfg.InstancesDir, f)
	beyond := runningBeyond(cfg, f)
	noteBeyond(streams, cfg, beyond)
	stopped := slices.DeleteFunc(stoppedNamed(cfg, f), func(name string) bool { return slices.Contains(p.Changes.Restart, name) })
	noteStoppedNamed(streams, f, advised, stopped)
	noteComments(streams, p.Changes.Comments)
	report := diffReport{Changes: p.Changes, Conflicts: p.Conflicts.Conflicts, Refused: !p.Conflicts.OK(), Beyond: beyond, Stopped: stopped}
	if o.output == formatJSON {
		if err := writeJSON(streams.Out, report); err != nil {
			return err
		}
	} else {
		printChanges(streams, p.Changes)
		if report.Refused {
			fmt.Fprintf(streams.Out, "\na reload would refuse these changes, and change nothing, for %s:\n", words.Count(len(report.Conflicts), "conflict"))
			for _, c := range report.Conflicts {
				fmt.Fprintf(streams.Out, "conflict: %s\n", c.Message)
			}
		}
	}
	if p.Changes.Empty() && !report.Refused {
		return nil
	}
	return errReported // exit 1: something would change, or conflicts block it
}

// runningBeyond lists the instances of f that keep running beyond those
// cfg names (an earlier, larger up started them; see reconcile.Kept).
func runningBeyond(cfg *config.Config, f *state.File) []string {
	beyond := []string{}
	for _, rec := range f.Instances {
		if reconcile.Kept(f, rec.Name) && !slices.Contains(cfg.Names(), rec.Name) && reconcile.Running(rec) {
			beyond = append(beyond, rec.Name)
		}
	}
	return beyond
}

// noteBeyond says which instances keep running beyond those cfg names
// (runningBeyond): diff said "what runs matches the configuration" of ten
// running where mictl.toml says 8.
func noteBeyond(streams *IOStreams, cfg *config.Config, beyond []string) {
	if len(beyond) > 0 {
		fmt.Fprintf(streams.ErrOut, "note: %s\n", beyondNote(beyond, "the configuration's "+words.Count(len(cfg.Names()), "instance")+", as a reload leaves what an earlier, larger up started"))
	}
}

// stoppedNamed lists the instances cfg names that f records stopped or
// failed. A reload starts only instances new to mictl and leaves these as
// they are, so diff said "what runs matches the configuration" of an
// instances = 2 whose mi-2 an earlier down had stopped. One stopped for a
// restart under way (a daemon finishing what a killed one began) is no
// such instance: the restart starts it.
func stoppedNamed(cfg *config.Config, f *state.File) []string {
	stopped := []string{}
	for _, name := range cfg.Names() {
		if rec, known := f.Instance(name); known && (rec.State == state.StateStopped || rec.State == state.StateFailed) && !rec.RestartUnderWay() {
			stopped = append(stopped, name)
		}
	}
	return stopped
}

// noteStoppedNamed says of each instance stoppedNamed found that a reload
// leaves it, and what starts it, as status says it: the up that plans it
// (supervisor.UpCommand; a plain up plans the instances the
// configuration cfg names), as typed where diff ran (asRunHere: the
// --config given), once the last reload's failure is fixed
// (onceReloadFixed). A plain "mictl up starts it" was wrong after an
// `up --instances 3` over a mictl.toml that says 2: that up leaves mi-3
// stopped.
func noteStoppedNamed(streams *IOStreams, f *state.File, cfg *config.Config, names []string) {
	for _, name := range names {
		rec, _ := f.Instance(name)
		up := asRunHere(cfg, supervisor.UpCommand(f, name, slices.Contains(cfg.Names(), name)))
		fmt.Fprintf(streams.ErrOut, "note: %s is %s, and a reload leaves it so (it starts only instances new to mictl): %s starts it%s\n",
			name, rec.State, up, onceReloadFixed(f.ReloadError != ""))
	}
}

// onceReloadFixed is what follows "mictl up starts NAME again" in status
// and diff while the last reload's failure stands (reloadFailed: the
// state file's reload_error, a refusal or a failure once begun): an up
// plans from mictl.toml as it is, and starts a stopped or failed instance
// into the same failure (a new mi_home whose start script exits at
// once). "" when none stands.
func onceReloadFixed(reloadFailed bool) string {
	if !reloadFailed {
		return ""
	}
	return " once what the last reload failed on is fixed"
}

// noteOverridden says which settings of the configuration file at
// configPath the last up's flags (f's) replace: "what runs matches the
// configuration" read as though the file's instances = 5 had been
// applied, while --instances 3 of the last up stood. The up it names
// acts on the instances under instancesDir.
func noteOverridden(streams *IOStreams, configPath, instancesDir string, f *state.File) {
	for _, n := range daemon.Overridden(configPath, f.UpArgs, supervisor.DeploymentArgs(configPath, instancesDir)) {
		fmt.Fprintf(streams.ErrOut, "note: %s\n", n)
	}
}

// followedConfig is the configuration file the running daemon of f
// follows (its --config, or the mictl.toml that appeared in the directory
// it follows since it started: see daemonFile), "" when none runs or it
// follows none.
func followedConfig(f *state.File) string {
	if f.Daemon == nil || !f.Daemon.Alive() {
		return ""
	}
	file, named := daemonFile(f.Daemon.Args)
	if named || (file != "" && fsutil.Exists(file) && !fsutil.SameFile(file, config.DefaultFile)) {
		return file
	}
	return "" // none, or this directory's, read as it always is (mictl.toml:1:1)
}

// keptShown is how many of an instance's kept files diff names: a real
// MI renders many conf/ files at start, all of them kept.
const keptShown = 5

func printChanges(streams *IOStreams, c reconcile.Changes) {
	kept := slices.Sorted(maps.Keys(c.Kept))
	slices.SortFunc(kept, config.CompareNames)
	for _, n := range kept {
		files := c.Kept[n]
		if len(files) > keptShown {
			files = append(slices.Clip(files[:keptShown]), fmt.Sprintf("and %d more (-o json lists them)", len(c.Kept[n])-keptShown))
		}
		fmt.Fprintf(streams.Out, "keep     %s %s (changed in its home, and in the distribution since: the home's stay; delete the home's file and mictl reload to take the distribution's)\n",
			n, strings.Join(files, ", "))
	}
	if c.Empty() {
		fmt.Fprintln(streams.Out, "no changes: what runs matches the configuration")
		return
	}
	for _, n := range c.Add {
		fmt.Fprintf(streams.Out, "add      %s\n", n)
	}
	for _, n := range c.Remove {
		fmt.Fprintf(streams.Out, "remove   %s\n", n)
	}
	for _, n := range c.Restart {
		fmt.Fprintf(streams.Out, "restart  %s (%s)\n", n, c.Why[n])
	}
	for _, n := range c.Redeploy {
		fmt.Fprintf(streams.Out, "%-8s %s (%s; no restart)\n", c.CApps[n], n, c.Why[n])
	}
	names := make([]string, 0, len(c.Diffs))
	for n := range c.Diffs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(streams.Out, "\n%s", c.Diffs[n])
	}
}
