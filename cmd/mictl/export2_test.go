package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/testports"
)

// `mictl up` under one JAVA_HOME, `mictl export` from a shell with
// another: the units carry the JAVA_HOME the servers run with, and say so;
// the Compose services and the pods carry none, since a container has its
// own, the image's, and their notes said all the same that "the export
// carries ... JAVA_HOME=...". Each now says what its engine carries.
func TestExportNotesSayWhatEachEngineCarries(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"JAVA_HOME=/some/jdk"}
	d.up(1)
	d.env = []string{"JAVA_HOME=/other/jdk"} // another shell
	containers := "note: the export carries the JVM settings mi-1 was started with (recorded by mictl up), the same as this shell's, " +
		"and neither theirs nor this shell's JAVA_HOME=/some/jdk (this shell: /other/jdk), since a container has its own JAVA_HOME, the image's\n"
	for _, tc := range []struct {
		args       []string
		note, file string
		carries    bool
	}{
		{[]string{"compose", "--out", "compose.yaml"}, containers, "compose.yaml", false},
		{[]string{"kubernetes", "--out", "k8s"}, containers, "k8s/deployment-mi.yaml", false},
		{[]string{"systemd", "--user", "--out", "units"}, "note: the export carries the environment mi-1 was started with (recorded by mictl up), not this shell's: " +
			"JAVA_HOME=/some/jdk (this shell: /other/jdk); to export other settings, start the instances with them (mictl down, then mictl up in a shell that sets them) and export again\n",
			"units/mictl-mi@mi-1.service.d/10-mictl.conf", true},
	} {
		code, _, stderr := d.mictl(append([]string{"export"}, tc.args...)...)
		if code != 0 || !strings.Contains(stderr, tc.note) {
			t.Errorf("export %s: exit %d, stderr lacks the note %q:\n%s", tc.args[0], code, tc.note, stderr)
		}
		if got := d.readExport(tc.file); strings.Contains(got, "/some/jdk") != tc.carries {
			t.Errorf("export %s: %s carries JAVA_HOME /some/jdk: %v, want %v:\n%s", tc.args[0], tc.file, !tc.carries, tc.carries, got)
		}
	}
}

// The variable a running server's $SYSTEM: inbound port reads, which every
// export carries as that server has it, makes the port known: Compose
// publishes it and the pods and their Service expose it, and no note
// calls it one the export cannot expose.
func TestExportPublishesTheRunTimePortOfARunningServer(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	port := d.runningWithRunTimePort("MICTL_E2E_EXPORT2_PORT")
	for _, tc := range []struct {
		args []string
		file string
		want []string
	}{
		{[]string{"compose", "--out", "compose.yaml"}, "compose.yaml", []string{fmt.Sprintf("- target: %d\n        published: \"%[1]d\"\n", port)}},
		{[]string{"kubernetes", "--out", "k8s"}, "k8s/deployment-mi.yaml", []string{fmt.Sprintf("- name: in-%d\n              containerPort: %[1]d\n", port)}},
		{[]string{"kubernetes", "--out", "k8s"}, "k8s/service-mi.yaml", []string{fmt.Sprintf("- name: in-%d\n      protocol: TCP\n      port: %[1]d\n", port)}},
	} {
		code, _, stderr := d.mictl(append([]string{"export"}, tc.args...)...)
		if code != 0 || strings.Contains(stderr, "resolves at run time") {
			t.Errorf("export %s: exit %d, stderr notes the port:\n%s", tc.args[0], code, stderr)
		}
		got := d.readExport(tc.file)
		for _, want := range tc.want {
			if !strings.Contains(got, want) {
				t.Errorf("export %s: %s lacks %q:\n%s", tc.args[0], tc.file, want, got)
			}
		}
	}
}

// runningWithRunTimePort runs one instance whose server got name, a free
// port, from the shell of the up that started it, and deploys a CApp
// whose inbound endpoint takes its port from $SYSTEM:name; the next
// commands run from another shell, without name. It returns the port.
func (d *deployment) runningWithRunTimePort(name string) int {
	d.t.Helper()
	port := testports.FreePort(d.t)
	d.env = []string{fmt.Sprintf("%s=%d", name, port)}
	d.up(1)
	// A WebSocket endpoint: MI binds its port as written, with no offset.
	car := d.car("env_1.0.0.car", capp.Spec{Name: "env", Inbounds: []capp.InboundSpec{{Name: "OrdersEnv", Protocol: "ws", Placeholder: "$SYSTEM:" + name}}})
	d.must("deploy", car, "--wait", "--timeout", "20s")
	d.env = nil
	return port
}
