package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// Rebuild reconstructs the state file from the instance homes under
// instancesDir, for when state.json is corrupt or lost, keeping what can
// be recovered:
//   - each home's deployment.toml gives its ports;
//   - its pid file, checked against /proc (alive, and running with this
//     home as CARBON_HOME), gives its server, and the server gives its
//     launch (-DportOffset, the metrics flag, the environment mictl passed)
//     and, from its start time, the uptime;
//   - the event log gives the restarts, and whether the instance was meant
//     to run: one whose server is gone although its last event says it ran
//     (killed while the file was unreadable) is recorded crashed, so the
//     next daemon starts it again; one stopped or failed stays so;
//   - the CApps mictl put in its carbonapps/ are recorded again, so that a
//     reload does not copy them anew. Those the source distribution ships
//     in its own carbonapps/ came with the clone, and are not recorded, as
//     an up does not record them: a record is what mictl put there and
//     removes once no longer declared. The distribution is the one the
//     home says it was last synced from (home.SyncedFrom): the caller's
//     dist, derived from mictl.toml, is not it after an up with --mi-home,
//     nor, for some homes, after a reload to another mi_home that ended
//     halfway. dist is for a home an older mictl cloned, which does not
//     say; "" when the caller does not know it either (every CApp named
//     after its id is then taken for mictl's).
func Rebuild(instancesDir, bind, dist string) (*state.File, error) {
	names, err := homeNames(instancesDir)
	if err != nil {
		return nil, fmt.Errorf("rebuild the state from %s: %w", instancesDir, err)
	}
	history := eventHistory(filepath.Join(instancesDir, ".mictl", eventsFile))
	shipped := map[string]map[string]bool{} // by distribution, each read once
	f := &state.File{Version: state.SchemaVersion}
	for _, name := range names {
		dir, err := filepath.Abs(filepath.Join(instancesDir, name))
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(home.ConfPath(dir))
		if err != nil {
			continue
		}
		doc, err := deploytoml.Parse(home.ConfPath(dir), data)
		if err != nil {
			continue
		}
		bases, err := doc.BasePorts()
		if err != nil {
			continue
		}
		offset, _, _ := doc.Offset()
		from, ok := home.SyncedFrom(dir)
		if !ok {
			from = dist
		}
		if shipped[from] == nil {
			shipped[from] = shippedFiles(from)
		}
		h := history[name]
		inst := state.Instance{Name: name, Home: dir, Bind: bind, State: StateStopped, Restarts: h.restarts, Apps: deployedApps(dir, shipped[from])}
		if st, ok := home.Server(dir); ok {
			inst.Server, inst.PGID, inst.State = st.Identity(), st.PGID, StateReady
			switch h.last {
			case StateDegraded:
				inst.State = StateDegraded
			case StateStopping: // a stop under way: the next daemon finishes it
				inst.State = StateStopping
			}
			if b := proc.Getenv(st.PID, "MICTL_SIM_BIND"); b != "" {
				inst.Bind = b
			}
			inst.Args = launchArgs(proc.Args(st.PID), &offset)
			inst.Env = CaptureEnv(proc.Environ(st.PID))
			if at, ok := proc.StartedAt(st); ok {
				inst.StartedAt = at
			}
		} else if Wanted(h.last) {
			inst.State = StateCrashed
			inst.SetError("server gone while the state file could not be read", "the server was gone when the state file was rebuilt; its last event was "+h.last)
			// Launched again as it last was: with offset_method "flag",
			// deployment.toml holds the distribution's offset, and a start
			// without -DportOffset would take the distribution's ports.
			inst.Args = launchArgs(h.args, &offset)
		}
		inst.Offset, inst.Ports = offset, bases.Shift(offset)
		f.Instances = append(f.Instances, inst)
	}
	return f, nil
}

// launchArgs are the arguments of a server's command line (or of its
// start script) that mictl gives a launch: -DportOffset=N, which sets
// *offset, and the metrics flag.
func launchArgs(args []string, offset *int) []string {
	var out []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, ports.OffsetFlag); ok {
			if o, err := strconv.Atoi(v); err == nil {
				*offset = o
				out = append(out, a)
			}
		}
	}
	if slices.Contains(args, reconcile.MetricsFlag) {
		out = append(out, reconcile.MetricsFlag)
	}
	return out
}

// LostError says that a state file does not exist while servers mictl
// started still run in homes under its instances directory: deleted (by
// hand, a cleanup job) with its daemon gone. Read as an empty file, it
// would say that nothing runs, and every command would take those
// servers for strangers (up refusing to start beside them, a plan placing
// instances around their ports). It is rebuilt as a corrupt one is.
type LostError struct {
	Path string
	// Running are the instances whose servers run.
	Running []string
}

func (e *LostError) Error() string {
	return fmt.Sprintf("state file %s is missing, but servers mictl started still run in the homes of %s", e.Path, strings.Join(e.Running, ", "))
}

// Lost returns a *LostError when store's state file does not exist while
// servers mictl started run in homes under its instances directory, nil
// otherwise. mictl started a server when its home's pid file names it,
// running with that home as its CARBON_HOME (home.Server), and the event
// log's last word on that instance says it was meant to run or was being
// stopped: not a server started by hand after a mictl down. A missing file
// with no such server is what the first up finds, and what down --purge
// leaves: nothing runs, nothing is rebuilt, and homes a down left stay
// homes (a plain down keeps them in the file; once the file is gone there
// is nothing in them to adopt).
func Lost(store *state.Store) *LostError {
	if _, err := os.Stat(store.Path()); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	instancesDir := filepath.Dir(store.Dir())
	names, _ := homeNames(instancesDir)
	var live []string
	for _, name := range names {
		dir, err := filepath.Abs(filepath.Join(instancesDir, name))
		if err != nil {
			continue
		}
		if _, ok := home.Server(dir); ok {
			live = append(live, name)
		}
	}
	if len(live) == 0 {
		return nil // the usual case, read without the event log
	}
	history := eventHistory(filepath.Join(store.Dir(), eventsFile))
	var running []string
	for _, name := range live {
		if last := history[name].last; Wanted(last) || last == StateStopping {
			running = append(running, name)
		}
	}
	if len(running) == 0 {
		return nil
	}
	return &LostError{Path: store.Path(), Running: running}
}

// homeNames are the names of the directories under instancesDir that may
// be instance homes, in natural order (mi-2 before mi-10), as instances
// are numbered. None when instancesDir does not exist.
func homeNames(instancesDir string) ([]string, error) {
	entries, err := os.ReadDir(instancesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && config.ValidateName(e.Name()) == nil { // not .mictl, .dist
			out = append(out, e.Name())
		}
	}
	slices.SortFunc(out, config.CompareNames)
	return out, nil
}

// history is what the event log says of one instance: its last state and
// how often it was restarted in its last run (a start after it failed
// begins a new one, as an up's record does; after a stop, the log cannot
// tell an up's from a restart's, which goes on counting).
type history struct {
	last     string
	restarts int
	// args are the start script's arguments at its last start, as the
	// starting event says them (runner.start).
	args []string
}

// startedScript begins the message of the event of a start: the start
// script, then its arguments.
const startedScript = "started " + home.StartScript

// eventHistory reads the event log (one line per event, see parseEvent),
// its rotated copies first, for each instance's history.
// A missing or unreadable log gives none (or what was read of it):
// instances are then rebuilt from their homes alone.
func eventHistory(path string) map[string]history {
	out := map[string]history{}
	_ = eachEvent(path, func(line string) {
		ev, ok := parseEvent(line)
		if !ok || !isState(ev.State) {
			return // cut short, or a deployment's event, or an app's
		}
		name, st := ev.Instance, ev.State
		h := out[name]
		if st == StateStarting && h.last == StateFailed {
			h.restarts = 0
		}
		// A restart counts once made: the start after a backoff, or the
		// failure to put its home right before that start (one stopped
		// while it waited was never made).
		if h.last == StateBackoff && (st == StateStarting || st == StateFailed) {
			h.restarts++
		}
		h.last = st
		if args, ok := strings.CutPrefix(ev.Message, startedScript); ok && st == StateStarting {
			h.args = strings.Fields(args)
		}
		out[name] = h
	})
	return out
}

// isState reports whether s is an instance lifecycle state.
func isState(s string) bool {
	switch s {
	case StateStarting, StateReady, StateDegraded, StateCrashed, StateBackoff, StateStopping, StateStopped, StateFailed:
		return true
	}
	return false
}

// shippedFiles are the names of the CApps the distribution dist ships in
// its carbonapps/ (none when dist is "" or cannot be read).
func shippedFiles(dist string) map[string]bool {
	out := map[string]bool{}
	if dist == "" {
		return out
	}
	paths, _ := home.ShippedCApps(dist)
	for _, p := range paths {
		out[filepath.Base(p)] = true
	}
	return out
}

// deployedApps lists the CApps in dir's carbonapps/ that mictl put there
// (named after their id, as SyncApps names them): not those of shipped,
// the file names of the distribution's own, which every home has from
// it (mictl refuses to declare an app with the id of one of them).
func deployedApps(dir string, shipped map[string]bool) []state.App {
	entries, err := os.ReadDir(home.CarbonAppsDir(dir))
	if err != nil {
		return nil
	}
	var out []state.App
	for _, e := range entries {
		path := filepath.Join(home.CarbonAppsDir(dir), e.Name())
		if !strings.HasSuffix(e.Name(), ".car") || shipped[e.Name()] {
			continue
		}
		app, err := capp.Read(path)
		if err != nil || app.ID()+".car" != e.Name() {
			continue
		}
		out = append(out, reconcile.Stamped(state.App{ID: app.ID(), File: e.Name(), SHA256: app.SHA256}, path))
	}
	return out
}
