package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
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
	// A daemon that stopped mi-1 and lost every line of it.
	ln, err := net.Listen("unix", supervisor.SocketPath(store))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var req supervisor.Request
		if json.NewDecoder(conn).Decode(&req) != nil || req.Op != supervisor.OpStop {
			return
		}
		enc := json.NewEncoder(conn)
		_ = enc.Encode(supervisor.Message{Done: true, PID: os.Getpid(), Lost: 3})
		_ = enc.Encode(supervisor.Message{Settled: supervisor.SettledStays})
	}()
	code, _, errOut := run(t, "down")
	want := "note: up to 3 lines of progress went missing"
	if code != 0 || !strings.Contains(errOut, want) || strings.Contains(errOut, "already stopped") {
		t.Fatalf("down with lines lost: exit %d, stderr:\n%s\nwant 0, %q, and no \"already stopped\"", code, errOut, want)
	}
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
