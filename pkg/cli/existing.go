package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// existing is the deployment a command works on: its configuration, its
// state directory and what the state says runs.
type existing struct {
	cfg *config.Config
	// cfgErr is why mictl.toml could not be used, if it could not: a
	// command on existing instances goes on with instances_dir from the
	// flags, the environment or the default.
	cfgErr error
	// cfgFile is the config file cfgErr is about, as the user named it.
	cfgFile string
	// store is nil when a look-only command finds no state directory:
	// nothing was ever started here.
	store *state.Store
	state *state.File
	// writable is false when the state directory may not be written:
	// look-only commands still work, and change nothing.
	writable bool
}

// access says what a command may do to the state directory.
type access int

const (
	lookOnly  access = iota // create nothing, lock nothing, write only when allowed
	readWrite               // create the state directory if needed
)

// openExisting loads what a command that works on existing instances
// needs. A look-only command leaves nothing behind and works in a
// directory it may not write. Where there is no instances directory at
// all nothing was ever started, and no command makes one: store is nil.
func openExisting(cmd *cobra.Command, g *globalOptions, streams *IOStreams, mode access) (*existing, error) {
	cfg, cfgErr, err := loadDirConfig(cmd, g)
	if err != nil {
		return nil, err
	}
	e := &existing{cfg: cfg, cfgErr: cfgErr, cfgFile: configFile(g)}
	dir := cfg.StateDir()
	if _, err := os.Stat(cfg.InstancesDir); errors.Is(err, fs.ErrNotExist) {
		mode = lookOnly
	}
	if mode == lookOnly {
		e.store, err = state.OpenExisting(dir)
		if errors.Is(err, fs.ErrNotExist) {
			e.state = &state.File{Version: state.SchemaVersion, Instances: []state.Instance{}}
			e.warnMoved(streams)
			return e, nil
		}
	} else {
		e.store, err = state.Open(dir)
	}
	if err != nil {
		return nil, err
	}
	e.writable = e.store.Writable()
	if e.state, err = loadState(streams, cfg, e.store, e.writable); err != nil {
		return nil, err
	}
	e.warnMoved(streams)
	return e, nil
}

// warnMoved says so when nothing is known under instances_dir while a
// daemon following the same mictl.toml supervises instances elsewhere
// (instances_dir changed in the file while they ran, or an up named
// another with --instances-dir): the user looks where nothing runs. A
// broken file is asked about all the same: the daemon knows where its
// instances are when the file no longer says. Not when the directory was
// named here (a flag, the environment).
func (e *existing) warnMoved(streams *IOStreams) {
	file := e.cfg.File
	if e.cfgErr != nil {
		file = e.cfgFile
	}
	if len(e.state.Instances) > 0 || file == "" || e.cfg.FromCommandLine("instances_dir") {
		return
	}
	if pid, dir, ok := daemon.Elsewhere(file, e.cfg.InstancesDir); ok {
		fmt.Fprintf(streams.ErrOut, "warning: nothing runs under %s, but a mictl daemon (pid %d) following %s supervises instances under %s: name them with --instances-dir %s, or set instances_dir back to it\n",
			asTyped(e.cfg.InstancesDir), pid, e.cfgFile, dir, dir)
	}
}

// loadDirConfig loads the configuration of a command that works on
// existing instances and needs only instances_dir: a broken mictl.toml is
// returned as cfgErr, to warn about, and the instances are still found
// (config.LoadLenient).
func loadDirConfig(cmd *cobra.Command, g *globalOptions) (cfg *config.Config, cfgErr, err error) {
	return config.LoadLenient(config.Sources{Path: g.configPath, Flags: cmd.Flags()})
}

// warnConfig says, once, that mictl.toml was ignored.
func (e *existing) warnConfig(streams *IOStreams) {
	if e.cfgErr != nil {
		fmt.Fprintf(streams.ErrOut, "warning: %v\n(%s ignored here: showing the instances under %s)\n", e.cfgErr, e.cfgFile, asTyped(e.cfg.InstancesDir))
	}
}

// asTyped is path as a user would type it to mean a directory: a relative
// one with its "./" (under ./instances, not under instances).
func asTyped(path string) string {
	if filepath.IsAbs(path) || path == "." || path == ".." || strings.HasPrefix(path, "./") || strings.HasPrefix(path, "../") {
		return path
	}
	return "./" + path
}

// loadState reads the state file. A corrupt one is reported and rebuilt
// from the instance homes and /proc, and so is a missing one while
// servers mictl started still run in the homes (supervisor.Lost); the
// rebuilt state is saved when the directory may be written, else only
// used.
func loadState(streams *IOStreams, cfg *config.Config, store *state.Store, writable bool) (*state.File, error) {
	f, err := store.Load()
	var ce *state.CorruptError
	var why error
	switch {
	case errors.As(err, &ce) && !ce.Newer():
		why = ce
	case err != nil:
		return f, err
	default:
		lost := supervisor.Lost(store)
		if lost == nil {
			return f, nil
		}
		why = lost
	}
	// A daemon that runs holds the state in memory and writes it back
	// itself: its view, not one rebuilt from the homes, which loses what
	// only the file held (restart counts, what is wanted).
	reply, derr := supervisor.Call(context.Background(), supervisor.SocketPath(store), supervisor.Request{Op: supervisor.OpStatus}, nil)
	if derr == nil && reply.State != nil {
		fmt.Fprintf(streams.ErrOut, "warning: %v; the running mictl daemon writes it again from its memory\n", why)
		return reply.State, nil
	}
	if !writable {
		fmt.Fprintf(streams.ErrOut, "warning: %v; showing it rebuilt from the instance homes and /proc (not saved: %s is read-only)\n", why, store.Dir())
		return rebuild(cfg)
	}
	fmt.Fprintf(streams.ErrOut, "warning: %v; rebuilding it from the instance homes and /proc\n", why)
	err = store.UpdateOrRebuild(context.Background(), func(nf *state.File, corrupt *state.CorruptError) error {
		if corrupt == nil && supervisor.Lost(store) == nil {
			return nil // written meanwhile (an up, a daemon): it stands
		}
		rebuilt, err := rebuild(cfg)
		if err != nil {
			return err
		}
		*nf = *rebuilt
		return nil
	})
	if err != nil {
		return nil, err
	}
	return store.Load()
}

// rebuild is the state of cfg's instances rebuilt from their homes and
// /proc (supervisor.Rebuild).
func rebuild(cfg *config.Config) (*state.File, error) {
	return supervisor.Rebuild(cfg.InstancesDir, cfg.Host.String(), deployment.Dist(cfg))
}

// askDaemon sends req to the daemon of store and explains, in the user's
// terms, a daemon that cannot be asked. f names the daemon's pid. A
// Ctrl-C (or SIGTERM) while it waits ends the wait with what the daemon
// goes on with (exit 130, or 143 for SIGTERM), not the process without a word.
func askDaemon(ctx context.Context, store *state.Store, f *state.File, req supervisor.Request, onEvent func(supervisor.Event)) (supervisor.Reply, error) {
	ctx, stop := interruptible(ctx)
	defer stop()
	reply, err := supervisor.Call(ctx, supervisor.SocketPath(store), req, onEvent)
	return reply, explainDaemon(err, f)
}

// explainDaemon gives a daemon that does not answer its pid and what to
// do about it; other errors pass unchanged.
func explainDaemon(err error, f *state.File) error {
	if errors.Is(err, supervisor.ErrNotAnswering) {
		return &notAnsweringError{pid: daemonPID(f), err: err}
	}
	return err
}

// notAnsweringError is a daemon that holds the control socket but does
// not answer: stopped or hung.
type notAnsweringError struct {
	pid int
	err error
}

func (e *notAnsweringError) Error() string {
	if e.pid == 0 {
		return fmt.Sprintf("%v: it may be stopped or hung; see ps for a mictl daemon", e.err)
	}
	return fmt.Sprintf("the mictl daemon (pid %d) is not answering (nothing for %s): it may be stopped (resume it with kill -CONT %d) or hung (end it with kill %d: the instances keep running, and the next mictl command starts a new daemon that takes them over)",
		e.pid, supervisor.AnswerTimeout, e.pid, e.pid)
}

func (e *notAnsweringError) Unwrap() error { return e.err }

// daemonPID is the recorded daemon's pid, 0 when none is recorded.
func daemonPID(f *state.File) int {
	if f == nil || f.Daemon == nil {
		return 0
	}
	return f.Daemon.PID
}

// daemonIdentity is the recorded daemon, when it is still that process.
func daemonIdentity(f *state.File) (proc.Identity, bool) {
	if f == nil || f.Daemon == nil || !f.Daemon.Alive() {
		return proc.Identity{}, false
	}
	return f.Daemon.Identity, true
}
