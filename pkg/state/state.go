// Package state keeps the supervisor's record of what runs now:
// instances/.mictl/state.json, guarded by an flock on state.lock.
//
// The file is the memory that lets any mictl command (status, down, a
// restarted daemon) find the processes an earlier command started. It is
// therefore written only under the lock, always atomically, and it names
// processes by proc.Identity (pid + start time), never by pid alone: MI
// leaves stale pid files behind and the kernel reuses pids, so a bare pid
// read back from disk could make `mictl down` kill a stranger.
package state

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/words"
)

// SchemaVersion is the layout of state.json this mictl writes and reads.
// Bump it on any change an older mictl would misread; an older mictl then
// refuses the file instead of silently dropping what it does not know.
const SchemaVersion = 1

// Instance lifecycle states, as stored in Instance.State.
const (
	StateStarting = "starting" // launched, not yet ready
	StateReady    = "ready"    // /healthz answers and every port is held by the instance
	StateDegraded = "degraded" // running, but a check fails (e.g. a port held by someone else)
	StateCrashed  = "crashed"  // the server exited without being asked to
	StateBackoff  = "backoff"  // waiting before the next restart
	StateStopping = "stopping" // SIGTERM sent, waiting for the processes to end
	StateStopped  = "stopped"  // stopped on request
	StateFailed   = "failed"   // gave up: restart budget spent, start impossible, or a crash not to restart
)

// Wanted reports whether an instance in state st should be running: a
// daemon brings such instances back after its own crash, and a reload
// restarts them when their configuration changed. An instance being
// stopped is not: the user asked for it to end.
func Wanted(st string) bool {
	return st != StateStopped && st != StateFailed && st != StateStopping && st != ""
}

// Faulted reports whether an instance in state st does not serve (or
// serves with a faulty CApp) because something went wrong, rather than
// because mictl or the user is starting or stopping it: `mictl status`
// exits 3 when it shows one.
func Faulted(st string) bool {
	return st == StateFailed || st == StateCrashed || st == StateBackoff || st == StateDegraded
}

// File is the whole content of state.json.
type File struct {
	Version int `json:"version"`
	// Daemon is the detached supervisor, if one runs: commands talk to it
	// through Socket instead of touching processes themselves.
	Daemon *Daemon `json:"daemon,omitempty"`
	// Instances are in plan order, so views list them the way the user
	// planned them without sorting.
	Instances []Instance `json:"instances"`
	// UpArgs are the planning flags of the last `mictl up` (--instances 5
	// ...): a reload plans with them over mictl.toml, as that up did, so
	// an edit of the file never undoes what the command line asked for.
	UpArgs []string `json:"up_args,omitempty"`
	// Configured are the instances the configuration named when last
	// applied (by up, or a reload). A reload removes only those it no
	// longer names: one that an earlier, larger up started and a smaller
	// up left running stays until mictl down. Nil (a file from before
	// mictl kept it): every instance the configuration does not name.
	Configured []string `json:"configured,omitempty"`
	// ReloadError is why the last reload refused the configuration, or
	// failed applying it (ReloadBegun); empty when it did neither. A
	// begun failure is followed by that of a reload before it, which
	// still stands for the instances it left failed (see
	// ReloadLeftFailed).
	ReloadError string `json:"reload_error,omitempty"`
	// ReloadBegun says the reload of ReloadError failed once it had begun
	// changing things (a restart onto the new configuration that failed,
	// which ended the roll there): what it did before stands. False for a
	// refusal, after which what runs is the configuration before.
	ReloadBegun bool `json:"reload_begun,omitempty"`
	// ReloadLeftFailed are the instances the begun failures of
	// ReloadError left failed, oldest first (read only with ReloadBegun,
	// and forgotten with it, by mictl up and once nothing runs): while
	// the configuration plans one of them as it was when it failed, the
	// failure stands, and a reload that finds nothing else to change (a
	// retry, a comment edited) keeps it. Cleared as "no change", status
	// dropped it and mictl up started the instance into the same
	// failure. One whose failed state ended (mictl down, restart, up, or
	// removed) is dropped (SettleReload): the failure no longer stands
	// for it.
	ReloadLeftFailed []string `json:"reload_left_failed,omitempty"`
	// ReloadFailures is, for each of ReloadLeftFailed, the text of the
	// begun failure that left it failed: ReloadError says those of the
	// instances still failed, each once, newest first. One text for
	// them all, it named every failure long after the instances of some
	// were put right.
	ReloadFailures map[string]string `json:"reload_failures,omitempty"`
	// ReloadLast is what the last reload said of itself while a begun
	// failure stands (ReloadBegun): its own failure once begun, its
	// refusal (ReloadRefused), or "" when it succeeded. ReloadError is
	// it, then the failures that stand of the instances it did not fail
	// (SettleReload).
	ReloadLast string `json:"reload_last,omitempty"`
	// ReloadRefused says ReloadLast is a refusal: the last reload changed
	// nothing, and what stands is the failure of the reloads before it.
	ReloadRefused bool `json:"reload_refused,omitempty"`
}

// StandingReload is the text of the begun reload failures that stand,
// "" when none does.
func (f *File) StandingReload() string {
	if !f.ReloadBegun {
		return ""
	}
	return f.reloadFailuresOf(f.ReloadLeftFailed)
}

// reloadFailuresOf is the text of the begun failures that left names
// failed (ReloadFailures), each once, newest first.
func (f *File) reloadFailuresOf(names []string) string {
	var texts []string
	for _, name := range slices.Backward(f.ReloadLeftFailed) {
		if text := f.ReloadFailures[name]; slices.Contains(names, name) && text != "" && !slices.Contains(texts, text) {
			texts = append(texts, text)
		}
	}
	return strings.Join(texts, "; ")
}

// LeftFailedBy records that the begun failure said by text left name
// failed: the newest of ReloadLeftFailed (one failed again moves to its
// end), its text that one.
func (f *File) LeftFailedBy(name, text string) {
	f.ReloadLeftFailed = append(slices.DeleteFunc(f.ReloadLeftFailed, func(n string) bool { return n == name }), name)
	if f.ReloadFailures == nil {
		f.ReloadFailures = map[string]string{}
	}
	f.ReloadFailures[name] = text
}

// KeepLeftFailed keeps of ReloadLeftFailed (and ReloadFailures) the
// instances names alone.
func (f *File) KeepLeftFailed(names []string) {
	f.ReloadLeftFailed = slices.DeleteFunc(f.ReloadLeftFailed, func(n string) bool { return !slices.Contains(names, n) })
	maps.DeleteFunc(f.ReloadFailures, func(n, _ string) bool { return !slices.Contains(names, n) })
}

// readOlderReload reads the record of a begun reload failure in a file
// from a mictl that kept neither ReloadLast nor ReloadFailures: its
// ReloadError is the failure that left each of ReloadLeftFailed failed.
func (f *File) readOlderReload() {
	if f.ReloadBegun && f.ReloadLast == "" && len(f.ReloadFailures) == 0 {
		f.ReloadLast, f.ReloadFailures = f.ReloadError, map[string]string{}
		for _, name := range f.ReloadLeftFailed {
			f.ReloadFailures[name] = f.ReloadError
		}
	}
}

// ForgetReload clears the record of the last reload: an up plans from
// mictl.toml as it is, and a run that ended keeps nothing of it.
func (f *File) ForgetReload() {
	f.ReloadError, f.ReloadBegun, f.ReloadLeftFailed, f.ReloadFailures, f.ReloadLast, f.ReloadRefused = "", false, nil, nil, "", false
}

// SettleReload makes the record of the last reload agree with the
// instances: one of ReloadLeftFailed no longer failed (stopped by mictl
// down, started by restart or up, removed) is dropped, and ReloadError
// says ReloadLast, then the failures that still stand of the others
// (reloadFailuresOf), or those alone after a reload that succeeded. A
// refusal beside nothing left standing is a refusal alone (ReloadBegun
// false); a success, nothing. Kept as written, a mictl down mi-1 left
// reload_left_failed ["mi-1"] and status saying mictl up would start mi-1
// into the reload's failure, while mi-1 was stopped. Save and Load call
// it.
func (f *File) SettleReload() {
	if !f.ReloadBegun {
		return
	}
	var failed []string
	for _, inst := range f.Instances {
		if inst.State == StateFailed {
			failed = append(failed, inst.Name)
		}
	}
	f.KeepLeftFailed(failed)
	var others []string // left failed by a reload before the last
	for _, name := range f.ReloadLeftFailed {
		if f.ReloadRefused || f.ReloadFailures[name] != f.ReloadLast {
			others = append(others, name)
		}
	}
	switch {
	case len(f.ReloadLeftFailed) == 0 && (f.ReloadRefused || f.ReloadLast == ""):
		refusal := f.ReloadLast
		f.ForgetReload()
		f.ReloadError = refusal
	case f.ReloadLast == "":
		f.ReloadError = f.reloadFailuresOf(others)
	case len(others) == 0:
		f.ReloadError = f.ReloadLast
	default:
		f.ReloadError = fmt.Sprintf("%s; and the failure of a reload before it stands for %s: %s", f.ReloadLast, words.And(others), f.reloadFailuresOf(others))
	}
}

// Daemon records the detached supervisor process.
type Daemon struct {
	proc.Identity           // flattened: "pid", "start_time"
	Socket        string    `json:"socket"`
	StartedAt     time.Time `json:"started_at"`
	// Args are the daemon's arguments, so that a daemon killed by the user
	// is replaced by one with the same restart policy.
	Args []string `json:"args,omitempty"`
}

// Instance is what the supervisor knows about one MI instance.
type Instance struct {
	Name string `json:"name"`
	// Offset is persisted because it is assigned once: growing the plan from
	// N to N+1 instances must never move a running instance's ports.
	Offset int       `json:"offset"`
	Ports  ports.Set `json:"ports"`
	Home   string    `json:"home"`
	// Bind is the address the instance binds (mictl's host setting).
	Bind string `json:"bind"`
	// Args are passed to the start script: -DportOffset=N with
	// offset_method "flag", which replaces the toml offset.
	Args []string `json:"args,omitempty"`
	// Env is captured from the user's environment at `mictl up`
	// (JAVA_HOME, JAVA_OPTS, ...) so a restart by the daemon sees the same.
	Env []string `json:"env,omitempty"`
	// PGID is the instance's process group (the script's pid at launch).
	// It outlives the script: the JVMs stay in it after the script dies.
	PGID int `json:"pgid,omitempty"`
	// Script is bin/micro-integrator.sh. Its exit says nothing about MI
	// (docs/mi-facts.md), it is recorded to stop it and to recognise it.
	Script proc.Identity `json:"script"`
	// Server is the pid in wso2carbon.pid: the MI JVM (or the simulator),
	// the process whose life is the instance's life.
	Server proc.Identity `json:"server"`
	State  string        `json:"state"`
	// StopBy is when a stop under way SIGKILLs what is left of the
	// instance (its SIGTERM plus the stop's timeout, down --timeout): a
	// daemon that finishes a stop its predecessor (or a killed down)
	// began keeps that deadline rather than start a default one. Zero
	// when no stop is under way.
	StopBy time.Time `json:"stop_by,omitzero"`
	// Restarting is set while a restart (or a reload's) stops the
	// instance to start it again: a daemon taking over from one killed in
	// between finishes the restart rather than the stop alone.
	Restarting bool `json:"restarting,omitempty"`
	// MarkedBy is the mictl up that set Restarting on an instance the
	// daemon was stopping (a down's, a reload's stop), for its start once
	// that stop ended, while its start has not reached the daemon; zero
	// for a mark the daemon keeps (a restart's stop, a start it took).
	// Such a mark counts only while that up runs: one killed before its
	// start left the mark for good, the daemon never left, and the next
	// one started what the user had stopped.
	MarkedBy proc.Identity `json:"marked_by,omitzero"`
	Restarts int           `json:"restarts"`
	// RestartsInARow are the restarts since the server was last ready for
	// the restart policy's stable time, what --max-restarts counts: kept
	// here, a daemon taking over from a dead one goes on counting.
	RestartsInARow int       `json:"restarts_in_a_row,omitempty"`
	StartedAt      time.Time `json:"started_at,omitzero"`
	// LastError is the whole of the last failure (a failed start's last
	// output lines included); Reason says its cause in a few words, for
	// the HEALTH column of `mictl status`.
	LastError string `json:"last_error,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// Blocker is the stranger whose hold of a fixed port failed the last
	// start, when LastError and Reason end with the advice to stop it
	// (Blocker.Remedy): views judge that advice as they show it, the
	// stranger having perhaps exited since. Nil otherwise.
	Blocker *Blocker `json:"blocker,omitempty"`
	// Apps are the CApps mictl put in the instance's carbonapps/: what a
	// later change of the declared apps compares with, and removes.
	Apps []App `json:"apps,omitempty"`
	// Extras are the ports it opens besides the four fixed ones (its
	// CApps' inbound endpoints, the mediation debugger), as planned.
	Extras []Extra `json:"extras,omitempty"`
	// Placed is what placed the instance at Offset: a failed instance
	// keeps its offset only while it is unchanged (reconcile.Build). Nil
	// in records from before mictl kept it.
	Placed *Placement `json:"placed,omitempty"`
	// Undeploying are the inbound endpoint ports of CApps mictl took out
	// of its carbonapps/ (undeployed, or rebuilt onto other ports), which
	// the running server holds until its next hot deployment scan
	// undeploys them: views name such a port the app's, not a stranger's.
	// Each is dropped once MI has undeployed its app and let go of it (the
	// supervisor's CApp checks); a server that ends lets go of them all
	// (ClearProcesses).
	Undeploying []Extra `json:"undeploying,omitempty"`
}

// Placement is what the planner chose an instance's offset from: the
// settings that place offsets (whether set in mictl.toml, by a variable
// or by up's flags), and the offset given the instance itself, as they
// were then.
type Placement struct {
	BaseOffset   int    `json:"base_offset"`
	OffsetStep   int    `json:"offset_step"`
	OffsetMethod string `json:"offset_method"`
	Host         string `json:"host"`
	// Offset is the offset --offsets or its [[instance]] offset gave it,
	// nil when the planner chose one.
	Offset *int `json:"offset"`
}

// Extra is one port an instance opens besides its four fixed ones.
type Extra struct {
	Role     string `json:"role"`     // inbound, debugger, unit_test
	Listener string `json:"listener"` // "orders_1.0.0/OrdersHTTP"
	Port     int    `json:"port"`
	// Since is when mictl took the port's CApp out (ns since the epoch),
	// on an Undeploying entry only: the supervisor's CApp check drops the
	// entry it judged let go, never one with the same port and listener
	// taken out again since (the app deployed again, then undeployed
	// again, while the check looked at the host's sockets), whose app MI
	// may still run. 0 in records from before.
	Since int64 `json:"since_ns,omitempty"`
}

// App is one CApp mictl deployed into an instance's home.
type App struct {
	ID     string `json:"id"`     // MI's id: name_version
	File   string `json:"file"`   // its file in carbonapps/
	Source string `json:"source"` // the .car it was copied from
	SHA256 string `json:"sha256"` // of the content copied
	// Size and ModTime (ns) are the file's in carbonapps/ as mictl left
	// it, so that another build copied over it is told without reading
	// every file at every look; 0 in records from before (read then).
	Size    int64 `json:"size,omitempty"`
	ModTime int64 `json:"mtime_ns,omitempty"`
}

// Blocker is a process that held a fixed port of an instance, which it
// could not start without. Advice written into a last error outlived its
// truth: status still said "stop pid 5524 to free port 13283" once pid
// 5524 had exited.
type Blocker struct {
	Port   int           `json:"port"`
	Holder proc.Identity `json:"holder"`
	// Again says what starts the instance once the port is free ("mictl
	// up starts mi-1 again"), Around what starts it elsewhere ("mictl up
	// plans mi-1 around the port, ...").
	Again  string `json:"again"`
	Around string `json:"around"`
}

// Remedy is the advice while Holder holds the port.
func (b Blocker) Remedy() string {
	return fmt.Sprintf("stop pid %d to free port %d, then %s; or %s", b.Holder.PID, b.Port, b.Again, b.Around)
}

// ClearProcesses forgets the instance's processes, and the ports its
// server was letting go: its server ended.
func (i *Instance) ClearProcesses() {
	i.Server, i.Script, i.PGID, i.Undeploying = proc.Identity{}, proc.Identity{}, 0, nil
}

// Ended records that the instance's run ended in st (stopped or failed):
// no process is its any more, and its restarts in a row are over.
func (i *Instance) Ended(st string) {
	i.ClearProcesses()
	i.State, i.RestartsInARow, i.StopBy = st, 0, time.Time{}
}

// SetError records the last failure: its reason in a few words and its
// whole detail, and forgets the Blocker of the one before. SetError("",
// "") clears it.
func (i *Instance) SetError(reason, detail string) {
	i.Reason, i.LastError, i.Blocker = reason, detail, nil
}

// RestartUnderWay reports whether i is stopping, or stopped, for a
// restart that starts it again (Restarting, unless the up that marked
// it has ended: MarkedBy): wanted running all the same, as a daemon
// killed in between leaves it for the next one to finish.
func (i *Instance) RestartUnderWay() bool {
	return i.Restarting && (i.State == StateStopping || i.State == StateStopped) &&
		(i.MarkedBy.IsZero() || i.MarkedBy.Alive())
}

// WantsAny reports whether f wants some instance running (Wanted, or
// being restarted): a daemon stays for such a file, and is started again
// for it.
func (f *File) WantsAny() bool {
	return slices.ContainsFunc(f.Instances, func(inst Instance) bool {
		return Wanted(inst.State) || inst.RestartUnderWay()
	})
}

// Instance returns the instance called name. The pointer aims into
// f.Instances, so the caller can change the instance in place inside an
// Update; it is invalidated by anything that reallocates f.Instances.
func (f *File) Instance(name string) (*Instance, bool) {
	for i := range f.Instances {
		if f.Instances[i].Name == name {
			return &f.Instances[i], true
		}
	}
	return nil, false
}

// Clone returns a copy of f that changes to its instances do not reach.
// (The slices inside an instance are shared: they are replaced, never
// changed in place.)
func (f *File) Clone() *File {
	c := *f
	c.Instances = append([]Instance(nil), f.Instances...)
	c.UpArgs, c.Configured = slices.Clone(f.UpArgs), slices.Clone(f.Configured)
	c.ReloadLeftFailed, c.ReloadFailures = slices.Clone(f.ReloadLeftFailed), maps.Clone(f.ReloadFailures)
	if f.Daemon != nil {
		d := *f.Daemon
		c.Daemon = &d
	}
	return &c
}

// empty is the File of a host where mictl has never run anything.
func empty() *File {
	return &File{Version: SchemaVersion, Instances: []Instance{}}
}
