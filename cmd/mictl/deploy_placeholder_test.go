package main

import (
	"fmt"
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
