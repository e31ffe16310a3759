package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version and Commit are set at build time with -ldflags "-X
// ...cli.Version=v1.2.3 -X ...cli.Commit=<sha>" (make build does);
// otherwise they come from the module's build info, which holds the commit
// only when Go could read the checkout (not with -buildvcs=false).
var Version, Commit = "", ""

type versionInfo struct {
	Version   string  `json:"version"`
	Commit    *string `json:"commit"` // null when not built from a git checkout
	GoVersion string  `json:"go_version"`
	Platform  string  `json:"platform"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if Commit != "" {
		v.Commit = &Commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && v.Commit == nil {
				v.Commit = &s.Value
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
}

// String is the one-line version `mictl version` and `mictl --version`
// print.
func (v versionInfo) String() string {
	s := "mictl " + v.Version
	if v.Commit != nil {
		s += " (" + *v.Commit + ")"
	}
	return s + " " + v.GoVersion + " " + v.Platform
}

func newCmdVersion(streams *IOStreams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print mictl's version",
		Example: "  mictl version\n  mictl version -o json",
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			if err := validateFormat(output, formatTable, formatJSON); err != nil {
				return err
			}
			v := buildVersion()
			if output == formatJSON {
				return writeJSON(streams.Out, v)
			}
			fmt.Fprintln(streams.Out, v.String())
			return nil
		},
	}
	addOutputFlag(cmd, &output, formatTable, formatJSON)
	return cmd
}
