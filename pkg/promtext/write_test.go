package promtext

import (
	"math"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestWriterSpellsTheFormat(t *testing.T) {
	var w Writer
	w.Family("a_total", Counter, "Help with \\ and\na line feed.")
	w.Sample("a_total", 3, Label{"name", `mi "1" \ x` + "\n"})
	w.Sample("a_total", 1.048576e+07, Label{"name", "b"}, Label{"offset", "10"})
	w.Family("g", Gauge, "Odd values.")
	w.Sample("g", math.Inf(1))
	w.Sample("g", math.Inf(-1), Label{"k", "v"})
	w.Sample("g", math.NaN(), Label{"k", "w"})
	w.Sample("g", 0.1)
	w.Family("h_seconds", Histogram, "A histogram.")
	w.HistogramSeries("h_seconds", []Label{{"name", "mi-1"}}, []float64{0.1, 2.5}, []uint64{1, 3}, 4.25, 5)
	w.HistogramSeries("h_seconds", nil, []float64{0.1}, []uint64{0}, 0, 0)
	want := `# HELP a_total Help with \\ and\na line feed.
# TYPE a_total counter
a_total{name="mi \"1\" \\ x\n"} 3
a_total{name="b",offset="10"} 1.048576e+07
# HELP g Odd values.
# TYPE g gauge
g +Inf
g{k="v"} -Inf
g{k="w"} NaN
g 0.1
# HELP h_seconds A histogram.
# TYPE h_seconds histogram
h_seconds_bucket{name="mi-1",le="0.1"} 1
h_seconds_bucket{name="mi-1",le="2.5"} 3
h_seconds_bucket{name="mi-1",le="+Inf"} 5
h_seconds_sum{name="mi-1"} 4.25
h_seconds_count{name="mi-1"} 5
h_seconds_bucket{le="0.1"} 0
h_seconds_bucket{le="+Inf"} 0
h_seconds_sum 0
h_seconds_count 0
`
	if got := string(w.Bytes()); got != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got, want)
	}

	// Prometheus's parser reads it back as written.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(want))
	if err != nil {
		t.Fatalf("Prometheus cannot read the exposition: %v", err)
	}
	if got := fams["a_total"].GetMetric()[0].GetLabel()[0].GetValue(); got != `mi "1" \ x`+"\n" {
		t.Errorf("label value read back as %q", got)
	}
	if got := fams["a_total"].GetHelp(); got != "Help with \\ and\na line feed." {
		t.Errorf("help read back as %q", got)
	}
	h := fams["h_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 5 || h.GetSampleSum() != 4.25 || len(h.GetBucket()) != 3 || h.GetBucket()[1].GetCumulativeCount() != 3 {
		t.Errorf("histogram read back as %v", h)
	}
	// And so does Parse.
	got := parseAll(t, want)
	if len(got) != 15 || got[0].Labels[0].Value != `mi "1" \ x`+"\n" || !math.IsInf(got[2].Value, 1) || !math.IsNaN(got[4].Value) || got[9].Family != "h_seconds" {
		t.Errorf("Parse read the exposition back as %+v", got)
	}
}
