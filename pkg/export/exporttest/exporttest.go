// Package exporttest builds exporters' inputs for tests the way `mictl
// export` does: a mictl.toml planned on this host by reconcile and
// rendered by the one renderer, never a hand-made Input.
package exporttest

import (
	"archive/zip"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/goldentest"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// goldenDir is resolved at start-up, before any test changes directory.
var goldenDir, _ = filepath.Abs(filepath.Join("..", "..", "..", "testdata", "export"))

// Golden compares got with testdata/export/<name> (rewritten with
// -update), for the exporters' packages under pkg/export.
func Golden(t testing.TB, name, got string) {
	t.Helper()
	goldentest.Check(t, filepath.Join(goldenDir, name), []byte(got))
}

// Describe lists an export's files with their modes and contents, for a
// golden file.
func Describe(files []export.File) string {
	var b bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&b, "--- %s (%o)\n%s", f.Path, f.Mode, f.Data)
	}
	return b.String()
}

// Case is a configuration to export.
type Case struct {
	Name string
	// TOML is mictl.toml without instances_dir (the case gets its own).
	TOML string
	// Env is what `mictl up` would capture (JAVA_HOME=..., JAVA_OPTS=...).
	Env []string
	// Offsets are explicit offsets (--offsets): kept whatever the host
	// holds, so a golden file does not depend on it.
	Offsets []int
	// CApps maps an instance to the sizes of the CApps it declares; an
	// entry "*" applies to every instance. CApps of one size are one file.
	// Without it, the instances run the CApps TOML declares (capps and
	// [[instance]] capps), as `mictl export` reads them.
	CApps map[string][]int
	// Files are the CApps TOML declares, by name and size, written into
	// the case's directory beside mictl.toml.
	Files map[string]int
	// Built are CApps TOML declares, by file name, built as `mictl sim
	// capp` builds them (APIs, inbound endpoints) beside mictl.toml.
	Built map[string]capp.Spec
	// Shipped are CApps the distribution ships in its own carbonapps/, by
	// file name, built as Built: every instance runs them undeclared.
	Shipped map[string]capp.Spec
	// Inbounds are inbound endpoints the distribution keeps as synapse
	// files, outside any CApp, by file name: every instance deploys them.
	Inbounds map[string]string
	// FileProperties are conf/file.properties files, the one $FILE:
	// placeholders read, by the instance whose home has it, or "" for
	// the distribution's, which a home without its own copies.
	FileProperties map[string]string
}

// FileCApps are CApps whose inbound endpoint ports MI resolves at run
// time, for Case.Built: fil.car's HTTP endpoint on $FILE:orders_port,
// which MI shifts by the offset, as a port written in the CApp.
var FileCApps = map[string]capp.Spec{
	"fil.car": {Name: "fil", Inbounds: []capp.InboundSpec{{Protocol: "http", Placeholder: "$FILE:orders_port"}}},
}

// FileProperties are conf/file.properties files for Case.FileProperties
// that give FileCApps' endpoint its port: 8185 in the distribution's,
// 8186 in mi-2's home (written as MI reads it too, with spaces).
var FileProperties = map[string]string{
	"":     "# read by $FILE: placeholders\norders_port=8185\n",
	"mi-2": "orders_port = 8186\n",
}

// ShippedInbounds are inbound endpoints a distribution keeps as synapse
// files, for Case.Inbounds: an HTTP one on 7075, which MI shifts by the
// offset (mictl enables inbound.port_offset_enable).
var ShippedInbounds = map[string]string{
	"LegacyIn.xml": `<inboundEndpoint xmlns="http://ws.apache.org/ns/synapse" name="LegacyIn" protocol="http" sequence="main">
  <parameters><parameter name="inbound.http.port">7075</parameter></parameters>
</inboundEndpoint>
`,
}

// ShippedCApps are CApps a distribution ships, for Case.Shipped: inb.car
// has an HTTP inbound endpoint on 7070, which MI shifts by the offset.
var ShippedCApps = map[string]capp.Spec{
	"inb_1.0.0.car": {Name: "inb", Inbounds: []capp.InboundSpec{{Protocol: "http", Port: 7070}}},
}

// InboundCApps are CApps with inbound endpoints, for Case.Built:
// orders.car's HTTP endpoint on 8085, which MI shifts by the offset
// (mictl enables inbound.port_offset_enable), and feed.car's WebSocket
// endpoints, on 8097 as written and on 8098 shifted (ws.use.port.offset).
var InboundCApps = map[string]capp.Spec{
	"orders.car": {Name: "orders", Inbounds: []capp.InboundSpec{{Protocol: "http", Port: 8085}}},
	"feed.car":   {Name: "feed", Inbounds: []capp.InboundSpec{{Protocol: "ws", Port: 8097}, {Protocol: "ws", Port: 8098, UsePortOffset: true}}},
}

// Input plans c in dir (its homes under dir/instances) and builds the
// exporters' input from it, CApps written as real .car files.
func Input(t testing.TB, dir string, c Case) *export.Input {
	t.Helper()
	target := Target(t, dir, c)
	list := capps(t, dir, c.CApps)
	if list == nil {
		list = declared(target.Config)
	}
	in, err := export.FromTarget(target, export.Options{CApps: list})
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return in
}

// Target plans c in dir, for tests that prepare its homes: the CApps
// TOML declares (Files, Built) written first, since the plan reads their
// inbound endpoints.
func Target(t testing.TB, dir string, c Case) *reconcile.Target {
	t.Helper()
	for name, size := range c.Files {
		CApp(t, dir, name, size)
	}
	for name, spec := range c.Built {
		build(t, c.Name, filepath.Join(dir, name), spec)
	}
	cfg := load(t, dir, c.TOML)
	if len(c.Shipped) > 0 {
		carbonapps := home.CarbonAppsDir(deployment.Dist(cfg))
		if err := os.MkdirAll(carbonapps, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, spec := range c.Shipped {
			build(t, c.Name, filepath.Join(carbonapps, name), spec)
		}
	}
	for name, text := range c.FileProperties {
		dir := deployment.Dist(cfg)
		if name != "" {
			var err error
			if dir, err = home.Dir(cfg, name); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, filepath.FromSlash(capp.FilePropertiesFile))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.Inbounds) > 0 {
		dir := home.InboundEndpointsDir(deployment.Dist(cfg))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, xml := range c.Inbounds {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(xml), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	target, err := reconcile.Build(cfg, &state.File{Version: state.SchemaVersion}, reconcile.Options{Env: c.Env, Offsets: c.Offsets})
	if err != nil {
		t.Fatalf("%s: plan: %v", c.Name, err)
	}
	return target
}

// build writes the CApp spec describes to path, as `mictl sim capp` does.
func build(t testing.TB, name, path string, spec capp.Spec) {
	t.Helper()
	var buf bytes.Buffer
	if err := capp.Build(&buf, spec); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// load writes mictl.toml into dir and loads it from there, as a user
// runs mictl: in the directory of mictl.toml, with relative paths.
func load(t testing.TB, dir, toml string) *config.Config {
	t.Helper()
	t.Chdir(dir)
	path := config.DefaultFile
	text := "instances_dir = \"instances\"\n" + toml
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{Path: path})
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return cfg
}

// declared lists the CApps cfg declares for an instance.
func declared(cfg *config.Config) func(string) []string {
	return func(name string) []string {
		var paths []string
		for _, c := range cfg.CAppsOf(name) {
			paths = append(paths, c.Path)
		}
		return paths
	}
}

func capps(t testing.TB, dir string, sizes map[string][]int) func(string) []string {
	if len(sizes) == 0 {
		return nil
	}
	byInstance := map[string][]string{}
	for inst, list := range sizes {
		for _, size := range list {
			byInstance[inst] = append(byInstance[inst], CApp(t, dir, fmt.Sprintf("App%d_1.0.0.car", size), size))
		}
	}
	return func(name string) []string { return append(byInstance["*"], byInstance[name]...) }
}

// CApp writes a CApp of exactly size bytes (at least a few hundred) into
// dir: a zip with MI's artifacts.xml and a stored, incompressible
// padding entry, so the size of a ConfigMap holding it is known. It
// returns the path; the same name and size give the same bytes.
func CApp(t testing.TB, dir, name string, size int) string {
	t.Helper()
	build := func(pad int) []byte {
		var buf bytes.Buffer
		w := zip.NewWriter(&buf)
		f, err := w.Create("artifacts.xml")
		if err == nil {
			_, err = f.Write([]byte(`<artifacts><artifact name="App" version="1.0.0" type="carbon/application"></artifact></artifacts>`))
		}
		if err == nil {
			f, err = w.CreateHeader(&zip.FileHeader{Name: "padding.bin", Method: zip.Store})
		}
		if err == nil {
			data := make([]byte, pad)
			r := rand.New(rand.NewPCG(uint64(size), 1))
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			_, err = f.Write(data)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	overhead := len(build(0))
	if size < overhead {
		t.Fatalf("a CApp is at least %d bytes", overhead)
	}
	data := build(size - overhead)
	if len(data) != size {
		t.Fatalf("CApp of %d bytes came out %d", size, len(data))
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// FakeStartScript imitates MI's start script where Compose's entrypoint
// and Kubernetes' stop hook depend on it (docs/mi-facts.md, "Start, stop,
// files"): it runs a "java" as a child, not exec, which writes its pid to wso2carbon.pid
// and drains on SIGTERM, and `--stop` sends SIGTERM to that pid and
// returns at once. The script's status (3) tells it from a signal's.
// The "java" gives up after a minute, so a failing test leaves nothing
// running.
const FakeStartScript = `#!/bin/sh
home=$(cd "$(dirname "$0")/.." && pwd)
if [ "$1" = --stop ]; then
	kill -TERM "$(cat "$home/wso2carbon.pid")"
	exit 0
fi
echo "args $*" >> "$home/log"
sh -c 'trap "echo drained >> \"$1/log\"; exit 0" TERM; echo $$ > "$1/wso2carbon.pid"; i=0; while [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done' java "$home"
exit 3
`

// SlowStartScript is FakeStartScript whose java takes a second before it
// writes its pid file, as MI's takes a few: a stop may come before it.
var SlowStartScript = strings.Replace(FakeStartScript, `echo $$ > "$1/wso2carbon.pid"`, `sleep 1; echo $$ > "$1/wso2carbon.pid"`, 1)

// MIHome makes an MI home in a temporary directory whose start script is
// script (FakeStartScript, SlowStartScript), and returns the home and the
// script's path.
func MIHome(t testing.TB, script string) (home, path string) {
	t.Helper()
	home = t.TempDir()
	path = filepath.Join(home, "bin", "micro-integrator.sh")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return home, path
}
