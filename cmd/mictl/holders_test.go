package main

import (
	"fmt"
	"strings"
	"testing"
)

// An instance that cannot bind a port because another instance's server
// holds it (MI's JMX port, taken where the kernel or JAVA_OPTS says)
// fails naming that instance.
func TestPortHeldByAnotherInstancesServerIsNamed(t *testing.T) {
	d := newDeployment(t)
	taken := 8280 + d.base + 1 // mi-2's http port at the offset after mi-1's
	d.env = []string{"JAVA_OPTS=-Dcom.sun.management.jmxremote.local.port=" + fmt.Sprint(taken)}
	d.up(1)
	d.env = nil
	mi1 := d.instance("mi-1")
	// --force: whether or not the plan sees mi-1's JMX port as a
	// conflict, mi-2 is launched onto it.
	code, _, errOut := d.mictl("up", "--offsets", fmt.Sprintf("%d,%d", d.base, d.base+1), "--force", "--timeout", "30s")
	want := fmt.Sprintf("http port %d is held by pid %d (", taken, mi1.Server.PID)
	if code != 3 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "), the server of mi-1, not by this instance") {
		t.Fatalf("up: exit %d, want 3 and %q...the server of mi-1:\n%s", code, want, errOut)
	}
	if inst := d.instance("mi-2"); inst.State != "failed" || !strings.Contains(inst.LastError, "the server of mi-1") {
		t.Fatalf("mi-2 is %s (%s), want failed naming mi-1", inst.State, inst.LastError)
	}
}
