package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/logs"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// Console logs are rotated (copy-truncate) past this size, keeping this
// many old copies.
const (
	logMaxBytes   = 10 << 20
	logKeep       = 3
	logCheckEvery = 10 * time.Second
)

// newCmdDaemon is the detached supervisor `mictl up` leaves behind. It is
// hidden: users start it through up, status or restart.
func newCmdDaemon(streams *IOStreams, g *globalOptions) *cobra.Command {
	rf := &runFlags{}
	cmd := &cobra.Command{
		Use:     "daemon",
		Short:   "Run the supervisor daemon (started by mictl up)",
		Example: "  mictl daemon --instances-dir /srv/mi/instances",
		Hidden:  true,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			policy, err := rf.policy()
			if err != nil {
				return err
			}
			cfg, cfgErr, err := loadDirConfig(cmd, g)
			if err != nil {
				return err
			}
			if cfgErr != nil {
				fmt.Fprintf(streams.ErrOut, "%s warning: %v (instances under %s)\n", time.Now().Format(time.RFC3339), cfgErr, cfg.InstancesDir)
			}
			store, err := state.Open(stateDir(cfg))
			if err != nil {
				return err
			}
			opts, err := daemonOptions(cfg, policy, rf.daemonArgs(cfg), newFollow(g.configPath, cfg))
			if err != nil {
				return err
			}
			d, err := supervisor.StartDaemon(store, opts)
			if errors.Is(err, supervisor.ErrDaemonRunning) {
				return nil // a concurrent start won; it supervises
			}
			if err != nil {
				return err
			}
			defer d.Close()
			fmt.Fprintf(streams.ErrOut, "%s mictl daemon pid %d supervising %s\n", time.Now().Format(time.RFC3339), os.Getpid(), cfg.InstancesDir)
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
			defer signal.Stop(sigs)
			rotate := time.NewTicker(logCheckEvery)
			defer rotate.Stop()
			for {
				select {
				case sig := <-sigs:
					// Leaving without stopping anything: the instances keep
					// serving and the next mictl command re-adopts them.
					fmt.Fprintf(streams.ErrOut, "%s mictl daemon: %s, exiting (instances keep running)\n", time.Now().Format(time.RFC3339), sig)
					return nil
				case <-d.CaughtUp():
					if d.Unneeded() {
						fmt.Fprintf(streams.ErrOut, "%s mictl daemon: the state is saved and nothing is left to supervise, exiting\n", time.Now().Format(time.RFC3339))
						return nil
					}
				case <-d.Idle():
					// A concurrent `mictl up` may have asked for instances
					// since the stop that made the daemon idle.
					if !d.Unneeded() {
						continue
					}
					fmt.Fprintf(streams.ErrOut, "%s mictl daemon: nothing left to supervise, exiting\n", time.Now().Format(time.RFC3339))
					return nil
				case <-rotate.C:
					rotateLogs(streams, d)
					if d.Unneeded() {
						fmt.Fprintf(streams.ErrOut, "%s mictl daemon: every instance stopped or failed, exiting\n", time.Now().Format(time.RFC3339))
						return nil
					}
				}
			}
		},
	}
	addDirFlag(cmd)
	addRunFlags(cmd, rf)
	return cmd
}

// rotateLogs copy-truncates every supervised instance's console log that
// grew past logMaxBytes.
func rotateLogs(streams *IOStreams, d *supervisor.Daemon) {
	for _, dir := range d.Sup.Homes() {
		if _, err := logs.RotateIfLarger(home.ConsoleLog(dir), logMaxBytes, logKeep); err != nil {
			fmt.Fprintf(streams.ErrOut, "rotate %s: %v\n", home.ConsoleLog(dir), err)
		}
	}
}

// configDebounce folds the burst of events one save makes (an editor may
// write, rename and chmod) into one reload.
const configDebounce = 100 * time.Millisecond

// cappFiles are every CApp file cfg declares: a rebuilt .car is
// redeployed to every instance that runs it.
func cappFiles(cfg *config.Config) []string {
	var out []string
	for _, name := range cfg.Names() {
		for _, c := range cfg.CAppsOf(name) {
			if !slices.Contains(out, c.Path) {
				out = append(out, c.Path)
			}
		}
	}
	return out
}

// newFollow makes the daemon follow its configuration live: mictl.toml
// (the file cfg was read from, or ./mictl.toml should one appear), the
// source distribution's deployment.toml and the declared CApps. Each reload plans with the
// planning flags of the last `mictl up` over the file, as that up did.
func newFollow(configPath string, cfg *config.Config) *supervisor.Follow {
	file := configPath
	if file == "" {
		file = config.DefaultFile
	}
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	instancesDir, _ := filepath.Abs(cfg.InstancesDir)
	var mu sync.Mutex
	source, capps := deployment.SourceTOMLOf(cfg), cappFiles(cfg)
	return &supervisor.Follow{
		Debounce: configDebounce,
		Files: func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string{file, source}, capps...)
		},
		Load: func(upArgs []string) (*config.Config, []int, error) {
			fs := pflag.NewFlagSet("reload", pflag.ContinueOnError)
			po := &planOptions{}
			registerPlanFlags(fs, po)
			if err := fs.Parse(upArgs); err != nil {
				return nil, nil, fmt.Errorf("the flags of the last mictl up (%s): %w", strings.Join(upArgs, " "), err)
			}
			// The daemon's instances never move.
			if err := fs.Set("instances-dir", instancesDir); err != nil {
				return nil, nil, err
			}
			cfg, err := loadPlanConfig(fs, configPath, po)
			if err != nil {
				return nil, nil, err
			}
			mu.Lock()
			source, capps = deployment.SourceTOMLOf(cfg), cappFiles(cfg)
			mu.Unlock()
			return cfg, po.offsets, nil
		},
	}
}
