package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The two ways an instance's console.log leaves its place under a running
// server: the daemon's rotation at 10 MB (console.log.1 takes its lines,
// console.log is left empty) and `rm -rf logs`.
func TestLogsAcrossRotationAndRemovedLogs(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	logDir := filepath.Join(d.dir, "instances", "mi-1", "logs")
	console := filepath.Join(logDir, "console.log")

	// Past the daemon's 10 MB, then the line --tail must find in the copy.
	f, err := os.OpenFile(console, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().Format("2006-01-02 15:04:05,000")
	filler := strings.Repeat(fmt.Sprintf("[%s]  INFO {Test} - %s\n", stamp, strings.Repeat("x", 60)), 4096)
	for range (10<<20)/len(filler) + 1 {
		if _, err := f.WriteString(filler); err != nil {
			t.Fatal(err)
		}
	}
	last := fmt.Sprintf("[%s]  INFO {Test} - the last line before the rotation", stamp)
	if _, err := f.WriteString(last + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d.waitFor("the daemon to rotate console.log", func() bool {
		_, err := os.Stat(console + ".1")
		return err == nil
	})
	// The line is in console.log.1 now: a few lines of the server's may
	// have followed it in console.log since.
	for _, args := range [][]string{{"--tail", "3"}, {"--since", "1h", "--tail", "3"}} {
		if out := d.must(append([]string{"logs", "mi-1"}, args...)...); !strings.Contains(out, last+"\n") {
			t.Errorf("logs mi-1 %v after the rotation: %q, want it to hold %q", args, out, last)
		}
	}

	if err := os.RemoveAll(logDir); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := d.mictl("logs", "mi-1")
	pid := d.instance("mi-1").Server.PID
	// The server still holds console.log open: read from there (empty
	// since the rotation truncated it), and said to be deleted.
	if want := fmt.Sprintf("mi-1: its log directory instances/mi-1/logs was deleted while the server (pid %d) still writes to it: read from /proc/%d/fd/", pid, pid); code != 0 || out != "" ||
		!strings.Contains(errOut, want) || !strings.Contains(errOut, "mictl restart mi-1") || strings.Contains(errOut, "mictl up") {
		t.Errorf("logs mi-1 without its logs directory: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	// -f follows the deleted file, then the log the restart starts.
	follow := d.start([]string{"MICTL_SIM_STARTUP_DELAY=0"}, "logs", "-f", "mi-1")
	d.waitFor("logs -f to follow the deleted log", func() bool {
		return strings.Contains(follow.out.String(), fmt.Sprintf("still writes to it: followed through /proc/%d/fd/", pid))
	})
	d.must("restart", "mi-1")
	d.waitFor("logs -f to show the restarted server's log", func() bool {
		return strings.Contains(follow.out.String(), "WSO2 Micro Integrator started in")
	})
	follow.signal(t, os.Interrupt)
	if err, ok := follow.wait(20 * time.Second); !ok || err != nil {
		t.Errorf("logs -f after Ctrl-C: %v (ended: %v)\n%s", err, ok, follow.out.String())
	}
}
