//go:build linux

package hostnet

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// busyConns is how many loopback connections the "busy" sub-benchmarks add:
// 2×busyConns established sockets that a listener scan must not pay for.
const busyConns = 1000

// withBusyHost runs fn with busyConns extra established TCP connections
// open on loopback, to show how each method scales with connections that
// are not listeners.
func withBusyHost(b *testing.B, fn func()) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, busyConns)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			// Reset instead of FIN: no TIME_WAIT left behind to slow
			// down the next benchmark's "idle" run.
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	for range busyConns {
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c, <-accepted)
	}
	fn()
}

func benchBoth(b *testing.B, body func(b *testing.B)) {
	b.Run("idle", body)
	withBusyHost(b, func() { b.Run("busy", body) })
}

// BenchmarkScanNetlink is what Scan costs when netlink answers.
func BenchmarkScanNetlink(b *testing.B) {
	if _, err := scanNetlink(listenerQueries[:]); err != nil {
		b.Skipf("netlink: %v", err)
	}
	benchBoth(b, func(b *testing.B) {
		for b.Loop() {
			if _, err := scanNetlink(listenerQueries[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkScanConnections is what planning pays on top of Scan for the
// connections that hold ports: every established socket is dumped, so a
// busy host (withBusyHost's connections) costs more.
func BenchmarkScanConnections(b *testing.B) {
	benchBoth(b, func(b *testing.B) {
		for b.Loop() {
			if _, err := ScanConnections(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkScanProcFS is the fallback's cost.
func BenchmarkScanProcFS(b *testing.B) {
	benchBoth(b, func(b *testing.B) {
		for b.Loop() {
			if _, err := ScanProcFS("/proc"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLibSocketDiagInfo is the same four dumps through the
// vishvananda/netlink helpers (all states, tcp_info, one socket per call),
// kept to justify building the request by hand.
func BenchmarkLibSocketDiagInfo(b *testing.B) {
	if _, err := netlink.SocketDiagTCPInfo(unix.AF_INET); err != nil {
		b.Skipf("netlink: %v", err)
	}
	benchBoth(b, func(b *testing.B) {
		for b.Loop() {
			for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
				if _, err := netlink.SocketDiagTCPInfo(fam); err != nil {
					b.Fatal(err)
				}
				if _, err := netlink.SocketDiagUDPInfo(fam); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkOwners is one full /proc/*/fd walk: inode 1 never exists, so the
// walk cannot stop early.
func BenchmarkOwners(b *testing.B) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ino := inodeOf(b, l.(*net.TCPListener))
	for b.Loop() {
		if got := Owners(ino, 1); len(got) != 1 {
			b.Fatalf("Owners = %v", got)
		}
	}
}
