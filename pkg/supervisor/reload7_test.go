package supervisor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/reconcile"
)

// A reload's wait for the CApps it changed, whose MI refuses mictl's
// login (management_password not the one MI takes), cannot tell whether
// MI took them: it ends with exit 3 saying so and what to check, as mictl
// apps and deploy --wait end for the same answer. It ended nil (mictl
// reload exited 0) of a CApp nobody could say MI runs.
func TestAwaitAppsMICannotBeAskedAboutIsNotSettled(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	s.car("shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	const refused = "management_password = \"not-the-password\"\n"
	s.reload("instances = 1\n" + refused)
	s.next("mi-1", StateReady)
	s.reload("instances = 1\n" + refused + "capps = [\"build/shop_1.0.0.car\"]\n")
	err := s.sup.AwaitApps(nil, siteTimeout, func(string) {})
	for _, want := range []string{
		"mictl could not ask MI whether it took the CApps the reload changed: mi-1: shop_1.0.0: cannot tell: ",
		"HTTP 401",
		"mictl apps mi-1 shows what MI runs",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("AwaitApps with MI refusing the login ended with %v, want it to say %q", err, want)
		}
	}
	if code := exitcode.Of(err); code != exitcode.Runtime {
		t.Errorf("AwaitApps' error exits %d, want %d", code, exitcode.Runtime)
	}
}

// A mictl reload's client is shown its own reload's lines and none of
// another's: here a second reload of the same edit (a deploy's) waits
// behind it, told so on its own connection, then runs while the first
// still waits for MI's hot deployment to take its CApp, and says
// "reloaded: nothing left to change". The first's client printed that
// line, and the second's wait for its turn, as its own.
func TestAReloadsClientPrintsTheLinesOfItsOwnReloadAlone(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	s.car("shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	s.write("instances = 1\ncapps = [\"build/shop_1.0.0.car\"]\n")
	planned, release, secondDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { reloadAt, appCheckWaited = nil, nil })
	reloadAt = func(at string) {
		if at == "planned" {
			reloadAt = nil
			close(planned)
			<-release
		}
	}
	// MI's answer waits until the second reload ended: it runs while the
	// first still waits for the CApp.
	appCheckWaited = func(string) { <-secondDone }
	srv := NewServer(s.sup)
	srv.reload = func(window *rollWindow) (reconcile.Changes, error) {
		return s.sup.reload(s.load, reloadAsked, window)
	}
	sock := serveControl(s.t, s.dir, srv)
	ask := func(lines *strings.Builder, awaitApps bool) error {
		_, err := Call(t.Context(), sock, Request{Op: OpReload, AwaitApps: awaitApps, Timeout: siteTimeout}, func(ev Event) {
			fmt.Fprintf(lines, "%s %s: %s\n", ev.Instance, ev.State, ev.Message)
		})
		return err
	}
	var first, second strings.Builder
	firstErr := make(chan error, 1)
	go func() { firstErr <- ask(&first, true) }()
	<-planned
	// The second waits its turn behind the first, held until release.
	secondErr := make(chan error, 1)
	go func() { secondErr <- ask(&second, false); close(secondDone) }()
	waitTurn(t, s.sup)
	close(release)
	if err := <-secondErr; err != nil {
		t.Fatalf("the second reload: %v\n%s", err, &second)
	}
	if err := <-firstErr; err != nil {
		t.Fatalf("the first reload: %v\n%s", err, &first)
	}
	for _, want := range []string{"mictl reloaded: deploy mi-1", "mictl apps-waiting: waiting until "} {
		if !strings.Contains(first.String(), want) {
			t.Errorf("the first reload's client was not shown %q:\n%s", want, &first)
		}
	}
	for _, other := range []string{"nothing left to change", "waiting for the rolling restart"} {
		if strings.Contains(first.String(), other) {
			t.Errorf("the first reload's client was shown the second's line %q:\n%s", other, &first)
		}
	}
	if !strings.Contains(second.String(), "mictl reloaded: nothing left to change") || strings.Contains(second.String(), "mictl reloaded: deploy mi-1") {
		t.Errorf("the second reload's client, want its own \"nothing left to change\" and none of the first's lines:\n%s", &second)
	}
}

// waitTurn returns once a reload or restart waits for sup's reload lock
// (a change registered beyond the one that holds it).
func waitTurn(t *testing.T, sup *Supervisor) {
	t.Helper()
	deadline := time.Now().Add(siteTimeout)
	for {
		sup.changesMu.Lock()
		n := len(sup.changes)
		sup.changesMu.Unlock()
		if n >= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no second reload waited its turn within %s", siteTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
