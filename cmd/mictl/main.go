// Command mictl runs many WSO2 Micro Integrator servers side by side on one
// host. See README.md, or `mictl --help`.
package main

import (
	"os"

	"github.com/mictl/mictl/pkg/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.System()))
}
