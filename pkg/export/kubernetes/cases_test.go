package kubernetes

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/export/exporttest"
)

// exportCase is a configuration and the export options it is tried with.
// Every case is decoded strictly here and sent to a real API server in
// apiserver_test.go.
type exportCase struct {
	exporttest.Case
	opts Options
	// serverSide: a ConfigMap too large for a client-side kubectl apply.
	serverSide bool
}

var cases = []exportCase{
	{Case: exporttest.Case{Name: "one-instance", TOML: "instances = 1\n"}},
	{Case: exporttest.Case{Name: "replicas-and-overrides", TOML: `instances = 3
[[instance]]
name = "mi-2"
overrides = { "server.hostname" = "mi-2.example.com", "transport.http.listener.port" = 8300 }
`, Env: []string{"JAVA_HOME=/usr/lib/jvm/java-21", "JAVA_OPTS=-Dfoo=bar -Dlang=$LANG -Dhome=$(HOME)", "MICTL_SIM_STARTUP_DELAY=0"}}},
	{Case: exporttest.Case{Name: "flag-method-capps", TOML: `instances = 2
offset_method = "flag"
[[instance]]
name = "edge"
overrides = { "server.hostname" = "edge.example.com" }
`, CApps: map[string][]int{"*": {4096}, "edge": {200_000}}},
		opts: Options{Namespace: "integration", Image: "registry.example.com:5000/team/wso2mi:4.4.0-capps", CarbonHome: export.DefaultCarbonHome}, serverSide: true},
	// Just under what a client-side kubectl apply takes: no --server-side.
	{Case: exporttest.Case{Name: "capp-under-client-side-limit", TOML: "instances = 1\n", CApps: map[string][]int{"mi-1": {185_000}}}},
	{Case: exporttest.Case{Name: "capp-at-the-limit", TOML: "instances = 2\n", CApps: map[string][]int{"*": {maxConfigMapData}}},
		opts: Options{Image: "wso2/wso2mi@sha256:" + strings.Repeat("ab", 32), CarbonHome: "/opt/wso2mi"}, serverSide: true},
	// CApps of its own, no overrides: a Deployment of its own, not a
	// second one named after name_prefix.
	{Case: exporttest.Case{Name: "instance-capps", TOML: `instances = 2
[[instance]]
name = "mi-2"
capps = ["orders.car"]
`, Files: map[string]int{"orders.car": 2048}}},
	// Inbound endpoints (exporttest.InboundCApps), in the pods at offset
	// 10: HTTP's 8085 and a WebSocket endpoint's 8098 shifted to 8095 and
	// 8108, another WebSocket endpoint's 8097 as written.
	{Case: exporttest.Case{Name: "inbound-endpoints", TOML: `instances = 3
capps = ["orders.car"]
[[instance]]
name = "mi-3"
capps = ["feed.car"]
`, Built: exporttest.InboundCApps}},
	// The longest instance name: 63 characters, a Service's and a
	// label's limit; its Secret's name, 79, is a DNS subdomain's.
	{Case: exporttest.Case{Name: "longest-name", TOML: "instances = 1\n[[instance]]\nname = \"" + longestName +
		"\"\noverrides = { \"server.hostname\" = \"long.example.com\" }\n"}},
	// A heap of its own: the memory limit holds it (memoryLimit).
	{Case: exporttest.Case{Name: "heap", TOML: "instances = 1\n", Env: []string{"JVM_MEM_OPTS=-Xms1g -Xmx2g"}}},
	// Prometheus metrics: the MetricHandler in deployment.toml and
	// -DenablePrometheusApi=true, without the host's -DportOffset.
	{Case: exporttest.Case{Name: "metrics", TOML: "instances = 2\nmetrics = true\noffset_method = \"flag\"\n"}},
	// A distribution that ships a CApp (exporttest.ShippedCApps, an HTTP
	// endpoint on 7070) and keeps an inbound endpoint as a synapse file
	// (exporttest.ShippedInbounds, on 7075) runs both on every instance,
	// mi-2 beside its own CApp.
	{Case: exporttest.Case{Name: "shipped-capps", TOML: `instances = 2
[[instance]]
name = "mi-2"
capps = ["orders.car"]
`, Built: exporttest.InboundCApps, Shipped: exporttest.ShippedCApps, Inbounds: exporttest.ShippedInbounds}},
	// A $FILE: port (exporttest.FileCApps) read from conf/file.properties:
	// mi-1 and mi-3 the distribution's (8185), mi-2 its home's own
	// (8186), so a Deployment of its own; each file in its Secret,
	// mounted into conf/, the port (8195, 8196 in a pod) exposed.
	{Case: exporttest.Case{Name: "file-properties", TOML: "instances = 3\ncapps = [\"fil.car\"]\n",
		Built: exporttest.FileCApps, FileProperties: exporttest.FileProperties}},
	// Another MI version's image: MI's home is that version's.
	{Case: exporttest.Case{Name: "older-image", TOML: "instances = 1\ncapps = [\"orders.car\"]\n", Files: map[string]int{"orders.car": 2048}},
		opts: Options{Image: "wso2/wso2mi:4.3.0"}},
	// name_prefix ends in '-', which a label value may not; every
	// instance has a Deployment of its own, named after it.
	{Case: exporttest.Case{Name: "prefix-ending-in-dash", TOML: "name_prefix = \"p-\"\ninstances = 1\n[[instance]]\nname = \"p--1\"\ncapps = [\"orders.car\"]\n",
		Files: map[string]int{"orders.car": 2048}}},
	// Dollars the kubelet would read: $$, $(VAR) of a variable the pod
	// defines, a $ at the end.
	{Case: exporttest.Case{Name: "dollars-in-env", TOML: "instances = 1\n",
		Env: []string{"JAVA_OPTS=-Dtag=ab$$cd -Dnode=$(nodeId) -Dend=$", "JVM_MEM_OPTS=-Xms512m -Xmx1g -Dm=$$"}}},
	// A JVM setting holding a keystore's password (dollars in it too),
	// beside one holding none.
	{Case: exporttest.Case{Name: "secret-in-env", TOML: "instances = 2\n",
		Env: []string{"JAVA_OPTS=-Djavax.net.ssl.keyStorePassword=s3$$cr$(nodeId)t -Dx=1", "JAVA_TOOL_OPTIONS=-Dplain=$$1"}}},
}

var longestName = "long-" + strings.Repeat("n", maxGroupName-len("long-"))

// objects decodes every object of an export strictly (an unknown or
// misspelt field is an error) into the k8s.io/api types, by kind.
type objects struct {
	kustomization kustomization
	configMaps    map[string]*corev1.ConfigMap
	secrets       map[string]*corev1.Secret
	deployments   map[string]*appsv1.Deployment
	services      map[string]*corev1.Service
}

func decode(t *testing.T, files []export.File) objects {
	t.Helper()
	objs := objects{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{}}
	var listed []string
	paths := map[string]bool{}
	for _, f := range files {
		if paths[f.Path] {
			t.Errorf("two files named %s", f.Path)
		}
		paths[f.Path] = true
		var head struct{ Kind string }
		if err := yaml.Unmarshal(f.Data, &head); err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		var obj any
		var name func() string
		switch head.Kind {
		case "Kustomization":
			obj = &objs.kustomization
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			obj, name = cm, func() string { objs.configMaps[cm.Name] = cm; return cm.Name }
		case "Secret":
			s := &corev1.Secret{}
			obj, name = s, func() string { objs.secrets[s.Name] = s; return s.Name }
		case "Deployment":
			d := &appsv1.Deployment{}
			obj, name = d, func() string { objs.deployments[d.Name] = d; return d.Name }
		case "Service":
			s := &corev1.Service{}
			obj, name = s, func() string { objs.services[s.Name] = s; return s.Name }
		default:
			t.Fatalf("%s: unexpected kind %q", f.Path, head.Kind)
		}
		if err := yaml.UnmarshalStrict(f.Data, obj); err != nil {
			t.Fatalf("%s does not decode strictly as a %s: %v", f.Path, head.Kind, err)
		}
		if name != nil {
			if want := strings.ToLower(head.Kind) + "-" + name() + ".yaml"; f.Path != want {
				t.Errorf("%s holds %s", f.Path, want)
			}
			listed = append(listed, f.Path)
		}
	}
	if !slices.Equal(objs.kustomization.Resources, listed) {
		t.Errorf("kustomization lists %v, the export has %v", objs.kustomization.Resources, listed)
	}
	return objs
}

// caseNamed is the case of that name.
func caseNamed(t *testing.T, name string) exportCase {
	t.Helper()
	for _, c := range cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no case named %s", name)
	return exportCase{}
}

func exportCaseFiles(t *testing.T, c exportCase) (*export.Input, []export.File) {
	t.Helper()
	in := exporttest.Input(t, t.TempDir(), c.Case)
	files, err := Export(in, c.opts)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return in, files
}

// deploymentTOML is the deployment.toml the Deployment name mounts.
func (o objects) deploymentTOML(name string) string {
	if s := o.secrets[name+"-deployment-toml"]; s != nil {
		return string(s.Data["deployment.toml"])
	}
	return ""
}

func fileNamed(files []export.File, path string) *export.File {
	for i := range files {
		if files[i].Path == path {
			return &files[i]
		}
	}
	return nil
}

func describe(files []export.File) string { return exporttest.Describe(files) }
