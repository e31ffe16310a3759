// Package metrics serves the supervisor daemon's Prometheus metrics and
// keeps the file that tells Prometheus where each MI instance's own metrics
// are (file-based service discovery).
//
// The one rule: a scrape never waits for the supervisor. The supervisor
// publishes what it knows through a Source that returns copies (an atomic
// pointer to the last snapshot, typically); events it alone sees (an
// instance ready after d, a reload) are recorded through methods that
// take no lock of the supervisor's and hold their own for a map lookup at
// most. A scrape reads the copies, samples /proc itself with a
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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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

// Metrics is the daemon's metrics: the registry, the instance collector,
// and the recorders of the supervisor's events. Its methods may be called
// from any goroutine.
type Metrics struct {
	reg *prometheus.Registry
	col *collector

	ready          *prometheus.HistogramVec
	reloads        prometheus.Counter
	reloadFailures prometheus.Counter
	reloadOK       prometheus.Gauge
}

// New builds the metrics of a daemon whose supervisor publishes src.
// They live in a registry of their own (with the Go runtime's and the
// daemon process's metrics), never in client_golang's global one.
func New(src Source) *Metrics {
	tr := usage.NewTracker(rewalk)
	return newMetrics(src, func(pgids []int) (map[int]usage.Usage, error) { return tr.Sample(time.Now(), pgids) })
}

func newMetrics(src Source, sample func([]int) (map[int]usage.Usage, error)) *Metrics {
	makeDescs()
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		ready: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mictl_instance_ready_duration_seconds",
			Help:    "Time from an instance's start to ready (/healthz 200 and every port held by it).",
			Buckets: readyBuckets,
		}, []string{labelName}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mictl_reloads_total",
			Help: "Configuration reloads the daemon tried (mictl.toml or the source deployment.toml changed, or mictl reload), failed ones included.",
		}),
		reloadFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mictl_reload_failures_total",
			Help: "Configuration reloads refused (invalid file, conflicts) or that failed part-way.",
		}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mictl_config_last_reload_successful",
			Help: "1 when the last configuration reload succeeded (or none was tried yet), 0 when it failed.",
		}),
	}
	m.reloadOK.Set(1)
	m.col = &collector{src: src, sampler: &sampler{sample: sample, timeout: sampleTimeout}, ready: m.ready}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.col, m.reloads, m.reloadFailures, m.reloadOK,
	)
	return m
}

// ObserveReady records that instance name became ready d after it was
// started. It holds no lock longer than a map lookup: safe to call under
// the supervisor's locks.
func (m *Metrics) ObserveReady(name string, d time.Duration) {
	m.ready.WithLabelValues(name).Observe(d.Seconds())
	// After the observation: a scrape pruning name in between then
	// leaves a name without a series, never a series without its name.
	if _, ok := m.col.readyNames.Load(name); !ok {
		m.col.readyNames.Store(name, struct{}{})
	}
}

// ObserveReload records the outcome of one configuration reload: err nil
// for a reload applied (even one that changed nothing), else why it was
// refused or failed.
func (m *Metrics) ObserveReload(err error) {
	m.reloads.Inc()
	if err != nil {
		m.reloadFailures.Inc()
		m.reloadOK.Set(0)
		return
	}
	m.reloadOK.Set(1)
}

// Handler serves the metrics in Prometheus's text format (or protobuf /
// OpenMetrics, as the scraper asks) on /metrics, and a pointer to it on /.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failing collector costs its own series, never the others.
		ErrorHandling: promhttp.ContinueOnError,
		// Two Prometheus servers are common (HA pairs); more scrapes at
		// once than that wait their turn instead of piling up /proc walks.
		MaxRequestsInFlight: 4,
		Timeout:             5 * time.Second,
		// A scrape of 20 instances is ~60 KB of text, usually over
		// loopback; gzip would allocate a compressor (~1 MB) per scrape
		// for it, most of the daemon's memory growth with metrics on.
		DisableCompression: true,
	}))
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

// collector turns the Source's snapshot and a /proc sample into the
// per-instance and per-deployment series at every scrape.
type collector struct {
	src     Source
	sampler *sampler
	// ready is the histogram of time to ready, pruned at every scrape to
	// the instances the snapshot still has; readyNames are its label
	// values (a sync.Map: ObserveReady stays lock-free once a name is in).
	ready      *prometheus.HistogramVec
	readyNames sync.Map
}

// The collector's descriptors, made at the first New rather than at the
// start of every mictl process (one in each command).
var (
	descUp, descReady, descState, descRestarts, descCPU, descRSS, descThreads,
	descFDs, descProcs, descAppsActive, descAppsFaulty, descConflicts, descSampleErrors *prometheus.Desc
)

var makeDescs = sync.OnceFunc(func() {
	descUp = prometheus.NewDesc("mictl_instance_up",
		"1 while the instance's server process is alive. Carries the offset, so one query tells which ports a down instance had.",
		[]string{labelName, labelOffset}, nil)
	descReady = prometheus.NewDesc("mictl_instance_ready",
		"1 when the instance is ready: /healthz answers 200 and each of its ports is held by its own processes.",
		[]string{labelName}, nil)
	descState = prometheus.NewDesc("mictl_instance_state",
		"The instance's lifecycle state: 1 for the state it is in, 0 for the others.",
		[]string{labelName, labelState}, nil)
	descRestarts = prometheus.NewDesc("mictl_instance_restarts_total",
		"Restarts of the instance by mictl, as mictl status counts them (kept across daemons; reset when the instance is purged).",
		[]string{labelName}, nil)
	descCPU = prometheus.NewDesc("mictl_instance_cpu_seconds_total",
		"CPU time (user + system) of the instance's process group: its live processes and the children they waited for. Resets when the group is replaced.",
		[]string{labelName}, nil)
	descRSS = prometheus.NewDesc("mictl_instance_resident_memory_bytes",
		"Resident memory of the instance's processes, summed (shared pages count once per process).",
		[]string{labelName}, nil)
	descThreads = prometheus.NewDesc("mictl_instance_threads",
		"Threads of the instance's processes.",
		[]string{labelName}, nil)
	descFDs = prometheus.NewDesc("mictl_instance_open_fds",
		"Open file descriptors of the instance's processes.",
		[]string{labelName}, nil)
	descProcs = prometheus.NewDesc("mictl_instance_processes",
		"Live processes in the instance's process group (MI: the start script, the server and the diagnostics JVM).",
		[]string{labelName}, nil)
	descAppsActive = prometheus.NewDesc("mictl_instance_apps_active",
		"CApps MI reports as deployed (0, unasked, when it has none to deploy); absent when unknown.",
		[]string{labelName}, nil)
	descAppsFaulty = prometheus.NewDesc("mictl_instance_apps_faulty",
		"CApps MI reports as faulty (0, unasked, when it has none to deploy); absent when unknown.",
		[]string{labelName}, nil)
	descConflicts = prometheus.NewDesc("mictl_conflicts",
		"Port conflicts the last check of the plan found (against itself and the host).",
		nil, nil)
	descSampleErrors = prometheus.NewDesc("mictl_usage_sample_errors_total",
		"Scrapes whose /proc sample failed or timed out, and so lack the CPU, memory, thread and fd series.",
		nil, nil)
})

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descReady, descState, descRestarts, descCPU,
		descRSS, descThreads, descFDs, descProcs, descAppsActive, descAppsFaulty, descConflicts, descSampleErrors} {
		ch <- d
	}
	c.ready.Describe(ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	insts := c.src.Instances()
	dep := c.src.Deployment()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	pgids := make([]int, 0, len(insts))
	names := make(map[string]bool, len(insts))
	for _, in := range insts {
		names[in.Name] = true
		if in.PGID > 0 {
			pgids = append(pgids, in.PGID)
		}
	}
	used, sampleErr := c.sampler.get(pgids)
	for _, in := range insts {
		gauge(descUp, b2f(in.Up), in.Name, strconv.Itoa(in.Offset))
		gauge(descReady, b2f(in.State == state.StateReady), in.Name)
		for _, s := range States {
			gauge(descState, b2f(in.State == s), in.Name, s)
		}
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(in.Restarts), in.Name)
		if in.AppsActive != nil {
			gauge(descAppsActive, float64(*in.AppsActive), in.Name)
		}
		if in.AppsFaulty != nil {
			gauge(descAppsFaulty, float64(*in.AppsFaulty), in.Name)
		}
		if sampleErr != nil {
			continue
		}
		// An instance with nothing running uses nothing: zeros rather than
		// absent series, so a sum over instances stays a sum.
		u := used[in.PGID]
		if in.PGID <= 0 {
			u = usage.Usage{}
		}
		ch <- prometheus.MustNewConstMetric(descCPU, prometheus.CounterValue, u.CPUSeconds, in.Name)
		gauge(descRSS, float64(u.RSSBytes), in.Name)
		gauge(descThreads, float64(u.Threads), in.Name)
		gauge(descFDs, float64(u.OpenFDs), in.Name)
		gauge(descProcs, float64(u.Processes), in.Name)
	}
	gauge(descConflicts, float64(dep.Conflicts))
	ch <- prometheus.MustNewConstMetric(descSampleErrors, prometheus.CounterValue, float64(c.sampler.failures()))
	c.pruneReady(names)
	c.ready.Collect(ch)
}

// pruneReady drops the time-to-ready series of instances that are gone:
// an instance removed by a reload must not keep a series for as long as
// the daemon runs. So ObserveReady for an instance the Source does not
// list yet is lost at the next scrape; the supervisor publishes an
// instance when it starts it, long before it is ready.
func (c *collector) pruneReady(keep map[string]bool) {
	c.readyNames.Range(func(name, _ any) bool {
		if !keep[name.(string)] {
			c.readyNames.Delete(name)
			c.ready.DeleteLabelValues(name.(string))
		}
		return true
	})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
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
