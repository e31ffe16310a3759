package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/ports"
)

// An instance the planner places neither where it last ran nor at its
// natural slot, which a stranger holds, gets one note saying both: up
// printed "mi-1 starts at offset B+1, not B+3 where it last ran" and
// "mi-1 planned at offset B+1, not B", which read as a contradiction.
func TestUpSaysOnceWhyAStoppedInstanceMoved(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("up", "--offsets", fmt.Sprint(d.base+3), "--timeout", "30s")
	d.must("down")
	http := ports.DefaultBases()[ports.HTTP] + d.base
	listen(t, http)
	_, _, errOut := d.mictl("up", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	want := fmt.Sprintf("note: mi-1 starts at offset %d, not %d where it last ran (its http port %d was %d): the planner places a stopped instance again and passed over offset %d: its http port %d there is held by pid ",
		d.base+1, d.base+3, http+1, http+3, d.base, http)
	if !strings.Contains(errOut, want) {
		t.Fatalf("up does not say in one note why mi-1 moved (%q):\n%s", want, errOut)
	}
	if strings.Contains(errOut, "planned at offset") {
		t.Fatalf("up says twice that mi-1 moved:\n%s", errOut)
	}
}

// A diff of another configuration file than the daemon follows is a
// preview: its advice is what applies that file (copying it over the
// followed one), and the commands its notes name are those that then
// start what it plans. It said "mictl down and up again to change them",
// the daemon's --config among the settings kept, and advised "mictl
// --config copy.toml up", which is refused while the daemon follows
// mictl.toml.
func TestDiffOfAnotherFileSaysWhatAppliesIt(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	config := fmt.Sprintf("host = \"127.0.0.1\"\nbase_offset = %d\ninstances = 2\n", d.base)
	d.configFile("inplace", config)
	d.must("up", "--timeout", "30s")
	d.must("down", "mi-2")
	if err := os.WriteFile(filepath.Join(d.dir, "copy.toml"), []byte(config+"health_interval = \"10s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, errOut := d.mictl("--config", "copy.toml", "diff")
	for _, want := range []string{
		"to apply copy.toml, copy it over that file (cp copy.toml mictl.toml), which the daemon applies as saved; it keeps its --health-interval \"5s\" (asked: \"10s\") until mictl down and mictl up again",
		"note: mi-2 is stopped, and a reload leaves it so (it starts only instances new to mictl): mictl up starts it",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("diff of copy.toml does not say %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "down and up again to change them") || strings.Contains(errOut, "--config copy.toml up") {
		t.Errorf("diff of copy.toml advises what does not apply it:\n%s", errOut)
	}
}

// mi_home pointed at a copy made by cp -r (not cp -a): the same bytes,
// with the copy's times. diff listed every file of it as changed (lib/
// README.txt), and a reload restarted every instance onto it. Compared by
// content, it is the same distribution as a cp -a copy: nothing to
// restart, and the up that starts from it records it as each home's.
func TestACopyWithNewTimesRestartsNothing(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "wso2mi-4.4.0")
	orig, copied := filepath.Join(d.dir, "wso2mi-4.4.0"), filepath.Join(d.dir, "wso2mi-copy")
	if out, err := exec.Command("cp", "-r", orig, copied).CombinedOutput(); err != nil {
		t.Fatalf("cp -r: %v: %s", err, out)
	}
	d.configFile("inplace", fmt.Sprintf("host = \"127.0.0.1\"\nbase_offset = %d\ninstances = 1\nmi_home = \"wso2mi-4.4.0\"\n", d.base))
	d.must("up", "--timeout", "30s")
	before := d.instance("mi-1").Server
	d.must("up", "--timeout", "30s", "--instances", "2", "--mi-home", "wso2mi-copy")
	d.checkDistributions(map[string]string{"mi-1": copied, "mi-2": copied})
	d.configFile("inplace", fmt.Sprintf("host = \"127.0.0.1\"\nbase_offset = %d\ninstances = 2\nmi_home = \"wso2mi-copy\"\n", d.base))
	if code, out, _ := d.mictl("diff"); code != 0 {
		t.Errorf("diff with mi_home moved to a cp -r copy: exit %d, want 0 (nothing to restart):\n%s", code, out)
	}
	if after := d.instance("mi-1").Server; after != before {
		t.Errorf("mi-1 was restarted onto a cp -r copy of its distribution: server %v, then %v\nevents:\n%s", before, after, d.events())
	}
}

// A failed instance keeps the offset it last ran at, as a running one
// does: mi-1, moved up by a stranger on its natural slot and failed
// since, was started again by up at that slot once the stranger had
// left, and its clients lost it.
func TestUpStartsAFailedInstanceWhereItRan(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	stranger, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ports.DefaultBases()[ports.HTTP]+d.base))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	d.env = []string{"MICTL_SIM_CRASH_AFTER=1s"}
	d.must("up", "--base-offset", fmt.Sprint(d.base), "--max-restarts", "0", "--timeout", "30s")
	d.env = nil
	ran := d.instance("mi-1").Offset
	if ran == d.base {
		t.Fatalf("mi-1 started at offset %d, where the stranger holds its http port", ran)
	}
	d.waitFor("mi-1 failed", func() bool { return d.stateIs("mi-1", "failed") })
	stranger.Close()
	d.must("up", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	if got := d.instance("mi-1").Offset; got != ran {
		t.Errorf("up started the failed mi-1 at offset %d, not %d where it ran", got, ran)
	}
}

// A failed instance keeps its offset only while what placed it there is
// unchanged: up --base-offset after a failed start started mi-1 and mi-2
// where they had failed, without a word, as though the flag were not
// given.
func TestUpPlacesAFailedInstanceAgainWhenItsBaseOffsetChanged(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.env = []string{"MICTL_SIM_REFUSE_START=1"}
	d.mictl("up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	d.env = nil
	if !d.stateIs("mi-1", "failed") || !d.stateIs("mi-2", "failed") {
		t.Fatalf("mi-1 and mi-2 did not fail to start:\n%s", d.events())
	}
	moved := d.base + 50
	_, _, errOut := d.mictl("up", "--instances", "2", "--base-offset", fmt.Sprint(moved), "--timeout", "30s")
	for i, name := range []string{"mi-1", "mi-2"} {
		if got := d.instance(name).Offset; got != moved+i {
			t.Errorf("up --base-offset %d started the failed %s at offset %d, not %d", moved, name, got, moved+i)
		}
		want := fmt.Sprintf("note: %s starts at offset %d, not %d where it last ran (its http port %d was %d): the planner places a failed instance again, as what placed it there changed (base_offset %d, now %d); ",
			name, moved+i, d.base+i, ports.DefaultBases()[ports.HTTP]+moved+i, ports.DefaultBases()[ports.HTTP]+d.base+i, d.base, moved)
		if !strings.Contains(errOut, want) {
			t.Errorf("up does not say why %s moved (%q):\n%s", name, want, errOut)
		}
	}
}
