package supervisor

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// A reload's wait for the CApps it changed, whose MI refuses mictl's
// login (management_password not the one MI takes), cannot tell whether
// MI took them: it ends with exit 3 saying so and what to check, as mictl
// apps and deploy --wait end for the same answer. It ended nil (mictl
// reload exited 0) of a CApp nobody could say MI runs.
//
// The check (MI refusing the login) ends within ~100 ms of the reload: on
// a loaded CPU before AwaitApps was called, which then found nothing
// under way and returned nil (mictl reload exited 0). Here it always has:
// a check over since the reload began is the reload's all the same.
func TestAwaitAppsMICannotBeAskedAboutIsNotSettled(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.car("shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	const refused = "management_password = \"not-the-password\"\n"
	s.reload("instances = 1\n" + refused)
	s.next("mi-1", StateReady)
	began := time.Now()
	s.reload("instances = 1\n" + refused + "capps = [\"build/shop_1.0.0.car\"]\n")
	for !s.appChecksOver("mi-1", began) {
		time.Sleep(10 * time.Millisecond)
	}
	err := s.sup.AwaitApps(began, nil, siteTimeout, func(string) {})
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
	// Not parallel: it sets the package's reload hook (reloadAt).
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

// The record of reload failures in a row (recordReload): a refusal while
// a begun failure stands keeps that failure, said after the refusal
// (reload_begun and reload_left_failed as they were), and a later one
// replaces the refusal alone; failures once begun in a row each say the
// ones before them once, flat. A refusal wrote over the failure that left
// mi-1 failed, and each failure nested the whole text of the one before
// ("...stands for mi-1: restart mi-2 ...; and the failure of a reload
// before it stands for mi-1: ...").
func TestReloadFailuresInARowKeepTheFirstAndNeverNest(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	const (
		mi1      = "restart mi-1: mi-1 failed"
		mi2      = "restart mi-2: mi-2 failed"
		refusal  = "mictl.toml:4:1: unknown key \"bogus\""
		refusal2 = "mictl.toml:5:1: unknown key \"other\""
		stands   = "; and the failure of a reload before it stands for "
	)
	record := func(err string, applied bool, standing []string, failed ...string) *state.File {
		t.Helper()
		if err := s.sup.update(func(f *state.File) error {
			f.Instances = nil
			for _, name := range failed {
				f.Instances = append(f.Instances, state.Instance{Name: name, State: StateFailed})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var before *state.File
		if applied {
			before = &state.File{}
			for _, name := range failed {
				before.Instances = append(before.Instances, state.Instance{Name: name, State: StateReady})
			}
		}
		var e error
		if err != "" {
			e = errors.New(err)
		}
		s.sup.recordReload(e, nil, nil, applied, before, standing)
		return s.flushed()
	}
	check := func(what string, f *state.File, wantErr string, wantLeft []string) {
		t.Helper()
		if f.ReloadError != wantErr || !f.ReloadBegun || !slices.Equal(f.ReloadLeftFailed, wantLeft) {
			t.Errorf("%s: reload_error %q, reload_begun %v, reload_left_failed %v;\nwant %q, true, %v", what, f.ReloadError, f.ReloadBegun, f.ReloadLeftFailed, wantErr, wantLeft)
		}
	}
	check("mi-1's restart failed", record(mi1, true, nil, "mi-1"), mi1, []string{"mi-1"})
	check("then a refusal", record(refusal, false, nil, "mi-1"), refusal+stands+"mi-1: "+mi1, []string{"mi-1"})
	check("then another refusal", record(refusal2, false, nil, "mi-1"), refusal2+stands+"mi-1: "+mi1, []string{"mi-1"})
	check("then mi-2's restart failed", record(mi2, true, []string{"mi-1"}, "mi-1", "mi-2"), mi2+stands+"mi-1: "+mi1, []string{"mi-1", "mi-2"})
	const mi3 = "restart mi-3: mi-3 failed"
	check("then mi-3's", record(mi3, true, []string{"mi-1", "mi-2"}, "mi-1", "mi-2", "mi-3"), mi3+stands+"mi-1 and mi-2: "+mi2+"; "+mi1, []string{"mi-1", "mi-2", "mi-3"})
	check("then a refusal again", record(refusal, false, nil, "mi-1", "mi-2", "mi-3"), refusal+stands+"mi-1, mi-2 and mi-3: "+mi3+"; "+mi2+"; "+mi1, []string{"mi-1", "mi-2", "mi-3"})
	// mi-2 and mi-3 put right: the failure of mi-1 alone stands, and is
	// all reload_error says. It named all three.
	check("then a reload that succeeds, mi-1 still failed as planned", record("", true, []string{"mi-1"}, "mi-1"), mi1, []string{"mi-1"})
}

// appChecksOver reports whether the CApp checks of the named instance
// ended, none running, the last after since.
func (s *simSite) appChecksOver(name string, since time.Time) bool {
	s.sup.apps.mu.Lock()
	defer s.sup.apps.mu.Unlock()
	q := s.sup.apps.queues[name]
	return q != nil && q.round == nil && q.last != nil && !q.last.ended.Before(since)
}
