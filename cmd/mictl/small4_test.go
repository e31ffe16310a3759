package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// apps of an instance that failed to start said "(mictl up)", where
// status names the up that starts it again: with the --config the
// command was given, since a plain mictl up there plans from that
// directory's own mictl.toml. Both now say the same up.
func TestAppsNamesTheUpStatusNames(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	// docs/mi-facts.md: outside its JDK range the script prints an
	// [ERROR] line and exits 0 without starting java: the instance fails.
	d.env = []string{"MICTL_SIM_REFUSE_START=1"}
	if err := os.MkdirAll(filepath.Join(d.dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("instances = 1\nbase_offset = %d\nhost = \"127.0.0.1\"\n", d.base)
	if err := os.WriteFile(filepath.Join(d.dir, "sub", "m.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := d.mictl("--config", "sub/m.toml", "up", "--timeout", "20s"); code != 3 {
		t.Fatalf("up of a server that never starts: exit %d, want 3\n%s", code, errOut)
	}
	defer d.mictl("--config", "sub/m.toml", "down")
	up := "mictl --config sub/m.toml up"
	if code, _, errOut := d.mictl("--config", "sub/m.toml", "status"); code != 3 || !strings.Contains(errOut, "; "+up+" starts mi-1 again)") {
		t.Fatalf("status: exit %d, want 3 naming %q:\n%s", code, up, errOut)
	}
	want := "not running: its CApps deploy when it starts; " + up + " starts it"
	if out := d.must("--config", "sub/m.toml", "apps"); !strings.Contains(out, "\nmi-1: "+want+"\n") {
		t.Errorf("apps: want the note %q:\n%s", want, out)
	}
	var apps appsJSON
	if err := json.Unmarshal([]byte(d.must("--config", "sub/m.toml", "apps", "-o", "json")), &apps); err != nil {
		t.Fatal(err)
	}
	if len(apps.Instances) != 1 || apps.Instances[0].Note == nil || *apps.Instances[0].Note != want {
		t.Errorf("apps -o json: %+v, want the note %q", apps.Instances, want)
	}
}
