package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/goldentest"
)

// simDist writes a simulator distribution at dir, its file (a path
// inside it) as edit makes it.
func (d *deployment) simDist(dir, file string, edit func(string) string) {
	d.t.Helper()
	d.must("sim", "dist", dir)
	path := filepath.Join(d.dir, dir, file)
	b, err := os.ReadFile(path)
	if err != nil {
		d.t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(edit(string(b))), fi.Mode()); err != nil {
		d.t.Fatal(err)
	}
}

// noHotDeployment writes a simulator distribution at dir whose
// deployment.toml turns MI's hot deployment off ([server] hot_deployment
// = false): a CApp copied into a running home is never taken.
func (d *deployment) noHotDeployment(dir string) {
	d.t.Helper()
	d.simDist(dir, filepath.Join("conf", "deployment.toml"), func(toml string) string {
		return strings.Replace(toml, "[server]\n", "[server]\nhot_deployment = false\n", 1)
	})
}

// A reload deploying a CApp MI never takes (its hot deployment off) says
// what it waits for as it begins (the instance, the CApp, until when),
// waits no longer than its --timeout, and ends with 3 saying MI had not
// taken it: it waited up to 2 minutes in silence and exited 0.
func TestReloadSaysWhatCAppsItWaitsForAndEndsAtItsTimeout(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.noHotDeployment("dist")
	good := d.car("good_1.0.0.car", capp.Spec{Name: "good", APIs: []capp.APISpec{{Context: "/good"}}})
	toml := fmt.Sprintf("host = \"127.0.0.1\"\nbase_offset = %d\ninstances = 1\nmi_home = \"dist\"\n", d.base)
	d.configFile("inplace", toml)
	d.must("up", "--timeout", "30s")
	d.configFile("inplace", toml+fmt.Sprintf("capps = [%q]\n", good))
	code, _, errOut := d.mictl("reload", "--timeout", "2s")
	if unsaid := goldentest.Unsaid(errOut,
		"mictl apps-waiting: waiting until ",
		"for MI's hot deployment to settle the CApps of mi-1 (good_1.0.0) (mictl apps shows them)",
		"mictl: reload: MI had not settled the CApps of mi-1 (good_1.0.0) when --timeout 2s ended; the daemon goes on checking them",
	); code != 3 || len(unsaid) > 0 {
		t.Errorf("mictl reload --timeout 2s of a CApp MI does not take: exit %d, want 3 saying:\n%s\nstderr:\n%s\nevents:\n%s", code, strings.Join(unsaid, "\n"), errOut, d.events())
	}
}

// A reload that fails itself, at mi-2, while the failure of the live roll
// before it stands for mi-1 (failedRoll: the configuration still plans
// mi-1 as it failed) records both: reload_error says mi-2's failure and
// then mi-1's, reload_left_failed names both, and status says both below
// its table. It recorded its own alone: mi-1 failed with nothing of why.
func TestReloadThatFailsKeepsTheFailureBeforeItOfAnotherInstance(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	toml := d.failedRoll()
	// mi-2's own override is one its server cannot read: its restart fails.
	d.configFile("inplace", toml("wso2mi-4.6.0")+"[[instance]]\nname = \"mi-2\"\noverrides = { \"server.hot_deployment\" = \"nope\" }\n")
	d.waitReloads(0, 2)
	const mi1 = "restart mi-1: mi-1 failed: the start script ended (exit status 0) without a running server"
	const mi2 = "restart mi-2: mi-2 failed: the start script ended (exit status 0) without a running server"
	want := "; and the failure of a reload before it stands for mi-1: " + mi1
	if f := d.state(); !strings.HasPrefix(f.ReloadError, mi2) || !strings.Contains(f.ReloadError, want) || !f.ReloadBegun || !slices.Equal(f.ReloadLeftFailed, []string{"mi-1", "mi-2"}) {
		t.Errorf("after the reload failed at mi-2: reload_error %q, reload_begun %v, reload_left_failed %v; want mi-2's failure, then%s, true, [mi-1 mi-2]\nevents:\n%s", f.ReloadError, f.ReloadBegun, f.ReloadLeftFailed, want, d.events())
	}
	if code, _, errOut := d.mictl("status"); code != 3 || !strings.Contains(errOut, mi2) || !strings.Contains(errOut, want) {
		t.Errorf("mictl status after both failures: exit %d, want 3 saying both:\n%s\n%s\nstderr:\n%s", code, mi2, want, errOut)
	}
}
