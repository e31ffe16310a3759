//go:build soak

package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc/proctest"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/testports"
)

// Bounds of one run. Every command and every wait of a run ends by the
// run's deadline, so a stuck mictl is a failure with its output, never a
// hung soak.
const (
	runLimit    = 2 * time.Minute
	cmdLimit    = 15 * time.Second // a command that should answer at once
	upLimit     = 40 * time.Second // up, restart: instances to start
	settleLimit = 20 * time.Second // the supervisor to converge after a fault
	offsetSpan  = 20               // offsets a run may plan on, from its base
)

// run is one run of one scenario: its own directory, its own offsets, the
// mictl under test, and the first reason it failed.
type run struct {
	t     *testing.T
	ctx   context.Context
	mictl string // the binary under test
	dir   string // the run's working directory; instances/ lies under it
	base  int    // the first offset the run plans on
	env   []string
	// verbose logs a failure's whole story (output, event log); only the
	// first failing run of a scenario does, the others give their reason.
	verbose bool
	reason  string   // the first failure, for the table
	skipped string   // why the run did not apply here
	after   []func() // undone after the leftover check: a tmpfs unmounted
}

// fatalf ends the run as failed. The first line of the message is its
// reason in the table; the rest (command output) goes to the test log.
func (r *run) fatalf(format string, args ...any) {
	r.t.Helper()
	msg := fmt.Sprintf(format, args...)
	if r.reason == "" {
		r.reason, _, _ = strings.Cut(msg, "\n")
	}
	if !r.verbose {
		r.t.Fatal(r.reason)
	}
	r.t.Fatalf("%s\n--- events.log:\n%s--- daemon.log:\n%s", msg, r.file("events.log"), r.file("daemon.log"))
}

// skip ends the run as not applicable on this host, saying why.
func (r *run) skip(why string) {
	r.t.Helper()
	r.skipped = why
	r.t.Skip(why)
}

// file reads a file of the state directory, for failure messages.
func (r *run) file(name string) string {
	b, err := os.ReadFile(filepath.Join(r.stateDir(), name))
	if err != nil {
		return fmt.Sprintf("(%v)\n", err)
	}
	return string(b)
}

func (r *run) stateDir() string { return filepath.Join(r.dir, "instances", ".mictl") }

// environ is the environment of every command: the soak's own without
// any MICTL_ setting (the run decides them all), servers that start at
// once, then the run's faults.
func (r *run) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MICTL_") {
			env = append(env, kv)
		}
	}
	env = append(env, "MICTL_SIM_STARTUP_DELAY=0")
	return append(env, r.env...) // later entries win
}

// client is one mictl command of the run, running or done.
type client struct {
	args        []string
	cmd         *exec.Cmd
	out, errOut strings.Builder
	began       time.Time
	done        chan struct{}
	res         result
}

// result is how a command ended.
type result struct {
	args           []string
	code           int // -1: killed, or did not end in time
	late           bool
	took           time.Duration
	stdout, stderr string
}

// String is a one-line account: the command, its exit and its first
// error line.
func (res result) String() string {
	cmd := "mictl " + strings.Join(res.args, " ")
	if res.late {
		return fmt.Sprintf("%s did not return within %s", cmd, res.took.Round(time.Second))
	}
	return fmt.Sprintf("%s: exit %d after %s: %s", cmd, res.code, res.took.Round(time.Millisecond), res.message())
}

// message is the line of the output that says most: mictl's error (or a
// panic), else its first warning, else its first line. An error's
// indented continuation lines (what was left, one a line) are joined to
// it.
func (res result) message() string {
	lines := strings.Split(res.stderr, "\n")
	for _, prefix := range []string{"mictl: ", "panic: ", "warning: "} {
		for i, l := range lines {
			if !strings.HasPrefix(l, prefix) {
				continue
			}
			for _, more := range lines[i+1:] {
				if !strings.HasPrefix(more, " ") {
					break
				}
				l += " " + strings.TrimSpace(more)
			}
			return l
		}
	}
	if msg := firstLine(res.stderr); msg != "" || res.code == 0 {
		return msg
	}
	return firstLine(res.stdout)
}

// output is everything the command printed, for the log.
func (res result) output() string {
	return fmt.Sprintf("--- stdout:\n%s--- stderr:\n%s", res.stdout, res.stderr)
}

// says tells whether the command printed text (any case, either stream).
func (res result) says(text string) bool {
	return strings.Contains(strings.ToLower(res.stdout+res.stderr), strings.ToLower(text))
}

// firstLine is the first non-blank line of s.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// start runs mictl in the background in the run's directory. A command
// that cannot start ends at once with exit -1 and the reason as stderr.
func (r *run) start(args ...string) *client {
	c := &client{args: args, done: make(chan struct{})}
	c.cmd = exec.Command(r.mictl, args...)
	c.cmd.Dir = r.dir
	c.cmd.Env = r.environ()
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.errOut
	// A daemon or server that kept the command's output open must not
	// keep Wait from returning once the command itself has ended.
	c.cmd.WaitDelay = time.Second
	c.began = time.Now()
	if err := c.cmd.Start(); err != nil {
		c.res = result{args: args, code: -1, stderr: err.Error()}
		close(c.done)
		return c
	}
	go func() {
		err := c.cmd.Wait()
		c.res = result{args: args, took: time.Since(c.began), stdout: c.out.String(), stderr: c.errOut.String()}
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			c.res.code = ee.ExitCode()
		default:
			c.res.code = -1
		}
		close(c.done)
	}()
	return c
}

// wait waits for the command up to limit (and the run's deadline); a
// command still running then is killed and its result marked late.
func (r *run) wait(c *client, limit time.Duration) result {
	if dl, ok := r.ctx.Deadline(); ok && time.Until(dl) < limit {
		limit = max(time.Until(dl), 0)
	}
	select {
	case <-c.done:
		return c.res
	case <-time.After(limit):
		c.kill()
		c.res.late = true
		return c.res
	}
}

// kill SIGKILLs the command and waits for it: a user's kill -9.
func (c *client) kill() {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
	}
	<-c.done
}

// run runs mictl and waits for it up to limit.
func (r *run) run(limit time.Duration, args ...string) result {
	r.t.Helper()
	return r.wait(r.start(args...), limit)
}

// must runs mictl and fails the run unless it exits 0 within limit.
func (r *run) must(limit time.Duration, args ...string) result {
	r.t.Helper()
	res := r.run(limit, args...)
	if res.late || res.code != 0 {
		r.fatalf("%s\n%s", res, res.output())
	}
	return res
}

// up starts n instances planned from the run's base offset.
func (r *run) up(n int, extra ...string) result {
	r.t.Helper()
	return r.must(upLimit, append([]string{"up", "--instances", fmt.Sprint(n), "--base-offset", fmt.Sprint(r.base), "--timeout", "20s"}, extra...)...)
}

// down stops everything and checks what the user expects of it: exit 0
// and no server left.
func (r *run) down(extra ...string) result {
	r.t.Helper()
	res := r.must(settleLimit, append([]string{"down", "--timeout", "5s"}, extra...)...)
	if left := r.servers(); len(left) > 0 {
		r.fatalf("%s, but servers still run: %v", res, left)
	}
	return res
}

// load reads the state file as mictl's own reader does.
func (r *run) load() (*state.File, error) {
	store, err := state.Open(r.stateDir())
	if err != nil {
		return nil, err
	}
	return store.Load()
}

// instance is what the state file says of one instance; the run fails
// when the file cannot say.
func (r *run) instance(name string) state.Instance {
	r.t.Helper()
	f, err := r.load()
	if err != nil {
		r.fatalf("read the state file: %v", err)
	}
	inst, ok := f.Instance(name)
	if !ok {
		r.fatalf("the state file has no instance %s", name)
	}
	return *inst
}

// recorded reports whether the state file can be read and says of name
// what ok wants; a file that cannot be read is not (yet) what is wanted.
func (r *run) recorded(name string, ok func(state.Instance) bool) bool {
	f, err := r.load()
	if err != nil {
		return false
	}
	inst, found := f.Instance(name)
	return found && ok(*inst)
}

// daemonPID is the daemon the state file names, 0 when none.
func (r *run) daemonPID() int {
	r.t.Helper()
	f, err := r.load()
	if err != nil {
		r.fatalf("read the state file: %v", err)
	}
	if f.Daemon == nil {
		return 0
	}
	return f.Daemon.PID
}

// statusRow is the part of `mictl status -o json` the soak checks.
type statusRow struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	PID      int    `json:"pid"` // null (not running) reads as 0
	Restarts int    `json:"restarts"`
}

// status runs `mictl status -o json`, which must answer in time: exit 0,
// or exit 3 only when it shows an instance in a fault state (and for
// every one but crashed, which the table may infer for a moment from a
// server the daemon is stopping).
func (r *run) status() (map[string]statusRow, result) {
	r.t.Helper()
	res := r.run(cmdLimit, "status", "-o", "json")
	if res.late || (res.code != 0 && res.code != 3) {
		r.fatalf("%s\n%s", res, res.output())
	}
	var report struct {
		Instances []statusRow `json:"instances"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &report); err != nil {
		r.fatalf("%s: output is not the status JSON: %v\n%s", res, err, res.output())
	}
	out := make(map[string]statusRow, len(report.Instances))
	shown, recorded := false, false // a fault shown; one not inferred from /proc (crashed may be, for a moment)
	for _, row := range report.Instances {
		out[row.Name] = row
		shown = shown || state.Faulted(row.State)
		recorded = recorded || (state.Faulted(row.State) && row.State != supervisor.StateCrashed)
	}
	if (res.code == 3 && !shown) || (res.code == 0 && recorded) {
		r.fatalf("%s: exit %d with states %v (exit 3 is for a failed, crashed, backoff or degraded instance)\n%s", res, res.code, out, res.output())
	}
	return out, res
}

// servers lists the run's live servers by instance name, whatever any
// file says.
func (r *run) servers() map[string][]int { return proctest.Servers(r.dir) }

// server is the one live server of an instance; two are a failure.
func (r *run) server(name string) int {
	r.t.Helper()
	pids := r.servers()[name]
	if len(pids) > 1 {
		r.fatalf("%s runs %d servers: %v", name, len(pids), pids)
	}
	if len(pids) == 0 {
		return 0
	}
	return pids[0]
}

// noDuplicates fails the run when an instance has more than one server.
func (r *run) noDuplicates() {
	r.t.Helper()
	for name, pids := range r.servers() {
		if len(pids) > 1 {
			r.fatalf("%s runs %d servers: %v", name, len(pids), pids)
		}
	}
}

// daemons lists the run's live mictl daemons.
func (r *run) daemons() []int {
	var out []int
	for _, pid := range proctest.Under(r.dir) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		// bin/mictl-daemon, or mictl's fallback `mictl daemon`.
		args := strings.Split(string(b), "\x00")
		if filepath.Base(args[0]) == supervisor.LeanDaemonExe || (len(args) > 1 && args[1] == "daemon") {
			out = append(out, pid)
		}
	}
	return out
}

// signal sends sig to pid; a pid already gone fails the run, since the
// scenario then did not do what it says.
func (r *run) signal(pid int, sig syscall.Signal) {
	r.t.Helper()
	if pid <= 0 {
		r.fatalf("no process to send %s to", sig)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		r.fatalf("send %s to pid %d: %v", sig, pid, err)
	}
}

// waitFor polls cond every 20 ms up to limit (and the run's deadline).
func (r *run) waitFor(what string, limit time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) || r.ctx.Err() != nil {
			r.fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone waits for pid to end.
func (r *run) gone(pid int) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("pid %d to end", pid), 5*time.Second, func() bool {
		return syscall.Kill(pid, 0) != nil || isZombie(pid)
	})
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X")
}

// serving reports whether something accepts connections on port.
func serving(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// writeConfig replaces mictl.toml as an editor saves: a new file renamed
// over the old one.
func (r *run) writeConfig(content string) {
	r.t.Helper()
	path := filepath.Join(r.dir, "mictl.toml")
	if err := os.WriteFile(path+".new", []byte(content), 0o644); err != nil {
		r.fatalf("write mictl.toml: %v", err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		r.fatalf("write mictl.toml: %v", err)
	}
}

// newRun makes the directory and picks the offsets of one run.
func newRun(t *testing.T, mictl string) *run {
	t.Helper()
	dir, err := os.MkdirTemp("", "mictl-soak-")
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Base passes over offsets whose ports something else holds already
	// (another program on the host), which would make the run plan
	// elsewhere and blame it for listeners that are not its own.
	base := testports.Base(t, testports.Soak, offsetSpan)
	return &run{t: t, mictl: mictl, dir: dir, base: base}
}

// finish checks what a run left behind, whatever its outcome: no process
// of its directory alive, no port of its offsets listening. It returns
// the violations (each one a failure of the run), after killing what was
// left so the next run starts clean. A failed run is first stopped with
// `mictl down`, as its user would, so that only what even down leaves is
// reported.
func (r *run) finish(failed bool) []string {
	if failed {
		r.ctx = context.Background()
		r.wait(r.start("down", "--timeout", "3s"), cmdLimit)
	}
	var violations []string
	left, held := proctest.Under(r.dir), listening(r.base)
	if len(left) > 0 {
		violations = append(violations, "left running after the run: "+proctest.Describe(left))
	}
	if len(held) > 0 {
		violations = append(violations, "still listening after the run: "+strings.Join(held, ", "))
	}
	for _, pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	proctest.Reap(r.dir, 5*time.Second)
	for i := len(r.after) - 1; i >= 0; i-- {
		r.after[i]()
	}
	return violations
}

// listening lists the ports of a run's offsets, from base, that
// something holds, with the holder.
func listening(base int) []string {
	snap, err := hostnet.Scan()
	if err != nil {
		return []string{err.Error()}
	}
	var held []string
	for off := base; off < base+offsetSpan; off++ {
		for _, port := range ports.DefaultBases().Shift(off) {
			for _, sk := range snap.Holding(hostnet.TCP, port, netip.MustParseAddr("127.0.0.1")) {
				owner := "an unknown process"
				if p, ok := hostnet.Owners(sk.Inode)[sk.Inode]; ok {
					owner = p.String()
				}
				held = append(held, fmt.Sprintf("%d (offset %d) by %s", port, off, owner))
			}
		}
	}
	return held
}
