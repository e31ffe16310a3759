// Package hostnet tells which sockets the host holds and which process owns
// each one, the way ss does: from the kernel's sock_diag netlink interface,
// with /proc/net/{tcp,tcp6,udp,udp6} only as a fallback, and owners from the
// socket inodes under /proc/<pid>/fd. It never shells out.
package hostnet

import (
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"time"
)

// Proto is a transport protocol.
type Proto string

// The protocols mictl looks at.
const (
	TCP Proto = "tcp"
	UDP Proto = "udp"
)

// Socket is one bound socket: a listening TCP socket or a bound UDP socket
// (Scan), or a TCP socket that holds its local port without listening
// (ScanConnections).
type Socket struct {
	Proto Proto
	Addr  netip.Addr // local address; unspecified (0.0.0.0 or ::) for a wildcard bind
	Port  int
	Inode uint64 // kernel socket inode, the key to its owner
	UID   uint32 // owning user id as the kernel reports it
	// V6Only is true for an IPv6 socket that does not also accept IPv4
	// (IPV6_V6ONLY); a dual-stack [::] socket also holds 0.0.0.0's port.
	V6Only bool
	// State is the TCP state of a socket that does not listen, as ss
	// names it ("ESTAB", "SYN-SENT", "UNCONN" for one bound and not
	// connected, ...); "" for a listener and for UDP.
	State string
	// Remote is the peer of a connected TCP socket; zero otherwise.
	Remote netip.AddrPort
}

// tcpStates names the TCP states (include/net/tcp_states.h) as ss does.
var tcpStates = map[uint8]string{
	1: "ESTAB", 2: "SYN-SENT", 3: "SYN-RECV", 4: "FIN-WAIT-1", 5: "FIN-WAIT-2", 6: "TIME-WAIT",
	7: "UNCONN", 8: "CLOSE-WAIT", 9: "LAST-ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW-SYN-RECV",
}

// holdingStates are the TCP states ScanConnections asks for: those of a
// socket that holds its local port against a new listener (even one that
// sets SO_REUSEADDR, as Java and Go do) and is no listener's: a
// connection, and a socket bound but not connected. Left out: LISTEN
// (Scan's), the half-open connections a listener accepts (on the
// listener's port), and TIME-WAIT, which holds the port only when the
// socket did not set SO_REUSEADDR, what sock_diag cannot tell: an accepted
// connection a stopped server left in TIME-WAIT does not keep its
// successor from the port.
var holdingStates = []uint8{1, 2, 4, 5, 7, 8, 9, 11}

// Endpoint renders the socket as addr:port, bracketing IPv6.
func (s Socket) Endpoint() string {
	return netip.AddrPortFrom(s.Addr, uint16(s.Port)).String()
}

// UnseenOwner names who holds s when its process cannot be found: the
// user the kernel says owns the socket ("a process of user wso2 (uid
// 1001)"). A process of another user is hidden from one who is not root
// (its /proc/<pid>/fd is its own), and "owner unknown" told an operator
// sharing the host with other products nothing to go on. A socket the
// kernel reports without an inode is "owner unknown": its uid says
// nothing.
func (s Socket) UnseenOwner() string {
	if s.Inode == 0 {
		return "owner unknown"
	}
	if u, err := user.LookupId(strconv.FormatUint(uint64(s.UID), 10)); err == nil {
		return fmt.Sprintf("a process of user %s (uid %d)", u.Username, s.UID)
	}
	return fmt.Sprintf("a process of uid %d", s.UID)
}

// ClosingFor is how long a listener that no process shows, of a user
// whose processes this one sees (OwnerVisible), may still be an exiting
// process's: its descriptors leave /proc before the kernel closes its
// sockets (a simulated server's took up to ~20 ms: its inotify
// instance's release waits for a kernel grace period).
const ClosingFor = 150 * time.Millisecond

// OwnerVisible reports whether the process holding s would show its
// descriptor to this process: s's user is this one's, or this one is
// root. Such a socket that no process shows is an exiting process's (see
// ClosingFor); another user's stays unseen for good.
func (s Socket) OwnerVisible() bool {
	euid := os.Geteuid()
	return s.Inode != 0 && (euid == 0 || int(s.UID) == euid)
}

// Process is the owner of a socket, when it could be found.
type Process struct {
	PID  int
	Comm string // /proc/<pid>/comm, e.g. "java"
	// Home is the -Dcarbon.home=DIR of its command line, "" when it has
	// none. Every WSO2 product's start script hands it to java, and it
	// is what tells the API Manager, the Identity Server and a Micro
	// Integrator beside the instances apart: to comm all are "java".
	Home string
}

// String names p in messages: "pid 123 (python3)", "pid 2061 (java,
// carbon.home /opt/wso2am-4.2.0)".
func (p Process) String() string {
	switch {
	case p.Comm == "":
		return fmt.Sprintf("pid %d", p.PID)
	case p.Home != "":
		return fmt.Sprintf("pid %d (%s, carbon.home %s)", p.PID, p.Comm, p.Home)
	}
	return fmt.Sprintf("pid %d (%s)", p.PID, p.Comm)
}
