package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/metrics"
	"github.com/mictl/mictl/pkg/reconcile"
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
	if err := positive("timeout", p.ReadyTimeout); err != nil {
		return p, err
	}
	if p.BackoffBase < 0 {
		return p, exitcode.Usagef("--backoff %s: must not be negative", p.BackoffBase)
	}
	return p, nil
}

// daemonOptions are how a daemon supervising cfg's instances with policy
// works: its health checks, the Management API credentials, its metrics.
func daemonOptions(cfg *config.Config, policy supervisor.Policy, args []string, follow *supervisor.Follow) (supervisor.DaemonOptions, error) {
	policy.WatchInterval = cfg.HealthInterval
	addr, err := reconcile.MetricsAddr(cfg)
	if err != nil {
		return supervisor.DaemonOptions{}, err
	}
	return supervisor.DaemonOptions{Policy: policy, Args: args, Follow: follow, MetricsAddr: addr,
		Credentials: supervisor.Credentials{User: cfg.ManagementUser, Password: cfg.ManagementPassword}}, nil
}

// checkMetricsAddr refuses, before anything starts, a metrics_addr the
// daemon about to start could not listen on (in use, not an address of
// this host). A daemon that already answers listens there itself.
func checkMetricsAddr(ctx context.Context, cfg *config.Config) error {
	addr, err := reconcile.MetricsAddr(cfg)
	if err != nil || addr == "" {
		return err
	}
	if store, err := state.OpenExisting(stateDir(cfg)); err == nil {
		if _, err := supervisor.Call(ctx, supervisor.SocketPath(store), supervisor.Request{Op: supervisor.OpPing}, nil); err == nil {
			return nil
		}
	}
	ln, err := metrics.Listen(addr)
	if err != nil {
		return &config.Error{Where: cfg.Origin("metrics_addr"), Msg: "metrics_addr: " + err.Error()}
	}
	return ln.Close()
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

// warnPolicy says so when a daemon already runs with other settings than
// the ones asked for: it keeps its own until it is restarted. --timeout
// does not count: it goes with each request.
func warnPolicy(streams *IOStreams, store *state.Store, rf *runFlags, cfg *config.Config) {
	f, err := store.Load()
	if err != nil || f.Daemon == nil || !f.Daemon.Alive() {
		return
	}
	if kept := keptSettings(f.Daemon.Args, rf.daemonArgs(cfg)); len(kept) > 0 {
		fmt.Fprintf(streams.ErrOut, "warning: the running mictl daemon (pid %d) keeps its %s; mictl down and up again to change them\n",
			f.Daemon.PID, strings.Join(kept, ", "))
	}
}

// keptSettings lists the daemon's flags (running, "--flag value" pairs)
// whose value differs from asked's, as `--restart "on-failure" (asked:
// "never")`; a flag it runs without (no --config: it follows no
// mictl.toml, which did not exist then) is "(none)".
func keptSettings(running, asked []string) []string {
	has := map[string]string{}
	for i := 0; i+1 < len(running); i += 2 {
		has[running[i]] = running[i+1]
	}
	var kept []string
	for i := 0; i+1 < len(asked); i += 2 {
		flag, want := asked[i], asked[i+1]
		value, ok := has[flag]
		switch {
		case flag == "--timeout" || (ok && value == want):
		case !ok:
			kept = append(kept, fmt.Sprintf("%s (none) (asked: %q)", flag, want))
		default:
			kept = append(kept, fmt.Sprintf("%s %q (asked: %q)", flag, value, want))
		}
	}
	return kept
}

func defaultRunFlags() *runFlags {
	def := supervisor.DefaultPolicy()
	return &runFlags{restart: def.Restart, maxRestarts: def.MaxRestarts, backoff: def.BackoffBase, readyTimeout: def.ReadyTimeout}
}
