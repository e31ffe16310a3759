package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// The report after a request names the daemon that answered only while
// the state file records that very daemon alive: one that has left since,
// or was followed by another a concurrent up started, is not shown as
// answering.
func TestReportAfterNamesOnlyTheDaemonThatAnswered(t *testing.T) {
	store, err := state.Open(filepath.Join(t.TempDir(), ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	self, err := proc.Identify(os.Getpid()) // a live process to stand for a daemon
	if err != nil {
		t.Fatal(err)
	}
	// An instance it runs: a daemon the file wants nothing of leaves,
	// which the report waits for.
	running := []state.Instance{{Name: "mi-1", State: state.StateReady}}
	if err := store.Save(&state.File{Daemon: &state.Daemon{Identity: self}, Instances: running}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what      string
		answered  int
		wantNamed bool
	}{
		{"the recorded daemon answered", self.PID, true},
		{"another daemon answered, and the file records a later one", self.PID + 1, false},
	} {
		r, err := reportAfter(store, supervisor.Reply{PID: tc.answered}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if named := r.Daemon != nil && r.Daemon.PID == tc.answered && r.Daemon.Answering; named != tc.wantNamed {
			t.Errorf("%s: daemon %+v, want named: %v", tc.what, r.Daemon, tc.wantNamed)
		}
	}
	if err := store.Save(&state.File{}); err != nil {
		t.Fatal(err)
	}
	if r, err := reportAfter(store, supervisor.Reply{PID: self.PID}, nil); err != nil || r.Daemon != nil {
		t.Errorf("after the daemon left: daemon %+v, %v; want none", r.Daemon, err)
	}
	// A start's reply carries the daemon's memory (up's report): a
	// daemon that left since (a down meanwhile) is not shown answering
	// either, as mictl status right after would not show it.
	if r, err := reportAfter(store, supervisor.Reply{PID: self.PID, State: &state.File{}}, nil); err != nil || r.Daemon != nil {
		t.Errorf("a reply with the daemon's state, after the daemon left: daemon %+v, %v; want none", r.Daemon, err)
	}
	// One whose writes fail stays, its record maybe not in the file.
	failing := supervisor.Reply{PID: self.PID, State: &state.File{}, SaveFailure: &supervisor.SaveFailure{Error: "no space left on device"}}
	if r, err := reportAfter(store, failing, nil); err != nil || r.Daemon == nil || !r.Daemon.Answering {
		t.Errorf("a daemon whose writes fail, alive: daemon %+v, %v; want it answering", r.Daemon, err)
	}
}

// status exits 3 for a fault it shows (failed, crashed, backoff,
// degraded), naming those instances, and 0 for what mictl or the user is
// doing (starting, stopping, stopped) or a fault it does not show.
func TestStatusExitsThreeForAFaultItShows(t *testing.T) {
	file := &state.File{}
	var rows []statusRow
	for _, r := range [][2]string{{"mi-1", "ready"}, {"mi-2", "backoff"}, {"mi-3", "stopped"}, {"mi-4", "starting"}, {"mi-5", "failed"}} {
		rows = append(rows, statusRow{Name: r[0], State: r[1]})
		file.Instances = append(file.Instances, state.Instance{Name: r[0], State: r[1]})
	}
	// Degraded by a CApp MI failed: MI's reason, and what brings the CApp
	// back, are mictl apps'.
	rows = append(rows, statusRow{Name: "mi-6", State: "degraded", Health: ptr("faulty CApps: orders_1.0.0.car")})
	file.Instances = append(file.Instances, state.Instance{Name: "mi-6", State: "degraded"})
	report := statusReport{Instances: rows, file: file}
	cases := []struct {
		names []string
		want  string // "" for exit 0
	}{
		{nil, "not healthy: mi-2 backoff, mi-5 failed, mi-6 degraded (`mictl status mi-2` and `mictl logs mi-2` say why, `mictl apps mi-6` which CApps MI failed; mictl up starts mi-5 again)"},
		{[]string{"mi-5"}, "not healthy: mi-5 failed (`mictl logs mi-5` says more; mictl up starts mi-5 again)"}, // the status named shows why already
		{[]string{"mi-6"}, "not healthy: mi-6 degraded (`mictl apps mi-6` says why)"},
		{[]string{"mi-6", "mi-5"}, "not healthy: mi-5 failed, mi-6 degraded (`mictl logs mi-5` says more, `mictl apps mi-6` which CApps MI failed; mictl up starts mi-5 again)"},
		{[]string{"mi-1", "mi-3", "mi-4"}, ""},
	}
	configured := []string{"mi-1", "mi-2", "mi-3", "mi-4", "mi-5", "mi-6"}
	for _, c := range cases {
		err := unhealthy(report, c.names, configured)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v, want exit 0", c.names, err)
		case c.want != "" && (err == nil || err.Error() != c.want || exitcode.Of(err) != exitcode.Runtime):
			t.Errorf("%v: %v (exit %d), want %q (exit 3)", c.names, err, exitcode.Of(err), c.want)
		}
	}
	// Two degraded by faulty CApps: each is named (status named mi-1 only).
	two := statusReport{file: &state.File{}}
	for _, name := range []string{"mi-1", "mi-2"} {
		two.Instances = append(two.Instances, statusRow{Name: name, State: "degraded", Health: ptr("faulty CApps: orders_1.0.0.car")})
	}
	if err, want := unhealthy(two, nil, nil), "not healthy: mi-1 degraded, mi-2 degraded (`mictl apps mi-1 mi-2` says why)"; err == nil || err.Error() != want {
		t.Errorf("two degraded: %v, want %q", err, want)
	}
	for _, st := range []string{"crashed", "degraded"} {
		one := statusReport{Instances: []statusRow{{Name: "mi-1", State: st}}, file: &state.File{Instances: []state.Instance{{Name: "mi-1", State: st}}}}
		if unhealthy(one, nil, nil) == nil {
			t.Errorf("%s: exit 0, want 3", st)
		}
	}
}

// A failed instance is one the daemon gave up on and restart refuses:
// status said only that mictl logs says why. It names the up that starts
// each again: a plain one for those mictl.toml names, the last up's for
// those only its flags planned, and none yet for one neither names.
func TestStatusSaysWhatStartsAFailedInstanceAgain(t *testing.T) {
	file := &state.File{UpArgs: []string{"--instances", "3"}, Configured: []string{"mi-1", "mi-2", "mi-3"}}
	var rows []statusRow
	for _, name := range []string{"mi-1", "mi-2", "mi-3", "mi-9"} {
		rows = append(rows, statusRow{Name: name, State: "failed"})
		file.Instances = append(file.Instances, state.Instance{Name: name, State: "failed"})
	}
	err := unhealthy(statusReport{Instances: rows, file: file}, nil, []string{"mi-1", "mi-2"})
	want := "not healthy: mi-1 failed, mi-2 failed, mi-3 failed, mi-9 failed (`mictl status mi-1` and `mictl logs mi-1` say why" +
		"; mictl up starts mi-1, mi-2 again; mictl up --instances 3 starts mi-3 again; mictl up, once mictl.toml or its flags name mi-9, starts mi-9 again)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// A record naming a server that is gone: read from the state file, the
// table says crashed and status exits 3 (nothing watches it). From an
// answering daemon's memory, its state stands in the table as in the exit
// status: one starting a crashed instance again still names the old
// server (the table said crashed, and status exited 0), and a server its
// reload stopped right after it answered is no crash (status exited 3).
func TestStatusShowsAnAnsweringDaemonsStates(t *testing.T) {
	gone := proc.Identity{PID: os.Getpid(), StartTime: 1} // this pid, another process
	for _, c := range []struct{ recorded, fromDaemon string }{{"starting", "starting"}, {"ready", "ready"}, {"degraded", "degraded"}} {
		f := &state.File{Instances: []state.Instance{{Name: "mi-1", State: c.recorded, Server: gone}}}
		fromFile := newStatusReport(f, nil, nil, nil)
		if st := fromFile.Instances[0].State; st != "crashed" || unhealthy(fromFile, nil, nil) == nil {
			t.Errorf("%s, from the file: %s, exit 0; want crashed, exit 3", c.recorded, st)
		}
		fromDaemon := newStatusReport(f, &daemonInfo{PID: 1, Answering: true}, nil, nil)
		st := fromDaemon.Instances[0].State
		if faulted := unhealthy(fromDaemon, nil, nil) != nil; st != c.fromDaemon || faulted != state.Faulted(c.fromDaemon) {
			t.Errorf("%s, from the daemon: %s (exit 3: %v); want %s", c.recorded, st, faulted, c.fromDaemon)
		}
	}
}

// Read from the state file, a server gone while its start script runs on
// is MI restarting itself (exit 121: the script starts java again), as
// the daemon records it: starting, and status exits 0. It read crashed,
// exit 3, for the moment of every such restart.
func TestStatusReadsAServerGoneWhileItsScriptRunsAsStarting(t *testing.T) {
	gone := proc.Identity{PID: os.Getpid(), StartTime: 1} // this pid, another process
	script, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		script proc.Identity
		want   string
	}{{script, "starting"}, {gone, "crashed"}} {
		f := &state.File{Instances: []state.Instance{{Name: "mi-1", State: "ready", Server: gone, Script: c.script}}}
		r := newStatusReport(f, nil, nil, nil)
		row := r.Instances[0]
		if row.State != c.want || (unhealthy(r, nil, nil) != nil) != state.Faulted(c.want) || row.PID != nil {
			t.Errorf("script alive %v: %s (exit 3: %v, pid %v); want %s", c.script.Alive(), row.State, unhealthy(r, nil, nil) != nil, row.PID, c.want)
		}
	}
}

// Every row is of one moment: a state that says a server serves (ready,
// degraded) has its pid, a stopped one has none, whether the record is
// the file's or an answering daemon's and whether its server still runs.
// An answering daemon's ready record of a server gone since its answer
// (mictl down ended it) showed "ready", no pid, health ok.
func TestStatusRowsAreOfOneMoment(t *testing.T) {
	self, err := proc.Identify(os.Getpid()) // a server that runs
	if err != nil {
		t.Fatal(err)
	}
	gone := proc.Identity{PID: os.Getpid(), StartTime: 1} // this pid, another process
	for _, server := range []proc.Identity{self, gone} {
		for _, recorded := range []string{"starting", "ready", "degraded", "stopping", "stopped", "failed"} {
			f := &state.File{Instances: []state.Instance{{Name: "mi-1", State: recorded, Server: server}}}
			for _, d := range []*daemonInfo{nil, {PID: 1, Answering: true}} {
				row := newStatusReport(f, d, nil, nil).Instances[0]
				what := fmt.Sprintf("%s record, server alive %v, from the daemon %v", recorded, server.Alive(), d != nil)
				switch {
				case (row.State == "ready" || row.State == "degraded") && row.PID == nil:
					t.Errorf("%s: %s with no pid, health %q", what, row.State, deref(row.Health))
				case row.State == "stopped" && row.PID != nil:
					t.Errorf("%s: stopped with pid %d", what, *row.PID)
				}
			}
		}
	}
}

// After a restart or a reload that mictl down interrupted, the instances
// the daemon's reply records running are the down's to end: stopping,
// with the pid of a server still running. The reply may be of the moment
// before the down recorded them: the restart's table said "ready",
// health ok, of instances whose servers the down was ending.
func TestReportAfterADownInterruptedShowsItsStop(t *testing.T) {
	self, err := proc.Identify(os.Getpid()) // a server that runs
	if err != nil {
		t.Fatal(err)
	}
	gone := proc.Identity{PID: os.Getpid(), StartTime: 1} // this pid, another process
	interrupted := fmt.Errorf("rolling restart: %w", supervisor.ErrInterrupted)
	store, err := state.Open(filepath.Join(t.TempDir(), ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, server := range []proc.Identity{self, gone} {
		for _, recorded := range []string{"starting", "ready", "degraded", "backoff", "stopping", "stopped", "failed"} {
			f := &state.File{Instances: []state.Instance{{Name: "mi-1", State: recorded, Server: server}}}
			r, err := reportAfter(store, supervisor.Reply{PID: 1, State: f}, interrupted)
			if err != nil {
				t.Fatal(err)
			}
			want := recorded
			if state.Wanted(recorded) {
				want = "stopping"
			}
			row := r.Instances[0]
			if row.State != want || row.Health != nil || (row.PID != nil) != (server.Alive() && want != "stopped") {
				t.Errorf("%s record, server alive %v: %s, pid shown %v, health %q; want %s", recorded, server.Alive(), row.State, row.PID != nil, deref(row.Health), want)
			}
			if f.Instances[0].State != recorded {
				t.Errorf("%s record: the reply's record was changed to %s", recorded, f.Instances[0].State)
			}
		}
	}
}

// A home down --purge cannot delete is named with what to do, not as
// os.RemoveAll's "unlinkat PATH: ...". Root deletes whatever a mode
// forbids: an immutable file (chattr +i) stands in for another user's.
func TestPurgeSaysWhatItCouldNotDelete(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "mi-1")
	file := filepath.Join(home, "conf", "log4j2.properties")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chattr", "+i", file).CombinedOutput(); err != nil {
		t.Skipf("no immutable files here (chattr +i: %v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", file).Run() })
	store, err := state.Open(filepath.Join(dir, ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(&state.File{Instances: []state.Instance{{Name: "mi-1", Home: home, State: state.StateStopped}}}); err != nil {
		t.Fatal(err)
	}
	_, _, err = purge(context.Background(), store, []string{"mi-1"})
	want := fmt.Sprintf("purge mi-1: cannot delete %s: operation not permitted; make it deletable (or delete %s yourself), then mictl down --purge mi-1 again", file, home)
	if err == nil || err.Error() != want {
		t.Errorf("purge: %v\nwant %s", err, want)
	}
}

// Uptimes read as top shows them (3m05s), not as Go prints a duration
// (3m5s, 26h0m0s).
func TestStatusUptimeAsTopShowsIt(t *testing.T) {
	streams, out, _ := testStreams()
	up := func(s float64) *float64 { return &s }
	rows := []statusRow{{Name: "mi-1", State: "ready", UptimeSeconds: up(185)}, {Name: "mi-2", State: "ready", UptimeSeconds: up(26 * 3600)}}
	if err := printStatusTable(streams, rows, noInstancesHint); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), " 3m05s ") || !strings.Contains(out.String(), " 1d02h ") {
		t.Errorf("uptimes:\n%s\nwant 3m05s and 1d02h", out)
	}
}

// status NAME shows an instance's recent events as they were said: a
// failed start with the server's last output under it, and the events
// after a line longer than a scanner's buffer.
func TestStatusShowsAFailuresOutputInItsEvents(t *testing.T) {
	store, err := state.Open(filepath.Join(t.TempDir(), ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	events := strings.Join([]string{
		`2026-12-03T10:00:00.000Z mi-1 failed: start script exited; last output:\n    [ERROR] WSO2 MI is supported only between JDK 11 and JDK 21`,
		"2026-12-03T10:00:01.000Z mi-1 degraded: " + strings.Repeat("x", 128<<10),
		"2026-12-03T10:00:02.000Z mi-1 ready pid=4",
	}, "\n") + "\n"
	if err := os.WriteFile(supervisor.EventsLog(store), []byte(events), 0o600); err != nil {
		t.Fatal(err)
	}
	streams, out, _ := testStreams()
	r := statusReport{Instances: []statusRow{{Name: "mi-1", State: "ready"}}}
	if err := printStatusReport(streams, r, []string{"mi-1"}, formatTable, store); err != nil {
		t.Fatal(err)
	}
	want := "recent events:\n" +
		"  2026-12-03T10:00:00.000Z mi-1 failed: start script exited; last output:\n" +
		"      [ERROR] WSO2 MI is supported only between JDK 11 and JDK 21\n" +
		"  2026-12-03T10:00:01.000Z mi-1 degraded: xxx"
	if !strings.Contains(out.String(), want) || !strings.HasSuffix(out.String(), "  2026-12-03T10:00:02.000Z mi-1 ready pid=4\n") {
		t.Fatalf("status mi-1 printed:\n%.600s\nwant its events, the failure's output under it, and the last one", out)
	}

	// -o json gives each event as an object, the same event.
	streams, out, _ = testStreams()
	if err := printStatusReport(streams, r, []string{"mi-1"}, formatJSON, store); err != nil {
		t.Fatal(err)
	}
	jsonschematest.Validate(t, "status", out.Bytes())
	var got struct {
		Instances []struct {
			RecentEvents []map[string]any `json:"recent_events"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got.Instances) != 1 || len(got.Instances[0].RecentEvents) != 3 {
		t.Fatalf("status mi-1 -o json printed %.600s (%v), want its 3 events", out, err)
	}
	first, last := got.Instances[0].RecentEvents[0], got.Instances[0].RecentEvents[2]
	if first["time"] != "2026-12-03T10:00:00Z" || first["state"] != "failed" || first["pid"] != nil ||
		first["message"] != "start script exited; last output:\n    [ERROR] WSO2 MI is supported only between JDK 11 and JDK 21" {
		t.Errorf("the failure in -o json: %v", first)
	}
	if last["state"] != "ready" || last["pid"] != float64(4) || last["message"] != nil {
		t.Errorf("the last event in -o json: %v, want ready, pid 4, message null", last)
	}
}

// A state file that exists but cannot be read is no missing one: the
// planning commands say so, as status does, rather than plan as though
// nothing ran (diff said "nothing runs", ports table moved the instances
// off their own ports). A link to itself stands in for another user's
// file, which root, running the tests, could read.
func TestPlanningCommandsSayTheStateCannotBeRead(t *testing.T) {
	dir := inTempDir(t)
	stateDir := filepath.Join(dir, "instances", ".mictl")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("state.json", filepath.Join(stateDir, "state.json")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"diff"}, {"ports", "table"}, {"check-conflicts"}, {"status"}} {
		code, out, errOut := run(t, args...)
		if code != exitcode.Runtime || !strings.Contains(errOut, "cannot read the state file instances/.mictl/state.json") || strings.Contains(errOut, "rebuilds it") {
			t.Errorf("mictl %s: exit %d, want 3 saying the state file cannot be read (and not that up rebuilds it):\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
		}
	}
}

// A state file a newer mictl wrote is refused by the planning commands and
// up alike, naming the mictl to use. They said "mictl up rebuilds it",
// which up refuses to do (it must not forget what the newer mictl runs).
func TestPlanningCommandsReferANewerStateFileToItsMictl(t *testing.T) {
	dir := inTempDir(t)
	stateDir := filepath.Join(dir, "instances", ".mictl")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	newer := fmt.Sprintf(`{"version": %d, "instances": []}`, state.SchemaVersion+1)
	if err := os.WriteFile(filepath.Join(stateDir, "state.json"), []byte(newer), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"diff"}, {"ports", "table"}, {"check-conflicts"}, {"up", "--base-offset", "21950"}} {
		code, out, errOut := run(t, args...)
		if code != exitcode.Runtime || !strings.Contains(errOut, "written by a newer mictl") || strings.Contains(errOut, "rebuilds it") {
			t.Errorf("mictl %s: exit %d, want 3 saying a newer mictl wrote the state file (and not that up rebuilds it):\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
		}
	}
}

// A refused reload is said without taking it for an edit's: a daemon that
// took over from a dead one applies the configuration too, and status
// said "the configuration as last edited" of a file nobody had touched.
func TestStatusFooterSaysARefusedReloadAndWhatAppliesIt(t *testing.T) {
	refusal := "the new configuration has conflicts: port 8290 is held by pid 7 (python3)"
	var b strings.Builder
	printStatusFooter(&b, statusReport{ReloadError: &refusal})
	got := b.String()
	if !strings.Contains(got, "  "+refusal) || !strings.Contains(got, "mictl reload applies it") || strings.Contains(got, "edited") {
		t.Fatalf("status footer for a refused reload:\n%s\nwant the refusal, indented, and mictl reload, and no edit assumed", got)
	}
}

// status run from another directory than the deployment's said "no
// instances; start them with: mictl up" and exited 0: a check run from
// cron's working directory read that as all well. The views that find
// nothing say where they looked and, with no mictl.toml there either,
// how to name the deployment's.
func TestNoInstancesSaysWhereItLooked(t *testing.T) {
	dir := inTempDir(t)
	elsewhere := fmt.Sprintf("no instances under ./instances, and no mictl.toml in %s: to see a deployment made elsewhere, run mictl in its mictl.toml's directory or name that file with --config", dir)
	for _, args := range [][]string{{"status"}, {"apps"}, {"top", "--once", "--interval", "100ms"}} {
		if code, _, errOut := run(t, args...); code != exitcode.OK || !strings.Contains(errOut, elsewhere) {
			t.Errorf("mictl %s with no mictl.toml: exit %d, said %q; want 0 and %q", strings.Join(args, " "), code, errOut, elsewhere)
		}
	}
	if err := os.WriteFile("mictl.toml", []byte("instances = 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	here := "no instances under ./instances; start them with: mictl up"
	if code, _, errOut := run(t, "status"); code != exitcode.OK || !strings.Contains(errOut, here) {
		t.Errorf("mictl status beside mictl.toml: exit %d, said %q; want 0 and %q", code, errOut, here)
	}
	// Named from elsewhere, the up it advises is that file's: a plain
	// mictl up there starts another deployment.
	if err := os.MkdirAll("ops dir", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename("mictl.toml", filepath.Join("ops dir", "mictl.toml")); err != nil {
		t.Fatal(err)
	}
	named := "no instances under ./ops dir/instances; start them with: mictl --config 'ops dir/mictl.toml' up"
	if code, _, errOut := run(t, "--config", "ops dir/mictl.toml", "status"); code != exitcode.OK || !strings.Contains(errOut, named) {
		t.Errorf("mictl --config 'ops dir/mictl.toml' status: exit %d, said %q; want 0 and %q", code, errOut, named)
	}
	// So is every up advised where nothing runs.
	for _, args := range [][]string{{"reload"}, {"restart", "--all"}} {
		want := "start instances with mictl --config 'ops dir/mictl.toml' up"
		if code, _, errOut := run(t, append([]string{"--config", "ops dir/mictl.toml"}, args...)...); code != exitcode.Usage || !strings.Contains(errOut, want) {
			t.Errorf("mictl --config 'ops dir/mictl.toml' %s with nothing running: exit %d, said %q; want 2 and %q", strings.Join(args, " "), code, errOut, want)
		}
	}
	flagged := "start them with: mictl up --instances-dir homes"
	if code, _, errOut := run(t, "--instances-dir", "homes", "status"); code != exitcode.OK || !strings.Contains(errOut, flagged) {
		t.Errorf("mictl --instances-dir homes status: exit %d, said %q; want 0 and %q", code, errOut, flagged)
	}
}

// The note below the status table names the distributions of the
// running instances only when they are more than one: a stopped
// instance's home is brought up to date by its next start, and a home
// that does not say is left out. Two with the same files (mi_home moved
// to a copy) are one: no reload restarts an instance from one onto the
// other, and the note pointed at a mictl diff showing nothing.
func TestDistributionsNoteNamesARunningMixedFleet(t *testing.T) {
	pid := 1
	row := func(name, dist string, running bool) statusRow {
		r := statusRow{Name: name, State: "ready"}
		if dist != "" {
			r.Distribution = &dist
		}
		if running {
			r.PID = &pid
		}
		return r
	}
	synced := func(r statusRow, files string) statusRow {
		r.distFiles = files
		return r
	}
	for _, tc := range []struct {
		what string
		rows []statusRow
		want string
	}{
		{"one distribution", []statusRow{row("mi-1", "/opt/mi-4.4.0", true), row("mi-2", "/opt/mi-4.4.0", true)}, ""},
		{"the other one's stopped", []statusRow{row("mi-1", "/opt/mi-4.5.0", true), row("mi-2", "/opt/mi-4.4.0", false)}, ""},
		{"a home that does not say", []statusRow{row("mi-1", "/opt/mi-4.5.0", true), row("mi-2", "", true)}, ""},
		{"two", []statusRow{row("mi-1", "/opt/mi-4.4.0", true), row("mi-2", "/opt/mi-4.5.0", true), row("mi-3", "/opt/mi-4.4.0", true)},
			"the instances run from 2 distributions: mi-1, mi-3 from /opt/mi-4.4.0; mi-2 from /opt/mi-4.5.0; mictl diff shows which a reload restarts onto the configured one"},
		{"the same files in two places", []statusRow{synced(row("mi-1", "/opt/mi-4.4.0", true), "f1"), synced(row("mi-2", "/opt/mi-4.4.0-copy", true), "f1")}, ""},
		{"other files", []statusRow{synced(row("mi-1", "/opt/mi-4.4.0", true), "f1"), synced(row("mi-2", "/opt/mi-4.5.0", true), "f2")},
			"the instances run from 2 distributions: mi-1 from /opt/mi-4.4.0; mi-2 from /opt/mi-4.5.0; mictl diff shows which a reload restarts onto the configured one"},
		{"one home of an older mictl", []statusRow{synced(row("mi-1", "/opt/mi-4.4.0", true), "f1"), row("mi-2", "/opt/mi-4.4.0-copy", true)},
			"the instances run from 2 distributions: mi-1 from /opt/mi-4.4.0; mi-2 from /opt/mi-4.4.0-copy; mictl diff shows which a reload restarts onto the configured one"},
	} {
		if got := distributionsNote(tc.rows); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.what, got, tc.want)
		}
	}
}

// status -o json says whether the reload of reload_error failed once it
// had begun (what it did before stands) or was refused (what runs is the
// configuration before it), as the table's footer does: reload_begun,
// null with no reload_error. The JSON had reload_error alone, and its
// reader could not tell the two apart. reload_refused says whether the
// last reload was refused, beside a begun failure that stands or alone:
// with reload_begun alone, a refusal beside such a failure read as the
// failure.
func TestStatusJSONSaysWhetherTheFailedReloadHadBegun(t *testing.T) {
	for _, c := range []struct {
		name           string
		file           state.File
		begun, refused string
	}{
		{"a failure once begun", state.File{ReloadError: "restart mi-1: mi-1 failed", ReloadBegun: true}, "true", "false"},
		{"a refusal", state.File{ReloadError: "mictl.toml:3:1: bad"}, "false", "true"},
		{"a refusal beside a failure that stands", state.File{ReloadError: "mictl.toml:3:1: bad; and the failure of a reload before it stands for mi-1: restart mi-1: mi-1 failed",
			ReloadBegun: true, ReloadRefused: true, ReloadLeftFailed: []string{"mi-1"}}, "true", "true"},
		{"none", state.File{}, "null", "null"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, out := statusJSONOf(t, &c.file)
			if b, ok := got["reload_begun"]; !ok || string(b) != c.begun {
				t.Errorf("status -o json: reload_begun %s (present: %v), want %s:\n%s", b, ok, c.begun, out)
			}
			if b, ok := got["reload_refused"]; !ok || string(b) != c.refused {
				t.Errorf("status -o json: reload_refused %s (present: %v), want %s:\n%s", b, ok, c.refused, out)
			}
		})
	}
}

// statusJSONOf is status -o json of f, checked against its schema, by
// key, and as printed.
func statusJSONOf(t *testing.T, f *state.File) (map[string]json.RawMessage, *bytes.Buffer) {
	t.Helper()
	streams, out, _ := testStreams()
	if err := printStatusReport(streams, newStatusReport(f, nil, nil, nil), nil, formatJSON, nil); err != nil {
		t.Fatal(err)
	}
	jsonschematest.Validate(t, "status", out.Bytes())
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	return got, out
}

// The footer of a failed save says what to do for its cause, and the
// generic advice only for a cause with none of its own: "free the space"
// was said of a read-only file system too.
func TestStatusFooterSaysWhatToDoForTheCauseOfAFailedSave(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		cause *string
		want  string
	}{
		{ptr(supervisor.SaveNoSpace), "free space on the file system holding " + dir + ")"},
		{ptr(supervisor.SaveReadOnly), "remount the file system holding " + dir + " read-write)"},
		{ptr(supervisor.SavePermissionDenied), "give the daemon's user write access to " + dir + " (its mode, or that of a directory above it))"},
		{nil, "free the space or fix the file under the state directory " + dir + ")"},
	}
	for _, c := range cases {
		var b strings.Builder
		printStatusFooter(&b, statusReport{SaveFailure: &supervisor.SaveFailure{Error: "save state: failed", Cause: c.cause}, stateDir: dir})
		if got := b.String(); !strings.HasPrefix(got, "state not saved: save state: failed since ") || !strings.Contains(got, "; "+c.want+"\n") {
			t.Errorf("footer for the cause %v:\n%s\nwant it to end with %q", c.cause, got, c.want)
		}
	}
}
