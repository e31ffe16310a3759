package main

import (
	"fmt"
	"os"
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
