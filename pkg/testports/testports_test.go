package testports_test

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/hostnet"
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

// Tests running at the same time are given disjoint spans of offsets; a
// span is free again once its test has ended.
func TestBaseSpansAreDisjointWhileHeld(t *testing.T) {
	t.Setenv(testports.EnvRange, "9000-9999") // 200 offsets a block: 4 spans of 40 (one left above)
	var bases []int
	t.Run("holder", func(t *testing.T) {
		for range 4 {
			bases = append(bases, testports.Base(t, testports.Other, 40))
		}
		slices.Sort(bases)
		for i := 1; i < len(bases); i++ {
			if bases[i]-bases[i-1] < 40 {
				t.Fatalf("bases %v overlap (span 40)", bases)
			}
		}
	})
	// The holder ended: its spans are free again.
	for range 4 {
		testports.Base(t, testports.Other, 40)
	}
}
