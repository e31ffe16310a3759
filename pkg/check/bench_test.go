package check_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/mictl/mictl/pkg/check"
)

// BenchmarkHoldersBesideConnections names the holders of ten ports on a
// host where one process (this one, standing for an API Manager talking
// to its database and clients) holds 4,000 sockets: what check-conflicts,
// ports table and up do for each instance the planner moved past a busy
// port, as it moves ten planned in the ephemeral range beside many
// connections. Each holder asked for a walk of /proc of its own, and a
// walk reads every descriptor of the processes it passes.
func BenchmarkHoldersBesideConnections(b *testing.B) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	var ports []int
	for range 2000 {
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		ports = append(ports, c.LocalAddr().(*net.TCPAddr).Port)
	}
	for b.Loop() {
		host, err := check.LiveHost(netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			b.Fatal(err)
		}
		for _, port := range ports[:10] {
			if held := host.Holder(port); held.HolderPID == nil {
				b.Fatalf("holder of %d: %v, want this process", port, held.Holder)
			}
		}
	}
}
