package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
)

// A CApp rebuilt while the daemon's reload deploys it (found by the
// CApp chaos run: an operator rebuilding a .car twice in a row) is not
// copied into a home as the build the reload planned. The rebuild that
// moves orders' inbound port by one has each instance take its
// neighbour's old port, so the reload gives it to mi-3 first and has mi-2
// wait for mi-3's MI to let go; the file is rebuilt back meanwhile. Before,
// mi-2 got the bytes of the moment, recorded as the planned build: its MI
// kept the old port, mi-1 waited two minutes for it (every reload and
// deploy queued behind), the reload then failed naming that port, and the
// record said mi-2 ran a build it did not. Now the copy fails at once
// naming the file, and the daemon's next reload (the rebuild's) deploys
// the build the file holds to every instance.
func TestCAppRebuiltMidRedeploy(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	build := func(port int) []byte {
		var b bytes.Buffer
		spec := capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}, Inbounds: []capp.InboundSpec{{Port: port}}}
		if err := capp.Build(&b, spec); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	first, moved := build(8085), build(8086)
	car := d.writeCar("orders_1.0.0.car", first)
	// MI scans carbonapps/ on a timer: the redeploy's wait for mi-3 to let
	// go of its old port lasts until its next scan, time to rebuild in.
	d.env = []string{"MICTL_SIM_DEPLOY_INTERVAL=1s"}
	d.up(3)
	d.env = nil
	d.must("deploy", car, "--wait")
	d.writeCar("orders_1.0.0.car", moved) // the daemon reloads by itself
	d.waitFor("mi-2's redeploy to wait for mi-3's port", func() bool {
		return strings.Contains(d.events(), "mi-2 redeploy-waiting")
	})
	d.writeCar("orders_1.0.0.car", first)
	d.waitFor("the reload to fail", func() bool { return strings.Contains(d.events(), "reload-failed") })
	if ev := d.events(); !strings.Contains(ev, "was rewritten while it was deployed") {
		t.Fatalf("the reload during which orders_1.0.0.car was rebuilt failed for another reason; events:\n%s", ev)
	}
	sum := sha256.Sum256(first)
	want := hex.EncodeToString(sum[:])
	for _, name := range []string{"mi-1", "mi-2", "mi-3"} {
		deployed := filepath.Join(home.CarbonAppsDir(filepath.Join(d.dir, "instances", name)), "orders_1.0.0.car")
		d.waitFor(name+" to hold the build the file holds", func() bool {
			sum, err := fsutil.SHA256(deployed)
			return err == nil && sum == want
		})
	}
	apps := d.waitApps("orders_1.0.0", "active", "mi-1", "mi-2", "mi-3")
	for _, inst := range apps.Instances {
		for _, a := range inst.Apps {
			if a.SHA256 == nil || *a.SHA256 != want {
				t.Errorf("mictl apps: %s runs orders_1.0.0 %v, want the build the file holds, %s", inst.Name, a.SHA256, want)
			}
		}
	}
}

// An instances_dir deep enough that the daemon's control socket in it
// would pass the 107 bytes a Unix socket's path may have (a test's
// temporary directory under a long test name was) fails the daemon's
// start saying so, and what shortens it: before, daemon.log said only
// "bind: invalid argument".
func TestDaemonSocketPathTooLong(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	deep := filepath.Join(d.dir, strings.Repeat("homes-", 16))
	code, _, errOut := d.mictl("up", "--instances", "1", "--base-offset", fmt.Sprint(d.base), "--instances-dir", deep, "--timeout", "30s")
	daemonLog, _ := os.ReadFile(filepath.Join(deep, ".mictl", "daemon.log"))
	if code != 3 || !strings.Contains(string(daemonLog), "a Unix socket's may have at most 107: give instances_dir (in mictl.toml, or --instances-dir) a shorter path") {
		t.Fatalf("mictl up with the daemon's socket %d bytes deep: exit %d, want 3 and daemon.log saying the path is too long\nstderr:\n%s\ndaemon.log:\n%s", len(deep)+len("/.mictl/mictl.sock"), code, errOut, daemonLog)
	}
}
