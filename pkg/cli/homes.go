package cli

import (
	"cmp"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// serverInHome is a server mictl did not start (by hand, or systemd
// running a generated home) running in the home of an instance mictl up
// would start: up refuses to start a second one there, which would render
// the home again, take over its pid file and fight it for the ports.
// It holds the home as a stranger holds a port: holder_pid and
// holder_process, as every holder is spelled in every output.
type serverInHome struct {
	Instance      string `json:"instance"`
	Home          string `json:"home"`
	HolderPID     int    `json:"holder_pid"`
	HolderProcess string `json:"holder_process"`
	Message       string `json:"message"`
}

// serversInHomes finds the servers running in the homes of the instances
// t's configuration names that f does not show as running or about to run
// (those are the daemon's, which ends or adopts what it finds). The home's
// pid file names such a server, which is cheap to read (a walk of every
// command line is not).
func serversInHomes(t *reconcile.Target, f *state.File) ([]serverInHome, error) {
	found := []serverInHome{}
	for _, name := range t.Config.Names() {
		if rec, known := f.Instance(name); known && reconcile.Active(*rec) {
			continue
		}
		dir, err := t.Home(name)
		if err != nil {
			return nil, err
		}
		st, ok := home.Server(dir)
		if !ok {
			continue
		}
		shown := t.Config.InstanceDir(name)
		found = append(found, serverInHome{
			Instance: name, Home: dir, HolderPID: st.PID, HolderProcess: st.Comm,
			Message: fmt.Sprintf("%s's home %s runs a server mictl did not start (pid %d, %s): mictl up starts no second one there; stop what started it, or end it with mictl down %s",
				name, shown, st.PID, st.Comm, name),
		})
	}
	return found, nil
}

// refuseServersInHomes refuses to start an instance whose home already
// runs a server mictl did not start. With -o json it prints, as a refusal
// for conflicts does, check-conflicts' document, whose servers_in_homes
// names them: a script reading up -o json got an empty stdout.
func refuseServersInHomes(streams *IOStreams, t *reconcile.Target, f *state.File, output string) error {
	found, err := serversInHomes(t, f)
	if err != nil || len(found) == 0 {
		return err
	}
	if output == formatJSON {
		if err := writeJSON(streams.Out, newConflictsReport(t, f, t.Conflicts(), found)); err != nil {
			return err
		}
	}
	var names, lines []string
	for _, s := range found {
		names = append(names, s.Instance)
		lines = append(lines, fmt.Sprintf("%s: pid %d (%s) runs in %s", s.Instance, s.HolderPID, s.HolderProcess, t.Config.InstanceDir(s.Instance)))
	}
	return exitcode.With(exitcode.Runtime, fmt.Errorf(
		"a server mictl did not start already runs in the home of %s:\n  %s\nstop it first (stop the service or command that started it, or end it with mictl down %s), then run mictl up again",
		strings.Join(names, ", "), strings.Join(lines, "\n  "), strings.Join(names, " ")))
}

// refuseSecondDeployment refuses to start instances under an instances_dir
// where none run when a daemon following the same mictl.toml runs them
// elsewhere: instances_dir was changed in the file while they ran, and a
// second set would start beside the first, on other offsets. Looked for
// only when the file sets instances_dir (the walk of the process list is
// not for every fresh up): a directory named on the command line (a flag,
// the environment) is the user's choice of a second deployment.
func refuseSecondDeployment(cfg *config.Config, f *state.File) error {
	if len(f.Instances) > 0 || cfg.File == "" || cfg.IsDefault("instances_dir") || cfg.FromCommandLine("instances_dir") {
		return nil
	}
	pid, dir, ok := daemon.Elsewhere(cfg.File, cfg.InstancesDir)
	if !ok {
		return nil
	}
	return &config.Error{Where: cfg.Origin("instances_dir"), Msg: fmt.Sprintf(
		"instances_dir is %s, but a mictl daemon (pid %d) following this file runs its instances under %s: set instances_dir back to it, or stop them first (mictl down --instances-dir %s); to run a second deployment, name its directory with --instances-dir",
		asTyped(cfg.InstancesDir), pid, dir, dir)}
}

// refuseAnotherConfig refuses to start instances under a running daemon
// that follows another configuration file than this up's: up would start
// them as this file plans them (its CApps, overrides, count), under a
// daemon whose next reload of its own file changes them again, while
// status says all is well meanwhile (an up --instances-dir into another
// project's instances started two instances without the fleet's CApp).
// A daemon started without a file follows the mictl.toml that appears in
// its directory: an up without one there either plans as it does.
func refuseAnotherConfig(cfg *config.Config, f *state.File) error {
	if f.Daemon == nil || !f.Daemon.Alive() {
		return nil
	}
	theirs, named := daemonFile(f.Daemon.Args)
	ours, err := filepath.Abs(cmp.Or(cfg.File, config.DefaultFile))
	if theirs == "" || err != nil || fsutil.SameFile(theirs, ours) || (!fsutil.Exists(theirs) && !fsutil.Exists(ours)) {
		return nil
	}
	change := fmt.Sprintf("run mictl up with --config %s (or from its directory)", theirs)
	if !named && !fsutil.Exists(theirs) {
		theirs = fmt.Sprintf("the mictl.toml of %s (none there yet)", filepath.Dir(theirs))
		change = "run mictl up from that directory"
	}
	return exitcode.Usagef("the instances under %s are supervised by a mictl daemon (pid %d) that follows %s, not %s: %s to change them, or stop them first (mictl down --instances-dir %s)",
		asTyped(cfg.InstancesDir), f.Daemon.PID, theirs, ours, change, asTyped(cfg.InstancesDir))
}

// prepareHomes is t.Prepare, warning of each deployment.toml edited in a
// home that it rendered again (where the edit is kept), failed or not:
// an up that replaced an operator's edit without a word lost it.
func prepareHomes(streams *IOStreams, t *reconcile.Target, f *state.File, names []string) ([]state.Instance, error) {
	records, err := t.Prepare(f, names)
	for _, kept := range t.EditsKept {
		fmt.Fprintf(streams.ErrOut, "warning: %s\n", kept)
	}
	return records, err
}

// noteComments says which running instances' homes lack an edit of the
// comments or layout of the deployment.toml mictl renders (names, see
// reconcile.Changes.Comments), which restarts nothing: diff said "no
// changes" while their homes lacked it.
func noteComments(streams *IOStreams, names []string) {
	if len(names) == 0 {
		return
	}
	fmt.Fprintf(streams.ErrOut, "note: %s: conf/deployment.toml in the home differs from what mictl renders in comments or layout only, which restarts nothing: applied at each instance's next start (mictl restart %s applies it now)\n",
		strings.Join(names, ", "), strings.Join(names, " "))
}
