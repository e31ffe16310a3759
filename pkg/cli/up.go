package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/logs"
	"github.com/mictl/mictl/pkg/planflags"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/shellword"
	"github.com/mictl/mictl/pkg/sim"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/words"
)

type upOptions struct {
	plan       planOptions
	run        daemon.RunFlags
	force      bool
	foreground bool
	output     string
}

func newCmdUp(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:        "up",
		SuggestFor: []string{"start", "run", "launch"},
		Short:      "Plan, generate and start the instances, and wait until each is ready",
		Long: `Plan every instance's offset, check for conflicts (refusing with the report,
exit 1, unless --force, which starts anyway after a warning for each; with
-o json the report is check-conflicts' JSON) and
warn of ports in the kernel's ephemeral range, prepare each home under
instances_dir from the source distribution (jars hard-linked, never writing
into mi_home), render its deployment.toml and start all instances in
parallel through MI's own bin/micro-integrator.sh, each in its own process
group. A home up created and could not finish (a full disk) is removed
again, and up says so; a home that was there before is never removed.

An instance is ready when /healthz answers 200 AND each of its four ports
listens AND is held by the instance's own processes. A port held by another
process, or a BindException in its log, fails the instance naming the port
and the holder.

up is idempotent: it starts only what is not running, and "up --instances 5"
after 3 adds mi-4 and mi-5 without touching mi-1..3, whose offsets are kept.
By default a supervisor daemon stays behind to restart crashed instances;
with --foreground mictl stays attached, streams the logs on stdout (so not
with -o json), and Ctrl-C stops every instance gracefully.

Exit status: 0 when every instance is ready, 1 on conflicts (a busy
metrics_addr too, even with --force), 2 on usage or configuration errors,
3 when an instance failed, timed out or is degraded (a faulty CApp, a port
not bound: MI's /healthz is not ready, and mictl status says 3 too) or a
server mictl did not start runs in a home it would start;
` + exitInterrupted + `, but
up --foreground, which a signal ends, stops its instances and exits 0.`,
		Example: `  mictl up --instances 3
  mictl up --instances 5            # adds mi-4 and mi-5 to a running 3
  mictl up --foreground --instances 2
  mictl up --offsets 10,20 --timeout 60s`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateFormat(o.output, formatTable, formatJSON); err != nil {
				return err
			}
			if o.foreground && o.output == formatJSON {
				// Its stdout is the instances' logs, never a report: a
				// script reading -o json got log lines.
				return exitcode.Usagef("--foreground streams the instances' logs on stdout, which -o json cannot be: drop one of them (mictl status -o json, from another shell, reports on the instances)")
			}
			return runUp(cmd, streams, g, o)
		},
	}
	addPlanFlags(cmd, &o.plan)
	addRunFlags(cmd, &o.run)
	cmd.Flags().BoolVar(&o.force, "force", false, "start even when the conflict check finds conflicts")
	cmd.Flags().BoolVar(&o.foreground, "foreground", false, "stay attached: stream logs, stop everything on Ctrl-C")
	addOutputFlag(cmd, &o.output, formatTable, formatJSON)
	return cmd
}

func runUp(cmd *cobra.Command, streams *IOStreams, g *globalOptions, o *upOptions) error {
	policy, err := o.run.Policy()
	if err != nil {
		return err
	}
	ctx, stop := interruptible(cmd.Context())
	defer stop()

	planned := configPrint(g.configPath)
	cfg, err := planflags.Load(cmd.Flags(), g.configPath, &o.plan.Options)
	if err != nil {
		return err
	}
	// A refused start leaves nothing behind: the plan and the metrics
	// address are checked first, from what the state directory holds,
	// without creating it.
	early, err := refuseBeforeStart(ctx, streams, cfg, o)
	if err != nil {
		return err
	}
	store, err := state.Open(cfg.StateDir())
	if err != nil {
		return err
	}
	// Read (or rebuild) the state before locking: a rebuild takes the lock.
	f, err := loadState(streams, cfg, store, true)
	if err != nil {
		return err
	}
	// The plan, the homes and the state file change together, under the
	// state lock: two concurrent `mictl up` never both launch an instance.
	unlock, err := store.Lock(ctx)
	if err != nil {
		return err
	}
	// The simulator's distribution is unpacked under the lock (two ups
	// would unpack it into one directory at once) and before the daemon
	// starts following it: unpacked while the daemon watched, it was a
	// change the daemon reloaded for, in one fresh up of 20 in two.
	if _, err := reconcile.SourceDistribution(cfg); err != nil {
		unlock()
		return err
	}
	// The daemon (a process as slow to start as this one) starts while
	// the homes are prepared: it waits for the state lock held here, then
	// finds the instances recorded and starts them.
	var daemonUp chan spawned
	spawn := func(before *state.File) {
		note, err := spawnDaemon(ctx, store, before, startArgs(&o.run, cfg, cmd.Flags(), before), false)
		daemonUp <- spawned{note, err}
	}
	if !o.foreground {
		warnOtherBuild(streams, f)
		daemonUp = make(chan spawned, 1)
		go spawn(f)
	}
	prep, err := prepareUp(streams, cfg, store, o, early)
	unlock()
	names := prep.names
	if err != nil {
		if daemonUp != nil {
			// Not cut short by this process's exit: the daemon started
			// for this up finds nothing asked of it, and leaves.
			<-daemonUp
		}
		return err
	}

	if o.foreground {
		return runForeground(ctx, streams, g, cfg, store, policy, prep)
	}
	warnPolicy(streams, store, &o.run, cfg, cmd.Flags())
	progress := newProgress(streams, names)
	var reply supervisor.Reply
	var callErr error
	for attempt := 0; attempt < 2; attempt++ {
		// A daemon that was going idle as this up began exits after it
		// answered a ping: start another and ask again, once.
		if attempt > 0 {
			go spawn(nil)
		}
		up := <-daemonUp
		if up.err != nil {
			// Shown once withdrawn: the instances it did not start stopped.
			return showUnanswered(streams, store, f, o.output, errors.Join(up.err, withdraw(streams, store, prep)))
		}
		printNote(streams, up.note)
		f, _ := store.Load() // names the daemon if it does not answer
		reply, callErr = askDaemon(ctx, store, f, supervisor.Request{
			Op: supervisor.OpStart, Names: names, Timeout: policy.ReadyTimeout, Conflicts: &prep.conflicts,
		}, progress.event)
		if !errors.Is(callErr, supervisor.ErrNoDaemon) {
			break
		}
	}
	if errors.Is(callErr, supervisor.ErrNoDaemon) || errors.Is(callErr, supervisor.ErrNotAnswering) {
		callErr = errors.Join(callErr, withdraw(streams, store, prep))
	}
	noteLostLines(streams, reply)
	if callErr == nil && reply.PID != 0 && configPrint(g.configPath) != planned {
		applyEditedMeanwhile(ctx, streams, store, g.configPath, cfg.InstancesDir)
	}
	r, err := reportAfter(store, reply, callErr)
	if err != nil {
		return err
	}
	if err := printStatusReport(streams, r, nil, o.output, store); err != nil {
		return err
	}
	if err := startFailure(callErr, supervisor.DeploymentArgs(cfg.File, cfg.InstancesDir)); err != nil {
		return err
	}
	return notReady(r, names, cfg.Names())
}

// startFailure is up's error for how its start request ended (callErr),
// nil when every instance is ready. An interrupt is told by the call's
// exit code, not by up's own context: the call's handler may see the
// Ctrl-C and return before up's is cancelled (then "not every instance
// is ready" wrapped the call's interruption, about once in 20).
// deployment names up's deployment in the advice (AsRunFor).
func startFailure(callErr error, deployment []string) error {
	switch {
	case callErr == nil:
		return nil
	case exitcode.Of(callErr) == exitcode.Interrupted:
		return exitcode.With(exitcode.Interrupted, fmt.Errorf("interrupted before every instance was ready: the mictl daemon goes on starting them (%s shows them, %s stops them)",
			supervisor.AsRunFor(deployment, "mictl status"), supervisor.AsRunFor(deployment, "mictl down")))
	}
	return exitcode.With(exitcode.Runtime, fmt.Errorf("not every instance is ready:\n%s", indented(callErr.Error())))
}

// prepared is what prepareUp recorded.
type prepared struct {
	// names are every instance name of the plan.
	names []string
	// added are the instances it recorded starting that nothing wanted
	// running before (see withdraw), and daemon the daemon the state
	// file recorded then.
	added  []string
	daemon *state.Daemon
	// again are the instances it marked to start again once the stop
	// under way of each ended (see withdraw), their marks naming markedBy,
	// this up (zero when its own /proc entry was unreadable).
	again    []string
	markedBy proc.Identity
	// conflicts is how many conflicts the check of the plan found
	// (started anyway: --force), for the daemon's metrics.
	conflicts int
}

// spawned is how the daemon up starts beside its preparation came up:
// the note it has for stderr (see spawnDaemon), printed by up itself once
// its own output allows.
type spawned struct {
	note string
	err  error
}

// reloadMoves reports whether a reload, planning as the daemon does
// (mictl.toml under the last up's planning flags, f's), would move name,
// running at offset, elsewhere: a plain up refused for an offset
// mictl.toml gives said "mictl reload" while the last up's --offsets
// kept the instance where it ran (the reload: "no change").
func reloadMoves(cfg *config.Config, f *state.File, name string, offset int) bool {
	if len(f.UpArgs) == 0 {
		return true // a reload plans as this up did
	}
	reloaded, offsets, err := daemon.NewFollow(cfg.File, cfg).Load(f.UpArgs)
	if err != nil {
		return false // the reload would refuse: it moves nothing
	}
	t, err := reconcile.Build(reloaded, f, reconcile.Options{Offsets: offsets})
	if err != nil {
		return false
	}
	planned, ok := t.Instance(name)
	return ok && planned.Offset != offset
}

// prepareUp plans (keeping persisted offsets), checks, prepares the homes
// of the instances that are not running and records them in the state
// file, starting. The caller holds the state lock. early is
// refuseBeforeStart's plan, taken again when the state file has not
// changed since it was made.
func prepareUp(streams *IOStreams, cfg *config.Config, store *state.Store, o *upOptions, early earlyPlan) (prepared, error) {
	f, err := store.Load()
	if err != nil {
		return prepared{}, err
	}
	prep := prepared{daemon: f.Daemon}
	t, err := early.t, nil
	if !sameState(early.from, f) {
		// Another command recorded something meanwhile (a concurrent up
		// its instances, a daemon a start): planned again from that.
		t, err = reconcile.Build(cfg, f, upBuildOptions(o))
	}
	if err != nil {
		return prepared{}, err
	}
	// up starts what the configuration names; an instance only the state
	// file still knows (from an earlier, larger up) keeps its offset in the
	// plan but is not started again.
	wanted := cfg.Names()
	var fresh, replanned, noted []string
	daemonStops := f.Daemon != nil && f.Daemon.Alive()
	for _, inst := range t.Plan.Instances {
		rec, known := f.Instance(inst.Name)
		running := known && reconcile.Running(*rec)
		if daemonStops && known && rec.State == state.StateStopping && !rec.RestartUnderWay() && slices.Contains(wanted, inst.Name) {
			prep.again = append(prep.again, inst.Name)
		}
		if !running && slices.Contains(wanted, inst.Name) {
			fresh = append(fresh, inst.Name)
			if !known || !state.Wanted(rec.State) {
				prep.added = append(prep.added, inst.Name)
			}
			// A stopped instance's offset is not kept, nor a failed one's
			// once what placed it changed: one the planner now places
			// elsewhere moves every port its clients knew.
			if known && rec.Offset != inst.Offset && inst.From == ports.OffsetFromPlanner {
				why := "the planner places a stopped instance again"
				if rec.State == state.StateFailed {
					why = "the planner places a failed instance again"
					if changed := t.Replanned[inst.Name]; changed != "" {
						why += ", as " + changed
					}
				}
				taken, passed := lastPortTaken(t, *rec), passedOver(t, inst, rec.Offset)
				switch {
				case taken != nil && passed != "":
					why = fmt.Sprintf("at %d %s, and the planner %s", rec.Offset, taken, passed)
				case taken != nil:
					why = fmt.Sprintf("at %d %s", rec.Offset, taken)
				case passed != "":
					why += " and " + passed
				}
				noted = append(noted, inst.Name)
				replanned = append(replanned, fmt.Sprintf("%s starts at offset %d, not %d where it last ran (its http port %d was %d): %s; %s",
					inst.Name, inst.Offset, rec.Offset, inst.Ports()[ports.HTTP], rec.Ports[ports.HTTP], why, backAdvice(cfg, inst.Name, taken, rec.Offset)))
			}
		} else if running && rec.Offset != inst.Offset {
			if rec.RestartUnderWay() {
				// Not a server to stop first: a restart is under way (a
				// reload's, whose daemon may have died in it, leaving the
				// reload's other instances where they were). A reload
				// finishes it, replacing a dead daemon, and applies the
				// rest; up never moves a running instance.
				return prepared{}, exitcode.Usagef("%s is being restarted, from offset %d, to its configured offset %d: mictl reload finishes that restart and applies what else the configuration changed (mictl diff shows what is left to apply)", inst.Name, rec.Offset, inst.Offset)
			}
			if inst.From == ports.OffsetFromFlag {
				// Only this command asks for the new offset: a reload
				// plans from mictl.toml and the last up's flags, so it
				// would change nothing ("mictl reloaded: no change").
				return prepared{}, exitcode.Usagef("%s runs with offset %d; --offsets gives it %d, and an instance keeps its offset while it runs: stop it first (mictl down %s), then run this up again; or give it %d in --offsets",
					inst.Name, rec.Offset, inst.Offset, inst.Name, rec.Offset)
			}
			if !reloadMoves(cfg, f, inst.Name, rec.Offset) {
				return prepared{}, exitcode.Usagef("%s runs with offset %d; its configured offset is now %d, but a reload plans with the last up's flags (%s), which keep it at %d (mictl reload changes nothing): stop it first (mictl down %s), then run this up again",
					inst.Name, rec.Offset, inst.Offset, asRunHere(cfg, supervisor.LastUp(f)), rec.Offset, inst.Name)
			}
			return prepared{}, exitcode.Usagef("%s runs with offset %d; its configured offset is now %d: stop it first (mictl down %s), or let the daemon apply the change (mictl reload)", inst.Name, rec.Offset, inst.Offset, inst.Name)
		}
	}
	report := t.Conflicts()
	if !report.OK() && !o.force {
		return prepared{}, reportRefusal(streams, t, f, report, o.output, true)
	}
	prep.conflicts = len(report.Conflicts)
	// Said before the start, as check-conflicts says them, of the
	// instances this up starts (those that run were told when they
	// started): what --force let through, and what is only a warning (a
	// port an outgoing connection may take first).
	starts := func(f check.Finding) bool {
		return slices.ContainsFunc(f.Instances, func(name string) bool { return slices.Contains(fresh, name) })
	}
	ofThisUp := func(fs []check.Finding) []check.Finding {
		return slices.DeleteFunc(slices.Clone(fs), func(f check.Finding) bool { return !starts(f) })
	}
	warnSome(streams, ofThisUp(report.Conflicts), "conflicts", " (starting anyway: --force)")
	warnSome(streams, ofThisUp(report.Warnings), "warnings", "")
	for _, n := range slices.Concat(replanned, leftoverNotes(cfg, f, wanted, o.plan.Args), unappliedNotes(t, f, fresh), moveNotes(t, noted), runTimeNotes(t)) {
		fmt.Fprintf(streams.ErrOut, "note: %s\n", n)
	}
	created := absentHomes(cfg, fresh)
	records, err := prepareHomes(streams, t, f, fresh)
	if err != nil {
		return prepared{}, discardHomes(created, err)
	}
	for _, name := range fresh {
		// An instance that stopped or failed starts a new run, its
		// restarts counted from none: RESTARTS carried 5 over a down and
		// up, and read 6 beside "gave up after 5 restarts in a row". (A restart
		// or a reload's goes on counting.)
		if rec, ok := f.Instance(name); ok && !reconcile.Active(*rec) {
			rec.Restarts = 0
		}
	}
	t.Merge(f, records)
	// An instance the daemon is stopping (a reload's stop that removes
	// it, a down's) is started by this up's start once that stop ended
	// (the daemon's start waits for it), and is marked so, as a restart's
	// stop marks it: the mark outlives the stop's record of its end
	// (stopped, written over what this up records), and a reload's forget
	// of the instance keeps a record so marked. Unmarked, the forget
	// dropped the record of a running mi-2, of which this up wrote nothing
	// new, and this up's start, reaching the daemon after that, found no
	// mi-2 to start. Its state stays the stop's: status says stopping of
	// a server that stops. The daemon's start takes the mark off. A stop
	// no daemon carries on (a killed down's), which no reload forgets, is
	// not marked: the daemon this up starts finishes it by the deadline
	// it was given (state.Instance.StopBy), where it took a marked one
	// for a restart's, stopped by the policy's timeout. The mark names
	// this up (MarkedBy) until the daemon takes its start, and counts only
	// while it runs: an up killed before its start reached the daemon
	// left a mark nothing took off, the daemon stayed for it once
	// everything was stopped, and the next daemon started mi-2 as a
	// restart left unfinished.
	// (Unreadable, its own /proc entry leaves the mark the daemon's: it
	// counts until a start or a stop takes it off.)
	self, _ := proc.Identify(os.Getpid())
	prep.markedBy = self
	for _, name := range prep.again {
		if inst, ok := f.Instance(name); ok {
			inst.Restarting, inst.MarkedBy = true, self
		}
	}
	// This up planned from the current configuration; what it does not
	// name, it leaves as it is (a reload too). The last reload's failure
	// is forgotten, the instances it left failed with it.
	f.UpArgs, f.Configured = o.plan.Args, wanted
	f.ForgetReload()
	prep.names = wanted
	// Not fsynced: the daemon answers the start only after a durable
	// write of the whole file.
	return prep, store.Quick().Save(f)
}

// absentHomes are the homes of names that do not exist yet: those this
// up creates, and removes again if it cannot finish them.
func absentHomes(cfg *config.Config, names []string) []string {
	var dirs []string
	for _, name := range names {
		dir := cfg.InstanceDir(name)
		if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// discardHomes removes the homes in created, which this up made and whose
// preparation failed with err (nothing started or recorded them), and
// adds to err what it removed and what it could not. Left, an empty or
// half-copied home looked like an instance to status, logs and the next
// up.
func discardHomes(created []string, err error) error {
	var removed, left []string
	for _, dir := range created {
		if _, statErr := os.Lstat(dir); errors.Is(statErr, fs.ErrNotExist) {
			continue // the failure came before this one was begun
		}
		if rmErr := home.Discard(dir); rmErr != nil {
			left = append(left, fmt.Sprintf("%s (cannot remove it: %v)", dir, fsutil.Cause(rmErr)))
			continue
		}
		removed = append(removed, dir)
	}
	if len(removed) > 0 {
		err = fmt.Errorf("%w\nremoved what this up had made of %s: the next mictl up makes %s again", err,
			words.And(removed), words.ItOrThem(len(removed)))
	}
	if len(left) > 0 {
		them := words.ItOrThem(len(left))
		err = fmt.Errorf("%w\nleft half made: %s; the next mictl up finishes %s, or remove %s", err, words.And(left), them, them)
	}
	return err
}

// withdraw records the instances prep added as stopped again, when this
// up's start reached no daemon: left starting, they read as a start
// under way that nothing carries out (status exit 0 for good), and the
// daemon of whichever command came next started them behind the failed
// up. So are the marks prep put on instances being stopped, to start
// again (a daemon's start takes them off): left, the daemon stayed for
// them once the stop ended, and the next one started them. Those a
// daemon may have taken are left to it: a daemon recorded since prep (it
// read them as it started, and starts them), or a server launched.
func withdraw(streams *IOStreams, store *state.Store, prep prepared) error {
	if len(prep.added) == 0 && len(prep.again) == 0 {
		return nil
	}
	var withdrawn []string
	// Not the command's context: an interrupted up withdraws too, for a
	// while (the lock another command holds is let go within seconds;
	// the signal up catches would not end a longer wait).
	ctx, cancel := context.WithTimeout(context.Background(), withdrawWait)
	defer cancel()
	err := store.Update(ctx, func(f *state.File) error {
		withdrawn = nil
		if d := f.Daemon; d != nil && d.Alive() && (prep.daemon == nil || d.Identity != prep.daemon.Identity) {
			return nil
		}
		for _, name := range prep.added {
			if inst, ok := f.Instance(name); ok && inst.State == state.StateStarting && inst.Server.IsZero() && inst.PGID == 0 {
				inst.State = state.StateStopped
				withdrawn = append(withdrawn, name)
			}
		}
		// Only while the mark is still this up's: one the daemon took
		// (its MarkedBy cleared once this up's start reached it, see
		// supervisor's takeMarks) is the daemon's start to make, which an
		// up ended now (a Ctrl-C) leaves to it; cleared here, the
		// instance stayed stopped. A mark naming no up (this up's own
		// /proc unreadable) cannot be told from the daemon's: left too.
		for _, name := range prep.again {
			if inst, ok := f.Instance(name); ok && inst.RestartUnderWay() && !prep.markedBy.IsZero() && inst.MarkedBy == prep.markedBy {
				inst.Restarting, inst.MarkedBy = false, proc.Identity{}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s left recorded to start, though no daemon took the start (mictl down %[1]s records them stopped): %w", strings.Join(slices.Concat(prep.added, prep.again), " "), err)
	}
	if len(withdrawn) > 0 {
		fmt.Fprintf(streams.ErrOut, "note: not started, and recorded stopped: %s; mictl up again starts them once the daemon answers\n",
			strings.Join(withdrawn, ", "))
	}
	return nil
}

// withdrawWait bounds withdraw's wait for the state lock.
const withdrawWait = 5 * time.Second

// configPrint is the content hash of the configuration file at path
// (mictl.toml when empty, as the daemon follows it), "" when there is
// none.
func configPrint(path string) string {
	sum, _ := fsutil.SHA256(cmp.Or(path, config.DefaultFile))
	return sum
}

// applyEditedMeanwhile has the daemon apply the configuration file at
// path, changed since this up read it: a daemon follows it from its own
// start on, and an edit made before then waited for the next one. It is
// asked once it has served this up's start, which the reload must not
// race (see supervisor.catchUpEnv); should it follow the file already,
// the reload finds nothing more to do. instancesDir is where up runs them.
func applyEditedMeanwhile(ctx context.Context, streams *IOStreams, store *state.Store, path, instancesDir string) {
	file := cmp.Or(path, config.DefaultFile)
	fmt.Fprintf(streams.ErrOut, "note: %s changed while up ran: the daemon applies it now, as mictl reload does\n", file)
	f, _ := store.Load() // names the daemon if it does not answer
	if _, err := askDaemon(ctx, store, f, supervisor.Request{Op: supervisor.OpReload}, nil); err != nil {
		fmt.Fprintf(streams.ErrOut, "warning: applying the edited %s: %v; mictl diff shows what it would change, mictl reload applies it\n", file, err)
		return
	}
	// An edit of a setting this up's flags set (instances = 3 under
	// --instances 2) is not applied: said, or "applies it now" read as
	// though it were.
	if f != nil {
		noteOverridden(streams, path, instancesDir, f)
	}
}

// unappliedNotes says which running instances run with settings the
// configuration changed since they started: an edit made while no daemon
// followed the file, or the rest of a reload whose daemon died halfway.
// up starts what does not run (fresh) and leaves what runs as it is, and
// the daemon it starts does not apply the file on its own (it would race
// this up's start, see supervisor.catchUpEnv): unsaid, up exited 0 with
// the edit applied to none of them, or to half of them.
func unappliedNotes(t *reconcile.Target, f *state.File, fresh []string) []string {
	if !slices.ContainsFunc(f.Instances, reconcile.Running) {
		return nil // nothing runs: the cost of comparing is spared a first up
	}
	// Follow, not Compare: up applies t, so a running home whose files
	// are mi_home's, copied elsewhere, is recorded as synced from it.
	changes, err := reconcile.Follow(t, f)
	if err != nil {
		return nil // said by mictl diff, which compares the same way
	}
	var names, edited []string
	for _, name := range slices.Concat(changes.Restart, changes.Redeploy) {
		if slices.Contains(fresh, name) {
			continue
		}
		// An edit in the home is not the configuration's change: said
		// as one, it sent the operator to a reload that replaced it.
		if strings.Contains(changes.Why[name], reconcile.EditedWhy) {
			edited = append(edited, name)
		}
		if changes.Why[name] != reconcile.EditedWhy {
			names = append(names, name)
		}
	}
	var notes []string
	if len(names) > 0 {
		notes = append(notes, strings.Join(names, ", ")+": running with settings the configuration changed since, and up leaves running instances as they are: mictl reload applies the change (mictl diff shows it)")
	}
	for _, name := range edited {
		rec, _ := f.Instance(name)
		notes = append(notes, fmt.Sprintf("%s: %s, edited in the home, differs from what mictl renders, and up leaves running instances as they are; a reload or a restart renders it again, keeping the edited file as %s: "+
			"to keep a setting of it, put it in mictl.toml ([[instance]] name = %q, with overrides) first (mictl diff shows the difference)", name, home.ConfPath(rec.Home), home.EditedConfPath(rec.Home), name))
	}
	return notes
}

// leftoverNotes says which instances of f this up does not plan (wanted)
// and leaves as they are: those still running, which `up --instances 8`
// after 10 left running without a word (an up never stops anything);
// those in a fault state, which status goes on showing and exiting 3 for,
// which an up that exited 0 did not explain; and those stopped that the
// last up's planning flags named and this up's (args) do not, which a
// plain up after `up --instances 3` and `down mi-2` left stopped without
// a word, though restart had said that up starts it.
func leftoverNotes(cfg *config.Config, f *state.File, wanted, args []string) []string {
	var notes, beyond []string
	for _, rec := range f.Instances {
		if slices.Contains(wanted, rec.Name) {
			continue
		}
		if reconcile.Running(rec) {
			beyond = append(beyond, rec.Name)
			continue
		}
		switch {
		case state.Faulted(rec.State):
			again := ""
			if !slices.Equal(f.UpArgs, args) {
				again = upAgain(cfg, f, rec.Name)
			}
			notes = append(notes, fmt.Sprintf("%s is %s and not in this up's plan: up leaves it so, and mictl status goes on showing it (exit 3); %s%s forgets it", rec.Name, rec.State, again, asRunHere(cfg, "mictl down --purge "+rec.Name)))
		case rec.State == state.StateStopped && supervisor.PlannedByLastUp(f, rec.Name) && !slices.Equal(f.UpArgs, args):
			plan := "the configuration's " + words.Count(len(wanted), "instance")
			if len(args) > 0 {
				plan = words.Count(len(wanted), "instance")
			}
			notes = append(notes, fmt.Sprintf("%s stays stopped: this up plans %s, and the last up's %s planned it; %s starts it",
				rec.Name, plan, shellword.Join(f.UpArgs), asRunHere(cfg, supervisor.UpCommand(f, rec.Name, false))))
		}
	}
	if len(beyond) > 0 {
		notes = append(notes, beyondNote(beyond, "the "+words.Count(len(wanted), "instance")+" this up plans (up never stops an instance)"))
	}
	return notes
}

// upAgain is, followed by ", ", the up that starts the named instance of
// f again when the planning flags of the last up planned it (a plain up,
// which plans mictl.toml, does not), as it pastes where this command ran
// on cfg; "" when they did not.
func upAgain(cfg *config.Config, f *state.File, name string) string {
	if !supervisor.PlannedByLastUp(f, name) {
		return ""
	}
	return asRunHere(cfg, supervisor.UpCommand(f, name, false)) + " starts it again (the last up's flags planned it), "
}

// beyondNote says that the running instances names keep running beyond
// plan, and what stops them.
func beyondNote(names []string, plan string) string {
	return fmt.Sprintf("%s %s running beyond %s: mictl down %s stops %s", strings.Join(names, ", "), words.Verb(len(names), "keep"), plan, strings.Join(names, " "), words.ItOrThem(len(names)))
}

// warnAtMost is how many findings of a kind up says one by one before it
// only counts the rest: five hundred instances in the ephemeral range made
// two thousand lines of warnings.
const warnAtMost = 10

// warnSome says findings (what: "warnings", "conflicts") as warnings, each
// followed by suffix: of each kind, the first warnAtMost one by one, then
// how many more there are, so that a rarer kind is not hidden behind a
// flood of another.
func warnSome(streams *IOStreams, findings []check.Finding, what, suffix string) {
	var kinds []string
	byKind := map[string][]check.Finding{}
	for _, f := range findings {
		if _, seen := byKind[f.Kind]; !seen {
			kinds = append(kinds, f.Kind)
		}
		byKind[f.Kind] = append(byKind[f.Kind], f)
	}
	for _, kind := range kinds {
		for i, f := range byKind[kind] {
			if i == warnAtMost {
				fmt.Fprintf(streams.ErrOut, "warning: %d more %s %s%s; mictl check-conflicts lists them all\n", len(byKind[kind])-warnAtMost, kind, what, suffix)
				break
			}
			fmt.Fprintf(streams.ErrOut, "warning: %s%s\n", f.Message, suffix)
		}
	}
}

// earlyPlan is the plan refuseBeforeStart made (t) and the state it made
// it from.
type earlyPlan struct {
	t    *reconcile.Target
	from *state.File
}

// upBuildOptions are how up plans, before the state lock and under it.
func upBuildOptions(o *upOptions) reconcile.Options {
	return reconcile.Options{Offsets: o.plan.Offsets, KeepUnknown: true, Env: supervisor.CaptureEnv(os.Environ())}
}

// sameState reports whether a and b record the same: a plan made from a
// holds for b. Compared as the file writes them, no instances and none
// listed alike (a missing file reads as either).
func sameState(a, b *state.File) bool {
	if a == nil || b == nil {
		return false
	}
	encode := func(f state.File) ([]byte, error) {
		if f.Instances == nil {
			f.Instances = []state.Instance{}
		}
		return json.Marshal(f)
	}
	ja, errA := encode(*a)
	jb, errB := encode(*b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// refuseBeforeStart plans cfg against what runs, read without creating or
// locking anything, and refuses (--force or not) to start an instance in
// a home another server runs in, then (without --force) a plan that
// conflicts, with the report. Its plan is prepareUp's too while the
// state file stays as it was: each plan scans the host's sockets and
// reads the fds of every running instance's processes, 6 ms of an up
// beside twenty running.
func refuseBeforeStart(ctx context.Context, streams *IOStreams, cfg *config.Config, o *upOptions) (earlyPlan, error) {
	// Every simulated server gets up's MICTL_SIM_ variables: one it cannot
	// read made each start fail after up had prepared and launched them
	// all (exit 3), for what is a bad input. A real MI reads none.
	if cfg.UsesSimulator() || sim.IsDist(cfg.MIHome) {
		if err := sim.CheckFaults(os.Getenv); err != nil {
			return earlyPlan{}, exitcode.Usagef("%v (mictl sim --help says what each MICTL_SIM_ variable takes; unset one for its default)", err)
		}
	}
	f, err := currentState(cfg)
	if err != nil {
		return earlyPlan{}, err
	}
	t, err := reconcile.Build(cfg, f, upBuildOptions(o))
	if err != nil {
		return earlyPlan{}, err
	}
	if err := refuseServersInHomes(streams, t, f, o.output); err != nil {
		return earlyPlan{}, err
	}
	if err := refuseSecondDeployment(cfg, f); err != nil {
		return earlyPlan{}, err
	}
	if err := refuseAnotherConfig(cfg, f); err != nil {
		return earlyPlan{}, err
	}
	report := t.Conflicts()
	// The daemon listens on metrics_addr (up --foreground's is this
	// process, which says so when it cannot): held by another process, it
	// is a conflict --force cannot get past.
	var metricsBusy *check.Finding
	if !o.foreground {
		if metricsBusy, err = metricsAddrConflict(ctx, t); err != nil {
			return earlyPlan{}, err
		}
	}
	if metricsBusy != nil {
		report.Conflicts = append(report.Conflicts, *metricsBusy)
	}
	if !report.OK() && (!o.force || metricsBusy != nil) {
		return earlyPlan{}, reportRefusal(streams, t, f, report, o.output, metricsBusy == nil)
	}
	return earlyPlan{t: t, from: f}, nil
}

// reportRefusal prints why up refuses to start: each conflict (with -o
// json, the check as check-conflicts -o json gives it), and for an offset
// the user or the running deployment fixed, where it comes from and the
// command that fixes it.
func reportRefusal(streams *IOStreams, t *reconcile.Target, f *state.File, report check.Report, output string, forcible bool) error {
	// The conflicts come before the refusal that says to fix those
	// "above": in the table's output, or on stderr beside the JSON, where
	// a pipeline's log kept only the hints and the refusal of them.
	said := streams.Out
	if output == formatJSON {
		if err := writeJSON(streams.Out, newConflictsReport(t, f, report, nil)); err != nil {
			return err
		}
		said = streams.ErrOut
	}
	for _, c := range report.Conflicts {
		fmt.Fprintf(said, "conflict: %s\n", c.Message)
	}
	for _, hint := range slices.Concat(shippedNotes(t, report.Conflicts), refusalHints(t, f, report)) {
		fmt.Fprintf(streams.ErrOut, "hint: %s\n", hint)
	}
	if forcible {
		fmt.Fprintln(streams.ErrOut, "mictl: refusing to start: fix the conflicts above, or start anyway with --force")
	} else {
		fmt.Fprintln(streams.ErrOut, "mictl: refusing to start: fix the conflicts above (--force cannot start a daemon on a metrics_addr another process holds)")
	}
	return errReported
}

// runForeground supervises in this process until Ctrl-C, streaming every
// instance's log with a prefix, then stops every instance gracefully.
func runForeground(ctx context.Context, streams *IOStreams, g *globalOptions, cfg *config.Config, store *state.Store, policy supervisor.Policy, prep prepared) error {
	names := prep.names
	// Ctrl-C reaches the whole pipeline: in mictl up --foreground | tee
	// up.log, tee ends at once, and a write to its pipe would SIGPIPE
	// mictl in the middle of the graceful stop (the instances then still
	// wanted, started again by the next command). Such writes fail
	// instead, and the stop goes on. Caught, not ignored: an ignored
	// signal stays ignored across exec, in every server started.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	opts, err := daemon.Options(cfg, policy, nil, daemon.NewFollow(g.configPath, cfg))
	if err != nil {
		return err
	}
	d, err := supervisor.StartDaemon(store, opts)
	var held *supervisor.DaemonHeldError
	if errors.As(err, &held) {
		return exitcode.Usagef("%s already supervises %s; stop it with mictl down, or run without --foreground", held.Holder(), asTyped(cfg.InstancesDir))
	}
	if err != nil {
		return err
	}
	defer d.Close()
	d.Sup.SetConflicts(prep.conflicts)
	if err := d.Sup.Start(names); err != nil {
		return err
	}
	rotating, stopRotating := context.WithCancel(context.Background())
	rotated := make(chan struct{})
	go func() {
		defer close(rotated)
		daemon.RotateLogsUntil(rotating, d.Sup, daemon.LogCheckEvery, func(format string, a ...any) {
			fmt.Fprintf(streams.ErrOut, "mictl: "+format+"\n", a...)
		})
	}()
	defer func() { stopRotating(); <-rotated }() // before d.Close: a rotation uses its event log
	stopLogs := followLogs(streams, cfg, names)
	ready := make(chan error, 1)
	go func() { ready <- d.Sup.WaitReady(names, policy.ReadyTimeout) }()
	var startErr error
	select {
	case startErr = <-ready:
		if startErr != nil {
			fmt.Fprintf(streams.ErrOut, "mictl: not every instance is ready:\n%s\n", indented(startErr.Error()))
		} else {
			fmt.Fprintf(streams.ErrOut, "mictl: %s ready; Ctrl-C stops them\n", words.Count(len(names), "instance"))
		}
		if !untilInterrupted(ctx, d) {
			stopLogs()
			fmt.Fprintln(streams.ErrOut, "mictl: every instance was stopped (mictl down); nothing left to supervise")
			return startErr
		}
	case <-ctx.Done():
	}
	fmt.Fprintln(streams.ErrOut, "mictl: stopping every instance gracefully (Ctrl-C again to kill them now)...")
	killed := killOnSecondSignal(store)
	err = d.Sup.StopRunning(policy.StopTimeout)
	killed()
	stopLogs()
	if err = errors.Join(startErr, err); err != nil {
		return exitcode.With(exitcode.Runtime, err)
	}
	return nil
}

// untilInterrupted supervises until Ctrl-C (true), or until a mictl down
// from elsewhere stopped everything (false): then, like the daemon, the
// foreground up has nothing left to do, and that down waits for it to go.
func untilInterrupted(ctx context.Context, d *supervisor.Daemon) bool {
	for {
		select {
		case <-ctx.Done():
			return true
		case <-d.Idle():
			if d.Unneeded() {
				return false
			}
		}
	}
}

// followLogs streams the console logs of names to stdout, each line
// prefixed with its instance, until the returned func is called.
func followLogs(streams *IOStreams, cfg *config.Config, names []string) (stop func()) {
	srcs := make([]logs.Source, len(names))
	for i, n := range names {
		srcs[i] = logs.Source{Name: n, Path: home.ConsoleLog(cfg.InstanceDir(n))}
		// The follow watches the log's directory, which an instance's
		// first launch makes: it may not be there yet.
		_ = os.MkdirAll(filepath.Dir(srcs[i].Path), 0o755)
	}
	// Not the command's context: the shutdown lines printed after Ctrl-C
	// are worth showing too.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := logs.FollowAll(ctx, streams.Out, srcs, logs.Options{Lines: 0, Prefix: logs.NewPrefixer(names, streams.Color())})
		if err != nil {
			fmt.Fprintf(streams.ErrOut, "mictl: following logs: %v\n", err)
		}
	}()
	return func() { cancel(); <-done }
}

// killOnSecondSignal SIGKILLs every instance's process group if another
// Ctrl-C comes while the graceful stop (up to MI's 180 s drain) runs. The
// returned func ends the wait.
func killOnSecondSignal(store *state.Store) (done func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stop := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-sigs:
		case <-stop:
			return
		}
		f, err := store.Load()
		if err != nil {
			return
		}
		for _, inst := range f.Instances {
			if proc.GroupOf(inst.PGID, inst.Home, inst.Server) {
				_ = proc.SignalGroup(inst.PGID, syscall.SIGKILL)
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(stop)
		<-ended
	}
}
