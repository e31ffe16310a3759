package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// reloadRecord is what status -o json says of the last reload.
type reloadRecord struct {
	ReloadError      *string  `json:"reload_error"`
	ReloadBegun      *bool    `json:"reload_begun"`
	ReloadLeftFailed []string `json:"reload_left_failed"`
}

func (d *deployment) reloadRecord() reloadRecord {
	d.t.Helper()
	_, out, errOut := d.mictl("status", "-o", "json")
	var r reloadRecord
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		d.t.Fatalf("status -o json: %v\n%s\nstderr:\n%s", err, out, errOut)
	}
	return r
}

// An edit that plans mi-1, which the roll left failed, otherwise (an
// override of its own) while mi_home still refuses in mi-1's home puts
// it right: the daemon restarts mi-1, which fails again. That failure is
// the edit's reload's, of mi-1: recorded (reload_left_failed ["mi-1"]),
// it stands through the next reload (exit 3), which does not start mi-1
// again, the plan of it unchanged. It was skipped as not wanted running
// (mi-1 was failed already): reload_left_failed [], and the next reload
// exited 0 and cleared reload_error with mi-1 still failed.
func TestReloadThatPutsRightAndFailsAgainKeepsTheFailure(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	toml := d.failedRoll()
	d.configFile("inplace", toml("wso2mi-4.6.0")+"[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"mi-1.local\" }\n")
	d.waitReloads(0, 2)
	if r := d.reloadRecord(); r.ReloadError == nil || !slices.Equal(r.ReloadLeftFailed, []string{"mi-1"}) {
		t.Errorf("after mi-1, put right, failed again: reload_error %v, reload_left_failed %v; want the failure, [mi-1]\nevents:\n%s", deref(r.ReloadError), r.ReloadLeftFailed, d.events())
	}
	starts := strings.Count(d.events(), "mi-1 starting")
	code, _, errOut := d.mictl("reload")
	if want := "the last reload's failure stands"; code != 3 || !strings.Contains(errOut, want) {
		t.Errorf("mictl reload after mi-1 failed again: exit %d, want 3 saying %q\nstderr:\n%s\nevents:\n%s", code, want, errOut, d.events())
	}
	if r := d.reloadRecord(); r.ReloadError == nil || !slices.Equal(r.ReloadLeftFailed, []string{"mi-1"}) {
		t.Errorf("after the next reload: reload_error %v, reload_left_failed %v; want the failure kept, [mi-1]", deref(r.ReloadError), r.ReloadLeftFailed)
	}
	if again := strings.Count(d.events(), "mi-1 starting"); again != starts {
		t.Errorf("the next reload started mi-1 again (%d starts, were %d): its plan did not change\nevents:\n%s", again, starts, d.events())
	}
}

// mictl down mi-1 ends the failed state the roll left mi-1 in: the
// roll's failure no longer stands for it. status says so (reload_left_failed
// [], no up to start mi-1 into it), and a refused edit after it is a
// refusal alone. The failure outlived the down: reload_begun true,
// reload_left_failed ["mi-1"] of a stopped mi-1, and a refusal's
// reload_error ending "and the failure of a reload before it stands for
// mi-1".
func TestDownOfTheInstanceAFailedReloadLeftFailedEndsItsFailure(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	toml := d.failedRoll()
	d.must("down", "mi-1")
	r := d.reloadRecord()
	if r.ReloadLeftFailed == nil || len(r.ReloadLeftFailed) != 0 {
		t.Errorf("after mictl down mi-1: reload_left_failed %v, want []", r.ReloadLeftFailed)
	}
	if _, _, errOut := d.mictl("status"); strings.Contains(errOut, "would start an instance it left failed") {
		t.Errorf("status after mictl down mi-1 says up would start an instance the reload left failed:\n%s", errOut)
	}
	d.configFile("inplace", toml("wso2mi-4.6.0")+"bogus = 1\n")
	d.waitReloads(0, 2)
	r = d.reloadRecord()
	if r.ReloadError == nil || strings.Contains(*r.ReloadError, "stands for") || r.ReloadBegun == nil || *r.ReloadBegun || r.ReloadLeftFailed != nil {
		t.Errorf("the refusal after mictl down mi-1: reload_error %v, reload_begun %v, reload_left_failed %v; want the refusal alone, false, null", deref(r.ReloadError), r.ReloadBegun, r.ReloadLeftFailed)
	}
	if _, _, errOut := d.mictl("status"); strings.Contains(errOut, "would start") || !strings.Contains(errOut, "the instances run as they were") {
		t.Errorf("status after the refusal said:\n%s\nwant the refusal alone", errOut)
	}
}

// An edit of mictl.toml (mi-2 added, mi-1's hostname overridden) saved
// while a mictl reload restarts mi-1 (a driver added to mi_home's lib/,
// which the daemon does not follow) is applied by the daemon's own
// reload, which waits behind that one and plans from what it left: both
// apply, in order, each said once in the event log (mi-1 restarted by
// each, for its own reason), and the mictl reload prints its own
// reload's lines alone and exits 0.
func TestLiveReloadBehindAMictlReloadAppliesItsEditAfter(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=2s"} // mi-1's stop drains while the edit is saved
	d.upFromDist(1)
	d.env = nil
	if err := os.WriteFile(filepath.Join(d.dir, "dist", "lib", "driver.jar"), []byte("jar"), 0o644); err != nil {
		t.Fatal(err)
	}
	reload := d.start(nil, "reload")
	d.waitFor("the mictl reload's restart of mi-1", func() bool { return strings.Contains(d.events(), "mictl reloading: ~mi-1") })
	d.configFile("inplace", fmt.Sprintf("instances = 2\nbase_offset = %d\nmi_home = \"dist\"\n", d.base)+
		"[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"mi-1.local\" }\n")
	if err, ok := reload.wait(time.Minute); !ok || err != nil {
		t.Fatalf("mictl reload: %v (ended: %v)\n%s\nevents:\n%s", err, ok, reload.out.String(), d.events())
	}
	d.waitReloads(2, 0)
	var said []string
	for _, line := range strings.Split(d.events(), "\n") {
		if _, msg, ok := strings.Cut(line, " mictl reloaded: "); ok {
			said = append(said, msg)
		}
	}
	want := []string{"~mi-1 (the distribution's files changed: lib/driver.jar)", "+mi-2 ~mi-1 (deployment.toml changed)"}
	if !slices.Equal(said, want) {
		t.Errorf("reloaded, in the event log: %q; want %q\nevents:\n%s", said, want, d.events())
	}
	if out := reload.out.String(); !strings.Contains(out, "mictl reloaded: "+want[0]) || strings.Contains(out, "mi-2") || strings.Contains(out, "deployment.toml changed") {
		t.Errorf("mictl reload printed:\n%s\nwant its own reload's line (%s) and none of the daemon's own behind it (%s)", out, want[0], want[1])
	}
	if st := d.statusJSON(); len(st.Instances) != 2 || st.Instances[0].State != "ready" || st.Instances[1].State != "ready" {
		t.Errorf("after both reloads: %+v; want mi-1 and mi-2 ready\nevents:\n%s", st.Instances, d.events())
	}
}
