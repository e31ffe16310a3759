// Package bench measures mictl as a user runs it: whole processes, timed
// against the standard tools that do the same job, so the numbers mean
// something on any machine. `make bench` runs these; tests never assert
// on time.
package bench

import (
	"os/exec"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/companion/companiontest"
)

// buildMictl builds mictl and its companions into a temporary directory,
// as `make build` makes them, and returns mictl's path.
func buildMictl(b *testing.B) string {
	b.Helper()
	return companiontest.Build(b, b.TempDir())
}

// timeRuns runs argv n times and returns the mean wall time. okCodes are
// the exit codes that count as a run that did its job.
func timeRuns(b *testing.B, n int, dir string, argv []string, okCodes ...int) time.Duration {
	b.Helper()
	var total time.Duration
	for range n {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		start := time.Now()
		err := cmd.Run()
		total += time.Since(start)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			b.Fatalf("%v: %v", argv, err)
		}
		ok := code == 0
		for _, c := range okCodes {
			ok = ok || code == c
		}
		if !ok {
			b.Fatalf("%v exited %d", argv, code)
		}
	}
	return total / time.Duration(n)
}

// BenchmarkCheckConflicts1000VsSS compares `mictl check-conflicts
// --instances 1000` against `ss -H -ltun` on the live host, as whole
// processes in the same run. The target (issue 3): at most 2x.
func BenchmarkCheckConflicts1000VsSS(b *testing.B) {
	ss, err := exec.LookPath("ss")
	if err != nil {
		b.Skip("ss (iproute2) is not installed: apt-get install iproute2")
	}
	mictl := buildMictl(b)
	dir := b.TempDir()
	const runs = 20
	b.ResetTimer()
	var mictlTime, ssTime time.Duration
	for b.Loop() {
		// Exit 1 is a legitimate answer (the host may hold planned ports).
		mictlTime = timeRuns(b, runs, dir, []string{mictl, "check-conflicts", "--instances", "1000"}, 1)
		ssTime = timeRuns(b, runs, dir, []string{ss, "-H", "-ltun"})
	}
	b.ReportMetric(float64(mictlTime.Microseconds()), "mictl-µs")
	b.ReportMetric(float64(ssTime.Microseconds()), "ss-µs")
	b.ReportMetric(float64(mictlTime)/float64(ssTime), "ratio")
}
