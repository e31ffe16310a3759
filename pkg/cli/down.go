package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

type downOptions struct {
	timeout time.Duration
	purge   bool
	output  string
}

func newCmdDown(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &downOptions{}
	cmd := &cobra.Command{
		Use:   "down [NAME...]",
		Short: "Stop instances gracefully (all of them when no name is given)",
		Long: `Stop each instance the way MI's own --stop does: SIGTERM to its server
process (its shutdown runs and the script's trap stops the diagnostics JVM),
then to its process group, all instances in parallel; wait up to --timeout
(MI drains for up to 180 s), then SIGKILL the group. Stale pid files are
removed, and the supervisor daemon exits when nothing is left to watch.

Exit status: 0 only when every process of the instances is gone and every
one of their ports is free; 3 otherwise, naming what is left.`,
		Example: `  mictl down
  mictl down mi-2 mi-3
  mictl down --timeout 30s --purge`,
		ValidArgsFunction: completeInstanceNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDown(cmd, streams, g, o, args)
		},
	}
	addDirFlag(cmd)
	cmd.Flags().DurationVar(&o.timeout, "timeout", supervisor.DefaultPolicy().StopTimeout, "graceful stop time before SIGKILL")
	cmd.Flags().BoolVar(&o.purge, "purge", false, "also delete the stopped instances' generated homes")
	addOutputFlag(cmd, &o.output, formatTable, formatJSON)
	return cmd
}

func runDown(cmd *cobra.Command, streams *IOStreams, g *globalOptions, o *downOptions, names []string) error {
	if err := validateFormat(o.output, formatTable, formatJSON); err != nil {
		return err
	}
	if o.timeout <= 0 {
		return exitcode.Usagef("--timeout %s: must be positive", o.timeout)
	}
	e, err := openExisting(cmd, g, streams, true)
	if err != nil {
		return err
	}
	store, f := e.store, e.state
	if err := checkNames(f, names); err != nil {
		return err
	}
	targets := names
	if len(targets) == 0 {
		for _, inst := range f.Instances {
			targets = append(targets, inst.Name)
		}
	}
	ctx := cmd.Context()
	progress := newProgress(streams, targets)
	daemonPID, err := stopAll(ctx, store, names, targets, o.timeout, progress.event)
	if err != nil {
		return exitcode.With(exitcode.Runtime, err)
	}
	if err := awaitIdleDaemon(ctx, store, daemonPID); err != nil {
		return exitcode.With(exitcode.Runtime, err)
	}
	if err := verifyStopped(store, targets); err != nil {
		return exitcode.With(exitcode.Runtime, err)
	}
	if o.purge {
		if err := purge(ctx, store, targets); err != nil {
			return err
		}
	}
	return printStatus(streams, store, o.output)
}

// awaitIdleDaemon waits for the daemon to exit when the stop left it
// nothing to supervise, so that `down` returning means everything is gone.
func awaitIdleDaemon(ctx context.Context, store *state.Store, pid int) error {
	if pid <= 0 {
		return nil
	}
	f, err := store.Load()
	if err != nil {
		return err
	}
	for _, inst := range f.Instances {
		if supervisor.Wanted(inst.State) {
			return nil // still supervising the others
		}
	}
	id, err := proc.Identify(pid)
	if err != nil {
		return nil // already gone
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := proc.WaitExit(ctx, id); err != nil || id.Alive() {
		return fmt.Errorf("the mictl daemon (pid %d) did not exit after the last instance stopped; see %s", pid, supervisor.DaemonLog(store))
	}
	return nil
}

// stopAll stops the instances through the daemon, or, when there is none
// (it was killed, or died during the request), from here while holding
// the daemon lock so that no daemon starts meanwhile and brings them back.
// It returns the pid of the daemon that did the work, 0 if none did.
func stopAll(ctx context.Context, store *state.Store, names, targets []string, timeout time.Duration, onEvent func(supervisor.Event)) (int, error) {
	// A daemon killed a moment ago may still hold its lock for the few
	// milliseconds its exit takes: keep trying either way for a while.
	deadline := time.Now().Add(5 * time.Second)
	for {
		pid, err := supervisor.Call(ctx, supervisor.SocketPath(store), supervisor.Request{Op: supervisor.OpStop, Names: names, Timeout: timeout}, onEvent)
		if err == nil || !errors.Is(err, supervisor.ErrNoDaemon) && !errors.Is(err, supervisor.ErrDaemonGone) {
			return pid, err
		}
		err = supervisor.WithoutDaemon(store, func() error { return stopDirect(store, targets, timeout) })
		if !errors.Is(err, supervisor.ErrDaemonRunning) || time.Now().After(deadline) {
			return 0, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopDirect stops instances without a daemon, with the same procedure.
func stopDirect(store *state.Store, names []string, timeout time.Duration) error {
	sup, err := supervisor.New(store, nil, supervisor.DefaultPolicy())
	if err != nil {
		return err
	}
	defer sup.Close()
	return sup.Stop(names, timeout)
}

// verifyStopped checks that none of the named instances' ports is still
// held, naming the holder. (That no process is left is the stop's own
// check: it fails when a group outlives SIGKILL; and the records it leaves
// no longer name a server or group to look at.)
func verifyStopped(store *state.Store, names []string) error {
	f, err := store.Load()
	if err != nil {
		return err
	}
	view, err := observe.NewView()
	if err != nil {
		return err
	}
	var left []string
	for _, name := range names {
		inst, _ := f.Instance(name)
		for _, st := range view.Observe(inst, false).Fixed {
			if st.Listening {
				left = append(left, fmt.Sprintf("%s: port %d is still held by %s", name, st.Port, st.Holder))
			}
		}
	}
	if len(left) > 0 {
		return errors.New("not everything stopped:\n  " + strings.Join(left, "\n  "))
	}
	return nil
}

// purge deletes stopped instances' homes and forgets them.
func purge(ctx context.Context, store *state.Store, names []string) error {
	return store.Update(ctx, func(f *state.File) error {
		var keep []state.Instance
		for _, inst := range f.Instances {
			if !slices.Contains(names, inst.Name) {
				keep = append(keep, inst)
				continue
			}
			if err := os.RemoveAll(inst.Home); err != nil {
				return fmt.Errorf("purge %s: %w", inst.Name, err)
			}
		}
		f.Instances = keep
		return nil
	})
}

// checkNames refuses names the state file does not know.
func checkNames(f *state.File, names []string) error {
	var known []string
	for _, inst := range f.Instances {
		known = append(known, inst.Name)
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			if len(known) == 0 {
				return exitcode.Usagef("no instance %q: there are no instances; start some with mictl up", n)
			}
			return exitcode.Usagef("no instance %q; known instances: %s", n, strings.Join(known, ", "))
		}
	}
	return nil
}

// completeInstanceNames completes instance names from the state file.
func completeInstanceNames(g *globalOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		e, err := openExisting(cmd, g, &IOStreams{ErrOut: io.Discard}, true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, inst := range e.state.Instances {
			if !slices.Contains(args, inst.Name) {
				out = append(out, inst.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
