package main

import (
	"strings"
	"testing"
)

// failedRoll runs mi-1 and mi-2 on wso2mi-4.4.0, then edits mictl.toml
// onto wso2mi-4.6.0, whose start script fails in mi-1's home alone
// (twoDists), and waits for the daemon's live roll to fail at mi-1,
// before mi-2. It returns the mictl.toml of the two on an mi_home.
func (d *deployment) failedRoll() func(miHome string) string {
	d.t.Helper()
	toml := d.twoDists(2, "mi-1")
	d.configFile("inplace", toml("wso2mi-4.4.0"))
	d.must("up", "--timeout", "30s")
	d.configFile("inplace", toml("wso2mi-4.6.0"))
	d.waitReloads(0, 1)
	return toml
}

// A live roll onto an mi_home whose start script fails in mi-1's home
// alone stops at mi-1, failed. mictl reload then restarts mi-2 onto it,
// which works: that reload changed something and succeeded, but plans
// mi-1 as the roll failed it, and put nothing right of it. It cleared
// the roll's failure (reload_error null, exit 0), and status said only
// that mictl up starts mi-1 again, into the same failure. The failure
// now stands, for mi-1: reload_error kept, exit 3 saying so, and status
// says up starts mi-1 once what the reload failed on is fixed.
func TestReloadThatChangesOthersKeepsAFailureItDidNotPutRight(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	toml := d.failedRoll()
	const failure = "restart mi-1: mi-1 failed: the start script ended (exit status 0) without a running server"

	code, _, errOut := d.mictl("reload")
	want := "mictl: reload: what changed is applied, but the last reload's failure stands (mictl status shows it): the configuration plans mi-1, which it left failed, as it did then; mictl up starts it once what it failed on is fixed"
	if code != 3 || !strings.Contains(errOut, "mictl reloaded: ~mi-2 (the distribution changed") || !strings.Contains(errOut, want) {
		t.Errorf("mictl reload restarting mi-2 while the roll's failure of mi-1 stands: exit %d, want 3, mi-2 restarted, and:\n%s\nstderr:\n%s\nevents:\n%s", code, want, errOut, d.events())
	}
	if r := d.statusJSON(); r.ReloadError == nil || !strings.HasPrefix(*r.ReloadError, failure) {
		t.Errorf("status -o json reload_error = %v; want the roll's failure kept: %s", deref(r.ReloadError), failure)
	}
	if _, _, errOut := d.mictl("status"); !strings.Contains(errOut, "mictl up starts mi-1 again once what the last reload failed on is fixed)") {
		t.Errorf("status after the reload said:\n%s\nwant up to start mi-1 once the failure is fixed", errOut)
	}

	// mi_home put back plans mi-1 otherwise: the failure is over.
	d.configFile("inplace", toml("wso2mi-4.4.0"))
	d.waitReloads(2, 2) // mi-2 back onto 4.4.0; mi-1, failed, started again as its failure is put right
	if r := d.statusJSON(); r.ReloadError != nil {
		t.Errorf("status -o json once mi_home is put back: reload_error %q, want null", *r.ReloadError)
	}
}
