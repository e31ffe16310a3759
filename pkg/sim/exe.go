package sim

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/mictl/mictl/pkg/companion"
	"github.com/mictl/mictl/pkg/fsutil"
)

// leanExe is the simulator's own program, built beside mictl by `make
// build` (cmd/mictl-sim): it links this package alone, so each simulated
// server starts in about half the time `mictl sim run` takes (no CLI,
// metrics or terminal libraries to load and initialise) and holds less
// memory. mictl falls back to `mictl sim run` where it is missing (a
// mictl installed with go install alone) or from another build.
const leanExe = "mictl-sim"

// MictlDistOptions returns the DistOptions of the mictl binary (the
// running one, or the one that started this lean daemon): leanExe beside
// it when it is there, else mictl itself with the "sim" subcommand.
func MictlDistOptions() (DistOptions, error) {
	exe, err := companion.Mictl()
	if err != nil {
		return DistOptions{}, fmt.Errorf("find the mictl executable for the simulator distribution: %w", err)
	}
	return distOptionsBeside(exe), nil
}

// RunnableDistOptions is MictlDistOptions when the simulator it names is
// there. When the mictl that started this program (a daemon) is gone
// since, as a move of their directory leaves it, it is the simulator of
// the mictl beside this program, which the kernel knows wherever it was
// moved. ok is false when neither is there.
func RunnableDistOptions() (opts DistOptions, ok bool) {
	if opts, err := MictlDistOptions(); err == nil && fsutil.Exists(opts.Exe) {
		return opts, true
	}
	started := os.Getenv(companion.EnvMictl)
	self, err := os.Executable()
	if started == "" || err != nil {
		return DistOptions{}, false
	}
	opts = distOptionsBeside(filepath.Join(filepath.Dir(self), filepath.Base(started)))
	return opts, fsutil.Exists(opts.Exe)
}

// distOptionsBeside runs leanExe when it lies beside mictl (at exe), built
// with it, else mictl itself.
func distOptionsBeside(exe string) DistOptions {
	if lean, ok := companion.Beside(exe, leanExe, companion.Running()); ok {
		return DistOptions{Exe: lean}
	}
	return DistOptions{Exe: exe, ExeArgs: []string{"sim"}}
}

// Serve runs the simulated server as a program does (`mictl sim run
// ARGS`, `mictl-sim run ARGS`) and returns its exit status. The server
// runs on one processor unless GOMAXPROCS says otherwise: it needs no
// more, and each request it answers then wakes fewer of the runtime's
// threads, which is most of what an idle server costs the host while a
// supervisor probes it.
func Serve(args []string, stdout io.Writer) int {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	// The simulator handles its own signals (it must be able to ignore
	// SIGTERM), so it gets a plain context.
	return Run(context.Background(), args, os.Getenv, stdout)
}
