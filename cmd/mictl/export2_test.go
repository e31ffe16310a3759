package main

import (
	"strings"
	"testing"
)

// `mictl up` under one JAVA_HOME, `mictl export` from a shell with
// another: the units carry the JAVA_HOME the servers run with, and say so;
// the Compose services and the pods carry none, since a container has its
// own, the image's, and their notes said all the same that "the export
// carries ... JAVA_HOME=...". Each now says what its engine carries.
func TestExportNotesSayWhatEachEngineCarries(t *testing.T) {
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
