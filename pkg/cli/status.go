package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/companion"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/planflags"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/top"
	"github.com/mictl/mictl/pkg/words"
)

type statusOptions struct {
	output string
}

func newCmdStatus(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:        "status [NAME...]",
		SuggestFor: []string{"list", "ls", "show"},
		Aliases:    []string{"ps"},
		Short:      "Show every instance's state, pid, uptime, restarts and health",
		Long: `Show each instance: its state (starting, ready, degraded, crashed, backoff,
stopping, stopped, failed), the pid of its server process, uptime, restarts
(those made: one waiting in backoff counts once made, and health numbers it,
"restart N at HH:MM:SS"), offset and health: "ok" when ready, else a short
reason naming the cause.
Named instances are shown in full: ports, home, the whole last error and
their recent events (in -o json, recent_events: null unless named).

The supervisor daemon is asked first: while it runs, its memory is the
truth (ahead of the state file when the file cannot be written, which is
shown). Below the table: a configuration edit the daemon refused or
failed to apply, a state file that could not be saved, a daemon that does
not answer.

If the supervisor daemon died while instances kept running, status starts
a new one, which re-adopts them (checking pid and process start time, so a
reused pid is never mistaken for an instance), and says so on stderr. status changes nothing in a
directory it may not write: it shows what it finds.

Exit status: 3 when an instance it shows is failed, crashed, backoff or
degraded (not serving, or serving with a faulty CApp, because something
went wrong; while the daemon answers, as it records them), naming them
on stderr, with the mictl up that starts a failed one again (the daemon
gave it up; mictl restart takes only running instances), after printing
the table or JSON as usual, and when the
daemon does not answer (stopped or hung: nothing restarts what crashes),
saying how to resume or end it; 2 on usage or configuration errors, such
as a NAME no instance has;
` + exitInterrupted + `; 0
otherwise (starting, stopping and stopped are what mictl or you are
doing), so a check can be: mictl status mi-2 || alert.`,
		Example: `  mictl status
  mictl status mi-2
  mictl status mi-2 >/dev/null || echo "mi-2 needs attention"
  mictl ps -o json`,
		ValidArgsFunction: completeInstanceNames(g),
		RunE: func(cmd *cobra.Command, names []string) error {
			if err := validateFormat(o.output, formatTable, formatJSON); err != nil {
				return err
			}
			e, err := openExisting(cmd, g, streams, lookOnly)
			if err != nil {
				return err
			}
			if err := checkNames(e.state, e.cfg.InstancesDir, names); err != nil {
				return err
			}
			r, err := e.observe(cmd, streams)
			if err != nil {
				return err
			}
			if r.ReloadError == nil {
				e.warnConfig(streams)
			}
			r.empty = e.noInstances()
			r.here = e.here
			if err := printStatusReport(streams, r, names, o.output, e.store); err != nil {
				return err
			}
			return unhealthy(r, names, e.cfg.Names())
		},
	}
	addDirFlag(cmd)
	addOutputFlag(cmd, &o.output, formatTable, formatJSON)
	return cmd
}

// observe asks the daemon for its view of the deployment (starting a
// new daemon first if the instances want one and none runs), and falls
// back to the state file. Its error is a Ctrl-C during a wait on the
// daemon, which says so.
func (e *existing) observe(cmd *cobra.Command, streams *IOStreams) (statusReport, error) {
	if e.store == nil {
		return newStatusReport(e.state, nil, nil, nil), nil
	}
	var reply supervisor.Reply
	err := ensureDaemon(cmd.Context(), streams, e, true)
	switch {
	case exitcode.Of(err) == exitcode.Interrupted:
		return statusReport{}, err
	case errors.Is(err, supervisor.ErrNotAnswering):
		// Asking it again would wait as long again: err is the problem.
	case err != nil:
		fmt.Fprintf(streams.ErrOut, "warning: %v\n", err)
		fallthrough
	default:
		reply, err = askDaemon(cmd.Context(), e.store, e.state, supervisorRequest(supervisor.OpStatus), nil)
	}
	if exitcode.Of(err) == exitcode.Interrupted {
		return statusReport{}, err
	}
	if err == nil && reply.State != nil {
		return newStatusReport(reply.State, newDaemonInfo(reply.PID, true), reply.SaveFailure, nil), nil
	}
	r := fileReport(e.store, e.state, err)
	if r.Daemon == nil {
		noteUnfinishedStops(streams, r.file)
	}
	return r, nil
}

// fileReport is the status when the daemon could not be asked (err; nil
// or ErrNoDaemon when none runs): the state file is all there is (f, or
// the store's newer one), and the daemon it records is shown not
// answering, err its daemon_problem.
func fileReport(store *state.Store, f *state.File, err error) statusReport {
	if fresh, ferr := store.Load(); ferr == nil {
		f = fresh
	}
	var d *daemonInfo
	if id, ok := daemonIdentity(f); ok {
		d = newDaemonInfo(id.PID, false)
	}
	var problem error
	if err != nil && !isNoDaemon(err) {
		problem = err
	}
	return newStatusReport(f, d, nil, problem)
}

// showUnanswered ends up, restart and reload, which end showing the
// status, when err says the daemon they asked does not answer: they
// printed nothing, and a -o json reader got an empty stdout beside exit
// 3, where status prints the state file with the daemon not answering.
// They print that too (err, their error, is said once: the report's
// footer leaves out a daemon that does not answer). Any other err is
// returned as it is.
func showUnanswered(streams *IOStreams, store *state.Store, f *state.File, format string, err error) error {
	if !errors.Is(err, supervisor.ErrNotAnswering) {
		return err
	}
	if perr := printStatusReport(streams, fileReport(store, f, err), nil, format, store); perr != nil {
		return errors.Join(err, perr)
	}
	return err
}

// noteUnfinishedStops says which instances f records stopping while no
// daemon runs to finish the stop (a down interrupted twice, or killed;
// a daemon killed as it stopped them): status would show them stopping
// for good, exit 0, and a server that ignores SIGTERM running on.
func noteUnfinishedStops(streams *IOStreams, f *state.File) {
	var names []string
	for _, inst := range f.Instances {
		if inst.State == supervisor.StateStopping {
			names = append(names, inst.Name)
		}
	}
	if len(names) > 0 {
		fmt.Fprintf(streams.ErrOut, "note: %s recorded stopping, but no mictl daemon is there to finish the stop (a down interrupted, or a daemon killed): mictl down %s finishes it\n",
			strings.Join(names, ", "), strings.Join(names, " "))
	}
}

// reportAfter is the status shown once a command has acted through the
// daemon (reply; a zero Reply when it acted without one), its request
// ended by callErr: the daemon's own view when the state file is behind
// it or the reply carries it, else the file. The daemon that answered is
// shown answering only while it stays (see stays).
func reportAfter(store *state.Store, reply supervisor.Reply, callErr error) (statusReport, error) {
	file, err := store.Load()
	f := reply.State
	if f == nil {
		if err != nil {
			return statusReport{}, err
		}
		f = file
	}
	var d *daemonInfo
	if stays(reply, file) {
		d = newDaemonInfo(reply.PID, true)
	}
	if errors.Is(callErr, supervisor.ErrInterrupted) {
		f = stopUnderWay(f)
	}
	return newStatusReport(f, d, reply.SaveFailure, nil), nil
}

// stays reports whether the daemon that answered reply still runs and
// stays, file (nil when unreadable) being the state file read after the
// answer. Its answer alone does not say so: a mictl down during up's
// start made the daemon leave as up reported, and up's JSON said
// "answering": true of a daemon that mictl status, run right after,
// showed gone (null). A daemon that leaves clears its record in the file
// first; one the file wants nothing of leaves (supervisor.Daemon.Unneeded)
// unless a command asks for instances meanwhile, and is waited for, up
// to daemonLeaves, as down waits for it (supervisor.CallUntilLeft). One
// whose last write failed stays until the file holds what it knows
// (SaveFailure): its record may be missing there while it runs.
func stays(reply supervisor.Reply, file *state.File) bool {
	if reply.PID == 0 {
		return false
	}
	if reply.SaveFailure != nil || file == nil {
		id, err := proc.Identify(reply.PID)
		return err == nil && id.Alive()
	}
	// Another daemon recorded is one a concurrent up started after this
	// one left.
	id, alive := daemonIdentity(file)
	if !alive || id.PID != reply.PID {
		return false
	}
	if file.WantsAny() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), daemonLeaves)
	defer cancel()
	return proc.WaitExit(ctx, id) != nil && id.Alive()
}

// daemonLeaves bounds the wait for a daemon with nothing left to do to
// exit: it looks as soon as its last instance's runner returns
// (supervisor.Supervisor.RunnerEnded), and leaves within milliseconds.
const daemonLeaves = 3 * time.Second

// stopUnderWay is f as the stop of every instance that interrupted a
// restart or a reload (mictl down) leaves it: each instance f records as
// running is one that stop is ending, stopping. f may be of the moment
// before the stop recorded it: the restart's table said "ready", health
// ok, of instances whose servers the down was ending.
func stopUnderWay(f *state.File) *state.File {
	out := *f
	out.Instances = slices.Clone(f.Instances)
	for i := range out.Instances {
		if supervisor.Wanted(out.Instances[i].State) {
			out.Instances[i].State = supervisor.StateStopping
		}
	}
	return &out
}

// isNoDaemon reports whether err only says that no daemon runs.
func isNoDaemon(err error) bool { return errors.Is(err, supervisor.ErrNoDaemon) }

// supervisorRequest is a request for op on every instance.
func supervisorRequest(op string) supervisor.Request { return supervisor.Request{Op: op} }

// addDirFlag registers --instances-dir alone, for commands that work on
// existing instances rather than a plan.
func addDirFlag(cmd *cobra.Command) {
	for _, s := range config.Settings {
		if s.Key == "instances_dir" {
			planflags.RegisterSetting(cmd.Flags(), s)
			_ = cmd.MarkFlagDirname(s.Flag)
		}
	}
}

// statusReport is `mictl status -o json` (and the JSON of up, down and
// restart, which end by showing it). Every key is always present; null
// means unknown or not applicable.
type statusReport struct {
	Instances []statusRow `json:"instances"`
	// Daemon is the supervisor daemon, null when none runs.
	Daemon *daemonInfo `json:"daemon"`
	// ReloadError is why the daemon refused the configuration as last
	// edited (what runs is the configuration before it), or failed
	// applying it (ReloadBegun).
	ReloadError *string `json:"reload_error"`
	// ReloadBegun says a reload's failure once it had begun changing
	// things stands in ReloadError: what it did before stands
	// (state.File.ReloadBegun); false for a refusal alone, null with no
	// ReloadError.
	ReloadBegun *bool `json:"reload_begun"`
	// ReloadRefused says the last reload was refused (ReloadError begins
	// with its refusal), beside a begun failure that stands or alone;
	// null with no ReloadError. The table's footer says each apart, and
	// with reload_begun alone a reader of -o json could not.
	ReloadRefused *bool `json:"reload_refused"`
	// ReloadLeftFailed are the instances the failure of reload_error,
	// once begun, left failed, which it stands for (mictl up starts them
	// once it is fixed): state.File.ReloadLeftFailed, which the daemon
	// kept and -o json left out. Null unless ReloadBegun is true.
	ReloadLeftFailed []string `json:"reload_left_failed"`
	// SaveFailure says the state file is behind the daemon's memory.
	SaveFailure *supervisor.SaveFailure `json:"save_failure"`
	// DaemonProblem is why the daemon could not be asked, if it could not.
	DaemonProblem *string `json:"daemon_problem"`

	file *state.File // what the report was made from
	// refusal is the refusal of the last reload when the failure of a
	// reload before it stands (state.File.ReloadRefused), and standing
	// that failure's text (state.File.StandingReload): the footer says
	// each as what it is. Said as one begun failure, the footer told a
	// refused configuration as applied up to what followed.
	refusal, standing string
	// refusalSaid says ReloadError is the error of the command that
	// shows the report (a refused or failed reload): the footer leaves
	// it out.
	refusalSaid bool
	// daemonHung says DaemonProblem is a daemon that does not answer:
	// nothing may be restarting what crashes, which status's exit says.
	daemonHung bool
	// empty is what the table says when there is no instance, where
	// noInstancesHint is not all (status: where it looked).
	empty string
	// here is asRunHere for the configuration status read (nil: as is).
	here func(command string) string
	// stateDir is the state directory, where the daemon's failed saves
	// go (SaveFailure).
	stateDir string
}

type daemonInfo struct {
	PID       int  `json:"pid"`
	Answering bool `json:"answering"`
	// OtherBuild says whether the daemon runs another build of mictl than
	// this command (started before mictl was upgraded or rebuilt: it goes
	// on with its own code); null when the builds cannot be told apart
	// (uncommitted, unstamped builds) or its program cannot be read.
	OtherBuild *bool `json:"other_build"`
}

// newDaemonInfo describes the daemon of process pid.
func newDaemonInfo(pid int, answering bool) *daemonInfo {
	d := &daemonInfo{PID: pid, Answering: answering}
	if same, known := companion.SameBuildAsProcess(pid, companion.Running()); known {
		d.OtherBuild = ptr(!same)
	}
	return d
}

// statusRow is one instance.
type statusRow struct {
	Name          string    `json:"name"`
	State         string    `json:"state"`
	PID           *int      `json:"pid"`
	UptimeSeconds *float64  `json:"uptime_seconds"`
	Restarts      int       `json:"restarts"`
	Offset        int       `json:"offset"`
	Ports         ports.Set `json:"ports"`
	// Health is "ok" when ready, else a short reason naming the cause;
	// null when there is nothing to say (stopped).
	Health *string `json:"health"`
	// LastError is the whole of the last failure: every line of it.
	LastError *string `json:"last_error"`
	Home      string  `json:"home"`
	// Distribution is the MI distribution the home was last brought up
	// to date from, a link's target resolved (/opt/wso2mi-4.5.0 for
	// mi_home = "/opt/wso2mi"): what the instance runs until a restart
	// brings it onto another; null when the home does not say (none yet,
	// or made by an older mictl). An upgrade half applied, or an up
	// --mi-home beside instances of another, left no view of which
	// instance ran which.
	Distribution *string `json:"distribution"`
	// RecentEvents are the last events of the event log about a named
	// instance (status NAME), oldest first: null when it was not named,
	// or its events could not be read.
	RecentEvents []recentEvent `json:"recent_events"`
	// distFiles fingerprints the files of Distribution as the home was
	// synced from them, "" when the home does not say (home.Synced).
	distFiles string
}

// recentEvent is an event of the event log as status NAME -o json gives
// it; the instance is the row's.
type recentEvent struct {
	Time    time.Time `json:"time"`
	State   string    `json:"state"`
	PID     *int      `json:"pid"`     // null when the event names no process
	Message *string   `json:"message"` // null when it says nothing more
	text    string    // the event as the event log's line says it
}

func newRecentEvent(ev supervisor.Event) recentEvent {
	r := recentEvent{Time: ev.Time, State: ev.State, text: ev.String()}
	if ev.PID > 0 {
		r.PID = &ev.PID
	}
	if ev.Message != "" {
		r.Message = &ev.Message
	}
	return r
}

func newStatusReport(f *state.File, d *daemonInfo, saveFailure *supervisor.SaveFailure, daemonProblem error) statusReport {
	r := statusReport{Instances: statusRows(f, d != nil && d.Answering), Daemon: d, SaveFailure: saveFailure, file: f}
	if f.ReloadError != "" {
		refused := !f.ReloadBegun || f.ReloadRefused
		r.ReloadError, r.ReloadBegun, r.ReloadRefused = &f.ReloadError, &f.ReloadBegun, &refused
	}
	if f.ReloadError != "" && f.ReloadBegun {
		r.ReloadLeftFailed = append([]string{}, f.ReloadLeftFailed...)
	}
	if f.ReloadBegun && f.ReloadRefused {
		r.refusal, r.standing = f.ReloadLast, f.StandingReload()
	}
	if daemonProblem != nil {
		msg := daemonProblem.Error()
		r.DaemonProblem = &msg
		r.daemonHung = errors.Is(daemonProblem, supervisor.ErrNotAnswering)
	}
	return r
}

// liveState corrects what the state file says with what /proc says: a
// server that is gone is not "ready", whatever was written before. Gone
// while its start script runs on, it is MI restarting itself (exit 121),
// which the daemon records as starting: read as crashed, status exited 3
// for the moment of every such restart.
func liveState(inst state.Instance) string {
	st, _ := liveLook(inst)
	return st
}

// liveLook is inst's state corrected with /proc (liveState) and its
// server's pid while that runs, 0 otherwise, both from one look at the
// server: with a look each, a server ending between them made a row
// "ready" with no pid.
func liveLook(inst state.Instance) (st string, pid int) {
	alive := !inst.Server.IsZero() && inst.Server.Alive()
	st = inst.State
	if supervisor.Wanted(st) && st != supervisor.StateBackoff && !inst.Server.IsZero() && !alive {
		st = supervisor.StateCrashed
		if !inst.Script.IsZero() && inst.Script.Alive() {
			st = supervisor.StateStarting // MI's script starts java again after an exit 121
		}
	}
	return st, pidWhile(inst, st, alive)
}

// recordedLook is inst's state as an answering daemon recorded it, and
// its server's pid. Ready and degraded are recorded only of the server
// the daemon watches, whose end it records at once: their pid is the
// record's, of the moment the state is of, even when the server ended
// since the answer (mictl down during a restart: a look at /proc then
// made the restart's table say "ready", health ok, with no pid). Another
// state's record may name a server that is not its own any more (a
// start recorded before the server it replaces is forgotten, a stop's):
// its pid while /proc finds it running.
func recordedLook(inst state.Instance) (st string, pid int) {
	serves := inst.State == supervisor.StateReady || inst.State == supervisor.StateDegraded
	return inst.State, pidWhile(inst, inst.State, serves || (!inst.Server.IsZero() && inst.Server.Alive()))
}

// pidWhile is the pid of inst's server for a row in state st while alive
// says the server runs: none for a stopped row.
func pidWhile(inst state.Instance, st string, alive bool) int {
	if alive && st != supervisor.StateStopped && !inst.Server.IsZero() {
		return inst.Server.PID
	}
	return 0
}

// statusRows are the rows of f's instances, each row's state and pid of
// one moment. The state file's states are corrected with /proc
// (liveLook). fromDaemon says f is an answering daemon's memory, whose
// states stand (recordedLook): it sees a server end at once, and
// answers status only once it has taken over its predecessor's instances
// (their dead servers found). A look at /proc after its answer would
// misread the moment after it: a server its reload has just stopped read
// as crashed (status exited 3 during a reload), an instance it is
// starting again still names the old server (the table said crashed while
// status exited 0).
func statusRows(f *state.File, fromDaemon bool) []statusRow {
	look := liveLook
	if fromDaemon {
		look = recordedLook
	}
	rows := make([]statusRow, 0, len(f.Instances))
	scan := &hostScan{}
	for _, inst := range f.Instances {
		st, pid := look(inst)
		r := statusRow{Name: inst.Name, State: st, Restarts: inst.Restarts, Offset: inst.Offset,
			Ports: inst.Ports, Home: inst.Home}
		if pid > 0 {
			r.PID = &pid
			if !inst.StartedAt.IsZero() {
				up := time.Since(inst.StartedAt).Round(time.Second).Seconds()
				r.UptimeSeconds = &up
			}
		}
		inst.Reason, inst.LastError = judgedAdvice(inst, scan)
		if inst.LastError != "" {
			r.LastError = &inst.LastError
		}
		if src, files, ok := home.Synced(inst.Home); ok {
			r.Distribution, r.distFiles = &src, files
		}
		stranger := 0
		if r.State == supervisor.StateStopped {
			stranger = strangerIn(inst.Home)
		}
		switch {
		case r.State == supervisor.StateReady:
			r.Health = ptr("ok")
		case stranger > 0:
			// Started by hand, or by a service running the generated home:
			// mictl up refuses to start a second server there.
			r.Health = ptr(fmt.Sprintf("a server mictl did not start runs in this home (pid %d); mictl down %s ends it", stranger, inst.Name))
		case r.State == supervisor.StateCrashed && inst.State != supervisor.StateCrashed:
			r.Health = ptr(fmt.Sprintf("server pid %d is gone", inst.Server.PID))
		case inst.Reason != "":
			r.Health = &inst.Reason
		case inst.LastError != "" && r.State != supervisor.StateStopped:
			// A stopped instance's last error (a failed one's that down
			// stopped) is history, shown by status NAME, not its health.
			r.Health = ptr(firstLine(inst.LastError))
		}
		rows = append(rows, r)
	}
	return rows
}

// judgedAdvice are inst's reason and last error with their advice to
// stop a stranger holding a port (state.Blocker) judged now: once that
// stranger has exited, they say so instead (see blockerGone), after what
// scan finds.
func judgedAdvice(inst state.Instance, scan *hostScan) (reason, lastError string) {
	b := inst.Blocker
	if b == nil || b.Holder.Alive() {
		return inst.Reason, inst.LastError
	}
	stale, now := b.Remedy(), blockerGone(*b, inst.Bind, scan)
	return strings.Replace(inst.Reason, stale, now, 1), strings.Replace(inst.LastError, stale, now, 1)
}

// blockerGone is the advice about b's port once its holder has exited,
// after what holds the port now on bind (the instance's address), as
// scan finds: none (the port is free: what starts the instance), another
// process (stop it, or start the instance elsewhere), or unknown (the
// host's sockets could not be scanned).
func blockerGone(b state.Blocker, bind string, scan *hostScan) string {
	gone := fmt.Sprintf("pid %d has exited since", b.Holder.PID)
	host, err := scan.at(bind)
	if err != nil {
		return fmt.Sprintf("%s: %s once port %d is free (mictl ports table says what holds it); or %s", gone, b.Again, b.Port, b.Around)
	}
	if held := host.Holder(b.Port).Holder; held != nil {
		return fmt.Sprintf("%s, and port %d is now held by %s: stop it, then %s; or %s", gone, b.Port, *held, b.Again, b.Around)
	}
	return fmt.Sprintf("%s, and port %d is free now: %s", gone, b.Port, b.Again)
}

// liveHost scans the host's sockets; a test counts its calls.
var liveHost = check.LiveHost

// hostScan is the host's sockets as one status sees them: scanned at the
// first instance whose blocker has exited, and shared by the others,
// which each scanned the host again.
type hostScan struct {
	host    check.Host
	err     error
	scanned bool
}

// at is the scan as seen from bind, an instance's address.
func (s *hostScan) at(bind string) (check.Host, error) {
	addr, err := netip.ParseAddr(bind)
	if err != nil {
		return check.Host{}, err
	}
	if !s.scanned {
		s.host, s.err = liveHost(addr)
		s.scanned = true
	}
	host := s.host
	host.Bind = addr // the sockets are the host's, whichever address asks
	return host, s.err
}

// strangerIn is the pid of the server running in home, which a stopped
// instance's record does not name, 0 when there is none.
func strangerIn(dir string) int {
	if st, ok := home.Server(dir); ok {
		return st.PID
	}
	return 0
}

func ptr[T any](v T) *T { return &v }

// healthWidth is the widest HEALTH cell the table shows: the whole reason
// follows the table when it is longer, so the table stays readable in 80
// columns.
const healthWidth = 40

// printStatusReport prints r: every instance, or the named ones in full
// (with their recent events from store, when there is one).
func printStatusReport(streams *IOStreams, r statusReport, names []string, format string, store *state.Store) error {
	if len(names) > 0 {
		r.Instances = slices.DeleteFunc(r.Instances, func(row statusRow) bool { return !slices.Contains(names, row.Name) })
		for i, row := range r.Instances {
			events, err := recentEvents(store, row.Name, 5)
			if err != nil {
				fmt.Fprintf(streams.ErrOut, "warning: the recent events of %s cannot be shown: %v\n", row.Name, err)
			} else {
				r.Instances[i].RecentEvents = events
			}
		}
	}
	if format == formatJSON {
		return writeJSON(streams.Out, r)
	}
	if store != nil {
		r.stateDir = store.Dir()
	}
	if len(names) > 0 {
		for i, row := range r.Instances {
			if i > 0 {
				fmt.Fprintln(streams.Out)
			}
			printStatusDetail(streams.Out, row)
			if len(row.RecentEvents) > 0 {
				lines := make([]string, len(row.RecentEvents))
				for i, ev := range row.RecentEvents {
					lines[i] = ev.text
				}
				fmt.Fprintf(streams.Out, "recent events:\n%s\n", indented(strings.Join(lines, "\n")))
			}
		}
	} else {
		if err := printStatusTable(streams, r.Instances, cmp.Or(r.empty, noInstancesHint)); err != nil {
			return err
		}
		if note := distributionsNote(r.Instances); note != "" {
			fmt.Fprintf(streams.ErrOut, "note: %s\n", note)
		}
	}
	printStatusFooter(streams.ErrOut, r)
	return nil
}

// distributionsNote says which running instances run from which
// distribution when they run from more than one (an upgrade half
// applied, an up --mi-home beside instances of another), "" otherwise:
// the table has no column for it, and each row looked alike. Homes
// synced from distributions with the same files (mi_home moved to a copy
// of it) run one MI: no reload restarts them from one onto the other,
// and the note sent the user to a mictl diff that showed nothing.
func distributionsNote(rows []statusRow) string {
	var dists []string
	names := map[string][]string{}
	files := map[string]bool{} // "" for a home that does not say
	for _, r := range rows {
		if r.PID == nil || r.Distribution == nil {
			continue // not running: its next start brings its home up to date
		}
		if _, seen := names[*r.Distribution]; !seen {
			dists = append(dists, *r.Distribution)
		}
		names[*r.Distribution] = append(names[*r.Distribution], r.Name)
		files[r.distFiles] = true
	}
	if len(dists) < 2 || len(files) == 1 && !files[""] {
		return ""
	}
	parts := make([]string, len(dists))
	for i, dist := range dists {
		parts[i] = fmt.Sprintf("%s from %s", strings.Join(names[dist], ", "), dist)
	}
	return fmt.Sprintf("the instances run from %d distributions: %s; mictl diff shows which a reload restarts onto the configured one", len(dists), strings.Join(parts, "; "))
}

// unhealthy is the exit-3 error naming the instances r shows (those of
// names, when any are named) in a fault state (state.Faulted), nil when
// there is none: a check can be `mictl status mi-2 || ...`, as one is
// with `systemctl status` and `supervisorctl status`. configured are the
// instances the configuration names, for what starts a failed one again.
func unhealthy(r statusReport, names, configured []string) error {
	var hung error
	if r.daemonHung {
		// A check like `mictl status || alert` must see a supervisor that
		// no longer watches: its instances' crashes go unrestarted.
		hung = fmt.Errorf("%s; what is shown is the state file", *r.DaemonProblem)
	}
	// faulted are the instances in a fault state; appsFaulty those of
	// them whose health is MI's faulty CApps, which MI's reason for each,
	// and what brings one back that MI failed for a port taken only for a
	// moment, are the apps view's (the status and the log show the files
	// alone, or MI's lines), each named: with two degraded, status sent
	// the user to mictl apps of the first only; others the rest.
	var faulted, appsFaulty, others []string
	// The daemon gives a failed instance up and restart refuses it: what
	// starts it again is an up (see supervisor.UpCommand), which the
	// error says beside why, for each such up.
	var ups []string
	failedBy := map[string][]string{}
	for _, row := range r.Instances {
		if (len(names) == 0 || slices.Contains(names, row.Name)) && state.Faulted(row.State) {
			faulted = append(faulted, row.Name+" "+row.State)
			if row.Health != nil && len(observe.FaultyAppsIn(*row.Health)) > 0 {
				appsFaulty = append(appsFaulty, row.Name)
			} else {
				others = append(others, row.Name)
			}
			if row.State == state.StateFailed {
				up := upThatStarts(r.file, row.Name, configured, r.here)
				if _, seen := failedBy[up]; !seen {
					ups = append(ups, up)
				}
				failedBy[up] = append(failedBy[up], row.Name)
			}
		}
	}
	if len(faulted) == 0 {
		return exitcode.With(exitcode.Runtime, hung) // nil when it answers
	}
	// An up plans from mictl.toml as it is: while the last reload's
	// error stands (a new mi_home whose servers fail), it starts a failed
	// instance into the same failure. Said as diff's note says it.
	once := onceReloadFixed(r.ReloadError != nil)
	startAgain := ""
	for _, up := range ups {
		startAgain += fmt.Sprintf("; %s starts %s again%s", up, strings.Join(failedBy[up], ", "), once)
	}
	var why []string
	switch {
	case len(others) == 0:
	case len(names) > 0:
		// The status named shows why in full already.
		why = append(why, fmt.Sprintf("`mictl logs %s` says more", others[0]))
	default:
		why = append(why, fmt.Sprintf("`mictl status %s` and `mictl logs %s` say why", others[0], others[0]))
	}
	if len(appsFaulty) > 0 {
		what := "says why"
		if len(others) > 0 {
			what = "which CApps MI failed"
		}
		why = append(why, fmt.Sprintf("`mictl apps %s` %s", strings.Join(appsFaulty, " "), what))
	}
	notHealthy := fmt.Errorf("not healthy: %s (%s%s)", strings.Join(faulted, ", "), strings.Join(why, ", "), startAgain)
	return exitcode.With(exitcode.Runtime, errors.Join(notHealthy, hung))
}

// notReady is the exit-3 error of up and restart for the instances of
// names their start left in a fault state, nil when there is none. The
// daemon's wait for them ends at a degraded one (started: MI serves on
// without a faulty CApp or a listener it could not bind, and is not
// restarted for it), but MI's /healthz says it is not ready, and status
// exits 3 for it: up exiting 0 there let `mictl up && run-tests` test a
// server that fails its readiness probe. Said as status says it of the
// table (the instances are not shown in full).
func notReady(r statusReport, names, configured []string) error {
	r.Instances = slices.DeleteFunc(slices.Clone(r.Instances), func(row statusRow) bool { return !slices.Contains(names, row.Name) })
	return unhealthy(r, nil, configured)
}

// noInstancesHint is what a view of the instances says when there is none
// and it cannot say where it looked (see existing.noInstances).
const noInstancesHint = "no instances; start them with: mictl up (those mictl.toml names, or --instances N)"

// noInstances is what a view of the instances (status, apps, top) says
// when it finds none: where it looked and, with no mictl.toml here
// either, that a deployment made elsewhere is seen from its directory.
// Run from another directory than the deployment's, status said only "no
// instances; start them with: mictl up" and exited 0 while ten servers
// ran: a check from cron's working directory reads that as all well, and
// the advice starts a second deployment.
func (e *existing) noInstances() string {
	where := asTyped(e.cfg.InstancesDir)
	if e.cfg.File != "" || e.cfgErr != nil || e.cfg.FromCommandLine("instances_dir") {
		return fmt.Sprintf("no instances under %s; start them with: %s (those mictl.toml names, or --instances N)", where, upFor(e.cfg))
	}
	here, err := os.Getwd()
	if err != nil {
		here = "this directory"
	}
	return fmt.Sprintf("no instances under %s, and no mictl.toml in %s: to see a deployment made elsewhere, run mictl in its mictl.toml's directory or name that file with --config; mictl up starts instances here (--instances N)", where, here)
}

// upThatStarts is the mictl up that starts the named instance of f again
// (supervisor.UpCommand; configured are the instances the configuration
// names), as here pastes it where this command ran (nil: as it is):
// what status and apps both say of an instance that does not run.
func upThatStarts(f *state.File, name string, configured []string, here func(command string) string) string {
	up := supervisor.UpCommand(f, name, slices.Contains(configured, name))
	if here != nil {
		up = here(up)
	}
	return up
}

// upFor is the mictl up that starts the instances of cfg, pasted where
// this command ran: with the --config and --instances-dir it was given.
// A plain mictl up there plans from that directory's mictl.toml, or none,
// into ./instances: a second deployment beside the one asked about.
func upFor(cfg *config.Config) string {
	return asRunHere(cfg, "mictl up")
}

// asRunHere is command, a mictl command line that advice names ("mictl
// up --instances=3"), as it pastes where this command ran: with the
// --config (supervisor.AsRun) and --instances-dir this one was given.
// Without them, a pasted mictl up acted on the directory's own
// mictl.toml and ./instances, another deployment.
func asRunHere(cfg *config.Config, command string) string {
	return asRunWith(cfg.File, cfg, command)
}

// asRunWith is asRunHere naming the configuration file file.
func asRunWith(file string, cfg *config.Config, command string) string {
	as := supervisor.Advised{File: file}
	if cfg.FromCommandLine("instances_dir") {
		as.InstancesDir = cfg.InstancesDir
	}
	return as.AsRun(command)
}

// here is asRunHere for the configuration e read, or, when that could
// not be used, the file the user named: a refused reload of a broken
// --config ops/prod.toml was advised a bare mictl reload, which reads
// another mictl.toml, or none.
func (e *existing) here(command string) string {
	file := e.cfg.File
	if file == "" && e.cfgErr != nil {
		file = e.cfgFile
	}
	return asRunWith(file, e.cfg, command)
}

// printInstanceRows prints a view with a row per instance: rows as JSON,
// or cells as a table under headers (empty, the hint on stderr when
// there is none).
func printInstanceRows(streams *IOStreams, format string, rows any, headers []string, cells [][]string, empty string) error {
	if format == formatJSON {
		return writeJSON(streams.Out, rows)
	}
	if len(cells) == 0 {
		fmt.Fprintln(streams.ErrOut, empty)
		return nil
	}
	return writeTable(streams.Out, formatTable, headers, cells)
}

func printStatusTable(streams *IOStreams, rows []statusRow, empty string) error {
	cells := make([][]string, len(rows))
	var long []statusRow
	for i, r := range rows {
		pid, uptime, health := "-", "-", "-"
		if r.PID != nil {
			pid = strconv.Itoa(*r.PID)
		}
		if r.UptimeSeconds != nil {
			uptime = top.Duration(time.Duration(*r.UptimeSeconds) * time.Second) // as top shows it
		}
		if r.Health != nil {
			health = *r.Health
			if cut := []rune(health); len(cut) > healthWidth { // runes: a reason may hold ↔
				health = string(cut[:healthWidth-3]) + "..."
				long = append(long, r)
			}
		}
		cells[i] = []string{r.Name, r.State, pid, uptime, strconv.Itoa(r.Restarts), strconv.Itoa(r.Offset), health}
	}
	if err := printInstanceRows(streams, formatTable, rows, []string{"NAME", "STATE", "PID", "UPTIME", "RESTARTS", "OFFSET", "HEALTH"}, cells, empty); err != nil {
		return err
	}
	for _, r := range long {
		fmt.Fprintf(streams.Out, "%s: %s\n", r.Name, *r.Health)
	}
	if len(long) > 0 {
		fmt.Fprintln(streams.Out, "(mictl status NAME shows an instance's whole last error)")
	}
	return nil
}

// printStatusDetail prints one instance in full.
func printStatusDetail(w io.Writer, r statusRow) {
	orDashP := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	pid, uptime := "-", "-"
	if r.PID != nil {
		pid = strconv.Itoa(*r.PID)
	}
	if r.UptimeSeconds != nil {
		uptime = top.Duration(time.Duration(*r.UptimeSeconds) * time.Second) // as top shows it
	}
	var ps []string
	for role, port := range r.Ports {
		ps = append(ps, fmt.Sprintf("%s %d", ports.Role(role), port))
	}
	fmt.Fprintf(w, "name:         %s\n", r.Name)
	fmt.Fprintf(w, "state:        %s\n", r.State)
	fmt.Fprintf(w, "pid:          %s\n", pid)
	fmt.Fprintf(w, "uptime:       %s\n", uptime)
	fmt.Fprintf(w, "restarts:     %d\n", r.Restarts)
	fmt.Fprintf(w, "offset:       %d\n", r.Offset)
	fmt.Fprintf(w, "ports:        %s\n", strings.Join(ps, ", "))
	fmt.Fprintf(w, "home:         %s\n", r.Home)
	fmt.Fprintf(w, "distribution: %s\n", orDashP(r.Distribution))
	fmt.Fprintf(w, "health:       %s\n", orDashP(r.Health))
	if r.LastError != nil {
		fmt.Fprintf(w, "last error:\n%s\n", indented(*r.LastError))
	}
}

// indented puts s under a heading: each of its lines two spaces in.
func indented(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

// asRun is command, a mictl command line the report's advice names, as
// it pastes where status ran (here): a bare mictl reload there, after a
// mictl --config ops/prod.toml status, reloads another deployment's
// daemon, or none.
func (r statusReport) asRun(command string) string {
	if r.here == nil {
		return command
	}
	return r.here(command)
}

// printStatusFooter says what is wrong beyond the instances, once each.
func printStatusFooter(w io.Writer, r statusReport) {
	switch {
	case r.ReloadError == nil || r.refusalSaid:
	case r.refusal != "":
		fmt.Fprintf(w, "reload refused: the daemon did not apply the configuration as it is now; once what follows is fixed, %s applies it (%s shows what it changes):\n%s\n",
			r.asRun("mictl reload"), r.asRun("mictl diff"), indented(r.refusal))
		fmt.Fprintf(w, "and the failure of a reload before it stands: it stopped applying the configuration at what follows, and left %s failed; %s would start %s from that same configuration: fix what follows first, then %[2]s starts %[3]s again:\n%[4]s\n",
			words.And(r.ReloadLeftFailed), r.asRun("mictl up"), words.ItOrThem(len(r.ReloadLeftFailed)), indented(r.standing))
	case r.ReloadBegun != nil && *r.ReloadBegun:
		// A roll that stopped at a restart onto a broken distribution left
		// that instance failed: an up plans from the same configuration,
		// and started it on the same distribution, to fail again. Those
		// it left failed stopped or started since, an up starts none of
		// them into it.
		then := fmt.Sprintf("once what follows is fixed, the daemon applies an edit of mictl.toml, and %s a fix made elsewhere, such as in mi_home's files", r.asRun("mictl reload"))
		if len(r.ReloadLeftFailed) > 0 {
			then = fmt.Sprintf("%s would start an instance it left failed from that same configuration: fix what follows first (the daemon applies an edit of mictl.toml; %s applies a fix made elsewhere, such as in mi_home's files), then %[1]s starts it again", r.asRun("mictl up"), r.asRun("mictl reload"))
		}
		fmt.Fprintf(w, "reload failed: the daemon stopped applying the configuration as it is now at what follows, and what it did before stands (%s shows what is left); %s:\n%s\n",
			r.asRun("mictl diff"), then, indented(*r.ReloadError))
	default:
		// Not only an edit's: a daemon that took over from a dead one
		// applies the configuration too, with nothing edited.
		fmt.Fprintf(w, "reload failed: the daemon did not apply the configuration as it is now, and the instances run as they were; once what follows is fixed, %s applies it (%s shows what it changes):\n%s\n",
			r.asRun("mictl reload"), r.asRun("mictl diff"), indented(*r.ReloadError))
	}
	if sf := r.SaveFailure; sf != nil {
		fmt.Fprintf(w, "state not saved: %s since %s (the daemon keeps it in memory and retries; %s)\n",
			sf.Error, sf.Since.Local().Format("15:04:05"), saveRemedy(sf.Cause, r.stateDir))
	}
	if r.DaemonProblem != nil && !r.daemonHung { // a hung one is status's exit error (unhealthy)
		fmt.Fprintf(w, "warning: %s; what is shown is the state file\n", *r.DaemonProblem)
	}
}

// saveRemedy is what to do about a state file the daemon cannot write
// in dir, for the cause the daemon recorded (supervisor.SaveFailure).
func saveRemedy(cause *string, dir string) string {
	var c string // nil: a cause with no remedy of its own
	if cause != nil {
		c = *cause
	}
	switch c {
	case supervisor.SaveNoSpace:
		return "free space on the file system holding " + dir
	case supervisor.SaveReadOnly:
		return "remount the file system holding " + dir + " read-write"
	case supervisor.SavePermissionDenied:
		access := "give the daemon's user write access to " + dir + " (its mode, or that of a directory above it)"
		if who, ok := fsutil.OtherOwner(dir); ok {
			return dir + " belongs to " + who + ": run mictl as that user, or " + access
		}
		return access
	}
	return "free the space or fix the file under the state directory " + dir
}

// recentEvents returns the last n events about name, oldest first ([]
// for none), each as it was said (a failed start's with the server's last
// output, a line each), or why they cannot be read.
func recentEvents(store *state.Store, name string, n int) ([]recentEvent, error) {
	if store == nil {
		return []recentEvent{}, nil // nothing ever ran here
	}
	events, err := supervisor.RecentEvents(store, name, n)
	if err != nil {
		return nil, err
	}
	out := make([]recentEvent, 0, len(events))
	for _, ev := range events {
		out = append(out, newRecentEvent(ev))
	}
	return out, nil
}
