package check_test

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/ports"
)

// A listener whose holder is exiting has left /proc before the kernel
// closes it: a server mictl restart or mictl down stops holds its ports
// so for up to ~20 ms, and mictl up beside it refused (exit 1) on that
// server's own ports, "held by a process of user root (uid 0)". The
// check looks again and finds it gone.
//
// The exiting holder is stood for by a listener whose only descriptor is
// in flight in a unix socket's queue (no process shows it), closed 40 ms
// into the check by closing that queue's socket.
func TestLiveHostWaitsForAListenerBeingClosed(t *testing.T) {
	port, closeIt := unseenListener(t)
	offset := port - ports.DefaultBases()[ports.HTTP]
	time.AfterFunc(40*time.Millisecond, closeIt)
	host, err := check.LiveHost(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range check.Run(plan(inst("mi-1", offset)), host).Conflicts {
		if c.Port == port {
			t.Fatalf("conflict on port %d, whose holder closed it 40 ms into the check: %s", port, c.Message)
		}
	}
}

// A listener no process shows that stays is a conflict all the same,
// named by its user.
func TestLiveHostReportsAnUnseenListenerThatStays(t *testing.T) {
	port, _ := unseenListener(t)
	host, err := check.LiveHost(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	offset := port - ports.DefaultBases()[ports.HTTP]
	for _, c := range check.Run(plan(inst("mi-1", offset)), host).Conflicts {
		if c.Port == port && strings.Contains(c.Message, "is held by a process of") {
			return
		}
	}
	t.Fatalf("no conflict on port %d, which a listener no process shows holds", port)
}

// unseenListener listens on a free loopback port whose only descriptor
// then lies in a unix socket's queue; closeIt closes the queue, and with
// it the listener. The test's end closes it too.
func unseenListener(t *testing.T) (port int, closeIt func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = l.Addr().(*net.TCPAddr).Port
	f, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = syscall.Sendmsg(pair[0], []byte{0}, syscall.UnixRights(int(f.Fd())), nil, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(pair[0])
	closeIt = sync.OnceFunc(func() { syscall.Close(pair[1]) })
	t.Cleanup(closeIt)
	return port, closeIt
}
