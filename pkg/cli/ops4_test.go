package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// The commands that up's Ctrl-C message and the views' warning of an
// ended daemon name act on the deployment they are about: after mictl
// --config ops/prod.toml up --instances-dir homes, a bare mictl status
// read another mictl.toml (or none) and looked under ./instances.
func TestClientAdviceNamesTheDeployment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("MICTL_INSTANCES_DIR", "")
	prod, homes := filepath.Join(dir, "ops", "prod.toml"), filepath.Join(dir, "homes")
	if err := os.MkdirAll(filepath.Dir(prod), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prod, []byte("instances = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mictl := "mictl --config " + prod
	deployment := supervisor.DeploymentArgs(prod, homes)

	err := startFailure(exitcode.With(exitcode.Interrupted, errors.New("interrupted")), deployment)
	if want := "(" + mictl + " status --instances-dir " + homes + " shows them, " + mictl + " down --instances-dir " + homes + " stops them)"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("up interrupted: %v, want it to end %q", err, want)
	}

	f := &state.File{Daemon: &state.Daemon{Identity: proc.Identity{PID: os.Getpid(), StartTime: 1}, Args: deployment},
		Instances: []state.Instance{{Name: "mi-1", State: state.StateReady}}}
	if want := "until " + mictl + " status --instances-dir " + homes + " (or " + mictl + " up --instances-dir " + homes + ") starts a new daemon"; !strings.Contains(unsupervised(f), want) {
		t.Errorf("the warning of an ended daemon: %q, want it to say %q", unsupervised(f), want)
	}
}
