package main

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/ports"
)

// A port held by a server someone started by hand in an instance's home
// names that home, not only the pid: in the planner's move, in
// check-conflicts' findings and in their JSON (holder_instance).
func TestHolderStartedByHandInAHomeIsNamed(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	d.must("down", "mi-2")
	old := d.instance("mi-2")
	server := d.startByHand("mi-2")
	port := old.Ports[ports.HTTP]
	d.waitFor("the server started by hand to listen", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	about := fmt.Sprintf("), a server mictl did not start running in mi-2's home (%s)", filepath.Join("instances", "mi-2"))
	held := fmt.Sprintf("held by pid %d (", server)

	// Exit 1: up refuses to start mi-2 while that server runs in its home.
	code, out, _ := d.mictl("check-conflicts", "--instances", "2", "--base-offset", fmt.Sprint(d.base))
	moved := fmt.Sprintf("moved: mi-2 planned at offset %d, not %d: its http port %d there is %s", old.Offset+1, old.Offset, port, held)
	if code != 1 || !strings.Contains(out, moved) || !strings.Contains(out, about) {
		t.Fatalf("check-conflicts: exit %d, want 1 and %q...%q:\n%s", code, moved, about, out)
	}
	code, out, _ = d.mictl("check-conflicts", "--offsets", fmt.Sprintf("%d,%d", d.base, old.Offset))
	conflict := fmt.Sprintf("conflict: mi-2 http port %d is %s", port, held)
	if code != 1 || !strings.Contains(out, conflict) || !strings.Contains(out, about+", on ") {
		t.Fatalf("check-conflicts --offsets: exit %d, want 1 and %q...%q:\n%s", code, conflict, about, out)
	}

	_, out, _ = d.mictl("check-conflicts", "--offsets", fmt.Sprintf("%d,%d", d.base, old.Offset), "-o", "json")
	jsonschematest.Validate(t, "check-conflicts", []byte(out))
	var report struct {
		Conflicts []struct {
			Port           int     `json:"port"`
			HolderPID      *int    `json:"holder_pid"`
			HolderInstance *string `json:"holder_instance"`
		} `json:"conflicts"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range report.Conflicts {
		if c.Port == port {
			found = c.HolderPID != nil && *c.HolderPID == server && c.HolderInstance != nil && *c.HolderInstance == "mi-2"
		}
	}
	if !found {
		t.Fatalf("no conflict on port %d held by pid %d of mi-2 in:\n%s", port, server, out)
	}

	out = d.must("ports", "table", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "-o", "json")
	jsonschematest.Validate(t, "ports-table", []byte(out))
	var rows []struct {
		Name  string `json:"name"`
		Moved *struct {
			Holder         *string `json:"holder"`
			HolderInstance *string `json:"holder_instance"`
		} `json:"moved"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[1].Moved == nil || rows[1].Moved.HolderInstance == nil || *rows[1].Moved.HolderInstance != "mi-2" ||
		rows[1].Moved.Holder == nil || !strings.HasSuffix(*rows[1].Moved.Holder, about[1:]) {
		t.Fatalf("ports table's move of mi-2 does not name its home:\n%s", out)
	}
}

// An instance that cannot bind a port because another instance's server
// holds it (MI's JMX port, taken where the kernel or JAVA_OPTS says)
// fails naming that instance.
func TestPortHeldByAnotherInstancesServerIsNamed(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	taken := d.upWithJMXOnNextHTTP()
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

// A port a running instance was started to open (MI's JMX agent, pinned
// by the JAVA_OPTS of its up, not of this shell) is a port of its plan:
// check-conflicts reports the clash with the next instance's, and up
// plans that one around it rather than onto it.
func TestAnotherInstancesPinnedJMXPortIsPlannedAround(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	taken := d.upWithJMXOnNextHTTP()
	code, out, _ := d.mictl("check-conflicts", "--offsets", fmt.Sprintf("%d,%d", d.base, d.base+1))
	if want := fmt.Sprintf("conflict: mi-1 jmx agent port %d ↔ mi-2 http port %d (offset %d vs %d)", taken, taken, d.base, d.base+1); code != 1 || !strings.Contains(out, want) {
		t.Fatalf("check-conflicts: exit %d, want 1 and %q:\n%s", code, want, out)
	}
	_, _, errOut := d.mictl("up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	if mi2 := d.instance("mi-2"); mi2.State != "ready" || mi2.Offset == d.base+1 {
		t.Fatalf("mi-2 is %s at offset %d, want ready, planned around mi-1's JMX port %d:\n%s", mi2.State, mi2.Offset, taken, errOut)
	}
}

// upWithJMXOnNextHTTP starts mi-1 with MI's JMX port pinned (as JAVA_OPTS
// may pin it) on the http port mi-2 has at the offset after mi-1's, and
// returns that port.
func (d *deployment) upWithJMXOnNextHTTP() int {
	d.t.Helper()
	taken := 8280 + d.base + 1
	d.env = []string{"JAVA_OPTS=-Dcom.sun.management.jmxremote.local.port=" + fmt.Sprint(taken)}
	d.up(1)
	d.env = nil
	return taken
}
