package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/logs"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// Values of --file.
const (
	logFileConsole = "console"
	logFileCarbon  = "carbon"
)

type logsOptions struct {
	Names  []string // the instances; none for all of them
	Follow bool
	Since  string
	Tail   int // last N lines per file; negative: all
	File   string

	InstancesDir string           // resolved from the configuration
	Now          func() time.Time // the clock --since counts back from
	Color        bool             // colour the instance prefixes

	// Deployment names the configuration and instances_dir in advice
	// (supervisor.DeploymentArgs): a pasted mictl restart acts on them.
	Deployment []string
}

func newCmdLogs(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [NAME...]",
		Short: "Print or follow instances' logs",
		Long: `Print the log of one instance, or of several (every one by default) merged
into one stream with each line prefixed by its instance's name. Existing lines of several
instances are merged in timestamp order, keeping multi-line records (stack
traces) together.

By default the log is logs/console.log in the instance's home: everything its
Micro Integrator script printed. --file carbon reads MI's own
repository/logs/wso2carbon.log instead. The rotated copies of either are read
too, oldest first, as one log with it: console.log.3 .. console.log.1 (mictl
rotates console.log at 10 MB), and MI's wso2carbon-MM-dd-yyyy.log (also with
-N), so --tail and --since see across a rotation.

--since keeps records whose timestamp is at or after the given time; lines
without a timestamp (stack traces) go with the line above them, and lines
before a file's first timestamp are kept. --tail applies after --since, to
each instance's log (as docker compose logs --tail does).

With -f, mictl keeps printing new lines until Ctrl-C (exit 0). Rotated,
truncated and recreated files are followed across the change; a log that
does not exist yet, or whose directory does not, is waited for (as tail -F
does).

A log file or logs directory removed under a running instance is not written
again until the instance restarts (the server goes on writing to the removed
file): mictl reads that file through /proc/PID/fd while the server holds it
open, after its rotated copies, and says it was deleted; with -f, it follows
that file until the server starts again, then the new log, which 'mictl
restart NAME' starts. Should the server end with no new log (stopped, or
failed), mictl lets the deleted file go once nothing of the instance holds
it, and says so, so that its space is freed; it follows the new log once
the instance starts.

With no NAME, every instance under instances_dir that has a console.log (or a
rotated copy of one) is shown; with -f, so is one that gains a log while
mictl follows (a reload added it, or it started for the first time), from
its first line. Having none is not an error: mictl says so on stderr and exits 0, so
scripts piping the output keep working before the first 'mictl up'.
Prefixes are coloured when stdout is a terminal and NO_COLOR is unset.`,
		Example: `  # everything mi-2's script printed so far
  mictl logs mi-2

  # all instances, last 20 lines of each, then follow
  mictl logs -f --tail 20

  # mi-2's last 50 lines
  mictl logs mi-2 -n 50

  # MI's own wso2carbon.log of the last ten minutes
  mictl logs mi-1 --file carbon --since 10m

  # from a time copied out of a log line
  mictl logs --since "2026-11-25 15:04:05"`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			cfg, _, err := loadDirConfig(cmd, g)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			names, _ := instanceHomes(cfg.InstancesDir)
			return slices.DeleteFunc(names, func(n string) bool { return slices.Contains(args, n) }), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Names = compact(args)
			// A broken mictl.toml does not hide the logs: they may say why.
			cfg, cfgErr, err := loadDirConfig(cmd, g)
			if err != nil {
				return err
			}
			if cfgErr != nil {
				(&existing{cfg: cfg, cfgErr: cfgErr, cfgFile: configFile(g)}).warnConfig(streams)
			}
			o.InstancesDir = cfg.InstancesDir
			// The file named, should it not load: still the deployment's.
			o.Deployment = supervisor.DeploymentArgs(cmp.Or(cfg.File, g.configPath), cfg.InstancesDir)
			o.Now = time.Now
			o.Color = streams.Color()
			// Ctrl-C ends following normally: stop reading, flush, exit 0.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runLogs(ctx, streams, o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.Follow, "follow", "f", false, "keep printing new lines until Ctrl-C")
	flags.StringVar(&o.Since, "since", "", `only records from this time on: a duration back from now (10m, 2h, 1d) or a time ("2026-11-25 15:04:05" local, or RFC 3339)`)
	// -n as tail, journalctl and docker logs take it.
	flags.IntVarP(&o.Tail, "tail", "n", -1, "only the last N existing lines of each log (after --since); -1 shows all")
	flags.StringVar(&o.File, "file", logFileConsole, `which log: "console" (the script's output, logs/console.log) or "carbon" (MI's repository/logs/wso2carbon.log)`)
	_ = cmd.RegisterFlagCompletionFunc("file", cobra.FixedCompletions(
		[]string{logFileConsole, logFileCarbon}, cobra.ShellCompDirectiveNoFileComp))
	// Only instances_dir matters here; registered from config.Settings like
	// addPlanFlags does, so the flag, MICTL_INSTANCES_DIR and mictl.toml agree.
	addDirFlag(cmd)
	return cmd
}

// runLogs prints, and with Follow follows, the selected instances' logs.
func runLogs(ctx context.Context, streams *IOStreams, o *logsOptions) error {
	if o.File != logFileConsole && o.File != logFileCarbon {
		return exitcode.Usagef("--file %q: use %q or %q", o.File, logFileConsole, logFileCarbon)
	}
	if o.Tail < -1 {
		return exitcode.Usagef("--tail %d: give a number of lines, or -1 for all", o.Tail)
	}
	var opts logs.Options
	opts.Lines = o.Tail
	if o.Since != "" {
		since, err := logs.ParseSince(o.Since, o.Now())
		if err != nil {
			return exitcode.Usagef("--%v", err)
		}
		opts.Since = since
	}
	srcs, err := logSources(streams, o)
	if err != nil || len(srcs) == 0 {
		return err
	}
	if len(o.Names) != 1 {
		names := make([]string, len(srcs))
		for i, s := range srcs {
			names[i] = s.Name
		}
		opts.Prefix = logs.NewPrefixer(names, o.Color)
	}
	if !o.Follow {
		return state.ExplainAccess(logs.Tail(streams.Out, srcs, opts), o.InstancesDir)
	}
	if len(o.Names) == 0 {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		opts.Added = o.logsAdded(ctx, srcs)
	}
	var said sync.Mutex // the sources are followed side by side
	opts.Released = func(src logs.Source) {
		said.Lock()
		defer said.Unlock()
		fmt.Fprintf(streams.ErrOut, "%s: the server that wrote to the deleted log has ended: it is let go, its space freed; the new log at %s is followed once %[1]s starts again\n", src.Name, src.Path)
	}
	return state.ExplainAccess(logs.FollowAll(ctx, streams.Out, srcs, opts), o.InstancesDir)
}

// logsAddedEvery is how often logs -f of every instance looks for
// instances that gained a log: a reload's new instance, or one started for
// the first time. Its lines wait for nothing: it is followed from its first.
const logsAddedEvery = time.Second

// logsAdded sends, until ctx ends, each instance under instances_dir
// that gains a log while following, beside followed: what docker compose
// logs -f does for a service that starts meanwhile.
func (o *logsOptions) logsAdded(ctx context.Context, followed []logs.Source) <-chan logs.Source {
	known := map[string]bool{}
	for _, s := range followed {
		known[s.Name] = true
	}
	added := make(chan logs.Source)
	go func() {
		tick := time.NewTicker(logsAddedEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			names, _ := instanceDirs(o.InstancesDir) // unreadable now: looked at again next time
			for _, name := range names {
				src := logs.Source{Name: name, Path: o.logPath(name)}
				if known[name] || !hasLog(src.Path) {
					continue
				}
				select {
				case added <- src:
					known[name] = true
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return added
}

// logPath is the log of the instance name that the options select.
func (o *logsOptions) logPath(name string) string {
	dir := filepath.Join(o.InstancesDir, name)
	if o.File == logFileCarbon {
		return home.CarbonLog(dir)
	}
	return home.ConsoleLog(dir)
}

// logSources finds the log file of each selected instance.
func logSources(streams *IOStreams, o *logsOptions) ([]logs.Source, error) {
	all, err := instanceDirs(o.InstancesDir)
	if err != nil {
		return nil, err
	}
	withLogs := withConsoleLog(o.InstancesDir, all)
	if len(o.Names) == 0 {
		var srcs []logs.Source
		noted := false
		for _, name := range all {
			src, show, said := o.source(streams, name, false)
			noted = noted || said
			if show {
				srcs = append(srcs, src)
			}
		}
		if len(withLogs) == 0 && !noted {
			fmt.Fprintf(streams.ErrOut, "no instance logs under %s; run mictl up first\n", asTyped(o.InstancesDir))
		}
		return srcs, nil
	}
	if err := validNames(o.Names); err != nil {
		return nil, err
	}
	var srcs []logs.Source
	for _, name := range o.Names {
		// An instance whose home exists is known even before its first
		// start: following it waits for its log.
		if info, err := os.Stat(filepath.Join(o.InstancesDir, name)); err != nil || !info.IsDir() {
			known := "there are none yet; run mictl up first"
			if len(withLogs) > 0 {
				known = "known instances: " + strings.Join(withLogs, ", ")
			}
			return nil, exitcode.Usagef("no instance %q under %s: %s", name, asTyped(o.InstancesDir), known)
		}
		if src, show, _ := o.source(streams, name, true); show {
			srcs = append(srcs, src)
		}
	}
	return srcs, nil
}

// source is the log of the instance name that o selects, and whether it
// is shown; named says the user named the instance. The file missing from
// its place is said on stderr (noted) when a server runs in the home: the
// server writes on to the file deleted from there, which is read through
// /proc/PID/fd while it holds it (Source.Held), after the rotated copies.
// The copies alone hid the lines the server writes now. A home where
// nothing runs shows its copies, and, named, is waited for with -f or said
// to have no log yet.
func (o *logsOptions) source(streams *IOStreams, name string, named bool) (src logs.Source, show, noted bool) {
	src = logs.Source{Name: name, Path: o.logPath(name)}
	if _, err := os.Stat(src.Path); !errors.Is(err, fs.ErrNotExist) {
		return src, true, false // there, or unreadable: reading it says why
	}
	rotated := hasLog(src.Path)
	gone, runs := logGone(o, name, src.Path)
	switch {
	case runs:
		fmt.Fprintln(streams.ErrOut, gone.note(o.Follow))
		src.Held = gone.held
		if o.Follow && src.Held == nil {
			fmt.Fprintf(streams.ErrOut, "waiting for %s\n", src.Path)
		}
		return src, o.Follow || src.Held != nil || rotated, true
	case !named || rotated:
		return src, rotated, false
	case o.Follow:
		fmt.Fprintf(streams.ErrOut, "waiting for %s\n", src.Path)
		return src, true, false
	}
	fmt.Fprintf(streams.ErrOut, "%s has no log at %s yet; run mictl up first\n", name, src.Path)
	return src, false, false
}

// goneLog is an instance's log file, or the directory holding it, removed
// while its server runs: the server goes on writing to the file it has
// open, which no longer has a name, and only its next start creates a new
// one.
type goneLog struct {
	name, path string
	pid        int
	dirGone    bool
	// held is the removed file, which can still be read through the
	// server's /proc/PID/fd/N for it; nil when the server holds it no
	// more, or when its open files cannot be looked at (unseen says why).
	held   *logs.Held
	unseen error
	// restart is how the server starts again, with a new log.
	restart string
}

// note says what happened to the log, and where its lines are read from:
// with follow, until the new log the server's next start begins.
func (g goneLog) note(follow bool) string {
	gone := "its log " + g.path
	if g.dirGone {
		gone = "its log directory " + filepath.Dir(g.path)
	}
	if g.held != nil {
		read := fmt.Sprintf("read from %s, which ends with the server; a new log starts at %s when it starts again", g.held.Link, g.path)
		if follow {
			read = fmt.Sprintf("followed through %s, then the new log at %s from when the server starts again", g.held.Link, g.path)
		}
		return fmt.Sprintf("%s: %s was deleted while the server (pid %d) still writes to it: %s: %s", g.name, gone, g.pid, read, g.restart)
	}
	if g.unseen != nil {
		return fmt.Sprintf("%s runs (pid %d), but %s is gone, and whether the server still holds it open cannot be told: its open files cannot be looked at (%v); "+
			"run mictl logs as the server's user, or as root, to read it through them; its new lines go to %s once it starts again: %s", g.name, g.pid, gone, g.unseen, g.path, g.restart)
	}
	return fmt.Sprintf("%s runs (pid %d), but %s is gone and the server holds it open no more: nothing of it can be read; "+
		"its new lines go to %s once it starts again: %s", g.name, g.pid, gone, g.path, g.restart)
}

// logGone says what is true of an instance whose log at path is missing
// while a server runs in its home (runs).
func logGone(o *logsOptions, name, path string) (gone goneLog, runs bool) {
	dir, err := filepath.Abs(filepath.Join(o.InstancesDir, name)) // as its CARBON_HOME says
	if err != nil {
		return goneLog{}, false
	}
	server, runs := home.Server(dir)
	if !runs {
		return goneLog{}, false
	}
	gone = goneLog{name: name, path: path, pid: server.PID, restart: supervisor.AsRunFor(o.Deployment, "mictl restart "+name)}
	gone.held, gone.unseen = heldOpen(server.PID, path)
	if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
		gone.dirGone = true
	}
	if !startedByMictl(o.InstancesDir, name, server.PID) {
		gone.restart = fmt.Sprintf("restart it as it was started (mictl did not start it), or end it with %s and let mictl start it", supervisor.AsRunFor(o.Deployment, "mictl down "+name))
	}
	return gone, true
}

// heldOpen is the deleted file that was at path which pid holds open,
// nil when it holds none; the error says why pid's open files cannot be
// looked at (another user's process, /proc mounted with hidepid). The
// kernel names such a file by the real path it had, with " (deleted)"
// after it.
func heldOpen(pid int, path string) (*logs.Held, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil
	}
	// The file's directory may be gone with it: its nearest existing
	// ancestor is resolved, the rest kept as it was.
	want := abs
	if existing, info := fsutil.NearestExisting(abs); info != nil {
		if resolved, err := filepath.EvalSymlinks(existing); err == nil {
			rest, _ := filepath.Rel(existing, abs)
			want = filepath.Join(resolved, rest)
		}
	}
	fds := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(fds)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // it has ended: it holds nothing
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fds, fsutil.Cause(err))
	}
	for _, e := range entries {
		fd := filepath.Join(fds, e.Name())
		if target, err := os.Readlink(fd); err == nil && target == want+" (deleted)" {
			if held, err := logs.HeldAt(pid, e.Name()); err == nil { // else closed meanwhile
				return held, nil
			}
		}
	}
	return nil, nil
}

// startedByMictl reports whether the state file under instancesDir names
// pid as the server of the instance name.
func startedByMictl(instancesDir, name string, pid int) bool {
	store, err := state.OpenExisting((&config.Config{InstancesDir: instancesDir}).StateDir())
	if err != nil {
		return false
	}
	f, err := store.Load()
	if err != nil {
		return false
	}
	rec, ok := f.Instance(name)
	return ok && rec.Server.PID == pid
}

// instanceDirs lists, sorted, the instance homes under dir: every
// directory with a valid instance name, which leaves out mictl's own
// dot-directories (.mictl, .dist) and stray files. A missing dir has none.
func instanceDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list the instances under %s: %w", dir, fsutil.Cause(err))
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && config.ValidateName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, config.CompareNames) // mi-2 before mi-10, as planned
	return names, nil
}

// withConsoleLog keeps those of the instances under dir that have a
// console.log or a rotated copy of one.
func withConsoleLog(dir string, names []string) []string {
	var out []string
	for _, name := range names {
		if hasLog(home.ConsoleLog(filepath.Join(dir, name))) {
			out = append(out, name)
		}
	}
	return out
}

// instanceHomes lists, sorted, the instances under dir that have a
// console.log or a rotated copy of one.
func instanceHomes(dir string) ([]string, error) {
	names, err := instanceDirs(dir)
	if err != nil {
		return nil, err
	}
	return withConsoleLog(dir, names), nil
}

// hasLog reports whether there is anything to read of the log at path:
// the file, or a rotated copy of it.
func hasLog(path string) bool {
	if _, err := os.Stat(path); err == nil {
		return true
	}
	rotated, _ := logs.Rotated(path)
	return len(rotated) > 0
}
