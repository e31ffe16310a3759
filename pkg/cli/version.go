package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3";
// otherwise it comes from the module's build info.
var Version = ""

type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
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
			fmt.Fprintf(streams.Out, "mictl %s", v.Version)
			if v.Commit != "" {
				fmt.Fprintf(streams.Out, " (%s)", v.Commit)
			}
			fmt.Fprintf(streams.Out, " %s %s\n", v.GoVersion, v.Platform)
			return nil
		},
	}
	addOutputFlag(cmd, &output, formatTable, formatJSON)
	return cmd
}
