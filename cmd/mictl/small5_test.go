package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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
