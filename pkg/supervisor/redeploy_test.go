package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/testports"
)

// inboundCApp is a CApp name whose one HTTP inbound endpoint listens on
// port, plus the instance's offset (mictl turns MI's
// inbound.port_offset_enable on).
func inboundCApp(name string, port int) capp.Spec {
	if !slices.Contains(testports.InboundBases(), port) {
		panic(fmt.Sprintf("inbound port %d: give a test's CApps one of testports.InboundBases, which its span keeps from other tests' ports", port))
	}
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
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	toml := s.twoRunOrders()
	resume := s.holdStill("mi-2")
	s.car("orders_1.0.0.car", inboundCApp("orders", 8086))
	reloaded := s.reloadInBackground(toml)
	s.waitsFor("mi-1", "redeploy-waiting", fmt.Sprintf("its redeploy waits for mi-2 to let go of port %d (its inbound orders_1.0.0/ordersHTTP), which mi-2's new CApps no longer open: its own new CApps open it, and MI fails an inbound endpoint on a port still held, keeping its CApp faulty", 8085+s.base+1))
	resume()
	if err := <-reloaded; err != nil {
		t.Fatalf("reload: %v", err)
	}
	for _, name := range []string{"mi-2", "mi-1"} {
		wantAppEvent(t, s.next(name, appEvents...), "app-active", "orders_1.0.0")
	}
}

// twoRunOrders runs mi-1 and mi-2 with orders_1.0.0, whose HTTP inbound
// endpoint listens on 8085 plus each one's offset, until MI says it is
// active on both; it returns their mictl.toml.
func (s *simSite) twoRunOrders() string {
	s.t.Helper()
	s.car("orders_1.0.0.car", inboundCApp("orders", 8085))
	const toml = "instances = 2\ncapps = [\"build/orders_1.0.0.car\"]\n"
	s.reload(toml)
	for _, name := range []string{"mi-1", "mi-2"} {
		wantAppEvent(s.t, s.next(name, appEvents...), "app-active", "orders_1.0.0")
	}
	return toml
}

// holdStill stops the server of the instance name (SIGSTOP), as a slow
// hot deployment scan would keep it from taking a change: it holds every
// port it has. The func returned, and the test's end, resume it.
func (s *simSite) holdStill(name string) (resume func()) {
	s.t.Helper()
	pid := s.sup.Instances([]string{name})[name].Server.PID
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				s.t.Error(err)
			}
		})
	}
	s.t.Cleanup(resume)
	return resume
}

// reloadInBackground writes toml and reloads it, as reload does, without
// waiting: the reload's error comes on the channel.
func (s *simSite) reloadInBackground(toml string) <-chan error {
	s.write(toml)
	reloaded := make(chan error, 1)
	go func() {
		_, err := s.sup.Reload(s.load)
		reloaded <- err
	}()
	return reloaded
}

// waitsFor fails the test unless the next event of name about its CApps
// is a wait, named by what waits (redeploy-waiting, restart-waiting,
// start-waiting), saying want (MI making something of its CApps first
// means it did not wait).
func (s *simSite) waitsFor(name, waiting, want string) {
	s.t.Helper()
	ev := s.next(name, append([]string{"redeploy-waiting", "restart-waiting", "start-waiting"}, appEvents...)...)
	if ev.State != waiting || ev.Message != want {
		s.t.Fatalf("%s while the port it takes is held: %s; want %s: %s\n%s", name, ev, waiting, want, s.log(name))
	}
}

// A rebuild that moves the inbound port up by 1 while mi-2's
// deployment.toml changes too: mi-2 restarts, and holds its old port
// until its stop is over (MI's drain), while mi-1 only redeploys, onto
// that port. Given its new build before mi-2's restart, mi-1's MI failed
// the endpoint on it, and kept the CApp faulty for good.
func TestARedeployOntoThePortOfAnInstanceToRestartComesAfterIt(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "1s")
	toml := s.twoRunOrders()
	s.car("orders_1.0.0.car", inboundCApp("orders", 8086))
	s.reload(toml + restartMI2)
	for _, name := range []string{"mi-1", "mi-2"} {
		wantAppEvent(t, s.next(name, appEvents...), "app-active", "orders_1.0.0")
	}
}

// restartMI2 is a [[instance]] table that changes mi-2's deployment.toml
// and none of its ports: a reload restarts it.
const restartMI2 = "[[instance]]\nname = \"mi-2\"\noverrides = { \"server.hostname\" = \"mi-2.example\" }\n"

// The other way round: the rebuild moves the inbound port down by 1 and
// mi-2, restarted for its deployment.toml, opens mi-1's old port, which
// mi-1 holds until its MI takes its new build. Started on it before,
// mi-2 failed the endpoint. mi-1's server is held still, as a slow scan
// would: mi-2's restart waits for it.
func TestARestartOntoThePortOfAnInstanceRedeployedWaitsForIt(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	toml := s.twoRunOrders()
	resume := s.holdStill("mi-1")
	s.car("orders_1.0.0.car", inboundCApp("orders", 8084))
	reloaded := s.reloadInBackground(toml + restartMI2)
	s.waitsFor("mi-2", "restart-waiting", fmt.Sprintf("its restart waits for mi-1 to let go of port %d (its inbound orders_1.0.0/ordersHTTP), which mi-1's new CApps no longer open: it opens it once restarted, and MI fails an inbound endpoint on a port still held, keeping its CApp faulty", 8085+s.base))
	resume()
	if err := <-reloaded; err != nil {
		t.Fatalf("reload: %v", err)
	}
	for _, name := range []string{"mi-1", "mi-2"} {
		wantAppEvent(t, s.next(name, appEvents...), "app-active", "orders_1.0.0")
	}
}

// Rebuilt CApps that swap two instances' inbound ports (mi-1's new port
// is mi-2's old one and the other way round) leave no order in which
// one lets go first: whichever MI took its new build first failed it on
// the other's port. Both have the changed CApps undeployed first, and
// get the new builds once the ports are free.
func TestARedeploySwappingInboundPortsUndeploysFirst(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload(s.swapped())
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-active", "a_1.0.0")
	wantAppEvent(t, s.next("mi-2", appEvents...), "app-active", "b_1.0.0")
}

// swapped runs mi-1 and mi-2 (runsAAndB), then rebuilds their CApps with
// each other's ports, and returns their mictl.toml.
func (s *simSite) swapped() string {
	s.t.Helper()
	toml := s.runsAAndB()
	s.car("a_1.0.0.car", inboundCApp("a", 8091)) // mi-2's port
	s.car("b_1.0.0.car", inboundCApp("b", 8084)) // mi-1's port
	return toml
}

// runsAAndB runs mi-1 with a_1.0.0 and mi-2 with b_1.0.0, each with an
// HTTP inbound endpoint, until MI says they are active, and returns their
// mictl.toml.
func (s *simSite) runsAAndB() string {
	s.t.Helper()
	// mi-1 (offset base) on 8085+base, mi-2 (base+1) on 8091+base.
	s.car("a_1.0.0.car", inboundCApp("a", 8085))
	s.car("b_1.0.0.car", inboundCApp("b", 8090))
	const toml = "instances = 2\n" +
		"[[instance]]\nname = \"mi-1\"\ncapps = [\"build/a_1.0.0.car\"]\n" +
		"[[instance]]\nname = \"mi-2\"\ncapps = [\"build/b_1.0.0.car\"]\n"
	s.reload(toml)
	wantAppEvent(s.t, s.next("mi-1", appEvents...), "app-active", "a_1.0.0")
	wantAppEvent(s.t, s.next("mi-2", appEvents...), "app-active", "b_1.0.0")
	return toml
}

// A swap whose wait ends (mi-2 held still, its CApp never undeployed)
// says what it left undone, and how: when both only redeploy, mi-1 and
// mi-2 both run without the CApp they had undeployed first, not that they
// keep it (mi-2 went unsaid: only mi-1 waited); when mi-1 restarts too,
// it was not restarted, and mi-2 runs without the CApp it had undeployed
// first. diff shows what is left to do.
func aSwapWhoseWaitEndsSaysWhatItLeft(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml func(*simSite) string
		want string
	}{
		{"redeploys", (*simSite).swapped,
			"redeploy mi-1: mi-2 still holds port %d (its inbound b_1.0.0/bHTTP) after 500ms, which mi-2's new CApps no longer open: mi-1 runs without the CApps it had undeployed first; see `mictl logs mi-2` for why its MI did not take its new build, then apply the change with mictl reload; not redeployed: mi-2, which runs without the CApps it had undeployed first (mictl reload redeploys it)"},
		{"a restart and a redeploy", (*simSite).swappedRestartingMI1,
			"restart mi-1: mi-2 still holds port %d (its inbound b_1.0.0/bHTTP) after 500ms, which mi-2's new CApps no longer open: mi-1 keeps running as it was; see `mictl logs mi-2` for why its MI did not take its new build, then apply the change with mictl reload; not redeployed: mi-2, which runs without the CApps it had undeployed first, whose new builds take ports the restarts were to free (mictl reload redeploys them once they succeed)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSimSite(t, DefaultPolicy())
			toml := tc.toml(s)
			s.holdStill("mi-2")
			err := s.tryReload(toml)
			if want := fmt.Sprintf(tc.want, 8091+s.base); err == nil || err.Error() != want {
				t.Fatalf("reload of the swap while mi-2 keeps its port:\n%v\nwant:\n%s", err, want)
			}
		})
	}
}

// A swap whose undeploy of mi-1's changed CApp fails (a non-empty
// directory sits where mi-1's a_1.0.0.car was) undeployed nothing from
// mi-2, whose turn came after: the reload says both are left as they
// were. It said mi-2 ran without the CApps it had undeployed first, as
// every instance of the cycle counted as undeployed before any was.
func TestASwapWhoseFirstUndeployFailsSaysTheOthersKeepTheirCApps(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	toml := s.swapped()
	car := filepath.Join(home.CarbonAppsDir(filepath.Join(s.dir, "instances", "mi-1")), "a_1.0.0.car")
	if err := os.Remove(car); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(car, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := s.tryReload(toml)
	if err == nil || !strings.HasSuffix(err.Error(), "; not redeployed: mi-1, mi-2 (mictl reload redeploys them)") {
		t.Fatalf("reload whose undeploy of mi-1's CApp fails: %v; want mi-1 and mi-2 named as not redeployed, as they were", err)
	}
	// The failure is said of mi-1, and its event does not say it was done.
	const failed = "mi-1: its changed CApps could not be undeployed first (their new builds and the new ports of mi-2 take each other's ports): "
	if !strings.HasPrefix(err.Error(), failed) {
		t.Errorf("reload whose undeploy of mi-1's CApp fails: %v; want it to begin %q", err, failed)
	}
	if ev := s.next("mi-1", "redeploy"); !strings.HasPrefix(ev.Message, failed) {
		t.Errorf("mi-1's event: %s; want it to begin %q", ev.Message, failed)
	}
}

// shortLetGo ends the waits for a port to be let go after 500ms, until
// the test ends.
func shortLetGo(t *testing.T) {
	saved := letGoTimeout
	letGoTimeout = 500 * time.Millisecond
	t.Cleanup(func() { letGoTimeout = saved })
}

// TestPortsNeverLetGo runs the tests of waits for a port its holder
// never lets go, which end after 500ms (shortLetGo): letGoTimeout is the
// package's, so they run apart from every other test, and side by side
// under the one setting made before any of them runs.
func TestPortsNeverLetGo(t *testing.T) {
	shortLetGo(t)
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"ASwapWhoseWaitEndsSaysWhatItLeft", aSwapWhoseWaitEndsSaysWhatItLeft},
		{"AStartWaitThatEndsStartsThoseWhosePortsWereLetGo", aStartWaitThatEndsStartsThoseWhosePortsWereLetGo},
		{"AStartWaitThatEndsNamesEveryInstanceNotStarted", aStartWaitThatEndsNamesEveryInstanceNotStarted},
		{"ARedeployWhoseHolderKeepsThePortEndsSayingSo", aRedeployWhoseHolderKeepsThePortEndsSayingSo},
		{"AReloadWhoseFirstRedeploysFailSaysWhatItLeft", aReloadWhoseFirstRedeploysFailSaysWhatItLeft},
		{"AReloadWhoseStartWaitEndsWaitsForTheInstancesItStarted", aReloadWhoseStartWaitEndsWaitsForTheInstancesItStarted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t)
		})
	}
}

// A rebuild that moves the inbound port down by 1, applied with a third
// instance added: mi-3 (offset base+2) opens mi-2's old port, which mi-2
// holds until its MI takes its new build. Started before, mi-3 failed the
// endpoint. mi-2's server is held still: mi-3's start waits for it.
func TestAnInstanceAddedOntoThePortOfAnInstanceRedeployedWaitsForIt(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	toml := s.twoRunOrders()
	resume := s.holdStill("mi-2")
	s.car("orders_1.0.0.car", inboundCApp("orders", 8084))
	reloaded := s.reloadInBackground(strings.Replace(toml, "instances = 2", "instances = 3", 1))
	s.waitsFor("mi-3", "start-waiting", fmt.Sprintf("its start waits for mi-2 to let go of port %d (its inbound orders_1.0.0/ordersHTTP), which mi-2's new CApps no longer open: it opens it once started, and MI fails an inbound endpoint on a port still held, keeping its CApp faulty", 8085+s.base+1))
	resume()
	if err := <-reloaded; err != nil {
		t.Fatalf("reload: %v", err)
	}
	for _, name := range []string{"mi-1", "mi-2", "mi-3"} {
		wantAppEvent(t, s.next(name, appEvents...), "app-active", "orders_1.0.0")
	}
}

// addOntoOldPortsOf reloads mi-1 and mi-2, running orders on port 8085,
// with a rebuild that moves it down by 2 and mi-3 and mi-4 added on their
// old ports, while the servers of held hold still (never letting go of
// them, as a slow hot deployment scan), and returns the reload's error,
// its waits for those ports ending after 500ms (TestPortsNeverLetGo's
// shortLetGo).
func (s *simSite) addOntoOldPortsOf(held ...string) error {
	s.t.Helper()
	toml := s.twoRunOrders()
	for _, name := range held {
		s.holdStill(name)
	}
	s.car("orders_1.0.0.car", inboundCApp("orders", 8083))
	return s.tryReload(strings.Replace(toml, "instances = 2", "instances = 4", 1))
}

// A rebuild that moves the inbound port down by 2, applied with mi-3 and
// mi-4 added on mi-1's and mi-2's old ports: each starts once its port is
// let go. mi-1 is held still, so the wait for it ends the reload naming
// mi-3, not started, and why; mi-4, whose port mi-2 let go, starts. Both
// were left unstarted, mi-4 named as "not started" beside the port it
// did not wait for.
func aStartWaitThatEndsStartsThoseWhosePortsWereLetGo(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	err := s.addOntoOldPortsOf("mi-1")
	held := fmt.Sprintf("start mi-3: mi-1 still holds port %d (its inbound orders_1.0.0/ordersHTTP) after 500ms, which mi-1's new CApps no longer open: mi-3 is not started", 8085+s.base)
	if err == nil || !strings.Contains(err.Error(), held) || strings.Contains(err.Error(), "mi-4") {
		t.Fatalf("reload whose start of mi-3 waits for mi-1 in vain: %v; want %q, and mi-4 not named", err, held)
	}
	got := s.sup.Instances([]string{"mi-3", "mi-4"})
	if got["mi-3"].Server.Alive() {
		t.Errorf("mi-3 is %s; want it not started", got["mi-3"].State)
	}
	if st := got["mi-4"].State; st != StateReady {
		t.Errorf("mi-4 is %s; want it started (ready), its port let go", st)
	}
}

// Two instances added on the old ports of two instances that both hold
// them still: the wait's end names the first with why, and the other as
// not started either (it went unsaid), once each.
func aStartWaitThatEndsNamesEveryInstanceNotStarted(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	err := s.addOntoOldPortsOf("mi-1", "mi-2")
	if err == nil || !strings.Contains(err.Error(), "mi-3 is not started") || strings.Contains(err.Error(), "not started: mi-3") ||
		!strings.HasSuffix(err.Error(), "; not started either: mi-4, whose ports are still held too (mictl reload starts it once they are let go)") {
		t.Fatalf("reload whose starts of mi-3 and mi-4 wait in vain: %v; want mi-3 named once, then mi-4", err)
	}
	for name, got := range s.sup.Instances([]string{"mi-3", "mi-4"}) {
		if got.Server.Alive() {
			t.Errorf("%s is %s; want it not started", name, got.State)
		}
	}
}

// A holder whose MI does not take its new build (hot deployment off, a
// server hung) ends the reload after letGoTimeout, saying which port is
// still held: the taker keeps its old build, active, and what is left is
// the next reload's, which diff shows, with the port mi-2's server holds
// (a conflict until it lets go); given the new build, mi-1 went faulty
// for good, and diff showed nothing.
func aRedeployWhoseHolderKeepsThePortEndsSayingSo(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	toml := s.twoRunOrders()
	resume := s.holdStill("mi-2")
	s.car("orders_1.0.0.car", inboundCApp("orders", 8086))
	err := s.tryReload(toml)
	want := fmt.Sprintf("redeploy mi-1: mi-2 still holds port %d (its inbound orders_1.0.0/ordersHTTP) after 500ms, which mi-2's new CApps no longer open: mi-1 keeps its CApps as they were; see `mictl logs mi-2` for why its MI did not take its new build, then apply the change with mictl reload", 8085+s.base+1)
	if err == nil || err.Error() != want {
		t.Fatalf("reload while mi-2 keeps the port: %v; want %q", err, want)
	}
	f, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	_, changes, err := s.sup.plan(s.load, f, reconcile.Propose)
	holder := s.sup.Instances([]string{"mi-2"})["mi-2"].Server.PID
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("mi-1 inbound orders_1.0.0/ordersHTTP port %d is held by pid %d (", 8085+s.base+1, holder)) ||
		!slices.Equal(changes.Redeploy, []string{"mi-1"}) {
		t.Fatalf("what is left to do: %v, redeploy %v; want mi-1's redeploy, its port held", err, changes.Redeploy)
	}
	// Resumed, mi-2's MI lets go of the port at its next scan (50 ms after
	// the change its watch queued): a reload before it is refused for the
	// same conflict, as diff said.
	resume()
	s.await(fmt.Sprintf("mi-2 lets go of port %d", 8085+s.base+1), func() bool { return portFree(8085 + s.base + 1) })
	s.reload(toml)
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-active", "orders_1.0.0")
}

// The event log tells what a reload did to an instance's CApps: a CApp's
// first deploy is a "deploy", a rebuild a "redeploy", its removal an
// "undeploy". Every one was logged "redeploy", the first deploy of a CApp
// the instance had never run included.
func TestTheEventLogTellsADeployFromARedeploy(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	const declared = "instances = 1\ncapps = [\"build/orders_1.0.0.car\"]\n"
	verbs := []string{"deploy", "redeploy", "undeploy"}
	for _, step := range []struct {
		apis       []string
		toml, want string
	}{
		{[]string{"/orders"}, declared, "deploy: CApps +orders_1.0.0"},
		{[]string{"/orders", "/refunds"}, declared, "redeploy: CApps ~orders_1.0.0"},
		{nil, "instances = 1\n", "undeploy: CApps -orders_1.0.0"},
	} {
		if step.apis != nil {
			spec := capp.Spec{Name: "orders"}
			for _, api := range step.apis {
				spec.APIs = append(spec.APIs, capp.APISpec{Context: api})
			}
			s.car("orders_1.0.0.car", spec)
		}
		s.reload(step.toml)
		if ev := s.next("mi-1", verbs...); ev.State+": "+ev.Message != step.want {
			t.Errorf("logged %s: %s, want %s", ev.State, ev.Message, step.want)
		}
	}
}

// A restart onto the old port of an instance whose own redeploy comes
// after the restarts (its new CApps open a port an instance to restart
// holds until then) waits for that redeploy. In a swap, mi-1 restarts
// (its deployment.toml changed) with a_1.0.0 rebuilt onto mi-2's old
// port, while mi-2's rebuilt b_1.0.0 moves onto mi-1's old port: no
// order frees both, so mi-2's changed CApp is undeployed first, mi-1
// restarts once mi-2's MI let go of the port, and mi-2 then gets its new
// build. In a chain, mi-1 restarts onto mi-2's old port, and mi-2's new
// build onto the old port of mi-3, which restarts too: mi-3 restarts,
// then mi-2 is redeployed, then mi-1 restarts. Restarted before mi-2's
// redeploy, which came after every restart, mi-1 opened the port mi-2's
// old build held, and MI kept a_1.0.0 faulty for good.
func TestARestartOntoThePortOfAnInstanceRedeployedAfterItWaitsForIt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		toml func(*simSite) string
		apps map[string]string
	}{
		{"swap", (*simSite).swappedRestartingMI1, map[string]string{"mi-1": "a_1.0.0", "mi-2": "b_1.0.0"}},
		{"chain", (*simSite).chained, map[string]string{"mi-1": "a_1.0.0", "mi-2": "b_1.0.0", "mi-3": "c_1.0.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSimSite(t, DefaultPolicy())
			s.reload(tc.toml(s))
			for name, app := range tc.apps {
				wantAppEvent(t, s.next(name, appEvents...), "app-active", app)
			}
		})
	}
}

// chained runs mi-1, mi-2 and mi-3 with a_1.0.0, b_1.0.0 and c_1.0.0,
// each with an HTTP inbound endpoint, until MI says they are active,
// then rebuilds them, a onto mi-2's port, b onto mi-3's and c onto a free
// one, and returns their mictl.toml, which changes the deployment.toml of
// mi-1 and mi-3: a reload restarts them and redeploys mi-2.
func (s *simSite) chained() string {
	s.t.Helper()
	// mi-1 (offset base) on 8085+base, mi-2 on 8091+base, mi-3 on 8097+base.
	s.car("a_1.0.0.car", inboundCApp("a", 8085))
	s.car("b_1.0.0.car", inboundCApp("b", 8090))
	s.car("c_1.0.0.car", inboundCApp("c", 8095))
	const toml = "instances = 3\n" +
		"[[instance]]\nname = \"mi-1\"\ncapps = [\"build/a_1.0.0.car\"]\n" +
		"[[instance]]\nname = \"mi-2\"\ncapps = [\"build/b_1.0.0.car\"]\n" +
		"[[instance]]\nname = \"mi-3\"\ncapps = [\"build/c_1.0.0.car\"]\n"
	s.reload(toml)
	for name, app := range map[string]string{"mi-1": "a_1.0.0", "mi-2": "b_1.0.0", "mi-3": "c_1.0.0"} {
		wantAppEvent(s.t, s.next(name, appEvents...), "app-active", app)
	}
	s.car("a_1.0.0.car", inboundCApp("a", 8091)) // mi-2's port
	s.car("b_1.0.0.car", inboundCApp("b", 8096)) // mi-3's port
	s.car("c_1.0.0.car", inboundCApp("c", 8100))
	restarted := toml
	for _, name := range []string{"mi-1", "mi-3"} {
		restarted = strings.Replace(restarted, fmt.Sprintf("name = %q\n", name), fmt.Sprintf("name = %q\noverrides = { \"server.hostname\" = \"%s.example\" }\n", name, name), 1)
	}
	return restarted
}

// swappedRestartingMI1 is swapped with mi-1's deployment.toml changed
// too: a reload restarts mi-1 and redeploys mi-2.
func (s *simSite) swappedRestartingMI1() string {
	s.t.Helper()
	return mi1Restarted(s.swapped())
}

// mi1Restarted is toml, which declares an [[instance]] mi-1, with mi-1's
// deployment.toml changed: a reload restarts it.
func mi1Restarted(toml string) string {
	return strings.Replace(toml, "name = \"mi-1\"\n", "name = \"mi-1\"\noverrides = { \"server.hostname\" = \"mi-1.example\" }\n", 1)
}

// A reload whose redeploys, made before its restarts, end on a port still
// held says what else it left undone: the restart of mi-3 it never made,
// and whether mi-4, which it added and started first, turned ready (here
// never: MICTL_SIM_NEVER_READY). The redeploys' error came alone: mi-3
// went unsaid, and nothing waited for mi-4.
func aReloadWhoseFirstRedeploysFailSaysWhatItLeft(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	// mi-1 (offset base) and mi-2 (base+1) run orders_1.0.0, its HTTP
	// inbound endpoint on 8085 plus their offsets; mi-3 runs none.
	s.car("orders_1.0.0.car", inboundCApp("orders", 8085))
	const toml = "instances = 3\n" +
		"[[instance]]\nname = \"mi-1\"\ncapps = [\"build/orders_1.0.0.car\"]\n" +
		"[[instance]]\nname = \"mi-2\"\ncapps = [\"build/orders_1.0.0.car\"]\n"
	s.reload(toml)
	for _, name := range []string{"mi-1", "mi-2"} {
		wantAppEvent(t, s.next(name, appEvents...), "app-active", "orders_1.0.0")
	}
	// Rebuilt one port down: mi-2's new port is mi-1's old one, which
	// mi-1, held still, never lets go of. mi-3's deployment.toml changes
	// (a restart), and mi-4 is added.
	s.holdStill("mi-1")
	s.car("orders_1.0.0.car", inboundCApp("orders", 8084))
	s.setenv("MICTL_SIM_NEVER_READY", "1")
	s.sup.policy.ReadyTimeout = 2 * time.Second
	edited := strings.Replace(toml, "instances = 3", "instances = 4", 1) + "[[instance]]\nname = \"mi-3\"\noverrides = { \"server.hostname\" = \"mi-3.example\" }\n"
	err := s.tryReload(edited)
	want := fmt.Sprintf("redeploy mi-2: mi-1 still holds port %d (its inbound orders_1.0.0/ordersHTTP) after 500ms, which mi-1's new CApps no longer open: mi-2 keeps its CApps as they were; see `mictl logs mi-1` for why its MI did not take its new build, then apply the change with mictl reload; not restarted: mi-3 (mictl reload restarts it)", 8085+s.base)
	const unready = "mi-4 failed: not ready after 2s: "
	if err == nil {
		t.Fatalf("reload whose first redeploys fail: no error; want:\n%s\n%s...", want, unready)
	}
	if first, rest, _ := strings.Cut(err.Error(), "\n"); first != want || !strings.HasPrefix(rest, unready) {
		t.Fatalf("reload whose first redeploys fail:\n%v\nwant:\n%s\n%s...", err, want, unready)
	}
}

// A reload whose start of an added instance ends on a port still held
// (mi-3 opens mi-2's old inbound port, and mi-2, held still, never lets
// go of it) still waits for mi-4, which it added and started first, to
// turn ready, and says it never did (MICTL_SIM_NEVER_READY): the error of
// the wait came alone.
func aReloadWhoseStartWaitEndsWaitsForTheInstancesItStarted(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	toml := s.twoRunOrders()
	s.holdStill("mi-2")
	s.car("orders_1.0.0.car", inboundCApp("orders", 8084))
	s.setenv("MICTL_SIM_NEVER_READY", "1")
	s.sup.policy.ReadyTimeout = 2 * time.Second
	err := s.tryReload(strings.Replace(toml, "instances = 2", "instances = 4", 1))
	want := fmt.Sprintf("start mi-3: mi-2 still holds port %d (its inbound orders_1.0.0/ordersHTTP) after 500ms, which mi-2's new CApps no longer open: mi-3 is not started; see `mictl logs mi-2` for why its MI did not take its new build, then apply the change with mictl reload", 8085+s.base+1)
	const unready = "mi-4 failed: not ready after 2s: "
	if err == nil {
		t.Fatalf("reload whose start of mi-3 waits in vain: no error; want:\n%s\n%s...", want, unready)
	}
	if first, rest, _ := strings.Cut(err.Error(), "\n"); first != want || !strings.HasPrefix(rest, unready) {
		t.Fatalf("reload whose start of mi-3 waits in vain:\n%v\nwant:\n%s\n%s...", err, want, unready)
	}
}
