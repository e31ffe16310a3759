package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/state"
)

// Ctrl-C while up waits for another command's state lock ends it with
// the exit code of an interrupt (README, "Exit codes"), saying what it
// waited for and that nothing was changed; and nothing was.
func TestUpInterruptedWaitingForTheLock(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	store, err := state.Open(filepath.Join(d.dir, "instances", ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := store.Lock(context.Background()) // another up, preparing its instances
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	up := d.start(nil, "up", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	waiting := fmt.Sprintf(" %d ", up.cmd.Process.Pid)
	d.waitFor("up waiting for the state lock", func() bool {
		locks, _ := os.ReadFile("/proc/locks")
		for _, line := range strings.Split(string(locks), "\n") {
			if strings.Contains(line, "-> FLOCK") && strings.Contains(line, waiting) {
				return true
			}
		}
		return false
	})
	up.signal(t, os.Interrupt)
	err, _ = up.wait(time.Minute)
	var ee *exec.ExitError
	want := "mictl: interrupted while waiting for another mictl command (an up preparing its instances, say) to let go of the state lock " + filepath.Join("instances", ".mictl", "state.lock") + "; nothing was changed\n"
	if !errors.As(err, &ee) || ee.ExitCode() != 130 || !strings.HasSuffix(up.out.String(), want) {
		t.Fatalf("up interrupted: %v, want exit 130 and %q:\n%s", err, want, up.out.String())
	}
	if f := d.state(); len(f.Instances) > 0 || f.Daemon != nil {
		t.Fatalf("the interrupted up changed the state: %+v", f)
	}
}

// Ctrl-C while a command waits for a daemon that does not answer (here
// stopped) ends it saying what it interrupted and what goes on, exit 130:
// the default handler ended it without a word, deploy with its
// declaration already in mictl.toml.
func TestInterruptedWaitForTheDaemonSaysWhatGoesOn(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	orders := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	// check-conflicts asks the daemon whether it holds metrics_addr.
	metrics := filepath.Join(d.dir, "metrics.toml")
	if err := os.WriteFile(metrics, fmt.Appendf(nil, "base_offset = %d\nmetrics_addr = \"127.0.0.1:%d\"\n", d.base, 8280+d.base+99), 0o644); err != nil {
		t.Fatal(err)
	}
	d.stopDaemon()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "mictl: interrupted while waiting for the mictl daemon's answer; nothing was changed\n"},
		{[]string{"restart", "mi-1"}, "mictl: interrupted while waiting for the mictl daemon's answer; nothing was changed\n"},
		{[]string{"check-conflicts", "--config", metrics}, "mictl: interrupted while waiting for the mictl daemon's answer; nothing was changed\n"},
		{[]string{"deploy", orders}, "mictl: interrupted while waiting for the mictl daemon: mictl.toml holds the change, and the daemon applies it once it answers (it follows the file; mictl status shows where it stands)\n"},
	} {
		cmd := d.start(nil, c.args...)
		d.waitFor("mictl "+c.args[0]+" to wait for the daemon", func() bool { return connected(cmd.cmd.Process.Pid) })
		cmd.signal(t, os.Interrupt)
		err, _ := cmd.wait(time.Minute)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 || !strings.HasSuffix(cmd.out.String(), c.want) {
			t.Errorf("mictl %s interrupted: %v, want exit 130 and %q:\n%s", strings.Join(c.args, " "), err, c.want, cmd.out.String())
		}
	}
}

// connected reports whether process pid holds a Unix socket: a command's
// connection to the daemon, the only one it opens before the answer (a
// look at the host's sockets is a netlink socket).
func connected(pid int) bool {
	table, _ := os.ReadFile("/proc/net/unix")
	unix := map[string]bool{} // by inode, the table's 7th column
	for _, line := range strings.Split(string(table), "\n") {
		if fields := strings.Fields(line); len(fields) >= 7 {
			unix["socket:["+fields[6]+"]"] = true
		}
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); unix[target] {
			return true
		}
	}
	return false
}
