//go:build linux

package hostnet

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// inodeOf returns the socket inode of a net.Listener or net.PacketConn, read
// from the fd's fstat (st_ino of a socket is its socket inode).
func inodeOf(t testing.TB, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return st.Ino
}

func ipv6Available() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// liveSocket is a socket this test opened, with what Scan must report.
type liveSocket struct {
	name   string
	proto  Proto
	addr   netip.Addr
	port   int
	inode  uint64
	v6only bool
}

// openLive opens loopback-only (and port-0 wildcard) sockets and closes them
// at the end of the test.
func openLive(t *testing.T) []liveSocket {
	t.Helper()
	var out []liveSocket
	add := func(name string, c interface {
		syscall.Conn
		Close() error
	}, proto Proto, ap netip.AddrPort, v6only bool) {
		t.Cleanup(func() { c.Close() })
		out = append(out, liveSocket{name, proto, ap.Addr(), int(ap.Port()), inodeOf(t, c), v6only})
	}
	l4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	add("tcp 127.0.0.1", l4.(*net.TCPListener), TCP, l4.Addr().(*net.TCPAddr).AddrPort(), false)
	u4, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	add("udp 127.0.0.1", u4.(*net.UDPConn), UDP, u4.LocalAddr().(*net.UDPAddr).AddrPort(), false)
	if ipv6Available() {
		// Go sets IPV6_V6ONLY for "tcp6"/"udp6", and not for "tcp" on a
		// wildcard address (a dual-stack [::] socket).
		l6, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Fatal(err)
		}
		add("tcp [::1]", l6.(*net.TCPListener), TCP, l6.Addr().(*net.TCPAddr).AddrPort(), true)
		ld, err := net.Listen("tcp", "[::]:0")
		if err != nil {
			t.Fatal(err)
		}
		add("tcp [::] dual-stack", ld.(*net.TCPListener), TCP, netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(ld.Addr().(*net.TCPAddr).Port)), false)
		lo, err := net.Listen("tcp6", "[::]:0")
		if err != nil {
			t.Fatal(err)
		}
		add("tcp [::] v6only", lo.(*net.TCPListener), TCP, netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(lo.Addr().(*net.TCPAddr).Port)), true)
		u6, err := net.ListenPacket("udp6", "[::1]:0")
		if err != nil {
			t.Fatal(err)
		}
		add("udp [::1]", u6.(*net.UDPConn), UDP, u6.LocalAddr().(*net.UDPAddr).AddrPort(), true)
	} else {
		t.Log("IPv6 unavailable: v6 cases skipped")
	}
	return out
}

func find(s *Snapshot, inode uint64) (Socket, bool) {
	for _, sk := range s.Sockets {
		if sk.Inode == inode {
			return sk, true
		}
	}
	return Socket{}, false
}

func TestScanLive(t *testing.T) {
	live := openLive(t)
	// An established connection must not show up as a listener.
	c, err := net.Dial("tcp4", netip.AddrPortFrom(live[0].addr, uint16(live[0].port)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	clientPort := c.LocalAddr().(*net.TCPAddr).Port

	snap, err := Scan()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("source %s, %d sockets, fallback %v", snap.Source, len(snap.Sockets), snap.Fallback)
	proc, err := ScanProcFS("/proc")
	if err != nil {
		t.Fatal(err)
	}

	var inodes []uint64
	for _, ls := range live {
		inodes = append(inodes, ls.inode)
	}
	owners := Owners(inodes...)

	uid := uint32(os.Getuid())
	for _, ls := range live {
		t.Run(ls.name, func(t *testing.T) {
			got, ok := find(snap, ls.inode)
			if !ok {
				t.Fatalf("Scan() lacks %s port %d inode %d", ls.proto, ls.port, ls.inode)
			}
			if got.Proto != ls.proto || got.Addr != ls.addr || got.Port != ls.port || got.UID != uid {
				t.Errorf("Scan() = %+v, want %s %s:%d uid %d", got, ls.proto, ls.addr, ls.port, uid)
			}
			if snap.Source == SourceNetlink && got.V6Only != ls.v6only {
				t.Errorf("V6Only = %v, want %v", got.V6Only, ls.v6only)
			}
			// procfs agrees on everything but V6Only, which it cannot see.
			pgot, ok := find(proc, ls.inode)
			if !ok {
				t.Fatalf("ScanProcFS(/proc) lacks %s port %d inode %d", ls.proto, ls.port, ls.inode)
			}
			pgot.V6Only = got.V6Only
			if pgot != got {
				t.Errorf("ScanProcFS = %+v, Scan = %+v", pgot, got)
			}
			if h := snap.Holding(ls.proto, ls.port, ls.addr); len(h) == 0 {
				t.Errorf("Holding(%s, %d, %s) is empty", ls.proto, ls.port, ls.addr)
			}
			if o, ok := owners[ls.inode]; !ok || o.PID != os.Getpid() || o.Comm == "" {
				t.Errorf("Owners()[%d] = %v, %v; want pid %d with a comm", ls.inode, o, ok, os.Getpid())
			}
		})
	}
	for _, sk := range snap.Sockets {
		if sk.Proto == TCP && sk.Port == clientPort && sk.Addr == live[0].addr {
			t.Errorf("the client side of an established connection is listed: %+v", sk)
		}
	}
	for _, ls := range live {
		if ls.proto == TCP {
			if n := len(snap.Holding(TCP, ls.port, ls.addr)); n != 1 {
				t.Errorf("%s: %d sockets hold it; the accepted connection must not count", ls.name, n)
			}
		}
	}
}

// TestNetlinkDirect calls the netlink path itself, so a bug in it cannot
// hide behind the procfs fallback (TestScanLive checks V6Only only when
// Scan used netlink).
func TestNetlinkDirect(t *testing.T) {
	socks, err := scanNetlink(listenerQueries[:])
	if err != nil {
		if refused(err) {
			t.Skipf("netlink refused here: %v", err)
		}
		t.Fatal(err)
	}
	for _, sk := range socks {
		if sk.Port == 0 || !sk.Addr.IsValid() {
			t.Errorf("bad socket %+v", sk)
		}
		if sk.Addr.Is4() && sk.V6Only {
			t.Errorf("IPv4 socket with V6Only: %+v", sk)
		}
	}
}

func TestSocketInodesSelf(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ino := inodeOf(t, l.(*net.TCPListener))
	got, err := SocketInodes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[ino]; !ok {
		t.Fatalf("SocketInodes(self) = %v, lacks listener inode %d", got, ino)
	}
	if _, err := SocketInodes(-1); err == nil || !strings.Contains(err.Error(), "/proc/-1/fd") {
		t.Errorf("SocketInodes(-1) error = %v", err)
	}
}

func TestEphemeralRangeLive(t *testing.T) {
	lo, hi, err := EphemeralRange()
	if err != nil {
		t.Fatal(err)
	}
	if !(0 < lo && lo < hi && hi <= 65535) {
		t.Fatalf("EphemeralRange() = %d, %d", lo, hi)
	}
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestNoFDLeak(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ino := inodeOf(t, l.(*net.TCPListener))
	round := func() {
		if _, err := Scan(); err != nil {
			t.Fatal(err)
		}
		if _, err := ScanProcFS("/proc"); err != nil {
			t.Fatal(err)
		}
		Owners(ino, 1) // 1: not found, forces the full walk
		if _, err := SocketInodes(os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := EphemeralRange(); err != nil {
			t.Fatal(err)
		}
	}
	round() // warm up anything the runtime opens once
	before := countFDs(t)
	for range 20 {
		round()
	}
	if after := countFDs(t); after != before {
		t.Fatalf("open fds: %d before, %d after 20 rounds", before, after)
	}
}

// ssKey identifies a socket the way ss prints it. Only a wildcard IPv6
// address carries V6Only: ss prints a dual-stack [::] as "*".
type ssKey struct {
	proto  Proto
	addr   netip.Addr
	port   int
	v6only bool
}

func keyOf(s Socket) ssKey {
	k := ssKey{proto: s.Proto, addr: s.Addr, port: s.Port}
	if s.Addr.Is6() && s.Addr.IsUnspecified() {
		k.v6only = s.V6Only
	}
	return k
}

// runSS returns the sockets ss reports: listening TCP and all UDP (ss -l for
// UDP would show only unconnected ones; Scan reports connected ones too).
func runSS(t *testing.T) map[ssKey]bool {
	t.Helper()
	out := make(map[ssKey]bool)
	for _, q := range []struct {
		proto Proto
		flags string
	}{{TCP, "-ltn"}, {UDP, "-uan"}} {
		b, err := exec.CommandContext(context.Background(), "ss", "-H", q.flags).Output()
		if err != nil {
			t.Fatalf("ss -H %s: %v", q.flags, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 5 {
				continue
			}
			local := f[3] // State Recv-Q Send-Q Local:Port Peer:Port
			i := strings.LastIndexByte(local, ':')
			host, ps := local[:i], local[i+1:]
			port, err := strconv.Atoi(ps)
			if err != nil {
				t.Fatalf("ss line %q: port %q", sc.Text(), ps)
			}
			if j := strings.IndexByte(host, '%'); j >= 0 { // 127.0.0.1%lo
				host = host[:j]
			}
			k := ssKey{proto: q.proto, port: port}
			switch host {
			case "*":
				k.addr = netip.IPv6Unspecified()
			default:
				host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
				k.addr, err = netip.ParseAddr(host)
				if err != nil {
					t.Fatalf("ss line %q: address %q", sc.Text(), host)
				}
				k.v6only = k.addr.Is6() && k.addr.IsUnspecified()
			}
			out[k] = true
		}
	}
	return out
}

// TestScanMatchesSS compares Scan with ss on this machine. Other processes
// may open and close sockets meanwhile, so it scans before and after ss: ss
// must see nothing that neither scan saw, and what both scans saw ss must
// see too.
func TestScanMatchesSS(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss not installed")
	}
	openLive(t) // make sure there is something to compare
	scanKeys := func() map[ssKey]bool {
		s, err := Scan()
		if err != nil {
			t.Fatal(err)
		}
		if s.Source != SourceNetlink {
			t.Skipf("netlink refused (%v): procfs cannot tell V6Only, ss can", s.Fallback)
		}
		m := make(map[ssKey]bool)
		for _, sk := range s.Sockets {
			m[keyOf(sk)] = true
		}
		return m
	}
	before := scanKeys()
	ss := runSS(t)
	after := scanKeys()
	for k := range ss {
		if !before[k] && !after[k] {
			t.Errorf("ss shows %s %s:%d v6only=%v, Scan does not", k.proto, k.addr, k.port, k.v6only)
		}
	}
	for k := range before {
		if after[k] && !ss[k] {
			t.Errorf("Scan shows %s %s:%d v6only=%v, ss does not", k.proto, k.addr, k.port, k.v6only)
		}
	}
	t.Logf("compared %d ss entries", len(ss))
}

// ScanConnections finds an outgoing connection by its local port, with its
// state and peer, through netlink and through procfs alike; listeners are
// not among them. Its port keeps a listener from binding there, even one
// that sets SO_REUSEADDR as MI's do: that is what it is for.
func TestScanConnectionsLive(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	if bl, err := net.Listen("tcp4", local.String()); err == nil {
		bl.Close()
		t.Fatalf("a listener could bind %s, the local port of a connection: nothing to find", local)
	}
	snap, err := ScanConnections()
	if err != nil {
		t.Fatal(err)
	}
	fromProc, err := scanProcFS("/proc", true)
	if err != nil {
		t.Fatal(err)
	}
	remote := l.Addr().(*net.TCPAddr).AddrPort()
	for _, got := range [][]Socket{snap.Sockets, fromProc} {
		i := slices.IndexFunc(got, func(s Socket) bool { return s.Port == int(local.Port()) && s.Addr == local.Addr() })
		if i < 0 {
			t.Fatalf("no socket on %s among %d", local, len(got))
		}
		if s := got[i]; s.Proto != TCP || s.State != "ESTAB" || s.Remote != remote || s.Inode == 0 {
			t.Errorf("the connection's socket: %+v, want tcp ESTAB to %s with an inode", s, remote)
		}
		if slices.ContainsFunc(got, func(s Socket) bool { return s.Port == int(remote.Port()) && s.State == "" }) {
			t.Errorf("the listener %s is among the connections", remote)
		}
	}
}
