package main

import (
	"strings"
	"testing"
)

// An instance a reload left failed (a roll onto an mi_home whose start
// script fails in mi-1's home) is started again by the reload that puts
// right what it failed on (mi_home put back): the fixed mictl.toml and
// mictl reload bring it back, ready, and the failure is over. The reload
// said "no change" (exit 0) and left mi-1 failed, for mictl up alone.
func TestReloadThatPutsRightAFailureStartsTheInstanceItLeftFailed(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	toml := d.failedRoll()
	if st := d.statusJSON(); len(st.Instances) == 0 || st.Instances[0].State != "failed" {
		t.Fatalf("after the roll onto wso2mi-4.6.0, want mi-1 failed:\n%s", d.events())
	}
	d.configFile("inplace", toml("wso2mi-4.4.0"))
	code, _, errOut := d.mictl("reload")
	if code != 0 {
		t.Errorf("mictl reload once mi_home is put back: exit %d, want 0\nstderr:\n%s\nevents:\n%s", code, errOut, d.events())
	}
	st := d.statusJSON()
	for _, inst := range st.Instances {
		if inst.State != "ready" {
			t.Errorf("after the reload that put mi_home back: %s is %s, want ready\nevents:\n%s", inst.Name, inst.State, d.events())
		}
	}
	if st.ReloadError != nil {
		t.Errorf("status -o json once mi_home is put back: reload_error %q, want null", *st.ReloadError)
	}
	if want := "~mi-1 (the reload that left it failed is put right: "; !strings.Contains(d.events(), want) {
		t.Errorf("the event log does not say %q:\n%s", want, d.events())
	}
}
