package main

// End-to-end tests of the CApp commands (issue 12): inspect, deploy,
// apps, undeploy, through the binary, on simulator instances.

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/testports"
)

// car builds spec into the deployment's build/ directory and returns its
// path relative to the deployment (as a user types it).
func (d *deployment) car(file string, spec capp.Spec) string {
	d.t.Helper()
	var buf bytes.Buffer
	if err := capp.Build(&buf, spec); err != nil {
		d.t.Fatal(err)
	}
	return d.writeCar(file, buf.Bytes())
}

func (d *deployment) writeCar(file string, data []byte) string {
	d.t.Helper()
	rel := filepath.Join("build", file)
	if err := os.MkdirAll(filepath.Join(d.dir, "build"), 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(d.dir, rel), data, 0o644); err != nil {
		d.t.Fatal(err)
	}
	return rel
}

// appsJSON is `mictl apps -o json`, the keys the tests read.
type appsJSON struct {
	Instances []struct {
		Name   string  `json:"name"`
		State  string  `json:"state"`
		Source *string `json:"source"`
		Error  *string `json:"error"`
		Note   *string `json:"note"`
		Apps   []struct {
			Name         string  `json:"name"`
			ID           string  `json:"id"`
			State        string  `json:"state"`
			ErrorMessage *string `json:"error_message"`
			Declared     *string `json:"declared"`
			SHA256       *string `json:"sha256"`
			DeployedFile *string `json:"deployed_file"`
			Note         *string `json:"note"`
			Artifacts    []struct {
				Name, Type string
			} `json:"artifacts"`
		} `json:"apps"`
	} `json:"instances"`
}

func (d *deployment) apps() appsJSON {
	d.t.Helper()
	var r appsJSON
	out := d.must("apps", "-o", "json")
	jsonschematest.Validate(d.t, "apps", []byte(out))
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		d.t.Fatal(err)
	}
	return r
}

// appState is the state of app id on instance name ("" when not listed),
// and its error message.
func (r appsJSON) appState(name, id string) (state, msg string, artifacts []string) {
	for _, inst := range r.Instances {
		if inst.Name != name {
			continue
		}
		for _, a := range inst.Apps {
			if a.ID == id {
				if a.ErrorMessage != nil {
					msg = *a.ErrorMessage
				}
				for _, art := range a.Artifacts {
					artifacts = append(artifacts, art.Name)
				}
				return a.State, msg, artifacts
			}
		}
	}
	return "", "", nil
}

// waitApps polls mictl apps until every instance of names has app id in
// state.
func (d *deployment) waitApps(id, state string, names ...string) appsJSON {
	d.t.Helper()
	var r appsJSON
	d.waitFor(fmt.Sprintf("%s %s on %v", id, state, names), func() bool {
		r = d.apps()
		for _, n := range names {
			if s, _, _ := r.appState(n, id); s != state {
				return false
			}
		}
		return true
	})
	return r
}

func (d *deployment) readFile(rel string) string {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.dir, rel))
	if err != nil && !os.IsNotExist(err) {
		d.t.Fatal(err)
	}
	return string(b)
}

// Issue 12, done when: declare an app, up 3, every instance reports it
// active; rebuild the .car and all three redeploy it; a faulty app shows
// as faulty with MI's message and nothing restarts.
func TestDeclaredAppsDeployRedeployAndFaulty(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	orders := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	d.configFile("inplace", fmt.Sprintf("capps = [%q]\n", orders))
	d.up(3)
	all := []string{"mi-1", "mi-2", "mi-3"}
	r := d.waitApps("orders_1.0.0", "active", all...)
	for _, inst := range r.Instances {
		a := inst.Apps[0]
		if a.Declared == nil || *a.Declared != filepath.Join(d.dir, orders) || a.DeployedFile == nil || a.SHA256 == nil || len(a.Artifacts) != 2 {
			t.Fatalf("%s: %+v", inst.Name, a)
		}
	}
	oldSHA := *r.Instances[0].Apps[0].SHA256
	pids := d.pids()

	// Rebuilt with one more API: every instance redeploys it, nothing restarts.
	d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}, {Context: "/v2"}}})
	d.waitFor("the rebuilt orders on every instance", func() bool {
		r = d.apps()
		for _, n := range all {
			s, _, arts := r.appState(n, "orders_1.0.0")
			if s != "active" || !slices.Contains(arts, "v2API") {
				return false
			}
		}
		return true
	})
	for _, inst := range r.Instances {
		if a := inst.Apps[0]; *a.SHA256 == oldSHA || a.DeployedFile == nil {
			t.Fatalf("%s after the rebuild: %+v", inst.Name, a)
		}
	}
	d.assertRestarted(pids)

	// A faulty app: deploy --wait fails naming each instance and MI's reason.
	broken := d.car("broken_1.0.0.car", capp.Spec{Name: "broken", Faulty: true})
	code, _, stderr := d.mictl("deploy", broken, "--wait", "--timeout", "20s")
	if code != 3 || !strings.Contains(stderr, "warning: MI will deploy broken_1.0.0 as faulty") {
		t.Fatalf("deploy --wait of a faulty app: exit %d, want 3\n%s", code, stderr)
	}
	for _, n := range all {
		if !strings.Contains(stderr, n+": faulty: org.apache.synapse.deployers.SynapseArtifactDeploymentException: API deployment from the file") {
			t.Fatalf("%s is not named faulty with MI's reason:\n%s", n, stderr)
		}
	}
	r = d.apps()
	for _, n := range all {
		if s, msg, _ := r.appState(n, "broken_1.0.0"); s != "faulty" || !strings.Contains(msg, "brokenBrokenAPI") {
			t.Fatalf("%s broken_1.0.0: %s %q", n, s, msg)
		}
		if s, _, _ := r.appState(n, "orders_1.0.0"); s != "active" {
			t.Fatalf("%s orders_1.0.0 beside the faulty app: %s", n, s)
		}
	}
	d.waitFor("the instances to be degraded", func() bool {
		for _, n := range all {
			if d.instance(n).State != "degraded" {
				return false
			}
		}
		return true
	})
	if out := d.faulted("mi-1", "status"); !strings.Contains(out, "faulty CApps: broken_1.0.0.car") {
		t.Fatalf("status does not say why the instances are degraded:\n%s", out)
	}
	d.assertRestarted(pids)
	for _, n := range all {
		if inst := d.instance(n); inst.Restarts != 0 {
			t.Fatalf("%s restarted %d times for a faulty CApp", n, inst.Restarts)
		}
	}

	// undeploy --wait: gone from MI, from mictl.toml, the instances ready again.
	before := d.readFile("mictl.toml")
	d.must("undeploy", "broken", "--wait", "--timeout", "20s")
	if after := d.readFile("mictl.toml"); after != fmt.Sprintf("capps = [%q]\n", orders) {
		t.Fatalf("mictl.toml after undeploy:\n%s\nbefore:\n%s", after, before)
	}
	if s, _, _ := d.apps().appState("mi-1", "broken_1.0.0"); s != "" {
		t.Fatalf("broken_1.0.0 still listed: %s", s)
	}
	d.waitFor("the instances to be ready again", func() bool { return d.instance("mi-3").State == "ready" })
	d.assertRestarted(pids)
}

// A deploy under a daemon that does not answer says so once, having
// waited for it once: it warned after one wait, then asked again and
// failed saying the same after a second.
func TestDeployUnderAHungDaemonSaysItOnce(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	daemon := d.daemonPID()
	if err := syscall.Kill(daemon, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(daemon, syscall.SIGCONT) })
	orders := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	code, _, stderr := d.mictl("deploy", orders)
	// Not "the daemon's reload failed": it was not asked for one.
	if code != 3 || strings.Count(stderr, "is not answering") != 1 || !strings.Contains(stderr, "mictl.toml holds the change, and the daemon applies it once it answers") {
		t.Fatalf("deploy: exit %d, want 3 saying once that the daemon does not answer:\n%s", code, stderr)
	}
}

// mictl deploy adds to mictl.toml (comments kept) and deploys at once;
// deploy to named instances only; undeploy with and without names.
func TestDeployAndUndeploy(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", "# my deployment\ninstances = 2 # two\n")
	d.up(2)
	pids := d.pids()
	orders := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	_, out, _ := d.mictl("deploy", orders, "--wait", "--timeout", "20s")
	if !strings.Contains(out, "orders_1.0.0 active on mi-1, mi-2") {
		t.Fatalf("deploy --wait: %q", out)
	}
	want := "# my deployment\ninstances = 2 # two\ncapps = [\"build/orders_1.0.0.car\"]\n"
	if got := d.readFile("mictl.toml"); got != want {
		t.Fatalf("mictl.toml:\n%q\nwant\n%q", got, want)
	}
	// Again: declared already, nothing changes, and --wait is satisfied.
	code, _, stderr := d.mictl("deploy", orders, "--wait")
	if code != 0 || !strings.Contains(stderr, "declared already") || d.readFile("mictl.toml") != want {
		t.Fatalf("deploy again: exit %d\n%s", code, stderr)
	}

	edge := d.car("edge_2.0.0.car", capp.Spec{Name: "edge", Version: "2.0.0", APIs: []capp.APISpec{{Context: "/edge"}}})
	d.must("deploy", edge, "mi-2", "--wait", "--timeout", "20s")
	r := d.apps()
	if s, _, _ := r.appState("mi-2", "edge_2.0.0"); s != "active" {
		t.Fatalf("edge on mi-2: %q", s)
	}
	if s, _, _ := r.appState("mi-1", "edge_2.0.0"); s != "" {
		t.Fatalf("edge on mi-1: %q, deployed to mi-2 only", s)
	}
	if got := d.readFile("mictl.toml"); got != want+"\n[[instance]]\nname = \"mi-2\"\ncapps = [\"build/edge_2.0.0.car\"]\n" {
		t.Fatalf("mictl.toml with mi-2's table:\n%s", got)
	}

	// undeploy by name_version from one instance, by path everywhere. The
	// edge file is deleted first: its --wait waited for nothing (no id to
	// look for) and said undeployed while MI still served it.
	if err := os.Remove(filepath.Join(d.dir, edge)); err != nil {
		t.Fatal(err)
	}
	d.must("undeploy", "edge_2.0.0", "mi-2", "--wait", "--timeout", "20s")
	if s, _, _ := d.apps().appState("mi-2", "edge_2.0.0"); s != "" {
		t.Fatalf("edge on mi-2 is %q once undeploy --wait returned; want gone", s)
	}
	d.must("undeploy", orders, "--wait", "--timeout", "20s")
	r = d.apps()
	for _, inst := range r.Instances {
		if len(inst.Apps) != 0 {
			t.Fatalf("%s still runs %+v", inst.Name, inst.Apps)
		}
	}
	// The file is the user's again: the [[instance]] table deploy made went.
	if got := d.readFile("mictl.toml"); got != "# my deployment\ninstances = 2 # two\n" {
		t.Fatalf("mictl.toml after undeploy:\n%q", got)
	}
	d.assertRestarted(pids)

	// Unknown: exit 2, listing what is declared.
	d.must("deploy", orders)
	code, _, stderr = d.mictl("undeploy", "billing")
	if code != 2 || !strings.Contains(stderr, "billing is not declared in mictl.toml; it declares: orders_1.0.0 ("+filepath.Join(d.dir, orders)+")") {
		t.Fatalf("undeploy of an unknown app: exit %d\n%s", code, stderr)
	}
}

// An instance an earlier, larger up started runs the top-level CApps as
// the others do (the daemon deploys them to it): deploy --wait waits for
// it and names it, and so does undeploy --wait, where they named only the
// instances mictl.toml counts and returned without looking at it.
func TestDeployWaitsForInstancesBeyondTheConfiguration(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", fmt.Sprintf("instances = 1\nbase_offset = %d\n", d.base))
	d.up(2)
	d.must("up", "--timeout", "30s") // the file's 1 again: mi-2 keeps running beyond it
	if !d.stateIs("mi-2", "ready") {
		t.Fatalf("mi-2 does not run beyond the configuration:\n%s", d.events())
	}
	orders := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	if out := d.must("deploy", orders, "--wait", "--timeout", "20s"); !strings.Contains(out, "orders_1.0.0 active on mi-1, mi-2") {
		t.Fatalf("deploy --wait does not wait for mi-2, which runs the app too:\n%s", out)
	}
	if out := d.must("undeploy", "orders", "--wait", "--timeout", "20s"); !strings.Contains(out, "orders_1.0.0 undeployed on mi-1, mi-2") {
		t.Fatalf("undeploy --wait does not wait for mi-2:\n%s", out)
	}
}

// A CApp can be deployed to an instance an earlier, larger up started and
// a reload keeps running beyond the configuration, as restart accepts it;
// a name nothing plans is refused, naming both kinds.
func TestDeployToAnInstanceBeyondTheConfiguration(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", fmt.Sprintf("instances = 1\nbase_offset = %d\n", d.base))
	d.up(2)
	d.must("up", "--timeout", "30s") // the file's 1 again: mi-2 keeps running beyond it
	orders := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	code, _, stderr := d.mictl("deploy", orders, "mi-3")
	if want := `unknown instance "mi-3": the configuration names mi-1, and mi-2 runs beyond it`; code != 2 || !strings.Contains(stderr, want) {
		t.Fatalf("deploy to mi-3: exit %d, want 2 and %q:\n%s", code, want, stderr)
	}
	code, out, stderr := d.mictl("deploy", orders, "mi-2", "--wait", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "orders_1.0.0 active on mi-2") || !strings.Contains(stderr, "note: mi-2 ran beyond the configuration") {
		t.Fatalf("deploy to mi-2, which runs beyond the configuration: exit %d\n%s%s", code, out, stderr)
	}
	if s, _, _ := d.apps().appState("mi-1", "orders_1.0.0"); s != "" {
		t.Fatalf("orders on mi-1: %q, deployed to mi-2 only", s)
	}
	// Undeployed again, mi-2 keeps running: its [[instance]] table, which
	// names it now, stays (dropped, the reload stopped mi-2).
	code, out, stderr = d.mictl("undeploy", "orders", "mi-2", "--wait", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "orders_1.0.0 undeployed on mi-2") || !strings.Contains(stderr, "kept the [[instance]] table of mi-2: it names mi-2, which runs beyond instances = 1") {
		t.Fatalf("undeploy from mi-2: exit %d\n%s%s", code, out, stderr)
	}
	if got, want := d.readFile("mictl.toml"), fmt.Sprintf("instances = 1\nbase_offset = %d\n\n[[instance]]\nname = \"mi-2\"\n", d.base); got != want {
		t.Errorf("mictl.toml:\n%q\nwant\n%q", got, want)
	}
	if !d.stateIs("mi-2", "ready") {
		t.Fatalf("mi-2 does not run after the undeploy:\n%s", d.events())
	}
}

// Two instances whose app opens inbound port 8085 get 8085+offset each
// when mictl manages inbound.port_offset_enable; when the user turned it
// off, the app is refused (deploy and up) before anything changes.
func TestInboundPortsOffsetOrRefused(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	// Unshifted below, hl_1.0.0's endpoint binds 8085 itself: the test
	// holds it (another suite's test, or a developer's MI, on it made the
	// plan's refusal the host's).
	testports.Hold(t, 8085)
	hl7 := d.car("hl_1.0.0.car", capp.Spec{Name: "hl", Inbounds: []capp.InboundSpec{{Name: "OrdersHTTP", Port: 8085}}})
	d.up(2)
	d.must("deploy", hl7, "--wait", "--timeout", "20s")
	for _, n := range []string{"mi-1", "mi-2"} {
		inst := d.instance(n)
		port := 8085 + inst.Offset
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			t.Fatalf("%s: the inbound endpoint does not listen on 8085+%d: %v", n, inst.Offset, err)
		}
		c.Close()
	}
	var insp struct {
		Instances []struct {
			Name  string `json:"name"`
			Ports []struct {
				Endpoint string `json:"endpoint"`
				Port     int    `json:"port"`
			} `json:"inbound_ports"`
		} `json:"instances"`
		Conflicts []any `json:"conflicts"`
	}
	out := d.must("inspect", hl7, "-o", "json")
	jsonschematest.Validate(t, "inspect", []byte(out))
	if err := json.Unmarshal([]byte(out), &insp); err != nil {
		t.Fatal(err)
	}
	for _, inst := range insp.Instances {
		if off := d.instance(inst.Name).Offset; len(inst.Ports) != 1 || inst.Ports[0].Port != 8085+off || inst.Ports[0].Endpoint != "OrdersHTTP" {
			t.Fatalf("inspect %s: %+v, want OrdersHTTP on %d", inst.Name, inst.Ports, 8085+off)
		}
	}
	if len(insp.Conflicts) != 0 {
		t.Fatalf("inspect of a deployed app: conflicts %v", insp.Conflicts)
	}
	d.must("down")

	// The user turns the offset off in the source deployment.toml.
	dist := filepath.Join("instances", ".dist", "conf", "deployment.toml")
	src := d.readFile(dist)
	if !strings.Contains(src, "internal_http_api_enable = true\n") {
		t.Fatalf("the simulator's deployment.toml changed:\n%s", src)
	}
	if err := os.WriteFile(filepath.Join(d.dir, dist), []byte(strings.Replace(src, "internal_http_api_enable = true\n",
		"internal_http_api_enable = true\ninbound.port_offset_enable = false\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Nothing runs now: deploy plans from mictl.toml alone (the flags of
	// the last up are forgotten with it), so the file says 2 instances.
	d.configFile("inplace", "instances = 2\n"+d.readFile("mictl.toml"))
	toml := d.readFile("mictl.toml")
	// An unshifted port of this test's own: the http port of an offset of
	// its block that its two instances never take.
	unshifted := 8280 + d.base + 50
	other := d.car("other_1.0.0.car", capp.Spec{Name: "other", Inbounds: []capp.InboundSpec{{Name: "OtherHTTP", Port: unshifted}}})
	code, _, stderr := d.mictl("deploy", other)
	if code != 1 || !strings.Contains(stderr, "refusing to deploy other_1.0.0") ||
		!strings.Contains(stderr, fmt.Sprintf("mi-1 inbound other_1.0.0/OtherHTTP port %d ↔ mi-2 inbound other_1.0.0/OtherHTTP port %d", unshifted, unshifted)) ||
		!strings.Contains(stderr, "remove inbound.port_offset_enable = false") {
		t.Fatalf("deploy with the offset off: exit %d, want 1\n%s", code, stderr)
	}
	if d.readFile("mictl.toml") != toml {
		t.Fatal("a refused deploy changed mictl.toml")
	}
	// up refuses the app already declared, before starting anything.
	code, out, stderr = d.mictl("up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	if code != 1 || !strings.Contains(out, "hl_1.0.0/OrdersHTTP port 8085") {
		t.Fatalf("up with the offset off: exit %d, want 1\n%s%s", code, out, stderr)
	}
	if servers := d.servers(); len(servers) != 0 {
		t.Fatalf("servers started despite the refusal: %v", servers)
	}

	// The same through [[instance]] overrides: only mi-2 is left unshifted,
	// which clashes with nothing; both unshifted clash.
	if err := os.WriteFile(filepath.Join(d.dir, dist), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	off := `overrides = { "mediation.inbound.port_offset_enable" = false }`
	d.configFile("inplace", toml+"\n[[instance]]\nname = \"mi-2\"\n"+off+"\n")
	if code, out, _ = d.mictl("inspect", other, "--instances", "2", "--base-offset", fmt.Sprint(d.base)); code != 0 || !strings.Contains(out, "| mi-2 ") || !strings.Contains(out, fmt.Sprintf("| %d |", unshifted)) {
		t.Fatalf("inspect with mi-2 unshifted: exit %d\n%s", code, out)
	}
	d.configFile("inplace", toml+"\n[[instance]]\nname = \"mi-1\"\n"+off+"\n\n[[instance]]\nname = \"mi-2\"\n"+off+"\n")
	toml = d.readFile("mictl.toml")
	if code, _, stderr := d.mictl("deploy", other); code != 1 || !strings.Contains(stderr, fmt.Sprint(unshifted)) || d.readFile("mictl.toml") != toml {
		t.Fatalf("deploy with both unshifted by overrides: exit %d\n%s", code, stderr)
	}
}

// Each bad input of issue 12 is refused with the file and the reason,
// by inspect and by deploy, and deploy changes nothing.
func TestBadCAppsAreRefused(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", "instances = 2\n")
	orders := d.car("orders_1.0.0.car", capp.Spec{Name: "orders"})
	d.must("deploy", orders)
	toml := d.readFile("mictl.toml")

	big := filepath.Join(d.dir, "build", "big.car")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2 << 30); err != nil { // sparse: 2 GB that take no disk
		t.Fatal(err)
	}
	f.Close()
	same := d.car("copy.car", capp.Spec{Name: "orders"})
	for _, c := range []struct {
		name, file, reason string
		code               int
	}{
		{"not a zip", d.writeCar("text.car", []byte("hello")), "not a zip archive", 2},
		{"no artifacts.xml", d.writeCar("empty.car", zipOf(t, map[string]string{"x/artifact.xml": "<artifact/>"})), "no artifacts.xml at the root", 2},
		{"2 GB", "build/big.car", "larger than the 512 MiB a CApp may be", 2},
		{"path traversal", d.writeCar("evil.car", zipOf(t, map[string]string{"artifacts.xml": "<artifacts/>", "../evil.sh": "x"})), "climbs out of the archive", 2},
		{"port out of range", d.writeCar("port.car", inboundCar(t, "70000")), `inbound.http.port = "70000" is not a port`, 2},
		{"same name and version", same, "are both CApp orders_1.0.0", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, cmd := range [][]string{{"deploy", c.file}, {"inspect", c.file}} {
				if c.file == same && cmd[0] == "inspect" {
					continue // inspect plans it in place of the declared one
				}
				code, _, stderr := d.mictl(cmd...)
				if code != c.code || !strings.Contains(stderr, filepath.Base(c.file)) || !strings.Contains(stderr, c.reason) {
					t.Errorf("%s: exit %d, want %d and %q naming the file:\n%s", strings.Join(cmd, " "), code, c.code, c.reason, stderr)
				}
			}
			if d.readFile("mictl.toml") != toml {
				t.Fatalf("mictl.toml changed:\n%s", d.readFile("mictl.toml"))
			}
		})
	}
}

// apps works on what MI runs, whoever put it there, and shows instances
// that do not run and applications mictl.toml does not declare.
func TestAppsShowsWhatMIRuns(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	stray := d.car("stray_1.0.0.car", capp.Spec{Name: "stray", APIs: []capp.APISpec{{Context: "/stray"}}})
	carbonapps := filepath.Join(d.instance("mi-1").Home, "repository", "deployment", "server", "carbonapps")
	if err := fsutil.CopyFileAtomic(filepath.Join(d.dir, stray), filepath.Join(carbonapps, "stray_1.0.0.car"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := d.waitApps("stray_1.0.0", "active", "mi-1")
	for _, inst := range r.Instances {
		switch inst.Name {
		case "mi-1":
			if a := inst.Apps[0]; a.Declared != nil || a.Note == nil || !strings.Contains(*a.Note, "not declared") {
				t.Fatalf("an undeclared app: %+v", a)
			}
		case "mi-2":
			if len(inst.Apps) != 0 || inst.Source == nil || *inst.Source != "management_api" {
				t.Fatalf("mi-2: %+v", inst)
			}
		}
	}
	d.configFile("inplace", fmt.Sprintf("instances = 2\ncapps = [%q]\n", stray))
	d.must("down", "mi-2")
	r = d.apps()
	if s, _, _ := r.appState("mi-2", "stray_1.0.0"); s != "pending" || r.Instances[1].Note == nil {
		t.Fatalf("a stopped instance's declared app: %q, %+v", s, r.Instances[1])
	}
	out := d.must("apps", "mi-1")
	if !strings.Contains(out, "| mi-1 | stray | 1.0.0   | active | straySequence (sequence), strayAPI (api) |") {
		t.Fatalf("apps mi-1:\n%s", out)
	}
	if code, _, stderr := d.mictl("apps", "mi-9"); code != 2 || !strings.Contains(stderr, "mi-9") {
		t.Fatalf("apps of an unknown instance: exit %d\n%s", code, stderr)
	}
	// A refused login names where the password came from: the advice
	// said "check management_user / management_password" when the wrong
	// one was an environment variable, not a key of mictl.toml.
	d.env = []string{"MICTL_MANAGEMENT_PASSWORD=wrong"}
	code, out, stderr := d.mictl("apps", "mi-1")
	d.env = nil
	if want := "login as admin refused: check management_user (not set: MI's default) / management_password (environment MICTL_MANAGEMENT_PASSWORD)"; code != 3 || !strings.Contains(out+stderr, want) {
		t.Fatalf("apps with a wrong password in the environment: exit %d\n%s%s\nwant it to say %q", code, out, stderr, want)
	}
}

// zipOf builds a zip of files (name → content), entries in name order.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[n]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// inboundCar is a CApp whose HTTP inbound endpoint listens on port (as
// written: capp.Build refuses bad ports).
func inboundCar(t *testing.T, port string) []byte {
	return zipOf(t, map[string]string{
		"artifacts.xml": `<artifacts><artifact name="bad" version="1.0.0" type="carbon/application">
<dependency artifact="In" version="1.0.0" include="true"/></artifact></artifacts>`,
		"In_1.0.0/artifact.xml": `<artifact name="In" version="1.0.0" type="synapse/inbound-endpoint"><file>In.xml</file></artifact>`,
		"In_1.0.0/In.xml": `<inboundEndpoint name="In" protocol="http" sequence="s" xmlns="http://ws.apache.org/ns/synapse">
<parameters><parameter name="inbound.http.port">` + port + `</parameter></parameters></inboundEndpoint>`,
	})
}

// The CApps an operator's distribution ships in its own carbonapps/ run
// on every instance cloned from it, so they are planned and checked as
// declared ones: two instances binding an endpoint's unshifted port are
// refused naming the file they come from, a declared app of the same id
// is refused, and ports table names the endpoint's port (it took it for
// the JVM's random JMX port).
func TestShippedCAppsArePlannedAndChecked(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "dist")
	unshifted := 8280 + d.base + 50 // a port of this test's own
	var buf bytes.Buffer
	if err := capp.Build(&buf, capp.Spec{Name: "inb", Inbounds: []capp.InboundSpec{{Name: "InbHTTP", Port: unshifted}}}); err != nil {
		t.Fatal(err)
	}
	shipped := filepath.Join("dist", "repository", "deployment", "server", "carbonapps", "inb_1.0.0.car")
	if err := os.WriteFile(filepath.Join(d.dir, shipped), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("dist", "conf", "deployment.toml")
	if err := os.WriteFile(filepath.Join(d.dir, src), []byte(strings.Replace(d.readFile(src), "[mediation]\n",
		"[mediation]\ninbound.port_offset_enable = false\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("mi_home = \"dist\"\nbase_offset = %d\n", d.base)
	d.configFile("inplace", toml)

	clash := fmt.Sprintf("mi-1 inbound inb_1.0.0/InbHTTP port %d ↔ mi-2 inbound inb_1.0.0/InbHTTP port %d", unshifted, unshifted)
	origin := "inb_1.0.0 is shipped in " + shipped
	if code, out, _ := d.mictl("check-conflicts", "--instances", "2"); code != 1 || !strings.Contains(out, clash) || !strings.Contains(out, "note: "+origin) {
		t.Fatalf("check-conflicts of 2: exit %d, want 1 naming %q and %q:\n%s", code, clash, origin, out)
	}
	code, out, stderr := d.mictl("up", "--instances", "2", "--timeout", "30s")
	if code != 1 || !strings.Contains(out, clash) || !strings.Contains(stderr, "hint: "+origin) {
		t.Fatalf("up of 2: exit %d, want 1 naming %q and %q:\n%s%s", code, clash, origin, out, stderr)
	}
	if servers := d.servers(); len(servers) != 0 {
		t.Fatalf("servers started despite the refusal: %v", servers)
	}

	other := d.car("inb.car", capp.Spec{Name: "inb"})
	d.configFile("inplace", toml+fmt.Sprintf("capps = [%q]\n", other))
	want := shipped + " (shipped in the distribution's carbonapps/, so every instance deploys it) and " + filepath.Join(d.dir, other) + " are both CApp inb_1.0.0"
	if code, _, stderr := d.mictl("check-conflicts"); code != 2 || !strings.Contains(stderr, want) {
		t.Fatalf("a declared app with a shipped one's id: exit %d, want 2 and %q:\n%s", code, want, stderr)
	}

	d.configFile("inplace", toml)
	d.must("up", "--timeout", "30s")
	var rows []struct {
		Extras []struct {
			Role     string `json:"role"`
			Listener string `json:"listener"`
			Port     int    `json:"port"`
		} `json:"extras"`
		Random []struct {
			Port int `json:"port"`
		} `json:"random"`
	}
	if err := json.Unmarshal([]byte(d.must("ports", "table", "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || len(rows[0].Extras) != 1 || rows[0].Extras[0].Port != unshifted || rows[0].Extras[0].Listener != "inb_1.0.0/InbHTTP" {
		t.Fatalf("ports table: %+v, want one extra, inbound inb_1.0.0/InbHTTP on %d", rows, unshifted)
	}
	for _, r := range rows[0].Random {
		if r.Port == unshifted {
			t.Fatalf("ports table lists the shipped endpoint's port %d as random: %+v", unshifted, rows[0].Random)
		}
	}
	// apps says where the app comes from, not that mictl.toml lacks it.
	d.waitFor("MI lists the shipped app", func() bool { return strings.Contains(d.must("apps"), "inb") })
	if out := d.must("apps", "-o", "json"); !strings.Contains(out, "shipped in the distribution (") || strings.Contains(out, "not declared in mictl.toml") {
		t.Fatalf("apps does not say the app is the distribution's:\n%s", out)
	}
}

// Shell completion offers what each argument takes: .car files for
// deploy and inspect, the declared CApps (as MI names them) for undeploy,
// and instance names after them and for logs, in the order they were
// planned (mi-2 before mi-10).
func TestCompletionOffersWhatEachArgumentTakes(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	orders := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	d.configFile("inplace", fmt.Sprintf("base_offset = %d\ninstances = 10\ncapps = [%q]\n", d.base, orders))
	d.must("generate")
	for _, name := range []string{"mi-2", "mi-10"} { // logs completes homes with a log
		log := home.ConsoleLog(filepath.Join(d.dir, "instances", name))
		if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(log, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		args []string
		want string // the candidates, then cobra's directive
	}{
		{[]string{"deploy", ""}, "car\n:8"},
		{[]string{"inspect", ""}, "car\n:8"},
		{[]string{"undeploy", ""}, "orders_1.0.0\n:4"},
		{[]string{"logs", ""}, "mi-2\nmi-10\n:4"},
	} {
		out := d.must(append([]string{"__complete"}, c.args...)...)
		if got, _, _ := strings.Cut(out, "\nCompletion ended"); strings.TrimSpace(got) != c.want {
			t.Errorf("mictl __complete %s: %q, want %q", strings.Join(c.args, " "), got, c.want)
		}
	}
}

// Once undeploy --wait of a faulty CApp returns, status agrees that the
// instance it made degraded is ready (exit 0): a check run right after
// the undeploy saw it degraded for a second or two more, and exit 3.
func TestStatusAgreesOnceUndeployWaitReturns(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	broken := d.car("broken_1.0.0.car", capp.Spec{Name: "broken", Faulty: true})
	d.configFile("inplace", fmt.Sprintf("base_offset = %d\ninstances = 2\n", d.base))
	d.must("up", "--timeout", "30s")
	if code, _, errOut := d.mictl("deploy", broken, "mi-2", "--wait", "--timeout", "20s"); code != 3 {
		t.Fatalf("deploy --wait of a faulty app: exit %d, want 3:\n%s", code, errOut)
	}
	d.waitFor("mi-2 degraded", func() bool { return d.stateIs("mi-2", "degraded") })
	d.must("undeploy", "broken", "--wait", "--timeout", "20s")
	for _, row := range d.statusJSON().Instances {
		if row.State != "ready" {
			t.Fatalf("%s is %s right after undeploy --wait returned, want ready:\n%s", row.Name, row.State, d.events())
		}
	}
}

// Once deploy --wait has found a CApp faulty (exit 3), status agrees that
// its instance is degraded: a status right after showed it ready (exit 0)
// until the daemon's next health check, which a server beside it whose
// /healthz hangs holds up for a second, the time that check allows it.
func TestStatusAgreesOnceDeployWaitFindsAFaultyCApp(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.upBesideAHungHealthz()
	d.deployFaulty("broken", "mi-2")
	if row := d.statusRow("mi-2"); row.State != "degraded" {
		t.Fatalf("mi-2 is %s right after deploy --wait found its CApp faulty, want degraded:\n%s", row.State, d.events())
	}
}

// The same when the instance is degraded by another faulty CApp already:
// status then agreed at once that it is degraded, and deploy --wait
// returned before status named this CApp among the faulty ones.
func TestStatusNamesTheSecondFaultyCAppOnceDeployWaitReturns(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.upBesideAHungHealthz()
	d.deployFaulty("broken", "mi-2")
	d.waitFor("mi-2 degraded by broken_1.0.0", func() bool { return d.stateIs("mi-2", "degraded") })
	d.deployFaulty("cracked", "mi-2")
	health := "null"
	if h := d.statusRow("mi-2").Health; h != nil {
		health = *h
	}
	if !strings.Contains(health, "cracked_1.0.0.car") {
		t.Fatalf("mi-2's health right after deploy --wait found cracked_1.0.0 faulty: %s, want it named:\n%s", health, d.events())
	}
}

// upBesideAHungHealthz starts mi-1, whose /healthz hangs, and mi-2: each
// health check of the daemon waits a second for mi-1 (the time it allows
// it), which holds up what it learns of mi-2.
func (d *deployment) upBesideAHungHealthz() {
	d.t.Helper()
	d.env = []string{"MICTL_SIM_HANG_AFTER=500ms"}
	d.up(1)
	d.env = nil
	d.up(2)
	healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz", d.instance("mi-1").Ports[ports.InternalHTTP])
	client := &http.Client{Timeout: 100 * time.Millisecond}
	d.waitFor("mi-1's /healthz to hang", func() bool {
		resp, err := client.Get(healthz)
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	})
}

// deployFaulty builds a faulty CApp name_1.0.0 and deploys it to the
// instance with --wait, which must find it faulty (exit 3).
func (d *deployment) deployFaulty(name, instance string) {
	d.t.Helper()
	car := d.car(name+"_1.0.0.car", capp.Spec{Name: name, Faulty: true})
	if code, _, errOut := d.mictl("deploy", car, instance, "--wait", "--timeout", "20s"); code != 3 {
		d.t.Fatalf("deploy --wait of the faulty %s: exit %d, want 3:\n%s", name, code, errOut)
	}
}

// statusRow is the instance's row of mictl status -o json, whatever its
// exit code.
func (d *deployment) statusRow(name string) statusRow {
	d.t.Helper()
	_, out, _ := d.mictl("status", "-o", "json")
	var report statusReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		d.t.Fatalf("status -o json: %v\n%s", err, out)
	}
	for _, row := range report.Instances {
		if row.Name == name {
			return row
		}
	}
	d.t.Fatalf("status -o json shows no %s:\n%s", name, out)
	return statusRow{}
}

// An undeploy that lands between deploy's reload and its wait's first look
// at an instance ends deploy --wait at once (exit 3, saying so): no look
// saw the build in carbonapps/, and the wait went on until its timeout.
// The daemon, stopped, lets the undeploy edit mictl.toml before it serves
// either reload; MI scanning every hour deploys nothing meanwhile.
func TestDeployWaitEndsAtOnceWhenUndeployedMeanwhile(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_DEPLOY_INTERVAL=1h"}
	d.up(1)
	d.env = nil
	car := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	daemon := d.daemonPID()
	if err := syscall.Kill(daemon, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(daemon, syscall.SIGCONT) }) // before the deployment's down
	deploy := d.start(nil, "deploy", car, "--wait", "--timeout", "10m")
	d.waitFor("deploy to declare it", func() bool { return strings.Contains(deploy.out.String(), "declared orders_1.0.0") })
	undeploy := d.start(nil, "undeploy", "orders")
	d.waitFor("undeploy to take it out", func() bool { return strings.Contains(undeploy.out.String(), "removed orders_1.0.0") })
	if err := syscall.Kill(daemon, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	err, ok := deploy.wait(time.Minute)
	var exit *exec.ExitError
	if !ok || !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(deploy.out.String(), "mi-1: this build is no longer in its carbonapps/: undeployed meanwhile") {
		t.Fatalf("deploy --wait with an undeploy meanwhile: %v (ended: %v), want exit 3 saying it was undeployed meanwhile:\n%s", err, ok, deploy.out.String())
	}
	if _, ok := undeploy.wait(time.Minute); !ok {
		t.Fatalf("undeploy still runs:\n%s", undeploy.out.String())
	}
}

// A server MI restarts itself during deploy --wait (exit 121: its script
// starts a new one) is waited for until it lists the app: the wait ended
// at the old server's exit, "not running", exit 0 with nothing deployed.
// MI scanning every hour deploys it only at the new server's start.
func TestDeployWaitGoesOnWhenMIRestartsItself(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_DEPLOY_INTERVAL=1h", "MICTL_SIM_RESTART_ONCE=5s"}
	d.up(1)
	d.env = nil
	car := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	code, out, errOut := d.mictl("deploy", car, "--wait", "--timeout", "1m")
	if code != 0 || !strings.Contains(out, "orders_1.0.0 active on mi-1") || strings.Contains(errOut, "not running") {
		t.Fatalf("deploy --wait across MI's restart: exit %d, want 0 with orders_1.0.0 active on mi-1:\n%s%s\nevents:\n%s", code, out, errOut, d.events())
	}
	if !strings.Contains(d.events(), "server restarted itself") {
		t.Fatalf("MI did not restart itself during the wait:\n%s", d.events())
	}
}

// deploy --wait while a down stops the instance says it gets the app at
// its next start (exit 0): the reload copies nothing into a home being
// stopped, which is no undeploy meanwhile.
func TestDeployWaitWhileADownStopsTheInstance(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=3s"}
	d.up(1)
	d.env = nil
	down := d.start(nil, "down")
	d.waitFor("mi-1 stopping", func() bool { return d.stateIs("mi-1", "stopping") })
	car := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	code, _, errOut := d.mictl("deploy", car, "--wait", "--timeout", "1m")
	if code != 0 || !strings.Contains(errOut, "mi-1: not running: its server (pid ") {
		t.Fatalf("deploy --wait during a down: exit %d, want 0 saying mi-1 no longer runs:\n%s", code, errOut)
	}
	if err, ok := down.wait(time.Minute); !ok || err != nil {
		t.Fatalf("down: %v (ended: %v)\n%s", err, ok, down.out.String())
	}
}

// A deploy of the same build landing between undeploy's edit and its wait
// ends undeploy --wait at once (exit 3, saying so): MI keeps the app, and
// the wait went on until its timeout. The daemon, stopped, lets the deploy
// edit mictl.toml back before it serves either reload.
func TestUndeployWaitEndsAtOnceWhenDeployedAgain(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	car := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	d.must("deploy", car, "--wait", "--timeout", "20s")
	daemon := d.daemonPID()
	if err := syscall.Kill(daemon, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(daemon, syscall.SIGCONT) }) // before the deployment's down
	undeploy := d.start(nil, "undeploy", "orders", "--wait", "--timeout", "10m")
	d.waitFor("undeploy to take it out", func() bool { return strings.Contains(undeploy.out.String(), "removed orders_1.0.0") })
	deploy := d.start(nil, "deploy", car)
	d.waitFor("deploy to declare it again", func() bool { return strings.Contains(deploy.out.String(), "declared orders_1.0.0") })
	if err := syscall.Kill(daemon, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	err, ok := undeploy.wait(time.Minute)
	var exit *exec.ExitError
	if !ok || !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(undeploy.out.String(), "mi-1: this build is back in its carbonapps/: deployed again meanwhile") {
		t.Fatalf("undeploy --wait with a deploy meanwhile: %v (ended: %v), want exit 3 saying it was deployed again:\n%s", err, ok, undeploy.out.String())
	}
	if _, ok := deploy.wait(time.Minute); !ok {
		t.Fatalf("deploy still runs:\n%s", deploy.out.String())
	}
}

// deploy --wait whose reload a down interrupts before it copied anything
// (the reload waited its turn behind a restart) says of an instance the
// down is still stopping that it gets the app at its next start (exit 0):
// the wait took the reload for done, and said the build had left a
// carbonapps/ it never reached, "undeployed meanwhile" (exit 3).
func TestDeployWaitWhoseReloadADownInterrupts(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.upSlowToStop(2)
	d.waitsForMi2Stopping(d.besideAnInterruptedReload("deploy", d.ordersCar(), "--wait", "--timeout", "1m"))
}

// undeploy --wait whose reload a down interrupts likewise: it said the
// build it never took out was "deployed again meanwhile" (exit 3).
func TestUndeployWaitWhoseReloadADownInterrupts(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.upSlowToStop(2)
	d.must("deploy", d.ordersCar(), "--wait", "--timeout", "20s")
	d.waitsForMi2Stopping(d.besideAnInterruptedReload("undeploy", "orders", "--wait", "--timeout", "1m"))
}

// deploy and undeploy without --wait whose reload a down interrupts say
// that the next up takes the change: they said the daemon was giving it
// to the running instances.
func TestDeployAndUndeployWhoseReloadADownInterrupts(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.upSlowToStop(2)
	for _, c := range []struct{ verb, app, want string }{
		{"deploy", d.ordersCar(), "mictl down is stopping every instance: mictl up starts them with orders_1.0.0"},
		{"undeploy", "orders", "mictl down is stopping every instance: mictl up starts them without orders_1.0.0"},
	} {
		err, out := d.besideAnInterruptedReload(c.verb, c.app)
		if err != nil || !strings.Contains(out, c.want) || strings.Contains(out, "the running instances") {
			t.Fatalf("%s whose reload a down interrupted: %v, want exit 0 saying %q:\n%s", c.verb, err, c.want, out)
		}
		d.upSlowToStop(2)
	}
}

// upSlowToStop starts n instances whose servers take 2 s to start and 3 s
// to stop.
func (d *deployment) upSlowToStop(n int) {
	d.t.Helper()
	d.env = []string{"MICTL_SIM_STARTUP_DELAY=2s", "MICTL_SIM_SHUTDOWN_DELAY=3s"}
	d.up(n)
	d.env = nil
}

func (d *deployment) ordersCar() string {
	return d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
}

// besideAnInterruptedReload runs `mictl ARGS` (a deploy or an undeploy)
// while a restart of mi-1 holds the daemon's reloads back, then a mictl
// down, which interrupts its reload; it returns how the command ended,
// and what it said.
func (d *deployment) besideAnInterruptedReload(args ...string) (error, string) {
	d.t.Helper()
	restart := d.start(nil, "restart", "mi-1")
	d.waitFor("the restart to stop mi-1", func() bool { return strings.Contains(restart.out.String(), "mi-1 stopping") })
	cmd := d.start(nil, args...)
	d.waitFor("the reload to wait for the restart", func() bool {
		return strings.Contains(cmd.out.String(), "waiting for the rolling restart or reload under way to end")
	})
	d.must("down")
	err, ok := cmd.wait(time.Minute)
	if !ok {
		d.t.Fatalf("mictl %s still runs a minute after the down:\n%s", strings.Join(args, " "), cmd.out.String())
	}
	if _, ok := restart.wait(time.Minute); !ok {
		d.t.Fatalf("restart still runs:\n%s", restart.out.String())
	}
	return err, cmd.out.String()
}

// waitsForMi2Stopping checks a wait beside an interrupted reload ended
// saying mi-2, which the down stopped, no longer runs (exit 0).
func (d *deployment) waitsForMi2Stopping(err error, out string) {
	d.t.Helper()
	if err != nil || !strings.Contains(out, "mi-2: not running: its server (pid ") {
		d.t.Fatalf("a wait whose reload a down interrupted: %v, want exit 0 saying mi-2 no longer runs:\n%s", err, out)
	}
}

// MI fails an inbound endpoint whose port is taken as it deploys it, even
// for a moment, and keeps its CApp faulty until its file changes or its
// server restarts: the home holds the declared file, so diff sees nothing
// to do and a reload does nothing. Once the port is free, mictl apps says
// what brings it back, and that does.
func TestAFaultyCAppWhoseInboundPortFreedSaysWhatBringsItBack(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	orders := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", Inbounds: []capp.InboundSpec{{Name: "ordersHTTP", Port: 8085}}})
	d.configFile("inplace", fmt.Sprintf("capps = [%q]\n", orders))
	port := 8085 + d.base // mictl turns MI's inbound.port_offset_enable on
	stranger, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	if code, out, errOut := d.mictl("up", "--instances", "1", "--offsets", fmt.Sprint(d.base), "--force", "--timeout", "30s"); code != 0 && code != 3 {
		t.Fatalf("up --force beside the stranger on %d: exit %d\n%s%s", port, code, out, errOut)
	}
	r := d.waitApps("orders_1.0.0", "faulty", "mi-1")
	if note := r.Instances[0].Apps[0].Note; note != nil {
		t.Errorf("while the port is still taken: note %q, want none", *note)
	}
	stranger.Close()
	r = d.apps()
	want := fmt.Sprintf("its inbound port %d is free now: MI failed the endpoint as it deployed it, while the port was taken (mictl logs mi-1 says), and keeps a CApp it failed faulty until its file changes or its server restarts: mictl restart mi-1 deploys it again", port)
	if a := r.Instances[0].Apps[0]; a.State != "faulty" || a.Note == nil || *a.Note != want {
		t.Fatalf("orders_1.0.0 on mi-1 once its port is free: %+v; want faulty with the note %q", a, want)
	}
	if out := d.must("apps"); !strings.Contains(out, "mi-1 orders_1.0.0: "+want) {
		t.Errorf("mictl apps does not show the note:\n%s", out)
	}
	d.must("restart", "mi-1")
	d.waitApps("orders_1.0.0", "active", "mi-1")
}

// The inbound port of a CApp undeployed from a running instance, which MI
// holds until its next hot deployment scan undeploys the app, is named as
// the app's in ports table, text and -o json: it read "other tcp/N" in
// the RANDOM column, as if a stranger held it.
func TestPortsTableNamesAnUndeployingCAppsPort(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	// MI deploys the declared app as it starts, and scans no more: the
	// port stays held for as long as the test looks.
	d.env = []string{"MICTL_SIM_DEPLOY_INTERVAL=1h"}
	hl := d.car("hl_1.0.0.car", capp.Spec{Name: "hl", Inbounds: []capp.InboundSpec{{Name: "HLInbound", Port: 8090}}})
	d.configFile("inplace", fmt.Sprintf("capps = [%q]\n", hl))
	d.up(1)
	d.waitApps("hl_1.0.0", "active", "mi-1")
	port := d.instance("mi-1").Extras[0].Port // 8090 + the offset: a port of this test's span (testports.InboundBases)
	d.must("undeploy", "hl_1.0.0")
	var found bool
	for _, r := range d.portsTable()[0].Random {
		if r.Port == port {
			found = true
			if r.Role != "inbound" || r.Listener == nil || *r.Listener != "hl_1.0.0/HLInbound" || !r.Undeploying {
				t.Errorf("ports table -o json: port %d is %+v, want the inbound port of hl_1.0.0/HLInbound, undeploying", port, r)
			}
		}
	}
	if !found {
		t.Fatalf("ports table -o json: port %d not among mi-1's random ports: %+v", port, d.portsTable()[0].Random)
	}
	if want := fmt.Sprintf("inbound tcp/%d (hl_1.0.0/HLInbound, undeploying)", port); !strings.Contains(d.must("ports", "table"), want) {
		t.Errorf("ports table does not say %q:\n%s", want, d.must("ports", "table"))
	}
	jsonschematest.Validate(t, "ports-table", []byte(d.must("ports", "table", "-o", "json")))
}
