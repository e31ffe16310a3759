package metrics

import (
	"os"
	"runtime"
	"runtime/metrics"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/promtext"
	"github.com/mictl/mictl/pkg/usage"
)

// The daemon's own process and Go runtime, under the names Prometheus's
// Go client gives them (process_*, go_*), so that the dashboards and
// alerts written for any Go exporter work for the daemon too. Only the
// series an operator watches a supervisor by are kept: its CPU, memory,
// descriptors, goroutines and heap.

// runtimeSamples are the runtime/metrics the go_* series are read from.
// Reading them stops nothing (runtime.ReadMemStats stops the world).
var runtimeSamples = []struct {
	key string
	f   family
}{
	{"/sched/goroutines:goroutines", family{"go_goroutines", promtext.Gauge, "Number of goroutines that currently exist."}},
	{"/sched/gomaxprocs:threads", family{"go_sched_gomaxprocs_threads", promtext.Gauge, "The current runtime.GOMAXPROCS setting."}},
	{"/memory/classes/heap/objects:bytes", family{"go_memstats_heap_alloc_bytes", promtext.Gauge, "Bytes of allocated heap objects."}},
	{"/gc/heap/allocs:bytes", family{"go_memstats_alloc_bytes_total", promtext.Counter, "Total bytes allocated in the heap, even if freed."}},
	{"/gc/heap/goal:bytes", family{"go_memstats_next_gc_bytes", promtext.Gauge, "Heap size target of the next garbage collection."}},
	{"/memory/classes/total:bytes", family{"go_memstats_sys_bytes", promtext.Gauge, "Bytes of memory the Go runtime obtained from the system."}},
}

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

	samples := make([]metrics.Sample, len(runtimeSamples))
	for i, s := range runtimeSamples {
		samples[i].Name = s.key
	}
	metrics.Read(samples)
	for i, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			one(runtimeSamples[i].f, float64(s.Value.Uint64()))
		case metrics.KindFloat64:
			one(runtimeSamples[i].f, s.Value.Float64())
		}
	}
	threads, _ := runtime.ThreadCreateProfile(nil)
	one(family{"go_threads", promtext.Gauge, "Number of OS threads created."}, float64(threads))
	w.Family("go_info", promtext.Gauge, "Information about the Go environment.")
	w.Sample("go_info", 1, promtext.Label{Name: "version", Value: runtime.Version()})
}
