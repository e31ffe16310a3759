package promtext

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parseAll(t *testing.T, text string) []Sample {
	t.Helper()
	var got []Sample
	if err := Parse(strings.NewReader(text), func(s Sample) error {
		got = append(got, s)
		return nil
	}); err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	return got
}

func TestParseFindsFamiliesAsPrometheusDoes(t *testing.T) {
	text := `# A comment, then a blank line.

# HELP req_total Requests, \\, \" and \n escaped.
# TYPE req_total counter
req_total{api="orders",path="/a \"b\"\\c\nd"} 3 1700000000000
  req_total{api="x",} 4.5
# TYPE lat histogram
lat_bucket{le="0.5"} 1
lat_bucket{le="+Inf"} 2
lat_sum 0.7
lat_count 2
lat{le="1"} 2
# TYPE rpc summary
rpc{quantile="0.9"} 0.2
rpc_sum 5
rpc_count 9
rpc_bucket 1
# TYPE mi counter
mi_total NaN
seen_count 1
# TYPE seen histogram
seen_count 2
`
	type got struct {
		name, family, typ string
		value             float64
	}
	var have []got
	for _, s := range parseAll(t, text) {
		have = append(have, got{s.Name, s.Family, s.Type, s.Value})
	}
	want := []got{
		{"req_total", "req_total", Counter, 3},
		{"req_total", "req_total", Counter, 4.5},
		{"lat_bucket", "lat", Histogram, 1},
		{"lat_bucket", "lat", Histogram, 2},
		{"lat_sum", "lat", Histogram, 0.7},
		{"lat_count", "lat", Histogram, 2},
		{"lat", "lat", Histogram, 2},
		{"rpc", "rpc", Summary, 0.2},
		{"rpc_sum", "rpc", Summary, 5},
		{"rpc_count", "rpc", Summary, 9},
		// A summary has no buckets: a family of its own.
		{"rpc_bucket", "rpc_bucket", Untyped, 1},
		// MI's Java client declares "mi counter" and serves mi_total.
		{"mi_total", "mi_total", Untyped, math.NaN()},
		// A family met first as seen_count stays one after "# TYPE seen".
		{"seen_count", "seen_count", Untyped, 1},
		{"seen_count", "seen_count", Untyped, 2},
	}
	if !slices.EqualFunc(have, want, func(a, b got) bool {
		return a.name == b.name && a.family == b.family && a.typ == b.typ &&
			(a.value == b.value || math.IsNaN(a.value) && math.IsNaN(b.value))
	}) {
		t.Errorf("samples:\n got %v\nwant %v", have, want)
	}
	first := parseAll(t, text)[0]
	if v, ok := first.Label("path"); !ok || v != "/a \"b\"\\c\nd" {
		t.Errorf("escaped label value = %q, %v", v, ok)
	}
	if _, ok := first.Label("none"); ok {
		t.Error("Label found a label the sample lacks")
	}
	twice := parseAll(t, "# TYPE h histogram\nh_bucket{le=\"1\",le=\"2\"} 1\n")[0]
	if v, _ := twice.Label("le"); v != "2" {
		t.Errorf("le given twice reads as %q, want the last, 2", v)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"a 1\nb{x=\"1\" 2\n", `line 2: b: label x: expected ',' or '}' at "2"`},
		{"a one\n", `line 1: a: value "one" is not a number`},
		{"a 0x1p3\n", `line 1: a: value "0x1p3" is not a number`},
		{"a 1 soon\n", `line 1: a: timestamp "soon" is not an integer`},
		{"a 1 2 3\n", `line 1: a: unexpected "3" after the timestamp`},
		{"{\"x.y\"} 1\n", `line 1: "{\"x.y\"} 1": names quoted as UTF-8 strings are not supported`},
		{"{x=\"1\"} 1\n", `line 1: "{x=\"1\"} 1": expected a metric name`},
		{"=1\n", `line 1: "=1": expected a metric name`},
		{"a{x=\"\\t\"} 1\n", `line 1: a: label x: invalid escape \t`},
		{"a{x=\"1} 1\n", `line 1: a: label x: value has no closing quote`},
		{"a{1=\"1\"} 1\n", `line 1: a: expected a label name at "1=\"1\"} 1"`},
		{"# TYPE a bucket\n", `line 1: # TYPE a "bucket": not a metric type (counter, gauge, histogram, summary, untyped)`},
		{"# TYPE a counter extra\n", `line 1: # TYPE a counter: unexpected " extra" after the type`},
		{"# HELP 1a x\n", `line 1: # HELP names "1a", which is not a metric name`},
		{"# HELP a x\\\n", `line 1: # HELP a: a lone '\' ends the text`},
		{"a " + strings.Repeat("1", maxLine) + "\n", fmt.Sprintf("a line is longer than %d bytes", maxLine)},
	} {
		err := Parse(strings.NewReader(tc.text), func(Sample) error { return nil })
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%.30q) = %v, want %s", tc.text, err, tc.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := Parse(strings.NewReader("a 1\nb 2\n"), func(Sample) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 || err.Error() != "line 1: stop" {
		t.Errorf("each's error: Parse = %v after %d samples, want it at once, with its line", err, n)
	}
}

// FuzzParseAgreesWithPrometheus holds Parse to Prometheus's own parser:
// whatever expfmt reads, Parse reads too, into the same families, types,
// series and values.
func FuzzParseAgreesWithPrometheus(f *testing.F) {
	for _, seed := range []string{
		"a 1\n",
		"# TYPE a counter\na_total{x=\"y\"} 3 17\n",
		"# HELP h line\\nnext \\\\ end\n# TYPE h histogram\nh_bucket{le=\"1\",a=\"b\"} 1\nh_bucket{a=\"b\",le=\"+Inf\"} 2.5\nh_sum{a=\"b\"} 3\nh_count{a=\"b\"} 2.5\nh{le=\"2\"} 4\n",
		"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\ns_bucket 4\n",
		"x_count 1\n# TYPE x histogram\nx_count 2\nx_bucket{le=\"1\"} 1\n",
		"g{a=\"\\\"q\\\"\",b=\"\\n\"} -Inf\ng NaN\n\n# comment\n  g 1e3\n",
		"# HELP h a \\\"quoted\\\" help\n# TYPE h gauge\nh 1\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			return
		}
		var samples []Sample
		if err := Parse(strings.NewReader(text), func(s Sample) error {
			samples = append(samples, s)
			return nil
		}); errors.Is(err, ErrQuotedName) {
			return // documented: not read
		} else if err != nil {
			t.Fatalf("Prometheus reads %q, Parse says: %v", text, err)
		}
		if got, want := canonical(samples), canonicalExpfmt(fams); !slices.Equal(got, want) {
			t.Fatalf("%q:\nParse reads\n  %s\nPrometheus reads\n  %s", text, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	})
}

// canonical lists what samples say, one line per value, the way
// canonicalExpfmt lists Prometheus's reading of the same text. Of a
// series' count and sum the last one given stands, as in Prometheus (a
// series holds one of each).
func canonical(samples []Sample) []string {
	var out []string
	last := map[string]string{}
	for _, s := range samples {
		var le, q string
		var rest []*dto.LabelPair
		for _, l := range s.Labels {
			switch {
			case s.Type == Histogram && l.Name == "le":
				le = l.Value
			case s.Type == Summary && l.Name == "quantile":
				q = l.Value
			default:
				rest = append(rest, &dto.LabelPair{Name: &l.Name, Value: &l.Value})
			}
		}
		prefix := s.Family + " " + s.Type + " " + labelString(rest)
		switch {
		case s.Type != Histogram && s.Type != Summary:
			out = append(out, prefix+" value "+num(s.Value))
		case s.Name == s.Family+"_count":
			last[prefix+" count "] = num(s.Value)
		case s.Name == s.Family+"_sum":
			last[prefix+" sum "] = num(s.Value)
		case s.Type == Histogram && le != "":
			bound, _ := ParseFloat(le)
			out = append(out, prefix+" bucket "+num(bound)+" "+num(s.Value))
		case s.Type == Summary && q != "":
			quantile, _ := ParseFloat(q)
			out = append(out, prefix+" quantile "+num(quantile)+" "+num(s.Value))
		}
	}
	for k, v := range last {
		if !strings.HasSuffix(k, " count ") || v != "0" { // see canonicalExpfmt
			out = append(out, k+v)
		}
	}
	sort.Strings(out)
	return out
}

func canonicalExpfmt(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for name, f := range fams {
		typ := strings.ToLower(f.GetType().String())
		for _, m := range f.GetMetric() {
			prefix := name + " " + typ + " " + labelString(m.GetLabel())
			switch {
			case m.Counter != nil:
				out = append(out, prefix+" value "+num(m.GetCounter().GetValue()))
			case m.Gauge != nil:
				out = append(out, prefix+" value "+num(m.GetGauge().GetValue()))
			case m.Untyped != nil:
				out = append(out, prefix+" value "+num(m.GetUntyped().GetValue()))
			case m.Histogram != nil:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					c := float64(b.GetCumulativeCount())
					if b.CumulativeCountFloat != nil {
						c = b.GetCumulativeCountFloat()
					}
					out = append(out, prefix+" bucket "+num(b.GetUpperBound())+" "+num(c))
				}
				// expfmt gives a histogram with a fractional bucket count a
				// count of 0 when it has none: a count of 0 is no count.
				if c := max(float64(h.GetSampleCount()), h.GetSampleCountFloat()); c != 0 {
					out = append(out, prefix+" count "+num(c))
				}
				if h.SampleSum != nil {
					out = append(out, prefix+" sum "+num(h.GetSampleSum()))
				}
			case m.Summary != nil:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					out = append(out, prefix+" quantile "+num(q.GetQuantile())+" "+num(q.GetValue()))
				}
				if s.GetSampleCount() != 0 {
					out = append(out, prefix+" count "+num(float64(s.GetSampleCount())))
				}
				if s.SampleSum != nil {
					out = append(out, prefix+" sum "+num(s.GetSampleSum()))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func labelString(ls []*dto.LabelPair) string {
	parts := make([]string, 0, len(ls))
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func num(v float64) string { return string(appendFloat(nil, v)) }
