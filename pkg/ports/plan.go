package ports

import (
	"errors"
	"fmt"
	"maps"
)

// Want is one instance the planner must place.
type Want struct {
	Name string
	// Offset is a fixed offset: the user's (--offsets, [[instance]]
	// offset) or the one a running instance has. The planner honours it as
	// given, clash or not: the conflict check reports, nothing moves silently.
	Offset *int
	// From says where a fixed Offset comes from, for messages and -o json:
	// OffsetFromFlag, OffsetFromConfig or OffsetFromRunning; Where is the
	// file:line:col of a config offset.
	From, Where string
	// Bases are the instance's base ports: the catalogue defaults, or the
	// values its deployment.toml (source plus overrides) sets explicitly.
	Bases Set
	// Extras are the ports it opens besides the four (its CApps' inbound
	// endpoints, the mediation debugger, a pinned JMX agent).
	Extras []Extra
}

// Extra is a port an instance opens besides its four fixed ones.
type Extra struct {
	// Role says what kind of listener it is (RoleInbound, RoleDebugger,
	// RoleUnitTest, RoleJMX); Name which one ("orders_1.0.0/OrdersHTTP").
	Role, Name string
	// Base is the port as configured; MI adds the server offset to it
	// only when Shifted (an HTTP inbound endpoint only with
	// inbound.port_offset_enable, a WebSocket one with ws.use.port.offset).
	Base    int
	Shifted bool
	// OffsetSwitch is, for an inbound endpoint, the setting that makes MI
	// add the offset to its port ("inbound.port_offset_enable" for
	// HTTP(S), the endpoint's "ws.use.port.offset" for a WebSocket); ""
	// when none does (HL7, CXF WS-RM, MCP bind the port as written).
	OffsetSwitch string
}

// Roles of the extra ports.
const (
	RoleInbound  = "inbound"   // an inbound endpoint of a CApp
	RoleDebugger = "debugger"  // the mediation debugger (-Desb.debug=true)
	RoleUnitTest = "unit_test" // the synapse unit test server (-DsynapseTest)
	// RoleJMX is MI's JMX agent on the port JAVA_OPTS pins it to
	// (JMXPortProperty). The JVM adds no offset: every co-located
	// instance, given the same JAVA_OPTS, binds that one port.
	RoleJMX = "jmx"
)

// Port is where the extra listens under offset.
func (e Extra) Port(offset int) int {
	if e.Shifted {
		return e.Base + offset
	}
	return e.Base
}

// Label names the extra in messages: "inbound orders_1.0.0/OrdersHTTP".
func (e Extra) Label() string { return e.Role + " " + e.Name }

// Where an instance's offset comes from.
const (
	OffsetFromPlanner = "planner" // chosen by the planner
	OffsetFromFlag    = "flag"    // --offsets
	OffsetFromConfig  = "config"  // [[instance]] offset in mictl.toml
	OffsetFromRunning = "running" // the instance runs with it, is meant to, or failed with it: kept until it is stopped (a failed one: or what placed it changes)
)

// Instance is one planned instance.
type Instance struct {
	Name   string
	Offset int
	Bases  Set
	// From is where the offset comes from (OffsetFromPlanner, ...); Where
	// adds the file:line:col of a config offset.
	From, Where string
	// Moved is set when the planner had to pass over an offset because a
	// port of it was busy on the host: the instance is placed higher than
	// it would be on an idle host.
	Moved *Move
	// Extras are the ports it opens besides the four.
	Extras []Extra
}

// ExtraPorts are where the instance's extras listen, in Extras' order.
func (i Instance) ExtraPorts() []int {
	out := make([]int, len(i.Extras))
	for k, e := range i.Extras {
		out[k] = e.Port(i.Offset)
	}
	return out
}

// take marks every port of inst as taken.
func take(taken map[int]bool, inst Instance) {
	for _, port := range inst.Ports() {
		taken[port] = true
	}
	for _, port := range inst.ExtraPorts() {
		taken[port] = true
	}
}

// Explicit reports whether the user gave the offset.
func (i Instance) Explicit() bool { return i.From == OffsetFromFlag || i.From == OffsetFromConfig }

// Move is the first offset the planner passed over for an instance
// because of the host, and the busy port that made it.
type Move struct {
	Skipped int // the offset passed over first: the instance's natural slot
	Port    int // its port that was busy there
	// Role is the busy port's role (http, ..., or an extra's: inbound);
	// Listener names the extra ("orders_1.0.0/OrdersHTTP"), "" for the
	// four fixed ports.
	Role, Listener string
	// Passed counts the offsets passed over because of the host.
	Passed int
}

// What names the busy port in a sentence: "http", "inbound orders_1.0.0/OrdersHTTP".
func (m Move) What() string {
	if m.Listener == "" {
		return m.Role
	}
	return m.Role + " " + m.Listener
}

// Ports returns the instance's effective fixed ports.
func (i Instance) Ports() Set { return i.Bases.Shift(i.Offset) }

// Plan is the placement of every instance, in the order they were wanted.
type Plan struct {
	Instances []Instance
}

// Planner gives instances offsets whose full port sets are pairwise disjoint
// and free on the host.
type Planner struct {
	BaseOffset int // smallest offset tried (MI's default is 10)
	Step       int // offsets tried are BaseOffset, BaseOffset+Step, ...
	// MinPort is the lowest port an instance may use: FirstUnprivileged for
	// ordinary users, 1 for root.
	MinPort int
	// HostBusy reports whether a foreign process holds port on the host.
	// Nil means the host is not consulted.
	HostBusy func(port int) bool
}

// ErrNoRoom is returned (wrapped) when the port space cannot fit another
// instance; callers map it to a usage error.
var ErrNoRoom = errors.New("no room in the port space")

// Plan places wants in order. Explicit offsets are placed first and kept as
// given. Every other instance has a natural slot: the smallest offset on the
// grid whose whole port set meets no port of the fixed instances and of
// those placed before it, in any role (8243+a = 8280+b when a-b = 37), and
// lies within [MinPort, MaxPort] (where it goes on an idle host). An
// instance keeps its natural slot when the host leaves that slot free; one
// whose slot is busy on the host moves up to the first offset whose ports
// meet no port of any other instance and are free on the host. So a
// stranger on one instance's port moves that instance alone, not every
// instance after it, whose clients would all have to change ports. The same
// inputs always give the same plan, and adding instances at the end never
// moves an earlier instance that keeps its natural slot (one the host moved
// may move again: the newcomers' natural slots come first).
func (p Planner) Plan(wants []Want) (Plan, error) {
	if p.Step < 1 {
		return Plan{}, fmt.Errorf("offset step %d: must be at least 1", p.Step)
	}
	if p.BaseOffset < 0 {
		return Plan{}, fmt.Errorf("base offset %d: must not be negative", p.BaseOffset)
	}
	plan := Plan{Instances: make([]Instance, len(wants))}
	taken := make(map[int]bool, NumRoles*len(wants))
	var free []int // the wants the planner places
	for i, w := range wants {
		if w.Offset == nil {
			free = append(free, i)
			continue
		}
		plan.Instances[i] = Instance{Name: w.Name, Offset: *w.Offset, Bases: w.Bases, From: w.From, Where: w.Where, Extras: w.Extras}
		take(taken, plan.Instances[i])
	}
	natural := make([]Instance, len(wants))
	naturalTaken := maps.Clone(taken)
	// Every offset below a cursor has been rejected for that base set, and
	// stays rejected because taken only grows: resume there rather than
	// rescanning, which keeps planning thousands of instances linear.
	cursor := map[Set]int{}
	for _, i := range free {
		w := wants[i]
		if dup, ok := internalClash(w.Bases); ok {
			return Plan{}, fmt.Errorf("%s: %s (%s) and %s (%s) have the same base port %d, so no offset can separate them; change one in the distribution's deployment.toml, or in the instance's overrides",
				w.Name, dup[0], Catalogue[dup[0]].TOMLKey, dup[1], Catalogue[dup[1]].TOMLKey, w.Bases[dup[0]])
		}
		// The cursor is per base set; extras that move with the offset
		// make another shape, whose offsets are searched from the base.
		start, seen := cursor[w.Bases]
		if shifted(w.Extras) || !seen {
			start = p.BaseOffset
		}
		offset, err := p.firstFit(w, start, naturalTaken)
		if err != nil {
			return Plan{}, err
		}
		if !shifted(w.Extras) {
			cursor[w.Bases] = offset
		}
		natural[i] = Instance{Name: w.Name, Offset: offset, Bases: w.Bases, From: OffsetFromPlanner, Extras: w.Extras}
		take(naturalTaken, natural[i])
	}
	// Those whose natural slot the host leaves free take it before any
	// instance moves, so a moved one never lands on a slot another keeps.
	var moving []int
	for _, i := range free {
		if p.hostBusy(natural[i]) != nil {
			moving = append(moving, i)
			continue
		}
		plan.Instances[i] = natural[i]
		take(taken, natural[i])
	}
	for _, i := range moving {
		inst, err := p.moveUp(natural[i], taken)
		if err != nil {
			return Plan{}, err
		}
		plan.Instances[i] = inst
		take(taken, inst)
	}
	return plan, nil
}

// firstFit returns the first offset from start whose ports meet no taken
// port, the host left aside.
func (p Planner) firstFit(w Want, start int, taken map[int]bool) (int, error) {
	lowest, highest := minMax(w.Bases)
	// The lowest offset the user's settings allow: the base offset,
	// climbed on the grid until the lowest port reaches MinPort. start,
	// a cursor past offsets earlier instances took, is where the search
	// resumes, never what a message says was searched.
	floor := p.climb(p.BaseOffset, lowest)
	start = p.climb(start, lowest)
	if highest+floor > MaxPort {
		return 0, fmt.Errorf("%s: %w: from offset %d its port %d would be %d, past %d; lower base_offset (--base-offset, or its key in mictl.toml)",
			w.Name, ErrNoRoom, floor, highest, highest+floor, MaxPort)
	}
	for offset := start; highest+offset <= MaxPort; offset += p.Step {
		if !planClash(w.Bases.Shift(offset), taken) && !extrasClash(w.Extras, offset, taken) {
			return offset, nil
		}
	}
	return 0, noRoom(w.Name, floor, highest, p.Step)
}

// climb returns the first offset from offset, on the grid, that lifts the
// lowest port to MinPort.
func (p Planner) climb(offset, lowest int) int {
	if lowest+offset < p.MinPort {
		offset += ceilDiv(p.MinPort-lowest-offset, p.Step) * p.Step
	}
	return offset
}

// moveUp places inst, whose natural slot is busy on the host, at the first
// offset above that slot whose ports meet no taken port and are free on
// the host; its Moved says what was busy at the natural slot. It searches
// from that slot, with no cursor: only the instances a stranger displaces
// move, a few, and each counts every busy offset it passes.
func (p Planner) moveUp(inst Instance, taken map[int]bool) (Instance, error) {
	natural := inst.Offset
	_, highest := minMax(inst.Bases)
	inst.Moved = p.hostBusy(inst)
	inst.Moved.Skipped, inst.Moved.Passed = natural, 1
	for inst.Offset = natural + p.Step; highest+inst.Offset <= MaxPort; inst.Offset += p.Step {
		if planClash(inst.Ports(), taken) || extrasClash(inst.Extras, inst.Offset, taken) {
			continue
		}
		if p.hostBusy(inst) == nil {
			return inst, nil
		}
		inst.Moved.Passed++
	}
	return Instance{}, noRoom(inst.Name, natural, highest, p.Step)
}

// noRoom is the error of an instance that fits at no offset from start.
// A step above 1 skips offsets that may fit: lowering it is a way out too
// (--offset-step 30000 tried two offsets for three instances).
func noRoom(name string, start, highest, step int) error {
	lower := "lower base_offset (--base-offset, or its key in mictl.toml)"
	if step > 1 {
		lower = "lower offset_step or base_offset (--offset-step, --base-offset, or their keys in mictl.toml)"
	}
	return fmt.Errorf("%s: %w: every offset from %d up to %d (step %d) clashes with another instance or a busy host port, and a higher one would push port %d past %d; plan fewer instances, free ports, or %s",
		name, ErrNoRoom, start, MaxPort-highest, step, highest, MaxPort, lower)
}

// planClash reports whether a port of set is taken by the plan.
func planClash(set Set, taken map[int]bool) bool {
	for _, port := range set {
		if taken[port] {
			return true
		}
	}
	return false
}

// extrasClash reports whether an extra that moves with the offset lands
// on a taken port. Extras that do not move cannot be placed by choosing an
// offset: the conflict check reports them.
func extrasClash(extras []Extra, offset int, taken map[int]bool) bool {
	for _, e := range extras {
		if e.Shifted && (taken[e.Port(offset)] || e.Port(offset) > MaxPort) {
			return true
		}
	}
	return false
}

func shifted(extras []Extra) bool {
	for _, e := range extras {
		if e.Shifted {
			return true
		}
	}
	return false
}

// hostBusy returns the first port of inst, or of its extras that move
// with the offset, that is busy on the host, as a Move to fill in; nil
// when none is.
func (p Planner) hostBusy(inst Instance) *Move {
	if p.HostBusy == nil {
		return nil
	}
	for role, port := range inst.Ports() {
		if p.HostBusy(port) {
			return &Move{Port: port, Role: Role(role).String()}
		}
	}
	for _, e := range inst.Extras {
		if e.Shifted && p.HostBusy(e.Port(inst.Offset)) {
			return &Move{Port: e.Port(inst.Offset), Role: e.Role, Listener: e.Name}
		}
	}
	return nil
}

// internalClash reports two roles of one base set that share a port.
func internalClash(s Set) ([2]Role, bool) {
	for a := range s {
		for b := a + 1; b < len(s); b++ {
			if s[a] == s[b] {
				return [2]Role{Role(a), Role(b)}, true
			}
		}
	}
	return [2]Role{}, false
}

func minMax(s Set) (lo, hi int) {
	lo, hi = s[0], s[0]
	for _, p := range s[1:] {
		lo, hi = min(lo, p), max(hi, p)
	}
	return lo, hi
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
