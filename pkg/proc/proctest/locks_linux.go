package proctest

import (
	"os"
	"strconv"
	"strings"
)

// WaitsForALock reports whether process pid waits for a file lock
// (/proc/locks lists it blocked, "->").
func WaitsForALock(pid int) bool {
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) > 5 && fields[1] == "->" && fields[5] == strconv.Itoa(pid) {
			return true
		}
	}
	return false
}
