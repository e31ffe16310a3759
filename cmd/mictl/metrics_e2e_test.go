package main

// The fleet as an operator's Prometheus sees it: three simulator
// instances with metrics = true, the daemon's metrics_addr, and a real
// Prometheus configured by `mictl export prometheus`.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/metrics/promtest"
	"github.com/mictl/mictl/pkg/ports"
)

func TestMetricsEndToEnd(t *testing.T) {
	t.Parallel()
	promtest.Require(t, "prometheus")
	d := newDeployment(t)
	addr := promtest.FreeAddr(t)
	config := fmt.Sprintf("metrics = true\nmetrics_addr = %q\n", addr)
	if err := os.WriteFile(filepath.Join(d.dir, "mictl.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	d.up(3)
	targetsFile := filepath.Join(d.dir, "instances", ".mictl", "prometheus-targets.json")
	if n := len(fileSDTargets(t, targetsFile)); n != 3 {
		t.Fatalf("%s lists %d targets, want 3", targetsFile, n)
	}

	// The daemon's own output passes promtool.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("the daemon's metrics on %s: %v", addr, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	promtest.CheckMetrics(t, string(body))

	prom := promtest.Start(t, strings.Replace(d.must("export", "prometheus"), "scrape_interval: 15s", "scrape_interval: 1s", 1))
	upTargets := func(want int) func() (bool, string) {
		return func() (bool, string) {
			got := prom.Query(t, "up == 1")
			return len(got) == want, fmt.Sprint(prom.Targets(t))
		}
	}
	promtest.WaitFor(t, "the daemon and 3 instances up", upTargets(4))
	promtest.WaitFor(t, "MI's metrics from 3 instances", func() (bool, string) {
		got := prom.Query(t, "wso2_integration_server_up > 0") // MI sets it to its start time (docs/mi-integrations.md)
		return len(got) == 3, fmt.Sprint(got)
	})

	// kill -9: the daemon restarts the server, Prometheus sees the count.
	before := d.instance("mi-2")
	if err := syscall.Kill(before.Server.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	promtest.WaitFor(t, "mi-2's restarts counter to rise", func() (bool, string) {
		got := prom.Query(t, `mictl_instance_restarts_total{instance_name="mi-2"} >= 1`)
		return len(got) == 1, fmt.Sprint(got)
	})

	// scale 3 → 4: the new instance is a target without touching
	// Prometheus's configuration.
	d.up(4)
	if n := len(fileSDTargets(t, targetsFile)); n != 4 {
		t.Errorf("%s lists %d targets after scaling to 4", targetsFile, n)
	}
	promtest.WaitFor(t, "mi-4 scraped", func() (bool, string) {
		got := prom.Query(t, `up{job="wso2-mi",instance_name="mi-4"} == 1`)
		return len(got) == 1, fmt.Sprint(prom.Targets(t))
	})
	promtest.WaitFor(t, "the daemon and 4 instances up", upTargets(5))
}

func fileSDTargets(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var groups []struct {
		Targets []string `json:"targets"`
	}
	if err := json.Unmarshal(data, &groups); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, g := range groups {
		out = append(out, g.Targets...)
	}
	return out
}

// The daemon's metrics_addr is a port of the deployment: an instance
// planned on it is a conflict, and the planner goes around it, before the
// daemon listens there and after.
func TestMetricsAddrIsPlanned(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	http := ports.DefaultBases()[ports.HTTP] + d.base
	d.configFile("inplace", fmt.Sprintf("base_offset = %d\nmetrics_addr = \"127.0.0.1:%d\"\n", d.base, http))
	code, out, _ := d.mictl("check-conflicts", "--offsets", fmt.Sprint(d.base))
	want := fmt.Sprintf("conflict: mi-1 http port %d is held by the mictl daemon (metrics_addr, mictl.toml:2:1) on 127.0.0.1", http)
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("check-conflicts: exit %d, want 1 and %q:\n%s", code, want, out)
	}
	for _, when := range []string{"before", "after"} {
		if when == "after" {
			d.up(1)
		}
		var plan []struct{ Offset int }
		if err := json.Unmarshal([]byte(d.must("ports", "table", "-o", "json")), &plan); err != nil || len(plan) != 1 || plan[0].Offset != d.base+1 {
			t.Fatalf("%s up: plan %+v (%v), want mi-1 at %d, around the metrics port", when, plan, err, d.base+1)
		}
	}
}

// A metrics_addr another process holds is a conflict with the host:
// check-conflicts reports it (exit 1, a host finding naming the holder)
// as up refuses it (exit 1, nothing started; --force cannot get past it).
func TestBusyMetricsAddrIsAConflict(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	port := ports.DefaultBases()[ports.HTTP] + d.base + 61
	listen(t, port)
	d.configFile("inplace", fmt.Sprintf("base_offset = %d\nmetrics_addr = \"127.0.0.1:%d\"\n", d.base, port))
	want := fmt.Sprintf("mictl.toml:2:1: metrics_addr: 127.0.0.1:%d is already in use by pid %d", port, os.Getpid())
	if code, out, _ := d.mictl("check-conflicts"); code != 1 || !strings.Contains(out, "conflict: "+want) {
		t.Fatalf("check-conflicts: exit %d, want 1 and %q:\n%s", code, want, out)
	}
	code, out, _ := d.mictl("check-conflicts", "-o", "json")
	jsonschematest.Validate(t, "check-conflicts", []byte(out))
	var report struct {
		Conflicts []struct {
			Kind      string `json:"kind"`
			Port      int    `json:"port"`
			HolderPID *int   `json:"holder_pid"`
		} `json:"conflicts"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil || code != 1 || len(report.Conflicts) != 1 {
		t.Fatalf("check-conflicts -o json: exit %d (%v), want 1 and one conflict:\n%s", code, err, out)
	}
	if c := report.Conflicts[0]; c.Kind != "host" || c.Port != port || c.HolderPID == nil || *c.HolderPID != os.Getpid() {
		t.Fatalf("the conflict is %+v, want the host's on %d held by pid %d:\n%s", c, port, os.Getpid(), out)
	}
	for _, args := range [][]string{{"up"}, {"up", "--force"}} {
		if code, out, errOut := d.mictl(args...); code != 1 || !strings.Contains(out, "conflict: "+want) || !strings.Contains(errOut, "--force cannot start a daemon on a metrics_addr") {
			t.Fatalf("mictl %s: exit %d, want 1, %q and that --force cannot help:\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
	}
	// up -o json refuses with the check, as check-conflicts -o json says it.
	if code, out, _ := d.mictl("up", "-o", "json"); code != 1 || !strings.Contains(out, `"message": "`+want) {
		t.Fatalf("up -o json: exit %d, want 1 and the conflict in the check's JSON:\n%s", code, out)
	}
	if servers := d.servers(); len(servers) > 0 {
		t.Fatalf("a refused up started %v", servers)
	}
}

// An up given the metrics settings as flags runs with them; export
// prometheus describes what runs, and says where its settings came from.
func TestExportPrometheusFollowsTheRunningDaemon(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	addr := promtest.FreeAddr(t)
	d.up(1, "--metrics-addr", addr, "--metrics")
	code, out, stderr := d.mictl("export", "prometheus")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("targets: [%q]", addr)) || !strings.Contains(out, "job_name: wso2-mi") {
		t.Fatalf("export prometheus: exit %d, want the daemon's %s and the wso2-mi job:\n%s\n%s", code, addr, out, stderr)
	}
	for _, note := range []string{"metrics_addr " + addr + " is the running daemon's (mictl up --metrics-addr); set it in mictl.toml to keep it",
		"metrics = true as the running instances have it (mictl up --metrics); set it in mictl.toml to keep it"} {
		if !strings.Contains(stderr, note) {
			t.Errorf("stderr lacks %q:\n%s", note, stderr)
		}
	}
}

// Settings the running deployment has from the mictl.toml its daemon
// follows, exported with --config from another file that leaves them
// unset, are credited to that mictl.toml: the notes said "mictl up
// --metrics-addr" of an up given no flag, and "set it in mictl.toml" of
// an export that read another file.
func TestExportPrometheusNamesTheDaemonsFileAsTheSource(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	addr := promtest.FreeAddr(t)
	d.configFile("inplace", fmt.Sprintf("base_offset = %d\nmetrics_addr = %q\nmetrics = true\n", d.base, addr))
	d.up(1)
	if err := os.WriteFile(filepath.Join(d.dir, "no-addr.toml"), fmt.Appendf(nil, "base_offset = %d\n", d.base), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := d.mictl("--config", "no-addr.toml", "export", "prometheus")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("targets: [%q]", addr)) {
		t.Fatalf("export prometheus: exit %d, want 0 and the daemon's %s:\n%s\n%s", code, addr, out, stderr)
	}
	file := filepath.Join(d.dir, "mictl.toml")
	for _, note := range []string{
		fmt.Sprintf("metrics_addr %s is the running daemon's (set at %s:2:1, in the mictl.toml the daemon follows); set it in no-addr.toml to keep it", addr, file),
		fmt.Sprintf("metrics = true as the running instances have it (set at %s:3:1, in the mictl.toml the daemon follows); set it in no-addr.toml to keep it", file),
	} {
		if !strings.Contains(stderr, note) {
			t.Errorf("stderr lacks %q:\n%s", note, stderr)
		}
	}
}

// A metrics_addr the running daemon was not started with is exported as
// asked, with a note that nothing serves it until the daemon starts again.
func TestExportPrometheusSaysTheDaemonServesAnotherAddress(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	addr := promtest.FreeAddr(t)
	d.configFile("inplace", fmt.Sprintf("metrics_addr = %q\nbase_offset = %d\n", addr, d.base))
	code, out, stderr := d.mictl("export", "prometheus")
	want := fmt.Sprintf("serves no metrics, not %s: it applies metrics_addr when it starts again", addr)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("targets: [%q]", addr)) || !strings.Contains(stderr, want) {
		t.Fatalf("export prometheus: exit %d, want 0, the target %s and %q:\n%s\n%s", code, addr, want, out, stderr)
	}
}

// A conflict `up --force` starts despite is in the daemon's
// mictl_conflicts, as check-conflicts counts it: the gauge read 0 until a
// reload checked the plan again, and an alert on it missed what --force
// let through.
func TestMetricsCountTheConflictsUpForcedThrough(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	addr := promtest.FreeAddr(t)
	d.configFile("inplace", fmt.Sprintf("metrics_addr = %q\n", addr))
	listen(t, ports.DefaultBases()[ports.HTTP]+d.base)
	// mi-1 fails on its held port; mi-2 runs, and keeps the daemon.
	if code, _, errOut := d.mictl("up", "--offsets", fmt.Sprintf("%d,%d", d.base, d.base+1), "--force", "--timeout", "30s"); code != 3 {
		t.Fatalf("up --force on a held port: exit %d, want 3:\n%s", code, errOut)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("the daemon's metrics on %s: %v", addr, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\nmictl_conflicts 1\n") {
		t.Errorf("after up --force through 1 conflict, the daemon's metrics:\n%s", body)
	}
}
