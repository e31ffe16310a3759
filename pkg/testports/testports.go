// Package testports hands tests and benchmarks the port offsets they may
// use, so that two copies of the suite (or of the benchmarks) can run on
// one host without meeting on a port.
//
// The whole range comes from MICTL_TEST_OFFSETS=LO-HI (default 1000-23000:
// every MI port of those offsets lies between 9243 and 32191, below the
// kernel's usual ephemeral range 32768-60999; a range whose MI ports reach
// the host's ephemeral range is refused). LO is 100 at least: the
// offsets below are the golden files', whose output shows ports that no
// test may hold. It is cut into one block per
// user below, because `go test ./...` runs packages at the same time: each
// package takes offsets from its own block only. Two suites on one host
// set disjoint ranges, e.g. MICTL_TEST_OFFSETS=1000-11999 and
// MICTL_TEST_OFFSETS=12000-23000: tests that take offsets from the start
// of a block (Block) would meet. The spans Base hands out, and the ports
// Hold and FreePort do, are kept apart across processes too (see
// hostLock): two runs of the end-to-end tests sharing a range no longer
// put their servers on one another's ports.
package testports

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
)

// EnvRange names the variable that sets the range of test offsets.
const EnvRange = "MICTL_TEST_OFFSETS"

// EnvLock names the variable that sets the file whose locks keep spans
// apart across processes (default: mictl-testports.lock in the temporary
// directory, shared by every suite on the host). testports' own tests of
// those locks use a file of their own, so that they meet no other suite.
const EnvLock = "MICTL_TESTPORTS_LOCK"

// MinLo is the lowest test offset: golden files show the ports of lower
// ones.
const MinLo = 100

// defaultLo and defaultHi bound the test offsets when EnvRange is unset.
const (
	defaultLo = 1000
	defaultHi = 23000
)

// The users of the range, one block each.
const (
	E2E   = iota // cmd/mictl: whole deployments through the binary
	Sim          // pkg/sim: single simulated servers
	Bench        // bench/: whole-process benchmarks
	Soak         // soak/: the fault soak
	Other        // any other package that starts servers
	numBlocks
)

// Range returns the test offset range: EnvRange, else the default. No
// MI port of the range may lie in the host's ephemeral range, where an
// outgoing connection (or a server's JMX port) may take it before the
// test's server binds it: a set range that reaches it is refused, the
// default is cut short below it.
func Range() (lo, hi int, err error) {
	lo, hi = defaultLo, defaultHi
	v := strings.TrimSpace(os.Getenv(EnvRange))
	if v != "" {
		a, b, ok := strings.Cut(v, "-")
		var err1, err2 error
		lo, err1 = strconv.Atoi(strings.TrimSpace(a))
		hi, err2 = strconv.Atoi(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || lo < MinLo || hi > 65535-HighestBase() || hi-lo+1 < numBlocks*200 {
			return 0, 0, fmt.Errorf("%s=%q: want LO-HI, %d <= LO, HI <= %d, at least %d offsets wide", EnvRange, v, MinLo, 65535-HighestBase(), numBlocks*200)
		}
	}
	ephLo, ephHi, err := hostnet.EphemeralRange()
	if err != nil {
		return 0, 0, err
	}
	reaches := lo+LowestBase() <= ephHi && hi+HighestBase() >= ephLo
	if reaches && v != "" {
		return 0, 0, fmt.Errorf("%s=%q: offsets %d-%d put MI ports at %d-%d, into this host's ephemeral range %d-%d (net.ipv4.ip_local_port_range), where an outgoing connection may take them first: keep HI at %d at most, or LO at %d at least",
			EnvRange, v, lo, hi, lo+LowestBase(), hi+HighestBase(), ephLo, ephHi, ephLo-1-HighestBase(), ephHi+1-LowestBase())
	}
	if reaches {
		hi = ephLo - 1 - HighestBase() // the default, cut short below it
	}
	if hi-lo+1 < numBlocks*200 { // only the default, cut short, can be
		return 0, 0, fmt.Errorf("this host's ephemeral range %d-%d (net.ipv4.ip_local_port_range) leaves fewer than %d test offsets from %d: set %s=LO-HI, offsets whose MI ports (LO+%d to HI+%d) lie outside it",
			ephLo, ephHi, numBlocks*200, lo, EnvRange, LowestBase(), HighestBase())
	}
	return lo, hi, nil
}

// Block returns the offsets that user (E2E, Sim, ...) may use: its own
// slice of Range. It fails the test when EnvRange is malformed.
func Block(tb testing.TB, user int) (lo, hi int) {
	tb.Helper()
	rlo, rhi, err := Range()
	if err != nil {
		tb.Fatal(err)
	}
	size := (rhi - rlo + 1) / numBlocks // LO-HI holds both ends
	lo = rlo + user*size
	return lo, lo + size - 1
}

// held are the ports of the spans Base handed to tests of this process
// still running: tests run in parallel, and two given one base planned
// onto the same ports.
var (
	heldMu sync.Mutex
	held   []claim
)

// claim is the ports a span of offsets stands for: every base port its
// tests use (MI's four, and any a test adds, such as an inbound
// endpoint's) shifted by each of the span's offsets, as intervals
// [lo, hi). Spans are kept apart by their ports, not their offsets: MI's
// base ports lie 37, 874, 911 and 948 apart, so offsets that far apart
// share a port (offset 1037's HTTPS port is offset 1000's HTTP port, 9290),
// and a test's inbound ports are another span's MI ports.
type claim [][2]int

// claimOf is the claim of offsets [from, to) with MI's base ports and
// extra ones, its overlapping intervals merged.
func claimOf(from, to int, extra []int) claim {
	bases := ports.DefaultBases()
	all := slices.Sorted(slices.Values(append(bases[:], extra...)))
	var c claim
	for _, b := range all {
		if n := len(c); n > 0 && b+from <= c[n-1][1] {
			c[n-1][1] = max(c[n-1][1], b+to)
			continue
		}
		c = append(c, [2]int{b + from, b + to})
	}
	return c
}

// overlaps reports whether c and o share a port.
func (c claim) overlaps(o claim) bool {
	for _, x := range c {
		for _, y := range o {
			if x[0] < y[1] && y[0] < x[1] {
				return true
			}
		}
	}
	return false
}

// othersWait is how long Base waits for a span while every free one of
// this process is held by other processes on the host: their tests end
// within seconds, and a suite sharing the range waits for them rather
// than fail.
const othersWait = 2 * time.Minute

// Base returns a random base offset within user's block, on a grid of
// span, leaving span offsets above it for the planner to use: a whole
// deployment of a test planned from there stays inside the block. The
// span's ports (its claim) are the test's until it ends: no other test
// gets a span or a hold (Hold) sharing one meanwhile, of this process or
// of another one on the host (a second `go test` of the same package at
// the same time: with the same range, its tests took the same spans, and
// the servers of one held the other's ports). Nor does it give a span
// with a port something listens on already. While every span shares a
// port with one held, Base waits for one (up to othersWait): tests end
// within seconds. Tests of this process waiting at once get spans in
// the order they came (see waiting). extra are base ports, beyond MI's four, that the
// test's servers open at each offset: an inbound endpoint's port in a
// CApp, which MI offsets as its own. No other span's ports meet them
// either.
func Base(tb testing.TB, user, span int, extra ...int) int {
	tb.Helper()
	lo, hi := Block(tb, user)
	slots := (hi - lo + 1 - span) / span
	if slots < 1 {
		tb.Fatalf("%s: the block of offsets %d-%d is narrower than %d", EnvRange, lo, hi, span)
	}
	waiting[user].Lock()
	defer waiting[user].Unlock()
	deadline := time.Now().Add(othersWait)
	for {
		base, ok, others, listened := take(tb, lo, span, slots, extra)
		switch {
		case ok:
			return base
		case time.Now().After(deadline) && others == 0:
			tb.Fatalf("%s: all %d spans of %d offsets in %d-%d shared ports with spans tests of this run held for %s: give the range more offsets, or run fewer tests at once (go test -parallel)", EnvRange, slots, span, lo, hi, othersWait)
		case time.Now().After(deadline):
			tb.Fatalf("%s: of the %d spans of %d offsets in %d-%d, %d shared ports for %s with what other processes on this host held (the tests of another go test run sharing the range, or servers listening on them: %s), the others with spans tests of this run held", EnvRange, slots, span, lo, hi, others, othersWait, listened)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waiting lines up the tests of this process that wait for a span of a
// block (by user), in the order they came: the first looks for a span
// until one frees, the others wait their turn (a sync.Mutex hands itself
// to its longest waiter once one has waited a millisecond). Looking side
// by side, a test could lose every span that freed to later ones: with
// go test -parallel 8 and a block of 3 spans, one waited 65 s of the
// othersWait Base allows.
var waiting [numBlocks]sync.Mutex

// Hold keeps ports for the test until it ends: absolute ones its servers
// bind whatever their offset (an inbound endpoint MI does not offset).
// No test of this process or of another on the host is given a span or a
// hold sharing one meanwhile; Hold waits (up to othersWait) while one is
// held, or something listens on it.
func Hold(tb testing.TB, ports ...int) {
	tb.Helper()
	c := portsClaim(ports)
	deadline := time.Now().Add(othersWait)
	for {
		ok, _, listened := tryClaim(tb, c)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			held := "held by other tests (of this run or another on this host)"
			if listened != "" {
				held = "something listens on " + listened
			}
			tb.Fatalf("ports %v: %s for %s", ports, held, othersWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// portsClaim is the claim of single ports.
func portsClaim(ports []int) claim {
	var c claim
	for _, p := range slices.Compact(slices.Sorted(slices.Values(ports))) {
		c = append(c, [2]int{p, p + 1})
	}
	return c
}

// InboundBases are the ports tests give their CApps' inbound endpoints
// (8080-8100): MI offsets them as its own (mictl turns
// inbound.port_offset_enable on), so they land on other offsets' MI
// ports; a test whose CApps open them passes these to Base.
func InboundBases() []int {
	var bases []int
	for p := 8080; p <= 8100; p++ {
		bases = append(bases, p)
	}
	return bases
}

// take takes a span free in this process and on the host, at random
// among the slots from lo; others counts the spans only other processes
// hold: their tests (hostLock), or something listening on their ports
// (servers a killed test run left, a copy of the suite from before the
// lock), which listened names.
func take(tb testing.TB, lo, span, slots int, extra []int) (base int, ok bool, others int, listened string) {
	for _, slot := range rand.Perm(slots) {
		from := lo + slot*span
		ok, byOthers, heard := tryClaim(tb, claimOf(from, from+span, extra))
		if ok {
			return from, true, others, listened
		}
		if byOthers {
			others++
			listened = cmp.Or(listened, heard)
		}
	}
	return 0, false, others, listened
}

// tryClaim gives c to the test until it ends, when no claim held here or
// by another process (hostLock) shares a port with it and nothing listens
// on one; byOthers says another process stood in the way, listened which
// port something listens on.
func tryClaim(tb testing.TB, c claim) (ok, byOthers bool, listened string) {
	heldMu.Lock()
	defer heldMu.Unlock()
	if slices.ContainsFunc(held, c.overlaps) {
		return false, false, ""
	}
	unlock, locked := hostLock(c)
	if !locked {
		return false, true, ""
	}
	if port, ok := firstListened(listening(), c); ok {
		unlock()
		return false, true, fmt.Sprintf("port %d", port)
	}
	held = append(held, c)
	tb.Cleanup(func() {
		heldMu.Lock()
		defer heldMu.Unlock()
		unlock()
		held = slices.DeleteFunc(held, func(h claim) bool { return slices.Equal(h, c) })
	})
	return true, false, ""
}

// listening is the TCP ports something listens on, on any address; none
// when the host's sockets cannot be read (every start would then say what
// holds its ports).
var listening = func() map[int][]hostnet.Socket {
	snap, err := hostnet.Scan()
	if err != nil {
		return map[int][]hostnet.Socket{}
	}
	return snap.Busy(hostnet.TCP, netip.Addr{})
}

// firstListened finds a port of c in busy.
func firstListened(busy map[int][]hostnet.Socket, c claim) (port int, ok bool) {
	for _, r := range c {
		for p := r[0]; p < r[1]; p++ {
			if len(busy[p]) > 0 {
				return p, true
			}
		}
	}
	return 0, false
}

// FreePort returns a free loopback TCP port for a server of a test's own
// that is not MI (a Prometheus, a metrics listener), at random among
// LowPorts: a port the kernel hands out for :0 and the test releases is
// in the ephemeral range, where an outgoing connection may take it first.
// The port is the test's until it ends, kept from other tests' spans and
// ports as a span's are (see Base): LowPorts lie below this range's MI
// ports only, so they may be a higher range's, and a suite with another
// range, or another FreePort of this run, picked the same port, or had a
// server bind it between this test's pick and its own bind. With shifted,
// the port p+d is free, below the ephemeral range and the test's too, for
// each d: an inbound endpoint's port, which a server at offset d binds as
// p+d when MI offsets it.
func FreePort(tb testing.TB, shifted ...int) int {
	tb.Helper()
	lo, hi := LowPorts(tb)
	ephemeral, _, err := hostnet.EphemeralRange()
	if err != nil {
		tb.Fatal(err)
	}
	usable := func(q int) bool { return q >= lo && q < ephemeral && bindable(q) }
	for _, i := range rand.Perm(hi - lo) {
		all := []int{lo + i}
		for _, d := range shifted {
			all = append(all, lo+i+d)
		}
		if !slices.ContainsFunc(all, func(q int) bool { return !usable(q) }) {
			if ok, _, _ := tryClaim(tb, portsClaim(all)); ok {
				return lo + i
			}
		}
	}
	with := ""
	if len(shifted) > 0 {
		with = fmt.Sprintf(" with p+%v free below %d", shifted, ephemeral)
	}
	tb.Fatalf("no free loopback port p in %d-%d%s: each is listened on, or held by tests of this run or of another on this host", lo, hi-1, with)
	return 0
}

// bindable reports whether a listener can bind port p on loopback now:
// what FreePort promises, also where the host's sockets cannot be read
// (listening sees none then).
func bindable(p int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// LowPorts returns the ports [lo, hi) that tests may pick for servers of
// their own: unprivileged, below the MI ports of every test offset (no
// test's MI server binds them) and below the kernel's ephemeral range (no
// outgoing connection or JMX port takes them between a pick and a bind).
func LowPorts(tb testing.TB) (lo, hi int) {
	tb.Helper()
	offsetLo, _, err := Range()
	if err != nil {
		tb.Fatal(err)
	}
	ephemeral, _, err := hostnet.EphemeralRange()
	if err != nil {
		tb.Fatal(err)
	}
	lo, hi = 1024, min(LowestBase()+offsetLo, ephemeral)
	if hi <= lo {
		tb.Fatalf("no port below the ephemeral range (from %d) and the test offsets' MI ports (from %d)", ephemeral, LowestBase()+offsetLo)
	}
	return lo, hi
}

// LowestBase is the lowest MI base port (HTTPS, 8243): an offset's MI
// ports start there.
func LowestBase() int {
	bases := ports.DefaultBases()
	return slices.Min(bases[:])
}

// HighestBase is the highest MI base port (internal HTTP, 9191): an
// offset's MI ports end there.
func HighestBase() int {
	bases := ports.DefaultBases()
	return slices.Max(bases[:])
}
