package hostnet

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
)

func sock(proto Proto, addr string, port int, v6only bool) Socket {
	return Socket{Proto: proto, Addr: netip.MustParseAddr(addr), Port: port, V6Only: v6only, Inode: 1}
}

func TestHoldingOverlapRules(t *testing.T) {
	const port = 8290
	v4any := sock(TCP, "0.0.0.0", port, false)
	v4lo := sock(TCP, "127.0.0.1", port, false)
	dual := sock(TCP, "::", port, false)
	v6only := sock(TCP, "::", port, true)
	v6lo := sock(TCP, "::1", port, true)
	mapped := sock(TCP, "::ffff:127.0.0.1", port, false)
	mappedAny := sock(TCP, "::ffff:0.0.0.0", port, false)
	zoned := sock(TCP, "fe80::1%eth0", port, true)

	tests := []struct {
		name string
		sock Socket
		bind string // "" = invalid netip.Addr, "any address at all"
		want bool
	}{
		{"v4 wildcard holds v4 specific", v4any, "127.0.0.1", true},
		{"v4 wildcard holds v4 wildcard", v4any, "0.0.0.0", true},
		{"v4 wildcard vs v6 specific", v4any, "::1", false},
		{"v4 wildcard vs :: (binder assumed dual-stack)", v4any, "::", true},
		{"v4 wildcard vs v4-mapped bind", v4any, "::ffff:10.1.2.3", true},

		{"v4 specific holds itself", v4lo, "127.0.0.1", true},
		{"v4 specific vs other v4", v4lo, "127.0.0.2", false},
		{"v4 specific vs v4 wildcard bind", v4lo, "0.0.0.0", true},
		{"v4 specific vs :: bind", v4lo, "::", true},
		{"v4 specific vs its mapped form", v4lo, "::ffff:127.0.0.1", true},
		{"v4 specific vs ::1", v4lo, "::1", false},

		{"dual-stack :: holds v4 specific", dual, "10.0.0.1", true},
		{"dual-stack :: holds v4 wildcard", dual, "0.0.0.0", true},
		{"dual-stack :: holds v6 specific", dual, "::1", true},
		{"dual-stack :: holds ::", dual, "::", true},

		{"v6only :: vs v4 specific", v6only, "10.0.0.1", false},
		{"v6only :: holds v4 wildcard (bound dual-stack)", v6only, "0.0.0.0", true},
		{"v6only :: vs v4-mapped", v6only, "::ffff:10.0.0.1", false},
		{"v6only :: holds v6 specific", v6only, "::1", true},
		{"v6only :: holds ::", v6only, "::", true},

		{"v6 specific holds itself", v6lo, "::1", true},
		{"v6 specific vs other v6", v6lo, "::2", false},
		{"v6 specific vs ::", v6lo, "::", true},
		{"v6 specific holds v4 wildcard (bound dual-stack)", v6lo, "0.0.0.0", true},
		{"v6 specific vs v4 loopback", v6lo, "127.0.0.1", false},

		{"mapped socket counts as v4: same", mapped, "127.0.0.1", true},
		{"mapped socket counts as v4: wildcard bind", mapped, "0.0.0.0", true},
		{"mapped socket counts as v4: other", mapped, "127.0.0.2", false},
		{"mapped socket vs ::1", mapped, "::1", false},
		{"mapped socket vs ::", mapped, "::", true},
		{"mapped wildcard socket holds v4", mappedAny, "10.0.0.1", true},
		{"mapped wildcard socket vs v6", mappedAny, "::1", false},

		{"zones are ignored", zoned, "fe80::1%eth1", true},
		{"zoned vs other link-local", zoned, "fe80::2", false},

		{"invalid bind overlaps v4 specific", v4lo, "", true},
		{"invalid bind overlaps v6 specific", v6lo, "", true},
		{"invalid bind overlaps v6only wildcard", v6only, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var bind netip.Addr
			if tc.bind != "" {
				bind = netip.MustParseAddr(tc.bind)
			}
			s := &Snapshot{Sockets: []Socket{tc.sock}}
			got := s.Holding(TCP, port, bind)
			if (len(got) == 1) != tc.want {
				t.Fatalf("Holding(tcp, %d, %q) on %s (v6only=%v) = %v, want held=%v",
					port, tc.bind, tc.sock.Endpoint(), tc.sock.V6Only, got, tc.want)
			}
			// Busy must agree with Holding, socket by socket.
			busy := s.Busy(TCP, bind)
			if _, held := busy[port]; held != tc.want {
				t.Fatalf("Busy(tcp, %q)[%d] held=%v, want %v", tc.bind, port, held, tc.want)
			}
			// Neither another protocol nor another port is affected.
			if got := s.Holding(UDP, port, bind); len(got) != 0 {
				t.Fatalf("Holding(udp) = %v, want none", got)
			}
			if got := s.Holding(TCP, port+1, bind); len(got) != 0 {
				t.Fatalf("Holding(port+1) = %v, want none", got)
			}
		})
	}
}

func TestBusy(t *testing.T) {
	s := &Snapshot{Sockets: []Socket{
		sock(TCP, "0.0.0.0", 8290, false),
		sock(TCP, "127.0.0.1", 9201, false),
		sock(TCP, "::", 8253, true),
		sock(TCP, "::", 9164, false),
		sock(TCP, "10.9.9.9", 9999, false),
		sock(UDP, "0.0.0.0", 514, false),
		sock(UDP, "::1", 8290, true),
	}}
	tests := []struct {
		proto Proto
		bind  string
		want  []int
	}{
		{TCP, "0.0.0.0", []int{8253, 8290, 9164, 9201, 9999}},
		{TCP, "127.0.0.1", []int{8290, 9164, 9201}},
		{TCP, "::", []int{8253, 8290, 9164, 9201, 9999}},
		{TCP, "::1", []int{8253, 9164}},
		{UDP, "0.0.0.0", []int{514, 8290}},
		{UDP, "::", []int{514, 8290}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.proto, tc.bind), func(t *testing.T) {
			busy := s.Busy(tc.proto, netip.MustParseAddr(tc.bind))
			var got []int
			for p := range busy {
				got = append(got, p)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Busy ports = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("open: %w", syscall.EPROTONOSUPPORT), true},
		{fmt.Errorf("dump: %w", syscall.ENOENT), true},
		{syscall.EPERM, true},
		{syscall.EACCES, true},
		{errors.ErrUnsupported, true},
		{syscall.ENOBUFS, false},
		{errors.New("malformed netlink message"), false},
	} {
		if got := refused(tc.err); got != tc.want {
			t.Errorf("refused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// A socket whose process cannot be seen (another user's, to one who is
// not root) is named by its user, which the kernel reports with it;
// "owner unknown" gave an operator nothing to go on.
func TestUnseenOwner(t *testing.T) {
	for _, tt := range []struct {
		s    Socket
		want string
	}{
		{Socket{Inode: 7, UID: 0}, "a process of user root (uid 0)"},
		{Socket{Inode: 7, UID: 4294967290}, "a process of uid 4294967290"}, // no such user
		{Socket{Inode: 0, UID: 0}, "owner unknown"},                        // the kernel's, no process
	} {
		if got := tt.s.UnseenOwner(); got != tt.want {
			t.Errorf("UnseenOwner() of %+v = %q, want %q", tt.s, got, tt.want)
		}
	}
}
