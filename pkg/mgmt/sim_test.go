package mgmt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/mgmt"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/sim"
	"github.com/mictl/mictl/pkg/testports"
)

// simulated runs the simulator in this process on loopback (real HTTPS
// with its self-signed certificate) and returns its Management API URL
// and home. It stops when the test ends.
func simulated(t *testing.T) (string, string) {
	t.Helper()
	home := t.TempDir()
	if err := sim.WriteDist(home, sim.DistOptions{Exe: "/bin/true"}); err != nil {
		t.Fatal(err)
	}
	off := testports.Base(t, testports.Other, 1)
	env := map[string]string{"CARBON_HOME": home, sim.EnvBind: "127.0.0.1", sim.EnvStartupDelay: "0s", sim.EnvDeployInterval: "50ms"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- sim.Run(ctx, []string{ports.OffsetFlag + strconv.Itoa(off)}, func(k string) string { return env[k] }, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the simulator did not stop")
		}
	})
	url := fmt.Sprintf("https://127.0.0.1:%d", ports.DefaultBases().Shift(off)[ports.Management])
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _ := net.DialTimeout("tcp", url[len("https://"):], time.Second)
		if c != nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the simulator's Management API never listened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return url, home
}

// Against the simulator: login with the defaults, the server, deploy a
// .car (multipart upload, deployed at the next scan), list what it holds,
// undeploy it; a wrong password is refused with the instance's URL.
func TestAgainstSimulator(t *testing.T) {
	url, home := simulated(t)
	ctx := context.Background()
	c, err := mgmt.New(mgmt.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	srv, err := c.Server(ctx)
	if err != nil || srv.ProductName != "WSO2 Micro Integrator" || srv.ProductVersion != sim.MIVersion || srv.CarbonHome != home {
		t.Fatalf("Server: %+v %v", srv, err)
	}
	apps, err := c.Applications(ctx)
	if err != nil || apps.TotalCount != 0 || apps.ActiveList == nil {
		t.Fatalf("Applications: %+v %v", apps, err)
	}

	var buf bytes.Buffer
	if err := capp.Build(&buf, capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}, Inbounds: []capp.InboundSpec{{Name: "In", Port: testports.FreePort(t)}}}); err != nil {
		t.Fatal(err)
	}
	car := filepath.Join(t.TempDir(), "orders_1.0.0.car")
	if err := os.WriteFile(car, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := c.DeployApplication(ctx, car)
	if err != nil || msg != "Successfully added Carbon Application orders_1.0.0.car" {
		t.Fatalf("DeployApplication: %q %v", msg, err)
	}
	waitFor(t, func() bool {
		a, err := c.Applications(ctx)
		return err == nil && a.ActiveCount == 1
	}, "the uploaded app is active")
	apps, _ = c.Applications(ctx)
	if a := apps.ActiveList[0]; a.ID() != "orders_1.0.0" || len(a.Artifacts) != 3 || a.Artifacts[1] != (mgmt.ArtifactRef{Name: "ordersAPI", Type: "api"}) {
		t.Errorf("active app %+v", a)
	}
	if apis, err := c.APIs(ctx); err != nil || len(apis) != 1 || apis[0].Name != "ordersAPI" {
		t.Errorf("APIs: %+v %v", apis, err)
	}
	if ins, err := c.InboundEndpoints(ctx); err != nil || len(ins) != 1 || ins[0] != (mgmt.InboundEndpoint{Name: "In", Protocol: "http"}) {
		t.Errorf("InboundEndpoints: %+v %v", ins, err)
	}
	if ps, err := c.ProxyServices(ctx); err != nil || len(ps) != 0 {
		t.Errorf("ProxyServices: %+v %v", ps, err)
	}

	if msg, err := c.UndeployApplication(ctx, "orders_1.0.0"); err != nil || msg != "Successfully removed Carbon Application named orders_1.0.0" {
		t.Fatalf("UndeployApplication: %q %v", msg, err)
	}
	waitFor(t, func() bool {
		a, err := c.Applications(ctx)
		return err == nil && a.TotalCount == 0
	}, "the app is undeployed")

	bad, _ := mgmt.New(mgmt.Options{URL: url, Password: "nope"})
	_, err = bad.Applications(ctx)
	if !errors.Is(err, mgmt.ErrUnauthorized) {
		t.Errorf("wrong password: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
