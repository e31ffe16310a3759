// Package hostnet tells which sockets the host holds and which process owns
// each one, the way ss does: from the kernel's sock_diag netlink interface,
// with /proc/net/{tcp,tcp6,udp,udp6} only as a fallback, and owners from the
// socket inodes under /proc/<pid>/fd. It never shells out.
package hostnet

import (
	"fmt"
	"net/netip"
)

// Proto is a transport protocol.
type Proto string

// The protocols mictl looks at.
const (
	TCP Proto = "tcp"
	UDP Proto = "udp"
)

// Socket is one bound socket: a listening TCP socket or a bound UDP socket.
type Socket struct {
	Proto Proto
	Addr  netip.Addr // local address; unspecified (0.0.0.0 or ::) for a wildcard bind
	Port  int
	Inode uint64 // kernel socket inode, the key to its owner
	UID   uint32 // owning user id as the kernel reports it
	// V6Only is true for an IPv6 socket that does not also accept IPv4
	// (IPV6_V6ONLY); a dual-stack [::] socket also holds 0.0.0.0's port.
	V6Only bool
}

// Endpoint renders the socket as addr:port, bracketing IPv6.
func (s Socket) Endpoint() string {
	return netip.AddrPortFrom(s.Addr, uint16(s.Port)).String()
}

// Process is the owner of a socket, when it could be found.
type Process struct {
	PID  int
	Comm string // /proc/<pid>/comm, e.g. "java"
}

func (p Process) String() string {
	if p.Comm == "" {
		return fmt.Sprintf("pid %d", p.PID)
	}
	return fmt.Sprintf("pid %d (%s)", p.PID, p.Comm)
}
