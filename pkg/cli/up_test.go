package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/check"
)

// up says the first warnAtMost findings of a kind one by one and counts
// the rest: 500 instances in the ephemeral range must not make 2000 lines.
func TestWarnSomeCountsTheRest(t *testing.T) {
	for _, n := range []int{0, 3, warnAtMost, warnAtMost + 7} {
		streams, _, errOut := testStreams()
		var findings []check.Finding
		for i := range n {
			findings = append(findings, check.Finding{Message: fmt.Sprintf("port %d is inside the ephemeral range", 32768+i)})
		}
		warnSome(streams, findings, "warnings", "")
		lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
		if n == 0 {
			lines = nil
		}
		want := min(n, warnAtMost)
		if n > warnAtMost {
			want++
			if last := lines[len(lines)-1]; last != "warning: 7 more warnings; mictl check-conflicts lists them all" {
				t.Errorf("%d findings: last line %q", n, last)
			}
		}
		if len(lines) != want {
			t.Errorf("%d findings: %d lines, want %d:\n%s", n, len(lines), want, errOut)
		}
	}
}
