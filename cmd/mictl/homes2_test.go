package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A home an older mictl rendered has no .mictl-deployment.toml, its
// record of what mictl rendered there: a hand edit of its
// conf/deployment.toml was replaced by mictl restart without a word. The
// restart keeps the file as conf/deployment.toml.edited, as it keeps an
// edit it can tell, and says why: the home predates the record, so it
// makes no claim that the file was edited.
func TestRestartKeepsTheDeploymentTomlOfAHomeWithoutItsRecord(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	conf, rendered, edited := d.upWithMi1ConfEdited(1)
	if err := os.Remove(filepath.Join(filepath.Dir(filepath.Dir(conf)), ".mictl-deployment.toml")); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := d.mictl("restart", "mi-1")
	want := "warning: mi-1: " + conf + " differs from what mictl renders"
	if code != 0 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "the home predates mictl's record") ||
		!strings.Contains(errOut, "kept as "+conf+".edited") || strings.Contains(errOut, "was edited in the home") {
		t.Errorf("restart of mi-1, its file changed in a home without its record: exit %d, said:\n%s\nwant exit 0, %q, why, where the file is kept, and no claim of an edit", code, errOut, want)
	}
	if got, _ := os.ReadFile(conf + ".edited"); !bytes.Equal(got, edited) {
		t.Errorf("%s.edited holds %q, want the file as it was %q", conf, got, edited)
	}
	if got, _ := os.ReadFile(conf); !bytes.Equal(got, rendered) {
		t.Errorf("%s after the restart: %q, want it rendered again: %q", conf, got, rendered)
	}
}

// A comment edited in mi_home's deployment.toml restarts nothing, and
// diff said "no changes" while the homes lacked it until their next
// start. It still changes nothing for a reload (exit 0), and says which
// homes take the edit at their next start, comments in its JSON; once
// restarted, the home has it, and diff says nothing of it.
func TestDiffSaysAHomeLacksACommentEditedInMIHome(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.upFromDist(1)
	comments := func() []string {
		t.Helper()
		var got struct {
			Comments []string `json:"comments"`
		}
		if err := json.Unmarshal([]byte(d.must("diff", "-o", "json")), &got); err != nil {
			t.Fatal(err)
		}
		return got.Comments
	}
	if got := comments(); got == nil || len(got) > 0 {
		t.Errorf("diff -o json after up: comments %q, want []", got)
	}

	src := filepath.Join(d.dir, "dist", "conf", "deployment.toml")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, append([]byte("# ops: OPS-7, the keystore moves next week\n"), data...), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := d.mictl("diff")
	if want := "note: mi-1: conf/deployment.toml in the home differs from what mictl renders in comments or layout only, which restarts nothing: applied at each instance's next start"; code != 0 || !strings.Contains(out, "no changes") || !strings.Contains(errOut, want) {
		t.Errorf("diff after a comment edited in mi_home: exit %d, said:\n%s%s\nwant exit 0, no changes, and %q", code, out, errOut, want)
	}
	if got := comments(); len(got) != 1 || got[0] != "mi-1" {
		t.Errorf("diff -o json after a comment edited in mi_home: comments %q, want [mi-1]", got)
	}

	d.must("restart", "mi-1")
	if got := comments(); got == nil || len(got) > 0 {
		t.Errorf("diff -o json after the restart: comments %q, want []", got)
	}
	if _, _, errOut := d.mictl("diff"); strings.Contains(errOut, "comments or layout") {
		t.Errorf("diff after the restart still notes the comment:\n%s", errOut)
	}
}
