package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/testports"
)

// An inbound endpoint whose port is a placeholder MI resolves as it
// deploys it ($SYSTEM:ORDERS_PORT, docs/mi-integrations.md "Inbound
// endpoint ports") is neither refused nor planned: ports table,
// check-conflicts and inspect say it is resolved at run time, their JSON
// keeping every key.
func TestRunTimePorts(t *testing.T) {
	dir := inTempDir(t)
	car := writeCar(t, dir, "build/env_1.0.0.car", capp.Spec{Name: "env",
		Inbounds: []capp.InboundSpec{{Name: "OrdersEnv", Placeholder: "$SYSTEM:ORDERS_PORT"}, {Name: "OrdersHTTP", Port: 8085}}})
	if err := os.WriteFile("mictl.toml", []byte("instances = 1\ncapps = [\""+car+"\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	offsets := fmt.Sprint(testports.Base(t, testports.Other, 1, 8085))
	note := "mi-1: inbound endpoint env_1.0.0/OrdersEnv listens on inbound.http.port = $SYSTEM:ORDERS_PORT, a port MI resolves at run time: not planned, not checked for conflicts"
	want := "[map[listener:env_1.0.0/OrdersEnv parameter:inbound.http.port value:$SYSTEM:ORDERS_PORT]]"

	code, out, errOut := run(t, "ports", "table", "--offsets", offsets, "-o", "json")
	if code != exitcode.OK {
		t.Fatalf("ports table: exit %d: %s", code, errOut)
	}
	jsonschematest.Validate(t, "ports-table", []byte(out))
	var rows []struct {
		Extras  []struct{ Listener string } `json:"extras"`
		RunTime []map[string]string         `json:"runtime_ports"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || len(rows[0].Extras) != 1 || rows[0].Extras[0].Listener != "env_1.0.0/OrdersHTTP" || fmt.Sprint(rows[0].RunTime) != want {
		t.Fatalf("ports table -o json (%v):\n%s", err, out)
	}
	if _, out, _ = run(t, "ports", "table", "--offsets", offsets); !strings.Contains(out, note) {
		t.Errorf("ports table does not say %q:\n%s", note, out)
	}

	code, out, errOut = run(t, "check-conflicts", "--offsets", offsets, "-o", "json")
	if code == exitcode.Usage {
		t.Fatalf("check-conflicts refused the CApp: %s", errOut)
	}
	jsonschematest.Validate(t, "check-conflicts", []byte(out))
	var report struct {
		RunTime []map[string]string `json:"runtime_ports"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil || len(report.RunTime) != 1 || report.RunTime[0]["instance"] != "mi-1" || report.RunTime[0]["value"] != "$SYSTEM:ORDERS_PORT" {
		t.Fatalf("check-conflicts -o json (%v):\n%s", err, out)
	}
	if _, out, _ = run(t, "check-conflicts", "--offsets", offsets); !strings.Contains(out, "note: "+note) {
		t.Errorf("check-conflicts does not say %q:\n%s", note, out)
	}

	_, out, errOut = run(t, "inspect", car, "--offsets", offsets, "-o", "json")
	jsonschematest.Validate(t, "inspect", []byte(out))
	var inspect struct {
		Inbounds []struct {
			Name        string
			Port        *int
			Placeholder *string
		} `json:"inbound_endpoints"`
		Instances []struct {
			Ports []struct{ Endpoint string } `json:"inbound_ports"`
		}
	}
	if err := json.Unmarshal([]byte(out), &inspect); err != nil || len(inspect.Inbounds) != 2 || inspect.Inbounds[0].Placeholder == nil ||
		*inspect.Inbounds[0].Placeholder != "$SYSTEM:ORDERS_PORT" || inspect.Inbounds[0].Port != nil || inspect.Inbounds[1].Placeholder != nil ||
		inspect.Inbounds[1].Port == nil || *inspect.Inbounds[1].Port != 8085 ||
		len(inspect.Instances) != 1 || len(inspect.Instances[0].Ports) != 1 || inspect.Instances[0].Ports[0].Endpoint != "OrdersHTTP" {
		t.Fatalf("inspect -o json (%v; %s):\n%s", err, errOut, out)
	}
	if _, out, _ = run(t, "inspect", car, "--offsets", offsets); !strings.Contains(out, "$SYSTEM:ORDERS_PORT (at run time)") {
		t.Errorf("inspect does not show the placeholder:\n%s", out)
	}

	// With only a placeholder port, nothing is known to show per instance.
	only := writeCar(t, dir, "build/only_1.0.0.car", capp.Spec{Name: "only", Inbounds: []capp.InboundSpec{{Name: "OnlyEnv", Placeholder: "$SYSTEM:ONLY_PORT"}}})
	if _, out, _ = run(t, "inspect", only, "--offsets", offsets); !strings.Contains(out, "none known before MI starts") || strings.Contains(out, "| NAME | OFFSET |") {
		t.Errorf("inspect of an app with only a placeholder port:\n%s", out)
	}
}

// A CApp the distribution ships in its own carbonapps/ runs on every
// instance as a declared one does: its run-time ports are said the same.
func TestRunTimePortsOfShippedCApps(t *testing.T) {
	dir := inTempDir(t)
	if code, _, errOut := run(t, "sim", "dist", "dist"); code != exitcode.OK {
		t.Fatalf("sim dist: exit %d: %s", code, errOut)
	}
	writeCar(t, dir, "dist/repository/deployment/server/carbonapps/env_1.0.0.car", capp.Spec{Name: "env",
		Inbounds: []capp.InboundSpec{{Name: "OrdersEnv", Placeholder: "$SYSTEM:ORDERS_PORT"}}})
	if err := os.WriteFile("mictl.toml", []byte("instances = 1\nmi_home = \"dist\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	offsets := fmt.Sprint(testports.Base(t, testports.Other, 1))
	note := "note: mi-1: inbound endpoint env_1.0.0/OrdersEnv listens on inbound.http.port = $SYSTEM:ORDERS_PORT, a port MI resolves at run time"
	if code, out, errOut := run(t, "check-conflicts", "--offsets", offsets); code != exitcode.OK || !strings.Contains(out, note) {
		t.Fatalf("check-conflicts: exit %d, want 0 and %q:\n%s%s", code, note, out, errOut)
	}
}

// An export exposes the ports it knows: one MI resolves at run time is
// said on stderr, as up says it, with what the export does without it
// (Compose does not publish it, a Service has no port for it), and kept
// under "runtime_ports" with -o json, as check-conflicts keeps it.
func TestExportsSayWhatTheyLeaveOfRunTimePorts(t *testing.T) {
	dir := inTempDir(t)
	car := writeCar(t, dir, "build/env_1.0.0.car", capp.Spec{Name: "env",
		Inbounds: []capp.InboundSpec{{Name: "OrdersEnv", Placeholder: "$SYSTEM:ORDERS_PORT"}}})
	if err := os.WriteFile("mictl.toml", []byte("instances = 1\ncapps = [\""+car+"\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	offsets := fmt.Sprint(testports.Base(t, testports.Other, 1))
	note := "note: mi-1: inbound endpoint env_1.0.0/OrdersEnv listens on inbound.http.port = $SYSTEM:ORDERS_PORT, a port MI resolves at run time: not planned, not checked for conflicts"
	for _, tc := range []struct {
		args []string
		says string // after the note, what the export does without the port
	}{
		{[]string{"compose", "--out", "compose.yaml"}, "; not published by its service"},
		{[]string{"kubernetes", "--out", "k8s"}, "; not a container or Service port of its Deployment"},
		{[]string{"systemd", "--user", "--out", "units"}, "\n"},
	} {
		code, out, errOut := runExport(t, append([]string{"export"}, append(tc.args, "--offsets", offsets, "-o", "json")...)...)
		if code != exitcode.OK || !strings.Contains(errOut, note+tc.says) {
			t.Errorf("export %s: exit %d, stderr does not say %q:\n%s", tc.args[0], code, note+tc.says, errOut)
		}
		jsonschematest.Validate(t, "export", []byte(out))
		var r struct {
			RunTime []map[string]string `json:"runtime_ports"`
		}
		want := "[map[instance:mi-1 listener:env_1.0.0/OrdersEnv parameter:inbound.http.port value:$SYSTEM:ORDERS_PORT]]"
		if err := json.Unmarshal([]byte(out), &r); err != nil || fmt.Sprint(r.RunTime) != want {
			t.Errorf("export %s -o json: runtime_ports %v (%v), want %s", tc.args[0], r.RunTime, err, want)
		}
	}
}
