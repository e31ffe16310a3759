package appstate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/mgmt"
	"github.com/mictl/mictl/pkg/proc"
)

const deployedLine = "[x]  INFO {CappDeployer} - Successfully Deployed Carbon Application : orders_1.0.0{super-tenant}\n"

func logTo(t *testing.T, homeDir, text string) {
	t.Helper()
	path := home.CarbonLog(homeDir)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// waitOne waits for app on one instance, running change (what a deploy
// does to the instance) after the waiter has seen the instance as it was.
func waitOne(t *testing.T, target Target, app Declared, goal Goal, timeout time.Duration, change func()) Outcome {
	t.Helper()
	s := NewSession([]Target{target}, Options{Follow: true, Timeout: time.Second})
	defer s.Close()
	w := NewWaiter(context.Background(), s, app, goal)
	change()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return w.Wait(ctx, 10*time.Millisecond, nil)[0]
}

func TestWaitForANewApplication(t *testing.T) {
	dir := t.TempDir()
	orders := buildCar(t, dir, capp.Spec{Name: "orders", Version: "1.0.0"})
	f, url := newFakeMI(t)
	h := t.TempDir()
	target := Target{Name: "mi-1", Running: true, Home: h, URL: url}
	got := waitOne(t, target, orders, GoalActive, 5*time.Second, func() {
		go func() {
			time.Sleep(50 * time.Millisecond)
			deployTo(t, h, orders, "orders_1.0.0.car")
			f.set(apps([]mgmt.Application{{Name: "orders", Version: "1.0.0"}}))
		}()
	})
	if got.State != StateActive {
		t.Fatalf("outcome %+v", got)
	}

	// Faulty: MI's errorMessage.
	broken := buildCar(t, dir, capp.Spec{Name: "broken", Version: "1.0.0", Faulty: true})
	got = waitOne(t, target, broken, GoalActive, 5*time.Second, func() {
		deployTo(t, h, broken, "broken_1.0.0.car")
		f.set(apps(nil, mgmt.Application{Name: "broken", Version: "1.0.0", ErrorMessage: "it broke"}))
	})
	if got.State != StateFaulty || got.Message != "it broke" {
		t.Fatalf("outcome %+v", got)
	}

	// Never deployed: pending at the timeout.
	never := buildCar(t, dir, capp.Spec{Name: "never", Version: "1.0.0"})
	got = waitOne(t, target, never, GoalActive, 100*time.Millisecond, func() {})
	if got.State != StatePending {
		t.Fatalf("outcome %+v", got)
	}
}

// A wait that ends while an MI that does not answer is being asked says
// why it is pending in the user's terms: the last look cut short by the
// wait's end said "context deadline exceeded".
func TestWaitForAHungMISaysNoAnswer(t *testing.T) {
	orders := buildCar(t, t.TempDir(), capp.Spec{Name: "orders", Version: "1.0.0"})
	f, url := newFakeMI(t)
	f.hang = make(chan struct{})
	defer close(f.hang)
	target := Target{Name: "mi-1", Running: true, Home: t.TempDir(), URL: url}
	// Longer than two calls (1 s each), and not a whole number of them:
	// the wait ends during a call.
	got := waitOne(t, target, orders, GoalActive, 2500*time.Millisecond, func() {})
	if got.State != StatePending || !strings.HasSuffix(got.Message, "no answer within 1s") {
		t.Fatalf("outcome %+v, want pending, no answer within 1s", got)
	}
}

// A refused login ends the wait at once: waiting does not fix a password.
func TestWaitEndsOnARefusedLogin(t *testing.T) {
	orders := buildCar(t, t.TempDir(), capp.Spec{Name: "orders", Version: "1.0.0"})
	f, url := newFakeMI(t)
	f.refuse = true
	target := Target{Name: "mi-1", Running: true, Home: t.TempDir(), URL: url}
	got := waitOne(t, target, orders, GoalActive, time.Minute, func() {})
	if got.State != StateUnknown || !strings.Contains(got.Message, "check management_user / management_password") {
		t.Fatalf("outcome %+v, want unknown with the login's refusal", got)
	}
}

// runningRebuilt is an instance running orders_1.0.0, which its
// Management API lists as active, whose declared file was then rebuilt
// as spec says (the same id): where a wait for the rebuild starts.
func runningRebuilt(t *testing.T, spec capp.Spec) (target Target, rebuilt Declared, mi *fakeMI) {
	t.Helper()
	dir := t.TempDir()
	old := buildCar(t, dir, capp.Spec{Name: "orders", Version: "1.0.0"})
	h := t.TempDir()
	deployTo(t, h, old, "orders_1.0.0.car")
	logTo(t, h, deployedLine)
	if err := os.Remove(old.Path); err != nil {
		t.Fatal(err)
	}
	rebuilt = buildCar(t, dir, spec)
	mi, url := newFakeMI(t)
	mi.set(apps([]mgmt.Application{{Name: "orders", Version: "1.0.0"}}))
	return Target{Name: "mi-1", Running: true, Home: h, URL: url}, rebuilt, mi
}

// A rebuilt application is not taken for deployed while MI still runs its
// previous build: only MI's log line after the start says it deployed it.
func TestWaitForARebuild(t *testing.T) {
	target, rebuilt, _ := runningRebuilt(t, capp.Spec{Name: "orders", Version: "1.0.0", APIs: []capp.APISpec{{Context: "/v2"}}})
	h := target.Home
	got := waitOne(t, target, rebuilt, GoalActive, 150*time.Millisecond, func() { deployTo(t, h, rebuilt, "orders_1.0.0.car") })
	if got.State != StatePending {
		t.Fatalf("copied but not redeployed by MI: %+v", got)
	}
	got = waitOne(t, target, rebuilt, GoalActive, 5*time.Second, func() { logTo(t, h, deployedLine) })
	if got.State != StateActive {
		t.Fatalf("MI logged the deployment: %+v", got)
	}
	// The same build again: active at once, MI logs nothing new.
	got = waitOne(t, target, rebuilt, GoalActive, 5*time.Second, func() {})
	if got.State != StateActive {
		t.Fatalf("already running: %+v", got)
	}
}

// A rebuild that turns faulty ends the wait as faulty, although MI's
// last line about the application is the revert of its artifacts.
func TestWaitForARebuildThatFails(t *testing.T) {
	target, rebuilt, f := runningRebuilt(t, capp.Spec{Name: "orders", Version: "1.0.0", Faulty: true})
	h := target.Home
	got := waitOne(t, target, rebuilt, GoalActive, 5*time.Second, func() {
		deployTo(t, h, rebuilt, "orders_1.0.0.car")
		f.set(apps(nil, mgmt.Application{Name: "orders", Version: "1.0.0", ErrorMessage: "it broke"}))
		logTo(t, h, "[x]  INFO {CappDeployer} - Successfully undeployed Carbon Application : orders_1.0.0{super-tenant}\n"+
			"[x] ERROR {CappDeployer} - Error occurred while deploying the Carbon application: orders_1.0.0.car. Reverting successfully deployed artifacts in the CApp. org.apache.axis2.deployment.DeploymentException: it broke\n"+
			"[x]  INFO {CappDeployer} - Undeploying Carbon Application : orders_1.0.0...\n"+
			"[x]  INFO {CappDeployer} - Successfully undeployed Carbon Application : orders_1.0.0{super-tenant}\n")
	})
	if got.State != StateFaulty || got.Message != "it broke" {
		t.Fatalf("outcome %+v, want faulty with MI's errorMessage", got)
	}
}

func TestWaitUntilGone(t *testing.T) {
	dir := t.TempDir()
	orders := buildCar(t, dir, capp.Spec{Name: "orders", Version: "1.0.0"})
	f, url := newFakeMI(t)
	f.set(apps([]mgmt.Application{{Name: "orders", Version: "1.0.0"}}))
	h := t.TempDir()
	deployTo(t, h, orders, "orders_1.0.0.car")
	target := Target{Name: "mi-1", Running: true, Home: h, URL: url}
	got := waitOne(t, target, orders, GoalGone, 100*time.Millisecond, func() {})
	if got.State != StatePending {
		t.Fatalf("still listed: %+v", got)
	}
	got = waitOne(t, target, orders, GoalGone, 5*time.Second, func() { f.set(apps(nil)) })
	if got.State != StateGone {
		t.Fatalf("outcome %+v", got)
	}
}

// An instance that does not run is said to take the change when it
// starts, in the change's own words: a stopped instance undeploy --wait
// named "gets the application when it starts", when its start (which
// brings its carbonapps/ up to date) leaves the application out.
func TestWaitSaysWhatAStoppedInstanceStartsWith(t *testing.T) {
	orders := buildCar(t, t.TempDir(), capp.Spec{Name: "orders", Version: "1.0.0"})
	target := Target{Name: "mi-2", Home: t.TempDir()}
	for _, tt := range []struct {
		goal Goal
		want string
	}{
		{GoalActive, "not running: it gets the application when it starts"},
		{GoalGone, "not running: it starts without the application"},
	} {
		got := waitOne(t, target, orders, tt.goal, time.Second, func() {})
		if got.State != StatePending || !got.NotRunning || got.Message != tt.want {
			t.Errorf("goal %d: outcome %+v, want pending, not running, %q", tt.goal, got, tt.want)
		}
	}
}

// A server that exits during the wait (a down, a crash) ends the wait for
// its instance, as one that did not run: no MI is left to take the change
// (deploy --wait raced by a down waited out its whole timeout).
func TestWaitEndsWhenTheServerExits(t *testing.T) {
	orders := buildCar(t, t.TempDir(), capp.Spec{Name: "orders", Version: "1.0.0"})
	_, url := newFakeMI(t)
	server := exec.Command("sleep", "60")
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	end := func() { once.Do(func() { _ = server.Process.Kill(); _ = server.Wait() }) }
	t.Cleanup(end)
	id, err := proc.Identify(server.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Name: "mi-1", Running: true, Server: id, Home: t.TempDir(), URL: url}
	got := waitOne(t, target, orders, GoalActive, 20*time.Second, end)
	if got.State != StatePending || !strings.HasPrefix(got.Message, "not running: its server (pid ") {
		t.Fatalf("outcome %+v, want pending, not running", got)
	}
}

// A build taken out of carbonapps/ during the wait (an undeploy racing
// deploy --wait) ends the wait: MI will not deploy it any more (the wait
// went on for its whole timeout).
func TestWaitEndsWhenTheBuildIsTakenOut(t *testing.T) {
	orders := buildCar(t, t.TempDir(), capp.Spec{Name: "orders", Version: "1.0.0"})
	_, url := newFakeMI(t)
	h := t.TempDir()
	s := NewSession([]Target{{Name: "mi-1", Running: true, Home: h, URL: url}}, Options{Follow: true, Timeout: time.Second})
	defer s.Close()
	w := NewWaiter(context.Background(), s, orders, GoalActive)
	deployTo(t, h, orders, "orders_1.0.0.car")
	if got := w.Judge(context.Background())[0]; got.State != StatePending {
		t.Fatalf("copied, not listed yet: %+v, want pending", got)
	}
	if err := os.Remove(filepath.Join(home.CarbonAppsDir(h), "orders_1.0.0.car")); err != nil {
		t.Fatal(err)
	}
	if got := w.Judge(context.Background())[0]; got.State != StateGone || !strings.Contains(got.Message, "no longer in its carbonapps/") {
		t.Fatalf("taken out: %+v, want undeployed", got)
	}
}

// A build the daemon copied, then taken out again before the wait's first
// look (an undeploy landing right after deploy's reload) ends the wait as
// well: no look saw it there, and the wait went on for its whole timeout.
func TestWaitEndsWhenTheBuildIsTakenOutBeforeTheFirstLook(t *testing.T) {
	orders := buildCar(t, t.TempDir(), capp.Spec{Name: "orders", Version: "1.0.0"})
	_, url := newFakeMI(t)
	s := NewSession([]Target{{Name: "mi-1", Running: true, Home: t.TempDir(), URL: url}}, Options{Follow: true, Timeout: time.Second})
	defer s.Close()
	w := NewWaiter(context.Background(), s, orders, GoalActive)
	w.Reloaded([]string{"mi-1"}) // the reload returned; carbonapps/ has already lost it
	if got := w.Judge(context.Background())[0]; got.State != StateGone || !strings.Contains(got.Message, "undeployed meanwhile") {
		t.Fatalf("outcome %+v, want undeployed", got)
	}
}

// A build replaced in carbonapps/ by a rebuild of its file during the wait
// is said to be that, with how to wait for the new one: the wait said
// "undeployed meanwhile", an undeploy, a rebuild or an edit alike.
func TestWaitSaysTheFileWasRebuilt(t *testing.T) {
	dir := t.TempDir()
	orders := buildCar(t, dir, capp.Spec{Name: "orders", Version: "1.0.0"})
	_, url := newFakeMI(t)
	h := t.TempDir()
	s := NewSession([]Target{{Name: "mi-1", Running: true, Home: h, URL: url}}, Options{Follow: true, Timeout: time.Second})
	defer s.Close()
	w := NewWaiter(context.Background(), s, orders, GoalActive)
	deployTo(t, h, orders, "orders_1.0.0.car")
	w.Reloaded([]string{"mi-1"})
	rebuilt := buildCar(t, dir, capp.Spec{Name: "orders", Version: "1.0.0", APIs: []capp.APISpec{{Context: "/v2"}}})
	deployTo(t, h, rebuilt, "orders_1.0.0.car") // the daemon follows the file
	if got := w.Judge(context.Background())[0]; got.State != StateGone || !strings.Contains(got.Message, orders.Path+" was rebuilt meanwhile") {
		t.Fatalf("rebuilt: %+v, want undeployed, saying the file was rebuilt", got)
	}
}

// A build the reload took out, then deployed again before MI dropped it
// (a deploy landing during undeploy --wait), ends the wait at once: MI
// keeps listing it, and the wait went on until its timeout.
func TestWaitUntilGoneEndsWhenDeployedAgain(t *testing.T) {
	orders := buildCar(t, t.TempDir(), capp.Spec{Name: "orders", Version: "1.0.0"})
	f, url := newFakeMI(t)
	f.set(apps([]mgmt.Application{{Name: "orders", Version: "1.0.0"}}))
	h := t.TempDir()
	deployTo(t, h, orders, "orders_1.0.0.car")
	s := NewSession([]Target{{Name: "mi-1", Running: true, Home: h, URL: url}}, Options{Follow: true, Timeout: time.Second})
	defer s.Close()
	w := NewWaiter(context.Background(), s, orders, GoalGone)
	if err := os.Remove(filepath.Join(home.CarbonAppsDir(h), "orders_1.0.0.car")); err != nil {
		t.Fatal(err)
	}
	w.Reloaded([]string{"mi-1"})
	deployTo(t, h, orders, "orders_1.0.0.car")
	if got := w.Judge(context.Background())[0]; got.State != StateBack || !strings.Contains(got.Message, "deployed again meanwhile") {
		t.Fatalf("deployed again: %+v, want deployed again", got)
	}
}

// sleeper is a live process standing for a server, ended by the test.
func sleeper(t *testing.T) (id proc.Identity, end func()) {
	t.Helper()
	p := exec.Command("sleep", "60")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	end = func() { once.Do(func() { _ = p.Process.Kill(); _ = p.Wait() }) }
	t.Cleanup(end)
	id, err := proc.Identify(p.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return id, end
}

// A server that restarts during the wait (MI's own restart, exit 121: the
// script starts a new server) is waited for: the wait goes on with the
// new server, as the supervisor records it, until it lists the app. The
// old server's exit ended the wait "not running" (exit 0, nothing
// deployed yet).
func TestWaitGoesOnWithARestartedServer(t *testing.T) {
	orders := buildCar(t, t.TempDir(), capp.Spec{Name: "orders", Version: "1.0.0"})
	f, url := newFakeMI(t)
	h := t.TempDir()
	first, endFirst := sleeper(t)
	second, _ := sleeper(t)
	target := Target{Name: "mi-1", Running: true, Server: first, Home: h, URL: url}
	var mu sync.Mutex
	now := target // what the supervisor records
	current := func(string) (Target, bool) {
		mu.Lock()
		defer mu.Unlock()
		return now, true
	}
	s := NewSession([]Target{target}, Options{Follow: true, Timeout: time.Second, Current: current})
	defer s.Close()
	w := NewWaiter(context.Background(), s, orders, GoalActive)
	deployTo(t, h, orders, "orders_1.0.0.car")
	endFirst()
	mu.Lock()
	now = Target{Name: "mi-1", State: "ready", Home: h, URL: url, Starting: true} // its script runs on
	mu.Unlock()
	if got := w.Judge(context.Background())[0]; got.State != StatePending || got.NotRunning || !strings.Contains(got.Message, "starting again") {
		t.Fatalf("server exited, its successor not found yet: %+v, want pending, starting again", got)
	}
	mu.Lock()
	now = Target{Name: "mi-1", State: "starting", Running: true, Server: second, Home: h, URL: url}
	mu.Unlock()
	f.set(apps([]mgmt.Application{{Name: "orders", Version: "1.0.0"}}))
	if got := w.Judge(context.Background())[0]; got.State != StateActive {
		t.Fatalf("the new server lists it: %+v, want active", got)
	}
}

// With the Management API off the log says it all.
func TestWaitFromTheLog(t *testing.T) {
	dir := t.TempDir()
	orders := buildCar(t, dir, capp.Spec{Name: "orders", Version: "1.0.0"})
	h := t.TempDir()
	target := Target{Name: "mi-1", Running: true, Home: h}
	got := waitOne(t, target, orders, GoalActive, 5*time.Second, func() {
		deployTo(t, h, orders, "orders_1.0.0.car")
		logTo(t, h, deployedLine)
	})
	if got.State != StateActive {
		t.Fatalf("deployed: %+v", got)
	}
	got = waitOne(t, target, orders, GoalActive, 5*time.Second, func() {})
	if got.State != StateActive {
		t.Fatalf("deployed before the wait: %+v", got)
	}
	got = waitOne(t, target, orders, GoalGone, 5*time.Second, func() {
		logTo(t, h, "[x]  INFO {CappDeployer} - Successfully undeployed Carbon Application : orders_1.0.0{super-tenant}\n")
	})
	if got.State != StateGone {
		t.Fatalf("undeployed: %+v", got)
	}
	broken := buildCar(t, dir, capp.Spec{Name: "broken", Version: "1.0.0", Faulty: true})
	got = waitOne(t, target, broken, GoalActive, 5*time.Second, func() {
		deployTo(t, h, broken, "broken_1.0.0.car")
		logTo(t, h, "[x] ERROR {CappDeployer} - Error occurred while deploying the Carbon application: broken_1.0.0.car. Reverting successfully deployed artifacts in the CApp.\n"+
			"org.apache.axis2.deployment.DeploymentException: it broke\n")
	})
	if got.State != StateFaulty || got.Message != "it broke" {
		t.Fatalf("faulty: %+v", got)
	}
}
