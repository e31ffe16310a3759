// Package cli holds mictl's commands. Each command has an options struct
// and a run function that takes its IO streams, so tests drive commands
// in-process exactly as a user would, without a subprocess.
package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/proc"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	configPath string
}

// NewRootCmd builds the mictl command tree writing to streams.
func NewRootCmd(streams *IOStreams) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "mictl",
		Short: "Run many WSO2 Micro Integrator servers side by side on one host",
		Long: `mictl runs many WSO2 Micro Integrator servers side by side on one host. It
plans a port offset for every instance so that no two instances (and nothing
else on the host) share a port, explains every conflict it finds, generates
each instance's home and deployment.toml from the distribution's own file,
starts the instances, keeps them alive (a supervisor daemon restarts crashed
servers and follows mictl.toml live), and stops them gracefully.

With no mi_home configured, mictl uses its built-in Micro Integrator simulator,
so every command works on a machine without Java.

Exit codes:
  0  success
  1  conflicts found, or a check failed (diff: something would change)
  2  bad command line, configuration or input
  3  runtime failure`,
		Example: `  mictl up --instances 3
  mictl ports table
  mictl check-conflicts --offsets 10,47
  mictl logs mi-1 -f
  mictl down`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.PersistentFlags().StringVar(&g.configPath, "config", "", "config file (default ./mictl.toml; none is fine)")
	// Flag errors are usage errors: exit 2 like every other bad input.
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return exitcode.FlagError(err, cmd.CommandPath())
	})
	root.AddCommand(
		newCmdInit(streams, g),
		newCmdCheckConflicts(streams, g),
		newCmdPorts(streams, g),
		newCmdGenerate(streams, g),
		newCmdUp(streams, g),
		newCmdDown(streams, g),
		newCmdStatus(streams, g),
		newCmdRestart(streams, g),
		newCmdLogs(streams, g),
		newCmdReload(streams, g),
		newCmdDiff(streams, g),
		newCmdDaemon(streams),
		newCmdExport(streams, g),
		newCmdVersion(streams),
		newCmdSim(streams),
		newCmdTop(streams, g),
		newCmdInspect(streams, g),
		newCmdApps(streams, g),
		newCmdDeploy(streams, g),
		newCmdUndeploy(streams, g),
	)
	// mictl --version, as gh and docker take it; the version is read only
	// when asked for (every mictl process, each simulated server included,
	// builds this tree).
	root.Version = "unknown"
	cobra.AddTemplateFunc("mictlVersion", func() string { return buildVersion().String() })
	root.SetVersionTemplate("{{mictlVersion}}\n")
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			asGroup(c)
			c.Example = `  # bash, for this shell
  source <(mictl completion bash)
  # bash, for every new shell
  mictl completion bash > /etc/bash_completion.d/mictl
  # zsh and fish
  mictl completion zsh > "${fpath[1]}/_mictl"
  mictl completion fish > ~/.config/fish/completions/mictl.fish`
		}
	}
	return root
}

// Main runs mictl with args and returns the process exit code. Errors are
// printed once, here, prefixed with "mictl: ".
func Main(args []string, streams *IOStreams) int {
	// Whatever mictl starts (the daemon, every server) must not inherit
	// descriptors mictl itself inherited.
	proc.CloseInheritedOnExec()
	root := NewRootCmd(streams)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitcode.OK
	}
	if errors.Is(err, errReported) {
		return exitcode.Conflicts // the findings are already printed
	}
	fmt.Fprintf(streams.ErrOut, "mictl: %v\n", err)
	// cobra reports a mistyped command with a plain error; it is still a
	// usage error, and the user needs the way to help.
	var ee *exitcode.Error
	if !errors.As(err, &ee) && strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintf(streams.ErrOut, "See '%s --help'.\n", cmd.CommandPath())
		return exitcode.Usage
	}
	return exitcode.Of(err)
}

// asGroup makes cmd a group of subcommands: alone it prints its help;
// with a word that is none of its subcommands it fails with exit 2 and
// the subcommands that word is close to (cobra itself would print the
// help and exit 0, so that "mictl ports tabel" looked like success).
func asGroup(cmd *cobra.Command) *cobra.Command {
	cmd.SuggestionsMinimumDistance = 2 // as cobra's root: "tabel" suggests "table"
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
		}
		return exitcode.Usagef("%s\nSee '%s --help'.", msg, c.CommandPath())
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	return cmd
}

// usageArgs wraps a cobra argument validator so that its error is a usage
// error (exit 2).
func usageArgs(validate cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := validate(cmd, args); err != nil {
			switch {
			case !cmd.HasSubCommands() && strings.HasPrefix(err.Error(), "unknown command"):
				// cobra.NoArgs takes an argument of a leaf command for a
				// subcommand it lacks.
				err = fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
			case strings.Contains(err.Error(), "arg(s)"):
				// cobra's count ("accepts 1 arg(s), received 0") does not
				// say which: the usage line names them.
				err = fmt.Errorf("usage: %s (%s given)", cmd.UseLine(), plural(len(args), "argument"))
			}
			return exitcode.Usagef("%v\nSee '%s --help'.", err, cmd.CommandPath())
		}
		return nil
	}
}
