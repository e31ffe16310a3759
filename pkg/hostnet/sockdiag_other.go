//go:build !linux

package hostnet

import (
	"errors"
	"fmt"
)

// diagQuery has no meaning outside Linux.
type diagQuery struct{}

var listenerQueries, connectionQueries [0]diagQuery

// scanNetlink has no sock_diag to ask outside Linux; the error counts as a
// refusal, so Scan falls back to procfs (and fails there with a clear path).
func scanNetlink([]diagQuery) ([]Socket, error) {
	return nil, fmt.Errorf("sock_diag netlink: %w", errors.ErrUnsupported)
}
