package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

// placeholderVar is a variable no test process starts with: this
// process's own /proc environment (what a daemon or server standing for
// it shows) never has it, whatever t.Setenv sets later.
const placeholderVar = "MICTL_TEST_PH_PORT"

// A CApp whose inbound endpoint port is $SYSTEM:NAME deploys, and MI lists
// it faulty wherever its process lacks NAME (docs/mi-integrations.md,
// "Inbound endpoint ports"): deploy warns before, and inspect says so in
// its table and under unset_variables, naming the endpoint, the variable,
// the instances and the fix. Nothing running, the instances mictl up
// starts get this shell's environment.
func TestDeployWarnsOfAnUnsetPlaceholderVariable(t *testing.T) {
	if _, set := os.LookupEnv(placeholderVar); set {
		t.Skipf("%s is set in the test's environment", placeholderVar)
	}
	dir := inTempDir(t)
	car := writeCar(t, dir, "build/env_1.0.0.car", capp.Spec{Name: "env",
		Inbounds: []capp.InboundSpec{{Name: "OrdersEnv", Placeholder: "$SYSTEM:" + placeholderVar}, {Name: "OrdersHTTP", Port: 8085}}})
	if err := os.WriteFile("mictl.toml", []byte("host = \"127.0.0.1\"\ninstances = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	warning := "warning: inbound endpoint OrdersEnv of env_1.0.0 takes its port from inbound.http.port = $SYSTEM:" + placeholderVar + ", and " + placeholderVar +
		" is not set to a port in this shell, whose environment a mictl daemon started from it (by mictl up) gives the servers of mi-1, mi-2: MI fails the endpoint there and lists env_1.0.0 as faulty (mictl apps); export " +
		placeholderVar + "=<port> before mictl up"

	code, out, errOut := run(t, "inspect", car, "-o", "json")
	if code != exitcode.OK {
		t.Fatalf("inspect: exit %d: %s", code, errOut)
	}
	jsonschematest.Validate(t, "inspect", []byte(out))
	var report struct {
		Unset []unsetVariable `json:"unset_variables"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil || len(report.Unset) != 1 || report.Unset[0].Variable != placeholderVar ||
		report.Unset[0].Endpoint != "OrdersEnv" || strings.Join(report.Unset[0].Instances, ",") != "mi-1,mi-2" || "warning: "+report.Unset[0].Message != warning {
		t.Fatalf("inspect -o json (%v):\n%s", err, out)
	}
	if _, out, _ = run(t, "inspect", car); !strings.Contains(out, warning+"\n") || !strings.Contains(out, "0 conflicts, 1 warning\n") {
		t.Errorf("inspect does not say %q:\n%s", warning, out)
	}

	code, _, errOut = run(t, "deploy", car)
	if code != exitcode.OK || !strings.Contains(errOut, warning+"\n") {
		t.Fatalf("deploy: exit %d, not warning %q:\n%s", code, warning, errOut)
	}

	// Set, but to no port: MI fails the endpoint all the same.
	t.Setenv(placeholderVar, "orders")
	if _, _, errOut = run(t, "deploy", car); !strings.Contains(errOut, warning+"\n") {
		t.Errorf("deploy with %s=orders does not warn:\n%s", placeholderVar, errOut)
	}
	t.Setenv(placeholderVar, "8086")
	if _, _, errOut = run(t, "deploy", car); strings.Contains(errOut, placeholderVar) {
		t.Errorf("deploy with %s set to a port warns:\n%s", placeholderVar, errOut)
	}
	if _, out, _ = run(t, "inspect", car, "-o", "json"); !strings.Contains(out, `"unset_variables": []`) {
		t.Errorf("inspect -o json with %s set to a port:\n%s", placeholderVar, out)
	}
}

// What a running deployment's servers resolve the placeholder from is the
// environment they run with, and what the daemon starts them with is its
// own, never the shell's of a later command: a variable exported now
// reaches them only through a daemon started with it (mictl down, mictl up),
// and a server started before its daemon had it needs a mictl restart.
func TestPlaceholderVariableOfRunningInstances(t *testing.T) {
	if _, set := os.LookupEnv(placeholderVar); set {
		t.Skipf("%s is set in the test's environment", placeholderVar)
	}
	app := &capp.App{Name: "env", Version: "1.0.0", Inbounds: []capp.Inbound{
		{Name: "OrdersEnv", Param: "inbound.http.port", Placeholder: "$SYSTEM:" + placeholderVar},
	}}
	self, err := proc.Identify(os.Getpid()) // started without the variable
	if err != nil {
		t.Fatal(err)
	}
	// This shell sets it; the daemon, standing for this process, lacks it.
	t.Setenv(placeholderVar, "8086")
	f := &state.File{Daemon: &state.Daemon{Identity: self},
		Instances: []state.Instance{{Name: "mi-1", Server: self, State: state.StateReady}, {Name: "mi-2", State: state.StateStopped}}}
	got := currentPlaceholderEnv(&config.Config{}, f, []string{"mi-1", "mi-2"}).unset(app, []string{"mi-1", "mi-2"})
	// The running server fails the endpoint now, the other as it starts.
	for i, name := range []string{"mi-1", "mi-2"} {
		want := "inbound endpoint OrdersEnv of env_1.0.0 takes its port from inbound.http.port = $SYSTEM:" + placeholderVar + ", and " + placeholderVar +
			" is not set to a port in the environment of the mictl daemon (pid " + strconv.Itoa(self.PID) + "), which starts and restarts the servers of " + name + " with it: MI fails the endpoint there and lists env_1.0.0 as faulty (mictl apps); export " +
			placeholderVar + "=<port>, then mictl down and mictl up from that shell (mictl restart keeps the daemon's environment)"
		if len(got) != 2 || got[i].Message != want || strings.Join(got[i].Instances, ",") != name || got[i].Fails != []string{failsNow, failsNextStart}[i] {
			t.Fatalf("daemon without the variable:\n got %+v\nwant %s", got, want)
		}
	}

	// A daemon started with it (a process whose environment has it), over
	// a server started without it: only a restart gives it the variable.
	f.Daemon.Identity = startWith(t, placeholderVar+"=8086")
	got = currentPlaceholderEnv(&config.Config{}, f, []string{"mi-1", "mi-2"}).unset(app, []string{"mi-1", "mi-2"})
	want := "inbound endpoint OrdersEnv of env_1.0.0 takes its port from inbound.http.port = $SYSTEM:" + placeholderVar + ", and " + placeholderVar +
		" is not set to a port in the running server of mi-1, started without it: MI fails the endpoint there and lists env_1.0.0 as faulty (mictl apps); mictl restart mi-1 starts it with the environment of the mictl daemon, which sets " + placeholderVar
	if len(got) != 1 || got[0].Message != want || strings.Join(got[0].Instances, ",") != "mi-1" || got[0].Fails != failsNow {
		t.Fatalf("server started without the variable:\n got %+v\nwant %s", got, want)
	}
	// Two such servers: said of both, in the plural.
	f.Instances[1].Server, f.Instances[1].State = self, state.StateReady
	got = currentPlaceholderEnv(&config.Config{}, f, []string{"mi-1", "mi-2"}).unset(app, []string{"mi-1", "mi-2"})
	want = "inbound endpoint OrdersEnv of env_1.0.0 takes its port from inbound.http.port = $SYSTEM:" + placeholderVar + ", and " + placeholderVar +
		" is not set to a port in the running servers of mi-1, mi-2, started without it: MI fails the endpoint there and lists env_1.0.0 as faulty (mictl apps); mictl restart mi-1 mi-2 starts them with the environment of the mictl daemon, which sets " + placeholderVar
	if len(got) != 1 || got[0].Message != want || strings.Join(got[0].Instances, ",") != "mi-1,mi-2" {
		t.Fatalf("two servers started without the variable:\n got %+v\nwant %s", got, want)
	}
}

// startWith starts a process standing for a server or a daemon whose
// environment is this process's plus env, and identifies it.
func startWith(t *testing.T, env ...string) proc.Identity {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	id, err := proc.Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A server started with the variable (from a shell that set it, by a
// daemon since replaced by one started without it) deploys the endpoint
// now: it is not said to fail. What is said, apart, is that its next
// restart, with the daemon's environment, would fail it.
func TestPlaceholderVariableOfAServerStartedWithIt(t *testing.T) {
	if _, set := os.LookupEnv(placeholderVar); set {
		t.Skipf("%s is set in the test's environment", placeholderVar)
	}
	app := &capp.App{Name: "env", Version: "1.0.0", Inbounds: []capp.Inbound{{Name: "OrdersEnv", Param: "inbound.ws.port", Placeholder: "$SYSTEM:" + placeholderVar}}}
	self, err := proc.Identify(os.Getpid()) // the daemon, started without it
	if err != nil {
		t.Fatal(err)
	}
	f := &state.File{Daemon: &state.Daemon{Identity: self},
		Instances: []state.Instance{{Name: "mi-1", Server: startWith(t, placeholderVar+"=8086"), State: state.StateReady}}}
	got := currentPlaceholderEnv(&config.Config{}, f, []string{"mi-1"}).unset(app, []string{"mi-1"})
	want := "inbound endpoint OrdersEnv of env_1.0.0 takes its port from inbound.ws.port = $SYSTEM:" + placeholderVar + ": the running server of mi-1 was started with " + placeholderVar +
		" and deploys the endpoint now, but " + placeholderVar + " is not set to a port in the environment of the mictl daemon (pid " + strconv.Itoa(self.PID) +
		"), which starts and restarts the servers of mi-1 with it: the next restart of mi-1 (mictl restart, a reload that restarts it, or the restart policy after a crash) starts it without " +
		placeholderVar + ", and MI then fails the endpoint and lists env_1.0.0 as faulty (mictl apps); export " + placeholderVar + "=<port>, then mictl down and mictl up from that shell (mictl restart keeps the daemon's environment)"
	if len(got) != 1 || got[0].Message != want || got[0].Fails != failsNextStart || strings.Join(got[0].Instances, ",") != "mi-1" {
		t.Fatalf("server with the variable, daemon without:\n got %+v\nwant %s", got, want)
	}
	// Two such servers: said of both, in the plural.
	f.Instances = append(f.Instances, state.Instance{Name: "mi-2", Server: f.Instances[0].Server, State: state.StateReady})
	got = currentPlaceholderEnv(&config.Config{}, f, []string{"mi-1", "mi-2"}).unset(app, []string{"mi-1", "mi-2"})
	want = "inbound endpoint OrdersEnv of env_1.0.0 takes its port from inbound.ws.port = $SYSTEM:" + placeholderVar + ": the running servers of mi-1, mi-2 were started with " + placeholderVar +
		" and deploy the endpoint now, but " + placeholderVar + " is not set to a port in the environment of the mictl daemon (pid " + strconv.Itoa(self.PID) +
		"), which starts and restarts the servers of mi-1, mi-2 with it: the next restart of mi-1, mi-2 (mictl restart, a reload that restarts them, or the restart policy after a crash) starts them without " +
		placeholderVar + ", and MI then fails the endpoint and lists env_1.0.0 as faulty (mictl apps); export " + placeholderVar + "=<port>, then mictl down and mictl up from that shell (mictl restart keeps the daemon's environment)"
	if len(got) != 1 || got[0].Message != want || strings.Join(got[0].Instances, ",") != "mi-1,mi-2" {
		t.Fatalf("two servers with the variable, daemon without:\n got %+v\nwant %s", got, want)
	}
	f.Instances = f.Instances[:1]

	// The daemon has it too: nothing to say.
	f.Daemon.Identity = startWith(t, placeholderVar+"=8086")
	if got = currentPlaceholderEnv(&config.Config{}, f, []string{"mi-1"}).unset(app, []string{"mi-1"}); len(got) != 0 {
		t.Errorf("server and daemon with the variable: %+v, want nothing", got)
	}
}

// A $FILE:key port is judged by the conf/file.properties each instance's
// MI reads (docs/mi-integrations.md, "Inbound endpoint ports"): a running
// server's in its home now; another's in its home, else the
// distribution's, which the next mictl up copies into it.
func TestFilePlaceholderOfEachInstance(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{InstancesDir: dir}
	props := func(base string) string { return filepath.Join(base, "conf", "file.properties") }
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	home := func(n string) string { return filepath.Join(dir, n) }
	if err := os.MkdirAll(home("mi-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(props(home("mi-2")), "orders_port = orders\n")
	write(props(home("mi-4")), "orders_port=8087\n")
	f := &state.File{Instances: []state.Instance{
		{Name: "mi-1", Home: home("mi-1"), Server: self, State: state.StateReady},
		{Name: "mi-2", Home: home("mi-2"), State: state.StateStopped},
		{Name: "mi-4", Home: home("mi-4"), State: state.StateStopped}}}
	app := &capp.App{Name: "file", Version: "1.0.0", Inbounds: []capp.Inbound{{Name: "OrdersFile", Param: "inbound.http.port", Placeholder: "$FILE:orders_port"}}}
	names := []string{"mi-1", "mi-2", "mi-3", "mi-4"}
	prefix := "inbound endpoint OrdersFile of file_1.0.0 takes its port from inbound.http.port = $FILE:orders_port, the key orders_port of the conf/file.properties in the MI home, and it is not set to a port for "
	want := []unsetVariable{
		{Instances: []string{"mi-1"}, Fails: failsNow, Message: prefix + "the running server of mi-1 (mi-1: " + props(home("mi-1")) +
			" does not exist): MI fails the endpoint there and lists file_1.0.0 as faulty (mictl apps); set orders_port=<port> in that file, then mictl restart mi-1"},
		{Instances: []string{"mi-2", "mi-3"}, Fails: failsNextStart, Message: prefix + "mi-2, mi-3 (mi-2: orders_port = orders in " + props(home("mi-2")) + " is no port; mi-3: " +
			props(filepath.Join(dir, ".dist")) + " does not exist, the distribution's, which mictl up copies into the home): MI fails the endpoint there and lists file_1.0.0 as faulty (mictl apps); set orders_port=<port> in each file before mictl up"},
	}
	check := func(want []unsetVariable) {
		t.Helper()
		got := currentPlaceholderEnv(cfg, f, names).unset(app, names)
		if len(got) != len(want) {
			t.Fatalf("got %+v, want %d entries", got, len(want))
		}
		for i, g := range got {
			w := want[i]
			if g.Placeholder != "$FILE:orders_port" || g.Variable != "orders_port" || g.Fails != w.Fails || strings.Join(g.Instances, ",") != strings.Join(w.Instances, ",") || g.Message != w.Message {
				t.Errorf("entry %d:\n got %+v\nwant %+v", i, g, w)
			}
		}
	}
	check(want)

	// The distribution's file reaches a home yet to be made, not a
	// running server, nor a home with a file of its own.
	write(props(filepath.Join(dir, ".dist")), "orders_port=8088\n")
	want[1].Instances = []string{"mi-2"}
	want[1].Message = prefix + "mi-2 (mi-2: orders_port = orders in " + props(home("mi-2")) +
		" is no port): MI fails the endpoint there and lists file_1.0.0 as faulty (mictl apps); set orders_port=<port> in that file before mictl up"
	check(want)

	// Two running servers without the key: said of both, in the plural.
	f.Instances = append(f.Instances, state.Instance{Name: "mi-5", Home: home("mi-5"), Server: self, State: state.StateReady})
	names = append(names, "mi-5")
	want[0].Instances = []string{"mi-1", "mi-5"}
	want[0].Message = prefix + "the running servers of mi-1, mi-5 (mi-1: " + props(home("mi-1")) + " does not exist; mi-5: " + props(home("mi-5")) +
		" does not exist): MI fails the endpoint there and lists file_1.0.0 as faulty (mictl apps); set orders_port=<port> in each file, then mictl restart mi-1 mi-5"
	check(want)
}
