package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mictl/mictl/pkg/companion"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

// CaptureEnv picks from env the variables that instances must see: what
// MI's script reads (JAVA_HOME, and the JVM options it hands java:
// ports.JavaOptsVars) and the simulator's fault switches.
func CaptureEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "JAVA_HOME=") || ports.SetsJavaOpts(kv) || strings.HasPrefix(kv, "MICTL_SIM_") {
			out = append(out, kv)
		}
	}
	return out
}

// instanceEnv builds an instance's environment: the supervisor's own minus
// anything that must never leak between instances (CARBON_HOME, docs/mi-facts.md:
// the script prefers it to its own location) or from the supervisor's
// environment (fault switches, the mictl that started a lean daemon), plus
// the instance's own (LaunchEnv).
func instanceEnv(inst *state.Instance) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CARBON_HOME=") || strings.HasPrefix(kv, "MICTL_SIM_") || strings.HasPrefix(kv, companion.EnvMictl+"=") ||
			ports.SetsJavaOpts(kv) {
			continue
		}
		env = append(env, kv)
	}
	return append(env, LaunchEnv(inst)...)
}

// LaunchEnv is the part of an instance's environment that is the
// instance's own: what was captured for it at `mictl up` (JAVA_HOME,
// JAVA_OPTS, ...), its CARBON_HOME and the address the simulator binds.
// `mictl export systemd` writes exactly these into each unit.
func LaunchEnv(inst *state.Instance) []string {
	abs, err := filepath.Abs(inst.Home)
	if err != nil {
		abs = inst.Home
	}
	return append(slices.Clip(inst.Env), "CARBON_HOME="+abs, "MICTL_SIM_BIND="+inst.Bind)
}

// launch is one start of an instance's script.
type launch struct {
	script    proc.Identity
	pgid      int
	logOffset int64 // console.log size before this start: later lines are this start's
	exited    <-chan syscall.WaitStatus
}

// startScript runs the instance's start script in its own process group
// with argv (never a shell string), its output appended to console.log.
func startScript(r *Reaper, inst *state.Instance) (*launch, error) {
	script := filepath.Join(inst.Home, home.StartScript)
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("start %s: %w; is %s a Micro Integrator home?", inst.Name, err, inst.Home)
	}
	logPath := home.ConsoleLog(inst.Home)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", inst.Name, err)
	}
	// O_APPEND and not a pipe: the server keeps writing when the
	// supervisor dies (a pipe would break and SIGPIPE it), and copy-truncate
	// rotation stays correct.
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: open its log: %w", inst.Name, err)
	}
	defer logFile.Close()
	info, err := logFile.Stat()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", inst.Name, err)
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()

	cmd := exec.Command(script, inst.Args...)
	cmd.Dir = inst.Home
	cmd.Env = instanceEnv(inst)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	exited, err := r.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", inst.Name, err)
	}
	pid := cmd.Process.Pid
	// The reaper owns waiting; drop Go's handle (and its pidfd).
	_ = cmd.Process.Release()
	id, err := proc.Identify(pid)
	if err != nil {
		id = proc.Identity{PID: pid} // already gone; the reaper has its status
	}
	return &launch{script: id, pgid: pid, logOffset: info.Size(), exited: exited}, nil
}

// findServer reads the instance's pid file and returns the server if it is
// this start's: alive and in this start's process group. MI never removes
// the file, so a pid from an earlier start is normal and ignored.
func findServer(inst *state.Instance, l *launch) (proc.Identity, bool) {
	pid, ok := home.ServerPID(inst.Home)
	if !ok {
		return proc.Identity{}, false
	}
	st, err := proc.ReadStat(pid)
	if err != nil || st.Exited() || st.PGID != l.pgid {
		return proc.Identity{}, false
	}
	return st.Identity(), true
}

// tailLines returns the last n lines written to path at or after offset:
// what a failed start printed (e.g. MI's "[ERROR] ... supported only
// between JDK" before it exits 0 without a server).
func tailLines(path string, offset int64, n int) []string {
	s := &logScan{path: path, next: offset}
	var lines []string
	keep := func(line []byte) {
		lines = append(lines, string(bytes.TrimSuffix(line, []byte{'\r'})))
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	for line, _, ok := s.nextLine(); ok; line, _, ok = s.nextLine() {
		keep(line)
	}
	if len(s.pending) > 0 { // the writer has ended: its last line is whole
		keep(s.pending)
	}
	return lines
}

// logScan reads an instance's console log from an offset on, a line at a
// time. Each look reads only what was appended since the previous one: a
// starting instance is probed every few milliseconds, and re-reading its
// whole log each time cost the daemon most of its CPU when twenty
// instances started at once.
type logScan struct {
	path    string
	next    int64  // offset of the first byte not looked at yet
	pending []byte // the unterminated line read by the previous look
}

// maxPendingLine bounds the unterminated line kept between looks: a
// writer that never ends its line must not grow the daemon without end.
// readChunk bounds what one read takes into memory.
const (
	maxPendingLine = 64 << 10
	readChunk      = 1 << 20
)

// nextLine returns the next complete line appended to the log, reading it
// a chunk at a time up to its end; ok is false when there is none yet. An
// unterminated line longer than maxPendingLine is returned as it stands,
// with cut set, and let go.
func (s *logScan) nextLine() (line []byte, cut, ok bool) {
	for {
		if line, rest, complete := bytes.Cut(s.pending, []byte{'\n'}); complete {
			s.pending = rest
			return line, false, true
		}
		if len(s.pending) > maxPendingLine {
			line := s.pending
			s.pending = nil
			return line, true, true
		}
		if !s.readAppended() {
			return nil, false, false
		}
	}
}

// find returns the first complete line, not returned before, that
// contains needle, reading up to the end of the log.
func (s *logScan) find(needle string) (string, bool) {
	for line, cut, ok := s.nextLine(); ok; line, cut, ok = s.nextLine() {
		if bytes.Contains(line, []byte(needle)) {
			if cut {
				line = line[:maxPendingLine]
			}
			return string(line), true
		}
	}
	return "", false
}

// anyPort finds a port in a log line: ":8290" (a time's ":14" is too short).
var anyPort = regexp.MustCompile(`:(\d{4,5})(?:\D|$)`)

// inUseLine finds the port the JVM says is taken as it ends before MI
// starts: its JMX agent, pinned by -Dcom.sun.management.jmxremote.local.port,
// prints "java.rmi.server.ExportException: Port already in use: 19999",
// then the BindException, which names no port.
var inUseLine = regexp.MustCompile(`already in use: (\d{1,5})\b`)

// portIn is the first port line names (see anyPort), if any.
func portIn(line string) (int, bool) {
	m := anyPort.FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	port, err := strconv.Atoi(m[1])
	return port, err == nil && port <= ports.MaxPort
}

// namesPort reports whether line holds ":port" not followed by a digit
// (":8290" is not in ":82901").
func namesPort(line string, port int) bool {
	needle := ":" + strconv.Itoa(port)
	for rest := line; ; {
		i := strings.Index(rest, needle)
		if i < 0 {
			return false
		}
		rest = rest[i+len(needle):]
		if rest == "" || rest[0] < '0' || rest[0] > '9' {
			return true
		}
	}
}

// endOfRun reads what an ended server logged from the scan's place on:
// whether it logged MI's "Shutdown complete" (a graceful end), and its
// last ERROR or FATAL line among the last lines it logged, "" when none
// (a crash's reason, when it gave one; an error long before, a faulty
// CApp hours earlier, is not). Its unterminated last line, which will
// never be ended (a crashed server's last words), is looked at too.
func (s *logScan) endOfRun() (graceful bool, lastError string) {
	after := 0 // lines since lastError
	look := func(line []byte) {
		graceful = graceful || bytes.Contains(line, []byte("Shutdown complete"))
		if bytes.Contains(line, []byte(" ERROR ")) || bytes.Contains(line, []byte(" FATAL ")) {
			lastError, after = string(bytes.TrimSpace(line[:min(len(line), maxErrorLine)])), 0
		} else if len(line) > 0 {
			after++
		}
	}
	for line, _, ok := s.nextLine(); ok; line, _, ok = s.nextLine() {
		look(line)
	}
	look(s.pending)
	s.pending = nil
	if after > linesAfterLastError {
		lastError = ""
	}
	return graceful, lastError
}

// maxErrorLine bounds the log line a crash record quotes;
// linesAfterLastError is how many lines may follow it in the log (a stack
// trace's, the JVM's last words) for it to count as the crash's.
const (
	maxErrorLine        = 300
	linesAfterLastError = 40
)

// readAppended adds to s.pending up to readChunk bytes of what was
// appended to the log since the last look, and reports whether it read
// any.
func (s *logScan) readAppended() bool {
	info, err := os.Stat(s.path)
	if err != nil || info.Size() == s.next {
		return false
	}
	if info.Size() < s.next { // rotated (copy-truncate): read what is there
		s.next, s.pending = 0, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, min(info.Size()-s.next, readChunk))
	n, _ := f.ReadAt(buf, s.next)
	s.next += int64(n)
	// A fresh slice: the lines already looked at are not kept alive.
	s.pending = append(slices.Clip(s.pending), buf[:n]...)
	return n > 0
}

// since formats how long ago t was, for messages.
func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }
