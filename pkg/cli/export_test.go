package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/export/compose"
	"github.com/mictl/mictl/pkg/export/exporttest"
	"github.com/mictl/mictl/pkg/export/kubernetes"
	"github.com/mictl/mictl/pkg/export/systemd"
	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/testports"
)

// runExport runs mictl with `export` in-process, as Main does. Until the
// root command carries `export` itself, the test adds it, reading the
// root's --config as every command does.
func runExport(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	streams, out, errOut := testStreams()
	root := NewRootCmd(streams)
	if cmd, _, err := root.Find([]string{"export"}); err != nil || cmd == root {
		g := &globalOptions{}
		exp := newCmdExport(streams, g)
		exp.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
			g.configPath, _ = cmd.Flags().GetString("config")
			return nil
		}
		root.AddCommand(exp)
	}
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		errOut.WriteString("mictl: " + err.Error() + "\n")
	}
	return exitcode.Of(err), out.String(), errOut.String()
}

const exportTOML = `instances = 3
[[instance]]
name = "mi-2"
overrides = { "server.hostname" = "mi-2.example.com" }
`

func TestExportKubernetesListsWhatItWrote(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "mictl.toml"), exportTOML)
	code, out, errOut := runExport(t, "export", "kubernetes", "--out", "k8s", "--namespace", "integration", "-o", "json")
	if code != exitcode.OK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Kind  string `json:"kind"`
		Out   string `json:"out"`
		Next  string `json:"next"`
		Files []struct {
			Path string `json:"path"`
			What string `json:"what"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Paths absolute, as generate's; the next command as typed here.
	if r.Kind != "kubernetes" || r.Out != filepath.Join(dir, "k8s") || r.Next != "kubectl apply -k k8s" {
		t.Errorf("report %+v", r)
	}
	whats := map[string]bool{}
	for _, f := range r.Files {
		if _, err := os.Stat(f.Path); err != nil || !filepath.IsAbs(f.Path) {
			t.Errorf("listed %s is not there, absolute: %v", f.Path, err)
		}
		whats[f.What] = true
	}
	for _, want := range []string{"Deployment mi", "Deployment mi-2", "Service mi", "Secret mi-2-deployment-toml", "kustomization"} {
		if !whats[want] {
			t.Errorf("no %s among %v", want, whats)
		}
	}
	// The deployment.toml holds keystore passwords.
	info, err := os.Stat(filepath.Join("k8s", "secret-mi-deployment-toml.yaml"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("deployment.toml Secret: %v, mode %v; want 0600", err, info)
	}
	// Exporting again replaces its own output without --force, identically.
	before, _ := os.ReadFile(filepath.Join("k8s", "deployment-mi.yaml"))
	if code, _, errOut := runExport(t, "export", "kubernetes", "--out", "k8s", "--namespace", "integration"); code != exitcode.OK {
		t.Fatalf("export again: exit %d: %s", code, errOut)
	}
	after, _ := os.ReadFile(filepath.Join("k8s", "deployment-mi.yaml"))
	if string(before) != string(after) || len(before) == 0 {
		t.Error("the same configuration exported twice differs")
	}
	if left, _ := filepath.Glob(".k8s.tmp-*"); len(left) > 0 {
		t.Errorf("temporary directories left: %v", left)
	}
}

// Every bad input is exit 2, said before anything is written.
func TestExportBadInputWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		args []string
		want string
	}{
		{"image", "", []string{"kubernetes", "--image", "Not A/Reference"}, "--image"},
		{"namespace", "", []string{"kubernetes", "--namespace", "Team_A"}, "not a Kubernetes namespace"},
		{"instance name", "instances = 1\n[[instance]]\nname = \"9lives\"\noverrides = { \"server.hostname\" = \"x\" }\n",
			[]string{"kubernetes"}, "cannot name a Kubernetes"},
		{"compose image", "", []string{"compose", "--image", "UPPER:case"}, "--image"},
		{"pod port past the top", "instances = 1\n[[instance]]\nname = \"mi-1\"\noverrides = { \"transport.http.listener.port\" = 65530 }\n",
			[]string{"kubernetes", "--offsets", "0"}, "transport.http.listener.port = 65530 puts its HTTP pass-through port at 65540 in a pod"},
		// Where MI is inside an image its name does not say: asked for,
		// never guessed (export.CarbonHomeIn).
		{"custom image", "", []string{"kubernetes", "--image", "registry.example.com/mi:4.4.0-capps"}, "add --carbon-home"},
		{"latest", "", []string{"compose", "--image", "wso2/wso2mi:latest"}, "add --carbon-home"},
		{"foreign directory", "", []string{"systemd", "--user"}, "no earlier `mictl export systemd` wrote"},
		{"foreign compose file", "", []string{"compose"}, "no earlier `mictl export compose` wrote"},
		{"another export's directory", "", []string{"kubernetes"}, "no earlier `mictl export kubernetes` wrote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := inTempDir(t)
			writeFile(t, filepath.Join(dir, "mictl.toml"), tc.toml)
			out := filepath.Join(dir, "out")
			switch tc.name {
			case "foreign directory":
				writeFile(t, filepath.Join(out, "notes.txt"), "mine")
			case "foreign compose file":
				writeFile(t, out, "services: {}\n")
			case "another export's directory":
				if code, _, errOut := runExport(t, "export", "systemd", "--user", "--out", out); code != exitcode.OK {
					t.Fatalf("systemd export: %s", errOut)
				}
			}
			before := listTree(t, dir)
			code, _, errOut := runExport(t, append(append([]string{"export"}, tc.args...), "--out", out)...)
			if code != exitcode.Usage || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
			if after := listTree(t, dir); after != before {
				t.Errorf("a refused export changed the directory:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// A plan whose own instances share ports is refused (exit 1) by what
// writes files for one host, the homes, the units and the Compose file,
// before anything is written: the second server would meet a
// BindException wherever they run. Pods need no offsets, so the
// Kubernetes export goes on.
func TestSelfClashingPlanIsNotWritten(t *testing.T) {
	dir := inTempDir(t)
	off := testports.Base(t, testports.Other, 1)
	writeFile(t, filepath.Join(dir, "mictl.toml"), fmt.Sprintf("instances = 2\n[[instance]]\nname = \"mi-1\"\noffset = %d\n[[instance]]\nname = \"mi-2\"\noffset = %[1]d\n", off))
	for _, args := range [][]string{{"export", "systemd", "--out", "units"}, {"export", "compose", "--out", "compose.yaml"}, {"generate"}} {
		before := listTree(t, dir)
		code, _, errOut := runExport(t, args...)
		if code != exitcode.Conflicts || !strings.Contains(errOut, "nothing was written: the instances' own ports clash") ||
			!strings.Contains(errOut, fmt.Sprintf("mi-1 http port %d ↔ mi-2 http port %[1]d", 8280+off)) {
			t.Errorf("mictl %s: exit %d, stderr:\n%s\nwant exit 1 naming the clashes", strings.Join(args, " "), code, errOut)
		}
		if after := listTree(t, dir); after != before {
			t.Errorf("mictl %s wrote files:\nbefore %s\nafter  %s", strings.Join(args, " "), before, after)
		}
	}
	if code, _, errOut := runExport(t, "export", "kubernetes", "--out", "k8s"); code != exitcode.OK {
		t.Errorf("export kubernetes: exit %d: %s", code, errOut)
	}
}

// Two instances with the mediation debugger on clash on 9005 and 9006,
// which MI opens with no offset: the refusal asks for what each clash
// says (run one instance with it), not for other offsets, which change
// nothing there.
func TestSelfClashOffsetsCannotFixIsNotBlamedOnOffsets(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "mictl.toml"), fmt.Sprintf("instances = 2\nbase_offset = %d\n", testports.Base(t, testports.Other, 2)))
	t.Setenv("JAVA_OPTS", "-Desb.debug=true")
	for _, args := range [][]string{{"export", "systemd", "--out", "units"}, {"export", "compose", "--out", "compose.yaml"}} {
		code, _, errOut := runExport(t, args...)
		if code != exitcode.Conflicts || !strings.Contains(errOut, "mi-1 debugger command port 9005 ↔ mi-2 debugger command port 9005") ||
			!strings.Contains(errOut, "the offset does not move these ports") || strings.Contains(errOut, "fix their offsets") {
			t.Errorf("mictl %s: exit %d, stderr:\n%s\nwant exit 1 naming the debugger's clash, without asking for other offsets", strings.Join(args, " "), code, errOut)
		}
	}
}

func TestExportForceReplacesAForeignDirectory(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "out", "notes.txt"), "mine")
	if code, _, errOut := runExport(t, "export", "systemd", "--user", "--out", "out", "--force"); code != exitcode.OK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join("out", "notes.txt")); !os.IsNotExist(err) {
		t.Errorf("--force kept notes.txt: %v", err)
	}
	if _, err := os.Stat(filepath.Join("out", "mictl-mi@.service")); err != nil {
		t.Error(err)
	}
	if code, _, errOut := runExport(t, "export", "systemd", "--user", "--out", ".", "--force"); code != exitcode.Usage || !strings.Contains(errOut, "current directory") {
		t.Errorf("--force on the current directory: exit %d, %s", code, errOut)
	}
}

func TestExportComposeWritesFileAndMounts(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "mictl.toml"), exportTOML)
	code, _, errOut := runExport(t, "export", "compose", "--out", "deploy/compose.yaml")
	if code != exitcode.OK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "wrote deploy/compose.yaml and the 4 files it mounts; next: docker compose -f deploy/compose.yaml up -d --remove-orphans"; !strings.Contains(errOut, want) {
		t.Errorf("export compose said:\n%s\nwant %q", errOut, want)
	}
	data, err := os.ReadFile(filepath.Join("deploy", "compose.yaml"))
	if err != nil || !strings.Contains(string(data), "./compose-files/mi-2/deployment.toml") {
		t.Fatalf("compose.yaml: %v\n%s", err, data)
	}
	for _, name := range []string{"mi-1/deployment.toml", "mi-2/deployment.toml", "mi-3/deployment.toml", "entrypoint.sh"} {
		if _, err := os.Stat(filepath.Join("deploy", "compose-files", name)); err != nil {
			t.Error(err)
		}
	}
	info, err := os.Stat(filepath.Join("deploy", "compose-files"))
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("compose-files: %v %v; want 0700, it holds keystore passwords", err, info)
	}
	if code, _, errOut := runExport(t, "export", "compose", "--out", "deploy/compose.yaml"); code != exitcode.OK {
		t.Fatalf("export again: exit %d: %s", code, errOut)
	}
}

// A CApp MI deploys as faulty (what mictl deploy warns of) turns MI's
// /healthz to 500, which the readiness probe and the healthcheck ask:
// every export says which one, on which instance, and what its engine
// then does, on stderr and under "faulty_capps" with -o json (a script
// reading stdout alone applied it unwarned). A sound CApp beside it is
// not named.
func TestExportsWarnOfAFaultyCApp(t *testing.T) {
	dir := inTempDir(t)
	writeCar(t, dir, "build/broken_1.0.0.car", capp.Spec{Name: "broken", APIs: []capp.APISpec{{Context: "/broken"}}, Faulty: true})
	writeCar(t, dir, "build/orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	writeFile(t, filepath.Join(dir, "mictl.toml"), `instances = 3
capps = ["build/orders_1.0.0.car"]

[[instance]]
name = "mi-2"
capps = ["build/broken_1.0.0.car"]
`)
	for _, c := range []struct{ kind, out, then string }{
		{"kubernetes", "k8s", kubernetes.Unhealthy},
		{"compose", "compose.yaml", compose.Unhealthy},
		{"systemd", "units", systemd.Unhealthy},
	} {
		code, out, errOut := runExport(t, "export", c.kind, "--out", c.out, "-o", "json")
		if code != exitcode.OK {
			t.Fatalf("export %s: exit %d: %s", c.kind, code, errOut)
		}
		car := filepath.Join(dir, "build", "broken_1.0.0.car")
		want := "MI deploys broken_1.0.0 as faulty on mi-2 (its artifacts fail to deploy): " + car + ": "
		if !strings.Contains(errOut, "warning: "+want) || !strings.Contains(errOut, "so "+c.then+"\n") || strings.Count(errOut, "warning:") != 1 {
			t.Errorf("export %s said:\n%s\nwant one warning %q... so %s", c.kind, errOut, want, c.then)
		}
		jsonschematest.Validate(t, "export", []byte(out))
		var r struct {
			Faulty []struct {
				File, ID, Faulty, Message string
				Instances                 []string
			} `json:"faulty_capps"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Faulty) != 1 {
			t.Fatalf("export %s -o json: faulty_capps (%v):\n%s", c.kind, err, out)
		}
		f := r.Faulty[0]
		if f.File != car || f.ID != "broken_1.0.0" || !slices.Equal(f.Instances, []string{"mi-2"}) || !strings.HasPrefix(f.Faulty, car+": ") ||
			!strings.HasPrefix(f.Message, want) || !strings.HasSuffix(f.Message, "so "+c.then) {
			t.Errorf("export %s -o json: faulty_capps %+v", c.kind, f)
		}
	}
	// None faulty: an empty list, not null.
	writeFile(t, filepath.Join(dir, "mictl.toml"), "instances = 1\ncapps = [\"build/orders_1.0.0.car\"]\n")
	if _, out, _ := runExport(t, "export", "kubernetes", "--out", "k8s", "-o", "json"); !strings.Contains(out, `"faulty_capps": []`) {
		t.Errorf("export with no faulty CApp:\n%s", out)
	}
}

// A faulty CApp the distribution ships is in the image --capps-in-image
// names, and warned of as a declared one is, its file absolute in -o json
// as every path there (mi_home relative to mictl.toml gave a relative
// one).
func TestExportsWarnOfAFaultyShippedCApp(t *testing.T) {
	dir := inTempDir(t)
	if code, _, errOut := runExport(t, "sim", "dist", "dist"); code != exitcode.OK {
		t.Fatalf("sim dist: exit %d: %s", code, errOut)
	}
	car := filepath.Join(dir, writeCar(t, dir, "dist/repository/deployment/server/carbonapps/broken_1.0.0.car", capp.Spec{Name: "broken", APIs: []capp.APISpec{{Context: "/broken"}}, Faulty: true}))
	writeFile(t, filepath.Join(dir, "mictl.toml"), "instances = 2\nmi_home = \"dist\"\n")
	for _, args := range [][]string{
		{"kubernetes", "--out", "k8s", "--capps-in-image"},
		{"kubernetes", "--out", "k8s"},
		{"compose", "--out", "compose.yaml"},
		{"systemd", "--user", "--out", "units"},
	} {
		what := "export " + strings.Join(args, " ")
		code, out, errOut := runExport(t, append(append([]string{"export"}, args...), "-o", "json")...)
		if code != exitcode.OK {
			t.Fatalf("%s: exit %d: %s", what, code, errOut)
		}
		if !strings.Contains(errOut, "warning: MI deploys broken_1.0.0 as faulty on mi-1, mi-2 (its artifacts fail to deploy): ") {
			t.Errorf("%s said:\n%s\nwant a warning of broken_1.0.0", what, errOut)
		}
		var r struct {
			Faulty []struct{ File string } `json:"faulty_capps"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Faulty) != 1 || r.Faulty[0].File != car {
			t.Errorf("%s -o json: faulty_capps %+v (%v), want the one file %s", what, r.Faulty, err, car)
		}
	}
}

func TestExportSystemdNotesUnpreparedHomes(t *testing.T) {
	inTempDir(t)
	code, out, errOut := runExport(t, "export", "systemd", "--out", "units")
	if code != exitcode.OK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "run mictl generate") || !strings.Contains(out, "mictl-mi@mi-1.service.d/10-mictl.conf") {
		t.Errorf("stdout %s\nstderr %s", out, errOut)
	}
	// Its own drop-in directories do not make an export directory foreign.
	if code, _, errOut := runExport(t, "export", "systemd", "--out", "units"); code != exitcode.OK {
		t.Fatalf("export again: exit %d: %s", code, errOut)
	}
}

func TestExportCommandsHaveHelpAndExamples(t *testing.T) {
	streams, _, _ := testStreams()
	for _, cmd := range allCommands(newCmdExport(streams, &globalOptions{})) {
		if cmd.Short == "" || cmd.Example == "" {
			t.Errorf("%s lacks short help or examples", cmd.CommandPath())
		}
	}
}

// The help of the exports that carry files MI's image lacks names the
// inbound endpoints kept as synapse files beside the shipped CApps: it
// named the CApps alone, though both exports carry the endpoints too.
func TestExportHelpNamesTheInboundEndpointsItCarries(t *testing.T) {
	streams, _, _ := testStreams()
	for _, cmd := range allCommands(newCmdExport(streams, &globalOptions{})) {
		if name := cmd.Name(); name == "kubernetes" || name == "compose" {
			if words := strings.Join(strings.Fields(cmd.Long), " "); !strings.Contains(words, "inbound endpoints the distribution keeps as synapse files") {
				t.Errorf("%s --help does not say it carries the inbound endpoints the distribution keeps as synapse files:\n%s", cmd.CommandPath(), cmd.Long)
			}
		}
	}
}

// The exports that expose ports say they expose the debugger's and the
// unit test server's too, which MI opens with no offset: their help named
// the inbound endpoints alone.
func TestExportHelpNamesThePortsMIDoesNotOffset(t *testing.T) {
	streams, _, _ := testStreams()
	for _, cmd := range allCommands(newCmdExport(streams, &globalOptions{})) {
		if name := cmd.Name(); name == "kubernetes" || name == "compose" {
			if words := strings.Join(strings.Fields(cmd.Long), " "); !strings.Contains(words, "debugger's") || !strings.Contains(words, "unit test server's") {
				t.Errorf("%s --help does not say it exposes the debugger's and the unit test server's ports:\n%s", cmd.CommandPath(), cmd.Long)
			}
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// listTree names every file under dir with its size, to see that nothing
// changed.
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b.WriteString(path + " " + info.Mode().String() + " " + info.ModTime().String() + "; ")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The exports carry the environment `mictl up` captures (JAVA_HOME,
// JAVA_OPTS, ...), as each exporter says: the plan's extra ports, which
// JAVA_OPTS opens (the debugger's), come with the JAVA_OPTS that opens them.
func TestExportsCarryTheCapturedEnvironment(t *testing.T) {
	inTempDir(t)
	t.Setenv("JAVA_HOME", "/opt/jdk-21")
	t.Setenv("JAVA_OPTS", "-Desb.debug=true")
	if code, _, errOut := runExport(t, "export", "systemd", "--user", "--out", "units"); code != exitcode.OK {
		t.Fatalf("export systemd: %s", errOut)
	}
	dropIn, err := os.ReadFile(filepath.Join("units", "mictl-mi@mi-1.service.d", "10-mictl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Environment=JAVA_HOME=/opt/jdk-21\n", "Environment=JAVA_OPTS=-Desb.debug=true\n"} {
		if !strings.Contains(string(dropIn), want) {
			t.Errorf("the drop-in lacks %q:\n%s", want, dropIn)
		}
	}
	if code, _, errOut := runExport(t, "export", "kubernetes", "--out", "k8s"); code != exitcode.OK {
		t.Fatalf("export kubernetes: %s", errOut)
	}
	deployment, err := os.ReadFile(filepath.Join("k8s", "deployment-mi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: JAVA_OPTS\n              value: -Desb.debug=true\n", "name: debug-9005\n"} {
		if !strings.Contains(string(deployment), want) {
			t.Errorf("the Deployment lacks %q:\n%s", want, deployment)
		}
	}
}

// An inbound endpoint whose port is $SYSTEM:NAME deploys under mictl up,
// whose servers get the daemon's whole environment; each engine passes
// only what it is given, so each export carries NAME as the server gets
// it (nothing runs here: this shell's), and no other variable. Without
// it MI fails the endpoint: the CApp is faulty, /healthz answers 500.
func TestExportsCarryTheVariablesInboundPortsComeFrom(t *testing.T) {
	dir := inTempDir(t)
	writeCar(t, dir, "build/dyn_1.0.0.car", capp.Spec{Name: "dyn", Inbounds: []capp.InboundSpec{{Protocol: "http", Placeholder: "$SYSTEM:ORDERS_PORT"}}})
	writeFile(t, filepath.Join(dir, "mictl.toml"), "instances = 2\ncapps = [\"build/dyn_1.0.0.car\"]\n")
	t.Setenv("ORDERS_PORT", "9000")
	t.Setenv("UNRELATED", "1")
	for _, c := range []struct {
		args       []string
		file, want string
	}{
		{[]string{"systemd", "--user", "--out", "units"}, filepath.Join("units", "mictl-mi@mi-2.service.d", "10-mictl.conf"), "Environment=ORDERS_PORT=9000\n"},
		{[]string{"compose", "--out", "compose.yaml"}, "compose.yaml", "      ORDERS_PORT: \"9000\"\n"},
		{[]string{"kubernetes", "--out", "k8s"}, filepath.Join("k8s", "deployment-mi.yaml"), "- name: ORDERS_PORT\n              value: \"9000\"\n"},
	} {
		if code, _, errOut := runExport(t, append([]string{"export"}, c.args...)...); code != exitcode.OK {
			t.Fatalf("export %s: %s", c.args[0], errOut)
		}
		data, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), c.want) || strings.Contains(string(data), "UNRELATED") {
			t.Errorf("export %s: %s should hold %q and no other variable of this shell:\n%s", c.args[0], c.file, c.want, data)
		}
	}
}

// An inbound endpoint whose port is $FILE:key deploys under mictl up,
// whose MI reads the key from its home's conf/file.properties (else the
// distribution's, which the clone copies); the MI of an image reads the
// image's own, without it. Compose and Kubernetes carry each instance's
// file, and instances whose files differ are not replicas of one
// Deployment.
func TestExportsCarryTheFilePropertiesMIResolves(t *testing.T) {
	dir := inTempDir(t)
	writeCar(t, dir, "build/fil_1.0.0.car", capp.Spec{Name: "fil", Inbounds: []capp.InboundSpec{{Protocol: "http", Placeholder: "$FILE:orders_port"}}})
	writeFile(t, filepath.Join(dir, "mictl.toml"), "instances = 2\ncapps = [\"build/fil_1.0.0.car\"]\n")
	writeFile(t, filepath.Join(dir, "instances", ".dist", "conf", "file.properties"), "orders_port=9100\n")
	writeFile(t, filepath.Join(dir, "instances", "mi-2", "conf", "file.properties"), "orders_port=9200\n")
	want := map[string]string{"mi-1": "orders_port=9100\n", "mi-2": "orders_port=9200\n"}
	const target = "/home/wso2carbon/wso2mi-4.4.0/conf/file.properties"

	if code, _, errOut := runExport(t, "export", "compose", "--out", "compose.yaml"); code != exitcode.OK {
		t.Fatalf("export compose: %s", errOut)
	}
	composeFile, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, props := range want {
		rel := filepath.Join("compose-files", name, "file.properties")
		if got, err := os.ReadFile(rel); err != nil || string(got) != props {
			t.Errorf("compose: %s holds %q (%v), want %q", rel, got, err, props)
		}
		if mount := "source: ./" + rel + "\n        target: " + target + "\n"; !strings.Contains(string(composeFile), mount) {
			t.Errorf("compose: the service %s lacks the mount %q:\n%s", name, mount, composeFile)
		}
	}

	if code, _, errOut := runExport(t, "export", "kubernetes", "--out", "k8s"); code != exitcode.OK {
		t.Fatalf("export kubernetes: %s", errOut)
	}
	// The generated instances' Deployment is named for the prefix.
	for name, props := range map[string]string{"mi": want["mi-1"], "mi-2": want["mi-2"]} {
		secret, err := os.ReadFile(filepath.Join("k8s", "secret-"+name+"-deployment-toml.yaml"))
		if err != nil {
			t.Fatalf("kubernetes: no Deployment %s: %v", name, err)
		}
		if line := "file.properties: " + base64.StdEncoding.EncodeToString([]byte(props)) + "\n"; !strings.Contains(string(secret), line) {
			t.Errorf("kubernetes: the Secret of %s lacks %q:\n%s", name, line, secret)
		}
		deployment, err := os.ReadFile(filepath.Join("k8s", "deployment-"+name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if mount := "mountPath: " + target + "\n              subPath: file.properties\n"; !strings.Contains(string(deployment), mount) {
			t.Errorf("kubernetes: the Deployment of %s lacks the mount %q:\n%s", name, mount, deployment)
		}
	}
}

// An export after mictl down (the units or containers of the last one
// took over) gives the stopped instances this shell's environment, as the
// next up would: where that lacks the JVM settings of their last run, the
// export says so, each setting with both values (a secret's hidden), on
// stderr and under last_run_environment, rather than drop them unsaid.
func TestExportsNoteTheLastRunsEnvironmentTheyDoNotCarry(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "mictl.toml"), "instances = 2\n")
	// This shell: the last run's heap, none of its other settings.
	for _, name := range []string{"JAVA_HOME", "JAVA_OPTS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS"} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	t.Setenv("JVM_MEM_OPTS", "-Xmx2g")
	store, err := state.Open(filepath.Join(dir, "instances", ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	ran := []string{"JAVA_OPTS=-Dfoo=bar -Djavax.net.ssl.keyStorePassword=s3cret", "JVM_MEM_OPTS=-Xmx2g"}
	f := &state.File{Version: state.SchemaVersion, Instances: []state.Instance{
		{Name: "mi-1", Offset: 10, State: state.StateStopped, Env: append(ran, "nodeId=mi-1")},
		{Name: "mi-2", Offset: 11, State: state.StateStopped, Env: append(ran, "nodeId=mi-2")},
	}}
	if err := store.Save(f); err != nil {
		t.Fatal(err)
	}
	// systemd carries the whole environment, Compose and Kubernetes the
	// JVM settings alone: each says which.
	noteOf := func(what string) string {
		return `mi-1 and mi-2 are not running: the export gives them this shell's ` + what + `, as the next mictl up would, not their last run's (recorded by mictl up): ` +
			`JAVA_OPTS unset (last run: "-Dfoo=bar -Djavax.net.ssl.keyStorePassword=<hidden>"); to export them, set them in this shell and export again`
	}
	for _, args := range [][]string{{"systemd", "--user", "--out", "units"}, {"compose", "--out", "compose.yaml"}, {"kubernetes", "--out", "k8s"}} {
		note := noteOf("JVM settings")
		if args[0] == "systemd" {
			note = noteOf("environment")
		}
		code, out, errOut := runExport(t, append([]string{"export"}, append(args, "-o", "json")...)...)
		if code != exitcode.OK {
			t.Fatalf("export %s: %s", args[0], errOut)
		}
		if !strings.Contains(errOut, "note: "+note+"\n") || strings.Contains(errOut+out, "s3cret") {
			t.Errorf("export %s said:\n%s\nwant the note %q, and no secret", args[0], errOut, note)
		}
		jsonschematest.Validate(t, "export", []byte(out))
		var r struct {
			LastRun []struct {
				Instances []string
				Variables []struct {
					Variable string
					Exported *string
					LastRun  *string `json:"last_run"`
					Carried  bool
				}
				Message string
			} `json:"last_run_environment"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.LastRun) != 1 {
			t.Fatalf("export %s -o json: last_run_environment (%v):\n%s", args[0], err, out)
		}
		n := r.LastRun[0]
		if !slices.Equal(n.Instances, []string{"mi-1", "mi-2"}) || n.Message != note || len(n.Variables) != 1 || n.Variables[0].Variable != "JAVA_OPTS" ||
			n.Variables[0].Exported != nil || !n.Variables[0].Carried || n.Variables[0].LastRun == nil || *n.Variables[0].LastRun != "-Dfoo=bar -Djavax.net.ssl.keyStorePassword=<hidden>" {
			t.Errorf("export %s -o json: last_run_environment %+v", args[0], n)
		}
	}
}

// A JVM setting holding a secret, whatever spelling its name has, lands
// only in files no one but their owner reads, whichever engine the export
// is for.
func TestExportsKeepJVMSecretsPrivate(t *testing.T) {
	// The test's name is in its directory, which the units name: the
	// value must not be in it.
	for _, property := range []string{"javax.net.ssl.keyStorePassword", "db.pwd", "gateway.api-key"} {
		t.Run(property, func(t *testing.T) {
			dir := inTempDir(t)
			opts := "-Xmx1g -D" + property + "=s3cret-value"
			t.Setenv("JAVA_OPTS", opts)
			for _, args := range [][]string{
				{"systemd", "--user", "--out", "units"},
				{"compose", "--out", "compose.yaml"},
				{"kubernetes", "--out", "k8s"},
			} {
				if code, _, errOut := runExport(t, append([]string{"export"}, args...)...); code != exitcode.OK {
					t.Fatalf("export %s: exit %d: %s", args[0], code, errOut)
				}
			}
			inSecret := base64.StdEncoding.EncodeToString([]byte(opts)) // as a Kubernetes Secret holds it
			holding := 0
			err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				if !strings.Contains(string(data), "s3cret-value") && !strings.Contains(string(data), inSecret) {
					return nil
				}
				holding++
				info, err := d.Info()
				if err != nil {
					return err
				}
				if info.Mode().Perm() != 0o600 {
					t.Errorf("%s holds the secret with mode %v; want 0600", path, info.Mode())
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// A drop-in, the Compose file, the Kubernetes Secret.
			if holding != 3 {
				t.Errorf("%d files hold the secret, want 3", holding)
			}
		})
	}
}

// An --out under a file names the file in the way, not open's or
// mkdir's words.
func TestExportOutUnderAFile(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "deploy"), "a file")
	code, _, errOut := runExport(t, "export", "compose", "--out", "deploy/sub/compose.yaml")
	if want := "flag --out: deploy is a file, where deploy/sub/compose.yaml needs a directory; choose another --out"; code != exitcode.Usage || !strings.Contains(errOut, want) {
		t.Errorf("compose: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
	code, _, errOut = runExport(t, "export", "systemd", "--out", "deploy/sub/units")
	if want := "flag --out: deploy is a file, where deploy/sub/units needs a directory; choose another --out"; code != exitcode.Usage || !strings.Contains(errOut, want) {
		t.Errorf("systemd: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
}

// The restart policy the instances run with (the flags of the daemon the
// last up started, which the state file records) is not one an export
// carries: each export says so, and how its engine restarts instead, as
// it says of the last up's planning flags. Defaults, or no daemon
// recorded, say nothing.
func TestExportsNoteTheRestartPolicyTheyDoNotCarry(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "mictl.toml"), "instances = 1\n")
	record := func(d *state.Daemon) {
		t.Helper()
		store, err := state.Open(filepath.Join(dir, "instances", ".mictl"))
		if err != nil {
			t.Fatal(err)
		}
		// Wanted running: what an up left supervised.
		f := &state.File{Version: state.SchemaVersion, Daemon: d,
			Instances: []state.Instance{{Name: "mi-1", Offset: 10, State: state.StateBackoff}}}
		if err := store.Save(f); err != nil {
			t.Fatal(err)
		}
	}
	args := func(restart, maxRestarts string) []string {
		return []string{"--instances-dir", filepath.Join(dir, "instances"), "--restart", restart, "--max-restarts", maxRestarts, "--backoff", "250ms"}
	}
	recorded := func(d *state.Daemon) []string {
		if d == nil {
			return nil
		}
		return d.Args
	}
	const note = "note: the instances run with --restart=never --max-restarts=2 (their daemon's), a restart policy the export does not carry: "
	for _, tc := range []struct {
		daemon *state.Daemon
		want   string // "" for no note
	}{
		{&state.Daemon{Args: args("never", "2")}, note},
		{&state.Daemon{Args: args("on-failure", "5")}, ""},
		{nil, ""},
	} {
		record(tc.daemon)
		for _, e := range []struct {
			args []string
			how  string
		}{
			{[]string{"kubernetes", "--out", "k8s"}, "the kubelet restarts MI"},
			{[]string{"systemd", "--user", "--out", "units"}, "systemd restarts a server"},
			{[]string{"compose", "--out", "compose.yaml"}, "Docker restarts a container"},
		} {
			kind, how := e.args[0], e.how
			code, _, errOut := runExport(t, append([]string{"export"}, e.args...)...)
			if code != exitcode.OK {
				t.Fatalf("export %s: exit %d: %s", kind, code, errOut)
			}
			if got := strings.Contains(errOut, "restart policy the export does not carry"); got != (tc.want != "") ||
				tc.want != "" && !strings.Contains(errOut, tc.want+how) {
				t.Errorf("export %s with the daemon's arguments %q recorded said:\n%s\nwant %q", kind, recorded(tc.daemon), errOut, tc.want+how)
			}
		}
	}
}

// An instance gone from mictl.toml since the last export: its files go
// with the earlier export, and the export names them (stderr, and
// "removed" in -o json), since the units copied into place or the
// objects applied from them keep running it.
func TestExportNamesTheFilesItNoLongerWrites(t *testing.T) {
	dir := inTempDir(t)
	lo := testports.Base(t, testports.Other, 2)
	offsets := func(n int) string {
		var list []string
		for i := range n {
			list = append(list, fmt.Sprint(lo+i))
		}
		return strings.Join(list, ",")
	}
	for _, tc := range []struct {
		args    []string
		removed []string // relative to dir
	}{
		{[]string{"systemd", "--user", "--out", "units"}, []string{"units/mictl-mi@mi-2.service.d/10-mictl.conf"}},
		{[]string{"compose", "--out", "compose.yaml"}, []string{"compose-files/mi-2/deployment.toml"}},
		{[]string{"kubernetes", "--out", "k8s"}, []string{"k8s/deployment-mi-2.yaml", "k8s/secret-mi-2-deployment-toml.yaml", "k8s/service-mi-2.yaml"}},
	} {
		export := append([]string{"export"}, tc.args...)
		writeFile(t, filepath.Join(dir, "mictl.toml"), "instances = 2\n[[instance]]\nname = \"mi-2\"\noverrides = { \"server.hostname\" = \"mi-2.example.com\" }\n")
		if code, _, errOut := runExport(t, append(export, "--offsets", offsets(2))...); code != exitcode.OK || strings.Contains(errOut, "note: removed") {
			t.Fatalf("first export %s: exit %d:\n%s", tc.args[0], code, errOut)
		}
		writeFile(t, filepath.Join(dir, "mictl.toml"), "instances = 1\n")
		code, out, errOut := runExport(t, append(export, "--offsets", offsets(1), "-o", "json")...)
		if code != exitcode.OK {
			t.Fatalf("export %s again: exit %d:\n%s", tc.args[0], code, errOut)
		}
		jsonschematest.Validate(t, "export", []byte(out))
		var r struct {
			Removed []string `json:"removed"`
		}
		var want []string
		for _, p := range tc.removed {
			want = append(want, filepath.Join(dir, p))
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || !slices.Equal(r.Removed, want) {
			t.Errorf("export %s -o json: removed %q (%v), want %q", tc.args[0], r.Removed, err, want)
		}
		if note := "note: removed " + strings.Join(tc.removed, ", ") + ", which the earlier export wrote and this one does not"; !strings.Contains(errOut, note) {
			t.Errorf("export %s: stderr does not say %q:\n%s", tc.args[0], note, errOut)
		}
		for _, p := range tc.removed {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("export %s: %s is still there (%v)", tc.args[0], p, err)
			}
		}
		// Nothing gone: an empty list, not null.
		if _, out, _ = runExport(t, append(export, "--offsets", offsets(1), "-o", "json")...); !strings.Contains(out, `"removed": []`) {
			t.Errorf("export %s with nothing removed:\n%s", tc.args[0], out)
		}
	}
}

// The next step of an export into a path with a space pastes as written.
func TestExportNextStepQuotesItsPath(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "mictl.toml"), exportTOML)
	for _, tc := range []struct {
		args []string
		next string
	}{
		{[]string{"export", "compose", "--out", "my deploy/compose.yaml"}, "next: docker compose -f 'my deploy/compose.yaml' up -d --remove-orphans"},
		{[]string{"export", "kubernetes", "--out", "my k8s"}, "next: kubectl apply -k 'my k8s'"},
	} {
		if code, _, errOut := runExport(t, tc.args...); code != exitcode.OK || !strings.Contains(errOut, tc.next) {
			t.Errorf("%s: exit %d, said:\n%s\nwant %q", strings.Join(tc.args, " "), code, errOut, tc.next)
		}
	}
}

// Every note an export gives on stderr is in -o json too, under a key of
// its own that every kind of export has (null or empty where it says
// nothing): a script reading stdout alone exported settings other than
// those that run, dropped a restart policy, left CApps out or started
// units without homes, unwarned.
func TestExportJSONKeepsEveryNote(t *testing.T) {
	dir := inTempDir(t)
	if code, _, errOut := runExport(t, "sim", "dist", "dist"); code != exitcode.OK {
		t.Fatalf("sim dist: exit %d: %s", code, errOut)
	}
	// Shipped: a CApp too large for a client-side kubectl apply, and an
	// inbound endpoint kept as a synapse file.
	exporttest.CApp(t, filepath.Join(dir, "dist", "repository", "deployment", "server", "carbonapps"), "Big_1.0.0.car", 200<<10)
	writeFile(t, filepath.Join(dir, "dist", "repository", "deployment", "server", "synapse-configs", "default", "inbound-endpoints", "LegacyIn.xml"),
		`<inboundEndpoint xmlns="http://ws.apache.org/ns/synapse" name="LegacyIn" protocol="http" sequence="main">
  <parameters><parameter name="inbound.http.port">7075</parameter></parameters>
</inboundEndpoint>
`)
	writeFile(t, filepath.Join(dir, "mictl.toml"), "instances = 1\nmi_home = \"dist\"\n")
	// What an up --offset-method flag from a shell with JAVA_OPTS=-Xmx2g
	// and no JAVA_HOME left supervised by a daemon started with
	// --restart never; this shell has another JAVA_OPTS.
	store, err := state.Open(filepath.Join(dir, "instances", ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(&state.File{Version: state.SchemaVersion, UpArgs: []string{"--offset-method", "flag"},
		Daemon:    &state.Daemon{Args: []string{"--restart", "never"}},
		Instances: []state.Instance{{Name: "mi-1", Offset: 10, State: state.StateBackoff, Env: []string{"JAVA_OPTS=-Xmx2g"}}}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JAVA_OPTS", "-Xmx1g")
	t.Setenv("JAVA_HOME", "")
	os.Unsetenv("JAVA_HOME")

	for _, c := range []struct {
		args []string
		// the keys that hold a note; every other note key is null or empty
		notes []string
	}{
		{[]string{"kubernetes", "--out", "k8s"}, []string{"environment", "up_flags", "restart_policy", "shipped_capps", "shipped_inbound_endpoints", "server_side_apply"}},
		{[]string{"kubernetes", "--out", "k8s-in-image", "--capps-in-image"}, []string{"environment", "up_flags", "restart_policy", "shipped_capps", "shipped_inbound_endpoints"}},
		{[]string{"compose", "--out", "compose.yaml"}, []string{"environment", "up_flags", "restart_policy", "shipped_capps", "shipped_inbound_endpoints"}},
		{[]string{"systemd", "--user", "--out", "units"}, []string{"environment", "up_flags", "restart_policy", "unprepared_homes", "java_home_unset"}},
	} {
		what := "export " + strings.Join(c.args, " ")
		code, out, errOut := runExport(t, append(append([]string{"export"}, c.args...), "-o", "json")...)
		if code != exitcode.OK {
			t.Fatalf("%s: exit %d: %s", what, code, errOut)
		}
		jsonschematest.Validate(t, "export", []byte(out))
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		said := notedKeys(t, what, r, errOut)
		for _, key := range []string{"environment", "up_flags", "restart_policy", "shipped_capps", "shipped_inbound_endpoints", "server_side_apply", "unprepared_homes", "java_home_unset"} {
			v, ok := r[key]
			if !ok {
				t.Errorf("%s: -o json has no %q", what, key)
			}
			if want := slices.Contains(c.notes, key); said[key] != want || (v != nil && len(messagesIn(v)) > 0) != want {
				t.Errorf("%s: %q is %v, noted on stderr %v; want a note %v", what, key, v, said[key], want)
			}
		}
		if shipped, _ := r["shipped_capps"].(map[string]any); shipped != nil {
			car := filepath.Join(dir, "dist", "repository", "deployment", "server", "carbonapps", "Big_1.0.0.car")
			if files, _ := shipped["files"].([]any); len(files) != 1 || files[0] != car || shipped["carried"] != !slices.Contains(c.args, "--capps-in-image") {
				t.Errorf("%s: shipped_capps %v; want %s, carried unless --capps-in-image", what, shipped, car)
			}
		}
		// The flag and its value apart, beside the note naming them.
		if got, want := fmt.Sprint(r["up_flags"]), "[map[flag:--offset-method message:"+messagesIn(r["up_flags"])[0]+" value:flag]]"; got != want {
			t.Errorf("%s: up_flags %s, want %s", what, got, want)
		}
		if env, _ := r["environment"].([]any); len(env) == 1 {
			want := `[map[carried:true exported:-Xmx2g this_shell:-Xmx1g variable:JAVA_OPTS]]`
			if got := fmt.Sprint(env[0].(map[string]any)["variables"]); got != want {
				t.Errorf("%s: environment's variables %s, want %s", what, got, want)
			}
		}
	}
}

// notedKeys checks that each note on stderr (errOut) is a message in r,
// an -o json output decoded, under its key, and returns the keys that
// hold one.
func notedKeys(t *testing.T, what string, r map[string]any, errOut string) map[string]bool {
	t.Helper()
	messages := map[string]string{} // message: key
	for key, v := range r {
		for _, m := range messagesIn(v) {
			messages[m] = key
		}
	}
	said := map[string]bool{}
	for line := range strings.Lines(errOut) {
		if note, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "note: "); ok {
			if key, ok := messages[note]; !ok {
				t.Errorf("%s: -o json lacks the note %q:\n%v", what, note, r)
			} else {
				said[key] = true
			}
		}
	}
	return said
}

// messagesIn is every "message" in v, a value decoded from JSON.
func messagesIn(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		if m, ok := v["message"].(string); ok {
			out = append(out, m)
		}
		for _, e := range v {
			out = append(out, messagesIn(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, messagesIn(e)...)
		}
	}
	return out
}
