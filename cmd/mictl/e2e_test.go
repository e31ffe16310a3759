package main

// End-to-end tests: mictl as a user runs it, as separate processes, with
// real simulator servers on loopback in temporary directories. The test
// binary doubles as mictl (TestMain), so the daemon it spawns and the
// simulator distribution it writes run this very code.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/cli"
	"github.com/mictl/mictl/pkg/companion/companiontest"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/proc/proctest"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/syncbuf"
	"github.com/mictl/mictl/pkg/testports"
)

const (
	asMictl = "MICTL_E2E_AS_MICTL"
	// asLeftover makes this binary wait for a signal, as a process
	// left running in a home would (see TestDownNamesWhatItLeftRunning).
	asLeftover = "MICTL_E2E_AS_LEFTOVER"
	// ignoringSIGINT starts this binary again with SIGINT ignored, as a
	// shell without job control starts a background job (see
	// TestInterruptedDirectDownSaysWhatItLeaves): only an ignore that an
	// exec hands on is one Go's runtime keeps.
	ignoringSIGINT = "MICTL_E2E_IGNORING_SIGINT"
)

// A daemon keeps its main thread, as cmd/mictl-daemon and cmd/mictl
// (run as `mictl daemon`) do.
func init() {
	if filepath.Base(os.Args[0]) == supervisor.LeanDaemonExe || (os.Getenv(asMictl) == "1" && len(os.Args) > 1 && os.Args[1] == "daemon") {
		daemon.KeepMainThread()
	}
}

func TestMain(m *testing.M) {
	// A copy of this binary named as the lean daemon is one (see
	// TestLeanDaemon): mictl starts it with the daemon's flags alone.
	if filepath.Base(os.Args[0]) == supervisor.LeanDaemonExe {
		os.Exit(daemon.Run(os.Args[1:]))
	}
	if os.Getenv(ignoringSIGINT) == "1" {
		signal.Ignore(os.Interrupt)
		os.Unsetenv(ignoringSIGINT)
		exe, err := os.Executable()
		if err == nil {
			err = syscall.Exec(exe, os.Args, os.Environ())
		}
		fmt.Fprintf(os.Stderr, "start again with SIGINT ignored: %v\n", err)
		os.Exit(2)
	}
	if os.Getenv(asMictl) == "1" {
		os.Exit(cli.Main(os.Args[1:], cli.System()))
	}
	if os.Getenv(asLeftover) == "1" {
		time.Sleep(time.Minute) // SIGTERM ends it before
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// deployment is one test's instances directory and the mictl it runs.
type deployment struct {
	t    *testing.T
	dir  string
	base int      // base offset: a free region of ports for this test
	env  []string // extra environment for the next commands
	cwd  string   // where the next commands run; dir when empty
	exe  string   // the mictl that runs; this test binary when empty
	// as runs the next commands as another user; as this one when nil.
	as *syscall.Credential
}

func newDeployment(t *testing.T) *deployment {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{t: t, dir: dir, base: testports.Base(t, testports.E2E, 100, testports.InboundBases()...)}
	t.Cleanup(d.cleanup)
	return d
}

// mictl runs mictl in the deployment's directory (or in cwd).
func (d *deployment) mictl(args ...string) (code int, stdout, stderr string) {
	d.t.Helper()
	var out, errOut strings.Builder
	cmd := exec.Command(cmp.Or(d.exe, os.Args[0]), args...)
	cmd.Dir = cmp.Or(d.cwd, d.dir)
	cmd.Env = append(os.Environ(), asMictl+"=1", "MICTL_SIM_STARTUP_DELAY=0", "GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, d.env...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if d.as != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: d.as}
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		d.t.Fatalf("mictl %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// must runs mictl and fails the test unless it exits 0.
func (d *deployment) must(args ...string) string {
	d.t.Helper()
	code, out, errOut := d.mictl(args...)
	if code != 0 {
		d.t.Fatalf("mictl %s: exit %d\nstdout:\n%s\nstderr:\n%s\nevents:\n%s", strings.Join(args, " "), code, out, errOut, d.events())
	}
	return out
}

// faulted runs a command that must end with exit 3 for the faulted
// instance name it shows (mictl status), and returns its stdout.
func (d *deployment) faulted(name string, args ...string) string {
	d.t.Helper()
	code, out, errOut := d.mictl(args...)
	if code != 3 || !strings.Contains(errOut, "not healthy: ") || !strings.Contains(errOut, name+" ") {
		d.t.Fatalf("mictl %s: exit %d, want 3 naming %s\nstdout:\n%s\nstderr:\n%s\nevents:\n%s", strings.Join(args, " "), code, name, out, errOut, d.events())
	}
	return out
}

// adopt runs mictl status to start a daemon that adopts the instances,
// whatever state it finds them in (exit 3 when one crashed meanwhile).
func (d *deployment) adopt() {
	d.t.Helper()
	if code, out, errOut := d.mictl("status"); code != 0 && code != 3 {
		d.t.Fatalf("mictl status: exit %d\nstdout:\n%s\nstderr:\n%s\nevents:\n%s", code, out, errOut, d.events())
	}
}

// background is a mictl command running while the test does other
// things (signals it, runs other commands).
type background struct {
	cmd    *exec.Cmd
	out    syncbuf.Buffer
	exited chan error
	err    error
	done   bool
}

// start runs mictl in the background in the deployment's directory, with
// env added to the environment; the test's end kills it if it still runs.
func (d *deployment) start(env []string, args ...string) *background {
	d.t.Helper()
	b := &background{cmd: exec.Command(cmp.Or(d.exe, os.Args[0]), args...), exited: make(chan error, 1)}
	b.cmd.Dir = d.dir
	b.cmd.Env = append(append(os.Environ(), asMictl+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	go func() { b.exited <- b.cmd.Wait() }()
	d.t.Cleanup(func() {
		if _, ok := b.wait(0); !ok {
			b.cmd.Process.Kill()
			b.wait(time.Minute)
		}
	})
	return b
}

// wait waits up to timeout for the command to exit and returns how it
// ended; ok is false when it still runs.
func (b *background) wait(timeout time.Duration) (err error, ok bool) {
	if !b.done {
		select {
		case b.err = <-b.exited:
			b.done = true
		case <-time.After(timeout):
			return nil, false
		}
	}
	return b.err, true
}

// signal sends sig to the command.
func (b *background) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := b.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

func (d *deployment) up(n int, extra ...string) string {
	d.t.Helper()
	return d.must(append([]string{"up", "--instances", fmt.Sprint(n), "--base-offset", fmt.Sprint(d.base), "--timeout", "30s"}, extra...)...)
}

// upFromDist writes a simulator distribution at dist and a mictl.toml
// naming it as mi_home for n instances from the test's base offset, and
// brings them up: the setup of the tests that change the distribution
// under running instances.
func (d *deployment) upFromDist(n int) {
	d.t.Helper()
	d.must("sim", "dist", "dist")
	d.configFile("inplace", fmt.Sprintf("instances = %d\nbase_offset = %d\nmi_home = \"dist\"\n", n, d.base))
	d.must("up", "--timeout", "30s")
}

func (d *deployment) state() *state.File {
	d.t.Helper()
	store, err := state.Open(filepath.Join(d.dir, "instances", ".mictl"))
	if err != nil {
		d.t.Fatal(err)
	}
	f, err := store.Load()
	if err != nil {
		d.t.Fatal(err)
	}
	return f
}

func (d *deployment) instance(name string) state.Instance {
	d.t.Helper()
	inst, ok := d.state().Instance(name)
	if !ok {
		d.t.Fatalf("no instance %s in the state file", name)
	}
	return *inst
}

// stateIs reports whether the state file records name in state st (false
// while it records no such instance yet).
func (d *deployment) stateIs(name, st string) bool {
	inst, ok := d.state().Instance(name)
	return ok && inst.State == st
}

func (d *deployment) events() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "instances", ".mictl", "events.log"))
	return string(b)
}

// waitFor polls cond (a test may wait on real processes) up to 20 s.
func (d *deployment) waitFor(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			daemonLog, _ := os.ReadFile(filepath.Join(d.dir, "instances", ".mictl", "daemon.log"))
			d.t.Fatalf("timed out waiting for %s; events:\n%s\ndaemon.log:\n%s", what, d.events(), daemonLog)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanup stops everything the test started and fails it if any process
// of the deployment outlives that.
func (d *deployment) cleanup() {
	d.cwd = ""
	// Every instances directory the test used (./instances, or one a
	// flag or a configuration named beside it): a stop still under way
	// there (an interrupted down's) ends before the leftovers are looked
	// for, not after.
	states, _ := filepath.Glob(filepath.Join(d.dir, "*", ".mictl", "state.json"))
	for _, st := range states {
		d.mictl("down", "--timeout", "5s", "--instances-dir", filepath.Dir(filepath.Dir(st)))
	}
	if left := proctest.Reap(d.dir, 3*time.Second); len(left) > 0 {
		d.t.Errorf("processes left behind (killed now): %v", left)
	}
}

// daemonPID is the supervisor daemon's pid from the state file.
func (d *deployment) daemonPID() int {
	f := d.state()
	if f.Daemon == nil {
		return 0
	}
	return f.Daemon.PID
}

// crash kills inst's server with SIGKILL, as a crash ends it, and waits
// for the daemon's restart of it to end, ready or failed.
func (d *deployment) crash(inst state.Instance) {
	d.t.Helper()
	if err := syscall.Kill(inst.Server.PID, syscall.SIGKILL); err != nil {
		d.t.Fatal(err)
	}
	d.waitFor(inst.Name+" restarted", func() bool {
		now := d.instance(inst.Name)
		return now.Server != inst.Server && (now.State == "ready" || now.State == "failed")
	})
}

// killDaemon ends the recorded daemon with SIGKILL (its servers run on)
// and waits until it is gone; it returns the daemon it killed.
func (d *deployment) killDaemon() proc.Identity {
	d.t.Helper()
	f := d.state()
	if f.Daemon == nil {
		d.t.Fatal("no daemon recorded")
	}
	daemon := f.Daemon.Identity
	if err := syscall.Kill(daemon.PID, syscall.SIGKILL); err != nil {
		d.t.Fatal(err)
	}
	d.waitFor("the daemon to die", func() bool { return !daemon.Alive() })
	return daemon
}

// servers lists the live simulator servers of the deployment, by home.
func (d *deployment) servers() map[string][]int { return proctest.Servers(d.dir) }

// startByHand runs the named instance's start script as a user would,
// in a group of its own, and returns its server's pid once its pid file
// names it; the test's end kills it.
func (d *deployment) startByHand(name string) int {
	d.t.Helper()
	homeDir := filepath.Join(d.dir, "instances", name)
	script := exec.Command("sh", "bin/micro-integrator.sh")
	script.Dir = homeDir
	script.Env = append(os.Environ(), "CARBON_HOME="+homeDir, asMictl+"=1", "MICTL_SIM_STARTUP_DELAY=0")
	script.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := script.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { syscall.Kill(-script.Process.Pid, syscall.SIGKILL); script.Wait() })
	d.waitFor("the server started by hand", func() bool {
		_, err := os.Stat(filepath.Join(homeDir, "wso2carbon.pid"))
		return len(d.servers()[name]) == 1 && err == nil
	})
	return d.servers()[name][0]
}

type portsRow struct {
	Name   string    `json:"name"`
	Offset int       `json:"offset"`
	Ports  ports.Set `json:"ports"`
	State  string    `json:"state"`
	PID    int       `json:"pid"`
	// LastOffset: where a stopped or failed instance last ran, when the
	// row plans it elsewhere.
	LastOffset *int `json:"last_offset"`
	// LastPortTaken: the port there a stranger holds now, and who.
	LastPortTaken *struct {
		Port      int    `json:"port"`
		Role      string `json:"role"`
		HolderPID *int   `json:"holder_pid"`
	} `json:"last_port_taken"`
	Live map[string]struct {
		Listening, Owned, Pending bool
	} `json:"live"`
	Random []struct {
		Proto       string  `json:"proto"`
		Port        int     `json:"port"`
		Role        string  `json:"role"`
		Listener    *string `json:"listener"`
		Undeploying bool    `json:"undeploying"`
	} `json:"random"`
}

func (d *deployment) portsTable() []portsRow {
	d.t.Helper()
	var rows []portsRow
	if err := json.Unmarshal([]byte(d.must("ports", "table", "-o", "json")), &rows); err != nil {
		d.t.Fatal(err)
	}
	return rows
}

// The ports table shows an instance that does not run in the state it
// was left in (a failed start here), and says where it last ran when the
// planner would start it elsewhere now: it showed neither, and an
// operator took the failed instance for one never started. Both it and
// the next up name the stranger on its port there: they named only the
// offset the planner passed over first, and advised pinning the old
// offset, which up then refused. With no mictl.toml here, the advice is
// a table to add: it named "its [[instance]] table", which there is not.
func TestPortsTableShowsAFailedInstance(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	http := ports.DefaultBases()[ports.HTTP] + d.base
	listen(t, http)
	if code, _, errOut := d.mictl("up", "--offsets", fmt.Sprint(d.base), "--force", "--timeout", "20s"); code != 3 {
		t.Fatalf("up on a held port: exit %d, want 3:\n%s", code, errOut)
	}
	rows := d.portsTable()
	if len(rows) != 1 || rows[0].State != "failed" || rows[0].PID != 0 || rows[0].Offset == d.base || rows[0].LastOffset == nil || *rows[0].LastOffset != d.base {
		t.Fatalf("ports table: %+v, want mi-1 failed, no pid, planned away from offset %d where it last ran", rows, d.base)
	}
	if lt := rows[0].LastPortTaken; lt == nil || lt.Port != http || lt.Role != "http" || lt.HolderPID == nil || *lt.HolderPID != os.Getpid() {
		t.Fatalf("ports table -o json: last_port_taken %+v, want http %d held by pid %d", lt, http, os.Getpid())
	}
	out := d.must("ports", "table")
	taken := fmt.Sprintf("its http port %d is now held by pid %d", http, os.Getpid())
	want := fmt.Sprintf("mi-1 is failed: it last ran at offset %d, where %s", d.base, taken)
	if !strings.Contains(out, want) || !regexp.MustCompile(`\| mi-1 \|.*\| failed +\| - +\|`).MatchString(out) {
		t.Fatalf("ports table does not show mi-1 failed, and where it ran (%q):\n%s", want, out)
	}
	back := fmt.Sprintf(`to go back, free that port, then add to mictl.toml an [[instance]] table with name = "mi-1" and offset = %d`, d.base)
	if !strings.Contains(out, back) {
		t.Fatalf("ports table does not say how mi-1 goes back (%q):\n%s", back, out)
	}
	code, _, errOut := d.mictl("up", "--base-offset", fmt.Sprint(d.base), "--timeout", "20s")
	want = fmt.Sprintf("not %d where it last ran (its http port %d was %d): at %d %s", d.base, http+1, http, d.base, taken)
	if code != 0 || !strings.Contains(errOut, want) || !strings.Contains(errOut, back) {
		t.Fatalf("up: exit %d, want 0, saying %q and %q:\n%s", code, want, back, errOut)
	}
}

// While an instance starts, its ports not listening yet is what a start
// looks like: ports table flagged each with "!" and "does not listen", and
// an operator read a fault. It names them in a note of their own, and
// -o json marks each pending.
func TestPortsTableSaysAStartingInstancesPortsArePending(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	up := d.start([]string{"MICTL_SIM_STARTUP_DELAY=4s"}, "up", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "60s")
	d.waitFor("mi-1's server to be found", func() bool {
		inst, ok := d.state().Instance("mi-1")
		return ok && inst.State == "starting" && inst.Server.Alive()
	})
	out := d.must("ports", "table", "-o", "json")
	jsonschematest.Validate(t, "ports-table", []byte(out))
	var rows []portsRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].State != "starting" || len(rows[0].Live) != 4 {
		t.Fatalf("ports table -o json: %+v, want mi-1 starting with 4 live ports", rows)
	}
	for role, lp := range rows[0].Live {
		if lp.Listening || lp.Owned || !lp.Pending {
			t.Errorf("ports table -o json: %s %+v, want pending, not listening", role, lp)
		}
	}
	p := rows[0].Ports
	out = d.must("ports", "table")
	note := fmt.Sprintf("mi-1 is starting: not listening yet on http %d, https %d, internal_http %d, management %d, as expected until it is ready",
		p[ports.HTTP], p[ports.HTTPS], p[ports.InternalHTTP], p[ports.Management])
	if strings.Contains(out, "!") || strings.Contains(out, "does not listen") || !strings.Contains(out, note) {
		t.Fatalf("ports table: want no port flagged and %q:\n%s", note, out)
	}
	if err, _ := up.wait(60 * time.Second); err != nil {
		t.Fatalf("up: %v\n%s", err, up.out.String())
	}
}

// down of an instance already stopped exits 0, as systemctl stop does,
// but said nothing: the table alone did not tell an operator whether it
// had stopped it or found it so. It says so on stderr, of one named, of
// those down with no name found stopped, and of all of them; not of one
// recorded stopped whose home a server started by hand runs in, which it
// ends.
func TestDownSaysWhatWasAlreadyStopped(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	for _, step := range []struct {
		byHand bool // a server started by hand in mi-2's home first
		args   []string
		note   string // "" for none
	}{
		{false, []string{"down", "mi-2"}, ""},
		{true, []string{"down", "mi-2"}, ""},
		{false, []string{"down", "mi-2"}, "note: mi-2 was already stopped: nothing to stop\n"},
		{false, []string{"down"}, "note: mi-2 was already stopped: nothing to stop\n"},
		{false, []string{"down"}, "note: mi-1, mi-2 were already stopped: nothing to stop\n"},
	} {
		if step.byHand {
			d.startByHand("mi-2")
		}
		code, out, errOut := d.mictl(step.args...)
		if code != 0 || !strings.Contains(out, "stopped") {
			t.Fatalf("mictl %s: exit %d, want 0 and the table\nstdout:\n%s\nstderr:\n%s", strings.Join(step.args, " "), code, out, errOut)
		}
		if step.note == "" && strings.Contains(errOut, "already") || step.note != "" && !strings.Contains(errOut, step.note) {
			t.Fatalf("mictl %s: stderr %q, want the note %q", strings.Join(step.args, " "), errOut, step.note)
		}
	}
}

func TestUpPortsRestartAndDown(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(3)
	rows := d.portsTable()
	if len(rows) != 3 {
		t.Fatalf("ports table has %d rows", len(rows))
	}
	for _, r := range rows {
		if r.State != "ready" || r.PID == 0 {
			t.Errorf("%s: state %q pid %d", r.Name, r.State, r.PID)
		}
		for role, live := range r.Live {
			if !live.Listening || !live.Owned {
				t.Errorf("%s %s: listening=%v owned=%v", r.Name, role, live.Listening, live.Owned)
			}
		}
		// docs/mi-facts.md: the JVM's JMX agent opens a random TCP port every start.
		if len(r.Random) == 0 || r.Random[0].Role != "jmx" || r.Random[0].Proto != "tcp" {
			t.Errorf("%s: random ports %+v, want a jmx tcp port", r.Name, r.Random)
		}
	}

	// kill -9 one server: the daemon restarts it on the same ports.
	before := d.instance("mi-2")
	if err := syscall.Kill(before.Server.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.waitFor("mi-2 to be restarted", func() bool {
		now := d.instance("mi-2")
		return now.State == "ready" && now.Server.PID != before.Server.PID
	})
	after := d.instance("mi-2")
	if after.Ports != before.Ports || after.Offset != before.Offset || after.Restarts != 1 {
		t.Errorf("after restart: ports %v offset %d restarts %d; before: %v %d", after.Ports, after.Offset, after.Restarts, before.Ports, before.Offset)
	}
	if ev := d.events(); !strings.Contains(ev, fmt.Sprintf("mi-2 crashed pid=%d", before.Server.PID)) {
		t.Errorf("the crash is not in the event log:\n%s", ev)
	}

	// Growing adds mi-4 and leaves the running instances untouched.
	grown := d.state()
	d.up(4)
	for _, prev := range grown.Instances {
		if now := d.instance(prev.Name); now.Server != prev.Server || now.Offset != prev.Offset {
			t.Errorf("up --instances 4 touched %s: %+v -> %+v", prev.Name, prev, now)
		}
	}
	if mi4 := d.instance("mi-4"); mi4.State != "ready" {
		t.Errorf("mi-4 state %q", mi4.State)
	}

	d.must("down", "--timeout", "10s")
	assertAllGone(t, d, rows)
}

// leftRunning lists the processes of the deployment still running once a
// command that stops them has returned. It waits (up to 5 s) for those
// already in their exit, whose command line reads empty once the kernel
// has released their memory: on a loaded host (the parallel tests'
// servers) their last thread is slow to leave, and none of them runs its
// program any more. One that does is listed at once.
func (d *deployment) leftRunning() []int {
	d.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := proctest.Under(d.dir)
		running := slices.DeleteFunc(slices.Clone(left), func(pid int) bool { return len(proc.Args(pid)) == 0 })
		if len(running) > 0 || len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertAllGone checks no process of d and no listener on rows' ports is left.
func assertAllGone(t *testing.T, d *deployment, rows []portsRow) {
	t.Helper()
	if left := d.leftRunning(); len(left) > 0 {
		t.Errorf("processes left after down: %s", proctest.Describe(left))
	}
	snap, err := hostnet.Scan()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		for _, port := range r.Ports {
			if held := snap.Holding(hostnet.TCP, port, netip.MustParseAddr("127.0.0.1")); len(held) > 0 {
				t.Errorf("%s port %d still listening after down", r.Name, port)
			}
		}
	}
}

func TestDaemonKilledInstancesKeepServingAndAreReadopted(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	servers := d.servers()
	daemon := d.killDaemon().PID
	// The instances keep serving without their supervisor.
	for _, name := range []string{"mi-1", "mi-2"} {
		inst := d.instance(name)
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", inst.Ports[ports.HTTP]), time.Second)
		if err != nil {
			t.Fatalf("%s stopped serving when the daemon died: %v", name, err)
		}
		conn.Close()
	}
	// The next command re-adopts them: a new daemon, the same servers.
	// It says so: status said nothing of a supervisor that had died.
	code, out, errOut := d.mictl("status")
	if code != 0 || !strings.Contains(out, "ready") {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	d.waitFor("a new daemon", func() bool { pid := d.daemonPID(); return pid != 0 && pid != daemon })
	if want := fmt.Sprintf("note: the mictl daemon (pid %d) had ended (killed, or crashed), leaving the instances unsupervised; a new one (pid %d) took them over", daemon, d.daemonPID()); !strings.Contains(errOut, want) {
		t.Fatalf("status after the daemon was killed does not say %q:\n%s", want, errOut)
	}
	if _, _, errOut := d.mictl("status"); strings.Contains(errOut, "took them over") {
		t.Fatalf("status with the new daemon running says it replaced one:\n%s", errOut)
	}
	if now := d.servers(); fmt.Sprint(now) != fmt.Sprint(servers) {
		t.Fatalf("servers changed on re-adoption (duplicates?): %v -> %v", servers, now)
	}
	// And the new daemon supervises: a crash is still repaired.
	victim := d.instance("mi-1")
	syscall.Kill(victim.Server.PID, syscall.SIGKILL)
	d.waitFor("mi-1 to be restarted by the new daemon", func() bool {
		now := d.instance("mi-1")
		return now.State == "ready" && now.Server.PID != victim.Server.PID
	})
	if got := len(d.servers()["mi-1"]); got != 1 {
		t.Fatalf("mi-1 has %d servers", got)
	}
	// restart and up, which start a daemon too, say it as well.
	for _, args := range [][]string{{"restart", "mi-2"}, {"up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s"}} {
		daemon := d.killDaemon().PID
		code, out, errOut := d.mictl(args...)
		if want := fmt.Sprintf("note: the mictl daemon (pid %d) had ended (killed, or crashed), leaving the instances unsupervised", daemon); code != 0 || !strings.Contains(errOut, want) {
			t.Fatalf("mictl %s after the daemon was killed: exit %d, want 0 and %q:\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
	}
}

// A daemon killed just after it launched an instance, before the state
// file named the new processes, leaves them running unrecorded. The next
// supervisor finds them by their home and ends them before it starts the
// instance again: never two copies of one instance, never a start that
// fails on ports its own stray copy holds.
// A daemon that dies while an instance starts leaves a server that is
// still starting (real MI takes tens of seconds): the next daemon waits for
// it to turn ready, as the start would have, and never takes its silence
// for a hung server to end and restart.
func TestDaemonKilledMidStartFinishesTheStart(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	const delay = "MICTL_SIM_STARTUP_DELAY=4s"
	up := d.start([]string{delay}, "up", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "60s")
	d.waitFor("mi-1's server to be found", func() bool {
		inst, ok := d.state().Instance("mi-1")
		return ok && inst.State == "starting" && inst.Server.Alive()
	})
	server := d.instance("mi-1").Server
	if err := syscall.Kill(d.daemonPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	up.wait(10 * time.Second) // it lost its daemon
	d.must("status")
	d.waitFor("mi-1 ready", func() bool { return d.stateIs("mi-1", "ready") })
	if inst := d.instance("mi-1"); inst.Server != server || inst.Restarts != 0 {
		t.Fatalf("mi-1: server %v, %d restarts; want the server the start began (%v), never restarted\nevents:\n%s", inst.Server, inst.Restarts, server, d.events())
	}
}

func TestUnrecordedLaunchIsNotDuplicated(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	d.killDaemon()
	stray := d.servers()["mi-1"]
	// The launch record never reached the file: the instance is starting,
	// with no processes known.
	store, err := state.Open(filepath.Join(d.dir, "instances", ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Update(context.Background(), func(f *state.File) error {
		inst, _ := f.Instance("mi-1")
		inst.State, inst.Server, inst.Script, inst.PGID = "starting", proc.Identity{}, proc.Identity{}, 0
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d.must("status")
	d.waitFor("mi-1 to start again", func() bool {
		inst := d.instance("mi-1")
		return inst.State == "ready" && inst.Server.Alive()
	})
	if now := d.servers()["mi-1"]; len(now) != 1 || slices.Contains(stray, now[0]) {
		t.Fatalf("servers of mi-1: %v before, %v now: want one new server\nevents:\n%s", stray, now, d.events())
	}
}

// A process that merely inherited an instance's CARBON_HOME (a shell
// opened there, a tool run from it) is not the instance: starting the
// instance, which ends its stray copies, must never signal it.
func TestUpLeavesProcessesThatOnlyShareTheHome(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	bystander := exec.Command("sleep", "60")
	bystander.Env = append(os.Environ(), "CARBON_HOME="+filepath.Join(d.dir, "instances", "mi-1"))
	bystander.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bystander.Process.Kill(); _ = bystander.Wait() })
	id, err := proc.Identify(bystander.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	d.up(1)
	if !id.Alive() {
		t.Fatal("up ended a process that only shares mi-1's CARBON_HOME")
	}
}

func TestForeignListener(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	// Something holds the HTTP port of the base offset.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 8280+d.base))
	if err != nil {
		t.Skipf("port busy: %v", err)
	}
	defer l.Close()

	// Planned around.
	d.up(1)
	if inst := d.instance("mi-1"); inst.Offset == d.base {
		t.Fatalf("planned onto the busy offset %d", d.base)
	}
	d.must("down", "--purge")

	// With --offsets: a clear refusal naming the holder.
	code, out, _ := d.mictl("up", "--offsets", fmt.Sprint(d.base))
	want := fmt.Sprintf("mi-1 http port %d is held by pid %d", 8280+d.base, os.Getpid())
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want 1 and %q:\n%s", code, want, out)
	}

	// Taken between plan and launch (--force skips the check): the instance
	// fails naming the port and the holder's pid, never a false "ready".
	code, out, errOut := d.mictl("up", "--offsets", fmt.Sprint(d.base), "--force", "--timeout", "20s")
	forced := fmt.Sprintf("warning: mi-1 http port %d is held by pid %d", 8280+d.base, os.Getpid())
	want = fmt.Sprintf("http port %d is held by pid %d", 8280+d.base, os.Getpid())
	if code != 3 || !strings.Contains(errOut, want) || !strings.Contains(errOut, forced) || !strings.Contains(errOut, "(starting anyway: --force)") {
		t.Fatalf("exit %d, want 3, the conflict --force let through and %q\nstdout:\n%s\nstderr:\n%s", code, want, out, errOut)
	}
	if inst := d.instance("mi-1"); inst.State != "failed" {
		t.Fatalf("state %q, want failed", inst.State)
	}
}

func TestConcurrentUpLaunchesOnce(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Go(func() {
			codes[i], _, _ = d.mictl("up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
		})
	}
	wg.Wait()
	if codes[0] != 0 || codes[1] != 0 {
		t.Fatalf("exit codes %v\nevents:\n%s", codes, d.events())
	}
	for name, pids := range d.servers() {
		if len(pids) != 1 {
			t.Errorf("%s has %d servers: %v", name, len(pids), pids)
		}
	}
	if n := strings.Count(d.events(), "started bin/micro-integrator.sh"); n != 2 {
		t.Fatalf("%d launches for 2 instances:\n%s", n, d.events())
	}
}

func TestDownKillsWhatIgnoresSIGTERMAndOrphanedServers(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_IGNORE_SIGTERM=1"}
	d.up(1)
	d.env = nil
	d.up(2)
	// docs/mi-facts.md: SIGTERM to the script alone kills the sh and leaves the
	// JVMs running: the server must still be stopped, through its group.
	mi2 := d.instance("mi-2")
	if err := syscall.Kill(mi2.Script.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rows := d.portsTable()
	start := time.Now()
	d.must("down", "--timeout", "2s")
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("down took %s with a 2s timeout", took)
	}
	assertAllGone(t, d, rows)
	if _, err := os.Stat(filepath.Join(mi2.Home, "wso2carbon.pid")); !os.IsNotExist(err) {
		t.Errorf("stale pid file left behind: %v", err)
	}
}

// down --timeout holds for an instance another stop is stopping already:
// a server that ignores SIGTERM while a restart waits out its 3m20s is
// killed a second after down --timeout 1s, not when the restart's wait
// ends, and the stop says why. Either down ends the restart: mi-1 is not
// started again behind it.
func TestDownHurriesAStopUnderWay(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"down", "--timeout", "1s"}, {"down", "mi-1", "--timeout", "1s"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			d := newDeployment(t)
			d.env = []string{"MICTL_SIM_IGNORE_SIGTERM=1"}
			d.up(1)
			d.env = nil
			restart := d.start(nil, "restart", "mi-1")
			d.waitFor("the restart's stop to begin", func() bool { return d.instance("mi-1").State == "stopping" })
			down := d.start(nil, args...)
			if _, ok := down.wait(time.Minute); !ok {
				t.Fatalf("%s still waits a minute later for the restart's stop:\n%s", strings.Join(args, " "), d.events())
			}
			if ev := d.events(); !strings.Contains(ev, ": it did not exit after SIGTERM, and a later stop allowed it 1s") {
				t.Fatalf("no stop outcome says a later stop's timeout ended it:\n%s", ev)
			}
			if _, ok := restart.wait(time.Minute); !ok {
				t.Fatalf("restart still waits after down:\n%s", restart.out.String())
			}
			if st := d.instance("mi-1").State; st != "stopped" {
				t.Fatalf("mi-1 is %s after %s; the restart started it again:\n%s", st, strings.Join(args, " "), d.events())
			}
			if len(args) == 4 && !strings.Contains(restart.out.String(), "restart mi-1: interrupted: mictl down stopped it meanwhile, so it is not started again") {
				t.Errorf("the restart does not say why it did not start mi-1 again:\n%s", restart.out.String())
			}
			if len(args) == 3 {
				// The interrupted restart prepared nothing for a start it
				// will not make (a record of mi-1 starting, which the down
				// then stopped again as unsupervised).
				if n := strings.Count(d.events(), " mi-1 stopping"); n != 1 {
					t.Fatalf("%d stops of mi-1, want the restart's alone:\n%s", n, d.events())
				}
			}
			d.must("down", "--timeout", "1s")
			if left := d.leftRunning(); len(left) > 0 {
				t.Errorf("left running: %s", proctest.Describe(left))
			}
		})
	}
}

// A stop a killed down left unfinished keeps that down's --timeout when
// the next daemon finishes it: it took the default 3m20s, and an up
// behind it waited that long for a server that ignores SIGTERM.
func TestResumedStopKeepsItsDownsTimeout(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_IGNORE_SIGTERM=1"}
	d.up(1)
	d.env = nil
	d.killDaemon()
	down := d.start(nil, "down", "--timeout", "5s") // stops mi-1 itself: no daemon runs
	d.waitFor("the down's stop recorded", func() bool { return d.stateIs("mi-1", "stopping") })
	if err := down.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	down.wait(time.Minute)
	up := d.start(nil, "up", "--timeout", "30s") // its daemon finishes the stop first
	stops := func() []string {
		var out []string
		for line := range strings.Lines(d.events()) {
			if _, msg, ok := strings.Cut(line, " mi-1 stopping"); ok && strings.Contains(msg, "SIGKILL after ") {
				out = append(out, msg)
			}
		}
		return out
	}
	d.waitFor("the new daemon's stop", func() bool { return len(stops()) == 2 })
	resumed := stops()[1]
	_, after, _ := strings.Cut(resumed, "SIGKILL after ")
	if wait, err := time.ParseDuration(strings.TrimSpace(after)); err != nil || wait > 5*time.Second {
		t.Fatalf("the resumed stop says %q: want a SIGKILL within the down's 5s\n%s", resumed, d.events())
	}
	if err, ok := up.wait(time.Minute); !ok || err != nil {
		t.Fatalf("up: %v (ended: %v)\n%s", err, ok, up.out.String())
	}
}

// An up while a down stops the instances gracefully starts them once
// the stop has ended, and waits until they are ready: it answered at
// once, exit 0, with the instances still stopping, and the down then left
// them stopped. The down says that a later command started them again,
// rather than naming the new servers as left running (exit 3).
func TestUpDuringDownStartsOnceStopped(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=2s"}
	d.up(1)
	down := d.start(nil, "down")
	d.waitFor("the down's stop to begin", func() bool { return d.stateIs("mi-1", "stopping") })
	d.up(1)
	if st := d.instance("mi-1").State; st != "ready" {
		t.Fatalf("mi-1 is %s after an up that exited 0 during a down:\n%s", st, d.events())
	}
	if err, ok := down.wait(time.Minute); !ok || err != nil {
		t.Fatalf("down: %v (ended: %v)\n%s", err, ok, down.out.String())
	}
	if out := down.out.String(); !strings.Contains(out, "note: mi-1 stopped, then started again by a later command") {
		t.Errorf("the down does not say the up started mi-1 again:\n%s", out)
	}
	if st := d.instance("mi-1").State; st != "ready" {
		t.Fatalf("mi-1 is %s once the down ended:\n%s", st, d.events())
	}
}

// An up killed after it marked mi-2, which the daemon was stopping for a
// down, to start again once stopped (state.Instance.Restarting), and
// before its start reached the daemon, leaves a mark that does not
// count: once mi-1 is stopped too, the daemon leaves, and nothing starts
// mi-2. The mark kept the daemon running for good, and the next daemon
// (a mictl status) started mi-2 as a restart left unfinished, though
// the user had stopped everything.
func TestAnUpKilledBeforeItsStartLeavesNothingToStart(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=5s"}
	d.up(2)
	d.env = nil
	daemon := d.state().Daemon.Identity
	// The stop is the daemon's: the down's client may go.
	down := d.start(nil, "down", "mi-2")
	d.waitFor("the down's stop of mi-2", func() bool { return d.stateIs("mi-2", "stopping") })
	down.cmd.Process.Kill()
	down.wait(time.Minute)
	// The daemon, held (and not while it writes the state file), takes
	// no start: the up is killed once it marked mi-2.
	store, err := state.Open(filepath.Join(d.dir, "instances", ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(daemon.PID, syscall.SIGCONT) })
	for {
		if err := syscall.Kill(daemon.PID, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		unlock, ok, err := store.TryLock()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			unlock()
			break
		}
		syscall.Kill(daemon.PID, syscall.SIGCONT)
		time.Sleep(10 * time.Millisecond)
	}
	up := d.start(nil, "up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	d.waitFor("the up's mark on mi-2", func() bool { return d.instance("mi-2").Restarting })
	up.cmd.Process.Kill()
	up.wait(time.Minute)
	if err := syscall.Kill(daemon.PID, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the stop of mi-2 to end", func() bool { return d.stateIs("mi-2", "stopped") })
	d.must("down", "mi-1")
	d.waitFor("the daemon to leave, nothing wanted", func() bool { return !daemon.Alive() })
	d.must("status")
	if f := d.state(); f.Daemon != nil || !d.stateIs("mi-2", "stopped") {
		t.Fatalf("after a status, mi-2 is %s and the daemon %+v; want mi-2 stopped and no daemon started for it:\n%s", d.instance("mi-2").State, f.Daemon, d.events())
	}
}

// An up while a restart stops an instance leaves its start to the
// restart, which brings the home up to date first: started by the up
// then, the instance ran as the restart prepared its home and record
// again, which lost its processes (the next up refused for a server
// mictl did not start running in its home).
func TestUpDuringRestartLeavesTheStartToIt(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=1s"}
	d.up(1)
	restart := d.start(nil, "restart", "mi-1")
	d.waitFor("the restart's stop of mi-1", func() bool { return d.stateIs("mi-1", "stopping") })
	d.up(1)
	if err, ok := restart.wait(time.Minute); !ok || err != nil {
		t.Fatalf("restart: %v (ended: %v)\n%s", err, ok, restart.out.String())
	}
	if inst := d.instance("mi-1"); inst.State != "ready" || inst.PGID == 0 || !inst.Server.Alive() {
		t.Fatalf("mi-1 recorded %s, pgid %d, server %v after the restart:\n%s", inst.State, inst.PGID, inst.Server, d.events())
	}
	d.up(1)
}

// An up while a down stops the instances itself (no daemon runs: it was
// killed) starts once that down has let go of the daemon lock. The up's
// daemon left at once, finding the lock held, and the up waited 10 s for
// a daemon that never came, then failed (exit 3), leaving mi-2 recorded
// starting for the next mictl command to start.
func TestUpDuringADirectDownStartsAfterIt(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	down := d.directDownUnderWay("2s")
	d.up(2)
	for _, name := range []string{"mi-1", "mi-2"} {
		if st := d.instance(name).State; st != "ready" {
			t.Fatalf("%s is %s after up:\n%s", name, st, d.events())
		}
	}
	if err, ok := down.wait(time.Minute); !ok || err != nil {
		t.Fatalf("down: %v (ended: %v)\n%s", err, ok, down.out.String())
	}
}

// stopDaemon stops the daemon (SIGSTOP) until the test ends: one that
// does not answer, as a hung one does not.
func (d *deployment) stopDaemon() proc.Identity {
	d.t.Helper()
	daemon := d.state().Daemon.Identity
	if err := syscall.Kill(daemon.PID, syscall.SIGSTOP); err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { syscall.Kill(daemon.PID, syscall.SIGCONT) })
	return daemon
}

// An up whose start no daemon took (the daemon does not answer) leaves
// what it was to start stopped, and says so: it left mi-2 recorded
// starting, which status showed for good, exit 0, though nothing was
// starting it, and which the daemon of the next command started behind
// the failed up.
func TestUpNoDaemonTookLeavesNothingStarting(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	d.stopDaemon()
	code, _, errOut := d.mictl("up", "--instances", "2", "--base-offset", fmt.Sprint(d.base))
	if code != 3 || !strings.Contains(errOut, "note: not started, and recorded stopped: mi-2;") {
		t.Fatalf("up: exit %d, want 3 saying mi-2 was not started:\n%s", code, errOut)
	}
	if st := d.instance("mi-2").State; st != "stopped" {
		t.Fatalf("mi-2 is %s after an up no daemon answered", st)
	}
}

// up, restart and reload end by showing the status, a failed one too:
// one whose daemon does not answer printed nothing, so `-o json`'s reader
// got an empty stdout beside exit 3, where status prints the state file
// with the daemon not answering. They print that too, the error once.
func TestCommandsShowTheStatusOfADaemonThatDoesNotAnswer(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	daemon := d.stopDaemon()
	want := fmt.Sprintf("the mictl daemon (pid %d) is not answering", daemon.PID)
	for _, args := range [][]string{
		{"up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "-o", "json"},
		{"restart", "mi-1", "-o", "json"},
		{"reload", "-o", "json"},
	} {
		code, out, errOut := d.mictl(args...)
		var report struct {
			Instances []statusRow `json:"instances"`
			Daemon    *struct {
				PID       int  `json:"pid"`
				Answering bool `json:"answering"`
			} `json:"daemon"`
			DaemonProblem *string `json:"daemon_problem"`
		}
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			t.Fatalf("mictl %s: exit %d, stdout is not the status JSON: %v\n%q\nstderr:\n%s", strings.Join(args, " "), code, err, out, errOut)
		}
		if code != 3 || strings.Count(errOut, want) != 1 || report.Daemon == nil || report.Daemon.PID != daemon.PID || report.Daemon.Answering ||
			report.DaemonProblem == nil || !strings.Contains(*report.DaemonProblem, want) || len(report.Instances) == 0 {
			t.Fatalf("mictl %s: exit %d, want 3, %q once on stderr, and the daemon not answering in the JSON:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
		}
	}
}

// A down that stops the instances itself (no daemon runs) finishes the
// stop through a first Ctrl-C, saying so, and a second one leaves it
// unfinished, saying what it leaves: cut short at once, it left them
// recorded stopping, for good, and a server that ignores SIGTERM
// running without its SIGKILL, without a word. So does a down started
// with SIGINT ignored (in the background of a script), which said it
// left the stop unfinished, then finished it and exited 0.
func TestInterruptedDirectDownSaysWhatItLeaves(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		interrupts int
		env        []string
	}{
		{"1", 1, nil},
		{"2", 2, nil},
		{"2 ignored", 2, []string{ignoringSIGINT + "=1"}}, // SIGINT ignored from the start
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeployment(t)
			// The timeout leaves the interrupts time to come before the
			// stop ends on a loaded machine.
			down := d.directDownUnderWay("5s", tc.env...)
			down.signal(t, os.Interrupt)
			d.waitFor("the down to say it finishes the stop", func() bool {
				return strings.Contains(down.out.String(), "mictl: no daemon runs to finish the stop of mi-1: finishing it here")
			})
			if tc.interrupts == 2 {
				down.signal(t, os.Interrupt)
			}
			err, ok := down.wait(time.Minute)
			if !ok {
				t.Fatalf("down still runs:\n%s", down.out.String())
			}
			if tc.interrupts == 1 {
				if err != nil || !d.stateIs("mi-1", "stopped") || len(d.servers()) > 0 {
					t.Fatalf("down: %v; mi-1 %s, servers %v; want the stop finished\n%s", err, d.instance("mi-1").State, d.servers(), down.out.String())
				}
				return
			}
			if err == nil || !strings.Contains(down.out.String(), "mictl: left the stop of mi-1 unfinished: they may still run, recorded stopping; mictl down finishes it") {
				t.Fatalf("down: %v, want ended by the second interrupt saying what it left:\n%s", err, down.out.String())
			}
		})
	}
}

// A daemon killed while a rolling restart stops an instance leaves the
// restart to its successor, which starts the instance again once the stop
// is over: it finished the stop alone, and the instance stayed stopped,
// which nothing said. The instances the roll had not come to are named by
// the restart that lost its daemon: nothing restarts them.
func TestDaemonKilledMidRestartFinishesIt(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=1s"}
	d.up(2)
	before := d.instance("mi-1").Server.PID
	restart := d.start(nil, "restart", "--all")
	d.waitFor("the restart's stop of mi-1", func() bool { return d.stateIs("mi-1", "stopping") })
	d.killDaemon()
	if _, ok := restart.wait(time.Minute); !ok {
		t.Fatal("restart still waits for its dead daemon")
	}
	if want := "not restarted: mi-2 (mictl restart mi-2 restarts them)"; !strings.Contains(restart.out.String(), want) {
		t.Errorf("the restart that lost its daemon said:\n%s\nwant %q", restart.out.String(), want)
	}
	d.adopt()
	d.waitFor("mi-1 restarted by the new daemon", func() bool {
		inst := d.instance("mi-1")
		return inst.State == "ready" && inst.Server.PID != before
	})
}

// A daemon killed in a reload's restart, between its stop of mi-1 and
// its start, before the reload added mi-2 (on the ports mi-1 held, so
// after the restart): the next daemon finished the restart with mi-1's
// old home, and nothing added mi-2, while mictl diff said both were still
// to do. It finishes the restart with the edit applied, then catches up
// with the rest of the reload.
func TestDaemonKilledMidReloadAppliesTheEdit(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=1s"}
	toml := filepath.Join(d.dir, "mictl.toml")
	write := func(body string) {
		t.Helper()
		if err := fsutil.WriteFileAtomic(toml, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("host = \"127.0.0.1\"\ninstances = 1\n[[instance]]\nname = \"mi-1\"\noffset = %d\n", d.base))
	d.must("up", "--timeout", "30s")
	write(fmt.Sprintf("host = \"127.0.0.1\"\ninstances = 2\n[[instance]]\nname = \"mi-1\"\noffset = %d\n[[instance]]\nname = \"mi-2\"\noffset = %d\n", d.base+1, d.base))
	d.waitFor("the reload's stop of mi-1", func() bool { return d.stateIs("mi-1", "stopping") })
	d.killDaemon()
	d.adopt()
	d.waitFor("mi-1 restarted with the edit and mi-2 added", func() bool {
		f := d.state()
		mi1, _ := f.Instance("mi-1")
		return mi1 != nil && mi1.State == "ready" && mi1.Offset == d.base+1 && d.stateIs("mi-2", "ready")
	})
	if out := d.must("diff"); !strings.Contains(out, "no changes") {
		t.Errorf("mictl diff after the take-over:\n%s", out)
	}
}

// An up run after a daemon killed in a reload that moved every instance
// (mi-1's restart under way, mi-2's still to come) said "mi-1 runs with
// offset ...: stop it first", though the reload was moving it. It says
// the restart is under way and that mictl reload finishes it and applies
// the rest, which it does.
func TestUpAfterAKilledReloadSaysReloadFinishesIt(t *testing.T) {
	t.Parallel()
	d, moved := killedInAReloadMovingTwo(t)
	code, _, errOut := d.mictl("up", "--timeout", "30s")
	if want := "mi-1 is being restarted, from offset"; code != 2 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "mictl reload finishes") {
		t.Errorf("up during the restart: exit %d, said:\n%s\nwant exit 2, %q and the reload that finishes it", code, errOut, want)
	}
	d.must("reload")
	d.waitFor("both instances moved", func() bool {
		mi1, mi2 := d.instance("mi-1"), d.instance("mi-2")
		return mi1.State == "ready" && mi1.Offset == moved && mi2.State == "ready" && mi2.Offset == moved+2
	})
	if out := d.must("diff"); !strings.Contains(out, "no changes") {
		t.Errorf("mictl diff after the reload:\n%s", out)
	}
}

// An operator's edit of a home's conf/deployment.toml (a setting tuned
// by hand) was lost without a word: up noted the running instance as
// "running with settings the configuration changed since", sending the
// operator to a reload that rendered the file again, and an up after a
// down rendered it again as it started the instance. The running one's
// note names the edit; the up that renders it again keeps the edited
// file beside it and says where, and how to make the setting last.
func TestUpSaysAndKeepsADeploymentTomlEditedInTheHome(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	conf, rendered, edited := d.upWithMi1ConfEdited(2)

	_, _, errOut := d.mictl("up", "--timeout", "30s")
	if want := "note: mi-1: " + conf + ", edited in the home, differs from what mictl renders"; !strings.Contains(errOut, want) || strings.Contains(errOut, "the configuration changed since") {
		t.Errorf("up beside the running mi-1 whose file was edited said:\n%s\nwant %q, not that the configuration changed", errOut, want)
	}

	d.must("down", "mi-1")
	_, _, errOut = d.mictl("up", "--timeout", "30s")
	if want := "warning: mi-1: " + conf + " was edited in the home since mictl rendered it"; !strings.Contains(errOut, want) || !strings.Contains(errOut, "kept as "+conf+".edited") {
		t.Errorf("up that rendered mi-1's edited file again said:\n%s\nwant %q and where the edit is kept", errOut, want)
	}
	if got, _ := os.ReadFile(conf + ".edited"); !bytes.Equal(got, edited) {
		t.Errorf("%s.edited holds %q, want the edit %q", conf, got, edited)
	}
	if got, _ := os.ReadFile(conf); !bytes.Equal(got, rendered) {
		t.Errorf("%s after up: %q, want it rendered again: %q", conf, got, rendered)
	}
}

// upWithMi1ConfEdited runs n instances, then edits mi-1's
// conf/deployment.toml in its home as an operator would (its user store
// changed, with a comment); it returns the file, what mictl rendered, and
// the edit.
func (d *deployment) upWithMi1ConfEdited(n int) (conf string, rendered, edited []byte) {
	d.t.Helper()
	d.configFile("rename", fmt.Sprintf("host = \"127.0.0.1\"\ninstances = %d\nbase_offset = %d\n", n, d.base))
	d.must("up", "--timeout", "30s")
	conf = filepath.Join(d.dir, "instances", "mi-1", "conf", "deployment.toml")
	rendered, err := os.ReadFile(conf)
	if err != nil {
		d.t.Fatal(err)
	}
	edited = bytes.Replace(rendered, []byte(`type = "read_only_ldap"`), []byte("# ops: OPS-42\ntype = \"database\""), 1)
	if err := os.WriteFile(conf, edited, 0o600); err != nil {
		d.t.Fatal(err)
	}
	return conf, rendered, edited
}

// mictl restart after a hand edit of the home's conf/deployment.toml
// rendered it again and kept the edit as conf/deployment.toml.edited
// without a word, where up, generate and a reload say it. It warns as up
// does, and the event log keeps it.
func TestRestartSaysADeploymentTomlEditedInTheHome(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	conf, _, _ := d.upWithMi1ConfEdited(1)
	code, _, errOut := d.mictl("restart", "mi-1")
	want := "warning: mi-1: " + conf + " was edited in the home since mictl rendered it"
	if code != 0 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "kept as "+conf+".edited") {
		t.Errorf("restart of mi-1 whose file was edited: exit %d, said:\n%s\nwant exit 0, %q and where the edit is kept", code, errOut, want)
	}
	if !strings.Contains(d.events(), " mi-1 edit-kept: "+conf+" was edited in the home") {
		t.Errorf("the event log does not say the edit kept:\n%s", d.events())
	}
}

// After a daemon killed in a reload moving mi-1 and mi-2, the daemon an
// up (refused) started finished mi-1's restart and then caught up with
// the configuration on its own, moving mi-2: a restart of mi-2 asked
// meanwhile stopped and started it a second time (two drains, minutes
// each on MI). Only a daemon told to catch up (status, reload) does.
func TestRestartAfterAKilledReloadRestartsOnce(t *testing.T) {
	t.Parallel()
	d, moved := killedInAReloadMovingTwo(t)
	before := len(d.events())
	if code, _, errOut := d.mictl("up", "--timeout", "30s"); code != 2 {
		t.Fatalf("up during the restart: exit %d, want 2:\n%s", code, errOut)
	}
	d.waitFor("mi-1 moved", func() bool { return d.stateIs("mi-1", "ready") && d.instance("mi-1").Offset == moved })
	d.must("restart", "mi-2", "--timeout", "30s")
	after := d.events()[before:]
	if n := strings.Count(after, " mi-2 stopping"); n != 1 {
		t.Errorf("mi-2 was stopped %d times, want once:\n%s", n, after)
	}
	if mi2 := d.instance("mi-2"); mi2.State != "ready" || mi2.Offset != moved+2 {
		t.Errorf("mi-2 after its restart: %s at offset %d, want ready at %d", mi2.State, mi2.Offset, moved+2)
	}
}

// mictl.toml edited while no daemon ran (killed), then mictl up: the
// daemon up starts does not apply the file on its own (it would race
// up's start), and up, which never restarts what runs, exited 0 saying
// nothing of the edit it left unapplied. It names the instances and the
// command that applies it.
func TestUpSaysWhatRunsWithSettingsChangedSince(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	toml := fmt.Sprintf("host = \"127.0.0.1\"\ninstances = 2\nbase_offset = %d\n", d.base)
	d.configFile("rename", toml)
	d.must("up", "--timeout", "30s")
	d.killDaemon()
	d.configFile("rename", toml+"metrics = true\n")
	code, _, errOut := d.mictl("up", "--timeout", "30s")
	if want := "note: mi-1, mi-2: running with settings the configuration changed since"; code != 0 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "mictl reload applies the change") {
		t.Fatalf("up after an edit no daemon applied: exit %d, said:\n%s\nwant exit 0 and %q, naming mictl reload", code, errOut, want)
	}
	d.must("reload")
	if out := d.must("diff"); !strings.Contains(out, "no changes") {
		t.Errorf("mictl diff after the reload:\n%s", out)
	}
	if _, _, errOut := d.mictl("up", "--timeout", "30s"); strings.Contains(errOut, "running with settings") {
		t.Errorf("up with everything applied still notes unapplied settings:\n%s", errOut)
	}
}

// up --offsets giving a running instance another offset was refused
// with "let the daemon apply the change (mictl reload)": a reload plans
// from mictl.toml and the last up's flags, not this refused up's, and
// said "mictl reloaded: no change". The refusal names the flag and what
// does move the instance, which then works.
func TestUpOffsetsOfARunningInstanceSaysWhatMovesIt(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	moved := fmt.Sprint(d.base + 50)
	code, _, errOut := d.mictl("up", "--offsets", moved, "--timeout", "30s")
	want := fmt.Sprintf("mi-1 runs with offset %d; --offsets gives it %s", d.base, moved)
	if code != 2 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "mictl down mi-1") || strings.Contains(errOut, "mictl reload") {
		t.Fatalf("up --offsets %s of a running mi-1: exit %d, said:\n%s\nwant exit 2, %q and mictl down mi-1, not mictl reload, which changes nothing", moved, code, errOut, want)
	}
	d.must("down", "mi-1")
	d.must("up", "--offsets", moved, "--timeout", "30s")
	if mi1 := d.instance("mi-1"); mi1.State != "ready" || fmt.Sprint(mi1.Offset) != moved {
		t.Errorf("mi-1 after down and the up again: %s at offset %d, want ready at %s", mi1.State, mi1.Offset, moved)
	}
}

// An up run after a daemon killed in a reload that restarted mi-1 and
// mi-2 where they were (mi-1 stopping) exited 3 about half the time,
// saying "mi-1 was stopped before it was ready (by mictl down, or its
// restart policy)": its start met mi-1 stopped by the restart that the
// daemon it started was finishing, which then started mi-1 ready. Stopped
// for a restart still to finish, mi-1 is waited for.
func TestUpWaitsThroughARestartAKilledDaemonLeft(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=1s"}
	toml := fmt.Sprintf("host = \"127.0.0.1\"\ninstances = 2\nbase_offset = %d\n", d.base)
	d.configFile("rename", toml)
	d.must("up", "--timeout", "30s")
	d.configFile("rename", toml+"metrics = true\n")
	d.waitFor("the reload's stop of mi-1", func() bool { return d.stateIs("mi-1", "stopping") })
	d.killDaemon()
	before := len(d.events())
	d.must("up", "--timeout", "30s")
	if mi1 := d.instance("mi-1"); mi1.State != "ready" || mi1.Restarting {
		t.Errorf("mi-1 after up: %s (restarting %v), want ready\nevents:\n%s", mi1.State, mi1.Restarting, d.events())
	}
	// Started once, by the restart, with the edit applied: up's start,
	// which waited for the restart's stop, launched it as it was.
	var launches []string
	for _, line := range strings.Split(d.events()[before:], "\n") {
		if strings.Contains(line, " mi-1 starting pid=") && strings.Contains(line, "started bin/micro-integrator.sh") {
			launches = append(launches, line)
		}
	}
	if len(launches) != 1 || !strings.Contains(launches[0], "-DenablePrometheusApi=true") {
		t.Errorf("mi-1 launched after up:\n%s\nwant once, with -DenablePrometheusApi=true (metrics = true)\nevents:\n%s", strings.Join(launches, "\n"), d.events())
	}
}

// killedInAReloadMovingTwo is a deployment of mi-1 and mi-2 whose daemon
// was killed while its reload, moving both by moved-base offsets, was
// stopping mi-1: mi-1's restart under way, mi-2's still to come.
func killedInAReloadMovingTwo(t *testing.T) (d *deployment, moved int) {
	d = newDeployment(t)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=1s"}
	twoAt := func(offset int) string {
		return fmt.Sprintf("host = \"127.0.0.1\"\n[[instance]]\nname = \"mi-1\"\noffset = %d\n[[instance]]\nname = \"mi-2\"\noffset = %d\n", offset, offset+2)
	}
	d.configFile("rename", twoAt(d.base))
	d.must("up", "--timeout", "30s")
	moved = d.base + 10
	d.configFile("rename", twoAt(moved))
	d.waitFor("the reload's stop of mi-1", func() bool { return d.stateIs("mi-1", "stopping") })
	d.killDaemon()
	return d, moved
}

// A daemon killed while its reload stopped a removed instance left the
// stop to its successor, which stopped it twice side by side: the stop
// resumed, and its catch-up reload's. The event log said "stopping" and
// "stopped" twice. The catch-up waits for the resumed stop.
func TestKilledRemovalStopsOnce(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=1s"}
	d.configFile("rename", fmt.Sprintf("host = \"127.0.0.1\"\ninstances = 3\nbase_offset = %d\n", d.base))
	d.must("up", "--timeout", "30s")
	d.configFile("rename", fmt.Sprintf("host = \"127.0.0.1\"\ninstances = 2\nbase_offset = %d\n", d.base))
	d.waitFor("the reload's stop of mi-3", func() bool { return d.stateIs("mi-3", "stopping") })
	d.killDaemon()
	before := len(d.events())

	d.adopt()
	d.waitFor("the catch-up reload", func() bool { return strings.Contains(d.events()[before:], " mictl reloaded") })
	after := d.events()[before:]
	if n := strings.Count(after, " mi-3 stopping"); n != 1 {
		t.Errorf("the new daemon began %d stops of mi-3, want 1:\n%s", n, after)
	}
	if n := strings.Count(after, " mi-3 stopped"); n != 1 {
		t.Errorf("the new daemon logged mi-3 stopped %d times, want once:\n%s", n, after)
	}
}

// mictl reload after the daemon was killed, with instances running, said
// "no mictl daemon is running for instances: nothing runs to reload"
// (exit 2), and an edit stayed unapplied. It replaces the daemon, as
// status does, and the new one reloads.
func TestReloadReplacesAKilledDaemon(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	killed := d.killDaemon()
	d.must("reload")
	if f := d.state(); f.Daemon == nil || f.Daemon.Identity == killed || !d.stateIs("mi-1", "ready") {
		t.Fatalf("after the reload: daemon %+v, mi-1 %s; want a new daemon and mi-1 ready\nevents:\n%s", f.Daemon, d.instance("mi-1").State, d.events())
	}
}

// A process that still runs an instance's start script in its home after
// the stop (started there by hand, in a group of its own: the stop of a
// watched instance ends what mictl started) makes down exit 3 naming it,
// for down's 0 says nothing of the instances runs. The next down, with
// nothing supervised, ends it.
func TestDownNamesWhatItLeftRunning(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	script := filepath.Join(d.instance("mi-1").Home, home.StartScript)
	// This test binary, through a link named as the start script and run
	// with the home's script as argv[0]: to /proc, a second start of mi-1,
	// caught before its script exported CARBON_HOME (which a stop also
	// knows a home's processes by).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), filepath.Base(script))
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	left := exec.Command(link)
	left.Args[0] = script
	left.Env = append(os.Environ(), asLeftover+"=1")
	left.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	go func() { _ = left.Wait(); close(ended) }()
	t.Cleanup(func() { _ = left.Process.Kill(); <-ended })
	d.waitFor("the process left in mi-1's home to run", func() bool {
		args, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", left.Process.Pid))
		return strings.HasPrefix(string(args), script+"\x00")
	})

	code, _, errOut := d.mictl("down")
	want := fmt.Sprintf("mi-1: pid %d (micro-integrato) still runs in its home", left.Process.Pid)
	if code != 3 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "run mictl down mi-1 again") {
		t.Fatalf("down with a process left in mi-1's home: exit %d, want 3 and %q\nstderr:\n%s", code, want, errOut)
	}
	if inst := d.instance("mi-1"); inst.State != "stopped" {
		t.Fatalf("mi-1 is %s after down, want stopped", inst.State)
	}
	d.must("down")
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the second down left the process in mi-1's home running")
	}
}

// A MICTL_SIM_ value the simulator cannot read is refused before any
// start (exit 2) when the instances run the simulator, and is none of a
// real MI's business: there up goes on (here the home, a simulator
// distribution without its marker, reads it all the same and fails).
func TestUpChecksTheSimulatorsSwitchesOnlyForTheSimulator(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "dist")
	d.env = []string{"MICTL_SIM_CRASH_AFTER=soon"}
	refusal := "MICTL_SIM_CRASH_AFTER"
	d.configFile("inplace", fmt.Sprintf("instances = 1\nbase_offset = %d\nmi_home = \"dist\"\n", d.base))
	if code, _, errOut := d.mictl("up", "--timeout", "10s"); code != 2 || !strings.Contains(errOut, refusal) {
		t.Fatalf("up on the simulator: exit %d, want 2 naming %s:\n%s", code, refusal, errOut)
	}
	if err := os.Remove(filepath.Join(d.dir, "dist", "VERSION")); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := d.mictl("up", "--timeout", "10s"); code == 2 || strings.Contains(errOut, "mictl sim --help says what each") {
		t.Fatalf("up on a real MI home: exit %d, refused for a simulator switch:\n%s", code, errOut)
	}
	d.mictl("down", "--timeout", "5s")
}

func TestFailedStartReportsTheScriptsOutput(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	// docs/mi-facts.md: outside its JDK range the script prints an [ERROR] line and
	// exits 0 without starting java.
	d.env = []string{"MICTL_SIM_REFUSE_START=1"}
	code, _, errOut := d.mictl("up", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "20s")
	if code != 3 || !strings.Contains(errOut, "supported only between JDK") || !strings.Contains(errOut, "without a running server") {
		t.Fatalf("exit %d, want 3 with the script's [ERROR] line:\n%s", code, errOut)
	}
	// Each failed instance under the heading, its output under it, as
	// status NAME shows them.
	if want := "not every instance is ready:\n  mi-1 failed: "; !strings.Contains(errOut, want) || !strings.Contains(errOut, "\n      [") {
		t.Errorf("the failure summary lacks %q and its output indented under it:\n%s", want, errOut)
	}
}

// status of a failed instance said `mictl logs` says why, and not what
// starts it again: the daemon gave it up, and restart refuses it. Both
// the table's status and status NAME name the up that does. restart
// refuses it with exit 2, as the README's table has it for a named
// instance that does not run, and says what failed it and where its
// whole last error is, beside that up: it said nothing of why, and the
// up it named started it into the same failure.
func TestStatusSaysWhatStartsAFailedInstanceAgain(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_CRASH_AFTER=1ms"}
	d.configFile("inplace", fmt.Sprintf("instances = 1\nbase_offset = %d\n", d.base))
	if code, _, errOut := d.mictl("up", "--timeout", "20s"); code != 3 {
		t.Fatalf("up of a server that crashes at once: exit %d, want 3\n%s", code, errOut)
	}
	for _, args := range [][]string{{"status"}, {"status", "mi-1"}, {"status", "-o", "json"}} {
		code, _, errOut := d.mictl(args...)
		if code != 3 || !strings.Contains(errOut, "; mictl up starts mi-1 again)") {
			t.Errorf("mictl %s: exit %d, want 3 saying mictl up starts mi-1 again:\n%s", strings.Join(args, " "), code, errOut)
		}
	}
	reason := d.instance("mi-1").Reason
	want := "mi-1 is failed (" + reason + "; mictl status mi-1 shows its whole last error), not running: mictl up starts it; up plans it again and checks its ports first"
	if code, _, errOut := d.mictl("restart", "mi-1"); code != 2 || reason == "" || !strings.Contains(errOut, want) {
		t.Errorf("restart of the failed mi-1: exit %d, want 2 saying %q:\n%s", code, want, errOut)
	}
	// --all with every instance failed said "nothing runs to restart"
	// alone.
	want = "note: not restarting mi-1 (failed: " + reason + "; mictl status mi-1 shows its whole last error): not running; mictl up starts it"
	if code, _, errOut := d.mictl("restart", "--all"); code != 2 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "nothing runs to restart") {
		t.Errorf("restart --all with mi-1 failed: exit %d, want 2 saying %q and that nothing runs:\n%s", code, want, errOut)
	}
}

func TestRollingRestart(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(3)
	before := d.state()
	d.must("restart", "--all")
	after := d.state()
	for i, inst := range after.Instances {
		if inst.State != "ready" || inst.Server == before.Instances[i].Server || inst.Offset != before.Instances[i].Offset {
			t.Errorf("%s: %+v", inst.Name, inst)
		}
	}
	// One at a time: each instance is ready before the next one stops.
	var order []string
	for _, line := range strings.Split(d.events(), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[2] == "stopping" || f[2] == "ready") {
			order = append(order, f[1]+" "+f[2])
		}
	}
	if len(order) < 6 {
		t.Fatalf("events:\n%s", d.events())
	}
	got := strings.Join(order[len(order)-6:], ", ")
	want := "mi-1 stopping, mi-1 ready, mi-2 stopping, mi-2 ready, mi-3 stopping, mi-3 ready"
	if got != want {
		t.Fatalf("restart order:\n got %s\nwant %s", got, want)
	}
}

// With no daemon to hold it, a corrupt state file is rebuilt from the
// instance homes and /proc.
func TestCorruptStateIsRebuilt(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	server := d.instance("mi-1").Server
	d.killDaemon()
	if err := os.WriteFile(filepath.Join(d.dir, "instances", ".mictl", "state.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := d.mictl("status")
	if code != 0 || !strings.Contains(errOut, "rebuilding it") || !strings.Contains(out, fmt.Sprint(server.PID)) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// A state file deleted while the daemon is gone and the servers it
// started run is rebuilt as a corrupt one is, and the servers adopted:
// read as empty, status said there were no instances, up refused to
// start beside "servers mictl did not start", and ports table planned
// around them. A plan made before any command saved the rebuild sees them
// too, and a down of one records its stop.
func TestDeletedStateIsRebuiltWhileServersRun(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(3)
	before := d.pids()
	offsets := map[string]int{}
	for _, inst := range d.state().Instances {
		offsets[inst.Name] = inst.Offset
	}
	d.killDaemon()
	path := filepath.Join(d.dir, "instances", ".mictl", "state.json")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for _, r := range d.portsTable() {
		if r.Offset != offsets[r.Name] || r.PID != before[r.Name] {
			t.Errorf("ports table plans %s at offset %d with pid %d, want its own %d and %d", r.Name, r.Offset, r.PID, offsets[r.Name], before[r.Name])
		}
	}
	code, out, errOut := d.mictl("status", "-o", "json")
	var r statusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || len(r.Instances) != 3 || !strings.Contains(errOut, "is missing, but servers mictl started still run in the homes of mi-1, mi-2, mi-3; rebuilding it") {
		t.Fatalf("status: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	for _, inst := range r.Instances {
		if inst.State != "ready" {
			t.Errorf("rebuilt %s: %s, want ready", inst.Name, inst.State)
		}
	}
	if out := d.must("up", "--instances", "3", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s"); !strings.Contains(out, "mi-3") {
		t.Fatalf("up after the rebuild:\n%s", out)
	}
	d.assertRestarted(before)
	d.must("down", "mi-1")
	if d.instance("mi-1").State != "stopped" {
		t.Fatalf("mi-1 after down mi-1: %+v", d.instance("mi-1"))
	}
}

// A state file missing where no server mictl started runs is no lost
// state: homes a down left (without --purge) are not made instances
// again, and nothing is started.
func TestMissingStateWithNothingRunningStaysEmpty(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	d.must("down")
	if err := os.Remove(filepath.Join(d.dir, "instances", ".mictl", "state.json")); err != nil {
		t.Fatal(err)
	}
	if r := d.statusJSON(); len(r.Instances) != 0 {
		t.Fatalf("status after the file went with nothing running: %+v", r.Instances)
	}
	if servers := d.servers(); len(servers) != 0 {
		t.Fatalf("started %v", servers)
	}
}

// A pgid in the state file may name a stranger's group by now (pids are
// reused): down must never signal it.
func TestDownNeverSignalsAReusedProcessGroup(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	d.killDaemon()
	stranger := exec.Command("sleep", "60")
	stranger.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stranger.Process.Kill(); stranger.Wait() }()
	// Pretend mi-1's group id was reused by the stranger.
	path := filepath.Join(d.dir, "instances", ".mictl", "state.json")
	data, _ := os.ReadFile(path)
	real := d.instance("mi-1").PGID
	data = []byte(strings.ReplaceAll(string(data), fmt.Sprintf(`"pgid": %d`, real), fmt.Sprintf(`"pgid": %d`, stranger.Process.Pid)))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	d.mictl("down", "--timeout", "3s")
	if err := syscall.Kill(stranger.Process.Pid, 0); err != nil {
		t.Fatalf("down killed a process outside the deployment: %v", err)
	}
	// The real group was stopped through its server all the same.
	proctest.Reap(d.dir, time.Second)
}

// docs/mi-facts.md: exit 121 is MI's own restart. A later crash is still a crash.
func TestCrashAfterSelfRestartIsRestarted(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_RESTART_ONCE=300ms"}
	d.up(1)
	first := d.instance("mi-1").Server
	d.waitFor("the self-restart", func() bool {
		now := d.instance("mi-1")
		return now.Server.PID != first.PID && now.Server.PID != 0 && now.State == "ready"
	})
	second := d.instance("mi-1").Server
	if err := syscall.Kill(second.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the restart after the crash", func() bool {
		now := d.instance("mi-1")
		return now.State == "ready" && now.Server.PID != second.PID
	})
}

// A ready server that restarts itself (exit 121) starts again as any
// server does, a JVM in seconds: it is waited for until ready, not
// checked at once and killed for the /liveness it cannot answer yet.
func TestSelfRestartIsAStartNotACrash(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	// Ready at 2 s, restarted at 5 s: the restart comes well after the
	// first start, even under load; the successor's 2 s of booting are
	// more than three /liveness checks.
	d.env = []string{"MICTL_SIM_STARTUP_DELAY=2s", "MICTL_SIM_RESTART_ONCE=5s"}
	d.up(1)
	first := d.instance("mi-1").Server
	d.waitFor("the self-restarted server ready", func() bool {
		now := d.instance("mi-1")
		return now.Server.PID != first.PID && now.Server.PID != 0 && now.State == "ready"
	})
	ev := d.events()
	if strings.Contains(ev, "ended by mictl") || strings.Contains(ev, "crashed") || !strings.Contains(ev, "server restarted itself") {
		t.Fatalf("the self-restart was not followed as a start:\n%s", ev)
	}
	if now := d.instance("mi-1"); now.Restarts != 0 || !now.Server.Alive() {
		t.Fatalf("mi-1 after its self-restart: %d restarts, server %v alive %v; want 0 and alive:\n%s", now.Restarts, now.Server, now.Server.Alive(), ev)
	}
}

// A server that restarts itself (exit 121) before it is ready is followed
// to its successor: the instance becomes ready with the new server
// recorded, never with the pid of the one that exited.
func TestSelfRestartWhileStartingIsFollowed(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	// Wide margins: the first server must be found (its pid file read,
	// every 10 ms) before it restarts, even under -race on a busy host.
	d.env = []string{"MICTL_SIM_STARTUP_DELAY=1s", "MICTL_SIM_RESTART_ONCE=300ms"}
	d.up(1)
	inst := d.instance("mi-1")
	pidFile, err := os.ReadFile(filepath.Join(inst.Home, "wso2carbon.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if inst.State != "ready" || !inst.Server.Alive() || strings.TrimSpace(string(pidFile)) != fmt.Sprint(inst.Server.PID) {
		t.Fatalf("state %s, server %v (alive %v), pid file %q: want ready with the live server of the pid file\nevents:\n%s",
			inst.State, inst.Server, inst.Server.Alive(), pidFile, d.events())
	}
	if n := strings.Count(d.events(), "server process found"); n != 2 {
		t.Errorf("%d servers found, want 2 (the first and the one it restarted as)\nevents:\n%s", n, d.events())
	}
}

// Descriptors mictl inherits must not reach the daemon or the servers.
func TestInheritedDescriptorsDoNotLeak(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	leak, err := os.Create(filepath.Join(d.dir, "leak"))
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	cmd := exec.Command(os.Args[0], "up", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	cmd.Dir = d.dir
	cmd.Env = append(os.Environ(), asMictl+"=1", "MICTL_SIM_STARTUP_DELAY=0")
	cmd.ExtraFiles = []*os.File{leak} // fd 3 in mictl, without close-on-exec
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	for _, pid := range proctest.Under(d.dir) {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); target == leak.Name() {
				t.Errorf("%s holds the inherited descriptor", proctest.Describe([]int{pid}))
			}
		}
	}
}

// A daemon killed in the middle of a stop must not bring the instance
// back: the intent to stop is recorded before any signal.
func TestDaemonKilledDuringStopDoesNotResurrect(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=2s"}
	d.up(1)
	daemon := d.daemonPID()
	down := d.start(nil, "down", "--timeout", "10s")
	d.waitFor("the stop to begin", func() bool { return d.instance("mi-1").State == "stopping" })
	if err := syscall.Kill(daemon, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err, _ := down.wait(time.Minute); err != nil {
		t.Fatalf("down: %v\n%s", err, down.out.String())
	}
	d.must("status")
	time.Sleep(500 * time.Millisecond)
	if inst := d.instance("mi-1"); inst.State != "stopped" {
		t.Fatalf("mi-1 is %s after the stop:\n%s", inst.State, d.events())
	}
	if left := d.leftRunning(); len(left) > 0 {
		t.Fatalf("left running: %s", proctest.Describe(left))
	}
}

// A stopped instance keeps no offset: when a foreign process takes one
// of its ports, the next plan moves it and says so, naming the holder;
// running instances keep theirs and are not conflicts. (Issue 10: offsets
// stuck after down; a silent planner move.)
func TestStoppedInstanceIsReplannedAroundAForeignPort(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	mi1 := d.instance("mi-1")
	d.must("down", "mi-2")
	old := d.instance("mi-2")
	port := old.Ports[0]
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	code, out, _ := d.mictl("check-conflicts", "--instances", "2", "--base-offset", fmt.Sprint(d.base))
	want := fmt.Sprintf("moved: mi-2 planned at offset %d, not %d: its http port %d there is held by pid %d", old.Offset+1, old.Offset, port, os.Getpid())
	if code != 0 || !strings.Contains(out, want) || strings.Contains(out, "conflict:") {
		t.Fatalf("exit %d, want 0 and %q:\n%s", code, want, out)
	}
	out = d.must("check-conflicts", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "-o", "json")
	jsonschematest.Validate(t, "check-conflicts", []byte(out))
	var report struct {
		Moves []struct {
			Instance string  `json:"instance"`
			Skipped  int     `json:"skipped_offset"`
			Role     string  `json:"role"`
			Listener *string `json:"listener"`
			Holder   *string `json:"holder"`
		} `json:"moves"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	if m := report.Moves; len(m) != 1 || m[0].Instance != "mi-2" || m[0].Skipped != old.Offset || m[0].Role != "http" ||
		m[0].Listener != nil || m[0].Holder == nil || !strings.HasPrefix(*m[0].Holder, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("moves in JSON: %s", out)
	}
	d.up(2)
	if now := d.instance("mi-2"); now.Offset == old.Offset || now.State != "ready" {
		t.Fatalf("mi-2 after up: offset %d (was %d), state %s", now.Offset, old.Offset, now.State)
	}
	if now := d.instance("mi-1"); now.Offset != mi1.Offset || now.Server != mi1.Server {
		t.Fatalf("mi-1 was touched: %+v -> %+v", mi1, now)
	}
}

// A stranger on a running instance's port at [::1] takes nothing MI binds
// (127.0.0.1), but clients of localhost that try ::1 first reach it:
// check-conflicts and ports table warn, naming it, and exit 0.
func TestStrangerOnTheOtherLoopbackIsAWarning(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	port := d.instance("mi-1").Ports[ports.HTTP]
	l, err := net.Listen("tcp6", fmt.Sprintf("[::1]:%d", port))
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer l.Close()
	want := fmt.Sprintf("warning: mi-1 http port %d: pid %d (", port, os.Getpid())
	for _, args := range [][]string{{"check-conflicts"}, {"ports", "table"}} {
		code, out, _ := d.mictl(args...)
		if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "listens on the same port on ::1") {
			t.Errorf("%s: exit %d, want 0 and %q:\n%s", strings.Join(args, " "), code, want, out)
		}
	}
	out := d.must("ports", "table", "-o", "json")
	jsonschematest.Validate(t, "ports-table", []byte(out))
	var rows []struct {
		Warnings []struct {
			Kind      string `json:"kind"`
			HolderPID *int   `json:"holder_pid"`
		} `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || len(rows[0].Warnings) != 1 || rows[0].Warnings[0].Kind != "loopback" ||
		rows[0].Warnings[0].HolderPID == nil || *rows[0].Warnings[0].HolderPID != os.Getpid() {
		t.Fatalf("ports table -o json warnings: %s", out)
	}
}

// Free to choose, the planner passes over a port a stranger listens on at
// [::1]: it planned mi-1 there, where clients of localhost may reach the
// stranger, and only warned. The move names the holder and its address.
func TestPlannerPassesOverAStrangerOnTheOtherLoopback(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	port := ports.DefaultBases()[ports.HTTP] + d.base
	l, err := net.Listen("tcp6", fmt.Sprintf("[::1]:%d", port))
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer l.Close()
	args := []string{"check-conflicts", "--instances", "1", "--base-offset", fmt.Sprint(d.base)}
	code, out, _ := d.mictl(args...)
	want := fmt.Sprintf("moved: mi-1 planned at offset %d, not %d: its http port %d there is held by pid %d (", d.base+1, d.base, port, os.Getpid())
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "on ::1, which clients of localhost") || strings.Contains(out, "warning:") {
		t.Fatalf("exit %d, want 0, %q and no warning:\n%s", code, want, out)
	}
	out = d.must(append(args, "-o", "json")...)
	jsonschematest.Validate(t, "check-conflicts", []byte(out))
	var report struct {
		Moves []struct {
			Holder  *string `json:"holder"`
			Address *string `json:"address"`
		} `json:"moves"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	// The holder is spelled as in every finding ("pid 123 (python3)"),
	// the address apart: it said "... on ::1, which clients of
	// localhost:8290 may reach instead" in moves alone.
	holder := selfHolder(t)
	if m := report.Moves; len(m) != 1 || m[0].Address == nil || *m[0].Address != "::1" || m[0].Holder == nil || *m[0].Holder != holder {
		t.Fatalf("moves in JSON, want holder %q and address ::1: %s", holder, out)
	}
}

// selfHolder is this test process as -o json names a holder.
func selfHolder(t *testing.T) string {
	t.Helper()
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pid %d (%s)", os.Getpid(), strings.TrimSpace(string(comm)))
}

// A stranger on [::1] that took the port of where a stopped instance last
// ran is named in ports table -o json's last_port_taken as every other
// holder is, its address apart: the holder said "pid 123 (python3) on
// ::1, which clients of localhost:8290 may reach instead", the note's
// words, which no other output's holder matched. The note keeps them.
func TestPortsTableNamesALastPortTakenOnTheOtherLoopbackApart(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	d.must("down")
	port := ports.DefaultBases()[ports.HTTP] + d.base
	l, err := net.Listen("tcp6", fmt.Sprintf("[::1]:%d", port))
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer l.Close()
	args := []string{"ports", "table", "--instances", "1", "--base-offset", fmt.Sprint(d.base)}
	out := d.must(append(args, "-o", "json")...)
	jsonschematest.Validate(t, "ports-table", []byte(out))
	var rows []struct {
		LastPortTaken *struct {
			Port    int     `json:"port"`
			Holder  *string `json:"holder"`
			Address *string `json:"address"`
		} `json:"last_port_taken"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	holder := selfHolder(t)
	if len(rows) != 1 || rows[0].LastPortTaken == nil {
		t.Fatalf("ports table -o json, want mi-1's last port taken: %s", out)
	}
	if lt := rows[0].LastPortTaken; lt.Port != port || lt.Holder == nil || *lt.Holder != holder || lt.Address == nil || *lt.Address != "::1" {
		t.Fatalf("last_port_taken, want port %d, holder %q and address ::1: %s", port, holder, out)
	}
	want := fmt.Sprintf("where its http port %d is now held by %s on ::1, which clients of localhost:%d may reach instead", port, holder, port)
	if out := d.must(args...); !strings.Contains(out, want) {
		t.Fatalf("ports table, want the note to say %q:\n%s", want, out)
	}
}

// An instance an up started beyond mictl.toml (--offsets sets the count)
// that failed is no longer planned, but status shows it, and so do ports
// table (a row where it last ran) and check-conflicts (a note), where it
// was missing; the note names the up that starts it again, whose flags
// planned it ("when mictl.toml or its flags name it" left them to be
// guessed).
func TestFailedInstanceBeyondTheConfigurationIsShown(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", fmt.Sprintf("base_offset = %d\n", d.base))
	port := ports.DefaultBases().Shift(d.base + 1)[ports.HTTP]
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d.mictl("up", "--offsets", fmt.Sprintf("%d,%d", d.base, d.base+1), "--force", "--timeout", "30s")
	if mi2 := d.instance("mi-2"); mi2.State != "failed" {
		t.Fatalf("mi-2 is %s, want failed on a foreign port:\n%s", mi2.State, d.events())
	}
	note := fmt.Sprintf("mi-2 is failed at offset %d and not planned: the configuration does not name it (an earlier up did); mictl up --offsets=%d,%[1]d starts it again (the last up's flags planned it), mictl down --purge mi-2 forgets it", d.base+1, d.base)
	out := d.must("ports", "table")
	if row := fmt.Sprintf("| mi-2 | %d ", d.base+1); !strings.Contains(out, row) || !strings.Contains(out, note) {
		t.Errorf("ports table: want a row %q and %q:\n%s", row, note, out)
	}
	if out := d.must("check-conflicts"); !strings.Contains(out, "note: "+note) {
		t.Errorf("check-conflicts: want %q:\n%s", note, out)
	}
	out = d.must("ports", "table", "-o", "json")
	jsonschematest.Validate(t, "ports-table", []byte(out))
	var rows []struct {
		Name         string  `json:"name"`
		Offset       int     `json:"offset"`
		OffsetSource string  `json:"offset_source"`
		State        *string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[1].Name != "mi-2" || rows[1].Offset != d.base+1 || rows[1].OffsetSource != "recorded" ||
		rows[1].State == nil || *rows[1].State != "failed" {
		t.Fatalf("ports table -o json: %s", out)
	}
	out = d.must("check-conflicts", "-o", "json")
	jsonschematest.Validate(t, "check-conflicts", []byte(out))
	var checked struct {
		Unplanned []map[string]any `json:"unplanned"`
	}
	if err := json.Unmarshal([]byte(out), &checked); err != nil || fmt.Sprint(checked.Unplanned) != fmt.Sprintf("[map[instance:mi-2 offset:%d state:failed]]", d.base+1) {
		t.Fatalf("check-conflicts -o json: want mi-2 unplanned (%v):\n%s", err, out)
	}
}

// A running instance whose /healthz turns 503 is shown degraded, with why.
func TestRunningInstanceTurnsDegraded(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_UNREADY_AFTER=500ms"}
	d.up(1)
	d.waitFor("mi-1 to be degraded", func() bool { return d.instance("mi-1").State == "degraded" })
	out := d.faulted("mi-1", "status")
	if !strings.Contains(out, "degraded") || !strings.Contains(out, "503") {
		t.Fatalf("status does not show the degraded instance and why:\n%s", out)
	}
	if inst := d.instance("mi-1"); inst.Restarts != 0 {
		t.Fatalf("a degraded instance was restarted: %+v", inst)
	}
}

// up --foreground streams prefixed logs; Ctrl-C stops gracefully, and a
// second Ctrl-C kills what ignores SIGTERM instead of waiting 200 s.
// up --foreground beside a daemon is refused naming the instances
// directory as typed (./instances), as the other messages name it.
func TestForegroundBesideADaemonNamesTheDirectoryAsTyped(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	code, _, errOut := d.mictl("up", "--foreground", "--instances", "1", "--base-offset", fmt.Sprint(d.base))
	if want := fmt.Sprintf("a mictl daemon (pid %d) already supervises ./instances; stop it with mictl down", d.daemonPID()); code != 2 || !strings.Contains(errOut, want) {
		t.Fatalf("up --foreground beside a daemon: exit %d, want 2 saying %q:\n%s", code, want, errOut)
	}
}

func TestForegroundSecondInterruptKills(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	up := d.start([]string{"MICTL_SIM_STARTUP_DELAY=0", "MICTL_SIM_IGNORE_SIGTERM=1"},
		"up", "--foreground", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	d.waitFor("mi-1 ready", func() bool { return d.stateIs("mi-1", "ready") })
	up.signal(t, os.Interrupt)
	d.waitFor("the graceful stop to begin", func() bool { return d.instance("mi-1").State == "stopping" })
	up.signal(t, os.Interrupt)
	if _, ok := up.wait(20 * time.Second); !ok {
		t.Fatalf("up --foreground still waits after a second Ctrl-C:\n%s", up.out.String())
	}
	if !strings.Contains(up.out.String(), "mi-1 | ") {
		t.Errorf("no prefixed log lines in the output:\n%s", up.out.String())
	}
	if left := d.leftRunning(); len(left) > 0 {
		t.Errorf("left running: %s", proctest.Describe(left))
	}
}

// Ctrl-C of up --foreground during a mictl restart beside it stops every
// instance, the restart's too: the restart, which went on, started each
// again as the foreground stop ended, left running with no supervisor.
func TestForegroundCtrlCInterruptsARestartBesideIt(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	up := d.start([]string{"MICTL_SIM_STARTUP_DELAY=0", "MICTL_SIM_SHUTDOWN_DELAY=2s"},
		"up", "--foreground", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	d.waitFor("both ready", func() bool { return d.stateIs("mi-1", "ready") && d.stateIs("mi-2", "ready") })
	restart := d.start(nil, "restart", "--all")
	d.waitFor("the restart to stop mi-1", func() bool { return strings.Contains(restart.out.String(), "mi-1 stopping") })
	up.signal(t, os.Interrupt)
	if _, ok := up.wait(time.Minute); !ok {
		t.Fatalf("up --foreground still runs a minute after Ctrl-C:\n%s", up.out.String())
	}
	if _, ok := restart.wait(time.Minute); !ok {
		t.Fatalf("restart still runs after the foreground up ended:\n%s", restart.out.String())
	}
	for _, name := range []string{"mi-1", "mi-2"} {
		if inst := d.instance(name); inst.State != "stopped" {
			t.Errorf("%s is %s once up --foreground ended; want stopped\nrestart:\n%s\nevents:\n%s", name, inst.State, restart.out.String(), d.events())
		}
	}
	if left := d.leftRunning(); len(left) > 0 {
		t.Errorf("left running: %s", proctest.Describe(left))
	}
}

// A rolling restart that mictl down interrupts says so on one line with
// what it left: the instances its roll had not restarted (mi-2, stopped
// and not started again), or nothing, for one still waiting its turn
// behind the other, and the up that ran them. Both ended "(the
// instances after it were not restarted)", of no instance, and the one
// waiting its turn had restarted none. Its table is of the down's stop:
// no instance in it is ready (one was, of a server the down was ending).
func TestDownInterruptingARestartSaysWhatItLeft(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.upSlowToStop(2)
	// A down forgets the last up's flags: a plain up would plan others.
	up := "mictl up " + strings.Join(d.state().UpArgs, " ")
	first := d.start(nil, "restart", "--all")
	d.waitFor("the restart to stop mi-2", func() bool { return strings.Contains(first.out.String(), "mi-2 stopping") })
	second := d.start(nil, "restart", "--all")
	d.waitFor("the second restart to wait its turn", func() bool { return strings.Contains(second.out.String(), "restart-waiting") })
	d.must("down")
	for _, c := range []struct {
		restart *background
		left    string
	}{
		{first, "not restarted: mi-2"},
		{second, "nothing was restarted"},
	} {
		want := "mictl: rolling restart: interrupted: mictl down stops every instance; " + c.left + "; " + up + " starts them all again\n"
		err, ok := c.restart.wait(time.Minute)
		var ee *exec.ExitError
		if !ok || !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(c.restart.out.String(), want) {
			t.Errorf("restart: %v (ended: %v), want exit 3 saying %q:\n%s", err, ok, want, c.restart.out.String())
		}
		if running := regexp.MustCompile(`(?m)^\| mi-\d +\| (ready|degraded|starting) `).FindString(c.restart.out.String()); running != "" {
			t.Errorf("restart: its table shows %q while the down stops every instance; want stopping or stopped:\n%s", running, c.restart.out.String())
		}
	}
}

// Ctrl-C in a terminal reaches every process of the pipeline: in `mictl
// up --foreground | tee up.log`, tee ends at once, and mictl's next write
// (a shutdown line it follows) went to a pipe with no reader: SIGPIPE
// killed mictl in the middle of the graceful stop, the state still asked
// for the instances, and the next command started them again. The stop
// goes on, and ends as it would have.
func TestForegroundStopsWhenItsPipeIsGone(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	up := exec.Command(os.Args[0], "up", "--foreground", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	up.Dir = d.dir
	up.Env = append(os.Environ(), asMictl+"=1", "GORACE=atexit_sleep_ms=0", "MICTL_SIM_STARTUP_DELAY=0", "MICTL_SIM_SHUTDOWN_DELAY=500ms")
	up.Stdout, up.Stderr = w, w
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = up.Wait(); close(exited) }()
	t.Cleanup(func() { up.Process.Kill(); <-exited })
	sc := bufio.NewScanner(r)
	for sc.Scan() && !strings.Contains(sc.Text(), "ready; Ctrl-C stops them") {
	}
	r.Close() // tee is gone
	if err := up.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
			t.Fatalf("up --foreground was killed by %s during its stop:\n%s", ee.ProcessState.Sys().(syscall.WaitStatus).Signal(), d.events())
		}
	case <-time.After(time.Minute):
		t.Fatalf("up --foreground still runs a minute after Ctrl-C:\n%s", d.events())
	}
	if inst := d.instance("mi-1"); inst.State != "stopped" {
		t.Fatalf("mi-1 is %s after Ctrl-C; want stopped:\n%s", inst.State, d.events())
	}
	if left := d.leftRunning(); len(left) > 0 {
		t.Errorf("left running: %s", proctest.Describe(left))
	}
}

// A fresh up leaves the daemon it starts nothing to reload: the
// simulator's distribution, whose deployment.toml the daemon follows, is
// unpacked before the daemon starts. Unpacked while the daemon watched,
// it was a change to reload for, in about one fresh up of 20 in two with
// the programs make build builds (this test binary, slower to start,
// hid it).
func TestFreshUpSetsOffNoReload(t *testing.T) {
	t.Parallel()
	bin := companiontest.Build(t, t.TempDir())
	for round := range 4 {
		// A subtest each: its deployment hands its span of test offsets
		// back before the next, or four spans are held at once (more
		// than a narrow MICTL_TEST_OFFSETS gives this package).
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			d := newDeployment(t)
			d.exe = bin
			d.up(20)
			d.must("down")
			if ev := d.events(); strings.Contains(ev, "mictl reload") {
				t.Fatalf("the fresh up's daemon reloaded:\n%s", ev)
			}
		})
	}
}

// down returns once the daemon it leaves idle is gone in every way another
// command could notice: its main thread has exited (threads releasing its
// inotify instances in the kernel may remain a few milliseconds), its
// lock is free, its socket and record are gone; whether it stops one
// instance at a time or all at once. A stop that leaves others running
// returns without waiting for it.
func TestDownReturnsWithTheDaemonGone(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	for round, stop := range [][]string{{"down"}, {"down", "mi-2"}} {
		d.up(2)
		daemon := d.state().Daemon.Identity
		if round == 1 {
			d.must("down", "mi-1")
			if !daemon.Alive() {
				t.Fatalf("the daemon (pid %d) left while mi-2 ran", daemon.PID)
			}
		}
		d.must(stop...)
		if daemon.Alive() {
			t.Fatalf("round %d: the daemon (pid %d) still runs after down returned", round, daemon.PID)
		}
		lock, err := os.OpenFile(filepath.Join(d.dir, "instances", ".mictl", "daemon.lock"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatalf("round %d: the daemon lock is still held after down returned: %v", round, err)
		}
		lock.Close()
		if _, err := os.Stat(filepath.Join(d.dir, "instances", ".mictl", "mictl.sock")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("round %d: the daemon's socket is still there after down returned: %v", round, err)
		}
		if pid := d.daemonPID(); pid != 0 {
			t.Fatalf("round %d: a daemon (pid %d) is still recorded after down returned", round, pid)
		}
	}
}

// An up that fails after it started the daemon (a home it cannot write)
// leaves no daemon behind waiting for its periodic check: the daemon
// finds nothing asked of it in the state file and leaves at once.
func TestFailedUpLeavesNoDaemon(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	if err := os.MkdirAll(filepath.Join(d.dir, "instances"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "instances", "mi-1"), []byte("not a home"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := d.mictl("up", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	if code == 0 {
		t.Fatalf("up into a home that is a file succeeded:\n%s", errOut)
	}
	logPath := filepath.Join(d.dir, "instances", ".mictl", "daemon.log")
	d.waitFor("the daemon the failed up started to leave", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "exiting")
	})
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "asks for nothing to supervise") {
		t.Fatalf("the daemon left for another reason than its start finding nothing to do:\n%s", b)
	}
	d.waitFor("the leaving daemon to clear its record", func() bool { return d.daemonPID() == 0 })
}

// An up whose daemon waits longer than it will for the daemon lock a
// direct down holds (its stop outlasting the wait) says what it waited
// for, not that its daemon did not answer; and leaves nothing starting.
func TestUpWaitingForALongDirectDownSaysSo(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	down := d.directDownUnderWay("20s")
	code, _, errOut := d.mictl("up", "--instances", "2", "--base-offset", fmt.Sprint(d.base))
	if want := "for its lock, which another mictl command holds without answering (a mictl down stopping the instances itself"; code != 3 || !strings.Contains(errOut, want) {
		t.Fatalf("up: exit %d, want 3 and %q:\n%s", code, want, errOut)
	}
	if err, ok := down.wait(time.Minute); !ok || err != nil {
		t.Fatalf("down: %v (ended: %v)\n%s", err, ok, down.out.String())
	}
	if st := d.instance("mi-2").State; st != "stopped" {
		t.Errorf("mi-2 is %s after the up no daemon took, want stopped", st)
	}
}

// directDownUnderWay runs mi-1 with a server that ignores SIGTERM, kills
// its daemon, and starts a down, which stops it itself holding the daemon
// lock until SIGKILL after timeout, with env added to its environment:
// returned once mi-1 is stopping.
func (d *deployment) directDownUnderWay(timeout string, env ...string) *background {
	d.t.Helper()
	d.env = []string{"MICTL_SIM_IGNORE_SIGTERM=1"}
	d.up(1)
	d.env = nil
	d.killDaemon()
	down := d.start(env, "down", "--timeout", timeout)
	d.waitFor("the down's stop of mi-1", func() bool { return d.stateIs("mi-1", "stopping") })
	return down
}

// A stop no one is finishing (the down that stopped the instances itself
// was killed) is said by status, with what finishes it: it showed them
// stopping for good, exit 0, a server that ignores SIGTERM running on.
func TestStatusSaysAStopNoOneFinishes(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	down := d.directDownUnderWay("20s")
	down.signal(t, syscall.SIGKILL)
	if _, ok := down.wait(time.Minute); !ok {
		t.Fatal("the killed down still runs")
	}
	_, _, errOut := d.mictl("status")
	if want := "note: mi-1 recorded stopping, but no mictl daemon is there to finish the stop (a down interrupted, or a daemon killed): mictl down mi-1 finishes it"; !strings.Contains(errOut, want) {
		t.Fatalf("status does not say %q:\n%s", want, errOut)
	}
	d.must("down", "--timeout", "2s")
}

// A Ctrl-C while the daemon stops (down) or restarts (restart) the
// instances says what it goes on with, exit 130: the command died of the
// signal without a word.
func TestCtrlCWhileTheDaemonWorksSaysItGoesOn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"down"}, "interrupted while the mictl daemon stops the instances: it goes on"},
		{[]string{"restart", "--all"}, "interrupted while the mictl daemon restarts the instances: it goes on"},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			d := newDeployment(t)
			d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=3s"}
			d.up(1)
			d.env = nil
			cmd := d.start(nil, tc.args...)
			d.waitFor("mi-1 stopping", func() bool { return d.stateIs("mi-1", "stopping") })
			cmd.signal(t, os.Interrupt)
			err, ok := cmd.wait(time.Minute)
			var exit *exec.ExitError
			if !ok || !errors.As(err, &exit) || exit.ExitCode() != 130 || !strings.Contains(cmd.out.String(), tc.want) {
				t.Fatalf("%v after Ctrl-C: %v (ended: %v), want exit 130 saying %q:\n%s", tc.args, err, ok, tc.want, cmd.out.String())
			}
		})
	}
}

// Ctrl-C or SIGTERM while deploy --wait waits for MI to take the
// application ends the wait saying the deployment goes on, as one while
// the daemon works does: the default handler ended it without a word.
// The exit is 128 + the signal, as for every command (SIGTERM ended
// deploy --wait 130, a down 143). MI scanning every hour keeps the
// application pending meanwhile.
func TestSignalWhileDeployWaitsSaysItGoesOn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sig  syscall.Signal
		exit int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			d := newDeployment(t)
			d.env = []string{"MICTL_SIM_DEPLOY_INTERVAL=1h"}
			d.up(1)
			d.env = nil
			car := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
			deploy := d.start(nil, "deploy", car, "--wait")
			d.waitFor("deploy waiting for MI", func() bool { return strings.Contains(deploy.out.String(), "mictl reloaded") })
			deploy.signal(t, tc.sig)
			err, ok := deploy.wait(time.Minute)
			var exit *exec.ExitError
			want := "mictl: interrupted while waiting until orders_1.0.0 is active everywhere: MI goes on with it"
			// The reload's last event comes just before its answer: a
			// signal between them interrupts the wait for the daemon,
			// which says so as truly.
			answering := "mictl: interrupted while waiting for the mictl daemon: mictl.toml holds the change"
			said := strings.Contains(deploy.out.String(), want) || strings.Contains(deploy.out.String(), answering)
			if !ok || !errors.As(err, &exit) || exit.ExitCode() != tc.exit || !said {
				t.Fatalf("deploy --wait after %v: %v (ended: %v), want exit %d saying %q:\n%s", tc.sig, err, ok, tc.exit, want, deploy.out.String())
			}
		})
	}
}

// A down stops a failed instance too, as asked: left failed, `mictl down
// && mictl status` exited 3 with nothing running. Its last error stays,
// for status NAME. Through the daemon (mi-2 keeps it running) and without
// one (the daemon leaves once nothing is wanted).
func TestDownRecordsAFailedInstanceStopped(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	failMI1 := func() {
		t.Helper()
		if err := syscall.Kill(d.instance("mi-1").Server.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		d.waitFor("mi-1 failed", func() bool { return d.stateIs("mi-1", "failed") })
	}
	assertStoppedWithItsError := func(how string) {
		t.Helper()
		if row := d.statusJSON().Instances[0]; row.Health != nil {
			t.Errorf("%s: mi-1's health %q; want none for a stopped instance", how, *row.Health)
		}
		if inst := d.instance("mi-1"); inst.State != "stopped" || inst.LastError == "" || inst.Reason != "" {
			t.Errorf("%s: mi-1 %s, last error %q, reason %q; want stopped, keeping its last error alone", how, inst.State, inst.LastError, inst.Reason)
		}
		if out := d.must("status", "mi-1"); !strings.Contains(out, "last error:\n  server pid ") {
			t.Errorf("%s: status mi-1 does not show the last error:\n%s", how, out)
		}
	}

	d.up(2, "--restart", "never")
	failMI1()
	d.must("down")
	assertStoppedWithItsError("down through the daemon")

	d.up(1, "--restart", "never")
	daemon := d.state().Daemon.Identity
	failMI1()
	d.waitFor("the daemon gone", func() bool { return !daemon.Alive() })
	d.must("down")
	assertStoppedWithItsError("down with no daemon")
}

// nobody is the user a test run as root meets root's files as.
const nobody = 65534

// nobodyCanRun prepares, when the test runs as root (who reads whatever
// a mode forbids), for commands run as nobody (d.as): they run a copy of
// this binary (so does root: the simulator distribution names it) and go
// through the directories down to the deployment, which stays root's. It
// reports whether the test runs as root.
func (d *deployment) nobodyCanRun() bool {
	d.t.Helper()
	if os.Getuid() != 0 {
		return false
	}
	exe := filepath.Join(d.t.TempDir(), "mictl")
	if err := fsutil.CopyFileAtomic(os.Args[0], exe, 0o755); err != nil {
		d.t.Fatal(err)
	}
	for _, dir := range []string{filepath.Dir(exe), filepath.Dir(filepath.Dir(exe)), d.dir, filepath.Dir(d.dir)} {
		if err := os.Chmod(dir, 0o755); err != nil {
			d.t.Fatal(err)
		}
	}
	d.exe = exe
	return true
}

// init --path ro/sub/mictl.toml, ro a directory mictl may not write and
// sub missing, said "make ro/sub writable", a directory that does not
// exist: the one to make writable is ro, where sub would be made. As
// root, nobody meets root's directory; as another user, its own made
// unwritable.
func TestInitNamesTheDirectoryToMakeWritable(t *testing.T) {
	// Not parallel: it runs mictl as another user (d.as), which the
	// suite does one test at a time.
	d := newDeployment(t)
	if err := os.Mkdir(filepath.Join(d.dir, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	if d.nobodyCanRun() {
		d.as = &syscall.Credential{Uid: nobody, Gid: nobody}
	}
	code, _, errOut := d.mictl("init", "--path", "ro/sub/mictl.toml")
	want := "init: could not write ro/sub/mictl.toml: mkdir ro/sub: permission denied; make ro writable, or write the file elsewhere with --path\n"
	if code != 3 || !strings.HasSuffix(errOut, want) {
		t.Errorf("init --path ro/sub/mictl.toml: exit %d, want 3 and %q:\n%s", code, want, errOut)
	}
	d.exe, d.as = "", nil
}

// A config file mictl may not read said only "cannot read the config
// file: permission denied": it says what to do, naming the file, and,
// when another user owns it, that user. As root, nobody meets root's
// 0600 file; as another user, its own file made unreadable.
func TestUnreadableConfigSaysWhatToDo(t *testing.T) {
	// Not parallel: it runs mictl as another user (d.as), which the
	// suite does one test at a time.
	d := newDeployment(t)
	file := filepath.Join(d.dir, "unreadable.toml")
	if err := os.WriteFile(file, []byte("instances = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{"unreadable.toml: cannot read the config file: permission denied; ", "give yourself read access to unreadable.toml (chmod, or the mode of a directory above it)"}
	if d.nobodyCanRun() {
		d.as = &syscall.Credential{Uid: nobody, Gid: nobody}
		want = append(want, "; unreadable.toml belongs to uid 0 (root): run mictl as that user, or give")
	} else if err := os.Chmod(file, 0); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := d.mictl("--config", "unreadable.toml", "ports", "table")
	for _, w := range want {
		if code != 2 || !strings.Contains(errOut, w) {
			t.Errorf("ports table with an unreadable --config: exit %d, want 2 saying %q:\n%s", code, w, errOut)
		}
	}
	d.exe, d.as = "", nil
}

// A permission denied in a deployment says what to do: whose it is (run
// mictl as that user) or which access to give. generate and logs said
// only "permission denied". As root, another user (nobody) meets root's
// deployment; as another user, a home and a log made unwritable and
// unreadable.
func TestPermissionDeniedSaysWhatToDo(t *testing.T) {
	// Not parallel: it runs mictl as another user (d.as), which the
	// suite does one test at a time.
	d := newDeployment(t)
	asRoot := d.nobodyCanRun()
	d.must("generate", "--base-offset", fmt.Sprint(d.base))
	home := filepath.Join(d.dir, "instances", "mi-1")
	log := filepath.Join(home, "logs", "console.log")
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log, []byte("a line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{"give yourself access to "}
	if asRoot {
		d.as = &syscall.Credential{Uid: nobody, Gid: nobody}
		want = append(want, "this deployment belongs to uid 0 (root): run mictl as that user, or ")
	} else {
		for path, mode := range map[string]os.FileMode{filepath.Join(home, "conf"): 0o500, log: 0o200} {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { os.Chmod(filepath.Join(home, "conf"), 0o700) })
	}
	for _, c := range []struct {
		args []string
		at   string
	}{
		{[]string{"generate", "--base-offset", fmt.Sprint(d.base)}, "conf/deployment.toml: permission denied; "},
		{[]string{"logs", "mi-1"}, "logs/console.log: permission denied; "},
	} {
		code, _, errOut := d.mictl(c.args...)
		for _, w := range append(want, c.at) {
			if code != 3 || !strings.Contains(errOut, w) {
				t.Errorf("mictl %s: exit %d, want 3 saying %q:\n%s", strings.Join(c.args, " "), code, w, errOut)
			}
		}
	}
	d.exe, d.as = "", nil
}

// init --force refuses the mictl.toml a daemon follows wherever the file
// is named from and wherever its instances run: a link to it elsewhere
// read its instances_dir from the link's directory, and an up's
// --instances-dir put them where the file does not say; both wrote the
// defaults, which the daemon then applied (mi-2 stopped) or refused
// (the user's settings gone all the same).
func TestInitForceRefusesTheFileADaemonFollowsHoweverFound(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	toml := fmt.Sprintf("host = \"127.0.0.1\"\ninstances = 2\nbase_offset = %d\n", d.base)
	file := filepath.Join(d.dir, "mictl.toml")
	if err := os.WriteFile(file, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	kept := func(how string, code int, errOut string) {
		t.Helper()
		if data, _ := os.ReadFile(file); code != 2 || !strings.Contains(errOut, "mi-1, mi-2") || string(data) != toml {
			t.Errorf("init --force %s: exit %d: %s\nmictl.toml now:\n%s\nwant exit 2 naming mi-1, mi-2, the file kept", how, code, errOut, data)
		}
	}
	d.must("up", "--timeout", "30s")
	if err := os.MkdirAll(filepath.Join(d.dir, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(file, filepath.Join(d.dir, "other", "link.toml")); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := d.mictl("init", "--force", "--path", filepath.Join("other", "link.toml"))
	kept("through a link in another directory", code, errOut)
	d.must("down")

	t.Cleanup(func() { d.mictl("down", "--instances-dir", "elsewhere", "--timeout", "5s") })
	d.must("up", "--instances-dir", "elsewhere", "--timeout", "30s")
	code, _, errOut = d.mictl("init", "--force")
	kept("with the instances under an up's --instances-dir", code, errOut)
	if !strings.Contains(errOut, "mictl down --instances-dir elsewhere") && !strings.Contains(errOut, "mictl down --instances-dir "+filepath.Join(d.dir, "elsewhere")) {
		t.Errorf("the refusal's down does not name the instances' directory: %s", errOut)
	}
	d.must("down", "--instances-dir", "elsewhere")

	// Both: up run beside a link named mictl.toml, its instances under
	// --instances-dir (the daemon's --config is the link).
	ops := filepath.Join(d.dir, "ops")
	if err := os.MkdirAll(ops, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(file, filepath.Join(ops, "mictl.toml")); err != nil {
		t.Fatal(err)
	}
	d.cwd = ops
	t.Cleanup(func() { d.cwd = ops; d.mictl("down", "--instances-dir", "homes", "--timeout", "5s") })
	d.must("up", "--instances-dir", "homes", "--timeout", "30s")
	code, _, errOut = d.mictl("init", "--force")
	kept("beside a link, with the instances under an up's --instances-dir", code, errOut)
	d.must("down", "--instances-dir", "homes")
	d.cwd = ""
}

// A plain up refused for an offset mictl.toml now gives a running
// instance advises mictl reload only where a reload would move it: after
// an up with --offsets, a reload plans with them and keeps the instance
// where it runs ("mictl reloaded: no change").
func TestUpAdvisesReloadOnlyWhereAReloadMovesTheInstance(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	at, moved := d.base, d.base+50
	d.must("up", "--offsets", fmt.Sprint(at), "--timeout", "30s")
	toml := fmt.Sprintf("host = \"127.0.0.1\"\ninstances = 1\n[[instance]]\nname = \"mi-1\"\noffset = %d\n", moved)
	if err := os.WriteFile(filepath.Join(d.dir, "mictl.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := d.mictl("up", "--timeout", "30s")
	want := fmt.Sprintf("a reload plans with the last up's flags (mictl up --offsets=%d), which keep it at %d (mictl reload changes nothing): stop it first (mictl down mi-1)", at, at)
	if code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("up over an offset the last up's --offsets keep: exit %d, said:\n%s\nwant exit 2 and %q", code, errOut, want)
	}
	d.must("reload")
	if mi1 := d.instance("mi-1"); mi1.Offset != at {
		t.Errorf("the reload moved mi-1 to %d: the advice above is wrong", mi1.Offset)
	}
}
