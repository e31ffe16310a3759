package top

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mictl/mictl/pkg/config"
)

// Sort orders of the view, each with the key that selects it.
type Sort string

const (
	ByName     Sort = "name"     // n: natural order, mi-2 before mi-10
	ByCPU      Sort = "cpu"      // c: busiest first
	ByMemory   Sort = "memory"   // m: largest first
	ByRestarts Sort = "restarts" // r: most restarted first
)

// SortKeys maps each key of the live view to its order.
var SortKeys = map[string]Sort{"n": ByName, "c": ByCPU, "m": ByMemory, "r": ByRestarts}

// SortRows orders rows by s; ties, and unknown values (last), by name.
func SortRows(rows []Row, s Sort) {
	slices.SortStableFunc(rows, func(a, b Row) int {
		var c int
		switch s {
		case ByCPU:
			c = desc(a.CPUPercent, b.CPUPercent)
		case ByMemory:
			c = desc(a.RSSBytes, b.RSSBytes)
		case ByRestarts:
			c = cmp.Compare(b.Restarts, a.Restarts)
		}
		if c != 0 {
			return c
		}
		return config.CompareNames(a.Name, b.Name)
	})
}

// desc compares for a descending order with nil (unknown) last.
func desc[T cmp.Ordered](a, b *T) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return cmp.Compare(*b, *a)
}

// Headers are the view's column titles; Cells gives a row's values in
// the same order. The widths fit 80 columns with names up to 10 long.
var Headers = []string{"NAME", "STATE", "PID", "UPTIME", "RST", "CPU%", "RSS", "THR", "REQ/S", "ERR%", "P95"}

// Cells formats r for the view and the plain table; "-" is unknown.
func Cells(r Row) []string {
	return []string{
		r.Name, r.State,
		format(r.PID, strconv.Itoa),
		format(r.UptimeSeconds, func(s float64) string { return Duration(time.Duration(s) * time.Second) }),
		strconv.Itoa(r.Restarts),
		format(r.CPUPercent, func(p float64) string { return strconv.FormatFloat(p, 'f', 1, 64) }),
		format(r.RSSBytes, Bytes),
		format(r.Threads, strconv.Itoa),
		format(r.RequestsPerSecond, func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }),
		format(r.ErrorPercent, func(p float64) string { return strconv.FormatFloat(p, 'f', 1, 64) }),
		format(r.P95LatencySeconds, func(s float64) string {
			return p95Prefix(r.P95LatencyBound) + Latency(time.Duration(s*float64(time.Second)))
		}),
	}
}

// p95Prefix marks a P95 that is only a bound: "<190ms", ">1s".
func p95Prefix(bound *string) string {
	switch {
	case bound == nil:
		return ""
	case *bound == BoundAtMost:
		return "<"
	}
	return ">"
}

func format[T any](v *T, f func(T) string) string {
	if v == nil {
		return "-"
	}
	return f(*v)
}

// Bytes prints a size in binary units, at most 6 characters: 512K, 1.5G.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + "B"
	}
	v, suffix := float64(n)/unit, "K"
	for _, s := range []string{"M", "G", "T"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64) + suffix
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + suffix
}

// Duration prints an uptime in its two largest units: 59s, 12m03s, 3h04m, 5d02h.
func Duration(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
	}
}

// Latency prints a latency: 850µs, 12ms, 1.25s.
func Latency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	}
}

// Lines lays rows out as aligned text columns (a header first), each line
// cut to width: the live view, which has no room for table borders.
func Lines(rows []Row, width int) []string {
	cells := make([][]string, 0, len(rows)+1)
	cells = append(cells, Headers)
	for _, r := range rows {
		cells = append(cells, Cells(r))
	}
	widths := make([]int, len(Headers))
	for _, row := range cells {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	out := make([]string, len(cells))
	var b strings.Builder
	for i, row := range cells {
		b.Reset()
		for j, c := range row {
			if j > 0 {
				b.WriteByte(' ')
			}
			pad := widths[j] - utf8.RuneCountInString(c)
			if j < 2 { // name and state read left to right, numbers align right
				b.WriteString(c)
				b.WriteString(strings.Repeat(" ", pad))
			} else {
				b.WriteString(strings.Repeat(" ", pad))
				b.WriteString(c)
			}
		}
		out[i] = Cut(strings.TrimRight(b.String(), " "), width)
	}
	return out
}

// Cut shortens s to width runes (no limit when width <= 0).
func Cut(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	return string([]rune(s)[:width])
}
