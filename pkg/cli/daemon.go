package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/logs"
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
			cfg, err := loadDirConfig(cmd, g)
			if err != nil {
				return err
			}
			store, err := openStore(cfg)
			if err != nil {
				return err
			}
			d, err := supervisor.StartDaemon(store, policy, rf.daemonArgs(cfg))
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
				case <-d.Idle():
					fmt.Fprintf(streams.ErrOut, "%s mictl daemon: nothing left to supervise, exiting\n", time.Now().Format(time.RFC3339))
					return nil
				case <-rotate.C:
					rotateLogs(streams, d)
					if len(d.Sup.Active()) == 0 {
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
