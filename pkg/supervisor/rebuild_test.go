package supervisor

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/sim"
)

// writeRebuildCApp builds spec into dir's carbonapps/ as id.car.
func writeRebuildCApp(t *testing.T, dir string, spec capp.Spec) {
	t.Helper()
	var b bytes.Buffer
	if err := capp.Build(&b, spec); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(home.CarbonAppsDir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home.CarbonAppsDir(dir), spec.Name+"_1.0.0.car"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeRebuildHome makes dir an instance home as far as Rebuild reads it:
// its deployment.toml.
func writeRebuildHome(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(home.ConfPath(dir)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(home.ConfPath(dir), deploytoml.Template(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rebuiltApps rebuilds the state of instances, whose one instance is
// mi-1, given the distribution dist, and returns the ids of the CApps it
// records for mi-1.
func rebuiltApps(t *testing.T, instances, dist string) []string {
	t.Helper()
	f, err := Rebuild(instances, "127.0.0.1", dist)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Instances) != 1 {
		t.Fatalf("rebuilt %+v, want mi-1", f.Instances)
	}
	var ids []string
	for _, a := range f.Instances[0].Apps {
		ids = append(ids, a.ID)
	}
	return ids
}

// A state rebuilt from the homes records the CApps mictl put there, as
// an up records them, and not those the distribution ships in its own
// carbonapps/, which every home has from the clone: recorded, the next
// reload took them for apps no longer declared and undeployed them from
// every instance.
func TestRebuildRecordsOnlyTheCAppsMictlDeployed(t *testing.T) {
	root := t.TempDir()
	dist, instances := filepath.Join(root, "dist"), filepath.Join(root, "instances")
	writeRebuildCApp(t, dist, capp.Spec{Name: "inb"})
	mi1 := filepath.Join(instances, "mi-1")
	writeRebuildHome(t, mi1)
	writeRebuildCApp(t, mi1, capp.Spec{Name: "inb"})    // from the clone
	writeRebuildCApp(t, mi1, capp.Spec{Name: "orders"}) // mictl's
	if ids := rebuiltApps(t, instances, dist); len(ids) != 1 || ids[0] != "orders_1.0.0" {
		t.Errorf("rebuilt mi-1 with CApps %v, want orders_1.0.0 alone (inb_1.0.0 is the distribution's)", ids)
	}
}

// The CApps a home's distribution ships are those of the distribution it
// was synced from, not of the one the caller names (mictl.toml's mi_home,
// while the last up named another with --mi-home): taken from that one,
// the other's shipped CApps were recorded as mictl's.
func TestRebuildKnowsTheCAppsOfTheDistributionEachHomeCameFrom(t *testing.T) {
	root := t.TempDir()
	named, synced := filepath.Join(root, "mi-home-a"), filepath.Join(root, "mi-home-b")
	instances := filepath.Join(root, "instances")
	for _, dir := range []string{named, synced} {
		if err := sim.WriteDist(dir, sim.DistOptions{Exe: "/bin/true"}); err != nil {
			t.Fatal(err)
		}
	}
	writeRebuildCApp(t, synced, capp.Spec{Name: "inb"})
	dist, err := home.ReadDistribution(synced)
	if err != nil {
		t.Fatal(err)
	}
	mi1 := filepath.Join(instances, "mi-1")
	if _, err := dist.Sync(mi1); err != nil {
		t.Fatal(err)
	}
	writeRebuildHome(t, mi1)
	writeRebuildCApp(t, mi1, capp.Spec{Name: "orders"}) // mictl's
	if ids := rebuiltApps(t, instances, named); !slices.Equal(ids, []string{"orders_1.0.0"}) {
		t.Errorf("rebuilt mi-1 with CApps %v, want orders_1.0.0 alone (inb_1.0.0 is shipped by %s, which it was synced from)", ids, synced)
	}
}

// A rebuilt state lists the instances in their natural order, as an up
// records them (mi-2 before mi-10), not in the directory's.
func TestRebuildKeepsTheInstancesInOrder(t *testing.T) {
	instances := t.TempDir()
	for _, name := range []string{"mi-10", "mi-2", "mi-1", "mi-11"} {
		writeRebuildHome(t, filepath.Join(instances, name))
	}
	f, err := Rebuild(instances, "127.0.0.1", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, inst := range f.Instances {
		names = append(names, inst.Name)
	}
	if want := []string{"mi-1", "mi-2", "mi-10", "mi-11"}; !slices.Equal(names, want) {
		t.Errorf("rebuilt instances %v, want %v", names, want)
	}
}

// An instance whose server is gone is rebuilt to start as it last
// started, from its starting event: with offset_method "flag" its home's
// deployment.toml holds the distribution's offset, and a start without
// -DportOffset took the distribution's ports (and lost the metrics flag).
func TestRebuildLaunchesAGoneServerAsItLastStarted(t *testing.T) {
	instances := filepath.Join(t.TempDir(), "instances")
	writeRebuildHome(t, filepath.Join(instances, "mi-1"))
	log := filepath.Join(instances, ".mictl", eventsFile)
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		t.Fatal(err)
	}
	events := "2026-12-03T10:00:00.000Z mi-1 starting pid=4242: " + startedScript + " -DportOffset=37 " + reconcile.MetricsFlag + "\n" +
		"2026-12-03T10:00:01.000Z mi-1 ready pid=4243\n"
	if err := os.WriteFile(log, []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Rebuild(instances, "127.0.0.1", "")
	if err != nil {
		t.Fatal(err)
	}
	inst, ok := f.Instance("mi-1")
	if !ok {
		t.Fatalf("rebuilt %+v, want mi-1", f.Instances)
	}
	if want := []string{"-DportOffset=37", reconcile.MetricsFlag}; inst.State != StateCrashed || !slices.Equal(inst.Args, want) {
		t.Fatalf("mi-1 rebuilt %s with args %q, want crashed (to start again) with %q", inst.State, inst.Args, want)
	}
	if inst.Offset != 37 || inst.Ports != ports.DefaultBases().Shift(37) {
		t.Fatalf("mi-1 rebuilt at offset %d, ports %v; want 37 and %v", inst.Offset, inst.Ports, ports.DefaultBases().Shift(37))
	}
}

// A rebuilt record counts the restarts of the instance's last run: a
// start after it failed begins a new one, as an up's record does, so an
// earlier run's crashes do not carry over; after a stop the count goes
// on (a restart's stop and start look like an up's in the log). A
// restart counts once made, as RESTARTS counts it: a backoff ended by a
// stop made none.
func TestEventHistoryCountsTheLastRunsRestarts(t *testing.T) {
	log := filepath.Join(t.TempDir(), eventsFile)
	events := strings.Join([]string{
		"2026-12-03T10:00:00.000Z mi-1 starting pid=1: x",
		"2026-12-03T10:00:01.000Z mi-1 backoff: crashed; restart 1 in 0s",
		"2026-12-03T10:00:02.000Z mi-1 starting pid=2: x",
		"2026-12-03T10:00:03.000Z mi-1 backoff: crashed; restart 2 in 250ms",
		"2026-12-03T10:00:04.000Z mi-1 failed: conf/deployment.toml is gone, and the home keeps no copy of it to put back",
		"2026-12-03T10:00:05.000Z mi-3 backoff: crashed; restart 1 in 0s",
		"2026-12-03T10:00:06.000Z mi-3 failed: crashed; gave up after 1 restart",
		"2026-12-03T10:01:00.000Z mi-3 starting pid=5: x",
		"2026-12-03T10:01:01.000Z mi-3 ready pid=6",
		"2026-12-03T10:00:05.000Z mi-2 backoff: crashed; restart 1 in 0s",
		"2026-12-03T10:00:06.000Z mi-2 stopped: stopped gracefully",
		"2026-12-03T10:01:00.000Z mi-2 starting pid=3: x",
		"2026-12-03T10:01:01.000Z mi-2 backoff: crashed; restart 1 in 0s",
		"2026-12-03T10:01:02.000Z mi-2 starting pid=4: x",
	}, "\n") + "\n"
	if err := os.WriteFile(log, []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	h := eventHistory(log)
	if h["mi-1"].restarts != 2 || h["mi-1"].last != StateFailed {
		t.Errorf("mi-1: %+v, want failed after 2 restarts made, the second failing to put its home right (its run's, kept until it starts again)", h["mi-1"])
	}
	if h["mi-3"].restarts != 0 || h["mi-3"].last != StateReady {
		t.Errorf("mi-3: %+v, want ready with no restarts (a new run since it failed)", h["mi-3"])
	}
	if h["mi-2"].restarts != 1 {
		t.Errorf("mi-2: %d restarts, want 1 (a stop does not end the count, and the restart it ended was never made)", h["mi-2"].restarts)
	}
}
