package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/companion"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/metrics"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// addRunFlags registers the supervisor settings of the commands that
// start servers (up, restart), with their completions.
func addRunFlags(cmd *cobra.Command, rf *daemon.RunFlags) {
	rf.Register(cmd.Flags())
	_ = cmd.RegisterFlagCompletionFunc("restart", cobra.FixedCompletions(
		[]string{supervisor.RestartAlways, supervisor.RestartOnFailure, supervisor.RestartNever}, cobra.ShellCompDirectiveNoFileComp))
}

// checkMetricsAddr refuses, before anything starts, a metrics_addr the
// daemon about to start could not listen on (in use, not an address of
// this host). A daemon that already answers listens there itself.
func checkMetricsAddr(ctx context.Context, cfg *config.Config) error {
	addr, err := reconcile.MetricsAddr(cfg)
	if err != nil || addr == "" {
		return err
	}
	if store, err := state.OpenExisting(cfg.StateDir()); err == nil {
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

// retireOtherBuild ends the running daemon when it comes from another
// build of mictl (started before mictl was upgraded or rebuilt): it
// would go on supervising with its own code, answering over a control
// socket that has no version of its own. Ending it stops no instance (a
// daemon leaves them running when it exits), and the daemon the command
// starts next takes them over. A daemon whose build cannot be told from
// this one (uncommitted, unstamped builds) is left alone.
func retireOtherBuild(streams *IOStreams, store *state.Store) error {
	f, err := store.Load()
	if err != nil {
		return nil // the command's own reading of the file says what is wrong
	}
	id, ok := daemonIdentity(f)
	if !ok {
		return nil
	}
	if same, known := companion.SameBuildAsProcess(id.PID, companion.Running()); same || !known {
		return nil
	}
	fmt.Fprintf(streams.ErrOut, "note: the running mictl daemon (pid %d) is from another build of mictl: ending it; the instances keep running, and a daemon of this build takes them over\n", id.PID)
	if err := proc.Signal(id, syscall.SIGTERM); err != nil && !errors.Is(err, proc.ErrNoProcess) {
		return exitcode.With(exitcode.Runtime, fmt.Errorf("end the mictl daemon (pid %d) from another build: %w", id.PID, err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), retireTimeout)
	defer cancel()
	if err := proc.WaitExit(ctx, id); err != nil {
		return exitcode.With(exitcode.Runtime, fmt.Errorf("the mictl daemon (pid %d) from another build did not exit within %s of SIGTERM; see %s", id.PID, retireTimeout, supervisor.DaemonLog(store)))
	}
	return nil
}

// retireTimeout bounds the exit of a daemon asked to leave: it saves the
// state and closes its socket, nothing more.
const retireTimeout = 10 * time.Second

// ensureDaemon makes sure a supervisor watches the instances the state
// file wants running: a daemon killed by the user (or by the OOM killer)
// is replaced, with the arguments it was started with, and the new one
// re-adopts the servers.
func ensureDaemon(ctx context.Context, streams *IOStreams, e *existing) error {
	f := e.state
	wanted := false
	for _, inst := range f.Instances {
		wanted = wanted || supervisor.Wanted(inst.State)
	}
	if !wanted || !e.writable {
		return nil
	}
	store, cfg := e.store, e.cfg
	if err := retireOtherBuild(streams, store); err != nil {
		return err
	}
	args := daemon.DefaultRunFlags().Args(cfg)
	if f.Daemon != nil && len(f.Daemon.Args) > 0 {
		args = f.Daemon.Args
	}
	return explainDaemon(supervisor.SpawnDaemon(ctx, store, args), f)
}

// ensureDaemonFor starts a daemon with rf's policy unless one answers.
func ensureDaemonFor(ctx context.Context, store *state.Store, cfg *config.Config, rf *daemon.RunFlags) error {
	err := supervisor.SpawnDaemon(ctx, store, rf.Args(cfg))
	if err != nil {
		f, _ := store.Load()
		err = explainDaemon(err, f)
	}
	return err
}

// warnPolicy says so when a daemon already runs with other settings than
// the ones asked for: it keeps its own until it is restarted. --timeout
// does not count: it goes with each request.
func warnPolicy(streams *IOStreams, store *state.Store, rf *daemon.RunFlags, cfg *config.Config) {
	f, err := store.Load()
	if err != nil || f.Daemon == nil || !f.Daemon.Alive() {
		return
	}
	if kept := keptSettings(f.Daemon.Args, rf.Args(cfg)); len(kept) > 0 {
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
