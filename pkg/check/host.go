package check

import (
	"fmt"
	"net/netip"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
)

// LiveHost describes this machine as instances binding bind would meet it:
// its sockets now, its ephemeral range and whether privileged ports are
// open to us.
func LiveHost(bind netip.Addr) (Host, error) {
	snap, err := hostnet.Scan()
	if err != nil {
		return Host{}, fmt.Errorf("scan the host's sockets: %w", err)
	}
	h := Host{Sockets: snap, Bind: bind, Owners: hostnet.Owners, MinPort: ports.MinPort()}
	// A host without the sysctl (a non-Linux kernel, a locked-down /proc)
	// just gets no ephemeral warnings: the check is advice, not a gate.
	if lo, hi, err := hostnet.EphemeralRange(); err == nil {
		h.EphemeralLo, h.EphemeralHi = lo, hi
	}
	return h, nil
}

// Busy returns the planner's view of the host: whether a foreign process
// holds a TCP port in a way that overlaps Bind. The overlap rules run once
// here, so the planner pays one map lookup per candidate port. Nil when
// there is no snapshot, so the planner ignores the host.
func (h Host) Busy() func(port int) bool {
	if h.Sockets == nil {
		return nil
	}
	busy := map[int]bool{}
	for port, socks := range h.Sockets.Busy(hostnet.TCP, h.Bind) {
		for _, s := range socks {
			if h.Ours == nil || !h.Ours(s) {
				busy[port] = true
			}
		}
	}
	for port := range h.reserved() {
		busy[port] = true
	}
	return func(port int) bool { return busy[port] }
}

// reserved returns the reservations that overlap Bind, by port.
func (h Host) reserved() map[int]Reservation {
	if len(h.Reserved) == 0 {
		return nil
	}
	socks := make([]hostnet.Socket, len(h.Reserved))
	for i, r := range h.Reserved {
		socks[i] = r.Socket
	}
	out := map[int]Reservation{}
	for port := range (&hostnet.Snapshot{Sockets: socks}).Busy(hostnet.TCP, h.Bind) {
		for _, r := range h.Reserved {
			if r.Socket.Port == port {
				out[port] = r
			}
		}
	}
	return out
}

// Holder names what holds port on the host in a way that overlaps Bind:
// "pid 123 (python3)" with that process, "owner unknown" (nil process)
// when the owner cannot be seen, or a reservation's description; "" when
// nothing foreign holds it.
func (h Host) Holder(port int) (string, *hostnet.Process) {
	if r, ok := h.reserved()[port]; ok {
		return r.By, nil
	}
	if h.Sockets == nil {
		return "", nil
	}
	holder := ""
	for _, s := range h.Sockets.Holding(hostnet.TCP, port, h.Bind) {
		if h.Ours != nil && h.Ours(s) {
			continue
		}
		holder = "owner unknown"
		if h.Owners != nil && s.Inode != 0 {
			if p, ok := h.Owners(s.Inode)[s.Inode]; ok {
				return p.String(), &p
			}
		}
	}
	return holder, nil
}
