package supervisor

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
)

// inboundCApp is a CApp name whose one HTTP inbound endpoint listens on
// port, plus the instance's offset (mictl turns MI's
// inbound.port_offset_enable on).
func inboundCApp(name string, port int) capp.Spec {
	return capp.Spec{Name: name, Inbounds: []capp.InboundSpec{{Name: name + "HTTP", Port: port}}}
}

// A rebuilt CApp whose inbound endpoint moved up by 1 moves mi-1's port
// (offset base) onto the one mi-2 (base+1) opens for the old build, until
// its MI takes the new one (every 15 s, MI's scan). Copied into both homes
// at once, mi-1's MI took the new build while mi-2's still held the port,
// failed the endpoint, and kept the CApp faulty for good. mi-2's server is
// held still here (SIGSTOP), as a slow scan would: mi-1 gets its new
// build only once mi-2 let go of the port.
func TestARedeployMovingAnInboundPortOntoAnotherInstancesWaitsForIt(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	s.car("orders_1.0.0.car", inboundCApp("orders", 8085))
	const toml = "instances = 2\ncapps = [\"build/orders_1.0.0.car\"]\n"
	s.reload(toml)
	for _, name := range []string{"mi-1", "mi-2"} {
		wantAppEvent(t, s.next(name, appEvents...), "app-active", "orders_1.0.0")
	}
	holder := s.sup.Instances([]string{"mi-2"})["mi-2"].Server.PID
	if err := syscall.Kill(holder, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(holder, syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(resume)
	s.car("orders_1.0.0.car", inboundCApp("orders", 8086))
	reloaded := make(chan error, 1)
	go func() {
		_, err := s.sup.Reload(s.load)
		reloaded <- err
	}()
	ev := s.next("mi-1", append([]string{"redeploy-waiting"}, appEvents...)...)
	want := fmt.Sprintf("its new CApps wait for mi-2 to let go of port %d (its inbound orders_1.0.0/ordersHTTP), which they open: given them now, MI would fail that endpoint and keep its CApp faulty", 8085+s.base+1)
	if ev.State != "redeploy-waiting" || ev.Message != want {
		t.Fatalf("mi-1 while mi-2 holds its new port: %s; want redeploy-waiting: %s\n%s", ev, want, s.log("mi-1"))
	}
	resume()
	if err := <-reloaded; err != nil {
		t.Fatalf("reload: %v", err)
	}
	for _, name := range []string{"mi-2", "mi-1"} {
		wantAppEvent(t, s.next(name, appEvents...), "app-active", "orders_1.0.0")
	}
}

// Rebuilt CApps that swap two instances' inbound ports (mi-1's new port
// is mi-2's old one and the other way round) leave no order in which
// one lets go first: whichever MI took its new build first failed it on
// the other's port. Both have the changed CApps undeployed first, and
// get the new builds once the ports are free.
func TestARedeploySwappingInboundPortsUndeploysFirst(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	// mi-1 (offset base) on 8085+base, mi-2 (base+1) on 8091+base.
	s.car("a_1.0.0.car", inboundCApp("a", 8085))
	s.car("b_1.0.0.car", inboundCApp("b", 8090))
	const toml = "instances = 2\n" +
		"[[instance]]\nname = \"mi-1\"\ncapps = [\"build/a_1.0.0.car\"]\n" +
		"[[instance]]\nname = \"mi-2\"\ncapps = [\"build/b_1.0.0.car\"]\n"
	s.reload(toml)
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-active", "a_1.0.0")
	wantAppEvent(t, s.next("mi-2", appEvents...), "app-active", "b_1.0.0")
	s.car("a_1.0.0.car", inboundCApp("a", 8091)) // mi-2's port
	s.car("b_1.0.0.car", inboundCApp("b", 8084)) // mi-1's port
	s.reload(toml)
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-active", "a_1.0.0")
	wantAppEvent(t, s.next("mi-2", appEvents...), "app-active", "b_1.0.0")
}
