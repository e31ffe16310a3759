package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/proc"
)

// A mictl reload run once the daemon's own reload of the edit (it
// follows mictl.toml) has applied it and MI has failed the CApp ends 3
// all the same, as status does: it counted only the instances it changed
// itself, found none, and exited 0 of two degraded instances.
func TestReloadAfterLiveReloadEndsThree(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	broken := d.car("broken_1.0.0.car", capp.Spec{Name: "broken", Faulty: true})
	d.up(2)
	d.configFile("inplace", d.readFile("mictl.toml")+fmt.Sprintf("capps = [%q]\n", broken))
	d.waitFor("the daemon's own reload to leave mi-1 and mi-2 degraded", func() bool {
		return d.stateIs("mi-1", "degraded") && d.stateIs("mi-2", "degraded")
	})
	code, _, errOut := d.mictl("reload")
	if code != 3 || !strings.Contains(errOut, "not healthy: mi-1 degraded, mi-2 degraded") {
		t.Fatalf("mictl reload after the daemon applied the edit: exit %d, want 3 naming mi-1 and mi-2:\n%s", code, errOut)
	}
}

// A daemon told to stop (SIGTERM) while a mictl reload waits for MI to
// take the CApps it deployed exits at once: it waited for every request
// before exiting, and the reload's wait ended only with the CApp check
// (up to 2 minutes; here MI is held still and never answers).
func TestDaemonStopsDuringAppsWait(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	orders := d.car("orders_1.0.0.car", capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}})
	d.up(1)
	server := d.instance("mi-1").Server.PID
	if err := syscall.Kill(server, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(server, syscall.SIGCONT) })
	daemon, err := proc.Identify(d.daemonPID())
	if err != nil {
		t.Fatal(err)
	}
	d.configFile("inplace", d.readFile("mictl.toml")+fmt.Sprintf("capps = [%q]\n", orders))
	reload := d.start(nil, "reload")
	d.waitFor("the reload to wait for MI", func() bool {
		return strings.Contains(reload.out.String(), "to settle the CApps of mi-1")
	})
	if err := syscall.Kill(daemon.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the daemon to exit", func() bool { return !daemon.Alive() })
	if _, ok := reload.wait(20 * time.Second); !ok {
		t.Fatal("mictl reload still waits after the daemon exited")
	}
}
