package main

// End-to-end tests that the advice mictl gives can be followed as given:
// the command it names acts on the deployment it was given for.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc/proctest"
	"github.com/mictl/mictl/pkg/shellword"
)

// elsewhereConfig writes the deployment's configuration as ops/prod.toml
// (its instances still under d.dir/instances, where the helpers look) and
// returns the path given with --config, relative to d.dir.
func (d *deployment) elsewhereConfig(instances int) string {
	d.t.Helper()
	d.opsConfig(fmt.Sprintf("host = \"127.0.0.1\"\ninstances = %d\nbase_offset = %d\ninstances_dir = \"../instances\"\n", instances, d.base))
	return filepath.Join("ops", "prod.toml")
}

// opsConfig writes body as ops/prod.toml, a configuration kept apart
// from the deployment's directory (mictl --config ops/prod.toml), and
// returns its absolute path.
func (d *deployment) opsConfig(body string) string {
	d.t.Helper()
	conf := filepath.Join(d.dir, "ops", "prod.toml")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		d.t.Fatal(err)
	}
	return conf
}

// runAdvised runs command, a mictl command line advice named (its words
// unquoted: a test's directory has no space), from another directory than
// the deployment's, as a user pastes it there.
func (d *deployment) runAdvised(command string) {
	d.t.Helper()
	args := strings.Fields(command)
	if len(args) == 0 || args[0] != "mictl" {
		d.t.Fatalf("advice %q is not a mictl command line", command)
	}
	d.cwd = d.t.TempDir()
	defer func() { d.cwd = "" }()
	d.must(append(args[1:], "--timeout", "30s")...)
}

// The daemon of a deployment configured by ops/prod.toml (mictl --config
// ops/prod.toml up) names that file in the advice it writes (an
// instance's last error, as status shows it, and the event log): a held
// port's remedy named a plain mictl up, restart or down, which acts on
// the mictl.toml where it is pasted, or none ("no instances"), never on
// this deployment. Each advised command, pasted in another directory,
// does what the advice says.
func TestDaemonAdviceNamesTheConfigurationItFollows(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	config := d.elsewhereConfig(2)
	d.must("--config", config, "up", "--timeout", "30s", "--max-restarts", "1", "--health-interval", "200ms")
	mictl := "mictl --config " + shellword.Quote(filepath.Join(d.dir, config))

	// mi-1 runs on without its http port, which a stranger took.
	mi1 := d.instance("mi-1")
	port1 := mi1.Ports[ports.HTTP]
	taken := proctest.TakePort(t, mi1.Server.PID, port1)
	restart := mictl + " restart mi-1"
	degraded := fmt.Sprintf("stop pid %d to free port %d, then %s binds it again; or %s down mi-1, then %s up plans mi-1 around the port", os.Getpid(), port1, restart, mictl, mictl)
	d.waitFor("mi-1 degraded for the held port", func() bool { return strings.Contains(d.instance("mi-1").LastError, degraded) })

	// mi-2 crashed, and its restart failed on a port a stranger took.
	port2, stranger := d.restartOntoAStranger("mi-2")
	up := mictl + " up"
	failed := fmt.Sprintf("stop pid %d to free port %d, then %s starts mi-2 again; or %s plans mi-2 around the port", os.Getpid(), port2, up, up)
	if got := d.instance("mi-2").LastError; !strings.Contains(got, failed) {
		t.Fatalf("mi-2's last error: %q, want %q", got, failed)
	}
	for _, want := range []string{degraded, failed} {
		if !strings.Contains(d.events(), want) {
			t.Errorf("the event log does not say %q:\n%s", want, d.events())
		}
	}

	// The advice holds, pasted where no mictl.toml is.
	taken.Close()
	d.runAdvised(restart)
	stranger.Close()
	d.runAdvised(up)
	for _, name := range []string{"mi-1", "mi-2"} {
		if st := d.instance(name).State; st != "ready" {
			t.Errorf("%s is %s after the advised commands, want ready\n%s", name, st, d.events())
		}
	}
}
