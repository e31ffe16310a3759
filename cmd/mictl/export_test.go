package main

import (
	"os"
	"path/filepath"
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
	d := newDeployment(t)
	d.env = []string{"JAVA_HOME=/opt/jdk21", "JAVA_OPTS=-Dfoo=bar -Xmx2g", "JVM_MEM_OPTS=-Xms256m -Xmx2048m"}
	d.up(2)
	d.env = []string{"JAVA_HOME=/opt/other", "JAVA_OPTS=", "JVM_MEM_OPTS="} // another shell
	note := "note: the export carries the environment mi-1 and mi-2 were started with (recorded by mictl up), not this shell's: " +
		`JAVA_HOME=/opt/jdk21 (this shell: /opt/other), JAVA_OPTS="-Dfoo=bar -Xmx2g" (this shell: ""), JVM_MEM_OPTS="-Xms256m -Xmx2048m" (this shell: ""); ` +
		"to export other settings, start the instances with them (mictl down, then mictl up in a shell that sets them) and export again\n"
	for _, tc := range []struct {
		args []string
		file string
		want []string
	}{
		// The memory limit holds the 2 GB heap that runs (2048Mi + 512Mi).
		{[]string{"kubernetes", "--out", "k8s"}, "k8s/deployment-mi.yaml",
			[]string{"memory: 2560Mi", "value: -Xms256m -Xmx2048m\n", "name: JAVA_OPTS\n              value: -Dfoo=bar -Xmx2g\n"}},
		{[]string{"systemd", "--user", "--out", "units"}, "units/mictl-mi@mi-2.service.d/10-mictl.conf",
			[]string{"Environment=JAVA_HOME=/opt/jdk21\n", `Environment="JAVA_OPTS=-Dfoo=bar -Xmx2g"` + "\n", `Environment="JVM_MEM_OPTS=-Xms256m -Xmx2048m"` + "\n"}},
		{[]string{"compose", "--out", "compose.yaml"}, "compose.yaml",
			[]string{"JAVA_OPTS: -Dfoo=bar -Xmx2g\n", "JVM_MEM_OPTS: -Xms256m -Xmx2048m\n"}},
	} {
		code, _, stderr := d.mictl(append([]string{"export"}, tc.args...)...)
		if code != 0 || !strings.Contains(stderr, note) {
			t.Errorf("export %s: exit %d, stderr lacks the note %q:\n%s", tc.args[0], code, note, stderr)
		}
		got := d.readExport(tc.file)
		for _, want := range tc.want {
			if !strings.Contains(got, want) {
				t.Errorf("export %s: %s lacks %q:\n%s", tc.args[0], tc.file, want, got)
			}
		}
	}
}
