package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/planflags"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// planOptions are the flags of every command that plans instances.
type planOptions struct {
	planflags.Options
	// captureEnv plans with the environment captured as `mictl up`
	// captures it (JAVA_HOME, JAVA_OPTS, ...): the exports carry it to
	// the servers they describe.
	captureEnv bool
}

// addPlanFlags registers a flag for every setting in config.Settings (so
// flags, MICTL_* variables and mictl.toml keys always match), plus
// --offsets.
func addPlanFlags(cmd *cobra.Command, po *planOptions) {
	planflags.Register(cmd.Flags(), &po.Options)
	_ = cmd.RegisterFlagCompletionFunc("offset-method", cobra.FixedCompletions(
		[]string{config.OffsetMethodTOML, config.OffsetMethodFlag}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("host", completeHost)
	_ = cmd.MarkFlagDirname("mi-home")
	_ = cmd.MarkFlagDirname("instances-dir")
}

// completeHost offers what --host may be, as a host no interface has is
// refused listing them (config.CheckHostLocal): 127.0.0.1, 0.0.0.0 and
// this machine's other addresses.
func completeHost(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	out := []cobra.Completion{cobra.CompletionWithDesc("127.0.0.1", "loopback"), cobra.CompletionWithDesc("0.0.0.0", "every address")}
	addrs, _ := config.MachineAddrs() // unreadable: loopback and every address still are
	for _, addr := range addrs {
		out = append(out, addr.String())
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// withPlan makes cmd a planning command: it takes the planning flags and
// -o with formats, builds the plan, and hands it to run.
func withPlan(cmd *cobra.Command, g *globalOptions, po *planOptions, output *string, formats []string, run func(*planned) error) *cobra.Command {
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := validateFormat(*output, formats...); err != nil {
			return err
		}
		p, err := buildPlan(cmd, g, po)
		if err != nil {
			return err
		}
		return run(p)
	}
	addPlanFlags(cmd, po)
	addOutputFlag(cmd, output, formats...)
	return cmd
}

// planned is a configuration placed on this host, beside what runs.
type planned struct {
	*reconcile.Target
	// state is what runs now (empty before the first mictl up).
	state *state.File
}

// buildPlan loads the configuration, scans the host and plans the
// instances around what it found. A running deployment keeps its
// persisted offsets, and its own sockets are not conflicts; a foreign
// process on its ports is.
func buildPlan(cmd *cobra.Command, g *globalOptions, po *planOptions) (*planned, error) {
	cfg, err := planflags.Load(cmd.Flags(), g.configPath, &po.Options)
	if err != nil {
		return nil, err
	}
	return planConfig(cfg, po)
}

// planConfig is buildPlan for a configuration already loaded (and
// perhaps changed: mictl inspect plans it with one more CApp).
func planConfig(cfg *config.Config, po *planOptions) (*planned, error) {
	f, err := currentState(cfg)
	if err != nil {
		return nil, err
	}
	var env []string
	if po.captureEnv {
		env = supervisor.CaptureEnv(os.Environ())
	}
	t, err := reconcile.Build(cfg, f, reconcile.Options{Offsets: po.Offsets, KeepUnknown: true, Env: env})
	if err != nil {
		return nil, err
	}
	return &planned{Target: t, state: f}, nil
}

// refuseSelfClashes refuses (exit 1) a plan whose own instances cannot
// all run on one host: two share a port, or a port is none (above
// 65535). Wherever the homes, units or services it writes run, MI binds
// every port of each on that host, and the second start meets a
// BindException. Host sockets are not asked about: they are the start's
// business, and an export may be for another host. what is the refusal,
// "refusing to export the systemd units". With -o json it prints the
// clashes as check-conflicts -o json does, as a refused up does: a script
// reading the output got an empty stdout.
func (p *planned) refuseSelfClashes(streams *IOStreams, output, what string) error {
	return p.refuseClashes(streams, output, what, p.Conflicts(), "mictl check-conflicts explains each")
}

// refuseClashes is refuseSelfClashes for report, a check of the plan's
// instances with other ports (an export's, which knows more of them),
// explained saying where to learn more of its clashes.
func (p *planned) refuseClashes(streams *IOStreams, output, what string, report check.Report, explained string) error {
	own := report
	own.Conflicts = slices.DeleteFunc(own.Conflicts, func(f check.Finding) bool {
		return f.Kind != check.KindPlan && f.Kind != check.KindRange
	})
	if own.OK() {
		return nil
	}
	if output == formatJSON {
		if err := writeJSON(streams.Out, newConflictsReport(p.Target, p.state, own, nil)); err != nil {
			return err
		}
	}
	fix := "the offset does not move these ports: do what each conflict says"
	if slices.ContainsFunc(own.Conflicts, check.Finding.OffsetMoves) {
		fix = "fix their offsets: an [[instance]] offset in mictl.toml, or --offsets"
	}
	return &check.ConflictError{Report: own, Refused: what + ", nothing was written: the instances' own ports clash (" + fix + "; " + explained + ")"}
}

// currentState reads the state file of cfg's instances without creating
// anything: planning commands must work before the first mictl up, and in
// a directory the user cannot write.
func currentState(cfg *config.Config) (*state.File, error) {
	dir := cfg.StateDir()
	// Only a missing file means nothing was started: one that cannot be
	// looked at (another user's deployment) was taken for none, and diff
	// said nothing runs, ports table planned around the instances' own
	// ports.
	if _, err := os.Stat(filepath.Join(dir, "state.json")); errors.Is(err, fs.ErrNotExist) {
		// Deleted while servers mictl started run: what runs is what a
		// rebuild finds (not saved here; status or up saves it).
		if store, err := state.OpenExisting(dir); err == nil && supervisor.Lost(store) != nil {
			return rebuild(cfg)
		}
		return &state.File{Version: state.SchemaVersion}, nil
	}
	store, err := state.Open(dir)
	if err != nil {
		return nil, err
	}
	f, err := store.Load()
	var corrupt *state.CorruptError
	if errors.As(err, &corrupt) && !corrupt.Newer() {
		// A newer mictl's file is no damage: up refuses it too.
		return nil, fmt.Errorf("%w; mictl up rebuilds it", err)
	}
	return f, err
}
