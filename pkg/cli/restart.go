package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

type restartOptions struct {
	all    bool
	run    daemon.RunFlags
	output string
}

func newCmdRestart(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &restartOptions{}
	cmd := &cobra.Command{
		Use:   "restart NAME... | --all",
		Short: "Restart instances one at a time, each ready before the next",
		Long: `Restart the named instances (or all with --all) one at a time: stop it
gracefully, start it, wait until it is ready, then go on to the next, so
a deployment loses one instance at a time; a restart that fails stops the
roll there. They go in the order a reload's restarts go: none starts on a
port another instance still holds until its own restart, and instances
that take each other's ports (a cycle no order of single restarts frees)
are stopped all, then started together. One whose ports moved onto those
another running instance holds until its own restart is refused unless
that one is named too (exit 1, before anything stops). The table printed
at the end is the state as the roll ended; after a mictl down interrupted
it, the down's stop: every instance the roll had running is stopping.
Before it starts again, each instance's home is
brought up to date as a reload's restart would (files added to, changed
in or removed from the distribution, such as a JDBC driver in mi_home's
lib/, and the deployment.toml and CApps mictl.toml gives it), keeping its
offset. One whose home cannot be (a malformed deployment.toml of the
distribution) starts as it was, and the restart ends with an error naming
it (exit 2 for such a file).
A conf/deployment.toml edited in the home is rendered again, the edit
kept as conf/deployment.toml.edited, with a warning, as up gives.

Only running instances are restarted: a stopped or failed one is left to
mictl up, which plans it again and checks its ports first (--all skips
them, saying so, and notes what failed each failed one when nothing runs;
a failed one named is refused saying what failed it).

Exit status: 0 when every instance restarted is ready; 1 when one's ports
moved onto those of a running instance not named (before anything
stops); 2 on usage or configuration errors: naming an instance that does
not run, --all when nothing runs, a malformed deployment.toml of the
distribution; 3 when a restart fails, or leaves an instance degraded (a
faulty CApp, a port not bound: MI's /healthz is not ready, and mictl
status says 3 too);
` + exitInterrupted + `.`,
		Example: `  mictl restart mi-2
  mictl restart --all`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if o.all { // names or --all, not both: a name offered there is refused
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeRunningNames(g)(cmd, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, names []string) error {
			if o.all == (len(names) > 0) {
				return exitcode.Usagef("name the instances to restart, or use --all (not both)")
			}
			// An instance named twice is restarted once: twice took it
			// down twice, for nothing.
			names = compact(names)
			if err := validateFormat(o.output, formatTable, formatJSON); err != nil {
				return err
			}
			policy, err := o.run.Policy()
			if err != nil {
				return err
			}
			e, err := openExisting(cmd, g, streams, readWrite)
			if err != nil {
				return err
			}
			cfg, store, f := e.cfg, e.store, e.state
			if err := checkNames(f, cfg.InstancesDir, names); err != nil {
				return err
			}
			if o.all {
				// No instance at all is nothing running, as the help says:
				// the same input error as naming a stopped instance.
				names = runningOf(streams, cfg, f)
				if len(names) == 0 {
					return exitcode.Usagef("nothing runs to restart; start instances with %s", upFor(cfg))
				}
			} else if err := refuseNotRunning(cfg, f, names); err != nil {
				return err
			}
			// The restart is the running daemon's to carry out, with its
			// own code, as up's, status's and reload's requests are.
			warnOtherBuild(streams, f)
			warnPolicy(streams, store, &o.run, cfg, cmd.Flags())
			if err := writeSimulatorDist(cfg); err != nil {
				return err
			}
			note, err := spawnDaemon(cmd.Context(), store, f, startArgs(&o.run, cfg, cmd.Flags(), f), false)
			if err != nil {
				return showUnanswered(streams, store, f, o.output, err)
			}
			printNote(streams, note)
			progress := newProgress(streams, names)
			reply, err := askDaemon(cmd.Context(), store, f,
				supervisor.Request{Op: supervisor.OpRestart, Names: names, Timeout: policy.ReadyTimeout}, func(ev supervisor.Event) {
					if ev.State == supervisor.EditKept {
						// Warned as up and generate warn of it.
						progress.say(fmt.Sprintf("warning: %s: %s", ev.Instance, ev.Message))
						return
					}
					progress.event(ev)
				})
			noteLostLines(streams, reply)
			r, rerr := reportAfter(store, reply, err)
			if rerr != nil {
				return rerr
			}
			if perr := printStatusReport(streams, r, nil, o.output, store); perr != nil {
				return perr
			}
			switch left := progress.untouched(); {
			case errors.Is(err, supervisor.ErrDaemonGone) && len(left) > 0:
				// The next daemon finishes the restart under way (its
				// mark is in the state file), not those after it.
				err = fmt.Errorf("%w; not restarted: %s (mictl restart %s restarts them)", err, strings.Join(left, ", "), strings.Join(left, " "))
			case errors.Is(err, supervisor.ErrInterrupted):
				// The table is of the stop under way: this says what the
				// roll had not restarted, as deploy --wait says what did
				// not get the app, and the up that ran them (a down of
				// everything forgets its flags: a plain up may plan
				// others, elsewhere).
				err = fmt.Errorf("%w; %s; %s starts them all again", err, rollLeft(names, progress.notServing()), asRunHere(cfg, supervisor.LastUp(f)))
			}
			if err != nil {
				return fmt.Errorf("rolling restart: %w", err)
			}
			return notReady(r, names, cfg.Names())
		},
	}
	addDirFlag(cmd)
	addRunFlags(cmd, &o.run)
	cmd.Flags().BoolVar(&o.all, "all", false, "restart every instance")
	addOutputFlag(cmd, &o.output, formatTable, formatJSON)
	return cmd
}

// rollLeft says which of names a rolling restart that a stop of every
// instance interrupted had not restarted (left: not come to, or stopped
// and not started again): all of them when it was still waiting its turn.
func rollLeft(names, left []string) string {
	if len(left) == len(names) {
		return "nothing was restarted"
	}
	return "not restarted: " + strings.Join(left, ", ")
}

// writeSimulatorDist writes the simulator distribution (with no mi_home
// configured) for this mictl before the daemon clones it into the homes
// it starts again, for a restart or a reload: a daemon whose mictl was
// moved away since (copied elsewhere, the old copy removed) knows of no
// simulator but the gone one, and every server it started failed. A
// daemon whose own simulator is there writes it for that one again.
func writeSimulatorDist(cfg *config.Config) error {
	_, err := reconcile.SourceDistribution(cfg)
	return err
}

// runningOf names the instances of f that run (or are meant to), and
// says which it leaves out and what starts them.
func runningOf(streams *IOStreams, cfg *config.Config, f *state.File) []string {
	var running []string
	var left []state.Instance
	for _, inst := range f.Instances {
		if reconcile.Active(inst) {
			running = append(running, inst.Name)
		} else {
			left = append(left, inst)
		}
	}
	if len(running) == 0 {
		// Nothing runs: the caller says so. A failed instance is still
		// noted, with what failed it: "nothing runs to restart" alone
		// said nothing of instances the daemon gave up on.
		left = slices.DeleteFunc(left, func(inst state.Instance) bool { return inst.State != supervisor.StateFailed })
	}
	for _, inst := range left {
		st := inst.State
		if why := failedWhy(cfg, inst); why != "" {
			st += ": " + why
		}
		fmt.Fprintf(streams.ErrOut, "note: not restarting %s (%s): not running; %s\n", inst.Name, st, startAdvice(cfg, f, inst.Name))
	}
	return running
}

// refuseNotRunning refuses to restart a named instance that does not run:
// up starts it, planning it again and checking its ports first.
func refuseNotRunning(cfg *config.Config, f *state.File, names []string) error {
	for _, name := range names {
		if inst, ok := f.Instance(name); ok && !reconcile.Active(*inst) {
			st := inst.State
			if why := failedWhy(cfg, *inst); why != "" {
				st += " (" + why + ")"
			}
			return exitcode.Usagef("%s is %s, not running: %s; up plans it again and checks its ports first", name, st, startAdvice(cfg, f, name))
		}
	}
	return nil
}

// failedWhy is, for a failed instance, what failed it in a few words and
// where its whole last error is: up starts it again as it is, into the
// same failure unless its cause is seen to first. "" for any other.
func failedWhy(cfg *config.Config, inst state.Instance) string {
	if inst.State != supervisor.StateFailed || inst.Reason == "" {
		return ""
	}
	return fmt.Sprintf("%s; %s shows its whole last error", inst.Reason, asRunHere(cfg, "mictl status "+inst.Name))
}

// startAdvice says what starts the instance name of f that does not run:
// a plain up when the configuration names it; else the last up's
// planning flags, which named it (a plain up plans mictl.toml alone and
// leaves it stopped); else nothing does, and down --purge forgets it.
func startAdvice(cfg *config.Config, f *state.File, name string) string {
	switch {
	case slices.Contains(cfg.Names(), name):
		return upFor(cfg) + " starts it"
	case supervisor.PlannedByLastUp(f, name):
		return asRunHere(cfg, supervisor.UpCommand(f, name, false)) + " starts it (the last up's flags: mictl.toml alone does not name it)"
	}
	return fmt.Sprintf("the configuration no longer names it (%s starts it once it does; %s forgets it)", upFor(cfg), asRunHere(cfg, "mictl down --purge "+name))
}
