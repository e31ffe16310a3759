package sim

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/testports"
)

// These tests start the distribution's script for real: a process in its own
// process group, on loopback, in a temporary home.

var logLineRE = regexp.MustCompile(`^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}\] +(INFO|WARN|ERROR) \{\w+\} - `)

func indexOfLine(log, substr string) int {
	for i, l := range strings.Split(log, "\n") {
		if strings.Contains(l, substr) {
			return i
		}
	}
	return -1
}

func tcpPorts(socks []hostnet.Socket, proto hostnet.Proto) []int {
	var out []int
	for _, s := range socks {
		if s.Proto == proto {
			out = append(out, s.Port)
		}
	}
	slices.Sort(out)
	return out
}

// docs/mi-facts.md "Ports": effective port = base + offset, the offset from
// [server] offset in deployment.toml. "Start, stop, files": the java process
// is a CHILD of the script, writes wso2carbon.pid, logs "started on" lines
// and "started in" BEFORE the internal APIs listen; JMX is a random TCP port
// of the MI JVM; SIGTERM to the process group stops everything and the pid
// file stays behind.
func TestScriptPortsFromTOMLAndGroupStop(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	off := freeOffset(t)
	writeFile(t, filepath.Join(home, DeployTOMLPath), tomlWithOffset(off, ""))
	want := ports.DefaultBases().Shift(off)

	in := start(t, home, startOpts{})
	pid := in.serverPID(0)
	waitReady(t, want)

	// A child of the script, not exec'd in its place.
	if pid == in.cmd.Process.Pid {
		t.Fatalf("server pid %d is the script's pid: the script must not exec", pid)
	}
	if _, ppid, _ := procStat(pid); ppid != in.cmd.Process.Pid {
		t.Errorf("server pid %d has parent %d, want the script %d", pid, ppid, in.cmd.Process.Pid)
	}

	// The four fixed ports, JMX and nothing else, all held by the pid-file pid.
	socks := socketsOf(t, pid)
	tcp := tcpPorts(socks, hostnet.TCP)
	var jmx []int
	for _, p := range tcp {
		if !slices.Contains(want[:], p) {
			jmx = append(jmx, p)
		}
	}
	for _, p := range want {
		if !slices.Contains(tcp, p) {
			t.Errorf("port %d not listening by pid %d (has %v)", p, pid, tcp)
		}
	}
	if len(jmx) != 1 {
		t.Fatalf("want exactly one random JMX TCP port besides %v, pid %d listens on %v", want, pid, tcp)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(jmx[0])), time.Second); err != nil {
		t.Errorf("JMX port %d: %v", jmx[0], err)
	} else {
		c.Close()
	}
	// log4j2.properties as shipped: the syslog appender is off, so no UDP.
	if udp := tcpPorts(socks, hostnet.UDP); len(udp) != 0 {
		t.Errorf("UDP sockets %v with the syslog appender disabled", udp)
	}
	// The MI JVM holds JMX; the companion holds no socket.
	for _, c := range in.companionPIDs() {
		if s := socketsOf(t, c); len(s) != 0 {
			t.Errorf("companion pid %d holds sockets %v", c, s)
		}
	}

	// The log: MI's lines and layout, "started in" before the internal API.
	log := in.log()
	for _, line := range []string{
		"Starting WSO2 Micro Integrator ...",
		fmt.Sprintf("Pass-through HTTP Listener started on 127.0.0.1:%d", want[ports.HTTP]),
		fmt.Sprintf("Pass-through HTTPS Listener started on 127.0.0.1:%d", want[ports.HTTPS]),
		"WSO2 Micro Integrator started in ",
	} {
		if !strings.Contains(log, line) {
			t.Errorf("log lacks %q", line)
		}
	}
	if s, i := indexOfLine(log, "WSO2 Micro Integrator started in"), indexOfLine(log, fmt.Sprintf("started on 127.0.0.1:%d", want[ports.InternalHTTP])); s < 0 || i < 0 || s > i {
		t.Errorf(`"started in" (line %d) must come before the internal API listener (line %d)`, s, i)
	}
	if !strings.Contains(in.output(), "Pass-through HTTP Listener started on") {
		t.Errorf("stdout lacks the console log")
	}
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if !logLineRE.MatchString(l) {
			t.Errorf("log line not in MI's layout: %q", l)
		}
	}
	// The passthrough answers any request with JSON.
	if code, body := get(fmt.Sprintf("http://127.0.0.1:%d/any/path", want[ports.HTTP]), nil); code != 200 || !strings.Contains(body, `"listener":"http"`) {
		t.Errorf("HTTP passthrough: %d %s", code, body)
	}
	if code, body := get(fmt.Sprintf("https://127.0.0.1:%d/x", want[ports.HTTPS]), nil); code != 200 || !strings.Contains(body, `"listener":"https"`) {
		t.Errorf("HTTPS passthrough: %d %s", code, body)
	}

	// SIGTERM to the process group: graceful shutdown, everybody gone, script 0.
	companions := in.companionPIDs()
	if len(companions) != 1 {
		t.Fatalf("want one diagnostics companion, have %v", companions)
	}
	syscall.Kill(-in.cmd.Process.Pid, syscall.SIGTERM)
	eventually(t, 10*time.Second, func() bool { return !alive(pid) }, "server exits after SIGTERM")
	eventually(t, 5*time.Second, func() bool { return !alive(companions[0]) }, "companion exits")
	in.waitExit(5 * time.Second)
	log = in.log()
	g, c := indexOfLine(log, "Gracefully shutting down WSO2 Micro Integrator..."), indexOfLine(log, "Micro Integrator Shutdown complete")
	if g < 0 || c < 0 || g > c {
		t.Errorf("shutdown lines missing or out of order (%d, %d)", g, c)
	}
	if got, err := readPID(home); err != nil || got != pid {
		t.Errorf("pid file after stop = %d, %v; MI leaves it behind naming %d", got, err, pid)
	}
}

// docs/mi-facts.md "Ports": -DportOffset=N on the command line REPLACES the toml
// offset, and ports set explicitly in deployment.toml are still shifted.
// "Health and management": login with admin/admin returns an AccessToken;
// /management/server wants it as a bearer token, 401 otherwise. The JMX port
// is pinned with -Dcom.sun.management.jmxremote.local.port in JAVA_OPTS.
func TestScriptPortOffsetFlagManagementAndPinnedJMX(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	tomlOff := freeOffset(t)
	// Explicit bases: the defaults moved by 1..4; the flag's offset shifts them.
	bases := ports.DefaultBases()
	for i := range bases {
		bases[i] += i + 1
	}
	explicit := fmt.Sprintf("[transport.http]\nlistener.port = %d\nlistener.secured_port = %d\n", bases[ports.HTTP], bases[ports.HTTPS])
	toml := tomlWithOffset(tomlOff, explicit) + fmt.Sprintf("internal_http_api_port = %d\ninternal_https_api_port = %d\n", bases[ports.InternalHTTP], bases[ports.Management])
	writeFile(t, filepath.Join(home, DeployTOMLPath), toml)
	flagOff := freeOffsetFor(t, bases)
	want := bases.Shift(flagOff)
	jmxPort := testports.FreePort(t)

	in := start(t, home, startOpts{
		args: []string{ports.OffsetFlag + strconv.Itoa(flagOff)},
		env:  []string{"JAVA_OPTS=-Xms256m -D" + ports.JMXPortProperty + "=" + strconv.Itoa(jmxPort)},
	})
	pid := in.serverPID(0)
	waitReady(t, want)
	tcp := tcpPorts(socketsOf(t, pid), hostnet.TCP)
	wantTCP := append(want[:], jmxPort)
	slices.Sort(wantTCP)
	if !slices.Equal(tcp, wantTCP) {
		t.Errorf("pid %d listens on %v, want %v (bases %v + flag offset %d, JMX %d)", pid, tcp, wantTCP, bases, flagOff, jmxPort)
	}

	mgmt := fmt.Sprintf("https://127.0.0.1:%d/management/", want[ports.Management])
	if code, _ := get(mgmt+"server", nil); code != http.StatusUnauthorized {
		t.Errorf("/management/server without token: %d, want 401", code)
	}
	if code, _ := get(mgmt+"server", http.Header{"Authorization": {"Bearer not-a-token"}}); code != http.StatusUnauthorized {
		t.Errorf("/management/server with a bad token: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, mgmt+"login", nil)
	req.SetBasicAuth("admin", "wrong")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with a wrong password: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}
	code, body := get(mgmt+"login", http.Header{"Authorization": {"Basic YWRtaW46YWRtaW4="}}) // admin:admin
	var login struct{ AccessToken string }
	if code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	decodeJSON(t, body, &login)
	if strings.Count(login.AccessToken, ".") != 2 {
		t.Errorf("AccessToken %q is not JWT-shaped", login.AccessToken)
	}
	code, body = get(mgmt+"server", http.Header{"Authorization": {"Bearer " + login.AccessToken}})
	if code != http.StatusOK {
		t.Fatalf("/management/server: %d %s", code, body)
	}
	var info ServerInfo
	decodeJSON(t, body, &info)
	if info.Offset != flagOff || info.OffsetFrom != ports.OffsetFlag || info.Ports != want || info.PID != pid || info.JMXPort != jmxPort || info.CarbonHome != home {
		t.Errorf("server info %+v; want offset %d from %s, ports %v, pid %d, jmx %d, home %s", info, flagOff, ports.OffsetFlag, want, pid, jmxPort, home)
	}
	code, body = get(fmt.Sprintf("http://127.0.0.1:%d/liveness", want[ports.InternalHTTP]), nil)
	if code != 200 || strings.TrimSpace(body) != `{"server":"started"}` {
		t.Errorf("/liveness: %d %s", code, body)
	}
}

// docs/mi-facts.md "Health and management": /healthz is 503 {"status":"not ready"}
// until deployed, then 200 with MI's version and "ready"
// (docs/mi-integrations.md, "Health probes"); /liveness answers meanwhile.
func TestHealthzTurnsReady(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	off := freeOffset(t)
	want := ports.DefaultBases().Shift(off)
	start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}, env: []string{EnvReadyDelay + "=1500ms"}})
	var code int
	var body string
	eventually(t, 10*time.Second, func() bool {
		code, body = get(healthzURL(want), nil)
		return code != 0
	}, "the internal API answers")
	if code != http.StatusServiceUnavailable || strings.TrimSpace(body) != `{"status":"not ready"}` {
		t.Errorf("/healthz while deploying: %d %s, want 503 not ready", code, body)
	}
	if c, b := get(fmt.Sprintf("http://127.0.0.1:%d/liveness", want[ports.InternalHTTP]), nil); c != 200 || strings.TrimSpace(b) != `{"server":"started"}` {
		t.Errorf("/liveness while deploying: %d %s", c, b)
	}
	waitReady(t, want)
	if code, body = get(healthzURL(want), nil); strings.TrimSpace(body) != `{"version":"4.4.0","status":"ready"}` {
		t.Errorf("/healthz when ready: %d %s", code, body)
	}
}

// docs/mi-facts.md "Ports", syslog row: with the appender enabled and
// appender.syslog.protocol = UDP, a UDP socket on a random local port;
// without the protocol line log4j2 uses TCP, an outgoing connection, whose
// failure is logged while MI runs on.
func TestSyslogAppender(t *testing.T) {
	t.Parallel()
	enable := func(l4j, extra string) string {
		l4j = strings.Replace(l4j, "appenders = CARBON_CONSOLE, CARBON_LOGFILE\n#appenders = CARBON_CONSOLE, CARBON_LOGFILE, syslog", "appenders = CARBON_CONSOLE, CARBON_LOGFILE, syslog", 1)
		l4j = strings.ReplaceAll(l4j, "#appender.syslog.", "appender.syslog.")
		l4j = strings.Replace(l4j, "#rootLogger.appenderRef.syslog.ref", "rootLogger.appenderRef.syslog.ref", 1)
		return l4j + extra
	}
	t.Run("udp", func(t *testing.T) {
		t.Parallel()
		home := newDist(t)
		off := freeOffset(t)
		want := ports.DefaultBases().Shift(off)
		writeFile(t, filepath.Join(home, Log4j2Path), enable(log4j2Template, ""))
		in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}})
		pid := in.serverPID(0)
		waitReady(t, want)
		udp := tcpPorts(socketsOf(t, pid), hostnet.UDP)
		if len(udp) != 1 || slices.Contains(want[:], udp[0]) {
			t.Errorf("want one random UDP port held by pid %d, got %v", pid, udp)
		}
	})
	t.Run("tcp-refused", func(t *testing.T) {
		t.Parallel()
		home := newDist(t)
		off := freeOffset(t)
		want := ports.DefaultBases().Shift(off)
		dead := testports.FreePort(t)
		l4j := strings.Replace(enable(log4j2Template, ""), "appender.syslog.protocol = UDP\n", "", 1)
		l4j = strings.Replace(l4j, "appender.syslog.host = localhost\nappender.syslog.port = 514", "appender.syslog.host = 127.0.0.1\nappender.syslog.port = "+strconv.Itoa(dead), 1)
		writeFile(t, filepath.Join(home, Log4j2Path), l4j)
		in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}})
		pid := in.serverPID(0)
		waitReady(t, want)
		eventually(t, 5*time.Second, func() bool {
			return strings.Contains(in.log(), fmt.Sprintf("(TCP:127.0.0.1:%d) caught exception and will continue: java.net.ConnectException: Connection refused", dead))
		}, "the refused syslog connection is logged")
		if udp := tcpPorts(socketsOf(t, pid), hostnet.UDP); len(udp) != 0 {
			t.Errorf("UDP sockets %v with a TCP syslog appender", udp)
		}
		if !alive(pid) {
			t.Errorf("server died of a refused syslog connection")
		}
	})
	t.Run("tcp-connects", func(t *testing.T) {
		t.Parallel()
		home := newDist(t)
		off := freeOffset(t)
		want := ports.DefaultBases().Shift(off)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			if c, err := ln.Accept(); err == nil {
				accepted <- c
			}
		}()
		l4j := strings.Replace(enable(log4j2Template, ""), "appender.syslog.protocol = UDP\n", "", 1)
		l4j = strings.Replace(l4j, "appender.syslog.host = localhost\nappender.syslog.port = 514", "appender.syslog.host = 127.0.0.1\nappender.syslog.port = "+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), 1)
		writeFile(t, filepath.Join(home, Log4j2Path), l4j)
		start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}})
		waitReady(t, want)
		select {
		case c := <-accepted:
			c.Close()
		case <-time.After(10 * time.Second):
			t.Fatal("the syslog appender never connected")
		}
	})
}

// docs/mi-facts.md "Start, stop, files": a port already taken is NOT fatal: MI logs
// "started on" anyway, then java.net.BindException: Address already in use,
// and keeps running without that listener.
func TestBindConflictIsLoggedNotFatal(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	off := freeOffset(t)
	want := ports.DefaultBases().Shift(off)
	squat, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", want[ports.HTTP]))
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}})
	pid := in.serverPID(0)
	waitReady(t, want)
	log := in.log()
	started := indexOfLine(log, fmt.Sprintf("Pass-through HTTP Listener started on 127.0.0.1:%d", want[ports.HTTP]))
	bind := indexOfLine(log, "java.net.BindException: Address already in use")
	if started < 0 || bind < 0 || bind < started {
		t.Errorf(`want "started on" then the BindException (lines %d, %d)`, started, bind)
	}
	if !strings.Contains(strings.Split(log, "\n")[bind], strconv.Itoa(want[ports.HTTP])) {
		t.Errorf("BindException line does not name port %d", want[ports.HTTP])
	}
	if !alive(pid) || in.exited() {
		t.Fatalf("server or script exited on a bind conflict")
	}
	tcp := tcpPorts(socketsOf(t, pid), hostnet.TCP)
	if slices.Contains(tcp, want[ports.HTTP]) {
		t.Errorf("server claims the squatted port %d", want[ports.HTTP])
	}
	if !slices.Contains(tcp, want[ports.HTTPS]) {
		t.Errorf("server lost its HTTPS port %d too", want[ports.HTTPS])
	}
}

// docs/mi-facts.md "Start, stop, files", signals: SIGTERM to the script alone kills
// the sh and leaves the server (and the companion) running, re-parented.
func TestSIGTERMToScriptAloneLeavesServer(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	off := freeOffset(t)
	want := ports.DefaultBases().Shift(off)
	in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}})
	pid := in.serverPID(0)
	waitReady(t, want)
	companions := in.companionPIDs()
	syscall.Kill(in.cmd.Process.Pid, syscall.SIGTERM)
	in.waitExit(5 * time.Second)
	if ws, ok := in.state.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("script status %v, want killed by SIGTERM", in.state)
	}
	time.Sleep(200 * time.Millisecond)
	if !alive(pid) {
		t.Fatal("server died with its script")
	}
	if _, ppid, _ := procStat(pid); ppid == in.cmd.Process.Pid {
		t.Errorf("server not re-parented")
	}
	if code, _ := get(healthzURL(want), nil); code != 200 {
		t.Errorf("/healthz after the script died: %d", code)
	}
	for _, c := range companions {
		if !alive(c) {
			t.Errorf("companion %d died with the script", c)
		}
	}
	if strings.Contains(in.log(), "Gracefully shutting down") {
		t.Errorf("server shut down though only the script got SIGTERM")
	}
}

// docs/mi-facts.md "Start, stop, files": SIGTERM to the MI java pid (what --stop
// does) shuts MI down; the script's loop ends (status is not 121), its EXIT
// trap kills the companion, and it exits 0.
func TestSIGTERMToServerPIDStopsAll(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	off := freeOffset(t)
	want := ports.DefaultBases().Shift(off)
	in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}})
	pid := in.serverPID(0)
	waitReady(t, want)
	companions := in.companionPIDs()
	if len(companions) != 1 {
		t.Fatalf("want one companion, have %v", companions)
	}
	if _, ppid, _ := procStat(companions[0]); ppid != in.cmd.Process.Pid {
		t.Errorf("companion %d is not the script's child (ppid %d)", companions[0], ppid)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if code := in.waitExit(10 * time.Second); code != 0 {
		t.Errorf("script exit status %d, want 0", code)
	}
	eventually(t, 5*time.Second, func() bool { return !alive(companions[0]) }, "the EXIT trap kills the companion")
	if !strings.Contains(in.log(), "Micro Integrator Shutdown complete") {
		t.Errorf("no shutdown line")
	}
	if len(procsOf(home)) != 0 {
		t.Errorf("processes left: %v", procsOf(home))
	}
}

// docs/mi-facts.md "Ports", debugger row: with -Desb.debug=true MI opens
// its mediation debugger's command and event ports (synapse.properties)
// and its start stops, before any listener, until a client connects to
// the one and then the other, waiting up to 60 s on each; with none it
// logs the failure and starts anyway, both ports left open for the run
// (SynapseDebugInterface keeps its server sockets).
func TestDebuggerWaitsForItsClient(t *testing.T) {
	t.Parallel()
	startDebugging := func(t *testing.T, wait string) (in *instance, set ports.Set, command, event int) {
		home := newDist(t)
		command, event = testports.FreePort(t), testports.FreePort(t)
		writeFile(t, filepath.Join(home, SynapsePropertiesPath), fmt.Sprintf("%s=%d\n%s=%d\n", DebuggerCommandPortKey, command, DebuggerEventPortKey, event))
		off := freeOffset(t)
		in = start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}, env: []string{"JAVA_OPTS=-Desb.debug=true", EnvDebuggerWait + "=" + wait}})
		return in, ports.DefaultBases().Shift(off), command, event
	}
	t.Run("no-client", func(t *testing.T) {
		t.Parallel()
		in, set, command, event := startDebugging(t, "50ms")
		pid := in.serverPID(0)
		waitReady(t, set)
		log := in.log()
		if i, j := indexOfLine(log, "Accept timed out"), indexOfLine(log, "started in"); i < 0 || j < i {
			t.Errorf("the start did not wait for the debugger: its timeout is line %d, started in line %d", i, j)
		}
		if got := tcpPorts(socketsOf(t, pid), hostnet.TCP); !slices.Contains(got, command) || !slices.Contains(got, event) {
			t.Errorf("the server's TCP ports %v lack the debugger's %d and %d", got, command, event)
		}
	})
	t.Run("client", func(t *testing.T) {
		t.Parallel()
		in, set, command, event := startDebugging(t, "10m")
		in.serverPID(0)
		eventually(t, 10*time.Second, func() bool { return strings.Contains(in.log(), "Listening on ports") }, "the debugger listens")
		if code, _ := get(healthzURL(set), nil); code != 0 {
			t.Fatalf("/healthz answered %d while the debugger waits for its client", code)
		}
		for _, port := range []int{command, event} {
			// MI logs that it listens before its sockets are bound.
			eventually(t, 10*time.Second, func() bool {
				c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err == nil {
					t.Cleanup(func() { c.Close() })
				}
				return err == nil
			}, fmt.Sprintf("a client connects to the debugger port %d", port))
		}
		waitReady(t, set)
		if !strings.Contains(in.log(), "Connection created to the external debugger") {
			t.Errorf("no connection logged")
		}
	})
}

// MI's script reads the command words stop, restart and version (also as
// -word and --word; docs/mi-facts.md "Start, stop, files") and never hands
// them to a server: "--stop" sends SIGTERM to the pid in wso2carbon.pid and
// exits 0, "--restart" does so, waits for that pid to end and starts the
// script again in the background, "--version" prints the version. WSO2's
// container hooks and systemd unit, and mictl's exports, run "--stop".
func TestScriptCommandWords(t *testing.T) {
	t.Parallel()
	running := func(t *testing.T) (home string, in *instance, pid int, set ports.Set, offsetArg string) {
		home = newDist(t)
		off := freeOffset(t)
		set = ports.DefaultBases().Shift(off)
		offsetArg = ports.OffsetFlag + strconv.Itoa(off)
		in = start(t, home, startOpts{args: []string{offsetArg}})
		pid = in.serverPID(0)
		waitReady(t, set)
		return home, in, pid, set, offsetArg
	}
	t.Run("stop", func(t *testing.T) {
		t.Parallel()
		home, in, pid, _, _ := running(t)
		if code := start(t, home, startOpts{args: []string{"--stop"}}).waitExit(10 * time.Second); code != 0 {
			t.Errorf("--stop exit status %d, want 0", code)
		}
		if code := in.waitExit(10 * time.Second); code != 0 {
			t.Errorf("the server's script exit status %d, want 0", code)
		}
		eventually(t, 5*time.Second, func() bool { return !alive(pid) }, "the server ends")
		log := in.log()
		if n := strings.Count(log, "Starting WSO2 Micro Integrator ..."); n != 1 {
			t.Errorf("%d starts in the log, want 1: --stop started a server", n)
		}
		if !strings.Contains(log, "Micro Integrator Shutdown complete") {
			t.Errorf("no graceful shutdown")
		}
	})
	t.Run("restart", func(t *testing.T) {
		t.Parallel()
		home, in, pid, set, offsetArg := running(t)
		// The new server gets the arguments of the restart, as with MI.
		if code := start(t, home, startOpts{args: []string{"restart", offsetArg}}).waitExit(15 * time.Second); code != 0 {
			t.Errorf("restart exit status %d, want 0", code)
		}
		if alive(pid) {
			t.Errorf("the first server %d still runs after restart", pid)
		}
		if code := in.waitExit(10 * time.Second); code != 0 {
			t.Errorf("the first server's script exit status %d, want 0", code)
		}
		second := in.serverPID(pid)
		waitReady(t, set)
		if n := strings.Count(in.log(), "Starting WSO2 Micro Integrator ..."); n != 2 {
			t.Errorf("%d starts in the log, want 2 (server %d)", n, second)
		}
	})
	t.Run("version", func(t *testing.T) {
		t.Parallel()
		home := newDist(t)
		// An offset of this test's, should a server start.
		in := start(t, home, startOpts{args: []string{"-version", ports.OffsetFlag + strconv.Itoa(freeOffset(t))}})
		if code := in.waitExit(10 * time.Second); code != 0 {
			t.Errorf("exit status %d, want 0", code)
		}
		if got := strings.TrimSpace(in.output()); got != distMarker {
			t.Errorf("output %q, want %q", got, distMarker)
		}
		if _, err := os.Stat(filepath.Join(home, PIDFile)); err == nil {
			t.Errorf("a server started")
		}
	})
}

// MI writes wso2carbon.pid in place: on a full disk the file it had
// keeps its block, where a file written beside it and renamed needed a
// new one and failed, leaving a serving server with no pid to be found.
// The file a server starts over is the same file, its pid in it.
func TestPIDFileIsWrittenInPlace(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	path := filepath.Join(home, PIDFile)
	if err := os.WriteFile(path, []byte("4194304"), 0o644); err != nil { // a pid no live process has
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(freeOffset(t))}})
	in.serverPID(4194304)
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("%s was replaced by another file: MI overwrites it in place", PIDFile)
	}
}

// docs/mi-facts.md "Start, stop, files": the script starts java again while it exits
// 121 (new pid, same script), and empties tmp once per START, not per java
// restart; the companion is started once.
func TestExit121Restarts(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	off := freeOffset(t)
	want := ports.DefaultBases().Shift(off)
	in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}, env: []string{EnvRestartOnce + "=300ms"}})
	first := in.serverPID(0)
	companions := in.companionPIDs()
	second := in.serverPID(first)
	waitReady(t, want)
	if _, ppid, _ := procStat(second); ppid != in.cmd.Process.Pid {
		t.Errorf("restarted server's parent is %d, want the same script %d", ppid, in.cmd.Process.Pid)
	}
	if in.exited() {
		t.Fatal("script exited on 121")
	}
	log := in.log()
	if n := strings.Count(log, "Starting WSO2 Micro Integrator ..."); n != 2 {
		t.Errorf("%d starts in the log, want 2", n)
	}
	if !strings.Contains(log, "Micro Integrator Shutdown complete") {
		t.Errorf("no graceful shutdown before the restart")
	}
	if _, err := os.Stat(filepath.Join(home, TmpDir, restartMarkerName)); err != nil {
		t.Errorf("restart marker gone: tmp was wiped per java start: %v", err)
	}
	if now := in.companionPIDs(); !slices.Equal(now, companions) {
		t.Errorf("companions %v before, %v after the restart: want one, started once", companions, now)
	}
	// Once only: the second server stays up.
	time.Sleep(500 * time.Millisecond)
	if p, _ := readPID(home); p != second || !alive(second) {
		t.Errorf("second server %d replaced by %d or died", second, p)
	}
}

// docs/mi-facts.md "Start, stop, files": the script uses CARBON_HOME from the
// environment when set, else its own bin/..; it empties $CARBON_HOME/tmp
// once per start.
func TestScriptCarbonHomeAndTmpWipe(t *testing.T) {
	t.Parallel()
	t.Run("from-environment", func(t *testing.T) {
		t.Parallel()
		dist := newDist(t)
		home := newDist(t) // a second tree as the instance home
		off := freeOffset(t)
		writeFile(t, filepath.Join(home, DeployTOMLPath), tomlWithOffset(off, ""))
		writeFile(t, filepath.Join(home, TmpDir, "stale.txt"), "x")
		if err := os.MkdirAll(filepath.Join(home, TmpDir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dist, TmpDir, "dist-file.txt"), "x")
		in := start(t, home, startOpts{script: filepath.Join(dist, ScriptPath)})
		pid := in.serverPID(0)
		waitReady(t, ports.DefaultBases().Shift(off))
		if h := proc.Getenv(pid, "CARBON_HOME"); h != home {
			t.Errorf("server CARBON_HOME %q, want %q", h, home)
		}
		if ents, _ := os.ReadDir(filepath.Join(home, TmpDir)); len(ents) != 0 {
			t.Errorf("home tmp not emptied: %v", ents)
		}
		if _, err := os.Stat(filepath.Join(dist, TmpDir, "dist-file.txt")); err != nil {
			t.Errorf("the script touched the distribution's tmp: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dist, PIDFile)); err == nil {
			t.Errorf("pid file written into the distribution, not CARBON_HOME")
		}
	})
	t.Run("from-script-location", func(t *testing.T) {
		t.Parallel()
		home := newDist(t)
		off := freeOffset(t)
		writeFile(t, filepath.Join(home, DeployTOMLPath), tomlWithOffset(off, ""))
		writeFile(t, filepath.Join(home, TmpDir, "stale.txt"), "x")
		// Through a symlink from elsewhere, as /usr/local/bin/mi might be.
		link := filepath.Join(t.TempDir(), "mi.sh")
		if err := os.Symlink(filepath.Join(home, ScriptPath), link); err != nil {
			t.Fatal(err)
		}
		in := start(t, home, startOpts{script: link, noHomeEnv: true})
		pid := in.serverPID(0)
		waitReady(t, ports.DefaultBases().Shift(off))
		if h := proc.Getenv(pid, "CARBON_HOME"); h != home {
			t.Errorf("server CARBON_HOME %q, want the script's bin/.. %q", h, home)
		}
		if _, err := os.Stat(filepath.Join(home, TmpDir, "stale.txt")); err == nil {
			t.Errorf("tmp not emptied")
		}
	})
	t.Run("tmp-missing", func(t *testing.T) {
		t.Parallel()
		home := newDist(t)
		off := freeOffset(t)
		writeFile(t, filepath.Join(home, DeployTOMLPath), tomlWithOffset(off, ""))
		if err := os.RemoveAll(filepath.Join(home, TmpDir)); err != nil {
			t.Fatal(err)
		}
		start(t, home, startOpts{}).serverPID(0)
		waitReady(t, ports.DefaultBases().Shift(off))
		if info, err := os.Stat(filepath.Join(home, TmpDir)); err != nil || !info.IsDir() {
			t.Errorf("tmp/ was not made again: %v", err)
		}
	})
}

// docs/mi-facts.md "Start, stop, files": the script's status is 0 even when java
// crashed: a supervisor must watch the server process itself.
func TestCrashScriptStillExitsZero(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	off := freeOffset(t)
	in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}, env: []string{EnvCrashAfter + "=200ms", EnvCrashCode + "=3"}})
	if code := in.waitExit(10 * time.Second); code != 0 {
		t.Errorf("script exit status %d after a crash, want 0", code)
	}
	if !strings.Contains(in.log(), "exiting with status 3") {
		t.Errorf("no crash line in the log")
	}
	if strings.Contains(in.log(), "Gracefully shutting down") {
		t.Errorf("a crash must not shut down gracefully")
	}
	eventually(t, 5*time.Second, func() bool { return len(procsOf(home)) == 0 }, "no process left after the crash")
}

// docs/mi-facts.md "Start, stop, files": outside the JDK range the script prints
// "[ERROR] WSO2 MI is supported only between JDK a and JDK b" and exits 0
// WITHOUT starting java.
func TestRefuseStart(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	in := start(t, home, startOpts{env: []string{EnvRefuseStart + "=1"}})
	if code := in.waitExit(10 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if got := strings.TrimSpace(in.output()); got != "[ERROR] WSO2 MI is supported only between JDK 11 and JDK 21" {
		t.Errorf("output %q", got)
	}
	if _, err := os.Stat(filepath.Join(home, PIDFile)); err == nil {
		t.Errorf("a server started")
	}
	if ps := procsOf(home); len(ps) != 0 {
		t.Errorf("processes started: %v", ps)
	}
}

// Fault injection: a server that ignores SIGTERM keeps serving; a slow
// shutdown spaces its first and last shutdown lines (MI >= 4.5 may drain
// for up to 180 s, docs/mi-facts.md "Start, stop, files"); extra memory is held.
func TestFaultsIgnoreTermSlowShutdownMemory(t *testing.T) {
	t.Parallel()
	t.Run("ignore-sigterm", func(t *testing.T) {
		t.Parallel()
		home := newDist(t)
		off := freeOffset(t)
		want := ports.DefaultBases().Shift(off)
		in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}, env: []string{EnvIgnoreSIGTERM + "=true"}})
		pid := in.serverPID(0)
		waitReady(t, want)
		syscall.Kill(pid, syscall.SIGTERM)
		eventually(t, 5*time.Second, func() bool { return strings.Contains(in.log(), "ignored") }, "the ignored SIGTERM is logged")
		if !alive(pid) {
			t.Fatal("server died of an ignored SIGTERM")
		}
		if code, _ := get(healthzURL(want), nil); code != 200 {
			t.Errorf("/healthz after an ignored SIGTERM: %d", code)
		}
	})
	t.Run("slow-shutdown", func(t *testing.T) {
		t.Parallel()
		home := newDist(t)
		off := freeOffset(t)
		want := ports.DefaultBases().Shift(off)
		in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}, env: []string{EnvShutdownDelay + "=600ms"}})
		pid := in.serverPID(0)
		waitReady(t, want)
		syscall.Kill(pid, syscall.SIGTERM)
		if code := in.waitExit(10 * time.Second); code != 0 {
			t.Errorf("script status %d", code)
		}
		ts := func(substr string) time.Time {
			for _, l := range strings.Split(in.log(), "\n") {
				if strings.Contains(l, substr) && len(l) > 25 {
					tm, err := time.ParseInLocation(LogTimeLayout, l[1:24], time.Local)
					if err == nil {
						return tm
					}
				}
			}
			t.Fatalf("no log line %q", substr)
			return time.Time{}
		}
		if d := ts("Micro Integrator Shutdown complete").Sub(ts("Gracefully shutting down")); d < 600*time.Millisecond {
			t.Errorf("shutdown took %v by the log, want at least the injected 600ms", d)
		}
	})
	t.Run("hold-memory", func(t *testing.T) {
		t.Parallel()
		home := newDist(t)
		off := freeOffset(t)
		in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}, env: []string{EnvHoldMemory + "=64M"}})
		pid := in.serverPID(0)
		waitReady(t, ports.DefaultBases().Shift(off))
		if rss := rssKiB(pid); rss < 64*1024 {
			t.Errorf("RSS %d KiB, want at least the held 64 MiB", rss)
		}
	})
}

// rssKiB reads VmRSS of pid in KiB (0 when unknown).
func rssKiB(pid int) int { return statusKiB(pid, "VmRSS:") }
