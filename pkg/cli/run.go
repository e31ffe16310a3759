package cli

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/companion"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/metrics"
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

// metricsAddrConflict checks, before anything starts, the metrics_addr
// the daemon about to start listens on (a daemon that already answers
// listens there itself). Held by another process, it is a finding about
// the host (nil when free), which check-conflicts reports and up refuses
// even with --force; an address that is not this host's is the
// configuration error it returns.
func metricsAddrConflict(ctx context.Context, t *reconcile.Target) (*check.Finding, error) {
	addr, err := reconcile.MetricsAddr(t.Config)
	if err != nil || addr == "" {
		return nil, err
	}
	if store, err := state.OpenExisting(t.Config.StateDir()); err == nil {
		ctx, stop := interruptible(ctx)
		defer stop()
		switch _, err := supervisor.Call(ctx, supervisor.SocketPath(store), supervisor.Request{Op: supervisor.OpPing}, nil); {
		case err == nil:
			return nil, nil
		case exitcode.Of(err) == exitcode.Interrupted:
			// Said as such: the address, not looked at, is no finding.
			return nil, err
		}
	}
	ln, err := metrics.Listen(addr)
	if err == nil {
		return nil, ln.Close()
	}
	refusal := &config.Error{Where: t.Config.Origin("metrics_addr"), Msg: "metrics_addr: " + err.Error()}
	ap, perr := netip.ParseAddrPort(addr)
	if _, busy := errors.AsType[*metrics.InUseError](err); !busy || perr != nil {
		return nil, refusal
	}
	host := t.Host
	host.Reserved = nil // among them the metrics port itself, for the daemon
	held := host.Holder(int(ap.Port()))
	if held.Holder == nil { // bound on an address the instances' do not overlap
		held = check.NewHeldBy("owner unknown", 0, "", "")
	}
	return &check.Finding{Kind: check.KindHost, Port: int(ap.Port()), Instances: []string{}, Parties: []check.Party{},
		HeldBy: held, Address: &addr, Message: refusal.Error()}, nil
}

// warnOtherBuild says so when the running daemon comes from another
// build of mictl (started before mictl was upgraded or rebuilt): it goes
// on supervising with its own code, over a control socket that has no
// version of its own. It is not replaced here: ending a daemon while it
// starts, stops or answers a request would cut those short, so the user
// chooses the moment (see the README's "mictl upgraded while instances
// run"). The way it gives is status, which starts a daemon with the
// recorded arguments, rather than up: a plain up plans anew from
// mictl.toml, forgetting the last up's --instances or --offsets. A
// daemon whose build cannot be told from this one (uncommitted, unstamped
// builds) and a `mictl up --foreground` (in the user's own terminal) go
// unmentioned.
func warnOtherBuild(streams *IOStreams, f *state.File) {
	id, ok := daemonIdentity(f)
	if !ok || len(f.Daemon.Args) == 0 { // a foreground up records no arguments
		return
	}
	if same, known := companion.SameBuildAsProcess(id.PID, companion.Running()); same || !known {
		return
	}
	fmt.Fprintf(streams.ErrOut, "warning: the running mictl daemon (pid %d) is from another build of mictl and goes on with its own code; to replace it without stopping the instances, when none is starting or stopping: kill -9 %d (it leaves them running; a plain kill makes a daemon built before 2026-12-05 forget the last up's flags), then mictl status (it starts this build's daemon, which takes them over; the last up's flags stand)\n", id.PID, id.PID)
}

// ensureDaemon makes sure a supervisor watches the instances the state
// file wants running: a daemon killed by the user (or by the OOM killer)
// is replaced, with the arguments it was started with, and the new one
// re-adopts the servers. catchUp has the new one also apply what was
// edited while none ran, for a command that applies no configuration
// itself (see supervisor.SpawnDaemon).
func ensureDaemon(ctx context.Context, streams *IOStreams, e *existing, catchUp bool) error {
	f := e.state
	if !f.WantsAny() || !e.writable {
		return nil
	}
	warnOtherBuild(streams, f)
	args := daemon.DefaultRunFlags().Args(e.cfg)
	if f.Daemon != nil && len(f.Daemon.Args) > 0 {
		args = f.Daemon.Args
	}
	note, err := spawnDaemon(ctx, e.store, f, args, catchUp)
	printNote(streams, note)
	return err
}

// daemonReplaced is the note that the daemon now running took over the
// instances of before, whose daemon had ended (killed, or crashed) while
// a server of theirs ran: status showed them as though nothing had
// happened, and a daemon killed again and again (the OOM killer) went
// unnoticed but in the event log. "" when before recorded no daemon, or
// no server that ran: a first up still starting its daemon leaves
// instances wanted and none recorded, and the daemon that answers is
// that up's own.
func daemonReplaced(store *state.Store, before *state.File) string {
	if before == nil || before.Daemon == nil || before.Daemon.Alive() ||
		!slices.ContainsFunc(before.Instances, func(i state.Instance) bool { return state.Wanted(i.State) && i.Server.PID > 0 }) {
		return ""
	}
	now, err := store.Load()
	if err != nil {
		return ""
	}
	id, ok := daemonIdentity(now)
	if !ok || id == before.Daemon.Identity {
		return ""
	}
	return fmt.Sprintf("note: %s; a new one (pid %d) took them over and restarts, by the restart policy, any that crashed meanwhile (mictl status NAME shows what it found)", daemonEnded(before.Daemon), id.PID)
}

// daemonEnded says that the daemon d, recorded as supervising the
// instances, is gone: status's words when it replaces it, and the views'
// when they find it so.
func daemonEnded(d *state.Daemon) string {
	return fmt.Sprintf("the mictl daemon (pid %d) had ended (killed, or crashed), leaving the instances unsupervised", d.PID)
}

// unsupervised is the warning of the views (ports table, check-conflicts,
// apps, top), which start no daemon, that the daemon f records has ended
// while instances are wanted running: they showed the instances, crashed
// ones too, as though something restarted them. "" when a daemon runs or
// no instance is wanted running.
func unsupervised(f *state.File) string {
	if f == nil || f.Daemon == nil || f.Daemon.Alive() || !f.WantsAny() {
		return ""
	}
	// Named for the ended daemon's deployment: a bare mictl status, after
	// mictl --config ops/prod.toml up --instances-dir homes, started none.
	return "warning: " + daemonEnded(f.Daemon) + ": nothing restarts one that crashes until " + supervisor.AsRunFor(f.Daemon.Args, "mictl status") +
		" (or " + supervisor.AsRunFor(f.Daemon.Args, "mictl up") + ") starts a new daemon, which takes them over"
}

// spawnDaemon starts a daemon with args unless one answers (see
// supervisor.SpawnDaemon); a Ctrl-C ends the wait for it, and a daemon
// that holds the socket without answering is named by the pid the state
// file records once the attempt is over. note says that the daemon took
// over from one that had ended (daemonReplaced; before is the state the
// command read, nil for none to compare), for the caller to print: up
// spawns it beside its own output.
func spawnDaemon(ctx context.Context, store *state.Store, before *state.File, args []string, catchUp bool) (note string, err error) {
	ctx, stop := interruptible(ctx)
	defer stop()
	if err := supervisor.SpawnDaemon(ctx, store, args, catchUp); err != nil {
		f, _ := store.Load()
		return "", explainDaemon(err, f)
	}
	return daemonReplaced(store, before), nil
}

// printNote prints note, a line for stderr, unless it is empty.
func printNote(streams *IOStreams, note string) {
	if note != "" {
		fmt.Fprintln(streams.ErrOut, note)
	}
}

// warnPolicy says so when a daemon already runs with other settings than
// the ones asked for: it keeps its own until it is restarted. --timeout
// does not count: it goes with each request.
func warnPolicy(streams *IOStreams, store *state.Store, rf *daemon.RunFlags, cfg *config.Config, flags *pflag.FlagSet) {
	f, err := store.Load()
	if err != nil {
		return
	}
	warnKept(streams, f, askedSettings(rf.Args(cfg), flags))
}

// startArgs are the arguments of the daemon that up or restart (a
// command with rf's flags) starts when none answers: their own, but for a
// policy flag not given, the value of the daemon f records, ended while
// its instances ran (killed, crashed, or ended to replace one of another
// build). A default is no wish (see askedSettings): it started the new
// daemon with the defaults, a policy nobody asked for, where status (see
// ensureDaemon) keeps the ended one's. Once nothing is meant to run (a
// down since, which need not clear the record of a daemon that had
// ended), the defaults stand.
func startArgs(rf *daemon.RunFlags, cfg *config.Config, flags *pflag.FlagSet, f *state.File) []string {
	args := rf.Args(cfg)
	if f == nil || f.Daemon == nil || !f.WantsAny() {
		return args
	}
	for _, name := range daemon.PolicyFlags {
		i := slices.Index(args, "--"+name)
		if v := daemon.FlagValue(f.Daemon.Args, "--"+name); i >= 0 && v != "" && !flags.Changed(name) {
			args[i+1] = v
		}
	}
	return args
}

// warnKeptSettings says so when cfg asks for settings the running daemon
// of f cannot take up live (metrics_addr, health_interval: its own
// flags), for commands that apply or show a reload: the reload itself
// changes nothing for them.
func warnKeptSettings(streams *IOStreams, f *state.File, cfg *config.Config, flags *pflag.FlagSet) {
	warnKept(streams, f, askedSettings((&daemon.RunFlags{}).Args(cfg), flags))
}

// warnKept says which of the settings asked f's running daemon keeps.
// A `mictl up --foreground` records no arguments: it runs with its own
// command line, in the user's terminal, where there is nothing to compare.
func warnKept(streams *IOStreams, f *state.File, asked []string) {
	if f.Daemon == nil || len(f.Daemon.Args) == 0 || !f.Daemon.Alive() {
		return
	}
	if kept := keptSettings(f.Daemon.Args, asked); len(kept) > 0 {
		fmt.Fprintf(streams.ErrOut, "warning: the running mictl daemon (pid %d) keeps its %s; mictl down and up again to change them\n",
			f.Daemon.PID, strings.Join(kept, ", "))
	}
}

// askedSettings are the daemon arguments args that this command asks
// for: a supervisor flag (--restart, --max-restarts, --backoff) only when
// it was given, its default being no wish (a daemon started with
// --restart never keeps it, unremarked, through a plain up); the settings
// of the configuration always, as it now says them.
func askedSettings(args []string, flags *pflag.FlagSet) []string {
	var out []string
	for i := 0; i+1 < len(args); i += 2 {
		name := strings.TrimPrefix(args[i], "--")
		if slices.Contains(daemon.PolicyFlags, name) && !flags.Changed(name) {
			continue
		}
		out = append(out, args[i], args[i+1])
	}
	return out
}

// daemonFile is the configuration file a daemon started with args
// follows, and whether they name it (--config); else the mictl.toml of
// the directory it follows (--follow-dir), should one appear there; ""
// when the arguments say neither (a daemon of an earlier mictl).
func daemonFile(args []string) (file string, named bool) {
	if file := daemon.FlagValue(args, "--config"); file != "" {
		return file, true
	}
	if dir := daemon.FlagValue(args, daemon.FollowDirFlag); dir != "" {
		return filepath.Join(dir, config.DefaultFile), false
	}
	return "", false
}

// keptSettings lists the daemon's flags (running, "--flag value" pairs)
// whose value differs from asked's, as `--restart "on-failure" (asked:
// "never")`; a flag it runs without is "(none)". A daemon without
// --config (no mictl.toml existed when it started) follows the one that
// appears in the directory it follows (daemonFile): asked for that file
// (created since, by deploy or by hand), it keeps nothing.
func keptSettings(running, asked []string) []string {
	has := map[string]string{}
	for i := 0; i+1 < len(running); i += 2 {
		has[running[i]] = running[i+1]
	}
	// The file a daemon without --config follows: its directory's
	// (--follow-dir), or, from an earlier mictl, this one's.
	theirs, _ := daemonFile(running)
	if theirs == "" {
		theirs, _ = filepath.Abs(config.DefaultFile)
	}
	var kept []string
	for i := 0; i+1 < len(asked); i += 2 {
		flag, want := asked[i], asked[i+1]
		value, ok := has[flag]
		switch {
		case flag == "--timeout" || flag == daemon.FollowDirFlag || (ok && value == want):
		case flag == "--config" && !ok && fsutil.SameFile(theirs, want):
		case !ok:
			kept = append(kept, fmt.Sprintf("%s (none) (asked: %q)", flag, want))
		default:
			kept = append(kept, fmt.Sprintf("%s %q (asked: %q)", flag, value, want))
		}
	}
	return kept
}
