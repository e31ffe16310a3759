package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/shellword"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

type initOptions struct {
	path  string
	force bool
}

func newCmdInit(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented mictl.toml with the default settings",
		Long: `Write mictl.toml in the current directory: every setting with its default
value and a comment saying what it does, and a commented [[instance]]
example; at --path (or --config) instead, making its directory (both,
naming different files, are refused: exit 2). It refuses
to overwrite an existing file unless --force is given, and, even with
--force, the file of instances that run: the daemon follows it and would
apply the defaults at once (stopping the instances they do not name).`,
		Example: `  mictl init
  mictl init --path deploy/mictl.toml --force`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case !cmd.Flags().Changed("path") && g.configPath != "":
				o.path = g.configPath // the file the other commands will read
			case g.configPath != "" && !fsutil.SameFile(o.path, g.configPath):
				// Neither wins: init wrote --path's file in silence while
				// the user may have meant --config's, which the other
				// commands then read (and found missing, or stale).
				return exitcode.Usagef("--path %s and --config %s name different files; give one of them (init writes --config's file when --path is not given)", o.path, g.configPath)
			}
			return runInit(streams, o)
		},
	}
	cmd.Flags().StringVar(&o.path, "path", config.DefaultFile, "where to write the file (--config's file when that is given)")
	cmd.Flags().BoolVar(&o.force, "force", false, "overwrite an existing file")
	return cmd
}

func runInit(streams *IOStreams, o *initOptions) error {
	if info, err := os.Stat(o.path); err == nil && info.IsDir() {
		return exitcode.Usagef("%s is a directory; give --path a file to write", o.path)
	} else if err == nil && !o.force {
		return exitcode.Usagef("%s already exists; use --force to overwrite it", o.path)
	} else if err == nil {
		if err := refuseLiveConfig(o.path); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return notWritten(o.path, err)
	}
	if err := os.MkdirAll(filepath.Dir(o.path), 0o755); err != nil {
		return notWritten(o.path, err)
	}
	if err := fsutil.WriteFileAtomic(o.path, []byte(InitTemplate()), 0o644); err != nil {
		return notWritten(o.path, err)
	}
	fmt.Fprintf(streams.ErrOut, "wrote %s\n", o.path)
	return nil
}

// notWritten is init's failure to write the file at path (err, of the
// step that failed): which file, why, and what to do, whatever the step.
// Only a directory it may not write was given advice: init --path
// /proc/foo.toml said "write /proc/foo.toml: no such file or directory",
// nothing more. The path is not said twice where err names it already:
// a stat's (fs.PathError), or fsutil.WriteFileAtomic's, which wraps what
// the system said (an errno) in "write PATH: ".
func notWritten(path string, err error) error {
	why := err
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		if pe.Path == path {
			why = pe.Err
		} // another path (mkdir's, of a directory) is said with it
	default:
		if cause, ok := errors.Unwrap(err).(syscall.Errno); ok {
			why = cause
		}
	}
	do := "give --path a file in a directory you can write (init makes one that is missing)"
	if errors.Is(err, fs.ErrPermission) {
		// The directory a missing one would be made in: "make /ro/sub
		// writable" named one that does not exist, under /ro, which
		// refused it.
		dir, _ := fsutil.NearestExisting(filepath.Dir(path))
		do = fmt.Sprintf("make %s writable, or write the file elsewhere with --path", cmp.Or(dir, filepath.Dir(path)))
	}
	return exitcode.With(exitcode.Runtime, fmt.Errorf("init: could not write %s: %w; %s", path, why, do))
}

// refuseLiveConfig refuses to write the defaults over the config file at
// path while instances it configures run: the daemon follows the file
// (and one that replaces a dead daemon applies what changed meanwhile),
// so the defaults would be applied at once. An `init --force` meant to
// refresh the file's comments stopped two of three running servers
// (instances = 1) with nothing said. The instances are looked for where
// the file says (its instances_dir, from the file itself when a link
// names it: from the link's directory, they were not found) and where a
// daemon that follows it supervises them (an up's --instances-dir). A
// file that cannot say where its instances are is no deployment mictl
// could find either: left to --force.
func refuseLiveConfig(path string) error {
	file := path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		file = real
	}
	cfg, _, err := config.LoadLenient(config.Sources{Path: file})
	if err != nil {
		return nil
	}
	dirs := []string{cfg.InstancesDir}
	if _, elsewhere, ok := daemon.Elsewhere(file, cfg.InstancesDir); ok {
		dirs = append(dirs, elsewhere)
	}
	for _, dir := range dirs {
		active := runningFrom(dir, file)
		if len(active) == 0 {
			continue
		}
		down := supervisor.Mictl(path) + " down"
		if dir != cfg.InstancesDir {
			down += " --instances-dir " + shellword.Quote(dir)
		}
		return exitcode.Usagef("%s configures the instances running under %s (%s), and the mictl daemon follows it: the defaults written over it would be applied at once (the instances they do not name stopped, the others restarted where their settings change); write them elsewhere (mictl init --path %s) and copy what you need from there, or stop the instances first (%s)",
			path, asTyped(dir), strings.Join(active, ", "), shellword.Quote(path+".defaults"), down)
	}
	return nil
}

// runningFrom lists the instances under dir that run, or are meant to,
// supervised by a daemon that follows the config file file.
func runningFrom(dir, file string) []string {
	store, err := state.OpenExisting((&config.Config{InstancesDir: dir}).StateDir())
	if err != nil {
		return nil
	}
	f, err := store.Load()
	if err != nil || f.Daemon == nil {
		return nil
	}
	if theirs, _ := daemonFile(f.Daemon.Args); theirs == "" || !fsutil.SameFile(theirs, file) {
		return nil
	}
	var active []string
	for _, inst := range f.Instances {
		if reconcile.Active(inst) {
			active = append(active, inst.Name)
		}
	}
	return active
}

// InitTemplate is the mictl.toml that `mictl init` writes, generated from
// config.Settings so it always lists every setting with its real default.
func InitTemplate() string {
	var b strings.Builder
	b.WriteString("# mictl configuration. Every setting below shows its default.\n")
	b.WriteString("# Precedence: command-line flag > MICTL_* environment variable > this file > default.\n")
	// Said where it is edited: an operator staging an upgrade here (a new
	// mi_home) to look at it with mictl diff first found every instance
	// restarted onto it as the file was saved.
	b.WriteString("# While instances run, the mictl daemon applies each edit of this file as it\n")
	b.WriteString("# is saved, restarting the instances it changes one at a time (a new mi_home\n")
	b.WriteString("# restarts them all onto it); the flags of the last mictl up stand over it.\n\n")
	for _, s := range config.Settings {
		if s.Flag != "" {
			fmt.Fprintf(&b, "# %s\n# (flag --%s, environment %s)\n", s.Help, s.Flag, s.Env())
		} else {
			fmt.Fprintf(&b, "# %s\n# (environment %s)\n", s.Help, s.Env())
		}
		line := ""
		switch def := s.Default.(type) {
		case int, bool:
			line = fmt.Sprintf("%s = %v", s.Key, def)
		case string, time.Duration:
			line = fmt.Sprintf("%s = %q", s.Key, fmt.Sprint(def))
		}
		if s.Secret {
			line = "# " + line // a secret is set on purpose, never by a template
		}
		b.WriteString(line + "\n\n")
	}
	b.WriteString(`# The Carbon Applications (.car) every instance runs, deployed into each
# instance's repository/deployment/server/carbonapps/ (relative paths are
# from this file's directory). An [[instance]] may list its own as well.
# mictl deploy and mictl undeploy edit this list.
# capps = ["build/orders_1.0.0.car"]

`)
	b.WriteString(`# Per-instance settings. An [[instance]] whose name is <name_prefix>-N
# customises that instance; any other name adds an instance after them.
# "offset" is kept exactly as given (and checked); "overrides" maps
# deployment.toml key paths to the values this instance's file should hold;
# "capps" adds CApps to this instance only.
#
# [[instance]]
# name = "mi-2"
# offset = 30
# capps = ["build/edge_1.0.0.car"]
# overrides = { "server.hostname" = "mi-2.local", "transport.http.listener.port" = 8300 }
`)
	return b.String()
}
