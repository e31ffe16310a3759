package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
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
		{Name: "OrdersFile", Param: "inbound.http.port", Placeholder: "$FILE:orders_port"},
	}}
	self, err := proc.Identify(os.Getpid()) // started without the variable
	if err != nil {
		t.Fatal(err)
	}
	// This shell sets it; the daemon, standing for this process, lacks it.
	t.Setenv(placeholderVar, "8086")
	f := &state.File{Daemon: &state.Daemon{Identity: self},
		Instances: []state.Instance{{Name: "mi-1", Server: self, State: state.StateReady}, {Name: "mi-2", State: state.StateStopped}}}
	got := currentPlaceholderEnv(f, []string{"mi-1", "mi-2"}).unset(app, []string{"mi-1", "mi-2"})
	want := "inbound endpoint OrdersEnv of env_1.0.0 takes its port from inbound.http.port = $SYSTEM:" + placeholderVar + ", and " + placeholderVar +
		" is not set to a port in the environment of the mictl daemon (pid " + strconv.Itoa(self.PID) + "), which starts and restarts the servers of mi-1, mi-2 with it: MI fails the endpoint there and lists env_1.0.0 as faulty (mictl apps); export " +
		placeholderVar + "=<port>, then mictl down and mictl up from that shell (mictl restart keeps the daemon's environment)"
	if len(got) != 1 || got[0].Message != want {
		t.Fatalf("daemon without the variable:\n got %+v\nwant %s", got, want)
	}

	// A daemon started with it (a process whose environment has it), over
	// a server started without it: only a restart gives it the variable.
	daemon := exec.Command("sleep", "60")
	daemon.Env = append(os.Environ(), placeholderVar+"=8086")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daemon.Process.Kill(); _ = daemon.Wait() })
	if f.Daemon.Identity, err = proc.Identify(daemon.Process.Pid); err != nil {
		t.Fatal(err)
	}
	got = currentPlaceholderEnv(f, []string{"mi-1", "mi-2"}).unset(app, []string{"mi-1", "mi-2"})
	want = "inbound endpoint OrdersEnv of env_1.0.0 takes its port from inbound.http.port = $SYSTEM:" + placeholderVar + ", and " + placeholderVar +
		" is not set to a port in the running server of mi-1, started without it: MI fails the endpoint there and lists env_1.0.0 as faulty (mictl apps); mictl restart mi-1 starts it with the environment of the mictl daemon, which sets " + placeholderVar
	if len(got) != 1 || got[0].Message != want || strings.Join(got[0].Instances, ",") != "mi-1" {
		t.Fatalf("server started without the variable:\n got %+v\nwant %s", got, want)
	}
}
