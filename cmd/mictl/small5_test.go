package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mictl daemon started by hand (or by a systemd unit) where another
// daemon supervises the instances exited 0 saying nothing, whether that
// daemon answered or held the daemon lock past the 10 s it waits for a
// dying one: its user could not tell it supervised nothing. It now says
// who does and what to do, and exits 2, as up --foreground does there.
func TestDaemonByHandSaysWhoSupervisesInstead(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	instances := filepath.Join(d.dir, "instances")
	pid := d.daemonPID()
	code, _, errOut := d.mictl("daemon")
	want := fmt.Sprintf("a mictl daemon (pid %d) already supervises the instances under %s, so this daemon exits: to supervise them from here instead, end that daemon with kill %[1]d (the instances keep running), then run mictl daemon again", pid, instances)
	if code != 2 || !strings.Contains(errOut, want) {
		t.Fatalf("mictl daemon beside a daemon that answers: exit %d, want 2 saying %q:\n%s", code, want, errOut)
	}
	d.must("down")
	// A process that holds the lock without answering, past the wait.
	lock, err := os.OpenFile(filepath.Join(instances, ".mictl", "daemon.lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = d.mictl("daemon")
	want = "another mictl process (a mictl daemon, or a mictl down stopping the instances itself) already supervises the instances under " + instances + ", so this daemon exits: to supervise them from here instead, run mictl daemon again once it has ended"
	if code != 2 || !strings.Contains(errOut, want) {
		t.Fatalf("mictl daemon while the lock stays held: exit %d, want 2 saying %q:\n%s", code, want, errOut)
	}
}

// The note that a setting of mictl.toml is overridden by the last up's
// flag names the up that applies the file's value: after an up given
// --instances-dir, a plain mictl up started a second set of instances
// under the file's instances_dir. reload and diff both name it now.
func TestOverriddenNoteNamesTheInstancesDirOfTheUp(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base))
	other := filepath.Join(d.dir, "other")
	d.must("up", "--instances", "1", "--instances-dir", "other", "--timeout", "30s")
	want := fmt.Sprintf("instances = 2 (%s:1:1) is not applied: the last mictl up's --instances=1 stands, and reloads plan with it; mictl up --instances-dir %s applies the file's, and its later edits", filepath.Join(d.dir, "mictl.toml"), other)
	for _, verb := range []string{"reload", "diff"} {
		if _, _, errOut := d.mictl(verb, "--instances-dir", "other"); !strings.Contains(errOut, want) {
			t.Errorf("mictl %s --instances-dir other: want %q:\n%s", verb, want, errOut)
		}
	}
}

// logs -f of an instance whose log was deleted under its server kept
// that file open, read through /proc/PID/fd, once the server had ended
// (mictl down) with nothing to start it again: its disk space stayed in
// use for as long as logs -f ran. It now lets it go, says so, and
// follows the new log of the instance's next start.
func TestLogsFollowLetsADeletedLogGoOnceItsServerEnds(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	log := filepath.Join(d.dir, "instances", "mi-1", "logs", "console.log")
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	follow := d.start(nil, "logs", "-f", "mi-1")
	fds := fmt.Sprintf("/proc/%d/fd", follow.cmd.Process.Pid)
	holds := func() bool {
		entries, _ := os.ReadDir(fds)
		for _, e := range entries {
			if target, _ := os.Readlink(filepath.Join(fds, e.Name())); target == log+" (deleted)" {
				return true
			}
		}
		return false
	}
	d.waitFor("logs -f to follow the deleted log", holds)
	d.must("down")
	d.waitFor("logs -f to let the deleted log go", func() bool { return !holds() })
	want := "mi-1: the server that wrote to the deleted log has ended: it is let go, its space freed; the new log at instances/mi-1/logs/console.log is followed once mi-1 starts again\n"
	d.waitFor("logs -f to say it let the deleted log go", func() bool { return strings.Contains(follow.out.String(), want) })
	d.up(1)
	d.waitFor("logs -f to follow the new log", func() bool {
		return strings.Count(follow.out.String(), "Starting WSO2 Micro Integrator") == 2
	})
	follow.signal(t, os.Interrupt)
	if err, ok := follow.wait(time.Minute); !ok || err != nil {
		t.Fatalf("logs -f after Ctrl-C: %v (ended: %v)\n%s", err, ok, follow.out.String())
	}
}
