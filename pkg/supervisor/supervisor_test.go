package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/proc/proctest"
	"github.com/mictl/mictl/pkg/sim"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/testports"
)

func TestBackoff(t *testing.T) {
	p := Policy{BackoffBase: 250 * time.Millisecond, BackoffMax: 2 * time.Second}
	want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second}
	for n, w := range want {
		if got := p.backoff(n + 1); got != w {
			t.Errorf("backoff(%d) = %s, want %s", n+1, got, w)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultPolicy()
	bad.Restart = "sometimes"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "always, on-failure or never") {
		t.Fatalf("err = %v", err)
	}
	bad = DefaultPolicy()
	bad.MaxRestarts = -1
	if bad.Validate() == nil {
		t.Fatal("negative max restarts accepted")
	}
}

func TestWanted(t *testing.T) {
	for st, want := range map[string]bool{
		StateStarting: true, StateReady: true, StateDegraded: true, StateCrashed: true, StateBackoff: true,
		StateStopping: false, StateStopped: false, StateFailed: false, "": false,
	} {
		if Wanted(st) != want {
			t.Errorf("Wanted(%q) = %v", st, !want)
		}
	}
}

func TestCaptureEnvAndInstanceEnv(t *testing.T) {
	got := CaptureEnv([]string{"JAVA_HOME=/jdk", "PATH=/bin", "MICTL_SIM_CRASH_AFTER=1s", "JAVA_OPTS=-Xmx1g", "JAVA_HOMEX=no", "HOME=/root"})
	want := []string{"JAVA_HOME=/jdk", "MICTL_SIM_CRASH_AFTER=1s", "JAVA_OPTS=-Xmx1g"}
	if !slices.Equal(got, want) {
		t.Fatalf("CaptureEnv = %v, want %v", got, want)
	}
	// docs/mi-facts.md: the script prefers CARBON_HOME from the environment, so the
	// supervisor's own must never reach an instance.
	t.Setenv("CARBON_HOME", "/somewhere/else")
	t.Setenv("MICTL_SIM_IGNORE_SIGTERM", "1")
	env := instanceEnv(&state.Instance{Home: "/srv/mi-1", Bind: "127.0.0.1", Env: []string{"JAVA_HOME=/jdk"}})
	var homes []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "CARBON_HOME=") {
			homes = append(homes, kv)
		}
		if strings.HasPrefix(kv, "MICTL_SIM_IGNORE_SIGTERM=") {
			t.Errorf("the supervisor's fault switch leaked: %s", kv)
		}
	}
	if !slices.Equal(homes, []string{"CARBON_HOME=/srv/mi-1"}) {
		t.Errorf("CARBON_HOME entries = %v", homes)
	}
	if !slices.Contains(env, "MICTL_SIM_BIND=127.0.0.1") || !slices.Contains(env, "JAVA_HOME=/jdk") {
		t.Errorf("env lacks the bind address or JAVA_HOME: %v", env)
	}
}

func TestTailLinesAndLogScan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	old := "old BindException line\n"
	if err := os.WriteFile(path, []byte(old+"a\nb\nc\nd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	offset := int64(len(old))
	if got := tailLines(path, offset, 2); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("tailLines = %v", got)
	}
	if _, ok := (&logScan{path: path, next: offset}).find("BindException"); ok {
		t.Error("logScan found a line written before the offset")
	}
	if line, ok := (&logScan{path: path}).find("BindException"); !ok || line != "old BindException line" {
		t.Errorf("logScan from 0 = %q, %v", line, ok)
	}
	// A rotated (truncated) file is read from its start.
	if err := os.WriteFile(path, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := tailLines(path, 1000, 5); !slices.Equal(got, []string{"x"}) {
		t.Errorf("tailLines after truncation = %v", got)
	}
}

// A BindException line is told apart by the port it names: a fixed
// port's fails the start, another's leaves the server degraded, and a
// line naming none is judged by who holds the fixed ports (see
// bindFailures). A log's time (":14") is no port, nor is a prefix of one.
func TestPortInABindExceptionLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		port int // 0: none
	}{
		{"[2026-12-03 11:31:14,506] ERROR {PassThroughListeningIOReactorManager} - Error starting Pass-through HTTP Listener on 0.0.0.0:8290: java.net.BindException: Address already in use", 8290},
		{"[2026-12-03 11:31:14,506] ERROR {PassThroughListeningIOReactorManager} - java.net.BindException: Address already in use", 0},
		{"ERROR Management API Listener on 127.0.0.1:34271 java.net.BindException", 34271},
	} {
		if port, named := portIn(tc.line); port != tc.port || named != (tc.port != 0) {
			t.Errorf("portIn(%q) = %d, %v; want %d", tc.line, port, named, tc.port)
		}
	}
	if line := "on 127.0.0.1:34308 java.net.BindException"; namesPort(line, 3430) || !namesPort(line, 34308) {
		t.Errorf("namesPort(%q) takes a prefix of 34308 for it", line)
	}
}

// Each port not bound is one reason, whatever the log repeats: a stack
// trace's "Caused by:" line after a line naming the port read as a second
// failure, "a port ... not bound" beside "port 21999 not bound".
func TestUnboundLinesTellEachFailureOnce(t *testing.T) {
	named := "ERROR {InboundHttpListener} - Error starting listener on 0.0.0.0:21999 java.net.BindException: Address already in use"
	other := "ERROR {InboundHttpListener} - Error starting listener on 0.0.0.0:21998 java.net.BindException: Address already in use"
	cause := "Caused by: java.net.BindException: Address already in use"
	debugger := "ERROR {SynapseDebugInterface} - Failed create communication channels to the external debugger: java.net.BindException: Address already in use"
	for _, tc := range []struct {
		lines []string
		known bool
		want  []string
	}{
		{[]string{named, cause}, false, []string{named}},
		{[]string{cause, named, other}, false, []string{named, other}},
		{[]string{debugger, cause}, false, []string{debugger}},
		{[]string{cause}, true, nil}, // the rest of a trace read at the last look
		{[]string{cause}, false, []string{cause}},
		{nil, false, nil},
	} {
		if got := unboundLines(tc.lines, tc.known); !slices.Equal(got, tc.want) {
			t.Errorf("unboundLines(%q, %v) = %q; want %q", tc.lines, tc.known, got, tc.want)
		}
	}
}

// A BindException line naming a port besides the fixed ones says which
// port and who holds it now, as the host shows it; degradedBy puts a
// failing health check first and leaves out what is empty.
func TestUnboundPortNamesItsHolder(t *testing.T) {
	held, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(testports.FreePort(t))))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	freePort := testports.FreePort(t)
	view, err := observe.NewView()
	if err != nil {
		t.Fatal(err)
	}
	inst := &state.Instance{Name: "mi-1", Bind: "127.0.0.1"}
	line := func(port int) string {
		return fmt.Sprintf("ERROR {Listener} - Error starting listener on 127.0.0.1:%d java.net.BindException: Address already in use", port)
	}
	got := unboundPort(view, inst, line(heldPort), nil)
	if want := fmt.Sprintf("port %d not bound (held by pid %d", heldPort, os.Getpid()); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "MI serves without it: "+line(heldPort)) {
		t.Errorf("unboundPort of a held port = %q; want it to begin %q and end with the line", got, want)
	}
	if got, want := unboundPort(view, inst, line(freePort), nil), fmt.Sprintf("port %d not bound (nothing holds it now), MI serves without it: %s", freePort, line(freePort)); got != want {
		t.Errorf("unboundPort of a free port = %q; want %q", got, want)
	}
	// A host whose sockets could not be scanned says so, of a line naming
	// a port and of one naming none (MI's debugger's).
	unscannable := errors.New("scan sockets: netlink refused (permission denied), and the procfs fallback failed: read /proc/net: none of tcp, tcp6, udp, udp6 exists")
	if got, want := unboundPort(nil, inst, line(heldPort), unscannable), fmt.Sprintf("port %d not bound (which process holds it is unknown: the host's sockets could not be scanned (%v)), MI serves without it: %s", heldPort, unscannable, line(heldPort)); got != want {
		t.Errorf("unboundPort on an unscannable host = %q; want %q", got, want)
	}
	debugger := "ERROR {SynapseDebugInterface} - Failed create communication channels to the external debugger: java.net.BindException: Address already in use"
	if got, want := unboundPort(nil, inst, debugger, unscannable), fmt.Sprintf("a port not bound (the log does not say which; which process holds it is unknown: the host's sockets could not be scanned (%v)), MI serves without it: %s", unscannable, debugger); got != want {
		t.Errorf("unboundPort of a line naming no port on an unscannable host = %q; want %q", got, want)
	}
	for _, tc := range []struct {
		health  string
		unbound []string
		want    string
	}{
		{"", nil, ""},
		{"/healthz: 503", nil, "/healthz: 503"},
		{"", []string{"port 1 not bound", "port 2 not bound"}, "port 1 not bound; port 2 not bound"},
		{"/healthz: 503", []string{"port 1 not bound"}, "/healthz: 503; port 1 not bound"},
	} {
		if got := degradedBy(tc.health, tc.unbound); got != tc.want {
			t.Errorf("degradedBy(%q, %q) = %q; want %q", tc.health, tc.unbound, got, tc.want)
		}
	}
	// The faulty CApps a reason lists are read back whole with more
	// joined after them (deploy --wait and undeploy --wait read them):
	// the last file read "b.car; port 1 not bound", no file's name.
	faulty := (&observe.FaultyApps{Apps: []string{"a.car", "b.car"}}).Error()
	for _, more := range [][]string{nil, {"port 1 not bound"}, {unboundPort(nil, inst, debugger, unscannable)}} {
		reason := degradedBy(faulty, more)
		if got := observe.FaultyAppsIn(reason); !slices.Equal(got, []string{"a.car", "b.car"}) {
			t.Errorf("FaultyAppsIn(%q) = %q; want a.car, b.car", reason, got)
		}
	}
}

// A start failed on a port another process holds says what frees or
// moves it: a stranger is stopped by its pid (or, unseen, by whoever runs
// it); a server of the deployment's, which mictl would start again, is
// planned around, each by the up that plans the instance. An instance
// running on without the port is restarted once it is freed (MI binds its
// ports only as it starts), and planned around once down (up leaves a
// running instance's offset alone).
func TestHeldPortRemedy(t *testing.T) {
	stranger := observe.PortStatus{Port: 8291, HolderPID: 7, Holder: "pid 7 (python3)"}
	server := observe.PortStatus{Port: 8291, HolderPID: 7, Holder: "pid 7 (mictl-sim), the server of mi-1", HolderInstance: "mi-1"}
	unseen := observe.PortStatus{Port: 8291, Holder: "a process of user wso2 (uid 1001)"}
	for _, up := range []string{"mictl up", "mictl up --instances=10"} {
		around := up + " plans mi-2 around the port, or refuses while it is held if its offset is fixed (an [[instance]] offset, --offsets)"
		downAround := "mictl down mi-2, then " + around
		for _, tc := range []struct {
			st      observe.PortStatus
			running bool
			want    string
		}{
			{stranger, false, "stop pid 7 to free port 8291, then " + up + " starts mi-2 again; or " + around},
			{server, false, around},
			{unseen, false, "stop what holds port 8291 to free it, then " + up + " starts mi-2 again; or " + around},
			{stranger, true, "stop pid 7 to free port 8291, then mictl restart mi-2 binds it again; or " + downAround},
			{server, true, downAround},
			{unseen, true, "stop what holds port 8291 to free it, then mictl restart mi-2 binds it again; or " + downAround},
		} {
			if got := heldPortRemedy(Advised{}, "mi-2", up, tc.st, tc.running); got != tc.want {
				t.Errorf("held by %s, running %v:\n got %q\nwant %q", tc.st.Holder, tc.running, got, tc.want)
			}
		}
	}
}

// The up that starts an instance again is a plain one when mictl.toml
// names it, else the last up's, whose flags planned it: after `up
// --instances 10` over a file that says 1, a plain up leaves mi-3 as it
// is.
func TestUpCommand(t *testing.T) {
	f := &state.File{UpArgs: []string{"--instances=10"}, Configured: []string{"mi-1", "mi-2", "mi-3"}}
	for _, tc := range []struct {
		f     *state.File
		name  string
		named bool
		want  string
	}{
		{f, "mi-1", true, "mictl up"},
		{f, "mi-3", false, "mictl up --instances=10"},
		{f, "mi-11", false, "mictl up, once mictl.toml or its flags name mi-11,"}, // the last up did not plan it either
		{&state.File{Configured: []string{"mi-3"}}, "mi-3", false, "mictl up, once mictl.toml or its flags name mi-3,"},
		// Each flag one word as a shell reads it back, quoted only when it must be.
		{&state.File{UpArgs: []string{"--instances=3", "--mi-home=/opt/my mi"}, Configured: []string{"mi-3"}}, "mi-3", false, "mictl up --instances=3 '--mi-home=/opt/my mi'"},
	} {
		if got := UpCommand(tc.f, tc.name, tc.named); got != tc.want {
			t.Errorf("UpCommand(up args %q, %s, named %v) = %q; want %q", tc.f.UpArgs, tc.name, tc.named, got, tc.want)
		}
	}
}

// A supervisor that follows no configuration file (up --foreground)
// names the last up's command for an instance its flags planned, a plain
// up otherwise: it named a plain up for every instance, which leaves one
// only the flags planned as it is.
func TestUpCommandOfASupervisorFollowingNoFile(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	if err := s.sup.store.Save(&state.File{UpArgs: []string{"--instances=2"}, Configured: []string{"mi-1", "mi-2"}}); err != nil {
		t.Fatal(err)
	}
	if got := s.sup.upCommand("mi-2"); got != "mictl up --instances=2" {
		t.Errorf("upCommand(mi-2) = %q; want the last up's", got)
	}
	if got := s.sup.upCommand("mi-5"); got != "mictl up" {
		t.Errorf("upCommand(mi-5) = %q; want a plain up", got)
	}
}

// A starting instance's log is looked at again and again while it grows:
// each look sees what was appended, a line split across two writes is
// matched once it is whole, and a truncated (rotated) log is read anew.
func TestLogScanFollowsAGrowingLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	appendLog := func(s string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	scan := &logScan{path: path}
	if _, ok := scan.find("BindException"); ok {
		t.Fatal("found a line in a missing log")
	}
	appendLog("INFO starting\nERROR java.net.Bind")
	if line, ok := scan.find("BindException"); ok {
		t.Fatalf("found %q before the line was whole", line)
	}
	appendLog("Exception: Address in use\nINFO more\n")
	if line, ok := scan.find("BindException"); !ok || line != "ERROR java.net.BindException: Address in use" {
		t.Fatalf("find = %q, %v; want the line completed by the second write", line, ok)
	}
	if line, ok := scan.find("BindException"); ok {
		t.Fatalf("the same line was returned twice: %q", line)
	}
	appendLog("a crash's last words, unterminated: Shutdown complete")
	if line, ok := scan.find("Shutdown complete"); ok {
		t.Fatalf("find returned %q, a line its writer may still be writing", line)
	}
	if graceful, _ := scan.endOfRun(); !graceful {
		t.Fatal("the unterminated last line of an ended log was not looked at")
	}
	if err := os.WriteFile(path, []byte("BindException after rotation\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if line, ok := scan.find("BindException"); !ok || line != "BindException after rotation" {
		t.Fatalf("after truncation find = %q, %v", line, ok)
	}
}

// A crashed server's last ERROR line is its reason, the unterminated last
// words included; a log that says "Shutdown complete" is a graceful end.
func TestEndOfRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	log := "[t]  INFO {Main} - started\n[t] ERROR {Deployer} - first\n[t]  INFO {Main} - on\n[t] FATAL {Main} - last words"
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	if graceful, last := (&logScan{path: path}).endOfRun(); graceful || last != "[t] FATAL {Main} - last words" {
		t.Fatalf("endOfRun = %v, %q; want not graceful, the unterminated FATAL line", graceful, last)
	}
	if graceful, last := (&logScan{path: path, next: int64(len(log))}).endOfRun(); graceful || last != "" {
		t.Fatalf("endOfRun from the end = %v, %q; want nothing", graceful, last)
	}
	// An error long before the end is not the crash's.
	if err := os.WriteFile(path, []byte("[t] ERROR {Deployer} - old\n"+strings.Repeat("[t]  INFO {Main} - on\n", 41)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, last := (&logScan{path: path}).endOfRun(); last != "" {
		t.Fatalf("endOfRun quotes %q, 41 lines before the end", last)
	}
	if err := os.WriteFile(path, []byte(log+"\n[t]  INFO {Main} - Shutdown complete\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if graceful, _ := (&logScan{path: path}).endOfRun(); !graceful {
		t.Fatal("a log saying Shutdown complete is not a graceful end")
	}
}

// One look reads to the end, however much was appended since the last:
// a server that logged megabytes before it shut down still shut down.
func TestLogScanReadsPastOneChunk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	filler := strings.Repeat(strings.Repeat("x", 99)+"\n", 3*readChunk/100)
	if err := os.WriteFile(path, []byte(filler+"Micro Integrator Shutdown complete\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := (&logScan{path: path}).find("Shutdown complete"); !ok {
		t.Fatalf("a line after %d bytes was not found in one look", len(filler))
	}
}

func TestReaperDeliversExitStatus(t *testing.T) {
	r, err := NewReaper(false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tt := range []struct {
		script string
		check  func(syscall.WaitStatus) bool
	}{
		{"exit 7", func(ws syscall.WaitStatus) bool { return ws.Exited() && ws.ExitStatus() == 7 }},
		// Exits at once: the status must not be lost before Start returns.
		{"kill -9 $$", func(ws syscall.WaitStatus) bool { return ws.Signaled() && ws.Signal() == syscall.SIGKILL }},
	} {
		ch, err := r.Start(exec.Command("sh", "-c", tt.script))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ws := <-ch:
			if !tt.check(ws) {
				t.Errorf("%s: status %v", tt.script, ws)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no exit status", tt.script)
		}
	}
}

// A group whose last member has exited is empty once the reaper collects
// it: a stop waiting for the group looks again at that reap rather than
// after a pause (groupSettles), so a reap must tell it.
func TestReaperTellsOfEachReap(t *testing.T) {
	r, err := NewReaper(false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	reaped := reaps.next()
	cmd := exec.Command("sh", "-c", "exit 0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	exited, err := r.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	<-exited
	select {
	case <-reaped:
	case <-time.After(10 * time.Second):
		t.Fatal("the reap of the child was not told")
	}
	if !proc.GroupEmpty(cmd.Process.Pid) {
		t.Fatalf("group %d not empty after its only member was reaped", cmd.Process.Pid)
	}
}

func TestEventString(t *testing.T) {
	ev := Event{Time: time.Date(2026, 11, 25, 15, 4, 5, 123e6, time.UTC), Instance: "mi-2", State: StateCrashed, PID: 42, Message: "server pid 42 exited"}
	if got, want := ev.String(), "2026-11-25T15:04:05.123Z mi-2 crashed pid=42: server pid 42 exited"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// failedNeverReady is a site whose mi-1, a server never ready, has failed
// its first start (ready timeout 1s).
func failedNeverReady(t *testing.T) *simSite {
	t.Helper()
	policy := DefaultPolicy()
	policy.ReadyTimeout = time.Second
	s := newSimSite(t, policy)
	s.setenv("MICTL_SIM_NEVER_READY", "true")
	if err := s.tryReload("instances = 1\n"); err == nil {
		t.Fatal("a reload starting a server that never turns ready succeeded")
	}
	s.next("mi-1", StateFailed)
	return s
}

// With -Desb.debug=true MI opens no listener until a mediation debugger
// connects to its ports, or it has waited 60 s on each (docs/mi-facts.md):
// a start that runs out of time meanwhile says so, where "port N is not
// listening" alone left the user looking for what held the port.
func TestAStartHeldByTheDebuggerSaysSo(t *testing.T) {
	// Not parallel: it sets the process's environment (t.Setenv).
	t.Setenv("JAVA_OPTS", "-Desb.debug=true")
	policy := DefaultPolicy()
	policy.ReadyTimeout = time.Second
	s := newSimSite(t, policy)
	s.setenv(sim.EnvDebuggerWait, "10m")
	_, properties := s.debuggerOnSparePorts()
	if err := s.tryReload("instances = 1\n"); err == nil {
		t.Fatal("a start held by the debugger for ten minutes turned ready within a second")
	}
	if ev := s.next("mi-1", StateFailed); !strings.Contains(ev.Message, "MI opens no listener until a mediation debugger connects") {
		t.Fatalf("the failed start says %q; want it to name the debugger", ev.Message)
	}
	if got, err := os.ReadFile(filepath.Join(s.dir, "instances", "mi-1", sim.SynapsePropertiesPath)); string(got) != properties {
		t.Fatalf("the home's %s: %q, %v; want the spare ports", sim.SynapsePropertiesPath, got, err)
	}
}

// A wait for readiness that began before the launch (a daemon launches
// what the state file asks for before the command's request arrives)
// ends with the start's own outcome, not with "starting": the start's
// deadline counts from its launch, and the wait gives it time to end.
func TestWaitReadyReportsAStartThatEndsAfterItsDeadline(t *testing.T) {
	// Not parallel: its wait ends 100 ms before the start's, a margin a
	// CPU loaded by other tests may eat.
	s := failedNeverReady(t)
	// Started again, as up starts it: the wait begins 300 ms after.
	if err := s.sup.Start([]string{"mi-1"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	err := s.sup.WaitReady([]string{"mi-1"}, 600*time.Millisecond) // ends 100 ms before the start's
	if err == nil || !strings.Contains(err.Error(), "mi-1 failed: not ready after 1s") {
		t.Fatalf("WaitReady = %v; want mi-1's own failure", err)
	}
	if got := s.sup.Instances([]string{"mi-1"})["mi-1"].State; got != StateFailed {
		t.Fatalf("mi-1 is %s when WaitReady returns; want %s", got, StateFailed)
	}
}

// A request to start instances the daemon is already starting (up asks
// after the daemon launched what the state file said) sees the events of
// each start so far first; an instance not starting is not replayed.
func TestSubscribeStartingReplaysStartsUnderWay(t *testing.T) {
	t.Parallel()
	s := failedNeverReady(t)
	events, cancel := s.sup.subscribe([]string{"mi-1"}, true, false, nil)
	select {
	case ev := <-events:
		t.Fatalf("replayed %v of a failed instance", ev)
	default:
	}
	cancel()
	if err := s.sup.Start([]string{"mi-1"}); err != nil {
		t.Fatal(err)
	}
	s.next("mi-1", StateStarting)
	events, cancel = s.sup.subscribe([]string{"mi-1", "mi-2"}, true, false, nil)
	defer cancel()
	select {
	case ev := <-events:
		if ev.Instance != "mi-1" || ev.State != StateStarting {
			t.Fatalf("replayed %v; want mi-1's start", ev)
		}
	default:
		t.Fatal("the start under way was not replayed")
	}
}

// A stop of every instance during a reload that restarts one ends the
// reload first: the instance the reload stopped is not started again
// behind the stop (mictl down, then everything running again).
func TestStopOfEverythingInterruptsAReload(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "500ms")
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	reloads := &reloadCounter{}
	s.sup.observer = reloads
	reloaded := make(chan error, 1)
	go func() {
		reloaded <- s.tryReload("instances = 1\n\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"a.local\" }\n")
	}()
	s.next("mi-1", StateStopping)
	// As the daemon serves mictl down: the changes under way first.
	s.sup.interruptChanges(10 * time.Second)
	if err := s.sup.Stop(nil, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-reloaded; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("reload = %v; want it interrupted", err)
	}
	if n := reloads.n.Load(); n != 0 {
		t.Errorf("the interrupted reload was counted %d times in the metrics; want neither applied nor failed", n)
	}
	time.Sleep(300 * time.Millisecond)
	if st := s.sup.Instances([]string{"mi-1"})["mi-1"].State; st != StateStopped {
		t.Fatalf("mi-1 is %s after the stop of everything; want %s", st, StateStopped)
	}
}

// A stop of a named instance during a reload that restarts it and
// another (mictl down mi-1 while a rolling restart stops mi-1) leaves
// mi-1 stopped, and the reload goes on with mi-2: it restarts with the
// edit, and the reload succeeds saying mi-1 was left stopped. Before, it
// ended there and mi-2 ran the old configuration until the next edit.
func TestNamedStopDuringAReloadLeavesItAndRestartsTheOthers(t *testing.T) {
	t.Parallel()
	// The named stop must come while the first one is under way: a
	// loaded machine may run this goroutine late.
	s := newSimSite(t, DefaultPolicy())
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "2s")
	s.reload("instances = 2\n")
	s.next(ReloadEvent, "reloaded")
	s.next("mi-1", StateReady)
	before := s.next("mi-2", StateReady).PID
	reloaded := make(chan error, 1)
	go func() {
		reloaded <- s.tryReload("instances = 2\n\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"a.local\" }\n" +
			"\n[[instance]]\nname = \"mi-2\"\noverrides = { \"server.hostname\" = \"b.local\" }\n")
	}()
	s.next("mi-1", StateStopping)
	// As the daemon serves mictl down mi-1.
	s.sup.leaveStopped([]string{"mi-1"})
	if err := s.sup.Stop([]string{"mi-1"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-reloaded; err != nil {
		t.Fatalf("reload = %v; want it done for mi-2", err)
	}
	assertLeftAndRestarted(t, s, before)
	if ev := s.next(ReloadEvent, "reloaded"); !strings.HasSuffix(ev.Message, "; left stopped, as mictl down stopped them meanwhile: mi-1") {
		t.Fatalf("the reload says %q; want it to name mi-1 as left stopped", ev.Message)
	}
	f, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	if f.ReloadError != "" {
		t.Fatalf("reload recorded as refused: %s", f.ReloadError)
	}
}

// A named stop that comes between a change's look at whether it may start
// an instance and the start waits for the start, then stops it: before,
// it found nothing to stop and said so, and the start then ran the
// instance it had just been told to stop.
func TestNamedStopBetweenTheLookAndTheStartStopsIt(t *testing.T) {
	// Not parallel: it sets the package's start hook (mayStartSaidYes).
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	before := s.next("mi-1", StateReady).PID
	stopped := make(chan error, 1)
	mayStartSaidYes = func([]string) {
		mayStartSaidYes = nil
		go func() { // as the daemon serves mictl down mi-1
			s.sup.leaveStopped([]string{"mi-1"})
			stopped <- s.sup.Stop([]string{"mi-1"}, 10*time.Second)
		}()
		time.Sleep(200 * time.Millisecond) // the stop's chance to overtake the start
	}
	t.Cleanup(func() { mayStartSaidYes = nil })
	op := s.sup.beginChange()
	stoppedByName, _, err := s.sup.restartStep(op, []string{"mi-1"}, nil, siteTimeout, func([]string) error { return nil })
	s.sup.endChange(op)
	if err != nil || !slices.Equal(stoppedByName, []string{"mi-1"}) {
		t.Fatalf("restart: stopped by name %v, %v; want mi-1 left stopped", stoppedByName, err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if inst := s.sup.Instances([]string{"mi-1"})["mi-1"]; inst.State != StateStopped || (inst.Server.PID != 0 && inst.Server.PID != before && inst.Server.Alive()) {
		t.Fatalf("mi-1 is %s (server %d) after mictl down mi-1; want stopped", inst.State, inst.Server.PID)
	}
}

// assertLeftAndRestarted checks the outcome of a change that a stop of
// mi-1 interrupted: mi-1 stopped, mi-2 restarted (no longer the server
// pid before) and ready.
func assertLeftAndRestarted(t *testing.T, s *simSite, before int) {
	t.Helper()
	insts := s.sup.Instances([]string{"mi-1", "mi-2"})
	if st := insts["mi-1"].State; st != StateStopped {
		t.Fatalf("mi-1 is %s after mictl down mi-1; want %s", st, StateStopped)
	}
	if mi2 := insts["mi-2"]; mi2.State != StateReady || mi2.Server.PID == before {
		t.Fatalf("mi-2 is %s (pid %d, %d before the change); want restarted and ready", mi2.State, mi2.Server.PID, before)
	}
}

// The same for a rolling restart (mictl down mi-1 during mictl restart
// mi-1 mi-2): mi-2 is restarted all the same, and the restart ends with
// an error naming mi-1 as not started again.
func TestNamedStopDuringARestartLeavesItAndRestartsTheOthers(t *testing.T) {
	t.Parallel()
	// The named stop must come while the first one is under way: a
	// loaded machine may run this goroutine late.
	s := newSimSite(t, DefaultPolicy())
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "2s")
	s.reload("instances = 2\n")
	s.next("mi-1", StateReady)
	before := s.next("mi-2", StateReady).PID
	srv := NewServer(s.sup)
	restarted := make(chan error, 1)
	go func() {
		var reply Message
		_, err := srv.serve(Request{Op: OpRestart, Names: []string{"mi-1", "mi-2"}, Timeout: siteTimeout}, &reply, nil, false)
		restarted <- err
	}()
	s.next("mi-1", StateStopping)
	var reply Message
	if _, err := srv.serve(Request{Op: OpStop, Names: []string{"mi-1"}, Timeout: 10 * time.Second}, &reply, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := <-restarted; err == nil || err.Error() != "restart mi-1: "+errStoppedMeanwhile.Error() {
		t.Fatalf("restart = %v; want it to say mi-1 was not started again", err)
	}
	assertLeftAndRestarted(t, s, before)
}

// Two restarts of one instance (two operators' mictl restart --all, or a
// restart and a reload's) go one after the other, and both succeed: the
// second stopped the server the first was starting, which ended saying
// mi-1 "was stopped before it was ready (by mictl down, or its restart
// policy)", the instances after it not restarted.
func TestRestartsOfOneInstanceGoOneAfterTheOther(t *testing.T) {
	t.Parallel()
	s, srv, first := restartUnderWay(t, 1)
	var reply Message
	if _, err := srv.serve(Request{Op: OpRestart, Names: []string{"mi-1"}, Timeout: siteTimeout}, &reply, nil, false); err != nil {
		t.Fatalf("the second restart = %v; want it done\n%s", err, s.log("mi-1"))
	}
	if err := <-first; err != nil {
		t.Fatalf("the first restart = %v; want it done\n%s", err, s.log("mi-1"))
	}
}

// serveControl serves srv's control socket in dir until the test ends,
// and returns its address.
func serveControl(t *testing.T, dir string, srv *Server) string {
	t.Helper()
	ln, err := Listen(filepath.Join(dir, "control.sock"))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	t.Cleanup(func() { ln.Close(); <-served })
	return ln.Addr().String()
}

// restartUnderWay runs a site with mi-1 ready, whose starts take a second,
// and begins a restart of mi-1 through srv; it returns once that restart
// is starting mi-1 again, with the channel its outcome comes on: what
// races a restart meets it there.
func restartUnderWay(t *testing.T, instances int) (s *simSite, srv *Server, restarted <-chan error) {
	t.Helper()
	s = newSimSite(t, DefaultPolicy())
	s.setenv("MICTL_SIM_STARTUP_DELAY", "1s")
	s.reload(fmt.Sprintf("instances = %d\n", instances))
	for i := 1; i <= instances; i++ {
		s.next(fmt.Sprintf("mi-%d", i), StateReady)
	}
	srv = NewServer(s.sup)
	done := make(chan error, 1)
	go func() {
		var reply Message
		_, err := srv.serve(Request{Op: OpRestart, Names: []string{"mi-1"}, Timeout: siteTimeout}, &reply, nil, false)
		done <- err
	}()
	s.next("mi-1", StateStopping)
	s.next("mi-1", StateStarting)
	return s, srv, done
}

// A reload behind a rolling restart says that it waits for it: it waited
// in silence, through each instance's drain.
func TestAReloadBehindARestartSaysItWaits(t *testing.T) {
	t.Parallel()
	s, _, restarted := restartUnderWay(t, 1)
	s.next(ReloadEvent, "reloading") // the reload that started mi-1
	reloaded := make(chan error, 1)
	s.write("instances = 1\n")
	go func() { _, err := s.sup.reload(s.load, reloadAsked, s.client()); reloaded <- err }()
	if ev := s.next(ReloadEvent, "reloading"); !ev.Transient || ev.Message != "waiting for the rolling restart or reload under way to end" {
		t.Fatalf("the reload behind the restart said %s", ev)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
}

// A reload waiting its turn behind a rolling restart is interrupted by
// a stop of everything as the restart is: it planned once the restart
// let go, from a state the stop was ending, and started again what
// mictl down stopped.
func TestStopOfEverythingInterruptsAReloadWaitingItsTurn(t *testing.T) {
	t.Parallel()
	s, _, restarted := restartUnderWay(t, 1)
	s.next(ReloadEvent, "reloading") // the reload that started mi-1
	reloaded := make(chan error, 1)
	s.write("instances = 1\n\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"a.local\" }\n")
	go func() { _, err := s.sup.reload(s.load, reloadAsked, s.client()); reloaded <- err }()
	s.next(ReloadEvent, "reloading") // waiting for the restart to end, as its client is told
	// As the daemon serves mictl down: the changes under way first.
	s.sup.interruptChanges(siteTimeout)
	if err := s.sup.Stop(nil, siteTimeout); err != nil {
		t.Fatal(err)
	}
	if err := <-restarted; err == nil {
		t.Fatal("the restart under way was not interrupted")
	}
	if err := <-reloaded; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("reload = %v; want it interrupted", err)
	}
	if st := s.sup.Instances([]string{"mi-1"})["mi-1"].State; st != StateStopped {
		t.Fatalf("mi-1 is %s after the stop of everything; want %s", st, StateStopped)
	}
}

// A reload that a stop of everything interrupts between its restarts
// answers with ErrInterrupted alone: the daemon's client knows it by
// that text (see call), and took the reload ending "(the instances after
// it were not restarted)" for a failed one (deploy: "the daemon's reload
// failed", exit 3).
func TestAReloadInterruptedBetweenItsRestartsSaysOnlyThat(t *testing.T) {
	t.Parallel()
	s := twoDraining(t)
	reloaded := make(chan error, 1)
	go func() {
		reloaded <- s.tryReload("instances = 2\n\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"a.local\" }\n\n[[instance]]\nname = \"mi-2\"\noverrides = { \"server.hostname\" = \"b.local\" }\n")
	}()
	s.next("mi-1", StateStopping)
	s.sup.interruptChanges(siteTimeout)
	if err := s.sup.Stop(nil, siteTimeout); err != nil {
		t.Fatal(err)
	}
	if err := <-reloaded; err == nil || err.Error() != ErrInterrupted.Error() {
		t.Fatalf("reload interrupted between its restarts = %v; want %q", err, ErrInterrupted)
	}
}

// A reload still reading its configuration when a stop of everything
// comes ends there: it planned from the state the stop left and started
// again what mictl down stopped.
func TestStopOfEverythingInterruptsAReloadPlanning(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	s.write("instances = 1\n\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"a.local\" }\n")
	loading, loaded := make(chan struct{}), make(chan struct{})
	reloaded := make(chan error, 1)
	go func() {
		_, err := s.sup.Reload(func(upArgs []string) (*config.Config, []int, error) {
			close(loading)
			<-loaded // as a slow disk would, while mictl down comes
			return s.load(upArgs)
		})
		reloaded <- err
	}()
	<-loading
	stopped := make(chan error, 1)
	go func() {
		s.sup.interruptChanges(siteTimeout)
		stopped <- s.sup.Stop(nil, siteTimeout)
	}()
	// Until the stop has marked the reload interrupted, or (as it did)
	// stopped mi-1 beside the reload it did not know of.
	for !s.sup.anyChangeInterrupted() && s.sup.Instances([]string{"mi-1"})["mi-1"].State != StateStopped {
		time.Sleep(10 * time.Millisecond)
	}
	close(loaded)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if err := <-reloaded; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("reload = %v; want it interrupted", err)
	}
	if st := s.sup.Instances([]string{"mi-1"})["mi-1"].State; st != StateStopped {
		t.Fatalf("mi-1 is %s after the stop of everything; want %s", st, StateStopped)
	}
}

// A restart asked while mictl down stops everything, or stops the
// instance by name, leaves it stopped: it began after the stop had told
// the changes under way, and started again what the stop was stopping
// (mictl restart mi-2 beside mictl down: mi-2 ready after the down).
func TestARestartDuringAStopLeavesItStopped(t *testing.T) {
	t.Parallel()
	for _, stop := range [][]string{nil, {"mi-1"}} {
		t.Run(fmt.Sprintf("down %v", stop), func(t *testing.T) {
			t.Parallel()
			s := newSimSite(t, DefaultPolicy())
			s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "500ms")
			s.reload("instances = 1\n")
			s.next("mi-1", StateReady)
			srv := NewServer(s.sup)
			stopped := make(chan error, 1)
			go func() {
				var reply Message
				_, err := srv.serve(Request{Op: OpStop, Names: stop, Timeout: siteTimeout}, &reply, nil, false)
				stopped <- err
			}()
			s.next("mi-1", StateStopping)
			var reply Message
			_, err := srv.serve(Request{Op: OpRestart, Names: []string{"mi-1"}, Timeout: siteTimeout}, &reply, nil, false)
			if stop == nil && !errors.Is(err, ErrInterrupted) {
				t.Errorf("restart = %v; want it interrupted by the stop of everything", err)
			}
			if err := <-stopped; err != nil {
				t.Fatal(err)
			}
			if st := s.sup.Instances([]string{"mi-1"})["mi-1"].State; st != StateStopped {
				t.Fatalf("mi-1 is %s after the stop and the restart beside it (%v); want %s", st, err, StateStopped)
			}
		})
	}
}

// reloadCounter is an Observer counting the reloads it hears of.
type reloadCounter struct{ n atomic.Int32 }

func (*reloadCounter) ObserveReady(string, time.Duration) {}
func (c *reloadCounter) ObserveReload(error)              { c.n.Add(1) }

// anyChangeInterrupted reports whether a stop of everything has marked
// a change under way.
func (s *Supervisor) anyChangeInterrupted() bool {
	s.changesMu.Lock()
	defer s.changesMu.Unlock()
	for c := range s.changes {
		if c.stopped.Load() {
			return true
		}
	}
	return false
}

// A restart's answer carries the daemon's memory, which the client
// shows: the state file it read instead may be behind a stop that came
// meanwhile (mictl down during mictl restart --all: the restart's table
// showed instances "ready", health ok, whose servers the down had ended).
func TestRestartAnswersWithTheDaemonsMemory(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	var reply Message
	if _, err := NewServer(s.sup).serve(Request{Op: OpRestart, Names: []string{"mi-1"}, Timeout: siteTimeout}, &reply, nil, false); err != nil {
		t.Fatal(err)
	}
	if reply.State == nil {
		t.Fatal("the restart's answer carries no state: the client shows the state file")
	}
	mem, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := reply.State.Instance("mi-1")
	want, _ := mem.Instance("mi-1")
	if got.State != want.State || got.Server != want.Server {
		t.Fatalf("answered mi-1 %s with %s; the daemon holds %s with %s", got.State, got.Server, want.State, want.Server)
	}
}

// A restart that waits its turn behind another shows its client its own
// roll alone: it streamed the events of the roll it waited behind (mi-1
// starting, ready) as though it had restarted mi-1 twice. It says first
// that it waits, once for the whole command: it printed nothing until its
// turn, and then the same line for each instance it named.
func TestARestartWaitingItsTurnShowsOnlyItsOwnEvents(t *testing.T) {
	t.Parallel()
	s, srv, first := restartUnderWay(t, 2)
	addr := serveControl(t, s.dir, srv)
	var shown []Event
	_, err := Call(context.Background(), addr, Request{Op: OpRestart, Names: []string{"mi-1", "mi-2"}, Timeout: siteTimeout}, func(ev Event) {
		shown = append(shown, ev)
	})
	if err != nil || <-first != nil {
		t.Fatalf("restarts: %v; want both done\n%s", err, s.log("mi-1"))
	}
	var states []string
	var lines strings.Builder
	waits := 0
	for _, ev := range shown {
		if ev.Instance == "mi-1" && (ev.State == StateStopping || ev.State == StateReady) {
			states = append(states, ev.State)
		}
		if ev.State == TurnWaiting {
			waits++
		}
		fmt.Fprintln(&lines, ev)
	}
	if !slices.Equal(states, []string{StateStopping, StateReady}) {
		t.Fatalf("the second restart showed %v of mi-1; want its own stop and ready alone:\n%s", states, &lines)
	}
	if first := shown[0]; first.Instance != ReloadEvent || first.State != TurnWaiting || !strings.Contains(first.Message, "rolling restart or reload under way") {
		t.Fatalf("the second restart began with %s; want it to say it waits its turn:\n%s", first, &lines)
	}
	if waits != 1 {
		t.Fatalf("the second restart said %d times that it waits its turn; want once:\n%s", waits, &lines)
	}
}

// With restart policy never, a server that crashed is left failed, not
// stopped: status must not show a crash as a stop.
func TestRestartNeverLeavesACrashFailed(t *testing.T) {
	t.Parallel()
	policy := DefaultPolicy()
	policy.Restart = RestartNever
	s := newSimSite(t, policy)
	s.setenv("MICTL_SIM_CRASH_AFTER", "300ms")
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	if ev := s.next("mi-1", StateStopped, StateFailed, StateBackoff); ev.State != StateFailed || !strings.Contains(ev.Message, "exited; ") || !strings.HasSuffix(ev.Message, "; restart policy never") {
		t.Fatalf("after the crash: %s, want failed by restart policy never", ev)
	}
	if err := s.sup.Flush(); err != nil {
		t.Fatal(err)
	}
	f, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	if inst, _ := f.Instance("mi-1"); inst.State != StateFailed || inst.LastError == "" {
		t.Fatalf("recorded: %s (%q), want failed with why", inst.State, inst.LastError)
	}
}

// A crash loop's failure says how many restarts in a row it gave up
// after, as --max-restarts counts them: with 1 it did not say "in a row"
// (beside a RESTARTS count of every restart of the run), and with 0 it
// said "gave up after 0 restarts in a row".
func TestACrashLoopSaysWhyItGaveUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		maxRestarts int
		want        string
	}{
		{0, "; not restarted (--max-restarts 0)"},
		{1, "; gave up after 1 restart in a row"},
		{2, "; gave up after 2 restarts in a row"},
	} {
		t.Run(fmt.Sprint(tc.maxRestarts), func(t *testing.T) {
			t.Parallel()
			policy := DefaultPolicy()
			policy.MaxRestarts, policy.BackoffBase = tc.maxRestarts, 10*time.Millisecond
			s := newSimSite(t, policy)
			s.setenv("MICTL_SIM_CRASH_AFTER", "300ms")
			s.reload("instances = 1\n")
			if ev := s.next("mi-1", StateFailed); !strings.HasSuffix(ev.Message, tc.want) {
				t.Fatalf("the crash loop ended saying %q, want it to end %q", ev.Message, tc.want)
			}
		})
	}
}

// A server that exits before it is ready fails the start by name: "the
// start script ended without a running server" read as though none had
// ever run, after the event that said it was found.
func TestAServerGoneBeforeReadyIsNamedInTheFailure(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.setenv("MICTL_SIM_NEVER_READY", "1")
	s.setenv("MICTL_SIM_CRASH_AFTER", "1s")
	if err := s.tryReload("instances = 1\n"); err == nil {
		t.Fatal("the reload did not say mi-1's start failed")
	}
	found := s.next("mi-1", StateStarting, StateFailed)
	for found.State == StateStarting && found.Message != "server process found" {
		found = s.next("mi-1", StateStarting, StateFailed)
	}
	if found.State != StateStarting {
		t.Fatalf("the server was never found: %s", found)
	}
	ev := s.next("mi-1", StateFailed, StateReady)
	if want := fmt.Sprintf("the server (pid %d) exited before it was ready, and the start script ended (exit status 0)", found.PID); !strings.HasPrefix(ev.Message, want) {
		t.Fatalf("the failure says %q, want it to begin %q", ev.Message, want)
	}
}

// A JVM whose JMX agent is pinned to a port another process holds
// (-Dcom.sun.management.jmxremote.local.port in JAVA_OPTS; docs/mi-facts.md,
// "Ports") ends before MI starts, its last line
// "java.net.BindException: Address already in use": the failed start's
// reason (status's health) and detail name the port and its holder, as
// for a fixed port, where they said only that last line.
func TestAStartEndedOnAHeldJMXPortNamesItAndItsHolder(t *testing.T) {
	// Not parallel: it sets the process's environment (t.Setenv).
	s := newSimSite(t, DefaultPolicy())
	// A port of the site's last offset, which one instance leaves free.
	jmx := ports.DefaultBases().Shift(s.base + simSiteInstances - 1)[ports.HTTP]
	t.Setenv("JAVA_OPTS", fmt.Sprintf("-D%s=%d", ports.JMXPortProperty, jmx))
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	if err := s.sup.Stop([]string{"mi-1"}, siteTimeout); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", jmx))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := s.sup.Start([]string{"mi-1"}); err != nil {
		t.Fatal(err)
	}
	ev := s.next("mi-1", StateFailed, StateReady)
	held := fmt.Sprintf("jmx port %d is held by pid %d (", jmx, os.Getpid())
	if want := "the start script ended (exit status 0) without a running server: " + held; !strings.HasPrefix(ev.Message, want) {
		t.Fatalf("the failure says %q, want it to begin %q", ev.Message, want)
	}
	if inst := s.sup.Instances([]string{"mi-1"})["mi-1"]; !strings.HasPrefix(inst.Reason, "start script ended without a running server: "+held) {
		t.Fatalf("its reason (status's health) is %q, want it to name port %d and its holder", inst.Reason, jmx)
	}
}

// A restart that does not start its instance again (a named stop came
// between its stop and its start) takes its mark with it: left behind,
// the mark kept the daemon from leaving, and the next daemon started
// what the user had stopped.
func TestRestartEndedWithoutAStartClearsItsMark(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "1s")
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	op := s.sup.beginChange()
	defer s.sup.endChange(op)
	restarted := make(chan bool, 1)
	go func() {
		stopped, _, _ := s.sup.restartStep(op, []string{"mi-1"}, nil, siteTimeout, func([]string) error { return nil })
		restarted <- len(stopped) == 1
	}()
	s.next("mi-1", StateStopping)
	// A named stop's leaving, its own stop (which clears the mark too)
	// not reaching the runner before the restart's ends.
	s.sup.leaveStopped([]string{"mi-1"})
	if !<-restarted {
		t.Fatal("the restart did not see mi-1 stopped by name")
	}
	if err := s.sup.Flush(); err != nil {
		t.Fatal(err)
	}
	f, err := s.sup.store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if inst, _ := f.Instance("mi-1"); inst.Restarting || f.WantsAny() {
		t.Fatalf("mi-1 %s, restarting %v, file wants some running: %v; want the mark gone", inst.State, inst.Restarting, f.WantsAny())
	}
}

// A start asked for while the restart a dead supervisor left is being
// finished (by the up that started the daemon) leaves the instance to that
// restart, and its wait takes it, stopped for the restart, for pending.
// The start took the instance for its own: the restart then stopped what
// it had started, and the wait failed it, "stopped before it was ready",
// or both launched it.
func TestAStartLeavesARestartLeftToFinish(t *testing.T) {
	t.Parallel()
	s, waited := startDuringARestartLeft(t)
	s.sup.finishRestarts([]string{"mi-1"}, s.load)
	if err := <-waited; err != nil {
		t.Fatalf("the start's wait: %v, want mi-1 ready; events:\n%s", err, s.log("mi-1"))
	}
	// The event log is written with each event, before subscribers see it.
	log, err := os.ReadFile(EventsLog(s.sup.store))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), " mi-1 starting pid="); n != 4 {
		t.Fatalf("mi-1 launched %d times, want twice: by the site's start, and by the restart alone; events:\n%s", n/2, log)
	}
}

// A mictl down that interrupts the restart the start waits for leaves the
// instance stopped, and the wait says so once the restart ended, as it
// says a down during any start (not "not supervised": the restart, which
// was to start it, made it no runner).
func TestAStartWaitingForARestartLeftSaysADownStoppedIt(t *testing.T) {
	t.Parallel()
	s, waited := startDuringARestartLeft(t)
	// mictl down mi-1, as the daemon serves it, the restart under way.
	stopEnded := s.sup.leaveStopped([]string{"mi-1"})
	if err := s.sup.Stop([]string{"mi-1"}, siteTimeout); err != nil {
		t.Fatal(err)
	}
	s.sup.finishRestarts([]string{"mi-1"}, s.load)
	stopEnded()
	want := "mi-1 was stopped before it was ready"
	if err := <-waited; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("the start's wait: %v, want %q; events:\n%s", err, want, s.log("mi-1"))
	}
	if active := s.sup.Active(); len(active) > 0 {
		t.Fatalf("running after the down: %v, want nothing; events:\n%s", active, s.log("mi-1"))
	}
}

// startDuringARestartLeft is a site whose mi-1 a dead supervisor's restart
// left stopped, to finish, with no runner (as StartDaemon finds it), with
// a start of mi-1 asked for and its wait under way (waited).
func startDuringARestartLeft(t *testing.T) (s *simSite, waited <-chan error) {
	t.Helper()
	s = newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	if err := s.sup.stop([]string{"mi-1"}, siteTimeout, true); err != nil {
		t.Fatal(err)
	}
	s.sup.mu.Lock()
	delete(s.sup.runners, "mi-1") // the dead supervisor's
	s.sup.mu.Unlock()
	s.sup.beginRestartsPending([]string{"mi-1"})
	if err := s.sup.Start([]string{"mi-1"}); err != nil {
		t.Fatal(err)
	}
	out := make(chan error, 1)
	go func() { out <- s.sup.WaitReady([]string{"mi-1"}, siteTimeout) }()
	return s, out
}

// Real MI logs a BindException and serves on when the port is not one of
// its four fixed listeners (docs/mi-facts.md: the mediation debugger's,
// an inbound endpoint's): mictl leaves such a server running,
// degraded and saying which port could not be bound, where it killed it.
func TestABindExceptionOnAnotherPortLeavesTheServerDegraded(t *testing.T) {
	// Not parallel: it sets the process's environment (t.Setenv).
	s, ev := startWithTheDebuggersPortHeld(t)
	if ev.State != StateDegraded || !strings.Contains(ev.Message, "BindException") {
		t.Fatalf("mi-1 %s: %s; want it degraded, naming the BindException", ev.State, ev.Message)
	}
	if want := "serves without it"; !strings.Contains(ev.Message, want) {
		t.Fatalf("mi-1 degraded: %s; want %q", ev.Message, want)
	}
	// The monitor's checks find nothing else wrong: it stays degraded.
	<-s.sup.healthSoon("mi-1")
	if got := s.sup.Instances([]string{"mi-1"})["mi-1"]; got.State != StateDegraded || got.Reason != ev.Message[strings.Index(ev.Message, "; ")+2:] || !got.Server.Alive() {
		t.Fatalf("after a health check mi-1 is %s (%q), server %v; want it degraded for the port, its server running", got.State, got.Reason, got.Server)
	}
}

// A ready instance whose server loses a fixed port's listener, a
// stranger taking the port then, is degraded saying what to do, in its
// state and its event: MI binds its ports only as it starts, so no check
// mends it. It said only who held the port.
func TestAPortTakenFromARunningServerSaysWhatToDo(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	port, ev := s.takeHTTPPort("mi-1")
	want := fmt.Sprintf("; stop pid %d to free port %d, then mictl restart mi-1 binds it again; or mictl down mi-1, then mictl up plans mi-1 around the port", os.Getpid(), port)
	if !strings.Contains(ev.Message, fmt.Sprintf("http port %d is held by pid %d", port, os.Getpid())) || !strings.Contains(ev.Message, want) {
		t.Fatalf("mi-1 degraded: %s; want the holder named, then %q", ev.Message, want)
	}
	if got := s.sup.Instances([]string{"mi-1"})["mi-1"]; got.State != StateDegraded || !strings.Contains(got.Reason, want) || !strings.Contains(got.LastError, want) {
		t.Fatalf("mi-1 is %s (%q; %q); want it degraded, both saying %q", got.State, got.Reason, got.LastError, want)
	}
}

// takeHTTPPort has the test take the http port of the named instance
// from its ready server, as a stranger would once the server lost its
// listener, and returns the port and the event of the instance degraded
// by the stranger.
func (s *simSite) takeHTTPPort(name string) (int, Event) {
	s.t.Helper()
	s.next(name, StateReady)
	inst := s.sup.Instances([]string{name})[name]
	port := inst.Ports[ports.HTTP]
	proctest.TakePort(s.t, inst.Server.PID, port)
	for {
		ev := s.next(name, StateDegraded)
		if strings.Contains(ev.Message, "held by") {
			return port, ev
		}
		// The check that found the port free, before the stranger took it.
	}
}

// The up named in the remedy of an instance degraded by a port a
// stranger took is read (from the state file, and from mictl.toml through
// Named) once, not again at every health check: it changes only as an up
// runs, which then asks for a start, or as a reload applies mictl.toml.
// After an up with other flags, the next check names that up.
func TestARemedysUpIsReadAgainOnlyAfterAnUp(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	var asked atomic.Int32
	var inFile atomic.Bool
	inFile.Store(true)
	// Set before any instance is watched: the monitor reads it then.
	s.sup.named = func(string) bool {
		asked.Add(1)
		return inFile.Load()
	}
	s.reload("instances = 1\n")
	_, ev := s.takeHTTPPort("mi-1")
	if want := "mictl down mi-1, then mictl up plans mi-1 around the port"; !strings.Contains(ev.Message, want) {
		t.Fatalf("mi-1 degraded: %s; want %q", ev.Message, want)
	}
	for range 3 {
		<-s.sup.healthSoon("mi-1")
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("mictl.toml was read %d times for the remedy's up over 4 health checks; want once", n)
	}

	// mictl up --instances=2 over a mictl.toml that no longer names
	// mi-1: its record, then its start.
	inFile.Store(false)
	if err := s.sup.store.Update(context.Background(), func(f *state.File) error {
		f.UpArgs, f.Configured = []string{"--instances=2"}, []string{"mi-1", "mi-2"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.sup.Start([]string{"mi-1"}); err != nil {
		t.Fatal(err)
	}
	<-s.sup.healthSoon("mi-1")
	want := "mictl down mi-1, then mictl up --instances=2 plans mi-1 around the port"
	if ev := s.next("mi-1", StateDegraded); !strings.Contains(ev.Message, want) {
		t.Fatalf("after an up with other flags mi-1 is degraded saying %s; want %q", ev.Message, want)
	}
	if n := asked.Load(); n != 2 {
		t.Fatalf("mictl.toml was read %d times for the remedy's up; want twice, once after the up", n)
	}

	// A reload records what it planned, or its refusal (this one is
	// refused: the test holds mi-1's port), whoever asked for it (mictl
	// reload, the watch, a catch-up, a retry): read again after it.
	_, _ = s.sup.Reload(s.load)
	<-s.sup.healthSoon("mi-1")
	if n := asked.Load(); n != 3 {
		t.Fatalf("mictl.toml was read %d times for the remedy's up; want 3 times, once after the reload", n)
	}
}

// startWithTheDebuggersPortHeld starts mi-1 with MI's mediation debugger
// on, its command port held by the test (and no debugger connecting, so
// MI goes on without it), and returns the site and the event that ended
// the start.
func startWithTheDebuggersPortHeld(t *testing.T) (*simSite, Event) {
	t.Helper()
	t.Setenv("JAVA_OPTS", "-Desb.debug=true")
	s := newSimSite(t, DefaultPolicy())
	s.setenv(sim.EnvDebuggerWait, "50ms")
	command, _ := s.debuggerOnSparePorts()
	held, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", command))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	if err := s.tryReload("instances = 1\n"); err != nil {
		t.Fatalf("a start whose debugger port another process holds failed: %v", err)
	}
	return s, s.next("mi-1", StateReady, StateDegraded, StateFailed)
}

// While MI restarts itself (exit 121: its script starts java again) the
// instance is starting, with no server, until the new JVM has written its
// pid file and is ready: it was shown ready, its pid "-", meanwhile. A
// pid file the new server cannot write (a directory in its place) holds
// that moment open, and the start's deadline ends it: it stayed so for
// good.
func TestAServerRestartingItselfIsStartingUntilItsPIDFileNamesTheNewOne(t *testing.T) {
	t.Parallel()
	policy := DefaultPolicy()
	policy.ReadyTimeout = 2 * time.Second
	s := newSimSite(t, policy)
	s.setenv(sim.EnvRestartOnce, "3s")
	s.reload("instances = 1\n")
	ready := s.next("mi-1", StateReady)
	pidFile := home.PIDFile(filepath.Join(s.dir, "instances", "mi-1"))
	if err := os.Remove(pidFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(pidFile, 0o755); err != nil {
		t.Fatal(err)
	}
	ev := s.next("mi-1", StateStarting, StateReady, StateDegraded, StateCrashed)
	if ev.State != StateStarting {
		t.Fatalf("after its server (pid %d) restarted itself mi-1 is %s: %s; want it starting", ready.PID, ev.State, ev.Message)
	}
	if got := s.sup.Instances([]string{"mi-1"})["mi-1"]; got.State != StateStarting || !got.Server.IsZero() {
		t.Fatalf("while the new server has not written its pid file mi-1 is %s, server %v; want it starting, with none", got.State, got.Server)
	}
	ev = s.next("mi-1", StateBackoff, StateReady, StateDegraded, StateCrashed, StateFailed)
	if want := "not ready after 2s: no server pid yet"; !strings.Contains(ev.Message, want) {
		t.Fatalf("a new server that never wrote its pid file: mi-1 is %s: %s; want %q", ev.State, ev.Message, want)
	}
}

// The daemon takes an up's mark to start mi-2 again (MarkedBy cleared)
// as the up's start waits for mi-2's stop, and the state file says so
// before the wait: queued (up to the write gap later, here an hour), an
// up and a daemon that both died in between left the dead up's mark,
// and the next daemon did not start mi-2.
func TestAStartTakesAnUpsMarkDurablyBeforeItWaits(t *testing.T) {
	up, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	store, sup := supervisorOf(t, func(f *state.File) {
		f.Instances = append(f.Instances, state.Instance{Name: "mi-2", State: state.StateStopping, Restarting: true, MarkedBy: up})
	})
	sup.persist.close()
	sup.persist = startPersister(time.Hour, sup.save)
	sup.persist.addFile(func(*state.File) {})
	if err := sup.persist.flush(); err != nil { // the gap runs from this write
		t.Fatal(err)
	}
	end := sup.beginUnwatchedStop("mi-2")
	waited := make(chan func())
	go func() { waited <- sup.awaitStops([]string{"mi-2"}) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := store.Load()
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := f.Instance("mi-2")
		if rec.Restarting && rec.MarkedBy.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			end()
			(<-waited)()
			t.Fatalf("mi-2 recorded marked %v by %v while the start waits for its stop; want the mark the daemon's (marked by none) in the file", rec.Restarting, rec.MarkedBy)
		}
		time.Sleep(10 * time.Millisecond)
	}
	end()
	(<-waited)()
}
