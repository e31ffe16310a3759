package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/sim"
)

// warnEnvTypos warns on errOut of each MICTL_* variable of environ that
// is neither a setting's nor one of the simulator's MICTL_SIM_* (which
// `mictl up` hands to its instances) but close to one of them (see
// closeTo): MICTL_BASE_OFSET=2000 left every instance at the default
// offset, and MICTL_SIM_CRASH_AFTR=5s every simulated server running,
// without a word. Variables close to none (mictl's own for its children,
// another tool's) are left alone.
func warnEnvTypos(errOut io.Writer, environ []string) {
	var known []string
	for _, s := range config.Settings {
		known = append(known, s.Env())
	}
	for _, v := range sim.FaultVars {
		known = append(known, v.Name)
	}
	var names []string
	for _, kv := range environ {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "MICTL_") && !slices.Contains(known, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		// More than a few are no typo's suggestions (MICTL_SIM is a
		// prefix of every simulator variable).
		if meant := closeTo(name, known); len(meant) > 0 && len(meant) <= maxMeant {
			fmt.Fprintf(errOut, "warning: %s is not a variable mictl reads (ignored)%s\n", name, didYouMean(meant, ""))
		}
	}
}

// maxMeant is how many names a variable may be close to and be warned of
// as a typo of one of them.
const maxMeant = 3

// readsSettings reports whether cmd is one a user runs with mictl.toml's
// settings: not the hidden ones mictl runs itself (daemon, sim, shell
// completion's requests), nor help and the completion scripts.
func readsSettings(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		if c.Hidden || c.Name() == "completion" || c.Name() == "help" {
			return false
		}
	}
	return true
}
