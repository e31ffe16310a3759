package observe

import (
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

func TestProbeAddr(t *testing.T) {
	for bind, want := range map[string]string{
		"127.0.0.1": "127.0.0.1:9201", "0.0.0.0": "127.0.0.1:9201", "::": "[::1]:9201", "::1": "[::1]:9201", "10.1.2.3": "10.1.2.3:9201",
	} {
		if got := probeAddr(bind, 9201); got != want {
			t.Errorf("probeAddr(%s) = %s, want %s", bind, got, want)
		}
	}
}

// Since shares a look among the callers whose moment came before it
// began, and takes a new one for a caller whose moment came after.
func TestRecentSince(t *testing.T) {
	r := &Recent{MaxAge: time.Hour}
	before := time.Now()
	first, err := r.Since(before)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := r.Since(before); err != nil || again != first {
		t.Fatalf("Since(a moment before the look began) = %p, %v; want the look itself, %p", again, err, first)
	}
	if within, err := r.View(); err != nil || within != first {
		t.Fatalf("View() within MaxAge = %p, %v; want the look itself, %p", within, err, first)
	}
	later, err := r.Since(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if later == first {
		t.Fatal("Since(a moment after the look began) handed out that older look")
	}
}

// A look at an instance none of whose fixed ports listens (the check
// after a stop) reads no process: there is no holder to tell apart. Once
// one of them listens on a socket the server does not hold, its group is
// read to tell whose it is.
func TestObserveReadsProcessesOnlyForAListeningPort(t *testing.T) {
	inst := &state.Instance{Name: "mi-1", Bind: "127.0.0.1", PGID: syscall.Getpgrp(), Server: proc.Identity{PID: os.Getpid()}}
	for role := range inst.Ports {
		inst.Ports[role] = 41000 + role
	}
	quiet := &View{Sockets: &hostnet.Snapshot{Sockets: []hostnet.Socket{
		{Proto: hostnet.TCP, Addr: netip.MustParseAddr("127.0.0.1"), Port: 42000, Inode: 7}, // another port
	}}}
	for role, st := range quiet.Observe(inst, false).Fixed {
		if st.Listening {
			t.Fatalf("%s port: %+v, want not listening", ports.Role(role), st)
		}
	}
	if quiet.groups != nil {
		t.Fatal("Observe read the processes of a group though none of its ports listens")
	}

	held := &View{Sockets: &hostnet.Snapshot{Sockets: []hostnet.Socket{
		{Proto: hostnet.TCP, Addr: netip.MustParseAddr("127.0.0.1"), Port: inst.Ports[ports.HTTP], Inode: 7},
	}}}
	obs := held.Observe(inst, false)
	if st := obs.Fixed[ports.HTTP]; !st.Listening || st.Owned {
		t.Fatalf("http port: %+v, want listening and not the instance's", st)
	}
	if held.groups == nil {
		t.Fatal("Observe did not read the group to tell whose the listening socket is")
	}
}

// A port held by another process names it, and, through Whose, the
// instance it is of (a port of mi-1 taken by mi-3's server).
func TestObserveNamesTheHoldersInstance(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	inst := &state.Instance{Name: "mi-1", Bind: "127.0.0.1"} // no process: whatever holds its ports is another's
	for role := range inst.Ports {
		inst.Ports[role] = port
	}
	view, err := NewView()
	if err != nil {
		t.Fatal(err)
	}
	var asked []int
	view.Whose = func(pid int) (string, string) {
		asked = append(asked, pid)
		return "mi-3", ", the server of mi-3"
	}
	_, st, ok := view.Observe(inst, false).Foreign()
	if !ok {
		t.Fatalf("port %d held by this test: not found held by another process", port)
	}
	me := hostnet.Process{PID: os.Getpid(), Comm: st.HolderProcess}.String()
	if st.HolderPID != os.Getpid() || st.Holder != me+", the server of mi-3" || st.HolderInstance != "mi-3" {
		t.Fatalf("holder %+v, want pid %d named the server of mi-3", st, os.Getpid())
	}
	if !slices.Contains(asked, os.Getpid()) {
		t.Fatalf("Whose asked of %v, want the holder %d", asked, os.Getpid())
	}
}

// A listener no process shows, of a user whose processes mictl sees, is
// an exiting process's (its descriptors leave /proc before the kernel
// closes its sockets): Closing says so, for a start to look again rather
// than fail on it ("held by a process of user root" failed a start whose
// own server crashed right after binding). One whose holder shows, or one
// the kernel reports without an inode, is not closing.
func TestObserveTellsAListenerWhoseHolderExits(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	view, err := NewView()
	if err != nil {
		t.Fatal(err)
	}
	inst := &state.Instance{Name: "mi-1", Bind: "127.0.0.1"} // no process: whatever holds its ports is another's
	inst.Ports[ports.HTTP] = l.Addr().(*net.TCPAddr).Port    // this test's: its holder shows
	inst.Ports[ports.HTTPS], inst.Ports[ports.Management] = 1, 2
	loopback := netip.MustParseAddr("127.0.0.1")
	view.Sockets.Sockets = append(view.Sockets.Sockets,
		hostnet.Socket{Proto: hostnet.TCP, Addr: loopback, Port: 1, Inode: 1 << 62, UID: uint32(os.Geteuid())}, // no process holds this inode
		hostnet.Socket{Proto: hostnet.TCP, Addr: loopback, Port: 2})                                            // no inode: owner unknown
	obs := view.Observe(inst, false)
	for role, want := range map[ports.Role]bool{ports.HTTP: false, ports.HTTPS: true, ports.Management: false} {
		if st := obs.Fixed[role]; !st.Listening || st.Owned || st.Closing != want {
			t.Errorf("%s port: %+v, want listening, another's, closing %t", role, st, want)
		}
	}
}

// Only the server's listener on the port JAVA_OPTS pins, or, unpinned, on
// a port the kernel picks (the ephemeral range), is MI's JMX agent
// (docs/mi-facts.md, "Ports"); a server listener elsewhere, or another
// process's, is "other", and the server's UDP socket is its syslog
// appender.
func TestRandomPortsLabelsJMXOnlyWhereTheJVMPutsIt(t *testing.T) {
	const server, script = 100, 101
	sockets := []hostnet.Socket{
		{Proto: hostnet.TCP, Port: 40000, Inode: 1},
		{Proto: hostnet.TCP, Port: 7000, Inode: 2},
		{Proto: hostnet.UDP, Port: 41000, Inode: 3},
		{Proto: hostnet.TCP, Port: 45000, Inode: 4},
	}
	mine := map[uint64]int{1: server, 2: server, 3: server, 4: script}
	roles := func(env []string) map[int]string {
		v := &View{Sockets: &hostnet.Snapshot{Sockets: sockets}}
		v.ephemeralOnce.Do(func() { v.ephemeralLo, v.ephemeralHi = 32768, 60999 })
		inst := &state.Instance{Name: "mi-1", Env: env, Server: proc.Identity{PID: server}}
		got := map[int]string{}
		for _, r := range v.randomPorts(inst, server, mine) {
			got[r.Port] = r.Role
		}
		return got
	}
	want := map[int]string{40000: "jmx", 7000: "other", 41000: "syslog", 45000: "other"}
	if got := roles(nil); !maps.Equal(got, want) {
		t.Errorf("unpinned: roles %v, want %v", got, want)
	}
	want[40000], want[7000] = "other", "jmx"
	if got := roles([]string{"JAVA_OPTS=-Xmx1g -D" + ports.JMXPortProperty + "=7000"}); !maps.Equal(got, want) {
		t.Errorf("pinned to 7000: roles %v, want %v", got, want)
	}
}

// A start whose server is not recorded yet still labels the server's
// JMX port: its server is the process of the instance's group that the
// home's wso2carbon.pid names. Until the pid file names one (MI's JVM
// opens its JMX port before it writes the file; a stale file names a
// process gone, or not of the group), whose socket it is cannot be told:
// "pending", where "other" read as a stranger's port in the instance.
// This test's process is the server, on a port the kernel picks.
func TestRandomPortsOfAStartNotRecordingItsServerYet(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name, pidFile, state, want string
	}{
		{"pid file of the group", strconv.Itoa(os.Getpid()) + "\n", state.StateStarting, "jmx"},
		{"no pid file yet", "", state.StateStarting, "pending"},
		{"stale pid file", "1\n", state.StateStarting, "pending"},
		{"no server, not starting", "", state.StateStopping, "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.pidFile != "" {
				if err := os.WriteFile(filepath.Join(dir, "wso2carbon.pid"), []byte(tc.pidFile), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			view, err := NewView()
			if err != nil {
				t.Fatal(err)
			}
			inst := &state.Instance{Name: "mi-1", Bind: "127.0.0.1", Home: dir, PGID: syscall.Getpgrp(), State: tc.state}
			obs := view.Observe(inst, true)
			k := slices.IndexFunc(obs.Random, func(r RandomPort) bool { return r.Proto == hostnet.TCP && r.Port == port })
			if k < 0 || obs.Random[k].Role != tc.want {
				t.Fatalf("random ports %+v, want tcp/%d as %s", obs.Random, port, tc.want)
			}
		})
	}
}

// The server a full look finds is the recorded one, else the one the
// pid file names, which ports table shows as the row's PID.
func TestObserveNamesTheServerOfAStartFromItsPidFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wso2carbon.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	view, err := NewView()
	if err != nil {
		t.Fatal(err)
	}
	inst := &state.Instance{Name: "mi-1", Bind: "127.0.0.1", Home: dir, PGID: syscall.Getpgrp(), State: state.StateStarting}
	if got := view.Observe(inst, true).Server; got != os.Getpid() {
		t.Fatalf("server %d, want %d, the pid file's", got, os.Getpid())
	}
	inst.Server = proc.Identity{PID: 4242}
	if got := view.Observe(inst, true).Server; got != 4242 {
		t.Fatalf("server %d, want the recorded 4242", got)
	}
}
