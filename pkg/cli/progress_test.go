package cli

import (
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/supervisor"
)

// A failed start's message ends in its last output, many lines long: the
// progress line says that more follows (the final error shows it whole)
// rather than ending on a dangling "last output:".
func TestProgressMarksAMessageOfManyLines(t *testing.T) {
	var errOut strings.Builder
	p := newProgress(&IOStreams{ErrOut: &errOut}, []string{"mi-1"})
	p.event(supervisor.Event{Instance: "mi-1", State: "failed", Message: "not ready after 2s: /healthz: 503; last output:\n    [INFO] started\n    [INFO] done"})
	p.event(supervisor.Event{Instance: "mi-1", State: "stopped", Message: "stopped gracefully"})
	want := "mi-1 failed: not ready after 2s: /healthz: 503; last output: …\nmi-1 stopped: stopped gracefully\n"
	if got := errOut.String(); got != want {
		t.Errorf("progress:\n%s\nwant:\n%s", got, want)
	}
}
