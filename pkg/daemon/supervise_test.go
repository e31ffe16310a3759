package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// failingDaemon starts a daemon over a state file that wants two
// instances started whose homes hold no start script: each start fails
// at once. It returns the daemon and its state store.
func failingDaemon(t *testing.T) (*supervisor.Daemon, *state.Store) {
	t.Helper()
	return failingDaemonOf(t, 2)
}

// failingDaemonOf is failingDaemon with n instances.
func failingDaemonOf(t *testing.T, n int) (*supervisor.Daemon, *state.Store) {
	t.Helper()
	return daemonOver(t, func(dir string) (insts []state.Instance) {
		for i := range n {
			name := fmt.Sprintf("mi-%d", i+1)
			home := filepath.Join(dir, name)
			if err := os.MkdirAll(home, 0o755); err != nil {
				t.Fatal(err)
			}
			insts = append(insts, state.Instance{Name: name, Home: home, State: state.StateStarting})
		}
		return insts
	})
}

// daemonOver starts a daemon over a state file that records the
// instances records gives for the instances directory dir (new). It
// returns the daemon and its state store.
func daemonOver(t *testing.T, records func(dir string) []state.Instance) (*supervisor.Daemon, *state.Store) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "instances")
	store, err := state.Open(filepath.Join(dir, ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	insts := records(dir)
	err = store.Update(context.Background(), func(f *state.File) error {
		f.Instances = insts
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := supervisor.StartDaemon(store, supervisor.DaemonOptions{Policy: supervisor.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d, store
}

// syncLog is a daemon log the test reads while supervise writes it.
type syncLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *syncLog) logf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, a...))
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// superviseAway runs supervise on d, its log checks an hour apart, in
// the background; the channel gets what it returned.
func superviseAway(d *supervisor.Daemon, log *syncLog) <-chan error {
	done := make(chan error, 1)
	go func() { done <- supervise(d, "", time.Hour, log.logf) }()
	return done
}

// awaitLeaving fails the test unless supervise (done) returns within a
// minute: it waited for its next log check to see what it could see at
// once.
func awaitLeaving(t *testing.T, done <-chan error, log *syncLog) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("supervise: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the daemon stayed a minute after every instance failed or stopped on its own, waiting for its next log check; its log:\n%s", log)
	}
}

// The daemon leaves as soon as its last instance failed, not at its
// next log check (every 10 s): a failure is an event. Leaving, it has
// recorded every failure, and says why in its log.
func TestDaemonLeavesOnceTheLastInstanceFailed(t *testing.T) {
	d, store := failingDaemon(t)
	log := &syncLog{}
	awaitLeaving(t, superviseAway(d, log), log)
	if want := "every instance stopped or failed, exiting"; !strings.Contains(log.String(), want) {
		t.Errorf("the daemon's log does not say %q:\n%s", want, log)
	}
	if !allFailed(t, store) {
		f, _ := store.Load()
		t.Errorf("the daemon left with the instances recorded %+v, want each failed", f.Instances)
	}
}

// The runners' returns, each signalled on a signal of one slot
// (RunnerEnded), come together: many fail at once. One signal stands for
// all the returns before it is taken, and the look that follows the last
// one finds none active: the daemon leaves then, not at its next log
// check, and has recorded every failure.
func TestDaemonLeavesOnceTheLastOfManyInstancesFailed(t *testing.T) {
	d, store := failingDaemonOf(t, 40)
	log := &syncLog{}
	awaitLeaving(t, superviseAway(d, log), log)
	if !allFailed(t, store) {
		f, _ := store.Load()
		t.Errorf("the daemon left with the instances recorded %+v, want each failed", f.Instances)
	}
}

// The daemon leaves as soon as its last instance stopped on its own (its
// server shut down gracefully, and restart policy on-failure leaves it
// stopped), as it does once the last one failed: it stayed until its
// next log check (10 s), with nothing to supervise.
func TestDaemonLeavesOnceTheLastInstanceStoppedOnItsOwn(t *testing.T) {
	d, store, pid, console := daemonOfAServer(t, exec.Command("sleep", "600"))
	log := &syncLog{}
	done := superviseAway(d, log)
	// As MI's log ends a shutdown of its own, once the daemon adopted the
	// server, reading its log from there on, and checked it first.
	awaitChecked(t, d)
	if err := os.WriteFile(console, []byte("[2026-12-05 10:00:00,000]  INFO {Main} - Micro Integrator Shutdown complete\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	awaitLeaving(t, done, log)
	f, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if inst, _ := f.Instance("mi-1"); inst.State != state.StateStopped {
		data, _ := os.ReadFile(supervisor.EventsLog(store))
		t.Errorf("the daemon left with mi-1 recorded %s, want stopped (by its restart policy); events:\n%s", inst.State, data)
	}
}

// daemonOfAServer starts a daemon over a state file that records mi-1
// ready, its server, started from server (its own script, in a group of
// its own), running as the daemon takes over. It returns the daemon, its
// state store, the server's pid and its console log. The server is not
// waited for: the daemon's reaper takes its exit.
func daemonOfAServer(t *testing.T, server *exec.Cmd) (d *supervisor.Daemon, store *state.Store, pid int, console string) {
	t.Helper()
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	pid = server.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	id, err := proc.Identify(pid)
	if err != nil {
		t.Fatal(err)
	}
	d, store = daemonOver(t, func(dir string) []state.Instance {
		homeDir := filepath.Join(dir, "mi-1")
		console = home.ConsoleLog(homeDir)
		if err := os.MkdirAll(filepath.Dir(console), 0o755); err != nil {
			t.Fatal(err)
		}
		return []state.Instance{{Name: "mi-1", Home: homeDir, State: state.StateReady, PGID: pid, Script: id, Server: id}}
	})
	return d, store, pid, console
}

// awaitChecked waits until d adopted mi-1's server and checked it (it
// holds none of its ports: degraded), failing the test after a minute.
func awaitChecked(t *testing.T, d *supervisor.Daemon) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for d.Sup.Instances([]string{"mi-1"})["mi-1"].State != supervisor.StateDegraded {
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not adopt and check the server within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An up marks an instance a stop is stopping (mictl down) to start it
// again once stopped; the mark counts while that up runs. One killed
// before its start reached the daemon leaves a mark that counts no more:
// the daemon, which stayed for it once everything stopped, leaves as
// soon as that up is gone. It stayed until its next log check (10 s),
// the only look that followed.
func TestDaemonLeavesOnceTheUpItStayedForIsGone(t *testing.T) {
	// The server does not end on its stop's SIGTERM: the up marks the
	// instance while the stop goes on, as it does while a down's does,
	// and the server is killed then.
	server := exec.Command(os.Args[0], "-test.run=^TestIgnoringSIGTERM$", "-test.count=1")
	server.Env = append(os.Environ(), ignoringSIGTERMEnv+"=1")
	d, store, pid, _ := daemonOfAServer(t, server)
	awaitIgnoring(t, pid, syscall.SIGTERM)
	log := &syncLog{}
	done := superviseAway(d, log)
	awaitChecked(t, d)
	up := exec.Command("sleep", "600") // not waited for: the daemon's reaper takes its exit
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Process.Kill() })
	upID, err := proc.Identify(up.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() {
		stop := supervisor.Request{Op: supervisor.OpStop, Names: []string{"mi-1"}, Timeout: time.Hour}
		_, err := supervisor.Call(context.Background(), supervisor.SocketPath(store), stop, nil)
		stopped <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for !recorded(t, store, "mi-1", supervisor.StateStopping) {
		select {
		case err := <-stopped:
			t.Fatalf("the stop of mi-1 ended (%v) before the state file recorded it stopping", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not begin to stop mi-1 within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	err = store.Update(context.Background(), func(f *state.File) error {
		inst, _ := f.Instance("mi-1")
		inst.Restarting, inst.MarkedBy = true, upID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop mi-1: %v", err)
	}
	select {
	case <-done:
		t.Fatalf("the daemon left while the up that marked mi-1 to start again ran; its log:\n%s", log)
	case <-time.After(300 * time.Millisecond):
	}
	if err := up.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	awaitLeaving(t, done, log)
}

// awaitIgnoring waits until the process pid ignores sig, failing the
// test after a minute: a signal sent before it does ends it.
func awaitIgnoring(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if mask, ok := strings.CutPrefix(line, "SigIgn:"); ok {
				if ign, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64); err == nil && ign&(1<<(sig-1)) != 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d does not ignore %v after a minute", pid, sig)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ignoringSIGTERMEnv makes TestIgnoringSIGTERM a server that a stop's
// SIGTERM does not end.
const ignoringSIGTERMEnv = "MICTL_TEST_IGNORING_SIGTERM"

// TestIgnoringSIGTERM is the server of TestDaemonLeavesOnceTheUpItStayedForIsGone,
// and skips in any other process.
func TestIgnoringSIGTERM(t *testing.T) {
	if os.Getenv(ignoringSIGTERMEnv) == "" {
		t.Skip("run by TestDaemonLeavesOnceTheUpItStayedForIsGone")
	}
	signal.Ignore(syscall.SIGTERM)
	time.Sleep(10 * time.Minute)
}

// A daemon a command started (mictl up: it waits for the daemon to
// answer, pings it, then asks it to start the instances) stays, every
// instance failed, until that command had its answer: leaving before,
// it left the command no daemon to ask (up said "no mictl daemon is
// running" instead of why the instances failed). A ping is not the ask,
// nor is another command's request (a mictl status from another shell).
func TestDaemonStaysForTheCommandThatStartedIt(t *testing.T) {
	commandWaits(t)
	d, store := failingDaemon(t)
	log := &syncLog{}
	done := superviseAway(d, log)
	awaitAllFailed(t, store)
	ctx := context.Background()
	if _, err := supervisor.Call(ctx, supervisor.SocketPath(store), supervisor.Request{Op: supervisor.OpPing}, nil); err != nil {
		t.Fatalf("ping: %v", err)
	}
	anotherCommandAsks(t, store)
	select {
	case <-done:
		t.Fatalf("the daemon left before the command that started it asked; its log:\n%s", log)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := supervisor.Call(ctx, supervisor.SocketPath(store), supervisor.Request{Op: supervisor.OpStatus}, nil); err != nil {
		t.Fatalf("status: %v", err)
	}
	awaitLeaving(t, done, log)
}

// The daemon mictl up starts launches the instances up recorded before up
// asks for them. One whose start failed meanwhile, its restart policy done
// with it, is not started again by up's request, whose answer is that
// failure: started again, it ran twice for one up (under load, two
// instances whose launch was refused at once were started four times). A
// later command's start starts it again.
func TestUpsStartLeavesWhatTheTakeOverSawFail(t *testing.T) {
	commandWaits(t)
	_, store := failingDaemon(t)
	awaitAllFailed(t, store)
	start := upsStartLeavesTheFailed(t, store, "")
	if _, err := supervisor.Call(context.Background(), supervisor.SocketPath(store), start, nil); err == nil {
		t.Fatal("a later start of instances with no start script succeeded")
	}
	if n := startsFailed(t, store); n != 4 {
		t.Fatalf("with a later command's start, two failed instances were started %d times in all, want 4: it starts each again", n)
	}
}

// A status another command asks for between the daemon's take-over and
// up's own request (up starts the daemon, which starts the instances at
// once; mictl status from another shell is answered before up asks) is
// not up's answer: up's start still leaves what the take-over saw fail.
// Taken for it, the daemon forgot its take-over starts, and up's start
// launched each instance a second time.
func TestUpsStartAfterAnotherAsked(t *testing.T) {
	commandWaits(t)
	_, store := failingDaemon(t)
	awaitAllFailed(t, store)
	anotherCommandAsks(t, store)
	upsStartLeavesTheFailed(t, store, ", after another command's status,")
}

// upsStartLeavesTheFailed asks store's daemon, as the up that started it
// does, to start mi-1 and mi-2, which its take-over saw fail, and fails
// the test unless the answer is their failures, neither launched again,
// and up was shown the take-over's line of each failure, as it would
// have been had it asked before they failed (when says, in its messages,
// when up's start came). It returns the request.
func upsStartLeavesTheFailed(t *testing.T, store *state.Store, when string) supervisor.Request {
	t.Helper()
	start := supervisor.Request{Op: supervisor.OpStart, Names: []string{"mi-1", "mi-2"}, Timeout: time.Minute}
	var shown []string
	_, err := supervisor.Call(context.Background(), supervisor.SocketPath(store), start, func(ev supervisor.Event) {
		shown = append(shown, ev.String())
	})
	if err == nil || !strings.Contains(err.Error(), "mi-1 failed") || !strings.Contains(err.Error(), "mi-2 failed") {
		t.Fatalf("up's start%s answered %v, want the failures of mi-1 and mi-2", when, err)
	}
	if n := startsFailed(t, store); n != 2 {
		t.Fatalf("up's start%s launched again what the daemon saw fail: %d starts of two instances, want 2", when, n)
	}
	for _, name := range start.Names {
		if !slices.ContainsFunc(shown, func(line string) bool { return strings.Contains(line, " "+name+" failed: start ") }) {
			t.Errorf("up's start%s showed no line of %s's failure; it showed:\n%s", when, name, strings.Join(shown, "\n"))
		}
	}
	return start
}

// anotherCommandEnv names the control socket TestAnotherCommandAsks asks
// on, in the process anotherCommandAsks runs.
const anotherCommandEnv = "MICTL_TEST_ANOTHER_COMMAND_SOCKET"

// anotherCommandAsks has another process (this test binary, running
// TestAnotherCommandAsks) ask store's daemon for the status, as a mictl
// command other than the one that started it does. The process is not
// waited for but read to its end: the daemon's reaper, in this process,
// takes every child's exit.
func anotherCommandAsks(t *testing.T, store *state.Store) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAnotherCommandAsks$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), anotherCommandEnv+"="+supervisor.SocketPath(store))
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	if !strings.Contains(string(out), "--- PASS: TestAnotherCommandAsks") {
		t.Fatalf("another command's status failed:\n%s", out)
	}
}

// TestAnotherCommandAsks is the process of anotherCommandAsks, and skips
// in any other.
func TestAnotherCommandAsks(t *testing.T) {
	sock := os.Getenv(anotherCommandEnv)
	if sock == "" {
		t.Skip("run by anotherCommandAsks")
	}
	if _, err := supervisor.Call(context.Background(), sock, supervisor.Request{Op: supervisor.OpStatus}, nil); err != nil {
		t.Fatal(err)
	}
}

// commandWaits makes the daemon started next one that this process (the
// test) started and waits for to ask it (mictl up), as SpawnDaemon hands
// it the ready pipe and names itself.
func commandWaits(t *testing.T) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		w.Close()
	})
	fd, err := syscall.Dup(int(w.Fd())) // the daemon closes its copy
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MICTL_DAEMON_READY_FD", strconv.Itoa(fd))
	t.Setenv("MICTL_DAEMON_STARTER", strconv.Itoa(os.Getpid()))
}

// awaitAllFailed waits until the state file records every instance
// failed, failing the test after a minute.
func awaitAllFailed(t *testing.T, store *state.Store) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !allFailed(t, store) {
		if time.Now().After(deadline) {
			t.Fatal("the instances were not recorded failed within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startsFailed counts the starts the events log records, each ended
// failed (no start script: nothing is launched before that failure).
func startsFailed(t *testing.T, store *state.Store) int {
	t.Helper()
	data, err := os.ReadFile(supervisor.EventsLog(store))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), " "+supervisor.StateFailed+": start ")
}

// recorded reports whether the state file records name in state st.
func recorded(t *testing.T, store *state.Store, name, st string) bool {
	t.Helper()
	f, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	inst, ok := f.Instance(name)
	return ok && inst.State == st
}

// allFailed reports whether the state file records every instance failed.
func allFailed(t *testing.T, store *state.Store) bool {
	t.Helper()
	f, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	return !slices.ContainsFunc(f.Instances, func(inst state.Instance) bool { return inst.State != state.StateFailed })
}
