package promtest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// MIBuckets are the latency buckets MI's MetricHandler uses (seconds).
var MIBuckets = []float64{0.19, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 1, 5}

// MIExporter serves MI-style metrics on /metric-service/metrics, with
// MI's names and labels (docs/mi-facts.md, "Integrations"), for one API whose
// counts the test sets.
type MIExporter struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests uint64
	errors   uint64
	// latency counts requests per bucket of MIBuckets (+Inf last).
	latency []uint64
	sum     float64
}

// NewMIExporter starts an exporter on loopback, closed when the test ends.
func NewMIExporter(tb testing.TB) *MIExporter {
	tb.Helper()
	e := &MIExporter{latency: make([]uint64, len(MIBuckets)+1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/metric-service/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, e.Text())
	})
	e.srv = httptest.NewServer(mux)
	tb.Cleanup(e.srv.Close)
	return e
}

// MetricsURL returns the URL of the exporter's metrics.
func (e *MIExporter) MetricsURL() string { return e.srv.URL + "/metric-service/metrics" }

// Addr returns the exporter's host and port.
func (e *MIExporter) Addr() (string, int) {
	host, port, _ := net.SplitHostPort(e.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return host, p
}

// Serve records n requests taking d seconds each, failed of them errors.
func (e *MIExporter) Serve(n, failed uint64, d float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests += n
	e.errors += failed
	e.sum += float64(n) * d
	i := 0
	for i < len(MIBuckets) && d > MIBuckets[i] {
		i++
	}
	e.latency[i] += n
}

// Text is the exposition MI would serve now.
func (e *MIExporter) Text() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	const labels = `service_name="HealthAPI",service_type="api",invocation_url="/health"`
	var b strings.Builder
	b.WriteString("# HELP wso2_integration_server_up Server status\n# TYPE wso2_integration_server_up gauge\nwso2_integration_server_up 1.0\n")
	fmt.Fprintf(&b, "# HELP wso2_integration_api_request_count_total Total number of requests to an api\n# TYPE wso2_integration_api_request_count_total counter\nwso2_integration_api_request_count_total{%s} %d\n", labels, e.requests)
	fmt.Fprintf(&b, "# HELP wso2_integration_api_request_count_error_total Total number of error requests to an api\n# TYPE wso2_integration_api_request_count_error_total counter\nwso2_integration_api_request_count_error_total{%s} %d\n", labels, e.errors)
	b.WriteString("# HELP wso2_integration_api_latency_seconds Latency of requests to an api\n# TYPE wso2_integration_api_latency_seconds histogram\n")
	var cum uint64
	for i, le := range MIBuckets {
		cum += e.latency[i]
		fmt.Fprintf(&b, "wso2_integration_api_latency_seconds_bucket{%s,le=\"%s\"} %d\n", labels, strconv.FormatFloat(le, 'g', -1, 64), cum)
	}
	cum += e.latency[len(MIBuckets)]
	fmt.Fprintf(&b, "wso2_integration_api_latency_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels, cum)
	fmt.Fprintf(&b, "wso2_integration_api_latency_seconds_count{%s} %d\n", labels, cum)
	fmt.Fprintf(&b, "wso2_integration_api_latency_seconds_sum{%s} %s\n", labels, strconv.FormatFloat(e.sum, 'g', -1, 64))
	return b.String()
}
