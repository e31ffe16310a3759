package proctest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TakePort has this process take TCP port on 127.0.0.1 from process
// pid, which runs on without it, as a stranger takes the port of a
// server whose listener died under it (the simulator, as MI, never binds
// it again). The listener returned is closed when the test ends.
func TakePort(tb testing.TB, pid, port int) net.Listener {
	tb.Helper()
	DropListener(tb, pid, port)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		tb.Fatalf("take port %d, which pid %d no longer holds: %v", port, pid, err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// DropListener closes the TCP listener that process pid holds on port
// while pid runs on, leaving the port free, as a server whose listener
// died under it. It takes a copy of each of pid's sockets
// (pidfd_getfd) and shuts the listening one down, which closes a
// listener for every copy. It skips the test where pid's sockets cannot
// be taken (another user's process, a kernel before 5.6).
func DropListener(tb testing.TB, pid, port int) {
	tb.Helper()
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		tb.Skipf("cannot reach the sockets of pid %d here: pidfd_open: %v", pid, err)
	}
	defer unix.Close(pidfd)
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if link, err := os.Readlink(filepath.Join(dir, e.Name())); err != nil || !strings.HasPrefix(link, "socket:") {
			continue
		}
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fd, err := unix.PidfdGetfd(pidfd, n, 0)
		if err != nil {
			tb.Skipf("cannot take the sockets of pid %d here: pidfd_getfd: %v", pid, err)
		}
		if listensOn(fd, port) {
			err := unix.Shutdown(fd, unix.SHUT_RD)
			unix.Close(fd)
			if err != nil {
				tb.Fatalf("shut down pid %d's listener on port %d: %v", pid, port, err)
			}
			return
		}
		unix.Close(fd)
	}
	tb.Fatalf("pid %d holds no listener on port %d", pid, port)
}

// listensOn reports whether socket fd is a TCP listener on port.
func listensOn(fd, port int) bool {
	if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || on != 1 {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port == port
	case *unix.SockaddrInet6:
		return a.Port == port
	}
	return false
}
