package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/planflags"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/supervisor"
)

// RunFlags are the supervisor settings of the commands that start servers
// (up, restart) and of the daemon they start.
type RunFlags struct {
	Restart      string
	MaxRestarts  int
	Backoff      time.Duration
	ReadyTimeout time.Duration
}

// PolicyFlags are the run flags that only the command line sets (no
// mictl.toml setting, no environment variable).
var PolicyFlags = []string{"restart", "max-restarts", "backoff"}

// DefaultRunFlags are the settings of supervisor.DefaultPolicy.
func DefaultRunFlags() *RunFlags {
	def := supervisor.DefaultPolicy()
	return &RunFlags{Restart: def.Restart, MaxRestarts: def.MaxRestarts, Backoff: def.BackoffBase, ReadyTimeout: def.ReadyTimeout}
}

// Register puts the run flags into fs, with the configuration settings
// the daemon reads (config.Setting.Run).
func (rf *RunFlags) Register(fs *pflag.FlagSet) {
	def := supervisor.DefaultPolicy()
	fs.StringVar(&rf.Restart, "restart", def.Restart, "restart policy when a server ends on its own: "+supervisor.RestartPoliciesText)
	fs.IntVar(&rf.MaxRestarts, "max-restarts", def.MaxRestarts, "consecutive restarts before an instance is marked failed")
	fs.DurationVar(&rf.Backoff, "backoff", def.BackoffBase, "wait before the 2nd consecutive restart, doubling after (the 1st is immediate; 0 = never wait)")
	fs.DurationVar(&rf.ReadyTimeout, "timeout", def.ReadyTimeout, "how long each instance may take to become ready")
	for _, s := range config.Settings {
		if s.Run {
			planflags.RegisterSetting(fs, s)
		}
	}
}

// Policy is the supervisor policy the flags ask for, or a usage error.
func (rf *RunFlags) Policy() (supervisor.Policy, error) {
	p := supervisor.DefaultPolicy()
	p.Restart, p.MaxRestarts, p.BackoffBase, p.ReadyTimeout = rf.Restart, rf.MaxRestarts, rf.Backoff, rf.ReadyTimeout
	// Said in the flags' words: Policy.Validate's are the supervisor's.
	if !slices.Contains(supervisor.RestartPolicies, rf.Restart) {
		return p, exitcode.Usagef("--restart %q: expected %s", rf.Restart, supervisor.RestartPoliciesText)
	}
	if rf.MaxRestarts < 0 {
		return p, exitcode.Usagef("--max-restarts %d: must not be negative", rf.MaxRestarts)
	}
	if err := exitcode.PositiveFlag("timeout", p.ReadyTimeout); err != nil {
		return p, err
	}
	if p.BackoffBase < 0 {
		return p, exitcode.Usagef("--backoff %s: must not be negative", p.BackoffBase)
	}
	return p, nil
}

// FollowDirFlag names the directory whose mictl.toml a daemon started
// without one follows, should one appear there.
const FollowDirFlag = "--follow-dir"

// Args are the arguments that start a daemon for cfg's instances with
// these flags (supervisor.SpawnDaemon), as "--flag value" pairs.
func (rf *RunFlags) Args(cfg *config.Config) []string {
	dir, err := filepath.Abs(cfg.InstancesDir)
	if err != nil {
		dir = cfg.InstancesDir
	}
	args := []string{
		"--instances-dir", dir,
		"--restart", rf.Restart,
		"--max-restarts", fmt.Sprint(rf.MaxRestarts),
		"--backoff", rf.Backoff.String(),
		"--timeout", rf.ReadyTimeout.String(),
		// As the command resolved them (flag, environment, mictl.toml).
		"--metrics-addr", metricsAddrArg(cfg),
		"--health-interval", cfg.HealthInterval.String(),
	}
	// The daemon follows the same mictl.toml, wherever it is started from;
	// without one, the mictl.toml that appears where this command runs
	// (a daemon a later command starts again, from its own directory,
	// followed that one's).
	if cfg.File != "" {
		if abs, err := filepath.Abs(cfg.File); err == nil {
			args = append(args, "--config", abs)
		}
	} else if dir, err := os.Getwd(); err == nil {
		args = append(args, FollowDirFlag, dir)
	}
	return args
}

// metricsAddrArg is cfg's metrics_addr as the daemon will listen on it
// (":9464" is "127.0.0.1:9464"): the running daemon's arguments are
// compared with what a later command asks for, and one address written
// two ways is no change. An invalid one is kept as written, for the
// daemon to refuse naming it.
func metricsAddrArg(cfg *config.Config) string {
	if addr, err := reconcile.MetricsAddr(cfg); err == nil {
		return addr
	}
	return cfg.MetricsAddr
}

// Options are how a daemon supervising cfg's instances with policy works:
// its health checks, the Management API credentials, its metrics. args
// are the flags it was started with, kept in the state file for the daemon
// that replaces it.
func Options(cfg *config.Config, policy supervisor.Policy, args []string, follow *supervisor.Follow) (supervisor.DaemonOptions, error) {
	policy.WatchInterval = cfg.HealthInterval
	addr, err := reconcile.MetricsAddr(cfg)
	if err != nil {
		return supervisor.DaemonOptions{}, err
	}
	dist, err := filepath.Abs(deployment.Dist(cfg))
	if err != nil {
		return supervisor.DaemonOptions{}, err
	}
	return supervisor.DaemonOptions{Policy: policy, Args: args, Follow: follow, MetricsAddr: addr, Dist: dist,
		Credentials: supervisor.CredentialsOf(cfg)}, nil
}
