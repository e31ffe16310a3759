package supervisor

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/ports"
)

// errUnscannable is how a host whose sockets cannot be scanned answers
// (netlink refused, /proc/net unreadable).
var errUnscannable = errors.New("scan sockets: netlink refused (socket: operation not permitted), and the procfs fallback failed: read /proc/net: none of tcp, tcp6, udp, udp6 exists")

// A BindException read while the host's sockets cannot be scanned is
// judged as on a host that can be: MI's debugger's (which names no port)
// leaves the server degraded, saying the host could not be scanned, once
// the start's look at its fixed ports finds them its own. The start
// failed, whatever the port.
func TestABindExceptionOnAnUnscannableHostIsJudgedByItsPort(t *testing.T) {
	// Not parallel: it sets the process's environment (t.Setenv).

	// The scan fails as the start reads the line (scanFails fails the
	// supervisor's own looks), and works again for the look that judges
	// the start ready (the one starting instances share). Set before the
	// site, so as to be undone after its supervisor has closed.
	scanFails = func() error { return errUnscannable }
	t.Cleanup(func() { scanFails = nil })
	_, ev := startWithTheDebuggersPortHeld(t)
	want := fmt.Sprintf("a port not bound (the log does not say which; which process holds it is unknown: the host's sockets could not be scanned (%v)), MI serves without it: ", errUnscannable)
	if ev.State != StateDegraded || !strings.Contains(ev.Message, want) || !strings.Contains(ev.Message, "BindException") {
		t.Fatalf("mi-1 %s: %s; want it degraded, saying %q and the line", ev.State, ev.Message, want)
	}
}

// A BindException about a fixed port fails the start on a host whose
// sockets cannot be scanned too, naming the port and saying that the
// host could not be scanned for its holder.
func TestAFixedPortsBindExceptionOnAnUnscannableHostFailsTheStart(t *testing.T) {
	line := "ERROR {PassThroughListeningIOReactorManager} - Error starting Pass-through HTTP Listener on 127.0.0.1:8290: java.net.BindException: Address already in use"
	err := (&runner{}).fixedBindFailure(ports.HTTP, observe.PortStatus{Port: 8290}, line, errUnscannable)
	want := fmt.Sprintf("the server could not bind its http port 8290 (%s); which process holds it is unknown: the host's sockets could not be scanned (%v)", line, errUnscannable)
	if err == nil || err.Error() != want {
		t.Fatalf("fixedBindFailure = %v\nwant %s", err, want)
	}
}

// While the host's sockets cannot be scanned, a running instance is
// degraded saying so, in its record and once in its events, and its
// other checks go on: a server that stops answering /healthz says so
// too. The monitor skipped every check, /healthz included, and the
// instance stayed ready on the last scan's word. Once a scan succeeds
// again it is ready.
func TestARunningInstanceOnAnUnscannableHostSaysSoAndIsStillChecked(t *testing.T) {
	// Not parallel: it sets the package's scan hook (scanFails).

	// The hook is set before the site, and undone after its supervisor
	// has closed; blind is what the test turns on and off.
	var blind atomic.Bool
	scanFails = func() error {
		if blind.Load() {
			return errUnscannable
		}
		return nil
	}
	t.Cleanup(func() { scanFails = nil })
	policy := DefaultPolicy()
	policy.WatchInterval = 500 * time.Millisecond
	s := newSimSite(t, policy)
	s.reload("instances = 1\n")
	ready := s.next("mi-1", StateReady)

	blind.Store(true)
	want := unscannedHost(errUnscannable)
	if ev := s.next("mi-1", StateReady, StateDegraded); ev.State != StateDegraded || ev.Message != want {
		t.Fatalf("mi-1 %s: %q; want it degraded, saying %q", ev.State, ev.Message, want)
	}
	if got := s.sup.Instances([]string{"mi-1"})["mi-1"]; got.State != StateDegraded || got.Reason != want || got.LastError != want {
		t.Fatalf("mi-1 is %s (%q; %q); want it degraded, both saying %q", got.State, got.Reason, got.LastError, want)
	}

	// /healthz is still asked. The next event is this one: checks that
	// found the host unscannable again said nothing new.
	if err := syscall.Kill(ready.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(ready.PID, syscall.SIGCONT) })
	ev := s.next("mi-1", StateReady, StateDegraded)
	if ev.State != StateDegraded || !strings.Contains(ev.Message, observe.HealthPath+": no answer") || !strings.HasSuffix(ev.Message, "; "+want) {
		t.Fatalf("mi-1 %s: %q; want it degraded, saying that /healthz does not answer, then %q", ev.State, ev.Message, want)
	}

	if err := syscall.Kill(ready.PID, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	blind.Store(false)
	for ev.State != StateReady {
		ev = s.next("mi-1", StateReady, StateDegraded)
	}
}

// One scan of the host's sockets that fails leaves a running instance as
// the last scan found it: no event, no change of state. It was shown
// degraded, then ready at the next check (two events, a flap in status
// and the logs) for a failure of mictl's own look, where /liveness has
// to fail at three checks in a row before anything is done.
func TestOneFailedScanLeavesARunningInstanceAsItWas(t *testing.T) {
	// Not parallel: it sets the package's scan hook (scanFails).

	// Set before the site, and undone after its supervisor has closed.
	var failing atomic.Int32
	scanFails = func() error {
		if failing.Add(-1) >= 0 {
			return errUnscannable
		}
		return nil
	}
	t.Cleanup(func() { scanFails = nil })
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)

	failing.Store(1)
	// The check that fails to scan (or one the timer ran before it), and
	// one after it.
	for range 2 {
		<-s.sup.healthSoon("mi-1")
	}
	if n := failing.Load(); n >= 0 {
		t.Fatal("no check scanned the host")
	}
	// A check records its event before it counts as run.
	for more := true; more; {
		select {
		case ev := <-s.events:
			s.seen = append(s.seen, ev)
		default:
			more = false
		}
	}
	if events := s.log("mi-1"); strings.Count(events, "\n") != 3 { // starting, starting, ready
		t.Fatalf("after one failed scan mi-1's events are:\n%swant none after it was ready", events)
	}
	if got := s.sup.Instances([]string{"mi-1"})["mi-1"]; got.State != StateReady {
		t.Fatalf("after one failed scan mi-1 is %s (%q); want it ready", got.State, got.Reason)
	}
}

// A check that fails to scan keeps what a look of this supervisor found
// of the instance's ports (the start's, or the last scan's), for a
// couple of checks; a server adopted from the previous supervisor, whose
// ports no look of this one has found, is degraded at once, as it was
// before: kept as it was, one recorded degraded for a stranger on its
// port read ready until a scan succeeded.
func TestAFailedScanKeepsOnlyWhatThisSupervisorSaw(t *testing.T) {
	lost := "port 8290 (http) is not listening; mictl restart mi-1 binds it again"
	for _, tc := range []struct {
		what string
		cur  *running
		want string
	}{
		{"started, then scanned", &running{}, ""},
		{"a port lost at the last scan", &running{portsWhy: lost}, lost},
		{"adopted, not scanned yet", &running{unseen: true}, unscannedHost(errUnscannable)},
		{"a third failed scan in a row", &running{blindChecks: unscannedChecks - 1}, unscannedHost(errUnscannable)},
	} {
		if got := (&runner{}).serverHealth(tc.cur, nil, errUnscannable, nil, nil); got != tc.want {
			t.Errorf("%s: a failed scan says %q; want %q", tc.what, got, tc.want)
		}
	}
	// A scan whose ports went unread, /healthz failing (a faulty CApp
	// here): the scan after it, failed, says so rather than show the
	// ports as an older scan found them, /healthz well again.
	cur := &running{}
	faulty := observe.Answer{Status: http.StatusInternalServerError, Body: []byte(`{"status":"not ready","Faulty CAPPs":["orders_1.0.0"]}`)}
	still := (&runner{}).serverHealth(cur, &observe.View{}, nil, nil, &faulty)
	// /healthz failing still, one failed scan changes nothing: the
	// faulty CApp is what is wrong.
	if got := (&runner{}).serverHealth(cur, nil, errUnscannable, nil, &faulty); got != still {
		t.Errorf("one failed scan while /healthz fails says %q; want %q as before it", got, still)
	}
	ok := observe.Answer{Status: http.StatusOK}
	if got, want := (&runner{}).serverHealth(cur, nil, errUnscannable, nil, &ok), unscannedHost(errUnscannable); got != want {
		t.Errorf("a failed scan after one whose ports went unread says %q; want %q", got, want)
	}
}
