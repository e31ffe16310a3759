package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/goldentest"
	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/testports"
)

// goldenDir is resolved before any test changes its working directory.
var goldenDir, _ = filepath.Abs(filepath.Join("..", "..", "testdata", "cli"))

// run executes mictl in-process in a fresh temporary working directory.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	streams, out, errOut := testStreams()
	code = Main(args, streams)
	return code, out.String(), errOut.String()
}

// inTempDir moves the test into an empty directory (no mictl.toml).
func inTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldentest.Check(t, filepath.Join(goldenDir, name), []byte(got))
}

// clashingOffsets returns offsets a and a+37 whose ports are the test's
// (testports.Base): no other test's, none listened on, so the only
// conflicts are the plan's own (docs/mi-facts.md "Ports": offset b's HTTPS
// port is offset a's HTTP port when b-a = 37).
func clashingOffsets(t *testing.T) (a, b int) {
	t.Helper()
	a = testports.Base(t, testports.Other, 38)
	return a, a + 37
}

// Each conflict names both parties, and a hint on stderr what moves each
// fixed offset out of the way, as a refused up gives it: check-conflicts
// named the parties alone, and left the operator to find where an offset
// came from and what to change.
func TestCheckConflictsCrossRoleClash(t *testing.T) {
	inTempDir(t)
	a, b := clashingOffsets(t)
	code, out, errOut := run(t, "check-conflicts", "--offsets", fmt.Sprintf("%d,%d", a, b))
	if code != exitcode.Conflicts {
		t.Fatalf("exit = %d, want 1; output:\n%s", code, out)
	}
	for _, want := range []string{
		fmt.Sprintf("conflict: mi-1 http port %d ↔ mi-2 https port %d (offset %d vs %d)", 8280+a, 8280+a, a, b),
		fmt.Sprintf("conflict: mi-1 internal_http port %d ↔ mi-2 management port %d (offset %d vs %d)", 9191+a, 9191+a, a, b),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		fmt.Sprintf("hint: mi-1 has offset %d from --offsets: give it a free one (mictl ports table --instances 2 --base-offset 10 shows what the planner would choose), or leave it out of --offsets\n", a),
		fmt.Sprintf("hint: mi-2 has offset %d from --offsets: give it a free one", b),
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// The issue's own example, whatever else this host runs on those ports.
func TestCheckConflicts10And47(t *testing.T) {
	inTempDir(t)
	code, out, _ := run(t, "check-conflicts", "--offsets", "10,47")
	if want := "conflict: mi-1 http port 8290 ↔ mi-2 https port 8290 (offset 10 vs 47)"; code != exitcode.Conflicts || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want 1 and %q:\n%s", code, want, out)
	}
}

// JAVA_OPTS pinning the JMX agent (docs/mi-facts.md, "Ports") gives every
// instance that one port, which the JVM does not offset: a clash of the
// plan, explained, not a BindException in the second server's log.
func TestCheckConflictsPinnedJMXPort(t *testing.T) {
	inTempDir(t)
	t.Setenv("JAVA_OPTS", "-Xms256m -D"+ports.JMXPortProperty+"=5999")
	code, out, _ := run(t, "check-conflicts", "--offsets", "10,20")
	want := "conflict: mi-1 jmx agent port 5999 ↔ mi-2 jmx agent port 5999 (offset 10 vs 20): -D" + ports.JMXPortProperty + " in the JVM options every instance gets (JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS, JVM_MEM_OPTS, JAVA_OPTS) pins MI's JMX agent to this port"
	if code != exitcode.Conflicts || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want 1 and %q:\n%s", code, want, out)
	}
}

// MI's mediation debugger and unit test server listen on their ports as
// given, with no offset (ServiceBusInitializer and UnitTestingExecutor
// open them as written): every instance started with the same JVM
// options binds them, a clash explained, not a second server's debugger
// failing. The hint names every variable the option may be in: it named
// JAVA_OPTS alone of an option set in JDK_JAVA_OPTIONS.
func TestCheckConflictsDebuggerAndUnitTestPorts(t *testing.T) {
	inTempDir(t)
	t.Setenv("JAVA_OPTS", "-DsynapseTest -DsynapseTestPort=9100")
	t.Setenv("JDK_JAVA_OPTIONS", "-Desb.debug=true")
	code, out, _ := run(t, "check-conflicts", "--offsets", "10,20")
	const where = "in the JVM options every instance gets (JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS, JVM_MEM_OPTS, JAVA_OPTS)"
	for _, want := range []string{
		"conflict: mi-1 debugger command port 9005 ↔ mi-2 debugger command port 9005 (offset 10 vs 20): -Desb.debug=true " + where + " turns on MI's mediation debugger",
		"conflict: mi-1 debugger event port 9006 ↔ mi-2 debugger event port 9006 (offset 10 vs 20)",
		"conflict: mi-1 unit_test server port 9100 ↔ mi-2 unit_test server port 9100 (offset 10 vs 20): -DsynapseTest " + where + " turns on MI's unit test server",
	} {
		if code != exitcode.Conflicts || !strings.Contains(out, want) {
			t.Errorf("exit %d, want 1 and %q:\n%s", code, want, out)
		}
	}
}

// A port the offset does not move, out of range, asks for the option
// that sets it, not for another offset, which changes nothing.
func TestCheckConflictsOfAPortTheOffsetDoesNotMove(t *testing.T) {
	inTempDir(t)
	t.Setenv("JAVA_OPTS", "-DsynapseTest -DsynapseTestPort=70000")
	code, out, _ := run(t, "check-conflicts", "--offsets", "10")
	want := "conflict: mi-1 unit_test server port 70000 is not a valid port number (1-65535); the offset does not move it: change -DsynapseTestPort in the JVM options every instance gets ("
	if code != exitcode.Conflicts || !strings.Contains(out, want) {
		t.Errorf("exit %d, want 1 and %q:\n%s", code, want, out)
	}
}

func TestCheckConflictsJSON(t *testing.T) {
	inTempDir(t)
	a, b := clashingOffsets(t)
	code, out, _ := run(t, "check-conflicts", "--offsets", fmt.Sprintf("%d,%d", a, b), "-o", "json")
	if code != exitcode.Conflicts {
		t.Fatalf("exit = %d", code)
	}
	var report struct {
		Conflicts []map[string]any `json:"conflicts"`
		Warnings  []map[string]any `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if report.Warnings == nil || len(report.Conflicts) == 0 {
		t.Fatalf("report = %s", out)
	}
	for _, key := range []string{"kind", "port", "instances", "holder", "holder_pid", "holder_process", "holder_instance", "message"} {
		if _, ok := report.Conflicts[0][key]; !ok {
			t.Errorf("conflict lacks key %q: %v", key, report.Conflicts[0])
		}
	}
	// Another test's server may hold one of these ports by now: look for
	// the plan conflict rather than assume it comes first.
	found := false
	for _, c := range report.Conflicts {
		found = found || c["kind"] == "plan" && c["port"] == float64(8280+a)
	}
	if !found {
		t.Errorf("no plan conflict on port %d: %s", 8280+a, out)
	}
}

// A server mictl did not start, running in an instance's home, is named
// in servers_in_homes with the keys every other holder has in every
// output (holder_pid, holder_process), not pid and process: a script reads
// who holds something under one name whichever list it comes from.
func TestServersInHomesSpellTheHolderAsEveryOutput(t *testing.T) {
	inTempDir(t)
	off := testports.Base(t, testports.Other, 1)
	dir := filepath.Join("instances", "mi-1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pid := fakeServer(t, dir)
	code, out, errOut := run(t, "check-conflicts", "--instances", "1", "--base-offset", fmt.Sprint(off), "-o", "json")
	if code != exitcode.Conflicts {
		t.Fatalf("exit %d, want 1:\n%s%s", code, out, errOut)
	}
	jsonschematest.Validate(t, "check-conflicts", []byte(out))
	var report struct {
		ServersInHomes []map[string]any `json:"servers_in_homes"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(report.ServersInHomes) != 1 {
		t.Fatalf("servers_in_homes = %v, want mi-1's server", report.ServersInHomes)
	}
	s := report.ServersInHomes[0]
	keys := slices.Sorted(maps.Keys(s))
	if want := []string{"holder_pid", "holder_process", "home", "instance", "message"}; !slices.Equal(keys, want) {
		t.Errorf("servers_in_homes keys = %v, want %v", keys, want)
	}
	if s["holder_pid"] != float64(pid) || s["holder_process"] != "sleep" {
		t.Errorf("servers_in_homes = %v, want holder_pid %d, holder_process sleep", s, pid)
	}
}

func TestForeignListenerIsPlannedAroundAndReported(t *testing.T) {
	inTempDir(t)
	off := testports.Base(t, testports.Other, 1)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 9154+off)) // the management port of offset off
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	code, out, errOut := run(t, "ports", "table", "--base-offset", fmt.Sprint(off), "-o", "json")
	if code != exitcode.OK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rows []portsRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if rows[0].Offset == off {
		t.Fatalf("planned onto the busy offset %d: %s", off, out)
	}

	code, out, _ = run(t, "check-conflicts", "--offsets", fmt.Sprint(off))
	want := fmt.Sprintf("mi-1 management port %d is held by pid %d", 9154+off, os.Getpid())
	if code != exitcode.Conflicts || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want 1 and %q in:\n%s", code, want, out)
	}
}

func TestPortsTableJSONShape(t *testing.T) {
	inTempDir(t)
	code, out, errOut := run(t, "ports", "table", "--instances", "5", "-o", "json")
	if code != exitcode.OK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 5 {
		t.Fatalf("rows = %d, %v\n%s", len(rows), err, out)
	}
	prev := -1
	for i, row := range rows {
		var name string
		var offset int
		var set map[string]int
		json.Unmarshal(row["name"], &name)
		json.Unmarshal(row["offset"], &offset)
		json.Unmarshal(row["ports"], &set)
		if name != fmt.Sprintf("mi-%d", i+1) || offset <= prev {
			t.Errorf("row %d: name %q offset %d", i, name, offset)
		}
		prev = offset
		want := map[string]int{"http": 8280 + offset, "https": 8243 + offset, "internal_http": 9191 + offset, "management": 9154 + offset}
		if fmt.Sprint(set) != fmt.Sprint(want) {
			t.Errorf("%s ports = %v, want %v", name, set, want)
		}
	}
}

func TestPortsTableGolden(t *testing.T) {
	inTempDir(t)
	for _, format := range []string{"table", "markdown", "json"} {
		// Offsets below testports' range: no test holds their ports.
		code, out, errOut := run(t, "ports", "table", "--offsets", "20,21,22", "-o", format)
		if code != exitcode.OK {
			t.Fatalf("%s: exit %d: %s", format, code, errOut)
		}
		golden(t, "ports-table."+format, out)
		if format == "table" {
			for _, line := range strings.Split(out, "\n") {
				if len(line) > 80 {
					t.Errorf("line wider than 80 columns: %q", line)
				}
			}
		}
	}
}

// ports table is a view (exit 0) that still says when its plan clashes.
func TestPortsTableSaysConflicts(t *testing.T) {
	inTempDir(t)
	code, out, errOut := run(t, "ports", "table", "--offsets", "20,20")
	if code != exitcode.OK || !strings.Contains(out, "conflict: mi-1 https port 8263 ↔ mi-2 https port 8263 (offset 20 vs 20)") ||
		!strings.Contains(out, "up refuses this plan") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// ports table -o json carries the conflicts its text prints, each row
// those that name its instance, spelled as check-conflicts -o json spells
// them; a clean plan has [] in every row.
func TestPortsTableJSONCarriesTheConflicts(t *testing.T) {
	inTempDir(t)
	a, b := clashingOffsets(t)
	both, held := fmt.Sprintf("%d,%d", a, b), fmt.Sprint(a)
	compare := func(offsets string, want int) {
		t.Helper()
		code, table, errOut := run(t, "ports", "table", "--offsets", offsets, "-o", "json")
		if code != exitcode.OK {
			t.Fatalf("--offsets %s: exit %d, want 0 (a view, not a check): %s", offsets, code, errOut)
		}
		var rows []struct {
			Name      string          `json:"name"`
			Conflicts json.RawMessage `json:"conflicts"`
		}
		if err := json.Unmarshal([]byte(table), &rows); err != nil {
			t.Fatal(err)
		}
		_, out, _ := run(t, "check-conflicts", "--offsets", offsets, "-o", "json")
		var checked struct {
			Conflicts []json.RawMessage `json:"conflicts"`
		}
		if err := json.Unmarshal([]byte(out), &checked); err != nil {
			t.Fatal(err)
		}
		if len(checked.Conflicts) != want {
			t.Fatalf("--offsets %s: check-conflicts found %d conflicts, want %d:\n%s", offsets, len(checked.Conflicts), want, out)
		}
		for _, row := range rows {
			if row.Conflicts == nil {
				t.Fatalf("--offsets %s: %s has no conflicts key:\n%s", offsets, row.Name, table)
			}
			mine := []json.RawMessage{}
			for _, c := range checked.Conflicts {
				var f struct {
					Instances []string `json:"instances"`
				}
				if err := json.Unmarshal(c, &f); err != nil {
					t.Fatal(err)
				}
				if slices.Contains(f.Instances, row.Name) {
					mine = append(mine, c)
				}
			}
			if wantJSON, _ := json.Marshal(mine); !jsonEqual(t, row.Conflicts, wantJSON) {
				t.Errorf("--offsets %s: %s's conflicts = %s, want check-conflicts' %s", offsets, row.Name, row.Conflicts, wantJSON)
			}
		}
	}
	compare(both, 2) // mi-1 http = mi-2 https, mi-1 internal_http = mi-2 management
	compare(held, 0)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 9154+a)) // a's management port
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	compare(held, 1)
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t *testing.T, x, y []byte) bool {
	t.Helper()
	var vx, vy any
	if err := json.Unmarshal(x, &vx); err != nil {
		t.Fatalf("%v: %s", err, x)
	}
	if err := json.Unmarshal(y, &vy); err != nil {
		t.Fatalf("%v: %s", err, y)
	}
	return reflect.DeepEqual(vx, vy)
}

// One rule for instance names in every command that takes one: status
// said no instance "Bad_Name" where logs said the name is invalid. Each
// says what a name must be (exit 2).
func TestEveryCommandRefusesAnInvalidNameAlike(t *testing.T) {
	dir := inTempDir(t)
	car := writeCar(t, dir, "a_1.0.0.car", capp.Spec{Name: "a", APIs: []capp.APISpec{{Context: "/a"}}})
	const want = `instance name "Bad_Name" must be 1-63 lowercase letters, digits or '-'`
	for _, args := range [][]string{
		{"status", "Bad_Name"}, {"logs", "Bad_Name"}, {"restart", "Bad_Name"}, {"down", "Bad_Name"},
		{"down", "--purge", "Bad_Name"}, {"apps", "Bad_Name"}, {"deploy", car, "Bad_Name"}, {"undeploy", "a", "Bad_Name"},
	} {
		if code, _, errOut := run(t, args...); code != exitcode.Usage || !strings.Contains(errOut, want) {
			t.Errorf("mictl %s: exit %d, want 2 saying %q:\n%s", strings.Join(args, " "), code, want, errOut)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	inTempDir(t)
	if err := os.WriteFile("bad.toml", []byte("instances = 2\noffset_stepp = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"check-conflicts", "--instances", "0"}, "flag --instances: expected a count of 1 or more (or [[instance]] tables), got 0"},
		{[]string{"ports", "table", "--instances", "-3"}, "expected a count"},
		{[]string{"ports", "table", "-o", "yaml"}, `unknown output format "yaml"`},
		{[]string{"ports", "table", "--instances", "2", "--offsets", "1,2,3"}, "3 offsets for 2 instances"},
		{[]string{"ports", "table", "--offsets", "-5"}, "--offsets: -5 is not an offset"},
		{[]string{"ports", "table", "--instances", "5000", "--base-offset", "50000"}, "no room in the port space"},
		// Refused before any planning (issue 10: 100000000 once grew to 24 GB).
		{[]string{"check-conflicts", "--instances", "100000000"}, "instances fit in the port space"},
		{[]string{"check-conflicts", "--config", "bad.toml"}, `bad.toml:2:1: unknown key "offset_stepp"`},
		{[]string{"check-conflicts", "--config", "missing.toml"}, "missing.toml: no such config file (--config); create one with: mictl init --path missing.toml"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"ports", "table", "--bogus"}, "mictl: unknown flag --bogus\nSee 'mictl ports table --help'.\n"},
		{[]string{"ports", "table", "extra"}, `mictl ports table takes no arguments, got "extra"`},
		{[]string{"inspect"}, "usage: mictl inspect FILE.car [flags] (0 arguments given)"},
		{[]string{"sim", "dist", "a", "b"}, "usage: mictl sim dist DIR [flags] (2 arguments given)"},
		// Issue 10, bug 6: a typo in a group's subcommand is no success.
		{[]string{"ports", "tabel"}, `unknown command "tabel" for "mictl ports"; did you mean table?`},
		{[]string{"sim", "bogus"}, `unknown command "bogus" for "mictl sim"`},
		{[]string{"export", "kubrnetes"}, "; did you mean kubernetes?"},
		{[]string{"ports", "table", "--base-offset", "abc"}, `--base-offset "abc": expected a whole number`},
		{[]string{"ports", "table", "--offsets", "10,x"}, `--offsets "10,x": expected whole numbers separated by commas`},
		{[]string{"up", "--backoff", "5"}, `--backoff "5": expected a duration with its unit`},
		{[]string{"up", "--force=maybe"}, `--force "maybe": expected true or false`},
		// Refused before anything starts (the missing mi_home would stop
		// an up that went on); its stdout would be log lines, not JSON.
		{[]string{"up", "--foreground", "-o", "json", "--mi-home", "missing"}, "--foreground streams the instances' logs on stdout, which -o json cannot be"},
		{[]string{"stop"}, "; did you mean down or top?"}, // the words of other tools
		{[]string{"start"}, "; did you mean restart or up?"},
		{[]string{"list"}, "; did you mean status?"},
		{[]string{"plan"}, "; did you mean check-conflicts or ports?"}, // a walk's first guess found nothing
		{[]string{"conflicts"}, "; did you mean check-conflicts?"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"export", "compose", "extra"}, `mictl export compose takes no arguments, got "extra"`},
		{[]string{"export", "kubernetes", "--image", ""}, "--image is empty: name the image the instances run"},
		// Issue 10, bug 8: an address no interface has is refused up front.
		{[]string{"check-conflicts", "--host", "192.0.2.1"}, "mictl: flag --host: 192.0.2.1 is not an address of this machine"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := run(t, tt.args...)
			if code != exitcode.Usage || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, want 2 with %q; stderr:\n%s", code, tt.want, errOut)
			}
		})
	}
}

// A mistyped flag or command is said on one line, with what is close to
// it, as cobra suggests commands: the whole of stderr, exit 2.
func TestUnknownFlagsAndCommandsSuggest(t *testing.T) {
	inTempDir(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"up", "--instance", "2"}, "mictl: unknown flag --instance; did you mean --instances?\nSee 'mictl up --help'.\n"},
		{[]string{"up", "--instancs=2"}, "mictl: unknown flag --instancs; did you mean --instances?\nSee 'mictl up --help'.\n"},
		{[]string{"up", "--in"}, "mictl: unknown flag --in; did you mean --instances or --instances-dir?\nSee 'mictl up --help'.\n"},
		{[]string{"up", "-instances", "2"}, "mictl: unknown shorthand flag 'i' in -instances; did you mean --instances?\nSee 'mictl up --help'.\n"},
		{[]string{"down", "--confg", "x"}, "mictl: unknown flag --confg; did you mean --config?\nSee 'mictl down --help'.\n"},
		{[]string{"up", "--frobnicate"}, "mictl: unknown flag --frobnicate\nSee 'mictl up --help'.\n"},
		{[]string{"stauts"}, "mictl: unknown command \"stauts\"; did you mean status?\nSee 'mictl --help'.\n"},
		{[]string{"frobnicate"}, "mictl: unknown command \"frobnicate\"\nSee 'mictl --help'.\n"},
		{[]string{"ports", "tabel"}, "mictl: unknown command \"tabel\" for \"mictl ports\"; did you mean table?\nSee 'mictl ports --help'.\n"},
		// The word is the fault, not the flags after it, which the group
		// parsed: "unknown shorthand flag: 'o' in -o".
		{[]string{"ports", "tabel", "-o", "json"}, "mictl: unknown command \"tabel\" for \"mictl ports\"; did you mean table?\nSee 'mictl ports --help'.\n"},
		{[]string{"export", "kubernets", "--out", "k8s"}, "mictl: unknown command \"kubernets\" for \"mictl export\"; did you mean kubernetes?\nSee 'mictl export --help'.\n"},
		// Before the word too, where pflag stops at -o and never reaches
		// it: the word is found in the command line, past the flags and
		// their values (--instances takes one, as table's flag does).
		{[]string{"ports", "-o", "json", "tabel"}, "mictl: unknown command \"tabel\" for \"mictl ports\"; did you mean table?\nSee 'mictl ports --help'.\n"},
		{[]string{"ports", "--instances", "2", "tabel"}, "mictl: unknown command \"tabel\" for \"mictl ports\"; did you mean table?\nSee 'mictl ports --help'.\n"},
		{[]string{"--config", "mictl.toml", "export", "--out=k8s", "kubernets"}, "mictl: unknown command \"kubernets\" for \"mictl export\"; did you mean kubernetes?\nSee 'mictl export --help'.\n"},
		// No word at all: the subcommand is missing, not the flag unknown.
		{[]string{"export", "-o", "json"}, "mictl: missing subcommand for \"mictl export\" before -o, a flag of compose, kubernetes, prometheus and systemd\nSee 'mictl export --help'.\n"},
		{[]string{"export", "--out", "k8s"}, "mictl: missing subcommand for \"mictl export\" before --out, a flag of compose, kubernetes and systemd\nSee 'mictl export --help'.\n"},
		// A flag no subcommand takes is the fault itself.
		{[]string{"sim", "-x"}, "mictl: unknown shorthand flag: 'x' in -x\nSee 'mictl sim --help'.\n"},
		// Nor is the word after it the one typed for a command: cobra
		// takes it for the flag's value, and said "foo", "x" and "mi-1"
		// were unknown commands.
		{[]string{"sim", "--bogus", "dist", "foo"}, "mictl: unknown flag --bogus\nSee 'mictl sim --help'.\n"},
		{[]string{"export", "--bogus", "systemd", "x"}, "mictl: unknown flag --bogus\nSee 'mictl export --help'.\n"},
		{[]string{"--bogus", "status", "mi-1"}, "mictl: unknown flag --bogus\nSee 'mictl --help'.\n"},
		// After a subcommand's flag pflag stopped at (-o), one no command
		// of the group knows is the fault: it said "missing subcommand
		// before -o", naming -o.
		{[]string{"export", "-o", "json", "--bogus", "kube"}, "mictl: unknown flag --bogus\nSee 'mictl export --help'.\n"},
		{[]string{"export", "-o", "json", "--bogus"}, "mictl: unknown flag --bogus\nSee 'mictl export --help'.\n"},
		{[]string{"ports", "-o", "json", "-x", "table"}, "mictl: unknown shorthand flag: 'x' in -x\nSee 'mictl ports --help'.\n"},
		{[]string{"-o", "json", "stauts"}, "mictl: unknown command \"stauts\"; did you mean status?\nSee 'mictl --help'.\n"},
		// help TOPIC is read as mictl TOPIC is: cobra's "Unknown help
		// topic" exited 0.
		{[]string{"help", "stauts"}, "mictl: unknown command \"stauts\"; did you mean status?\nSee 'mictl --help'.\n"},
		{[]string{"help", "ports", "tabel"}, "mictl: unknown command \"tabel\" for \"mictl ports\"; did you mean table?\nSee 'mictl ports --help'.\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, tt.args...)
			if code != exitcode.Usage || errOut != tt.want || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 2, stderr:\n%s", code, out, errOut, tt.want)
			}
		})
	}
}

// A state directory mictl cannot make or use is said once, with what to
// do, by every command that needs it; a file where it must be is the
// configuration's to change (instances_dir): exit 2.
func TestStateDirErrorsSayWhatToDo(t *testing.T) {
	inTempDir(t)
	// Files where directories must be: the instances directory's parent,
	// a state directory.
	for _, f := range []string{"file", "x/.mictl"} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := testports.Base(t, testports.Other, 1)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"up", "--instances-dir", "file/sub", "--base-offset", fmt.Sprint(base)},
			"mictl: cannot create the instances directory file/sub: file is not a directory; move it away or choose another instances_dir\n"},
		{[]string{"down", "--instances-dir", "x"},
			"mictl: the state directory x/.mictl is not a directory; move it away or choose another instances_dir\n"},
		{[]string{"status", "--instances-dir", "x"},
			"mictl: the state directory x/.mictl is not a directory; move it away or choose another instances_dir\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := run(t, tt.args...)
			if code != exitcode.Usage || !strings.HasSuffix(errOut, tt.want) || strings.Count(errOut, "mictl: ") != 1 {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2, ending with:\n%s", code, errOut, tt.want)
			}
		})
	}
}

// A broken mictl.toml is looked past by the commands on existing
// instances, which say where they look, as the user would type it.
func TestBrokenConfigWarningSaysWhereItLooks(t *testing.T) {
	inTempDir(t)
	for _, f := range []string{"mictl.toml", "sub/m.toml"} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("instances = 2\nbogus = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "(mictl.toml ignored here: showing the instances under ./instances)\n"},
		{[]string{"status", "--config", "sub/m.toml"}, "(sub/m.toml ignored here: showing the instances under ./sub/instances)\n"},
		{[]string{"down", "--instances-dir", "../elsewhere"}, "(mictl.toml ignored here: showing the instances under ../elsewhere)\n"},
	} {
		code, _, errOut := run(t, tt.args...)
		lines := strings.SplitAfter(errOut, "\n")
		if code != exitcode.OK || len(lines) < 2 || !strings.HasPrefix(lines[0], "warning: ") || lines[1] != tt.want {
			t.Errorf("mictl %s: exit %d, stderr:\n%s\nwant its second line:\n%s", strings.Join(tt.args, " "), code, errOut, tt.want)
		}
	}
}

// A mictl.toml with a syntax error still says where its instances are
// on the line that sets instances_dir; where that line is the broken one,
// the commands on existing instances refuse (exit 2) rather than look
// under the default, find nothing and exit 0 (`down` stopped nothing).
func TestBrokenConfigStillNamesItsInstancesDir(t *testing.T) {
	inTempDir(t)
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile("mictl.toml", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("base_offset = 22000 x\ninstances_dir = \"run\"\n")
	code, _, errOut := run(t, "status")
	if code != exitcode.OK || !strings.Contains(errOut, "showing the instances under ./run)") {
		t.Errorf("a syntax error elsewhere: exit %d, stderr:\n%s\nwant exit 0, looking under ./run", code, errOut)
	}
	write("instances_dir = \"run\ninstances = 2\n")
	for _, cmd := range []string{"status", "down", "logs"} {
		code, _, errOut := run(t, cmd)
		if want := "mictl: mictl.toml:1:21: not valid TOML: basic strings cannot have new lines, in: instances_dir = \"run\n" +
			"(mictl cannot tell from the file where its instances are: fix it, or name their directory with --instances-dir)\n"; code != exitcode.Usage || errOut != want {
			t.Errorf("mictl %s, instances_dir's line broken: exit %d, stderr:\n%s\nwant exit 2 and:\n%s", cmd, code, errOut, want)
		}
	}
	if code, _, errOut := run(t, "status", "--instances-dir", "run"); code != exitcode.OK {
		t.Errorf("status --instances-dir run: exit %d, stderr:\n%s", code, errOut)
	}
}

// An override that only rendering finds wrong (the distribution's
// deployment.toml has [[datasource]], an array of tables) is reported at
// its own key in mictl.toml, not at the [[instance]]'s overrides.
func TestRenderOverrideErrorAtItsKey(t *testing.T) {
	inTempDir(t)
	if code, _, errOut := run(t, "sim", "dist", "dist"); code != exitcode.OK {
		t.Fatalf("sim dist: exit %d: %s", code, errOut)
	}
	const file = "dist/conf/deployment.toml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	header := bytes.Count(data, []byte("\n")) + 1 // the first [[datasource]]'s line
	data = append(data, "[[datasource]]\nid = \"A\"\nurl = \"a\"\n\n[[datasource]]\nid = \"B\"\nurl = \"b\"\n"...)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("instances = 2\nmi_home = \"dist\"\nbase_offset = %d\n\n[[instance]]\nname = \"mi-2\"\n"+
		"overrides = { \"server.hostname\" = \"edge.local\",\n  \"datasource.url\" = \"jdbc:h2:./edge\" }\n", testports.Base(t, testports.Other, 2))
	if err := os.WriteFile("mictl.toml", []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`mictl: mictl.toml:8:3: instance mi-2: override "datasource.url": %s:%d:1: `+
		"cannot set datasource.url: datasource is an array of tables ([[datasource]], 2 of them) and mictl cannot choose which one to change\n", file, header)
	for _, cmd := range []string{"ports", "generate", "up"} {
		args := []string{cmd}
		if cmd == "ports" {
			args = append(args, "table")
		}
		code, _, errOut := run(t, args...)
		if code != exitcode.Usage || !strings.HasSuffix(errOut, want) {
			t.Errorf("mictl %s: exit %d, stderr:\n%s\nwant exit 2, ending with:\n%s", cmd, code, errOut, want)
		}
	}
}

func TestInitWritesLoadableDefaults(t *testing.T) {
	inTempDir(t)
	if code, _, errOut := run(t, "init"); code != exitcode.OK {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	cfg, err := config.Load(config.Sources{})
	if err != nil {
		t.Fatalf("the generated mictl.toml does not load: %v", err)
	}
	if cfg.File != config.DefaultFile || cfg.Instances != 1 || cfg.BaseOffset != ports.DefaultOffset {
		t.Fatalf("loaded %+v", cfg)
	}
	data, _ := os.ReadFile(config.DefaultFile)
	// Where an operator edits: an edit is applied as it is saved, not at
	// the next reload (mi_home, edited to be looked at with diff first,
	// restarted every instance onto it).
	if want := "# While instances run, the mictl daemon applies each edit of this file as it\n# is saved"; !strings.Contains(string(data), want) {
		t.Errorf("mictl.toml does not say the daemon applies its edits at once:\n%s", data)
	}
	for _, s := range config.Settings {
		if !strings.Contains(string(data), s.Key+" = ") || !strings.Contains(string(data), s.Env()) {
			t.Errorf("mictl.toml does not document %s", s.Key)
		}
	}
	if code, _, errOut := run(t, "init"); code != exitcode.Usage || !strings.Contains(errOut, "already exists; use --force") {
		t.Fatalf("second init: exit %d: %s", code, errOut)
	}
	if code, _, _ := run(t, "init", "--force"); code != exitcode.OK {
		t.Fatalf("init --force: exit %d", code)
	}
	// A directory where the file would go is named as such, --force or not.
	if err := os.Mkdir("dir.toml", 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "init", "--force", "--path", "dir.toml"); code != exitcode.Usage || !strings.Contains(errOut, "dir.toml is a directory") {
		t.Fatalf("init --force onto a directory: exit %d: %s", code, errOut)
	}
	// Elsewhere: at --path, or at the file --config names, directories made.
	for _, args := range [][]string{{"init", "--path", "a/b/x.toml"}, {"--config", "c/mictl.toml", "init"}} {
		if code, _, errOut := run(t, args...); code != exitcode.OK {
			t.Fatalf("mictl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
	}
	for _, path := range []string{"a/b/x.toml", "c/mictl.toml"} {
		if _, err := config.Load(config.Sources{Path: path}); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// init --path a.toml --config b.toml wrote a.toml and said nothing of
// b.toml, the file the other commands then read: two files named for
// one is refused (exit 2), naming both, and writes neither. One file
// named both ways (relative and absolute) is written.
// A --path init cannot write says which file, why, and what to do: init
// --path /proc/foo.toml said only "write /proc/foo.toml: no such file or
// directory", and a file where its directory must be named neither.
func TestInitSaysWhichFileItCouldNotWrite(t *testing.T) {
	inTempDir(t)
	if err := os.WriteFile("afile", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/proc/foo.toml", "/proc/mictl-test/foo.toml", "afile/mictl.toml"} {
		code, _, errOut := run(t, "init", "--path", path)
		want := "init: could not write " + path + ": "
		if code != exitcode.Runtime || !strings.Contains(errOut, want) || strings.Count(errOut, path) != 1 || !strings.Contains(errOut, "give --path a file in a directory you can write") {
			t.Errorf("init --path %s: exit %d, want 3 with %q and what to do:\n%s", path, code, want, errOut)
		}
	}
}

func TestInitRefusesPathAndConfigNamingTwoFiles(t *testing.T) {
	dir := inTempDir(t)
	code, _, errOut := run(t, "init", "--path", "a.toml", "--config", "b.toml")
	if code != exitcode.Usage || !strings.Contains(errOut, "--path a.toml and --config b.toml name different files") {
		t.Fatalf("init --path a.toml --config b.toml: exit %d, want 2 naming both:\n%s", code, errOut)
	}
	for _, f := range []string{"a.toml", "b.toml"} {
		if fsutil.Exists(f) {
			t.Errorf("the refused init wrote %s", f)
		}
	}
	if code, _, errOut := run(t, "init", "--path", "a.toml", "--config", filepath.Join(dir, "a.toml")); code != exitcode.OK || !fsutil.Exists("a.toml") {
		t.Fatalf("init naming a.toml both ways: exit %d:\n%s", code, errOut)
	}
}

// init --force over the mictl.toml a daemon follows for running
// instances wrote the defaults (instances = 1), and the daemon applied
// them at once: two of three running servers stopped, nothing said. It
// refuses, changing nothing; with nothing running it overwrites.
func TestInitForceLeavesTheFileOfARunningDeployment(t *testing.T) {
	dir := inTempDir(t)
	mine := "instances = 3\ninstances_dir = \"homes\"\n"
	if err := os.WriteFile("mictl.toml", []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	store, f := recordRunning(t, filepath.Join(dir, "homes"), 10, &state.Daemon{Args: []string{"--config", filepath.Join(dir, "mictl.toml")}})
	code, _, errOut := run(t, "init", "--force")
	if code != exitcode.Usage || !strings.Contains(errOut, "mictl.toml configures the instances running under ./homes (mi-1)") || !strings.Contains(errOut, "mictl init --path mictl.toml.defaults") {
		t.Errorf("init --force over a running deployment's file: exit %d: %s\nwant exit 2 naming the running instances and --path", code, errOut)
	}
	if data, _ := os.ReadFile("mictl.toml"); string(data) != mine {
		t.Errorf("mictl.toml was changed:\n%s", data)
	}
	f.Instances[0].State, f.Instances[0].Server = state.StateStopped, proc.Identity{}
	if err := store.Save(f); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "init", "--force"); code != exitcode.OK {
		t.Errorf("init --force with nothing running: exit %d: %s", code, errOut)
	}
}

// The advice of that refusal pastes into a shell: a file whose path has
// a space is named quoted, in both commands.
func TestInitForceRefusalQuotesItsPaths(t *testing.T) {
	dir := inTempDir(t)
	file := filepath.Join("ops dir", "mictl.toml")
	if err := os.MkdirAll("ops dir", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("instances = 1\ninstances_dir = \"homes\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	recordRunning(t, filepath.Join(dir, "ops dir", "homes"), 10, &state.Daemon{Args: []string{"--config", filepath.Join(dir, file)}})
	code, _, errOut := run(t, "init", "--force", "--path", file)
	for _, want := range []string{"mictl init --path 'ops dir/mictl.toml.defaults'", "mictl --config 'ops dir/mictl.toml' down"} {
		if code != exitcode.Usage || !strings.Contains(errOut, want) {
			t.Errorf("init --force over a running deployment's file: exit %d: %s\nwant exit 2 and %q", code, errOut, want)
		}
	}
}

func TestGenerateWritesSecretsAtomically(t *testing.T) {
	dir := inTempDir(t)
	base := testports.Base(t, testports.Other, 2)
	cfgText := fmt.Sprintf(`instances = 2
instances_dir = "homes"
[[instance]]
name = "mi-2"
offset = %d
overrides = { "server.hostname" = "mi-2.local" }
`, base+1)
	if err := os.WriteFile("mictl.toml", []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "generate", "--base-offset", fmt.Sprint(base), "-o", "json")
	if code != exitcode.OK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var files []generatedFile
	if err := json.Unmarshal([]byte(out), &files); err != nil || len(files) != 2 {
		t.Fatalf("%v: %s", err, out)
	}
	path := filepath.Join(dir, "homes", "mi-2", "conf", "deployment.toml")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600 (the file holds keystore passwords)", info.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{fmt.Sprintf("offset = %d", base+1), `hostname = "mi-2.local"`, "#offset  = 10", `password = "wso2carbon"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("generated file lacks %q:\n%s", want, data)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "homes", "*", "conf", ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

// With every instance running, generate writes nothing and says why:
// no table of no rows.
func TestGenerateWithEveryInstanceRunning(t *testing.T) {
	dir := inTempDir(t)
	recordRunning(t, filepath.Join(dir, "instances"), testports.Base(t, testports.Other, 1), nil)
	code, out, errOut := run(t, "generate", "--instances", "1")
	if code != exitcode.OK || out != "" || !strings.Contains(errOut, "note: mi-1 running, left alone") {
		t.Fatalf("generate: exit %d, stdout %q, stderr %q; want 0, nothing on stdout, the note", code, out, errOut)
	}
}

// recordRunning saves under instancesDir a state file where mi-1 runs at
// offset, this test's process standing for its server, under daemon (a
// record only, nil for none); it returns the store and what it saved.
func recordRunning(t *testing.T, instancesDir string, offset int, daemon *state.Daemon) (*state.Store, *state.File) {
	t.Helper()
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(filepath.Join(instancesDir, ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	running := state.Instance{Name: "mi-1", Offset: offset, Home: filepath.Join(instancesDir, "mi-1"), State: state.StateReady, Server: self}
	f := &state.File{Version: state.SchemaVersion, Daemon: daemon, Instances: []state.Instance{running}}
	if err := store.Save(f); err != nil {
		t.Fatal(err)
	}
	return store, f
}

func TestGenerateBadOverrideWritesNothing(t *testing.T) {
	inTempDir(t)
	cfgText := `instances = 2
[[instance]]
name = "mi-2"
overrides = { "server.hostname.first" = "x" }
`
	if err := os.WriteFile("mictl.toml", []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "generate")
	if code != exitcode.Usage || !strings.Contains(errOut, "server.hostname") {
		t.Fatalf("exit %d, want 2 naming the override: %s", code, errOut)
	}
	if _, err := os.Stat("instances"); !os.IsNotExist(err) {
		t.Fatalf("instances/ was created despite the error: %v", err)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	inTempDir(t)
	// As gh and docker take it (issue 10).
	if code, out, _ := run(t, "--version"); code != exitcode.OK || !strings.HasPrefix(out, "mictl ") {
		t.Fatalf("--version: exit %d: %q", code, out)
	}
	code, out, _ := run(t, "version", "-o", "json")
	var v versionInfo
	if code != exitcode.OK || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || v.GoVersion == "" {
		t.Fatalf("version: exit %d: %s", code, out)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, _ := run(t, "completion", shell)
		if code != exitcode.OK || !strings.Contains(out, "mictl") {
			t.Errorf("completion %s: exit %d", shell, code)
		}
	}
}

func TestEveryCommandHasHelpAndExamples(t *testing.T) {
	streams, _, _ := testStreams()
	root := NewRootCmd(streams)
	for _, cmd := range allCommands(root) {
		// cobra's own completion subcommands (bash, zsh, ...) are
		// documented by their parent's examples.
		if cmd.Hidden || cmd.Name() == "help" || cmd.Parent() != nil && cmd.Parent().Name() == "completion" {
			continue
		}
		if cmd.Short == "" {
			t.Errorf("%s has no short help", cmd.CommandPath())
		}
		if cmd.Example == "" {
			t.Errorf("%s has no examples", cmd.CommandPath())
		}
	}
}

func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}

// testStreams returns streams backed by buffers.
func testStreams() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: &bytes.Buffer{}, Out: out, ErrOut: errOut}, out, errOut
}

func TestKeptSettings(t *testing.T) {
	running := []string{"--instances-dir", "/i", "--restart", "on-failure", "--timeout", "2m0s"}
	asked := []string{"--instances-dir", "/i", "--restart", "never", "--timeout", "30s", "--config", "/i/mictl.toml"}
	got := keptSettings(running, asked)
	want := []string{`--restart "on-failure" (asked: "never")`, `--config (none) (asked: "/i/mictl.toml")`}
	if !slices.Equal(got, want) {
		t.Fatalf("keptSettings = %q, want %q", got, want)
	}
	if got := keptSettings(asked, asked); len(got) != 0 {
		t.Fatalf("the same settings: %q", got)
	}
	// Started without a file, the daemon follows ./mictl.toml once it
	// appears (deploy created it): nothing kept.
	here, err := filepath.Abs("mictl.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := keptSettings(running[:2], []string{"--instances-dir", "/i", "--config", here}); len(got) != 0 {
		t.Fatalf("./mictl.toml created since: %q", got)
	}
}

// A `mictl up --foreground` records no daemon arguments: diff, reload and
// up said it kept "--instances-dir (none)", "--health-interval (none)" and
// the like, which it never had.
func TestNoKeptSettingsOfAForegroundUp(t *testing.T) {
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	streams, _, errOut := testStreams()
	warnKept(streams, &state.File{Daemon: &state.Daemon{Identity: self}}, []string{"--instances-dir", "/i", "--health-interval", "5s"})
	if errOut.Len() > 0 {
		t.Errorf("warned of a foreground up:\n%s", errOut)
	}
}

// A refused up's hint gives the command that shows what the planner
// would choose as this up would plan: with its base offset, not the
// default's.
func TestUpRefusalHintKeepsTheBaseOffset(t *testing.T) {
	inTempDir(t)
	a, b := clashingOffsets(t)
	code, _, errOut := run(t, "up", "--base-offset", fmt.Sprint(a), "--offsets", fmt.Sprintf("%d,%d", a, b))
	if code != exitcode.Conflicts {
		t.Fatalf("exit = %d, want 1; stderr:\n%s", code, errOut)
	}
	if want := fmt.Sprintf("mictl ports table --instances 2 --base-offset %d shows what the planner would choose", a); !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
}

// `mictl sim run --help` is help, not a simulated server asking for its
// CARBON_HOME (its other arguments are the server's).
func TestSimRunHelp(t *testing.T) {
	code, out, errOut := run(t, "sim", "run", "--help")
	if code != exitcode.OK || !strings.Contains(out, "Run the simulated server") {
		t.Fatalf("sim run --help: exit %d\n%s\n%s", code, out, errOut)
	}
}

// A running build's inbound endpoint that the plan no longer has (a reload
// refused) is shown as such among the random ports, never as JMX.
func TestLabelRunningInbounds(t *testing.T) {
	random := []observe.RandomPort{
		{Proto: hostnet.TCP, Port: 38386, Role: "jmx"},
		{Proto: hostnet.TCP, Port: 40001, Role: "jmx"},
		{Proto: hostnet.UDP, Port: 38386, Role: "syslog"},
	}
	got := labelRunningInbounds(random, state.Instance{Extras: []state.Extra{{Role: "inbound", Listener: "o_1.0.0/HTTPInbound", Port: 38386}}})
	if roles := strings.Join([]string{got[0].Role, got[1].Role, got[2].Role}, " "); roles != "inbound jmx syslog" {
		t.Errorf("roles = %s, want the running inbound port labelled inbound, the rest as they were", roles)
	}
}

// The inbound port of a CApp mictl took away, which MI holds until its
// next scan undeploys it, is named the app's in the RANDOM column and in
// -o json: it read "other tcp/N", as if a stranger held it.
func TestLabelUndeployingInbounds(t *testing.T) {
	rec := state.Instance{
		Extras:      []state.Extra{{Role: "inbound", Listener: "o_1.0.0/HTTPInbound", Port: 38386}},
		Undeploying: []state.Extra{{Role: "inbound", Listener: "hl_1.0.0/HLInbound", Port: 27185}},
	}
	got := labelRunningInbounds([]observe.RandomPort{
		{Proto: hostnet.TCP, Port: 27185, Role: "other"},
		{Proto: hostnet.TCP, Port: 38386, Role: "jmx"},
		{Proto: hostnet.TCP, Port: 40001, Role: "other"},
	}, rec)
	if text := randomPorts(got); text != "inbound tcp/27185 (hl_1.0.0/HLInbound, undeploying), inbound tcp/38386, other tcp/40001" {
		t.Errorf("RANDOM = %q", text)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"proto":"tcp","port":27185,"role":"inbound","pid":0,"listener":"hl_1.0.0/HLInbound","undeploying":true},` +
		`{"proto":"tcp","port":38386,"role":"inbound","pid":0,"listener":"o_1.0.0/HTTPInbound","undeploying":false},` +
		`{"proto":"tcp","port":40001,"role":"other","pid":0,"listener":null,"undeploying":false}]`
	if string(b) != want {
		t.Errorf("-o json random:\n%s\nwant\n%s", b, want)
	}
}

// A settings flag's help names the mictl.toml key and the variable that
// set it too: its "(default ...)" is mictl's own, which a mictl.toml may
// have changed, and an operator took it for the value in effect.
func TestSettingFlagsNameTheirKey(t *testing.T) {
	for _, cmd := range [][]string{{"up"}, {"check-conflicts"}, {"ports", "table"}, {"status"}, {"logs"}} {
		_, out, _ := run(t, append(cmd, "--help")...)
		for _, s := range config.Settings {
			if s.Flag == "" || !strings.Contains(out, "--"+s.Flag+" ") {
				continue
			}
			if want := fmt.Sprintf("[mictl.toml %s, %s]", s.Key, s.Env()); !strings.Contains(out, want) {
				t.Errorf("mictl %s --help: --%s does not say %q:\n%s", strings.Join(cmd, " "), s.Flag, want, out)
			}
		}
	}
}

// A MICTL_* variable one typo away from a setting's or the simulator's
// is warned of: mictl and the simulated servers ignored it without a
// word. The simulator's variables as spelled, mictl's own for its
// children, and help and the completion scripts, say nothing.
func TestMisspelledVariableIsWarnedOf(t *testing.T) {
	inTempDir(t)
	t.Setenv("MICTL_BASE_OFSET", "2000")
	t.Setenv("MICTL_INSTANCE", "3")
	t.Setenv("MICTL_SIM_STARTUP_DELAY", "0s")
	t.Setenv("MICTL_SIM_CRASH_AFTR", "5s")
	t.Setenv("MICTL_EXE", "/nonexistent")
	t.Setenv("MICTL_SIM", "1") // a prefix of every simulator variable: no typo of one
	code, out, errOut := run(t, "ports", "table", "-o", "json")
	want := "warning: MICTL_BASE_OFSET is not a variable mictl reads (ignored); did you mean MICTL_BASE_OFFSET?\n" +
		"warning: MICTL_INSTANCE is not a variable mictl reads (ignored); did you mean MICTL_INSTANCES?\n" +
		"warning: MICTL_SIM_CRASH_AFTR is not a variable mictl reads (ignored); did you mean MICTL_SIM_CRASH_AFTER?\n"
	if code != 0 || errOut != want {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 0 and:\n%s", code, errOut, want)
	}
	if !strings.Contains(out, `"offset": 10`) {
		t.Errorf("the misspelled variables changed the plan:\n%s", out)
	}
	for _, args := range [][]string{{"completion", "bash"}, {"help"}, {"__complete", "down", ""}} {
		if _, _, errOut := run(t, args...); strings.Contains(errOut, "warning") {
			t.Errorf("mictl %s warned:\n%s", strings.Join(args, " "), errOut)
		}
	}
}

// Shell completion offers files only for the flags and arguments that
// take one: a shell offered the working directory's files for --host,
// --offsets or --since, and after the arguments a command takes.
func TestCompletionOffersFilesOnlyForPaths(t *testing.T) {
	inTempDir(t)
	for _, tc := range []struct {
		args      []string
		directive cobra.ShellCompDirective
	}{
		{[]string{"up", "--host", ""}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"check-conflicts", "--offsets", ""}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"logs", "--since", ""}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"export", "kubernetes", "--image", ""}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"status", "--config", ""}, cobra.ShellCompDirectiveFilterFileExt},
		{[]string{"up", "--instances-dir", ""}, cobra.ShellCompDirectiveFilterDirs},
		{[]string{"export", "compose", "--out", ""}, cobra.ShellCompDirectiveDefault},
		{[]string{"top", ""}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"ports", "table", ""}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"export", "prometheus", ""}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"sim", "dist", ""}, cobra.ShellCompDirectiveDefault}, // DIR
		{[]string{"sim", "dist", "d", ""}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"inspect", "a.car", ""}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"inspect", ""}, cobra.ShellCompDirectiveFilterFileExt}, // FILE.car
	} {
		_, out, _ := run(t, append([]string{"__complete"}, tc.args...)...)
		if want := fmt.Sprintf(":%d\n", tc.directive); !strings.HasSuffix(out, want) {
			t.Errorf("mictl __complete %s:\n%s\nwant the directive %q", strings.Join(tc.args, " "), out, want)
		}
	}
}

// Completion offers what the command accepts: restart <TAB> offered
// stopped and failed instances, which restart refuses (mictl up starts
// them), and restart --all <TAB> every running one, which restart refuses
// beside --all; status and down take every instance.
func TestRestartCompletesOnlyRunningInstances(t *testing.T) {
	dir := inTempDir(t)
	store, f := recordRunning(t, filepath.Join(dir, "instances"), 20, nil)
	f.Instances = append(f.Instances, state.Instance{Name: "mi-2", State: state.StateStopped}, state.Instance{Name: "mi-3", State: state.StateFailed})
	if err := store.Save(f); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"restart", ""}, "mi-1\n"},
		{[]string{"restart", "mi-1", ""}, ""},
		{[]string{"restart", "--all", ""}, ""},
		{[]string{"status", ""}, "mi-1\nmi-2\nmi-3\n"},
		{[]string{"down", "mi-2", ""}, "mi-1\nmi-3\n"},
	} {
		_, out, _ := run(t, append([]string{"__complete"}, tc.args...)...)
		if got, _, _ := strings.Cut(out, ":"); got != tc.want {
			t.Errorf("mictl __complete %s offers %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}

// A mictl.toml that cannot be written says what to do: init names the
// directory and --path; deploy that its directory must be writable (the
// file is replaced, not written in place). Root writes whatever a mode
// forbids: an immutable directory (chattr +i) stands in for another
// user's.
func TestUnwritableConfigSaysWhatToDo(t *testing.T) {
	dir := inTempDir(t)
	car := writeCar(t, dir, "build/a_1.0.0.car", capp.Spec{Name: "a", APIs: []capp.APISpec{{Context: "/a"}}})
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(locked, "mictl.toml"), []byte("instances = 1\nbase_offset = 20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chattr", "+i", locked).CombinedOutput(); err != nil {
		t.Skipf("no immutable directories here (chattr +i: %v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", locked).Run() })
	code, _, errOut := run(t, "init", "--path", filepath.Join(locked, "new.toml"))
	if want := "; make " + locked + " writable, or write the file elsewhere with --path\n"; code == exitcode.OK || !strings.HasSuffix(errOut, want) {
		t.Errorf("init in a directory that cannot be written: exit %d:\n%s\nwant it to end %q", code, errOut, want)
	}
	code, _, errOut = run(t, "--config", filepath.Join(locked, "mictl.toml"), "deploy", car)
	if want := "mictl edits " + filepath.Join(locked, "mictl.toml") + " to declare them: make its directory writable, or declare them in it yourself\n"; code == exitcode.OK || !strings.HasSuffix(errOut, want) {
		t.Errorf("deploy with a mictl.toml that cannot be written: exit %d:\n%s\nwant it to end %q", code, errOut, want)
	}
}
