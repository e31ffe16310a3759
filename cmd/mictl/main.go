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
	"slices"
	"strconv"
	"strings"

	"github.com/mictl/mictl/pkg/cli"
	"github.com/mictl/mictl/pkg/daemon"
)

// A process that will be a daemon keeps its main thread as
// bin/mictl-daemon does (daemon.KeepMainThread); other commands leave
// their main goroutine free to move.
func init() {
	if runsADaemon(os.Args[1:]) {
		daemon.KeepMainThread()
	}
}

// runsADaemon tells from the raw arguments, before any flag is parsed,
// whether this process is to supervise instances itself: `mictl daemon`
// (how mictl starts its daemon where bin/mictl-daemon is not beside it)
// or `mictl up --foreground` (the daemon in the terminal). A wrong guess
// costs time, never behaviour.
func runsADaemon(args []string) bool {
	if len(args) > 0 && args[0] == "daemon" {
		return true
	}
	return slices.Contains(args, "up") && slices.ContainsFunc(args, func(a string) bool {
		if a == "--foreground" {
			return true
		}
		v, set := strings.CutPrefix(a, "--foreground=")
		on, err := strconv.ParseBool(v) // as the flag itself is read
		return set && err == nil && on
	})
}

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.System()))
}
