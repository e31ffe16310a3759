package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/mictl/mictl/pkg/hostnet"
)

// ParseAddr checks a metrics_addr value and returns the address to listen
// on. The daemon's metrics say which processes run and how they do, so
// they stay on loopback unless the user names another address: ":9464"
// and a bare "9464" mean 127.0.0.1:9464, while "0.0.0.0:9464" or
// "192.0.2.7:9464" listen where they say. A host name is refused: the
// address must not depend on a resolver at daemon start. Errors say
// what is wrong with the value; the caller names where it came from (the
// key with its file:line, or the flag).
func ParseAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New(`empty address: want host:port, e.g. "127.0.0.1:9464"`)
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		if _, perr := strconv.Atoi(s); perr != nil {
			return "", fmt.Errorf("%q is not host:port: want e.g. \"127.0.0.1:9464\", \":9464\" (loopback) or \"0.0.0.0:9464\" (every address)", s)
		}
		host, portStr = "", s // a bare port
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, portStr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("%q: %q is not an IP address: name the address to listen on (127.0.0.1, ::1, 0.0.0.0, or one of the host's)", s, host)
	}
	if ip.Zone() != "" {
		return "", fmt.Errorf("%q: a zoned address (%%%s) is not supported: use a global or loopback address", s, ip.Zone())
	}
	return netip.AddrPortFrom(ip, uint16(port)).String(), nil
}

// Listen checks addr (see ParseAddr) and listens on it, turning the two
// failures a user can fix into plain errors: a port already in use (with
// the holder's pid when it can be seen) and an address the host does not
// have. Called before anything starts, so a bad metrics_addr stops `mictl
// up` before any instance runs.
func Listen(addr string) (net.Listener, error) {
	a, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a)
	switch {
	case err == nil:
		return ln, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, &InUseError{Addr: a, holder: holderOf(a)}
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return nil, fmt.Errorf("%s: this host has no such address: use 127.0.0.1, 0.0.0.0 or one of the host's addresses", a)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("%s: ports below 1024 need root: choose a port from 1024 up", a)
	default:
		return nil, fmt.Errorf("listen on %s for metrics: %w", a, err)
	}
}

// InUseError is a metrics address another process listens on: a
// conflict with the host, which check-conflicts reports as one.
type InUseError struct {
	Addr   string // host:port
	holder string // " by pid N (comm)", or ""
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("%s is already in use%s: choose another port for metrics_addr (or --metrics-addr)", e.Addr, e.holder)
}

// holderOf names the process listening on addr, as " by pid N (comm)",
// or "" when it cannot be seen.
func holderOf(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ""
	}
	snap, err := hostnet.Scan()
	if err != nil {
		return ""
	}
	for _, s := range snap.Holding(hostnet.TCP, int(ap.Port()), ap.Addr()) {
		if p, ok := hostnet.Owners(s.Inode)[s.Inode]; ok {
			return " by " + p.String()
		}
	}
	return ""
}
