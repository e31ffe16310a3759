package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
)

// Every command ends with the exit code the README's table gives its
// case: 0 success, 1 conflicts found or a check failed (diff: something
// would change), 2 a bad command line, configuration or input, 3 a
// failure while doing the work (issue 10). One case per command and code
// that the command can end with.
func TestExitCodesMatchTheTable(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	clash := fmt.Sprintf("%d,%d", d.base, d.base+37)
	write := func(name, body string) string {
		path := filepath.Join(d.dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	bad := write("bad.toml", "instances = \"two\"\n")
	clashing := write("clash.toml", fmt.Sprintf("base_offset = %d\n[[instance]]\nname = \"mi-2\"\noffset = %d\n", d.base, d.base+37))
	good := write("good.toml", fmt.Sprintf("base_offset = %d\n", d.base))
	notEmpty := filepath.Join(d.dir, "not-a-dist")
	if err := os.MkdirAll(notEmpty, 0o755); err != nil {
		t.Fatal(err)
	}
	write("not-a-dist/x", "x")
	// A port a stranger holds, from this test's block: an app whose
	// WebSocket endpoint (never offset) opens it conflicts.
	held := 8280 + d.base + 60
	listen(t, held)

	type step struct {
		code   int
		args   []string
		env    []string
		before func() // changes the daemon's own mictl.toml, for reload
	}
	reloadWith := func(body string) func() { return func() { write("good.toml", body) } }
	goodBody := fmt.Sprintf("base_offset = %d\n", d.base)
	// In order: the later ones need what the earlier ones started.
	steps := []step{
		{0, []string{"init", "--path", "init.toml"}, nil, nil},
		{2, []string{"init", "--path", "init.toml"}, nil, nil},
		{0, []string{"version"}, nil, nil},
		{2, []string{"version", "-o", "yaml"}, nil, nil},
		{0, []string{"completion", "bash"}, nil, nil},
		{2, []string{"completion", "tcsh"}, nil, nil},
		{0, []string{"sim", "dist", filepath.Join(d.dir, "dist")}, nil, nil},
		{2, []string{"sim", "dist"}, nil, nil},
		{2, []string{"sim", "dist", notEmpty}, nil, nil},
		{2, []string{"sim", "dist", filepath.Join(notEmpty, "x", "dist")}, nil, nil},
		{2, []string{"status", "--instances-dir", filepath.Join(notEmpty, "x")}, nil, nil},
		{2, []string{"generate", "--config", good, "--instances-dir", filepath.Join(notEmpty, "x")}, nil, nil},
		{2, []string{"restart", "--all"}, nil, nil}, // no instance at all: nothing runs to restart
		{0, []string{"check-conflicts", "--config", good}, nil, nil},
		{1, []string{"check-conflicts", "--offsets", clash}, nil, nil},
		{2, []string{"check-conflicts", "--config", bad}, nil, nil},
		{0, []string{"ports", "table", "--config", good}, nil, nil},
		{2, []string{"ports", "tabel"}, nil, nil},
		{0, []string{"generate", "--config", good, "--instances-dir", "gen"}, nil, nil},
		{2, []string{"generate", "--config", bad}, nil, nil},
		{0, []string{"export", "compose", "--config", good, "--out", "compose.yaml"}, nil, nil},
		{2, []string{"export", "kubernetes", "--config", good, "--image", "no spaces allowed"}, nil, nil},
		{2, []string{"export", "kubernetes", "--config", good, "--image", "registry.example.com/mi:custom", "--out", "k8s-custom"}, nil, nil}, // where is MI in it? --carbon-home
		{1, []string{"up", "--offsets", clash}, nil, nil},
		{2, []string{"up", "--config", bad}, nil, nil},
		{2, []string{"up", "--config", good}, []string{"JAVA_OPTS=-Xmx1g -DportOffset=24900"}, nil},
		{2, []string{"up", "--config", good}, []string{"JVM_MEM_OPTS=-Xmx1g -DportOffset=24900"}, nil},
		{2, []string{"up", "--config", good}, []string{"JAVA_TOOL_OPTIONS=-DportOffset=24900"}, nil},
		{2, []string{"up", "--config", good}, []string{"MICTL_SIM_CRASH_AFTER=soon"}, nil}, // refused before any start, not 3 for starts that fail
		{3, []string{"up", "--config", good, "--timeout", "20s"}, []string{"MICTL_SIM_REFUSE_START=1"}, nil},
		{3, []string{"status"}, nil, nil}, // the instance that up left failed
		{3, []string{"status", "-o", "json"}, nil, nil},
		{0, []string{"down"}, nil, nil},
		{0, []string{"up", "--config", good, "--timeout", "30s"}, nil, nil},
		{0, []string{"status"}, nil, nil},
		{2, []string{"daemon"}, nil, nil},                          // by hand beside the daemon up started: it supervises nothing
		{2, []string{"init", "--force", "--path", good}, nil, nil}, // the daemon would apply the defaults at once
		{0, []string{"sim", "capp", "orders.car", "--name", "orders", "--api", "/orders"}, nil, nil},
		{0, []string{"sim", "capp", "broken.car", "--name", "broken", "--faulty"}, nil, nil},
		{0, []string{"sim", "capp", "held.car", "--name", "held", "--inbound-ws", fmt.Sprint(held)}, nil, nil},
		{0, []string{"inspect", "orders.car", "--config", good}, nil, nil},
		{1, []string{"inspect", "held.car", "--config", good}, nil, nil},
		{2, []string{"inspect", "bad.toml"}, nil, nil},
		{0, []string{"deploy", "orders.car", "--config", good, "--wait", "--timeout", "20s"}, nil, nil},
		{1, []string{"deploy", "held.car", "--config", good}, nil, nil},
		{2, []string{"deploy", "orders.car", "--config", good, "--wait", "--timeout", "0s"}, nil, nil},
		{3, []string{"deploy", "broken.car", "--config", good, "--wait", "--timeout", "20s"}, nil, nil},
		{3, []string{"restart", "mi-1", "--config", good}, nil, nil}, // degraded by broken.car, as status says
		{0, []string{"apps", "--config", good}, nil, nil},
		{3, []string{"apps", "--config", good}, []string{"MICTL_MANAGEMENT_PASSWORD=wrong"}, nil},
		{2, []string{"apps", "-o", "yaml"}, nil, nil},
		{2, []string{"apps", "--timeout", "-1s"}, nil, nil},
		{2, []string{"undeploy", "nope", "--config", good}, nil, nil},
		{0, []string{"undeploy", "broken", "--config", good}, nil, nil},
		{0, []string{"undeploy", "orders", "--config", good, "--wait", "--timeout", "20s"}, nil, nil},
		{0, []string{"export", "prometheus", "--config", good, "--metrics"}, nil, nil},
		{2, []string{"export", "prometheus", "--config", good}, nil, nil}, // nothing to scrape
		{2, []string{"export", "prometheus", "--config", bad}, nil, nil},
		{2, []string{"status", "mi-9"}, nil, nil},
		{0, []string{"logs", "mi-1", "--tail", "1"}, nil, nil},
		{2, []string{"logs", "mi-1", "--since", "yesterday-ish"}, nil, nil},
		{2, []string{"logs", "mi-9"}, nil, nil},
		{0, []string{"top", "--once", "--interval", "100ms"}, nil, nil},
		{2, []string{"top", "--interval", "1ms"}, nil, nil},
		{0, []string{"restart", "mi-1"}, nil, nil},
		{2, []string{"restart"}, nil, nil},
		{0, []string{"diff", "--config", good}, nil, nil},
		{1, []string{"diff", "--config", clashing}, nil, nil},
		{2, []string{"diff", "--config", bad}, nil, nil},
		{0, []string{"reload"}, nil, nil},
		{1, []string{"reload"}, nil, reloadWith(fmt.Sprintf("base_offset = %d\n[[instance]]\nname = \"mi-2\"\noffset = %d\n", d.base, d.base+37))},
		{2, []string{"reload"}, nil, reloadWith("instances = \"two\"\n")},
		{2, []string{"down", "mi-9"}, nil, reloadWith(goodBody)},
		{0, []string{"down"}, nil, nil},
		{2, []string{"reload"}, nil, nil},           // nothing runs to reload, as to restart
		{2, []string{"restart", "--all"}, nil, nil}, // nothing runs to restart, as naming a stopped one
		{2, []string{"restart", "mi-1"}, nil, nil},  // stopped: up starts it
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		d.env = s.env
		code, out, errOut := d.mictl(s.args...)
		if code != s.code {
			t.Errorf("mictl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(s.args, " "), code, s.code, out, errOut)
		}
	}
	d.env = nil
}

// An up or a restart that leaves an instance degraded (a faulty CApp: MI
// serves, but its /healthz is not ready) ends with 3 naming it, as
// status does of the same instances, after the JSON as usual: both ended
// with 0, so `mictl up -o json && run-tests` tested servers that fail
// their readiness probe.
func TestUpAndRestartEndWithThreeOnADegradedInstance(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	broken := d.car("broken_1.0.0.car", capp.Spec{Name: "broken", Faulty: true})
	d.configFile("inplace", fmt.Sprintf("capps = [%q]\n", broken))
	for _, args := range [][]string{
		{"up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s", "-o", "json"},
		{"restart", "mi-1", "-o", "json"},
	} {
		out := d.faulted("mi-1", args...)
		var report statusReport
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			t.Fatalf("mictl %s: stdout is not its JSON: %v\n%s", strings.Join(args, " "), err, out)
		}
		for _, row := range report.Instances {
			if row.State != "degraded" {
				t.Fatalf("mictl %s: %s is %s, want degraded by broken_1.0.0:\n%s", strings.Join(args, " "), row.Name, row.State, out)
			}
		}
	}
	d.faulted("mi-1", "status")
}

// A reload that restarts an instance into degraded (a faulty CApp, its
// override changed) ends with 3 naming it, as up and restart do; so does
// every instance running degraded as it ends (here mi-2, left as it ran),
// as for up and status: which reload applied an edit (this one or the
// daemon's own, which follows mictl.toml) must not decide the exit code.
// Once the faulty CApp is taken out, a reload ends with 0. It ended with
// 0 while status said 3.
func TestReloadEndsWithThreeOnAnInstanceItRestartedDegraded(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	broken := d.car("broken_1.0.0.car", capp.Spec{Name: "broken", Faulty: true})
	capps := fmt.Sprintf("capps = [%q]\n", broken)
	d.configFile("inplace", capps)
	d.faulted("mi-1", "up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s", "-o", "json")
	d.configFile("inplace", capps+"\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"mi-1.local\" }\n")
	code, out, errOut := d.mictl("reload", "-o", "json")
	var report statusReport
	if jerr := json.Unmarshal([]byte(out), &report); code != 3 || jerr != nil || !strings.Contains(errOut, "not healthy: mi-1 degraded, mi-2 degraded (") {
		t.Fatalf("mictl reload -o json: exit %d, want 3 naming mi-1 and mi-2 after its JSON (%v)\nstdout:\n%s\nstderr:\n%s\nevents:\n%s", code, jerr, out, errOut, d.events())
	}
	d.configFile("inplace", "\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"mi-1.local\" }\n")
	d.must("reload", "-o", "json")
}
