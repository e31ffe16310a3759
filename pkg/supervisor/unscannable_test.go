package supervisor

import (
	"errors"
	"fmt"
	"strings"
	"testing"

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
