package home

import (
	"os"
	"strconv"
	"strings"

	"github.com/mictl/mictl/pkg/proc"
)

// Server returns the live server that the pid file of the home dir (an
// absolute path) names, if it really is this home's server, started by
// mictl or not: a stale pid file may name any process by now, so the
// process must run with dir as its CARBON_HOME.
func Server(dir string) (proc.Stat, bool) {
	pid, ok := ServerPID(dir)
	if !ok {
		return proc.Stat{}, false
	}
	st, err := proc.ReadStat(pid)
	if err != nil || st.Exited() || proc.Getenv(pid, "CARBON_HOME") != dir {
		return proc.Stat{}, false
	}
	return st, true
}

// ServerPID is the pid the pid file of the home dir names, whatever
// process has it now (MI never removes the file): each caller says which
// process it takes it for (Server, a start's group, a view's).
func ServerPID(dir string) (int, bool) {
	data, err := os.ReadFile(PIDFile(dir))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid, err == nil && pid > 0
}
