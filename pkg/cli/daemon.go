package cli

import (
	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/daemon"
)

// newCmdDaemon is the detached supervisor `mictl up` leaves behind, where
// bin/mictl-daemon is not beside mictl (pkg/daemon is both). It is hidden:
// users start it through up, status or restart. Its flags are the
// daemon's own (daemon.Main parses them), as supervisor.SpawnDaemon passes
// them to either program.
func newCmdDaemon(streams *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:                "daemon",
		Short:              "Run the supervisor daemon (started by mictl up)",
		Example:            "  mictl daemon --instances-dir /srv/mi/instances",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return daemon.Main(args, streams.Out, streams.ErrOut)
		},
	}
}
