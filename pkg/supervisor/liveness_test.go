package supervisor

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/home"
)

// livenessPolicy checks often, as a test needs, and ends an unresponsive
// server after window.
func livenessPolicy(window time.Duration) Policy {
	p := DefaultPolicy()
	p.WatchInterval = 100 * time.Millisecond
	p.LivenessWindow = window
	return p
}

// endedEvent waits for the event in which mictl ends mi-1's server for
// its /liveness, and returns it with the first degraded event before it.
func endedEvent(s *simSite) (first, ended Event) {
	s.t.Helper()
	first = s.next("mi-1", StateDegraded)
	for ended = first; !strings.Contains(ended.Message, "ended by mictl"); {
		ended = s.next("mi-1", StateDegraded)
	}
	return first, ended
}

// A server whose /liveness stops answering (a JVM paused: a full GC, CPU
// starvation, swap) is not ended at its third failed check, seconds after
// it froze: only once /liveness has failed every check for the
// policy's LivenessWindow (the Kubernetes export's 10 s × 3), and then
// as a stop ends it, SIGTERM first, so that MI's shutdown can deliver
// what it has in flight; it shuts down gracefully and is restarted as a
// crash is (walkthrough issue 4: SIGKILLed ~10 s after it froze).
func TestUnresponsiveServerIsEndedAfterTheWindowBySIGTERM(t *testing.T) {
	t.Parallel()
	// Three checks of a hung server take ~4 s (1 s for /healthz, 1 s for
	// /liveness each): the window is longer.
	const window = 6 * time.Second
	policy := livenessPolicy(window)
	s := newSimSite(t, policy)
	s.setenv("MICTL_SIM_HANG_AFTER", "1s")
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	hung := s.sup.Instances([]string{"mi-1"})["mi-1"]
	first, ended := endedEvent(s)
	if took := ended.Time.Sub(first.Time); took < window-250*time.Millisecond {
		t.Errorf("ended %s after the first failed check, before the %s window:\n%s", took, window, s.log("mi-1"))
	}
	if !strings.Contains(ended.Message, fmt.Sprintf("(SIGTERM; SIGKILL after %s)", policy.StopTimeout)) {
		t.Errorf("ended without SIGTERM: %s", ended)
	}
	if ev := s.next("mi-1", StateCrashed, StateStopped, StateFailed); ev.State != StateCrashed || !strings.Contains(ev.Message, "ended by mictl") {
		t.Fatalf("after the end: %s, want crashed, ended by mictl (a graceful shutdown on mictl's SIGTERM is no end of its own)\n%s", ev, s.log("mi-1"))
	}
	if log, _ := os.ReadFile(home.ConsoleLog(hung.Home)); !strings.Contains(string(log), "Shutdown complete") {
		t.Errorf("the server did not shut down gracefully:\n%s", log)
	}
	if ev := s.next("mi-1", StateReady); ev.PID == hung.Server.PID {
		t.Fatalf("ready again with the same server: %s", ev)
	}
}

// A server stopped (SIGSTOP: state T) is SIGKILLed once the window is
// over, SIGTERM being unable to act on it, and replaced.
func TestStoppedServerIsKilledAndReplaced(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, livenessPolicy(time.Second))
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	hung := s.sup.Instances([]string{"mi-1"})["mi-1"].Server
	if err := syscall.Kill(hung.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(hung.PID, syscall.SIGKILL) })
	if _, ended := endedEvent(s); !strings.Contains(ended.Message, "(SIGKILL: stopped, state T, where SIGTERM cannot act)") {
		t.Errorf("ended: %s; want SIGKILL at once", ended)
	}
	if ev := s.next("mi-1", StateReady); ev.PID == hung.PID {
		t.Fatalf("ready again with the same server: %s", ev)
	}
	if hung.Alive() {
		t.Fatal("the stopped server still runs")
	}
}

// A server that ignores the SIGTERM it is ended with gets SIGKILL after
// the policy's StopTimeout, as a stop gives it.
func TestUnresponsiveServerIgnoringSIGTERMIsKilledAfterTheGrace(t *testing.T) {
	t.Parallel()
	policy := livenessPolicy(time.Second)
	policy.StopTimeout = time.Second
	policy.Restart = RestartNever
	s := newSimSite(t, policy)
	s.setenv("MICTL_SIM_HANG_AFTER", "1s")
	s.setenv("MICTL_SIM_IGNORE_SIGTERM", "true")
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	hung := s.sup.Instances([]string{"mi-1"})["mi-1"].Server
	if _, ended := endedEvent(s); !strings.Contains(ended.Message, "(SIGTERM; SIGKILL after 1s)") {
		t.Errorf("ended: %s; want SIGTERM first", ended)
	}
	for ev := s.next("mi-1", StateDegraded, StateCrashed); !strings.Contains(ev.Message, "did not exit within 1s after SIGTERM: SIGKILL"); ev = s.next("mi-1", StateDegraded, StateCrashed) {
		if ev.State == StateCrashed {
			t.Fatalf("it ended without the SIGKILL after the grace:\n%s", s.log("mi-1"))
		}
	}
	if ev := s.next("mi-1", StateStopped, StateFailed, StateBackoff); ev.State != StateFailed || !strings.Contains(ev.Message, "ended by mictl") {
		t.Fatalf("after the kill: %s, want failed (restart policy never), ended by mictl\n%s", ev, s.log("mi-1"))
	}
	if hung.Alive() {
		t.Fatal("the server still runs")
	}
}
