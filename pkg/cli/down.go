package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/whose"
	"github.com/mictl/mictl/pkg/words"
)

type downOptions struct {
	timeout time.Duration
	purge   bool
	output  string
}

func newCmdDown(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &downOptions{}
	cmd := &cobra.Command{
		Use:        "down [NAME...]",
		SuggestFor: []string{"stop", "halt"},
		Short:      "Stop instances gracefully (all of them when no name is given)",
		Long: `Stop each instance the way MI's own --stop does: SIGTERM to its server
process (its shutdown runs and the script's trap stops the diagnostics JVM),
then to its process group, all instances in parallel; wait up to --timeout
(MI drains for up to 180 s), then SIGKILL the group; an instance a
restart or a reload is stopping already gets --timeout too, when that is
shorter than what its stop has left, and that restart or reload does not
start it again (it goes on with the other instances). Stale pid files are
removed, and the supervisor daemon exits when nothing is left to watch.
A failed instance is recorded stopped too, as asked, keeping its last
error (mictl status NAME shows it).
An instance already stopped, with nothing left running in its home, is
left as it is, with a note saying so; down still exits 0, as a stop of
what is stopped is done.
With no daemon running, down stops the instances itself: a first Ctrl-C
lets it finish the stop, a second leaves it unfinished.
Once everything is down (mictl down with no NAME), the planning flags of
the last up are forgotten, as the offsets are: the next up plans from
mictl.toml and its own flags.

--purge also deletes the homes, and forgets the instances; it deletes the
home of an instance a reload removed from the configuration too (all of
them, or the one named). An instance a mictl up started again while the
down ran keeps its home, said in a note.

Exit status: 0 when every process of the instances is gone (another
program holding one of their ports is a note, not a failure); 2 on usage
or configuration errors, such as a NAME no instance has (nothing is
stopped); 3 when something is left, naming it;
` + exitInterrupted + `.`,
		Example: `  mictl down
  mictl down mi-2 mi-3
  mictl down --timeout 30s --purge`,
		ValidArgsFunction: completeInstanceNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDown(cmd, streams, g, o, args)
		},
	}
	addDirFlag(cmd)
	cmd.Flags().DurationVar(&o.timeout, "timeout", supervisor.DefaultPolicy().StopTimeout, "graceful stop time before SIGKILL")
	cmd.Flags().BoolVar(&o.purge, "purge", false, "also delete the stopped instances' generated homes")
	addOutputFlag(cmd, &o.output, formatTable, formatJSON)
	return cmd
}

func runDown(cmd *cobra.Command, streams *IOStreams, g *globalOptions, o *downOptions, names []string) error {
	if err := validateFormat(o.output, formatTable, formatJSON); err != nil {
		return err
	}
	if err := exitcode.PositiveFlag("timeout", o.timeout); err != nil {
		return err
	}
	e, err := openExisting(cmd, g, streams, readWrite)
	if err != nil {
		return err
	}
	e.warnConfig(streams)
	store, f := e.store, e.state
	// A home no record names (a reload removed its instance; mictl
	// generate prepared it for another supervisor; the state file was
	// lost) is still the user's to stop, and to purge, by name.
	names, leftHomes := splitUnrecorded(f, e.cfg.InstancesDir, names)
	if err := downUnrecorded(streams, leftHomes, o.timeout, o.purge); err != nil {
		return err
	}
	if len(leftHomes) > 0 && len(names) == 0 {
		return printStatusReport(streams, newStatusReport(f, nil, nil, nil), nil, o.output, nil)
	}
	if err := checkNames(f, e.cfg.InstancesDir, names); err != nil {
		return err
	}
	if store == nil { // nothing was ever started here
		return printStatusReport(streams, newStatusReport(f, nil, nil, nil), nil, o.output, nil)
	}
	targets := names
	if len(targets) == 0 {
		for _, inst := range f.Instances {
			targets = append(targets, inst.Name)
		}
	}
	ctx := cmd.Context()
	progress := newProgress(streams, targets)
	// A Ctrl-C while the daemon stops them ends the wait saying that it
	// goes on (exit 130, or 143 for SIGTERM); a stop done from here has its own handling
	// (finishOnInterrupt), and the signals go back to it first.
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	releaseSignals := onInterrupt(cancel)
	defer releaseSignals()
	reply, awaitLeave, err := stopAll(callCtx, releaseSignals, streams, store, f, names, targets, o.timeout, progress.event)
	if exitcode.Of(err) == exitcode.Interrupted {
		return err
	}
	if err != nil {
		return exitcode.With(exitcode.Runtime, errors.Join(err, awaitLeave()))
	}
	// What the stop left in the homes (f names them) is looked for while
	// the daemon leaves; not in those a later command (an up that came
	// while this down stopped them) started again meanwhile.
	again, verified := verifyStopped(streams, f, e.cfg, targets, o.purge)
	if err := cmp.Or(awaitLeave(), verified); err != nil {
		noteStartedAgain(streams, again, nil, targets)
		return exitcode.With(exitcode.Runtime, err)
	}
	// Which instances no event was about is known only when none was
	// lost: one whose lines were, was taken for "already stopped" though
	// the stop ended what ran in its home.
	if !noteLostLines(streams, reply) {
		if stopped := alreadyStopped(f, progress.untouched()); len(stopped) > 0 {
			fmt.Fprintf(streams.ErrOut, "note: %s %s already stopped: nothing to stop\n", strings.Join(stopped, ", "), words.WasOrWere(len(stopped)))
		}
	}
	after, err := reportAfter(store, reply, nil)
	if err != nil {
		return err
	}
	noteStartedAgain(streams, again, after.file, targets)
	if o.purge {
		purged, kept, err := purge(ctx, store, targets)
		if err != nil {
			return err
		}
		if len(purged) > 0 {
			fmt.Fprintf(streams.ErrOut, "deleted the homes of %s\n", strings.Join(purged, ", "))
		}
		if len(kept) > 0 {
			fmt.Fprintf(streams.ErrOut, "note: kept the homes of %s, started again by a later command: mictl down --purge %s deletes them once they stop\n",
				strings.Join(kept, ", "), strings.Join(kept, " "))
		}
		if len(names) == 0 {
			purgeUnrecorded(streams, e.cfg.InstancesDir)
		}
	}
	forgot := false
	if len(names) == 0 {
		// Bookkeeping after the stop: a state file that cannot be written
		// (a full disk) does not make a done down fail.
		if forgot, err = forgetRun(ctx, store); err != nil {
			fmt.Fprintf(streams.ErrOut, "note: everything stopped, but the last up's flags could not be forgotten: %v\n", err)
		}
	}
	// A daemon whose last write failed stays until the file holds what it
	// knows, then leaves: gone already, the file is whole again.
	if o.purge || forgot || (reply.SaveFailure != nil && daemonGone(reply.PID)) {
		if after, err = reportAfter(store, supervisor.Reply{}, nil); err != nil {
			return err
		}
	}
	return printStatusReport(streams, after, nil, o.output, store)
}

// forgetRun clears what the state file keeps of a run once nothing runs
// (reconcile.ForgetRun): the next up, deploy or diff plans from mictl.toml
// and its own flags alone. A daemon that did the stop has already
// forgotten it in its own write (reconcile.ForgetStoppedRun, see
// supervisor.Supervisor.Stop): this writes only after a stop done from
// here, and says whether it wrote.
func forgetRun(ctx context.Context, store *state.Store) (wrote bool, err error) {
	f, err := store.Load()
	if err != nil || !reconcile.ForgetRun(f) {
		return false, err // nothing to forget: no write
	}
	err = store.Update(ctx, func(f *state.File) error {
		reconcile.ForgetRun(f)
		return nil
	})
	return err == nil, err
}

// alreadyStopped lists the instances f, the state as the stop found it,
// records stopped that the stop had nothing to do for: of those it was
// asked to stop, untouched are the ones no event of it was about. down
// still exits 0 for them, as systemctl stop does for a stopped unit, but
// said nothing, and the table alone did not tell whether it had stopped
// them or found them so. One with processes left in its home is not
// listed: the stop ends those, saying so in events (which it finds in
// the one walk of /proc it takes for every instance it has no server
// of). down walked /proc for them itself too, before the stop.
func alreadyStopped(f *state.File, untouched []string) []string {
	var out []string
	for _, inst := range f.Instances {
		if inst.State == state.StateStopped && slices.Contains(untouched, inst.Name) {
			out = append(out, inst.Name)
		}
	}
	return out
}

// noteLostLines says that progress lines of the command never came, and
// reports whether it said so: reply.Lost (none when 0) events came faster
// than the command read them (supervisor.Subscribe). Some may have been
// about what the command shows nothing of (reload leaves out the event of
// its own failure, said as its error), hence "up to". up, down, restart and reload say it alike; the
// state printed next is the end state, as the supervisor recorded it.
func noteLostLines(streams *IOStreams, reply supervisor.Reply) bool {
	return sayLostLines(streams, reply, "the state below is where each instance ended")
}

// sayLostLines is noteLostLines for any command, ended says where the
// outcome is to be seen: deploy and undeploy print no state, and their
// reload's lines (what it deployed and restarted) were taken for the
// whole of it.
func sayLostLines(streams *IOStreams, reply supervisor.Reply, ended string) bool {
	if reply.Lost == 0 {
		return false
	}
	fmt.Fprintf(streams.ErrOut, "note: up to %s of progress went missing (the events came faster than mictl could show them); %s\n", words.Count(reply.Lost, "line"), ended)
	return true
}

// leftovers is supervisor.Leftovers, down's look for processes left in
// the instances' homes: each call walks /proc. A variable for tests,
// which count the walks.
var leftovers = supervisor.Leftovers

// daemonGone reports whether the daemon pid has exited (a zombie has).
func daemonGone(pid int) bool {
	st, err := proc.ReadStat(pid)
	return err != nil || st.Exited()
}

// stopAll stops the instances through the daemon, or, when there is none
// (it was killed, or died during the request), from here while holding
// the daemon lock so that no daemon starts meanwhile and brings them back.
// A daemon that does not answer is ended first (the servers do not depend
// on it): left alone, it would wake to restart what was stopped. The
// reply is the daemon's, zero when none did the work; the wait, to be
// called in every case, returns once a daemon the stop left idle has let
// go of everything (its lock, socket and record) and its main thread has
// exited (supervisor.CallUntilLeft): down returning means it is gone too.
func stopAll(ctx context.Context, releaseSignals func(), streams *IOStreams, store *state.Store, f *state.File, names, targets []string, timeout time.Duration, onEvent func(supervisor.Event)) (supervisor.Reply, func() error, error) {
	noDaemon := func() error { return nil }
	// A daemon killed a moment ago may still hold its lock for the few
	// milliseconds its exit takes: keep trying either way for a while.
	deadline := time.Now().Add(5 * time.Second)
	for {
		reply, awaitLeave, err := supervisor.CallUntilLeft(ctx, supervisor.SocketPath(store), supervisor.Request{Op: supervisor.OpStop, Names: names, Timeout: timeout}, onEvent)
		switch {
		case err == nil:
			return reply, awaitLeave, nil
		case errors.Is(err, supervisor.ErrNotAnswering):
			if err := endHungDaemon(streams, f, err); err != nil {
				return reply, awaitLeave, err
			}
			deadline = time.Now().Add(5 * time.Second) // the wait for an answer took the first
			continue
		case !errors.Is(err, supervisor.ErrNoDaemon) && !errors.Is(err, supervisor.ErrDaemonGone):
			return reply, awaitLeave, err
		}
		releaseSignals() // the stop from here handles them (finishOnInterrupt)
		var lost int
		err = supervisor.WithoutDaemon(store, func() (err error) {
			defer finishOnInterrupt(streams, targets)()
			lost, err = stopDirect(store, targets, timeout, onEvent)
			return err
		})
		if !errors.Is(err, supervisor.ErrDaemonRunning) || time.Now().After(deadline) {
			return supervisor.Reply{Lost: lost}, noDaemon, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// endHungDaemon kills the recorded daemon, which holds the control socket
// but did not answer (why).
func endHungDaemon(streams *IOStreams, f *state.File, why error) error {
	id, ok := daemonIdentity(f)
	if !ok {
		return explainDaemon(why, f)
	}
	fmt.Fprintf(streams.ErrOut, "warning: the mictl daemon (pid %d) is not answering (nothing for %s): ending it (the instances do not depend on it) and stopping them from here\n",
		id.PID, supervisor.AnswerTimeout)
	if err := syscall.Kill(id.PID, syscall.SIGKILL); err != nil && id.Alive() {
		return fmt.Errorf("end the mictl daemon (pid %d), which does not answer: %w", id.PID, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), killedExitWait)
	defer cancel()
	switch err := waitExit(ctx, id); {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the mictl daemon (pid %d) did not end within %s of SIGKILL: the kernel holds it in a wait (ps -o stat,wchan -p %d says where; D is a disk or a network file system that does not answer), and nothing was stopped: run mictl down again once it is gone",
			id.PID, killedExitWait, id.PID)
	case err != nil:
		return fmt.Errorf("wait for the mictl daemon (pid %d) to end after SIGKILL: %w; nothing was stopped: run mictl down again once it is gone", id.PID, err)
	}
	return nil
}

// killedExitWait bounds the wait for a daemon SIGKILLed to be gone: a
// process ends at once unless the kernel holds it in a wait that cannot
// be interrupted.
const killedExitWait = 5 * time.Second

// waitExit is proc.WaitExit; a variable for tests, since no process
// outlives SIGKILL on demand.
var waitExit = proc.WaitExit

// finishOnInterrupt keeps a first Ctrl-C (or SIGTERM) from ending a stop
// of names done from here until the returned func is called: no daemon
// would finish it, and cut short it left them recorded stopping, for
// good, and a server that ignores SIGTERM running without its SIGKILL.
// A second one leaves it unfinished, saying what it leaves, and ends
// mictl as the signal does, or with the signal's exit status when the
// signal cannot end it: a mictl started with SIGINT ignored (a background
// job of a shell without job control, where Reset puts the ignore back)
// said it left the stop unfinished, then finished it and exited 0.
func finishOnInterrupt(streams *IOStreams, names []string) (done func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	what := strings.Join(names, ", ")
	quit, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-sigs:
		case <-quit:
			return
		}
		fmt.Fprintf(streams.ErrOut, "mictl: no daemon runs to finish the stop of %s: finishing it here (SIGKILL after --timeout); interrupt again to leave it unfinished\n", what)
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-quit:
			return
		}
		fmt.Fprintf(streams.ErrOut, "mictl: left the stop of %s unfinished: they may still run, recorded stopping; mictl down finishes it\n", what)
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		// To this thread: the kernel delivers it before the call
		// returns, so a mictl still here is one the signal cannot end.
		runtime.LockOSThread()
		_ = syscall.Tgkill(os.Getpid(), syscall.Gettid(), sig.(syscall.Signal))
		os.Exit(exitcode.Signalled(sig.(syscall.Signal)))
	}()
	return func() {
		signal.Stop(sigs)
		close(quit)
		<-ended
	}
}

// stopDirect stops instances without a daemon, with the same procedure
// (which ends whatever still runs in their homes unrecorded). lost is how
// many events never reached onEvent (see supervisor.Subscribe).
func stopDirect(store *state.Store, names []string, timeout time.Duration, onEvent func(supervisor.Event)) (lost int, err error) {
	sup, err := supervisor.New(store, nil, supervisor.DefaultPolicy())
	if err != nil {
		return 0, err
	}
	defer sup.Close()
	events, cancel := sup.Subscribe()
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range events {
			onEvent(ev)
		}
	}()
	err = sup.Stop(names, timeout) // ends what runs unrecorded in their homes too
	lost = cancel()
	<-done
	return lost, err
}

// verifyStopped fails when a process of the named instances still runs in
// their homes, naming it, unless every one of an instance's started after
// this down did: a mictl up that came while it stopped them starts them
// once their stop ended, and those processes are that command's (again,
// said by noteStartedAgain). A port of theirs held by another process is not something left
// running: it is noted, for the next up to plan around, naming the
// instance it is of when it is one's (f's, under cfg's instances_dir),
// and the up that plans the instance (cfg's, or the last up's flags);
// not when the instances are being forgotten (purge): no up plans them
// again.
func verifyStopped(streams *IOStreams, f *state.File, cfg *config.Config, names []string, purge bool) (again []string, err error) {
	var insts []state.Instance
	for _, inst := range f.Instances {
		if slices.Contains(names, inst.Name) {
			insts = append(insts, inst)
		}
	}
	left := leftovers(insts)
	again = startedAgain(left)
	for _, name := range again {
		delete(left, name)
	}
	if err := stillRunning(left); err != nil || purge {
		return again, err
	}
	view, err := observe.NewView()
	if err != nil {
		return again, nil // the stop itself succeeded; the note is only advice
	}
	view.Whose = whose.New(cfg.InstancesDir, f.Instances).Of
	for i := range insts {
		name := insts[i].Name
		for role, st := range view.Observe(&insts[i], false).Fixed {
			// Held by the instance itself: started again meanwhile.
			if st.Listening && st.HolderInstance != name {
				up := asRunHere(cfg, supervisor.UpCommand(f, name, slices.Contains(cfg.Names(), name)))
				fmt.Fprintf(streams.ErrOut, "note: %s's %s is held by %s, not by %s itself: the next %s; mictl check-conflicts shows it\n",
					name, ports.Spell(ports.Role(role).String(), st.Port), st.Holder, name, check.UpPlansAround(up, name))
			}
		}
	}
	return again, nil
}

// noteStartedAgain says which of the instances down stopped (names) a
// later command started again: those whose processes in their homes all
// started after this down (again), and those the state after the stop
// (after) records wanted, or marked to start again once stopped (an up
// that came during the stop, see prepareUp), whose start had launched
// nothing yet when down looked. Told by processes alone, the note depended on whether the up's
// start had launched the server before down's look: an up that came
// while this down stopped mi-1 left the note out, the table showing mi-1
// starting.
func noteStartedAgain(streams *IOStreams, again []string, after *state.File, names []string) {
	if after != nil {
		for _, inst := range after.Instances {
			if slices.Contains(names, inst.Name) && (state.Wanted(inst.State) || inst.RestartUnderWay()) && !slices.Contains(again, inst.Name) {
				again = append(again, inst.Name)
			}
		}
	}
	if len(again) == 0 {
		return
	}
	slices.Sort(again)
	fmt.Fprintf(streams.ErrOut, "note: %s stopped, then started again by a later command (a mictl up while this down ran): mictl status shows them, mictl down stops them\n", strings.Join(again, ", "))
}

// startedAgain lists, sorted, the instances of left (the processes still
// in their homes) whose every process started after this down did.
func startedAgain(left map[string][]int) []string {
	self, err := proc.ReadStat(os.Getpid())
	if err != nil {
		return nil
	}
	var again []string
	for name, pids := range left {
		if !slices.ContainsFunc(pids, func(pid int) bool {
			st, err := proc.ReadStat(pid)
			return err == nil && st.StartTime <= self.StartTime
		}) {
			again = append(again, name)
		}
	}
	slices.Sort(again)
	return again
}

// stillRunning fails naming each process of left (by instance) that
// still runs in its home.
func stillRunning(left map[string][]int) error {
	var lines, names []string
	for name, pids := range left {
		lines = append(lines, fmt.Sprintf("%s: %s still runs in its home", name, describeProcesses(pids)))
		names = append(names, name)
	}
	if len(lines) == 0 {
		return nil
	}
	slices.Sort(lines)
	slices.Sort(names)
	return fmt.Errorf("not everything stopped:\n  %s\nrun mictl down %s again: a down of a stopped instance ends whatever still runs in its home (SIGTERM, then SIGKILL after --timeout)",
		strings.Join(lines, "\n  "), strings.Join(names, " "))
}

// describeProcesses names pids with their command names.
func describeProcesses(pids []int) string {
	parts := make([]string, len(pids))
	for i, pid := range pids {
		parts[i] = fmt.Sprintf("pid %d", pid)
		if st, err := proc.ReadStat(pid); err == nil {
			parts[i] += " (" + st.Comm + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// purge deletes stopped instances' homes and forgets them. One a later
// command started again since the stop (an up during this down: recorded
// wanted, marked to start again, or running) keeps its home and record,
// returned in kept: its home was deleted under the starting server.
func purge(ctx context.Context, store *state.Store, names []string) (purged, kept []string, err error) {
	err = store.Update(ctx, func(f *state.File) error {
		purged, kept = nil, nil
		var keep []state.Instance
		for _, inst := range f.Instances {
			if !slices.Contains(names, inst.Name) {
				keep = append(keep, inst)
				continue
			}
			if reconcile.Active(inst) {
				keep, kept = append(keep, inst), append(kept, inst.Name)
				continue
			}
			if err := os.RemoveAll(inst.Home); err != nil {
				// os.RemoveAll says "unlinkat PATH: ...": the path is
				// what the user needs, the call is not.
				var pe *fs.PathError
				if errors.As(err, &pe) {
					return fmt.Errorf("purge %s: cannot delete %s: %w; make it deletable (or delete %s yourself), then mictl down --purge %s again",
						inst.Name, pe.Path, pe.Err, inst.Home, inst.Name)
				}
				return fmt.Errorf("purge %s: %w", inst.Name, err)
			}
			purged = append(purged, inst.Name)
		}
		f.Instances = keep
		return nil
	})
	return purged, kept, err
}

// purgeUnrecorded deletes the homes under dir that no record names any
// more (a reload that removed an instance forgets it and keeps its logs),
// so that `down --purge` leaves nothing behind. A home something still
// runs in is kept, and said so.
func purgeUnrecorded(streams *IOStreams, dir string) {
	for _, h := range homesUnder(dir) {
		purgeHome(streams, h)
	}
}

// purgeHome deletes h's home, unless something still runs in it.
func purgeHome(streams *IOStreams, h state.Instance) {
	if left := leftovers([]state.Instance{h}); len(left) > 0 {
		fmt.Fprintf(streams.ErrOut, "note: kept %s: processes %v still run in it\n", h.Home, left[h.Name])
		return
	}
	if err := os.RemoveAll(h.Home); err != nil {
		fmt.Fprintf(streams.ErrOut, "note: could not delete %s: %v\n", h.Home, err)
	}
}

// downUnrecorded stops what runs in homes, which no record names, and
// with purge deletes them. It fails (exit 3) naming what is left running.
func downUnrecorded(streams *IOStreams, homes []state.Instance, timeout time.Duration, purge bool) error {
	if len(homes) == 0 {
		return nil
	}
	for name, pids := range leftovers(homes) {
		fmt.Fprintf(streams.ErrOut, "%s: ending %s, running in its home (no record names it)\n", name, describeProcesses(pids))
	}
	supervisor.EndIn(homes, timeout)
	if err := stillRunning(leftovers(homes)); err != nil {
		return exitcode.With(exitcode.Runtime, err)
	}
	if purge {
		for _, h := range homes {
			purgeHome(streams, h)
		}
	}
	return nil
}

// homesUnder lists the instance homes under dir (directories with MI's
// start script), recorded or not, by absolute path: the processes in a
// home are known by it (their CARBON_HOME).
func homesUnder(dir string) []state.Instance {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil
	}
	var out []state.Instance
	for _, en := range entries {
		if !en.IsDir() || strings.HasPrefix(en.Name(), ".") {
			continue
		}
		path := filepath.Join(abs, en.Name())
		if _, err := os.Stat(filepath.Join(path, home.StartScript)); err == nil {
			out = append(out, state.Instance{Name: en.Name(), Home: path})
		}
	}
	return out
}

// splitUnrecorded parts names into those f records and the homes under
// dir that no record names.
func splitUnrecorded(f *state.File, dir string, names []string) (recorded []string, homes []state.Instance) {
	onDisk := homesUnder(dir)
	for _, n := range names {
		_, known := f.Instance(n)
		at := slices.IndexFunc(onDisk, func(h state.Instance) bool { return h.Name == n })
		if !known && at >= 0 {
			homes = append(homes, onDisk[at])
		} else {
			recorded = append(recorded, n)
		}
	}
	return recorded, homes
}

// validNames refuses a name no instance can have (config.ValidateName),
// before a command looks it up: one rule for names in every command that
// takes one, where status said no instance "Bad_Name" and logs that the
// name is invalid.
func validNames(names []string) error {
	for _, n := range names {
		if err := config.ValidateName(n); err != nil {
			return exitcode.Usagef("%v", err)
		}
	}
	return nil
}

// checkNames refuses names that are invalid (validNames) or that the
// state file does not know, saying so of a home left under dir (an
// instance a reload removed keeps its home).
func checkNames(f *state.File, dir string, names []string) error {
	if err := validNames(names); err != nil {
		return err
	}
	var known []string
	for _, inst := range f.Instances {
		known = append(known, inst.Name)
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			// The directory is read only for a name the file does not know.
			if _, left := splitUnrecorded(f, dir, []string{n}); len(left) > 0 {
				return exitcode.Usagef("no instance %q runs or is known to mictl; its home %s is left from an earlier run: mictl logs %s reads it, mictl down --purge %s deletes it", n, left[0].Home, n, n)
			}
			if len(known) == 0 {
				return exitcode.Usagef("no instance %q: there are no instances; start some with mictl up", n)
			}
			return exitcode.Usagef("no instance %q; known instances: %s", n, strings.Join(known, ", "))
		}
	}
	return nil
}

// completeCAppFile completes a .car file.
var completeCAppFile = cobra.FixedCompletions([]string{"car"}, cobra.ShellCompDirectiveFilterFileExt)

// completeFirstThenNames completes a command's first argument with first,
// and the rest with instance names (deploy FILE.car, undeploy APP).
func completeFirstThenNames(g *globalOptions, first cobra.CompletionFunc) cobra.CompletionFunc {
	names := completeInstanceNames(g)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return first(cmd, args, toComplete)
		}
		return names(cmd, args[1:], toComplete)
	}
}

// completeInstanceNames completes instance names from the state file.
func completeInstanceNames(g *globalOptions) cobra.CompletionFunc {
	return completeNamesWhere(g, func(state.Instance) bool { return true })
}

// completeRunningNames completes the names restart accepts: instances
// that run or are meant to (reconcile.Active, as refuseNotRunning reads
// them). It offered stopped and failed ones, which restart refuses.
func completeRunningNames(g *globalOptions) cobra.CompletionFunc {
	return completeNamesWhere(g, reconcile.Active)
}

// completeNamesWhere completes the names of the state file's instances
// that accept takes, each once.
func completeNamesWhere(g *globalOptions, accept func(state.Instance) bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		e, err := openExisting(cmd, g, &IOStreams{ErrOut: io.Discard}, lookOnly)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, inst := range e.state.Instances {
			if accept(inst) && !slices.Contains(args, inst.Name) {
				out = append(out, inst.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
