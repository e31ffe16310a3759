package cli

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/mictl/mictl/pkg/config"
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
