package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/goldentest"
	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/proc/proctest"
	"github.com/mictl/mictl/pkg/state"
)

// configFile writes mictl.toml the way an editor saves: "inplace"
// truncates and writes, "rename" writes a temporary file and renames it
// over, "recreate" deletes the file and writes a new one.
func (d *deployment) configFile(how, body string) {
	d.t.Helper()
	path := filepath.Join(d.dir, "mictl.toml")
	var err error
	switch how {
	case "inplace":
		err = os.WriteFile(path, []byte(body), 0o644)
	case "rename":
		tmp := filepath.Join(d.dir, ".mictl.toml.swp")
		if err = os.WriteFile(tmp, []byte(body), 0o644); err == nil {
			err = os.Rename(tmp, path)
		}
	case "recreate":
		if err = os.Remove(path); err == nil {
			err = os.WriteFile(path, []byte(body), 0o644)
		}
	}
	if err != nil {
		d.t.Fatal(err)
	}
}

// reloads counts the event log's reload outcomes.
func (d *deployment) reloads() (applied, failed int) {
	for _, line := range strings.Split(d.events(), "\n") {
		switch {
		case strings.Contains(line, " mictl reloaded"):
			applied++
		case strings.Contains(line, " mictl reload-failed"):
			failed++
		}
	}
	return applied, failed
}

func (d *deployment) waitReloads(applied, failed int) {
	d.t.Helper()
	d.waitFor(fmt.Sprintf("%d applied and %d failed reloads", applied, failed), func() bool {
		a, f := d.reloads()
		return a >= applied && f >= failed
	})
	time.Sleep(300 * time.Millisecond) // a debounced burst must not bring more
	if a, f := d.reloads(); a != applied || f != failed {
		d.t.Fatalf("%d applied and %d failed reloads, want %d and %d:\n%s", a, f, applied, failed, d.events())
	}
}

// pids maps each instance of the state file to its server pid.
func (d *deployment) pids() map[string]int {
	out := map[string]int{}
	for _, inst := range d.state().Instances {
		out[inst.Name] = inst.Server.PID
	}
	return out
}

func (d *deployment) assertRestarted(before map[string]int, want ...string) {
	d.t.Helper()
	now := d.pids()
	for name, pid := range before {
		restarted := now[name] != pid
		if restarted != contains(want, name) {
			d.t.Errorf("%s restarted=%v (pid %d -> %d), want restarted: %v\nevents:\n%s", name, restarted, pid, now[name], want, d.events())
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// reloadRestartOrder lists, from the event log, the reload stops and the
// ready events in the order they happened.
func (d *deployment) reloadRestartOrder() []string {
	var order []string
	for _, line := range strings.Split(d.events(), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (strings.Contains(line, "stopping: reload:") || f[2] == "ready") {
			order = append(order, f[1]+" "+strings.TrimSuffix(f[2], ":"))
		}
	}
	return order
}

func TestReloadFollowsEditorEdits(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	base := fmt.Sprintf("base_offset = %d\n", d.base)
	d.configFile("inplace", "instances = 2\n"+base)
	d.must("up", "--timeout", "30s")
	before := d.pids()

	// Written in place: only mi-2, whose deployment.toml changes, restarts.
	override := "[[instance]]\nname = \"mi-2\"\noverrides = { \"server.hostname\" = \"mi-2.local\" }\n"
	d.configFile("inplace", "instances = 2\n"+base+override)
	d.waitReloads(1, 0)
	d.assertRestarted(before, "mi-2")
	conf, _ := os.ReadFile(filepath.Join(d.instance("mi-2").Home, "conf", "deployment.toml"))
	if !strings.Contains(string(conf), `hostname = "mi-2.local"`) {
		t.Fatalf("mi-2's deployment.toml was not regenerated:\n%s", conf)
	}

	// Temporary file renamed over it: mi-3 starts, nothing else restarts.
	before = d.pids()
	d.configFile("rename", "instances = 3\n"+base+override)
	d.waitReloads(2, 0)
	d.assertRestarted(before)
	if mi3 := d.instance("mi-3"); mi3.State != "ready" {
		t.Fatalf("mi-3: %+v", mi3)
	}

	// Deleted and recreated: mi-3 is stopped gracefully and forgotten.
	before = d.pids()
	mi3 := d.instance("mi-3")
	d.configFile("recreate", "instances = 2\n"+base+override)
	d.waitReloads(3, 0)
	if _, ok := d.state().Instance("mi-3"); ok {
		t.Fatal("mi-3 is still in the state file")
	}
	if id, _ := proc.Identify(mi3.Server.PID); id == mi3.Server && id.Alive() {
		t.Fatal("mi-3's server still runs")
	}
	delete(before, "mi-3")
	d.assertRestarted(before)
	// Its home stays (logs reads it): status says so, not just "no instance".
	if code, _, errOut := d.mictl("status", "mi-3"); code != 2 || !strings.Contains(errOut, "its home "+mi3.Home+" is left from an earlier run") {
		t.Fatalf("status mi-3: exit %d, want 2 naming its home:\n%s", code, errOut)
	}

	// A burst of writes changing both instances: one reload, and a rolling
	// restart: mi-1 ready before mi-2 stops.
	before = d.pids()
	both := "[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"one\" }\n" +
		"[[instance]]\nname = \"mi-2\"\noverrides = { \"server.hostname\" = \"two\" }\n"
	for range 10 {
		d.configFile("inplace", "instances = 2\n"+base+both)
	}
	d.waitReloads(4, 0)
	d.assertRestarted(before, "mi-1", "mi-2")
	order := d.reloadRestartOrder()
	if got := strings.Join(order[len(order)-4:], ", "); got != "mi-1 stopping, mi-1 ready, mi-2 stopping, mi-2 ready" {
		t.Fatalf("restart order: %s\n%s", got, d.events())
	}

	// A file caught empty, as in-place writes leave it between their
	// truncate and their text, is waited for, not applied (an empty
	// mictl.toml would stop mi-2); its next change reloads.
	before = d.pids()
	d.configFile("inplace", "")
	d.waitReloads(4, 0)
	d.assertRestarted(before)
	d.configFile("inplace", "instances = 2\n"+base+both)
	d.waitReloads(5, 0) // no change

	// A broken edit changes nothing running, and says where it is broken.
	d.configFile("inplace", "instances = \n")
	d.waitReloads(5, 1)
	d.assertRestarted(before)
	if _, _, errOut := d.mictl("status"); !strings.Contains(errOut, "mictl.toml:1:") {
		t.Errorf("status does not show the failed reload:\n%s", errOut)
	}
	if !strings.Contains(d.events(), "mictl.toml:1:") {
		t.Errorf("the event log does not name the error's place:\n%s", d.events())
	}
}

func TestReloadChecksOffsetChangesBeforeStopping(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	base := fmt.Sprintf("base_offset = %d\n", d.base)
	d.configFile("inplace", "instances = 2\n"+base)
	d.must("up", "--timeout", "30s")
	before := d.pids()
	mi2 := d.instance("mi-2")

	// docs/mi-facts.md: offsets 37 apart collide across roles. Moving mi-1 to
	// mi-2's offset + 37 is refused before anything stops.
	clash := fmt.Sprintf("[[instance]]\nname = \"mi-1\"\noffset = %d\n", mi2.Offset+37)
	d.configFile("inplace", "instances = 2\n"+base+clash)
	d.waitReloads(0, 1)
	d.assertRestarted(before)
	if !strings.Contains(d.events(), "conflicts, nothing was changed") {
		t.Fatalf("no conflict reported:\n%s", d.events())
	}

	// A free offset is applied: mi-1 restarts on its new ports.
	moved := mi2.Offset + 100
	d.configFile("inplace", fmt.Sprintf("instances = 2\n%s[[instance]]\nname = \"mi-1\"\noffset = %d\n", base, moved))
	d.waitReloads(1, 1)
	d.assertRestarted(before, "mi-1")
	if mi1 := d.instance("mi-1"); mi1.Offset != moved || mi1.Ports[0] != 8280+moved || mi1.State != "ready" {
		t.Fatalf("mi-1 after the move: %+v", mi1)
	}
}

// A refused reload says its conflicts once: the daemon's reload-failed
// event, the table's footer and the command's error each listed them.
func TestRefusedReloadSaysItsConflictsOnce(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	base := fmt.Sprintf("base_offset = %d\n", d.base)
	d.configFile("inplace", base)
	d.must("up", "--timeout", "30s")
	// docs/mi-facts.md: offsets 37 apart collide across roles.
	d.configFile("inplace", fmt.Sprintf("%s[[instance]]\nname = \"mi-2\"\noffset = %d\n", base, d.base+37))
	conflict := fmt.Sprintf("mi-1 http port %d ↔ mi-2 https port %d", 8280+d.base, 8280+d.base)
	code, _, errOut := d.mictl("reload")
	if code != 1 || strings.Count(errOut, conflict) != 1 || !strings.Contains(errOut, "mictl: reload: ") {
		t.Fatalf("reload: exit %d, want 1 saying %q once, in its error:\n%s", code, conflict, errOut)
	}
	// status goes on showing the refusal.
	if _, _, errOut := d.mictl("status"); strings.Count(errOut, conflict) != 1 {
		t.Fatalf("status does not show the refusal once:\n%s", errOut)
	}
}

func TestDiffShowsWhatReloadWouldDo(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	base := fmt.Sprintf("base_offset = %d\n", d.base)
	d.configFile("inplace", "instances = 1\n"+base)
	d.must("up", "--timeout", "30s")
	if code, out, _ := d.mictl("diff"); code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("diff on an unchanged deployment: exit %d\n%s", code, out)
	}
	// Without a daemon nothing applies the edit: diff shows it pending.
	if err := syscall.Kill(d.daemonPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.configFile("inplace", "instances = 2\n"+base+"[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"edited\" }\n")
	code, out, _ := d.mictl("diff")
	if unsaid := goldentest.Unsaid(out, "add      mi-2", "restart  mi-1 (deployment.toml changed)", `-hostname = "localhost"`, `+hostname = "edited"`); len(unsaid) > 0 {
		t.Errorf("diff lacks %q:\n%s", unsaid, out)
	}
	if code != 1 {
		t.Errorf("diff exit %d, want 1 when something would change", code)
	}
	// status re-adopts with a new daemon; reload then applies the edit.
	d.must("status")
	d.must("reload")
	if code, out, _ := d.mictl("diff"); code != 0 {
		t.Fatalf("after reload, diff still shows changes:\n%s", out)
	}
}

// diff words a CApp change as the daemon's events do: "deploy" when it
// only adds CApps, "undeploy" when it only takes some away, "redeploy"
// for a rebuild; -o json says it in capps. Every CApp change was a
// "redeploy", the first deploy of a CApp too.
func TestDiffWordsCAppChangesAsTheDaemonsEvents(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	base := fmt.Sprintf("instances = 1\nbase_offset = %d\n", d.base)
	orders := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	billing := d.car("billing_1.0.0.car", capp.Spec{Name: "billing", APIs: []capp.APISpec{{Context: "/billing"}}})
	d.configFile("inplace", base+fmt.Sprintf("capps = [%q]\n", orders))
	d.must("up", "--timeout", "30s")
	// Without a daemon nothing applies the edits: diff shows each pending.
	if err := syscall.Kill(d.daemonPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		capps, verb, line string
		rebuild           bool
	}{
		{fmt.Sprintf("%q, %q", orders, billing), "deploy", "deploy   mi-1 (CApps +billing_1.0.0; no restart)", false},
		{"", "undeploy", "undeploy mi-1 (CApps -orders_1.0.0; no restart)", false},
		{fmt.Sprintf("%q", orders), "redeploy", "redeploy mi-1 (CApps ~orders_1.0.0; no restart)", true},
	} {
		if tc.rebuild {
			d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}, {Context: "/v2"}}})
		}
		d.configFile("inplace", base+"capps = ["+tc.capps+"]\n")
		if code, out, _ := d.mictl("diff"); code != 1 || !strings.Contains(out, tc.line+"\n") {
			t.Errorf("diff with capps = [%s]: exit %d, want 1 and %q:\n%s", tc.capps, code, tc.line, out)
		}
		code, out, _ := d.mictl("diff", "-o", "json")
		jsonschematest.Validate(t, "diff", []byte(out))
		var r struct {
			Redeploy []string          `json:"redeploy"`
			CApps    map[string]string `json:"capps"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 || !slices.Equal(r.Redeploy, []string{"mi-1"}) || r.CApps["mi-1"] != tc.verb {
			t.Errorf("diff -o json with capps = [%s]: exit %d (%v), want redeploy [mi-1] and capps {mi-1: %s}:\n%s", tc.capps, code, err, tc.verb, out)
		}
	}
	// The daemon's event for the last one is worded alike.
	d.must("status")
	d.must("reload")
	if want := "mi-1 redeploy: CApps ~orders_1.0.0"; !strings.Contains(d.events(), want) {
		t.Errorf("the event log lacks %q:\n%s", want, d.events())
	}
}

// Settings the daemon takes as its own flags (metrics_addr,
// health_interval) cannot change under it: diff and reload say so, with
// what it keeps and what to do, rather than only "no change".
func TestDiffAndReloadSayWhatTheDaemonKeeps(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	base := fmt.Sprintf("base_offset = %d\n", d.base)
	d.configFile("inplace", "instances = 1\n"+base)
	d.must("up", "--timeout", "30s")
	d.configFile("inplace", "instances = 1\n"+base+"health_interval = \"2s\"\n")
	want := fmt.Sprintf(`warning: the running mictl daemon (pid %d) keeps its --health-interval "5s" (asked: "2s"); mictl down and up again to change them`, d.daemonPID())
	for _, cmd := range []string{"diff", "reload"} {
		if code, _, errOut := d.mictl(cmd); code != 0 || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, want 0 and %q:\n%s", cmd, code, want, errOut)
		}
	}
	d.configFile("inplace", "instances = 1\n"+base)
	if _, _, errOut := d.mictl("diff"); strings.Contains(errOut, "keeps its") {
		t.Errorf("diff warns with the daemon's own settings back in mictl.toml:\n%s", errOut)
	}
}

// A deleted mictl.toml is not a configuration of defaults: the daemon
// refuses to reload without the file it follows, diff says the same (it
// said "remove mi-2", planning one instance), and the file put back is
// what runs again.
func TestDeletedConfigIsRefusedAlikeByDiffAndReload(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	body := fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base)
	d.configFile("inplace", body)
	d.must("up", "--timeout", "30s")
	if err := os.Remove(filepath.Join(d.dir, "mictl.toml")); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(d.dir, "mictl.toml") + ", the configuration this daemon follows, is gone; put the file back"
	for _, cmd := range []string{"diff", "reload"} {
		if code, out, errOut := d.mictl(cmd); code != 2 || !strings.Contains(errOut, want) || strings.Contains(out, "remove") {
			t.Errorf("%s: exit %d, want 2 and %q:\n%s%s", cmd, code, want, out, errOut)
		}
	}
	if f := d.state(); len(f.Instances) != 2 || !d.stateIs("mi-2", "ready") {
		t.Fatalf("an instance changed with the file gone:\n%s", d.events())
	}
	d.configFile("inplace", body)
	d.waitFor("the refusal over once the file is back", func() bool { return d.state().ReloadError == "" })
	if code, out, errOut := d.mictl("diff"); code != 0 {
		t.Fatalf("diff with the file back: exit %d:\n%s%s", code, out, errOut)
	}
}

// A restart brings the home up to date with the distribution, as a
// reload's restart does: a JDBC driver added to mi_home's lib/ reaches the
// instance by mictl restart, which keeps its offset.
func TestRestartRefreshesTheHome(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.upFromDist(1)
	before := d.instance("mi-1")
	if err := os.WriteFile(filepath.Join(d.dir, "dist", "lib", "driver.jar"), []byte("jar"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.must("restart", "mi-1")
	if _, err := os.Stat(filepath.Join(before.Home, "lib", "driver.jar")); err != nil {
		t.Fatalf("the restart did not bring lib/driver.jar into mi-1's home: %v", err)
	}
	if now := d.instance("mi-1"); now.Offset != before.Offset || now.State != "ready" || now.Server.PID == before.Server.PID {
		t.Fatalf("mi-1 after restart: offset %d (was %d), %s, pid %d (was %d)", now.Offset, before.Offset, now.State, now.Server.PID, before.Server.PID)
	}
	// A distribution whose deployment.toml does not parse: the restart
	// starts mi-1 as it was, and says so with a failing exit, where it
	// said so on stderr and exited 0 (a script rolling a change went on).
	before = d.instance("mi-1")
	conf := filepath.Join(d.dir, "dist", "conf", "deployment.toml")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, append(data, "\n[[[broken\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := d.mictl("restart", "mi-1")
	if code != 2 || !strings.Contains(errOut, "restart mi-1: started as it was, its home not brought up to date: ") {
		t.Fatalf("restart with a broken distribution: exit %d, want 2 (the distribution's file) saying the home was not brought up to date:\n%s", code, errOut)
	}
	if now := d.instance("mi-1"); now.State != "ready" || now.Server.PID == before.Server.PID {
		t.Fatalf("mi-1 after the restart: %s, pid %d (was %d); want started again as it was", now.State, now.Server.PID, before.Server.PID)
	}
}

// A stranger on the port of another instance (mi-2, failed for it) is no
// reason to leave mi-1's home as it was: a restart of mi-1 brings the
// distribution's new jar in and exits 0, where it said its home was not
// brought up to date for mi-2's conflict and exited 1.
func TestRestartRefreshesTheHomeBesideAnotherInstancesConflict(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "dist")
	d.configFile("inplace", "mi_home = \"dist\"\n")
	stolen := 8280 + d.base + 1 // mi-2's HTTP port
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", stolen))
	if err != nil {
		t.Skipf("port busy: %v", err)
	}
	defer l.Close()
	offsets := fmt.Sprintf("%d,%d", d.base, d.base+1)
	if code, _, errOut := d.mictl("up", "--offsets", offsets, "--force", "--timeout", "30s"); code != 3 || !d.stateIs("mi-2", "failed") {
		t.Fatalf("up with mi-2's HTTP port taken: exit %d, want 3 with mi-2 failed:\n%s", code, errOut)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "dist", "lib", "driver.jar"), []byte("jar"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := d.mictl("restart", "mi-1")
	if code != 0 || strings.Contains(errOut, "not brought up to date") {
		t.Fatalf("restart mi-1 beside mi-2's conflict: exit %d, want 0 with its home brought up to date:\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "instances", "mi-1", "lib", "driver.jar")); err != nil {
		t.Fatalf("the restart did not bring lib/driver.jar into mi-1's home: %v", err)
	}
}

// Another product that takes an instance's port while a restart has it
// stopped makes the start fail, naming the product (exit 3, as any failed
// start), and is no fault of the configuration: the home is brought up
// to date all the same. The restart said "the new configuration has
// conflicts, nothing was changed" of a configuration nobody changed, left
// the home as it was, and exited 1, as for a conflict found before any
// start.
func TestRestartWhileAStrangerTakesItsPort(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "dist")
	d.configFile("inplace", fmt.Sprintf("instances = 1\nbase_offset = %d\nmi_home = \"dist\"\n", d.base))
	// Slow to bind, so that the stranger below surely wins the port (the
	// restart's start has up's environment).
	d.env = []string{"MICTL_SIM_STARTUP_DELAY=2s"}
	d.must("up", "--timeout", "30s")
	d.env = nil
	if err := os.WriteFile(filepath.Join(d.dir, "dist", "lib", "driver.jar"), []byte("jar"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The stranger binds as soon as the port is free: between the stop
	// and the start (the simulator binds 2 s after it starts).
	http := d.instance("mi-1").Ports[ports.HTTP]
	took := make(chan net.Listener, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", http)); err == nil {
				took <- l
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	code, _, errOut := d.mictl("restart", "mi-1")
	select {
	case l := <-took:
		defer l.Close()
	default:
		t.Fatalf("the restarted server took its port back before the stranger (exit %d):\n%s", code, errOut)
	}
	want := fmt.Sprintf("http port %d is held by pid %d", http, os.Getpid())
	if code != 3 || !strings.Contains(errOut, want) || strings.Contains(errOut, "not brought up to date") {
		t.Fatalf("restart with its port taken meanwhile: exit %d, want 3 saying %q, the home brought up to date:\n%s", code, want, errOut)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "instances", "mi-1", "lib", "driver.jar")); err != nil {
		t.Fatalf("the restart did not bring lib/driver.jar into mi-1's home: %v", err)
	}
}

// instances_dir changed in mictl.toml while instances run: the daemon
// keeps them where they are and its reload says so, and the commands that
// now look in the new directory say where they run.
func TestInstancesDirChangedWhileRunning(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	base := fmt.Sprintf("instances = 1\nbase_offset = %d\n", d.base)
	d.configFile("inplace", base)
	d.must("up", "--timeout", "30s")
	d.configFile("inplace", base+"instances_dir = \"homes\"\n")
	d.waitReloads(0, 1)
	if ev := d.events(); !strings.Contains(ev, `instances_dir = "`+filepath.Join(d.dir, "homes")+`": the instances this daemon supervises run under `+filepath.Join(d.dir, "instances")+", and stay there") {
		t.Fatalf("the reload does not refuse the move:\n%s", ev)
	}
	want := fmt.Sprintf("but a mictl daemon (pid %d) following mictl.toml supervises instances under %s: name them with --instances-dir %s", d.daemonPID(), filepath.Join(d.dir, "instances"), filepath.Join(d.dir, "instances"))
	if _, _, errOut := d.mictl("status"); !strings.Contains(errOut, want) {
		t.Errorf("status in the new directory does not say where they run (%q):\n%s", want, errOut)
	}
	if _, _, errOut := d.mictl("status", "--instances-dir", "homes"); strings.Contains(errOut, "supervises instances under") {
		t.Errorf("status warns with the directory named on its command line:\n%s", errOut)
	}
	// A file that no longer loads is no reason to keep quiet: the daemon
	// still knows where they run.
	d.configFile("inplace", base+"instances_dir = \"homes\"\nbogus x\n")
	if _, _, errOut := d.mictl("status"); !strings.Contains(errOut, want) {
		t.Errorf("status with a broken mictl.toml does not say where they run (%q):\n%s", want, errOut)
	}
	d.configFile("inplace", base+"instances_dir = \"homes\"\n")
	// up would start a second set beside the first.
	if code, _, errOut := d.mictl("up", "--timeout", "30s"); code != 2 || !strings.Contains(errOut, "runs its instances under "+filepath.Join(d.dir, "instances")) {
		t.Errorf("up: exit %d, want 2 refusing a second set:\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "homes")); !os.IsNotExist(err) {
		t.Errorf("the refused up left homes/ behind: %v", err)
	}
	d.configFile("inplace", base)
	d.waitFor("the refusal over once the file is back", func() bool { return d.state().ReloadError == "" })
}

// What an up asked for holds only while something runs: after down, its
// planning flags and a failed reload's error are forgotten, so diff,
// deploy and status read mictl.toml alone, as the next up will; diff and
// reload say that nothing runs rather than planning a reload no daemon
// would make.
func TestDownForgetsTheRun(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(3)
	d.configFile("inplace", "instances = \"x\"\n")
	d.waitFor("the failed reload recorded", func() bool { return d.state().ReloadError != "" })
	d.must("down")
	if f := d.state(); f.ReloadError != "" || len(f.UpArgs) != 0 || len(f.Configured) != 0 {
		t.Fatalf("after down: reload_error %q, up_args %q, configured %q; want none", f.ReloadError, f.UpArgs, f.Configured)
	}
	d.configFile("inplace", fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base))
	out := d.must("diff")
	if !strings.Contains(out, "no changes: nothing runs in") {
		t.Fatalf("diff with nothing running:\n%s", out)
	}
	code, _, stderr := d.mictl("reload")
	if code != 2 || strings.Contains(stderr, "dial") || !strings.Contains(stderr, "nothing runs in ./instances to reload; start instances with mictl up") {
		t.Fatalf("reload with nothing running: exit %d, want 2 without socket details:\n%s", code, stderr)
	}
	d.must("down", "--purge")
	d.must("up", "--timeout", "30s") // mictl.toml's 2, not the 3 of the last up
	if n := len(d.state().Instances); n != 2 {
		t.Fatalf("up after down --purge started %d instances, want mictl.toml's 2", n)
	}
}

// With every instance failed at start, a reload said "reloaded: no
// change" and exited 0 to a daemon that had not left yet (it left at its
// next periodic check then), while diff said nothing runs and the README
// that reload exits 2: it says nothing runs, as diff does, daemon or not
// (it now leaves as the last instance fails, so mostly not).
func TestReloadWithEveryInstanceFailedSaysNothingRuns(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_CRASH_AFTER=1ms"}
	if code, _, errOut := d.mictl("up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s"); code != 3 {
		t.Fatalf("up of servers that crash at once: exit %d, want 3\n%s", code, errOut)
	}
	code, out, errOut := d.mictl("reload")
	if code != 2 || !strings.Contains(errOut, "nothing runs in ./instances to reload; start instances with mictl up") || strings.Contains(errOut, "reloaded") {
		t.Fatalf("reload with every instance failed: exit %d, want 2 saying nothing runs\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if out := d.must("diff"); !strings.Contains(out, "no changes: nothing runs in ./instances") {
		t.Fatalf("diff with every instance failed:\n%s", out)
	}
}

// restart and reload print the status table, so they print status's JSON
// too (-o json), every key kept.
func TestRestartAndReloadJSON(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	for _, args := range [][]string{{"restart", "--all", "-o", "json"}, {"reload", "-o", "json"}} {
		out := d.must(args...)
		jsonschematest.Validate(t, "status", []byte(out))
		var r struct {
			Instances []struct{ Name, State string }
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Instances) != 1 || r.Instances[0].State != "ready" {
			t.Fatalf("%v (%v):\n%s", args, err, out)
		}
	}
	// A refused reload prints the status too, its reload_error saying
	// why, and keeps its exit code: a script reads the JSON either way.
	d.configFile("inplace", fmt.Sprintf("base_offset = %d\n[[instance]]\nname = \"mi-2\"\noffset = %d\n", d.base, d.base+37))
	code, out, stderr := d.mictl("reload", "-o", "json")
	if code != 1 {
		t.Fatalf("reload of a clashing configuration: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	jsonschematest.Validate(t, "status", []byte(out))
	var refused struct {
		ReloadError *string `json:"reload_error"`
	}
	if err := json.Unmarshal([]byte(out), &refused); err != nil || refused.ReloadError == nil || !strings.Contains(*refused.ReloadError, "conflicts") {
		t.Fatalf("refused reload -o json (%v): want reload_error naming the conflicts:\n%s", err, out)
	}
}

// An edit made while no daemon watched (the daemon was killed) is applied
// by the daemon `mictl status` starts to take over, as the dead one would
// have applied it; a daemon taking over with nothing edited says nothing.
func TestEditWhileNoDaemonWatchedIsAppliedByTheNext(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	base := fmt.Sprintf("base_offset = %d\n", d.base)
	d.configFile("inplace", "instances = 1\n"+base)
	d.must("up", "--timeout", "30s")
	kill := func() {
		d.killDaemon()
	}

	kill()
	mi1 := d.instance("mi-1").Server
	d.must("status") // a new daemon, nothing edited
	// A reload asked for waits for the new daemon's own to end: after it,
	// the event log holds its "no change" and nothing before.
	d.must("reload")
	if n := strings.Count(d.events(), " mictl reload"); n != 1 {
		t.Fatalf("a daemon taking over with nothing edited said something of it (%d reload events, want 1, the one asked for):\n%s", n, d.events())
	}

	kill()
	d.configFile("rename", "instances = 2\n"+base)
	d.must("status")
	d.waitFor("mi-2 started by the new daemon", func() bool {
		inst, ok := d.state().Instance("mi-2")
		return ok && inst.State == "ready"
	})
	if now := d.instance("mi-1"); now.Server != mi1 || now.State != "ready" {
		t.Fatalf("mi-1 %s with server %v, want ready and untouched (%v)", now.State, now.Server, mi1)
	}
	d.waitReloads(2, 0) // recorded once mi-2 is ready
	if applied, failed := d.reloads(); applied != 2 || failed != 0 {
		t.Fatalf("reloads: %d applied, %d failed, want 2 (the one asked for, then the new daemon's), 0:\n%s", applied, failed, d.events())
	}
}

// A reload refused only because another program holds a port it needs is
// tried again, and applied once the port is free: the error recorded
// (naming the holder) does not outlive it.
func TestReloadRefusedForAHeldPortIsAppliedOnceItFrees(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	base := fmt.Sprintf("base_offset = %d\nhealth_interval = \"200ms\"\n", d.base)
	d.configFile("inplace", "instances = 1\n"+base)
	d.must("up", "--timeout", "30s")
	pinned := d.base + 2
	holder, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 8280+pinned))
	if err != nil {
		t.Fatalf("hold mi-2's http port: %v", err)
	}
	defer holder.Close()

	d.configFile("rename", "instances = 2\n"+base+fmt.Sprintf("[[instance]]\nname = \"mi-2\"\noffset = %d\n", pinned))
	d.waitReloads(0, 1)
	want := fmt.Sprintf("held by pid %d", os.Getpid())
	if f := d.state(); !strings.Contains(f.ReloadError, want) {
		t.Fatalf("recorded reload error %q, want it to name the holder (%s)", f.ReloadError, want)
	}
	// Tried again 200 and 600 ms after the refusal, with the port still
	// held: refused alike, and not logged again.
	time.Sleep(time.Second)
	holder.Close()
	// The reload records its outcome once mi-2 is ready.
	d.waitFor("mi-2 started once its port is free, and the refusal over", func() bool {
		f := d.state()
		inst, ok := f.Instance("mi-2")
		return ok && inst.State == "ready" && inst.Offset == pinned && f.ReloadError == ""
	})
	// The state file may be written before the event log says so: waited
	// for, then counted (a refusal tried again alike is not logged again).
	d.waitReloads(1, 1)
}

// The CApps the distribution ships stay on every instance through a state
// file rebuilt from the homes (the daemon killed, the file corrupt): the
// rebuilt file took them for CApps mictl had deployed, and the next live
// reload undeployed them from every instance as no longer declared.
func TestRebuiltStateKeepsTheShippedCApps(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "dist")
	shipped := filepath.Join("dist", "repository", "deployment", "server", "carbonapps", "inb_1.0.0.car")
	d.must("sim", "capp", shipped, "--name", "inb", "--api", "/inb")
	toml := fmt.Sprintf("base_offset = %d\nmi_home = \"dist\"\n", d.base)
	d.configFile("inplace", "instances = 2\n"+toml)
	d.must("up", "--timeout", "30s")
	d.killDaemon()
	if err := os.WriteFile(filepath.Join(d.dir, "instances", ".mictl", "state.json"), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, errOut := d.mictl("status"); !strings.Contains(errOut, "rebuilding it") {
		t.Fatalf("status does not rebuild the state file:\n%s", errOut)
	}
	d.configFile("inplace", "instances = 3\n"+toml)
	d.waitReloads(1, 0)
	d.waitFor("mi-3 ready", func() bool { return d.stateIs("mi-3", "ready") })
	for _, name := range []string{"mi-1", "mi-2", "mi-3"} {
		if _, err := os.Stat(filepath.Join(d.instance(name).Home, "repository", "deployment", "server", "carbonapps", "inb_1.0.0.car")); err != nil {
			t.Errorf("%s lost the distribution's CApp: %v", name, err)
		}
	}
	if ev := d.events(); strings.Contains(ev, "app-undeployed: inb_1.0.0") || strings.Contains(ev, "-inb_1.0.0") {
		t.Errorf("the reload undeployed the distribution's CApp:\n%s", ev)
	}
}

// With offset_method = "flag", a server that dies while the state file is
// lost is started again by the rebuilt file at its own offset: its home's
// deployment.toml holds the distribution's offset, and its launch (from
// the event log) gives -DportOffset again. Without it, the restart took
// the distribution's ports.
func TestRebuiltStateRestartsAGoneServerAtItsOffset(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", fmt.Sprintf("base_offset = %d\noffset_method = \"flag\"\n", d.base))
	d.must("up", "--timeout", "30s")
	server := d.instance("mi-1").Server
	d.killDaemon()
	syscall.Kill(server.PID, syscall.SIGKILL)
	d.waitFor("the server gone", func() bool { return !server.Alive() })
	if err := os.WriteFile(filepath.Join(d.dir, "instances", ".mictl", "state.json"), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.adopt()
	d.waitFor("mi-1 ready again", func() bool {
		inst := d.instance("mi-1")
		return inst.State == "ready" && inst.Server.PID != server.PID
	})
	want := fmt.Sprintf("-DportOffset=%d", d.base)
	if inst := d.instance("mi-1"); inst.Offset != d.base || !slices.Contains(inst.Args, want) {
		t.Fatalf("mi-1 restarted at offset %d with %q, want %d and %s:\n%s", inst.Offset, inst.Args, d.base, want, d.events())
	}
	if args := proc.Args(d.instance("mi-1").Server.PID); !slices.Contains(args, want) {
		t.Fatalf("the new server runs with %q, want %s", args, want)
	}
}

// An upgrade half applied (an up --mi-home beside instances of another
// distribution, a reload that stopped midway) left a fleet whose status
// rows looked alike: no command said which instance ran which
// distribution. status says each one's (-o json: distribution; status
// NAME), and notes below the table the running ones' distributions when
// there are more than one, until a reload brings them onto one.
func TestStatusSaysWhichDistributionEachInstanceRuns(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "wso2mi-4.4.0")
	if err := os.CopyFS(filepath.Join(d.dir, "wso2mi-4.5.0"), os.DirFS(filepath.Join(d.dir, "wso2mi-4.4.0"))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "wso2mi-4.5.0", "VERSION"), []byte("WSO2 Micro Integrator 4.5.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old, upgraded := filepath.Join(d.dir, "wso2mi-4.4.0"), filepath.Join(d.dir, "wso2mi-4.5.0")
	d.configFile("inplace", fmt.Sprintf("host = \"127.0.0.1\"\nbase_offset = %d\ninstances = 2\nmi_home = \"wso2mi-4.4.0\"\n", d.base))
	d.must("up", "--timeout", "30s")
	d.must("up", "--timeout", "30s", "--instances", "3", "--mi-home", "wso2mi-4.5.0")

	d.checkDistributions(map[string]string{"mi-1": old, "mi-2": old, "mi-3": upgraded})
	if out := d.must("status", "mi-3"); !strings.Contains(out, "distribution: "+upgraded+"\n") {
		t.Errorf("status mi-3:\n%s\nwant distribution: %s", out, upgraded)
	}
	note := "note: the instances run from 2 distributions: mi-1, mi-2 from " + old + "; mi-3 from " + upgraded + ";"
	if _, _, errOut := d.mictl("status"); !strings.Contains(errOut, note) {
		t.Errorf("status of the mixed fleet said:\n%s\nwant %q", errOut, note)
	}

	d.must("reload") // the last up's --mi-home stands: mi-1 and mi-2 onto 4.5.0
	if _, _, errOut := d.mictl("status"); strings.Contains(errOut, "distributions") {
		t.Errorf("status once every instance runs 4.5.0 said:\n%s", errOut)
	}
}

// A live roll onto a new mi_home whose start script only prints the JDK
// [ERROR] and exits (as MI's does outside its JDK range) stops after
// mi-1, as it should; but status then said nothing of the reload
// (reload_error null, no footer: the event log alone had it) and only
// "mictl up starts mi-1 again", which started mi-1 on the broken
// distribution, to fail again. status now shows the failure as mictl
// reload's (reload_error, the footer, exit 3 for the failed mi-1) and
// says that up starts mi-1 again once it is fixed: with mi_home put back,
// which the daemon applies, it does, on the distribution that works.
func TestStatusShowsAFailedLiveReload(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "wso2mi-4.4.0")
	broken := filepath.Join(d.dir, "wso2mi-4.6.0")
	if err := os.CopyFS(broken, os.DirFS(filepath.Join(d.dir, "wso2mi-4.4.0"))); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho '[ERROR] WSO2 MI is supported only between JDK 21 and JDK 25'\nexit 0\n"
	if err := os.WriteFile(filepath.Join(broken, "bin", "micro-integrator.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	toml := func(miHome string) string {
		return fmt.Sprintf("host = \"127.0.0.1\"\nbase_offset = %d\ninstances = 2\nmi_home = %q\n", d.base, miHome)
	}
	d.configFile("inplace", toml("wso2mi-4.4.0"))
	d.must("up", "--timeout", "30s")
	d.configFile("inplace", toml("wso2mi-4.6.0"))
	d.waitReloads(0, 1)

	const failure = "restart mi-1: mi-1 failed: the start script ended (exit status 0) without a running server"
	code, _, errOut := d.mictl("status")
	if unsaid := goldentest.Unsaid(errOut,
		"reload failed: the daemon stopped applying the configuration as it is now at what follows, and what it did before stands",
		"mictl up would start an instance it left failed from that same configuration",
		"\n  "+failure,
		"mictl up starts mi-1 again once what the last reload failed on is fixed)",
	); code != 3 || len(unsaid) > 0 {
		t.Errorf("status after the roll failed at mi-1: exit %d, said:\n%s\nwant exit 3 and:\n%s", code, errOut, strings.Join(unsaid, "\n"))
	}
	if r := d.statusJSON(); r.ReloadError == nil || !strings.HasPrefix(*r.ReloadError, failure) {
		t.Errorf("status -o json reload_error = %v; want the roll's failure: %s", deref(r.ReloadError), failure)
	}

	d.configFile("inplace", toml("wso2mi-4.4.0"))
	d.waitReloads(1, 1) // mi-1, failed, started again as its failure is put right
	if r := d.statusJSON(); r.ReloadError != nil {
		t.Errorf("status -o json once mi_home is put back: reload_error %q, want null", *r.ReloadError)
	}
	d.must("up", "--timeout", "30s")
	if out := d.must("status", "mi-1"); !strings.Contains(out, "distribution: "+filepath.Join(d.dir, "wso2mi-4.4.0")+"\n") {
		t.Errorf("status mi-1 after the up:\n%s\nwant it on the distribution that works", out)
	}
}

// A distribution that changed under running instances (files added or
// changed in mi_home, or a new mi_home) is a change: diff names the
// files and exits 1, a reload restarts the instances on them; a file
// edited in a home stays through it. Before, diff said that what runs
// matched the configuration, reload did nothing, and only the instances
// restarted later for another reason ran the new files: a mixed fleet.
func TestReloadTakesAChangedDistribution(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.upFromDist(2)
	if code, out, _ := d.mictl("diff"); code != 0 {
		t.Fatalf("diff right after up: exit %d:\n%s", code, out)
	}
	tuned := filepath.Join(d.instance("mi-1").Home, "conf", "log4j2.properties")
	f, err := os.OpenFile(tuned, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "logger.custom.level = DEBUG")
	f.Close()
	if err := os.WriteFile(filepath.Join(d.dir, "dist", "lib", "driver-2.0.jar"), []byte("PK driver"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := d.mictl("diff")
	if code != 1 || !strings.Contains(out, "the distribution's files changed: lib/driver-2.0.jar") {
		t.Fatalf("diff after a jar was added to mi_home: exit %d, want 1 naming the jar:\n%s", code, out)
	}
	before := d.pids()
	d.must("reload")
	d.assertRestarted(before, "mi-1", "mi-2")
	for _, name := range []string{"mi-1", "mi-2"} {
		if _, err := os.Stat(filepath.Join(d.instance(name).Home, "lib", "driver-2.0.jar")); err != nil {
			t.Errorf("%s runs without the distribution's new jar: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(tuned); !strings.Contains(string(b), "logger.custom.level = DEBUG") {
		t.Errorf("the restart reverted the edit of mi-1's log4j2.properties:\n%s", b)
	}
	if code, out, _ := d.mictl("diff"); code != 0 {
		t.Errorf("diff after the reload: exit %d, want 0:\n%s", code, out)
	}
	// The distribution's log4j2.properties changes too: mi-2 takes it,
	// mi-1 keeps its own, and diff says so.
	log4j2 := filepath.Join(d.dir, "dist", "conf", "log4j2.properties")
	if err := os.WriteFile(log4j2, []byte("appenders = CARBON_LOGFILE, SYSLOG\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = d.mictl("diff")
	if unsaid := goldentest.Unsaid(out, "keep     mi-1 conf/log4j2.properties (changed in its home", "restart  mi-2 (the distribution's files changed: conf/log4j2.properties)"); len(unsaid) > 0 {
		t.Errorf("diff lacks %q:\n%s", unsaid, out)
	}
	if strings.Contains(out, "restart  mi-1") || code != 1 {
		t.Errorf("diff: exit %d, want 1, and mi-1 not restarted:\n%s", code, out)
	}
}

// A reload's restart whose home cannot be brought up to date once the
// server stopped starts the instance again and says so; it was left
// stopped while the event log said every instance kept running.
func TestReloadRestartStartsAgainAnInstanceItCouldNotPrepare(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.upFromDist(1)
	// A directory sits where a sync links the distribution's new jar
	// through (its temporary name): the sync fails once mi-1 stopped.
	if err := os.MkdirAll(filepath.Join(d.instance("mi-1").Home, "lib", ".driver.jar.link-tmp", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "dist", "lib", "driver.jar"), []byte("PK driver"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := d.pids()
	code, _, errOut := d.mictl("reload")
	if code == 0 || !strings.Contains(errOut, "mi-1 started again with its home not brought up to date") {
		t.Fatalf("reload: exit %d, want a failure naming mi-1 started as it was:\n%s", code, errOut)
	}
	d.assertRestarted(before, "mi-1")
	d.waitFor("mi-1 ready", func() bool { return d.stateIs("mi-1", "ready") })
	if ev := d.events(); !strings.Contains(ev, "what the reload did before that stands") {
		t.Errorf("the reload's failure does not say what it did stands:\n%s", ev)
	}
	// Applied, not refused: status does not say the configuration before
	// it still runs.
	if _, _, errOut := d.mictl("status"); strings.Contains(errOut, "refused") {
		t.Errorf("status calls the applied reload refused:\n%s", errOut)
	}
}

// diff only looks: run by another mictl binary (a cron job's, a
// service's), it neither writes the simulator's distribution, whose
// start script names the mictl that wrote it, nor so finds every home
// behind it (and the daemon's next reload then restarted them all).
func TestDiffFromAnotherBinaryChangesNothing(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	script := filepath.Join(d.dir, "instances", ".dist", "bin", "micro-integrator.sh")
	before, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "mictl")
	if err := fsutil.CopyFileAtomic(cmp.Or(d.exe, os.Args[0]), other, 0o755); err != nil {
		t.Fatal(err)
	}
	d.exe = other
	if code, out, errOut := d.mictl("diff"); code != 0 {
		t.Fatalf("diff from %s: exit %d:\n%s%s", other, code, out, errOut)
	}
	if after, _ := os.ReadFile(script); !bytes.Equal(after, before) {
		t.Errorf("diff rewrote the simulator's start script:\n%s", after)
	}
}

// A daemon started with no mictl.toml follows the one that appears in its
// directory later; diff from elsewhere (--instances-dir) compares with
// that file, not with the defaults of the directory it is run from.
func TestDiffFromElsewhereReadsTheFileTheDaemonFollows(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("up", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	toml := fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base)
	if err := os.WriteFile(filepath.Join(d.dir, "mictl.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the daemon to start mi-2 from the new mictl.toml", func() bool {
		inst, ok := d.state().Instance("mi-2")
		return ok && inst.State == "ready"
	})
	d.cwd = t.TempDir()
	defer func() { d.cwd = "" }()
	if code, out, errOut := d.mictl("diff", "--instances-dir", filepath.Join(d.dir, "instances")); code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("diff from another directory: exit %d, want 0 and no changes:\n%s%s", code, out, errOut)
	}
}

// An edit the daemon follows of a setting the last up's flags override
// (instances = 3 after up --instances 2) says, in the event log, that it
// is not applied and which up applies it: "reloaded: no change" alone
// read as though the edit had nothing in it to apply. mictl reload says
// it once.
func TestAFollowedEditTheUpsFlagsOverrideIsSaidNotApplied(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", "instances = 1\n")
	d.up(2)
	applied, _ := d.reloads()
	d.configFile("rename", "instances = 3\n")
	d.waitReloads(applied+1, 0)
	want := fmt.Sprintf(") is not applied: the last mictl up's --instances=2 stands, and reloads plan with it; mictl up --base-offset=%d applies the file's, and its later edits", d.base)
	if events := d.events(); !strings.Contains(events, "mictl reloaded: no change; instances = 3 (") || !strings.Contains(events, want) {
		t.Fatalf("the followed edit's reload does not say instances = 3 is not applied:\n%s", events)
	}
	if _, _, errOut := d.mictl("reload"); strings.Count(errOut, want) != 1 {
		t.Fatalf("mictl reload does not say once that instances = 3 is not applied:\n%s", errOut)
	}
	if _, ok := d.state().Instance("mi-3"); ok {
		t.Fatalf("mi-3 recorded though --instances 2 stands")
	}
}

// An edit of mictl.toml made after up read it, and before the daemon that
// up starts follows it, is applied: it waited for the next edit, diff
// showing it pending (exit 1) meanwhile.
func TestEditWhileUpStartsIsApplied(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	out := d.upWhileEdited(fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base))
	d.waitFor("mi-2, which the edit adds, ready", func() bool { return d.stateIs("mi-2", "ready") })
	if code, diff, errOut := d.mictl("diff"); code != 0 {
		t.Fatalf("diff: exit %d after the edit was applied:\n%s%s\nup said:\n%s", code, diff, errOut, out)
	}
}

// An edit of a setting up's own flag sets is said not to be applied: "the
// daemon applies it now" read as though instances = 3 would start mi-3
// under up --instances 1.
func TestEditWhileUpStartsOfAFlagsSettingIsSaidNotApplied(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	out := d.upWhileEdited(fmt.Sprintf("instances = 3\nbase_offset = %d\n", d.base), "--instances", "1")
	if want := "note: instances = 3 (mictl.toml:1:1) is not applied: the last mictl up's --instances=1 stands"; !strings.Contains(out, want) {
		t.Fatalf("up with --instances 1, mictl.toml edited to 3 meanwhile, said:\n%s\nwant %q", out, want)
	}
	if _, ok := d.state().Instance("mi-2"); ok {
		t.Fatalf("mi-2 recorded though --instances 1 stands")
	}
}

// upWhileEdited runs up (with args) on a mictl.toml of one instance,
// which it reads, then waits on the state lock the test holds while the
// file is rewritten as edited; it returns what up said once it ended.
func (d *deployment) upWhileEdited(edited string, args ...string) string {
	d.t.Helper()
	d.configFile("inplace", fmt.Sprintf("instances = 1\nbase_offset = %d\n", d.base))
	store, err := state.Open(filepath.Join(d.dir, "instances", ".mictl"))
	if err != nil {
		d.t.Fatal(err)
	}
	unlock, err := store.Lock(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	up := d.start([]string{"MICTL_SIM_STARTUP_DELAY=0"}, append([]string{"up", "--timeout", "30s"}, args...)...)
	d.waitFor("up to wait for the state lock", func() bool { return proctest.WaitsForALock(up.cmd.Process.Pid) })
	d.configFile("rename", edited)
	unlock()
	if err, ok := up.wait(time.Minute); !ok || err != nil {
		d.t.Fatalf("up: %v (ended: %v)\n%s", err, ok, up.out.String())
	}
	return up.out.String()
}

// mi_home moved to a copy of the distribution (cp -a, or the same archive
// unpacked again: the same files) restarts nothing: a home synced from
// one is behind the other in nothing. status noted "the instances run
// from 2 distributions ... mictl diff shows which a reload restarts"
// while diff showed nothing; the homes synced from the same files are one
// MI, and the note is left out. The up that started mi-2 from the copy
// restarted nothing of mi-1 and recorded the copy as its distribution
// too: left naming the original, mi-1's crash restart could not put back
// what its home lost once the original was deleted.
func TestStatusTakesACopiedDistributionForTheSame(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "wso2mi-4.4.0")
	orig, copied := filepath.Join(d.dir, "wso2mi-4.4.0"), filepath.Join(d.dir, "wso2mi-copy")
	if out, err := exec.Command("cp", "-a", orig, copied).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	d.configFile("inplace", fmt.Sprintf("host = \"127.0.0.1\"\nbase_offset = %d\ninstances = 1\nmi_home = \"wso2mi-4.4.0\"\n", d.base))
	d.must("up", "--timeout", "30s")
	d.must("up", "--timeout", "30s", "--instances", "2", "--mi-home", "wso2mi-copy")

	if code, out, _ := d.mictl("diff"); code != 0 {
		t.Fatalf("diff with mi_home moved to a copy: exit %d, want 0 (nothing to restart):\n%s", code, out)
	}
	if _, _, errOut := d.mictl("status"); strings.Contains(errOut, "distributions") {
		t.Errorf("status of homes synced from a distribution and its copy said:\n%s", errOut)
	}
	d.checkDistributions(map[string]string{"mi-1": copied, "mi-2": copied})
}

// checkDistributions checks the distribution status -o json gives each
// instance, which want has by name.
func (d *deployment) checkDistributions(want map[string]string) {
	d.t.Helper()
	var report struct {
		Instances []struct {
			Name         string  `json:"name"`
			Distribution *string `json:"distribution"`
		} `json:"instances"`
	}
	if err := json.Unmarshal([]byte(d.must("status", "-o", "json")), &report); err != nil {
		d.t.Fatal(err)
	}
	for _, row := range report.Instances {
		if row.Distribution == nil || *row.Distribution != want[row.Name] {
			d.t.Errorf("status -o json: %s's distribution %v, want %s", row.Name, row.Distribution, want[row.Name])
		}
	}
}

// mi_home pointed at a copy of the distribution (cp -a) restarts nothing,
// but the homes went on naming the old directory: status named it, and
// once it was deleted a crash restart could not put back what a home had
// lost ("home-restore-failed: ... is not there"). The reload that finds
// nothing to restart records the copy.
func TestAReloadOntoACopiedMIHomeRecordsItWithoutARestart(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "dist-old")
	toml := func(miHome string) string {
		return fmt.Sprintf("host = \"127.0.0.1\"\nbase_offset = %d\ninstances = 1\nmi_home = %q\n", d.base, miHome)
	}
	d.configFile("inplace", toml("dist-old"))
	d.must("up", "--timeout", "30s")
	old, copied := filepath.Join(d.dir, "dist-old"), filepath.Join(d.dir, "dist-new")
	if out, err := exec.Command("cp", "-a", old, copied).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	inst := d.instance("mi-1")
	d.configFile("inplace", toml("dist-new"))
	d.must("reload")
	if now := d.instance("mi-1"); now.Server != inst.Server {
		t.Fatalf("the reload onto a copy of mi_home restarted mi-1:\n%s", d.events())
	}
	if err := os.RemoveAll(old); err != nil {
		t.Fatal(err)
	}
	if out := d.must("status", "mi-1"); !strings.Contains(out, "distribution: "+copied+"\n") {
		t.Errorf("status mi-1 after the reload onto %s:\n%s\nwant it named", copied, out)
	}

	if err := os.Remove(filepath.Join(inst.Home, "conf", "log4j2.properties")); err != nil {
		t.Fatal(err)
	}
	d.crash(inst)
	if want := "mi-1 home-restored: put back from " + copied + ": conf/log4j2.properties"; !strings.Contains(d.events(), want) {
		t.Errorf("the crash restart after %s was deleted; events:\n%s\nwant %q", old, d.events(), want)
	}
}
