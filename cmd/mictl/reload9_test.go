package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/metrics/promtest"
)

// metric is the value the daemon's metrics at addr give the series
// named name, as its exposition writes it.
func (d *deployment) metric(addr, name string) string {
	d.t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		d.t.Fatalf("the daemon's metrics on %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if value, ok := strings.CutPrefix(line, name+" "); ok {
			return value
		}
	}
	d.t.Fatalf("the daemon's metrics have no %s:\n%s", name, body)
	return ""
}

// `edit mictl.toml && mictl reload`, the edit broken: mictl reload and
// the daemon's own reload of the save (100 ms after it) each meet the
// same refusal, which is one: one reload-failed line in the event log,
// mictl_reload_failures_total 1. Each reported it: two lines, and 2.
func TestEditAndReloadReportsTheRefusalOnce(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	addr := promtest.FreeAddr(t)
	config := fmt.Sprintf("host = \"127.0.0.1\"\nbase_offset = %d\nmetrics_addr = %q\n", d.base, addr)
	d.configFile("inplace", config)
	d.must("up", "--timeout", "30s")
	d.configFile("inplace", config+"bogus = 1\n")
	if code, _, errOut := d.mictl("reload"); code != 2 || !strings.Contains(errOut, `unknown key "bogus"`) {
		t.Fatalf("mictl reload of the broken edit: exit %d, want 2 naming bogus\nstderr:\n%s", code, errOut)
	}
	d.waitReloads(0, 1)
	if got := d.metric(addr, "mictl_reload_failures_total"); got != "1" {
		t.Errorf("mictl_reload_failures_total %s after one broken save, want 1\nevents:\n%s", got, d.events())
	}
}

// A mictl reload behind the daemon's own reload of the same edit, which
// failed (the restart of mi-2, the last, onto an mi_home whose start
// script only prints the JDK [ERROR] there), ends with that failure (exit 3), which that reload logged
// and counted: mictl_reload_failures_total 1. mictl reload counted it
// again: 2 for one edit.
func TestReloadBehindAFailedLiveReloadCountsItsFailureOnce(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	toml := d.twoDists(2, "mi-2") // mi-1, restarted first, keeps the daemon and its metrics
	addr := promtest.FreeAddr(t)
	metrics := fmt.Sprintf("metrics_addr = %q\n", addr)
	d.configFile("inplace", toml("wso2mi-4.4.0")+metrics)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=2s"}
	d.must("up", "--timeout", "30s")
	d.env = nil
	if code, _, errOut := d.behindLiveReload(toml("wso2mi-4.6.0") + metrics); code != 3 || !strings.Contains(errOut, "under way as this reload began, applied the configuration as it is now, and failed") {
		t.Fatalf("mictl reload behind a failed live reload: exit %d, want 3 with its failure\nstderr:\n%s\nevents:\n%s", code, errOut, d.events())
	}
	d.waitReloads(0, 1)
	if got := d.metric(addr, "mictl_reload_failures_total"); got != "1" {
		t.Errorf("mictl_reload_failures_total %s after one failed edit, want 1\nevents:\n%s", got, d.events())
	}
}
