package main

// End-to-end tests of the bugs a new user and a fault soak found first
// (issues 10 and 11): each reproduces one through the binary.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/proc/proctest"
	"github.com/mictl/mictl/pkg/state"
)

// listen holds port on loopback for the test, as a stranger would.
func listen(t *testing.T, port int) {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("hold port %d: %v", port, err)
	}
	t.Cleanup(func() { l.Close() })
}

// statusJSON runs `mictl status -o json` and checks it against its schema.
// It exits 3 only when it shows an instance in a fault state, and for
// every one but crashed (which the table may infer for a moment from a
// server the daemon is stopping, see unhealthy).
func (d *deployment) statusJSON() statusReport {
	d.t.Helper()
	code, out, errOut := d.mictl("status", "-o", "json")
	jsonschematest.Validate(d.t, "status", []byte(out))
	var r statusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		d.t.Fatal(err)
	}
	shown := slices.ContainsFunc(r.Instances, func(i statusRow) bool { return state.Faulted(i.State) })
	if (code == 3) != shown || (code != 0 && code != 3) {
		d.t.Fatalf("mictl status -o json: exit %d with the states shown\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	return r
}

type statusRow struct {
	Name          string   `json:"name"`
	State         string   `json:"state"`
	PID           *int     `json:"pid"`
	UptimeSeconds *float64 `json:"uptime_seconds"`
	Restarts      int      `json:"restarts"`
	Health        *string  `json:"health"`
	LastError     *string  `json:"last_error"`
}

type statusReport struct {
	Instances []statusRow `json:"instances"`
	Daemon    *struct {
		PID        int   `json:"pid"`
		Answering  bool  `json:"answering"`
		OtherBuild *bool `json:"other_build"`
	} `json:"daemon"`
	ReloadError *string `json:"reload_error"`
}

// Issue 10, bug 1: a port held by a stranger after a clean stop is a
// note, not a failure of down; --purge always forgets.
func TestDownNotesAStrangerOnAPortAndPurgeForgets(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	port := d.instance("mi-1").Ports[0]
	d.must("down")
	listen(t, port)
	code, _, errOut := d.mictl("down")
	want := fmt.Sprintf("note: mi-1's http port %d is held by pid %d", port, os.Getpid())
	if code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("down: exit %d, want 0 and %q:\n%s", code, want, errOut)
	}
	// Forgotten, mi-1 is planned by no up: its port is no business of it.
	if code, _, errOut := d.mictl("down", "--purge"); code != 0 || !strings.Contains(errOut, "deleted the homes of mi-1\n") || strings.Contains(errOut, want) {
		t.Fatalf("down --purge: exit %d, want 0, the homes it deleted named, and no note of mi-1's port:\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "instances", "mi-1")); !os.IsNotExist(err) {
		t.Fatalf("--purge left the home: %v", err)
	}
	if n := len(d.state().Instances); n != 0 {
		t.Fatalf("--purge left %d records", n)
	}
}

// Issue 10, bug 2: offsets are kept only while something runs.
func TestUpAfterDownPlansAgain(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	d.must("down")
	d.must("up", "--base-offset", fmt.Sprint(d.base+50), "--timeout", "30s")
	if got := d.instance("mi-1").Offset; got != d.base+50 {
		t.Fatalf("up --base-offset %d after down runs at %d", d.base+50, got)
	}
}

// Issue 10, bug 4: a what-if plan on a running deployment shows only what
// is observed on the ports it shows.
func TestPortsTableWhatIfShowsNoFalseLiveData(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	out := d.must("ports", "table", "--offsets", fmt.Sprint(d.base+10), "-o", "json")
	jsonschematest.Validate(t, "ports-table", []byte(out))
	var rows []struct {
		Offset        int        `json:"offset"`
		WhatIf        bool       `json:"what_if"`
		RunningOffset *int       `json:"running_offset"`
		RunningPorts  *ports.Set `json:"running_ports"`
		State         *string    `json:"state"`
		PID           *int       `json:"pid"`
		Live          map[string]struct {
			Listening, Owned bool
		} `json:"live"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	if !r.WhatIf || r.RunningOffset == nil || *r.RunningOffset != d.base || r.State != nil || r.PID != nil ||
		r.RunningPorts == nil || *r.RunningPorts != d.instance("mi-1").Ports {
		t.Fatalf("what-if row: %s", out)
	}
	for role, lp := range r.Live {
		if lp.Listening || lp.Owned {
			t.Fatalf("%s of the what-if offset %d shown listening/owned: %s", role, r.Offset, out)
		}
	}
	table := d.must("ports", "table", "--offsets", fmt.Sprint(d.base+10))
	running := d.instance("mi-1").Ports
	if want := fmt.Sprintf("what-if: mi-1 runs with offset %d (http %d, https %d, internal_http %d, management %d), not %d",
		d.base, running[0], running[1], running[2], running[3], d.base+10); !strings.Contains(table, "| what-if") || !strings.Contains(table, want) {
		t.Fatalf("the table does not label the what-if row, or say where it runs (%s):\n%s", want, table)
	}
	// The running plan: live, and valid too.
	jsonschematest.Validate(t, "ports-table", []byte(d.must("ports", "table", "-o", "json")))

	// Same offset, other ports (an override in a file the daemon does not
	// follow): said so, not "offset N, not N".
	other := filepath.Join(d.dir, "other.toml")
	if err := os.WriteFile(other, []byte("[[instance]]\nname = \"mi-1\"\noverrides = { \"transport.http.listener.port\" = 8200 }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	table = d.must("ports", "table", "--config", other, "--offsets", fmt.Sprint(d.base))
	if want := fmt.Sprintf("what-if: mi-1 runs with offset %d but other ports", d.base); !strings.Contains(table, want) {
		t.Fatalf("ports table lacks %q:\n%s", want, table)
	}
}

// A planned port that is the local port of an outgoing connection is a
// conflict, named with the connection: MI cannot bind it (BindException),
// and check-conflicts said there was none. The connection takes its port
// from the ephemeral range, as outgoing connections do, and the plan is
// put on it (check-conflicts starts nothing there).
func TestCheckConflictsSeesAConnectionOnAPlannedPort(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	peer, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn, err := net.Dial("tcp4", peer.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	http := conn.LocalAddr().(*net.TCPAddr).Port
	code, out, errOut := d.mictl("check-conflicts", "--offsets", fmt.Sprint(http-8280))
	want := fmt.Sprintf("mi-1 http port %d is held by a connection (ESTAB to %s) of pid %d", http, peer.Addr(), os.Getpid())
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("check-conflicts: exit %d, want 1 with %q:\n%s%s", code, want, out, errOut)
	}
}

// After the daemon refused an edit that moves a running instance, the
// ports table's row is the edit's plan: its note still says which ports
// the instance holds, and why the plan does not run.
func TestPortsTableSaysWhereARefusedMoveRuns(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	base := fmt.Sprintf("base_offset = %d\nhealth_interval = \"200ms\"\n", d.base)
	d.configFile("inplace", base)
	d.must("up", "--timeout", "30s")
	moved := d.base + 7
	holder, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 8280+moved))
	if err != nil {
		t.Fatalf("hold the http port of offset %d: %v", moved, err)
	}
	defer holder.Close()
	d.configFile("rename", base+fmt.Sprintf("[[instance]]\nname = \"mi-1\"\noffset = %d\n", moved))
	d.waitReloads(0, 1)
	running := d.instance("mi-1").Ports
	want := fmt.Sprintf("what-if: mi-1 runs with offset %d (http %d, https %d, internal_http %d, management %d), not %d; its row shows the plan, not what runs; the daemon did not apply mictl.toml as it is now (mictl status says why)",
		d.base, running[0], running[1], running[2], running[3], moved)
	if table := d.must("ports", "table"); !strings.Contains(table, want) {
		t.Fatalf("ports table lacks %q:\n%s", want, table)
	}
	// A what-if of its own (--offsets) is not the refused edit.
	if table := d.must("ports", "table", "--offsets", fmt.Sprint(d.base+9)); strings.Contains(table, "the daemon refused") {
		t.Errorf("a --offsets what-if is said to be the refused edit:\n%s", table)
	}
}

// Issue 10, bug 5: diff shows the conflicts a reload would refuse on, and
// exits 1 as documented.
func TestDiffShowsTheConflictsAReloadWouldRefuse(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	d.configFile("rename", fmt.Sprintf("base_offset = %d\n[[instance]]\nname = \"mi-2\"\noffset = %d\n", d.base, d.base+37))
	code, out, _ := d.mictl("diff")
	if code != 1 || !strings.Contains(out, "a reload would refuse these changes") || !strings.Contains(out, "conflict: mi-1 http") {
		t.Fatalf("diff: exit %d, want 1 with the conflicts:\n%s", code, out)
	}
	code, out, _ = d.mictl("diff", "-o", "json")
	jsonschematest.Validate(t, "diff", []byte(out))
	if code != 1 || !strings.Contains(out, `"refused": true`) {
		t.Fatalf("diff -o json: exit %d:\n%s", code, out)
	}
}

// Issue 10, bug 10: a stop that needed SIGKILL says so, after how long,
// and says what it waits for meanwhile.
func TestDownSaysWhenItHadToKill(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_IGNORE_SIGTERM=1"}
	d.up(1)
	d.env = nil
	code, _, errOut := d.mictl("down", "--timeout", "2s")
	if code != 0 || !strings.Contains(errOut, "killed (SIGKILL) after 2") || !strings.Contains(errOut, "waiting") {
		t.Fatalf("down: exit %d, want 0 saying the instance was killed and what it waited for:\n%s", code, errOut)
	}
	if ev := d.events(); !strings.Contains(ev, "mi-1 stopped: killed (SIGKILL)") {
		t.Fatalf("the event log reads like a graceful stop:\n%s", ev)
	}
}

// Issue 10, bug 11: status names why an instance failed, short in the
// table, whole for the instance and in JSON.
func TestStatusNamesWhyAStartFailed(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_REFUSE_START=1"}
	if code, _, _ := d.mictl("up", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "20s"); code != 3 {
		t.Fatalf("up: exit %d, want 3", code)
	}
	d.env = nil
	const jdk = "start script ended without a running server: [ERROR] WSO2 MI is supported only between JDK"
	if out := d.faulted("mi-1", "status"); !strings.Contains(out, "start script ended without a running server: [") {
		t.Fatalf("status does not name the cause:\n%s", out)
	}
	if out := d.faulted("mi-1", "status", "mi-1"); !strings.Contains(out, jdk) || !strings.Contains(out, "last output:") {
		t.Fatalf("status mi-1 does not show the whole error:\n%s", out)
	}
	r := d.statusJSON()
	if h := r.Instances[0].Health; h == nil || !strings.HasPrefix(*h, jdk) || r.Instances[0].LastError == nil {
		t.Fatalf("status -o json: health %v, last_error %v", h, r.Instances[0].LastError)
	}
}

// A failed start's health (the table's short reason) and its last_error
// said one fact two ways: "start script exited: ..." beside "the server
// exited before it was ready". The health's reason is the error's own
// words, whether the start ended with no server found (the script
// refusing the JDK) or with the one found gone.
func TestFailedStartsHealthSaysWhatItsErrorSays(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]string{"refuse": "MICTL_SIM_REFUSE_START=1", "crash": "MICTL_SIM_CRASH_AFTER=1ms"} {
		// A subtest each: its deployment, and its span of ports, ends with
		// it, and a test holding two spans at once waited out a range
		// with room for one. (Short names: the daemon's socket is under
		// the test's temporary directory, which is named for it.)
		t.Run(name, func(t *testing.T) {
			d := newDeployment(t)
			d.env = []string{env}
			if code, _, errOut := d.mictl("up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "20s"); code != 3 {
				t.Fatalf("up: exit %d, want 3\n%s", code, errOut)
			}
			for _, inst := range d.statusJSON().Instances {
				if inst.Health == nil || inst.LastError == nil {
					t.Fatalf("%s: health %v, last_error %v; want both", inst.Name, inst.Health, inst.LastError)
				}
				// The error's words, its parenthesised details aside (a pid,
				// the script's exit status), begin with the reason.
				reason, _, _ := strings.Cut(*inst.Health, ": [")
				words := regexp.MustCompile(` \([^)]*\)`).ReplaceAllString(*inst.LastError, "")
				if !strings.HasPrefix(words, "the "+reason) {
					t.Errorf("%s: health %q says what its last_error does not:\n%s", inst.Name, reason, *inst.LastError)
				}
			}
		})
	}
}

// Issue 10, bug 12: an invalid live edit is shown once by status, and is
// in its JSON.
func TestStatusShowsARefusedReloadOnce(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("rename", fmt.Sprintf("base_offset = %d\n", d.base))
	d.up(1)
	d.configFile("rename", "instances = \"two\"\n")
	d.waitReloads(0, 1)
	code, _, errOut := d.mictl("status")
	if code != 0 || strings.Count(errOut, `expected an integer, got the string "two"`) != 1 {
		t.Fatalf("status: exit %d, want the refused edit said once:\n%s", code, errOut)
	}
	if r := d.statusJSON(); r.ReloadError == nil || !strings.Contains(*r.ReloadError, "instances") {
		t.Fatalf("status -o json reload_error = %v", r.ReloadError)
	}
	// mictl reload says the same, with the exit code of a bad mictl.toml.
	if code, _, errOut := d.mictl("reload"); code != 2 || !strings.Contains(errOut, "mictl.toml:1:13") {
		t.Fatalf("reload of a bad mictl.toml: exit %d, want 2:\n%s", code, errOut)
	}
}

// Issue 10, bug 13: a refused up leaves nothing behind; status works in
// a directory it may not write.
func TestRefusedUpLeavesNothingAndStatusNeedsNoWriteAccess(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	listen(t, 8280+d.base)
	if code, _, _ := d.mictl("up", "--offsets", fmt.Sprint(d.base)); code != 1 {
		t.Fatalf("up onto a held port: exit %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "instances")); !os.IsNotExist(err) {
		t.Fatalf("a refused up left instances/ behind: %v", err)
	}
	d.up(1, "--base-offset", fmt.Sprint(d.base+100))
	d.must("down")
	readOnly(t, filepath.Join(d.dir, "instances"))
	if out := d.must("status"); !strings.Contains(out, "stopped") {
		t.Fatalf("status on a read-only directory:\n%s", out)
	}
}

// readOnly makes dir read-only for this process for the rest of the test
// (root ignores permissions: a read-only bind mount then).
func readOnly(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return
	}
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("bind mount %s: %v", dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	if err := syscall.Mount("", dir, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("make %s read-only: %v", dir, err)
	}
}

// Issue 11, failure 2: a stopped daemon hangs no command: status says it
// does not answer, once, and exits 3 (nothing restarts what crashes: a
// `mictl status || alert` must see it), down ends it and stops the
// servers itself.
func TestAStoppedDaemonHangsNothing(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	daemon := d.stopDaemon()
	want := fmt.Sprintf("the mictl daemon (pid %d) is not answering", daemon.PID)
	for _, format := range []string{"table", "json"} {
		code, _, errOut := d.mictl("status", "-o", format)
		if code != 3 || strings.Count(errOut, want) != 1 || !strings.Contains(errOut, "kill -CONT") {
			t.Fatalf("status -o %s: exit %d, want 3 and %q once (one wait, not two), with what to do:\n%s", format, code, want, errOut)
		}
	}
	code, _, errOut := d.mictl("down", "--timeout", "5s")
	if code != 0 || !strings.Contains(errOut, "is not answering") {
		t.Fatalf("down: exit %d, want 0:\n%s", code, errOut)
	}
	if left := d.servers(); len(left) > 0 || daemon.Alive() {
		t.Fatalf("after down: servers %v, daemon alive %v", left, daemon.Alive())
	}
}

// Issue 11, failure 1: a state file made unreadable while the daemon runs
// is written again from its memory; down stops everything, the server the
// daemon restarted meanwhile included.
func TestCorruptStateWhileTheDaemonRuns(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	path := filepath.Join(d.dir, "instances", ".mictl", "state.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data[:200], 0o600); err != nil {
		t.Fatal(err)
	}
	victim := d.servers()["mi-1"][0]
	syscall.Kill(victim, syscall.SIGKILL)
	d.waitFor("mi-1 restarted", func() bool {
		s := d.servers()["mi-1"]
		return len(s) == 1 && s[0] != victim
	})
	code, _, errOut := d.mictl("status")
	if code != 0 || strings.Contains(errOut, "exited at start") {
		t.Fatalf("status: exit %d:\n%s", code, errOut)
	}
	d.must("down")
	if left := d.leftRunning(); len(left) > 0 {
		t.Fatalf("left running: %s", proctest.Describe(left))
	}
}

// Issue 11, failure 3: a rebuilt state file keeps the restarts (from the
// event log) and the uptime (from the server's start time).
func TestRebuiltStateKeepsHistory(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	victim := d.instance("mi-1").Server
	syscall.Kill(victim.PID, syscall.SIGKILL)
	d.waitFor("mi-1 restarted", func() bool {
		i := d.instance("mi-1")
		return i.State == "ready" && i.Server != victim && i.Restarts == 1
	})
	d.killDaemon()
	if err := os.WriteFile(filepath.Join(d.dir, "instances", ".mictl", "state.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := d.statusJSON()
	inst := r.Instances[0]
	if inst.Restarts != 1 || inst.UptimeSeconds == nil || inst.State != "ready" {
		t.Fatalf("rebuilt: state %s, restarts %d (want 1), uptime %v (want known)", inst.State, inst.Restarts, inst.UptimeSeconds)
	}
}

// Issue 11, failure 4: a daemon that answers is never taken for dead.
func TestStatusNeverStartsASecondDaemon(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	daemon := d.daemonPID()
	for range 3 {
		if _, _, errOut := d.mictl("status"); strings.Contains(errOut, "exited at start") {
			t.Fatalf("status took a live daemon for dead:\n%s", errOut)
		}
	}
	if now := d.daemonPID(); now != daemon {
		t.Fatalf("daemon %d replaced by %d", daemon, now)
	}
	if id, _ := proc.Identify(daemon); !id.Alive() {
		t.Fatal("the daemon died")
	}
}

// A config file names its project: `mictl --config DIR/mictl.toml ...`
// run from anywhere acts on the instances beside that file, never on a
// second set under the working directory, even once the file is broken.
func TestConfigFileWorksFromAnotherDirectory(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base))
	config := filepath.Join(d.dir, "mictl.toml")
	d.cwd = t.TempDir()
	t.Cleanup(func() { // what a wrong resolution would start there
		if left := proctest.Reap(d.cwd, 3*time.Second); len(left) > 0 {
			t.Errorf("processes under the working directory (killed now): %v", left)
		}
	})
	d.must("--config", config, "up", "--timeout", "30s")
	if n := len(d.servers()); n != 2 {
		t.Fatalf("%d servers under %s after up, want 2", n, d.dir)
	}
	out := d.must("--config", config, "status", "-o", "json")
	jsonschematest.Validate(t, "status", []byte(out))
	var r statusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Instances) != 2 || r.Instances[0].State != "ready" {
		t.Fatalf("status from elsewhere: %v\n%s", err, out)
	}
	// Broken, the file still says where its instances are: the views show
	// them, warning that it was ignored, and down stops them.
	d.configFile("inplace", fmt.Sprintf("instances = \"two\"\nbase_offset = %d\n", d.base))
	for _, view := range [][]string{{"status"}, {"apps"}, {"logs", "mi-1", "--tail", "1"}, {"top", "--once", "--interval", "100ms"}} {
		code, out, errOut := d.mictl(append([]string{"--config", config}, view...)...)
		// Said as ignored here, or (status, once the daemon refused it) as
		// the reload the daemon refused: either way the file's error.
		if code != 0 || !strings.Contains(errOut, `key "instances": expected an integer`) || (view[0] != "logs" && !strings.Contains(out, "mi-1")) || out == "" {
			t.Errorf("mictl %s with a broken file: exit %d, want 0, mi-1 shown and the file's error said:\n%s%s", strings.Join(view, " "), code, out, errOut)
		}
	}
	code, _, errOut := d.mictl("--config", config, "down")
	if want := `key "instances": expected an integer`; code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("down with a broken file: exit %d, want 0 and %q:\n%s", code, want, errOut)
	}
	if n := len(d.servers()); n != 0 {
		t.Fatalf("%d servers left after down from elsewhere", n)
	}
	if entries, _ := os.ReadDir(d.cwd); len(entries) != 0 {
		t.Fatalf("mictl wrote into the working directory %s: %v", d.cwd, entries)
	}
}

// Commands run where nothing was ever started say so and leave nothing
// behind: no instances directory, no daemon. They succeed, but for
// restart --all, which fails when nothing runs (the exit codes table).
func TestCommandsOnNothingCreateNothing(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	for _, args := range [][]string{
		{"status"}, {"status", "-o", "json"}, {"down"}, {"down", "--purge"}, {"restart", "--all"},
		{"ports", "table"}, {"check-conflicts"}, {"diff"}, {"apps"}, {"logs"},
	} {
		// diff too: nothing runs for a reload to change.
		want := 0
		if args[0] == "restart" {
			want = 2
		}
		code, out, errOut := d.mictl(args...)
		if code != want {
			t.Errorf("mictl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		if entries, _ := os.ReadDir(d.dir); len(entries) != 0 {
			t.Fatalf("mictl %s left %v in %s", strings.Join(args, " "), entries, d.dir)
		}
	}
	for _, args := range [][]string{{"down", "mi-1"}, {"restart", "mi-1"}} {
		code, _, errOut := d.mictl(args...)
		if want := `no instance "mi-1": there are no instances`; code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("mictl %s: exit %d, want 2 and %q:\n%s", strings.Join(args, " "), code, want, errOut)
		}
	}
}

// A running daemon keeps the settings it was started with: restart says
// so as up does, naming what differs; --timeout goes with each request and
// is never reported as kept.
func TestDaemonSettingsKeptAreSaid(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1, "--health-interval", "2s")
	code, _, errOut := d.mictl("restart", "mi-1", "--restart", "never", "--health-interval", "7s", "--timeout", "31s")
	want := `keeps its --restart "on-failure" (asked: "never"), --health-interval "2s" (asked: "7s")`
	if code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("restart with other settings: exit %d, want 0 and %q:\n%s", code, want, errOut)
	}
	if code, _, errOut := d.mictl("up", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--health-interval", "2s", "--timeout", "31s"); code != 0 || strings.Contains(errOut, "keeps its") {
		t.Fatalf("up with only another --timeout: exit %d, want 0 and no warning:\n%s", code, errOut)
	}
}

// up --instances 2 after 5 leaves mi-3..5 running, and so does every
// later reload (a deploy, an edit of mictl.toml): a reload removes only
// what the configuration named when last applied and no longer names.
// down --purge then leaves no home behind, recorded or not.
func TestSmallerUpLeavesExtrasThroughReloads(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", fmt.Sprintf("instances = 3\nbase_offset = %d\n", d.base))
	d.must("up", "--timeout", "30s")
	d.up(5)
	d.up(2)
	running := func() int {
		n := 0
		for _, inst := range d.statusJSON().Instances {
			if inst.State == "ready" {
				n++
			}
		}
		return n
	}
	if n := running(); n != 5 {
		t.Fatalf("%d ready after up --instances 2, want the 5 left as they were", n)
	}
	if out := d.must("diff"); strings.Contains(out, "remove") {
		t.Fatalf("diff after the smaller up:\n%s", out)
	}
	d.must("reload")
	if n := running(); n != 5 {
		t.Fatalf("%d ready after a reload, want 5:\n%s", n, d.events())
	}

	// The file applied again names mi-1..3; shrinking it removes mi-3,
	// which it named, and leaves mi-4 and mi-5, which it never did.
	d.must("up", "--timeout", "30s")
	d.configFile("inplace", fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base))
	d.waitFor("mi-3 removed by the reload", func() bool {
		_, known := d.state().Instance("mi-3")
		return !known
	})
	if n := running(); n != 4 {
		t.Fatalf("%d ready after the file dropped mi-3, want 4 (mi-1, mi-2, mi-4, mi-5):\n%s", n, d.events())
	}
	// mi-3's home stays, forgotten, until purged: by name too.
	mi3 := filepath.Join(d.dir, "instances", "mi-3")
	if _, err := os.Stat(mi3); err != nil {
		t.Fatalf("the reload deleted mi-3's home: %v", err)
	}
	d.must("down", "--purge", "mi-3")
	if _, err := os.Stat(mi3); !os.IsNotExist(err) {
		t.Fatalf("down --purge mi-3 left its home: %v", err)
	}
	if n := running(); n != 4 {
		t.Fatalf("%d ready after down --purge mi-3, want the 4 others untouched", n)
	}
	d.must("down", "--purge")
	entries, _ := os.ReadDir(filepath.Join(d.dir, "instances"))
	for _, e := range entries {
		if e.Name() != ".mictl" && e.Name() != ".dist" {
			t.Errorf("down --purge left %s", e.Name())
		}
	}
}

// SIGTERM (or Ctrl-C) while up waits for the daemon's start says what
// goes on: the daemon keeps starting the instances, which become ready.
// The exit is the signal's, 143, as for every command interrupted (it
// was 3, a failure, for up alone).
func TestInterruptedUpSaysTheDaemonGoesOn(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	up := d.start([]string{"MICTL_SIM_STARTUP_DELAY=2s"}, "up", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	d.waitFor("mi-1 starting", func() bool {
		inst, ok := d.state().Instance("mi-1")
		return ok && inst.State == "starting" && inst.Server.PID != 0
	})
	up.signal(t, syscall.SIGTERM)
	err, _ := up.wait(time.Minute)
	var ee *exec.ExitError
	want := "interrupted before every instance was ready: the mictl daemon goes on starting them"
	if !errors.As(err, &ee) || ee.ExitCode() != 143 || !strings.Contains(up.out.String(), want) {
		t.Fatalf("up interrupted: %v, want exit 143 and %q:\n%s", err, want, up.out.String())
	}
	d.waitFor("mi-1 ready after all", func() bool { return d.instance("mi-1").State == "ready" })
}

// mictl down from another terminal ends an up --foreground too: with
// nothing left to supervise it exits (0), and down does not wait for it in
// vain.
func TestDownEndsAForegroundUp(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	up := d.start([]string{"MICTL_SIM_STARTUP_DELAY=0"}, "up", "--foreground", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	d.waitFor("mi-1 ready", func() bool { return d.stateIs("mi-1", "ready") })
	code, _, errOut := d.mictl("down")
	if code != 0 || strings.Contains(errOut, "did not exit") {
		t.Fatalf("down: exit %d:\n%s", code, errOut)
	}
	err, ok := up.wait(10 * time.Second)
	if !ok || err != nil || !strings.Contains(up.out.String(), "every instance was stopped (mictl down)") {
		t.Fatalf("up --foreground after down: ended %v (%v):\n%s", ok, err, up.out.String())
	}
}

// A stop while an instance waits out a restart backoff says that nothing
// was running, not that a server stopped gracefully.
func TestStopDuringBackoffSaysNothingRan(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1, "--backoff", "1m")
	crash := func() {
		pid := d.servers()["mi-1"][0]
		syscall.Kill(pid, syscall.SIGKILL)
		d.waitFor("the crash seen", func() bool { return d.instance("mi-1").Server.PID != pid })
	}
	crash() // the first restart is immediate
	d.waitFor("mi-1 ready again", func() bool { return d.instance("mi-1").State == "ready" })
	crash() // the second waits a minute
	d.waitFor("mi-1 in backoff", func() bool { return d.instance("mi-1").State == "backoff" })
	d.must("down")
	events := d.events()
	if !strings.Contains(events, "mi-1 stopped: stopped (nothing was running)") || strings.Contains(events, "gracefully in 0s") {
		t.Fatalf("events:\n%s", events)
	}
}

// The morning after a host's reboot (the daemon and every server killed
// at once), down says it had nothing to signal: it said "stopping
// (pid N): SIGTERM" of a pid that may by now be another program's.
func TestDownAfterARebootSignalsNothing(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	mi1 := d.instance("mi-1")
	if err := syscall.Kill(d.daemonPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-mi1.PGID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.waitFor("mi-1's server gone", func() bool { return !mi1.Server.Alive() })
	code, _, errOut := d.mictl("down")
	if code != 0 {
		t.Fatalf("down after a reboot: exit %d:\n%s", code, errOut)
	}
	want := fmt.Sprintf("mi-1 stopping: server pid %d gone already, and nothing left of its process group: nothing to signal", mi1.Server.PID)
	if !strings.Contains(errOut, want) || strings.Contains(errOut, "SIGTERM") {
		t.Fatalf("down after a reboot does not say it signalled nothing (%q):\n%s", want, errOut)
	}
}

// A state file rebuilt from the homes reads an instance whose last event
// is "stopping" as stopped (its server gone), never as crashed: the next
// daemon must not bring it back.
func TestRebuildDoesNotResurrectAStop(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	d.must("down")
	dir := filepath.Join(d.dir, "instances", ".mictl")
	log, err := os.OpenFile(filepath.Join(dir, "events.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(log, "%s mi-1 stopping: SIGTERM\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	log.Close()
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := d.statusJSON()
	if len(r.Instances) != 1 || r.Instances[0].State != "stopped" {
		t.Fatalf("rebuilt: %+v", r.Instances)
	}
	if servers := d.servers(); len(servers) != 0 {
		t.Fatalf("the rebuild started %v", servers)
	}
}

// A state file corrupted while the daemon runs is shown and written again
// from the daemon's memory, not rebuilt from the homes and the event log
// (whose history an earlier deployment of the same name left: a restart
// count of a former mi-1).
func TestCorruptStateIsTheDaemonsToRepair(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	victim := d.servers()["mi-1"][0]
	syscall.Kill(victim, syscall.SIGKILL)
	d.waitFor("mi-1 restarted", func() bool { return d.instance("mi-1").Restarts == 1 && d.instance("mi-1").State == "ready" })
	d.must("down", "--purge")
	d.up(1)
	path := filepath.Join(d.dir, "instances", ".mictl", "state.json")
	if err := os.WriteFile(path, []byte(`{"garbage`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := d.mictl("status", "-o", "json")
	var r statusReport
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Instances) != 1 || r.Instances[0].Restarts != 0 ||
		!strings.Contains(errOut, "the running mictl daemon writes it again from its memory") {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	d.waitFor("the file written again", func() bool {
		f, err := os.ReadFile(path)
		return err == nil && json.Valid(f)
	})
}

// A server frozen for seconds (here: SIGSTOP, then SIGCONT; a JVM in a
// full GC or starved of CPU) is degraded while it does not answer, and
// ready again after, the same server: mictl ends a server only after its
// /liveness has failed for 30 s (pkg/supervisor's liveness tests end one,
// with a shorter window), where it SIGKILLed this one ~5 s after it froze.
// The instances beside it stay ready throughout: its hang fails no check
// of theirs (it made every instance probed after it degraded).
func TestFrozenServerIsNotEndedNorItsNeighboursDegraded(t *testing.T) {
	// Not parallel: its neighbours must pass every check at a 200 ms
	// health interval, which the parallel tests' servers, loading the
	// CPU, can make them miss.
	d := newDeployment(t)
	d.up(3, "--health-interval", "200ms")
	frozen := d.instance("mi-2").Server
	if err := syscall.Kill(frozen.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(frozen.PID, syscall.SIGCONT) })
	d.waitFor("mi-2 degraded", func() bool { return d.instance("mi-2").State == "degraded" })
	time.Sleep(6 * time.Second) // three checks of a hung server and more
	if err := syscall.Kill(frozen.PID, syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT to mi-2's server: %v (mictl ended it)\nevents:\n%s", err, d.events())
	}
	d.waitFor("mi-2 ready again", func() bool { return d.instance("mi-2").State == "ready" })
	events := d.events()
	if now := d.instance("mi-2").Server; now != frozen || strings.Contains(events, "ended by mictl") {
		t.Fatalf("mi-2's server %v, was %v: want it kept\nevents:\n%s", now, frozen, events)
	}
	for _, line := range strings.Split(events, "\n") {
		if strings.Contains(line, " degraded ") && !strings.Contains(line, " mi-2 ") {
			t.Errorf("a neighbour degraded: %s", line)
		}
	}
}

// What a reload removed stays removed when the daemon writes a corrupt
// state file again from its memory.
func TestRewriteFromMemoryKeepsWhatAReloadRemoved(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base))
	d.must("up", "--timeout", "30s")
	d.configFile("inplace", fmt.Sprintf("instances = 1\nbase_offset = %d\n", d.base))
	d.waitFor("mi-2 removed by the reload", func() bool {
		_, known := d.state().Instance("mi-2")
		return !known && strings.Contains(d.events(), "mictl reloaded")
	})
	path := filepath.Join(d.dir, "instances", ".mictl", "state.json")
	if err := os.WriteFile(path, []byte(`{"cut short`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := d.statusJSON()
	if len(r.Instances) != 1 || r.Instances[0].Name != "mi-1" {
		t.Fatalf("after the rewrite: %+v", r.Instances)
	}
	d.waitFor("the file written again", func() bool {
		f, err := os.ReadFile(path)
		return err == nil && json.Valid(f)
	})
	if _, known := d.state().Instance("mi-2"); known {
		t.Fatal("the rewritten file brought mi-2 back")
	}
}

// A state file deleted while the daemon runs is written again from its
// memory: nothing is forgotten, nothing started twice.
func TestDeletedStateIsWrittenAgain(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	servers := d.servers()
	if err := os.Remove(filepath.Join(d.dir, "instances", ".mictl", "state.json")); err != nil {
		t.Fatal(err)
	}
	if r := d.statusJSON(); len(r.Instances) != 2 {
		t.Fatalf("status after the delete: %+v", r.Instances)
	}
	if n := len(d.state().Instances); n != 2 {
		t.Fatalf("the file holds %d instances, want 2", n)
	}
	if now := d.servers(); fmt.Sprint(now) != fmt.Sprint(servers) {
		t.Fatalf("servers %v, then %v", servers, now)
	}
}

// A server that dies while no daemon watches (the daemon was killed) is
// a crash all the same: the next daemon logs it and counts its restart.
func TestCrashWhileNoDaemonWatchedIsCounted(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	d.killDaemon()
	server := d.instance("mi-1").Server
	syscall.Kill(server.PID, syscall.SIGKILL)
	d.waitFor("the server gone", func() bool { return !server.Alive() })
	d.adopt() // starts a daemon, which restarts mi-1
	d.waitFor("mi-1 ready again", func() bool {
		inst := d.instance("mi-1")
		return inst.State == "ready" && inst.Server.PID != server.PID
	})
	if n := d.instance("mi-1").Restarts; n != 1 {
		t.Fatalf("restarts %d, want 1:\n%s", n, d.events())
	}
	if !strings.Contains(d.events(), fmt.Sprintf("mi-1 crashed pid=%d: server pid %d exited while no mictl daemon watched it", server.PID, server.PID)) {
		t.Fatalf("events:\n%s", d.events())
	}
}

// With restart policy never, a server that died while no daemon watched
// is left failed by the next daemon, as a crash it saw would be.
func TestCrashWhileNoDaemonWatchedRestartNever(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2, "--restart", "never")
	starts := strings.Count(d.events(), "mi-1 starting")
	d.killDaemon()
	crashed, kept := d.instance("mi-1").Server, d.instance("mi-2").Server
	syscall.Kill(crashed.PID, syscall.SIGKILL)
	d.waitFor("the server gone", func() bool { return !crashed.Alive() })
	d.adopt() // starts a daemon with the same policy
	want := fmt.Sprintf("mi-1 failed: server pid %d exited while no mictl daemon watched it (it was ready); restart policy never", crashed.PID)
	d.waitFor("mi-1 left failed", func() bool { return strings.Contains(d.events(), want) })
	d.faulted("mi-1", "status")
	if inst := d.instance("mi-1"); inst.State != "failed" || !inst.Server.IsZero() || inst.Restarts != 0 {
		t.Fatalf("mi-1 %s, server %v, restarts %d, want failed, none, 0:\n%s", inst.State, inst.Server, inst.Restarts, d.events())
	}
	if now := d.instance("mi-2"); now.State != "ready" || now.Server != kept {
		t.Fatalf("mi-2 %s with server %v, want ready with %v, untouched", now.State, now.Server, kept)
	}
	if n := strings.Count(d.events(), "mi-1 starting"); n != starts {
		t.Fatalf("mi-1 was started again:\n%s", d.events())
	}
}

// A server mictl did not start, running in an instance's home (by hand,
// or systemd running a generated home), makes up refuse to start a second
// one there, leaving nothing behind: nothing rendered again, no daemon,
// the server untouched. down NAME ends it, as the message says, whether a
// record names the home or not, and down --purge keeps a home something
// still runs in.
func TestUpRefusesAHomeARunningServerHolds(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"stopped by mictl", "generated"} {
		t.Run(how, func(t *testing.T) {
			d := newDeployment(t)
			if how == "generated" {
				d.must("generate", "--instances", "1", "--base-offset", fmt.Sprint(d.base))
			} else {
				d.up(1)
				d.must("down")
			}
			homeDir := filepath.Join(d.dir, "instances", "mi-1")
			server := d.startByHand("mi-1")
			rendered := d.readFile(filepath.Join("instances", "mi-1", "conf", "deployment.toml"))

			code, _, stderr := d.mictl("up", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
			want := fmt.Sprintf("a server mictl did not start already runs in the home of mi-1:\n  mi-1: pid %d", server)
			if code != 3 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "mictl down mi-1") {
				t.Fatalf("up: exit %d, want 3 and %q:\n%s", code, want, stderr)
			}
			if now := d.servers()["mi-1"]; len(now) != 1 || now[0] != server {
				t.Fatalf("servers in mi-1's home: %v, want only %d", now, server)
			}
			if d.readFile(filepath.Join("instances", "mi-1", "conf", "deployment.toml")) != rendered {
				t.Fatal("the refused up rendered mi-1's home again")
			}
			// check-conflicts finds what up refuses for, rather than planning
			// mi-1 around its own ports that server holds.
			check := []string{"check-conflicts", "--instances", "1", "--base-offset", fmt.Sprint(d.base)}
			code, out, _ := d.mictl(check...)
			want = fmt.Sprintf("in use: mi-1's home %s runs a server mictl did not start (pid %d, ", filepath.Join("instances", "mi-1"), server)
			if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "mictl down mi-1") || !strings.Contains(out, ", 1 home in use\n") {
				t.Fatalf("check-conflicts: exit %d, want 1 and %q:\n%s", code, want, out)
			}
			// up -o json refuses with check-conflicts' document too, as
			// for conflicts, keeping its exit code.
			for _, cmd := range []struct {
				args []string
				code int
			}{{check, 1}, {[]string{"up", "--instances", "1", "--base-offset", fmt.Sprint(d.base)}, 3}} {
				code, out, _ := d.mictl(append(cmd.args, "-o", "json")...)
				if code != cmd.code {
					t.Fatalf("%s -o json: exit %d, want %d:\n%s", cmd.args[0], code, cmd.code, out)
				}
				jsonschematest.Validate(t, "check-conflicts", []byte(out))
				var checked struct {
					ServersInHomes []struct {
						Instance, Home string
						HolderPID      int `json:"holder_pid"`
					} `json:"servers_in_homes"`
				}
				if err := json.Unmarshal([]byte(out), &checked); err != nil {
					t.Fatal(err)
				}
				if s := checked.ServersInHomes; len(s) != 1 || s[0].Instance != "mi-1" || s[0].Home != homeDir || s[0].HolderPID != server {
					t.Fatalf("%s -o json: servers_in_homes = %+v, want mi-1's server %d in %s:\n%s", cmd.args[0], s, server, homeDir, out)
				}
			}
			if f := d.state(); f.Daemon != nil && f.Daemon.Alive() {
				t.Fatalf("the refused up left a daemon (pid %d)", f.Daemon.PID)
			}
			if how == "stopped by mictl" {
				// status says what up refused for, at the stopped instance.
				want := fmt.Sprintf("a server mictl did not start runs in this home (pid %d); mictl down mi-1 ends it", server)
				if out := d.must("status"); !strings.Contains(out, want) {
					t.Fatalf("status does not say %q:\n%s", want, out)
				}
			}
			if how == "generated" {
				d.must("down", "--purge")
				if _, err := os.Stat(homeDir); err != nil {
					t.Fatalf("down --purge deleted a home a server runs in: %v", err)
				}
			}
			d.must("down", "mi-1")
			d.waitFor("the server ended", func() bool { return len(d.servers()["mi-1"]) == 0 })
			d.up(1)
		})
	}
}

// An instance named twice is restarted once: it was taken down twice.
func TestRestartOfANameGivenTwiceRestartsItOnce(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	d.must("restart", "mi-1", "mi-1")
	if n := strings.Count(d.events(), "mi-1 stopping pid="); n != 1 {
		t.Fatalf("mi-1 stopped %d times by restart mi-1 mi-1, want once:\n%s", n, d.events())
	}
}

// restart restarts what runs: a stopped instance is left to up (which
// plans it again and checks its ports), named or under --all, and they
// say which up starts it: mictl.toml does not name mi-2, the last up's
// --instances 2 did, and a plain up left it stopped without a word.
func TestRestartLeavesStoppedInstancesToUp(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	d.must("down", "mi-2")
	startIt := fmt.Sprintf("mictl up --base-offset=%d --instances=2 starts it", d.base)
	code, _, errOut := d.mictl("restart", "mi-2")
	if want := "mi-2 is stopped, not running: " + startIt; code != 2 || !strings.Contains(errOut, want) {
		t.Fatalf("restart mi-2: exit %d, want 2 and %q:\n%s", code, want, errOut)
	}
	code, _, errOut = d.mictl("restart", "--all")
	if want := "note: not restarting mi-2 (stopped): not running; " + startIt; code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("restart --all: exit %d, want 0 and %q:\n%s", code, want, errOut)
	}
	if st := d.instance("mi-2").State; st != "stopped" {
		t.Errorf("mi-2 is %s after restart --all; want it left stopped", st)
	}
	if st := d.instance("mi-1").State; st != "ready" {
		t.Errorf("mi-1 is %s after restart --all; want ready", st)
	}
	// The daemon's reloads of these edits change nothing: they plan with
	// the last up's flags.
	d.configFile("inplace", fmt.Sprintf("instances = 3\nbase_offset = %d\n", d.base))
	if _, _, errOut := d.mictl("diff"); !strings.Contains(errOut, fmt.Sprintf("note: instances = 3 (mictl.toml:1:1) is not applied: the last mictl up's --instances=2 stands, and reloads plan with it; mictl up --base-offset=%d applies the file's, and its later edits", d.base)) {
		t.Errorf("diff does not say mictl.toml's instances is not applied:\n%s", errOut)
	}
	d.configFile("inplace", fmt.Sprintf("base_offset = %d\n", d.base))
	code, _, errOut = d.mictl("up", "--timeout", "30s")
	if want := fmt.Sprintf("note: mi-2 stays stopped: this up plans the configuration's 1 instance, and the last up's --base-offset=%d --instances=2 planned it; mictl up --base-offset=%[1]d --instances=2 starts it", d.base); code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("a plain up: exit %d, want 0 and %q:\n%s", code, want, errOut)
	}
	d.must("up", "--instances=2", fmt.Sprintf("--base-offset=%d", d.base), "--timeout", "30s")
	if st := d.instance("mi-2").State; st != "ready" {
		t.Errorf("mi-2 is %s after the up restart advised; want ready", st)
	}
	// An up that asks for fewer says which flags planned the one it
	// leaves; once an up without it has run, those flags no longer
	// start it, and nothing names them.
	d.must("down", "mi-2")
	code, _, errOut = d.mictl("up", "--instances=1", fmt.Sprintf("--base-offset=%d", d.base), "--timeout", "30s")
	if want := fmt.Sprintf("note: mi-2 stays stopped: this up plans 1 instance, and the last up's --base-offset=%d --instances=2 planned it", d.base); code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("up --instances=1: exit %d, want 0 and %q:\n%s", code, want, errOut)
	}
	code, _, errOut = d.mictl("up", "--instances=1", fmt.Sprintf("--base-offset=%d", d.base), "--timeout", "30s")
	if code != 0 || strings.Contains(errOut, "mi-2 stays stopped") {
		t.Fatalf("a second up --instances=1: exit %d, want 0 and no advice for mi-2:\n%s", code, errOut)
	}
	if code, _, errOut := d.mictl("restart", "mi-2"); code != 2 || !strings.Contains(errOut, "the configuration no longer names it") {
		t.Fatalf("restart mi-2: exit %d, want 2 saying nothing names it:\n%s", code, errOut)
	}
	d.must("down")
	if code, _, errOut := d.mictl("restart", "--all"); code != 2 || !strings.Contains(errOut, "nothing runs to restart") {
		t.Fatalf("restart --all with nothing running: exit %d, want 2, as restart mi-2:\n%s", code, errOut)
	}
}

// The up that advice names pastes and runs: the last up's flags are each
// one shell word, as sh reads it back. --mi-home="my mi" was advised as
// `mictl up ... --mi-home=.../my mi`, which sh splits into two arguments.
func TestAdvisedUpPastesAsTheShellReadsIt(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	dist := filepath.Join(d.dir, "my mi")
	d.must("sim", "dist", dist)
	d.up(2, "--mi-home", dist)
	d.must("down", "mi-2")
	d.configFile("inplace", fmt.Sprintf("base_offset = %d\n", d.base))
	code, _, errOut := d.mictl("up", "--timeout", "30s")
	m := regexp.MustCompile(`note: mi-2 stays stopped: .*; (mictl up .*) starts it\n`).FindStringSubmatch(errOut)
	if code != 0 || m == nil {
		t.Fatalf("a plain up: exit %d, want 0 and the up that starts mi-2:\n%s", code, errOut)
	}
	// The words sh reads from the advice, one a line.
	out, err := exec.Command("sh", "-c", `eval "set -- $1"; printf '%s\n' "$@"`, "sh", m[1]).Output()
	if err != nil {
		t.Fatalf("sh reading %s: %v", m[1], err)
	}
	words := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if !slices.Contains(words, "--mi-home="+dist) {
		t.Fatalf("sh reads the advice %s as %q: no --mi-home=%s", m[1], words, dist)
	}
	d.must(append(words[1:], "--timeout", "30s")...)
	if st := d.instance("mi-2").State; st != "ready" {
		t.Errorf("mi-2 is %s after the advised %s; want ready", st, m[1])
	}
}

// A stopped instance's offset is not kept: when the planner places it
// elsewhere on the next up (here: the port that moved it is free again),
// up says so, with the ports its clients knew and how to keep them; an
// instance placed where it last ran gets no note. The offset is kept in
// an [[instance]] table to add, as mictl.toml has none for mi-1: up named
// "its [[instance]] table".
func TestUpSaysAStoppedInstanceMoved(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	stranger, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 8280+d.base))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	d.up(2)
	last := d.instance("mi-1")
	if last.Offset == d.base {
		t.Fatalf("mi-1 runs at offset %d, whose http port a stranger holds", last.Offset)
	}
	d.must("down", "mi-1")
	stranger.Close()
	code, _, errOut := d.mictl("up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	want := fmt.Sprintf("note: mi-1 starts at offset %d, not %d where it last ran (its http port %d was %d): the planner places a stopped instance again; to keep an offset, add to mictl.toml an [[instance]] table with name = \"mi-1\" and offset = %d",
		d.base, last.Offset, 8280+d.base, 8280+last.Offset, last.Offset)
	if code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("up: exit %d, want 0 and %q:\n%s", code, want, errOut)
	}
	if strings.Contains(errOut, "mi-2 starts at offset") {
		t.Fatalf("up noted mi-2, which runs where it ran:\n%s", errOut)
	}
	d.must("down", "mi-1")
	if _, _, errOut = d.mictl("up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s"); strings.Contains(errOut, "where it last ran") {
		t.Fatalf("up noted mi-1, placed where it last ran:\n%s", errOut)
	}
}

// A supervisor flag not given is no wish: a plain up after up --restart
// never does not warn that the daemon keeps "never".
func TestPlainUpDoesNotWarnOfDefaults(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1, "--restart", "never")
	code, _, errOut := d.mictl("up", "--instances", "1", "--base-offset", fmt.Sprint(d.base))
	if code != 0 || strings.Contains(errOut, "keeps its") {
		t.Fatalf("plain up: exit %d, want 0 and no warning of kept settings:\n%s", code, errOut)
	}
}

// Each server runs with a node identity of its own, its instance's name
// (docs/mi-facts.md, "Node identity"), even when the shell that started
// mictl exported one for all.
func TestEachServerNamesItsNode(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"nodeId=the-shells"}
	d.up(2)
	for _, name := range []string{"mi-1", "mi-2"} {
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", d.instance(name).Server.PID))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, kv := range strings.Split(string(environ), "\x00") {
			if strings.HasPrefix(kv, "nodeId=") {
				ids = append(ids, kv)
			}
		}
		if len(ids) != 1 || ids[0] != "nodeId="+name {
			t.Errorf("%s's server runs with %v, want only nodeId=%s", name, ids, name)
		}
	}
}

// A crash says why when the server's log does: its last ERROR line since
// the start (only the script, its parent, sees the server's exit status).
func TestCrashQuotesTheLogsLastError(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_CRASH_AFTER=400ms", "MICTL_SIM_CRASH_CODE=3"}
	d.up(1, "--restart", "never")
	want := "its log's last error: "
	d.waitFor("the crash recorded", func() bool { return strings.Contains(d.events(), " crashed ") })
	for _, line := range strings.Split(d.events(), "\n") {
		if strings.Contains(line, " crashed ") && (!strings.Contains(line, want) || !strings.Contains(line, "ERROR {Main} - Simulated crash") || !strings.Contains(line, "exiting with status 3")) {
			t.Fatalf("the crash does not quote the log's last error:\n%s", d.events())
		}
	}
	// In full in the record's error; its few words (status's HEALTH) stay short.
	d.waitFor("the crash's outcome recorded", func() bool { return d.instance("mi-1").State == "failed" })
	if inst := d.instance("mi-1"); strings.Contains(inst.Reason, want) || !strings.Contains(inst.LastError, want) {
		t.Fatalf("reason %q, last error %q: want the log line in the error alone", inst.Reason, inst.LastError)
	}
}

// An instance waiting out a backoff says, in status, when it starts again.
func TestBackoffSaysWhenTheNextStartComes(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_CRASH_AFTER=400ms"}
	d.up(1, "--backoff", "1m")
	// The first restart comes at once; the second waits, not counted
	// until it is made.
	d.waitFor("the second backoff", func() bool { inst := d.instance("mi-1"); return inst.State == "backoff" && inst.Restarts >= 1 })
	if out := d.faulted("mi-1", "status", "mi-1"); !regexp.MustCompile(`health: +server pid \d+ exited; restart 2 at \d\d:\d\d:\d\d\n`).MatchString(out) {
		t.Fatalf("status does not say when mi-1 starts again:\n%s", out)
	}
}

// --max-restarts counts restarts in a row across daemons: one taking over
// from a daemon killed in the middle of a crash loop goes on counting
// rather than granting the loop --max-restarts more.
func TestMaxRestartsCountsAcrossDaemons(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_CRASH_AFTER=400ms"}
	d.up(1, "--max-restarts", "2", "--backoff", "100ms")
	d.waitFor("the first restart recorded", func() bool { return d.instance("mi-1").Restarts >= 1 })
	d.killDaemon()
	d.adopt() // starts a daemon with the same policy
	d.waitFor("mi-1 given up on", func() bool { return d.instance("mi-1").State == "failed" })
	if inst := d.instance("mi-1"); inst.Restarts != 2 || !strings.Contains(inst.LastError, "gave up after 2 restarts in a row") {
		t.Fatalf("mi-1 failed after %d restarts (%q), want 2:\n%s", inst.Restarts, inst.LastError, d.events())
	}
}

// down of an instance whose daemon, server and script were all killed,
// leaving only the rest of its process group (MI's diagnostics tool, the
// simulator's companion), says that its server was gone already: it said
// "SIGTERM" to the dead server's pid and "stopped gracefully", which
// after an incident reads as if the server had run until then.
func TestDownAfterEverythingWasKilledSaysTheServerWasGone(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	inst := d.instance("mi-1")
	for _, pid := range []int{d.state().Daemon.Identity.PID, inst.Server.PID, inst.Script.PID} {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	d.waitFor("the server and the script gone", func() bool { return !inst.Server.Alive() && !inst.Script.Alive() })
	if proc.GroupEmpty(inst.PGID) {
		t.Fatalf("nothing is left of group %d: nothing to test", inst.PGID)
	}
	_, _, errOut := d.mictl("down")
	want := fmt.Sprintf("mi-1 stopping: server pid %d gone already: SIGTERM to what is left of its process group %d", inst.Server.PID, inst.PGID)
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "mi-1 stopped: its server was gone already; what was left of its process group stopped in") {
		t.Fatalf("down lacks %q and what stopped:\n%s", want, errOut)
	}
}

// up says so when it leaves an instance in a fault state that the
// configuration no longer names: it exited 0, and status then exited 3
// for an instance nobody had mentioned.
func TestUpNotesAFaultedInstanceItLeaves(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", fmt.Sprintf("base_offset = %d\ninstances = 2\n", d.base))
	d.must("up", "--restart", "never", "--timeout", "30s")
	server := d.instance("mi-2").Server
	syscall.Kill(server.PID, syscall.SIGKILL)
	// Failed, where --restart never leaves a crash: crashed comes first,
	// and the up that read it still crashed noted it failed.
	d.waitFor("mi-2 failed", func() bool { return d.stateIs("mi-2", "failed") })
	// A flag, not an edit: the daemon would reload an edit, and remove mi-2.
	code, _, errOut := d.mictl("up", "--instances", "1", "--timeout", "30s")
	want := "note: mi-2 is failed and not in this up's plan: up leaves it so, and mictl status goes on showing it (exit 3); mictl down --purge mi-2 forgets it"
	if code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("up: exit %d, want 0 with %q:\n%s", code, want, errOut)
	}
}

// up --instances 2 after 3 leaves mi-3 running, and says so with the
// command that stops it, as diff does then: the operator who scaled down
// saw three rows and no word why.
func TestUpNotesAnInstanceItLeavesRunning(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(3)
	code, _, errOut := d.mictl("up", "--instances", "2", "--timeout", "30s")
	want := "note: mi-3 keeps running beyond the 2 instances this up plans (up never stops an instance): mictl down mi-3 stops it"
	if code != 0 || !strings.Contains(errOut, want) || !d.stateIs("mi-3", "ready") {
		t.Fatalf("up --instances 2 after 3: exit %d, want 0, mi-3 still ready and %q:\n%s", code, want, errOut)
	}
	// diff, which said "what runs matches the configuration", says it too.
	code, _, errOut = d.mictl("diff")
	want = "note: mi-3 keeps running beyond the configuration's 2 instances, as a reload leaves what an earlier, larger up started: mictl down mi-3 stops it"
	if code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("diff: exit %d, want 0 and %q:\n%s", code, want, errOut)
	}
	out := d.must("diff", "-o", "json")
	jsonschematest.Validate(t, "diff", []byte(out))
	var report struct {
		Beyond []string `json:"beyond"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil || !slices.Equal(report.Beyond, []string{"mi-3"}) {
		t.Fatalf("diff -o json: want beyond [mi-3] (%v):\n%s", err, out)
	}
}

// diff notes an instance the configuration names that a down stopped:
// a reload leaves it stopped, and diff said "no changes: what runs
// matches the configuration" of a plan of two with one running. The
// note names the up that starts it, as status does (the last up's, whose
// flags planned it): it said "mictl up starts it", and a plain up, with
// no mictl.toml here, plans one instance and leaves mi-2 stopped.
func TestDiffNotesAStoppedInstanceTheConfigurationNames(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	d.must("down", "mi-2")
	code, _, errOut := d.mictl("diff")
	want := fmt.Sprintf("note: mi-2 is stopped, and a reload leaves it so (it starts only instances new to mictl): mictl up --base-offset=%d --instances=2 starts it\n", d.base)
	if code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("diff: exit %d, want 0 and %q:\n%s", code, want, errOut)
	}
	out := d.must("diff", "-o", "json")
	jsonschematest.Validate(t, "diff", []byte(out))
	var report struct {
		Stopped []string `json:"stopped"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil || !slices.Equal(report.Stopped, []string{"mi-2"}) {
		t.Fatalf("diff -o json: want stopped [mi-2] (%v):\n%s", err, out)
	}
}

// The note's up is the one to type where diff ran: with the --config
// given, as status and down say it. It said "mictl up starts it", which
// there plans mictl.toml (none: one instance) and leaves mi-2 stopped.
func TestDiffNoteNamesTheUpOfTheConfigGiven(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	if err := os.WriteFile(filepath.Join(d.dir, "other.toml"), []byte(fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base)), 0o644); err != nil {
		t.Fatal(err)
	}
	d.must("--config", "other.toml", "up", "--timeout", "30s")
	d.must("--config", "other.toml", "down", "mi-2")
	code, _, errOut := d.mictl("--config", "other.toml", "diff")
	want := "note: mi-2 is stopped, and a reload leaves it so (it starts only instances new to mictl): mictl --config other.toml up starts it\n"
	if code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("diff --config other.toml: exit %d, want 0 and %q:\n%s", code, want, errOut)
	}
}

// status after the daemon and every server were killed (a host's crash,
// an OOM kill) starts a daemon that takes the instances over; it answers
// once it has, so no row shows a dead server as ready, and the table and
// the exit status agree (the table said crashed, and status exited 0).
func TestStatusAfterEverythingWasKilledShowsTheTakeOver(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	old := d.pids()
	syscall.Kill(d.state().Daemon.Identity.PID, syscall.SIGKILL)
	for _, pid := range old {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	r := d.statusJSON() // exit 3 exactly when a fault is shown
	for _, row := range r.Instances {
		if (row.State == "ready" || row.State == "degraded") && (row.PID == nil || *row.PID == old[row.Name]) {
			t.Errorf("%s shown %s with pid %v, its killed server's %d", row.Name, row.State, row.PID, old[row.Name])
		}
	}
}

// An up with another configuration file than the one the running daemon
// follows is refused (exit 2) before anything starts: it started
// instances as its file planned them (without the fleet's CApps), under a
// daemon that reloads from its own file, and status said all was well.
func TestUpRefusesAnotherConfigUnderARunningDaemon(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", fmt.Sprintf("instances = 1\nbase_offset = %d\n", d.base))
	d.must("up", "--timeout", "30s")
	other := filepath.Join(d.dir, "other.toml")
	if err := os.WriteFile(other, []byte(fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := d.mictl("up", "--config", other, "--timeout", "30s")
	want := fmt.Sprintf("that follows %s, not %s: run mictl up with --config %[1]s", filepath.Join(d.dir, "mictl.toml"), other)
	if code != 2 || !strings.Contains(errOut, want) {
		t.Fatalf("up --config other.toml: exit %d, want 2 and %q:\n%s", code, want, errOut)
	}
	if n := len(d.state().Instances); n != 1 {
		t.Errorf("the refused up left %d instances in the state, want 1", n)
	}
	d.must("up", "--config", filepath.Join(d.dir, "mictl.toml"), "--timeout", "30s") // the daemon's own file
	// ...reached through a symbolic link to its directory too.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(d.dir, link); err != nil {
		t.Fatal(err)
	}
	d.must("up", "--config", filepath.Join(link, "mictl.toml"), "--timeout", "30s")
}

// RESTARTS counts a run: a restart (the command's, or a reload's) goes on
// counting, as it did; an up of a stopped instance begins a new run from
// none (the count carried over a down and up, and read 6 beside "gave up
// after 5 restarts").
func TestRestartsCountARun(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	if err := syscall.Kill(d.servers()["mi-1"][0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.waitFor("mi-1 restarted", func() bool { i := d.instance("mi-1"); return i.Restarts == 1 && i.State == "ready" })
	d.must("restart", "mi-1")
	if n := d.instance("mi-1").Restarts; n != 1 {
		t.Fatalf("after mictl restart: %d restarts, want the run's 1 kept", n)
	}
	d.must("down")
	d.up(1)
	if n := d.instance("mi-1").Restarts; n != 0 {
		t.Fatalf("after down and up: %d restarts, want a new run's 0", n)
	}
}

// A daemon started again by a command run in another directory follows
// the mictl.toml of the directory the first was started from, as the
// first did: without a file to name, it followed the re-spawner's
// directory, and an edit where the instances were made changed nothing.
func TestRespawnedDaemonFollowsTheFirstsDirectory(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("up", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s") // no mictl.toml
	first := d.killDaemon()
	d.cwd = t.TempDir()
	d.must("status", "--instances-dir", filepath.Join(d.dir, "instances")) // starts a daemon from there
	d.cwd = ""
	if next := d.state().Daemon; next == nil || !next.Alive() || next.PID == first.PID {
		t.Fatalf("no new daemon: %+v", next)
	}
	d.configFile("inplace", fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base))
	d.waitFor("mi-2 started by the new daemon's reload", func() bool {
		inst, ok := d.state().Instance("mi-2")
		return ok && inst.State == "ready"
	})
}

// A daemon started without a mictl.toml follows the one that appears in
// its directory: an up from elsewhere with a file of its own is refused
// (it started instances the daemon's next reload would not plan), and,
// from its own directory, a file created since is the daemon's (neither
// refused nor warned of as a --config the daemon keeps).
func TestUpRefusesAnotherConfigUnderADaemonFollowingItsDirectory(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("up", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	other := t.TempDir()
	body := fmt.Sprintf("instances = 2\nbase_offset = %d\ninstances_dir = %q\n", d.base, filepath.Join(d.dir, "instances"))
	if err := os.WriteFile(filepath.Join(other, "mictl.toml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cwd = other
	code, _, errOut := d.mictl("up", "--timeout", "30s")
	d.cwd = ""
	want := fmt.Sprintf("that follows the mictl.toml of %s (none there yet), not %s: run mictl up from that directory", d.dir, filepath.Join(other, "mictl.toml"))
	if code != 2 || !strings.Contains(errOut, want) {
		t.Fatalf("up from another directory: exit %d, want 2 and %q:\n%s", code, want, errOut)
	}
	d.configFile("inplace", fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base))
	if code, _, errOut := d.mictl("up", "--timeout", "30s"); code != 0 || strings.Contains(errOut, "keeps its") {
		t.Fatalf("up with the daemon's own directory's new file: exit %d, want 0 without a kept --config:\n%s", code, errOut)
	}
}

// status NAME -o json carries the recent events the text shows
// (recent_events), every key present: null when no instance is named.
func TestStatusNameJSONHasTheRecentEvents(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	type event struct {
		State string `json:"state"`
		PID   *int   `json:"pid"`
	}
	events := func(args ...string) *[]event {
		t.Helper()
		out := d.must(append([]string{"status", "-o", "json"}, args...)...)
		jsonschematest.Validate(t, "status", []byte(out))
		var r struct {
			Instances []struct {
				RecentEvents *[]event `json:"recent_events"`
			} `json:"instances"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Instances) != 1 {
			t.Fatalf("status %v -o json: %v\n%s", args, err, out)
		}
		return r.Instances[0].RecentEvents
	}
	named := events("mi-1")
	if named == nil || len(*named) == 0 {
		t.Fatalf("status mi-1 -o json: recent_events %v, want mi-1's events", named)
	}
	last := (*named)[len(*named)-1]
	if last.State != "ready" || last.PID == nil {
		t.Errorf("status mi-1 -o json: the last recent event %+v, want mi-1 ready with its pid", last)
	}
	if text := d.must("status", "mi-1"); !strings.Contains(text, fmt.Sprintf(" mi-1 ready pid=%d: ready in ", *last.PID)) {
		t.Errorf("status mi-1 shows other events than its JSON (ready, pid %d):\n%s", *last.PID, text)
	}
	if all := events(); all != nil {
		t.Errorf("status -o json: recent_events %v, want null with no instance named", *all)
	}
}
