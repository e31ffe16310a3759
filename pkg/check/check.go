// Package check explains every port conflict of a plan: instance against
// instance (in any role), instance against the host's sockets, and ports
// outside what the instance may bind. It reports; it never moves anything.
package check

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/words"
)

// Kinds of conflict and warning, stable in -o json.
const (
	KindPlan       = "plan"       // two instances (or two roles of one) share a port
	KindHost       = "host"       // a foreign process holds an instance's port
	KindPrivileged = "privileged" // below 1024 and mictl is not root
	KindRange      = "range"      // not a valid port at all
	KindEphemeral  = "ephemeral"  // inside the kernel's ephemeral range (warning)
	// KindLoopback: a foreign process listens on the port at the other
	// loopback address, ::1 for 127.0.0.1 (warning: MI still binds its own).
	KindLoopback = "loopback"
)

// Party is one instance's use of a port.
type Party struct {
	Instance string `json:"instance"`
	Role     string `json:"role"`
	Offset   int    `json:"offset"`
	// Listener names an extra port's listener ("orders_1.0.0/OrdersHTTP"
	// for an inbound endpoint); null for the four fixed roles.
	Listener *string `json:"listener"`
	// unmoved is set for an extra port the offset does not move (a
	// pinned JMX port, the debugger's, an inbound endpoint's without
	// port offset): changing the offset changes nothing of it.
	unmoved bool
	// offsetSwitch is what would make MI add the offset to an inbound
	// endpoint's port (ports.Extra.OffsetSwitch).
	offsetSwitch string
}

// at names the party's port in messages, spelled as status spells it
// (ports.Spell): "mi-1 http port 8290", "mi-1 inbound
// orders_1.0.0/OrdersHTTP port 8085".
func (p Party) at(port int) string {
	what := p.Role
	if p.Listener != nil {
		what += " " + *p.Listener
	}
	return p.Instance + " " + ports.Spell(what, port)
}

// Finding is one conflict or warning. Keys are stable in -o json.
type Finding struct {
	Kind      string   `json:"kind"`
	Port      int      `json:"port"`
	Instances []string `json:"instances"`
	Parties   []Party  `json:"parties"`
	// HeldBy names what holds a host port, Address where: null for other
	// findings.
	HeldBy
	Address *string `json:"address"`
	Message string  `json:"message"`
}

// OffsetMoves says whether another offset can end the finding: the port
// of one of its parties moves with its instance's offset.
func (f Finding) OffsetMoves() bool {
	return slices.ContainsFunc(f.Parties, func(p Party) bool { return !p.unmoved })
}

// HeldBy names what holds a port, with the same keys in every output
// that names a holder. Each is null when not known: the pid and process
// when the owner cannot be seen, the instance when the process is none
// of the deployment's.
type HeldBy struct {
	// Holder says it all, for messages: "pid 123 (python3)", "pid 9398
	// (mictl-sim), the server of mi-3", "a process of user wso2 (uid
	// 1001)" when the process cannot be seen.
	Holder        *string `json:"holder"`
	HolderPID     *int    `json:"holder_pid"`
	HolderProcess *string `json:"holder_process"`
	// HolderInstance is the instance whose home the holder runs in: its
	// server, or a server mictl did not start there (Host.Whose).
	HolderInstance *string `json:"holder_instance"`
}

// UpPlansAround is what up (the mictl up command that plans the named
// instance: plain, or with the last up's planning flags) does about a
// fixed port of the instance that another process holds: the remedy a
// start that failed on such a port gives (see supervisor's
// heldPortRemedy), and down's note about a stopped instance's port, in
// one spelling.
func UpPlansAround(up, name string) string {
	return up + " plans " + name + " around the port, or refuses while it is held if its offset is fixed (an [[instance]] offset, --offsets)"
}

// Report is the outcome of a check.
type Report struct {
	Conflicts []Finding `json:"conflicts"`
	Warnings  []Finding `json:"warnings"`
}

// OK reports whether there is no conflict (warnings do not count).
func (r Report) OK() bool { return len(r.Conflicts) == 0 }

// Naming is the part of r that names one of instances: the conflicts and
// warnings one of them is a party to.
func (r Report) Naming(instances ...string) Report {
	naming := func(fs []Finding) []Finding {
		out := []Finding{}
		for _, f := range fs {
			if slices.ContainsFunc(f.Instances, func(name string) bool { return slices.Contains(instances, name) }) {
				out = append(out, f)
			}
		}
		return out
	}
	return Report{Conflicts: naming(r.Conflicts), Warnings: naming(r.Warnings)}
}

// Host is what the check needs to know about the machine.
type Host struct {
	Sockets *hostnet.Snapshot // nil: do not check host sockets
	Bind    netip.Addr        // the address instances bind; sockets overlapping it clash
	// Owners finds the process of each socket inode; nil means no lookup.
	Owners func(inodes ...uint64) map[uint64]hostnet.Process
	// Whose says which instance the process pid belongs to, and how to
	// say so after its pid (whose.Deployment.Of); nil names only the
	// process.
	Whose func(pid int) (instance, about string)
	// Ours reports whether a socket the deployment's own running
	// instances hold is no conflict for instance ("": for any, the
	// planner's view). Nil means every socket is foreign.
	Ours func(s hostnet.Socket, instance string) bool
	// Closing reports which of the given listeners, whose descriptor no
	// process shows, were only being closed: gone by now. Nil: none are.
	Closing func(unseen []hostnet.Socket) map[uint64]bool
	// MinPort is the lowest bindable port: 1 for root, 1024 otherwise.
	MinPort int
	// EphemeralLo..EphemeralHi is the kernel's ephemeral range; 0,0 skips.
	EphemeralLo, EphemeralHi int
	// LocalReserved are the ports of that range the kernel never hands
	// out (ip_local_reserved_ports): no ephemeral warning for them.
	LocalReserved hostnet.PortRanges
	// Reserved are the ports the deployment holds besides its instances'.
	Reserved []Reservation
	// Connections are the host's TCP sockets that hold a port without
	// listening (hostnet.ScanConnections), asked for only when a planned
	// port lies in the ephemeral range; nil means they are not looked at.
	Connections func() *hostnet.Snapshot
}

// Reservation is a port the deployment itself listens on besides its
// instances' ports (the daemon's metrics_addr): the planner goes around
// it, and an instance planned on it is a conflict, whether the listener
// runs yet or not.
type Reservation struct {
	Socket hostnet.Socket // where it listens
	By     string         // what listens, for messages: "the mictl daemon (metrics_addr, mictl.toml:3)"
}

// Run checks plan against itself and the host and returns every finding,
// ordered by port then kind so that output is stable.
func Run(plan ports.Plan, host Host) Report {
	r := Report{Conflicts: []Finding{}, Warnings: []Finding{}}
	// Every (port, party) pair, sorted by port: the parties of one port are
	// then adjacent. Sorting small pointer-free pairs is much cheaper than
	// a map of slices when a thousand instances are checked and almost no
	// port is shared.
	var parties []Party
	uses := make([]use, 0, ports.NumRoles*len(plan.Instances))
	for _, inst := range plan.Instances {
		for role, port := range inst.Ports() {
			uses = append(uses, newUse(port, len(parties)))
			parties = append(parties, Party{Instance: inst.Name, Role: ports.Role(role).String(), Offset: inst.Offset})
		}
		for k, e := range inst.Extras {
			uses = append(uses, newUse(inst.ExtraPorts()[k], len(parties)))
			parties = append(parties, Party{Instance: inst.Name, Role: e.Role, Offset: inst.Offset, Listener: &e.Name, unmoved: !e.Shifted, offsetSwitch: e.OffsetSwitch})
		}
	}
	slices.Sort(uses)
	for i := 0; i < len(uses); {
		j := i + 1
		for j < len(uses) && uses[j].port() == uses[i].port() {
			j++
		}
		for _, u := range uses[i:j] {
			r.addRange(u.port(), parties[u.party()], host)
		}
		if j-i > 1 {
			same := make([]Party, 0, j-i)
			for _, u := range uses[i:j] {
				same = append(same, parties[u.party()])
			}
			r.Conflicts = append(r.Conflicts, planClashes(uses[i].port(), same)...)
		}
		i = j
	}
	r.Conflicts = append(r.Conflicts, hostClashes(uses, parties, host)...)
	r.Warnings = append(r.Warnings, loopbackShadows(uses, parties, host)...)
	sortFindings(r.Conflicts)
	sortFindings(r.Warnings)
	return r
}

// use is one instance's use of one port, packed as port<<32 | party index
// so that sorting uses sorts by port, then in plan order. Ports are below
// 2^31 even when invalid (base + offset), so the packing is lossless.
type use uint64

func newUse(port, party int) use { return use(uint64(uint32(port))<<32 | uint64(uint32(party))) }
func (u use) port() int          { return int(int32(u >> 32)) }
func (u use) party() int         { return int(uint32(u)) }

// planClashes pairs every party of one port with every other: the user sees
// each clash with both of its sides, as in "mi-1 http port 8290 ↔ mi-38
// https port 8290".
func planClashes(port int, parties []Party) []Finding {
	var out []Finding
	for i := range parties {
		for j := i + 1; j < len(parties); j++ {
			a, b := parties[i], parties[j]
			instances := []string{a.Instance, b.Instance}
			if a.Instance == b.Instance {
				instances = instances[:1] // two roles of one instance
			}
			out = append(out, Finding{
				Kind:      KindPlan,
				Port:      port,
				Instances: instances,
				Parties:   []Party{a, b},
				Message: fmt.Sprintf("%s ↔ %s (offset %d vs %d)%s",
					a.at(port), b.at(port), a.Offset, b.Offset, unshiftedHint(a, b)),
			})
		}
	}
	return out
}

// everyInstancesJVMOptions names where an option that reaches every
// instance's JVM may be set: it named JAVA_OPTS alone, though the
// option may be in any of these.
var everyInstancesJVMOptions = "the JVM options every instance gets (" + strings.Join(ports.JavaOptsVars, ", ") + ")"

// unshiftedHint explains a clash of an inbound endpoint, of a pinned JMX
// agent, of the debugger or of the unit test server, that does not move
// with the offset: every co-located
// instance binds the same port. Only between different offsets: at one
// offset every port clashes, shifted or not, and the offset is what to
// change.
func unshiftedHint(a, b Party) string {
	if a.Role == ports.RoleJMX && b.Role == ports.RoleJMX && a.Instance != b.Instance && a.Offset != b.Offset {
		return ": -D" + ports.JMXPortProperty + " in " + everyInstancesJVMOptions + " pins MI's JMX agent to this port; remove it (the JVM then picks a free port at each start, shown in mictl ports table) or run one instance"
	}
	if a.Role == b.Role && a.Instance != b.Instance && a.Offset != b.Offset {
		switch a.Role {
		case ports.RoleDebugger:
			return ": -Desb.debug=true in " + everyInstancesJVMOptions + " turns on MI's mediation debugger, which listens on 9005 and 9006 with no offset; run one instance with it, or remove it"
		case ports.RoleUnitTest:
			return ": -DsynapseTest in " + everyInstancesJVMOptions + " turns on MI's unit test server, which listens on -DsynapseTestPort (9008 by default) with no offset; run one instance with it, or remove it"
		}
	}
	if a.Role == ports.RoleInbound && b.Role == ports.RoleInbound && a.Instance != b.Instance && a.Offset != b.Offset &&
		a.Listener != nil && b.Listener != nil && *a.Listener == *b.Listener {
		// What helps is the endpoint's own switch, where it has one: an
		// HL7 endpoint was told to "turn that on" of switches that are
		// not its own.
		noOffset, turnOn := ": MI never adds the offset to this endpoint's port (only HTTP(S) and WebSocket endpoints have an offset setting)", ""
		switch a.offsetSwitch {
		case deployment.OffsetSwitchHTTP:
			noOffset, turnOn = ": MI adds no offset to this HTTP(S) endpoint's port while [mediation] inbound.port_offset_enable is off", "turn it on, or "
		case deployment.OffsetSwitchWebSocket:
			noOffset, turnOn = ": MI adds no offset to this WebSocket endpoint's port unless its ws.use.port.offset parameter is true", "set that in the CApp, or "
		}
		noOffset += ", so every instance binds it"
		if strings.HasPrefix(*a.Listener, deployment.SourceInboundPrefix) {
			return noOffset + "; it is a file of mi_home's " + strings.TrimSuffix(deployment.SourceInboundPrefix, "/") + "/, which every home gets: move it into a CApp that each instance declares with a port of its own"
		}
		return noOffset + "; " + turnOn + "give each instance an app with a port of its own"
	}
	return ""
}

func (r *Report) addRange(port int, p Party, host Host) {
	finding := func(kind, msg string) Finding {
		return Finding{Kind: kind, Port: port, Instances: []string{p.Instance}, Parties: []Party{p}, Message: msg}
	}
	lower, raise := fmt.Sprintf("lower the offset %d or the base port", p.Offset), fmt.Sprintf("raise the offset %d", p.Offset)
	if p.unmoved {
		lower = unmovedRemedy(p)
		raise = lower
	}
	switch {
	case port < 1 || port > ports.MaxPort:
		r.Conflicts = append(r.Conflicts, finding(KindRange, fmt.Sprintf(
			"%s is not a valid port number (1-%d); %s",
			p.at(port), ports.MaxPort, lower)))
	case port < host.MinPort:
		r.Conflicts = append(r.Conflicts, finding(KindPrivileged, fmt.Sprintf(
			"%s is below %d and needs root; %s",
			p.at(port), host.MinPort, raise)))
	case host.EphemeralHi > 0 && port >= host.EphemeralLo && port <= host.EphemeralHi && !host.LocalReserved.Contains(port):
		r.Warnings = append(r.Warnings, finding(KindEphemeral, fmt.Sprintf(
			"%s is inside the ephemeral range %d-%d: any outgoing connection may take it first; add it to net.ipv4.ip_local_reserved_ports (sysctl), which keeps the kernel from handing it out",
			p.at(port), host.EphemeralLo, host.EphemeralHi)))
	}
}

// unmovedRemedy is what to do about a port of p the offset does not
// move: no other offset frees it (a refused up said only "fix the
// conflicts above" of an inbound endpoint's port another product holds,
// and --base-offset changed nothing), so the setting that places it
// must change, or, for an endpoint that has one, the switch that makes
// MI add the offset, after which the planner places it.
func unmovedRemedy(p Party) string {
	remedy := "the offset does not move it: change " + setWhere(p.Role)
	switch p.offsetSwitch {
	case deployment.OffsetSwitchHTTP:
		remedy += ", or turn on [mediation] inbound.port_offset_enable, with which MI adds the offset to it"
	case deployment.OffsetSwitchWebSocket:
		remedy += ", or set its ws.use.port.offset parameter to true in the CApp, with which MI adds the offset to it"
	}
	return remedy
}

// setWhere says where the port of an extra the offset does not move is
// set, for a message that asks to change it.
func setWhere(role string) string {
	switch role {
	case ports.RoleJMX:
		return "-D" + ports.JMXPortProperty + " in " + everyInstancesJVMOptions
	case ports.RoleUnitTest:
		return "-DsynapseTestPort in " + everyInstancesJVMOptions
	case ports.RoleDebugger:
		return "the debugger's ports in synapse.properties"
	}
	return "the endpoint's port in its CApp (or synapse file)"
}

// hostClashes reports every foreign TCP listener, and every reservation,
// on a planned port (uses sorted by port). Owners
// are looked up only for the sockets that clash: walking /proc/*/fd is the
// expensive part of a scan and is not needed when nothing clashes.
func hostClashes(uses []use, parties []Party, host Host) []Finding {
	if host.Sockets == nil {
		return nil
	}
	type hit struct {
		party  Party
		socket hostnet.Socket
	}
	var hits []hit
	var inodes []uint64
	scanned := host.Bind
	if slices.ContainsFunc(parties, bindsEveryAddress) {
		scanned = netip.IPv4Unspecified() // overlaps everything (hostnet.Snapshot.Holding)
	}
	busy := host.Sockets.Busy(hostnet.TCP, scanned)
	reserved := host.reserved()
	for port, r := range reserved {
		busy[port] = []hostnet.Socket{r.Socket} // whether it listens yet or not
	}
	for _, u := range uses {
		if port := u.port(); busy[port] == nil {
			if conns := host.connectionsHolding(port); len(conns) > 0 {
				busy[port] = conns
			}
		}
	}
	for port, socks := range busy {
		for _, s := range socks {
			// uses is sorted by port: the planned uses of this one are a run.
			i, _ := slices.BinarySearch(uses, newUse(port, 0))
			if i == len(uses) || uses[i].port() != port {
				continue
			}
			held := false
			for ; i < len(uses) && uses[i].port() == port; i++ {
				party := parties[uses[i].party()]
				if !bindsEveryAddress(party) && !s.Meets(host.Bind) || host.Ours != nil && host.Ours(s, party.Instance) {
					continue
				}
				hits = append(hits, hit{party, s})
				held = true
			}
			if held && s.Inode != 0 { // the kernel reports some sockets without one
				inodes = append(inodes, s.Inode)
			}
		}
	}
	owners := host.ownersOf(inodes)
	if host.Closing != nil {
		// A listener (State "") no process shows: the holder may be
		// exiting, its descriptors gone from /proc while the kernel still
		// closes them (tens of ms when one is an inotify instance), as a
		// server a restart or a down stops. Only one still there clashes.
		var unseen []hostnet.Socket
		for _, h := range hits {
			_, seen := owners[h.socket.Inode]
			_, isReserved := reserved[h.socket.Port]
			if !seen && !isReserved && h.socket.Inode != 0 && h.socket.State == "" {
				unseen = append(unseen, h.socket)
			}
		}
		if len(unseen) > 0 {
			closed := host.Closing(unseen)
			hits = slices.DeleteFunc(hits, func(h hit) bool { return closed[h.socket.Inode] })
		}
	}
	out := make([]Finding, 0, len(hits))
	for _, h := range hits {
		f := Finding{
			Kind:      KindHost,
			Port:      h.socket.Port,
			Instances: []string{h.party.Instance},
			Parties:   []Party{h.party},
		}
		addr := h.socket.Addr.String()
		f.Address = &addr
		about := ""
		if r, ok := reserved[h.socket.Port]; ok {
			f.Holder = &r.By
		} else if proc, ok := owners[h.socket.Inode]; ok {
			f.HeldBy, about = host.heldBy(proc)
		} else {
			f.HeldBy = unknownHolder(h.socket)
		}
		described := holding(h.socket, *f.Holder)
		f.Holder = &described
		holder := described
		if about != "" {
			holder += "," // "pid 9398 (mictl-sim), the server of mi-3, on 127.0.0.1"
		}
		f.Message = fmt.Sprintf("%s is held by %s on %s",
			h.party.at(h.socket.Port), holder, h.socket.Addr)
		if h.party.unmoved {
			f.Message += "; " + unmovedRemedy(h.party)
		}
		out = append(out, f)
	}
	return out
}

// bindsEveryAddress reports whether p's port is bound on every address
// whatever host says: a pinned JMX agent's (the JVM's connector listens
// on the wildcard), which a listener on any address of the port keeps
// from starting, one on the host's other address (10.0.0.5:9999 beside
// host = "127.0.0.1") too, where a check at host found nothing.
func bindsEveryAddress(p Party) bool { return p.Role == ports.RoleJMX }

// otherLoopback is the address "localhost" also names beside bind: ::1
// for 127.0.0.1 and 127.0.0.1 for ::1; invalid for any other bind, which
// clients do not reach by that name.
func otherLoopback(bind netip.Addr) netip.Addr {
	v4 := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	switch bind.WithZone("").Unmap() {
	case v4:
		return netip.IPv6Loopback()
	case netip.IPv6Loopback():
		return v4
	}
	return netip.Addr{}
}

// loopbackShadows warns of every foreign TCP listener on a planned port at
// the other loopback address (otherLoopback) that does not also hold
// host.Bind (those are conflicts). MI binds its own address all the same,
// but a client of localhost:PORT whose resolver answers the other family
// first (::1, as glibc's does by default) reaches the stranger, and no
// conflict or ! mark says why (uses sorted by port).
func loopbackShadows(uses []use, parties []Party, host Host) []Finding {
	other := otherLoopback(host.Bind)
	if host.Sockets == nil || !other.IsValid() {
		return nil
	}
	shadows := host.Sockets.Busy(hostnet.TCP, other)
	conflicts := host.Sockets.Busy(hostnet.TCP, host.Bind)
	type hit struct {
		party  Party
		socket hostnet.Socket
	}
	var hits []hit
	var inodes []uint64
	for _, u := range uses {
		party := parties[u.party()]
		for _, s := range shadows[u.port()] {
			if bindsEveryAddress(party) || slices.Contains(conflicts[u.port()], s) || host.Ours != nil && host.Ours(s, party.Instance) {
				continue
			}
			hits = append(hits, hit{party, s})
			if s.Inode != 0 {
				inodes = append(inodes, s.Inode)
			}
		}
	}
	owners := host.ownersOf(inodes)
	out := make([]Finding, 0, len(hits))
	for _, h := range hits {
		held := unknownHolder(h.socket)
		if proc, ok := owners[h.socket.Inode]; ok {
			held, _ = host.heldBy(proc)
		}
		addr := h.socket.Addr.String()
		out = append(out, Finding{
			Kind: KindLoopback, Port: h.socket.Port, Instances: []string{h.party.Instance}, Parties: []Party{h.party},
			HeldBy: held, Address: &addr,
			Message: fmt.Sprintf("%s: %s listens on the same port on %s, where clients of localhost:%d whose resolver answers %s first reach it instead of %s on %s; stop it, or have clients connect to %s",
				h.party.at(h.socket.Port), *held.Holder, addr, h.socket.Port, other, h.party.Instance, host.Bind,
				netip.AddrPortFrom(host.Bind, uint16(h.socket.Port))),
		})
	}
	return out
}

// ownersOf asks which processes hold the sockets of inodes: none when
// the host cannot say, or nothing is asked.
func (h Host) ownersOf(inodes []uint64) map[uint64]hostnet.Process {
	if h.Owners == nil || len(inodes) == 0 {
		return map[uint64]hostnet.Process{}
	}
	return h.Owners(inodes...)
}

func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Message, b.Message))
	})
}

// ConflictError refuses a plan for its conflicts (`mictl up`, a reload):
// the findings are in Report.
type ConflictError struct {
	Report Report
	// What was refused, for the message: "refusing to start", ...
	Refused string
}

func (e *ConflictError) Error() string {
	msgs := make([]string, len(e.Report.Conflicts))
	for i, c := range e.Report.Conflicts {
		msgs[i] = c.Message
	}
	return fmt.Sprintf("%s: %s:\n  %s", e.Refused, words.Count(len(msgs), "conflict"), strings.Join(msgs, "\n  "))
}
