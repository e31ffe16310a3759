package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/testports"
)

// Users, and kubectl's own docs, shorten Kubernetes to kube and k8s:
// `mictl export kube` failed with a suggestion of kubernetes.
func TestExportKubernetesAnswersToKubeAndK8s(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "mictl.toml"), exportTOML)
	for _, alias := range []string{"kube", "k8s"} {
		code, _, errOut := runExport(t, "export", alias, "--out", alias+"-out")
		if code != exitcode.OK || !strings.Contains(errOut, "next: kubectl apply -k "+alias+"-out") {
			t.Errorf("export %s: exit %d:\n%s", alias, code, errOut)
		}
	}
}

// An inbound endpoint port MI resolves at run time ($SYSTEM:, $FILE:)
// whose value the export carries (the variable, conf/file.properties) was
// still neither published by Compose nor exposed by the pods and their
// Service, and still noted as one the export could not expose. Now both
// publish it as a port written in the CApp, offset as MI offsets it
// (the WebSocket one not at all, the HTTP one with
// inbound.port_offset_enable, which mictl turns on); one whose value the
// export lacks stays noted and unpublished. systemd publishes nothing: it
// still names them all.
func TestExportsPublishTheRunTimePortsWhoseValueTheyCarry(t *testing.T) {
	dir := inTempDir(t)
	off := testports.Base(t, testports.Other, 1)
	writeCar(t, dir, "build/env_1.0.0.car", capp.Spec{Name: "env", Inbounds: []capp.InboundSpec{
		{Name: "OrdersEnv", Protocol: "ws", Placeholder: "$SYSTEM:ORDERS_PORT"},
		{Name: "Unknown", Protocol: "ws", Placeholder: "$SYSTEM:MICTL_TEST_UNSET_PORT"},
	}})
	writeCar(t, dir, "build/fil_1.0.0.car", capp.Spec{Name: "fil", Inbounds: []capp.InboundSpec{{Name: "OrdersFile", Protocol: "http", Placeholder: "$FILE:orders_port"}}})
	writeFile(t, filepath.Join(dir, "mictl.toml"), fmt.Sprintf("instances = 1\ncapps = [\"build/env_1.0.0.car\", \"build/fil_1.0.0.car\"]\n[[instance]]\nname = \"mi-1\"\noffset = %d\n", off))
	writeFile(t, filepath.Join(dir, "instances", ".dist", "conf", "file.properties"), "orders_port=9100\n")
	t.Setenv("ORDERS_PORT", "9000")
	t.Setenv("MICTL_TEST_UNSET_PORT", "")
	os.Unsetenv("MICTL_TEST_UNSET_PORT")
	unknown := "note: mi-1: inbound endpoint env_1.0.0/Unknown listens on inbound.ws.port = $SYSTEM:MICTL_TEST_UNSET_PORT, a port MI resolves at run time"
	for _, tc := range []struct {
		args  []string
		files map[string][]string
		noted []string // the listeners runtime_ports lists
	}{
		{[]string{"compose", "--out", "compose.yaml"}, map[string][]string{"compose.yaml": {
			"- target: 9000\n        published: \"9000\"\n", fmt.Sprintf("- target: %d\n        published: \"%[1]d\"\n", 9100+off)}},
			[]string{"env_1.0.0/Unknown"}},
		{[]string{"kubernetes", "--out", "k8s"}, map[string][]string{
			filepath.Join("k8s", "deployment-mi.yaml"): {"- name: in-9000\n              containerPort: 9000\n", "- name: in-9110\n              containerPort: 9110\n"},
			filepath.Join("k8s", "service-mi.yaml"):    {"- name: in-9000\n      protocol: TCP\n      port: 9000\n", "- name: in-9110\n      protocol: TCP\n      port: 9110\n"}},
			[]string{"env_1.0.0/Unknown"}},
		{[]string{"systemd", "--user", "--out", "units"}, map[string][]string{
			filepath.Join("units", "mictl-mi@mi-1.service.d", "10-mictl.conf"): {fmt.Sprintf("inbound env_1.0.0/OrdersEnv 9000, inbound fil_1.0.0/OrdersFile %d.", 9100+off)}},
			[]string{"env_1.0.0/OrdersEnv", "env_1.0.0/Unknown", "fil_1.0.0/OrdersFile"}},
	} {
		code, out, errOut := runExport(t, append([]string{"export"}, append(tc.args, "-o", "json")...)...)
		if code != exitcode.OK {
			t.Fatalf("export %s: exit %d: %s", tc.args[0], code, errOut)
		}
		for file, wants := range tc.files {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range wants {
				if !strings.Contains(string(data), want) {
					t.Errorf("export %s: %s lacks %q:\n%s", tc.args[0], file, want, data)
				}
			}
		}
		var r struct {
			RunTime []struct{ Listener string } `json:"runtime_ports"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("export %s -o json: %v\n%s", tc.args[0], err, out)
		}
		var noted []string
		for _, p := range r.RunTime {
			noted = append(noted, p.Listener)
		}
		if !slices.Equal(noted, tc.noted) || strings.Count(errOut, "a port MI resolves at run time") != len(tc.noted) || !strings.Contains(errOut, unknown) {
			t.Errorf("export %s: runtime_ports %q, want %q; stderr:\n%s", tc.args[0], noted, tc.noted, errOut)
		}
	}
}

// A run-time port the export knows gets the clash checks of one written
// in the CApp: two instances whose WebSocket endpoint binds one
// $SYSTEM:ORDERS_PORT (MI adds no offset) cannot publish it twice on one
// host, so Compose refuses them, as it refuses a plan that clashes, and
// writes nothing; nor can they both bind it under systemd, whose units
// run on one host too; their pods each have their own address. A pod whose
// endpoint's port is its own HTTP port cannot open both: Kubernetes
// refuses that.
func TestExportsCheckTheRunTimePortsTheyPublish(t *testing.T) {
	dir := inTempDir(t)
	writeCar(t, dir, "build/env_1.0.0.car", capp.Spec{Name: "env", Inbounds: []capp.InboundSpec{{Name: "OrdersEnv", Protocol: "ws", Placeholder: "$SYSTEM:ORDERS_PORT"}}})
	writeFile(t, filepath.Join(dir, "mictl.toml"), fmt.Sprintf("instances = 2\nbase_offset = %d\ncapps = [\"build/env_1.0.0.car\"]\n", testports.Base(t, testports.Other, 2)))
	t.Setenv("ORDERS_PORT", "9000")
	before := listTree(t, dir)
	code, _, errOut := runExport(t, "export", "compose", "--out", "compose.yaml")
	if code != exitcode.Conflicts || !strings.Contains(errOut, "refusing to export the Compose file, nothing was written: the instances' own ports clash") ||
		!strings.Contains(errOut, "mi-1 inbound env_1.0.0/OrdersEnv port 9000 ↔ mi-2 inbound env_1.0.0/OrdersEnv port 9000") ||
		!strings.Contains(errOut, "mictl check-conflicts does not check them: MI resolves them at run time") {
		t.Errorf("export compose: exit %d, stderr:\n%s\nwant exit 1 naming the clash on 9000", code, errOut)
	}
	code, _, errOut = runExport(t, "export", "systemd", "--out", "systemd")
	if code != exitcode.Conflicts || !strings.Contains(errOut, "refusing to export the systemd units, nothing was written: the instances' own ports clash") ||
		!strings.Contains(errOut, "mi-1 inbound env_1.0.0/OrdersEnv port 9000 ↔ mi-2 inbound env_1.0.0/OrdersEnv port 9000") {
		t.Errorf("export systemd: exit %d, stderr:\n%s\nwant exit 1 naming the clash on 9000", code, errOut)
	}
	if after := listTree(t, dir); after != before {
		t.Errorf("export compose or systemd wrote files:\nbefore %s\nafter  %s", before, after)
	}
	if code, _, errOut := runExport(t, "export", "kubernetes", "--out", "k8s"); code != exitcode.OK {
		t.Errorf("export kubernetes: exit %d: %s", code, errOut)
	}
	t.Setenv("ORDERS_PORT", "8290")
	code, _, errOut = runExport(t, "export", "kubernetes", "--out", "k8s")
	if want := "inbound env_1.0.0/OrdersEnv listens on 8290 in a pod (MI's default offset 10), as does http: MI cannot open both"; code != exitcode.Usage || !strings.Contains(errOut, want) {
		t.Errorf("export kubernetes: exit %d, stderr:\n%s\nwant exit 2 and %q", code, errOut, want)
	}
}
