//go:build !linux

package sim

import (
	"errors"
	"os"
	"time"
)

// timerFile has no timerfd to offer outside Linux: periodic falls back to
// a runtime ticker.
func timerFile(time.Duration) (*os.File, error) { return nil, errors.ErrUnsupported }
