package reconcile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/state"
)

// Another build copied by hand over a CApp mictl deployed is a change
// (diff and a reload see it; the reload's sync puts the declared build
// back); a file only touched is not. Before, the records alone were
// compared: diff said all matched while the instance served the other
// build, and no reload or restart replaced it.
func TestAnotherBuildInTheHomeIsAChange(t *testing.T) {
	dir := t.TempDir()
	declared, other := filepath.Join(dir, "build", "orders_1.0.0.car"), filepath.Join(dir, "alt", "orders_1.0.0.car")
	writeCApp(t, declared, capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	writeCApp(t, other, capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}, {Context: "/alt"}}})
	app, err := capp.Read(declared)
	if err != nil {
		t.Fatal(err)
	}
	homeDir := filepath.Join(dir, "mi-1")
	recs, err := SyncApps(homeDir, []*capp.App{app}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := appsChange([]*capp.App{app}, recs, homeDir); got != "" {
		t.Fatalf("just synced: change %q, want none", got)
	}
	deployed := filepath.Join(home.CarbonAppsDir(homeDir), "orders_1.0.0.car")
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(deployed, later, later); err != nil {
		t.Fatal(err)
	}
	if got := appsChange([]*capp.App{app}, recs, homeDir); got != "" {
		t.Fatalf("touched only: change %q, want none", got)
	}
	data, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(deployed, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := appsChange([]*capp.App{app}, recs, homeDir); got != "~orders_1.0.0" {
		t.Fatalf("another build in the home: change %q, want ~orders_1.0.0", got)
	}
	if recs, err = SyncApps(homeDir, []*capp.App{app}, recs); err != nil {
		t.Fatal(err)
	}
	if sum, err := fsutil.SHA256(deployed); err != nil || sum != app.SHA256 {
		t.Fatalf("after the sync the home holds %s (%v), want the declared build %s", sum, err, app.SHA256)
	}
	if got := appsChange([]*capp.App{app}, recs, homeDir); got != "" {
		t.Fatalf("synced again: change %q, want none", got)
	}
}

// A CApp rebuilt between the plan that read it and the copy into a home
// (a reload deploying it while the user rebuilds it) is not copied: the
// sync fails naming the file, the home keeps the build it had, and the
// records stay those of that build. Before, the new bytes were copied and
// recorded as the build read: MI ran a build no record named (its inbound
// ports unplanned; a reload waited two minutes for it to let go of a port
// it kept), and no later reload saw anything to change.
func TestARebuildDuringTheCopyIsNotRecordedAsTheBuildRead(t *testing.T) {
	dir := t.TempDir()
	declared := filepath.Join(dir, "build", "orders_1.0.0.car")
	writeCApp(t, declared, capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}, Inbounds: []capp.InboundSpec{{Port: 8085}}})
	first, err := capp.Read(declared)
	if err != nil {
		t.Fatal(err)
	}
	homeDir := filepath.Join(dir, "mi-1")
	recs, err := SyncApps(homeDir, []*capp.App{first}, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeCApp(t, declared, capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}, Inbounds: []capp.InboundSpec{{Port: 8086}}})
	planned, err := capp.Read(declared)
	if err != nil {
		t.Fatal(err)
	}
	writeCApp(t, declared, capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}, Inbounds: []capp.InboundSpec{{Port: 8087}}}) // rebuilt again, before the copy
	got, err := SyncApps(homeDir, []*capp.App{planned}, recs)
	if err == nil || !strings.Contains(err.Error(), declared) || !strings.Contains(err.Error(), "mictl reload") {
		t.Fatalf("sync of a CApp rebuilt since it was read: %v, want an error naming %s and mictl reload", err, declared)
	}
	deployed := filepath.Join(home.CarbonAppsDir(homeDir), "orders_1.0.0.car")
	if sum, err := fsutil.SHA256(deployed); err != nil || sum != first.SHA256 {
		t.Errorf("the home holds %s (%v), want the build it had, %s", sum, err, first.SHA256)
	}
	if len(got) != 1 || got[0].SHA256 != first.SHA256 {
		t.Errorf("records after the failed sync: %+v, want the build the home holds, %s", got, first.SHA256)
	}
}

// Two declared CApps whose artifacts MI will not run side by side (an
// API's name or context) are refused by every plan, up's and a reload's
// as deploy's: MI fails whichever it deploys second, and which that is
// changed with a start's order (instances served different versions).
// Versions that share nothing plan as before.
func TestClashingDeclaredCAppsAreRefused(t *testing.T) {
	cfg := loadConfig(t, fmt.Sprintf("instances = 2\nbase_offset = %d\ncapps = [\"shop_1.0.0.car\"]\n[[instance]]\nname = \"mi-2\"\ncapps = [\"shop_2.0.0.car\", \"other_1.0.0.car\"]\n", planBase(t)))
	writeCApp(t, "shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	writeCApp(t, "shop_2.0.0.car", capp.Spec{Name: "shop", Version: "2.0.0", APIs: []capp.APISpec{{Context: "/shop"}}})
	writeCApp(t, "other_1.0.0.car", capp.Spec{Name: "other", APIs: []capp.APISpec{{Context: "/other"}}})
	_, err := Build(cfg, &state.File{}, Options{})
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "instance mi-2: shop_2.0.0 (") || !strings.Contains(err.Error(), "has the same API shopAPI as shop_1.0.0") {
		t.Fatalf("Build: %v; want a configuration error naming both apps and what they share", err)
	}
	writeCApp(t, "shop_2.0.0.car", capp.Spec{Name: "shop", Version: "2.0.0", APIs: []capp.APISpec{{Context: "/shop/v2"}}})
	if _, err := Build(cfg, &state.File{}, Options{}); err != nil {
		t.Fatalf("versions that share no API: %v; want planned", err)
	}
}

// A declared CApp that clashes with one the distribution ships is told
// what helps: dropping the declared one, or the shipped file (mictl
// undeploy knows only what mictl.toml declares).
func TestClashWithAShippedCAppSaysWhatHelps(t *testing.T) {
	cfg := loadConfig(t, fmt.Sprintf("instances = 1\nbase_offset = %d\nmi_home = \"dist\"\ncapps = [\"shop_2.0.0.car\"]\n", planBase(t)))
	writeDist(t)
	writeCApp(t, filepath.Join(home.CarbonAppsDir("dist"), "shop_1.0.0.car"), capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	writeCApp(t, "shop_2.0.0.car", capp.Spec{Name: "shop", Version: "2.0.0", APIs: []capp.APISpec{{Context: "/shop"}}})
	_, err := Build(cfg, &state.File{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "as shop_1.0.0, which the distribution ships (") ||
		!strings.HasSuffix(err.Error(), "; drop shop_2.0.0 from capps, or take shop_1.0.0 out of the distribution's carbonapps/") {
		t.Fatalf("Build: %v; want the shipped app named, and what helps", err)
	}
}

// The inbound ports a running instance may still hold after a CApp
// change are those its CApps no longer open: an undeployed app's, a
// rebuilt endpoint's old port, and those still let go from before; never
// one the new CApps open again, nor the debugger's. Those taken out now
// are stamped now; those from before keep their stamp.
func TestUndeployingAreTheInboundPortsNoLongerOpened(t *testing.T) {
	in := func(listener string, port int, since int64) state.Extra {
		return state.Extra{Role: "inbound", Listener: listener, Port: port, Since: since}
	}
	rec := &state.Instance{
		Extras:      []state.Extra{in("a_1.0.0/A", 9001, 0), in("b_1.0.0/B", 9002, 0), {Role: "debugger", Listener: "command", Port: 9005}},
		Undeploying: []state.Extra{in("c_1.0.0/C", 9003, 7), in("d_1.0.0/D", 9004, 7)},
	}
	// b moved from 9002 to 9004 (which d held); a is gone.
	now := time.Unix(0, 42)
	got := Undeploying(rec, []state.Extra{in("b_1.0.0/B", 9004, 0), {Role: "debugger", Listener: "command", Port: 9005}}, now)
	want := []state.Extra{in("a_1.0.0/A", 9001, 42), in("b_1.0.0/B", 9002, 42), in("c_1.0.0/C", 9003, 7)}
	if !slices.Equal(got, want) {
		t.Errorf("Undeploying = %+v\nwant %+v", got, want)
	}
}

// A sync that fails part way (the second CApp's copy) returns the records
// of what the home holds: the first app's new build, the second's old
// one; HeldExtras then gives the instance the inbound ports of those
// builds. Before, the sync returned its records from before whole (the
// first app's new build unrecorded), and the supervisor recorded every
// planned port: the old build's port, which MI still held, read as let
// go, and another instance planned onto it was refused for good.
func TestAFailedSyncRecordsWhatTheHomeHolds(t *testing.T) {
	dir := t.TempDir()
	homeDir := filepath.Join(dir, "mi-1")
	build := func(name string, port int) *capp.App {
		path := filepath.Join(dir, "build", name+"_1.0.0.car")
		writeCApp(t, path, capp.Spec{Name: name, Inbounds: []capp.InboundSpec{{Name: "In", Port: port}}})
		app, err := capp.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	a1, b1 := build("a", 8085), build("b", 8185)
	recs, err := SyncApps(homeDir, []*capp.App{a1, b1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a2, b2 := build("a", 8086), build("b", 8186)
	if err := os.Remove(b2.Path); err != nil { // b's copy fails
		t.Fatal(err)
	}
	held, err := SyncApps(homeDir, []*capp.App{a2, b2}, recs)
	if err == nil {
		t.Fatal("sync of a CApp whose file is gone: no error")
	}
	sums := func(apps []state.App) []string {
		var out []string
		for _, a := range apps {
			out = append(out, a.ID+" "+a.SHA256)
		}
		slices.Sort(out)
		return out
	}
	if want := []string{"a_1.0.0 " + a2.SHA256, "b_1.0.0 " + b1.SHA256}; !slices.Equal(sums(held), want) {
		t.Fatalf("records after b's copy failed: %v; want %v (a's new build, b's old one)", sums(held), want)
	}
	inbound := func(listener string, port int) state.Extra {
		return state.Extra{Role: ports.RoleInbound, Listener: listener, Port: port}
	}
	debugger := state.Extra{Role: ports.RoleDebugger, Listener: "command", Port: 9005}
	planned := []state.Extra{inbound("a_1.0.0/In", 8086), inbound("b_1.0.0/In", 8186), debugger}
	was := []state.Extra{inbound("a_1.0.0/In", 8085), inbound("b_1.0.0/In", 8185), debugger}
	got := HeldExtras(planned, was, []*capp.App{a2, b2}, held)
	if want := []state.Extra{inbound("a_1.0.0/In", 8086), debugger, inbound("b_1.0.0/In", 8185)}; !slices.Equal(got, want) {
		t.Errorf("extras of the home as it is: %v; want %v", got, want)
	}
}

// The temporary file of a CApp copy whose process was killed before its
// rename (a daemon's kill -9 mid-copy) is removed; the CApps, files mictl
// did not put there and other temporary files are not.
func TestRemoveCopyLeftovers(t *testing.T) {
	homeDir := filepath.Join(t.TempDir(), "mi-1")
	carbonapps := home.CarbonAppsDir(homeDir)
	if err := os.MkdirAll(carbonapps, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{".orders_1.0.0.car.tmp-2658966888", "orders_1.0.0.car", "mine.txt", ".notes.txt.tmp-12", ".orders_1.0.0.car.tmp-x"}
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(carbonapps, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveCopyLeftovers(homeDir)
	if err != nil || !slices.Equal(removed, names[:1]) {
		t.Fatalf("removed %v (%v); want %v", removed, err, names[:1])
	}
	for _, name := range names[1:] {
		if _, err := os.Stat(filepath.Join(carbonapps, name)); err != nil {
			t.Errorf("%s: %v; want it kept", name, err)
		}
	}
	if removed, err := RemoveCopyLeftovers(filepath.Join(t.TempDir(), "none")); err != nil || len(removed) > 0 {
		t.Errorf("a home without carbonapps/: removed %v (%v); want nothing, no error", removed, err)
	}
}
