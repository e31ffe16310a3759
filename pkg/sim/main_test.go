package sim

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/proc/proctest"
	"github.com/mictl/mictl/pkg/testports"
)

// testExeArg makes the test binary act as the simulator: the distributions
// the tests write record ExeArgs = [testExeArg], so the script runs
// `<test binary> mictl-sim-testmain run ARGS...`.
const testExeArg = "mictl-sim-testmain"

// testRoot holds every temporary directory of this test process (TestMain
// points TMPDIR at it), so the final leak check can find any process whose
// CARBON_HOME lies below it.
var testRoot string

func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == testExeArg {
		switch os.Args[2] {
		case "run":
			os.Exit(Run(context.Background(), os.Args[3:], os.Getenv, os.Stdout))
		}
		fmt.Fprintf(os.Stderr, "unknown simulator command %q\n", os.Args[2])
		os.Exit(2)
	}
	root, err := os.MkdirTemp("", "mictl-sim-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testRoot, _ = filepath.EvalSymlinks(root)
	os.Setenv("TMPDIR", testRoot)
	code := m.Run()
	// Leak check: no simulator, script or companion may outlive the tests.
	var leaked []string
	deadline := time.Now().Add(3 * time.Second)
	for {
		leaked = leaked[:0]
		for _, p := range procsUnder(testRoot) {
			leaked = append(leaked, fmt.Sprintf("pid %d (%s)", p, cmdline(p)))
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "LEAKED PROCESSES after the tests: %s\n", strings.Join(leaked, "; "))
		for _, p := range procsUnder(testRoot) {
			syscall.Kill(p, syscall.SIGKILL)
		}
		code = 1
	}
	os.RemoveAll(testRoot)
	os.Exit(code)
}

// ---------- processes ----------
// Thin wrappers over pkg/proc, in the shapes these tests read best.

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// procStat returns the state letter and parent pid of a process.
func procStat(pid int) (state byte, ppid int, ok bool) {
	st, err := proc.ReadStat(pid)
	if err != nil {
		return 0, 0, false
	}
	return st.State, st.PPID, true
}

// alive: the process exists and is not a zombie (PID 1 here may not reap
// re-parented children promptly).
func alive(pid int) bool {
	st, err := proc.ReadStat(pid)
	return err == nil && !st.Exited()
}

// procsUnder lists the live processes that belong below root.
func procsUnder(root string) []int { return proctest.Under(root) }

// procsOf lists the live processes running with CARBON_HOME = home.
func procsOf(home string) []int {
	all, _ := proc.List()
	var out []int
	for _, st := range all {
		if st.PID != os.Getpid() && !st.Exited() && proc.Getenv(st.PID, "CARBON_HOME") == home {
			out = append(out, st.PID)
		}
	}
	return out
}

// ---------- ports ----------

// freeOffset returns an offset of this package's block whose four fixed
// ports are the test's until it ends (testports.Base): no other test, of
// this run or of another on the host, is given them meanwhile, and none
// is listened on.
func freeOffset(t testing.TB) int {
	t.Helper()
	return testports.Base(t, testports.Sim, 1)
}

// freeOffsetFor is freeOffset for explicit base ports too.
func freeOffsetFor(t testing.TB, bases ports.Set) int {
	t.Helper()
	return testports.Base(t, testports.Sim, 1, bases[:]...)
}

// ---------- distributions and instances ----------

func testExe(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// newDist writes a simulator distribution into a fresh temporary directory.
func newDist(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteDist(dir, DistOptions{Exe: testExe(t), ExeArgs: []string{testExeArg}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tomlWithOffset is a deployment.toml setting [server] offset.
func tomlWithOffset(off int, extra string) string {
	return fmt.Sprintf("[server]\nhostname = \"localhost\"\noffset = %d\n\n%s\n[mediation]\ninternal_http_api_enable = true\n", off, extra)
}

type startOpts struct {
	args      []string
	env       []string // extra KEY=VALUE
	noHomeEnv bool     // do not set CARBON_HOME: the script finds bin/..
	script    string   // script to run; default home/bin/micro-integrator.sh
}

// instance is one start of a distribution's script, in its own process group.
type instance struct {
	t      *testing.T
	home   string
	cmd    *exec.Cmd
	stdout string // file receiving the script's stdout and stderr
	done   chan struct{}
	state  *os.ProcessState
}

func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MICTL_SIM_") || k == "CARBON_HOME" || k == "JAVA_OPTS" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, EnvBind+"=127.0.0.1", EnvStartupDelay+"=20ms")
}

// start runs the script for real. Cleanup kills its process group, the
// pid-file pid and every process whose CARBON_HOME is home (the companion
// included), even when the test failed.
func start(t *testing.T, home string, o startOpts) *instance {
	t.Helper()
	script := o.script
	if script == "" {
		script = filepath.Join(home, ScriptPath)
	}
	env := baseEnv()
	if !o.noHomeEnv {
		env = append(env, "CARBON_HOME="+home)
	}
	env = append(env, o.env...)
	outPath := filepath.Join(t.TempDir(), "stdout.txt")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(script, o.args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{t: t, home: home, cmd: cmd, stdout: outPath, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		in.state = cmd.ProcessState
		close(in.done)
	}()
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGKILL)
		if pid, err := readPID(home); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			ps := procsOf(home)
			for _, p := range ps {
				syscall.Kill(p, syscall.SIGKILL)
			}
			if len(ps) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		select {
		case <-in.done:
		case <-time.After(5 * time.Second):
			t.Errorf("script pid %d did not exit", pgid)
		}
		if t.Failed() {
			t.Logf("script output:\n%s", lastLines(in.output(), 20))
			t.Logf("wso2carbon.log:\n%s", lastLines(in.log(), 40))
		}
	})
	return in
}

// lastLines is the end of text, n lines at most: a failure's message must
// not drown in a log (CI shows the head and the tail of its output).
func lastLines(text string, n int) string {
	lines := strings.SplitAfter(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) <= n {
		return text
	}
	return fmt.Sprintf("[%d lines before]\n", len(lines)-n) + strings.Join(lines[len(lines)-n:], "") + "\n"
}

func (in *instance) output() string {
	b, _ := os.ReadFile(in.stdout)
	return string(b)
}

func (in *instance) log() string {
	b, _ := os.ReadFile(filepath.Join(in.home, LogPath))
	return string(b)
}

// waitExit waits for the script to end and returns its exit status.
func (in *instance) waitExit(timeout time.Duration) int {
	in.t.Helper()
	select {
	case <-in.done:
		return in.state.ExitCode()
	case <-time.After(timeout):
		in.t.Fatalf("script did not exit within %v", timeout)
		return -1
	}
}

func (in *instance) exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

func readPID(home string) (int, error) {
	b, err := os.ReadFile(filepath.Join(home, PIDFile))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// serverPID waits for the pid file to name a live process other than
// not (a previous server) and returns it.
func (in *instance) serverPID(not int) int {
	in.t.Helper()
	var pid int
	eventually(in.t, 10*time.Second, func() bool {
		p, err := readPID(in.home)
		pid = p
		return err == nil && p != not && alive(p)
	}, "pid file names a live server")
	return pid
}

// companionPIDs finds the live diagnostics companions of this home (the
// script's background sleep, which inherits its CARBON_HOME).
func (in *instance) companionPIDs() []int {
	var out []int
	for _, p := range procsOf(in.home) {
		if strings.HasPrefix(cmdline(p), "sleep ") {
			out = append(out, p)
		}
	}
	return out
}

func eventually(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until: %s", timeout, what)
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// ---------- HTTP ----------

var client = &http.Client{
	Timeout: 3 * time.Second,
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // MI's certificate is self-signed
		DisableKeepAlives: true,
	},
}

// get returns status and body; status 0 when the request failed.
func get(url string, header http.Header) (int, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return send(req)
}

// send does req and returns status and body; status 0 when it failed.
func send(req *http.Request) (int, string) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func healthzURL(set ports.Set) string {
	return fmt.Sprintf("http://127.0.0.1:%d/healthz", set[ports.InternalHTTP])
}

func waitReady(t testing.TB, set ports.Set) {
	t.Helper()
	eventually(t, 15*time.Second, func() bool {
		code, _ := get(healthzURL(set), nil)
		return code == http.StatusOK
	}, "/healthz answers 200")
}

func decodeJSON(t testing.TB, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

// ---------- sockets ----------

// socketsOf returns the listening TCP and bound UDP sockets pid holds.
func socketsOf(t testing.TB, pid int) []hostnet.Socket {
	t.Helper()
	inodes, err := hostnet.SocketInodes(pid)
	if err != nil {
		t.Fatalf("socket inodes of pid %d: %v", pid, err)
	}
	snap, err := hostnet.Scan()
	if err != nil {
		t.Fatalf("scan sockets: %v", err)
	}
	var out []hostnet.Socket
	for _, s := range snap.Sockets {
		if _, ok := inodes[s.Inode]; ok {
			out = append(out, s)
		}
	}
	return out
}
