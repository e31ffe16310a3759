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

// PortRanges are ranges of ports, each [first, last], as
// ip_local_reserved_ports lists them.
type PortRanges [][2]int

// Contains reports whether port lies in one of the ranges.
func (r PortRanges) Contains(port int) bool {
	for _, pr := range r {
		if port >= pr[0] && port <= pr[1] {
			return true
		}
	}
	return false
}

// LocalReservedPorts reads /proc/sys/net/ipv4/ip_local_reserved_ports: the
// ports of the ephemeral range the kernel never hands out by itself (to an
// outgoing connection or to bind(port 0)). It is where an administrator
// keeps the fixed ports of services that must live inside that range, so a
// planned port listed there is not one a connection may take first.
func LocalReservedPorts() (PortRanges, error) {
	return localReservedPortsIn(procRoot)
}

// localReservedPortsIn is LocalReservedPorts over the procfs mounted at
// procRoot.
func localReservedPortsIn(procRoot string) (PortRanges, error) {
	path := filepath.Join(procRoot, "sys", "net", "ipv4", "ip_local_reserved_ports")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	r, err := parsePortList(string(b))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return r, nil
}

// parsePortList parses the kernel's list of ports and ranges,
// "8080,9148-9150\n", or an empty line for none.
func parsePortList(s string) (PortRanges, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out PortRanges
	for _, item := range strings.Split(s, ",") {
		first, last, isRange := strings.Cut(item, "-")
		if !isRange {
			last = first
		}
		lo, err1 := strconv.Atoi(first)
		hi, err2 := strconv.Atoi(last)
		if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
			return nil, fmt.Errorf("bad port or range %q in %q", item, s)
		}
		out = append(out, [2]int{lo, hi})
	}
	return out, nil
}
