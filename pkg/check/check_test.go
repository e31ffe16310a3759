package check_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
)

// inst is a planned instance with the catalogue's default bases.
func inst(name string, offset int) ports.Instance {
	return ports.Instance{Name: name, Offset: offset, Bases: ports.DefaultBases()}
}

// instBases is a planned instance with explicit bases (as overrides give).
func instBases(name string, offset int, bases ports.Set) ports.Instance {
	return ports.Instance{Name: name, Offset: offset, Bases: bases}
}

func plan(insts ...ports.Instance) ports.Plan { return ports.Plan{Instances: insts} }

// withInbound gives i an app's HTTP inbound endpoint on 8085, shifted by
// the offset or not.
func withInbound(i ports.Instance, shifted bool) ports.Instance {
	i.Extras = append(i.Extras, ports.Extra{Role: ports.RoleInbound, Name: "orders_1.0.0/In", Base: 8085, Shifted: shifted})
	return i
}

// withUnshiftedInbound adds an inbound endpoint on 8085 that MI does not
// offset, whose offset setting (ports.Extra.OffsetSwitch) is offsetSwitch.
func withUnshiftedInbound(i ports.Instance, offsetSwitch string) ports.Instance {
	i = withInbound(i, false)
	i.Extras[len(i.Extras)-1].OffsetSwitch = offsetSwitch
	return i
}

// noHost is a host that only checks ranges: unprivileged, no sockets, no
// ephemeral range.
func noHost() check.Host { return check.Host{MinPort: ports.FirstUnprivileged} }

func messages(fs []check.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Message
	}
	return out
}

func kinds(fs []check.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Kind
	}
	return out
}

func TestRunPlanConflicts(t *testing.T) {
	tests := []struct {
		name string
		plan ports.Plan
		want []string // conflict messages, in report order
	}{
		{
			name: "disjoint offsets do not clash",
			plan: plan(inst("mi-1", 10), inst("mi-2", 11), inst("mi-3", 12)),
			want: []string{},
		},
		{
			// docs/mi-facts.md: a-b = 37 collides across roles (8243+a = 8280+b, 9154+a = 9191+b).
			name: "offsets 10 and 47 clash across roles",
			plan: plan(inst("mi-1", 10), inst("mi-2", 47)),
			want: []string{
				"mi-1 http port 8290 ↔ mi-2 https port 8290 (offset 10 vs 47)",
				"mi-1 internal_http port 9201 ↔ mi-2 management port 9201 (offset 10 vs 47)",
			},
		},
		{
			// MI binds an unshifted endpoint's port as written on every
			// instance: the clash says so. At one offset every port
			// clashes, and the endpoint's shift is beside the point.
			name: "an unshifted inbound endpoint clashes across offsets",
			plan: plan(withUnshiftedInbound(inst("mi-1", 10), "inbound.port_offset_enable"), withUnshiftedInbound(inst("mi-2", 11), "inbound.port_offset_enable")),
			want: []string{"mi-1 inbound orders_1.0.0/In port 8085 ↔ mi-2 inbound orders_1.0.0/In port 8085 (offset 10 vs 11): MI adds no offset to this HTTP(S) endpoint's port while [mediation] inbound.port_offset_enable is off, so every instance binds it; turn it on, or give each instance an app with a port of its own"},
		},
		{
			// The hint names the endpoint's own switch: a WebSocket one
			// has its parameter, an HL7 one none. An HL7 clash said "turn
			// that on" of the HTTP(S) and WebSocket switches, which do
			// nothing for it.
			name: "an unshifted WebSocket endpoint's hint names its parameter",
			plan: plan(withUnshiftedInbound(inst("mi-1", 10), "ws.use.port.offset"), withUnshiftedInbound(inst("mi-2", 11), "ws.use.port.offset")),
			want: []string{"mi-1 inbound orders_1.0.0/In port 8085 ↔ mi-2 inbound orders_1.0.0/In port 8085 (offset 10 vs 11): MI adds no offset to this WebSocket endpoint's port unless its ws.use.port.offset parameter is true, so every instance binds it; set that in the CApp, or give each instance an app with a port of its own"},
		},
		{
			name: "an HL7 endpoint's hint names no switch it does not have",
			plan: plan(withUnshiftedInbound(inst("mi-1", 10), ""), withUnshiftedInbound(inst("mi-2", 11), "")),
			want: []string{"mi-1 inbound orders_1.0.0/In port 8085 ↔ mi-2 inbound orders_1.0.0/In port 8085 (offset 10 vs 11): MI never adds the offset to this endpoint's port (only HTTP(S) and WebSocket endpoints have an offset setting), so every instance binds it; give each instance an app with a port of its own"},
		},
		{
			name: "one offset: a shifted endpoint clashes as every port does",
			plan: plan(withInbound(inst("mi-1", 10), true), withInbound(inst("mi-2", 10), true)),
			want: []string{
				"mi-1 inbound orders_1.0.0/In port 8095 ↔ mi-2 inbound orders_1.0.0/In port 8095 (offset 10 vs 10)",
				"mi-1 https port 8253 ↔ mi-2 https port 8253 (offset 10 vs 10)",
				"mi-1 http port 8290 ↔ mi-2 http port 8290 (offset 10 vs 10)",
				"mi-1 management port 9164 ↔ mi-2 management port 9164 (offset 10 vs 10)",
				"mi-1 internal_http port 9201 ↔ mi-2 internal_http port 9201 (offset 10 vs 10)",
			},
		},
		{
			name: "the same clash seen from the other side keeps plan order",
			plan: plan(inst("mi-2", 47), inst("mi-1", 10)),
			want: []string{
				"mi-2 https port 8290 ↔ mi-1 http port 8290 (offset 47 vs 10)",
				"mi-2 management port 9201 ↔ mi-1 internal_http port 9201 (offset 47 vs 10)",
			},
		},
		{
			// 8280+a = 9154+b when a-b = 874.
			name: "a-b = 874: http of one is the management port of the other",
			plan: plan(inst("mi-1", 884), inst("mi-2", 10)),
			want: []string{"mi-1 http port 9164 ↔ mi-2 management port 9164 (offset 884 vs 10)"},
		},
		{
			// 9154+a = 8280+b when a-b = -874.
			name: "a-b = -874: management of one is the http port of the other",
			plan: plan(inst("mi-1", 10), inst("mi-2", 884)),
			want: []string{"mi-1 management port 9164 ↔ mi-2 http port 9164 (offset 10 vs 884)"},
		},
		{
			name: "equal offsets clash on every role",
			plan: plan(inst("mi-1", 10), inst("mi-2", 10)),
			want: []string{
				"mi-1 https port 8253 ↔ mi-2 https port 8253 (offset 10 vs 10)",
				"mi-1 http port 8290 ↔ mi-2 http port 8290 (offset 10 vs 10)",
				"mi-1 management port 9164 ↔ mi-2 management port 9164 (offset 10 vs 10)",
				"mi-1 internal_http port 9201 ↔ mi-2 internal_http port 9201 (offset 10 vs 10)",
			},
		},
		{
			name: "three instances on one port give three pairwise findings",
			plan: plan(
				inst("mi-1", 10),
				inst("mi-2", 47),
				// http 8290, the rest far away from the others.
				instBases("mi-3", 100, ports.Set{8190, 8100, 8000, 7900}),
			),
			want: []string{
				"mi-1 http port 8290 ↔ mi-2 https port 8290 (offset 10 vs 47)",
				"mi-1 http port 8290 ↔ mi-3 http port 8290 (offset 10 vs 100)",
				"mi-2 https port 8290 ↔ mi-3 http port 8290 (offset 47 vs 100)",
				"mi-1 internal_http port 9201 ↔ mi-2 management port 9201 (offset 10 vs 47)",
			},
		},
		{
			name: "one instance with two roles on the same base",
			plan: plan(instBases("mi-1", 10, ports.Set{8280, 8280, 9191, 9154})),
			want: []string{"mi-1 http port 8290 ↔ mi-1 https port 8290 (offset 10 vs 10)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := check.Run(tt.plan, noHost())
			if got := messages(r.Conflicts); !slices.Equal(got, tt.want) {
				t.Fatalf("conflicts:\n got %q\nwant %q", got, tt.want)
			}
			for _, f := range r.Conflicts {
				if f.Kind != check.KindPlan {
					t.Errorf("kind = %q, want %q: %s", f.Kind, check.KindPlan, f.Message)
				}
				if f.Holder != nil || f.HolderPID != nil || f.HolderProcess != nil || f.Address != nil {
					t.Errorf("plan finding has host fields: %+v", f)
				}
				if len(f.Parties) != 2 {
					t.Fatalf("plan finding must name both sides: %+v", f)
				}
				// Instances lists each instance once: two roles of one
				// instance name it once.
				wantInstances := []string{f.Parties[0].Instance, f.Parties[1].Instance}
				if wantInstances[0] == wantInstances[1] {
					wantInstances = wantInstances[:1]
				}
				if !slices.Equal(f.Instances, wantInstances) {
					t.Errorf("instances %v do not match parties %+v", f.Instances, f.Parties)
				}
			}
			if r.OK() != (len(tt.want) == 0) {
				t.Errorf("OK() = %v with %d conflicts", r.OK(), len(r.Conflicts))
			}
			if len(r.Warnings) != 0 {
				t.Errorf("unexpected warnings: %q", messages(r.Warnings))
			}
		})
	}
}

func TestRunPlanFindingFields(t *testing.T) {
	r := check.Run(plan(inst("mi-1", 10), inst("mi-2", 47)), noHost())
	if len(r.Conflicts) != 2 {
		t.Fatalf("got %d conflicts, want 2: %q", len(r.Conflicts), messages(r.Conflicts))
	}
	want := check.Finding{
		Kind:      check.KindPlan,
		Port:      8290,
		Instances: []string{"mi-1", "mi-2"},
		Parties: []check.Party{
			{Instance: "mi-1", Role: "http", Offset: 10},
			{Instance: "mi-2", Role: "https", Offset: 47},
		},
		Message: "mi-1 http port 8290 ↔ mi-2 https port 8290 (offset 10 vs 47)",
	}
	if !reflect.DeepEqual(r.Conflicts[0], want) {
		t.Fatalf("finding:\n got %+v\nwant %+v", r.Conflicts[0], want)
	}
}

// socket is a TCP listener.
func socket(addr string, port int, inode uint64) hostnet.Socket {
	return hostnet.Socket{Proto: hostnet.TCP, Addr: netip.MustParseAddr(addr), Port: port, Inode: inode}
}

// connection is s as a TCP socket in state, connected to peer.
func connection(s hostnet.Socket, state, peer string) hostnet.Socket {
	s.State, s.Remote = state, netip.MustParseAddrPort(peer)
	return s
}

func snapshot(socks ...hostnet.Socket) *hostnet.Snapshot {
	return &hostnet.Snapshot{Sockets: socks, Source: hostnet.SourceNetlink}
}

// ownersRecorder is a fake hostnet.Owners that remembers every call.
type ownersRecorder struct {
	mu    sync.Mutex
	known map[uint64]hostnet.Process
	calls [][]uint64
}

func (o *ownersRecorder) Owners(inodes ...uint64) map[uint64]hostnet.Process {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, slices.Clone(inodes))
	out := map[uint64]hostnet.Process{}
	for _, in := range inodes {
		if p, ok := o.known[in]; ok {
			out[in] = p
		}
	}
	return out
}

func TestRunHostHolding(t *testing.T) {
	v6only := func(s hostnet.Socket) hostnet.Socket { s.V6Only = true; return s }
	udp := func(s hostnet.Socket) hostnet.Socket { s.Proto = hostnet.UDP; return s }
	tests := []struct {
		name   string
		bind   string // "" is the zero netip.Addr: any address
		socket hostnet.Socket
		want   []string // host conflict messages
	}{
		{"wildcard v4 holds the bind address", "127.0.0.1", socket("0.0.0.0", 8290, 7),
			[]string{"mi-1 http port 8290 is held by a process of user root (uid 0) on 0.0.0.0"}},
		{"the bind address itself", "127.0.0.1", socket("127.0.0.1", 8290, 7),
			[]string{"mi-1 http port 8290 is held by a process of user root (uid 0) on 127.0.0.1"}},
		{"dual-stack [::] holds IPv4 too", "127.0.0.1", socket("::", 9164, 7),
			[]string{"mi-1 management port 9164 is held by a process of user root (uid 0) on ::"}},
		{"v6-only [::] leaves IPv4 alone", "127.0.0.1", v6only(socket("::", 9164, 7)), nil},
		{"IPv4-mapped bind address", "127.0.0.1", socket("::ffff:127.0.0.1", 8253, 7),
			[]string{"mi-1 https port 8253 is held by a process of user root (uid 0) on ::ffff:127.0.0.1"}},
		{"a different loopback address", "127.0.0.1", socket("127.0.0.2", 8290, 7), nil},
		{"a different specific address", "127.0.0.1", socket("10.1.2.3", 8290, 7), nil},
		{"::1 does not hold 127.0.0.1", "127.0.0.1", socket("::1", 8290, 7), nil},
		{"UDP is not a listener clash", "127.0.0.1", udp(socket("0.0.0.0", 8290, 7)), nil},
		{"a port the plan does not use", "127.0.0.1", socket("0.0.0.0", 8291, 7), nil},
		{"wildcard bind meets any specific v4 address", "0.0.0.0", socket("10.1.2.3", 9201, 7),
			[]string{"mi-1 internal_http port 9201 is held by a process of user root (uid 0) on 10.1.2.3"}},
		{"wildcard v4 bind meets v6 sockets: MI binds it dual-stack", "0.0.0.0", v6only(socket("::1", 9201, 7)),
			[]string{"mi-1 internal_http port 9201 is held by a process of user root (uid 0) on ::1"}},
		{"[::] bind meets a specific v6 address", "::", socket("::1", 9201, 7),
			[]string{"mi-1 internal_http port 9201 is held by a process of user root (uid 0) on ::1"}},
		{"zero bind means any address", "", socket("192.168.1.1", 8290, 7),
			[]string{"mi-1 http port 8290 is held by a process of user root (uid 0) on 192.168.1.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bind netip.Addr
			if tt.bind != "" {
				bind = netip.MustParseAddr(tt.bind)
			}
			host := check.Host{Sockets: snapshot(tt.socket), Bind: bind, MinPort: 1024}
			r := check.Run(plan(inst("mi-1", 10)), host)
			got := messages(r.Conflicts)
			if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Fatalf("conflicts:\n got %q\nwant %q", got, tt.want)
			}
			for _, f := range r.Conflicts {
				if f.Kind != check.KindHost {
					t.Errorf("kind = %q, want %q", f.Kind, check.KindHost)
				}
				if f.Address == nil || *f.Address != tt.socket.Addr.String() || f.Port != tt.socket.Port {
					t.Errorf("address/port = %v/%d, want %s/%d", f.Address, f.Port, tt.socket.Addr, tt.socket.Port)
				}
				if f.HolderPID != nil {
					t.Errorf("holder_pid = %d without an Owners func", *f.HolderPID)
				}
			}
			// Busy is the planner's view of the same rule (for a planned
			// port; TestHostBusy covers the others), which also passes
			// over a listener on the other loopback address (::1, or a
			// v6-only [::]).
			busy := host.Busy()
			if busy == nil {
				t.Fatal("Busy() = nil with a snapshot")
			}
			planned := slices.Contains([]int{8290, 8253, 9201, 9164}, tt.socket.Port)
			otherLoopback := bind == netip.MustParseAddr("127.0.0.1") && (tt.socket.Addr == netip.IPv6Loopback() || tt.socket.Addr == netip.IPv6Unspecified())
			if got, want := busy(tt.socket.Port), len(tt.want) > 0 || otherLoopback; planned && got != want {
				t.Errorf("Busy()(%d) = %v, want %v", tt.socket.Port, got, want)
			}
		})
	}
}

func TestRunHostOwners(t *testing.T) {
	tests := []struct {
		name    string
		known   map[uint64]hostnet.Process
		wantPID *int
		wantMsg string
		process string
		// whose says which instance a pid is of; instance is what it
		// says of the holder.
		whose    func(pid int) (string, string)
		instance string
	}{
		{
			name:    "owner known",
			known:   map[uint64]hostnet.Process{42: {PID: 42, Comm: "java"}},
			wantPID: ptr(42),
			process: "java",
			wantMsg: "mi-1 http port 8290 is held by pid 42 (java) on 0.0.0.0",
		},
		{
			name:    "owner known without a command name",
			known:   map[uint64]hostnet.Process{42: {PID: 4242}},
			wantPID: ptr(4242),
			wantMsg: "mi-1 http port 8290 is held by pid 4242 on 0.0.0.0",
		},
		{
			name:    "owner unseen: its user",
			known:   map[uint64]hostnet.Process{},
			wantMsg: "mi-1 http port 8290 is held by a process of user root (uid 0) on 0.0.0.0",
			whose:   func(int) (string, string) { return "mi-3", ", the server of mi-3" },
		},
		{
			name:    "owner an instance's server",
			known:   map[uint64]hostnet.Process{42: {PID: 42, Comm: "mictl-sim"}},
			wantPID: ptr(42),
			process: "mictl-sim",
			wantMsg: "mi-1 http port 8290 is held by pid 42 (mictl-sim), the server of mi-3, on 0.0.0.0",
			whose: func(pid int) (string, string) {
				if pid != 42 {
					return "", ""
				}
				return "mi-3", ", the server of mi-3"
			},
			instance: "mi-3",
		},
		{
			name:    "owner none of the deployment's",
			known:   map[uint64]hostnet.Process{42: {PID: 42, Comm: "java"}},
			wantPID: ptr(42),
			process: "java",
			wantMsg: "mi-1 http port 8290 is held by pid 42 (java) on 0.0.0.0",
			whose:   func(int) (string, string) { return "", "" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &ownersRecorder{known: tt.known}
			host := check.Host{
				Sockets: snapshot(socket("0.0.0.0", 8290, 42)),
				Bind:    netip.MustParseAddr("127.0.0.1"),
				Owners:  rec.Owners,
				Whose:   tt.whose,
				MinPort: 1024,
			}
			r := check.Run(plan(inst("mi-1", 10)), host)
			if len(r.Conflicts) != 1 {
				t.Fatalf("got %q, want one host conflict", messages(r.Conflicts))
			}
			f := r.Conflicts[0]
			if f.Message != tt.wantMsg {
				t.Errorf("message = %q, want %q", f.Message, tt.wantMsg)
			}
			switch {
			case tt.wantPID == nil && f.HolderPID != nil:
				t.Errorf("holder_pid = %d, want nil", *f.HolderPID)
			case tt.wantPID != nil && (f.HolderPID == nil || *f.HolderPID != *tt.wantPID):
				t.Errorf("holder_pid = %v, want %d", f.HolderPID, *tt.wantPID)
			}
			var process, instance *string
			if tt.process != "" {
				process = &tt.process
			}
			if tt.instance != "" {
				instance = &tt.instance
			}
			addr := "0.0.0.0"
			want := check.Finding{
				Kind: check.KindHost, Port: 8290, Instances: []string{"mi-1"},
				Parties: []check.Party{{Instance: "mi-1", Role: "http", Offset: 10}},
				HeldBy:  check.HeldBy{Holder: f.Holder, HolderPID: f.HolderPID, HolderProcess: process, HolderInstance: instance},
				Address: &addr, Message: tt.wantMsg,
			}
			if !reflect.DeepEqual(f, want) {
				t.Errorf("finding:\n got %+v\nwant %+v", f, want)
			}
			// The planner's notes name a holder the same way.
			if held := host.Holder(8290); !reflect.DeepEqual(held, want.HeldBy) {
				t.Errorf("Holder(8290) = %+v, want %+v", held, want.HeldBy)
			}
		})
	}
}

func ptr(n int) *int { return &n }

func TestRunHostOwnersOnlyForClashes(t *testing.T) {
	rec := &ownersRecorder{known: map[uint64]hostnet.Process{
		1: {PID: 100, Comm: "nginx"},
		5: {PID: 500, Comm: "java"},
	}}
	ours := map[uint64]bool{4: true}
	host := check.Host{
		Sockets: snapshot(
			socket("0.0.0.0", 8290, 1),   // clashes with mi-1 http
			socket("0.0.0.0", 8291, 2),   // no planned port
			socket("127.0.0.2", 9164, 3), // another address
			socket("127.0.0.1", 9201, 4), // ours
			socket("0.0.0.0", 8253, 5),   // clashes with mi-1 https
			socket("0.0.0.0", 22, 6),     // sshd, nothing to do with us
		),
		Bind:    netip.MustParseAddr("127.0.0.1"),
		Owners:  rec.Owners,
		Ours:    func(s hostnet.Socket, _ string) bool { return ours[s.Inode] },
		MinPort: 1024,
	}
	r := check.Run(plan(inst("mi-1", 10)), host)
	want := []string{
		"mi-1 https port 8253 is held by pid 500 (java) on 0.0.0.0",
		"mi-1 http port 8290 is held by pid 100 (nginx) on 0.0.0.0",
	}
	if got := messages(r.Conflicts); !slices.Equal(got, want) {
		t.Fatalf("conflicts:\n got %q\nwant %q", got, want)
	}
	if len(rec.calls) != 1 {
		t.Fatalf("Owners called %d times (%v), want once", len(rec.calls), rec.calls)
	}
	got := slices.Sorted(slices.Values(rec.calls[0]))
	if !slices.Equal(got, []uint64{1, 5}) {
		t.Errorf("Owners called with inodes %v, want exactly [1 5]", rec.calls[0])
	}
}

// A socket a running instance holds is no conflict for that instance's
// own plan (a port it still holds that its record no longer lists), but
// it is for another's: Ours is asked per instance.
func TestRunHostOursPerInstance(t *testing.T) {
	rec := &ownersRecorder{known: map[uint64]hostnet.Process{7: {PID: 700, Comm: "mictl-sim"}}}
	host := check.Host{
		Sockets: snapshot(socket("0.0.0.0", 8290, 7), socket("0.0.0.0", 8291, 7)),
		Bind:    netip.MustParseAddr("127.0.0.1"),
		Owners:  rec.Owners,
		Ours:    func(s hostnet.Socket, instance string) bool { return s.Inode == 7 && instance == "mi-1" },
		MinPort: 1024,
	}
	if r := check.Run(plan(inst("mi-1", 10)), host); !r.OK() {
		t.Fatalf("mi-1's own socket is a conflict for mi-1: %q", messages(r.Conflicts))
	}
	r := check.Run(plan(inst("mi-2", 11)), host)
	if want := []string{"mi-2 http port 8291 is held by pid 700 (mictl-sim) on 0.0.0.0"}; !slices.Equal(messages(r.Conflicts), want) {
		t.Fatalf("conflicts for mi-2:\n got %q\nwant %q", messages(r.Conflicts), want)
	}
	if busy := host.Busy(); !busy(8291) {
		t.Error("the planner sees mi-1's socket as free for any instance")
	}
}

func TestRunHostNoClashSkipsOwners(t *testing.T) {
	rec := &ownersRecorder{}
	host := check.Host{
		Sockets: snapshot(socket("0.0.0.0", 22, 1), socket("127.0.0.1", 8290, 2)),
		Bind:    netip.MustParseAddr("127.0.0.1"),
		Owners:  rec.Owners,
		Ours:    func(s hostnet.Socket, _ string) bool { return s.Inode == 2 },
		MinPort: 1024,
	}
	r := check.Run(plan(inst("mi-1", 10)), host)
	if !r.OK() {
		t.Fatalf("conflicts: %q", messages(r.Conflicts))
	}
	if len(rec.calls) != 0 {
		t.Errorf("Owners called %v although nothing clashes (walking /proc is the expensive part)", rec.calls)
	}
}

func TestRunHostPortSharedByTwoInstances(t *testing.T) {
	// 8290 is both mi-1's http and mi-2's https, and a foreign process holds it:
	// one plan finding plus one host finding per instance, and the socket's
	// owner is looked up once.
	rec := &ownersRecorder{known: map[uint64]hostnet.Process{9: {PID: 9, Comm: "nc"}}}
	host := check.Host{
		Sockets: snapshot(socket("0.0.0.0", 8290, 9)),
		Bind:    netip.MustParseAddr("127.0.0.1"),
		Owners:  rec.Owners,
		MinPort: 1024,
	}
	r := check.Run(plan(inst("mi-1", 10), inst("mi-2", 47)), host)
	want := []string{
		"mi-1 http port 8290 is held by pid 9 (nc) on 0.0.0.0",
		"mi-2 https port 8290 is held by pid 9 (nc) on 0.0.0.0",
		"mi-1 http port 8290 ↔ mi-2 https port 8290 (offset 10 vs 47)",
		"mi-1 internal_http port 9201 ↔ mi-2 management port 9201 (offset 10 vs 47)",
	}
	if got := messages(r.Conflicts); !slices.Equal(got, want) {
		t.Fatalf("conflicts:\n got %q\nwant %q", got, want)
	}
	if len(rec.calls) != 1 || !slices.Equal(rec.calls[0], []uint64{9}) {
		t.Errorf("Owners calls = %v, want [[9]]", rec.calls)
	}
}

// reserveIt ends an ephemeral warning: what keeps the kernel off the port.
const reserveIt = "; add it to net.ipv4.ip_local_reserved_ports (sysctl), which keeps the kernel from handing it out"

func TestRunRanges(t *testing.T) {
	tests := []struct {
		name      string
		plan      ports.Plan
		host      check.Host
		conflicts []string
		warnings  []string
		ok        bool
	}{
		{
			name:      "port 80 needs root",
			plan:      plan(instBases("mi-1", 10, ports.Set{70, 8243, 9191, 9154})),
			host:      check.Host{MinPort: 1024},
			conflicts: []string{"mi-1 http port 80 is below 1024 and needs root; raise the offset 10"},
		},
		{
			name: "port 80 is fine for root",
			plan: plan(instBases("mi-1", 10, ports.Set{70, 8243, 9191, 9154})),
			host: check.Host{MinPort: 1},
			ok:   true,
		},
		{
			name: "1024 itself is not privileged",
			plan: plan(instBases("mi-1", 0, ports.Set{1024, 8243, 9191, 9154})),
			host: check.Host{MinPort: 1024},
			ok:   true,
		},
		{
			name: "1023 is privileged",
			plan: plan(instBases("mi-1", 0, ports.Set{1023, 8243, 9191, 9154})),
			host: check.Host{MinPort: 1024},
			conflicts: []string{
				"mi-1 http port 1023 is below 1024 and needs root; raise the offset 0",
			},
		},
		{
			name: "ports above 65535",
			plan: plan(inst("mi-1", 57000)), // 65280, 65243, 66191, 66154
			host: check.Host{MinPort: 1024},
			conflicts: []string{
				"mi-1 management port 66154 is not a valid port number (1-65535); lower the offset 57000 or the base port",
				"mi-1 internal_http port 66191 is not a valid port number (1-65535); lower the offset 57000 or the base port",
			},
		},
		{
			name: "65535 is valid",
			plan: plan(instBases("mi-1", 0, ports.Set{65535, 8243, 9191, 9154})),
			host: check.Host{MinPort: 1024},
			ok:   true,
		},
		{
			name:      "port 0 is out of range, not privileged",
			plan:      plan(instBases("mi-1", 0, ports.Set{0, 8243, 9191, 9154})),
			host:      check.Host{MinPort: 1024},
			conflicts: []string{"mi-1 http port 0 is not a valid port number (1-65535); lower the offset 0 or the base port"},
		},
		{
			name:     "ephemeral range is a warning",
			plan:     plan(inst("mi-1", 10)), // 8290 8253 9201 9164
			host:     check.Host{MinPort: 1024, EphemeralLo: 9000, EphemeralHi: 9200},
			warnings: []string{"mi-1 management port 9164 is inside the ephemeral range 9000-9200: any outgoing connection may take it first" + reserveIt},
			ok:       true,
		},
		{
			name: "ephemeral bounds are inclusive",
			plan: plan(inst("mi-1", 10)),
			host: check.Host{MinPort: 1024, EphemeralLo: 8253, EphemeralHi: 8290},
			warnings: []string{
				"mi-1 https port 8253 is inside the ephemeral range 8253-8290: any outgoing connection may take it first" + reserveIt,
				"mi-1 http port 8290 is inside the ephemeral range 8253-8290: any outgoing connection may take it first" + reserveIt,
			},
			ok: true,
		},
		{
			name: "a port reserved inside the ephemeral range is no warning",
			plan: plan(inst("mi-1", 10)),
			host: check.Host{MinPort: 1024, EphemeralLo: 8253, EphemeralHi: 8290, LocalReserved: hostnet.PortRanges{{8250, 8253}}},
			warnings: []string{
				"mi-1 http port 8290 is inside the ephemeral range 8253-8290: any outgoing connection may take it first" + reserveIt,
			},
			ok: true,
		},
		{
			name: "just outside the ephemeral range",
			plan: plan(inst("mi-1", 10)),
			host: check.Host{MinPort: 1024, EphemeralLo: 8254, EphemeralHi: 8289},
			ok:   true,
		},
		{
			name: "0,0 skips the ephemeral check",
			plan: plan(instBases("mi-1", 0, ports.Set{1024, 8243, 9191, 9154})),
			host: check.Host{MinPort: 1024},
			ok:   true,
		},
		{
			name: "an invalid port is not also an ephemeral warning",
			plan: plan(inst("mi-1", 57000)),
			host: check.Host{MinPort: 1024, EphemeralLo: 60000, EphemeralHi: 70000},
			conflicts: []string{
				"mi-1 management port 66154 is not a valid port number (1-65535); lower the offset 57000 or the base port",
				"mi-1 internal_http port 66191 is not a valid port number (1-65535); lower the offset 57000 or the base port",
			},
			warnings: []string{
				"mi-1 https port 65243 is inside the ephemeral range 60000-70000: any outgoing connection may take it first" + reserveIt,
				"mi-1 http port 65280 is inside the ephemeral range 60000-70000: any outgoing connection may take it first" + reserveIt,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := check.Run(tt.plan, tt.host)
			if got := messages(r.Conflicts); !slices.Equal(got, orEmpty(tt.conflicts)) {
				t.Errorf("conflicts:\n got %q\nwant %q", got, tt.conflicts)
			}
			if got := messages(r.Warnings); !slices.Equal(got, orEmpty(tt.warnings)) {
				t.Errorf("warnings:\n got %q\nwant %q", got, tt.warnings)
			}
			if r.OK() != tt.ok {
				t.Errorf("OK() = %v, want %v", r.OK(), tt.ok)
			}
			for _, f := range r.Warnings {
				if f.Kind != check.KindEphemeral {
					t.Errorf("warning kind = %q, want %q", f.Kind, check.KindEphemeral)
				}
			}
			for _, f := range r.Conflicts {
				want := check.KindPrivileged
				if f.Port < 1 || f.Port > ports.MaxPort {
					want = check.KindRange
				}
				if f.Kind != want {
					t.Errorf("%s: kind = %q, want %q", f.Message, f.Kind, want)
				}
				if len(f.Instances) != 1 || f.Instances[0] != "mi-1" || len(f.Parties) != 1 {
					t.Errorf("%s: instances %v parties %v, want just mi-1", f.Message, f.Instances, f.Parties)
				}
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestReportJSON(t *testing.T) {
	t.Run("empty report has arrays, not null", func(t *testing.T) {
		r := check.Run(ports.Plan{}, noHost())
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), `{"conflicts":[],"warnings":[]}`; got != want {
			t.Errorf("json = %s, want %s", got, want)
		}
		if !r.OK() {
			t.Error("an empty report is not OK")
		}
	})
	t.Run("clean plan has arrays, not null", func(t *testing.T) {
		r := check.Run(plan(inst("mi-1", 10), inst("mi-2", 11)), noHost())
		b, _ := json.Marshal(r)
		if got, want := string(b), `{"conflicts":[],"warnings":[]}`; got != want {
			t.Errorf("json = %s, want %s", got, want)
		}
	})
	t.Run("plan finding has null host keys", func(t *testing.T) {
		r := check.Run(plan(inst("mi-1", 10), inst("mi-2", 47)), noHost())
		b, _ := json.Marshal(r)
		var doc struct {
			Conflicts []map[string]json.RawMessage `json:"conflicts"`
			Warnings  []map[string]json.RawMessage `json:"warnings"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Conflicts) != 2 || doc.Warnings == nil {
			t.Fatalf("json = %s", b)
		}
		f := doc.Conflicts[0]
		keys := slices.Sorted(maps.Keys(f))
		if want := []string{"address", "holder", "holder_instance", "holder_pid", "holder_process", "instances", "kind", "message", "parties", "port"}; !slices.Equal(keys, want) {
			t.Errorf("keys = %v, want %v", keys, want)
		}
		for _, k := range []string{"holder", "holder_pid", "holder_process", "holder_instance", "address"} {
			if string(f[k]) != "null" {
				t.Errorf("%s = %s, want null", k, f[k])
			}
		}
		if string(f["kind"]) != `"plan"` || string(f["port"]) != "8290" {
			t.Errorf("kind/port = %s/%s", f["kind"], f["port"])
		}
		if got, want := string(f["parties"]), `[{"instance":"mi-1","role":"http","offset":10,"listener":null},{"instance":"mi-2","role":"https","offset":47,"listener":null}]`; got != want {
			t.Errorf("parties = %s, want %s", got, want)
		}
		if got, want := string(f["instances"]), `["mi-1","mi-2"]`; got != want {
			t.Errorf("instances = %s, want %s", got, want)
		}
	})
	t.Run("host finding carries its holder and address", func(t *testing.T) {
		rec := &ownersRecorder{known: map[uint64]hostnet.Process{42: {PID: 42, Comm: "java"}}}
		host := check.Host{Sockets: snapshot(socket("0.0.0.0", 8290, 42)), Bind: netip.MustParseAddr("127.0.0.1"), Owners: rec.Owners, MinPort: 1024}
		b, _ := json.Marshal(check.Run(plan(inst("mi-1", 10)), host))
		want := `{"conflicts":[{"kind":"host","port":8290,"instances":["mi-1"],"parties":[{"instance":"mi-1","role":"http","offset":10,"listener":null}],"holder":"pid 42 (java)","holder_pid":42,"holder_process":"java","holder_instance":null,"address":"0.0.0.0","message":"mi-1 http port 8290 is held by pid 42 (java) on 0.0.0.0"}],"warnings":[]}`
		if string(b) != want {
			t.Errorf("json:\n got %s\nwant %s", b, want)
		}
		host.Whose = func(int) (string, string) { return "mi-3", ", the server of mi-3" }
		b, _ = json.Marshal(check.Run(plan(inst("mi-1", 10)), host))
		want = `{"conflicts":[{"kind":"host","port":8290,"instances":["mi-1"],"parties":[{"instance":"mi-1","role":"http","offset":10,"listener":null}],"holder":"pid 42 (java), the server of mi-3","holder_pid":42,"holder_process":"java","holder_instance":"mi-3","address":"0.0.0.0","message":"mi-1 http port 8290 is held by pid 42 (java), the server of mi-3, on 0.0.0.0"}],"warnings":[]}`
		if string(b) != want {
			t.Errorf("json naming the holder's instance:\n got %s\nwant %s", b, want)
		}
	})
}

func TestRunStableOrder(t *testing.T) {
	// Every kind at once, several on one port: the order must be port, then
	// kind, then message, and identical on every run (Run walks maps).
	p := plan(
		inst("mi-2", 47),
		inst("mi-1", 10),
		inst("mi-3", 10),
		instBases("mi-4", 10, ports.Set{70, 8243, 9191, 9154}),
		inst("mi-5", 57000),
	)
	host := check.Host{
		Sockets:     snapshot(socket("0.0.0.0", 8290, 1), socket("::", 9164, 2)),
		Bind:        netip.MustParseAddr("127.0.0.1"),
		MinPort:     1024,
		EphemeralLo: 65000, EphemeralHi: 65535,
	}
	first := check.Run(p, host)
	if len(first.Conflicts) < 10 {
		t.Fatalf("expected many conflicts, got %q", messages(first.Conflicts))
	}
	sorted := slices.IsSortedFunc(first.Conflicts, func(a, b check.Finding) int {
		switch {
		case a.Port != b.Port:
			return a.Port - b.Port
		case a.Kind != b.Kind:
			return strings.Compare(a.Kind, b.Kind)
		}
		return strings.Compare(a.Message, b.Message)
	})
	if !sorted {
		t.Errorf("conflicts not ordered by port, kind, message:\n%s", strings.Join(messages(first.Conflicts), "\n"))
	}
	// On 8290: "host" sorts before "plan".
	var at8290 []string
	for _, f := range first.Conflicts {
		if f.Port == 8290 {
			at8290 = append(at8290, f.Kind)
		}
	}
	if len(at8290) == 0 || at8290[0] != check.KindHost || at8290[len(at8290)-1] != check.KindPlan {
		t.Errorf("kinds on 8290 = %v, want host findings before plan findings", at8290)
	}
	if got := kinds(first.Warnings); !slices.Equal(got, []string{check.KindEphemeral, check.KindEphemeral}) {
		t.Errorf("warnings = %q", messages(first.Warnings))
	}
	for i := 0; i < 50; i++ {
		again := check.Run(p, host)
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("run %d differs:\n%s\n----\n%s", i,
				strings.Join(messages(first.Conflicts), "\n"), strings.Join(messages(again.Conflicts), "\n"))
		}
	}
}

func TestHostBusy(t *testing.T) {
	t.Run("no snapshot", func(t *testing.T) {
		if busy := (check.Host{}).Busy(); busy != nil {
			t.Fatal("Busy() != nil without a snapshot: the planner would consult an empty host")
		}
	})
	h := check.Host{
		Sockets: snapshot(
			socket("0.0.0.0", 8290, 1),
			socket("127.0.0.1", 8291, 2),
			socket("10.0.0.1", 8292, 3),
			socket("0.0.0.0", 8293, 4),
			socket("127.0.0.1", 8293, 5),
			socket("::1", 8295, 6),
			socket("::1", 8296, 7),
			socket("127.0.0.2", 8297, 8),
		),
		Bind: netip.MustParseAddr("127.0.0.1"),
		Ours: func(s hostnet.Socket, _ string) bool { return s.Inode == 2 || s.Inode == 4 || s.Inode == 7 },
		Owners: func(...uint64) map[uint64]hostnet.Process {
			return map[uint64]hostnet.Process{6: {PID: 600, Comm: "python3"}}
		},
	}
	busy := h.Busy()
	tests := []struct {
		port int
		want bool
	}{
		{8290, true},  // foreign wildcard
		{8291, false}, // ours
		{8292, false}, // another address
		{8293, true},  // one ours, one foreign
		{8294, false}, // nothing there
		// A stranger on the other loopback address: clients of
		// localhost:8295 may reach it, so the planner moves on.
		{8295, true},
		{8296, false}, // ours on the other loopback address
		{8297, false}, // another loopback address no client calls localhost
	}
	for _, tt := range tests {
		if got := busy(tt.port); got != tt.want {
			t.Errorf("Busy()(%d) = %v, want %v", tt.port, got, tt.want)
		}
	}
	// The move note names who made the planner pass over the port, and
	// where: an address the user would not look at.
	if got, want := h.Holder(8295).Holder, "pid 600 (python3) on ::1, which clients of localhost:8295 may reach instead"; got == nil || *got != want {
		t.Errorf("Holder(8295) = %v, want %q", got, want)
	}
	// -o json says the holder as every finding does, the address apart.
	if held, at := h.HolderAt(8295); held.Holder == nil || *held.Holder != "pid 600 (python3)" || at != netip.IPv6Loopback() {
		t.Errorf("HolderAt(8295) = %v, %v; want %q on ::1", held.Holder, at, "pid 600 (python3)")
	}
	if got := h.Holder(8296).Holder; got != nil {
		t.Errorf("Holder(8296) = %q, want nil: the socket is ours", *got)
	}
	h.Ours = nil
	if !h.Busy()(8291) {
		t.Error("with Ours nil every socket is foreign, Busy()(8291) = false")
	}
}

func TestConflictErrorCounts(t *testing.T) {
	one := &check.ConflictError{Refused: "refusing to start", Report: check.Report{Conflicts: []check.Finding{{Message: "a"}}}}
	if got, want := one.Error(), "refusing to start: 1 conflict:\n  a"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	two := &check.ConflictError{Refused: "refusing to start", Report: check.Report{Conflicts: []check.Finding{{Message: "a"}, {Message: "b"}}}}
	if got, want := two.Error(), "refusing to start: 2 conflicts:\n  a\n  b"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// A port the deployment reserves (the daemon's metrics_addr) is busy for
// the planner and a conflict for an instance planned on it, whether its
// listener runs (then it is reported once, as the reservation) or not, and
// only where the addresses overlap.
func TestReservedPorts(t *testing.T) {
	by := "the mictl daemon (metrics_addr, mictl.toml:2:1)"
	for _, tt := range []struct {
		name    string
		bind    string
		metrics hostnet.Socket
		sockets []hostnet.Socket
		want    []string
	}{
		{"not listening yet", "127.0.0.1", socket("127.0.0.1", 8290, 0), nil,
			[]string{"mi-1 http port 8290 is held by " + by + " on 127.0.0.1"}},
		{"listening", "127.0.0.1", socket("127.0.0.1", 8290, 0), []hostnet.Socket{socket("127.0.0.1", 8290, 9)},
			[]string{"mi-1 http port 8290 is held by " + by + " on 127.0.0.1"}},
		{"every address meets loopback", "0.0.0.0", socket("127.0.0.1", 9164, 0), nil,
			[]string{"mi-1 management port 9164 is held by " + by + " on 127.0.0.1"}},
		{"another address", "127.0.0.1", socket("10.1.2.3", 8290, 0), nil, nil},
		{"a port no instance uses", "127.0.0.1", socket("127.0.0.1", 8300, 0), nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			host := check.Host{Sockets: snapshot(tt.sockets...), Bind: netip.MustParseAddr(tt.bind), MinPort: 1024,
				Reserved: []check.Reservation{{Socket: tt.metrics, By: by}}}
			if got := messages(check.Run(plan(inst("mi-1", 10)), host).Conflicts); !slices.Equal(got, tt.want) && len(got)+len(tt.want) > 0 {
				t.Errorf("conflicts:\n got %q\nwant %q", got, tt.want)
			}
			overlaps := len(tt.want) > 0 || tt.name == "a port no instance uses"
			if busy := host.Busy()(tt.metrics.Port); busy != overlaps {
				t.Errorf("Busy()(%d) = %v, want %v", tt.metrics.Port, busy, overlaps)
			}
			if holder := host.Holder(tt.metrics.Port).Holder; (holder != nil && *holder == by) != overlaps {
				t.Errorf("Holder(%d) = %v", tt.metrics.Port, holder)
			}
		})
	}
}

// On the live host, an outgoing connection's local port is held by that
// connection (MI could not bind it), named with its peer and owner; the
// listener it connects to holds its own port, where the accepted end of
// the connection does not count.
func TestLiveHostSeesOutgoingConnections(t *testing.T) {
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
	host, err := check.LiveHost(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	self := fmt.Sprintf("pid %d (", os.Getpid())
	local, remote := c.LocalAddr().(*net.TCPAddr), l.Addr().(*net.TCPAddr)
	want := fmt.Sprintf("a connection (ESTAB to %s) of %s", remote.AddrPort(), self)
	if got := host.Holder(local.Port); got.Holder == nil || !strings.HasPrefix(*got.Holder, want) {
		t.Errorf("holder of the connection's port %d: %+v, want %q...", local.Port, got.Holder, want)
	}
	if got := host.Holder(remote.Port); got.Holder == nil || !strings.HasPrefix(*got.Holder, self) {
		t.Errorf("holder of the listener's port %d: %+v, want %q...", remote.Port, got.Holder, self)
	}
	if !host.Busy()(local.Port) {
		t.Errorf("the planner would place an instance on port %d, the connection's", local.Port)
	}
}

// Connections are looked at only for planned ports in the ephemeral range
// (their scan walks the kernel's whole table of connections), and there a
// connection's local port is a conflict as a listener is, named with its
// state and peer; one on a port a listener holds at its address is an
// accepted one, and left out.
func TestConnectionsHoldPortsInTheEphemeralRange(t *testing.T) {
	scans := 0
	conns := snapshot(
		connection(socket("127.0.0.1", 40010, 7), "ESTAB", "10.0.0.2:5432"),
		connection(socket("127.0.0.1", 40011, 8), "ESTAB", "127.0.0.1:50000"),
	)
	host := check.Host{
		Sockets: snapshot(socket("0.0.0.0", 40011, 9)), Bind: netip.MustParseAddr("127.0.0.1"), MinPort: 1024,
		EphemeralLo: 32768, EphemeralHi: 60999,
		Connections: func() *hostnet.Snapshot { scans++; return conns },
	}
	if r := check.Run(plan(inst("mi-1", 10)), host); len(r.Conflicts) != 0 || scans != 0 {
		t.Errorf("a plan outside the ephemeral range: conflicts %q, %d connection scans; want none and none", messages(r.Conflicts), scans)
	}
	r := check.Run(plan(inst("mi-1", 40010-8280)), host)
	want := []string{"mi-1 http port 40010 is held by a connection (ESTAB to 10.0.0.2:5432) of a process of user root (uid 0) on 127.0.0.1"}
	if got := messages(r.Conflicts); !slices.Equal(got, want) {
		t.Errorf("conflicts %q, want %q", got, want)
	}
	busy := host.Busy()
	if !busy(40010) || !busy(40011) || busy(40012) {
		t.Errorf("busy 40010 %v, 40011 %v (its listener's), 40012 %v; want true, true, false", busy(40010), busy(40011), busy(40012))
	}
	if h := host.Holder(40011); h.Holder == nil || *h.Holder != "a process of user root (uid 0)" {
		t.Errorf("holder of 40011: %v, want the listener (a process of user root), not its accepted connection", h.Holder)
	}
}

// Naming keeps the findings an instance is a party to: a clash of two
// names both, a range finding only its own; of several instances, those
// one of them is a party to.
func TestReportNaming(t *testing.T) {
	r := check.Run(plan(inst("mi-1", 10), inst("mi-2", 47), inst("mi-3", 70000)), noHost())
	if r.OK() {
		t.Fatal("the plan has no conflicts to narrow")
	}
	for name, want := range map[string]int{"mi-1": 2, "mi-2": 2, "mi-3": 4, "mi-4": 0} {
		got := r.Naming(name)
		if len(got.Conflicts) != want {
			t.Errorf("%s: %d conflicts, want %d: %q", name, len(got.Conflicts), want, messages(got.Conflicts))
		}
		for _, f := range got.Conflicts {
			if !slices.Contains(f.Instances, name) {
				t.Errorf("%s: kept %q, which does not name it", name, f.Message)
			}
		}
		if got.Conflicts == nil || got.Warnings == nil {
			t.Errorf("%s: nil lists, want empty ones (-o json prints [])", name)
		}
	}
	// Instances restarted together: each finding once, though it names both.
	if got := r.Naming("mi-1", "mi-2"); len(got.Conflicts) != 2 {
		t.Errorf("mi-1 and mi-2: %d conflicts, want their 2: %q", len(got.Conflicts), messages(got.Conflicts))
	}
}

// A stranger on the same port at the other loopback address (::1 beside
// 127.0.0.1) is no conflict, MI binds its own address, but a client of
// localhost whose resolver answers ::1 first reaches the stranger: a
// warning, naming it.
func TestRunLoopbackShadow(t *testing.T) {
	v6only := func(s hostnet.Socket) hostnet.Socket { s.V6Only = true; return s }
	rec := &ownersRecorder{known: map[uint64]hostnet.Process{7: {PID: 700, Comm: "python3"}}}
	tests := []struct {
		name      string
		bind      string
		socket    hostnet.Socket
		warning   string // "" for none
		conflicts int
	}{
		{"::1 beside 127.0.0.1", "127.0.0.1", socket("::1", 8290, 7),
			"mi-1 http port 8290: pid 700 (python3) listens on the same port on ::1, where clients of localhost:8290 whose resolver answers ::1 first reach it instead of mi-1 on 127.0.0.1; stop it, or have clients connect to 127.0.0.1:8290", 0},
		{"a v6-only [::] holds ::1 too", "127.0.0.1", v6only(socket("::", 9164, 7)),
			"mi-1 management port 9164: pid 700 (python3) listens on the same port on ::, where clients of localhost:9164 whose resolver answers ::1 first reach it instead of mi-1 on 127.0.0.1; stop it, or have clients connect to 127.0.0.1:9164", 0},
		{"127.0.0.1 beside ::1", "::1", socket("127.0.0.1", 8253, 7),
			"mi-1 https port 8253: pid 700 (python3) listens on the same port on 127.0.0.1, where clients of localhost:8253 whose resolver answers 127.0.0.1 first reach it instead of mi-1 on ::1; stop it, or have clients connect to [::1]:8253", 0},
		{"a dual-stack [::] is a conflict, not also a warning", "127.0.0.1", socket("::", 8290, 7), "", 1},
		{"another loopback bind is not localhost", "127.0.0.2", socket("::1", 8290, 7), "", 0},
		{"a wildcard bind meets ::1 as a conflict", "0.0.0.0", socket("::1", 8290, 7), "", 1},
		{"another port", "127.0.0.1", socket("::1", 8291, 7), "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := check.Host{Sockets: snapshot(tt.socket), Bind: netip.MustParseAddr(tt.bind), Owners: rec.Owners, MinPort: 1024}
			r := check.Run(plan(inst("mi-1", 10)), host)
			if len(r.Conflicts) != tt.conflicts {
				t.Errorf("conflicts = %q, want %d", messages(r.Conflicts), tt.conflicts)
			}
			if tt.warning == "" {
				if len(r.Warnings) > 0 {
					t.Fatalf("warnings = %q, want none", messages(r.Warnings))
				}
				return
			}
			if got := messages(r.Warnings); !slices.Equal(got, []string{tt.warning}) {
				t.Fatalf("warnings:\n got %q\nwant %q", got, tt.warning)
			}
			w := r.Warnings[0]
			if w.Kind != check.KindLoopback || w.HolderPID == nil || *w.HolderPID != 700 || w.Address == nil || *w.Address != tt.socket.Addr.String() {
				t.Errorf("warning fields: %+v", w)
			}
		})
	}
	host := check.Host{Sockets: snapshot(socket("::1", 8290, 7)), Bind: netip.MustParseAddr("127.0.0.1"), MinPort: 1024,
		Ours: func(s hostnet.Socket, instance string) bool { return instance == "mi-1" }}
	if r := check.Run(plan(inst("mi-1", 10)), host); len(r.Warnings) > 0 {
		t.Errorf("the instance's own socket is a warning: %q", messages(r.Warnings))
	}
}

// A pinned JMX agent binds every address whatever host says (the JVM's
// connector listens on the wildcard): a listener on the port at any
// address keeps it from starting and is a conflict, one on the host's
// other address or the other loopback address too, where a check at
// host found nothing (or a loopback warning). Other ports are judged at
// host as before.
func TestRunHostPinnedJMXMeetsEveryAddress(t *testing.T) {
	jmx := inst("mi-1", 10)
	jmx.Extras = append(jmx.Extras, ports.Extra{Role: ports.RoleJMX, Name: "agent", Base: 8085})
	for _, tt := range []struct {
		name string
		inst ports.Instance
		addr string
		want []string
	}{
		{"jmx, another address", jmx, "10.0.0.5", []string{"mi-1 jmx agent port 8085 is held by pid 42 (java) on 10.0.0.5; the offset does not move it: change -Dcom.sun.management.jmxremote.local.port in the JVM options every instance gets (JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS, JVM_MEM_OPTS, JAVA_OPTS)"}},
		{"jmx, the other loopback address", jmx, "::1", []string{"mi-1 jmx agent port 8085 is held by pid 42 (java) on ::1; the offset does not move it: change -Dcom.sun.management.jmxremote.local.port in the JVM options every instance gets (JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS, JVM_MEM_OPTS, JAVA_OPTS)"}},
		{"inbound endpoint, another address", withUnshiftedInbound(inst("mi-1", 10), ""), "10.0.0.5", []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			host := check.Host{
				Sockets: snapshot(socket(tt.addr, 8085, 42)),
				Bind:    netip.MustParseAddr("127.0.0.1"),
				Owners:  (&ownersRecorder{known: map[uint64]hostnet.Process{42: {PID: 42, Comm: "java"}}}).Owners,
				MinPort: 1024,
			}
			r := check.Run(plan(tt.inst), host)
			if got := messages(r.Conflicts); !slices.Equal(got, tt.want) {
				t.Errorf("conflicts:\n got %q\nwant %q", got, tt.want)
			}
			if len(r.Warnings) > 0 {
				t.Errorf("warnings: %q, want none", messages(r.Warnings))
			}
		})
	}
}

// A port the offset does not move, held by another product, says what
// to change: another offset frees nothing, and a refused up said only
// "fix the conflicts above" of an inbound endpoint's port an API
// Manager beside the instances held (the planner cannot go around it
// either, so nothing else says so).
func TestRunHostUnmovedPortSaysWhatToChange(t *testing.T) {
	jmx := func(i ports.Instance) ports.Instance {
		i.Extras = append(i.Extras, ports.Extra{Role: ports.RoleJMX, Name: "agent", Base: 8085})
		return i
	}
	const held = "mi-1 %s port 8085 is held by pid 42 (java) on 127.0.0.1; the offset does not move it: change "
	tests := []struct {
		name string
		inst ports.Instance
		want string
	}{
		{"pinned JMX agent", jmx(inst("mi-1", 10)),
			fmt.Sprintf(held, "jmx agent") + "-Dcom.sun.management.jmxremote.local.port in the JVM options every instance gets (JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS, JVM_MEM_OPTS, JAVA_OPTS)"},
		{"HTTP inbound endpoint, offset switch off", withUnshiftedInbound(inst("mi-1", 10), deployment.OffsetSwitchHTTP),
			fmt.Sprintf(held, "inbound orders_1.0.0/In") + "the endpoint's port in its CApp (or synapse file), or turn on [mediation] inbound.port_offset_enable, with which MI adds the offset to it"},
		{"WebSocket inbound endpoint without ws.use.port.offset", withUnshiftedInbound(inst("mi-1", 10), deployment.OffsetSwitchWebSocket),
			fmt.Sprintf(held, "inbound orders_1.0.0/In") + "the endpoint's port in its CApp (or synapse file), or set its ws.use.port.offset parameter to true in the CApp, with which MI adds the offset to it"},
		{"inbound endpoint MI never offsets", withUnshiftedInbound(inst("mi-1", 10), ""),
			fmt.Sprintf(held, "inbound orders_1.0.0/In") + "the endpoint's port in its CApp (or synapse file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := check.Host{
				Sockets: snapshot(socket("127.0.0.1", 8085, 42)),
				Bind:    netip.MustParseAddr("127.0.0.1"),
				Owners:  (&ownersRecorder{known: map[uint64]hostnet.Process{42: {PID: 42, Comm: "java"}}}).Owners,
				MinPort: 1024,
			}
			r := check.Run(plan(tt.inst), host)
			if got := messages(r.Conflicts); !slices.Equal(got, []string{tt.want}) {
				t.Errorf("conflicts:\n got %q\nwant %q", got, []string{tt.want})
			}
		})
	}
	// A port the offset moves needs no such word: another offset is the
	// way out, and the planner takes it by itself.
	host := check.Host{Sockets: snapshot(socket("127.0.0.1", 8095, 42)), Bind: netip.MustParseAddr("127.0.0.1"), MinPort: 1024}
	want := []string{"mi-1 inbound orders_1.0.0/In port 8095 is held by a process of user root (uid 0) on 127.0.0.1"}
	if got := messages(check.Run(plan(withInbound(inst("mi-1", 10), true)), host).Conflicts); !slices.Equal(got, want) {
		t.Errorf("conflicts of a shifted endpoint:\n got %q\nwant %q", got, want)
	}
}
