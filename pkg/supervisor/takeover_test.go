package supervisor

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/state"
)

// A daemon killed between a reload's stop of an instance and its start
// left it stopped and marked restarting, the edit that set the reload off
// not applied. Its successor finished the restart with the old home: the
// instance ran on at its old offset, and mictl diff said the restart was
// still to come, which no reload made.
func TestAFinishedRestartStartsWithTheConfigurationsHome(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	// What the killed daemon's reload left.
	if err := s.sup.stop([]string{"mi-1"}, siteTimeout, true); err != nil {
		t.Fatal(err)
	}
	moved := s.base + 1
	s.write(fmt.Sprintf("instances = 1\n[[instance]]\nname = \"mi-1\"\noffset = %d\n", moved))

	s.sup.finishRestarts([]string{"mi-1"}, s.load)

	if ev := s.next("mi-1", StateReady, StateFailed); ev.State != StateReady {
		t.Fatalf("mi-1 did not start again: %s", ev)
	}
	f := s.flushed()
	if inst, _ := f.Instance("mi-1"); inst.Offset != moved || inst.Restarting {
		t.Fatalf("mi-1 restarted at offset %d (restarting %v), want %d, the configuration's", inst.Offset, inst.Restarting, moved)
	}
	if _, changes, err := s.sup.planReload(s.load, f); err != nil || !changes.Empty() {
		t.Fatalf("after the restart a reload would still do %s (%v), want nothing", describe(changes), err)
	}
}

// A restart to finish whose instance's new ports another instance holds
// until its own restart (the reload restarted them together, and its
// daemon died after restarting that one alone, or a mictl restart of one
// was killed after an edit swapped them) starts the instance as it was,
// saying why: its new ports taken, it failed; left stopped, it read as
// stopped though nobody stopped it. The catch-up reload that follows
// restarts the two together.
func TestAFinishedRestartOntoHeldPortsStartsAsItWas(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.write(fmt.Sprintf("instances = 2\n[[instance]]\nname = \"mi-1\"\noffset = %d\n[[instance]]\nname = \"mi-2\"\noffset = %d\n", s.base, s.base+1))
	if _, err := s.sup.Reload(s.load); err != nil {
		t.Fatal(err)
	}
	if err := s.sup.stop([]string{"mi-1"}, siteTimeout, true); err != nil {
		t.Fatal(err)
	}
	s.write(fmt.Sprintf("instances = 2\n[[instance]]\nname = \"mi-1\"\noffset = %d\n[[instance]]\nname = \"mi-2\"\noffset = %d\n", s.base+1, s.base))

	s.sup.finishRestarts([]string{"mi-1"}, s.load)

	said := s.next("mi-1", StateStopped)
	for !strings.Contains(said.Message, "as it was") {
		said = s.next("mi-1", StateStopped)
	}
	if want := "ports mi-2 holds until its own restart"; !strings.Contains(said.Message, want) {
		t.Errorf("the restart said %q, want it to say why: %q", said.Message, want)
	}
	if ev := s.next("mi-1", StateReady, StateFailed); ev.State != StateReady {
		t.Fatalf("mi-1 did not start again: %s", ev)
	}
	if inst, _ := s.flushed().Instance("mi-1"); inst.Offset != s.base {
		t.Fatalf("mi-1 started at offset %d, want %d, as it was", inst.Offset, s.base)
	}
}

// A daemon killed in a reload after it started an added instance, before
// it recorded the instances the configuration names, left the instance to
// its successor, which resumed it. The successor's catch-up reload found
// nothing to change and recorded nothing: the instance, never among the
// configured ones, was kept (reconcile.Kept), and a later edit removing
// it from mictl.toml left it running.
func TestACatchUpRecordsTheInstancesAKilledReloadAdded(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 2\n")
	s.next("mi-2", StateReady)
	// What the killed daemon's reload left recorded.
	if err := s.sup.update(func(f *state.File) error { f.Configured = []string{"mi-1"}; return nil }); err != nil {
		t.Fatal(err)
	}

	if _, err := s.sup.reload(s.load, reloadCatchUp, nil); err != nil {
		t.Fatal(err)
	}

	if got := s.flushed().Configured; !slices.Equal(got, []string{"mi-1", "mi-2"}) {
		t.Fatalf("configured %q after the catch-up, want mi-1 and mi-2", got)
	}
	s.reload("instances = 1\n")
	if inst, _ := s.flushed().Instance("mi-2"); inst != nil {
		t.Fatalf("mi-2 is still %s after mictl.toml dropped it", inst.State)
	}
}

// flushed is the state file once the supervisor's writes are in it.
func (s *simSite) flushed() *state.File {
	s.t.Helper()
	if err := s.sup.Flush(); err != nil {
		s.t.Fatal(err)
	}
	f, err := s.sup.store.Load()
	if err != nil {
		s.t.Fatal(err)
	}
	return f
}
