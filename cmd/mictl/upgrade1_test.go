package main

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/mictl/mictl/pkg/companion/companiontest"
	"github.com/mictl/mictl/pkg/proc"
)

// The way README gives to replace a daemon (one of an older build, after
// an upgrade) without stopping the instances: kill N, then mictl status,
// which starts a daemon with the old one's arguments. A daemon ended so
// removed its record from the state file, arguments and all: the new one
// ran with the defaults (--restart on-failure --max-restarts 5), the
// last up's --restart always --max-restarts 9 --backoff 1s silently gone,
// and until then no view said that nothing supervised the instances.
func TestDaemonEndedBySignalLeavesItsArgumentsToTheNext(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1, "--restart", "always", "--max-restarts", "9", "--backoff", "1s")
	server := d.instance("mi-1").Server
	old, err := proc.Identify(d.daemonPID())
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Signal(old, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the daemon to exit", func() bool { return !old.Alive() })

	_, _, errOut := d.mictl("ports", "table")
	if want := fmt.Sprintf("the mictl daemon (pid %d) had ended", old.PID); !strings.Contains(errOut, want) {
		t.Errorf("ports table once the daemon ended: stderr\n%s\nwant a warning that %s", errOut, want)
	}
	d.must("status")
	_, args := d.daemonCommandLine()
	for _, flag := range [][]string{{"--restart", "always"}, {"--max-restarts", "9"}, {"--backoff", "1s"}} {
		if i := slices.Index(args, flag[0]); i < 0 || i+1 >= len(args) || args[i+1] != flag[1] {
			t.Errorf("the daemon status started runs with %q, want %s %s as the last up gave it", args, flag[0], flag[1])
		}
	}
	if inst := d.instance("mi-1"); inst.Server != server || inst.State != "ready" {
		t.Fatalf("mi-1 after the daemon's replacement: %s, server %v (before: %v); want the same server, ready\nevents:\n%s", inst.State, inst.Server, server, d.events())
	}
}

// A restart after an upgrade is carried out by the daemon of the old
// build, with its own code, as a reload, a deploy or a status would be:
// it says so as they do. It said nothing, and the operator took the
// restart for the new build's.
func TestRestartUnderADaemonOfAnotherBuildSaysSo(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.exe = companiontest.Build(t, t.TempDir())
	d.up(1)
	old := d.daemonPID()
	d.exe = companiontest.Build(t, t.TempDir())
	_, _, errOut := d.mictl("restart", "mi-1")
	if want := fmt.Sprintf("warning: the running mictl daemon (pid %d) is from another build of mictl", old); !strings.Contains(errOut, want) {
		t.Errorf("restart of the new build under the old build's daemon: stderr\n%s\nwant %q", errOut, want)
	}
}

// A daemon that ended while its instances ran (killed -9, crashed, or
// ended by kill N to replace one of an older build) is replaced by the
// next command with its --restart, --max-restarts and --backoff, as
// status replaces it: a restart or a plain up, whose flags of those
// were not given, started it with their defaults, a policy the operator
// never asked for, said nowhere. A flag given still counts, and after a
// down the defaults stand.
func TestDaemonStartedByRestartOrUpKeepsTheEndedOnesPolicy(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1, "--restart", "always", "--max-restarts", "9", "--backoff", "1s")
	runsWith := func(after string, want ...string) {
		t.Helper()
		_, args := d.daemonCommandLine()
		for i := 0; i+1 < len(want); i += 2 {
			if j := slices.Index(args, want[i]); j < 0 || j+1 >= len(args) || args[j+1] != want[i+1] {
				t.Errorf("the daemon %s started runs with %q, want %s %s", after, args, want[i], want[i+1])
			}
		}
	}
	d.killDaemon()
	d.must("restart", "mi-1")
	runsWith("restart", "--restart", "always", "--max-restarts", "9", "--backoff", "1s")
	d.killDaemon()
	d.up(1, "--max-restarts", "7")
	runsWith("an up given --max-restarts alone", "--restart", "always", "--max-restarts", "7", "--backoff", "1s")
	// A down, which stops them itself with no daemon, leaves nothing for
	// the ended daemon's policy to go on with.
	d.killDaemon()
	d.must("down")
	d.up(1)
	runsWith("an up after a down", "--restart", "on-failure", "--max-restarts", "5", "--backoff", "250ms")
}
