package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/testports"
)

// A CApp whose inbound endpoint port is $SYSTEM:NAME deploys, and MI lists
// it faulty where its process lacks NAME (docs/mi-integrations.md,
// "Inbound endpoint ports"). The servers get their environment from the
// daemon the up started: deploy warns naming it, although the shell that
// runs deploy sets NAME, and gives the fix that works (a restart keeps
// the daemon's environment; a down and an up from that shell pass it on).
func TestDeployWarnsOfAPlaceholderVariableTheDaemonLacks(t *testing.T) {
	t.Parallel()
	const name = "MICTL_E2E_PH_PORT"
	d := newDeployment(t)
	d.up(1)
	// A WebSocket endpoint: MI binds its port as written, with no offset.
	car := d.car("env_1.0.0.car", capp.Spec{Name: "env", Inbounds: []capp.InboundSpec{{Name: "OrdersEnv", Protocol: "ws", Placeholder: "$SYSTEM:" + name}}})
	d.env = append(d.env, fmt.Sprintf("%s=%d", name, testports.FreePort(t)))
	want := fmt.Sprintf("warning: inbound endpoint OrdersEnv of env_1.0.0 takes its port from inbound.ws.port = $SYSTEM:%s, and %s is not set to a port in the environment of the mictl daemon (pid %d), which starts and restarts the servers of mi-1 with it: MI fails the endpoint there and lists env_1.0.0 as faulty (mictl apps); export %s=<port>, then mictl down and mictl up from that shell (mictl restart keeps the daemon's environment)\n",
		name, name, d.daemonPID(), name)
	code, _, stderr := d.mictl("deploy", car, "--wait", "--timeout", "20s")
	if code != 3 || !strings.Contains(stderr, want) {
		t.Fatalf("deploy --wait: exit %d, want 3 (faulty) warning %q:\n%s", code, want, stderr)
	}
	d.mictl("restart", "mi-1") // exit 3: degraded by the faulty CApp
	if s, msg, _ := d.apps().appState("mi-1", "env_1.0.0"); s != "faulty" {
		t.Fatalf("env_1.0.0 after a restart from a shell that sets %s: %q (%s), want faulty: the daemon's environment lacks it", name, s, msg)
	}

	d.must("down")
	d.up(1)
	if s, msg, _ := d.apps().appState("mi-1", "env_1.0.0"); s != "active" {
		t.Fatalf("env_1.0.0 after a down and an up from a shell that sets %s: %q (%s)", name, s, msg)
	}
	if _, _, stderr = d.mictl("deploy", car); strings.Contains(stderr, name) {
		t.Errorf("deploy warns with %s set for the daemon:\n%s", name, stderr)
	}
}

// A server started with the variable MI resolves the port from (by a
// daemon started from a shell that set it) deploys the endpoint, whatever
// the daemon that took it over after a kill lacks: deploy says only its
// next restart would fail it, and a restart does.
func TestDeployJudgesARunningServerByItsOwnEnvironment(t *testing.T) {
	t.Parallel()
	const name = "MICTL_E2E_PH_OWN_PORT"
	d := newDeployment(t)
	d.env = []string{fmt.Sprintf("%s=%d", name, testports.FreePort(t))}
	d.up(1)
	car := d.car("env_1.0.0.car", capp.Spec{Name: "env", Inbounds: []capp.InboundSpec{{Name: "OrdersEnv", Protocol: "ws", Placeholder: "$SYSTEM:" + name}}})
	d.must("deploy", car, "--wait", "--timeout", "20s")

	d.killDaemon()
	d.env = nil
	d.must("status") // a new daemon, from a shell without the variable, takes mi-1 over
	_, _, stderr := d.mictl("deploy", car)
	want := fmt.Sprintf("warning: inbound endpoint OrdersEnv of env_1.0.0 takes its port from inbound.ws.port = $SYSTEM:%s: the running server of mi-1 was started with %s and deploys the endpoint now, but %s is not set to a port in the environment of the mictl daemon (pid %d), which starts and restarts the servers of mi-1 with it: the next restart of mi-1 (mictl restart, a reload that restarts it, or the restart policy after a crash) starts it without %s, and MI then fails the endpoint and lists env_1.0.0 as faulty (mictl apps); export %s=<port>, then mictl down and mictl up from that shell (mictl restart keeps the daemon's environment)\n",
		name, name, name, d.daemonPID(), name, name)
	if strings.Count(stderr, "warning: ") != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("deploy to a server started with %s under a daemon without it, want only the warning %q:\n%s", name, want, stderr)
	}
	if s, msg, _ := d.apps().appState("mi-1", "env_1.0.0"); s != "active" {
		t.Fatalf("env_1.0.0 on the server started with %s: %q (%s), want active", name, s, msg)
	}
	d.mictl("restart", "mi-1") // exit 3: degraded by the faulty CApp
	if s, msg, _ := d.apps().appState("mi-1", "env_1.0.0"); s != "faulty" {
		t.Fatalf("env_1.0.0 after the restart the warning foretold: %q (%s), want faulty", s, msg)
	}
}

// MI resolves $FILE:key from conf/file.properties in the server's home
// (docs/mi-integrations.md, "Inbound endpoint ports"), and fails the
// endpoint where the key is missing: deploy warns naming the file, and
// what it says to do brings the application up.
func TestDeployWarnsOfAFilePlaceholderTheHomeLacks(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	car := d.car("file_1.0.0.car", capp.Spec{Name: "file", Inbounds: []capp.InboundSpec{{Name: "OrdersFile", Protocol: "ws", Placeholder: "$FILE:orders_port"}}})
	props := filepath.Join(d.instance("mi-1").Home, "conf", "file.properties")
	want := fmt.Sprintf("warning: inbound endpoint OrdersFile of file_1.0.0 takes its port from inbound.ws.port = $FILE:orders_port, the key orders_port of the conf/file.properties in the MI home, and it is not set to a port for the running server of mi-1 (mi-1: %s does not exist): MI fails the endpoint there and lists file_1.0.0 as faulty (mictl apps); set orders_port=<port> in that file, then mictl restart mi-1\n", props)
	code, _, stderr := d.mictl("deploy", car, "--wait", "--timeout", "20s")
	if code != 3 || !strings.Contains(stderr, want) {
		t.Fatalf("deploy --wait: exit %d, want 3 (faulty) and the warning %q:\n%s", code, want, stderr)
	}
	if err := os.WriteFile(props, fmt.Appendf(nil, "orders_port = %d\n", testports.FreePort(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, out, _ := d.mictl("inspect", car); strings.Contains(out, "warning:") {
		t.Errorf("inspect warns with orders_port set in %s:\n%s", props, out)
	}
	d.must("restart", "mi-1")
	d.waitApps("file_1.0.0", "active", "mi-1")
}

// The note on a CApp MI failed for a taken inbound port judges the ports
// MI opens for it, placeholders resolved as the server resolves them:
// none while one is still taken (though the port written in the CApp is
// free), and every one once all are free.
func TestAFaultyCAppWhosePlaceholderPortFreedSaysWhatBringsItBack(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	taken := testports.FreePort(t)
	stranger, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", taken))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	home := d.instance("mi-1").Home
	if err := os.WriteFile(filepath.Join(home, "conf", "file.properties"), fmt.Appendf(nil, "orders_port=%d\n", taken), 0o644); err != nil {
		t.Fatal(err)
	}
	car := d.car("both_1.0.0.car", capp.Spec{Name: "both", Inbounds: []capp.InboundSpec{
		{Name: "OrdersHTTP", Port: 8085}, {Name: "OrdersFile", Protocol: "ws", Placeholder: "$FILE:orders_port"}}})
	if code, _, stderr := d.mictl("deploy", car, "--wait", "--timeout", "20s"); code != 3 {
		t.Fatalf("deploy --wait beside the stranger on %d: exit %d, want 3 (faulty):\n%s", taken, code, stderr)
	}
	if a := d.apps().Instances[0].Apps[0]; a.State != "faulty" || a.Note != nil {
		t.Fatalf("both_1.0.0 while %d is still taken: %s, note %q; want faulty with no note", taken, a.State, *a.Note)
	}
	stranger.Close()
	want := fmt.Sprintf("its inbound ports %d, %d are free now: MI failed the endpoint as it deployed it, while the port was taken (mictl logs mi-1 says), and keeps a CApp it failed faulty until its file changes or its server restarts: mictl restart mi-1 deploys it again", 8085+d.base, taken)
	if a := d.apps().Instances[0].Apps[0]; a.State != "faulty" || a.Note == nil || *a.Note != want {
		t.Fatalf("both_1.0.0 once %d is free: %s, note %v; want faulty with the note %q", taken, a.State, a.Note, want)
	}
	d.must("restart", "mi-1")
	d.waitApps("both_1.0.0", "active", "mi-1")
}
