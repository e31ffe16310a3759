package top

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func rowsByName(rows []Row) []string {
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
	}
	return names
}

func TestSortRows(t *testing.T) {
	rows := []Row{
		{Name: "mi-10", CPUPercent: ptr(5.0), RSSBytes: ptr(uint64(300)), Restarts: 1},
		{Name: "mi-2", CPUPercent: ptr(50.0), RSSBytes: ptr(uint64(100)), Restarts: 0},
		{Name: "mi-1", Restarts: 3}, // stopped: no CPU or memory known
		{Name: "mi-3", CPUPercent: ptr(5.0), RSSBytes: ptr(uint64(200)), Restarts: 1},
	}
	for s, want := range map[Sort][]string{
		ByName:     {"mi-1", "mi-2", "mi-3", "mi-10"},
		ByCPU:      {"mi-2", "mi-3", "mi-10", "mi-1"},
		ByMemory:   {"mi-10", "mi-3", "mi-2", "mi-1"},
		ByRestarts: {"mi-1", "mi-3", "mi-10", "mi-2"},
	} {
		SortRows(rows, s)
		if got := rowsByName(rows); !slices.Equal(got, want) {
			t.Errorf("by %s: %v, want %v", s, got, want)
		}
	}
}

func TestCellsAndWidth(t *testing.T) {
	full := Row{Name: "mi-10", State: "degraded", PID: ptr(4194303), UptimeSeconds: ptr(float64(3*86400 + 4*3600)),
		Restarts: 12, CPUPercent: ptr(187.25), RSSBytes: ptr(uint64(1536) << 20), Threads: ptr(230),
		RequestsPerSecond: ptr(12345.6), ErrorPercent: ptr(100.0), P95LatencySeconds: ptr(1.25), P95LatencyBound: ptr(BoundAtLeast)}
	want := []string{"mi-10", "degraded", "4194303", "3d04h", "12", "187.2", "1.5G", "230", "12345.6", "100.0", ">1.25s"}
	if got := Cells(full); !slices.Equal(got, want) {
		t.Errorf("Cells = %q\nwant    %q", got, want)
	}
	fast := full
	fast.P95LatencySeconds, fast.P95LatencyBound = ptr(0.19), ptr(BoundAtMost)
	if got := Cells(fast)[10]; got != "<190ms" {
		t.Errorf("a p95 of at most 190ms shows as %q, want <190ms", got)
	}
	stopped := Row{Name: "mi-1", State: "stopped"}
	if got := Cells(stopped); !slices.Equal(got, []string{"mi-1", "stopped", "-", "-", "0", "-", "-", "-", "-", "-", "-"}) {
		t.Errorf("Cells of a stopped instance = %q", got)
	}
	// The widest values of every column, with a 10-character name, fit
	// an 80-column terminal.
	lines := Lines([]Row{full, {Name: "mi-abcdefg", State: "starting"}}, 0)
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("%d columns: %q", n, l)
		}
	}
	if !strings.HasPrefix(lines[0], "NAME ") || !strings.HasSuffix(lines[0], "P95") {
		t.Errorf("header %q", lines[0])
	}
	if cut := Lines([]Row{full}, 20); utf8.RuneCountInString(cut[1]) != 20 {
		t.Errorf("a line cut to 20 columns is %q", cut[1])
	}
}

func TestFormats(t *testing.T) {
	for d, want := range map[time.Duration]string{59 * time.Second: "59s", 12*time.Minute + 3*time.Second: "12m03s",
		3*time.Hour + 4*time.Minute: "3h04m", 49 * time.Hour: "2d01h"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %s, want %s", d, got, want)
		}
	}
	for n, want := range map[uint64]string{512: "512B", 2048: "2.0K", 10 << 20: "10.0M", 300 << 20: "300M", 5 << 30: "5.0G"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %s, want %s", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{850 * time.Microsecond: "850µs", 12 * time.Millisecond: "12ms", 1250 * time.Millisecond: "1.25s"} {
		if got := Latency(d); got != want {
			t.Errorf("Latency(%v) = %s, want %s", d, got, want)
		}
	}
}
