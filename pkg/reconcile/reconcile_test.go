package reconcile

import (
	"path/filepath"
	"testing"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/state"
)

// What a run leaves in the state file is forgotten only once nothing is
// meant to run, and ForgetRun says whether it changed anything (a down
// then writes the file only when it does).
func TestForgetRun(t *testing.T) {
	t.Parallel()
	recorded := func(st string) *state.File {
		return &state.File{UpArgs: []string{"--instances=2"}, Configured: []string{"mi-1"}, ReloadError: "bad",
			Instances: []state.Instance{{Name: "mi-1", State: st}}}
	}
	if f := recorded(state.StateStopped); !ForgetRun(f) || f.UpArgs != nil || f.Configured != nil || f.ReloadError != "" {
		t.Errorf("nothing runs: %+v, want the run forgotten and a change reported", f)
	}
	if f := recorded(state.StateStarting); ForgetRun(f) || f.UpArgs == nil {
		t.Errorf("an instance starting: the run was forgotten")
	}
	if ForgetRun(&state.File{}) {
		t.Errorf("nothing recorded: ForgetRun reported a change")
	}
}

// An up whose instances all run prepares no home, and reads no
// distribution: mi_home may even be gone, the servers running from their
// own homes.
func TestPrepareNothingReadsNoDistribution(t *testing.T) {
	t.Parallel()
	target := &Target{Config: &config.Config{MIHome: filepath.Join(t.TempDir(), "moved-away")}}
	records, err := target.Prepare(&state.File{}, nil)
	if err != nil || len(records) != 0 {
		t.Fatalf("Prepare of no instance = %v, %v; want nothing, and no error", records, err)
	}
}
