package metrics

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/promtext"
	"github.com/mictl/mictl/pkg/usage"
)

// The daemon's own process and Go runtime, under the names Prometheus's
// Go client gives them (process_*, go_*), so that the dashboards and
// alerts written for any Go exporter work for the daemon too. Only the
// series an operator watches a supervisor by are kept: its CPU, memory,
// descriptors, goroutines, heap and GC pauses.

// runtimeSamples are the runtime/metrics the go_* series are read from,
// each the sum of its keys. Reading them stops nothing
// (runtime.ReadMemStats stops the world).
var runtimeSamples = []struct {
	keys []string
	f    family
}{
	{[]string{"/sched/goroutines:goroutines"}, family{"go_goroutines", promtext.Gauge, "Number of goroutines that currently exist."}},
	{[]string{"/sched/gomaxprocs:threads"}, family{"go_sched_gomaxprocs_threads", promtext.Gauge, "The current runtime.GOMAXPROCS setting."}},
	{[]string{"/memory/classes/heap/objects:bytes"}, family{"go_memstats_heap_alloc_bytes", promtext.Gauge, "Bytes of allocated heap objects."}},
	{[]string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"},
		family{"go_memstats_heap_inuse_bytes", promtext.Gauge, "Bytes in in-use heap spans."}},
	{[]string{"/gc/heap/objects:objects"}, family{"go_memstats_heap_objects", promtext.Gauge, "Number of allocated heap objects."}},
	{[]string{"/gc/heap/allocs:bytes"}, family{"go_memstats_alloc_bytes_total", promtext.Counter, "Total bytes allocated in the heap, even if freed."}},
	{[]string{"/gc/heap/goal:bytes"}, family{"go_memstats_next_gc_bytes", promtext.Gauge, "Heap size target of the next garbage collection."}},
	{[]string{"/memory/classes/total:bytes"}, family{"go_memstats_sys_bytes", promtext.Gauge, "Bytes of memory the Go runtime obtained from the system."}},
	{[]string{"/gc/gogc:percent"}, family{"go_gc_gogc_percent", promtext.Gauge, "Heap size target percentage (GOGC)."}},
	{[]string{"/gc/gomemlimit:bytes"}, family{"go_gc_gomemlimit_bytes", promtext.Gauge, "Go runtime memory limit (GOMEMLIMIT)."}},
}

// gcQuantiles are the quantiles of GC pauses go_gc_duration_seconds gives.
var gcQuantiles = []string{"0", "0.25", "0.5", "0.75", "1"}

// writeSelf writes the daemon process's series. A /proc file it cannot
// read costs the series read from it, never the scrape.
func writeSelf(w *promtext.Writer) {
	one := func(f family, v float64) {
		w.Family(f.name, f.typ, f.help)
		w.Sample(f.name, v)
	}
	if st, err := proc.ReadStat(os.Getpid()); err == nil {
		one(family{"process_cpu_seconds_total", promtext.Counter, "Total user and system CPU time spent in seconds."},
			float64(st.UTime+st.STime)/float64(proc.ClockTicks()))
		one(family{"process_resident_memory_bytes", promtext.Gauge, "Resident memory size in bytes."},
			float64(st.RSSPages*uint64(os.Getpagesize())))
		if at, ok := proc.StartedAt(st); ok {
			one(family{"process_start_time_seconds", promtext.Gauge, "Start time of the process since unix epoch in seconds."},
				float64(at.UnixNano())/1e9)
		}
	}
	if n, err := usage.OpenFDs(os.Getpid()); err == nil {
		one(family{"process_open_fds", promtext.Gauge, "Number of open file descriptors."}, float64(n))
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil {
		one(family{"process_max_fds", promtext.Gauge, "Maximum number of open file descriptors."}, float64(lim.Cur))
	}
	// The first field of statm is the size of the address space, in pages.
	if statm, err := os.ReadFile("/proc/self/statm"); err == nil {
		size, _, _ := strings.Cut(string(statm), " ")
		if pages, err := strconv.ParseUint(size, 10, 64); err == nil {
			one(family{"process_virtual_memory_bytes", promtext.Gauge, "Virtual memory size in bytes."},
				float64(pages*uint64(os.Getpagesize())))
		}
	}
	if err := unix.Getrlimit(unix.RLIMIT_AS, &lim); err == nil {
		one(family{"process_virtual_memory_max_bytes", promtext.Gauge, "Maximum amount of virtual memory available in bytes."}, float64(lim.Cur))
	}

	var keys []metrics.Sample
	for _, s := range runtimeSamples {
		for _, k := range s.keys {
			keys = append(keys, metrics.Sample{Name: k})
		}
	}
	metrics.Read(keys)
	for _, s := range runtimeSamples {
		var sum float64
		known := true
		for _, v := range keys[:len(s.keys)] {
			switch v.Value.Kind() {
			case metrics.KindUint64:
				sum += float64(v.Value.Uint64())
			case metrics.KindFloat64:
				sum += v.Value.Float64()
			default:
				known = false
			}
		}
		keys = keys[len(s.keys):]
		if known {
			one(s.f, sum)
		}
	}
	// As Prometheus's Go client gives it: a summary of the pauses.
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, len(gcQuantiles))}
	debug.ReadGCStats(&gc)
	w.Family("go_gc_duration_seconds", promtext.Summary, "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.")
	for i, q := range gcQuantiles {
		w.Sample("go_gc_duration_seconds", gc.PauseQuantiles[i].Seconds(), promtext.Label{Name: "quantile", Value: q})
	}
	w.Sample("go_gc_duration_seconds_sum", gc.PauseTotal.Seconds())
	w.Sample("go_gc_duration_seconds_count", float64(gc.NumGC))
	threads, _ := runtime.ThreadCreateProfile(nil)
	one(family{"go_threads", promtext.Gauge, "Number of OS threads created."}, float64(threads))
	w.Family("go_info", promtext.Gauge, "Information about the Go environment.")
	w.Sample("go_info", 1, promtext.Label{Name: "version", Value: runtime.Version()})
}
