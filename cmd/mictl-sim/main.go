// The runtime would read the cgroup's CPU limit every second (see
// cmd/mictl): a wake-up a second in every simulated server.

//go:debug updatemaxprocs=0

// Command mictl-sim is mictl's Micro Integrator simulator on its own: the
// program the simulator distribution's bin/micro-integrator.sh runs when
// it lies beside mictl (make build puts it there). It links pkg/sim
// alone, so a simulated server starts faster than `mictl sim run`, which
// does the same.
//
//	mictl-sim run [-DportOffset=N] [ARGS...]
package main

import (
	"fmt"
	"os"

	"github.com/mictl/mictl/pkg/sim"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: mictl-sim run [-DportOffset=N] [ARGS...]  (started by the simulator's bin/micro-integrator.sh; see mictl sim --help)")
		os.Exit(2)
	}
	os.Exit(sim.Serve(os.Args[2:], os.Stdout))
}
