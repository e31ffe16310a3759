package appstate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/mgmt"
)

// buildCar writes a CApp of spec into dir and reads it back.
func buildCar(t *testing.T, dir string, spec capp.Spec) Declared {
	t.Helper()
	var buf bytes.Buffer
	if err := capp.Build(&buf, spec); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, spec.Name+"_"+spec.Version+".car")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	app, err := capp.Read(path)
	if err != nil {
		var ce *capp.Error
		if !errors.As(err, &ce) || ce.App == nil {
			t.Fatal(err)
		}
		app = ce.App // a faulty build
	}
	return Declared{Path: path, App: app}
}

// deployTo copies d into home's carbonapps/ as mictl does (same bytes,
// same modification time), as name.
func deployTo(t *testing.T, homeDir string, d Declared, name string) {
	t.Helper()
	dir := home.CarbonAppsDir(homeDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.CopyFileAtomic(d.Path, filepath.Join(dir, name), 0o644); err != nil {
		t.Fatal(err)
	}
}

func apps(active []mgmt.Application, faulty ...mgmt.Application) *mgmt.Applications {
	return &mgmt.Applications{ActiveList: active, FaultyList: faulty, ActiveCount: len(active), FaultyCount: len(faulty), TotalCount: len(active) + len(faulty)}
}

func TestViewStates(t *testing.T) {
	dir := t.TempDir()
	orders := buildCar(t, dir, capp.Spec{Name: "orders", Version: "1.0.0", APIs: []capp.APISpec{{Context: "/orders"}}})
	billing := buildCar(t, dir, capp.Spec{Name: "billing", Version: "2.0.0"})
	broken := buildCar(t, dir, capp.Spec{Name: "broken", Version: "1.0.0", Faulty: true})
	missing := Declared{Path: filepath.Join(dir, "gone.car"), Err: fmt.Errorf("cannot open: no such file or directory")}
	homeDir := t.TempDir()
	deployTo(t, homeDir, orders, "orders_1.0.0.car")
	deployTo(t, homeDir, broken, "broken_1.0.0.car")

	target := Target{Name: "mi-1", State: "ready", Running: true, Home: homeDir, URL: "https://127.0.0.1:9164",
		Declared: []Declared{orders, billing, broken, missing}}
	s := NewSession([]Target{target}, Options{})
	o := Observation{Target: target, Source: SourceAPI, Copies: s.copies(target), Apps: apps(
		[]mgmt.Application{
			{Name: "orders", Version: "1.0.0", Artifacts: []mgmt.ArtifactRef{{Name: "ordersAPI", Type: "api"}}},
			{Name: "billing", Version: "2.0.0"}, // another build: billing's file is not in carbonapps/
			{Name: "stray", Version: "0.1"},
		},
		mgmt.Application{Name: "broken", Version: "1.0.0", ErrorMessage: "API deployment from the file : x : Failed."})}
	v := View(o)
	byID := map[string]App{}
	for _, a := range v.Apps {
		byID[a.ID] = a
	}
	check := func(id, state string) App {
		t.Helper()
		a, ok := byID[id]
		if !ok || a.State != state {
			t.Fatalf("%s: %+v, want state %s", id, a, state)
		}
		return a
	}
	if a := check("orders_1.0.0", StateActive); len(a.Artifacts) != 1 || a.Artifacts[0] != (Artifact{"ordersAPI", "api"}) ||
		*a.DeployedFile != "orders_1.0.0.car" || *a.SHA256 != orders.App.SHA256 {
		t.Fatalf("orders: %+v", a)
	}
	if a := check("billing_2.0.0", StatePending); a.Note == nil || !strings.Contains(*a.Note, "another build") {
		t.Fatalf("billing: %+v", a)
	}
	if a := check("broken_1.0.0", StateFaulty); *a.ErrorMessage != "API deployment from the file : x : Failed." {
		t.Fatalf("broken: %+v", a)
	}
	if a := check("gone", StateUnknown); !strings.Contains(*a.ErrorMessage, "cannot open") {
		t.Fatalf("gone: %+v", a)
	}
	if a := check("stray_0.1", StateActive); a.Declared != nil || a.Note == nil {
		t.Fatalf("stray: %+v", a)
	}
	if len(v.Apps) != 5 || v.Apps[0].ID != "orders_1.0.0" || v.Apps[4].ID != "stray_0.1" {
		t.Fatalf("order: declared first, in mictl.toml's order, then MI's others: %+v", v.Apps)
	}

	// A declared file deleted since MI deployed it: one row, MI's state,
	// and a note on the file (not an unknown row and an undeclared one).
	deleted := Declared{Path: filepath.Join(dir, "stray_0.1.car"), Err: fmt.Errorf("cannot open: no such file or directory")}
	withDeleted := target
	withDeleted.Declared = []Declared{deleted}
	o.Target = withDeleted
	v = View(o)
	var strays []App
	for _, a := range v.Apps {
		if a.ID == "stray_0.1" {
			strays = append(strays, a)
		}
	}
	if len(strays) != 1 || strays[0].State != StateActive || strays[0].Declared == nil || strays[0].Note == nil ||
		!strings.Contains(*strays[0].Note, "cannot read the declared file") {
		t.Fatalf("a deleted declared file MI still runs: %+v", strays)
	}

	// Not running: everything declared is pending, with a note.
	stopped := target
	stopped.Running, stopped.State = false, "stopped"
	v = View(Observation{Target: stopped})
	if v.Note == nil || v.Source != nil || v.Apps[0].State != StatePending || v.Apps[3].State != StateUnknown {
		t.Fatalf("stopped: %+v", v)
	}
	// Not answering: the reason, and nothing claimed about its apps.
	v = View(Observation{Target: target, Source: SourceAPI, Err: fmt.Errorf("management API https://127.0.0.1:9164: connection refused")})
	if v.Error == nil || v.Apps[0].State != StateUnknown {
		t.Fatalf("not answering: %+v", v)
	}
	// Starting: MI opens its Management API once it has deployed its
	// CApps, so no answer yet is no failure (mictl apps exited 3 while
	// an instance started): a note, and what it declares pending.
	starting := target
	starting.State, starting.Starting = "starting", true
	v = View(Observation{Target: starting, Source: SourceAPI, Err: fmt.Errorf("management API https://127.0.0.1:9164: connection refused")})
	if v.Error != nil || v.Note == nil || !strings.HasPrefix(*v.Note, "starting: ") || v.Apps[0].State != StatePending {
		t.Fatalf("starting, not answering yet: %+v", v)
	}
	// Starting, its server not found yet (the script launched, the pid
	// file not read): starting too, not "not running ... (mictl up)",
	// which sent the user to start what starts.
	launched := starting
	launched.Running = false
	v = View(Observation{Target: launched})
	if v.Error != nil || v.Note == nil || !strings.HasPrefix(*v.Note, "starting: ") || v.Apps[0].State != StatePending {
		t.Fatalf("starting, its server not found yet: %+v", v)
	}
	// API off: the log says.
	apiOff := target
	apiOff.URL = ""
	v = View(Observation{Target: apiOff, Source: SourceLog, Copies: s.copies(target), Events: ParseEvents(strings.NewReader(
		"[x]  INFO {CappDeployer} - Successfully Deployed Carbon Application : orders_1.0.0{super-tenant}\n" +
			"[x] ERROR {CappDeployer} - Error occurred while deploying the Carbon application: broken_1.0.0.car. Reverting successfully deployed artifacts in the CApp.\n" +
			"org.apache.axis2.deployment.DeploymentException: it broke\n"))})
	if v.Apps[0].State != StateActive || v.Apps[1].State != StatePending || v.Apps[2].State != StateFaulty || *v.Apps[2].ErrorMessage != "it broke" {
		t.Fatalf("from the log: %+v", v.Apps)
	}
}

// Every key of `mictl apps -o json` is present, null when unknown.
func TestViewJSONKeys(t *testing.T) {
	v := View(Observation{Target: Target{Name: "mi-1", State: "stopped", Up: "mictl up", Declared: []Declared{{Path: "/x/a.car", Err: fmt.Errorf("gone")}}}})
	b, err := json.Marshal([]InstanceApps{v})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"mi-1","state":"stopped","source":null,"management_url":null,"error":null,` +
		`"note":"not running: its CApps deploy when it starts; mictl up starts it","apps":[{"name":"a","version":null,"id":"a",` +
		`"state":"unknown","error_message":"mictl cannot read the file: gone","note":null,"declared":"/x/a.car",` +
		`"sha256":null,"deployed_file":null,"artifacts":[]}]}]`
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
}

// fakeMI is one instance's Management API.
type fakeMI struct {
	logins, calls atomic.Int32
	mu            sync.Mutex
	apps          *mgmt.Applications
	hang          chan struct{} // when set, /applications waits for it
	refuse        bool          // every login is refused (a wrong password)
}

func (f *fakeMI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/management/login" && f.refuse {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.URL.Path == "/management/login" {
		f.logins.Add(1)
		fmt.Fprint(w, `{"AccessToken":"tok"}`)
		return
	}
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.calls.Add(1)
	if f.hang != nil {
		select {
		case <-f.hang:
		case <-r.Context().Done():
			// A hanging server never answers. Answering once the client
			// gave up raced with its timeout: the client could take the
			// answer (1 run in 40).
			panic(http.ErrAbortHandler)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	json.NewEncoder(w).Encode(f.apps)
}

func (f *fakeMI) set(a *mgmt.Applications) {
	f.mu.Lock()
	f.apps = a
	f.mu.Unlock()
}

func newFakeMI(t *testing.T) (*fakeMI, string) {
	t.Helper()
	f := &fakeMI{apps: apps(nil)}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// Instances are asked at once, each logs in once for all its calls, and
// one that does not answer costs the timeout, not the others' answers.
func TestSessionObserve(t *testing.T) {
	dir := t.TempDir()
	orders := buildCar(t, dir, capp.Spec{Name: "orders", Version: "1.0.0"})
	var targets []Target
	var fakes []*fakeMI
	for i := range 4 {
		f, url := newFakeMI(t)
		f.set(apps([]mgmt.Application{{Name: "orders", Version: "1.0.0"}}))
		h := t.TempDir()
		deployTo(t, h, orders, "orders_1.0.0.car")
		fakes = append(fakes, f)
		targets = append(targets, Target{Name: fmt.Sprintf("mi-%d", i+1), Running: true, Home: h, URL: url, Declared: []Declared{orders}})
	}
	hang := make(chan struct{})
	defer close(hang)
	fakes[3].hang = hang
	targets = append(targets, Target{Name: "mi-5", Running: false, Declared: []Declared{orders}})

	s := NewSession(targets, Options{Timeout: 300 * time.Millisecond})
	defer s.Close()
	for range 3 {
		obs := s.Observe(context.Background())
		for i, o := range obs[:3] {
			if o.Err != nil || View(o).Apps[0].State != StateActive {
				t.Fatalf("mi-%d: %+v", i+1, View(o))
			}
		}
		if obs[3].Err == nil || !strings.Contains(obs[3].Err.Error(), "management API") {
			t.Fatalf("the hanging instance: %v", obs[3].Err)
		}
		if obs[4].Source != "" || View(obs[4]).Apps[0].State != StatePending {
			t.Fatalf("the stopped instance was asked: %+v", obs[4])
		}
	}
	for i, f := range fakes[:3] {
		if f.logins.Load() != 1 || f.calls.Load() != 3 {
			t.Fatalf("mi-%d: %d logins for %d calls, want 1 for 3", i+1, f.logins.Load(), f.calls.Load())
		}
	}
}

// An instance that does not run is not asked, but its home is read: the
// copy it was given is its deployed_file, while its apps are pending.
func TestObserveReadsTheHomeOfAStoppedInstance(t *testing.T) {
	dir := t.TempDir()
	orders := buildCar(t, dir, capp.Spec{Name: "orders", Version: "1.0.0"})
	billing := buildCar(t, dir, capp.Spec{Name: "billing", Version: "1.0.0"})
	h := t.TempDir()
	deployTo(t, h, orders, "orders_1.0.0.car")
	s := NewSession([]Target{{Name: "mi-1", State: "stopped", Home: h, Declared: []Declared{orders, billing}}}, Options{})
	defer s.Close()
	o := s.Observe(context.Background())[0]
	v := View(o)
	if o.Source != "" || len(v.Apps) != 2 {
		t.Fatalf("the stopped instance: %+v", v)
	}
	if a := v.Apps[0]; a.State != StatePending || a.DeployedFile == nil || *a.DeployedFile != "orders_1.0.0.car" {
		t.Errorf("orders on the stopped instance: state %s, deployed_file %v; want pending, orders_1.0.0.car", a.State, a.DeployedFile)
	}
	if a := v.Apps[1]; a.State != StatePending || a.DeployedFile != nil {
		t.Errorf("billing, never copied there: state %s, deployed_file %v; want pending, null", a.State, a.DeployedFile)
	}
}

func TestAPIEnabled(t *testing.T) {
	h := t.TempDir()
	if !APIEnabled(h) {
		t.Fatal("no deployment.toml: MI's default is on")
	}
	if err := os.MkdirAll(filepath.Dir(home.ConfPath(h)), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, home.ConfPath(h), "[mediation]\ninternal_http_api_enable = true\n")
	if !APIEnabled(h) {
		t.Fatal("on")
	}
	write(t, home.ConfPath(h), "[mediation]\ninternal_http_api_enable = false\n")
	if APIEnabled(h) {
		t.Fatal("off")
	}
}
