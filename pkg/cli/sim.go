package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/fsutil"
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
file, and behaves like MI's script towards signals. It deploys the CApps
(.car) in repository/deployment/server/carbonapps/ as MI does, serves their
APIs on the pass-through ports and opens their inbound endpoints' ports
(and, at start, those of the inbound endpoints kept as synapse files in
repository/deployment/server/synapse-configs/default/inbound-endpoints/);
"mictl sim capp" builds sample CApps. With [[synapse_handlers]] MetricHandler
in deployment.toml and -DenablePrometheusApi=true it serves MI's metrics at
/metric-service/metrics. Faults are injected with environment variables:

` + faultHelp(),
		Example: `  mictl sim dist /tmp/mi-sim
  mictl sim capp build/orders_1.0.0.car --name orders --api /orders
  MICTL_SIM_CRASH_AFTER=30s mictl up --instances 2   # every instance crashes after 30 s`,
	})
	cmd.AddCommand(newCmdSimDist(streams), newCmdSimRun(streams), newCmdSimCApp(streams))
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
			var taken *sim.DirTakenError
			if err := sim.WriteDist(args[0], opts); errors.As(err, &taken) {
				return exitcode.With(exitcode.Usage, err) // the directory named: choose another
			} else if err != nil {
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
		RunE: func(cmd *cobra.Command, args []string) error {
			// Its arguments are the server's, but help alone is asked of
			// the command (MI's script never passes it).
			if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
				return cmd.Help()
			}
			os.Exit(sim.Serve(args, streams.Out))
			return nil
		},
	}
}

// simCAppOptions are the flags of `mictl sim capp`.
type simCAppOptions struct {
	name, version string
	apis          []string
	inboundHTTP   []int
	inboundWS     []int
	faulty        bool
}

// newCmdSimCApp builds sample .car files for tests, demos and trying
// deployments on the simulator.
func newCmdSimCApp(streams *IOStreams) *cobra.Command {
	var o simCAppOptions
	cmd := &cobra.Command{
		Use:   "capp OUT.car",
		Short: "Build a sample CApp (.car) with APIs and inbound endpoints",
		Long: `Build a Carbon Application laid out as MI's tooling writes it: artifacts.xml,
a sequence, an API per --api (answering every path below its context), an
HTTP inbound endpoint per --inbound-http port and a WebSocket one per
--inbound-ws port. --faulty adds an API whose XML is malformed, which MI
(and the simulator) list as a faulty application. The same flags always
build the same bytes. The file is written atomically.`,
		Example: `  mictl sim capp build/orders_1.0.0.car --name orders --api /orders
  mictl sim capp hl.car --name hl --version 2.0.0 --api /a --api /b --inbound-http 8085
  mictl sim capp broken.car --name broken --faulty
  cp build/orders_1.0.0.car /tmp/mi-sim/repository/deployment/server/carbonapps/`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			return runSimCApp(streams, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "the application's name (required)")
	f.StringVar(&o.version, "version", capp.BuildVersion, "the application's version")
	f.StringArrayVar(&o.apis, "api", nil, "an API at this context, e.g. /orders (repeatable)")
	f.IntSliceVar(&o.inboundHTTP, "inbound-http", nil, "an HTTP inbound endpoint on this port (repeatable)")
	f.IntSliceVar(&o.inboundWS, "inbound-ws", nil, "a WebSocket inbound endpoint on this port (repeatable)")
	f.BoolVar(&o.faulty, "faulty", false, "add an API with malformed XML: the application deploys as faulty")
	return cmd
}

func runSimCApp(streams *IOStreams, out string, o simCAppOptions) error {
	if o.name == "" {
		return exitcode.Usagef("--name is required: the application's name\nSee 'mictl sim capp --help'.")
	}
	if !strings.HasSuffix(out, ".car") {
		return exitcode.Usagef("%s: the file must end in .car (MI deploys nothing else)", out)
	}
	if strings.TrimSpace(o.version) == "" {
		return exitcode.Usagef("--version is empty: give the application's version, e.g. --version 1.0.0")
	}
	spec := capp.Spec{Name: o.name, Version: o.version, Faulty: o.faulty}
	for _, c := range o.apis {
		spec.APIs = append(spec.APIs, capp.APISpec{Context: c})
	}
	for flag, ports := range map[string][]int{"http": o.inboundHTTP, "ws": o.inboundWS} {
		for _, p := range ports {
			if p < 1 || p > 65535 {
				return exitcode.Usagef("--inbound-%s %d: want a port from 1 to 65535", flag, p)
			}
		}
	}
	for _, p := range o.inboundHTTP {
		spec.Inbounds = append(spec.Inbounds, capp.InboundSpec{Protocol: "http", Port: p})
	}
	for _, p := range o.inboundWS {
		spec.Inbounds = append(spec.Inbounds, capp.InboundSpec{Protocol: "ws", Port: p})
	}
	var buf bytes.Buffer
	if err := capp.Build(&buf, spec); err != nil {
		return exitcode.Usagef("%v", err)
	}
	err := os.MkdirAll(filepath.Dir(out), 0o755)
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		return exitcode.Usagef("cannot write %s: %s is a file, not a directory", out, fsutil.FileInTheWay(filepath.Dir(out)))
	case err != nil:
		return fmt.Errorf("cannot write %s: %w", out, fsutil.Cause(err))
	}
	if err := fsutil.WriteFileAtomic(out, buf.Bytes(), 0o644); err != nil {
		return err // "write OUT.car: ...", already
	}
	fmt.Fprintf(streams.ErrOut, "wrote %s (%s_%s, %d bytes)\n", out, spec.Name, o.version, buf.Len())
	return nil
}
