package daemon

import (
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/exitcode"
)

// The daemon's flags are refused in the user's words, with exit 2, before
// anything starts; --help is help, on stdout.
func TestMainFlags(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--backoff", "abc"}, `--backoff "abc": expected a duration with its unit`},
		{[]string{"--timeout", "0s"}, "--timeout 0s: must be positive"},
		{[]string{"--restart", "sometimes"}, `--restart "sometimes": expected always, on-failure or never`},
		{[]string{"--max-restarts", "-1"}, "--max-restarts -1: must not be negative"},
		{[]string{"stray"}, `mictl daemon takes no arguments, got "stray"`},
	} {
		var out, log strings.Builder
		err := Main(c.args, &out, &log)
		if err == nil || !strings.Contains(err.Error(), c.want) || exitcode.Of(err) != exitcode.Usage {
			t.Errorf("%q: %v (exit %d), want exit 2 and %q", c.args, err, exitcode.Of(err), c.want)
		}
		if log.Len() > 0 {
			t.Errorf("%q: the daemon logged %q before refusing", c.args, log.String())
		}
	}
	var out, log strings.Builder
	if err := Main([]string{"--help"}, &out, &log); err != nil || !strings.Contains(out.String(), "mictl daemon [flags]") || !strings.Contains(out.String(), "--instances-dir") {
		t.Errorf("--help: %v\n%s", err, out.String())
	}
}
