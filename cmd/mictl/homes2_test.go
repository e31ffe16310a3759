package main

import (
	"bytes"
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
