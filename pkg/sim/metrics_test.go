package sim

import (
	"bytes"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mictl/mictl/pkg/ports"
)

// parseMetrics parses the text format as Prometheus does; a malformed
// exposition fails the test.
func parseMetrics(t testing.TB, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("invalid Prometheus text format: %v\n%s", err, text)
	}
	return fams
}

// sampleValue finds the value of the family's series whose labels include
// want; ok false when there is none.
func sampleValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// docs/mi-integrations.md "Metrics": MI's names, types, labels and
// buckets; values escaped as the text format wants.
func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	cfg := serverConfig{hostname: "mi.example", ports: ports.DefaultBases().Shift(3), javaHome: `/opt/j"dk\17`}
	m := newMetrics(cfg, time.Unix(1700000000, 0))
	m.serviceUp("OrdersAPI", serviceAPI)
	m.serviceUp("HTTPIn", serviceInbound)
	url := "http://mi.example:8283/orders"
	m.observe(serviceAPI, []string{"OrdersAPI", serviceAPI, url}, 100*time.Millisecond, false)
	m.observe(serviceAPI, []string{"OrdersAPI", serviceAPI, url}, 300*time.Millisecond, true)
	m.observe(serviceAPI, []string{"OrdersAPI", serviceAPI, url}, 9*time.Second, false)
	m.observe(serviceInbound, []string{"HTTPIn", serviceInbound}, time.Millisecond, false)
	m.serviceDown("HTTPIn", serviceInbound)

	var buf bytes.Buffer
	if err := m.write(&buf); err != nil {
		t.Fatal(err)
	}
	fams := parseMetrics(t, buf.String())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"wso2_integration_server_up", map[string]string{"host": "mi.example", "port": "8283", "java_home": `/opt/j"dk\17`}, 1700000000},
		{"wso2_integration_server_version", map[string]string{"version": MIVersion}, 1700000000},
		{"wso2_integration_api_request_count_total", map[string]string{"service_name": "OrdersAPI", "service_type": "api", "invocation_url": url}, 3},
		{"wso2_integration_api_request_count_error_total", map[string]string{"service_name": "OrdersAPI", "invocation_url": url}, 1},
		{"wso2_integration_api_request_count_total", map[string]string{"service_name": "OrdersAPI", "invocation_url": ""}, 0},
		{"wso2_integration_api_latency_seconds", map[string]string{"service_name": "OrdersAPI", "invocation_url": url}, 3},
		{"wso2_integration_inbound_endpoint_request_count_total", map[string]string{"service_name": "HTTPIn", "service_type": "inbound-endpoint"}, 1},
		{"wso2_integration_service_up", map[string]string{"service_name": "HTTPIn", "service_type": "inbound-endpoint"}, 0},
	} {
		if got, ok := sampleValue(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if v, ok := sampleValue(fams, "wso2_integration_service_up", map[string]string{"service_name": "OrdersAPI"}); !ok || v < 1.7e9 {
		t.Errorf("service_up of a deployed API = %v, want its deployment time", v)
	}
	h := fams["wso2_integration_api_latency_seconds"]
	if h.GetType() != dto.MetricType_HISTOGRAM || fams["wso2_integration_api_request_count_total"].GetType() != dto.MetricType_COUNTER {
		t.Errorf("types: %v %v", h.GetType(), fams["wso2_integration_api_request_count_total"].GetType())
	}
	for _, m := range h.Metric {
		hist := m.Histogram
		if hist.GetSampleCount() != 3 {
			continue
		}
		var bounds []float64
		counts := map[float64]uint64{}
		for _, b := range hist.Bucket {
			bounds = append(bounds, b.GetUpperBound())
			counts[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		if len(bounds) != len(latencyBuckets)+1 || counts[0.19] != 1 || counts[0.30] != 2 || counts[5] != 2 || hist.GetSampleSum() < 9.4 {
			t.Errorf("histogram buckets %v counts %v sum %v", bounds, counts, hist.GetSampleSum())
		}
	}
	for _, name := range []string{"wso2_integration_proxy_request_count_total", "wso2_integration_data_service_latency_seconds"} {
		if !strings.Contains(buf.String(), "# TYPE "+name) {
			t.Errorf("family %s missing", name)
		}
	}
	// A nil registry (metrics off) takes observations without effect.
	var off *metrics
	off.serviceUp("x", serviceAPI)
	off.observe(serviceAPI, []string{"x", "api", ""}, 0, true)
	off.serviceDown("x", serviceAPI)
}
