package proc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Args returns pid's command line, nil when unreadable (gone, or a
// kernel thread). It and ArgsIn are how mictl and its tests read a
// command line, but for GroupsRunning, which reads its own: it reads
// those of every shell on the host at each look, and splits only the
// first two arguments, all it compares.
func Args(pid int) []string { return ArgsIn("/proc", pid) }

// ArgsIn is Args of the procfs mounted at procRoot: hostnet reads its
// socket owners' command lines with it, and its tests point it at a
// fixture tree of <pid>/cmdline files. In a file of its own, without a
// Linux build tag, because hostnet builds on every system.
func ArgsIn(procRoot string, pid int) []string {
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cmdline"))
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
}
