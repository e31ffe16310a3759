// Package exitcode is the one table from errors to mictl's exit codes. It
// lives apart from the commands because the daemon classifies the errors
// of the requests it serves too: a reload refused for a bad mictl.toml
// must end the client's `mictl reload` with 2, as the same file does at
// `mictl up`, although the error was found in another process.
package exitcode

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/state"
)

// The exit codes, documented in the README and in `mictl --help`.
const (
	OK        = 0 // success
	Conflicts = 1 // conflicts found, or a check failed (diff: something would change)
	Usage     = 2 // bad command line, configuration or input
	Runtime   = 3 // something failed while doing the work
	// Interrupted marks the error of a command a signal interrupted:
	// mictl caught it while waiting, and says what goes on. The process
	// ends with Signalled(that signal); 130 is SIGINT's, Ctrl-C's.
	Interrupted = 130
)

// Signalled is the exit code of a command that sig interrupted: 128 + its
// number, as shells report a command the signal ended (130 for SIGINT,
// 143 for SIGTERM), so a script tells both apart whether mictl caught the
// signal or not.
func Signalled(sig syscall.Signal) int { return 128 + int(sig) }

// Error carries the exit code an error should end the process with.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// With wraps err so that it ends the process with code.
func With(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Usagef is an error in what the user asked for: exit 2.
func Usagef(format string, args ...any) error {
	return &Error{Code: Usage, Err: fmt.Errorf(format, args...)}
}

// PositiveFlag refuses a duration flag that must be positive, in the
// flag's terms: exit 2.
func PositiveFlag(flag string, d time.Duration) error {
	if d <= 0 {
		return Usagef("--%s %s: must be positive (e.g. 30s)", flag, d)
	}
	return nil
}

// Of maps err to the exit code it should end the process with: the code
// it carries; Interrupted for a wait for the state lock given up;
// Conflicts for a plan refused for its conflicts; Usage for the user's
// input (mictl.toml, deployment.toml, a plan that does not fit the port
// space, an instances_dir where a file is); Runtime for everything else.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	var ce *config.Error
	var te *deploytoml.Error
	var de *state.DirError
	var conflicts *check.ConflictError
	var li *state.LockInterrupted
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.As(err, &li):
		return Interrupted
	case errors.As(err, &conflicts):
		return Conflicts
	case errors.As(err, &ce), errors.As(err, &te), errors.Is(err, ports.ErrNoRoom):
		return Usage
	case errors.As(err, &de) && errors.Is(de.Err, syscall.ENOTDIR):
		return Usage // a file where instances_dir is: choose another
	}
	return Runtime
}
