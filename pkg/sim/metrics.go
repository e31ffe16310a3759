package sim

import (
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mictl/mictl/pkg/ports"
)

// MI's Prometheus metrics (docs/mi-integrations.md, "Metrics"), served on
// the internal HTTP API at MetricsPath when deployment.toml registers MI's
// MetricHandler and the server got -DenablePrometheusApi=true. The text
// format is written here by hand: the simulator starts as every simulated
// server, and a metrics library would cost every start.

// MetricsPath is where MI serves its Prometheus metrics.
const MetricsPath = "/metric-service/metrics"

// The service types MI labels its metrics with.
const (
	serviceAPI     = "api"
	serviceProxy   = "proxy"
	serviceInbound = "inbound-endpoint"
)

// latencyBuckets are MI's default histogram upper bounds (seconds) for
// every service kind (PrometheusReporter; metric_handler.*_latency_buckets
// changes them in MI).
var latencyBuckets = []float64{0.19, 0.20, 0.25, 0.30, 0.35, 0.40, 0.50, 0.60, 1, 5}

type family struct {
	name, help, typ string
	labels          []string
	series          map[string]*series // by label values joined with \x00
}

type series struct {
	values  []string
	value   float64  // counter, gauge
	buckets []uint64 // histogram: observations <= each bound (not cumulative)
	sum     float64
	count   uint64
}

// serviceFamilies are the three families of one service kind.
type serviceFamilies struct {
	requests, errors, latency *family
}

// metrics is one server's registry. A nil *metrics (metrics off) ignores
// every observation.
type metrics struct {
	mu       sync.Mutex
	all      []*family // in exposition order
	services map[string]serviceFamilies
	up       *family
}

func newMetrics(cfg serverConfig, started time.Time) *metrics {
	m := &metrics{services: map[string]serviceFamilies{}}
	add := func(name, help, typ string, labels ...string) *family {
		f := &family{name: name, help: help, typ: typ, labels: labels, series: map[string]*series{}}
		m.all = append(m.all, f)
		return f
	}
	epoch := float64(started.UnixMilli()) / 1000
	server := add("wso2_integration_server_up", "Server status", "gauge", "host", "port", "java_home", "java_version")
	server.set([]string{cfg.hostname, strconv.Itoa(cfg.ports[ports.HTTP]), cfg.javaHome, javaVersion}, epoch)
	version := add("wso2_integration_server_version", "Version and Update Level of Server", "gauge", "version", "update_level")
	version.set([]string{MIVersion, ""}, epoch)
	m.up = add("wso2_integration_service_up", "Service status", "gauge", "service_name", "service_type")
	kind := func(key, prefix, noun string, labels ...string) {
		m.services[key] = serviceFamilies{
			requests: add(prefix+"_request_count_total", "Total number of requests to "+noun, "counter", labels...),
			latency:  add(prefix+"_latency_seconds", "Latency of requests to "+noun, "histogram", labels...),
			errors:   add(prefix+"_request_count_error_total", errorHelp(noun), "counter", labels...),
		}
	}
	kind(serviceAPI, "wso2_integration_api", "an api", "service_name", "service_type", "invocation_url")
	kind(serviceProxy, "wso2_integration_proxy", "a proxy service", "service_name", "service_type")
	kind(serviceInbound, "wso2_integration_inbound_endpoint", "an inbound endpoint.", "service_name", "service_type")
	kind("data-service", "wso2_integration_data_service", "a data service.", "service_name", "service_type")
	return m
}

// javaVersion is what the simulator reports as the JVM's specification
// version in wso2_integration_server_up.
const javaVersion = "17"

// errorHelp is MI's help text of an error counter.
func errorHelp(noun string) string {
	switch noun {
	case "an api", "a proxy service":
		return "Total number of error requests to " + noun
	}
	// MI's inbound endpoint and data service error counters share one text.
	return "Total number of error requests when receiving the message by an inbound endpoint."
}

func (f *family) get(values []string) *series {
	key := strings.Join(values, "\x00")
	s := f.series[key]
	if s == nil {
		s = &series{values: values}
		if f.typ == "histogram" {
			s.buckets = make([]uint64, len(latencyBuckets))
		}
		f.series[key] = s
	}
	return s
}

func (f *family) set(values []string, v float64) { f.get(values).value = v }

// serviceUp marks a deployed service up (the gauge holds its deployment
// time) and makes its counters appear at 0, as MI does.
func (m *metrics) serviceUp(name, kind string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.up.set([]string{name, kind}, float64(time.Now().UnixMilli())/1000)
	sf := m.services[kind]
	values := []string{name, kind}
	if kind == serviceAPI {
		values = append(values, "")
	}
	sf.requests.get(values)
	sf.errors.get(values)
}

// serviceDown sets an undeployed service's gauge to 0.
func (m *metrics) serviceDown(name, kind string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.up.set([]string{name, kind}, 0)
}

// observe counts one request to a service and its latency.
func (m *metrics) observe(kind string, values []string, d time.Duration, failed bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sf := m.services[kind]
	sf.requests.get(values).value++
	if failed {
		sf.errors.get(values).value++
	}
	h := sf.latency.get(values)
	sec := d.Seconds()
	h.sum += sec
	h.count++
	for i, b := range latencyBuckets {
		if sec <= b {
			h.buckets[i]++
			break
		}
	}
}

// write renders the registry in the Prometheus text format 0.0.4.
func (m *metrics) write(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, f := range m.all {
		b.WriteString("# HELP " + f.name + " " + escapeHelp(f.help) + "\n")
		b.WriteString("# TYPE " + f.name + " " + f.typ + "\n")
		keys := make([]string, 0, len(f.series))
		for k := range f.series {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s := f.series[k]
			if f.typ != "histogram" {
				writeSample(&b, f.name, f.labels, s.values, "", "", s.value)
				continue
			}
			var cum uint64
			for i, bound := range latencyBuckets {
				cum += s.buckets[i]
				writeSample(&b, f.name+"_bucket", f.labels, s.values, "le", formatFloat(bound), float64(cum))
			}
			writeSample(&b, f.name+"_bucket", f.labels, s.values, "le", "+Inf", float64(s.count))
			writeSample(&b, f.name+"_count", f.labels, s.values, "", "", float64(s.count))
			writeSample(&b, f.name+"_sum", f.labels, s.values, "", "", s.sum)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSample(b *strings.Builder, name string, labels, values []string, extraLabel, extraValue string, v float64) {
	b.WriteString(name)
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l + `="` + escapeLabel(values[i]) + `"`)
	}
	if extraLabel != "" {
		b.WriteString(`,` + extraLabel + `="` + extraValue + `"`)
	}
	b.WriteString("} ")
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

// handler serves the metrics.
func (m *metrics) handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.write(w)
	}
}
