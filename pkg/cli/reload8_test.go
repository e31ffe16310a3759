package cli

import (
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/goldentest"
	"github.com/mictl/mictl/pkg/state"
)

// The status footer after a reload refused while the failure of a reload
// before it stands for mi-1 says each as what it is: the refusal (nothing
// of the configuration as it is now applied), then the failure that
// stands and what mictl up would do of mi-1. It said the begun wording
// ("stopped applying the configuration as it is now at what follows")
// above the refusal, as though the refused configuration were half
// applied. And a begun failure whose instance was stopped since says
// nothing of mictl up starting one it left failed.
func TestStatusFooterSaysARefusalAndTheFailureThatStandsApart(t *testing.T) {
	const (
		failure = "restart mi-1: mi-1 failed: the start script ended (exit status 0) without a running server"
		refusal = "mictl.toml:5:1: unknown key \"bogus\""
	)
	footer := func(f *state.File) string {
		t.Helper()
		f.SettleReload()
		var b strings.Builder
		printStatusFooter(&b, newStatusReport(f, nil, nil, nil))
		return b.String()
	}
	refused := footer(&state.File{
		Instances:   []state.Instance{{Name: "mi-1", State: state.StateFailed}, {Name: "mi-2", State: state.StateReady}},
		ReloadBegun: true, ReloadLeftFailed: []string{"mi-1"}, ReloadFailures: map[string]string{"mi-1": failure},
		ReloadLast: refusal, ReloadRefused: true,
	})
	if unsaid := goldentest.Unsaid(refused,
		"reload refused: the daemon did not apply the configuration as it is now; once what follows is fixed, mictl reload applies it",
		"\n  "+refusal+"\n",
		"and the failure of a reload before it stands: it stopped applying the configuration at what follows, and left mi-1 failed; mictl up would start it from that same configuration",
		"\n  "+failure+"\n",
	); len(unsaid) > 0 {
		t.Errorf("status footer of a refusal beside the failure standing for mi-1:\n%s\nwant:\n%s", refused, strings.Join(unsaid, "\n"))
	}
	if strings.Contains(refused, "stopped applying the configuration as it is now") {
		t.Errorf("status footer of a refusal says the configuration as it is now was applied in part:\n%s", refused)
	}
	stopped := footer(&state.File{
		Instances:   []state.Instance{{Name: "mi-1", State: state.StateStopped}, {Name: "mi-2", State: state.StateReady}},
		ReloadError: failure, ReloadBegun: true, ReloadLeftFailed: []string{"mi-1"}, ReloadFailures: map[string]string{"mi-1": failure}, ReloadLast: failure,
	})
	if !strings.Contains(stopped, "  "+failure) || strings.Contains(stopped, "would start") {
		t.Errorf("status footer of a begun failure whose mi-1 was stopped since:\n%s\nwant the failure, and no up that would start mi-1 into it", stopped)
	}
}
