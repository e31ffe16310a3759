package cli

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/goldentest"
	"github.com/mictl/mictl/pkg/state"
)

// diff's note "mi-1 is stopped, and a reload leaves it so" is not said
// of an instance stopped for a restart under way (a daemon finishing the
// restart a killed one began): that restart starts it.
func TestStoppedNamedLeavesOutARestartUnderWay(t *testing.T) {
	file := filepath.Join(t.TempDir(), config.DefaultFile)
	writeFile(t, file, "instances = 2\n")
	cfg, err := config.Load(config.Sources{Path: file})
	if err != nil {
		t.Fatal(err)
	}
	f := &state.File{Instances: []state.Instance{
		{Name: "mi-1", State: state.StateStopped, Restarting: true},
		{Name: "mi-2", State: state.StateStopped},
	}}
	if got := stoppedNamed(cfg, f); !slices.Equal(got, []string{"mi-2"}) {
		t.Errorf("stoppedNamed = %v, want [mi-2]", got)
	}
}

// diff's note on a failed instance the configuration names says what
// status says of it while the last reload's failure stands (a roll onto
// a new mi_home whose start script exits at once, which left mi-1
// failed): mictl up starts it once what that reload failed on is fixed.
// It said "mictl up starts it", and an up plans from mictl.toml as it
// is: it started mi-1 on the same distribution, to fail again.
func TestDiffNoteOfAFailedInstanceWaitsForTheReloadsFix(t *testing.T) {
	f := &state.File{
		Instances:   []state.Instance{{Name: "mi-1", State: state.StateFailed}},
		ReloadError: "restart mi-1: mi-1 failed: the start script ended (exit status 0) without a running server", ReloadBegun: true,
	}
	file := filepath.Join(t.TempDir(), config.DefaultFile)
	writeFile(t, file, "instances = 1\n")
	cfg, err := config.Load(config.Sources{Path: file})
	if err != nil {
		t.Fatal(err)
	}
	cfg.File = config.DefaultFile // as found where diff ran
	streams, _, errOut := testStreams()
	noteStoppedNamed(streams, f, cfg, []string{"mi-1"})
	want := "note: mi-1 is failed, and a reload leaves it so (it starts only instances new to mictl): mictl up starts it once what the last reload failed on is fixed\n"
	if errOut.String() != want {
		t.Errorf("diff said:\n%s\nwant:\n%s", errOut, want)
	}
	f.ReloadError, f.ReloadBegun = "", false
	errOut.Reset()
	noteStoppedNamed(streams, f, cfg, []string{"mi-1"})
	if want := strings.TrimSuffix(want, " once what the last reload failed on is fixed\n") + "\n"; errOut.String() != want {
		t.Errorf("diff said, with no reload failure recorded:\n%s\nwant:\n%s", errOut, want)
	}
}

// diff's help says what its comments-only note is: a home lacking an edit
// of deployment.toml's comments or layout, "comments" in -o json, which
// restarts nothing. diff noted it, and its help said nothing of it.
func TestDiffHelpSaysTheCommentsNote(t *testing.T) {
	streams, _, _ := testStreams()
	words := strings.Join(strings.Fields(newCmdDiff(streams, &globalOptions{}).Long), " ")
	if unsaid := goldentest.Unsaid(words, `in comments or layout alone is noted too ("comments" in -o json)`, "takes the file at the instance's next start"); len(unsaid) > 0 {
		t.Errorf("mictl diff --help does not say %q:\n%s", unsaid, words)
	}
}
