package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/goldentest"
	"github.com/mictl/mictl/pkg/state"
)

// status -o json names the instances the failure of reload_error, once
// begun, left failed (reload_left_failed, [] for none), null for a
// refusal and with no reload_error: the daemon recorded them, and the
// JSON left them out.
func TestStatusJSONSaysWhichInstancesTheFailedReloadLeftFailed(t *testing.T) {
	for _, c := range []struct {
		name string
		file state.File
		left string
	}{
		{"a failure once begun", state.File{ReloadError: "restart mi-1: mi-1 failed", ReloadBegun: true, ReloadLeftFailed: []string{"mi-1"}}, `["mi-1"]`},
		{"a failure once begun that left none failed", state.File{ReloadError: "mi-2 started again with its home not brought up to date", ReloadBegun: true}, `[]`},
		{"a refusal", state.File{ReloadError: "mictl.toml:3:1: bad"}, "null"},
		{"none", state.File{}, "null"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, out := statusJSONOf(t, &c.file)
			var left bytes.Buffer
			b, ok := got["reload_left_failed"]
			if ok {
				if err := json.Compact(&left, b); err != nil {
					t.Fatal(err)
				}
			}
			if !ok || left.String() != c.left {
				t.Errorf("status -o json: reload_left_failed %s (present: %v), want %s:\n%s", &left, ok, c.left, out)
			}
		})
	}
}

// reload's help says what its --timeout bounds, the wait for MI's CApps,
// and what it does not: the readiness of the instances the reload
// restarts, the daemon's roll, waited for as long as the up that started
// the daemon says. The help read as though --timeout bounded the whole
// reload, while a roll of restarts went on for minutes beyond it.
func TestReloadHelpSaysWhatItsTimeoutBounds(t *testing.T) {
	streams, _, _ := testStreams()
	cmd := newCmdReload(streams, &globalOptions{})
	help := strings.Join(strings.Fields(cmd.Long), " ")
	if unsaid := goldentest.Unsaid(help,
		"--timeout bounds that wait for CApps alone.",
		"for the --timeout of the mictl up that started the daemon (2 minutes by default), each, which --timeout does not shorten",
	); len(unsaid) > 0 {
		t.Errorf("mictl reload --help does not say %q:\n%s", unsaid, help)
	}
	if usage := cmd.Flags().Lookup("timeout").Usage; !strings.Contains(usage, "not the restarts' readiness") {
		t.Errorf("mictl reload's --timeout says %q, want it to say it does not bound the restarts' readiness", usage)
	}
}
