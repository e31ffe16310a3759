package cli

import (
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/supervisor"
)

func newCmdReload(streams *IOStreams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Apply changes of mictl.toml or the source deployment.toml to running instances",
		Long: `Ask the supervisor daemon to re-read mictl.toml and the source
distribution's deployment.toml and apply what changed, and only that: new
instances are started, removed ones stopped gracefully, and running instances
whose rendered deployment.toml, offset or launch settings changed are
restarted one at a time, each ready before the next. Untouched instances are
never restarted. An invalid configuration, or one with port conflicts,
changes nothing.

The daemon does this by itself whenever those files change; reload does it
now. "mictl diff" shows what a reload would do.`,
		Example: `  mictl diff && mictl reload`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := openExisting(cmd, g, streams, false)
			if err != nil {
				return err
			}
			store := e.store
			_, err = supervisor.Call(cmd.Context(), supervisor.SocketPath(store), supervisor.Request{Op: supervisor.OpReload},
				func(ev supervisor.Event) { fmt.Fprintln(streams.ErrOut, ev.String()) })
			if errors.Is(err, supervisor.ErrNoDaemon) {
				return exitcode.With(exitcode.Runtime, fmt.Errorf("%w: nothing runs to reload; start instances with mictl up", err))
			}
			if err != nil {
				return exitcode.With(exitcode.Runtime, fmt.Errorf("reload: %w", err))
			}
			return printStatus(streams, store, formatTable)
		},
	}
	addDirFlag(cmd)
	return cmd
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
runs: instances a reload would add, remove and restart (and why), and for
each restart the difference in its deployment.toml. Nothing is changed.
Like diff(1), the exit status is 0 when nothing would change and 1 when
something would.`,
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

func runDiff(cmd *cobra.Command, streams *IOStreams, g *globalOptions, o *diffOptions) error {
	dirCfg, err := loadDirConfig(cmd, g)
	if err != nil {
		return err
	}
	f, err := currentState(dirCfg)
	if err != nil {
		return err
	}
	// Plan exactly as the daemon's reload would: mictl.toml under the
	// planning flags of the last mictl up.
	cfg, offsets, err := newFollow(g.configPath, dirCfg).Load(f.UpArgs)
	if err != nil {
		return err
	}
	t, err := reconcile.Build(cfg, f, reconcile.Options{Offsets: offsets})
	if err != nil {
		return err
	}
	changes, err := reconcile.Compare(t, f)
	if err != nil {
		return err
	}
	if o.output == formatJSON {
		if err := writeJSON(streams.Out, changes); err != nil {
			return err
		}
	} else {
		printChanges(streams, changes)
	}
	if changes.Empty() {
		return nil
	}
	return errReported // exit 1: something would change
}

func printChanges(streams *IOStreams, c reconcile.Changes) {
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
	names := make([]string, 0, len(c.Diffs))
	for n := range c.Diffs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(streams.Out, "\n%s", c.Diffs[n])
	}
}
