package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// A refused up says of an instance whose running deployment fixes its
// offset what is true of it: one between two restarts of a crash loop (a
// stranger took its port) has no server, and its restart policy starts
// it at that offset again; only one whose server lives "runs".
func TestRefusalSaysWhetherAPinnedInstanceRuns(t *testing.T) {
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rec  state.Instance
		want string
	}{
		{state.Instance{State: state.StateReady, Server: self},
			"hint: mi-2 runs with offset 9001 and keeps it while it runs: free its ports, or stop it (mictl down mi-2) so that the next up plans it again\n"},
		{state.Instance{State: state.StateBackoff},
			"hint: mi-2 has no server now (backoff: mictl status mi-2 says why) but is meant to run: its restart policy starts it again at offset 9001, until it gives up (state failed): free its ports, or stop it (mictl down mi-2) so that the next up plans it again\n"},
		{state.Instance{State: state.StateCrashed},
			"hint: mi-2 has no server now (crashed: mictl status mi-2 says why) but is meant to run: its restart policy starts it again at offset 9001, until it gives up (state failed): free its ports, or stop it (mictl down mi-2) so that the next up plans it again\n"},
		{state.Instance{State: state.StateStarting},
			"hint: mi-2 has no server yet but is starting, at offset 9001, and keeps it while it runs: free its ports, or stop it (mictl down mi-2) so that the next up plans it again\n"},
		// A failed one holds no port: "free its ports" was no advice.
		{state.Instance{State: state.StateFailed},
			"hint: mi-2 failed (mictl status mi-2 says why) and keeps offset 9001, where it last ran and its clients know it, while base_offset, offset_step, offset_method, host and its own offset stay as they placed it there, until it is stopped: stop it (mictl down mi-2) so that the next up plans it again\n"},
		{state.Instance{State: state.StateStopping, Restarting: true},
			"hint: mi-2 has no server now but is being restarted, at offset 9001 again, and keeps it while it runs: free its ports, or stop it (mictl down mi-2) so that the next up plans it again\n"},
	} {
		t.Run(tc.rec.State, func(t *testing.T) {
			tc.rec.Name, tc.rec.Offset = "mi-2", 9001
			target := &reconcile.Target{Plan: ports.Plan{Instances: []ports.Instance{{Name: "mi-2", Offset: 9001, From: ports.OffsetFromRunning}}}}
			report := check.Report{Conflicts: []check.Finding{{Kind: check.KindHost, Instances: []string{"mi-2"}, Message: "mi-2 http port 17281 is held by pid 7 (python3) on 0.0.0.0"}}}
			streams, _, errOut := testStreams()
			if err := reportRefusal(streams, target, &state.File{Instances: []state.Instance{tc.rec}}, report, "", true); err != errReported {
				t.Fatalf("reportRefusal: %v", err)
			}
			if hint, _, _ := strings.Cut(errOut.String(), "mictl: refusing"); hint != tc.want {
				t.Errorf("hint:\n%s\nwant:\n%s", hint, tc.want)
			}
		})
	}
}
