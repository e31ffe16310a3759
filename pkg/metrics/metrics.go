// Package metrics serves the supervisor daemon's Prometheus metrics and
// keeps the file that tells Prometheus where each MI instance's own metrics
// are (file-based service discovery).
//
// The one rule: a scrape never waits for the supervisor. The supervisor
// publishes what it knows through a Source that returns copies (an atomic
// pointer to the last snapshot, typically); events it alone sees (an
// instance ready after d, a reload) are recorded through methods that
// take no lock of the supervisor's and hold their own for a map lookup
// and a few additions at most. A scrape reads the copies, samples /proc itself with a
// time bound (see pkg/usage), and builds the metrics outside every lock
// the supervisor holds.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mictl/mictl/pkg/promtext"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/usage"
)

// Source is the supervisor's view, as the metrics read it. Both methods
// are called on every scrape, from the scrape's goroutine: they must
// return copies the supervisor will not change afterwards, and must not
// wait for the supervisor's locks.
type Source interface {
	Instances() []InstanceSnapshot
	Deployment() DeploymentSnapshot
}

// InstanceSnapshot is one instance as the supervisor knows it at one moment.
type InstanceSnapshot struct {
	Name   string
	Offset int
	// State is the instance's lifecycle state (state.StateReady, ...).
	State string
	// Up is true while the instance's server process is alive (whatever
	// its state: a degraded or starting server is up).
	Up bool
	// PGID is the instance's process group, 0 when nothing of it runs: its
	// CPU, memory, threads and open files are those of this group.
	PGID int
	// Restarts counts the instance's restarts by mictl, as `mictl status`
	// does: kept in the state file across daemons, forgotten only with the
	// instance (down --purge), which Prometheus reads as a counter reset.
	Restarts uint64
	// StartedAt is when mictl launched the instance's running server (its
	// start script: MI restarting itself inside it is the same run), as
	// status's uptime counts from; zero while nothing of it runs.
	StartedAt time.Time
	// AppsActive and AppsFaulty are the CApps MI reports as deployed and as
	// faulty (Management API /applications), 0 without asking for a server
	// launched with none to deploy, nil when unknown.
	AppsActive, AppsFaulty *int
}

// DeploymentSnapshot is what the supervisor knows of the whole deployment.
type DeploymentSnapshot struct {
	// Conflicts is how many port conflicts the last check of the plan (at
	// up or at a reload) found: the plan against itself and the host.
	Conflicts int
}

// States lists every lifecycle state, in the order the state metric
// gives them: every instance has one series per state, 1 for the one it
// is in, as kube-state-metrics does for a pod's phase, so that
// `mictl_instance_state{state="crashed"} == 1` selects the crashed ones and
// a state change is never a series that vanishes.
var States = []string{
	state.StateStarting, state.StateReady, state.StateDegraded, state.StateCrashed,
	state.StateBackoff, state.StateStopping, state.StateStopped, state.StateFailed,
}

// rewalk is the longest time between two walks of /proc (usage.Tracker):
// between them a scrape reads only the instances' known processes. A new
// instance, a restart (a new process group) and any process that ended
// bring a walk at once; only a process that appears inside a running
// instance's group beside the others waits for the next one.
const rewalk = 30 * time.Second

// sampleTimeout bounds the /proc sampling of one scrape: a /proc that
// stalls (an overloaded host) costs the scrape the usage series, never
// the scrape itself.
const sampleTimeout = time.Second

// readyBuckets span a simulator ready in milliseconds and a real MI ready
// in seconds to minutes (docs/mi-facts.md: "started in 7.52 seconds", and slower
// with many CApps). Few of them: each is a series per instance, and the
// histogram is most of a scrape's lines.
var readyBuckets = []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Metrics is the daemon's metrics: the supervisor's published view, the
// recorders of its events, and the scrape that writes them all out in
// Prometheus's text format. Its methods may be called from any goroutine.
type Metrics struct {
	src     Source
	sampler *sampler
	ready   readyHistograms

	reloads, reloadFailures atomic.Uint64
	lastReloadFailed        atomic.Bool

	// inFlight holds a token per scrape being served: two Prometheus
	// servers are common (HA pairs); more scrapes at once than that wait
	// their turn instead of each building a copy of the exposition.
	inFlight chan struct{}
}

// New builds the metrics of a daemon whose supervisor publishes src,
// with the daemon process's own (process_*, go_*) beside them.
func New(src Source) *Metrics {
	tr := usage.NewTracker(rewalk)
	return newMetrics(src, func(pgids []int) (map[int]usage.Usage, error) { return tr.Sample(time.Now(), pgids) })
}

func newMetrics(src Source, sample func([]int) (map[int]usage.Usage, error)) *Metrics {
	return &Metrics{
		src:      src,
		sampler:  &sampler{sample: sample, timeout: sampleTimeout},
		ready:    readyHistograms{by: map[string]*readyHistogram{}},
		inFlight: make(chan struct{}, 4),
	}
}

// ObserveReady records that instance name became ready d after it was
// started. It holds no lock longer than a map lookup and a few additions:
// safe to call under the supervisor's locks.
func (m *Metrics) ObserveReady(name string, d time.Duration) {
	m.ready.observe(name, d.Seconds())
}

// ObserveReload records the outcome of one configuration reload: err nil
// for a reload applied (even one that changed nothing), else why it was
// refused or failed.
func (m *Metrics) ObserveReload(err error) {
	m.reloads.Add(1)
	if err != nil {
		m.reloadFailures.Add(1)
	}
	m.lastReloadFailed.Store(err != nil)
}

// Handler serves the metrics in Prometheus's text format on /metrics, and
// a pointer to it on /. A scrape of 20 instances is ~60 KB of text,
// usually over loopback: it is sent uncompressed (gzip would allocate a
// compressor per scrape, more than the daemon's whole growth otherwise).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		select {
		case m.inFlight <- struct{}{}:
			defer func() { <-m.inFlight }()
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(m.exposition())
	})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("mictl daemon metrics: /metrics\n"))
	})
	return mux
}

// Serve serves m.Handler on ln (from Listen) until ctx ends, then shuts
// the server down, giving scrapes in progress a second to finish. It
// returns nil after ctx ended, or why serving failed before.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served, shutDown := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(shutDown)
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		case <-served:
		}
	}()
	err := srv.Serve(ln)
	close(served)
	<-shutDown // Serve returns as Shutdown begins: wait for it to end
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
}

// Label names. instance_name, not instance: Prometheus sets "instance" on
// every series to the scraped target (here, the daemon), and it must not
// be overwritten.
const (
	labelName   = "instance_name"
	labelOffset = "offset"
	labelState  = "state"
)

// family is one metric family's name, type and help.
type family struct{ name, typ, help string }

var (
	famUp = family{"mictl_instance_up", promtext.Gauge,
		"1 while the instance's server process is alive. Carries the offset, so one query tells which ports a down instance had."}
	famReady = family{"mictl_instance_ready", promtext.Gauge,
		"1 when the instance is ready: /healthz answers 200 and each of its ports is held by its own processes."}
	famState = family{"mictl_instance_state", promtext.Gauge,
		"The instance's lifecycle state: 1 for the state it is in, 0 for the others."}
	famRestarts = family{"mictl_instance_restarts_total", promtext.Counter,
		"Restarts of the instance by mictl, as mictl status counts them (kept across daemons; reset when the instance is purged)."}
	famStartTime = family{"mictl_instance_start_time_seconds", promtext.Gauge,
		"When mictl started the instance's running server, in seconds since the Unix epoch (time() minus it is the uptime mictl status shows); absent while it does not run."}
	famReadyDuration = family{"mictl_instance_ready_duration_seconds", promtext.Histogram,
		"Time from an instance's start to ready or degraded (every port held by it, and /healthz 200, or 500 for faulty CApps alone)."}
	famCPU = family{"mictl_instance_cpu_seconds_total", promtext.Counter,
		"CPU time (user + system) of the instance's process group: its live processes and the children they waited for. Resets when the group is replaced."}
	famRSS = family{"mictl_instance_resident_memory_bytes", promtext.Gauge,
		"Resident memory of the instance's processes, summed (shared pages count once per process)."}
	famThreads = family{"mictl_instance_threads", promtext.Gauge,
		"Threads of the instance's processes."}
	famFDs = family{"mictl_instance_open_fds", promtext.Gauge,
		"Open file descriptors of the instance's processes."}
	famProcs = family{"mictl_instance_processes", promtext.Gauge,
		"Live processes in the instance's process group (MI: the start script, the server and the diagnostics JVM)."}
	famAppsActive = family{"mictl_instance_apps_active", promtext.Gauge,
		"CApps MI reports as deployed (0, unasked, when it has none to deploy); absent when unknown."}
	famAppsFaulty = family{"mictl_instance_apps_faulty", promtext.Gauge,
		"CApps MI reports as faulty (0, unasked, when it has none to deploy); absent when unknown."}
	famConflicts = family{"mictl_conflicts", promtext.Gauge,
		"Port conflicts the last check of the plan found (against itself and the host)."}
	famSampleErrors = family{"mictl_usage_sample_errors_total", promtext.Counter,
		"Scrapes whose /proc sample failed or timed out, and so lack the CPU, memory, thread and fd series."}
	famReloads = family{"mictl_reloads_total", promtext.Counter,
		"Configuration reloads the daemon tried (mictl.toml or the source deployment.toml changed, mictl reload, a daemon taking over from a dead one, a refusal for held ports tried again), failed ones included; a try again refused alike is not counted again."}
	famReloadFailures = family{"mictl_reload_failures_total", promtext.Counter,
		"Configuration reloads refused (invalid file, conflicts) or that failed part-way."}
	famReloadOK = family{"mictl_config_last_reload_successful", promtext.Gauge,
		"1 when the last configuration reload succeeded (or none was tried yet), 0 when it failed."}
)

// exposition is one scrape: the supervisor's snapshot, a /proc sample of
// its instances' groups and the daemon's own process, written out.
func (m *Metrics) exposition() []byte {
	insts := m.src.Instances()
	dep := m.src.Deployment()
	pgids := make([]int, 0, len(insts))
	names := make(map[string]bool, len(insts))
	for _, in := range insts {
		names[in.Name] = true
		if in.PGID > 0 {
			pgids = append(pgids, in.PGID)
		}
	}
	used, sampleErr := m.sampler.get(pgids)
	ready := m.ready.snapshot(names)

	w := &promtext.Writer{}
	// each writes family f with one series per instance that value gives
	// one for, and nothing (not even the header) when none has one.
	each := func(f family, value func(InstanceSnapshot) (float64, bool)) {
		header := false
		for _, in := range insts {
			v, ok := value(in)
			if !ok {
				continue
			}
			if !header {
				w.Family(f.name, f.typ, f.help)
				header = true
			}
			w.Sample(f.name, v, promtext.Label{Name: labelName, Value: in.Name})
		}
	}
	always := func(v func(InstanceSnapshot) float64) func(InstanceSnapshot) (float64, bool) {
		return func(in InstanceSnapshot) (float64, bool) { return v(in), true }
	}
	if len(insts) > 0 {
		w.Family(famUp.name, famUp.typ, famUp.help)
		for _, in := range insts {
			w.Sample(famUp.name, b2f(in.Up), promtext.Label{Name: labelName, Value: in.Name},
				promtext.Label{Name: labelOffset, Value: strconv.Itoa(in.Offset)})
		}
		w.Family(famState.name, famState.typ, famState.help)
		for _, in := range insts {
			for _, s := range States {
				w.Sample(famState.name, b2f(in.State == s), promtext.Label{Name: labelName, Value: in.Name},
					promtext.Label{Name: labelState, Value: s})
			}
		}
	}
	each(famReady, always(func(in InstanceSnapshot) float64 { return b2f(in.State == state.StateReady) }))
	each(famRestarts, always(func(in InstanceSnapshot) float64 { return float64(in.Restarts) }))
	each(famStartTime, func(in InstanceSnapshot) (float64, bool) {
		if in.StartedAt.IsZero() {
			return 0, false
		}
		return float64(in.StartedAt.UnixNano()) / 1e9, true
	})
	if sampleErr == nil {
		// An instance with nothing running uses nothing: zeros rather
		// than absent series, so a sum over instances stays a sum.
		use := func(v func(usage.Usage) float64) func(InstanceSnapshot) (float64, bool) {
			return func(in InstanceSnapshot) (float64, bool) {
				if in.PGID <= 0 {
					return v(usage.Usage{}), true
				}
				return v(used[in.PGID]), true
			}
		}
		each(famCPU, use(func(u usage.Usage) float64 { return u.CPUSeconds }))
		each(famRSS, use(func(u usage.Usage) float64 { return float64(u.RSSBytes) }))
		each(famThreads, use(func(u usage.Usage) float64 { return float64(u.Threads) }))
		each(famFDs, use(func(u usage.Usage) float64 { return float64(u.OpenFDs) }))
		each(famProcs, use(func(u usage.Usage) float64 { return float64(u.Processes) }))
	}
	each(famAppsActive, func(in InstanceSnapshot) (float64, bool) { return intValue(in.AppsActive) })
	each(famAppsFaulty, func(in InstanceSnapshot) (float64, bool) { return intValue(in.AppsFaulty) })
	if len(ready) > 0 {
		w.Family(famReadyDuration.name, famReadyDuration.typ, famReadyDuration.help)
		for _, in := range insts {
			if h, ok := ready[in.Name]; ok {
				w.HistogramSeries(famReadyDuration.name, []promtext.Label{{Name: labelName, Value: in.Name}},
					readyBuckets, h.cumulative, h.sum, h.count)
			}
		}
	}
	// Failures first: read after the tries, a reload in between would
	// show more failures than tries.
	failures := m.reloadFailures.Load()
	for _, c := range []struct {
		f family
		v float64
	}{
		{famConflicts, float64(dep.Conflicts)},
		{famSampleErrors, float64(m.sampler.failures())},
		{famReloads, float64(m.reloads.Load())},
		{famReloadFailures, float64(failures)},
		{famReloadOK, b2f(!m.lastReloadFailed.Load())},
	} {
		w.Family(c.f.name, c.f.typ, c.f.help)
		w.Sample(c.f.name, c.v)
	}
	writeSelf(w)
	return w.Bytes()
}

func intValue(p *int) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return float64(*p), true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// readyHistograms is the time-to-ready histogram of each instance.
type readyHistograms struct {
	mu sync.Mutex
	by map[string]*readyHistogram
}

// readyHistogram is one instance's: cumulative[i] observations took at
// most readyBuckets[i].
type readyHistogram struct {
	cumulative []uint64
	sum        float64
	count      uint64
}

func (r *readyHistograms) observe(name string, seconds float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.by[name]
	if h == nil {
		h = &readyHistogram{cumulative: make([]uint64, len(readyBuckets))}
		r.by[name] = h
	}
	for i, bound := range readyBuckets {
		if seconds <= bound {
			h.cumulative[i]++
		}
	}
	h.sum += seconds
	h.count++
}

// snapshot copies the histograms of the instances in keep and forgets
// the others: an instance removed by a reload must not keep a series for
// as long as the daemon runs. So an observation for an instance the
// Source does not list yet is lost at the next scrape; the supervisor
// publishes an instance when it starts it, long before it is ready.
func (r *readyHistograms) snapshot(keep map[string]bool) map[string]readyHistogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]readyHistogram, len(r.by))
	for name, h := range r.by {
		if !keep[name] {
			delete(r.by, name)
			continue
		}
		out[name] = readyHistogram{cumulative: append([]uint64(nil), h.cumulative...), sum: h.sum, count: h.count}
	}
	return out
}

// sampler runs usage sampling for scrapes: one sample at a time (two
// scrapes at once share it), each scrape waiting at most timeout for it.
type sampler struct {
	sample  func([]int) (map[int]usage.Usage, error)
	timeout time.Duration

	mu      sync.Mutex
	running chan struct{} // closed when the sample in flight ends; nil when none
	result  map[int]usage.Usage
	err     error
	failed  uint64
}

var errSampleTimeout = errors.New("sampling /proc timed out")

func (s *sampler) get(pgids []int) (map[int]usage.Usage, error) {
	s.mu.Lock()
	if s.running == nil {
		done := make(chan struct{})
		s.running = done
		go func() {
			r, err := s.sample(pgids)
			s.mu.Lock()
			s.result, s.err, s.running = r, err, nil
			s.mu.Unlock()
			close(done)
		}()
	}
	done := s.running
	s.mu.Unlock()

	t := time.NewTimer(s.timeout)
	defer t.Stop()
	select {
	case <-done:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err != nil {
			s.failed++
		}
		return s.result, s.err
	case <-t.C:
		s.mu.Lock()
		defer s.mu.Unlock()
		s.failed++
		return nil, errSampleTimeout
	}
}

func (s *sampler) failures() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}
