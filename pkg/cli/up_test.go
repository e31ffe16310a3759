package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/testports"
)

// up says the first warnAtMost findings of a kind one by one and counts
// the rest: 500 instances in the ephemeral range must not make 2000 lines,
// nor hide a finding of a rarer kind behind them.
func TestWarnSomeCountsTheRest(t *testing.T) {
	for _, n := range []int{0, 3, warnAtMost, warnAtMost + 7} {
		streams, _, errOut := testStreams()
		var findings []check.Finding
		for i := range n {
			findings = append(findings, check.Finding{Kind: check.KindEphemeral, Message: fmt.Sprintf("port %d is inside the ephemeral range", 32768+i)})
		}
		findings = append(findings, check.Finding{Kind: check.KindHost, Message: "port 40000 is held by pid 7 (nc)"})
		warnSome(streams, findings, "warnings", "")
		lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
		want := min(n, warnAtMost) + 1
		if n > warnAtMost {
			want++
			if more := lines[warnAtMost]; more != "warning: 7 more ephemeral warnings; mictl check-conflicts lists them all" {
				t.Errorf("%d findings: the count says %q", n, more)
			}
		}
		if len(lines) != want || lines[len(lines)-1] != "warning: port 40000 is held by pid 7 (nc)" {
			t.Errorf("%d findings: %d lines, want %d ending with the host finding:\n%s", n, len(lines), want, errOut)
		}
	}
}

// An up whose start call was interrupted says so, whether or not its own
// context is cancelled yet (the call's handler may see the Ctrl-C first):
// it said "not every instance is ready:" around the call's interruption,
// about once in 20. Other failures are listed as the call gave them.
func TestStartFailureTellsAnInterruptByItsExitCode(t *testing.T) {
	for _, c := range []struct {
		callErr error
		want    string
		code    int
	}{
		{nil, "", exitcode.OK},
		{exitcode.With(exitcode.Interrupted, errors.New("interrupted while the mictl daemon starts the instances: it goes on (mictl status shows where it stands)")),
			"interrupted before every instance was ready: the mictl daemon goes on starting them (mictl status shows them, mictl down stops them)", exitcode.Interrupted},
		{exitcode.With(exitcode.Runtime, errors.New("mi-1: not ready within 30s")), "not every instance is ready:\n  mi-1: not ready within 30s", exitcode.Runtime},
	} {
		err := startFailure(c.callErr, nil)
		if got := fmt.Sprint(err); (err == nil) != (c.want == "") || err != nil && got != c.want || exitcode.Of(err) != c.code {
			t.Errorf("startFailure(%v) = %v (exit %d), want %q, exit %d", c.callErr, err, exitcode.Of(err), c.want, c.code)
		}
	}
}

// up plans once, before the state lock, and takes that plan under the
// lock only while the state file records what it was made from: a file
// that does not exist yet (read as none) and one without instances are
// the same, and an instance recorded or changed meanwhile (a concurrent
// up's, a daemon's start) is not.
func TestSameStateTellsWhenTheEarlyPlanHolds(t *testing.T) {
	none := &state.File{Version: state.SchemaVersion}
	empty := &state.File{Version: state.SchemaVersion, Instances: []state.Instance{}}
	starting := &state.File{Version: state.SchemaVersion, Instances: []state.Instance{{Name: "mi-1", Offset: 10, State: state.StateStarting}}}
	ready := &state.File{Version: state.SchemaVersion, Instances: []state.Instance{{Name: "mi-1", Offset: 10, State: state.StateReady, PGID: 4242}}}
	for _, c := range []struct {
		name string
		a, b *state.File
		want bool
	}{
		{"no file, then one without instances", none, empty, true},
		{"unchanged", ready, ready, true},
		{"an instance recorded meanwhile", empty, starting, false},
		{"a start recorded meanwhile", starting, ready, false},
		{"no early plan", nil, empty, false},
	} {
		if got := sameState(c.a, c.b); got != c.want {
			t.Errorf("%s: sameState = %v, want %v", c.name, got, c.want)
		}
	}
}

// The note that a new daemon took the instances over is said only when a
// daemon recorded beside running servers had ended: a status while a
// first up still starts its daemon (instances wanted, none recorded, no
// server yet) said that "no mictl daemon was running" of up's own.
func TestDaemonReplacedOnlyForOneThatEnded(t *testing.T) {
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ended := exec.Command("true")
	if err := ended.Start(); err != nil {
		t.Fatal(err)
	}
	gone, err := proc.Identify(ended.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := ended.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := store.Save(&state.File{Daemon: &state.Daemon{Identity: self}}); err != nil {
		t.Fatal(err)
	}
	serving := state.Instance{Name: "mi-1", State: state.StateReady, Server: proc.Identity{PID: 4242}}
	starting := state.Instance{Name: "mi-1", State: state.StateStarting}
	for _, tc := range []struct {
		name   string
		before *state.File
		want   string
	}{
		{"a first up starting its daemon", &state.File{Instances: []state.Instance{starting}}, ""},
		{"no daemon recorded beside a server", &state.File{Instances: []state.Instance{serving}}, ""},
		{"a recorded daemon that ended before any server ran", &state.File{Daemon: &state.Daemon{Identity: gone}, Instances: []state.Instance{starting}}, ""},
		{"the daemon alive", &state.File{Daemon: &state.Daemon{Identity: self}, Instances: []state.Instance{serving}}, ""},
		{"a daemon that ended beside a server", &state.File{Daemon: &state.Daemon{Identity: gone}, Instances: []state.Instance{serving}},
			fmt.Sprintf("note: the mictl daemon (pid %d) had ended (killed, or crashed), leaving the instances unsupervised; a new one (pid %d) took them over", gone.PID, self.PID)},
	} {
		if got := daemonReplaced(store, tc.before); !strings.HasPrefix(got, tc.want) || (tc.want == "") != (got == "") {
			t.Errorf("%s: %q; want %q", tc.name, got, tc.want)
		}
	}
}

// An up refused for conflicts under -o json names them on stderr too,
// above the refusal that says to fix "the conflicts above": the JSON on
// stdout went to a parser, and the log of stderr said only that.
func TestRefusedUpNamesTheConflictsAboveItsRefusal(t *testing.T) {
	inTempDir(t)
	a, b := clashingOffsets(t)
	code, out, errOut := run(t, "up", "--instances", "2", "--offsets", fmt.Sprintf("%d,%d", a, b), "-o", "json")
	var report struct {
		Conflicts []struct {
			Message string `json:"message"`
		} `json:"conflicts"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil || code != exitcode.Conflicts || len(report.Conflicts) == 0 {
		t.Fatalf("exit %d, want 1 with check-conflicts' JSON (%v):\n%s\nstderr:\n%s", code, err, out, errOut)
	}
	refusal := strings.Index(errOut, "mictl: refusing to start: fix the conflicts above")
	for _, c := range report.Conflicts {
		if at := strings.Index(errOut, "conflict: "+c.Message+"\n"); at < 0 || at > refusal {
			t.Fatalf("stderr does not name %q above the refusal:\n%s", c.Message, errOut)
		}
	}
}

// An up with mi-2 wanted while the daemon stops it (a reload's stop
// that removes it) marks mi-2 to start again once stopped, its state the
// stop's: status says stopping of a server that stops, and the stop
// records its end over it, while a reload's forget of mi-2 keeps a record
// so marked (pkg/supervisor's TestAReloadKeepsWhatAnUpDuringItsStopStartsAgain).
// Unmarked, the up recorded nothing new of mi-2, the forget dropped it,
// and the up's start found no mi-2. An up whose start no daemon takes
// takes the mark off again, or the daemon stayed for it. A stop no
// daemon carries on (a killed down's) is not marked: the next daemon
// took it for a restart's, and stopped by the policy's timeout, not the
// down's.
func TestUpDuringAStopMarksTheInstanceToStartAgain(t *testing.T) {
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		daemon *state.Daemon
		marked bool
		// taken: the daemon took the mark (its MarkedBy cleared, see
		// supervisor's takeMarks) before the up withdrew.
		taken bool
	}{
		{"the daemon stops it", &state.Daemon{Identity: self}, true, false},
		{"the daemon took the up's mark", &state.Daemon{Identity: self}, true, true},
		{"no daemon carries the stop on", nil, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := inTempDir(t)
			off := testports.Base(t, testports.Other, 2)
			toml := fmt.Sprintf("instances = 2\nhost = \"127.0.0.1\"\nbase_offset = %d\n", off)
			if err := os.WriteFile("mictl.toml", []byte(toml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(config.Sources{Path: "mictl.toml"})
			if err != nil {
				t.Fatal(err)
			}
			// This test's process stands for both servers, and the daemon.
			store, f := recordRunning(t, filepath.Join(dir, "instances"), off, c.daemon)
			stopping := f.Instances[0]
			stopping.Name, stopping.Offset, stopping.Home = "mi-2", off+1, filepath.Join(dir, "instances", "mi-2")
			stopping.State, stopping.StopBy = state.StateStopping, time.Now().Add(time.Minute).Round(0)
			f.Instances, f.Configured = append(f.Instances, stopping), []string{"mi-1", "mi-2"}
			if err := store.Save(f); err != nil {
				t.Fatal(err)
			}
			streams, _, errOut := testStreams()
			prep, err := prepareUp(streams, cfg, store, &upOptions{}, earlyPlan{})
			if err != nil {
				t.Fatalf("up: %v\n%s", err, errOut)
			}
			mi2 := func(after string, marked bool, by proc.Identity) {
				t.Helper()
				got, err := store.Load()
				if err != nil {
					t.Fatal(err)
				}
				if rec, _ := got.Instance("mi-2"); rec.State != state.StateStopping || rec.Restarting != marked || rec.MarkedBy != by || rec.Server != stopping.Server || !rec.StopBy.Equal(stopping.StopBy) {
					t.Errorf("mi-2 recorded %s, server %v, SIGKILL by %v, marked to start again: %v by %v, %s; want it as the stop recorded it (stopping, %v, %v), marked: %v by %v",
						rec.State, rec.Server, rec.StopBy, rec.Restarting, rec.MarkedBy, after, stopping.Server, stopping.StopBy, marked, by)
				}
				if rec, _ := got.Instance("mi-1"); rec.Restarting {
					t.Errorf("mi-1, running, marked to start again %s", after)
				}
			}
			// The mark names the up (this test's process), for it to
			// count only while the up runs.
			var by proc.Identity
			if c.marked {
				by = self
			}
			mi2("by the up", c.marked, by)
			if c.taken {
				if err := store.Update(context.Background(), func(f *state.File) error {
					inst, _ := f.Instance("mi-2")
					inst.MarkedBy = proc.Identity{}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			if err := withdraw(streams, store, prep); err != nil {
				t.Fatal(err)
			}
			if c.taken {
				// The daemon's start to make: an up ended now (a
				// Ctrl-C) leaves it to the daemon.
				mi2("once the daemon took the mark and the up withdrew", true, proc.Identity{})
				return
			}
			mi2("once the up's start reached no daemon", false, proc.Identity{})
		})
	}
}

// An up planned from the current configuration forgets the last reload's
// failure whole: it cleared the failure's message but left it marked as
// one that failed once begun (state.File.ReloadBegun), for the next
// failure to be read with.
func TestUpForgetsTheLastReloadsFailureWhole(t *testing.T) {
	dir := inTempDir(t)
	off := testports.Base(t, testports.Other, 1)
	if err := os.WriteFile("mictl.toml", fmt.Appendf(nil, "instances = 1\nhost = \"127.0.0.1\"\nbase_offset = %d\n", off), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{Path: "mictl.toml"})
	if err != nil {
		t.Fatal(err)
	}
	store, f := recordRunning(t, filepath.Join(dir, "instances"), off, nil)
	f.ReloadError, f.ReloadBegun = "mi-1 failed to start", true
	if err := store.Save(f); err != nil {
		t.Fatal(err)
	}
	streams, _, errOut := testStreams()
	if _, err := prepareUp(streams, cfg, store, &upOptions{}, earlyPlan{}); err != nil {
		t.Fatalf("up: %v\n%s", err, errOut)
	}
	got, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.ReloadError != "" || got.ReloadBegun {
		t.Fatalf("after up: reload_error %q, reload_begun %v; want both forgotten", got.ReloadError, got.ReloadBegun)
	}
}
