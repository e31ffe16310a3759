package cli

import (
	"errors"
	"fmt"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/ports"
)

// Exit codes, documented in the README and in `mictl --help`.
const (
	ExitOK        = 0 // success
	ExitConflicts = 1 // the check found conflicts, or a check failed
	ExitUsage     = 2 // bad command line, configuration or input
	ExitRuntime   = 3 // something failed while doing the work
)

// exitError carries the exit code an error should end the process with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is an error in what the user asked for: exit 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{ExitUsage, fmt.Errorf(format, args...)}
}

// errReported ends a command that already printed its findings: exit 1
// with no further message.
var errReported = &exitError{ExitConflicts, errors.New("conflicts found")}

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	var ee *exitError
	var ce *config.Error
	var te *deploytoml.Error
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ce), errors.As(err, &te), errors.Is(err, ports.ErrNoRoom):
		return ExitUsage
	default:
		return ExitRuntime
	}
}
