// Package proctest finds the processes a test left behind, so tests that
// start servers can prove they clean up every one of them.
package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/proc"
)

// Under lists the live processes (zombies excluded) other than this one
// that belong to a test directory: their working directory or their
// CARBON_HOME lies under root.
func Under(root string) []int {
	all, err := proc.List()
	if err != nil {
		return nil
	}
	root = filepath.Clean(root) + string(filepath.Separator)
	var out []int
	for _, st := range all {
		if st.PID == os.Getpid() || st.Exited() {
			continue
		}
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", st.PID))
		if strings.HasPrefix(cwd+string(filepath.Separator), root) || strings.HasPrefix(proc.Getenv(st.PID, "CARBON_HOME")+string(filepath.Separator), root) {
			out = append(out, st.PID)
		}
	}
	return out
}

// Servers lists the live simulated servers (`mictl sim run`, or a test
// binary standing in for mictl) under root, keyed by the base name of the
// directory each runs in: its instance's home. Found by home rather than
// through a state file, it shows what a state file may miss: a duplicate,
// an orphan, a server that outlived its stop.
func Servers(root string) map[string][]int {
	out := map[string][]int{}
	for _, pid := range Under(root) {
		if runsSim(proc.Args(pid)) {
			cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
			out[filepath.Base(cwd)] = append(out[filepath.Base(cwd)], pid)
		}
	}
	return out
}

// runsSim reports whether args are a simulated server's command line:
// `mictl sim run` (or a test binary standing in for mictl), or
// `/path/to/mictl-sim run`, which the simulator distribution's start
// script runs when mictl-sim lies beside mictl.
func runsSim(args []string) bool {
	for i := 0; i+1 < len(args); i++ {
		if (args[i] == "sim" || filepath.Base(args[i]) == "mictl-sim") && args[i+1] == "run" {
			return true
		}
	}
	return false
}

// Describe names pids with their command lines, for a failure message.
func Describe(pids []int) string {
	parts := make([]string, len(pids))
	for i, pid := range pids {
		parts[i] = fmt.Sprintf("pid %d (%s)", pid, strings.Join(proc.Args(pid), " "))
	}
	return strings.Join(parts, "; ")
}

// Reap waits up to grace for the processes under root to end by
// themselves, then SIGKILLs what is left and returns those pids: an empty
// result means the test cleaned up after itself.
func Reap(root string, grace time.Duration) []int {
	deadline := time.Now().Add(grace)
	for {
		left := Under(root)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartGroup runs sh -c script in a process group of its own, as mictl
// runs an instance, and kills the whole group (and reaps the script) when
// the test ends, pass or fail. It returns the group's id.
func StartGroup(tb testing.TB, script string) int {
	tb.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %q: %v", script, err)
	}
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait() // only says it was killed
	})
	return cmd.Process.Pid
}
