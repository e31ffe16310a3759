package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A console.log deleted under its running server, beside a rotated copy:
// logs showed the copy alone, and logs -f waited for a new file, while
// the server wrote on to the deleted one. Both now read that file through
// /proc/PID/fd, after the copy, and say it was deleted.
func TestLogsReadTheDeletedLogTheServerWritesTo(t *testing.T) {
	t.Parallel()
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

// A daemon taking over a crash loop with a lower --max-restarts than its
// predecessor's gives up at once: it said "gave up after 1 restart in a
// row", its limit, beside RESTARTS 2, both made in a row. The events log
// and status NAME now say the count RESTARTS shows.
func TestGivingUpCountsTheRestartsMade(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_CRASH_AFTER=400ms"}
	d.up(1, "--max-restarts", "5", "--backoff", "2s")
	// The second restart is waited for: counted in a row, not yet made.
	d.waitFor("the second backoff", func() bool { inst := d.instance("mi-1"); return inst.State == "backoff" && inst.Restarts == 1 })
	d.killDaemon()
	// The daemon in the foreground takes the loop over, makes the restart
	// waited for, and leaves once it gave up.
	daemon := d.start(d.env, "daemon", "--max-restarts", "1", "--backoff", "100ms")
	if err, ok := daemon.wait(time.Minute); !ok || err != nil {
		t.Fatalf("mictl daemon: %v (ended: %v)\n%s", err, ok, daemon.out.String())
	}
	made := d.instance("mi-1").Restarts
	gaveUp := fmt.Sprintf("gave up after %d restarts in a row (--max-restarts 1)", made)
	if st := d.instance("mi-1").State; st != "failed" || made != 2 {
		t.Fatalf("mi-1 %s after %d restarts, want failed after 2:\n%s", st, made, d.events())
	}
	if failed := regexp.MustCompile(`(?m) mi-1 failed: .*$`).FindString(d.events()); !strings.HasSuffix(failed, "; "+gaveUp) {
		t.Errorf("the events log says %q, want it to end %q", failed, gaveUp)
	}
	out := d.faulted("mi-1", "status", "mi-1")
	if !strings.Contains(out, fmt.Sprintf("restarts:     %d\n", made)) || !strings.Contains(out, "health:       "+gaveUp+": ") {
		t.Errorf("status mi-1 does not say %q beside restarts %d:\n%s", gaveUp, made, out)
	}
}

// The advice of status's footer on a refused reload names the
// configuration status was given: a bare mictl reload, pasted after
// mictl --config ops/prod.toml status, reloads another deployment's
// daemon, or none. The file is broken (what the reload refused), and is
// named all the same.
func TestStatusFooterAdviceNamesTheConfiguration(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	good := fmt.Sprintf("instances = 1\nbase_offset = %d\ninstances_dir = %q\n", d.base, filepath.Join(d.dir, "instances"))
	d.opsConfig(good)
	d.must("--config", "ops/prod.toml", "up", "--timeout", "30s")
	d.opsConfig(good + "offset_step = -5\n")
	var errOut string
	d.waitFor("status to say the reload was refused", func() bool {
		_, _, errOut = d.mictl("--config", "ops/prod.toml", "status")
		return strings.Contains(errOut, "reload failed: ")
	})
	if want := "mictl --config ops/prod.toml reload applies it (mictl --config ops/prod.toml diff shows what it changes)"; !strings.Contains(errOut, want) {
		t.Errorf("status's footer does not say %q:\n%s", want, errOut)
	}
}

// A down interrupted while the daemon stops the instances says what
// shows where the stop stands as pasted for the deployment: it said a
// bare mictl status, which, after mictl --config ops/prod.toml down
// --instances-dir homes, reads another mictl.toml and looks under
// ./instances, where nothing runs.
func TestInterruptedCallAdviceNamesTheDeployment(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	conf := d.opsConfig(fmt.Sprintf("instances = 1\nbase_offset = %d\n", d.base))
	homes := filepath.Join(d.dir, "homes")
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=3s"}
	d.must("--config", "ops/prod.toml", "up", "--instances-dir", "homes", "--timeout", "30s")
	down := d.start(d.env, "--config", "ops/prod.toml", "down", "--instances-dir", "homes")
	d.waitFor("down to wait for the stop", func() bool { return strings.Contains(down.out.String(), "mi-1 stopping") })
	down.signal(t, os.Interrupt)
	if _, ok := down.wait(time.Minute); !ok {
		t.Fatalf("down went on after Ctrl-C:\n%s", down.out.String())
	}
	want := fmt.Sprintf("mictl: interrupted while the mictl daemon stops the instances: it goes on (mictl --config %s status --instances-dir %s shows where it stands)\n", conf, homes)
	if !strings.HasSuffix(down.out.String(), want) {
		t.Errorf("down interrupted said:\n%s\nwant it to end %q", down.out.String(), want)
	}
	// Pasted, it shows the stop.
	_, out, _ := d.mictl("--config", conf, "status", "--instances-dir", homes)
	if !strings.Contains(out, "mi-1 ") {
		t.Errorf("the advised status shows no mi-1:\n%s", out)
	}
}
