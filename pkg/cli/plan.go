package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// planOptions are the flags of every command that plans instances.
type planOptions struct {
	offsets []int
	// args are the planning flags the user gave, as --name=value, for the
	// state file (see state.File.UpArgs).
	args []string
	// captureEnv plans with the environment captured as `mictl up`
	// captures it (JAVA_HOME, JAVA_OPTS, ...): the exports carry it to
	// the servers they describe.
	captureEnv bool
}

// addPlanFlags registers a flag for every setting in config.Settings (so
// flags, MICTL_* variables and mictl.toml keys always match), plus
// --offsets.
func addPlanFlags(cmd *cobra.Command, po *planOptions) {
	registerPlanFlags(cmd.Flags(), po)
	_ = cmd.RegisterFlagCompletionFunc("offset-method", cobra.FixedCompletions(
		[]string{config.OffsetMethodTOML, config.OffsetMethodFlag}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagDirname("mi-home")
	_ = cmd.MarkFlagDirname("instances-dir")
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

// registerPlanFlags puts the planning flags into fs.
func registerPlanFlags(fs *pflag.FlagSet, po *planOptions) {
	for _, s := range config.Settings {
		if s.Plan() {
			registerSetting(fs, s)
		}
	}
	fs.IntSliceVar(&po.offsets, "offsets", nil, "explicit offsets for the first instances, e.g. 10,20,30 (kept as given and checked, never moved)")
}

// registerSetting puts the flag of setting s into fs.
func registerSetting(fs *pflag.FlagSet, s config.Setting) {
	switch def := s.Default.(type) {
	case int:
		fs.Int(s.Flag, def, s.Help)
	case string:
		fs.String(s.Flag, def, s.Help)
	case bool:
		fs.Bool(s.Flag, def, s.Help)
	case time.Duration:
		fs.Duration(s.Flag, def, s.Help)
	}
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
	cfg, err := loadPlanConfig(cmd.Flags(), g.configPath, po)
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
	t, err := reconcile.Build(cfg, f, reconcile.Options{Offsets: po.offsets, KeepUnknown: true, Env: env})
	if err != nil {
		return nil, err
	}
	return &planned{Target: t, state: f}, nil
}

// currentState reads the state file of cfg's instances without creating
// anything: planning commands must work before the first mictl up, and in
// a directory the user cannot write.
func currentState(cfg *config.Config) (*state.File, error) {
	dir := filepath.Join(cfg.InstancesDir, ".mictl")
	if _, err := os.Stat(filepath.Join(dir, "state.json")); err != nil {
		return &state.File{Version: state.SchemaVersion}, nil
	}
	store, err := state.Open(dir)
	if err != nil {
		return nil, err
	}
	f, err := store.Load()
	if err != nil {
		return nil, fmt.Errorf("%w; mictl up rebuilds it", err)
	}
	return f, nil
}

// loadPlanConfig loads the configuration of a planning command, and
// records the planning flags the user gave in po.args.
func loadPlanConfig(fs *pflag.FlagSet, configPath string, po *planOptions) (*config.Config, error) {
	po.args = nil
	fs.Visit(func(f *pflag.Flag) {
		if isPlanFlag(f.Name) {
			po.args = append(po.args, "--"+f.Name+"="+flagValue(f))
		}
	})
	if n := len(po.offsets); n > 0 && !fs.Changed("instances") {
		if err := fs.Set("instances", fmt.Sprint(n)); err != nil {
			return nil, err
		}
	}
	for _, o := range po.offsets {
		if o < 0 || o > ports.MaxPort {
			return nil, exitcode.Usagef("--offsets: %d is not an offset: expected 0-%d", o, ports.MaxPort)
		}
	}
	cfg, err := config.Load(config.Sources{Path: configPath, Flags: fs})
	if err != nil {
		return nil, err
	}
	// Refused before anything is planned or started (exit 2).
	if err := cfg.CheckHostLocal(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// isPlanFlag reports whether name is one of addPlanFlags' flags.
func isPlanFlag(name string) bool {
	if name == "offsets" {
		return true
	}
	for _, s := range config.Settings {
		if s.Flag == name && s.Plan() && s.Key != "instances_dir" {
			return true
		}
	}
	return false
}

// flagValue renders a flag's value so that parsing it again gives the
// same value (a slice flag prints "[10,20]" but parses "10,20").
func flagValue(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(sv.GetSlice(), ",")
	}
	return f.Value.String()
}
