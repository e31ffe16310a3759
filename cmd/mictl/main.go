// The runtime would read the cgroup's CPU limit every second to follow a
// change of GOMAXPROCS: a wake-up a second in the daemon and in every
// simulated server, most of what twenty idle servers cost. A limit that
// changes while mictl runs is followed at the next start instead.

//go:debug updatemaxprocs=0

// Command mictl runs many WSO2 Micro Integrator servers side by side on one
// host. See README.md, or `mictl --help`.
package main

import (
	"os"

	"github.com/mictl/mictl/pkg/cli"
	"github.com/mictl/mictl/pkg/daemon"
)

// `mictl daemon` (how mictl starts its daemon where bin/mictl-daemon is
// not beside it) keeps its main thread as that program does; other
// commands leave their main goroutine free to move.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "daemon" {
		daemon.KeepMainThread()
	}
}

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.System()))
}
