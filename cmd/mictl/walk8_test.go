package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// distribution is the distribution mictl status says name runs from.
func (d *deployment) distribution(name string) string {
	d.t.Helper()
	var st struct {
		Instances []struct {
			Distribution *string `json:"distribution"`
		} `json:"instances"`
	}
	if err := json.Unmarshal([]byte(d.must("status", name, "-o", "json")), &st); err != nil {
		d.t.Fatal(err)
	}
	if len(st.Instances) != 1 || st.Instances[0].Distribution == nil {
		d.t.Fatalf("status %s -o json names no distribution", name)
	}
	return *st.Instances[0].Distribution
}

// An upgrade canaried with up --mi-home beside a mictl.toml that still
// names the old distribution: diff notes the file's mi_home is not
// applied, and names the up that applies it. That up used to be the flag
// with the file's value (up --mi-home=), which stood against the file's
// next edit too: the operator's upgrade, mi_home edited to the new
// distribution, was then not applied either. The up named now is the
// last one without the flag, after which the daemon follows mi_home.
func TestTheUpANoteNamesLeavesTheOverriddenKeyToTheFile(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.must("sim", "dist", "next")
	next := filepath.Join(d.dir, "next")
	d.configFile("inplace", "mi_home = \"\"\n")
	d.up(1, "--mi-home="+next)
	if got := d.distribution("mi-1"); got != next {
		t.Fatalf("mi-1 runs from %s after up --mi-home=%s", got, next)
	}
	_, _, errOut := d.mictl("diff")
	_, advice, ok := strings.Cut(errOut, "is not applied: the last mictl up's --mi-home="+next+" stands, and reloads plan with it; ")
	up, _, found := strings.Cut(advice, " applies the file's")
	if !ok || !found {
		t.Fatalf("diff does not name the up that applies mictl.toml's mi_home:\n%s", errOut)
	}
	d.must(append(strings.Fields(strings.TrimPrefix(up, "mictl ")), "--timeout", "30s")...)
	d.must("reload")
	if got := d.distribution("mi-1"); got == next {
		t.Fatalf("mi-1 still runs from %s after the up diff named and a reload", next)
	}
	// The reloads that changed something: after the up's restart of
	// mi-1 the daemon reloads on its own too ("no change"), at times once
	// the count before the edit was read.
	changing := func() int {
		events := d.events()
		return strings.Count(events, " mictl reloaded: ") - strings.Count(events, " mictl reloaded: no change")
	}
	before := changing()
	d.configFile("rename", fmt.Sprintf("mi_home = %q\n", next))
	d.waitFor("the reload of the edit", func() bool { return changing() > before })
	if _, failed := d.reloads(); changing() != before+1 || failed != 0 {
		t.Fatalf("%d reloads changed something and %d failed after the edit, want 1 and 0:\n%s", changing()-before, failed, d.events())
	}
	if got := d.distribution("mi-1"); got != next {
		t.Fatalf("mi-1 runs from %s once mictl.toml's mi_home names %s, after the up diff named (%s); events:\n%s", got, next, up, d.events())
	}
	if want := fmt.Sprintf("mictl up --base-offset=%d --instances=1", d.base); up != want || !strings.HasPrefix(advice, up+" applies the file's, and its later edits") {
		t.Errorf("diff names %q to apply mictl.toml's mi_home, want %q (the last up's other flags), which applies its later edits too", up, want)
	}
}
