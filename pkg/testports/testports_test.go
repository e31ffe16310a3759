package testports_test

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/testports"
)

// FreePort's port is below every test offset's MI ports (the lowest is
// HTTPS, 8243+offset) and below the ephemeral range, and can be bound.
func TestFreePort(t *testing.T) {
	t.Setenv(testports.EnvRange, "2000-9000")
	ephemeral, _, err := hostnet.EphemeralRange()
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		p := testports.FreePort(t)
		if p < 1024 || p >= testports.LowestBase()+2000 || p >= ephemeral {
			t.Fatalf("port %d: want 1024 <= port < %d", p, min(testports.LowestBase()+2000, ephemeral))
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d cannot be bound: %v", p, err)
		}
		ln.Close()
	}
}

// LO-HI holds both ends: 1000 offsets make five blocks of 200, side by
// side within the range; 999 are refused.
func TestRangeHoldsBothEnds(t *testing.T) {
	t.Setenv(testports.EnvRange, "9000-9999")
	next := 9000
	for _, user := range []int{testports.E2E, testports.Sim, testports.Bench, testports.Soak, testports.Other} {
		lo, hi := testports.Block(t, user)
		if lo != next || hi != lo+199 {
			t.Fatalf("block %d of 9000-9999: %d-%d, want %d-%d", user, lo, hi, next, next+199)
		}
		next = hi + 1
	}
	t.Setenv(testports.EnvRange, "9000-9998")
	if _, _, err := testports.Range(); err == nil {
		t.Fatal("Range accepted 999 offsets, want at least 1000")
	}
}

// A range whose MI ports would reach the host's ephemeral range, where an
// outgoing connection may take a test's port first, is refused.
func TestRangeStaysBelowTheEphemeralRange(t *testing.T) {
	ephemeral, _, err := hostnet.EphemeralRange()
	if err != nil {
		t.Fatal(err)
	}
	top := ephemeral - 1 - testports.HighestBase()
	t.Setenv(testports.EnvRange, fmt.Sprintf("%d-%d", top-999, top))
	if _, hi, err := testports.Range(); err != nil || hi != top {
		t.Fatalf("Range = %d, %v; want HI %d accepted", hi, err, top)
	}
	t.Setenv(testports.EnvRange, fmt.Sprintf("%d-%d", top-999, top+1))
	if _, _, err := testports.Range(); err == nil || !strings.Contains(err.Error(), "ephemeral range") {
		t.Fatalf("Range accepted offsets whose MI ports reach port %d, where the ephemeral range begins (err %v)", ephemeral, err)
	}
	// Offsets whose MI ports all lie above the ephemeral range are fine.
	_, ephHi, _ := hostnet.EphemeralRange()
	if above := ephHi + 1 - testports.LowestBase(); above+999+testports.HighestBase() <= 65535 {
		t.Setenv(testports.EnvRange, fmt.Sprintf("%d-%d", above, above+999))
		if _, _, err := testports.Range(); err != nil {
			t.Errorf("offsets above the ephemeral range refused: %v", err)
		}
		t.Setenv(testports.EnvRange, fmt.Sprintf("%d-%d", above-1, above+999))
		if _, _, err := testports.Range(); err == nil {
			t.Errorf("offset %d, whose HTTPS port is the ephemeral range's last, accepted", above-1)
		}
	}
	t.Setenv(testports.EnvRange, "")
	if _, hi, err := testports.Range(); err != nil || hi > top {
		t.Fatalf("the default range: HI %d, %v; want at most %d", hi, err, top)
	}
}

// ownSpans gives t the range 9000-9999 (200 offsets a block: 4 spans of
// 40 in each, one left above) with a lock file of its own, which the
// processes it starts inherit, and no listener seen on the host: the
// tests that count spans exactly meet no other suite's spans or servers.
// Spans of 40 next to each other share ports (MI's HTTPS and HTTP base
// ports are 37 apart): at most 2 of the 4 are held at once, and any 2
// leave no third.
func ownSpans(t *testing.T) {
	t.Setenv(testports.EnvRange, "9000-9999")
	t.Setenv(testports.EnvLock, filepath.Join(t.TempDir(), "lock"))
	testports.StubNoListeners(t)
}

// spanPorts is every MI port (and one of each extra base) of span's
// offsets from base.
func spanPorts(base, span int, extra ...int) map[int]bool {
	bases := ports.DefaultBases()
	all := map[int]bool{}
	for off := base; off < base+span; off++ {
		for _, b := range append(bases[:], extra...) {
			all[b+off] = true
		}
	}
	return all
}

// sharePort reports whether the spans of 40 from a and b share a port.
func sharePort(a, b int, extra ...int) bool {
	theirs := spanPorts(b, 40, extra...)
	for p := range spanPorts(a, 40, extra...) {
		if theirs[p] {
			return true
		}
	}
	return false
}

// Tests running at the same time are given spans that share no port
// (offsets 37 apart do: offset 9840's HTTPS port is offset 9803's HTTP
// port); a span is free again once its test has ended.
func TestBaseSpansShareNoPortWhileHeld(t *testing.T) {
	ownSpans(t)
	for range 20 { // random picks: spans side by side come up at once
		t.Run("two", func(t *testing.T) {
			a, b := testports.Base(t, testports.Other, 40), testports.Base(t, testports.Other, 40)
			if sharePort(a, b) {
				t.Fatalf("bases %d and %d given at once share a port", a, b)
			}
		})
	}
}

// A test's extra base ports (an inbound endpoint's, which MI offsets as
// its own) are kept from every other span's ports: with extra base 8173,
// the span from offset o opens 8173+o to 8212+o, the HTTPS ports of the
// span from o-80.
func TestBaseKeepsExtraPortsFromOtherSpans(t *testing.T) {
	ownSpans(t)
	// 9 spans of 40 in the Other block: those a span with extra ports
	// meets (either side, two and three below) leave others free.
	t.Setenv(testports.EnvRange, "9000-10999")
	const extra = 8253 - 80
	for range 20 {
		t.Run("two", func(t *testing.T) {
			a := testports.Base(t, testports.Other, 40, extra)
			b := testports.Base(t, testports.Other, 40)
			theirs := spanPorts(b, 40)
			for p := range spanPorts(a, 40, extra) {
				if theirs[p] {
					t.Fatalf("span %d with extra base %d and span %d share port %d", a, extra, b, p)
				}
			}
		})
	}
}

// holdEnv makes this test binary hold ports for a test of another
// process (TestHold), on its parent's lock file, until its stdin closes:
// "spans N", N spans of 40 offsets in the Other block of 9000-9999; "low
// P,Q,...", every port of LowPorts but P, Q, ...
const holdEnv = "TESTPORTS_HOLD"

func TestHold(t *testing.T) {
	what, arg, _ := strings.Cut(os.Getenv(holdEnv), " ")
	if what == "" {
		t.Skip("run by the tests of ports held by another process")
	}
	testports.StubNoListeners(t) // the lock file: its parent's (ownSpans)
	var held []string
	switch what {
	case "spans":
		t.Setenv(testports.EnvRange, "9000-9999")
		n, _ := strconv.Atoi(arg)
		for range n {
			held = append(held, strconv.Itoa(testports.Base(t, testports.Other, 40)))
		}
	case "low":
		left := map[int]bool{}
		for _, f := range strings.Split(arg, ",") {
			p, _ := strconv.Atoi(f)
			left[p] = true
		}
		lo, hi := testports.LowPorts(t)
		var all []int
		for p := lo; p < hi; p++ {
			if !left[p] {
				all = append(all, p)
			}
		}
		testports.Hold(t, all...)
	}
	fmt.Println("held", strings.Join(held, " "))
	io.Copy(io.Discard, os.Stdin)
}

// holdSpans has another process hold n spans (TestHold) and returns
// their bases and a function that makes it let go.
func holdSpans(t *testing.T, n int) (bases []int, release func()) {
	t.Helper()
	said, release := holdElsewhere(t, fmt.Sprintf("spans %d", n))
	for _, f := range said {
		b, _ := strconv.Atoi(f)
		bases = append(bases, b)
	}
	if len(bases) != n {
		t.Fatalf("the holding process held %d spans, want %d", len(bases), n)
	}
	return bases, release
}

// holdElsewhere has another process hold what holdEnv says (TestHold),
// until release or the test ends, and returns what it said it held.
func holdElsewhere(t *testing.T, what string) (said []string, release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHold$")
	cmd.Env = append(os.Environ(), holdEnv+"="+what)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	release = sync.OnceFunc(func() {
		stdin.Close()
		cmd.Wait()
	})
	t.Cleanup(release)
	var out []string
	for lines := bufio.NewScanner(stdout); lines.Scan(); {
		if fields := strings.Fields(lines.Text()); len(fields) > 0 && fields[0] == "held" {
			return fields[1:], release
		}
		out = append(out, lines.Text())
	}
	t.Fatalf("the holding process ended without holding %s:\n%s", what, strings.Join(out, "\n"))
	return nil, nil
}

// lowPortsBut has another process hold every port of LowPorts of the
// range 100-1099 (1024 to 8342 at most) on a lock file of t's own but n
// of them, d apart, that can be bound, which it returns.
func lowPortsBut(t *testing.T, n, d int) []int {
	t.Helper()
	t.Setenv(testports.EnvRange, "100-1099")
	t.Setenv(testports.EnvLock, filepath.Join(t.TempDir(), "lock"))
	lo, hi := testports.LowPorts(t)
	var left []int
	var said []string
	for p := lo + rand.IntN(hi-lo-n*d); len(left) < n; p = lo + (p-lo+1)%(hi-lo-n*d) {
		left, said = left[:0], said[:0]
		for q := p; q < p+n*d && testports.Bindable(q); q += d {
			left, said = append(left, q), append(said, strconv.Itoa(q))
		}
	}
	holdElsewhere(t, "low "+strings.Join(said, ","))
	return left
}

// FreePort's ports lie below its own range's MI ports only, among a
// higher range's: a port another process holds (a span of another suite,
// its FreePort) is not given, though nothing listens on it yet.
func TestFreePortPassesOverPortsOtherProcessesHold(t *testing.T) {
	left := lowPortsBut(t, 1, 1)
	if p := testports.FreePort(t); p != left[0] {
		t.Fatalf("FreePort gave %d, held by another process; want %d, the one low port it left", p, left[0])
	}
}

// With a shift (an inbound endpoint's port p, which a server at offset d
// binds as p+d), FreePort gives a port whose shifted port is free too: of
// two ports d apart another process left, the lower.
func TestFreePortKeepsItsShiftedPortsFree(t *testing.T) {
	const d = 100
	left := lowPortsBut(t, 2, d)
	if p := testports.FreePort(t, d); p != left[0] {
		t.Fatalf("FreePort(%d) gave %d; want %d, the one low port of those another process left (%v) whose port %d above is free", d, p, left[0], left, d)
	}
}

// A span another process holds (a second go test run sharing the range),
// or one sharing a port with it, is not handed out: its tests' servers
// would hold this one's ports.
func TestBasePassesOverSpansOtherProcessesHold(t *testing.T) {
	ownSpans(t) // 4 spans of 40 in the Other block
	theirs, _ := holdSpans(t, 1)
	for range 10 { // a random pick among the 4 would take one meeting theirs
		t.Run("pick", func(t *testing.T) {
			if b := testports.Base(t, testports.Other, 40); sharePort(b, theirs[0]) {
				t.Fatalf("Base gave %d, which shares a port with %d, held by another process", b, theirs[0])
			}
		})
	}
}

// While other processes hold spans that every free one meets, Base waits
// until they let go.
func TestBaseWaitsForASpanOtherProcessesHold(t *testing.T) {
	ownSpans(t)
	_, release := holdSpans(t, 2)
	var released atomic.Bool
	go func() {
		time.Sleep(300 * time.Millisecond)
		released.Store(true)
		release()
	}()
	b := testports.Base(t, testports.Other, 40)
	if !released.Load() {
		t.Fatalf("Base gave %d while another process held spans meeting every free one", b)
	}
}

// While the spans tests of this run hold leave none free, Base waits for
// one to end rather than fail the test: parallel tests end within
// seconds.
func TestBaseWaitsForSpansTestsOfThisRunHold(t *testing.T) {
	ownSpans(t)
	release, ended := holdEverySpan(t)
	var released atomic.Bool
	time.AfterFunc(300*time.Millisecond, func() { released.Store(true); release() })
	b := testports.Base(t, testports.Other, 40)
	if !released.Load() {
		t.Fatalf("Base gave %d while this run's other tests held spans sharing ports with every free one", b)
	}
	ended()
}

// holdEverySpan has subtests of t hold the 2 spans of ownSpans's block,
// which leave no third free, each its own. release lets one go: tests
// waiting for a span then get it one at a time, each once the one
// before it ended, in the order Base gives it. ended lets the other go
// too, and returns once both subtests have.
func holdEverySpan(t *testing.T) (release, ended func()) {
	t.Helper()
	var holders sync.WaitGroup
	hold := func() (letGo func()) {
		held, done := make(chan struct{}), make(chan struct{})
		holders.Go(func() {
			t.Run("holder", func(t *testing.T) {
				testports.Base(t, testports.Other, 40)
				close(held)
				<-done
			})
		})
		<-held
		return sync.OnceFunc(func() { close(done) })
	}
	one, other := hold(), hold()
	return one, func() { one(); other(); holders.Wait() }
}

// Tests of this run waiting for a span get one in the order they came:
// looking side by side, the first could lose every span that freed to
// later ones (in cmd/mictl, with -parallel 8 and 3 spans in its block,
// one test waited 65 s of the 2 minutes Base allows).
func TestBaseGivesAFreedSpanToTheTestWaitingLongest(t *testing.T) {
	ownSpans(t)
	release, ended := holdEverySpan(t)
	given := make(chan string, 8)
	var waiters sync.WaitGroup
	wait := func(name string) {
		waiters.Go(func() {
			t.Run(name, func(t *testing.T) {
				testports.Base(t, testports.Other, 40)
				given <- name
			})
		})
	}
	wait("first")
	time.Sleep(200 * time.Millisecond) // it waits
	for range 7 {
		wait("later")
	}
	time.Sleep(200 * time.Millisecond) // they wait too
	release()
	if got := <-given; got != "first" {
		t.Errorf("a freed span went to a test that came later than the first waiting")
	}
	waiters.Wait()
	ended()
}

// A port a test holds (Hold), such as an inbound endpoint's MI does not
// offset, is in no span Base gives meanwhile.
func TestBaseGivesNoSpanWithAHeldPort(t *testing.T) {
	ownSpans(t)
	port := 8290 + 9800 // the HTTP port of the first span's first offset
	testports.Hold(t, port)
	for range 10 {
		t.Run("pick", func(t *testing.T) {
			if b := testports.Base(t, testports.Other, 40); spanPorts(b, 40)[port] {
				t.Fatalf("Base gave %d, whose span has port %d, held", b, port)
			}
		})
	}
}
