package supervisor

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
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
	t.Parallel()
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
	if err := s.sup.giveApps(f, tgt, c, "mi-2", nil, false); err == nil {
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

// threeRunOrdersMovedBy2 runs mi-1..mi-3 with orders_1.0.0, its HTTP
// inbound endpoint on 8085 plus each one's offset, blocks the copy of
// its next build into the home of failing (a non-empty directory where
// its file is: the rename over it fails, for root too), rebuilds it two
// ports up (mi-1's new port is mi-3's old one: the redeploy goes mi-2,
// mi-3, then mi-1) and reloads, returning the reload's error.
func (s *simSite) threeRunOrdersMovedBy2(failing string) error {
	s.t.Helper()
	s.car("orders_1.0.0.car", inboundCApp("orders", 8085))
	const toml = "instances = 3\ncapps = [\"build/orders_1.0.0.car\"]\n"
	s.reload(toml)
	for _, name := range []string{"mi-1", "mi-2", "mi-3"} {
		wantAppEvent(s.t, s.next(name, appEvents...), "app-active", "orders_1.0.0")
	}
	car := filepath.Join(home.CarbonAppsDir(filepath.Join(s.dir, "instances", failing)), "orders_1.0.0.car")
	if err := os.Remove(car); err != nil {
		s.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(car, "x"), 0o755); err != nil {
		s.t.Fatal(err)
	}
	s.car("orders_1.0.0.car", inboundCApp("orders", 8087))
	return s.tryReload(toml)
}

// holdsBuild reports whether the home of name holds the build of
// orders_1.0.0.car in build/ now.
func (s *simSite) holdsBuild(name string) bool {
	s.t.Helper()
	want, err := fsutil.SHA256(filepath.Join(s.dir, "build", "orders_1.0.0.car"))
	if err != nil {
		s.t.Fatal(err)
	}
	got, err := fsutil.SHA256(filepath.Join(home.CarbonAppsDir(filepath.Join(s.dir, "instances", name)), "orders_1.0.0.car"))
	return err == nil && got == want
}

// One home that does not take a rebuilt CApp (mi-2's, the redeploy's
// first) keeps no other instance from it: mi-3 and mi-1 get it, and the
// reload fails naming mi-2 alone, with what brings it the build. Before,
// the redeploy ended at mi-2, and the instances after it ran the old
// build, "not redeployed".
func TestAHomeThatFailsACopyKeepsNoOtherFromTheCApp(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	err := s.threeRunOrdersMovedBy2("mi-2")
	const want = "; it runs the CApps its home still holds (mictl reload redeploys it once the home of mi-2 takes its new CApps)"
	if err == nil || !strings.HasPrefix(err.Error(), "mi-2: deploy CApp orders_1.0.0: ") || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("reload whose copy into mi-2 fails: %v; want it to name mi-2 and end %q", err, want)
	}
	for _, name := range []string{"mi-3", "mi-1"} {
		if !s.holdsBuild(name) {
			t.Errorf("%s does not hold the rebuilt CApp after the reload", name)
		}
	}
}

// An instance whose new build opens a port the old build of a home that
// failed still holds (mi-1 takes mi-3's) is held back, and named: given
// it, MI failed the endpoint on the port still held, and kept the CApp
// faulty for good. The others (mi-2) get it.
func TestAFailedCopyHoldsBackTheInstanceTakingItsPort(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	err := s.threeRunOrdersMovedBy2("mi-3")
	const want = "; it runs the CApps its home still holds; not redeployed: mi-1, whose new CApps open ports the old builds of mi-3 still hold (mictl reload redeploys them all once the home of mi-3 takes its new CApps)"
	if err == nil || !strings.HasPrefix(err.Error(), "mi-3: deploy CApp orders_1.0.0: ") || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("reload whose copy into mi-3 fails: %v; want it to name mi-3 and end %q", err, want)
	}
	if !s.holdsBuild("mi-2") || s.holdsBuild("mi-1") {
		t.Errorf("after the reload mi-2 holds the rebuilt CApp: %v, mi-1: %v; want mi-2 alone", s.holdsBuild("mi-2"), s.holdsBuild("mi-1"))
	}
}

// An instance of a swap (two instances taking each other's inbound
// ports) whose copy fails once the cycle undeployed its changed CApps
// runs without them, and is recorded so: no CApp, no inbound port. It
// was said to run "the CApps its home still holds", and recorded with the
// undeployed build on its old port, which the other instance's new build
// took: two instances recorded on one port until the next reload.
func TestASwapWhoseCopyFailsRecordsWhatItUndeployedFirstAsGone(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	toml := s.swapped()
	// mi-1's new build waits for mi-2, held still, to let go of its port:
	// its source goes meanwhile.
	resume := s.holdStill("mi-2")
	reloaded := s.reloadInBackground(toml)
	for ev := s.next("mi-1", "redeploy"); !strings.Contains(ev.Message, "undeployed first"); ev = s.next("mi-1", "redeploy") {
	}
	if err := os.Remove(filepath.Join(s.dir, "build", "a_1.0.0.car")); err != nil {
		t.Fatal(err)
	}
	resume()
	err := <-reloaded
	if err == nil || !strings.HasPrefix(err.Error(), "mi-1: deploy CApp a_1.0.0: ") || !strings.Contains(err.Error(), "; it runs without the CApps it had undeployed first") {
		t.Fatalf("reload whose copy into mi-1 failed after its undeploy: %v; want it to say mi-1 runs without the CApps it undeployed first", err)
	}
	f, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	mi1, _ := f.Instance("mi-1")
	mi2, _ := f.Instance("mi-2")
	if len(mi1.Apps) > 0 || len(extraPorts(mi1.Extras)) > 0 {
		t.Errorf("mi-1 after its copy failed: apps %v, extras %v; want none, as its home holds none", mi1.Apps, mi1.Extras)
	}
	for _, port := range extraPorts(mi1.Extras) {
		if slices.Contains(extraPorts(mi2.Extras), port) {
			t.Errorf("port %d recorded for mi-1 and mi-2 both", port)
		}
	}
}
