package supervisor

import (
	"os"
	"slices"
	"testing"

	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// A rebuilt CApp whose copy into mi-2's home fails (its source gone, as
// a full disk or a read-only carbonapps/ fails it) leaves mi-2's MI on
// the old build: its record keeps the old build's inbound port, which
// mi-1's new build takes, and lists no port as let go. Recorded as the
// new build's, the old port read as let go while mi-2's server held it,
// and every later reload refused mi-1's move onto it ("held by ... the
// server of mi-2"), a new daemon's too, until mi-2 restarted.
func TestAFailedCopyRecordsThePortsOfTheBuildTheHomeHolds(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	toml := s.twoRunOrders()
	build := s.car("orders_1.0.0.car", inboundCApp("orders", 8086)) // mi-1's new port is mi-2's old one
	f, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	tgt, c, err := s.sup.plan(s.load, f, reconcile.ProposeToApply)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := os.ReadFile(build)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(build); err != nil {
		t.Fatal(err)
	}
	if err := s.sup.giveApps(f, tgt, c, "mi-2", nil); err == nil {
		t.Fatal("copy of a CApp whose file is gone: no error")
	}
	after, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := after.Instance("mi-2")
	old := 8085 + s.base + 1
	if !slices.Equal(extraPorts(rec.Extras), []int{old}) || len(rec.Undeploying) > 0 {
		t.Fatalf("mi-2 after its copy failed: extras %v, undeploying %v; want the old build's port %d, none let go", rec.Extras, rec.Undeploying, old)
	}
	if err := os.WriteFile(build, rebuilt, 0o644); err != nil {
		t.Fatal(err)
	}
	s.reload(toml)
	for _, name := range []string{"mi-2", "mi-1"} {
		wantAppEvent(t, s.next(name, appEvents...), "app-active", "orders_1.0.0")
	}
	f, err = s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"mi-1", "mi-2"} {
		rec, _ := f.Instance(name)
		if want := 8086 + s.base + i; !slices.Equal(extraPorts(rec.Extras), []int{want}) {
			t.Errorf("%s after the reload: extras %v; want port %d", name, rec.Extras, want)
		}
	}
}

// extraPorts are the ports of extras, in order.
func extraPorts(extras []state.Extra) []int {
	var out []int
	for _, e := range extras {
		out = append(out, e.Port)
	}
	return out
}
