package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/shellword"
	"github.com/mictl/mictl/pkg/state"
)

// previewed is the configuration file the running daemon of f follows
// when diff plans from another, configPath (mictl --config copy.toml
// diff: a preview of a file nothing applies); "" when configPath is the
// followed file, or names none, or no daemon runs.
func previewed(f *state.File, configPath string) string {
	if configPath == "" || f.Daemon == nil || !f.Daemon.Alive() {
		return ""
	}
	followed, _ := daemonFile(f.Daemon.Args)
	switch {
	case followed == "" || fsutil.SameFile(followed, configPath):
		return ""
	case fsutil.SameFile(followed, config.DefaultFile):
		// As a plain mictl reads it here: the advice then names no
		// --config.
		return config.DefaultFile
	}
	return followed
}

// warnPreview says, for a diff of configPath that the daemon of f does
// not follow (it follows followed), what applies that file as shown:
// copying it over the followed one, which the daemon applies as saved;
// and which settings of it the daemon keeps until a down and up (those
// of its own flags, as warnKept names them). It said "mictl down and up
// again to change them", the daemon's --config among them, as though
// the preview were meant to take over the running instances.
func warnPreview(streams *IOStreams, f *state.File, cfg *config.Config, flags *pflag.FlagSet, configPath, followed string) {
	asked := askedSettings((&daemon.RunFlags{}).Args(cfg), flags)
	if i := slices.Index(asked, "--config"); i >= 0 && i%2 == 0 {
		asked = slices.Delete(asked, i, i+2)
	}
	msg := fmt.Sprintf("warning: this diff shows what a reload of %s would change, but the running mictl daemon (pid %d) follows %s: to apply %s, copy it over that file (cp %s %s), which the daemon applies as saved",
		configPath, f.Daemon.PID, followed, configPath, shellword.Quote(configPath), shellword.Quote(followed))
	if kept := keptSettings(f.Daemon.Args, asked); len(kept) > 0 {
		msg += fmt.Sprintf("; it keeps its %s until mictl down and mictl up again", strings.Join(kept, ", "))
	}
	fmt.Fprintln(streams.ErrOut, msg)
}

// appliedAs is cfg, read from a file that diff previews, as the advice
// of its notes names it once copied over followed (warnPreview): an up
// of the preview's own file (mictl --config copy.toml up) is refused
// while the daemon follows another.
func appliedAs(cfg *config.Config, followed string) *config.Config {
	applied := *cfg
	applied.File = followed
	return &applied
}
