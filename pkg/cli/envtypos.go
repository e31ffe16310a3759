package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/config"
)

// warnEnvTypos warns on errOut of each MICTL_* variable of environ that
// is no setting's but close to one's (see closeTo): mictl reads only the
// settings' variables, so MICTL_BASE_OFSET=2000 left every instance at the
// default offset without a word. Variables close to no setting's (the
// simulator's MICTL_SIM_*, ...) are not meant for mictl.toml's settings
// and are left alone.
func warnEnvTypos(errOut io.Writer, environ []string) {
	var settings []string
	for _, s := range config.Settings {
		settings = append(settings, s.Env())
	}
	var names []string
	for _, kv := range environ {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "MICTL_") && !slices.Contains(settings, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if meant := closeTo(name, settings); len(meant) > 0 {
			fmt.Fprintf(errOut, "warning: %s is not a variable mictl reads (ignored)%s\n", name, didYouMean(meant, ""))
		}
	}
}

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
