package cli

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/syncbuf"
)

// runLogsCmd runs `mictl logs ...` in-process.
func runLogsCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return run(t, append([]string{"logs"}, args...)...)
}

// logsHome writes fake instance homes under a temporary instances dir:
// name → console.log content.
func logsHome(t *testing.T, consoles map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range consoles {
		path := home.ConsoleLog(filepath.Join(dir, name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	logsMI1 = "[2026-11-25 15:00:01,000]  INFO {Carbon} - mi-1 starting\n" +
		"[2026-11-25 15:00:03,000]  INFO {Carbon} - WSO2 Micro Integrator started in 7.52 seconds\n"
	logsMI10 = "[2026-11-25 15:00:02,000] ERROR {Axis2} - bind failed\n" +
		"java.net.BindException: Address already in use\n" +
		"[2026-11-25 15:00:04,000]  INFO {Carbon} - WSO2 Micro Integrator started in 8.01 seconds\n"
)

func TestLogsOneInstance(t *testing.T) {
	inTempDir(t)
	dir := logsHome(t, map[string]string{"mi-1": logsMI1, "mi-10": logsMI10})
	code, out, errOut := runLogsCmd(t, "mi-10", "--instances-dir", dir)
	if code != exitcode.OK || out != logsMI10 {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, _ = runLogsCmd(t, "mi-10", "--instances-dir", dir, "--tail", "1")
	if want := "[2026-11-25 15:00:04,000]  INFO {Carbon} - WSO2 Micro Integrator started in 8.01 seconds\n"; code != exitcode.OK || out != want {
		t.Errorf("--tail 1: exit %d, stdout %q", code, out)
	}
}

func TestLogsAllInstancesMerged(t *testing.T) {
	inTempDir(t)
	dir := logsHome(t, map[string]string{"mi-1": logsMI1, "mi-10": logsMI10, ".mictl": "not an instance\n"})
	// A home that never started and mictl's own .dist have no console.log.
	for _, d := range []string{"mi-2", ".dist"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The instances dir comes from the environment, as from mictl.toml.
	t.Setenv("MICTL_INSTANCES_DIR", dir)
	code, out, errOut := runLogsCmd(t)
	want := `mi-1  | [2026-11-25 15:00:01,000]  INFO {Carbon} - mi-1 starting
mi-10 | [2026-11-25 15:00:02,000] ERROR {Axis2} - bind failed
mi-10 | java.net.BindException: Address already in use
mi-1  | [2026-11-25 15:00:03,000]  INFO {Carbon} - WSO2 Micro Integrator started in 7.52 seconds
mi-10 | [2026-11-25 15:00:04,000]  INFO {Carbon} - WSO2 Micro Integrator started in 8.01 seconds
`
	if code != exitcode.OK || out != want {
		t.Fatalf("exit %d, stdout:\n%s\nwant:\n%s\nstderr:\n%s", code, out, want, errOut)
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour on an output that is not a terminal")
	}

	code, out, _ = runLogsCmd(t, "--since", "2026-11-25 15:00:03")
	if code != exitcode.OK || strings.Contains(out, "bind failed") || strings.Contains(out, "BindException") || !strings.Contains(out, "7.52 seconds") {
		t.Errorf("--since: exit %d, stdout:\n%s", code, out)
	}
	// Named instances, merged the same way; a name given twice counts once.
	if code, named, _ := runLogsCmd(t, "mi-10", "mi-1", "mi-10"); code != exitcode.OK || named != want {
		t.Errorf("logs mi-10 mi-1: exit %d, stdout:\n%s", code, named)
	}
	// A broken mictl.toml is warned about, never in the way.
	if err := os.WriteFile("mictl.toml", []byte("instances = \"two\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runLogsCmd(t, "mi-1"); code != exitcode.OK || out != logsMI1 || !strings.Contains(errOut, "warning: mictl.toml:1:13") {
		t.Errorf("logs with a broken mictl.toml: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestLogsCarbonFile(t *testing.T) {
	inTempDir(t)
	dir := logsHome(t, map[string]string{"mi-1": "script output\n"})
	carbon := home.CarbonLog(filepath.Join(dir, "mi-1"))
	if err := os.MkdirAll(filepath.Dir(carbon), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(carbon, []byte(logsMI1), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runLogsCmd(t, "mi-1", "--file", "carbon", "--instances-dir", dir)
	if code != exitcode.OK || out != logsMI1 {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// After a rotation (the daemon's copy-truncate at 10 MB) console.log is
// empty and its lines are in console.log.1: logs, --tail and --since read
// the copies too, oldest first, as docker logs does.
func TestLogsAcrossRotation(t *testing.T) {
	inTempDir(t)
	dir := logsHome(t, map[string]string{"mi-1": "", "mi-10": logsMI10})
	mi1 := home.ConsoleLog(filepath.Join(dir, "mi-1"))
	older := "[2026-11-25 14:59:59,000]  INFO {Carbon} - before the first rotation\n"
	if err := os.WriteFile(mi1+".2", []byte(older), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mi1+".1", []byte(logsMI1), 0o644); err != nil {
		t.Fatal(err)
	}
	// mi-2 has only a copy left (console.log removed): it still has a log.
	mi2 := home.ConsoleLog(filepath.Join(dir, "mi-2"))
	if err := os.MkdirAll(filepath.Dir(mi2), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mi2+".1", []byte("[2026-11-25 15:00:05,000]  INFO {Carbon} - mi-2 rotated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"mi-1"}, older + logsMI1},
		{[]string{"mi-1", "--tail", "2"}, logsMI1},
		{[]string{"mi-1", "--tail", "5"}, older + logsMI1},
		// -n, as tail, journalctl and docker logs take it: it was an
		// unknown flag (exit 2) to an operator used to them.
		{[]string{"mi-1", "-n", "2"}, logsMI1},
		{[]string{"mi-1", "-n1"}, "[2026-11-25 15:00:03,000]  INFO {Carbon} - WSO2 Micro Integrator started in 7.52 seconds\n"},
		{[]string{"mi-1", "--since", "2026-11-25 15:00:02"}, "[2026-11-25 15:00:03,000]  INFO {Carbon} - WSO2 Micro Integrator started in 7.52 seconds\n"},
		{[]string{"mi-2"}, "[2026-11-25 15:00:05,000]  INFO {Carbon} - mi-2 rotated\n"},
		{[]string{"--tail", "1"}, `mi-1  | [2026-11-25 15:00:03,000]  INFO {Carbon} - WSO2 Micro Integrator started in 7.52 seconds
mi-10 | [2026-11-25 15:00:04,000]  INFO {Carbon} - WSO2 Micro Integrator started in 8.01 seconds
mi-2  | [2026-11-25 15:00:05,000]  INFO {Carbon} - mi-2 rotated
`},
	}
	for _, tt := range tests {
		code, out, errOut := runLogsCmd(t, append(tt.args, "--instances-dir", dir)...)
		if code != exitcode.OK || out != tt.want || errOut != "" {
			t.Errorf("logs %v: exit %d, stdout:\n%s\nwant:\n%s\nstderr:\n%s", tt.args, code, out, tt.want, errOut)
		}
	}
}

func TestLogsNothingToShow(t *testing.T) {
	inTempDir(t)
	// The default directory as typed, as the other commands name it.
	if code, _, errOut := runLogsCmd(t); code != exitcode.OK || errOut != "no instance logs under ./instances; run mictl up first\n" {
		t.Errorf("no instances here: exit %d, stderr %q", code, errOut)
	}
	dir := filepath.Join(t.TempDir(), "instances")
	code, out, errOut := runLogsCmd(t, "--instances-dir", dir)
	if code != exitcode.OK || out != "" || errOut != "no instance logs under "+dir+"; run mictl up first\n" {
		t.Errorf("no instances: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A home that has not started yet is known, with nothing to print.
	if err := os.MkdirAll(filepath.Join(dir, "mi-3"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runLogsCmd(t, "mi-3", "--instances-dir", dir)
	if code != exitcode.OK || out != "" || !strings.Contains(errOut, "mi-3 has no log at") {
		t.Errorf("not started: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestLogsUsageErrors(t *testing.T) {
	inTempDir(t)
	dir := logsHome(t, map[string]string{"mi-1": logsMI1, "mi-2": logsMI1})
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"mi-9"}, `no instance "mi-9" under ` + dir + ": known instances: mi-1, mi-2"},
		{[]string{"MI_1"}, `instance name "MI_1" must be`},
		{[]string{"../etc"}, `instance name "../etc" must be`},
		{[]string{"mi-1", "nope"}, `no instance "nope" under`},
		{[]string{"--tail", "-2"}, "--tail -2: give a number of lines, or -1 for all"},
		{[]string{"--file", "gc"}, `--file "gc": use "console" or "carbon"`},
		{[]string{"--since", "yesterday"}, `--since "yesterday": expected a duration`},
		{[]string{"--tail", "many"}, `--tail "many": expected a whole number`},
	}
	for _, tt := range tests {
		code, out, errOut := runLogsCmd(t, append(tt.args, "--instances-dir", dir)...)
		if code != exitcode.Usage || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("logs %v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

func TestLogsHelp(t *testing.T) {
	code, out, _ := runLogsCmd(t, "--help")
	for _, want := range []string{"Examples:", "mictl logs -f --tail 20", "--since", "--file", "--instances-dir"} {
		if code != exitcode.OK || !strings.Contains(out, want) {
			t.Errorf("help lacks %q (exit %d):\n%s", want, code, out)
		}
	}
}

// Main cannot take a context, so -f is driven through runLogs with one the
// test cancels, as Ctrl-C cancels the command's.
func TestLogsFollowUntilCancelled(t *testing.T) {
	dir := logsHome(t, map[string]string{"mi-1": logsMI1, "mi-10": logsMI10})
	o := &logsOptions{Follow: true, Tail: 1, File: logFileConsole, InstancesDir: dir, Now: time.Now}
	out, errOut, stop := followLogsCmd(t, o)
	waitFor(t, out, "mi-10 | [2026-11-25 15:00:04,000]", errOut)
	f, err := os.OpenFile(home.ConsoleLog(filepath.Join(dir, "mi-1")), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("[2026-11-25 15:01:00,000]  INFO {Carbon} - live line\n")
	waitFor(t, out, "mi-1  | [2026-11-25 15:01:00,000]  INFO {Carbon} - live line\n", errOut)
	if err := stop(); err != nil {
		t.Fatalf("runLogs after cancel: %v", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("%d lines, want 3 (tail 1 of each, one live):\n%s", n, out.String())
	}
}

// -f of every instance follows an instance that gains a log meanwhile (a
// reload added it, or it started for the first time), from its first
// line, with a prefix padded like the others'; it was left out until the
// command was run again.
func TestLogsFollowTakesInNewInstances(t *testing.T) {
	dir := logsHome(t, map[string]string{"mi-1": logsMI1})
	if err := os.MkdirAll(filepath.Join(dir, "mi-2"), 0o755); err != nil { // a home that never started
		t.Fatal(err)
	}
	o := &logsOptions{Follow: true, Tail: 1, File: logFileConsole, InstancesDir: dir, Now: time.Now}
	out, errOut, stop := followLogsCmd(t, o)
	waitFor(t, out, "mi-1 | [2026-11-25 15:00:03,000]", errOut)
	for _, name := range []string{"mi-2", "edge-10"} {
		path := home.ConsoleLog(filepath.Join(dir, name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("first line of "+name+"\nsecond line of "+name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range []string{"mi-2 | first line of mi-2\n", "mi-2 | second line of mi-2\n", "edge-10 | first line of edge-10\n", "edge-10 | second line of edge-10\n"} {
		waitFor(t, out, line, errOut)
	}
	if err := stop(); err != nil {
		t.Fatalf("runLogs after cancel: %v", err)
	}
}

// followLogsCmd runs runLogs with -f in the background until the returned
// stop, which reports what it returned.
func followLogsCmd(t *testing.T, o *logsOptions) (out, errOut *syncbuf.Buffer, stop func() error) {
	t.Helper()
	out, errOut = &syncbuf.Buffer{}, &syncbuf.Buffer{}
	streams := &IOStreams{In: &bytes.Buffer{}, Out: out, ErrOut: errOut}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runLogs(ctx, streams, o) }()
	stopped := false
	stop = func() error {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			stopped = true
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("runLogs did not return after its context was cancelled")
			return nil
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return out, errOut, stop
}

// waitFor waits until buf holds want.
func waitFor(t *testing.T, buf *syncbuf.Buffer, want string, other *syncbuf.Buffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("lacks %q:\n%s\nother stream:\n%s", want, buf.String(), other.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// -f on a home that has not started yet waits for its log, as tail -F
// does, however much of the path is still missing.
func TestLogsFollowMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "mi-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	o := &logsOptions{Names: []string{"mi-1"}, Follow: true, Tail: -1, File: logFileCarbon, InstancesDir: dir, Now: time.Now}
	out, errOut, stop := followLogsCmd(t, o)
	carbon := home.CarbonLog(filepath.Join(dir, "mi-1"))
	waitFor(t, errOut, "waiting for "+carbon+"\n", out)
	if err := os.MkdirAll(filepath.Dir(carbon), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(carbon, []byte(logsMI1), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, logsMI1, errOut)
	if err := stop(); err != nil {
		t.Fatalf("runLogs: %v", err)
	}
	if strings.Contains(errOut.String(), "run mictl up first") {
		t.Errorf("stderr: %s", errOut.String())
	}
}

// fakeServer runs a process that mictl takes for the server of home, as
// it takes MI's: the pid in home's wso2carbon.pid, alive, with home as its
// CARBON_HOME. It ends with the test.
func fakeServer(t *testing.T, dir string) int {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "600")
	cmd.Env = append(os.Environ(), "CARBON_HOME="+abs)
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep to stand for a server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	if err := os.WriteFile(home.PIDFile(abs), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// `rm -rf instances/mi-2/logs` under a running mi-2: logs says so, and
// what brings a log back (a restart), not that mi-2 has to be started;
// -f waits for the new log.
func TestLogsRunningInstanceWithoutLog(t *testing.T) {
	inTempDir(t)
	dir := logsHome(t, map[string]string{"mi-1": logsMI1, "mi-2": logsMI10})
	mi2 := filepath.Join(dir, "mi-2")
	pid := fakeServer(t, mi2)
	if err := os.RemoveAll(home.LogsDir(mi2)); err != nil {
		t.Fatal(err)
	}
	note := fmt.Sprintf("mi-2 runs (pid %d), but its log directory %s is gone", pid, home.LogsDir(mi2))
	// No state file names it: a server mictl did not start.
	// Named with the --instances-dir given: a bare one looks under ./instances.
	restart := "restart it as it was started (mictl did not start it), or end it with mictl down --instances-dir " + dir + " mi-2 and let mictl start it"
	code, out, errOut := runLogsCmd(t, "mi-2", "--instances-dir", dir)
	if code != exitcode.OK || out != "" || !strings.Contains(errOut, note) || !strings.Contains(errOut, restart) || strings.Contains(errOut, "mictl up") {
		t.Errorf("logs mi-2: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// All instances: mi-1's log, and why mi-2 has none.
	code, out, errOut = runLogsCmd(t, "--instances-dir", dir)
	if code != exitcode.OK || !strings.Contains(out, "mi-1 | [2026-11-25 15:00:03,000]") || !strings.Contains(errOut, note) || strings.Contains(errOut, "mictl up") {
		t.Errorf("logs: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Only the file gone.
	if err := os.MkdirAll(home.LogsDir(mi2), 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runLogsCmd(t, "mi-2", "--instances-dir", dir)
	if want := fmt.Sprintf("mi-2 runs (pid %d), but its log %s is gone", pid, home.ConsoleLog(mi2)); code != exitcode.OK || !strings.Contains(errOut, want) {
		t.Errorf("logs mi-2 without console.log: exit %d, stderr %q; want %q", code, errOut, want)
	}
	// One mictl started: mictl restart starts a new log.
	store, err := state.Open(filepath.Join(dir, ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(&state.File{Version: state.SchemaVersion, Instances: []state.Instance{{Name: "mi-2", Server: proc.Identity{PID: pid}}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, errOut = runLogsCmd(t, "mi-2", "--instances-dir", dir); !strings.Contains(errOut, "once it starts again: mictl restart --instances-dir "+dir+" mi-2") {
		t.Errorf("logs mi-2 of a server mictl started: stderr %q; want the advice to restart it", errOut)
	}
	if err := os.RemoveAll(filepath.Join(dir, ".mictl")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(home.LogsDir(mi2)); err != nil {
		t.Fatal(err)
	}

	// -f waits, and shows the log its restart writes.
	o := &logsOptions{Names: []string{"mi-2"}, Follow: true, Tail: -1, File: logFileConsole, InstancesDir: dir, Deployment: supervisor.DeploymentArgs("", dir), Now: time.Now}
	fout, ferr, stop := followLogsCmd(t, o)
	waitFor(t, ferr, "waiting for "+home.ConsoleLog(mi2)+"\n", fout)
	if !strings.Contains(ferr.String(), note) || !strings.Contains(ferr.String(), restart) {
		t.Errorf("logs -f mi-2: stderr %q", ferr.String())
	}
	if err := os.MkdirAll(home.LogsDir(mi2), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(home.ConsoleLog(mi2), []byte(logsMI1), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fout, logsMI1, ferr)
	if err := stop(); err != nil {
		t.Fatalf("runLogs: %v", err)
	}
}

// A deleted log is found among the open files of the process that holds
// it, and not once that process closed it: then nothing of it can be
// read, and logs says so.
func TestHeldOpenFindsADeletedFileWhileItIsOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("a line\n"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	held, err := heldOpen(os.Getpid(), path)
	if err != nil || held == nil {
		t.Fatalf("heldOpen = %v, %v; want the deleted file", held, err)
	}
	if got, err := os.ReadFile(held.Link); err != nil || string(got) != "a line\n" {
		t.Errorf("heldOpen = %q: read %q, %v; want the deleted file's line", held.Link, got, err)
	}
	f.Close()
	if held, err := heldOpen(os.Getpid(), path); held != nil || err != nil {
		t.Errorf("heldOpen of a file closed since = %v, %v; want none", held, err)
	}
	gone := goneLog{name: "mi-1", path: path, pid: 7, restart: "mictl restart mi-1"}
	if note := gone.note(false); !strings.Contains(note, "is gone and the server holds it open no more: nothing of it can be read; its new lines go to "+path+" once it starts again: mictl restart mi-1") {
		t.Errorf("note of a log nobody holds: %s", note)
	}
}

// A server whose open files cannot be looked at (another user's, /proc
// mounted with hidepid) may hold its deleted log open or not: logs said
// it "holds it open no more", which it could not know.
func TestLogsCannotTellWhetherAnUnseenServerHoldsItsLog(t *testing.T) {
	gone := goneLog{name: "mi-1", path: "/i/mi-1/repository/logs/wso2carbon.log", pid: 7, restart: "mictl restart mi-1",
		unseen: fmt.Errorf("/proc/7/fd: %w", fs.ErrPermission)}
	note := gone.note(false)
	want := "mi-1 runs (pid 7), but its log /i/mi-1/repository/logs/wso2carbon.log is gone, and whether the server still holds it open cannot be told: its open files cannot be looked at (/proc/7/fd: permission denied); run mictl logs as the server's user, or as root, to read it through them"
	if !strings.Contains(note, want) || strings.Contains(note, "no more") {
		t.Errorf("note of a log whose server cannot be looked into:\n%s\nwant it saying %q", note, want)
	}
}
