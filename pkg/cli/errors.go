package cli

import (
	"errors"

	"github.com/mictl/mictl/pkg/exitcode"
)

// errReported ends a command that already printed its findings: exit 1
// with no further message.
var errReported = exitcode.With(exitcode.Conflicts, errors.New("conflicts found"))
