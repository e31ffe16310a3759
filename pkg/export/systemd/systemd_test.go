package systemd

import (
	"errors"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/export/exporttest"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

var cases = []exporttest.Case{
	{Name: "toml-offsets", TOML: "instances = 2\n"},
	{Name: "flag-offsets-and-env", TOML: `instances = 2
offset_method = "flag"
[[instance]]
name = "edge"
overrides = { "server.hostname" = "edge.example.com" }
`, Env: []string{"JAVA_HOME=/usr/lib/jvm/java-21", `JAVA_OPTS=-Dquote="a b" -Dpercent=50% -Dvar=$HOME -Dback=\x`, "MICTL_SIM_STARTUP_DELAY=0"},
		Offsets: []int{20, 30, 40}},
	// Metrics without a flag offset; a CApp's inbound endpoint
	// (exporttest.InboundCApps: HTTP on 8085, shifted by the offset).
	{Name: "toml-metrics-inbound", TOML: "instances = 2\nmetrics = true\ncapps = [\"orders.car\"]\n",
		Built: exporttest.InboundCApps, Offsets: []int{20, 30}},
}

// prepared plans c with its homes prepared as `mictl up` prepares them
// (the simulator distribution cloned), so every path a unit names exists.
func prepared(t *testing.T, c exporttest.Case) *export.Input {
	t.Helper()
	dir := t.TempDir()
	target := exporttest.Target(t, dir, c)
	var names []string
	for _, inst := range target.Plan.Instances {
		names = append(names, inst.Name)
	}
	if _, err := target.Prepare(&state.File{}, names); err != nil {
		t.Fatal(err)
	}
	in, err := export.FromTarget(target, export.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func currentUser(t *testing.T) Options {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return Options{RunAs: u.Username, Group: g.Name}
}

// verify runs systemd's own checker on every unit of an export, as system
// or user units, and fails on any finding.
func verify(t *testing.T, unitDir string, in *export.Input, userUnits bool) {
	t.Helper()
	if out, err := analyze(t, unitDir, in, userUnits); err != nil || out != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// analyze is `systemd-analyze verify` of every unit in unitDir. It exits
// 0 on warnings (an unknown key, say): a clean unit also prints nothing.
func analyze(t *testing.T, unitDir string, in *export.Input, userUnits bool) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing under CI=true")
		}
		t.Skip("systemd-analyze is missing: the units are not verified")
	}
	args := []string{"verify", filepath.Join(unitDir, Template), filepath.Join(unitDir, Target)}
	for _, inst := range in.Instances {
		args = append(args, Instance(inst.Name))
	}
	if userUnits {
		args = append([]string{"--user"}, args...)
	}
	cmd := exec.Command(bin, args...)
	// The unit directory first, then the system's (the trailing ':').
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+unitDir+":", "XDG_RUNTIME_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The checker above is not blind: a wrong key in a drop-in is found.
func TestVerifyFindsABadDropIn(t *testing.T) {
	in := prepared(t, cases[0])
	files, err := Export(in, Options{User: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "units")
	if err := export.WriteDir(dir, Kind, files, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, DropIn(in.Instances[0].Name))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("KillMod=control-group\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := analyze(t, dir, in, true); !strings.Contains(out, "KillMod") {
		t.Fatalf("systemd-analyze did not find the misspelt key:\n%s", out)
	}
}

func TestSystemdAnalyzeVerifiesEveryUnit(t *testing.T) {
	for _, c := range cases {
		for _, userUnits := range []bool{false, true} {
			name := c.Name + "/system"
			if userUnits {
				name = c.Name + "/user"
			}
			t.Run(name, func(t *testing.T) {
				in := prepared(t, c)
				opts := currentUser(t)
				if userUnits {
					opts = Options{User: true}
				}
				files, err := Export(in, opts)
				if err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join(t.TempDir(), "units")
				if err := export.WriteDir(dir, Kind, files, 0o755); err != nil {
					t.Fatal(err)
				}
				verify(t, dir, in, userUnits)
			})
		}
	}
}

// Each drop-in holds exactly what the supervisor launches the instance
// with: its environment and, with offset_method "flag", -DportOffset.
func TestDropInIsTheLaunchRecord(t *testing.T) {
	in := prepared(t, cases[1])
	files, err := Export(in, currentUser(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range in.Instances {
		var unit string
		for _, f := range files {
			if f.Path == DropIn(inst.Name) {
				unit = string(f.Data)
			}
		}
		for _, kv := range supervisor.LaunchEnv(&inst.Launch) {
			if !strings.Contains(unit, "\nEnvironment="+quote(kv, false)+"\n") {
				t.Errorf("%s: drop-in lacks %s:\n%s", inst.Name, kv, unit)
			}
		}
		wantExec := "\nExecStart=\nExecStart=/bin/sh " + inst.Launch.Home + "/" + home.StartScript + " -DportOffset=" + strconv.Itoa(inst.Offset) + "\n"
		if !strings.Contains(unit, wantExec) {
			t.Errorf("%s: drop-in does not start with -DportOffset=%d:\n%s", inst.Name, inst.Offset, unit)
		}
	}
	template := string(files[0].Data)
	for _, want := range []string{"\nType=simple\n", "\nKillMode=control-group\n", "\nTimeoutStopSec=200s\n", "\nRestart=always\n",
		"\nStartLimitBurst=5\n", "\nPartOf=mictl-mi.target\n", "\nUser=", "\nGroup=", "mictl generate"} {
		if !strings.Contains(template, want) {
			t.Errorf("template lacks %q:\n%s", want, template)
		}
	}
	if strings.Contains(template, "\nPIDFile=") || strings.Contains(template, "Type=forking") {
		t.Errorf("template races a pid file:\n%s", template)
	}
}

// A drop-in's comments say what it carries: the arguments its ExecStart
// adds, each with what it is for, and every port the instance opens as
// `mictl ports table` shows them, its CApps' inbound endpoints too.
func TestDropInCommentsSayWhatItCarries(t *testing.T) {
	offsetNote := `#   -DportOffset=20: its offset (offset_method "flag"), which replaces the one in deployment.toml.`
	metricsNote := "#   -DenablePrometheusApi=true: with the MetricHandler in deployment.toml, MI's Prometheus metrics at /metric-service/metrics (metrics = true)."
	both := cases[1]
	both.TOML = "metrics = true\n" + both.TOML
	for _, tc := range []struct {
		name      string
		c         exporttest.Case
		want, not []string
	}{
		{"flag offset", cases[1], []string{offsetNote, "# mi-1: offset 20; http 8300, https 8263, internal_http 9211, management 9174.\n"},
			[]string{"enablePrometheusApi"}},
		{"metrics", cases[2], []string{metricsNote,
			"# mi-1: offset 20; http 8300, https 8263, internal_http 9211, management 9174, inbound orders_1.0.0/HTTPInbound8085 8105.\n"},
			[]string{"portOffset", "offset_method"}},
		{"both", both, []string{offsetNote, metricsNote}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := prepared(t, tc.c)
			files, err := Export(in, Options{User: true})
			if err != nil {
				t.Fatal(err)
			}
			unit := string(fileAt(t, files, DropIn("mi-1")).Data)
			if !strings.Contains(unit, "\n# The start script's arguments, as mictl launches it:\n") {
				t.Errorf("no comment on the arguments:\n%s", unit)
			}
			for _, w := range tc.want {
				if !strings.Contains(unit, w) {
					t.Errorf("drop-in lacks %q:\n%s", w, unit)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(unit, n) {
					t.Errorf("drop-in speaks of %s:\n%s", n, unit)
				}
			}
		})
	}
	// Without arguments, no ExecStart and no word of them.
	in := prepared(t, cases[0])
	files, err := Export(in, Options{User: true})
	if err != nil {
		t.Fatal(err)
	}
	if unit := string(fileAt(t, files, DropIn("mi-1")).Data); strings.Contains(unit, "ExecStart") || strings.Contains(unit, "arguments") {
		t.Errorf("a drop-in without arguments speaks of them:\n%s", unit)
	}
}

// An argument mictl has no note for is listed as it is.
func TestArgNoteOfAnUnknownArgument(t *testing.T) {
	if got := argNote("-Dother=1"); got != "-Dother=1" {
		t.Errorf("argNote = %q", got)
	}
}

func fileAt(t *testing.T, files []export.File, path string) export.File {
	t.Helper()
	for _, f := range files {
		if f.Path == path {
			return f
		}
	}
	t.Fatalf("no %s in the export", path)
	return export.File{}
}

func TestUserUnitsHaveNoUser(t *testing.T) {
	in := prepared(t, cases[0])
	files, err := Export(in, Options{User: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.Contains(string(f.Data), "\nUser=") || strings.Contains(string(f.Data), "multi-user.target") {
			t.Errorf("%s is not a user unit:\n%s", f.Path, f.Data)
		}
	}
}

// systemd unquotes Environment= and ExecStart= words with C escapes inside
// double quotes, expands %-specifiers in both and $VAR in command lines.
func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		in      string
		command bool
		want    string
	}{
		{"A=b", false, "A=b"},
		{"JAVA_OPTS=-Xmx1g -Dx=1", false, `"JAVA_OPTS=-Xmx1g -Dx=1"`},
		{`A=say "hi"`, false, `"A=say \"hi\""`},
		{`A=c:\dir`, false, `"A=c:\\dir"`},
		{"A=50%", false, "A=50%%"},
		{"A=$HOME", false, "A=$HOME"},
		{"-Dx=$HOME", true, "-Dx=$$HOME"},
		{"-Dx=a;b", true, `"-Dx=a;b"`},
		{"/srv/my homes/mi-1/bin/micro-integrator.sh", true, `"/srv/my homes/mi-1/bin/micro-integrator.sh"`},
	} {
		if got := quote(tc.in, tc.command); got != tc.want {
			t.Errorf("quote(%q, %v) = %s, want %s", tc.in, tc.command, got, tc.want)
		}
	}
	if got := withInstance("/srv/50% homes", "bin/micro-integrator.sh", true); got != `"/srv/50%% homes/%i/bin/micro-integrator.sh"` {
		t.Errorf("withInstance = %s", got)
	}
}

func TestControlCharactersAreRefused(t *testing.T) {
	in := prepared(t, exporttest.Case{Name: "nl", TOML: "instances = 1\n", Env: []string{"JAVA_OPTS=-Da=1\n-Db=2"}})
	_, err := Export(in, Options{User: true})
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "control character") {
		t.Fatalf("err = %v, want a config error about the line break", err)
	}
}

func TestGolden(t *testing.T) {
	in := prepared(t, cases[1])
	files, err := Export(in, Options{RunAs: "mi", Group: "mi"})
	if err != nil {
		t.Fatal(err)
	}
	// The homes lie in a temporary directory: name it as a user's would be.
	got := strings.ReplaceAll(exporttest.Describe(files), filepath.Dir(in.InstancesDir), "/srv/mictl")
	exporttest.Golden(t, "systemd/flag-offsets-and-env.txt", got)
	in = prepared(t, cases[2])
	files, err = Export(in, Options{RunAs: "mi", Group: "mi"})
	if err != nil {
		t.Fatal(err)
	}
	got = strings.ReplaceAll(exporttest.Describe(files), filepath.Dir(in.InstancesDir), "/srv/mictl")
	exporttest.Golden(t, "systemd/toml-metrics-inbound.txt", got)
}

// A drop-in whose environment holds a secret (a keystore's password in
// JAVA_OPTS) is for systemd alone to read; one without stays 0644, as the
// template beside it.
func TestDropInHoldingASecretIsPrivate(t *testing.T) {
	for env, want := range map[string]os.FileMode{
		"JAVA_OPTS=-Djavax.net.ssl.keyStorePassword=s3cret": 0o600,
		"JAVA_OPTS=-Xmx1g": 0o644,
	} {
		in := prepared(t, exporttest.Case{Name: "secret", TOML: "instances = 1\n", Env: []string{env}})
		files, err := Export(in, Options{User: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if f.Path == DropIn("mi-1") && f.Mode != want {
				t.Errorf("with %s the drop-in is %o, want %o", env, f.Mode, want)
			}
		}
	}
}

// Environment= lines follow no shell's order: the same settings captured
// from two shells that list them otherwise make the same drop-in.
func TestDropInOrderIsNotTheShells(t *testing.T) {
	env := []string{"JAVA_OPTS=-Dx=1", "JAVA_HOME=/opt/jdk", "JVM_MEM_OPTS=-Xmx1g", "MICTL_SIM_STARTUP_DELAY=0", "JAVA_TOOL_OPTIONS=-Dy=2"}
	reversed := slices.Clone(env)
	slices.Reverse(reversed)
	dropIns := map[string]bool{}
	for _, shell := range [][]string{env, reversed} {
		in := prepared(t, exporttest.Case{Name: "order", TOML: "instances = 1\n", Env: shell, Offsets: []int{10}})
		// Each case has homes of its own: name them alike.
		data, err := dropIn(in.Instances[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		dropIns[strings.ReplaceAll(string(data), filepath.Dir(in.InstancesDir), "/srv/mictl")] = true
	}
	if len(dropIns) != 1 {
		t.Errorf("two shells' orders make %d drop-ins:\n%s", len(dropIns), strings.Join(slices.Collect(maps.Keys(dropIns)), "\n---\n"))
	}
}
