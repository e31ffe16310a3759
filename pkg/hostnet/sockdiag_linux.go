//go:build linux

package hostnet

// This file talks to the kernel's sock_diag netlink interface directly
// (linux/inet_diag.h) with golang.org/x/sys/unix instead of through the
// helpers in github.com/vishvananda/netlink, on purpose:
//
//   - netlink.SocketDiagTCPInfo / SocketDiagTCP / SocketDiagUDP(Info) all
//     send idiag_states = 0xfff (every state) and, for the *Info variants,
//     ask for INET_DIAG_INFO (a struct tcp_info per socket). On a busy host
//     that dumps every established connection with its tcp_info only for us
//     to throw them away; with a LISTEN-only state mask the kernel walks just
//     the listening hash.
//   - none of them exposes the INET_DIAG_SKV6ONLY attribute, which is the
//     only way to tell a dual-stack [::] listener from a v6-only one.
//   - each helper call opens and closes its own netlink socket; Scan needs
//     four dumps (TCP/UDP x IPv4/IPv6) and does them on one socket.
//
// The benchmarks in this package measure the difference.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Kernel ABI constants not (all) exported by x/sys/unix.
const (
	sizeofNlMsghdr      = 16 // struct nlmsghdr
	sizeofInetDiagReqV2 = 56 // struct inet_diag_req_v2
	sizeofInetDiagMsg   = 72 // struct inet_diag_msg
	inetDiagSKV6Only    = 11 // INET_DIAG_SKV6ONLY: u8, sent for AF_INET6 sockets in LISTEN or CLOSE
	inetDiagNoCookie    = ^uint32(0)
	tcpListen           = 10 // TCP_LISTEN
	allStates           = 0xfff

	// diagTimeout bounds a single receive, so a kernel that never answers
	// cannot hang the supervisor. Real answers take microseconds.
	diagTimeout = 5 * time.Second
	// diagBufSize is the receive buffer. The kernel caps one dump skb at
	// 32 KiB (SKB_WITH_OVERHEAD(32768)), so 64 KiB never truncates.
	diagBufSize = 64 << 10
	// diagRetries is how often a dump flagged NLM_F_DUMP_INTR (the table
	// changed under the walk) is repeated before its result is accepted.
	diagRetries = 3
)

var ne = binary.NativeEndian

// diagQuery is one sock_diag dump: a protocol, a family and a state mask.
type diagQuery struct {
	proto   Proto
	family  uint8
	ipproto uint8
	states  uint32
}

func (q diagQuery) String() string {
	fam := "ipv4"
	if q.family == unix.AF_INET6 {
		fam = "ipv6"
	}
	return string(q.proto) + "/" + fam
}

// listenerQueries are the four dumps a Scan makes. TCP asks for LISTEN
// only (the kernel then walks only the listening hash; the connections
// that hold ports too are ScanConnections'); UDP asks for every state,
// because an unconnected (CLOSE) and a connected (ESTABLISHED) UDP socket
// both hold their local port.
var listenerQueries = [...]diagQuery{
	{TCP, unix.AF_INET, unix.IPPROTO_TCP, 1 << tcpListen},
	{TCP, unix.AF_INET6, unix.IPPROTO_TCP, 1 << tcpListen},
	{UDP, unix.AF_INET, unix.IPPROTO_UDP, allStates},
	{UDP, unix.AF_INET6, unix.IPPROTO_UDP, allStates},
}

// connectionQueries are ScanConnections' dumps: TCP in holdingStates.
var connectionQueries = [...]diagQuery{
	{TCP, unix.AF_INET, unix.IPPROTO_TCP, holdingMask()},
	{TCP, unix.AF_INET6, unix.IPPROTO_TCP, holdingMask()},
}

func holdingMask() uint32 {
	var m uint32
	for _, st := range holdingStates {
		m |= 1 << st
	}
	return m
}

// scanNetlink returns the sockets from the sock_diag dumps queries,
// unsorted. Errors keep the errno (errors.Is works) so Scan can tell
// refusal from failure.
func scanNetlink(queries []diagQuery) ([]Socket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("open NETLINK_SOCK_DIAG socket: %w", os.NewSyscallError("socket", err))
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(diagTimeout))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("set netlink receive timeout: %w", os.NewSyscallError("setsockopt", err))
	}

	buf := make([]byte, diagBufSize)
	req := make([]byte, sizeofNlMsghdr+sizeofInetDiagReqV2)
	var out []Socket
	var seq uint32
	for _, q := range queries {
		for attempt := 1; ; attempt++ {
			seq++
			start := len(out)
			var intr bool
			out, intr, err = dumpOnce(fd, buf, req, q, seq, out)
			if err != nil {
				return nil, fmt.Errorf("sock_diag dump %s: %w", q, err)
			}
			if !intr || attempt == diagRetries {
				break
			}
			out = out[:start] // inconsistent walk: drop it and ask again
		}
	}
	return out, nil
}

// dumpOnce sends one inet_diag_req_v2 dump request and appends the answers
// to out. intr reports NLM_F_DUMP_INTR.
func dumpOnce(fd int, buf, req []byte, q diagQuery, seq uint32, out []Socket) (_ []Socket, intr bool, _ error) {
	// struct nlmsghdr
	clear(req)
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], seq)
	// struct inet_diag_req_v2: family, protocol, ext (0: no extensions, the
	// v6only attribute comes without asking), pad, states, then a zero
	// inet_diag_sockid (match all) whose cookie says "no cookie".
	r := req[sizeofNlMsghdr:]
	r[0], r[1] = q.family, q.ipproto
	ne.PutUint32(r[4:], q.states)
	ne.PutUint32(r[8+40:], inetDiagNoCookie)
	ne.PutUint32(r[8+44:], inetDiagNoCookie)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return out, false, os.NewSyscallError("sendto", err)
	}

	for {
		n, _, rflags, _, err := unix.Recvmsg(fd, buf, nil, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return out, intr, fmt.Errorf("no answer from the kernel within %v", diagTimeout)
		case err != nil:
			return out, intr, os.NewSyscallError("recvmsg", err)
		case rflags&unix.MSG_TRUNC != 0:
			return out, intr, errors.New("netlink message truncated")
		}
		b := buf[:n]
		for len(b) >= sizeofNlMsghdr {
			l := int(ne.Uint32(b[0:]))
			typ := ne.Uint16(b[4:])
			flags := ne.Uint16(b[6:])
			mseq := ne.Uint32(b[8:])
			if l < sizeofNlMsghdr || l > len(b) {
				return out, intr, fmt.Errorf("malformed netlink message (length %d of %d bytes)", l, len(b))
			}
			payload := b[sizeofNlMsghdr:l]
			b = b[min(nlAlign(l), len(b)):]
			if mseq != seq {
				continue // a stale answer to an earlier, abandoned request
			}
			if flags&unix.NLM_F_DUMP_INTR != 0 {
				intr = true
			}
			switch typ {
			case unix.NLMSG_DONE:
				// Since Linux 4.x the DONE payload carries the dump's error.
				if len(payload) >= 4 {
					if e := int32(ne.Uint32(payload)); e < 0 {
						return out, intr, syscall.Errno(-e)
					}
				}
				return out, intr, nil
			case unix.NLMSG_ERROR:
				if len(payload) < 4 {
					return out, intr, errors.New("short NLMSG_ERROR")
				}
				if e := int32(ne.Uint32(payload)); e < 0 {
					return out, intr, syscall.Errno(-e)
				}
				return out, intr, nil // an ACK; a dump ends with DONE, but be lenient
			case unix.SOCK_DIAG_BY_FAMILY:
				sk, ok, err := parseInetDiagMsg(payload, q)
				if err != nil {
					return out, intr, err
				}
				if ok {
					out = append(out, sk)
				}
			}
		}
	}
}

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// parseInetDiagMsg decodes one struct inet_diag_msg and its attributes.
// ok is false for a socket that holds no port (sport 0) or, defensively,
// for one in a state q did not ask for.
func parseInetDiagMsg(p []byte, q diagQuery) (Socket, bool, error) {
	if len(p) < sizeofInetDiagMsg {
		return Socket{}, false, fmt.Errorf("inet_diag_msg too short: %d bytes", len(p))
	}
	family, state := p[0], p[1]
	port := int(binary.BigEndian.Uint16(p[4:6])) // idiag_sport, network order
	if port == 0 || state >= 32 || q.states&(1<<state) == 0 {
		return Socket{}, false, nil
	}
	var addr, remote netip.Addr
	switch family {
	case unix.AF_INET:
		addr, remote = netip.AddrFrom4([4]byte(p[8:12])), netip.AddrFrom4([4]byte(p[24:28]))
	case unix.AF_INET6:
		addr, remote = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
	default:
		return Socket{}, false, fmt.Errorf("inet_diag_msg with unexpected family %d", family)
	}
	sk := Socket{
		Proto: q.proto,
		Addr:  addr,
		Port:  port,
		UID:   ne.Uint32(p[64:]),
		Inode: uint64(ne.Uint32(p[68:])),
	}
	if q.proto == TCP && state != tcpListen {
		sk.State = tcpStates[state]
		if rport := binary.BigEndian.Uint16(p[6:8]); rport != 0 { // idiag_dport
			sk.Remote = netip.AddrPortFrom(remote, rport)
		}
	}
	// Attributes (struct rtattr: u16 len, u16 type, data, 4-byte aligned).
	// The kernel sends INET_DIAG_SKV6ONLY for AF_INET6 sockets in LISTEN or
	// CLOSE; a connected UDP socket gets none and stays V6Only=false, the
	// conservative reading.
	for a := p[sizeofInetDiagMsg:]; len(a) >= 4; {
		l := int(ne.Uint16(a[0:]))
		typ := ne.Uint16(a[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < 4 || l > len(a) {
			return Socket{}, false, fmt.Errorf("malformed inet_diag attribute (length %d of %d bytes)", l, len(a))
		}
		if typ == inetDiagSKV6Only && l >= 5 {
			sk.V6Only = a[4] != 0
		}
		a = a[min(nlAlign(l), len(a)):]
	}
	return sk, true, nil
}
