package deployment_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/ports"
)

// loadConfig runs config.Load on mictl.toml holding text, in a fresh working
// directory and with no MICTL_* variables, as `mictl` would.
func loadConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	for _, s := range config.Settings {
		t.Setenv(s.Env(), "") // restored after the test
		os.Unsetenv(s.Env())
	}
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(config.DefaultFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{})
	if err != nil {
		t.Fatalf("config.Load:\n%s\n%v", text, err)
	}
	return cfg
}

// simConfig is a configuration built by hand, as config.Load's defaults give.
func simConfig(n int, instances ...config.InstanceConfig) *config.Config {
	return &config.Config{
		Instances: n, NamePrefix: "mi", BaseOffset: 10, OffsetStep: 1,
		InstancesDir: "instances", OffsetMethod: config.OffsetMethodTOML, Instance: instances,
	}
}

func builtin() deployment.Source {
	return deployment.Source{Path: "built-in deployment.toml", TOML: deploytoml.Template()}
}

func intp(n int) *int { return &n }

// placed is an instance's place in a plan; fixed is true when its offset
// was not the planner's choice (--offsets, [[instance]] offset, running).
type placed struct {
	name   string
	offset int
	fixed  bool
}

func placements(p ports.Plan) []placed {
	out := make([]placed, len(p.Instances))
	for i, in := range p.Instances {
		out[i] = placed{in.Name, in.Offset, in.From != ports.OffsetFromPlanner}
	}
	return out
}

func TestLoadSource(t *testing.T) {
	t.Run("no mi_home: the built-in template", func(t *testing.T) {
		for _, miHome := range []string{"", "  "} {
			src, err := deployment.LoadSource(&config.Config{MIHome: miHome})
			if err != nil {
				t.Fatalf("mi_home %q: %v", miHome, err)
			}
			if src.Path != "built-in deployment.toml" {
				t.Errorf("Path = %q", src.Path)
			}
			if !bytes.Equal(src.TOML, deploytoml.Template()) {
				t.Error("TOML is not the built-in template")
			}
			// The caller may edit what it got without changing the template.
			src.TOML[0] = 'X'
			if bytes.Equal(src.TOML, deploytoml.Template()) {
				t.Error("LoadSource returned the template's own bytes")
			}
		}
	})
	t.Run("mi_home: its conf/deployment.toml", func(t *testing.T) {
		miHome := miHomeWithScript(t)
		want := []byte("[server]\nhostname = \"mi.example\"\noffset = 3\n")
		path := filepath.Join(miHome, "conf", "deployment.toml")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := deployment.SourceTOML(miHome); got != path {
			t.Errorf("SourceTOML = %s, want %s", got, path)
		}
		src, err := deployment.LoadSource(&config.Config{MIHome: miHome})
		if err != nil {
			t.Fatal(err)
		}
		if src.Path != path || !bytes.Equal(src.TOML, want) {
			t.Errorf("LoadSource = %q %q, want %q %q", src.Path, src.TOML, path, want)
		}
	})
	t.Run("mi_home without deployment.toml", func(t *testing.T) {
		miHome := miHomeWithScript(t)
		_, err := deployment.LoadSource(&config.Config{MIHome: miHome})
		var cerr *config.Error
		if !errors.As(err, &cerr) {
			t.Fatalf("error %v (%T) is not a *config.Error", err, err)
		}
		if cerr.Where != filepath.Join(miHome, "conf", "deployment.toml") {
			t.Errorf("Where = %q, want the missing file", cerr.Where)
		}
		if !strings.Contains(err.Error(), "has no conf/deployment.toml; check mi_home") || strings.Contains(err.Error(), "no such file") {
			t.Errorf("error %q does not say, in the user's words, that the file is missing and to check mi_home", err)
		}
	})
	// Said up front, naming where mi_home was set, not when the first
	// instance fails to start (issue 10).
	t.Run("mi_home without bin/micro-integrator.sh", func(t *testing.T) {
		miHome := t.TempDir()
		_, err := deployment.LoadSource(&config.Config{MIHome: miHome})
		var cerr *config.Error
		if !errors.As(err, &cerr) || !strings.Contains(err.Error(), "has no bin/micro-integrator.sh") || cerr.Where != "default mi_home" {
			t.Fatalf("error %v, want a config error naming the missing script and where mi_home was set", err)
		}
	})
	// A mistyped path, or a link re-pointed (ln -sfn) at a distribution
	// not unpacked yet, said "has no bin/micro-integrator.sh", which sent
	// the user looking into a directory that is not there.
	t.Run("mi_home that does not exist", func(t *testing.T) {
		userHome := t.TempDir()
		t.Setenv("HOME", userHome)
		missing := filepath.Join(t.TempDir(), "wso2mi-4.4.O")
		link := filepath.Join(t.TempDir(), "current")
		if err := os.Symlink(missing, link); err != nil {
			t.Fatal(err)
		}
		for dir, want := range map[string]string{
			missing: "mi_home " + missing + " does not exist: set mi_home to the directory that holds bin/ and conf/",
			link:    "mi_home " + link + " is a symbolic link to " + missing + ", which does not exist: unpack the distribution there, or point the link at one (ln -sfn DIR " + link + ")",
			// Written with a trailing slash, it is the link all the same.
			link + "/": "mi_home " + link + "/ is a symbolic link to " + missing + ", which does not exist",
			// No shell expanded ~ in mictl.toml: the path is taken from
			// the file's directory, as any relative one.
			filepath.Join(filepath.Dir(missing), "~", "wso2mi-4.4.0"): "does not exist: mictl does not expand ~ as a shell does: write the path in full (" + filepath.Join(userHome, "wso2mi-4.4.0") + ")",
		} {
			_, err := deployment.LoadSource(&config.Config{MIHome: dir})
			var cerr *config.Error
			if !errors.As(err, &cerr) || !strings.Contains(err.Error(), want) {
				t.Errorf("mi_home %s: error %v, want a config error saying %q", dir, err, want)
			}
		}
	})
	// A distribution unpacked without its file modes: every start would
	// fail with a bare "permission denied" from the launch.
	t.Run("a start script that is not executable", func(t *testing.T) {
		miHome := miHomeWithScript(t)
		script := filepath.Join(miHome, "bin", "micro-integrator.sh")
		if err := os.Chmod(script, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := deployment.LoadSource(&config.Config{MIHome: miHome})
		var cerr *config.Error
		if !errors.As(err, &cerr) || !strings.Contains(err.Error(), script+" is not executable") || !strings.Contains(err.Error(), "chmod +x "+script) {
			t.Fatalf("error %v, want a config error naming the script and the chmod that fixes it", err)
		}
	})
}

// miHomeWithScript is an empty directory with MI's start script in it.
func miHomeWithScript(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "micro-integrator.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPlanFromLoadedConfig(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []placed
	}{
		{"instances = 3", "instances = 3\n",
			[]placed{{"mi-1", 10, false}, {"mi-2", 11, false}, {"mi-3", 12, false}}},
		{"base_offset and offset_step", "instances = 3\nbase_offset = 20\noffset_step = 5\nname_prefix = \"esb\"\n",
			[]placed{{"esb-1", 20, false}, {"esb-2", 25, false}, {"esb-3", 30, false}}},
		{"[[instance]] offset and an extra named instance",
			"instances = 2\n\n[[instance]]\nname = \"mi-2\"\noffset = 40\n\n[[instance]]\nname = \"mi-orders\"\n",
			[]placed{{"mi-1", 10, false}, {"mi-2", 40, true}, {"mi-orders", 11, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, tt.toml)
			src, err := deployment.LoadSource(cfg)
			if err != nil {
				t.Fatal(err)
			}
			p, err := deployment.Plan(cfg, src, deployment.Options{MinPort: ports.FirstUnprivileged})
			if err != nil {
				t.Fatal(err)
			}
			if got := placements(p); !slices.Equal(got, tt.want) {
				t.Errorf("plan = %+v, want %+v", got, tt.want)
			}
			for _, in := range p.Instances {
				if in.Bases != ports.DefaultBases() {
					t.Errorf("%s bases = %v, want the defaults", in.Name, in.Bases)
				}
			}
		})
	}
}

func TestPlanOptions(t *testing.T) {
	tests := []struct {
		name string
		cfg  *config.Config
		opts deployment.Options
		want []placed
	}{
		{
			name: "defaults",
			cfg:  simConfig(3),
			want: []placed{{"mi-1", 10, false}, {"mi-2", 11, false}, {"mi-3", 12, false}},
		},
		{
			name: "explicit offsets for the first instances",
			cfg:  simConfig(3),
			opts: deployment.Options{Offsets: []int{30, 40}},
			want: []placed{{"mi-1", 30, true}, {"mi-2", 40, true}, {"mi-3", 10, false}},
		},
		{
			name: "explicit offsets are kept even when they clash",
			cfg:  simConfig(2),
			opts: deployment.Options{Offsets: []int{10, 47}},
			want: []placed{{"mi-1", 10, true}, {"mi-2", 47, true}},
		},
		{
			name: "as many offsets as instances",
			cfg:  simConfig(2),
			opts: deployment.Options{Offsets: []int{20, 21}},
			want: []placed{{"mi-1", 20, true}, {"mi-2", 21, true}},
		},
		{
			name: "pinned offsets are kept, unknown pinned names come after the config's",
			cfg:  simConfig(3),
			opts: deployment.Options{Pinned: []deployment.Pin{{Name: "mi-old", Offset: 60}, {Name: "mi-2", Offset: 50}, {Name: "mi-older", Offset: 70}}},
			want: []placed{{"mi-1", 10, false}, {"mi-2", 50, true}, {"mi-3", 11, false}, {"mi-old", 60, true}, {"mi-older", 70, true}},
		},
		{
			name: "pinned instances do not move when N grows",
			cfg:  simConfig(3),
			opts: deployment.Options{Pinned: []deployment.Pin{{Name: "mi-1", Offset: 10}, {Name: "mi-2", Offset: 11}}},
			want: []placed{{"mi-1", 10, true}, {"mi-2", 11, true}, {"mi-3", 12, false}},
		},
		{
			name: "an [[instance]] offset beats a pin, --offsets beats both",
			cfg: simConfig(2,
				config.InstanceConfig{Name: "mi-1", Offset: intp(30)},
				config.InstanceConfig{Name: "mi-2", Offset: intp(40)}),
			opts: deployment.Options{Offsets: []int{20}, Pinned: []deployment.Pin{{Name: "mi-1", Offset: 50}, {Name: "mi-2", Offset: 60}}},
			want: []placed{{"mi-1", 20, true}, {"mi-2", 40, true}},
		},
		{
			name: "[[instance]] names follow generated ones, pinned strangers come last",
			cfg:  simConfig(1, config.InstanceConfig{Name: "mi-orders"}),
			opts: deployment.Options{Pinned: []deployment.Pin{{Name: "mi-gone", Offset: 30}}},
			want: []placed{{"mi-1", 10, false}, {"mi-orders", 11, false}, {"mi-gone", 30, true}},
		},
		{
			name: "offsets count pinned strangers too",
			cfg:  simConfig(1),
			opts: deployment.Options{Offsets: []int{20, 21}, Pinned: []deployment.Pin{{Name: "mi-gone", Offset: 30}}},
			want: []placed{{"mi-1", 20, true}, {"mi-gone", 21, true}},
		},
		{
			name: "busy host ports are avoided",
			cfg:  simConfig(2),
			opts: deployment.Options{HostBusy: func(p int) bool { return p == 8290 || p == 9165 }},
			// 10 holds 8290; 11 holds 9165; 12 is free.
			want: []placed{{"mi-1", 12, false}, {"mi-2", 13, false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.MinPort == 0 {
				opts.MinPort = ports.FirstUnprivileged
			}
			p, err := deployment.Plan(tt.cfg, builtin(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := placements(p); !slices.Equal(got, tt.want) {
				t.Errorf("plan:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPlanOffsetsDoNotAlias(t *testing.T) {
	// The plan must not hold pointers into the caller's slices.
	offsets := []int{30, 40}
	p, err := deployment.Plan(simConfig(2), builtin(), deployment.Options{Offsets: offsets, MinPort: 1024})
	if err != nil {
		t.Fatal(err)
	}
	offsets[0], offsets[1] = 1, 2
	if got := placements(p); got[0].offset != 30 || got[1].offset != 40 {
		t.Errorf("plan changed with the caller's slice: %+v", got)
	}
}

func TestPlanOverrides(t *testing.T) {
	cfg := loadConfig(t, `instances = 2

[[instance]]
name = "mi-2"
overrides = { "transport.http.listener.port" = 8300, "mediation.internal_https_api_port" = 9500 }
`)
	src, err := deployment.LoadSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := deployment.Plan(cfg, src, deployment.Options{MinPort: ports.FirstUnprivileged})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Instances) != 2 {
		t.Fatalf("plan = %+v", placements(p))
	}
	mi1, mi2 := p.Instances[0], p.Instances[1]
	if mi1.Bases != ports.DefaultBases() {
		t.Errorf("mi-1 bases = %v, want the defaults (overrides are per instance)", mi1.Bases)
	}
	if want := (ports.Set{8300, 8243, 9191, 9500}); mi2.Bases != want {
		t.Errorf("mi-2 bases = %v, want %v", mi2.Bases, want)
	}
	if got, want := mi2.Ports(), (ports.Set{8300 + mi2.Offset, 8243 + mi2.Offset, 9191 + mi2.Offset, 9500 + mi2.Offset}); got != want {
		t.Errorf("mi-2 ports = %v, want %v", got, want)
	}
	// The rendered file and the plan agree on mi-2's ports.
	out, err := deployment.Render(cfg, src, mi2)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := deploytoml.Parse("mi-2", out)
	if err != nil {
		t.Fatal(err)
	}
	bases, err := doc.BasePorts()
	if err != nil || bases != mi2.Bases {
		t.Errorf("rendered bases = %v, %v; want the plan's %v", bases, err, mi2.Bases)
	}
	if off, ok, err := doc.Offset(); err != nil || !ok || off != mi2.Offset {
		t.Errorf("rendered offset = %d %v %v, want %d", off, ok, err, mi2.Offset)
	}
}

func TestPlanOverrideMovesPlacement(t *testing.T) {
	// An override changes where the planner may put the instance, not
	// just its ports: the plan is computed on the overridden bases.
	cfg := simConfig(2, config.InstanceConfig{
		Name: "mi-2", Pos: "mictl.toml:3:1",
		Overrides: map[string]any{"transport.http.listener.port": 8279},
	})
	// 8279+11 = 8290 = mi-1's http: offset 11 is taken, 12 is the first fit.
	p, err := deployment.Plan(cfg, builtin(), deployment.Options{MinPort: 1024})
	if err != nil {
		t.Fatal(err)
	}
	want := []placed{{"mi-1", 10, false}, {"mi-2", 12, false}}
	if got := placements(p); !slices.Equal(got, want) {
		t.Errorf("plan = %+v, want %+v", got, want)
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name      string
		cfg       *config.Config
		opts      deployment.Options
		where     string
		msgHas    []string
		configErr bool
	}{
		{
			name:      "more offsets than instances",
			cfg:       simConfig(2),
			opts:      deployment.Options{Offsets: []int{10, 20, 30}},
			configErr: true,
			where:     "flag --offsets",
			msgHas:    []string{"3 offsets for 2 instances"},
		},
		{
			name:      "offsets for a single instance",
			cfg:       simConfig(1),
			opts:      deployment.Options{Offsets: []int{10, 20}},
			configErr: true,
			where:     "flag --offsets",
			msgHas:    []string{"2 offsets for 1 instance;"},
		},
		{
			name: "override with a string port",
			cfg: simConfig(2, config.InstanceConfig{Name: "mi-2", Pos: "mictl.toml:4:1", OverridesPos: "mictl.toml:6:1",
				Overrides: map[string]any{"transport.http.listener.port": "eighty"}}),
			configErr: true,
			where:     "mictl.toml:6:1",
			msgHas:    []string{`instance mi-2: override "transport.http.listener.port" = "eighty": must be a port, an integer from 1 to 65535, not a string`},
		},
		{
			name: "override with an out-of-range port",
			cfg: simConfig(1, config.InstanceConfig{Name: "mi-1", Pos: "mictl.toml:7:1", OverridesPos: "mictl.toml:8:1",
				Overrides: map[string]any{"mediation.internal_http_api_port": 70000}}),
			configErr: true,
			where:     "mictl.toml:8:1",
			msgHas:    []string{`instance mi-1: override "mediation.internal_http_api_port" = 70000: must be a port from 1 to 65535`},
		},
		{
			name: "override through a string value",
			cfg: simConfig(1, config.InstanceConfig{Name: "mi-x", Pos: "mictl.toml:9:1", OverridesPos: "mictl.toml:10:1",
				Overrides: map[string]any{"server.hostname.port": 1}}),
			configErr: true,
			where:     "mictl.toml:10:1",
			msgHas:    []string{"instance mi-x"},
		},
		{
			name: "override that makes two roles share a base",
			cfg: simConfig(1, config.InstanceConfig{Name: "mi-1", Pos: "mictl.toml:2:1",
				Overrides: map[string]any{"transport.http.listener.secured_port": 8280}}),
			configErr: true,
			where:     "mictl.toml:2:1",
			msgHas: []string{`instance mi-1: override "transport.http.listener.secured_port" = 8280: 8280 is the http port too (MI's default for transport.http.listener.port)`,
				"give each a port of its own"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.MinPort = ports.FirstUnprivileged
			p, err := deployment.Plan(tt.cfg, builtin(), tt.opts)
			if err == nil {
				t.Fatalf("Plan = %+v, want an error", placements(p))
			}
			var cerr *config.Error
			if errors.As(err, &cerr) != tt.configErr {
				t.Fatalf("error %v (%T): *config.Error = %v, want %v", err, err, !tt.configErr, tt.configErr)
			}
			if tt.configErr && cerr.Where != tt.where {
				t.Errorf("Where = %q, want %q", cerr.Where, tt.where)
			}
			for _, s := range tt.msgHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// An override found wrong only when rendered (through an array of tables
// of the distribution's file, or a port that is no number) is reported at
// its own key in mictl.toml, by Plan and by Render alike.
func TestOverrideErrorsAtTheirKey(t *testing.T) {
	src := builtin()
	src.TOML = append(bytes.Clone(src.TOML), "\n[[datasource]]\nid = \"A\"\nurl = \"a\"\n\n[[datasource]]\nid = \"B\"\nurl = \"b\"\n"...)
	tests := []struct {
		override string
		value    any
		msg      string
	}{
		{"datasource.url", "jdbc:x", `instance mi-2: override "datasource.url": built-in deployment.toml:`},
		{"transport.http.listener.port", "eighty", `instance mi-2: override "transport.http.listener.port" = "eighty": must be a port`},
	}
	for _, tt := range tests {
		t.Run(tt.override, func(t *testing.T) {
			ic := config.InstanceConfig{Name: "mi-2", Pos: "mictl.toml:4:1", OverridesPos: "mictl.toml:6:1",
				Overrides:   map[string]any{"server.hostname": "x", tt.override: tt.value},
				OverridePos: map[string]string{"server.hostname": "mictl.toml:6:15", tt.override: "mictl.toml:7:3"}}
			cfg := simConfig(2, ic)
			_, planErr := deployment.Plan(cfg, src, deployment.Options{MinPort: ports.FirstUnprivileged})
			_, renderErr := deployment.Render(cfg, src, ports.Instance{Name: "mi-2", Offset: 11, Bases: ports.DefaultBases()})
			for what, err := range map[string]error{"Plan": planErr, "Render": renderErr} {
				var cerr *config.Error
				if !errors.As(err, &cerr) || cerr.Where != "mictl.toml:7:3" || !strings.Contains(cerr.Msg, tt.msg) {
					t.Errorf("%s: %v; want a mictl.toml error at mictl.toml:7:3 saying %q", what, err, tt.msg)
				}
			}
		})
	}
}

// A distribution whose deployment.toml turns MI's internal HTTP API off
// is refused when planning, at the line: /healthz and /liveness are how
// mictl knows an instance is ready and alive (docs/mi-facts.md), and
// every start waited out its timeout for a port that never listened.
func TestInternalAPIOffIsRefused(t *testing.T) {
	src := builtin()
	off, n := bytes.Replace(src.TOML, []byte("internal_http_api_enable = true"), []byte("internal_http_api_enable = false"), 1), 0
	for i, l := range strings.Split(string(off), "\n") {
		if strings.HasPrefix(l, "internal_http_api_enable = false") {
			n = i + 1
		}
	}
	if n == 0 {
		t.Fatal("the built-in deployment.toml no longer sets internal_http_api_enable = true")
	}
	src.TOML = off
	_, err := deployment.Plan(simConfig(1), src, deployment.Options{MinPort: ports.FirstUnprivileged})
	want := fmt.Sprintf("built-in deployment.toml:%d:28: mediation.internal_http_api_enable = false: mictl tells", n)
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "remove the line or set it to true") {
		t.Fatalf("Plan = %v, want an error starting %q", err, want)
	}
	// An instance's override may turn it on again: that instance is fine.
	on := config.InstanceConfig{Name: "mi-1", Overrides: map[string]any{"mediation.internal_http_api_enable": true}}
	if _, err := deployment.Plan(simConfig(1, on), src, deployment.Options{MinPort: ports.FirstUnprivileged}); err != nil {
		t.Fatalf("Plan with an override turning the API on: %v", err)
	}
}

// withoutLine returns src with the first line equal to line removed, and
// whether there was one.
func withoutLine(src []byte, line string) ([]byte, bool) {
	lines := strings.SplitAfter(string(src), "\n")
	for i, l := range lines {
		if strings.TrimRight(l, "\n") == line {
			return []byte(strings.Join(slices.Delete(lines, i, i+1), "")), true
		}
	}
	return src, false
}

// section returns the lines of the [name] table (up to the next header).
func section(src []byte, name string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(string(src), "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			in = t == "["+name+"]"
			continue
		}
		if in {
			out = append(out, l)
		}
	}
	return out
}

// inboundOffsetLine is what Render adds to [mediation] when the source
// does not say whether inbound endpoints get the offset.
const inboundOffsetLine = "inbound.port_offset_enable = true"

func TestRenderTOMLOffset(t *testing.T) {
	cfg := simConfig(1)
	src := builtin()
	for _, offset := range []int{0, 10, 12, 1000} {
		out, err := deployment.Render(cfg, src, ports.Instance{Name: "mi-1", Offset: offset, Bases: ports.DefaultBases()})
		if err != nil {
			t.Fatal(err)
		}
		line := "offset = " + strconv.Itoa(offset)
		if !slices.Contains(section(out, "server"), line) {
			t.Errorf("offset %d: [server] = %q, want a line %q", offset, section(out, "server"), line)
		}
		// Removing that line and the inbound offset switch gives the source
		// back byte for byte: every comment (#offset  = 10 included) and
		// the layout survive.
		rest, _ := withoutLine(out, line)
		rest, _ = withoutLine(rest, inboundOffsetLine)
		if !bytes.Equal(rest, src.TOML) {
			t.Errorf("offset %d: output is not the source plus two lines:\n%s", offset, out)
		}
		doc, err := deploytoml.Parse("out", out)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok, err := doc.Offset(); err != nil || !ok || got != offset {
			t.Errorf("parsed offset = %d %v %v, want %d", got, ok, err, offset)
		}
	}
}

func TestRenderExistingOffset(t *testing.T) {
	// A distribution whose deployment.toml already sets an offset.
	src := deployment.Source{Path: "/opt/mi/conf/deployment.toml", TOML: []byte(
		"# shipped\n[server]\nhostname = \"localhost\"\noffset = 5\n\n[mediation]\n# keep me\ninternal_http_api_enable = true\n")}
	inst := ports.Instance{Name: "mi-1", Offset: 12, Bases: ports.DefaultBases()}
	tests := []struct {
		method string
		want   string
	}{
		{config.OffsetMethodTOML, strings.Replace(string(src.TOML), "offset = 5", "offset = 12", 1) + inboundOffsetLine + "\n"},
		{config.OffsetMethodFlag, string(src.TOML) + inboundOffsetLine + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			cfg := simConfig(1)
			cfg.OffsetMethod = tt.method
			out, err := deployment.Render(cfg, src, inst)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("render:\n got %q\nwant %q", out, tt.want)
			}
		})
	}
}

func TestRenderFlagKeepsSource(t *testing.T) {
	cfg := simConfig(1)
	cfg.OffsetMethod = config.OffsetMethodFlag
	src := builtin()
	out, err := deployment.Render(cfg, src, ports.Instance{Name: "mi-1", Offset: 12, Bases: ports.DefaultBases()})
	if err != nil {
		t.Fatal(err)
	}
	if rest, _ := withoutLine(out, inboundOffsetLine); !bytes.Equal(rest, src.TOML) {
		t.Errorf("offset_method flag changed the file beyond the inbound offset switch:\n%s", out)
	}
	if !slices.Contains(section(out, "server"), "#offset  = 10") {
		t.Errorf("[server] lost its commented offset: %q", section(out, "server"))
	}
}

func TestRenderOverrides(t *testing.T) {
	over := config.InstanceConfig{Name: "mi-2", Pos: "mictl.toml:3:1",
		Overrides: map[string]any{"transport.http.listener.port": 8300}}
	for _, method := range []string{config.OffsetMethodTOML, config.OffsetMethodFlag} {
		t.Run(method, func(t *testing.T) {
			cfg := simConfig(2, over)
			cfg.OffsetMethod = method
			src := builtin()
			mi2 := ports.Instance{Name: "mi-2", Offset: 11, Bases: ports.Set{8300, 8243, 9191, 9154}}
			out, err := deployment.Render(cfg, src, mi2)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := deploytoml.Parse("out", out)
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := doc.Lookup("transport.http.listener.port"); !ok || v != int64(8300) {
				t.Errorf("listener.port = %v (%T) %v, want 8300", v, v, ok)
			}
			_, hasOffset, _ := doc.Offset()
			if hasOffset != (method == config.OffsetMethodTOML) {
				t.Errorf("offset set = %v with offset_method %s", hasOffset, method)
			}
			if !bytes.HasPrefix(out, src.TOML[:bytes.Index(src.TOML, []byte("[server]"))]) {
				t.Error("the header comments changed")
			}
			// Another instance gets no overrides.
			out1, err := deployment.Render(cfg, src, ports.Instance{Name: "mi-1", Offset: 10, Bases: ports.DefaultBases()})
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(out1, []byte("8300")) {
				t.Errorf("mi-1 got mi-2's override:\n%s", out1)
			}
		})
	}
}

func TestRenderErrorNamesInstance(t *testing.T) {
	// mictl owns [server] offset when offset_method is toml.
	cfg := simConfig(1, config.InstanceConfig{Name: "mi-1", Pos: "mictl.toml:3:1",
		Overrides: map[string]any{"server.offset": 3}})
	_, err := deployment.Render(cfg, builtin(), ports.Instance{Name: "mi-1", Offset: 10, Bases: ports.DefaultBases()})
	if err == nil {
		t.Fatal("Render accepted an override of server.offset with offset_method toml")
	}
	for _, s := range []string{"mi-1", "built-in deployment.toml", "server.offset"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// Where each offset comes from is said, for messages and -o json: only
// the user's offsets are explicit.
func TestPlanSaysWhereOffsetsComeFrom(t *testing.T) {
	cfg := simConfig(4, config.InstanceConfig{Name: "mi-2", Offset: intp(40), OffsetPos: "mictl.toml:5:10"})
	p, err := deployment.Plan(cfg, builtin(), deployment.Options{Offsets: []int{30}, Pinned: []deployment.Pin{{Name: "mi-3", Offset: 50}}, MinPort: 1024})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		from, where string
		explicit    bool
	}{
		{ports.OffsetFromFlag, "--offsets", true},
		{ports.OffsetFromConfig, "mictl.toml:5:10", true},
		{ports.OffsetFromRunning, "", false},
		{ports.OffsetFromPlanner, "", false},
	}
	for i, w := range want {
		in := p.Instances[i]
		if in.From != w.from || in.Where != w.where || in.Explicit() != w.explicit {
			t.Errorf("%s: from %q where %q explicit %v, want %q %q %v", in.Name, in.From, in.Where, in.Explicit(), w.from, w.where, w.explicit)
		}
	}
}

// mictl turns inbound port offsets on unless the user said otherwise,
// with either key MI reads, and plans what MI will do (issue 12).
func TestInboundOffsetIsTheUsersWhenSet(t *testing.T) {
	tests := []struct {
		name, toml string
		overrides  map[string]any
		want       bool
		line       string // what the rendered file holds
	}{
		{"unset: mictl sets it", "[mediation]\ninternal_http_api_enable = true\n", nil, true, "inbound.port_offset_enable = true"},
		{"the user's false stands", "[mediation]\ninbound.port_offset_enable = false\n", nil, false, "inbound.port_offset_enable = false"},
		{"the synapse property counts", "[synapse_properties]\n'inbound.port.offset.enable' = \"false\"\n", nil, false, "'inbound.port.offset.enable' = \"false\""},
		{"an override counts", "[mediation]\n", map[string]any{"mediation.inbound.port_offset_enable": false}, false, "inbound.port_offset_enable = false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := deployment.Source{Path: "deployment.toml", TOML: []byte(tt.toml)}
			got, err := deployment.InboundOffsetEnabled(src, tt.overrides)
			if err != nil || got != tt.want {
				t.Fatalf("InboundOffsetEnabled = %v, %v; want %v", got, err, tt.want)
			}
			cfg := simConfig(1, config.InstanceConfig{Name: "mi-1", Overrides: tt.overrides})
			out, err := deployment.Render(cfg, src, ports.Instance{Name: "mi-1", Offset: 10, Bases: ports.DefaultBases()})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tt.line) || strings.Count(string(out), "port_offset_enable")+strings.Count(string(out), "port.offset.enable") != 1 {
				t.Fatalf("rendered:\n%s\nwant the one line %q", out, tt.line)
			}
		})
	}
}

// metrics = true renders MI's MetricHandler once, keeping the file's own
// handlers and comments.
func TestRenderMetricHandler(t *testing.T) {
	src := deployment.Source{Path: "deployment.toml", TOML: []byte("# mine\n[server]\nhostname = \"localhost\"\n\n[[synapse_handlers]]\nname = \"Audit\"\nclass = \"org.example.Audit\"\n")}
	cfg := simConfig(1)
	cfg.Metrics = true
	out, err := deployment.Render(cfg, src, ports.Instance{Name: "mi-1", Offset: 10, Bases: ports.DefaultBases()})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := deploytoml.Parse("out", out)
	if err != nil {
		t.Fatal(err)
	}
	handlers, _ := doc.Lookup("synapse_handlers")
	if hs, ok := handlers.([]any); !ok || len(hs) != 2 || hs[1].(map[string]any)["class"] != ports.MetricHandlerClass {
		t.Fatalf("synapse_handlers = %v, want Audit then MI's MetricHandler:\n%s", handlers, out)
	}
	if !strings.HasPrefix(string(out), "# mine\n") {
		t.Fatalf("the file's own lines changed:\n%s", out)
	}
	again, err := deployment.Render(cfg, deployment.Source{Path: "deployment.toml", TOML: out}, ports.Instance{Name: "mi-1", Offset: 10, Bases: ports.DefaultBases()})
	if err != nil || string(again) != string(out) {
		t.Fatalf("rendering again added to the file (%v):\n%s", err, again)
	}
}

// Inbound endpoints, the debugger and a pinned JMX agent are ports of the
// instance, offset as MI offsets them; an inbound endpoint's carries the
// setting that offsets it, for the hint of a clash (none for HL7).
func TestExtras(t *testing.T) {
	app := &capp.App{Name: "orders", Version: "1.0.0", Inbounds: []capp.Inbound{
		{Name: "OrdersHTTP", Protocol: "http", Port: 8085, Offset: capp.OffsetIfEnabled},
		{Name: "OrdersHL7", Protocol: "hl7", Port: 20000, Offset: capp.OffsetNever},
		{Name: "OrdersWS", Protocol: "ws", Port: 8086, Offset: capp.OffsetNever},
		{Name: "OrdersEnv", Protocol: "http", Param: "inbound.http.port", Placeholder: "$SYSTEM:ORDERS_PORT", Offset: capp.OffsetIfEnabled},
	}}
	got := deployment.Extras([]*capp.App{app}, true, "-Xmx1g -Desb.debug=true -D"+ports.JMXPortProperty+"=9999")
	want := []ports.Extra{
		{Role: ports.RoleInbound, Name: "orders_1.0.0/OrdersHTTP", Base: 8085, Shifted: true, OffsetSwitch: "inbound.port_offset_enable"},
		{Role: ports.RoleInbound, Name: "orders_1.0.0/OrdersHL7", Base: 20000, Shifted: false},
		{Role: ports.RoleInbound, Name: "orders_1.0.0/OrdersWS", Base: 8086, Shifted: false, OffsetSwitch: "ws.use.port.offset"},
		{Role: ports.RoleDebugger, Name: "command", Base: 9005, Shifted: false},
		{Role: ports.RoleDebugger, Name: "event", Base: 9006, Shifted: false},
		{Role: ports.RoleJMX, Name: "agent", Base: 9999, Shifted: false},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("extras = %+v\nwant %+v", got, want)
	}
	if off := deployment.Extras([]*capp.App{app}, false, ""); off[0].Shifted {
		t.Fatalf("with inbound offsets off the HTTP endpoint moved: %+v", off)
	}
	// A port MI resolves at run time is not planned, but listed.
	rt := deployment.RunTimePorts(nil, []*capp.App{app})
	if want := []deployment.RunTimePort{{Listener: "orders_1.0.0/OrdersEnv", Parameter: "inbound.http.port", Value: "$SYSTEM:ORDERS_PORT"}}; !slices.Equal(rt, want) {
		t.Fatalf("run-time ports = %+v\nwant %+v", rt, want)
	}
}

// MI turns its mediation debugger on for -Desb.debug=true or =super,
// compared as written (ServiceBusInitializer.isRunningDebugMode): only
// then do 9005 and 9006 listen.
func TestExtrasDebuggerOnlyAsMIReadsIt(t *testing.T) {
	for opts, want := range map[string]bool{
		"-Desb.debug=true":  true,
		"-Desb.debug=super": true,
		"-Desb.debug":       false,
		"-Desb.debug=TRUE":  false,
		"-Desb.debug=false": false,
	} {
		got := slices.ContainsFunc(deployment.Extras(nil, false, opts), func(e ports.Extra) bool { return e.Role == ports.RoleDebugger })
		if got != want {
			t.Errorf("JAVA_OPTS=%q: debugger ports planned %v, want %v", opts, got, want)
		}
	}
}

// BenchmarkPlanAndRender20 is what `mictl up --instances 20` does with
// deployment.toml before anything starts: plan twenty instances from the
// built-in file, then render each one's file (with metrics on).
func BenchmarkPlanAndRender20(b *testing.B) {
	cfg := simConfig(20)
	cfg.Metrics = true
	src := builtin()
	for b.Loop() {
		plan, err := deployment.Plan(cfg, src, deployment.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, inst := range plan.Instances {
			if _, err := deployment.Render(cfg, src, inst); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// A Template gives every instance without overrides what Render gives it,
// byte for byte: for each source of the render goldens, both offset
// methods, with and without metrics, at offsets of every width.
func TestTemplateIsRender(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "deploytoml", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources under testdata/deploytoml (%v)", err)
	}
	sources := []deployment.Source{builtin()}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, deployment.Source{Path: f, TOML: data})
	}
	for _, src := range sources {
		for _, method := range []string{config.OffsetMethodTOML, config.OffsetMethodFlag} {
			for _, metrics := range []bool{false, true} {
				cfg := simConfig(1)
				cfg.OffsetMethod, cfg.Metrics = method, metrics
				tmpl, err := deployment.NewTemplate(cfg, src)
				if err != nil {
					t.Fatalf("%s, %s, metrics %v: %v", src.Path, method, metrics, err)
				}
				for _, offset := range []int{0, 7, 10, 37, 100, 999, 12345, ports.MaxPort} {
					inst := ports.Instance{Name: "mi-1", Offset: offset, Bases: ports.DefaultBases()}
					want, err := deployment.Render(cfg, src, inst)
					if err != nil {
						t.Fatal(err)
					}
					got, err := tmpl.For(offset)
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("%s, %s, metrics %v, offset %d: template gave (%v)\n%s\nRender gave\n%s", src.Path, method, metrics, offset, err, got, want)
					}
				}
			}
		}
	}
}

// A template refuses an offset Render refuses, and a source Render
// cannot render.
func TestTemplateErrors(t *testing.T) {
	tmpl, err := deployment.NewTemplate(simConfig(1), builtin())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.For(ports.MaxPort + 1); err == nil {
		t.Errorf("For(%d) rendered an offset out of range", ports.MaxPort+1)
	}
	bad := deployment.Source{Path: "deployment.toml", TOML: []byte("[transport.http.listener]\nport = \"x\"\n")}
	if _, err := deployment.NewTemplate(simConfig(1), bad); err == nil || !strings.Contains(err.Error(), "deployment.toml:2") {
		t.Errorf("NewTemplate of a file with port = \"x\": %v, want an error at deployment.toml:2", err)
	}
}
