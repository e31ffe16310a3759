package reconcile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/testports"
)

// What a run leaves in the state file is forgotten only once nothing is
// meant to run, and ForgetRun says whether it changed anything (a down
// then writes the file only when it does).
func TestForgetRun(t *testing.T) {
	t.Parallel()
	recorded := func(st string) *state.File {
		return &state.File{UpArgs: []string{"--instances=2"}, Configured: []string{"mi-1"}, ReloadError: "bad", ReloadBegun: true, ReloadLeftFailed: []string{"mi-1"},
			Instances: []state.Instance{{Name: "mi-1", State: st}}}
	}
	if f := recorded(state.StateStopped); !ForgetRun(f) || f.UpArgs != nil || f.Configured != nil || f.ReloadError != "" || f.ReloadBegun || f.ReloadLeftFailed != nil {
		t.Errorf("nothing runs: %+v, want the run forgotten and a change reported", f)
	}
	if f := recorded(state.StateStarting); ForgetRun(f) || f.UpArgs == nil {
		t.Errorf("an instance starting: the run was forgotten")
	}
	if ForgetRun(&state.File{}) {
		t.Errorf("nothing recorded: ForgetRun reported a change")
	}
}

// Merged records keep their restart counts and take the plan's order,
// whatever order the file had them in: an instance purged and started
// again was listed last (mi-1, mi-3, mi-2). Instances the plan does not
// name follow, as they were.
func TestMergeKeepsThePlansOrder(t *testing.T) {
	t.Parallel()
	tgt := &Target{Plan: ports.Plan{Instances: []ports.Instance{{Name: "orders"}, {Name: "billing"}, {Name: "audit"}}}}
	f := &state.File{Instances: []state.Instance{{Name: "old-2"}, {Name: "audit", Restarts: 4, State: state.StateStopped}, {Name: "orders"}, {Name: "old-1"}}}
	tgt.Merge(f, []state.Instance{{Name: "billing", State: state.StateStarting}, {Name: "audit", State: state.StateStarting}})
	var got []string
	for _, inst := range f.Instances {
		got = append(got, inst.Name)
	}
	if want := []string{"orders", "billing", "audit", "old-2", "old-1"}; !slices.Equal(got, want) {
		t.Errorf("merged order %v, want %v", got, want)
	}
	if audit, _ := f.Instance("audit"); audit.Restarts != 4 || audit.State != state.StateStarting {
		t.Errorf("audit merged as %+v, want its new record with its 4 restarts", audit)
	}
}

// A stop of everything forgets the run with its intent, its instances
// still stopping; an instance meant to run (an up that began meanwhile)
// keeps it. RecallRun puts back what was forgotten only while something
// is still active and no up recorded its own run since.
func TestForgetStoppedRunAndRecallIt(t *testing.T) {
	t.Parallel()
	// mi-1's server still runs (this test process stands for it).
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	recorded := func(st string) *state.File {
		return &state.File{UpArgs: []string{"--instances=2"}, Configured: []string{"mi-1"}, ReloadError: "bad", ReloadBegun: true, ReloadLeftFailed: []string{"mi-2"},
			Instances: []state.Instance{{Name: "mi-1", State: state.StateStopping, Server: self}, {Name: "mi-2", State: st}}}
	}
	if f := recorded(state.StateStopped); ForgetRun(f) || f.UpArgs == nil {
		t.Errorf("ForgetRun forgot the run of a server still stopping")
	}
	f := recorded(state.StateStopped)
	m := ForgetStoppedRun(f)
	if m == nil || f.UpArgs != nil || f.Configured != nil || f.ReloadError != "" || f.ReloadBegun || f.ReloadLeftFailed != nil {
		t.Fatalf("every instance stopping or stopped: %+v, forgot %+v; want the run forgotten", f, m)
	}
	if m.ReloadError != "bad" || !m.ReloadBegun || len(m.UpArgs) != 1 || len(m.Configured) != 1 {
		t.Errorf("forgot %+v, want what the file held", m)
	}
	if f := recorded(state.StateStarting); ForgetStoppedRun(f) != nil || f.UpArgs == nil {
		t.Errorf("an instance starting: the run was forgotten")
	}

	f.Instances[0].State, f.Instances[0].Server = state.StateStopped, proc.Identity{}
	RecallRun(f, m) // nothing active: stays forgotten
	if f.UpArgs != nil {
		t.Errorf("recalled the run with nothing active: %+v", f)
	}
	f.Instances[0].Server = self // outlived its stop
	RecallRun(f, m)
	if f.ReloadError != "bad" || !f.ReloadBegun || len(f.UpArgs) != 1 || len(f.Configured) != 1 || !slices.Equal(f.ReloadLeftFailed, []string{"mi-2"}) {
		t.Errorf("a server still running: %+v, want the run recalled", f)
	}
	f.UpArgs, f.Configured, f.ReloadError = []string{"--instances=5"}, nil, ""
	RecallRun(f, m)
	if len(f.UpArgs) != 1 || f.UpArgs[0] != "--instances=5" || f.ReloadError != "" {
		t.Errorf("an up recorded its run since: %+v, want it kept", f)
	}
}

// An up whose instances all run prepares no home, and reads no
// distribution: mi_home may even be gone, the servers running from their
// own homes.
func TestPrepareNothingReadsNoDistribution(t *testing.T) {
	t.Parallel()
	target := &Target{Config: &config.Config{MIHome: filepath.Join(t.TempDir(), "moved-away")}}
	records, err := target.Prepare(&state.File{}, nil)
	if err != nil || len(records) != 0 {
		t.Fatalf("Prepare of no instance = %v, %v; want nothing, and no error", records, err)
	}
}

// A target's renderer renders an instance without overrides from its
// template and one with overrides in full, each as deployment.Render does.
func TestRenderFromTheTemplateOrInFull(t *testing.T) {
	cfg := loadConfig(t, fmt.Sprintf("instances = 3\nbase_offset = %d\n\n[[instance]]\nname = \"mi-2\"\noverrides = { \"server.hostname\" = \"mi-2.local\" }\n", planBase(t)))
	target, err := Build(cfg, &state.File{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	render := target.renderer()
	for _, inst := range target.Plan.Instances {
		got, err := render(inst)
		if err != nil {
			t.Fatal(err)
		}
		want, err := deployment.Render(cfg, target.Source, inst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s (offset %d): target rendered\n%s\nwant\n%s", inst.Name, inst.Offset, got, want)
		}
		if overridden := bytes.Contains(got, []byte(`"mi-2.local"`)); overridden != (inst.Name == "mi-2") {
			t.Errorf("%s: hostname override applied = %v", inst.Name, overridden)
		}
	}
}

// loadConfig writes text as mictl.toml in a directory of its own, beside
// a CApp o_1.0.0.car with an inbound HTTP endpoint on 8085, and loads it
// with no MICTL_* variable in the way.
func loadConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	for _, s := range config.Settings {
		t.Setenv(s.Env(), "")
		os.Unsetenv(s.Env())
	}
	t.Chdir(t.TempDir())
	writeCApp(t, "o_1.0.0.car", capp.Spec{Name: "o", Inbounds: []capp.InboundSpec{{Port: 8085}}})
	if err := os.WriteFile(config.DefaultFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// planBase returns the base offset of a span the test takes
// (testports.Base) to plan from, its ports (and o_1.0.0's inbound
// endpoint's, offset) the test's until it ends: plans are made against
// the host's sockets, and a server of another package's test on a port
// of fixed offsets moved an instance (CI: "offset 2000 -> 2001" where no
// change was wanted). The span's 20 offsets leave room above the base
// for the offsets a test names and those a plan moves an instance to.
func planBase(t *testing.T) int {
	t.Helper()
	return testports.Base(t, testports.Other, 20, 8085)
}

func writeCApp(t *testing.T, path string, spec capp.Spec) {
	t.Helper()
	var b bytes.Buffer
	if err := capp.Build(&b, spec); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// inbounds lists the inbound endpoint ports the plan of target gives each
// instance.
func inbounds(target *Target) map[string][]string {
	out := map[string][]string{}
	for _, inst := range target.Plan.Instances {
		out[inst.Name] = []string{}
		for _, e := range inst.Extras {
			if e.Role == ports.RoleInbound {
				out[inst.Name] = append(out[inst.Name], e.Name)
			}
		}
	}
	return out
}

// An instance the configuration does not name but the state file knows
// running (an earlier `up --instances 3` over a file of 1) runs the CApps
// every instance runs: its inbound ports are planned, and so checked, as
// the others' (they were missing: a port of its clashed with nothing).
// A reload plans it too while the configuration it applies never named
// it (it leaves it running), and not once it drops it.
func TestInstancesOnlyTheStateKnowsRunTheSharedCApps(t *testing.T) {
	base := planBase(t)
	cfg := loadConfig(t, fmt.Sprintf("instances = 1\nbase_offset = %d\ncapps = [\"o_1.0.0.car\"]\n", base))
	running := func(configured ...string) *state.File {
		return &state.File{Configured: configured, Instances: []state.Instance{
			{Name: "mi-1", Offset: base, State: state.StateStarting},
			{Name: "mi-2", Offset: base + 1, State: state.StateStarting},
			{Name: "mi-3", Offset: base + 2, State: state.StateStarting},
		}}
	}
	want := map[string][]string{"mi-1": {"o_1.0.0/HTTPInbound8085"}, "mi-2": {"o_1.0.0/HTTPInbound8085"}, "mi-3": {"o_1.0.0/HTTPInbound8085"}}
	for _, tc := range []struct {
		what string
		f    *state.File
		opts Options
		want map[string][]string
	}{
		{"up, check-conflicts, ports", running("mi-1"), Options{KeepUnknown: true}, want},
		{"a reload after a smaller up", running("mi-1"), Options{}, want},
		{"a reload of a file that dropped mi-2 and mi-3", running("mi-1", "mi-2", "mi-3"), Options{},
			map[string][]string{"mi-1": {"o_1.0.0/HTTPInbound8085"}}},
	} {
		target, err := Build(cfg, tc.f, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if got := inbounds(target); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: planned inbound endpoints %v, want %v", tc.what, got, tc.want)
		}
		for name := range tc.want {
			if len(target.Apps[name]) != 1 {
				t.Errorf("%s: %s runs CApps %v, want o_1.0.0", tc.what, name, target.Apps[name])
			}
		}
	}
}

// The CApps mi_home ships in its own carbonapps/ are every instance's:
// planned for each (and so checked) as declared ones, kept apart from
// those mictl deploys. One file of the distribution's and one declared
// with the same id are refused, naming both, as two declared would be.
func TestShippedCAppsArePlannedForEveryInstance(t *testing.T) {
	cfg := loadConfig(t, fmt.Sprintf("instances = 2\nbase_offset = %d\nmi_home = \"dist\"\n", planBase(t)))
	shipped := writeDist(t)
	writeCApp(t, filepath.Join(home.CarbonAppsDir("dist"), "ignored.CAR"), capp.Spec{Name: "ignored"}) // MI takes *.car only

	target, err := Build(cfg, &state.File{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"mi-1": {"inb_1.0.0/HTTPInbound8090"}, "mi-2": {"inb_1.0.0/HTTPInbound8090"}}
	if got := inbounds(target); !reflect.DeepEqual(got, want) {
		t.Errorf("planned inbound endpoints %v, want %v", got, want)
	}
	if len(target.Shipped) != 1 || target.Shipped[0].ID() != "inb_1.0.0" || len(target.Apps["mi-1"]) != 0 {
		t.Errorf("shipped %v, declared %v: want inb_1.0.0 shipped, nothing declared", target.Shipped, target.Apps)
	}

	writeCApp(t, "inb.car", capp.Spec{Name: "inb"})
	cfg.CApps, cfg.CAppsPos = []string{"inb.car"}, "mictl.toml:4:1"
	_, err = Build(cfg, &state.File{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "mictl.toml:4:1: instance mi-1: "+shipped+" (shipped in the distribution's carbonapps/") ||
		!strings.Contains(err.Error(), "are both CApp inb_1.0.0") {
		t.Errorf("a declared app with a shipped one's id: %v, want it refused naming both", err)
	}
}

// writeDist writes a distribution in ./dist that ships a CApp
// inb_1.0.0 with an inbound endpoint on 8090 in its carbonapps/, and
// returns that CApp's path.
func writeDist(t *testing.T) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join("dist", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("dist", home.StartScript), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join("dist", "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(deployment.SourceTOML("dist"), deploytoml.Template(), 0o644); err != nil {
		t.Fatal(err)
	}
	shipped := filepath.Join(home.CarbonAppsDir("dist"), "inb_1.0.0.car")
	writeCApp(t, shipped, capp.Spec{Name: "inb", Inbounds: []capp.InboundSpec{{Port: 8090}}})
	return shipped
}

// mictl never removes a CApp the distribution ships, even one an
// instance's record lists as if mictl had put it there (a state file
// rebuilt from the homes before it knew the distribution's did): the
// next reload took it for an app no longer declared and undeployed it
// from every instance, and diff then said nothing was to change.
func TestShippedCAppsInARecordAreNeverRemoved(t *testing.T) {
	base := planBase(t)
	cfg := loadConfig(t, fmt.Sprintf("instances = 1\nbase_offset = %d\nmi_home = \"dist\"\n", base))
	shipped := writeDist(t)
	sum, err := capp.Read(shipped)
	if err != nil {
		t.Fatal(err)
	}
	target, err := Build(cfg, &state.File{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := target.Home("mi-1")
	if err != nil {
		t.Fatal(err)
	}
	f := &state.File{Instances: []state.Instance{{Name: "mi-1", Home: dir, Offset: base, State: state.StateReady,
		Apps: []state.App{{ID: "inb_1.0.0", File: "inb_1.0.0.car", SHA256: sum.SHA256}}}}}
	c, err := Compare(target, f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.Why["mi-1"], "CApps") || slices.Contains(c.Redeploy, "mi-1") {
		t.Errorf("diff of a record listing the shipped CApp: %q (redeploy %v), want no CApp change", c.Why["mi-1"], c.Redeploy)
	}
	records, err := target.Prepare(f, []string{"mi-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home.CarbonAppsDir(dir), "inb_1.0.0.car")); err != nil {
		t.Errorf("the shipped CApp is gone from the home once prepared again: %v", err)
	}
	if len(records) != 1 || len(records[0].Apps) != 0 {
		t.Errorf("prepared records %+v, want mi-1 with no CApp of mictl's", records)
	}
}

// Each instance is started with a node identity of its own (MI takes a
// random one at every start otherwise), unless the user names it with
// [cluster_config] node_id in its overrides, which the environment would
// override. A node_id in the distribution's deployment.toml would be
// every instance's: each is named all the same.
func TestLaunchEnvNamesTheNode(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{Instance: []config.InstanceConfig{
		{Name: "mi-2", Overrides: map[string]any{deployment.NodeIDTOMLKey: "two"}},
	}}
	captured := []string{"JAVA_HOME=/jdk"}
	tg := &Target{Config: cfg, env: captured,
		Source: deployment.Source{Path: "deployment.toml", TOML: []byte("[cluster_config]\nnode_id = \"acme-node-1\"\n")}}
	for name, want := range map[string][]string{
		"mi-1": {"JAVA_HOME=/jdk", "nodeId=mi-1"},
		"mi-2": captured,
		"mi-3": {"JAVA_HOME=/jdk", "nodeId=mi-3"},
	} {
		if got := tg.launchEnv(name); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	if got := captured; !reflect.DeepEqual(got, []string{"JAVA_HOME=/jdk"}) {
		t.Errorf("the captured environment was changed: %v", got)
	}
	// Prepared again (a reload's restart, mictl restart), a record keeps
	// what the user's up captured and takes the node identity afresh.
	ran := []string{"JAVA_HOME=/jdk", "nodeId=mi-1"}
	if got := KeepCaptured(ran, []string{"JAVA_HOME=/other"}); !reflect.DeepEqual(got, []string{"JAVA_HOME=/jdk"}) {
		t.Errorf("node_id now set in deployment.toml: %v, want the captured environment alone", got)
	}
	if got := KeepCaptured([]string{"JAVA_HOME=/jdk"}, []string{"JAVA_HOME=/other", "nodeId=mi-1"}); !reflect.DeepEqual(got, ran) {
		t.Errorf("a record from before node identities: %v, want %v", got, ran)
	}
}

// A JAVA_OPTS that sets -DportOffset is refused before anything is
// planned, naming the variable: MI would take that offset instead of each
// instance's, all on one set of ports, and every start but one waited out
// its timeout before failing on a port the plan never had.
func TestJavaOptsSettingTheOffsetIsRefused(t *testing.T) {
	for _, s := range config.Settings {
		t.Setenv(s.Env(), "")
		os.Unsetenv(s.Env())
	}
	t.Chdir(t.TempDir())
	cfg, err := config.Load(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(cfg, &state.File{}, Options{Env: []string{"JAVA_OPTS=-Xmx2g -DportOffset=24900"}})
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "JAVA_OPTS (environment): -DportOffset=24900 sets MI's port offset") {
		t.Fatalf("Build = %v; want a configuration error naming JAVA_OPTS and -DportOffset=24900", err)
	}
	// The way to choose an offset instead is the one up and ports give:
	// mictl.toml has no [[instance]] table, so one to add. It said "set
	// offset = N in its [[instance]] table" of a table no one wrote.
	if want := `for mi-1, add to mictl.toml an [[instance]] table with name = "mi-1" and offset = N`; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Build = %v; want it to end %q", err, want)
	}
	// MI's script hands java JVM_MEM_OPTS too.
	_, err = Build(cfg, &state.File{}, Options{Env: []string{"JVM_MEM_OPTS=-Xmx2g -DportOffset=3"}})
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "JVM_MEM_OPTS (environment): -DportOffset=3 sets MI's port offset") {
		t.Fatalf("Build = %v; want a configuration error naming JVM_MEM_OPTS and -DportOffset=3", err)
	}
	// The JVM reads these itself: -DportOffset there reached every
	// instance's MI, which took that offset over the planned one.
	for _, name := range []string{"JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS"} {
		_, err = Build(cfg, &state.File{}, Options{Env: []string{name + "=-DportOffset=3"}})
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), name+" (environment): -DportOffset=3 sets MI's port offset") {
			t.Fatalf("Build = %v; want a configuration error naming %s and -DportOffset=3", err, name)
		}
	}
	if _, err := Build(cfg, &state.File{}, Options{Env: []string{"JAVA_OPTS=-Xmx2g -Dcom.sun.management.jmxremote.local.port=9999"}}); err != nil {
		t.Fatalf("Build with a JAVA_OPTS that sets no offset: %v", err)
	}
}

// A rolling restart starts each instance while the others still hold the
// ports they had. A port moved in the distribution's deployment.toml
// moves every instance's: listener.port 8281 -> 8282 gives mi-1 (offset
// 13000) 21282, the HTTP port of mi-2 (offset 13001) until mi-2
// restarts, and restarted in plan order mi-1 failed with a BindException.
// Instances that take each other's ports (offsets swapped) cannot be
// restarted one at a time in any order: they are one step, stopped all
// before any starts.
func TestRestartStepsFreeEachPortBeforeItIsTaken(t *testing.T) {
	t.Parallel()
	moved := func(http int) ports.Set {
		bases := ports.DefaultBases()
		bases[ports.HTTP] = http
		return bases
	}
	cases := []struct {
		name       string
		old, new   ports.Set
		offsets    []int
		newOffsets []int // the offsets planned now, when not offsets
		want       [][]string
	}{
		{"a port moved up takes the next instance's", moved(8281), moved(8282), []int{13000, 13001, 13002}, nil, [][]string{{"mi-3"}, {"mi-2"}, {"mi-1"}}},
		{"a port moved down takes the previous instance's", moved(8282), moved(8281), []int{13000, 13001, 13002}, nil, [][]string{{"mi-1"}, {"mi-2"}, {"mi-3"}}},
		{"no port taken keeps plan order", moved(8281), moved(8290), []int{13000, 13010, 13020}, nil, [][]string{{"mi-1"}, {"mi-2"}, {"mi-3"}}},
		{"offsets swapped restart together, after what takes none", moved(8280), moved(8280), []int{13000, 13001, 13010}, []int{13001, 13000, 13010}, [][]string{{"mi-3"}, {"mi-1", "mi-2"}}},
		{"offsets rotated restart together", moved(8280), moved(8280), []int{13000, 13001, 13002}, []int{13001, 13002, 13000}, [][]string{{"mi-1", "mi-2", "mi-3"}}},
		{"an instance that takes a cycle's ports goes after it", moved(8280), moved(8280), []int{13000, 13001, 13002}, []int{13002, 13000, 13001}, [][]string{{"mi-1", "mi-2", "mi-3"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := &Target{}
			f := &state.File{}
			var names []string
			for i, off := range tc.offsets {
				name := "mi-" + string(rune('1'+i))
				names = append(names, name)
				planned := off
				if tc.newOffsets != nil {
					planned = tc.newOffsets[i]
				}
				target.Plan.Instances = append(target.Plan.Instances, ports.Instance{Name: name, Offset: planned, Bases: tc.new})
				f.Instances = append(f.Instances, state.Instance{Name: name, Offset: off, Ports: tc.old.Shift(off), State: state.StateReady})
			}
			if got := target.RestartSteps(f, names); !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Errorf("restart steps %v, want %v", got, tc.want)
			}
		})
	}
}

// Instances whose offsets mictl.toml swapped restart together, one after
// the other in the list, and each says with which and why (diff, and the
// reload's event). No restart is [] in diff -o json, not null.
func TestChangesSayWhatRestartsTogether(t *testing.T) {
	base := planBase(t)
	offsets := func(first, second int) string {
		return fmt.Sprintf("instances = 3\nmi_home = \"dist\"\n[[instance]]\nname = \"mi-1\"\noffset = %d\n[[instance]]\nname = \"mi-2\"\noffset = %d\n[[instance]]\nname = \"mi-3\"\noffset = %d\n", first, second, base+10)
	}
	cfg := loadConfig(t, offsets(base, base+1))
	writeDist(t)
	before, err := Build(cfg, &state.File{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	records, err := before.Prepare(&state.File{}, []string{"mi-1", "mi-2", "mi-3"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range records {
		records[i].State = state.StateReady
	}
	running := &state.File{Instances: records}
	if got := before.RestartSteps(running, []string{}); got == nil {
		t.Errorf("no restart ordered as nil: diff -o json says null where its schema wants []")
	}
	if err := os.WriteFile(config.DefaultFile, []byte(offsets(base+1, base)), 0o644); err != nil {
		t.Fatal(err)
	}
	swapped, err := config.Load(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	after, err := Build(swapped, running, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compare(after, running)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Restart, []string{"mi-1", "mi-2"}) {
		t.Fatalf("restart %v (%v), want mi-1 and mi-2", c.Restart, c.Why)
	}
	if want := fmt.Sprintf("offset %d -> %d, deployment.toml changed, together with mi-2: they take each other's ports", base, base+1); c.Why["mi-1"] != want {
		t.Errorf("why mi-1 restarts: %q, want %q", c.Why["mi-1"], want)
	}
	if want := "together with mi-1: they take each other's ports"; !strings.HasSuffix(c.Why["mi-2"], want) {
		t.Errorf("why mi-2 restarts: %q, want it to end %q", c.Why["mi-2"], want)
	}
}

// MI reads deployment.toml only at start, and only its settings: a
// comment or a blank line edited in the distribution's file is nothing
// to restart an instance for (a rolling restart of every instance, each
// with MI's drain of up to 180 s), while a changed value is.
func TestOnlyChangedSettingsRestart(t *testing.T) {
	cfg := loadConfig(t, fmt.Sprintf("instances = 1\nbase_offset = %d\nmi_home = \"dist\"\n", planBase(t)))
	writeDist(t)
	source := deployment.SourceTOML("dist")
	template, err := os.ReadFile(source)
	if err != nil {
		t.Fatal(err)
	}
	target := func(toml string) *Target {
		t.Helper()
		if err := os.WriteFile(source, []byte(toml), 0o644); err != nil {
			t.Fatal(err)
		}
		target, err := Build(cfg, &state.File{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return target
	}
	records, err := target(string(template)).Prepare(&state.File{}, []string{"mi-1"})
	if err != nil {
		t.Fatal(err)
	}
	records[0].State = state.StateReady
	running := &state.File{Instances: records}
	edited := strings.Replace(string(template), "[server]\n", "# Edited by ops.\n\n[server]   # the server\n", 1)
	for _, tc := range []struct {
		edit    string
		toml    string
		restart []string
	}{
		{"comments and spacing", edited, []string{}},
		{"a port moved", edited + "\n[transport.http]\nlistener.port = 8281\n", []string{"mi-1"}},
	} {
		c, err := Compare(target(tc.toml), running)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Restart, tc.restart) {
			t.Errorf("%s: restart %v (%v), want %v", tc.edit, c.Restart, c.Why, tc.restart)
		}
	}
}

// An instance stopped for a restart under way (a daemon killed between
// the restart's stop and its start) is meant to run: it keeps the last
// up's flags and its offset, as the next daemon finishes the restart.
func TestAnInstanceStoppedForARestartIsActive(t *testing.T) {
	f := &state.File{UpArgs: []string{"--instances=2"}, Instances: []state.Instance{{Name: "mi-1", State: state.StateStopped, Restarting: true}}}
	if !Active(f.Instances[0]) {
		t.Error("an instance stopped for a restart under way is not Active")
	}
	if ForgetRun(f) || len(f.UpArgs) == 0 {
		t.Errorf("ForgetRun forgot the run of a restart under way: up args %v", f.UpArgs)
	}
}

// An instance's deployment.toml edited in its home (a setting tuned by
// hand) made a reload restart it as "deployment.toml changed", read as
// the configuration's change, and the restart rendered the file again:
// the edit was gone, unsaid. The reason names the edit, the restart's
// Prepare keeps it beside the file and says where (EditsKept), and where
// an edit kept before went; a comment edited alone restarts nothing, as
// in the distribution's file.
func TestAnEditInTheHomeIsSaidAndKept(t *testing.T) {
	cfg := loadConfig(t, fmt.Sprintf("instances = 1\nbase_offset = %d\nmi_home = \"dist\"\n", planBase(t)))
	writeDist(t)
	build := func() *Target {
		t.Helper()
		target, err := Build(cfg, &state.File{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return target
	}
	records, err := build().Prepare(&state.File{}, []string{"mi-1"})
	if err != nil {
		t.Fatal(err)
	}
	records[0].State = state.StateReady
	running := &state.File{Instances: records}
	conf := home.ConfPath(records[0].Home)
	rendered, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) []byte {
		t.Helper()
		data := []byte(strings.Replace(string(rendered), old, new, 1))
		if err := os.WriteFile(conf, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return data
	}

	edit("[user_store]\n", "# ops: a JDBC store soon\n[user_store]\n")
	if c, err := Compare(build(), running); err != nil || len(c.Restart) != 0 {
		t.Errorf("a comment edited in the home: restart %v (%v), %v; want none", c.Restart, c.Why, err)
	}

	edited := edit(`type = "read_only_ldap"`, `type = "database"`)
	c, err := Compare(build(), running)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Restart, []string{"mi-1"}) || c.Why["mi-1"] != EditedWhy || !strings.Contains(c.Diffs["mi-1"], `-type = "database"`) {
		t.Fatalf("a setting edited in the home: restart %v, why %q, diff:\n%s\nwant mi-1 restarted for %q, the diff taking the edit out", c.Restart, c.Why["mi-1"], c.Diffs["mi-1"], EditedWhy)
	}

	target := build()
	if _, err := target.Prepare(running, []string{"mi-1"}); err != nil {
		t.Fatal(err)
	}
	kept := home.EditedConfPath(records[0].Home)
	if got, _ := os.ReadFile(kept); !bytes.Equal(got, edited) {
		t.Errorf("%s holds %q, want the edit %q", kept, got, edited)
	}
	if len(target.EditsKept) != 1 || !strings.Contains(target.EditsKept[0].String(), "mi-1: "+conf+" was edited in the home") || !strings.Contains(target.EditsKept[0].String(), "kept as "+kept) {
		t.Errorf("EditsKept = %q, want one line naming mi-1, %s and %s", target.EditsKept, conf, kept)
	}
	if c, err := Compare(build(), running); err != nil || len(c.Restart) != 0 {
		t.Errorf("after the home was rendered again: restart %v (%v), %v; want none", c.Restart, c.Why, err)
	}

	// Edited again: the new edit takes its place, and the warning says
	// where the one kept before went, which is no longer where it was.
	edit(`type = "read_only_ldap"`, `type = "read_write_ldap"`)
	target = build()
	if _, err := target.Prepare(running, []string{"mi-1"}); err != nil {
		t.Fatal(err)
	}
	earlier := kept + ".1"
	if got, _ := os.ReadFile(earlier); !bytes.Equal(got, edited) {
		t.Errorf("%s holds %q, want the first edit %q", earlier, got, edited)
	}
	if want := "kept as " + kept + " (the edit kept there before is now " + earlier + ")"; len(target.EditsKept) != 1 || !strings.Contains(target.EditsKept[0].String(), want) {
		t.Errorf("EditsKept after a second edit = %q, want one line saying %q", target.EditsKept, want)
	}
}
