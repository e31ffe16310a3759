// Package top is the view model of `mictl top`: one row per instance with
// its state, its process group's use of the host, and (when MI serves
// metrics) the traffic it serves, refreshed each second.
//
// Nothing here may slow the view down: /proc is read once per refresh for
// all instances (pkg/usage), and each instance's metrics endpoint is asked
// in the background, at most one request in flight per instance and each
// with a timeout, so a hanging server costs its own columns, never a
// refresh.
package top

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mictl/mictl/pkg/usage"
)

// Instance is one instance as the state file gives it, its state already
// checked against /proc.
type Instance struct {
	Name  string
	State string
	// PID is the server's pid, 0 when no server runs.
	PID int
	// PGID is the instance's process group, 0 when unknown.
	PGID      int
	StartedAt time.Time // zero when unknown
	Restarts  int
	// MetricsURL is MI's metrics endpoint (/metric-service/metrics on the
	// internal HTTP port); an instance without metrics answers 404 there.
	MetricsURL string
}

// Row is one instance in the view and in `mictl top -o json`. Every key is
// always present, null when unknown: no server running, no MI metrics, or
// not measured yet (rates need two samples).
type Row struct {
	Name              string   `json:"name"`
	State             string   `json:"state"`
	PID               *int     `json:"pid"`
	UptimeSeconds     *float64 `json:"uptime_seconds"`
	Restarts          int      `json:"restarts"`
	CPUPercent        *float64 `json:"cpu_percent"`
	RSSBytes          *uint64  `json:"rss_bytes"`
	Threads           *int     `json:"threads"`
	RequestsPerSecond *float64 `json:"requests_per_second"`
	ErrorPercent      *float64 `json:"error_percent"`
	P95LatencySeconds *float64 `json:"p95_latency_seconds"`
	// P95LatencyBound is null when P95LatencySeconds is an estimate,
	// "at_most" or "at_least" when MI's histogram gives only that bound.
	P95LatencyBound *string `json:"p95_latency_bound"`
}

// rewalk is the longest time between two walks of /proc (see
// usage.Tracker): a process that appears inside a running instance's
// group (MI's script restarting its server) shows within it.
const rewalk = 5 * time.Second

// absentRetry is how long an instance whose server answered its metrics
// request with an HTTP error (404: metrics are off) is left alone before
// it is asked again: twenty servers without metrics must not cost twenty
// requests a second.
const absentRetry = 10 * time.Second

// staleAfter is how old the last scrape of an instance's metrics may be
// before its traffic columns go blank: an endpoint that stopped answering
// must not show its last rates as if they were current.
const staleAfter = 5 * time.Second

// Sampler turns instances into rows. Sample is called from one goroutine
// at a time; the scrapes it starts run beside it.
type Sampler struct {
	client *http.Client
	sample func(time.Time, []int) (map[int]usage.Usage, error)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// minCPUWindow is the shortest time a CPU % is measured over, half
	// the refresh interval: a sample sooner after the last one (a view
	// that samples again to collect its scrapes) repeats its CPU %.
	minCPUWindow time.Duration
	cpu          map[string]cpuMark
	scrapes      map[string]*scraper
}

// cpuMark is an instance's CPU seconds at one sample, to take the next
// sample's CPU % from, and the CPU % measured up to it.
type cpuMark struct {
	pgid    int
	seconds float64
	at      time.Time
	percent *float64
}

// NewSampler returns a sampler for a view refreshed every interval,
// whose metrics requests each give up after timeout. Close it to end the
// requests still in flight.
func NewSampler(interval, timeout time.Duration) *Sampler {
	ctx, cancel := context.WithCancel(context.Background())
	return &Sampler{
		client:       &http.Client{Timeout: timeout},
		sample:       usage.NewTracker(rewalk).Sample,
		ctx:          ctx,
		cancel:       cancel,
		minCPUWindow: interval / 2,
		cpu:          map[string]cpuMark{},
		scrapes:      map[string]*scraper{},
	}
}

// Close ends the metrics requests in flight and waits for them.
func (s *Sampler) Close() {
	s.cancel()
	s.wg.Wait()
}

// Sample returns a row per instance, in the order given, as of now. It
// starts a scrape of each running instance's metrics that has none in
// flight, and uses the scrapes finished so far: a scrape started now
// shows in a later Sample.
func (s *Sampler) Sample(now time.Time, insts []Instance) ([]Row, error) {
	pgids := make([]int, 0, len(insts))
	for _, in := range insts {
		if in.PGID > 0 && in.PID > 0 {
			pgids = append(pgids, in.PGID)
		}
	}
	used, err := s.sample(now, pgids)
	if err != nil {
		return nil, fmt.Errorf("sample instances' processes: %w", err)
	}
	rows := make([]Row, len(insts))
	seen := make(map[string]bool, len(insts))
	for i, in := range insts {
		seen[in.Name] = true
		r := Row{Name: in.Name, State: in.State, Restarts: in.Restarts}
		u, running := used[in.PGID]
		if in.PID <= 0 || in.PGID <= 0 || !running {
			delete(s.cpu, in.Name)
			rows[i] = r
			continue
		}
		r.PID = ptr(in.PID)
		if !in.StartedAt.IsZero() {
			r.UptimeSeconds = ptr(max(now.Sub(in.StartedAt), 0).Round(time.Second).Seconds())
		}
		r.RSSBytes, r.Threads = ptr(u.RSSBytes), ptr(u.Threads)
		r.CPUPercent = s.cpuPercent(in, u, now)
		if in.MetricsURL != "" {
			sc := s.scraper(in.Name, in.MetricsURL)
			s.start(sc, now)
			tr := sc.traffic(now)
			r.RequestsPerSecond, r.ErrorPercent, r.P95LatencySeconds = tr.RequestsPerSecond, tr.ErrorPercent, tr.P95
			if tr.P95Bound != "" {
				r.P95LatencyBound = &tr.P95Bound
			}
		}
		rows[i] = r
	}
	for name := range s.scrapes {
		if !seen[name] {
			delete(s.scrapes, name)
			delete(s.cpu, name)
		}
	}
	return rows, nil
}

// cpuPercent is the CPU % of in's group since the last sample at least
// minCPUWindow ago: nil after a first sample, or when the group changed
// or its CPU time went back (a restart).
func (s *Sampler) cpuPercent(in Instance, u usage.Usage, now time.Time) *float64 {
	prev, ok := s.cpu[in.Name]
	if ok && prev.pgid == in.PGID && now.Sub(prev.at) < s.minCPUWindow {
		return prev.percent
	}
	mark := cpuMark{pgid: in.PGID, seconds: u.CPUSeconds, at: now}
	if ok && prev.pgid == in.PGID && u.CPUSeconds >= prev.seconds {
		mark.percent = ptr(100 * (u.CPUSeconds - prev.seconds) / now.Sub(prev.at).Seconds())
	}
	s.cpu[in.Name] = mark
	return mark.percent
}

// Wait waits for the metrics requests in flight (each ends by its
// timeout at the latest). A one-shot view calls it so its rows hold the
// scrapes it started.
func (s *Sampler) Wait() { s.wg.Wait() }

// scraper returns the scraper of instance name, a new one when its
// endpoint changed (a new offset: the old counts are another server's).
func (s *Sampler) scraper(name, url string) *scraper {
	sc := s.scrapes[name]
	if sc == nil || sc.url != url {
		sc = &scraper{url: url}
		s.scrapes[name] = sc
	}
	return sc
}

// start scrapes sc in the background unless a scrape of it is in flight
// or its server said it has no metrics a moment ago.
func (s *Sampler) start(sc *scraper, now time.Time) {
	if !sc.begin(now) {
		return
	}
	s.wg.Go(func() {
		t, err := s.fetch(sc.url)
		sc.end(t, err, time.Now())
	})
}

// errNoMetrics is an HTTP error answer: the server runs without metrics.
var errNoMetrics = errors.New("no metrics")

func (s *Sampler) fetch(url string) (Totals, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, url, nil)
	if err != nil {
		return Totals{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Totals{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Totals{}, fmt.Errorf("GET %s: %s: %w", url, resp.Status, errNoMetrics)
	}
	return parseTotals(resp.Body)
}

// scraper holds one instance's last two successful scrapes.
type scraper struct {
	url string

	mu        sync.Mutex
	busy      bool
	prev, cur *scraped
	// absentUntil is when to ask again a server that has no metrics.
	absentUntil time.Time
}

type scraped struct {
	totals Totals
	at     time.Time
}

func (sc *scraper) begin(now time.Time) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.busy || now.Before(sc.absentUntil) {
		return false
	}
	sc.busy = true
	return true
}

// end records a scrape's outcome. A failed scrape forgets the earlier
// ones: the rates resume from two fresh scrapes, never across a gap in
// which the server may have restarted.
func (sc *scraper) end(t Totals, err error, at time.Time) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.busy = false
	if err != nil {
		sc.prev, sc.cur = nil, nil
		if errors.Is(err, errNoMetrics) {
			sc.absentUntil = at.Add(absentRetry)
		}
		return
	}
	sc.prev, sc.cur = sc.cur, &scraped{totals: t, at: at}
}

// traffic is the rates between the last two scrapes, when the last is
// recent enough to stand for now.
func (sc *scraper) traffic(now time.Time) Traffic {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.prev == nil || sc.cur == nil || now.Sub(sc.cur.at) > staleAfter {
		return Traffic{}
	}
	return Rates(sc.prev.totals, sc.cur.totals, sc.cur.at.Sub(sc.prev.at).Seconds())
}
