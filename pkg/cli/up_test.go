package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/exitcode"
)

// up says the first warnAtMost findings of a kind one by one and counts
// the rest: 500 instances in the ephemeral range must not make 2000 lines,
// nor hide a finding of a rarer kind behind them.
func TestWarnSomeCountsTheRest(t *testing.T) {
	for _, n := range []int{0, 3, warnAtMost, warnAtMost + 7} {
		streams, _, errOut := testStreams()
		var findings []check.Finding
		for i := range n {
			findings = append(findings, check.Finding{Kind: check.KindEphemeral, Message: fmt.Sprintf("port %d is inside the ephemeral range", 32768+i)})
		}
		findings = append(findings, check.Finding{Kind: check.KindHost, Message: "port 40000 is held by pid 7 (nc)"})
		warnSome(streams, findings, "warnings", "")
		lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
		want := min(n, warnAtMost) + 1
		if n > warnAtMost {
			want++
			if more := lines[warnAtMost]; more != "warning: 7 more ephemeral warnings; mictl check-conflicts lists them all" {
				t.Errorf("%d findings: the count says %q", n, more)
			}
		}
		if len(lines) != want || lines[len(lines)-1] != "warning: port 40000 is held by pid 7 (nc)" {
			t.Errorf("%d findings: %d lines, want %d ending with the host finding:\n%s", n, len(lines), want, errOut)
		}
	}
}

// An up whose start call was interrupted says so, whether or not its own
// context is cancelled yet (the call's handler may see the Ctrl-C first):
// it said "not every instance is ready:" around the call's interruption,
// about once in 20. Other failures are listed as the call gave them.
func TestStartFailureTellsAnInterruptByItsExitCode(t *testing.T) {
	for _, c := range []struct {
		callErr error
		want    string
		code    int
	}{
		{nil, "", exitcode.OK},
		{exitcode.With(exitcode.Interrupted, errors.New("interrupted while the mictl daemon starts the instances: it goes on (mictl status shows where it stands)")),
			"interrupted before every instance was ready: the mictl daemon goes on starting them (mictl status shows them, mictl down stops them)", exitcode.Interrupted},
		{exitcode.With(exitcode.Runtime, errors.New("mi-1: not ready within 30s")), "not every instance is ready:\n  mi-1: not ready within 30s", exitcode.Runtime},
	} {
		err := startFailure(c.callErr)
		if got := fmt.Sprint(err); (err == nil) != (c.want == "") || err != nil && got != c.want || exitcode.Of(err) != c.code {
			t.Errorf("startFailure(%v) = %v (exit %d), want %q, exit %d", c.callErr, err, exitcode.Of(err), c.want, c.code)
		}
	}
}
