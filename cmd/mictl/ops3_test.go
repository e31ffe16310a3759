package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A console.log deleted under its running server, beside a rotated copy:
// logs showed the copy alone, and logs -f waited for a new file, while
// the server wrote on to the deleted one. Both now read that file through
// /proc/PID/fd, after the copy, and say it was deleted.
func TestLogsReadTheDeletedLogTheServerWritesTo(t *testing.T) {
	d := newDeployment(t)
	d.up(1)
	console := filepath.Join(d.dir, "instances", "mi-1", "logs", "console.log")
	rotated := "[2026-12-05 10:00:00,000]  INFO {Test} - a line of the rotated copy"
	if err := os.WriteFile(console+".1", []byte(rotated+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(console); err != nil {
		t.Fatal(err)
	}
	pid := d.instance("mi-1").Server.PID
	deleted := fmt.Sprintf("mi-1: its log instances/mi-1/logs/console.log was deleted while the server (pid %d) still writes to it: ", pid)
	code, out, errOut := d.mictl("logs", "mi-1")
	if code != 0 || !strings.HasPrefix(out, rotated+"\n") || !strings.Contains(out, "WSO2 Micro Integrator started in") ||
		!strings.Contains(errOut, deleted+fmt.Sprintf("read from /proc/%d/fd/", pid)) {
		t.Fatalf("logs mi-1 with console.log deleted: exit %d, stdout %q, stderr %q; want the copy, then the server's log, said deleted", code, out, errOut)
	}

	follow := d.start(nil, "logs", "-f", "mi-1", "--tail", "1")
	d.waitFor("logs -f to say it follows the deleted log", func() bool {
		return strings.Contains(follow.out.String(), deleted+fmt.Sprintf("followed through /proc/%d/fd/", pid))
	})
	// What the server writes now, as it writes it: to its stdout.
	now := "[2026-12-05 10:00:01,000]  INFO {Test} - written to the deleted log"
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/1", pid), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(now + "\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	d.waitFor("logs -f to show the line written to the deleted log", func() bool { return strings.Contains(follow.out.String(), now+"\n") })
	follow.signal(t, os.Interrupt)
	if err, ok := follow.wait(20 * time.Second); !ok || err != nil {
		t.Errorf("logs -f after Ctrl-C: %v (ended: %v)\n%s", err, ok, follow.out.String())
	}
}
