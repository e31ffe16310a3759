package cli

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/appstate"
	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/testports"
)

// writeCar builds spec into dir/rel.
func writeCar(t *testing.T, dir, rel string, spec capp.Spec) string {
	t.Helper()
	var buf bytes.Buffer
	if err := capp.Build(&buf, spec); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return rel
}

// The JSON of mictl inspect: every key, null when unknown. The CApp's
// endpoints listen on ports of the test's own span of offsets, which no
// other test (of this suite or another on the host) takes and nothing
// held when it was taken: the WebSocket endpoint's port is not offset,
// and at 8086 anything on the host holding it (a developer's MI, another
// suite's test) turned the plan's conflict into the host's. The golden
// file names the ports, and the file's size and sha256, which follow
// from them, as those vary with the span.
func TestInspectGolden(t *testing.T) {
	dir := inTempDir(t)
	base := testports.Base(t, testports.Other, 2)
	held := ports.DefaultBases().Shift(base)
	// Offset by 20 and 21, the HTTP endpoint's port lands on the HTTP
	// ports of the span's two offsets; the WebSocket one is its HTTPS.
	httpIn, ws := held[ports.HTTP]-20, held[ports.HTTPS]
	car := writeCar(t, dir, "build/orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}},
		Inbounds: []capp.InboundSpec{{Name: "OrdersHTTP", Port: httpIn}, {Name: "OrdersWS", Protocol: "ws", Port: ws}}})
	// Instance offsets below testports' range: no test holds their ports.
	code, out, errOut := run(t, "inspect", car, "--offsets", "20,21", "-o", "json")
	if code != exitcode.Conflicts { // the WebSocket endpoint gets no offset
		t.Fatalf("exit %d: %s", code, errOut)
	}
	jsonschematest.Validate(t, "inspect", []byte(out))
	data, err := os.ReadFile(filepath.Join(dir, car))
	if err != nil {
		t.Fatal(err)
	}
	named := strings.NewReplacer(dir, "$DIR", fmt.Sprintf("%x", sha256.Sum256(data)), "$SHA256",
		fmt.Sprintf(`"size": %d,`, len(data)), `"size": $SIZE,`).Replace(out)
	for port, name := range map[int]string{httpIn: "$HTTP_IN", httpIn + 20: "$HTTP_IN_20", httpIn + 21: "$HTTP_IN_21", ws: "$WS"} {
		named = regexp.MustCompile(fmt.Sprintf(`\b%d\b`, port)).ReplaceAllLiteralString(named, name)
	}
	golden(t, "inspect.json", named)

	code, out, _ = run(t, "inspect", car, "--offsets", "20,21")
	// One space for each run of them: the columns are as wide as the
	// ports' digits.
	out = regexp.MustCompile(` +`).ReplaceAllString(out, " ")
	for _, want := range []string{
		"orders_1.0.0 " + filepath.Join(dir, car),
		fmt.Sprintf("| OrdersHTTP | http | inbound.http.port | %d | if-enabled |", httpIn),
		fmt.Sprintf("| OrdersWS | ws | inbound.ws.port | %d | never |", ws),
		fmt.Sprintf("| mi-1 | 20 | true | OrdersHTTP | %d |", httpIn+20),
		fmt.Sprintf("| mi-2 | 21 | true | OrdersWS | %d |", ws),
		fmt.Sprintf("conflict: mi-1 inbound orders_1.0.0/OrdersWS port %d ↔ mi-2 inbound orders_1.0.0/OrdersWS port %d", ws, ws),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect does not show %q:\n%s", want, out)
		}
	}
	if code != exitcode.Conflicts {
		t.Fatalf("inspect with conflicts: exit %d, want 1", code)
	}
}

// deploy and undeploy with no instance running: mictl.toml is edited,
// the next mictl up deploys; names and apps are checked first.
func TestDeployUndeployWithoutInstances(t *testing.T) {
	dir := inTempDir(t)
	const toml = "# ours\ninstances = 2 # two\n"
	if err := os.WriteFile("mictl.toml", []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	a := writeCar(t, dir, "build/a_1.0.0.car", capp.Spec{Name: "a"})
	a2 := writeCar(t, dir, "build/a_2.0.0.car", capp.Spec{Name: "a", Version: "2.0.0"})
	out := filepath.Join(t.TempDir(), "b_1.0.0.car")
	writeCar(t, filepath.Dir(out), filepath.Base(out), capp.Spec{Name: "b"})

	check := func(wantCode int, wantErr string, args ...string) {
		t.Helper()
		code, _, errOut := run(t, args...)
		if code != wantCode || !strings.Contains(errOut, wantErr) {
			t.Fatalf("mictl %s: exit %d, want %d and %q:\n%s", strings.Join(args, " "), code, wantCode, wantErr, errOut)
		}
	}
	check(exitcode.Usage, `unknown instance "mi-3": the configuration names mi-1, mi-2`, "deploy", a, "mi-3")
	check(exitcode.OK, "no mictl daemon runs: the next mictl up deploys a_1.0.0", "deploy", a)
	check(exitcode.OK, "declared a_2.0.0 (build/a_2.0.0.car) in [[instance]] mi-2 capps", "deploy", a2, "mi-2")
	check(exitcode.OK, "declared b_1.0.0 ("+out+")", "deploy", out, "mi-1", "mi-2", "mi-1")
	want := toml + "capps = [\"build/a_1.0.0.car\"]\n" +
		"\n[[instance]]\nname = \"mi-2\"\ncapps = [\"build/a_2.0.0.car\", \"" + out + "\"]\n" +
		"\n[[instance]]\nname = \"mi-1\"\ncapps = [\"" + out + "\"]\n"
	if got, _ := os.ReadFile("mictl.toml"); string(got) != want {
		t.Fatalf("mictl.toml:\n%s\nwant:\n%s", got, want)
	}
	if fi, _ := os.Stat("mictl.toml"); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mictl.toml is now %v", fi.Mode().Perm())
	}
	check(exitcode.OK, "declared already", "deploy", a, "mi-1")

	check(exitcode.Usage, "a names 2 declared CApps: a_1.0.0", "undeploy", "a")
	check(exitcode.Usage, "c is not declared in mictl.toml; it declares: a_1.0.0 ("+filepath.Join(dir, a)+"), a_2.0.0", "undeploy", "c")
	check(exitcode.Usage, "is declared for every instance", "undeploy", "a_1.0.0", "mi-2")
	check(exitcode.Usage, "is not declared for mi-1; it is for: mi-2", "undeploy", "a_2.0.0", "mi-1")
	check(exitcode.OK, "removed b_1.0.0 ("+out+") from [[instance]] mi-2 capps, [[instance]] mi-1 capps", "undeploy", "b")
	check(exitcode.OK, "removed the [[instance]] table of mi-2 too: without the CApp it held only its name", "undeploy", a2)
	// A declared file since deleted is named by the app its file name says.
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	check(exitcode.OK, "removed a_1.0.0 ("+filepath.Join(dir, "build", "a_1.0.0.car")+")", "undeploy", "a")
	writeCar(t, dir, "build/a_1.0.0.car", capp.Spec{Name: "a"})
	// What deploy added, undeploy took away: the file is the user's again
	// (a bare [[instance]] left behind would declare that instance).
	if got, _ := os.ReadFile("mictl.toml"); string(got) != toml {
		t.Fatalf("mictl.toml after undeploying everything:\n%q\nwant\n%q", got, toml)
	}

	// A broken mictl.toml is never edited.
	if err := os.WriteFile("mictl.toml", []byte("instances = \"two\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check(exitcode.Usage, "fix mictl.toml first: mictl.toml:1:13", "deploy", a)
	check(exitcode.Usage, "sub/mictl.toml: no such config file (--config); create one with: mictl init --path sub/mictl.toml", "--config", "sub/mictl.toml", "deploy", a)
	if got, _ := os.ReadFile("mictl.toml"); string(got) != "instances = \"two\"\n" {
		t.Fatalf("a broken mictl.toml was edited: %q", got)
	}
}

// In the mictl.toml mictl init writes, deploy's capps line goes right
// below the commented-out example that documents it (not after
// management_user, the last key), and undeploy gives the file back.
func TestDeployDeclaresBesideTheInitExample(t *testing.T) {
	dir := inTempDir(t)
	if code, _, errOut := run(t, "init"); code != exitcode.OK {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	car := writeCar(t, dir, "build/orders_1.0.0.car", capp.Spec{Name: "orders"})
	const example = "# capps = [\"build/orders_1.0.0.car\"]\n"
	if strings.Count(InitTemplate(), example) != 1 {
		t.Fatalf("the init template no longer has the example %q", example)
	}
	if code, _, errOut := run(t, "deploy", car); code != exitcode.OK {
		t.Fatalf("deploy: exit %d: %s", code, errOut)
	}
	want := strings.Replace(InitTemplate(), example, example+"capps = [\"build/orders_1.0.0.car\"]\n", 1)
	if got, _ := os.ReadFile("mictl.toml"); string(got) != want {
		t.Fatalf("mictl.toml:\n%s\nwant:\n%s", got, want)
	}
	if code, _, errOut := run(t, "undeploy", "orders"); code != exitcode.OK {
		t.Fatalf("undeploy: exit %d: %s", code, errOut)
	}
	if got, _ := os.ReadFile("mictl.toml"); string(got) != InitTemplate() {
		t.Fatalf("mictl.toml after undeploy:\n%s\nwant what init wrote", got)
	}
}

// A WebSocket endpoint without ws.use.port.offset clashes on every pair of
// instances: deploy names the endpoint's own parameter as the fix (not the
// server's inbound.port_offset_enable, which does not apply to it), once.
// The endpoint's port is one of the test's own span of offsets (the
// span's HTTPS port), which no other test takes and nothing held when it
// was taken: the port gets no offset, and at a fixed 8086 anything on the
// host holding it (a developer's MI, another suite's test) added three
// host conflicts to the three of the plan.
func TestDeployWebSocketClashHint(t *testing.T) {
	dir := inTempDir(t)
	ws := ports.DefaultBases().Shift(testports.Base(t, testports.Other, 1))[ports.HTTPS]
	car := writeCar(t, dir, "build/w_1.0.0.car", capp.Spec{Name: "w", Inbounds: []capp.InboundSpec{{Name: "WSIn", Protocol: "ws", Port: ws}}})
	// Instance offsets below testports' range: no test holds their ports.
	if err := os.WriteFile(filepath.Join(dir, "mictl.toml"), []byte("instances = 3\nbase_offset = 20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "deploy", car)
	hint := "fix: WSIn is a WebSocket endpoint: MI adds the offset to its port only when the endpoint's own ws.use.port.offset parameter is true"
	if code != exitcode.Conflicts || !strings.Contains(errOut, ": 3 conflicts:\n") || strings.Count(errOut, hint) != 1 || strings.Contains(errOut, "remove inbound.port_offset_enable") {
		t.Fatalf("deploy: exit %d, want 1, the 3 conflicts of the plan and the WebSocket hint once:\n%s", code, errOut)
	}
}

// sim capp's refusals name the flag, once prefixed (by main's "mictl: ").
func TestSimCAppRefusals(t *testing.T) {
	inTempDir(t)
	if err := os.WriteFile("afile", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sim", "capp", "x.car", "--name", "x", "--inbound-http", "70000"}, "--inbound-http 70000: want a port from 1 to 65535"},
		{[]string{"sim", "capp", "x.car", "--name", "x", "--inbound-ws", "0"}, "--inbound-ws 0: want a port from 1 to 65535"},
		{[]string{"sim", "capp", "x.car"}, "--name is required: the application's name"},
		{[]string{"sim", "capp", "x.zip", "--name", "x"}, "x.zip: the file must end in .car"},
		{[]string{"sim", "capp", "x.car", "--name", "x", "--version", ""}, "--version is empty: give the application's version"},
		{[]string{"sim", "capp", "afile/sub/x.car", "--name", "x"}, "cannot write afile/sub/x.car: afile is a file, not a directory"},
	} {
		code, _, errOut := run(t, tt.args...)
		if code != exitcode.Usage || !strings.Contains(errOut, tt.want) || strings.Contains(errOut, "mictl sim capp:") {
			t.Errorf("%v: exit %d, want 2 and %q once prefixed:\n%s", tt.args, code, tt.want, errOut)
		}
	}
	// A directory where the file goes: the write's own words, once.
	if err := os.Mkdir("dir.car", 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "sim", "capp", "dir.car", "--name", "x"); code == exitcode.OK || !strings.HasPrefix(errOut, "mictl: write dir.car: ") {
		t.Errorf("sim capp onto a directory: exit %d:\n%s", code, errOut)
	}
}

// Deploying another version of a declared app whose APIs share a context
// with it is refused before anything changes (MI would fail it as faulty,
// and it would stay so after the old one went), saying how to upgrade; a
// version that shares nothing deploys beside it, with a warning.
func TestDeployAnotherVersion(t *testing.T) {
	dir := inTempDir(t)
	old := writeCar(t, dir, "build/shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	clashing := writeCar(t, dir, "build/shop_1.0.1.car", capp.Spec{Name: "shop", Version: "1.0.1", APIs: []capp.APISpec{{Context: "/shop"}}})
	beside := writeCar(t, dir, "build/shop_2.0.0.car", capp.Spec{Name: "shop", Version: "2.0.0", APIs: []capp.APISpec{{Context: "/shop/v2"}}})
	// Offsets below testports' range: no test holds their ports.
	if err := os.WriteFile(filepath.Join(dir, "mictl.toml"), []byte("instances = 2\nbase_offset = 20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "deploy", old); code != exitcode.OK || strings.Contains(errOut, "warning") {
		t.Fatalf("deploy %s: exit %d:\n%s", old, code, errOut)
	}
	before, err := os.ReadFile(filepath.Join(dir, "mictl.toml"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "deploy", clashing, "mi-1")
	want := "shop_1.0.1 would be faulty on mi-1: shop_1.0.0, declared there, has the same API shopAPI"
	if code != exitcode.Conflicts || !strings.Contains(errOut, want) || !strings.Contains(errOut, "mictl undeploy shop_1.0.0 && mictl deploy "+clashing) {
		t.Fatalf("deploy %s mi-1: exit %d, want 1 and %q:\n%s", clashing, code, want, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "mictl.toml")); string(after) != string(before) {
		t.Errorf("a refused deploy changed mictl.toml:\n%s", after)
	}
	// Another app with the same API: the plan refuses it, and says it is
	// this deploy that was refused, nothing changed.
	other := writeCar(t, dir, "build/store_1.0.0.car", capp.Spec{Name: "store", APIs: []capp.APISpec{{Name: "shopAPI", Context: "/store"}}})
	code, _, errOut = run(t, "deploy", other)
	want = "mictl: refusing to deploy store_1.0.0 (" + other + "), nothing was changed: "
	if code != exitcode.Usage || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "has the same API shopAPI as shop_1.0.0") {
		t.Fatalf("deploy %s: exit %d, want 2 and %q:\n%s", other, code, want, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "mictl.toml")); string(after) != string(before) {
		t.Errorf("a refused deploy changed mictl.toml:\n%s", after)
	}
	code, _, errOut = run(t, "deploy", beside, "mi-1")
	want = "warning: shop_1.0.0 is declared too on mi-1: MI runs both versions side by side"
	if code != exitcode.OK || !strings.Contains(errOut, want) || !strings.Contains(errOut, "mictl undeploy shop_1.0.0") {
		t.Fatalf("deploy %s mi-1: exit %d, want 0 and %q:\n%s", beside, code, want, errOut)
	}
}

// A declared file rebuilt onto a port the host holds is checked when it
// is deployed again: the conflict (why the daemon would not deploy it) is
// said, not a wait that ends blaming the Management API.
func TestDeployDeclaredFileIsCheckedAgain(t *testing.T) {
	dir := inTempDir(t)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	const offset = 20 // fixed, as a running instance's is; below testports' range
	port := held.Addr().(*net.TCPAddr).Port - offset
	if err := os.WriteFile(filepath.Join(dir, "mictl.toml"), []byte(fmt.Sprintf("instances = 1\nhost = \"127.0.0.1\"\n\n[[instance]]\nname = \"mi-1\"\noffset = %d\n", offset)), 0o644); err != nil {
		t.Fatal(err)
	}
	car := writeCar(t, dir, "build/in_1.0.0.car", capp.Spec{Name: "in", Inbounds: []capp.InboundSpec{{Port: port + 1}}})
	if code, _, errOut := run(t, "deploy", car); code != exitcode.OK {
		t.Fatalf("deploy %s: exit %d:\n%s", car, code, errOut)
	}
	writeCar(t, dir, "build/in_1.0.0.car", capp.Spec{Name: "in", Inbounds: []capp.InboundSpec{{Port: port}}})
	code, _, errOut := run(t, "deploy", car)
	if code != exitcode.Conflicts || !strings.Contains(errOut, "declared already") || !strings.Contains(errOut, fmt.Sprint(port+offset)) {
		t.Fatalf("deploy of the rebuilt %s: exit %d, want 1 naming port %d:\n%s", car, code, port+offset, errOut)
	}
}

// An instance backing off after a crash is starting again soon (the
// daemon restarts it): apps says so rather than send the user to mictl
// up, and its apps are pending, no failure.
func TestAppsOfAnInstanceBackingOff(t *testing.T) {
	v := appstate.View(appstate.Observation{Target: appTarget(state.Instance{Name: "mi-1", State: state.StateBackoff}, nil, nil)})
	if v.Note == nil || !strings.HasPrefix(*v.Note, "starting: ") || v.Error != nil {
		t.Fatalf("apps of mi-1 backing off: note %v, error %v; want the starting note", v.Note, v.Error)
	}
}

// A deploy refused for a port another instance's server holds outside its
// planned ports (an endpoint of an app just undeployed there, which MI
// lets go only at its next scan) says so: "free port N on this host" sent
// the user after a process of the deployment itself. A stranger's port
// is still the user's to free.
func TestDeployHintForAPortAnotherInstanceHolds(t *testing.T) {
	app := &capp.App{Name: "b", Version: "1.0.0"}
	listener, mi2 := "b_1.0.0/HTTPInbound8087", "mi-2"
	held := func(instance *string) check.Report {
		holder := "pid 42 (mictl-sim), the server of mi-2"
		return check.Report{Conflicts: []check.Finding{{
			Kind: check.KindHost, Port: 21087, Instances: []string{"mi-1"},
			Parties: []check.Party{{Instance: "mi-1", Role: ports.RoleInbound, Offset: 13000, Listener: &listener}},
			HeldBy:  check.HeldBy{Holder: &holder, HolderInstance: instance},
		}}}
	}
	hints := deployHints(held(&mi2), app, "build/b_1.0.0.car", nil)
	want := "fix: port 21087 is one the server of mi-2 holds outside its planned ports: an inbound endpoint of an application undeployed from mi-2 that MI has not let go yet"
	if len(hints) != 1 || !strings.HasPrefix(hints[0], want) || strings.Contains(hints[0], "free port") {
		t.Errorf("hints for a port mi-2's server holds: %q\nwant one starting %q", hints, want)
	}
	hints = deployHints(held(nil), app, "build/b_1.0.0.car", nil)
	if len(hints) != 1 || !strings.HasPrefix(hints[0], "fix: free port 21087 on this host") {
		t.Errorf("hints for a port a stranger holds: %q", hints)
	}
}

// A CApp the distribution ships, which mictl apps lists on every
// instance, is not mictl.toml's to undeploy: undeploy says so, by name,
// id or path, and how it leaves the instances, rather than only "not
// declared" and a pointer to mictl deploy.
func TestUndeployOfAShippedCAppSaysWhereItComesFrom(t *testing.T) {
	dir := inTempDir(t)
	if code, _, errOut := run(t, "sim", "dist", "dist"); code != exitcode.OK {
		t.Fatalf("sim dist: exit %d: %s", code, errOut)
	}
	shipped := writeCar(t, dir, "dist/repository/deployment/server/carbonapps/inb_1.0.0.car", capp.Spec{Name: "inb"})
	if err := os.WriteFile("mictl.toml", []byte("instances = 1\nmi_home = \"dist\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"inb", "inb_1.0.0", shipped} {
		code, _, errOut := run(t, "undeploy", app)
		want := app + " is not declared in mictl.toml: the distribution ships it (" + shipped + ")"
		if code != exitcode.Usage || !strings.Contains(errOut, want) || !strings.Contains(errOut, "delete it there, then mictl reload") {
			t.Errorf("undeploy %s: exit %d, want 2 and %q:\n%s", app, code, want, errOut)
		}
	}
	if code, _, errOut := run(t, "undeploy", "other"); code != exitcode.Usage || !strings.Contains(errOut, "other is not declared in mictl.toml, which declares no CApp") {
		t.Errorf("undeploy other: exit %d:\n%s", code, errOut)
	}
}
