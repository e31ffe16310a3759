// Package companiontest builds mictl with its companion programs, side by
// side and stamped as one build, as `make build` does: for the benchmarks
// and the soak, which run the programs users run.
package companiontest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/companion"
)

// Programs are mictl's programs, by their directory under cmd/.
var Programs = []string{"mictl", "mictl-sim", "mictl-daemon"}

// Build compiles Programs into dir (static, one stamp for all of them)
// and returns mictl's path.
func Build(t testing.TB, dir string) string {
	t.Helper()
	stamp := companion.StampFlag(fmt.Sprintf("test-%d", time.Now().UnixNano()))
	for _, name := range Programs {
		cmd := exec.Command("go", "build", "-ldflags", stamp, "-o", filepath.Join(dir, name), "github.com/mictl/mictl/cmd/"+name)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	return filepath.Join(dir, "mictl")
}
