// Package daemon is the program of mictl's supervisor daemon: the
// detached process `mictl up` leaves behind to keep the instances
// running, follow mictl.toml live and answer the other commands on its
// control socket. Both `mictl daemon` and the lean bin/mictl-daemon run
// it; this package links no CLI or terminal libraries, so the lean program
// holds less memory for as long as the instances run.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/logs"
	"github.com/mictl/mictl/pkg/planflags"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/shellword"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// The logs (each instance's console log, the event log and the daemon's
// own) are rotated past this size, keeping this many old copies.
const (
	logMaxBytes = 10 << 20
	logKeep     = 3
	// LogCheckEvery is how often the logs' sizes are looked at.
	LogCheckEvery = 10 * time.Second
)

// KeepMainThread keeps the calling goroutine, which must be main's and on
// the main thread (call it from an init function), on the main thread for
// good, so that the inotify instances the daemon lets go as it exits are
// normally released on other threads (each release waits for the kernel,
// up to ~20 ms): the main thread's exit, which is all `mictl down` waits
// for once the daemon has let go of everything (supervisor.CallUntilLeft),
// is then not held up by them. Normally: a release not yet begun when
// the daemon exits is made by whichever thread exits last.
func KeepMainThread() { runtime.LockOSThread() }

// configDebounce folds the burst of events one save makes (an editor may
// write, rename and chmod) into one reload.
const configDebounce = 100 * time.Millisecond

// Run is the lean program's main (cmd/mictl-daemon): it runs Main with
// the daemon's log on stderr and returns the exit status.
func Run(args []string) int {
	// Whatever the daemon starts must not inherit descriptors it inherited.
	proc.CloseInheritedOnExec()
	if err := Main(args, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "mictl daemon: %v\n", err)
		return exitcode.Of(err)
	}
	return exitcode.OK
}

// Main runs the daemon with args (the flags RunFlags.Args makes, and
// --config) until it is signalled or has nothing left to supervise. It
// writes what it does, with times, to logw (the daemon's log); --help
// goes to out.
func Main(args []string, out, logw io.Writer) error {
	fs := pflag.NewFlagSet("mictl daemon", pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, in the user's words
	fs.Usage = func() {
		fmt.Fprintf(out, "Run the supervisor daemon (started by mictl up, status and restart; bin/mictl-daemon is the same).\n\nUsage:\n  mictl daemon [flags]\n\nExample:\n  mictl daemon --instances-dir /srv/mi/instances\n\nFlags:\n%s", fs.FlagUsages())
	}
	configPath := fs.String("config", "", "the mictl.toml to follow")
	followDir := fs.String(strings.TrimPrefix(FollowDirFlag, "--"), "", "without --config, the directory whose mictl.toml to follow should one appear (default: the working directory)")
	for _, s := range config.Settings {
		if s.Key == "instances_dir" {
			planflags.RegisterSetting(fs, s)
		}
	}
	rf := &RunFlags{}
	rf.Register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return exitcode.FlagError(err, "mictl daemon")
	}
	if fs.NArg() > 0 {
		return exitcode.Usagef("mictl daemon takes no arguments, got %q", strings.Join(fs.Args(), " "))
	}
	policy, err := rf.Policy()
	if err != nil {
		return err
	}
	var followErr error
	if *configPath == "" && *followDir != "" {
		// Every relative path below (mictl.toml) is then the first
		// daemon's, whoever started this one. A directory gone since is
		// no reason to leave the instances unsupervised.
		followErr = os.Chdir(*followDir)
	}
	cfg, cfgErr, err := config.LoadLenient(config.Sources{Path: *configPath, Flags: fs})
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(logw, "%s %s\n", time.Now().Format(time.RFC3339), fmt.Sprintf(format, a...))
	}
	if followErr != nil {
		cwd, _ := os.Getwd()
		logf("warning: cannot follow the mictl.toml of %s (%v): following %s's", *followDir, fsutil.Cause(followErr), cwd)
	}
	if cfgErr != nil {
		logf("warning: %v (instances under %s)", cfgErr, cfg.InstancesDir)
	}
	store, err := state.Open(cfg.StateDir())
	if err != nil {
		return err
	}
	runArgs := rf.Args(cfg)
	if i := slices.Index(runArgs, FollowDirFlag); i >= 0 && *followDir != "" {
		runArgs[i+1] = *followDir // as given, should the directory be gone: not this one
	}
	opts, err := Options(cfg, policy, runArgs, NewFollow(*configPath, cfg))
	if err != nil {
		return err
	}
	d, err := supervisor.StartDaemon(store, opts)
	var held *supervisor.DaemonHeldError
	switch {
	case errors.As(err, &held):
		// Started by hand (or by a systemd unit): exiting 0 in silence
		// read as supervising.
		return heldError(held, cfg.InstancesDir)
	case errors.Is(err, supervisor.ErrDaemonRunning):
		return nil // a concurrent start won; the command that started this one asks it
	}
	if err != nil {
		return err
	}
	defer d.Close()
	logf("mictl daemon pid %d supervising %s", os.Getpid(), cfg.InstancesDir)
	return supervise(d, supervisor.DaemonLog(store), LogCheckEvery, logf)
}

// heldError says that held, another process, supervises the instances
// under instancesDir, so this daemon leaves, and how to supervise them
// from here instead: exit 2, as up --foreground under a daemon.
func heldError(held *supervisor.DaemonHeldError, instancesDir string) error {
	if abs, err := filepath.Abs(instancesDir); err == nil {
		instancesDir = abs // a daemon's log has no working directory to read it against
	}
	then := "run mictl daemon again once it has ended"
	if held.PID != 0 {
		then = fmt.Sprintf("end that daemon with kill %d (the instances keep running), then run mictl daemon again", held.PID)
	}
	return exitcode.Usagef("%s already supervises the instances under %s, so this daemon exits: to supervise them from here instead, %s", held.Holder(), instancesDir, then)
}

// supervise waits for the daemon's reason to exit: a signal, or nothing
// left to supervise, rotating the logs (the daemon's own at daemonLog)
// every logCheck meanwhile. Leaving never stops an instance: they keep
// serving and the next mictl command re-adopts them.
func supervise(d *supervisor.Daemon, daemonLog string, logCheck time.Duration, logf func(string, ...any)) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if d.StartedIdle() && d.Unneeded() {
		logf("mictl daemon: the state file asks for nothing to supervise (the command that started this daemon failed), exiting")
		return nil
	}
	// The daemon leaves as soon as its last instance failed, or stopped
	// (its restart policy leaves a server that shut down on its own
	// stopped): a look follows each runner's return, which the supervisor
	// signals (RunnerEnded) once the runner is no longer Active, and never
	// loses, where an event of it may be (a subscription that falls
	// behind loses events: a huge deployment's last failure then kept the
	// daemon until its next log check). Not before the command that
	// started the daemon had its answer (asked): every instance may have
	// failed before that command asked, and mictl up then starts them
	// again. A look follows that answer too, and the start (a runner that
	// ended before supervise began signalled already). A stop asked for
	// (mictl down) says it is idle as well; the looks after its runners'
	// returns decide as that does. An up's mark of an instance to start
	// again keeps the daemon while that up runs: its end is signalled
	// likewise (an up killed before its start reached the daemon kept it
	// until its next log check).
	ended := d.Sup.RunnerEnded()
	asked := d.Asked()
	allEnded := func() bool {
		if !d.Unneeded() {
			return false
		}
		logf("mictl daemon: every instance stopped or failed, exiting")
		return true
	}
	rotate := time.NewTicker(logCheck)
	defer rotate.Stop()
	for {
		select {
		case <-ended:
			if asked == nil && allEnded() {
				return nil
			}
		case <-asked:
			asked = nil // closed: taken once
			if allEnded() {
				return nil
			}
		case sig := <-sigs:
			logf("mictl daemon: %s, exiting (instances keep running)", sig)
			return nil
		case <-d.CaughtUp():
			if d.Unneeded() {
				logf("mictl daemon: the state is saved and nothing is left to supervise, exiting")
				return nil
			}
		case <-d.Idle():
			// A concurrent `mictl up` may have asked for instances
			// since the stop that made the daemon idle.
			if !d.Unneeded() {
				continue
			}
			logf("mictl daemon: nothing left to supervise, exiting")
			return nil
		case <-rotate.C:
			rotateLogs(d.Sup, daemonLog, logf)
			if allEnded() {
				return nil
			}
		}
	}
}

// rotateLogs rotates each log that grew past logMaxBytes: every console
// log of sup's instances and the daemon's own at daemonLog, which a
// detached daemon writes for as long as it runs (copy-truncated: their
// writers hold them open), and sup's event log (renamed: sup writes it).
func rotateLogs(sup *supervisor.Supervisor, daemonLog string, logf func(string, ...any)) {
	var paths []string
	if daemonLog != "" {
		paths = append(paths, daemonLog)
	}
	for _, dir := range sup.Homes() {
		paths = append(paths, home.ConsoleLog(dir))
	}
	for _, path := range paths {
		if _, err := logs.RotateIfLarger(path, logMaxBytes, logKeep); err != nil {
			logf("%v", err)
		}
	}
	if err := sup.RotateEventLog(logMaxBytes, logKeep); err != nil {
		logf("%v", err)
	}
}

// RotateLogsUntil rotates sup's logs as the daemon does (its own log
// aside) every interval until ctx is done, and returns then: for `mictl
// up --foreground`, which supervises in the user's terminal for as long
// as a detached daemon may.
func RotateLogsUntil(ctx context.Context, sup *supervisor.Supervisor, interval time.Duration, logf func(string, ...any)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			rotateLogs(sup, "", logf)
		}
	}
}

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

// loadForReload loads the configuration at configPath under the planning
// flags of the last mictl up (upArgs), with instances_dir set to
// instancesDir unless that is "".
func loadForReload(configPath string, upArgs []string, instancesDir string) (*config.Config, *planflags.Options, error) {
	fs := pflag.NewFlagSet("reload", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &planflags.Options{}
	planflags.Register(fs, o)
	if err := fs.Parse(upArgs); err != nil {
		return nil, nil, fmt.Errorf("the flags of the last mictl up (%s): %w", shellword.Join(upArgs), err)
	}
	if instancesDir != "" {
		if err := fs.Set("instances-dir", instancesDir); err != nil {
			return nil, nil, err
		}
	}
	cfg, err := planflags.Load(fs, configPath, o)
	return cfg, o, err
}

// difference is a setting the last mictl up's planning flags give
// another value than a configuration does.
type difference struct {
	Key, Flag string
	// Run is the value instances run with, Other the configuration's,
	// as mictl.toml writes them; Origin is where Other comes from.
	Run, Other, Origin string
}

// differences lists the settings the planning flags of the last mictl up
// (upArgs, over the configuration file at configPath) set to another
// value than other has. instances_dir is left out: where the instances
// run never changes under them (see instancesDirKept). None when the
// configuration with those flags does not load: the reload says why.
func differences(other *config.Config, configPath string, upArgs []string) []difference {
	if len(upArgs) == 0 {
		return nil
	}
	run, _, err := loadForReload(configPath, upArgs, "")
	if err != nil {
		return nil
	}
	var out []difference
	for _, s := range config.Settings {
		if s.Flag == "" || s.Key == "instances_dir" || run.Origin(s.Key) != "flag --"+s.Flag || run.Value(s.Key) == other.Value(s.Key) {
			continue
		}
		out = append(out, difference{Key: s.Key, Flag: s.Flag, Run: run.Value(s.Key), Other: other.Value(s.Key), Origin: other.Origin(s.Key)})
	}
	return out
}

// Overridden says, for each setting the configuration file at configPath
// gives a value that the planning flags of the last mictl up (upArgs)
// replace, that it is not what runs: reloads plan with that up's flags,
// and an edit of the key changes nothing until an up without that flag.
// The up it names is the last one without it, its other flags kept: one
// given the file's value as a flag would apply it, but would pin it as
// well, and the next edit of the key would not be applied either. It
// names the deployment as all advice does (supervisor.AsRunFor of
// deployment, DeploymentArgs): after mictl up --instances-dir /srv/mi,
// a plain mictl up started a second set of instances under the file's
// instances_dir.
func Overridden(configPath string, upArgs, deployment []string) []string {
	file, err := config.Load(config.Sources{Path: configPath})
	if err != nil {
		return nil
	}
	var notes []string
	for _, d := range differences(file, configPath, upArgs) {
		if file.IsDefault(d.Key) || file.FromCommandLine(d.Key) {
			continue
		}
		var rest []string
		for _, a := range upArgs {
			if !strings.HasPrefix(a, "--"+d.Flag+"=") {
				rest = append(rest, a)
			}
		}
		up := strings.TrimSpace("mictl up " + shellword.Join(rest))
		notes = append(notes, fmt.Sprintf("%s = %s (%s) is not applied: the last mictl up's %s stands, and reloads plan with it; %s applies the file's, and its later edits",
			d.Key, d.Other, d.Origin, shellword.Quote("--"+d.Flag+"="+unquote(d.Run)), supervisor.AsRunFor(deployment, up)))
	}
	return notes
}

// NotAsRunning says, for each setting cfg (another command's
// configuration, over the file at configPath) plans otherwise than the
// last mictl up's planning flags (upArgs) made the instances run, with
// the flag that plans what runs; a setting the command's own flags set
// is its user's choice, and not said. The count and the offsets are not
// said either: a plan keeps every running instance at its offset,
// whatever it asks for (an export of `up --instances 4` has the four).
func NotAsRunning(cfg *config.Config, configPath string, upArgs []string) []FlagNote {
	var notes []FlagNote
	for _, d := range differences(cfg, configPath, upArgs) {
		if cfg.FromCommandLine(d.Key) || d.Key == "instances" || d.Key == "base_offset" || d.Key == "offset_step" {
			continue
		}
		n := FlagNote{Flag: "--" + d.Flag, Value: unquote(d.Run)}
		n.Message = fmt.Sprintf("the instances run with %s=%s (the last mictl up's), where this plans %s = %s (%s): add %[1]s=%[2]s for what runs",
			n.Flag, n.Value, d.Key, d.Other, d.Origin)
		notes = append(notes, n)
	}
	return notes
}

// FlagNote is a note about a flag of mictl up, with the flag and its
// value apart, for a script that would pass them on.
type FlagNote struct {
	Flag    string // "--offset-method"
	Value   string // "flag"
	Message string
}

// unquote is a value as Config.Value writes it, as a flag takes it.
func unquote(v string) string { return strings.Trim(v, `"`) }

// instancesDirKept is the error that mictl.toml now sets instances_dir
// elsewhere than under instancesDir, where the daemon's instances run: it
// cannot move them, and applied silently, every command reading the file
// looked in the new directory, found nothing (status, down), and up
// started a second set of instances beside the first.
func instancesDirKept(configPath string, upArgs []string, instancesDir string) error {
	asked, _, err := loadForReload(configPath, upArgs, "")
	if err != nil {
		return nil // the load with the daemon's directory said what was wrong
	}
	if asked.IsDefault("instances_dir") || asked.FromCommandLine("instances_dir") {
		return nil // not the file's to change: as the daemon was started
	}
	if abs, err := filepath.Abs(asked.InstancesDir); err == nil && abs == instancesDir {
		return nil
	}
	return &config.Error{Where: asked.Origin("instances_dir"), Msg: fmt.Sprintf(
		"instances_dir = %q: the instances this daemon supervises run under %s, and stay there: put instances_dir back, or stop them first (%s), then change it and %s",
		asked.InstancesDir, instancesDir, asRun(configPath, "mictl down --instances-dir "+shellword.Quote(instancesDir)), asRun(configPath, "mictl up"))}
}

// Elsewhere finds a running mictl daemon that follows the
// configuration file configFile for instances outside instancesDir: the
// file's instances_dir changed while they ran (see instancesDirKept), and
// the commands reading it look where nothing runs. It returns that
// daemon's pid and instances directory. One walk of the process list,
// reading only the command lines of processes named like mictl.
func Elsewhere(configFile, instancesDir string) (pid int, dir string, ok bool) {
	ours, err1 := filepath.Abs(instancesDir)
	all, err2 := proc.List()
	if err := errors.Join(err1, err2); err != nil {
		return 0, "", false
	}
	names := []string{"mictl-daemon", "mictl", proc.CommOf(os.Args[0])}
	for _, st := range all {
		if st.Exited() || !slices.Contains(names, st.Comm) {
			continue
		}
		args := proc.Args(st.PID)
		daemon := len(args) > 0 && (filepath.Base(args[0]) == "mictl-daemon" || (len(args) > 1 && args[1] == "daemon"))
		// The file itself, however named: a daemon records --config as
		// its up was given it, a link or the file it leads to.
		if theirs := FlagValue(args, "--config"); daemon && theirs != "" && fsutil.SameFile(theirs, configFile) {
			if d := FlagValue(args, "--instances-dir"); d != "" && d != ours {
				return st.PID, d, true
			}
		}
	}
	return 0, "", false
}

// FlagValue is the value that follows the flag name in a daemon's
// arguments ("" when none does).
func FlagValue(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// NewFollow makes a daemon follow its configuration live: mictl.toml (the
// file cfg was read from, or ./mictl.toml should one appear), the source
// distribution's deployment.toml and the declared CApps. Each reload plans
// with the planning flags of the last `mictl up` over the file, as that up
// did.
func NewFollow(configPath string, cfg *config.Config) *supervisor.Follow {
	file := configPath
	if file == "" {
		file = config.DefaultFile
	}
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	instancesDir, _ := filepath.Abs(cfg.InstancesDir)
	named := supervisor.DeploymentArgs(file, instancesDir)
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
			if _, err := os.Stat(file); configPath != "" && errors.Is(err, os.ErrNotExist) {
				// Not named with --config: a mictl given a file that is
				// not there stops nothing.
				return nil, nil, exitcode.Usagef("%s, the configuration this daemon follows, is gone; put the file back (it is applied when it reappears), or stop the instances with mictl down --instances-dir %s", file, shellword.Quote(instancesDir))
			}
			// The daemon's instances never move.
			cfg, o, err := loadForReload(configPath, upArgs, instancesDir)
			if err != nil {
				return nil, nil, err
			}
			if err := instancesDirKept(configPath, upArgs, instancesDir); err != nil {
				return nil, nil, err
			}
			mu.Lock()
			source, capps = deployment.SourceTOMLOf(cfg), cappFiles(cfg)
			mu.Unlock()
			return cfg, o.Offsets, nil
		},
		// Loaded apart from Load, which also moves the watch to the
		// files the configuration names: these are the file's alone.
		Named: func(name string) bool {
			cfg, _, err := loadForReload(configPath, nil, instancesDir)
			return err == nil && slices.Contains(cfg.Names(), name)
		},
		Overridden: func(upArgs []string) []string { return Overridden(configPath, upArgs, named) },
		Deployment: named,
	}
}

// advisedFile is the configuration file that the advice of a daemon
// following configPath ("": the mictl.toml of its working directory)
// names with --config (supervisor.AdvisedFile): the daemon's working
// directory is that of the command that started it.
func advisedFile(configPath string) string {
	file, err := filepath.Abs(cmp.Or(configPath, config.DefaultFile))
	if err != nil {
		return configPath
	}
	dir, _ := os.Getwd()
	return supervisor.AdvisedFile(file, dir)
}

// asRun is command, a mictl command line, as the advice of a daemon
// following configPath names it (advisedFile).
func asRun(configPath, command string) string {
	return supervisor.AsRun(advisedFile(configPath), command)
}
