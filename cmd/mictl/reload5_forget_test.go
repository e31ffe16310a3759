package main

import (
	"slices"
	"testing"
)

// An up forgets the last reload's failure (it plans from mictl.toml as
// it is), and the instances that failure left failed with it: they
// stayed in state.json as reload_left_failed, inert, of a failure no
// longer recorded.
func TestUpForgetsTheInstancesAFailedReloadLeftFailed(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.failedRoll()
	if f := d.state(); !f.ReloadBegun || !slices.Equal(f.ReloadLeftFailed, []string{"mi-1"}) {
		t.Fatalf("after the roll failed at mi-1: reload_begun %v, reload_left_failed %v; want true and [mi-1]", f.ReloadBegun, f.ReloadLeftFailed)
	}
	if code, _, errOut := d.mictl("up", "--timeout", "30s"); code != 3 { // onto the same failure
		t.Fatalf("mictl up of mi-1 on the refusing mi_home: exit %d, want 3\n%s", code, errOut)
	}
	if f := d.state(); f.ReloadError != "" || f.ReloadLeftFailed != nil {
		t.Errorf("after mictl up: reload_error %q, reload_left_failed %v; want both forgotten", f.ReloadError, f.ReloadLeftFailed)
	}
}
