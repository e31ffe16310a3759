package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc/proctest"
)

// The advice of a daemon started by mictl --config ops/prod.toml up
// --instances-dir instances names both: its own (a port lost by a running
// server) and logs' (the log deleted under it). With --config alone, the
// pasted mictl restart read ops/prod.toml, which puts the instances
// under ops/instances, where none runs. Pasted elsewhere, it restarts mi-1.
func TestAdviceNamesTheInstancesDirGivenByFlag(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	conf := d.opsConfig(fmt.Sprintf("host = \"127.0.0.1\"\ninstances = 1\nbase_offset = %d\n", d.base))
	d.must("--config", "ops/prod.toml", "up", "--instances-dir", "instances", "--timeout", "30s", "--health-interval", "200ms")
	restart := fmt.Sprintf("mictl --config %s restart --instances-dir %s mi-1", conf, filepath.Join(d.dir, "instances"))

	inst := d.instance("mi-1")
	port := inst.Ports[ports.HTTP]
	proctest.DropListener(t, inst.Server.PID, port)
	lost := fmt.Sprintf("http port %d is not listening; %s binds it again", port, restart)
	d.waitFor("mi-1 degraded for the lost port", func() bool { return d.instance("mi-1").LastError == lost })

	if err := os.Remove(filepath.Join(d.dir, "instances", "mi-1", "logs", "console.log")); err != nil {
		t.Fatal(err)
	}
	_, _, errOut := d.mictl("--config", "ops/prod.toml", "logs", "mi-1", "--instances-dir", "instances")
	if !strings.Contains(errOut, "still writes to it: ") || !strings.HasSuffix(strings.TrimSpace(errOut), ": "+restart) {
		t.Errorf("logs mi-1 with its log deleted said:\n%s\nwant it to end %q", errOut, restart)
	}

	d.runAdvised(restart)
	if now := d.instance("mi-1"); now.State != "ready" || now.Server.PID == inst.Server.PID {
		t.Errorf("after the advised restart mi-1 is %s (pid %d, was %d), want ready on a new server\n%s", now.State, now.Server.PID, inst.Server.PID, d.events())
	}
}
