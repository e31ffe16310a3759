// The runtime would read the cgroup's CPU limit every second (see
// cmd/mictl): a wake-up a second in a daemon that is otherwise idle.

//go:debug updatemaxprocs=0

// Command mictl-daemon is mictl's supervisor daemon on its own: the
// program `mictl up` starts when it lies beside mictl, built with it (make
// build puts it there). It links pkg/daemon alone, without mictl's CLI,
// tables, terminal views and exports, so the process that stays behind
// for as long as the instances run holds less memory than `mictl daemon`,
// which does the same.
//
//	mictl-daemon --instances-dir DIR [--config FILE] [run flags]
package main

import (
	"os"

	"github.com/mictl/mictl/pkg/daemon"
)

func init() { daemon.KeepMainThread() }

func main() {
	os.Exit(daemon.Run(os.Args[1:]))
}
