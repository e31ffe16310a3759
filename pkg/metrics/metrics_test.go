package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mictl/mictl/pkg/proc/proctest"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/usage"
)

// fakeSource is a supervisor's published view, changed by the test.
type fakeSource struct {
	mu    sync.Mutex
	insts []InstanceSnapshot
	dep   DeploymentSnapshot
}

func (f *fakeSource) Instances() []InstanceSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]InstanceSnapshot(nil), f.insts...)
}

func (f *fakeSource) Deployment() DeploymentSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dep
}

func (f *fakeSource) set(insts []InstanceSnapshot, dep DeploymentSnapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.insts, f.dep = insts, dep
}

func intp(n int) *int { return &n }

// fixedSample stands for /proc: every group uses what the map says.
func fixedSample(by map[int]usage.Usage) func([]int) (map[int]usage.Usage, error) {
	return func(pgids []int) (map[int]usage.Usage, error) {
		out := map[int]usage.Usage{}
		for _, g := range pgids {
			if u, ok := by[g]; ok {
				out[g] = u
			}
		}
		return out, nil
	}
}

func TestInstanceSeries(t *testing.T) {
	src := &fakeSource{}
	src.set([]InstanceSnapshot{
		{Name: "mi-1", Offset: 10, State: state.StateReady, Up: true, PGID: 100, Restarts: 2,
			StartedAt: time.Unix(1796423125, 500e6), AppsActive: intp(3), AppsFaulty: intp(1)},
		{Name: "mi-2", Offset: 11, State: state.StateStopped},
	}, DeploymentSnapshot{Conflicts: 4})
	m := newMetrics(src, fixedSample(map[int]usage.Usage{
		100: {Processes: 3, CPUSeconds: 1.5, RSSBytes: 10 << 20, Threads: 12, OpenFDs: 40},
	}))
	want := `
# HELP mictl_instance_up 1 while the instance's server process is alive. Carries the offset, so one query tells which ports a down instance had.
# TYPE mictl_instance_up gauge
mictl_instance_up{instance_name="mi-1",offset="10"} 1
mictl_instance_up{instance_name="mi-2",offset="11"} 0
# HELP mictl_instance_ready 1 when the instance is ready: /healthz answers 200 and each of its ports is held by its own processes.
# TYPE mictl_instance_ready gauge
mictl_instance_ready{instance_name="mi-1"} 1
mictl_instance_ready{instance_name="mi-2"} 0
# HELP mictl_instance_restarts_total Restarts of the instance by mictl, as mictl status counts them (kept across daemons; reset when the instance is purged).
# TYPE mictl_instance_restarts_total counter
mictl_instance_restarts_total{instance_name="mi-1"} 2
mictl_instance_restarts_total{instance_name="mi-2"} 0
# HELP mictl_instance_start_time_seconds When mictl started the instance's running server, in seconds since the Unix epoch (time() minus it is the uptime mictl status shows); absent while it does not run.
# TYPE mictl_instance_start_time_seconds gauge
mictl_instance_start_time_seconds{instance_name="mi-1"} 1.7964231255e+09
# HELP mictl_instance_cpu_seconds_total CPU time (user + system) of the instance's process group: its live processes and the children they waited for. Resets when the group is replaced.
# TYPE mictl_instance_cpu_seconds_total counter
mictl_instance_cpu_seconds_total{instance_name="mi-1"} 1.5
mictl_instance_cpu_seconds_total{instance_name="mi-2"} 0
# HELP mictl_instance_resident_memory_bytes Resident memory of the instance's processes, summed (shared pages count once per process).
# TYPE mictl_instance_resident_memory_bytes gauge
mictl_instance_resident_memory_bytes{instance_name="mi-1"} 1.048576e+07
mictl_instance_resident_memory_bytes{instance_name="mi-2"} 0
# HELP mictl_instance_threads Threads of the instance's processes.
# TYPE mictl_instance_threads gauge
mictl_instance_threads{instance_name="mi-1"} 12
mictl_instance_threads{instance_name="mi-2"} 0
# HELP mictl_instance_open_fds Open file descriptors of the instance's processes.
# TYPE mictl_instance_open_fds gauge
mictl_instance_open_fds{instance_name="mi-1"} 40
mictl_instance_open_fds{instance_name="mi-2"} 0
# HELP mictl_instance_apps_active CApps MI reports as deployed (0, unasked, when it has none to deploy); absent when unknown.
# TYPE mictl_instance_apps_active gauge
mictl_instance_apps_active{instance_name="mi-1"} 3
# HELP mictl_instance_apps_faulty CApps MI reports as faulty (0, unasked, when it has none to deploy); absent when unknown.
# TYPE mictl_instance_apps_faulty gauge
mictl_instance_apps_faulty{instance_name="mi-1"} 1
# HELP mictl_conflicts Port conflicts the last check of the plan found (against itself and the host).
# TYPE mictl_conflicts gauge
mictl_conflicts 4
`
	names := []string{"mictl_instance_up", "mictl_instance_ready", "mictl_instance_restarts_total",
		"mictl_instance_start_time_seconds", "mictl_instance_cpu_seconds_total", "mictl_instance_resident_memory_bytes",
		"mictl_instance_threads", "mictl_instance_open_fds", "mictl_instance_apps_active",
		"mictl_instance_apps_faulty", "mictl_conflicts"}
	text := scrape(t, m)
	if got := familyLines(text, names...); got != want[1:] {
		t.Errorf("scrape:\n%s\nwant:\n%s", got, want[1:])
	}
	// One state series per state and instance, exactly one of them 1.
	if n := strings.Count(text, "\nmictl_instance_state{"); n != 2*len(States) {
		t.Errorf("mictl_instance_state has %d series, want %d", n, 2*len(States))
	}
	for _, line := range []string{`mictl_instance_state{instance_name="mi-1",state="ready"} 1`,
		`mictl_instance_state{instance_name="mi-2",state="stopped"} 1`,
		`mictl_instance_state{instance_name="mi-1",state="stopped"} 0`} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("scrape lacks %s", line)
		}
	}
	// The daemon's own process and Go runtime are there too, under the
	// names Prometheus's Go client gives them, each with a value.
	self := []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds",
		"process_open_fds", "process_max_fds", "process_virtual_memory_bytes", "process_virtual_memory_max_bytes", "go_threads"}
	for _, s := range runtimeSamples {
		self = append(self, s.f.name)
	}
	for _, name := range self {
		lines := familyLines(text, name)
		_, value, found := strings.Cut(lines, "\n"+name+" ")
		var v float64
		if _, err := fmt.Sscanf(value, "%g", &v); !found || err != nil || v <= 0 && name != "process_cpu_seconds_total" {
			t.Errorf("scrape lacks %s, or its value is not positive:\n%s", name, lines)
		}
	}
	if !strings.Contains(text, "\ngo_info{version=\"go") {
		t.Error("scrape lacks go_info")
	}
	if got := familyLines(text, "go_gc_duration_seconds"); strings.Count(got, "\n") != 9 ||
		!strings.Contains(got, "# TYPE go_gc_duration_seconds summary\n") || !strings.Contains(got, `go_gc_duration_seconds{quantile="0.5"} `) {
		t.Errorf("GC pauses are not the Go client's summary:\n%s", got)
	}
}

func TestEvents(t *testing.T) {
	src := &fakeSource{}
	src.set([]InstanceSnapshot{{Name: "mi-1"}, {Name: "mi-2"}}, DeploymentSnapshot{})
	m := newMetrics(src, fixedSample(nil))
	m.ObserveReady("mi-1", 300*time.Millisecond)
	m.ObserveReady("mi-1", 7*time.Second)
	m.ObserveReady("mi-2", time.Second)
	m.ObserveReload(nil)
	m.ObserveReload(errors.New("mictl.toml:3:1: bad"))
	want := `
# HELP mictl_reloads_total Configuration reloads the daemon tried (mictl.toml or the source deployment.toml changed, mictl reload, a daemon taking over from a dead one, a refusal for held ports tried again), failed ones included; a try again refused alike is not counted again.
# TYPE mictl_reloads_total counter
mictl_reloads_total 2
# HELP mictl_reload_failures_total Configuration reloads refused (invalid file, conflicts) or that failed part-way.
# TYPE mictl_reload_failures_total counter
mictl_reload_failures_total 1
# HELP mictl_config_last_reload_successful 1 when the last configuration reload succeeded (or none was tried yet), 0 when it failed.
# TYPE mictl_config_last_reload_successful gauge
mictl_config_last_reload_successful 0
`
	text := scrape(t, m)
	if got := familyLines(text, "mictl_reloads_total", "mictl_reload_failures_total", "mictl_config_last_reload_successful"); got != want[1:] {
		t.Errorf("scrape:\n%s\nwant:\n%s", got, want[1:])
	}
	for _, line := range []string{
		`mictl_instance_ready_duration_seconds_count{instance_name="mi-1"} 2`,
		`mictl_instance_ready_duration_seconds_bucket{instance_name="mi-1",le="0.5"} 1`,
		`mictl_instance_ready_duration_seconds_count{instance_name="mi-2"} 1`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("scrape lacks %s", line)
		}
	}
	// mi-2 removed by a reload: its histogram goes with it.
	src.set([]InstanceSnapshot{{Name: "mi-1"}}, DeploymentSnapshot{})
	scrape(t, m)
	if text := scrape(t, m); strings.Contains(text, `instance_name="mi-2"`) {
		t.Error("a removed instance keeps series after two scrapes")
	}
	m.ObserveReload(nil)
	if !strings.Contains(scrape(t, m), "\nmictl_config_last_reload_successful 1\n") {
		t.Error("last reload successful is not 1 after a good reload")
	}
}

// A /proc sample that hangs costs the scrape its usage series, not the
// scrape: the rest is served, and the failure is counted.
func TestScrapeSurvivesAHangingSample(t *testing.T) {
	src := &fakeSource{}
	src.set([]InstanceSnapshot{{Name: "mi-1", State: state.StateReady, Up: true, PGID: 100}}, DeploymentSnapshot{})
	release := make(chan struct{})
	defer close(release)
	m := newMetrics(src, func([]int) (map[int]usage.Usage, error) {
		<-release
		return nil, nil
	})
	m.sampler.timeout = 10 * time.Millisecond
	text := scrape(t, m)
	if !strings.Contains(text, `mictl_instance_up{instance_name="mi-1",offset="0"} 1`) {
		t.Errorf("scrape lacks the instance's up series:\n%s", text)
	}
	if strings.Contains(text, "mictl_instance_cpu_seconds_total{") {
		t.Error("CPU series served without a sample")
	}
	if !strings.Contains(text, "mictl_usage_sample_errors_total 1\n") {
		t.Error("the timed-out sample is not counted")
	}
	// A second scrape joins the sample still in flight instead of
	// starting another walk of /proc.
	scrape(t, m)
	if !strings.Contains(scrape(t, m), "mictl_usage_sample_errors_total 3\n") {
		t.Error("later scrapes do not count their timeouts")
	}
}

// scrape is one GET /metrics, whose answer Prometheus's own parser must
// read.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String())); err != nil {
		t.Fatalf("Prometheus cannot read the scrape: %v\n%s", err, rec.Body)
	}
	return rec.Body.String()
}

// familyLines keeps, of an exposition, the lines of the families named
// (their HELP, TYPE and samples; a histogram's _bucket, _sum, _count).
func familyLines(text string, names ...string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		for _, n := range names {
			if strings.HasPrefix(line, "# HELP "+n+" ") || strings.HasPrefix(line, "# TYPE "+n+" ") ||
				slices.ContainsFunc([]string{"", "_bucket", "_sum", "_count"}, func(suffix string) bool {
					return strings.HasPrefix(line, n+suffix+" ") || strings.HasPrefix(line, n+suffix+"{")
				}) {
				b.WriteString(line)
				break
			}
		}
	}
	return b.String()
}

func TestServeStopsWithContext(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err == nil {
		ln.Close()
		t.Fatal("Listen accepted port 0")
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(&fakeSource{})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- m.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "mictl_conflicts 0") {
		t.Errorf("served metrics lack mictl_conflicts:\n%s", body)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
	// A listener that fails ends Serve with an error, ctx or not.
	if err := m.Serve(context.Background(), ln); err == nil {
		t.Error("Serve on a closed listener: no error")
	}
}

// BenchmarkScrape is one Prometheus scrape of a daemon with 20 instances
// of 3 processes each, /proc sampling included.
func BenchmarkScrape(b *testing.B) {
	src := &fakeSource{}
	var insts []InstanceSnapshot
	var pgids []int
	for i := range 20 {
		pgid := proctest.StartGroup(b, "sleep 1000 & sleep 1000 & wait")
		pgids = append(pgids, pgid)
		insts = append(insts, InstanceSnapshot{Name: fmt.Sprintf("mi-%d", i+1), Offset: 10 + i,
			State: state.StateReady, Up: true, Restarts: uint64(i), PGID: pgid})
	}
	for deadline := time.Now().Add(10 * time.Second); processes(b, pgids) < 60; {
		if time.Now().After(deadline) {
			b.Fatal("the 60 processes did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	src.set(insts, DeploymentSnapshot{})
	m := New(src)
	for _, in := range insts {
		m.ObserveReady(in.Name, time.Second)
	}
	h := m.Handler()
	// As Prometheus asks (gzip), which the handler declines.
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

func processes(tb testing.TB, pgids []int) int {
	got, err := usage.NewTracker(0).Sample(time.Now(), pgids)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, u := range got {
		n += u.Processes
	}
	return n
}
