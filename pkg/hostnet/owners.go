package hostnet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/proc"
)

// Owners finds the process holding each socket inode, the way ss -p and
// lsof do: every open socket shows up as a "socket:[N]" symlink under
// /proc/<pid>/fd, with N the inode the kernel reports in sock_diag and
// /proc/net/*. The kernel offers no reverse index, so this is one walk of
// /proc/*/fd for all inodes together; ask once per scan, never per socket.
//
// When several processes share a socket (inherited across fork, or passed
// over a unix socket) the lowest pid wins: it is usually the parent that
// created the socket, and the choice is stable from one call to the next.
// Inodes whose owner cannot be seen (another user's process while not root,
// a process that exited mid-walk, a socket of another network namespace's
// process that we cannot read) are simply absent from the map.
func Owners(inodes ...uint64) map[uint64]Process {
	return ownersIn(procRoot, inodes...)
}

// ownersIn is Owners over the procfs mounted at procRoot, so tests can point
// it at a fixture tree of <pid>/fd/<n> symlinks and <pid>/comm files.
func ownersIn(procRoot string, inodes ...uint64) map[uint64]Process {
	out := make(map[uint64]Process, len(inodes))
	want := make(map[uint64]struct{}, len(inodes))
	for _, ino := range inodes {
		want[ino] = struct{}{}
	}
	if len(want) == 0 {
		return out
	}
	pids, _ := listPIDs(procRoot) // unreadable /proc: nobody's owner is visible
	var buf [64]byte
	for _, pid := range pids {
		_ = eachSocketInode(filepath.Join(procRoot, strconv.Itoa(pid), "fd"), buf[:], func(ino uint64) bool {
			if _, ok := want[ino]; ok {
				delete(want, ino)
				out[ino] = Process{PID: pid}
			}
			return len(want) > 0
		})
		if len(want) == 0 {
			break // pids ascend, so every owner found so far is the lowest
		}
	}
	named := make(map[int]Process)
	for ino, p := range out {
		n, ok := named[p.PID]
		if !ok {
			n = Process{PID: p.PID, Comm: readComm(procRoot, p.PID), Home: readCarbonHome(procRoot, p.PID)}
			named[p.PID] = n
		}
		out[ino] = n
	}
	return out
}

// SocketInodes returns the socket inodes held by pid, read from
// /proc/<pid>/fd. The supervisor uses it to check that an expected port is
// held by the instance's own process and not by a stranger (MI logs
// "started" even when its bind failed).
func SocketInodes(pid int) (map[uint64]struct{}, error) {
	return socketInodesIn(procRoot, pid)
}

// socketInodesIn is SocketInodes over the procfs mounted at procRoot.
func socketInodesIn(procRoot string, pid int) (map[uint64]struct{}, error) {
	out := make(map[uint64]struct{})
	var buf [64]byte
	dir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
	err := eachSocketInode(dir, buf[:], func(ino uint64) bool {
		out[ino] = struct{}{}
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listPIDs returns the numeric entries of procRoot, ascending.
func listPIDs(procRoot string) ([]int, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", procRoot, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", procRoot, err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// eachSocketInode calls fn with the inode of every "socket:[N]" link in the
// fd directory dir, until fn returns false. It reads the links relative to
// the open directory (readlinkat) so the kernel resolves /proc/<pid>/fd once
// per process, not once per descriptor. Links that vanish between listing
// and reading (the fd was closed) are skipped.
func eachSocketInode(dir string, buf []byte, fn func(ino uint64) bool) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	rc, err := d.SyscallConn()
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	err = rc.Control(func(fd uintptr) {
		for _, name := range names {
			n, err := unix.Readlinkat(int(fd), name, buf)
			if err != nil {
				continue // closed since Readdirnames, or not a link
			}
			if ino, ok := parseSocketLink(buf[:n]); ok && !fn(ino) {
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	return nil
}

// parseSocketLink extracts N from "socket:[N]".
func parseSocketLink(l []byte) (uint64, bool) {
	const prefix = "socket:["
	if !bytes.HasPrefix(l, []byte(prefix)) || len(l) < len(prefix)+2 || l[len(l)-1] != ']' {
		return 0, false
	}
	var v uint64
	for _, c := range l[len(prefix) : len(l)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// readCarbonHome is the -Dcarbon.home=DIR of /proc/<pid>/cmdline (the
// last one, which java takes); empty when it has none or is gone.
func readCarbonHome(procRoot string, pid int) string {
	home := ""
	for _, arg := range proc.ArgsIn(procRoot, pid) {
		if dir, ok := strings.CutPrefix(arg, "-Dcarbon.home="); ok {
			home = dir
		}
	}
	return home
}

// readComm reads /proc/<pid>/comm; empty when the process is gone.
func readComm(procRoot string, pid int) string {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimRight(string(b), "\n")
}
