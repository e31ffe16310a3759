package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/appstate"
	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/mgmt"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// appEvents are the states the supervisor says what MI made of a CApp in.
var appEvents = []string{"app-active", "app-faulty", "app-undeployed", "apps-pending"}

// wantAppEvent fails the test unless ev says app is in state.
func wantAppEvent(t *testing.T, ev Event, state, app string) {
	t.Helper()
	if ev.State != state || (ev.Message != app && !strings.HasPrefix(ev.Message, app+": ")) {
		t.Fatalf("%s: got %q, want %s of %s", ev.Instance, ev, state, app)
	}
}

// appCounts is what the metrics say of an instance's CApps: active and
// faulty, "absent" when they are not reported.
func appCounts(s *simSite, name string) string {
	s.t.Helper()
	if err := s.sup.Flush(); err != nil {
		s.t.Fatal(err)
	}
	for _, in := range s.sup.MetricsSource().Instances() {
		if in.Name != name {
			continue
		}
		if in.AppsActive == nil || in.AppsFaulty == nil {
			return "absent"
		}
		return fmt.Sprintf("active %d, faulty %d", *in.AppsActive, *in.AppsFaulty)
	}
	s.t.Fatalf("the metrics do not list %s", name)
	return ""
}

// waitAppCounts waits up to timeout for appCounts of name to say want.
func waitAppCounts(s *simSite, name, want string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for got := appCounts(s, name); got != want; got = appCounts(s, name) {
		if time.Now().After(deadline) {
			s.t.Fatalf("metrics of %s after %s: %s, want %s", name, timeout, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An instance with no CApp in carbonapps/ runs none: its counts say so
// at once, without a login to its Management API (which here refuses
// mictl's password, so a login could not have told).
func TestNoCAppIsCountedWithoutALogin(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\nmanagement_password = \"not-the-password\"\n")
	s.next("mi-1", StateReady)
	waitAppCounts(s, "mi-1", "active 0, faulty 0", 5*time.Second)
}

// Only a server this supervisor launched with no CApp to deploy is known
// to run none: one it adopted (or launched with a CApp since removed) may
// run CApps its carbonapps/ no longer holds, and is asked.
func TestOnlyALaunchWithoutCAppsIsCountedUnasked(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	launched := state.Instance{Name: "launched", Home: t.TempDir()}
	adopted := state.Instance{Name: "adopted", Home: t.TempDir()}
	s.sup.watchApps(launched, true)
	s.sup.watchApps(adopted, false)
	t.Cleanup(func() { s.sup.unwatchApps(launched.Name); s.sup.unwatchApps(adopted.Name) })
	counts := s.sup.AppCounts()
	if got, ok := counts[launched.Name]; !ok || got != (AppCounts{}) {
		t.Errorf("counts of a server launched without CApps: %v, %v; want none of either at once", got, ok)
	}
	// Its home has no Management API to ask: its counts stay unknown.
	if got, ok := counts[adopted.Name]; ok {
		t.Errorf("counts of an adopted server MI could not be asked about: %v; want unknown", got)
	}
}

// A CApp in carbonapps/ that mictl.toml does not declare is MI's to
// deploy all the same: its instance is asked, and counted by what it says.
func TestUndeclaredCAppIsCounted(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	if err := s.sup.Stop([]string{"mi-1"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	built := s.car("shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	data, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	byHand := filepath.Join(home.CarbonAppsDir(filepath.Join(s.dir, "instances", "mi-1")), "shop_1.0.0.car")
	if err := os.WriteFile(byHand, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.sup.Start([]string{"mi-1"}); err != nil {
		t.Fatal(err)
	}
	s.next("mi-1", StateReady)
	waitAppCounts(s, "mi-1", "active 1, faulty 0", siteTimeout)
}

// A rebuilt application keeps its id (name_version): it is judged by what
// MI made of the new build, never by MI still listing the old one.
func TestRebuiltAppIsJudgedByTheNewBuild(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	orders := capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}}
	s.car("orders_1.0.0.car", orders)
	const toml = "instances = 2\ncapps = [\"build/orders_1.0.0.car\"]\n"
	s.reload(toml)
	for _, name := range []string{"mi-1", "mi-2"} {
		wantAppEvent(t, s.next(name, appEvents...), "app-active", "orders_1.0.0")
	}
	orders.Faulty = true
	s.car("orders_1.0.0.car", orders)
	s.reload(toml)
	for _, name := range []string{"mi-1", "mi-2"} {
		wantAppEvent(t, s.next(name, appEvents...), "app-faulty", "orders_1.0.0")
	}
}

// A change that comes while the instance's CApps are being checked is
// checked too, after that check.
func TestChangeDuringACheckIsChecked(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.car("shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	s.car("bad_1.0.0.car", capp.Spec{Name: "bad", Faulty: true})
	s.reload("instances = 1\n")
	s.reload("instances = 1\ncapps = [\"build/shop_1.0.0.car\"]\n")
	// At once: MI has not even picked up shop yet.
	s.reload("instances = 1\ncapps = [\"build/shop_1.0.0.car\", \"build/bad_1.0.0.car\"]\n")
	for {
		ev := s.next("mi-1", appEvents...)
		if ev.State == "app-faulty" {
			wantAppEvent(t, ev, "app-faulty", "bad_1.0.0")
			break
		}
		wantAppEvent(t, ev, "app-active", "shop_1.0.0")
	}
	if got := appCounts(s, "mi-1"); got != "active 1, faulty 1" {
		t.Fatalf("metrics: %s, want active 1, faulty 1", got)
	}
}

// A change that supersedes a check still waits for the removals of the
// change that check was for.
func TestSupersedingChangeWaitsForEarlierRemovals(t *testing.T) {
	// Not parallel: it sets the package's app check hook (appCheckWaited).

	// The check of bad's removal is held once it has waited for MI, until
	// the next change supersedes it: on a loaded machine it could end
	// before that change came, and the test then checked nothing. Set
	// before the site, so that it is unset after the supervisor closed.
	var hold atomic.Bool
	superseded := make(chan struct{})
	appCheckWaited = func(string) {
		if hold.Load() {
			<-superseded
		}
	}
	t.Cleanup(func() { appCheckWaited = nil })
	s := newSimSite(t, DefaultPolicy())
	s.car("shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	s.car("bad_1.0.0.car", capp.Spec{Name: "bad", Faulty: true})
	s.car("news_1.0.0.car", capp.Spec{Name: "news", APIs: []capp.APISpec{{Context: "/news"}}})
	s.reload("instances = 1\ncapps = [\"build/shop_1.0.0.car\", \"build/bad_1.0.0.car\"]\n")
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-active", "shop_1.0.0")
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-faulty", "bad_1.0.0")
	hold.Store(true)
	s.reload("instances = 1\ncapps = [\"build/shop_1.0.0.car\"]\n")
	s.reload("instances = 1\ncapps = [\"build/shop_1.0.0.car\", \"build/news_1.0.0.car\"]\n")
	close(superseded)
	got := map[string]string{}
	for range 3 {
		ev := s.next("mi-1", appEvents...)
		id, _, _ := strings.Cut(ev.Message, ": ")
		got[id] = ev.State
	}
	want := map[string]string{"shop_1.0.0": "app-active", "news_1.0.0": "app-active", "bad_1.0.0": "app-undeployed"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v; events:\n%s", got, want, s.log("mi-1"))
	}
	if got := appCounts(s, "mi-1"); got != "active 2, faulty 0" {
		t.Fatalf("metrics: %s, want active 2, faulty 0", got)
	}
}

// The counts follow an undeployment: a faulty application removed is no
// longer counted once MI dropped it.
func TestUndeployedAppLeavesTheCounts(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.car("shop_1.0.1.car", capp.Spec{Name: "shop", Version: "1.0.1", Faulty: true})
	s.reload("instances = 1\ncapps = [\"build/shop_1.0.1.car\"]\n")
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-faulty", "shop_1.0.1")
	if got := appCounts(s, "mi-1"); got != "active 0, faulty 1" {
		t.Fatalf("metrics with shop faulty: %s", got)
	}
	s.reload("instances = 1\n")
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-undeployed", "shop_1.0.1")
	if got := appCounts(s, "mi-1"); got != "active 0, faulty 0" {
		t.Fatalf("metrics after shop's undeployment: %s", got)
	}
}

// What MI said of a stopped instance's CApps is no longer known: its
// counts are absent, as the metrics' help says.
func TestStoppedInstanceHasNoAppCounts(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.car("shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	s.reload("instances = 1\ncapps = [\"build/shop_1.0.0.car\"]\n")
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-active", "shop_1.0.0")
	if got := appCounts(s, "mi-1"); got != "active 1, faulty 0" {
		t.Fatalf("metrics of the running instance: %s", got)
	}
	if err := s.sup.Stop([]string{"mi-1"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := appCounts(s, "mi-1"); got != "absent" {
		t.Fatalf("metrics of the stopped instance: %s, want absent", got)
	}
}

// A CApp change is a change: the instance's health is checked as soon as
// MI took it, not when the steady schedule comes round.
func TestCAppChangeBringsAHealthCheck(t *testing.T) {
	t.Parallel()
	policy := DefaultPolicy()
	policy.WatchInterval = time.Hour
	s := newSimSite(t, policy)
	s.sup.firstCheckAfter = time.Hour // no check but those a change brings
	s.car("shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	s.car("bad_1.0.0.car", capp.Spec{Name: "bad", Faulty: true})
	s.reload("instances = 1\ncapps = [\"build/shop_1.0.0.car\"]\n")
	s.next("mi-1", StateReady)
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-active", "shop_1.0.0")

	s.reload("instances = 1\ncapps = [\"build/shop_1.0.0.car\", \"build/bad_1.0.0.car\"]\n")
	if ev := s.next("mi-1", StateReady, StateDegraded); ev.State != StateDegraded || !strings.Contains(ev.Message, "bad_1.0.0.car") {
		t.Fatalf("after deploying bad: %q, want degraded naming bad_1.0.0.car", ev)
	}
	s.reload("instances = 1\ncapps = [\"build/shop_1.0.0.car\"]\n")
	if ev := s.next("mi-1", StateReady, StateDegraded); ev.State != StateReady {
		t.Fatalf("after undeploying bad: %q, want ready", ev)
	}
}

// A faulty CApp's check says so only once the instance is recorded
// degraded: a deploy --wait ends on the check's events, and a status
// right after it showed the instance ready.
func TestFaultyCAppIsDegradedBeforeItsCheckEnds(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.car("bad_1.0.0.car", capp.Spec{Name: "bad", Faulty: true})
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	s.reload("instances = 1\ncapps = [\"build/bad_1.0.0.car\"]\n")
	if ev := s.next("mi-1", StateDegraded, "app-faulty"); ev.State != StateDegraded {
		t.Fatalf("first after deploying bad: %q, want degraded before the check's app-faulty", ev)
	}
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-faulty", "bad_1.0.0")
}

// A CApp copied into carbonapps/ by hand, and one deleted by hand, are no
// check's: the counts follow what MI makes of them all the same, once its
// hot deployer has had time to take the change.
func TestCAppCopiedByHandIsCounted(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.sup.hotDeployWindow = time.Second
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	waitAppCounts(s, "mi-1", "active 0, faulty 0", 5*time.Second)

	data, err := os.ReadFile(s.car("shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}}))
	if err != nil {
		t.Fatal(err)
	}
	byHand := filepath.Join(home.CarbonAppsDir(filepath.Join(s.dir, "instances", "mi-1")), "shop_1.0.0.car")
	if err := os.WriteFile(byHand, data, 0o644); err != nil {
		t.Fatal(err)
	}
	waitAppCounts(s, "mi-1", "active 1, faulty 0", siteTimeout)
	if err := os.Remove(byHand); err != nil {
		t.Fatal(err)
	}
	waitAppCounts(s, "mi-1", "active 0, faulty 0", siteTimeout)
}

// An answer to an earlier question that comes late (a recount whose
// login was slow) does not replace the answer to a later one.
func TestLateAnswerKeepsTheLaterCounts(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	inst := state.Instance{Name: "late", Home: t.TempDir()}
	s.sup.watchApps(inst, true)
	t.Cleanup(func() { s.sup.unwatchApps(inst.Name) })
	s.sup.apps.mu.Lock()
	q := s.sup.apps.queues[inst.Name]
	s.sup.apps.mu.Unlock()
	said := func(active int) appstate.Observation {
		return appstate.Observation{Apps: &mgmt.Applications{ActiveCount: active}}
	}
	earlier := time.Now()
	s.sup.keepCounts(inst.Name, q, said(2), earlier.Add(time.Second))
	s.sup.keepCounts(inst.Name, q, said(1), earlier)
	if got := s.sup.AppCounts()[inst.Name]; got.Active != 2 {
		t.Fatalf("counts %+v: the earlier question's late answer replaced the later one's", got)
	}
}

// The inbound port of a CApp taken away, or rebuilt onto another port, is
// recorded as undeploying (state.Instance.Undeploying) only until MI has
// undeployed the app's old build and let go of the port
// (docs/mi-integrations.md, "Hot deployment"): it stayed in state.json
// until the server ended. The checks are held once they have waited for
// MI (every one, until the gate opens), so that the record is seen with
// the port first.
func TestUndeployedAppsPortLeavesTheRecord(t *testing.T) {
	// Not parallel: it sets the package's app check hook (appCheckWaited).
	var gate atomic.Pointer[chan struct{}]
	appCheckWaited = func(string) {
		if g := gate.Load(); g != nil {
			<-*g
		}
	}
	t.Cleanup(func() { appCheckWaited = nil })
	open := func() {
		if g := gate.Swap(nil); g != nil {
			close(*g)
		}
	}
	for _, c := range []struct {
		name string
		// change takes hl's 8085 endpoint away from mi-1 (in site s)
		change func(s *simSite)
		event  string
	}{
		{"undeployed", func(s *simSite) { s.reload("instances = 1\n") }, "app-undeployed"},
		{"rebuilt onto another port", func(s *simSite) {
			s.car("hl_1.0.0.car", inboundCApp("hl", 8086))
			s.reload("instances = 1\ncapps = [\"build/hl_1.0.0.car\"]\n")
		}, "app-active"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSimSite(t, DefaultPolicy())
			t.Cleanup(open) // before the site's: a failed test leaves no check held
			s.car("hl_1.0.0.car", inboundCApp("hl", 8085))
			s.reload("instances = 1\ncapps = [\"build/hl_1.0.0.car\"]\n")
			wantAppEvent(t, s.next("mi-1", appEvents...), "app-active", "hl_1.0.0")
			undeploying := func() []state.Extra {
				inst, _ := s.flushed().Instance("mi-1")
				return inst.Undeploying
			}
			held := make(chan struct{})
			gate.Store(&held)
			before := time.Now().UnixNano()
			c.change(s)
			got := undeploying()
			// Stamped when the change took the app out (state.Extra.Since).
			stamped := len(got) == 1 && got[0].Since >= before && got[0].Since <= time.Now().UnixNano()
			if len(got) == 1 {
				got[0].Since = 0
			}
			if want := []state.Extra{{Role: "inbound", Listener: "hl_1.0.0/hlHTTP", Port: 8085 + s.base}}; !stamped || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("undeploying while MI takes the change: %v (stamped %v), want %v stamped during the change", got, stamped, want)
			}
			open()
			wantAppEvent(t, s.next("mi-1", appEvents...), c.event, "hl_1.0.0")
			s.await("hl_1.0.0's old port gone from mi-1's record", func() bool { return len(undeploying()) == 0 })
		})
	}
}

// A CApp check drops the undeploying entry it judged MI let go of, not
// one alike in all but its stamp: the app deployed again and taken out
// again while the check looked at the host's sockets (a few
// milliseconds), which MI may not have undeployed yet. Both changes
// are made, as giveApps makes them, between the check's judgement and
// its drop; the entry they leave must stay.
func TestAnUndeployMadeAgainWhileJudgedStaysInTheRecord(t *testing.T) {
	// Not parallel: it sets the package's undeploy hook
	// (undeployedJudged).
	s := newSimSite(t, DefaultPolicy())
	s.car("hl_1.0.0.car", inboundCApp("hl", 8085))
	s.reload("instances = 1\ncapps = [\"build/hl_1.0.0.car\"]\n")
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-active", "hl_1.0.0")
	var again atomic.Pointer[state.Extra] // the entry the second undeploy left
	var once sync.Once
	judged := func(name string) {
		once.Do(func() {
			s.sup.persist.add(name, func(i *state.Instance) {
				extras := slices.Clone(i.Undeploying)
				for k := range extras {
					extras[k].Since = 0 // planned ports carry no stamp
				}
				i.Extras, i.Undeploying = extras, reconcile.Undeploying(i, extras, time.Now()) // deployed again
				i.Extras, i.Undeploying = nil, reconcile.Undeploying(i, nil, time.Now())       // and taken out again
				if len(i.Undeploying) == 1 {
					e := i.Undeploying[0]
					again.Store(&e)
				}
			})
		})
	}
	undeployedJudged.Store(&judged)
	t.Cleanup(func() { undeployedJudged.Store(nil) })
	s.reload("instances = 1\n")
	wantAppEvent(t, s.next("mi-1", appEvents...), "app-undeployed", "hl_1.0.0")
	inst, _ := s.flushed().Instance("mi-1")
	if want := again.Load(); want == nil || !slices.Equal(inst.Undeploying, []state.Extra{*want}) {
		t.Fatalf("undeploying after the check: %+v, want the entry of the second undeploy, %+v", inst.Undeploying, want)
	}
}

// AwaitApps says first what it waits for (each instance's CApps, until
// when), and ends with exit 3 saying which changes MI did not make, and
// what to do: one whose check ended with the app not deployed (MI's hot
// deployment off), one whose check still ran when the timeout ended.
// mictl reload sat 2 minutes in silence over such a CApp, then exited 0.
// A check whose own time ends before the timeout is waited for as it
// winds up (mi-4): at the default timeout, its outcome was said as late.
func TestAwaitAppsSaysWhatItWaitsForAndWhatMIDidNotTake(t *testing.T) {
	done := make(chan struct{})
	close(done)
	s := &Supervisor{ctx: context.Background()}
	check := func(ids ...string) *appCheck {
		c := &appCheck{gone: []state.App{{ID: "old_1.0.0"}}}
		for _, id := range ids {
			name, version, _ := strings.Cut(id, "_")
			c.declared = append(c.declared, appstate.Declared{App: &capp.App{Name: name, Version: version}})
		}
		return c
	}
	until := time.Now().Add(time.Minute)
	windingUp := &appRound{done: make(chan struct{})}
	s.apps.queues = map[string]*appQueue{
		"mi-2": {running: check("good_1.0.0"), until: until, round: &appRound{done: make(chan struct{})}},
		"mi-1": {running: check("good_1.0.0"), until: until, round: &appRound{done: done, pending: []string{"good_1.0.0: not deployed after 2m0s: MI did not list it"}}},
		"mi-3": {},
		"mi-4": {running: check("other_1.0.0"), until: time.Now().Add(-time.Second), round: windingUp},
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		windingUp.pending = []string{"other_1.0.0: not deployed after 2m0s: MI did not list it"}
		close(windingUp.done)
	}()
	var said string
	err := s.AwaitApps(time.Time{}, nil, 50*time.Millisecond, func(msg string) { said = msg })
	if want := "for MI's hot deployment to settle the CApps of mi-1 (good_1.0.0, -old_1.0.0); mi-2 (good_1.0.0, -old_1.0.0); mi-4 (other_1.0.0, -old_1.0.0) (mictl apps shows them)"; !strings.HasPrefix(said, "waiting until ") || !strings.Contains(said, want) {
		t.Errorf("AwaitApps began saying %q, want it to name what it waits for: %s", said, want)
	}
	for _, want := range []string{
		"MI did not take the CApps the reload changed: mi-1: good_1.0.0: not deployed after 2m0s: MI did not list it; mi-4: ",
		"[server] hot_deployment = false",
		"; mi-4: other_1.0.0: not deployed after 2m0s: MI did not list it; its hot deployment takes",
		"mictl restart mi-1 mi-4 deploys them at the start",
		"MI had not settled the CApps of mi-2 (good_1.0.0, -old_1.0.0) when --timeout 50ms ended; the daemon goes on checking them: mictl status mi-2 shows",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("AwaitApps ended with %v, want it to say %q", err, want)
		}
	}
	if code := exitcode.Of(err); code != exitcode.Runtime {
		t.Errorf("AwaitApps' error exits %d, want %d", code, exitcode.Runtime)
	}
}
