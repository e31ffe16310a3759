package top

import (
	"errors"
	"math"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mictl/mictl/pkg/metrics/promtest"
	"github.com/mictl/mictl/pkg/promtext"
)

func TestParseTotalsOfMIExposition(t *testing.T) {
	e := promtest.NewMIExporter(t)
	e.Serve(10, 2, 0.18)
	e.Serve(5, 0, 0.45)
	e.Serve(1, 1, 9)
	// A second service kind, as MI's Java client serves it: "x counter"
	// declared, "x_total" served.
	text := e.Text() + `# TYPE wso2_integration_proxy_request_count counter
wso2_integration_proxy_request_count_total{service_name="P",service_type="proxy"} 4.0
wso2_integration_proxy_request_count_error_total{service_name="P",service_type="proxy"} 1.0
`
	got, err := parseTotals(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests != 20 || got.Errors != 4 {
		t.Errorf("requests %v, errors %v; want 20 and 4", got.Requests, got.Errors)
	}
	for le, want := range map[float64]float64{0.19: 10, 0.5: 15, 5: 15, math.Inf(1): 16} {
		if got.Buckets[le] != want {
			t.Errorf("bucket le=%v holds %v, want %v", le, got.Buckets[le], want)
		}
	}
	if _, err := parseTotals(strings.NewReader("not{ a metric")); err == nil {
		t.Error("a broken exposition parsed")
	}
}

func TestRates(t *testing.T) {
	inf := math.Inf(1)
	prev := Totals{Requests: 100, Errors: 1, Buckets: map[float64]float64{0.1: 50, 0.5: 90, 1: 100, inf: 100}}
	cur := Totals{Requests: 300, Errors: 11, Buckets: map[float64]float64{0.1: 150, 0.5: 270, 1: 300, inf: 300}}
	tr := Rates(prev, cur, 2)
	if tr.RequestsPerSecond == nil || *tr.RequestsPerSecond != 100 {
		t.Errorf("requests/s = %v, want 100", deref(tr.RequestsPerSecond))
	}
	if tr.ErrorPercent == nil || *tr.ErrorPercent != 5 {
		t.Errorf("error %% = %v, want 5", deref(tr.ErrorPercent))
	}
	// 200 requests: 100 under 0.1 s, 80 in (0.1, 0.5], 20 in (0.5, 1]; the
	// 190th is half way into the last bucket.
	if tr.P95 == nil || math.Abs(*tr.P95-0.75) > 1e-9 {
		t.Errorf("p95 = %v, want 0.75", deref(tr.P95))
	}

	idle := Rates(cur, cur, 1)
	if idle.RequestsPerSecond == nil || *idle.RequestsPerSecond != 0 || idle.ErrorPercent != nil || idle.P95 != nil {
		t.Errorf("no traffic: %+v, want 0 requests/s and no error %% or p95", idle)
	}
	if restarted := Rates(cur, prev, 1); restarted.RequestsPerSecond != nil {
		t.Errorf("counters that went back (a restart) gave a rate: %+v", restarted)
	}
	slow := Totals{Requests: 110, Errors: 1, Buckets: map[float64]float64{0.1: 50, 0.5: 90, 1: 100, inf: 110}}
	if tr := Rates(prev, slow, 1); tr.P95 == nil || *tr.P95 != 1 || tr.P95Bound != BoundAtLeast {
		t.Errorf("p95 in the +Inf bucket = %v (%q), want at least the highest finite bound 1", deref(tr.P95), tr.P95Bound)
	}
	if tr.P95Bound != "" {
		t.Errorf("p95 within a bucket is an estimate, not a bound: %q", tr.P95Bound)
	}
	// MI's first bucket holds everything under its bound: fast requests
	// have a p95 of at most that, not a made-up point inside it.
	fast := Totals{Requests: 300, Errors: 1, Buckets: map[float64]float64{0.1: 250, 0.5: 290, 1: 300, inf: 300}}
	if tr := Rates(prev, fast, 1); tr.P95 == nil || *tr.P95 != 0.1 || tr.P95Bound != BoundAtMost {
		t.Errorf("p95 in the first bucket = %v (%q), want at most 0.1", deref(tr.P95), tr.P95Bound)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// FuzzParseTotalsAgreesWithPrometheus holds parseTotals to what the same
// totals are when Prometheus's own parser reads the exposition: whatever
// it reads, parseTotals reads to the same requests, errors and buckets.
func FuzzParseTotalsAgreesWithPrometheus(f *testing.F) {
	e := promtest.NewMIExporter(f)
	e.Serve(10, 2, 0.18)
	e.Serve(1, 1, 9)
	f.Add(e.Text())
	f.Add(e.Text() + "# TYPE wso2_integration_proxy_request_count counter\nwso2_integration_proxy_request_count_total{service_name=\"P\"} 4.0\n")
	f.Add("# TYPE wso2_integration_api_latency_seconds histogram\n" +
		"wso2_integration_api_latency_seconds_bucket{b=\"1\",a=\"x\",le=\"0.5\"} 2.5\n" +
		"wso2_integration_api_latency_seconds_count{a=\"x\",b=\"1\"} 3\n" +
		"wso2_integration_api_latency_seconds{a=\"y\",le=\"1\"} 1\n" +
		"wso2_integration_api_latency_seconds_count{a=\"y\"} 7\n" +
		"wso2_integration_api_latency_seconds_bucket{a=\"y\",le=\"+Inf\"} 4\n" +
		"# TYPE wso2_integration_x_request_count_total summary\nwso2_integration_x_request_count_total{quantile=\"0.5\"} 9\n" +
		"wso2_integration_y_request_count_error_total NaN\n")
	f.Fuzz(func(t *testing.T, text string) {
		want, err := totalsAsPrometheusReads(text)
		if err != nil {
			return
		}
		got, err := parseTotals(strings.NewReader(text))
		if errors.Is(err, promtext.ErrQuotedName) {
			return // documented: not read
		}
		if err != nil {
			t.Fatalf("Prometheus reads %q, parseTotals says: %v", text, err)
		}
		if !same(got.Requests, want.Requests) || !same(got.Errors, want.Errors) || len(got.Buckets) != len(want.Buckets) {
			t.Fatalf("%q: parseTotals reads %+v, Prometheus %+v", text, got, want)
		}
		for le, n := range want.Buckets {
			if m, ok := got.Buckets[le]; !ok || !same(m, n) {
				t.Fatalf("%q: parseTotals reads %+v, Prometheus %+v", text, got, want)
			}
		}
	})
}

func same(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// totalsAsPrometheusReads applies parseTotals's rules to Prometheus's own
// reading of text (expfmt), fractional counts included.
func totalsAsPrometheusReads(text string) (Totals, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return Totals{}, err
	}
	t := Totals{Buckets: map[float64]float64{}}
	for name, f := range fams {
		if !strings.HasPrefix(name, miPrefix) {
			continue
		}
		for _, m := range f.GetMetric() {
			var v float64
			switch {
			case m.Counter != nil:
				v = m.GetCounter().GetValue()
			case m.Untyped != nil:
				v = m.GetUntyped().GetValue()
			case m.Gauge != nil:
				v = m.GetGauge().GetValue()
			}
			switch h := m.GetHistogram(); {
			case strings.HasSuffix(name, miErrorSuffix) && m.Histogram == nil:
				t.Errors += v
			case strings.HasSuffix(name, miRequestSuffix) && m.Histogram == nil:
				t.Requests += v
			case strings.HasSuffix(name, miLatencySuffix) && f.GetType() == dto.MetricType_HISTOGRAM:
				inf := false
				for _, b := range h.GetBucket() {
					t.Buckets[b.GetUpperBound()] += max(float64(b.GetCumulativeCount()), b.GetCumulativeCountFloat())
					inf = inf || math.IsInf(b.GetUpperBound(), 1)
				}
				if !inf { // the +Inf bucket is the count
					t.Buckets[math.Inf(1)] += max(float64(h.GetSampleCount()), h.GetSampleCountFloat())
				}
			}
		}
	}
	return t, nil
}
