package hostnet

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// EphemeralRange reads /proc/sys/net/ipv4/ip_local_port_range, the ports the
// kernel hands out to outgoing connections and to bind(port 0) (IPv6 uses
// the same setting). A planner keeps fixed MI ports out of it: any process
// may grab a port inside it at any moment, so a port free at planning time
// would not stay free.
func EphemeralRange() (lo, hi int, err error) {
	return ephemeralRangeIn(procRoot)
}

// ephemeralRangeIn is EphemeralRange over the procfs mounted at procRoot.
func ephemeralRangeIn(procRoot string) (lo, hi int, err error) {
	path := filepath.Join(procRoot, "sys", "net", "ipv4", "ip_local_port_range")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", path, err)
	}
	lo, hi, err = parsePortRange(string(b))
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return lo, hi, nil
}

// parsePortRange parses "32768\t60999\n".
func parsePortRange(s string) (lo, hi int, err error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("want two numbers, got %q", s)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("bad port range %q", s)
	}
	return lo, hi, nil
}
