package export_test

import (
	"slices"
	"testing"

	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/export/exporttest"
	"github.com/mictl/mictl/pkg/state"
)

// Compose and Kubernetes carry the JVM settings alone: their notes said
// "the export carries ... JAVA_HOME=..., MICTL_SIM_STARTUP_DELAY=0" of
// the environment an instance ran with, which neither writes. Each note
// now says what the export's engine carries, and names apart, with why,
// the variables that differ which it carries neither way; systemd's
// units carry them all.
func TestEnvNotesSayWhatTheEngineCarries(t *testing.T) {
	dir := t.TempDir()
	shell := []string{"JAVA_HOME=/opt/other", "JAVA_OPTS=-Xmx1g"}
	target := exporttest.Target(t, dir, exporttest.Case{Name: "env", TOML: "instances = 2\n", Env: shell, Offsets: []int{10, 11}})
	current := &state.File{Version: state.SchemaVersion, Instances: []state.Instance{
		// Ran with other JVM settings, and with the simulator's switch.
		{Name: "mi-1", Offset: 10, State: state.StateReady, Env: []string{"JAVA_HOME=/opt/jdk21", "JAVA_OPTS=-Xmx2g", "MICTL_SIM_STARTUP_DELAY=0"}},
		// Ran with the same JVM settings.
		{Name: "mi-2", Offset: 11, State: state.StateReady, Env: []string{"JAVA_HOME=/opt/jdk21", "JAVA_OPTS=-Xmx1g"}},
	}}
	in, err := export.FromTarget(target, export.Options{Current: current})
	if err != nil {
		t.Fatal(err)
	}
	again := "; to export other settings, start the instances with them (mictl down, then mictl up in a shell that sets them) and export again"
	for _, tc := range []struct {
		engine  string
		c       export.Carriage
		want    []string
		carried [][]bool
	}{
		{"systemd", export.EveryCaptured, []string{
			"the export carries the environment mi-1 was started with (recorded by mictl up), not this shell's: " +
				"JAVA_HOME=/opt/jdk21 (this shell: /opt/other), JAVA_OPTS=-Xmx2g (this shell: -Xmx1g), MICTL_SIM_STARTUP_DELAY=0 (this shell: unset)" + again,
			"the export carries the environment mi-2 was started with (recorded by mictl up), not this shell's: JAVA_HOME=/opt/jdk21 (this shell: /opt/other)" + again,
		}, [][]bool{{true, true, true}, {true}}},
		{"compose", export.JVMSettings, []string{
			"the export carries the JVM settings mi-1 was started with (recorded by mictl up), not this shell's: JAVA_OPTS=-Xmx2g (this shell: -Xmx1g); " +
				"it carries neither theirs nor this shell's JAVA_HOME=/opt/jdk21 (this shell: /opt/other), MICTL_SIM_STARTUP_DELAY=0 (this shell: unset), " +
				"since a container has its own JAVA_HOME, the image's, and the MICTL_SIM_ switches are the built-in simulator's, which the image does not run" + again,
			"the export carries the JVM settings mi-2 was started with (recorded by mictl up), the same as this shell's, " +
				"and neither theirs nor this shell's JAVA_HOME=/opt/jdk21 (this shell: /opt/other), since a container has its own JAVA_HOME, the image's",
		}, [][]bool{{false, true, false}, {false}}},
	} {
		notes := in.EnvNotes(tc.c)
		var got []string
		var carried [][]bool
		for _, n := range notes {
			got = append(got, n.Message)
			var c []bool
			for _, v := range n.Variables {
				c = append(c, v.Carried)
			}
			carried = append(carried, c)
		}
		if !slices.Equal(got, tc.want) || !slices.EqualFunc(carried, tc.carried, slices.Equal) {
			t.Errorf("%s: notes\n%q\ncarried %v; want\n%q\ncarried %v", tc.engine, got, carried, tc.want, tc.carried)
		}
	}
}

// So for the instances that no longer run, which the export gives this
// shell's environment: a container carries neither its JAVA_HOME nor
// their last run's.
func TestLastRunNotesSayWhatTheEngineCarries(t *testing.T) {
	dir := t.TempDir()
	target := exporttest.Target(t, dir, exporttest.Case{Name: "env", TOML: "instances = 1\n", Env: []string{"JAVA_HOME=/opt/other"}, Offsets: []int{10}})
	current := &state.File{Version: state.SchemaVersion, Instances: []state.Instance{
		{Name: "mi-1", Offset: 10, State: state.StateStopped, Env: []string{"JAVA_HOME=/opt/jdk21", "nodeId=mi-1"}},
	}}
	in, err := export.FromTarget(target, export.Options{Current: current})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    export.Carriage
		want string
	}{
		{export.EveryCaptured, "mi-1 is not running: the export gives it this shell's environment, as the next mictl up would, not its last run's (recorded by mictl up): " +
			"JAVA_HOME=/opt/other (last run: /opt/jdk21); to export them, set them in this shell and export again"},
		{export.JVMSettings, "mi-1 is not running: the export gives it this shell's JVM settings, as the next mictl up would, the same as its last run's (recorded by mictl up), " +
			"and neither this shell's nor the last run's JAVA_HOME=/opt/other (last run: /opt/jdk21), since a container has its own JAVA_HOME, the image's"},
	} {
		notes := in.LastRunNotes(tc.c)
		if len(notes) != 1 || notes[0].Message != tc.want || notes[0].Variables[0].Carried != (tc.c.What == "environment") {
			t.Errorf("%s: notes %+v, want %q", tc.c.What, notes, tc.want)
		}
	}
}
