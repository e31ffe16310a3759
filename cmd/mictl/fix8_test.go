package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/ports"
)

// An instance the planner places neither where it last ran nor at its
// natural slot, which a stranger holds, gets one note saying both: up
// printed "mi-1 starts at offset B+1, not B+3 where it last ran" and
// "mi-1 planned at offset B+1, not B", which read as a contradiction.
func TestUpSaysOnceWhyAStoppedInstanceMoved(t *testing.T) {
	d := newDeployment(t)
	d.must("up", "--offsets", fmt.Sprint(d.base+3), "--timeout", "30s")
	d.must("down")
	http := ports.DefaultBases()[ports.HTTP] + d.base
	listen(t, http)
	_, _, errOut := d.mictl("up", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	want := fmt.Sprintf("note: mi-1 starts at offset %d, not %d where it last ran (its http port %d was %d): the planner places a stopped instance again and passed over offset %d: its http port %d there is held by pid ",
		d.base+1, d.base+3, http+1, http+3, d.base, http)
	if !strings.Contains(errOut, want) {
		t.Fatalf("up does not say in one note why mi-1 moved (%q):\n%s", want, errOut)
	}
	if strings.Contains(errOut, "planned at offset") {
		t.Fatalf("up says twice that mi-1 moved:\n%s", errOut)
	}
}
