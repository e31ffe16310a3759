package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readExport reads a file an export wrote in the deployment's directory.
func (d *deployment) readExport(rel string) string {
	d.t.Helper()
	data, err := os.ReadFile(filepath.Join(d.dir, rel))
	if err != nil {
		d.t.Fatal(err)
	}
	return string(data)
}

// The instances run with the JVM settings the `mictl up` that started
// them captured (mictl.toml has none), kept in their records: an export
// from a shell without them describes those servers, not the shell, and
// says so.
func TestExportCarriesTheEnvironmentTheInstancesRunWith(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"JAVA_HOME=/opt/jdk21", "JAVA_OPTS=-Dfoo=bar -Xmx2g", "JVM_MEM_OPTS=-Xms256m -Xmx2048m"}
	d.up(2)
	d.env = []string{"JAVA_HOME=/opt/other", "JAVA_OPTS=", "JVM_MEM_OPTS="} // another shell
	jvm := `JAVA_OPTS="-Dfoo=bar -Xmx2g" (this shell: ""), JVM_MEM_OPTS="-Xms256m -Xmx2048m" (this shell: "")`
	again := "; to export other settings, start the instances with them (mictl down, then mictl up in a shell that sets them) and export again\n"
	// systemd carries the whole environment; a container has its own
	// JAVA_HOME, the image's.
	inUnits := "note: the export carries the environment mi-1 and mi-2 were started with (recorded by mictl up), not this shell's: " +
		"JAVA_HOME=/opt/jdk21 (this shell: /opt/other), " + jvm + again
	inContainers := "note: the export carries the JVM settings mi-1 and mi-2 were started with (recorded by mictl up), not this shell's: " + jvm +
		"; it carries neither theirs nor this shell's JAVA_HOME=/opt/jdk21 (this shell: /opt/other), since a container has its own JAVA_HOME, the image's" + again
	for _, tc := range []struct {
		args []string
		note string
		file string
		want []string
	}{
		// The memory limit holds the 2 GB heap that runs (2048Mi + 512Mi).
		{[]string{"kubernetes", "--out", "k8s"}, inContainers, "k8s/deployment-mi.yaml",
			[]string{"memory: 2560Mi", "value: -Xms256m -Xmx2048m\n", "name: JAVA_OPTS\n              value: -Dfoo=bar -Xmx2g\n"}},
		{[]string{"systemd", "--user", "--out", "units"}, inUnits, "units/mictl-mi@mi-2.service.d/10-mictl.conf",
			[]string{"Environment=JAVA_HOME=/opt/jdk21\n", `Environment="JAVA_OPTS=-Dfoo=bar -Xmx2g"` + "\n", `Environment="JVM_MEM_OPTS=-Xms256m -Xmx2048m"` + "\n"}},
		{[]string{"compose", "--out", "compose.yaml"}, inContainers, "compose.yaml",
			[]string{"JAVA_OPTS: -Dfoo=bar -Xmx2g\n", "JVM_MEM_OPTS: -Xms256m -Xmx2048m\n"}},
	} {
		code, _, stderr := d.mictl(append([]string{"export"}, tc.args...)...)
		if code != 0 || !strings.Contains(stderr, tc.note) {
			t.Errorf("export %s: exit %d, stderr lacks the note %q:\n%s", tc.args[0], code, tc.note, stderr)
		}
		got := d.readExport(tc.file)
		for _, want := range tc.want {
			if !strings.Contains(got, want) {
				t.Errorf("export %s: %s lacks %q:\n%s", tc.args[0], tc.file, want, got)
			}
		}
	}
}

// A CApp whose inbound endpoint takes its port from $SYSTEM:NAME runs
// because its server got NAME from the shell of the up that started the
// daemon. An export from another shell, without NAME, carries it as that
// server has it: without it MI in the unit, the container or the pod
// fails the endpoint and lists the CApp as faulty.
func TestExportCarriesTheVariableAnInboundPortReads(t *testing.T) {
	t.Parallel()
	const name = "MICTL_E2E_EXPORT_PORT"
	d := newDeployment(t)
	port := d.runningWithRunTimePort(name)
	for _, tc := range []struct {
		args       []string
		file, want string
	}{
		{[]string{"systemd", "--user", "--out", "units"}, "units/mictl-mi@mi-1.service.d/10-mictl.conf", fmt.Sprintf("Environment=%s=%d\n", name, port)},
		{[]string{"compose", "--out", "compose.yaml"}, "compose.yaml", fmt.Sprintf("%s: \"%d\"\n", name, port)},
		{[]string{"kubernetes", "--out", "k8s"}, "k8s/deployment-mi.yaml", fmt.Sprintf("name: %s\n              value: \"%d\"\n", name, port)},
	} {
		if code, _, stderr := d.mictl(append([]string{"export"}, tc.args...)...); code != 0 {
			t.Fatalf("export %s: exit %d:\n%s", tc.args[0], code, stderr)
		}
		if got := d.readExport(tc.file); !strings.Contains(got, tc.want) {
			t.Errorf("export %s: %s lacks %q:\n%s", tc.args[0], tc.file, tc.want, got)
		}
	}
}

// An operator's distribution that ships a CApp in its carbonapps/ runs it
// on every instance: Compose and Kubernetes, whose image lacks it, carry
// it as a declared one (the port its endpoint opens is published) and say
// so; systemd runs the homes, which have it.
func TestExportCarriesTheCAppsTheDistributionShips(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "dist")
	shipped := filepath.Join("dist", "repository", "deployment", "server", "carbonapps", "inb_1.0.0.car")
	d.must("sim", "capp", shipped, "--name", "inb", "--api", "/inb", "--inbound-http", "7070")
	d.configFile("inplace", fmt.Sprintf("instances = 3\nbase_offset = %d\nmi_home = \"dist\"\n", d.base))
	from := "the CApps the distribution ships in " + filepath.Dir(shipped) + ", which every instance runs: inb_1.0.0.car"
	car := d.readExport(shipped)

	code, _, stderr := d.mictl("export", "compose", "--out", "ex/compose.yaml")
	if want := "note: carried " + from + " (each mounted into carbonapps/ from ex/compose-files/capps/, as a declared CApp)\n"; code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("export compose: exit %d, stderr lacks %q:\n%s", code, want, stderr)
	}
	compose := d.readExport("ex/compose.yaml")
	mounts := regexp.MustCompile(`source: \./(compose-files/capps/[0-9a-f]+/inb_1\.0\.0\.car)\n +target: /home/wso2carbon/wso2mi-4\.4\.0/repository/deployment/server/carbonapps/inb_1\.0\.0\.car\n`).FindAllStringSubmatch(compose, -1)
	if len(mounts) != 3 {
		t.Fatalf("compose.yaml mounts inb_1.0.0.car into %d services, want 3:\n%s", len(mounts), compose)
	}
	if got := d.readExport(filepath.Join("ex", mounts[0][1])); got != car {
		t.Errorf("the mounted %s is not the shipped CApp", mounts[0][1])
	}

	code, _, stderr = d.mictl("export", "kubernetes", "--out", "k8s")
	if want := "note: carried " + from + " (each a ConfigMap mounted into carbonapps/, as a declared CApp)\n"; code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("export kubernetes: exit %d, stderr lacks %q:\n%s", code, want, stderr)
	}
	deployment := d.readExport("k8s/deployment-mi.yaml")
	for _, want := range []string{"name: in-7080\n", "mountPath: /home/wso2carbon/wso2mi-4.4.0/repository/deployment/server/carbonapps/inb_1.0.0.car\n"} {
		if !strings.Contains(deployment, want) {
			t.Errorf("the Deployment lacks %q:\n%s", want, deployment)
		}
	}
	if cms, _ := filepath.Glob(filepath.Join(d.dir, "k8s", "configmap-capp-inb-1-0-0-*.yaml")); len(cms) != 1 {
		t.Errorf("ConfigMaps of inb_1.0.0.car: %v, want one", cms)
	}

	code, _, stderr = d.mictl("export", "kubernetes", "--out", "k8s", "--capps-in-image", "--image", "registry.example.com/mi:4.4.0-inb", "--carbon-home", "/home/wso2carbon/wso2mi-4.4.0")
	if want := "note: left out " + from + " (--capps-in-image: the image has them)\n"; code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("export kubernetes --capps-in-image: exit %d, stderr lacks %q:\n%s", code, want, stderr)
	}
	if cms, _ := filepath.Glob(filepath.Join(d.dir, "k8s", "configmap-*.yaml")); len(cms) != 0 {
		t.Errorf("--capps-in-image wrote ConfigMaps %v", cms)
	}

	// The homes systemd runs are clones of the distribution: nothing to
	// carry, and nothing said of it.
	code, _, stderr = d.mictl("export", "systemd", "--user", "--out", "units")
	if code != 0 || strings.Contains(stderr, "inb_1.0.0.car") {
		t.Errorf("export systemd: exit %d, stderr:\n%s", code, stderr)
	}
}

// An inbound endpoint the operator's distribution keeps as a synapse
// file runs on every instance too: Compose and Kubernetes carry the file
// (MI's image lacks it) beside the port it opens, and say so.
func TestExportCarriesTheInboundEndpointsTheDistributionKeeps(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "dist")
	dir := filepath.Join("dist", "repository", "deployment", "server", "synapse-configs", "default", "inbound-endpoints")
	xml := `<inboundEndpoint xmlns="http://ws.apache.org/ns/synapse" name="LegacyIn" protocol="http" sequence="main">
  <parameters><parameter name="inbound.http.port">7075</parameter></parameters>
</inboundEndpoint>
`
	if err := os.MkdirAll(filepath.Join(d.dir, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, dir, "LegacyIn.xml"), []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	d.configFile("inplace", fmt.Sprintf("instances = 2\nbase_offset = %d\nmi_home = \"dist\"\n", d.base))
	from := "the inbound endpoints the distribution keeps as synapse files in " + dir + ", which every instance deploys: LegacyIn.xml"
	target := "target: /home/wso2carbon/wso2mi-4.4.0/repository/deployment/server/synapse-configs/default/inbound-endpoints/LegacyIn.xml\n"

	code, _, stderr := d.mictl("export", "compose", "--out", "ex/compose.yaml")
	if want := "note: carried " + from + " (each mounted into their directory from ex/compose-files/inbound-endpoints/)\n"; code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("export compose: exit %d, stderr lacks %q:\n%s", code, want, stderr)
	}
	if compose := d.readExport("ex/compose.yaml"); strings.Count(compose, target) != 2 || d.readExport("ex/compose-files/inbound-endpoints/LegacyIn.xml") != xml {
		t.Errorf("compose.yaml does not mount LegacyIn.xml, as the distribution keeps it, into both services:\n%s", compose)
	}

	code, _, stderr = d.mictl("export", "kubernetes", "--out", "k8s")
	if want := "note: carried " + from + " (one ConfigMap, each file mounted into their directory)\n"; code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("export kubernetes: exit %d, stderr lacks %q:\n%s", code, want, stderr)
	}
	deployment := d.readExport("k8s/deployment-mi.yaml")
	for _, want := range []string{"name: in-7085\n", "mountPath: /home/wso2carbon/wso2mi-4.4.0/repository/deployment/server/synapse-configs/default/inbound-endpoints/LegacyIn.xml\n"} {
		if !strings.Contains(deployment, want) {
			t.Errorf("the Deployment lacks %q:\n%s", want, deployment)
		}
	}
	if cms, _ := filepath.Glob(filepath.Join(d.dir, "k8s", "configmap-inbound-endpoints-*.yaml")); len(cms) != 1 {
		t.Errorf("ConfigMaps of the inbound endpoints: %v, want one", cms)
	}
}

// An export of what runs, planned from mictl.toml alone, is told where
// the last up's flags planned otherwise: after up --offset-method flag,
// the units carried no -DportOffset while the homes held MI's own offset,
// and started every instance on the distribution's ports.
func TestExportSaysWhereTheLastUpPlannedOtherwise(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2, "--offset-method", "flag")
	code, _, stderr := d.mictl("export", "systemd", "--user", "--out", "units")
	want := `note: the instances run with --offset-method=flag (the last mictl up's), where this plans offset_method = "toml" (default offset_method): add --offset-method=flag for what runs` + "\n"
	if code != 0 || !strings.Contains(stderr, want) || strings.Contains(stderr, "--instances=2") {
		// The plan has both running instances at their offsets already.
		t.Errorf("export systemd: exit %d, stderr lacks %q, or names --instances:\n%s", code, want, stderr)
	}
	code, _, stderr = d.mictl("export", "systemd", "--user", "--out", "units", "--instances=2", "--offset-method=flag", fmt.Sprintf("--base-offset=%d", d.base))
	if code != 0 || strings.Contains(stderr, "the last mictl up's") {
		t.Errorf("export systemd with the up's flags: exit %d, stderr:\n%s", code, stderr)
	}
}
