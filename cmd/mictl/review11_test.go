package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A reload that restarts an instance whose home predates mictl's record
// of its renders keeps the file it renders over, as restart and up do,
// and says so (an edit-kept event): it set the file aside without a
// word, its reason saying only "deployment.toml changed".
func TestReloadSaysTheFileItKeptOfAHomeWithoutItsRecord(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	conf, _, edited := d.upWithMi1ConfEdited(1)
	if err := os.Remove(filepath.Join(filepath.Dir(filepath.Dir(conf)), ".mictl-deployment.toml")); err != nil {
		t.Fatal(err)
	}
	d.configFile("inplace", d.readFile("mictl.toml")+"\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"mi-1.example\" }\n")
	d.must("reload")
	if want := " mi-1 edit-kept: " + conf + " differs from what mictl renders"; !strings.Contains(d.events(), want) {
		t.Errorf("the event log does not say the file kept (%q):\n%s", want, d.events())
	}
	if got, _ := os.ReadFile(conf + ".edited"); !bytes.Equal(got, edited) {
		t.Errorf("%s.edited holds %q, want the file as it was %q", conf, got, edited)
	}
}

// A comment edited in a home's own deployment.toml is not what diff's
// comments note means (the distribution's comments a home lacks): its
// advice, a restart, would set the edit aside. The home is left out of
// comments; its next start says the edit kept.
func TestDiffDoesNotAdviseARestartOverACommentEditedInTheHome(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	conf := filepath.Join(d.instance("mi-1").Home, "conf", "deployment.toml")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, append(data, "# ops: keep the keystore path\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Comments []string `json:"comments"`
	}
	if err := json.Unmarshal([]byte(d.must("diff", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Comments == nil || len(got.Comments) > 0 {
		t.Errorf("diff -o json after a comment edited in mi-1's home: comments %q, want []", got.Comments)
	}
	if _, _, errOut := d.mictl("diff"); strings.Contains(errOut, "restart mi-1") {
		t.Errorf("diff advises restarting mi-1 over its edit:\n%s", errOut)
	}
}
