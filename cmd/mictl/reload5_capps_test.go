package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
)

// A reload that only deploys a CApp, faulty, onto running instances ends
// with 3 naming each instance it left degraded, as up, restart and a
// reload that restarts do (MI's /healthz is not ready: a faulty CApp), and
// its -o json shows them degraded: it answered before MI's hot deployment
// took the CApp, showed them ready and exited 0, and status said 3 a
// moment later. Which reload applies the edit (the daemon's own, which
// follows mictl.toml, often comes first) does not matter: every running
// instance counts as the reload ends, as for up and status. Once the
// faulty CApp is taken out, a reload ends 0.
func TestReloadEndsWithThreeOnAnInstanceItsCAppsLeftDegraded(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	good := d.car("good_1.0.0.car", capp.Spec{Name: "good", APIs: []capp.APISpec{{Context: "/good"}}})
	broken := d.car("broken_1.0.0.car", capp.Spec{Name: "broken", Faulty: true})
	d.configFile("inplace", fmt.Sprintf("capps = [%q]\n", good))
	d.must("up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	d.configFile("inplace", fmt.Sprintf("capps = [%q, %q]\n", good, broken))
	code, out, errOut := d.mictl("reload", "-o", "json")
	var report statusReport
	jerr := json.Unmarshal([]byte(out), &report)
	if code != 3 || jerr != nil || !strings.Contains(errOut, "not healthy: mi-1 degraded, mi-2 degraded (`mictl apps mi-1 mi-2` says why)") {
		t.Fatalf("mictl reload -o json deploying a faulty CApp: exit %d, want 3 naming mi-1 and mi-2 (%v)\nstdout:\n%s\nstderr:\n%s\nevents:\n%s", code, jerr, out, errOut, d.events())
	}
	for _, row := range report.Instances {
		if row.State != "degraded" {
			t.Errorf("mictl reload -o json shows %s %s, want degraded, as MI's /healthz says:\n%s", row.Name, row.State, out)
		}
	}
	d.configFile("inplace", fmt.Sprintf("capps = [%q]\n", good))
	d.must("reload", "-o", "json")
}
