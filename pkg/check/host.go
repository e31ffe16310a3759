package check

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

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
	h := Host{Sockets: snap, Bind: bind, MinPort: ports.MinPort(), Connections: connectionsOnce()}
	h.Owners = ownersOnce(hostnet.Owners, snap, h.Connections)
	h.Closing = closing
	// A host without the sysctl (a non-Linux kernel, a locked-down /proc)
	// just gets no ephemeral warnings: the check is advice, not a gate.
	if lo, hi, err := hostnet.EphemeralRange(); err == nil {
		h.EphemeralLo, h.EphemeralHi = lo, hi
	}
	// Unreadable, it reserves nothing: warnings for ports it may list.
	h.LocalReserved, _ = hostnet.LocalReservedPorts()
	return h, nil
}

// closingEvery is how often closing looks again.
const closingEvery = 10 * time.Millisecond

// closing reports which of unseen, listeners no process shows the
// descriptor of, are gone from a new scan within hostnet.ClosingFor:
// those an exiting process held, whose descriptors leave /proc before
// the kernel closes them. While mictl restart or down stopped a server,
// mictl up beside it refused (exit 1) on the server's own ports, "held by
// a process of user root". Only sockets whose owner this process would
// see are waited for (hostnet.Socket.OwnerVisible): another user's stay
// unseen, and are reported at once.
func closing(unseen []hostnet.Socket) map[uint64]bool {
	unseen = slices.DeleteFunc(slices.Clone(unseen), func(s hostnet.Socket) bool { return !s.OwnerVisible() })
	gone := map[uint64]bool{}
	for deadline := time.Now().Add(hostnet.ClosingFor); len(unseen) > 0 && time.Now().Before(deadline); {
		time.Sleep(closingEvery)
		snap, err := hostnet.Scan()
		if err != nil {
			break
		}
		listening := snap.Inodes()
		unseen = slices.DeleteFunc(unseen, func(s hostnet.Socket) bool {
			gone[s.Inode] = !slices.Contains(listening, s.Inode)
			return gone[s.Inode]
		})
	}
	return gone
}

// connectionsOnce returns the host's connections that hold ports
// (hostnet.ScanConnections), scanned at the first call only: the dump
// walks the kernel's whole table of connections (BenchmarkScanConnections:
// 3-5 ms here, against ~0.1 ms for the listeners), which a plan none of
// whose ports lies in the ephemeral range never needs. Nil when the scan
// failed: connections are then not looked at.
func connectionsOnce() func() *hostnet.Snapshot {
	var once sync.Once
	var conns *hostnet.Snapshot
	return func() *hostnet.Snapshot {
		once.Do(func() { conns, _ = hostnet.ScanConnections() })
		return conns
	}
}

// ownersOnce is walk (hostnet.Owners) answered from one walk of
// /proc/*/fd for every listener of the scan: each holder a command names
// (a conflict's, each moved instance's in its note and its -o json, a
// stopped instance's old port) asked for a walk of its own, and a walk
// reads every descriptor of the processes before the owner, thousands
// on a host where another product holds many connections (ten instances
// planned in the ephemeral range beside 19,000 connections: six walks,
// 0.6 s of check-conflicts; BenchmarkPlanBesideConnections). The
// connections, scanned only when asked about (connectionsOnce), are
// walked for together the first time one of them is asked about.
func ownersOnce(walk func(inodes ...uint64) map[uint64]hostnet.Process, listeners *hostnet.Snapshot, conns func() *hostnet.Snapshot) func(inodes ...uint64) map[uint64]hostnet.Process {
	var mu sync.Mutex
	known := map[uint64]hostnet.Process{}
	walked := map[uint64]bool{}
	return func(inodes ...uint64) map[uint64]hostnet.Process {
		mu.Lock()
		defer mu.Unlock()
		if slices.ContainsFunc(inodes, func(ino uint64) bool { return !walked[ino] }) {
			listening := listeners.Inodes()
			batch := slices.Concat(listening, inodes)
			// An inode no listener has is a connection's: they are
			// scanned by now, and walked for all together.
			if conns != nil && slices.ContainsFunc(inodes, func(ino uint64) bool { return !slices.Contains(listening, ino) }) {
				if c := conns(); c != nil {
					batch = append(batch, c.Inodes()...)
				}
			}
			batch = slices.DeleteFunc(batch, func(ino uint64) bool { return walked[ino] })
			for _, ino := range batch {
				walked[ino] = true
			}
			maps.Copy(known, walk(batch...))
		}
		out := make(map[uint64]hostnet.Process, len(inodes))
		for _, ino := range inodes {
			if p, ok := known[ino]; ok {
				out[ino] = p
			}
		}
		return out
	}
}

// connectionsHolding are the host's connections whose local port is port
// at an address overlapping Bind, where nothing listens at their address:
// an outgoing connection's local port keeps MI from binding it as a
// listener would (check-conflicts said 0 conflicts, then MI failed with a
// BindException), and a connection on a port a listener holds is an
// accepted one, beside a holder named already. Only ports in the
// ephemeral range are looked at, those a connection takes by itself
// (hostnet.ScanConnections' cost).
func (h Host) connectionsHolding(port int) []hostnet.Socket {
	if h.Connections == nil || port < h.EphemeralLo || port > h.EphemeralHi {
		return nil
	}
	conns := h.Connections()
	if conns == nil {
		return nil
	}
	var out []hostnet.Socket
	for _, c := range conns.Holding(hostnet.TCP, port, h.Bind) {
		if h.Sockets == nil || len(h.Sockets.Holding(hostnet.TCP, port, c.Addr)) == 0 {
			out = append(out, c)
		}
	}
	return out
}

// holding says what s, a socket on a port an instance needs, is, after
// who holds it (held): a connection's state and peer come first.
func holding(s hostnet.Socket, held string) string {
	if s.State == "" {
		return held
	}
	peer := ""
	if s.Remote.IsValid() {
		peer = " to " + s.Remote.String()
	}
	return fmt.Sprintf("a connection (%s%s) of %s", s.State, peer, held)
}

// Busy returns the planner's view of the host: whether a foreign process
// holds a TCP port in a way that overlaps Bind, or listens on it at the
// other loopback address (otherLoopback). MI binds its own address beside
// the latter, but clients of localhost:PORT may reach the stranger
// instead (loopbackShadows): free to choose, the planner moves on; an
// offset pinned stays, with that warning. The overlap rules run once
// here, so the planner pays one map lookup per candidate port. Nil when
// there is no snapshot, so the planner ignores the host.
func (h Host) Busy() func(port int) bool {
	if h.Sockets == nil {
		return nil
	}
	busy := map[int]bool{}
	for _, addr := range h.avoided() {
		for port, socks := range h.Sockets.Busy(hostnet.TCP, addr) {
			if slices.ContainsFunc(socks, h.foreign) {
				busy[port] = true
			}
		}
	}
	for port := range h.reserved() {
		busy[port] = true
	}
	return func(port int) bool {
		return busy[port] || slices.ContainsFunc(h.connectionsHolding(port), h.foreign)
	}
}

// avoided are the addresses where a foreign listener keeps the planner
// off its port: Bind, and the other loopback address when there is one.
func (h Host) avoided() []netip.Addr {
	if other := otherLoopback(h.Bind); other.IsValid() {
		return []netip.Addr{h.Bind, other}
	}
	return []netip.Addr{h.Bind}
}

// foreign says whether s is no instance's of ours.
func (h Host) foreign(s hostnet.Socket) bool { return h.Ours == nil || !h.Ours(s, "") }

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

// Holder names what keeps the planner off port (Busy), for the notes
// that say so: what holds it in a way that overlaps Bind, a process
// ("pid 123 (python3)", with its instance when it is one's), its user
// when the process cannot be seen (hostnet.Socket.UnseenOwner), or a
// reservation's description; failing that, a listener on the other
// loopback address, said with its address (the one a user would not look
// at). Every key null when nothing foreign holds it.
func (h Host) Holder(port int) HeldBy {
	held, at, shadow := h.holderAt(port)
	if shadow {
		described := fmt.Sprintf("%s on %s, which clients of localhost:%d may reach instead", *held.Holder, at, port)
		held.Holder = &described
	}
	return held
}

// HolderAt is what Holder names and the address it holds port on, apart,
// as a finding says them (-o json's holder and address): the holder of a
// move spelled "pid 600 (python3) on ::1, which clients of ..." where
// every other holder is "pid 600 (python3)". Invalid when nothing
// foreign holds it.
func (h Host) HolderAt(port int) (HeldBy, netip.Addr) {
	held, at, _ := h.holderAt(port)
	return held, at
}

// holderAt is HolderAt, and whether the holder is on the other loopback
// address only.
func (h Host) holderAt(port int) (held HeldBy, at netip.Addr, shadow bool) {
	if r, ok := h.reserved()[port]; ok {
		return HeldBy{Holder: &r.By}, r.Socket.Addr, false
	}
	if h.Sockets == nil {
		return HeldBy{}, netip.Addr{}, false
	}
	if held, s := h.holderAmong(slices.Concat(h.Sockets.Holding(hostnet.TCP, port, h.Bind), h.connectionsHolding(port))); held.Holder != nil {
		return held, s.Addr, false
	}
	other := otherLoopback(h.Bind)
	if !other.IsValid() {
		return HeldBy{}, netip.Addr{}, false
	}
	held, s := h.holderAmong(h.Sockets.Holding(hostnet.TCP, port, other))
	if held.Holder == nil {
		return HeldBy{}, netip.Addr{}, false
	}
	return held, s.Addr, true
}

// holderAmong names the first foreign socket of socks whose process is
// seen, else the last foreign one (Holder), and returns that socket.
func (h Host) holderAmong(socks []hostnet.Socket) (HeldBy, hostnet.Socket) {
	var held HeldBy
	var named hostnet.Socket
	for _, s := range socks {
		if !h.foreign(s) {
			continue
		}
		named = s
		held = unknownHolder(s)
		if h.Owners != nil && s.Inode != 0 {
			if p, ok := h.Owners(s.Inode)[s.Inode]; ok {
				held, _ = h.heldBy(p)
			}
		}
		described := holding(s, *held.Holder)
		held.Holder = &described
		if held.HolderPID != nil {
			return held, named
		}
	}
	return held, named
}

// heldBy names p, a process holding a port, and its instance (Whose);
// about is what the holder says after the process (", the server of
// mi-3").
func (h Host) heldBy(p hostnet.Process) (held HeldBy, about string) {
	instance := ""
	if h.Whose != nil {
		instance, about = h.Whose(p.PID)
	}
	return NewHeldBy(p.String()+about, p.PID, p.Comm, instance), about
}

// NewHeldBy is a HeldBy of holder ("pid 123 (python3)"), its pid,
// process and instance, each null when empty (0 for the pid).
func NewHeldBy(holder string, pid int, process, instance string) HeldBy {
	held := HeldBy{Holder: nonEmpty(holder), HolderProcess: nonEmpty(process), HolderInstance: nonEmpty(instance)}
	if pid != 0 {
		held.HolderPID = &pid
	}
	return held
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// unknownHolder is the holder of s when its process cannot be seen.
func unknownHolder(s hostnet.Socket) HeldBy { return NewHeldBy(s.UnseenOwner(), 0, "", "") }
