package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// runFlags are the supervisor settings of the commands that start servers.
type runFlags struct {
	restart      string
	maxRestarts  int
	backoff      time.Duration
	readyTimeout time.Duration
}

func addRunFlags(cmd *cobra.Command, rf *runFlags) {
	def := supervisor.DefaultPolicy()
	cmd.Flags().StringVar(&rf.restart, "restart", def.Restart, "restart policy when a server ends on its own: always, on-failure, never")
	cmd.Flags().IntVar(&rf.maxRestarts, "max-restarts", def.MaxRestarts, "consecutive restarts before an instance is marked failed")
	cmd.Flags().DurationVar(&rf.backoff, "backoff", def.BackoffBase, "wait before the 2nd consecutive restart, doubling after (the 1st is immediate; 0 = never wait)")
	cmd.Flags().DurationVar(&rf.readyTimeout, "timeout", def.ReadyTimeout, "how long each instance may take to become ready")
	for _, s := range config.Settings {
		if s.Run {
			registerSetting(cmd.Flags(), s)
		}
	}
	_ = cmd.RegisterFlagCompletionFunc("restart", cobra.FixedCompletions(
		[]string{supervisor.RestartAlways, supervisor.RestartOnFailure, supervisor.RestartNever}, cobra.ShellCompDirectiveNoFileComp))
}

func (rf *runFlags) policy() (supervisor.Policy, error) {
	p := supervisor.DefaultPolicy()
	p.Restart, p.MaxRestarts, p.BackoffBase, p.ReadyTimeout = rf.restart, rf.maxRestarts, rf.backoff, rf.readyTimeout
	if err := p.Validate(); err != nil {
		return p, exitcode.Usagef("%v", err)
	}
	if p.ReadyTimeout <= 0 {
		return p, exitcode.Usagef("--timeout %s: must be positive", p.ReadyTimeout)
	}
	if p.BackoffBase < 0 {
		return p, exitcode.Usagef("--backoff %s: must not be negative", p.BackoffBase)
	}
	return p, nil
}

// daemonArgs are the arguments that give a spawned daemon this policy.
func (rf *runFlags) daemonArgs(cfg *config.Config) []string {
	dir, err := filepath.Abs(cfg.InstancesDir)
	if err != nil {
		dir = cfg.InstancesDir
	}
	args := []string{
		"--instances-dir", dir,
		"--restart", rf.restart,
		"--max-restarts", fmt.Sprint(rf.maxRestarts),
		"--backoff", rf.backoff.String(),
		"--timeout", rf.readyTimeout.String(),
		// As this up resolved them (flag, environment, mictl.toml).
		"--metrics-addr", cfg.MetricsAddr,
		"--health-interval", cfg.HealthInterval.String(),
	}
	// The daemon follows the same mictl.toml, wherever it is started from.
	if cfg.File != "" {
		if abs, err := filepath.Abs(cfg.File); err == nil {
			args = append(args, "--config", abs)
		}
	}
	return args
}

// ensureDaemon makes sure a supervisor watches the instances the state
// file wants running: a daemon killed by the user (or by the OOM killer)
// is replaced, with the arguments it was started with, and the new one
// re-adopts the servers.
func ensureDaemon(ctx context.Context, e *existing) error {
	f := e.state
	wanted := false
	for _, inst := range f.Instances {
		wanted = wanted || supervisor.Wanted(inst.State)
	}
	if !wanted || !e.writable {
		return nil
	}
	store, cfg := e.store, e.cfg
	args := defaultRunFlags().daemonArgs(cfg)
	if f.Daemon != nil && len(f.Daemon.Args) > 0 {
		args = f.Daemon.Args
	}
	return explainDaemon(supervisor.SpawnDaemon(ctx, store, args), f)
}

// ensureDaemonFor starts a daemon with rf's policy unless one answers.
func ensureDaemonFor(ctx context.Context, store *state.Store, cfg *config.Config, rf *runFlags) error {
	err := supervisor.SpawnDaemon(ctx, store, rf.daemonArgs(cfg))
	if err != nil {
		f, _ := store.Load()
		err = explainDaemon(err, f)
	}
	return err
}

func defaultRunFlags() *runFlags {
	def := supervisor.DefaultPolicy()
	return &runFlags{restart: def.Restart, maxRestarts: def.MaxRestarts, backoff: def.BackoffBase, readyTimeout: def.ReadyTimeout}
}
