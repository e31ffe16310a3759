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

	"github.com/mictl/mictl/pkg/state"
)

// Ctrl-C while up waits for another command's state lock ends it with
// the exit code of an interrupt (README, "Exit codes"), saying what it
// waited for and that nothing was changed; and nothing was.
func TestUpInterruptedWaitingForTheLock(t *testing.T) {
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
