package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
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
	d := newDeployment(t)
	d.noHotDeployment("dist")
	good := d.car("good_1.0.0.car", capp.Spec{Name: "good", APIs: []capp.APISpec{{Context: "/good"}}})
	toml := fmt.Sprintf("host = \"127.0.0.1\"\nbase_offset = %d\ninstances = 1\nmi_home = \"dist\"\n", d.base)
	d.configFile("inplace", toml)
	d.must("up", "--timeout", "30s")
	d.configFile("inplace", toml+fmt.Sprintf("capps = [%q]\n", good))
	code, _, errOut := d.mictl("reload", "--timeout", "2s")
	for _, want := range []string{
		"mictl apps-waiting: waiting until ",
		"for MI's hot deployment to settle the CApps of mi-1 (good_1.0.0) (mictl apps shows them)",
		"mictl: reload: MI had not settled the CApps of mi-1 (good_1.0.0) when --timeout 2s ended; the daemon goes on checking them",
	} {
		if code != 3 || !strings.Contains(errOut, want) {
			t.Errorf("mictl reload --timeout 2s of a CApp MI does not take: exit %d, want 3 saying:\n%s\nstderr:\n%s\nevents:\n%s", code, want, errOut, d.events())
		}
	}
}
