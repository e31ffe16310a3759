//go:build soak

// Package soak is mictl's fault soak (issue #11): the faults of an
// operator's bad day (servers and the daemon killed or frozen, a port
// stolen, a corrupt state file, a full disk, a bad edit, a crash loop,
// clients killed mid-command), each tried SOAK_N times (default 20)
// against the mictl binary on the built-in simulator, each run in its own
// directory on its own offsets. After every run nothing of it may be
// left: no process under its directory, no port of its offsets
// listening. It ends with a table of runs, passes, failures and the
// first reason, and fails when any run failed.
//
// It is a test behind the soak build tag rather than a program: it reuses
// the suite's helpers (testports, proctest, state, hostnet), `go test
// -run TestSoak/NAME` picks one scenario, and `go test ./...` leaves it
// out. Run it with `make soak` (SOAK_N=2 make soak for a quick round), or
// from this directory: go test -tags soak -run 'TestSoak/kill-server'.
// Linux only; the full-disk scenario needs root (it mounts a tmpfs).
package soak

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/mictl/mictl/pkg/companion/companiontest"
)

// scenario is one fault and what the user expects of mictl through it.
type scenario struct {
	name string
	fn   func(*run)
}

// outcome is one scenario's line of the table.
type outcome struct {
	name                   string
	runs, passes, failures int
	first                  string // the first failure's reason, or why it was skipped
	took                   time.Duration
	kept                   string // the directory of the first failed run
}

func TestSoak(t *testing.T) {
	n := 20
	if v := os.Getenv("SOAK_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("SOAK_N=%q: want a positive number of runs", v)
		}
	}
	mictl := buildMictl(t)
	began := time.Now()
	var table []outcome
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			table = append(table, sc.soak(t, mictl, n))
		})
	}
	printTable(table, n, time.Since(began))
}

// buildMictl builds mictl and its companions (the daemon the scenarios
// fault is bin/mictl-daemon), as `make build` does.
func buildMictl(t *testing.T) string {
	t.Helper()
	return companiontest.Build(t, t.TempDir())
}

// soak runs the scenario n times and checks each run's leftovers.
func (sc scenario) soak(t *testing.T, mictl string, n int) outcome {
	o := outcome{name: sc.name}
	for i := 1; i <= n; i++ {
		r := newRun(t, mictl)
		r.verbose = o.failures == 0
		began := time.Now()
		passed := t.Run(strconv.Itoa(i), func(t *testing.T) {
			var cancel context.CancelFunc
			r.t = t
			r.ctx, cancel = context.WithTimeout(context.Background(), runLimit)
			defer cancel()
			sc.fn(r)
		})
		if r.skipped != "" {
			o.first = "skipped: " + r.skipped
			os.RemoveAll(r.dir)
			return o
		}
		violations := r.finish(!passed)
		o.runs++
		o.took += time.Since(began)
		switch {
		case passed && len(violations) == 0:
			o.passes++
			os.RemoveAll(r.dir)
			continue
		case passed:
			r.reason = violations[0]
			t.Errorf("run %d: %s", i, strings.Join(violations, "\n"))
		case len(violations) > 0:
			t.Logf("run %d, after its failure: %s", i, strings.Join(violations, "\n"))
		}
		o.failures++
		if o.kept == "" {
			o.first, o.kept = fmt.Sprintf("run %d: %s", i, r.reason), r.dir
			t.Logf("run %d failed; its directory is kept: %s", i, r.dir)
		} else {
			os.RemoveAll(r.dir)
		}
	}
	return o
}

// printTable prints the outcome of every scenario to stdout.
func printTable(table []outcome, n int, took time.Duration) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nSOAK_N=%d, %s\nSCENARIO\tRUNS\tPASSES\tFAILURES\tMEAN RUN\tFIRST FAILURE\n", n, took.Round(time.Second))
	for _, o := range table {
		mean := "-"
		if o.runs > 0 {
			mean = (o.took / time.Duration(o.runs)).Round(100 * time.Millisecond).String()
		}
		first := o.first
		if first == "" {
			first = "-"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\n", o.name, o.runs, o.passes, o.failures, mean, first)
	}
	w.Flush()
	for _, o := range table {
		if o.kept != "" {
			fmt.Printf("%s: first failed run kept in %s\n", o.name, o.kept)
		}
	}
}
