package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/sim"
)

// newCmdSim groups the built-in Micro Integrator simulator's commands.
// `sim run` is what the simulator distribution's bin/micro-integrator.sh
// executes; users only need `sim dist`.
func newCmdSim(streams *IOStreams) *cobra.Command {
	cmd := asGroup(&cobra.Command{
		Use:   "sim",
		Short: "The built-in Micro Integrator simulator",
		Long: `mictl ships a Micro Integrator simulator laid out as an MI distribution, so
every mictl command works without Java. With no mi_home configured mictl
writes it under instances_dir/.dist and runs it; "mictl sim dist DIR" writes
one anywhere, to look at or to run by hand (bin/micro-integrator.sh).

The simulator opens MI's ports (8280/8243/9191/9154 plus the offset from
deployment.toml or -DportOffset), a random JMX-like TCP port, answers
/healthz, /liveness and the Management API, writes MI's log lines and pid
file, and behaves like MI's script towards signals. Faults are injected
with environment variables:

` + faultHelp(),
		Example: `  mictl sim dist /tmp/mi-sim
  MICTL_SIM_CRASH_AFTER=30s mictl up --instances 2   # every instance crashes after 30 s`,
	})
	cmd.AddCommand(newCmdSimDist(streams), newCmdSimRun(streams))
	return cmd
}

func faultHelp() string {
	var b strings.Builder
	for _, f := range sim.FaultVars {
		def := f.Default
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(&b, "  %s (default %s)\n      %s\n", f.Name, def, f.What)
	}
	return b.String()
}

func newCmdSimDist(streams *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "dist DIR",
		Short: "Write a simulator distribution (an MI_HOME-shaped tree) to DIR",
		Example: `  mictl sim dist /tmp/mi-sim
  CARBON_HOME=/tmp/mi-sim MICTL_SIM_BIND=127.0.0.1 /tmp/mi-sim/bin/micro-integrator.sh -DportOffset=3`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			opts, err := sim.MictlDistOptions()
			if err != nil {
				return err
			}
			if err := sim.WriteDist(args[0], opts); err != nil {
				return err
			}
			fmt.Fprintf(streams.ErrOut, "wrote the simulator distribution to %s\n", args[0])
			return nil
		},
	}
}

// newCmdSimRun is the simulated server itself. Flags are not parsed: like
// java, it takes -DportOffset=N and any other argument the script passes.
func newCmdSimRun(streams *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:                "run [ARGS...]",
		Short:              "Run the simulated server (started by bin/micro-integrator.sh)",
		Example:            "  CARBON_HOME=/tmp/mi-sim mictl sim run -DportOffset=3",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			// The simulator handles its own signals (it must be able to
			// ignore SIGTERM), so it gets a plain context.
			os.Exit(sim.Run(context.Background(), args, os.Getenv, streams.Out))
			return nil
		},
	}
}
