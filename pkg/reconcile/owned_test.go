package reconcile

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/proc/proctest"
	"github.com/mictl/mictl/pkg/state"
)

// listenerPortFile, set, makes TestOwnedByListener a process that listens
// on a loopback port and writes it to that file.
const listenerPortFile = "MICTL_OWNED_LISTENER"

// TestOwnedByListener is a listener for TestOwnedByAnswersForTheGroup,
// run by it in a process group of its own; alone, it skips.
func TestOwnedByListener(t *testing.T) {
	file := os.Getenv(listenerPortFile)
	if file == "" {
		t.Skip("a helper process of TestOwnedByAnswersForTheGroup")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if err := os.WriteFile(file+".tmp", []byte(port), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Minute) // the test kills the group before
}

// A running instance's sockets are its own whichever process of its
// group holds them (the server, or another member such as MI's
// diagnostics JVM), on any port for itself and on its recorded ports for
// the others; a stranger's socket on one of its recorded ports is not,
// nor is its own on a port it did not record, for another instance.
func TestOwnedByAnswersForTheGroup(t *testing.T) {
	pgid, serverPort, memberPort := startListeners(t)
	stranger, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	strangerPort := stranger.Addr().(*net.TCPAddr).Port
	server, err := proc.Identify(pgid)
	if err != nil {
		t.Fatal(err)
	}
	f := &state.File{Instances: []state.Instance{
		// The member's port is not recorded: an inbound endpoint MI has
		// not undeployed yet. The stranger holds a recorded one.
		{Name: "mi-1", State: state.StateReady, PGID: pgid, Server: server, Ports: ports.Set{serverPort, strangerPort}},
		{Name: "mi-2", State: state.StateStopped},
	}}
	snap, err := hostnet.Scan()
	if err != nil {
		t.Fatal(err)
	}
	socket := func(port int) hostnet.Socket {
		for _, s := range snap.Sockets {
			if s.Port == port && s.State == "" {
				return s
			}
		}
		t.Fatalf("no listener on port %d in the scan", port)
		return hostnet.Socket{}
	}
	ours := ownedBy(f)
	for _, c := range []struct {
		what     string
		port     int
		instance string
		want     bool
	}{
		{"the server's, on a recorded port, for another", serverPort, "", true},
		{"the server's, for itself", serverPort, "mi-1", true},
		{"another member's, on no recorded port, for itself", memberPort, "mi-1", true},
		{"another member's, on no recorded port, for another", memberPort, "mi-2", false},
		{"a stranger's, on a recorded port", strangerPort, "", false},
		{"a stranger's, for the instance whose port it holds", strangerPort, "mi-1", false},
	} {
		if got := ours(socket(c.port), c.instance); got != c.want {
			t.Errorf("%s (port %d, asked for %q): ours = %v, want %v", c.what, c.port, c.instance, got, c.want)
		}
	}
}

// startListeners starts a process group as mictl starts an instance: a
// server (the group's leader) and another member, each listening on a
// loopback port of its own; it returns the group and the two ports.
func startListeners(tb testing.TB) (pgid, serverPort, memberPort int) {
	tb.Helper()
	dir := tb.TempDir()
	serverFile, memberFile := filepath.Join(dir, "server.port"), filepath.Join(dir, "member.port")
	run := fmt.Sprintf("'%s' -test.run='^TestOwnedByListener$'", os.Args[0])
	pgid = proctest.StartGroup(tb, fmt.Sprintf("%s=%s %s & %s=%s exec %s", listenerPortFile, memberFile, run, listenerPortFile, serverFile, run))
	portIn := func(file string) int {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if b, err := os.ReadFile(file); err == nil {
				port, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				return port
			}
			if time.Now().After(deadline) {
				tb.Fatalf("no listener wrote %s", file)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return pgid, portIn(serverFile), portIn(memberFile)
}

// BenchmarkOwnedBy20 is what a plan beside twenty running instances
// asks of their processes: whether each listener on the host is theirs,
// as the planner's view of the host (check.Host.Busy) does.
func BenchmarkOwnedBy20(b *testing.B) {
	f := &state.File{}
	for i := range 20 {
		pgid, serverPort, _ := startListeners(b)
		server, err := proc.Identify(pgid)
		if err != nil {
			b.Fatal(err)
		}
		f.Instances = append(f.Instances, state.Instance{Name: fmt.Sprintf("mi-%d", i+1), State: state.StateReady, PGID: pgid, Server: server, Ports: ports.Set{serverPort}})
	}
	snap, err := hostnet.Scan()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ours := ownedBy(f)
		for _, s := range snap.Sockets {
			ours(s, "")
		}
	}
}

// A running instance's restart launches its new server in a group the
// state file names a few milliseconds later: a socket on its recorded
// port held by a process running in its home is its own meanwhile, not a
// stranger's (mictl up beside mictl restart refused, exit 1, on the new
// server's ports: "a server mictl did not start running in mi-1's home").
func TestOwnedByAnswersForARestartsNewGroup(t *testing.T) {
	oldGroup, _, _ := startListeners(t)
	old, err := proc.Identify(oldGroup)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	portFile := filepath.Join(home, "server.port")
	proctest.StartGroup(t, fmt.Sprintf("CARBON_HOME='%s' %s='%s' exec '%s' -test.run='^TestOwnedByListener$'", home, listenerPortFile, portFile, os.Args[0]))
	var port int
	for deadline := time.Now().Add(30 * time.Second); port == 0; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(portFile); err == nil {
			port, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		} else if time.Now().After(deadline) {
			t.Fatalf("no listener wrote %s", portFile)
		}
	}
	snap, err := hostnet.Scan()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(snap.Sockets, func(s hostnet.Socket) bool { return s.Port == port && s.State == "" })
	if i < 0 {
		t.Fatalf("no listener on port %d in the scan", port)
	}
	for _, rec := range []struct {
		what string
		inst state.Instance
	}{
		{"ready, the old server still running", state.Instance{State: state.StateReady, PGID: oldGroup, Server: old}},
		{"stopped by its restart, no server", state.Instance{State: state.StateStopped, Restarting: true}},
	} {
		inst := rec.inst
		inst.Name, inst.Home, inst.Ports = "mi-1", home, ports.Set{port}
		ours := ownedBy(&state.File{Instances: []state.Instance{inst}})
		if !ours(snap.Sockets[i], "") || !ours(snap.Sockets[i], "mi-1") {
			t.Errorf("recorded %s: the new server's listener on mi-1's port %d, in mi-1's home, is not mi-1's", rec.what, port)
		}
	}
}
