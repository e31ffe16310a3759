package top

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/mictl/mictl/pkg/promtext"
)

// Totals are an MI server's traffic counters at one scrape, summed over
// every API, proxy service, inbound endpoint and data service.
type Totals struct {
	Requests, Errors float64
	// Buckets maps each latency bucket's upper bound (+Inf included) to
	// the cumulative count of requests at most that slow, all services
	// merged (MI gives every service the same bounds).
	Buckets map[float64]float64
}

// MI's metric names (docs/mi-facts.md, "Integrations"): for each service kind
// (api, proxy, inbound_endpoint, data_service)
// wso2_integration_<kind>_request_count_total,
// wso2_integration_<kind>_request_count_error_total and the histogram
// wso2_integration_<kind>_latency_seconds.
const (
	miPrefix        = "wso2_integration_"
	miRequestSuffix = "_request_count_total"
	miErrorSuffix   = "_request_count_error_total"
	miLatencySuffix = "_latency_seconds"
)

// parseTotals reads an MI metrics exposition (Prometheus text format).
// Counters are matched by their samples' names whatever type the
// exposition declares for them: MI's Java client declares "x counter" and
// serves "x_total", which Prometheus reads as an untyped x_total.
func parseTotals(r io.Reader) (Totals, error) {
	t := Totals{Buckets: map[float64]float64{}}
	// Each latency series (its labels but le): whether it gave a +Inf
	// bucket, and its count, which stands for one when it did not.
	type series struct {
		inf   bool
		count float64
	}
	latency := map[string]*series{}
	err := promtext.Parse(r, func(s promtext.Sample) error {
		if !strings.HasPrefix(s.Family, miPrefix) {
			return nil
		}
		switch s.Type {
		case promtext.Histogram:
			if !strings.HasSuffix(s.Family, miLatencySuffix) {
				return nil
			}
			key := seriesKey(s.Family, s.Labels)
			ls := latency[key]
			if ls == nil {
				ls = &series{}
				latency[key] = ls
			}
			le, isBucket := s.Label("le")
			switch {
			case s.Name == s.Family+"_count":
				ls.count = s.Value
			case s.Name == s.Family+"_sum":
			case isBucket:
				bound, err := promtext.ParseFloat(le)
				if err != nil {
					return fmt.Errorf("%s: le=%q is not a number", s.Name, le)
				}
				t.Buckets[bound] += s.Value
				ls.inf = ls.inf || math.IsInf(bound, 1)
			}
		case promtext.Summary:
		default:
			switch {
			case strings.HasSuffix(s.Family, miErrorSuffix):
				t.Errors += s.Value
			case strings.HasSuffix(s.Family, miRequestSuffix):
				t.Requests += s.Value
			}
		}
		return nil
	})
	if err != nil {
		return Totals{}, fmt.Errorf("parse MI metrics: %w", err)
	}
	for _, ls := range latency {
		if !ls.inf { // the +Inf bucket is the count
			t.Buckets[math.Inf(1)] += ls.count
		}
	}
	return t, nil
}

// seriesKey names a histogram's series: its family and its labels but le.
func seriesKey(family string, labels []promtext.Label) string {
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		if l.Name != "le" {
			parts = append(parts, l.Name+"\x00"+l.Value)
		}
	}
	slices.Sort(parts)
	return family + "\x00" + strings.Join(parts, "\x00")
}

// Traffic is what an instance served between two scrapes.
type Traffic struct {
	// RequestsPerSecond is nil when the interval is empty or a counter went
	// back (the server restarted between the scrapes).
	RequestsPerSecond *float64
	// ErrorPercent and P95 (seconds) are nil when no request was served.
	ErrorPercent *float64
	P95          *float64
	// P95Bound says when P95 is only a bound the histogram allows: the
	// 95th percentile falls in its first bucket (P95 is that bucket's
	// upper bound, BoundAtMost) or past its last finite bound (BoundAtLeast).
	// "" when P95 is an estimate within a bucket.
	P95Bound string
}

// The bounds a P95 can be: MI's histogram cannot say more.
const (
	BoundAtMost  = "at_most"
	BoundAtLeast = "at_least"
)

// Rates compares two scrapes seconds apart.
func Rates(prev, cur Totals, seconds float64) Traffic {
	dReq, dErr := cur.Requests-prev.Requests, cur.Errors-prev.Errors
	if seconds <= 0 || dReq < 0 || dErr < 0 {
		return Traffic{}
	}
	tr := Traffic{RequestsPerSecond: ptr(dReq / seconds)}
	if dReq == 0 {
		return tr
	}
	tr.ErrorPercent = ptr(100 * min(dErr/dReq, 1))
	delta := map[float64]float64{}
	for le, n := range cur.Buckets {
		delta[le] = n - prev.Buckets[le]
	}
	tr.P95, tr.P95Bound = quantile(0.95, delta)
	return tr
}

// quantile estimates the q-quantile from cumulative bucket counts the way
// Prometheus's histogram_quantile does, linear within the bucket the rank
// falls in, except at the ends, where it gives the bound and says which:
// in the first bucket its upper bound (interpolating from 0 would make up
// a latency: MI's first bucket holds everything under 190 ms), in +Inf the
// highest finite bound. nil when the buckets hold nothing or went back.
func quantile(q float64, buckets map[float64]float64) (*float64, string) {
	bounds := make([]float64, 0, len(buckets))
	for le := range buckets {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 || !math.IsInf(bounds[len(bounds)-1], 1) {
		return nil, ""
	}
	total := buckets[bounds[len(bounds)-1]]
	if total <= 0 {
		return nil, ""
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, le := range bounds {
		n := buckets[le]
		if n < below {
			return nil, "" // not cumulative: a counter went back
		}
		if n >= rank {
			switch {
			case math.IsInf(le, 1) && i == 0:
				return nil, ""
			case math.IsInf(le, 1):
				return ptr(bounds[i-1]), BoundAtLeast
			case i == 0:
				return ptr(le), BoundAtMost
			case n == below:
				return ptr(le), ""
			}
			return ptr(lower + (le-lower)*(rank-below)/(n-below)), ""
		}
		lower, below = le, n
	}
	return nil, ""
}

func ptr[T any](v T) *T { return &v }
