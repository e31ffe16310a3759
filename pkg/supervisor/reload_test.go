package supervisor

import (
	"errors"
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
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/proc/proctest"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// An `mictl up` that runs whole once a reload restarted mi-1 and mi-2
// (every port moved down by 2) and before it starts mi-3, which waited
// for those restarts to free its port, starts mi-3 itself: the reload
// plans again, and finds nothing left to do. Its "reloaded" event and
// the changes it returns still tell the restarts it made; they said "no
// change", the second plan's, as though the reload had restarted
// nothing.
func TestAReloadPlannedAgainTellsWhatItDidBefore(t *testing.T) {
	// Not parallel: it sets the package's reload hook (reloadAt).
	s := newSimSite(t, DefaultPolicy())
	s.upAfterRestarts()
	changes, err := s.sup.Reload(s.load)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !slices.Equal(changes.Restart, []string{"mi-1", "mi-2"}) || len(changes.Add) > 0 {
		t.Errorf("reload changes: restart %v, add %v; want mi-1 and mi-2 restarted, nothing added (the up started mi-3)", changes.Restart, changes.Add)
	}
	var ev Event
	for range 3 { // twoMovedUp's two reloads, then this one
		ev = s.next(ReloadEvent, "reloaded")
	}
	if !strings.HasPrefix(ev.Message, "~mi-1 (") || !strings.Contains(ev.Message, " ~mi-2 (") || strings.Contains(ev.Message, "+mi-3") {
		t.Errorf("reloaded: %s; want mi-1 and mi-2 restarted", ev.Message)
	}
}

// A home the first plan's restart could not bring up to date (mi-2's: a
// directory sits where the sync links the distribution's new jar
// through), which the pass planned again after the up does bring up to
// date, is said as it happened and as put right: mictl reload (the
// control call its client makes) exits 0, every instance as configured.
// The first pass's failure was the reload's error: exit 3, "mi-2 started
// again with its home not brought up to date", and no "reloaded" line,
// while mi-2 ran with its home up to date.
func TestAReloadPlannedAgainSaysTheFailureItsNextPassPutRight(t *testing.T) {
	// Not parallel: it sets the package's reload hook (reloadAt).
	s := newSimSite(t, DefaultPolicy())
	s.upAfterRestarts()
	blocker := s.blockHomeSync("mi-2")
	up := reloadAt
	reloadAt = func(at string) {
		if at == "restarted" {
			if err := os.RemoveAll(blocker); err != nil {
				t.Fatal(err)
			}
		}
		up(at)
	}
	lines, err := s.reloadAsCalled()
	if err != nil || exitcode.Of(err) != exitcode.OK {
		t.Fatalf("mictl reload: %v (exit %d); want exit 0, as the pass planned again brought mi-2's home up to date\n%s", err, exitcode.Of(err), lines)
	}
	const failure = "mi-2 started again with its home not brought up to date"
	for _, want := range []string{
		"mictl reloading: mi-3 recorded by another command (an mictl up) since the reload planned: planned again from what it recorded; what this pass left undone is the new plan's to do again: " + failure,
		"mictl reloaded: ~mi-1 (", "; put right once it planned again: " + failure,
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("mictl reload said:\n%s\nwant it to say: %s", lines, want)
		}
	}
	if _, err := os.Stat(filepath.Join(s.dir, "instances", "mi-2", "lib", "driver.jar")); err != nil {
		t.Errorf("mi-2's home: %v; want it brought up to date by the pass planned again", err)
	}
}

// A home that neither pass of a reload planned again can bring up to
// date is the reload's error, said once: the last pass's, what is still
// wrong.
func TestAReloadPlannedAgainFailsForWhatItsLastPassLeftWrong(t *testing.T) {
	// Not parallel: it sets the package's reload hook (reloadAt).
	s := newSimSite(t, DefaultPolicy())
	s.upAfterRestarts()
	s.blockHomeSync("mi-2")
	_, err := s.reloadAsCalled()
	const failure = "mi-2 started again with its home not brought up to date"
	if err == nil || exitcode.Of(err) != exitcode.Runtime || strings.Count(err.Error(), failure) != 1 {
		t.Fatalf("mictl reload: %v (exit %d); want exit %d, saying once: %s", err, exitcode.Of(err), exitcode.Runtime, failure)
	}
}

// A home the first pass of a reload planned again could not bring up to
// date (mi-2's), whose instance a stop by name (mictl down mi-2) stopped
// before the pass planned again, is still the reload's error: that pass
// leaves a stopped instance to mictl up and plans nothing for it, so it
// put nothing right. Told as "put right once it planned again", the
// reload exited 0 while mi-2's home was still behind the distribution.
func TestAReloadPlannedAgainFailsForAHomeItsLastPassLeftToUp(t *testing.T) {
	// Not parallel: it sets the package's reload hook (reloadAt).
	s := newSimSite(t, DefaultPolicy())
	s.upAfterRestarts()
	s.blockHomeSync("mi-2")
	up := reloadAt
	reloadAt = func(at string) {
		if at == "restarted" {
			if err := s.sup.Stop([]string{"mi-2"}, siteTimeout); err != nil {
				t.Fatal(err)
			}
		}
		up(at)
	}
	lines, err := s.reloadAsCalled()
	const failure = "mi-2 started again with its home not brought up to date"
	if err == nil || exitcode.Of(err) != exitcode.Runtime || strings.Count(err.Error(), failure) != 1 ||
		!strings.Contains(err.Error(), "mi-2 is stopped now: a reload leaves it to mictl up") {
		t.Fatalf("mictl reload: %v (exit %d)\n%s\nwant exit %d, saying once: %s, and that mi-2 is stopped now", err, exitcode.Of(err), lines, exitcode.Runtime, failure)
	}
	if strings.Contains(lines, "put right once it planned again") {
		t.Errorf("mictl reload said:\n%s\nwant nothing said put right: mi-2's home is still not brought up to date", lines)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "instances", "mi-2", "lib", "driver.jar")); err == nil {
		t.Error("mi-2's home has the distribution's new jar; want it still without, as the test means")
	}
	// mictl up alone puts it right, starting mi-2: no failure for status
	// to tell as one that left an instance failed, to fix first.
	if f, err := s.sup.current(); err != nil || f.ReloadError != "" || f.ReloadBegun {
		t.Errorf("recorded reload_error %q (begun %v), %v; want none: mi-2 is stopped, and mictl up brings its home up to date", f.ReloadError, f.ReloadBegun, err)
	}
}

// A reload whose restart fails (a new mi_home whose servers never get
// ready) ends there, and said so in the event log alone: the state file
// kept no reload error, and mictl status showed the failed instance with
// "mictl up starts it again", which starts it on the same distribution,
// and nothing of the reload. It is recorded as a refusal is, as begun
// (what it did before stands), until a reload applies the configuration.
func TestAFailedReloadIsRecordedUntilAReloadApplies(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 2\n")
	s.next("mi-1", StateReady)
	ready := s.sup.policy.ReadyTimeout
	s.sup.policy.ReadyTimeout = time.Nanosecond // mi-1's restart fails
	err := s.tryReload("instances = 2\n\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"a.local\" }\n")
	if err == nil {
		t.Fatal("the reload whose restart of mi-1 could not turn ready succeeded")
	}
	recorded := func() *state.File {
		t.Helper()
		f, err := s.sup.current()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := recorded(); f.ReloadError != err.Error() || !f.ReloadBegun {
		t.Fatalf("recorded reload_error %q (begun %v); want the reload's error, begun: %v", f.ReloadError, f.ReloadBegun, err)
	}
	// Tried again as it was (mictl reload), or with a comment edited:
	// mi-1, failed, is left to mictl up, which would start it as the
	// failed reload planned it; nothing else changes. The failure stands.
	// Cleared as "no change", status dropped it, and up started mi-1 into
	// the same failure.
	s.sup.policy.ReadyTimeout = ready
	for _, again := range []string{
		"instances = 2\n\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"a.local\" }\n",
		"# tried again\ninstances = 2\n\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"a.local\" }\n",
	} {
		if err := s.tryReload(again); err == nil || exitcode.Of(err) != exitcode.Runtime {
			t.Errorf("reload of the same configuration:\n%s\nreturned %v (exit %d); want exit %d, the failure standing", again, err, exitcode.Of(err), exitcode.Runtime)
		}
		if f := recorded(); f.ReloadError != err.Error() || !f.ReloadBegun {
			t.Fatalf("after a reload of the same configuration:\n%s\nreload_error %q (begun %v); want the failure kept, begun: %v", again, f.ReloadError, f.ReloadBegun, err)
		}
	}
	// The edit undone: mi-1, failed, is left to mictl up, and mi-2 runs
	// as configured. The configuration is applied, and the failure over.
	s.reload("instances = 2\n")
	if f := recorded(); f.ReloadError != "" || f.ReloadBegun {
		t.Fatalf("after a reload that applied the configuration: reload_error %q (begun %v); want none", f.ReloadError, f.ReloadBegun)
	}
}

// reloadAsCalled reloads the site's supervisor through a control call,
// as mictl reload does, and returns the lines its client prints (every
// event but the failure, which is its error) and the call's error.
func (s *simSite) reloadAsCalled() (string, error) {
	s.t.Helper()
	srv := NewServer(s.sup)
	srv.reload = func(window *rollWindow) (reconcile.Changes, error) {
		return s.sup.reload(s.load, reloadAsked, window)
	}
	var lines strings.Builder
	_, err := Call(s.t.Context(), serveControl(s.t, s.dir, srv), Request{Op: OpReload}, func(ev Event) {
		if ev.Instance != ReloadEvent || ev.State != ReloadFailed {
			fmt.Fprintln(&lines, ev)
		}
	})
	return lines.String(), err
}

// upAfterRestarts runs mi-1 and mi-2 with every port moved up by 1, then
// moves them down by 2 with mi-3 added (mictl.toml says instances = 3):
// mi-3's new HTTP port is mi-1's until its restart. An `mictl up` of
// mi-3, with the same flags, runs whole as the reload that applies it
// has restarted mi-1 and mi-2, before that reload starts mi-3.
func (s *simSite) upAfterRestarts() {
	s.t.Helper()
	moveHTTP := s.twoMovedUp()
	moveHTTP(8279)
	s.write("instances = 3\n")
	cfg, _, err := s.load(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	s.upAt("restarted", cfg, reconcile.Options{}, "mi-3", nil)
}

// together tells each instance once, and both reasons of one that both
// passes restarted for different reasons, and a redeploy in the word
// of both passes: a CApp deployed by one and another undeployed by the
// next is a redeploy.
func TestTogetherTellsBothPasses(t *testing.T) {
	first := reconcile.Changes{Restart: []string{"mi-1", "mi-2"}, Redeploy: []string{"mi-4", "mi-5"},
		CApps: map[string]string{"mi-4": "deploy", "mi-5": "deploy"},
		Why:   map[string]string{"mi-1": "deployment.toml changed", "mi-2": "offset moved", "mi-4": "CApps +a_1.0.0", "mi-5": "CApps +a_1.0.0"}}
	next := reconcile.Changes{Add: []string{"mi-3"}, Restart: []string{"mi-2"}, Redeploy: []string{"mi-4", "mi-5"},
		CApps: map[string]string{"mi-4": "undeploy", "mi-5": "deploy"},
		Why:   map[string]string{"mi-2": "the distribution's files changed: lib/driver.jar", "mi-4": "CApps -b_1.0.0", "mi-5": "CApps +b_1.0.0"}}
	if got, want := describe(together(first, next)), "+mi-3 ~mi-1 (deployment.toml changed) ~mi-2 (offset moved; then the distribution's files changed: lib/driver.jar)"+
		" redeploy mi-4 (CApps +a_1.0.0; then CApps -b_1.0.0) deploy mi-5 (CApps +a_1.0.0; then CApps +b_1.0.0)"; got != want {
		t.Errorf("together: %s, want %s", got, want)
	}
}

// The record of a reload planned twice (together), and of a pass cut
// short (only), name the homes lacking a comments-only edit of
// deployment.toml as that of a reload planned once does: they had
// "comments": [] whatever the homes lacked. together keeps the later
// look, which planned from what the first pass left.
func TestReloadRecordsKeepTheHomesLackingACommentEdit(t *testing.T) {
	first := reconcile.NoChanges()
	first.Restart, first.Why["mi-1"], first.Comments = []string{"mi-1"}, "deployment.toml changed", []string{"mi-2", "mi-3"}
	next := reconcile.NoChanges()
	next.Add, next.Comments = []string{"mi-4"}, []string{"mi-2"}
	if got := together(first, next).Comments; !slices.Equal(got, []string{"mi-2"}) {
		t.Errorf("together(...).Comments = %q, want the later look [mi-2]", got)
	}
	if got := only(first, func(string) bool { return false }).Comments; !slices.Equal(got, []string{"mi-2", "mi-3"}) {
		t.Errorf("only(...).Comments = %q, want [mi-2 mi-3]", got)
	}
}

// A reload whose restart of mi-1 cannot bring its home up to date (a
// directory sits where the sync links the distribution's new jar
// through) starts mi-1 again on its old ports, its record as it was: mi-3,
// which the same reload adds on mi-1's old HTTP port and which waited for
// that restart to free it, is left unstarted, the reload saying why and
// what to do. Started all the same, it met the port taken.
func TestAReloadStartsNoneOnThePortsOfARestartThatKeptItsHome(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	moveHTTP := s.twoMovedUp()
	s.blockHomeSync("mi-1")
	moveHTTP(8279)
	err := s.tryReload("instances = 3\n")
	if err == nil || !strings.Contains(err.Error(), "mi-1 started again with its home not brought up to date") ||
		!strings.Contains(err.Error(), "not started: mi-3, which takes ports mi-1 still holds") {
		t.Fatalf("reload: %v; want mi-1's home named as not brought up to date, and mi-3 as not started", err)
	}
	if got := s.sup.Instances([]string{"mi-3"})["mi-3"]; got.Server.Alive() {
		t.Errorf("mi-3 is %s with server %v; want it not started", got.State, got.Server)
	}
}

// A reload that moves the HTTP port down by one with mi-3 added, whose
// restart of mi-1 cannot bring mi-1's home up to date, starts mi-1 again
// on its old ports: mi-2, whose new port is mi-1's old one, is left as it
// runs, not restarted, and so is mi-3, added on mi-2's old port, not
// started; the reload says so of each, and what to do. mi-2 was stopped
// all the same and started onto mi-1's port, and failed: a healthy
// instance taken down.
func TestAReloadRestartsNoneOntoThePortsOfARestartThatKeptItsHome(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	moveHTTP := s.twoMovedUp()
	s.blockHomeSync("mi-1")
	moveHTTP(8280)
	err := s.tryReload("instances = 3\n")
	for _, want := range []string{
		"\nnot restarted: mi-2, which takes ports mi-1 still holds, as mi-1 started again with its home as it was (once what kept it from being brought up to date is fixed, mictl reload restarts mi-1, then restarts mi-2)",
		"\nnot started: mi-3, which takes ports mi-2 still holds, as mi-1 started again with its home as it was (once what kept it from being brought up to date is fixed, mictl reload restarts mi-1, then starts mi-3)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("reload: %v\nwant it to say:%s", err, want)
		}
	}
	got := s.sup.Instances([]string{"mi-2", "mi-3"})
	if mi2 := got["mi-2"]; mi2.State != StateReady || !mi2.Server.Alive() {
		t.Errorf("mi-2 is %s (%s); want it ready, as it ran", mi2.State, mi2.LastError)
	}
	if got["mi-3"].Server.Alive() {
		t.Errorf("mi-3 is %s; want it not started", got["mi-3"].State)
	}
}

// A reload that restarts mi-1 (its hostname changed) with a_1.0.0
// moved to a free port, and redeploys mi-2 with b_1.0.0 moved onto mi-1's
// old one, gives mi-2 its new build once mi-1's restart freed the port.
// When mi-1's home cannot be brought up to date, mi-1 starts again as it
// was, its old build holding the port: mi-2 keeps its CApps as they
// were, the reload saying so. Given the new build, its MI failed the
// endpoint on the port mi-1 held, and kept the CApp faulty.
func TestAReloadRedeploysNoneOntoThePortsOfARestartThatKeptItsHome(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	toml := s.runsAAndB()
	s.car("a_1.0.0.car", inboundCApp("a", 8086)) // free
	s.car("b_1.0.0.car", inboundCApp("b", 8084)) // mi-1's
	s.blockHomeSync("mi-1")
	// mi-2's home has the distribution's new jar already: only mi-1 restarts.
	if err := os.Link(filepath.Join(s.dir, "instances", ".dist", "lib", "driver.jar"), filepath.Join(s.dir, "instances", "mi-2", "lib", "driver.jar")); err != nil {
		t.Fatal(err)
	}
	err := s.tryReload(mi1Restarted(toml))
	want := "\nnot redeployed: mi-2, which takes ports mi-1 still holds, as mi-1 started again with its home as it was (once what kept it from being brought up to date is fixed, mictl reload restarts mi-1, then redeploys mi-2)"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("reload: %v\nwant it to end:%s", err, want)
	}
	if rec := s.sup.Instances([]string{"mi-2"})["mi-2"]; rec.State != StateReady {
		t.Errorf("mi-2 is %s; want it ready, its CApps as they were", rec.State)
	}
}

// A reload that a stop of everything interrupts after its restart of
// mi-1 could not bring mi-1's home up to date (a directory sits where the
// sync links the distribution's new jar through) still answers with
// ErrInterrupted alone, by whose text the daemon's client knows it (see
// call), and tells that home in its reload-interrupted event: the
// interruption alone was told, and the home left as it was went unsaid.
func TestAnInterruptedReloadTellsTheHomesItCouldNotPrepare(t *testing.T) {
	t.Parallel()
	s := twoDraining(t)
	s.blockHomeSync("mi-1")
	reloaded := make(chan error, 1)
	go func() { reloaded <- s.tryReload("instances = 2\n") }()
	s.next("mi-2", StateStopping) // mi-1 restarted, its home as it was
	s.sup.interruptChanges(siteTimeout)
	if err := s.sup.Stop(nil, siteTimeout); err != nil {
		t.Fatal(err)
	}
	if err := <-reloaded; err == nil || err.Error() != ErrInterrupted.Error() {
		t.Fatalf("reload = %v; want %q", err, ErrInterrupted)
	}
	if ev := s.next(ReloadEvent, "reload-interrupted"); !strings.HasPrefix(ev.Message, ErrInterrupted.Error()) ||
		!strings.Contains(ev.Message, "mi-1 started again with its home not brought up to date") {
		t.Errorf("reload-interrupted: %s; want the interruption, then mi-1's home named as not brought up to date", ev.Message)
	}
}

// blockHomeSync adds a jar to the site's distribution, which has every
// restart sync it into the homes, and puts a directory in name's home
// where that sync links the jar through: name's home cannot be brought
// up to date until the directory, returned, is removed.
func (s *simSite) blockHomeSync(name string) (blocker string) {
	s.t.Helper()
	blocker = filepath.Join(s.dir, "instances", name, "lib", ".driver.jar.link-tmp")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "instances", ".dist", "lib", "driver.jar"), []byte("PK driver"), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return blocker
}

// twoDraining runs mi-1 and mi-2, each holding its ports for a while
// through a graceful shutdown, as MI's drain does: a stop of everything
// comes while a restart's stop is under way.
func twoDraining(t *testing.T) *simSite {
	t.Helper()
	s := newSimSite(t, DefaultPolicy())
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "300ms")
	s.reload("instances = 2\n")
	s.next("mi-1", StateReady)
	s.next("mi-2", StateReady)
	return s
}

// The reloading and reloaded lines word a change of CApps alone as the
// instance's own event and mictl diff do (reconcile.Changes.CApps):
// "deploy mi-1 (CApps +shop_1.0.0)", then "undeploy" when it is taken
// away. They said "mi-1 (CApps +shop_1.0.0)", no word for what it did.
func TestAReloadLineWordsACAppChangeAsTheInstanceEventDoes(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.car("shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	s.reload("instances = 1\n")
	s.reload("instances = 1\ncapps = [\"build/shop_1.0.0.car\"]\n")
	s.reload("instances = 1\n")
	s.next(ReloadEvent, "reloaded") // mi-1 added
	for _, want := range []string{"deploy mi-1 (CApps +shop_1.0.0)", "undeploy mi-1 (CApps -shop_1.0.0)"} {
		if ev := s.next(ReloadEvent, "reloading"); ev.Message != want {
			t.Errorf("reloading: %s; want %s", ev.Message, want)
		}
		if ev := s.next(ReloadEvent, "reloaded"); ev.Message != want {
			t.Errorf("reloaded: %s; want %s", ev.Message, want)
		}
	}
}

// An `mictl up` with the same planning flags that holds the state lock
// as a reload that removes mi-2 (an edit to instances = 1) looks whether
// an up kept mi-2 meanwhile, and records the configuration's names
// without mi-2 (it keeps what runs), keeps mi-2 running: the look waits
// for the up's record, as the reload's plan does, and the reload plans
// again. Read without the lock, the look missed the record the up was
// about to write, and the reload stopped and forgot the instance the up
// kept.
func TestAReloadLooksForAnUpHoldingTheStateLockBeforeItStops(t *testing.T) {
	// Not parallel: it sets the package's reload hook (reloadAt).
	s, _, _ := twoRunningEditedToOne(t)
	before := s.sup.Instances([]string{"mi-2"})["mi-2"].Server
	// The up runs in another process: a store of its own, whose lock
	// the supervisor's waits for in flock(2).
	up, err := state.Open(s.sup.store.Dir())
	if err != nil {
		t.Fatal(err)
	}
	signalled := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { sentSIGTERM = nil })
	sentSIGTERM = func(int) { once.Do(func() { close(signalled) }) }
	recorded := make(chan error, 1)
	t.Cleanup(func() { reloadAt = nil })
	reloadAt = func(at string) {
		if at != "planned" {
			return
		}
		reloadAt = nil
		unlock, err := up.Lock(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// The up records once the reload either waits for its lock or
		// has signalled mi-2 without waiting: what it records is then
		// after the reload's look, as an up that takes the lock a moment
		// later records it.
		go func() {
			defer unlock()
			for waiting := false; !waiting; {
				select {
				case <-signalled:
					waiting = true
				case <-time.After(5 * time.Millisecond):
					waiting = proctest.WaitsForALock(os.Getpid())
				}
			}
			f, err := up.Load()
			if err == nil {
				f.Configured = []string{"mi-1"}
				err = up.Quick().Save(f)
			}
			recorded <- err
		}()
	}
	if _, err := s.sup.Reload(s.load); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if err := <-recorded; err != nil {
		t.Fatal(err)
	}
	if got := s.sup.Instances([]string{"mi-2"})["mi-2"]; got.State != StateReady || got.Server != before {
		t.Fatalf("mi-2 is %s with server %v after the reload; want it ready, still %v, as the up kept it", got.State, got.Server, before)
	}
}

// An `mictl up` with the same planning flags (mictl.toml edited back to
// instances = 2) that plans while a reload stops mi-2, which an edit to
// instances = 1 removes, and whose start reaches the daemon once the
// reload forgot mi-2, starts mi-2: the up marks the instance, still
// stopping, to start again once stopped (state.Instance.Restarting, as
// prepareUp in pkg/cli does), and the forget keeps a record so marked.
// With mi-2 running, the up recorded nothing else of it, the instance
// list it wrote was the one before the reload, and the forget dropped
// the record: the up's start failed, "instance mi-2 is not in ...".
func TestAReloadKeepsWhatAnUpDuringItsStopStartsAgain(t *testing.T) {
	// Not parallel: it sets the package's reload hook (reloadAt).
	s, _, _ := twoRunningEditedToOne(t)
	up, err := state.Open(s.sup.store.Dir())
	if err != nil {
		t.Fatal(err)
	}
	// mi-2's server is held (SIGSTOP) from before the reload stops it
	// until the up has recorded: the up plans during the drain, whatever
	// its length. Held right after its SIGTERM (from the stop hook), it
	// had at times shut down already on a loaded host (the simulator
	// takes milliseconds): the stop ended before the up looked, "mi-2 not
	// recorded stopping after 30s" (a clean-clone CI run), or as it
	// recorded.
	mi2 := s.sup.Instances([]string{"mi-2"})["mi-2"].PGID
	if mi2 <= 1 {
		t.Fatalf("mi-2 has no process group to hold (pgid %d)", mi2)
	}
	resume := func() { _ = syscall.Kill(-mi2, syscall.SIGCONT) }
	t.Cleanup(resume)
	recorded := make(chan error, 1)
	go func() {
		defer resume()
		recorded <- upDuringTheStop(t, up)
	}()
	// Said when it fails, for the next one to read.
	defer func() {
		if t.Failed() {
			if f, err := up.Load(); err != nil {
				t.Logf("the state file: %v", err)
			} else if rec, ok := f.Instance("mi-2"); ok {
				t.Logf("mi-2 as the state file records it: %s, pgid %d (held %d), restarting %v", rec.State, rec.PGID, mi2, rec.Restarting)
			}
			t.Logf("events:\n%s", s.log("mi-2"))
		}
	}()
	// Held, and edited back, once the reload planned, before the up plans.
	t.Cleanup(func() { reloadAt = nil })
	reloadAt = func(at string) {
		if at == "planned" {
			reloadAt = nil
			if err := syscall.Kill(-mi2, syscall.SIGSTOP); err != nil {
				t.Error(err)
			}
			s.write("instances = 2\n")
		}
	}
	if _, err := s.sup.Reload(s.load); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if err := <-recorded; err != nil {
		t.Fatal(err)
	}
	f, err := up.Load()
	if err != nil {
		t.Fatal(err)
	}
	if rec, ok := f.Instance("mi-2"); !ok {
		t.Errorf("mi-2 not recorded after the reload; want it stopped, as the stop ended, and marked to start again")
	} else if rec.State != StateStopped || !rec.Restarting {
		t.Errorf("mi-2 recorded %s, marked to start again: %v, after the reload; want it stopped, as the stop ended, and marked", rec.State, rec.Restarting)
	}
	// The up's start, after the forget.
	if err := s.sup.Start([]string{"mi-2"}); err != nil {
		t.Fatalf("the up's start once the reload stopped mi-2: %v", err)
	}
	s.next("mi-2", StateReady)
}

// upDuringTheStop is the up of TestAReloadKeepsWhatAnUpDuringItsStopStartsAgain,
// in another process (up, a store of its own): once the reload's stop
// recorded mi-2 stopping, it records, as prepareUp does, the
// configuration's names and mi-2 to start again.
func upDuringTheStop(t *testing.T, up *state.Store) error {
	for deadline := time.Now().Add(siteTimeout); ; time.Sleep(5 * time.Millisecond) {
		f, err := up.Load()
		if err != nil {
			return err
		}
		if rec, ok := f.Instance("mi-2"); ok && rec.State == StateStopping {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mi-2 not recorded stopping after %s", siteTimeout)
		}
	}
	return up.Update(t.Context(), func(f *state.File) error {
		rec, ok := f.Instance("mi-2")
		if !ok || rec.State != StateStopping {
			return errors.New("mi-2 no longer recorded stopping as the up records")
		}
		rec.Restarting = true
		f.Configured = []string{"mi-1", "mi-2"}
		return nil
	})
}

// What the passes of a reload before its last failed for mi-1 and mi-2
// together is put right for mi-1 alone when the last pass reckoned mi-1
// only (mi-2 stopped since): each part is said of its own instances, and
// what stands for one left to mictl up says why it was left, apart from
// what stands otherwise (an instance no longer planned, a failure naming
// none), which the reload records.
func TestSortOutSaysEachPartOfItsOwnInstances(t *testing.T) {
	say := func(names []string) error { return fmt.Errorf("%s kept their homes", strings.Join(names, ", ")) }
	other := errors.New("no instance named")
	failed := errors.Join(failedFor([]string{"mi-1", "mi-2", "mi-3"}, say), errors.Join(failedFor([]string{"mi-1"}, say), other))
	putRight, stands, upFixes := sortOut(failed, func(name string) bool { return name == "mi-1" },
		func(names []string) string {
			if slices.Contains(names, "mi-2") {
				return "mi-2 left alone"
			}
			return ""
		})
	if got, want := errors.Join(putRight...).Error(), "mi-1 kept their homes\nmi-1 kept their homes"; got != want {
		t.Errorf("put right: %q, want %q", got, want)
	}
	if got, want := errors.Join(upFixes...).Error(), "mi-2 kept their homes; mi-2 left alone"; got != want {
		t.Errorf("left to up: %q, want %q", got, want)
	}
	if got, want := errors.Join(stands...).Error(), "mi-3 kept their homes\nno instance named"; got != want {
		t.Errorf("stands: %q, want %q", got, want)
	}
}

// Two reloads that wait behind the daemon's own reload of an edit each
// say what that one applied, the reload under way as they began: both
// read how the last reload ended, and the second to run read the first's
// (which had found nothing left to change), and said "no change".
func TestReloadsWaitingBehindTheSameReloadEachSayWhatItApplied(t *testing.T) {
	// Not parallel: it sets the package's reload hook (reloadAt).
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\n")
	s.next(ReloadEvent, "reloaded")
	s.write("instances = 2\n")
	planned, release := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { reloadAt = nil })
	reloadAt = func(at string) {
		if at == "planned" {
			reloadAt = nil
			close(planned)
			<-release
		}
	}
	errs := make(chan error, 3)
	go func() { _, err := s.sup.reload(s.load, reloadFollowed, nil); errs <- err }()
	<-planned
	for range 2 {
		go func() { _, err := s.sup.reload(s.load, reloadAsked, s.client()); errs <- err }()
		if ev := s.next(ReloadEvent, "reloading"); !strings.HasPrefix(ev.Message, "waiting for ") {
			t.Fatalf("reloading: %s; want a reload waiting behind the daemon's own", ev.Message)
		}
	}
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("reload: %v", err)
		}
	}
	if ev := s.next(ReloadEvent, "reloaded"); ev.Message != "+mi-2" {
		t.Errorf("the daemon's own reload: reloaded %s, want +mi-2", ev.Message)
	}
	const want = "nothing left to change: the daemon's own reload of the edit it follows, under way as this reload began, applied the configuration as it is now: +mi-2"
	for range 2 {
		if ev := s.next(ReloadEvent, "reloaded"); ev.Message != want {
			t.Errorf("a reload behind it: reloaded %s, want %s", ev.Message, want)
		}
	}
}
