package top

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/metrics/promtest"
	"github.com/mictl/mictl/pkg/usage"
)

// fakeUsage stands for /proc: group 100 runs and has used cpu seconds.
type fakeUsage struct{ cpu float64 }

func (f *fakeUsage) sample(_ time.Time, pgids []int) (map[int]usage.Usage, error) {
	out := map[int]usage.Usage{}
	for _, g := range pgids {
		if g == 100 {
			out[g] = usage.Usage{Processes: 3, CPUSeconds: f.cpu, RSSBytes: 20 << 20, Threads: 9}
		}
	}
	return out, nil
}

func newTestSampler(t *testing.T, f *fakeUsage) *Sampler {
	s := NewSampler(time.Second, time.Second)
	s.sample = f.sample
	t.Cleanup(s.Close)
	return s
}

func TestSamplerProcessColumns(t *testing.T) {
	f := &fakeUsage{cpu: 1}
	s := newTestSampler(t, f)
	t0 := time.Now()
	insts := []Instance{
		{Name: "mi-1", State: "ready", PID: 101, PGID: 100, StartedAt: t0.Add(-90 * time.Second), Restarts: 2},
		{Name: "mi-2", State: "stopped", PGID: 200},
		{Name: "mi-3", State: "crashed", PID: 301, PGID: 300}, // its group is gone
	}
	rows, err := s.Sample(t0, insts)
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	if *r.PID != 101 || *r.UptimeSeconds != 90 || *r.RSSBytes != 20<<20 || *r.Threads != 9 || r.Restarts != 2 {
		t.Errorf("mi-1: %+v", r)
	}
	if r.CPUPercent != nil {
		t.Errorf("CPU %% from one sample: %v", *r.CPUPercent)
	}
	for _, r := range rows[1:] {
		if r.PID != nil || r.RSSBytes != nil || r.Threads != nil || r.CPUPercent != nil {
			t.Errorf("%s (nothing running) has process values: %+v", r.Name, r)
		}
	}
	f.cpu = 1.5
	rows, _ = s.Sample(t0.Add(time.Second), insts)
	if c := rows[0].CPUPercent; c == nil || *c != 50 {
		t.Errorf("CPU %% after 0.5 s of CPU in 1 s = %v, want 50", deref(c))
	}
	// A sample too soon after repeats the last CPU %.
	f.cpu = 1.6
	rows, _ = s.Sample(t0.Add(time.Second+time.Millisecond), insts)
	if c := rows[0].CPUPercent; c == nil || *c != 50 {
		t.Errorf("CPU %% 1 ms later = %v, want the last one, 50", deref(c))
	}
	// A restart (new process group) starts the CPU %% afresh.
	insts[0].PGID = 100
	insts[0].PID = 102
	f.cpu = 0.1
	rows, _ = s.Sample(t0.Add(2*time.Second), insts)
	if rows[0].CPUPercent != nil {
		t.Errorf("CPU %% across a counter that went back: %v", *rows[0].CPUPercent)
	}
}

func TestSamplerTrafficColumns(t *testing.T) {
	f := &fakeUsage{}
	s := newTestSampler(t, f)
	e := promtest.NewMIExporter(t)
	inst := []Instance{{Name: "mi-1", State: "ready", PID: 101, PGID: 100,
		MetricsURL: e.MetricsURL()}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.Serve(10, 1, 0.3)
		rows, err := s.Sample(time.Now(), inst)
		if err != nil {
			t.Fatal(err)
		}
		if r := rows[0]; r.RequestsPerSecond != nil && r.ErrorPercent != nil && r.P95LatencySeconds != nil {
			if *r.RequestsPerSecond <= 0 || *r.ErrorPercent != 10 || *r.P95LatencySeconds <= 0.25 || *r.P95LatencySeconds > 0.3 {
				t.Errorf("traffic columns %v req/s, %v%% errors, p95 %v", *r.RequestsPerSecond, *r.ErrorPercent, *r.P95LatencySeconds)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no traffic columns after 10 s of scrapes")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A metrics endpoint that never answers costs its instance its traffic
// columns: Sample does not wait for it, and asks it once at a time.
func TestSamplerHangingEndpoint(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s := NewSampler(time.Second, time.Hour) // only Close ends the request
	s.sample = (&fakeUsage{}).sample
	inst := []Instance{{Name: "mi-1", State: "ready", PID: 101, PGID: 100, MetricsURL: srv.URL}}
	for range 20 {
		rows, err := s.Sample(time.Now(), inst)
		if err != nil {
			t.Fatal(err)
		}
		if rows[0].RequestsPerSecond != nil || rows[0].RSSBytes == nil {
			t.Fatalf("row with a hanging endpoint: %+v", rows[0])
		}
	}
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d requests to a hanging endpoint in flight, want 1", n)
	}
	s.Close() // returns only once the request has ended
}

// A server without metrics (404) is asked again only after a while.
func TestSamplerLeavesServersWithoutMetricsAlone(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.NotFound(w, r)
	}))
	defer srv.Close()
	s := newTestSampler(t, &fakeUsage{})
	inst := []Instance{{Name: "mi-1", State: "ready", PID: 101, PGID: 100, MetricsURL: srv.URL}}
	t0 := time.Now()
	for i := range 5 {
		if _, err := s.Sample(t0.Add(time.Duration(i)*time.Second), inst); err != nil {
			t.Fatal(err)
		}
		s.Wait()
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d requests in 5 s to a server without metrics, want 1", n)
	}
	s.Sample(time.Now().Add(absentRetry+time.Second), inst)
	s.Wait()
	if n := calls.Load(); n != 2 {
		t.Errorf("%d requests after %v, want 2", n, absentRetry)
	}
}
