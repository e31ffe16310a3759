package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/ports"
)

// planOptions are the flags of every command that plans instances.
type planOptions struct {
	offsets []int
}

// addPlanFlags registers a flag for every setting in config.Settings (so
// flags, MICTL_* variables and mictl.toml keys always match), plus
// --offsets.
func addPlanFlags(cmd *cobra.Command, po *planOptions) {
	fs := cmd.Flags()
	for _, s := range config.Settings {
		switch def := s.Default.(type) {
		case int:
			fs.Int(s.Flag, def, s.Help)
		case string:
			fs.String(s.Flag, def, s.Help)
		}
	}
	fs.IntSliceVar(&po.offsets, "offsets", nil, "explicit offsets for the first instances, e.g. 10,20,30 (kept as given and checked, never moved)")
	_ = cmd.RegisterFlagCompletionFunc("offset-method", cobra.FixedCompletions(
		[]string{config.OffsetMethodTOML, config.OffsetMethodFlag}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagDirname("mi-home")
	_ = cmd.MarkFlagDirname("instances-dir")
}

// planned is a configuration placed on this host.
type planned struct {
	cfg  *config.Config
	src  deployment.Source
	plan ports.Plan
	host check.Host
}

// buildPlan loads the configuration, scans the host and plans the
// instances around what it found.
func buildPlan(cmd *cobra.Command, g *globalOptions, po *planOptions) (*planned, error) {
	// --offsets alone decides the count when --instances is not given.
	if n := len(po.offsets); n > 0 && !cmd.Flags().Changed("instances") {
		if err := cmd.Flags().Set("instances", fmt.Sprint(n)); err != nil {
			return nil, err
		}
	}
	for _, o := range po.offsets {
		if o < 0 || o > ports.MaxPort {
			return nil, usageErrorf("--offsets: %d is not an offset: expected 0-%d", o, ports.MaxPort)
		}
	}
	cfg, err := config.Load(config.Sources{Path: g.configPath, Flags: cmd.Flags()})
	if err != nil {
		return nil, err
	}
	src, err := deployment.LoadSource(cfg)
	if err != nil {
		return nil, err
	}
	host, err := check.LiveHost(cfg.Host)
	if err != nil {
		return nil, err
	}
	plan, err := deployment.Plan(cfg, src, deployment.Options{
		Offsets:  po.offsets,
		HostBusy: host.Busy(),
		MinPort:  host.MinPort,
	})
	if err != nil {
		return nil, err
	}
	return &planned{cfg: cfg, src: src, plan: plan, host: host}, nil
}
