package hostnet

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
)

// Where a Snapshot's sockets came from.
const (
	// SourceNetlink means the kernel's sock_diag netlink interface answered
	// every query: the same data ss(8) shows, including IPV6_V6ONLY.
	SourceNetlink = "netlink"
	// SourceProcFS means /proc/net/{tcp,tcp6,udp,udp6} were parsed because
	// netlink was refused. Slower, and blind to IPV6_V6ONLY.
	SourceProcFS = "procfs"
)

// Snapshot is the host's bound sockets at one moment.
//
// It is a plain value: planning code takes one Snapshot and asks it many
// questions (Holding, Busy) instead of asking the kernel once per port,
// which would both be slow and see a different host on every question.
// Its methods only read, so one Snapshot may be shared between goroutines.
type Snapshot struct {
	// Sockets holds every listening TCP socket and every bound UDP socket
	// (unconnected or connected: both keep their local port), IPv4 and IPv6,
	// sorted by protocol, port, then address.
	Sockets []Socket
	// Source is SourceNetlink or SourceProcFS.
	Source string
	// Fallback is why netlink was not used when Source is SourceProcFS, so a
	// "doctor" style command can say why scans are slow or V6Only is unknown.
	// It is nil when Source is SourceNetlink or the snapshot came from
	// ScanProcFS directly.
	Fallback error
}

// procRoot is where Scan, Owners and friends look for procfs. Tests never
// change it; they call the *In variants with fixture directories instead.
const procRoot = "/proc"

// ScanConnections returns the TCP sockets of the network namespace that
// hold a local port without listening and belong to a process (see
// holdingStates): an outgoing connection whose ephemeral port is one an
// instance is planned on keeps MI from binding it, exactly as a listener
// would (java.net.BindException). Sockets no process holds any more
// (closed, being torn down; the kernel reports them without an inode) are
// left out: an accepted connection of a server that just stopped is one,
// and it does not keep the next server from its port. It asks sock_diag
// as Scan does, with /proc/net/tcp{,6} as the fallback.
func ScanConnections() (*Snapshot, error) {
	socks, err := scanNetlink(connectionQueries[:])
	source := SourceNetlink
	if err != nil {
		if !refused(err) {
			return nil, fmt.Errorf("scan connections: %w", err)
		}
		var perr error
		if socks, perr = scanProcFS(procRoot, true); perr != nil {
			return nil, fmt.Errorf("scan connections: netlink refused (%v), and the procfs fallback failed: %w", err, perr)
		}
		source = SourceProcFS
	}
	socks = slices.DeleteFunc(socks, func(s Socket) bool { return s.Inode == 0 })
	sortSockets(socks)
	return &Snapshot{Sockets: socks, Source: source}, nil
}

// Scan returns every listening TCP socket and every bound UDP socket, IPv4
// and IPv6, of the network namespace mictl runs in.
//
// It asks the kernel's sock_diag netlink interface first, the way ss does:
// the kernel filters listening TCP sockets itself, so the answer costs tens
// of microseconds even on a host with many thousands of connections, whereas
// /proc/net/tcp makes the kernel format every connection as text. Only when
// netlink is refused (no NETLINK_SOCK_DIAG in a sandbox, seccomp, a missing
// tcp_diag/udp_diag module: EPERM, EACCES, EPROTONOSUPPORT, EAFNOSUPPORT,
// ENOENT, EOPNOTSUPP, ENOSYS) does it fall back to ScanProcFS("/proc") and
// record the reason in Snapshot.Fallback. Any other netlink failure is a
// real error and is returned, so that a broken scan is never silently
// replaced by a different one.
func Scan() (*Snapshot, error) {
	socks, err := scanNetlink(listenerQueries[:])
	if err == nil {
		sortSockets(socks)
		return &Snapshot{Sockets: socks, Source: SourceNetlink}, nil
	}
	if !refused(err) {
		return nil, fmt.Errorf("scan sockets: %w", err)
	}
	snap, perr := ScanProcFS(procRoot)
	if perr != nil {
		return nil, fmt.Errorf("scan sockets: netlink refused (%v), and the procfs fallback failed: %w", err, perr)
	}
	snap.Fallback = err
	return snap, nil
}

// refused tells whether a netlink error means "this interface is not
// available here" (fall back) rather than "something went wrong" (report).
func refused(err error) bool {
	if errors.Is(err, errors.ErrUnsupported) {
		return true
	}
	for _, e := range []syscall.Errno{
		syscall.EPERM, syscall.EACCES, syscall.EPROTONOSUPPORT,
		syscall.EAFNOSUPPORT, syscall.ENOENT, syscall.EOPNOTSUPP, syscall.ENOSYS,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func sortSockets(socks []Socket) {
	slices.SortFunc(socks, func(a, b Socket) int {
		return cmp.Or(
			cmp.Compare(a.Proto, b.Proto),
			cmp.Compare(a.Port, b.Port),
			a.Addr.Compare(b.Addr),
			cmp.Compare(a.Inode, b.Inode),
		)
	})
}

// Holding returns the sockets of proto on port whose address range overlaps
// bind, i.e. the sockets that would make bind(bind:port) fail (without
// SO_REUSEPORT) or steal its traffic.
//
// The rules follow Linux's bind conflict check:
//   - a wildcard socket (0.0.0.0 or ::) overlaps every address of its family;
//   - a dual-stack [::] socket (V6Only false) also overlaps every IPv4
//     address, which is why Java's default [::] listeners block 0.0.0.0;
//   - a specific address overlaps itself and the wildcards;
//   - an IPv4-mapped IPv6 address (::ffff:a.b.c.d) counts as a.b.c.d.
//
// A wildcard bind overlaps everything: on a host with IPv6, Java turns a
// bind to 0.0.0.0 into one to the dual-stack [::] (OpenJDK's
// NET_InetAddressToSockaddr prefers the IPv6 wildcard), and so does Go's
// net.Listen("tcp", "0.0.0.0:p"), so MI on 0.0.0.0 fails on a listener on
// ::1 too; :: is assumed dual-stack (Java's default, the conservative
// choice). An invalid (zero) bind means "any address at all" and also
// overlaps everything. Zones are ignored: fe80::1%a and fe80::1%b count as one
// address, again the conservative side for conflict detection.
//
// Holding scans the snapshot linearly; a host has at most a few thousand
// bound sockets. To test many ports, use Busy once instead.
func (s *Snapshot) Holding(proto Proto, port int, bind netip.Addr) []Socket {
	b := bindSpan(bind)
	var out []Socket
	for _, sk := range s.Sockets {
		if sk.Proto == proto && sk.Port == port && socketSpan(sk).overlaps(b) {
			out = append(out, sk)
		}
	}
	return out
}

// Meets reports whether s overlaps bind: whether it would make a bind to
// bind on its port fail (Holding's rules).
func (s Socket) Meets(bind netip.Addr) bool {
	return socketSpan(s).overlaps(bindSpan(bind))
}

// Busy returns, keyed by port, the sockets of proto that overlap bind (same
// rules as Holding). A planner checking hundreds of candidate ports builds
// this map once and then pays one map lookup per port; a port absent from
// the map is free for bind as far as this snapshot knows.
func (s *Snapshot) Busy(proto Proto, bind netip.Addr) map[int][]Socket {
	b := bindSpan(bind)
	out := make(map[int][]Socket)
	for _, sk := range s.Sockets {
		if sk.Proto == proto && socketSpan(sk).overlaps(b) {
			out[sk.Port] = append(out[sk.Port], sk)
		}
	}
	return out
}

// Inodes returns the socket inodes of the snapshot, in order, ready to hand
// to Owners. Inode 0 (a socket the kernel reports without one) is left out.
func (s *Snapshot) Inodes() []uint64 {
	out := make([]uint64, 0, len(s.Sockets))
	for _, sk := range s.Sockets {
		if sk.Inode != 0 {
			out = append(out, sk.Inode)
		}
	}
	return out
}

// span is the set of local addresses a bind covers: all of IPv4, all of
// IPv6, or one address. Reducing both sides to spans makes the overlap rules
// a short, exhaustively testable function.
type span struct {
	allV4, allV6 bool
	one          netip.Addr // valid only for a specific address
}

// socketSpan is the span an existing socket holds.
func socketSpan(s Socket) span {
	a := s.Addr.WithZone("")
	if a.Is4In6() {
		// A v6 socket bound to ::ffff:a.b.c.d receives IPv4 traffic for
		// a.b.c.d only; ::ffff:0.0.0.0 behaves like 0.0.0.0.
		a = a.Unmap()
	}
	switch {
	case !a.IsValid():
		return span{allV4: true, allV6: true} // unknown: assume the worst
	case a.Is4() && a.IsUnspecified():
		return span{allV4: true}
	case a.IsUnspecified():
		return span{allV6: true, allV4: !s.V6Only}
	default:
		return span{one: a}
	}
}

// bindSpan is the span a prospective bind would claim.
func bindSpan(b netip.Addr) span {
	a := b.WithZone("").Unmap()
	if !a.IsValid() || a.IsUnspecified() {
		return span{allV4: true, allV6: true}
	}
	return span{one: a}
}

func (x span) covers(a netip.Addr) bool {
	return (x.allV4 && a.Is4()) || (x.allV6 && a.Is6()) || (x.one.IsValid() && x.one == a)
}

func (x span) overlaps(y span) bool {
	if (x.allV4 && y.allV4) || (x.allV6 && y.allV6) {
		return true
	}
	return (x.one.IsValid() && y.covers(x.one)) || (y.one.IsValid() && x.covers(y.one))
}
