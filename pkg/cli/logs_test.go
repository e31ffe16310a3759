package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/home"
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
	out, errOut := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	streams := &IOStreams{In: &bytes.Buffer{}, Out: out, ErrOut: errOut}
	o := &logsOptions{Follow: true, Tail: 1, File: logFileConsole, InstancesDir: dir, Now: time.Now}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runLogs(ctx, streams, o) }()

	waitOut := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("stdout lacks %q:\n%s\nstderr:\n%s", want, out.String(), errOut.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitOut("mi-10 | [2026-11-25 15:00:04,000]")
	f, err := os.OpenFile(home.ConsoleLog(filepath.Join(dir, "mi-1")), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("[2026-11-25 15:01:00,000]  INFO {Carbon} - live line\n")
	waitOut("mi-1  | [2026-11-25 15:01:00,000]  INFO {Carbon} - live line\n")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runLogs after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runLogs did not return after its context was cancelled")
	}
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("%d lines, want 3 (tail 1 of each, one live):\n%s", n, out.String())
	}
}

func TestLogsFollowMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "mi-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	streams, _, errOut := testStreams()
	o := &logsOptions{Names: []string{"mi-1"}, Follow: true, Tail: -1, File: logFileCarbon, InstancesDir: dir, Now: time.Now}
	err := runLogs(context.Background(), streams, o)
	if err == nil || exitcode.Of(err) != exitcode.Runtime || !strings.Contains(err.Error(), "run mictl up first") {
		t.Fatalf("err = %v (exit %d), stderr %q", err, exitcode.Of(err), errOut.String())
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err does not wrap ErrNotExist: %v", err)
	}
}
