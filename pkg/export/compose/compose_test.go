package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/export/exporttest"
	"github.com/mictl/mictl/pkg/ports"
)

var cases = []exporttest.Case{
	{Name: "toml-offsets", TOML: "instances = 2\n", Offsets: []int{20, 30}},
	{Name: "flag-offsets-capps-env", TOML: `instances = 2
offset_method = "flag"
host = "0.0.0.0"
[[instance]]
name = "edge"
overrides = { "transport.http.listener.port" = 8300 }
`, Env: []string{"JAVA_HOME=/usr/lib/jvm/java-21", "JAVA_OPTS=-Dhome=$HOME -Dx=${X}"},
		CApps: map[string][]int{"*": {4096}, "edge": {8192}}, Offsets: []int{20, 30, 40}},
	// Inbound endpoints (exporttest.InboundCApps): mi-2 runs feed.car too.
	{Name: "inbound-endpoints", TOML: `instances = 2
capps = ["orders.car"]
[[instance]]
name = "mi-2"
capps = ["feed.car"]
`, Built: exporttest.InboundCApps, Offsets: []int{20, 30}},
	// A distribution that ships a CApp (exporttest.ShippedCApps, an HTTP
	// endpoint on 7070) and keeps an inbound endpoint as a synapse file
	// (exporttest.ShippedInbounds, on 7075): every instance runs both,
	// mi-2 beside its own CApp.
	{Name: "shipped-capps", TOML: `instances = 2
[[instance]]
name = "mi-2"
capps = ["orders.car"]
`, Built: exporttest.InboundCApps, Shipped: exporttest.ShippedCApps, Inbounds: exporttest.ShippedInbounds, Offsets: []int{20, 30}},
	// A $FILE: port (exporttest.FileCApps) read from conf/file.properties:
	// mi-1 and mi-3 the distribution's (8185), mi-2 its home's own
	// (8186); each service mounts its file and publishes the port.
	{Name: "file-properties", TOML: "instances = 3\ncapps = [\"fil.car\"]\n", Built: exporttest.FileCApps,
		FileProperties: exporttest.FileProperties, Offsets: []int{20, 30, 40}},
}

// written exports c into a directory as `mictl export compose` lays it
// out: the Compose file, and beside it the files it mounts.
func written(t *testing.T, c exporttest.Case) (*export.Input, string) {
	t.Helper()
	return writtenTo(t, c, "compose-files")
}

// writtenTo is written with the mounted files in filesDir.
func writtenTo(t *testing.T, c exporttest.Case, filesDir string) (*export.Input, string) {
	t.Helper()
	dir := t.TempDir()
	in := exporttest.Input(t, t.TempDir(), c)
	data, files, err := Export(in, Options{FilesDir: filesDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := export.WriteDir(filepath.Join(dir, filesDir), Kind, files, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return in, path
}

// load reads a Compose file with the compose-spec loader, its schema
// validation on, as `docker compose` does.
func load(t *testing.T, path string) *types.Project {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(path),
		ConfigFiles: []types.ConfigFile{{Filename: path, Content: data}},
		Environment: types.Mapping{"HOME": "/root", "X": "interpolated"},
	})
	if err != nil {
		t.Fatalf("the compose-spec loader refuses %s: %v\n%s", path, err, data)
	}
	return p
}

func TestComposeSpecLoaderTakesEveryExport(t *testing.T) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			in, path := written(t, c)
			p := load(t, path)
			if len(p.Services) != len(in.Instances) {
				t.Fatalf("%d services for %d instances", len(p.Services), len(in.Instances))
			}
			for _, inst := range in.Instances {
				checkService(t, in, inst, p.Services[inst.Name])
			}
		})
	}
}

func checkService(t *testing.T, in *export.Input, inst export.Instance, s types.ServiceConfig) {
	t.Helper()
	planned := inst.Ports()
	// Every port the instance opens, as mictl records it at launch (and
	// `mictl ports table` shows it): the four, then the extras, with a
	// port MI resolves at run time whose value the export carries.
	want := append(planned[:], inst.ExtraPorts()...)
	for _, e := range inst.Launch.Extras {
		if !slices.Contains(want, e.Port) {
			t.Errorf("%s does not publish %d, which it launches with", inst.Name, e.Port)
		}
	}
	if len(s.Ports) != len(want) {
		t.Fatalf("%s publishes %d ports, it opens %v", inst.Name, len(s.Ports), want)
	}
	for i, p := range s.Ports {
		// The container runs with the instance's offset: inside, MI
		// listens where mictl's instance would.
		if int(p.Target) != want[i] || p.Published != strconv.Itoa(want[i]) {
			t.Errorf("%s publishes %d:%s, planned %d", inst.Name, p.Target, p.Published, want[i])
		}
		if bind := inst.Launch.Bind; bind != "0.0.0.0" && p.HostIP != bind {
			t.Errorf("%s publishes on %q, mictl binds %s", inst.Name, p.HostIP, bind)
		}
	}
	// The offset reaches MI as mictl passes it: -DportOffset, or in the file.
	if !slices.Equal([]string(s.Command), inst.Launch.Args) {
		t.Errorf("%s runs %v, mictl launches with %v", inst.Name, s.Command, inst.Launch.Args)
	}
	var toml, props []byte
	for _, v := range s.Volumes {
		data, err := os.ReadFile(v.Source)
		if err != nil {
			t.Errorf("%s mounts %s, which is not there: %v", inst.Name, v.Source, err)
			continue
		}
		if !v.ReadOnly {
			t.Errorf("%s mounts %s writable", inst.Name, v.Source)
		}
		switch {
		case strings.HasSuffix(v.Target, "/conf/deployment.toml"):
			toml = data
		case strings.HasSuffix(v.Target, "/conf/file.properties"):
			props = data
		}
	}
	if string(toml) != string(inst.HostTOML) {
		t.Errorf("%s mounts a deployment.toml other than the one mictl renders", inst.Name)
	}
	if string(props) != string(inst.FileProperties) {
		t.Errorf("%s mounts the file.properties %q, its MI reads %q", inst.Name, props, inst.FileProperties)
	}
	files := 2 + len(inst.CApps) + len(in.Inbounds)
	if inst.FileProperties != nil {
		files++
	}
	if len(s.Volumes) != files {
		t.Errorf("%s mounts %d files for its entrypoint, deployment.toml, its file.properties, %d CApps and %d inbound endpoints", inst.Name, len(s.Volumes), len(inst.CApps), len(in.Inbounds))
	}
	// PID 1 is mictl's entrypoint, which runs MI's start script with the
	// instance's arguments and stops MI with the script's --stop
	// (TestEntrypointStopsMIWithItsOwnStop).
	if want := []string{"sh", entrypointTarget, export.DefaultCarbonHome + "/bin/micro-integrator.sh"}; !slices.Equal(s.Entrypoint, want) {
		t.Errorf("%s entrypoint %q, want %q", inst.Name, s.Entrypoint, want)
	}
	mounted := slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
		data, err := os.ReadFile(v.Source)
		return err == nil && v.Target == entrypointTarget && v.ReadOnly && string(data) == string(entrypoint)
	})
	if !mounted {
		t.Errorf("%s does not mount the entrypoint read-only at %s: %+v", inst.Name, entrypointTarget, s.Volumes)
	}
	if s.HealthCheck == nil || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), "/healthz") ||
		!strings.Contains(strings.Join(s.HealthCheck.Test, " "), strconv.Itoa(planned[ports.InternalHTTP])) {
		t.Errorf("%s health check %+v does not ask /healthz on its internal port", inst.Name, s.HealthCheck)
	}
	if s.Restart != "unless-stopped" || s.StopGracePeriod == nil || s.StopGracePeriod.String() != "3m20s" {
		t.Errorf("%s restart %q, grace %v", inst.Name, s.Restart, s.StopGracePeriod)
	}
	if v := s.Environment["nodeId"]; v == nil || *v != inst.Name {
		t.Errorf("%s node id %v", inst.Name, v)
	}
	for _, kv := range inst.JVMEnv() {
		k, want, _ := strings.Cut(kv, "=")
		// Compose interpolation must leave the value as mictl has it.
		if got := s.Environment[k]; got == nil || *got != want {
			t.Errorf("%s %s = %v, want %q", inst.Name, k, got, want)
		}
	}
}

// Compose reads a $ in any value as its own variable: one in the --out
// path (the mounted files' directory is named after it) or in a CApp's
// file name reaches Docker as written, never interpolated (load sets X).
func TestDollarsInMountsAreNotInterpolated(t *testing.T) {
	c := exporttest.Case{Name: "dollars", TOML: "instances = 1\ncapps = [\"p$X_1.0.0.car\"]\n",
		Files: map[string]int{"p$X_1.0.0.car": 2048}, Offsets: []int{20}}
	in, path := writtenTo(t, c, "my$X files-files")
	s := load(t, path).Services["mi-1"]
	// Every mount's source is a file the export wrote.
	checkService(t, in, in.Instances[0], s)
	if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
		return strings.HasSuffix(v.Target, "/carbonapps/p$X_1.0.0.car")
	}) {
		t.Errorf("no CApp mounted as carbonapps/p$X_1.0.0.car: %+v", s.Volumes)
	}
}

func TestBadOptionsAreRefused(t *testing.T) {
	in := exporttest.Input(t, t.TempDir(), cases[0])
	if _, _, err := Export(in, Options{Image: "Bad Image"}); err == nil || !strings.Contains(err.Error(), "--image") {
		t.Errorf("bad image: err = %v", err)
	}
	if _, _, err := Export(in, Options{CarbonHome: "home/wso2mi/"}); err == nil || !strings.Contains(err.Error(), "--carbon-home") {
		t.Errorf("bad carbon home: err = %v", err)
	}
}

func TestGolden(t *testing.T) {
	_, path := written(t, cases[1])
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	exporttest.Golden(t, "compose/flag-offsets-capps-env.yaml", string(data))
}

// An instance's inbound endpoints are published as planned: 8085+offset
// for HTTP, 8098+offset for a WebSocket endpoint that asks for the
// offset, 8097 as written for one that does not.
func TestInboundEndpointsArePublished(t *testing.T) {
	in, path := written(t, cases[2])
	p := load(t, path)
	want := map[string][]string{
		"mi-1": {"8105"},
		"mi-2": {"8115", "8097", "8128"},
	}
	for _, inst := range in.Instances {
		var got []string
		for _, port := range p.Services[inst.Name].Ports[ports.NumRoles:] {
			got = append(got, port.Published)
		}
		if !slices.Equal(got, want[inst.Name]) {
			t.Errorf("%s publishes extra ports %v, want %v", inst.Name, got, want[inst.Name])
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	exporttest.Golden(t, "compose/inbound-endpoints.yaml", string(data))
}

// The CApps the distribution ships in its carbonapps/, and the inbound
// endpoints it keeps as synapse files, run on every instance (each home
// is a clone of it), but WSO2's image lacks them: each service mounts
// them (a shipped CApp as it mounts a declared one), beside the
// endpoints' ports it publishes.
func TestShippedCAppsAreMounted(t *testing.T) {
	in, path := written(t, cases[3])
	p := load(t, path)
	shipped := in.Shipped
	if len(shipped) != 1 || shipped[0].File != "inb_1.0.0.car" {
		t.Fatalf("shipped CApps %+v, want inb_1.0.0.car", shipped)
	}
	if len(in.Inbounds) != 1 || in.Inbounds[0].File != "LegacyIn.xml" {
		t.Fatalf("inbound endpoint files %+v, want LegacyIn.xml", in.Inbounds)
	}
	// LegacyIn's 7075, then inb's 7070, then mi-2's orders.car's 8085,
	// each shifted by the offset.
	for name, extras := range map[string][]string{"mi-1": {"7095", "7090"}, "mi-2": {"7105", "7100", "8115"}} {
		s := p.Services[name]
		var got []string
		for _, port := range s.Ports[ports.NumRoles:] {
			got = append(got, port.Published)
		}
		if !slices.Equal(got, extras) {
			t.Errorf("%s publishes extra ports %v, want %v", name, got, extras)
		}
		mounted := slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			data, err := os.ReadFile(v.Source)
			return err == nil && strings.HasSuffix(v.Target, "/repository/deployment/server/carbonapps/inb_1.0.0.car") && string(data) == string(shipped[0].Data)
		})
		if !mounted {
			t.Errorf("%s does not mount the shipped inb_1.0.0.car into carbonapps/: %+v", name, s.Volumes)
		}
		mounted = slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			data, err := os.ReadFile(v.Source)
			return err == nil && strings.HasSuffix(v.Target, "/repository/deployment/server/synapse-configs/default/inbound-endpoints/LegacyIn.xml") && string(data) == string(in.Inbounds[0].Data)
		})
		if !mounted {
			t.Errorf("%s does not mount LegacyIn.xml into synapse-configs/default/inbound-endpoints/: %+v", name, s.Volumes)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	exporttest.Golden(t, "compose/shipped-capps.yaml", string(data))
}

// Docker's SIGTERM (or SIGINT) to the container's PID 1, the entrypoint,
// makes MI drain through its own --stop, and the entrypoint ends with the
// start script once java has exited.
func TestEntrypointStopsMIWithItsOwnStop(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			home, script := exporttest.MIHome(t, exporttest.FakeStartScript)
			cmd, done := startEntrypoint(t, script, "-DportOffset=20")
			awaitPIDFile(t, home)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			endsWithTheScript(t, done, sig.String())
			log, _ := os.ReadFile(filepath.Join(home, "log"))
			if string(log) != "args -DportOffset=20\ndrained\n" {
				t.Errorf("the start script logged %q: MI was not started with its arguments or not stopped with SIGTERM", log)
			}
		})
	}
}

// MI may be gone before the stop that ended it returns (a --stop that
// waits, or a slow trap on a loaded host): the entrypoint still ends
// with the start script's status, not the 143 of the wait the TERM
// interrupted.
func TestEntrypointEndsWithMIsStatusWhenMIEndsDuringItsStop(t *testing.T) {
	home, script := exporttest.MIHome(t, strings.Replace(exporttest.FakeStartScript, "\texit 0\n", "\tsleep 1\n\texit 0\n", 1))
	cmd, done := startEntrypoint(t, script)
	awaitPIDFile(t, home)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	endsWithTheScript(t, done, "a SIGTERM whose --stop outlasted MI")
}

// A stop that comes before MI wrote its pid file (a container stopped as
// it starts) waits for it, and a pid file left by the container's
// previous run (Docker's restart policy keeps its files) is never
// signalled: it named no MI, perhaps a stranger by now.
func TestEntrypointStopsAnMIStillStarting(t *testing.T) {
	home, script := exporttest.MIHome(t, exporttest.SlowStartScript)
	stranger := exec.Command("sleep", "60")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	strangerDone := make(chan struct{})
	go func() { stranger.Wait(); close(strangerDone) }()
	t.Cleanup(func() { stranger.Process.Kill() })
	if err := os.WriteFile(filepath.Join(home, "wso2carbon.pid"), []byte(fmt.Sprintln(stranger.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, done := startEntrypoint(t, script)
	deadline := time.Now().Add(30 * time.Second) // for a hang, not a measurement
	for {
		if log, _ := os.ReadFile(filepath.Join(home, "log")); strings.HasPrefix(string(log), "args") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the start script never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	endsWithTheScript(t, done, "a SIGTERM that came before MI's pid file")
	if log, _ := os.ReadFile(filepath.Join(home, "log")); !strings.HasSuffix(string(log), "drained\n") {
		t.Errorf("the start script logged %q: MI was not stopped with SIGTERM", log)
	}
	select {
	case <-strangerDone:
		t.Error("the process the previous run's pid file named was signalled")
	default:
	}
}

// awaitPIDFile waits for the fake java to write its pid file in home (30 s
// at most: a hang, not a measurement).
func awaitPIDFile(t *testing.T, home string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pid, err := os.ReadFile(filepath.Join(home, "wso2carbon.pid")); err == nil && strings.HasSuffix(string(pid), "\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake java never wrote its pid file")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startEntrypoint runs the export's entrypoint.sh on the start script at
// script with args, as Compose's container does; done has its end. A
// test that fails leaves it killed.
func startEntrypoint(t *testing.T, script string, args ...string) (*exec.Cmd, <-chan error) {
	t.Helper()
	wrapper := filepath.Join(t.TempDir(), entrypointFile)
	if err := os.WriteFile(wrapper, entrypoint, 0o444); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", append([]string{wrapper, script}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return cmd, done
}

// endsWithTheScript waits for the entrypoint to end after what (30 s at
// most: a hang, not a measurement), with the start script's status, 3.
func endsWithTheScript(t *testing.T, done <-chan error, what string) {
	t.Helper()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the entrypoint still runs 30 s after %s", what)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("the entrypoint ended with %v, want the start script's status 3", err)
	}
}

// A Compose file whose environment holds a secret (a keystore's password
// in JAVA_OPTS) is for its owner alone to read; one without is 0644.
func TestFileModeKeepsSecretsPrivate(t *testing.T) {
	for env, want := range map[string]os.FileMode{
		"JAVA_OPTS=-Djavax.net.ssl.keyStorePassword=s3cret": 0o600,
		"JAVA_OPTS=-Xmx1g": 0o644,
	} {
		in := exporttest.Input(t, t.TempDir(), exporttest.Case{Name: "secret", TOML: "instances = 1\n", Env: []string{env}})
		if got := FileMode(in); got != want {
			t.Errorf("with %s the Compose file is %o, want %o", env, got, want)
		}
	}
}
