package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/check"
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
