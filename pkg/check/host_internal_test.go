package check

import (
	"net/netip"
	"testing"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
)

// Every holder a command names comes from one walk of /proc for the
// listeners, and one more for the connections once one is asked about:
// each asked for a walk of its own, and a walk reads every descriptor of
// the processes it passes (0.6 s of check-conflicts beside a product
// holding 19,000 connections).
func TestOwnersOnceWalksOnce(t *testing.T) {
	listener := func(port int, ino uint64) hostnet.Socket {
		return hostnet.Socket{Proto: hostnet.TCP, Addr: netip.MustParseAddr("127.0.0.1"), Port: port, Inode: ino}
	}
	listeners := &hostnet.Snapshot{Sockets: []hostnet.Socket{listener(40010, 1), listener(40053, 2), listener(40921, 3)}}
	conn := listener(40011, 4)
	conn.State, conn.Remote = "ESTAB", netip.MustParseAddrPort("10.0.0.2:5432")
	conns := &hostnet.Snapshot{Sockets: []hostnet.Socket{conn}}
	walks := 0
	walk := func(inodes ...uint64) map[uint64]hostnet.Process {
		walks++
		out := map[uint64]hostnet.Process{}
		for _, ino := range inodes {
			out[ino] = hostnet.Process{PID: 100 + int(ino), Comm: "java"}
		}
		return out
	}
	h := Host{Sockets: listeners, Bind: netip.MustParseAddr("127.0.0.1"), MinPort: 1024, EphemeralLo: 32768, EphemeralHi: 60999,
		Connections: func() *hostnet.Snapshot { return conns }}
	h.Owners = ownersOnce(walk, listeners, h.Connections)

	r := Run(ports.Plan{Instances: []ports.Instance{{Name: "mi-1", Offset: 40010 - 8280, Bases: ports.DefaultBases()}}}, h)
	if len(r.Conflicts) != 2 {
		t.Fatalf("conflicts %v, want the two listeners on mi-1's ports", r.Conflicts)
	}
	for _, port := range []int{40010, 40053, 40921} {
		if held := h.Holder(port); held.HolderPID == nil {
			t.Fatalf("holder of %d: %v, want its pid", port, held.Holder)
		}
	}
	if walks != 1 {
		t.Errorf("%d walks of /proc for the listeners' holders, want 1", walks)
	}
	for range 2 {
		if held := h.Holder(40011); held.HolderPID == nil || *held.HolderPID != 104 {
			t.Fatalf("holder of the connection's port: %v, want pid 104", held.Holder)
		}
	}
	if walks != 2 {
		t.Errorf("%d walks of /proc in all, want 2: one more for the connections", walks)
	}
}
