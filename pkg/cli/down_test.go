package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/testports"
)

// A hung daemon that SIGKILL does not end (the kernel holds it in a
// wait) is said with how long down waited and what to do, not as the
// wait's "context deadline exceeded".
func TestDownSaysWhenAKilledDaemonStays(t *testing.T) {
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
	id, err := proc.Identify(sleep.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	saved := waitExit
	waitExit = func(ctx context.Context, _ proc.Identity) error { <-ctx.Done(); return ctx.Err() }
	t.Cleanup(func() { waitExit = saved })
	streams, _, _ := testStreams()
	err = endHungDaemon(streams, &state.File{Daemon: &state.Daemon{Identity: id}}, supervisor.ErrNotAnswering)
	want := fmt.Sprintf("the mictl daemon (pid %d) did not end within 5s of SIGKILL", id.PID)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "run mictl down again once it is gone") || strings.Contains(err.Error(), "context") {
		t.Fatalf("endHungDaemon = %v, want %q and what to do", err, want)
	}
}

// A down whose progress lines went missing on their way (the daemon's
// events came faster than down read them, in a very large down) says so,
// and does not call an instance no line it got was about "already
// stopped": the stop may have ended what ran in its home, in lines lost.
func TestDownWithLinesLostSaysSoNotAlreadyStopped(t *testing.T) {
	store := stoppedInstanceStore(t)
	answerLosing(t, store, 3) // a daemon that stopped mi-1 and lost every line of it
	code, _, errOut := run(t, "down")
	want := "note: up to 3 lines of progress went missing"
	if code != 0 || !strings.Contains(errOut, want) || strings.Contains(errOut, "already stopped") {
		t.Fatalf("down with lines lost: exit %d, stderr:\n%s\nwant 0, %q, and no \"already stopped\"", code, errOut, want)
	}
}

// restart, reload and deploy (whose reload's lines are what it deployed
// and restarted) say that progress lines went missing as up and down do:
// they printed the lines they got as the whole of it.
func TestRestartReloadAndDeploySayLinesLost(t *testing.T) {
	for _, args := range [][]string{{"restart", "mi-1"}, {"reload"}, {"deploy", "build/a_1.0.0.car"}} {
		t.Run(args[0], func(t *testing.T) {
			dir := runningUnderAnswers(t, 3)
			writeCar(t, dir, "build/a_1.0.0.car", capp.Spec{Name: "a"})
			_, _, errOut := run(t, args...)
			if want := "note: up to 3 lines of progress went missing"; !strings.Contains(errOut, want) {
				t.Fatalf("%s with lines lost: stderr:\n%s\nwant %q", strings.Join(args, " "), errOut, want)
			}
		})
	}
}

// runningUnderAnswers moves the test into a directory of its own where
// mictl.toml plans one instance, mi-1, recorded running (this test's
// process stands for its server), under a daemon that answers every
// request at once, lost of its events not passed on (answerLosing), and
// returns the directory.
func runningUnderAnswers(t *testing.T, lost int) string {
	t.Helper()
	dir := inTempDir(t)
	off := testports.Base(t, testports.Other, 1)
	toml := fmt.Sprintf("instances = 1\nhost = \"127.0.0.1\"\nbase_offset = %d\n", off)
	if err := os.WriteFile("mictl.toml", []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	store, _ := recordRunning(t, filepath.Join(dir, "instances"), off, nil)
	answerLosing(t, store, lost)
	return dir
}

// answerLosing stands for the daemon of store until the test ends: it
// answers every request at once, saying that lost of its events did not
// reach the client, and tells a stop's client that it stays.
func answerLosing(t *testing.T, store *state.Store, lost int) {
	t.Helper()
	ln, err := net.Listen("unix", supervisor.SocketPath(store))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-served })
	go func() {
		defer close(served)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			var req supervisor.Request
			if json.NewDecoder(conn).Decode(&req) == nil {
				enc := json.NewEncoder(conn)
				_ = enc.Encode(supervisor.Message{Done: true, PID: os.Getpid(), Lost: lost})
				if req.Op == supervisor.OpStop {
					_ = enc.Encode(supervisor.Message{Settled: supervisor.SettledStays})
				}
			}
			conn.Close()
		}
	}()
}

// stoppedInstanceStore moves the test into a directory of its own where
// the state file records mi-1 stopped, and returns its store.
func stoppedInstanceStore(t *testing.T) *state.Store {
	t.Helper()
	dir := inTempDir(t)
	if err := os.WriteFile("mictl.toml", []byte("host = \"127.0.0.1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(filepath.Join(dir, "instances", ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	mi1 := state.Instance{Name: "mi-1", State: state.StateStopped, Home: filepath.Join(dir, "instances", "mi-1")}
	if err := os.MkdirAll(mi1.Home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := store.Save(&state.File{Instances: []state.Instance{mi1}}); err != nil {
		t.Fatal(err)
	}
	return store
}

// A down of an instance already stopped walks /proc once, after the
// stop, to see that nothing is left in its home, and still says that it
// was already stopped: it walked /proc before the stop too, for that
// note. The stop's own look for processes left in its home says whether
// it found any (in events).
func TestDownOfAStoppedInstanceWalksProcOnce(t *testing.T) {
	stoppedInstanceStore(t)
	walks := 0
	saved := leftovers
	leftovers = func(insts []state.Instance) map[string][]int {
		walks++
		return saved(insts)
	}
	t.Cleanup(func() { leftovers = saved })
	code, _, errOut := run(t, "down")
	if want := "note: mi-1 was already stopped: nothing to stop\n"; code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("down of a stopped mi-1: exit %d, stderr:\n%s\nwant 0 and %q", code, errOut, want)
	}
	if walks != 1 {
		t.Fatalf("down of a stopped mi-1 looked for processes left in its home %d times; want once, after the stop", walks)
	}
}

// A down says which of the instances it stopped a later command (an up
// while it ran) started again, whether the new server had launched when
// it looked (its processes in the home, again) or not yet (recorded
// wanted in the state after the stop): said only of the first, the note
// came and went with the up's timing (TestUpDuringDownStartsOnceStopped
// failed so in a loaded CI run, the table showing mi-1 starting).
func TestDownSaysWhatALaterCommandStartedAgain(t *testing.T) {
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	after := &state.File{Instances: []state.Instance{
		{Name: "mi-1", State: state.StateStarting},
		{Name: "mi-2", State: state.StateStopped},
		{Name: "mi-3", State: state.StateReady},
		{Name: "mi-4", State: state.StateReady}, // not one this down stopped
		{Name: "mi-5", State: state.StateStopped, Restarting: true, MarkedBy: self},
	}}
	for _, c := range []struct {
		name  string
		again []string
		after *state.File
		want  string
	}{
		{"recorded to start, not launched yet", nil, after, "note: mi-1, mi-3, mi-5 stopped, then started again by a later command"},
		{"launched, and recorded", []string{"mi-3"}, after, "note: mi-1, mi-3, mi-5 stopped, then started again by a later command"},
		{"launched, the state not read", []string{"mi-2"}, nil, "note: mi-2 stopped, then started again by a later command"},
		{"none", nil, &state.File{Instances: after.Instances[1:2]}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			streams, _, errOut := testStreams()
			noteStartedAgain(streams, slices.Clone(c.again), c.after, []string{"mi-1", "mi-2", "mi-3", "mi-5"})
			if got := errOut.String(); c.want == "" && got != "" || !strings.HasPrefix(got, c.want) || strings.Count(got, "note:") > 1 {
				t.Errorf("said %q, want one note beginning %q", got, c.want)
			}
		})
	}
}

// down --purge keeps the home and record of an instance a later command
// started again since the stop (an up during the down recorded it
// starting): it deleted the home under the starting server and forgot
// it, while the instance it had stopped goes as before.
func TestPurgeKeepsWhatALaterCommandStartedAgain(t *testing.T) {
	dir := t.TempDir()
	store, err := state.Open(filepath.Join(dir, ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	var insts []state.Instance
	for name, st := range map[string]string{"mi-1": state.StateStarting, "mi-2": state.StateStopped} {
		home := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(home, "conf"), 0o755); err != nil {
			t.Fatal(err)
		}
		insts = append(insts, state.Instance{Name: name, Home: home, State: st})
	}
	if err := store.Save(&state.File{Instances: insts}); err != nil {
		t.Fatal(err)
	}
	purged, kept, err := purge(context.Background(), store, []string{"mi-1", "mi-2"})
	if err != nil || !slices.Equal(purged, []string{"mi-2"}) || !slices.Equal(kept, []string{"mi-1"}) {
		t.Fatalf("purge: deleted %v, kept %v (%v); want mi-2 deleted, mi-1 kept", purged, kept, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mi-1", "conf")); err != nil {
		t.Errorf("mi-1's home, started again, was deleted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mi-2")); !os.IsNotExist(err) {
		t.Errorf("mi-2's home, stopped, is still there (%v)", err)
	}
	f, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Instance("mi-1"); !ok || len(f.Instances) != 1 {
		t.Errorf("records after the purge: %v; want mi-1's alone", f.Instances)
	}
}
