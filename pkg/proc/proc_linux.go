package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// statBufSize holds a whole /proc/<pid>/stat line (about 300 bytes on a
// 64-bit host). A longer line would only lose fields after start time (22),
// which parseStat never reads.
const statBufSize = 1024

// ReadStat reads /proc/<pid>/stat. A pid that does not exist gives an error
// wrapping ErrNoProcess.
func ReadStat(pid int) (Stat, error) {
	var buf [statBufSize]byte
	return readStat(pid, buf[:])
}

// readStat is ReadStat with the caller's buffer, so List reuses one buffer
// for the whole walk instead of allocating per process.
func readStat(pid int, buf []byte) (Stat, error) {
	if pid <= 0 {
		return Stat{}, fmt.Errorf("read stat of pid %d: %w", pid, ErrNoProcess)
	}
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	n, err := readProcFile(path, buf)
	if err != nil {
		return Stat{}, err
	}
	return parseStat(buf[:n])
}

// readProcFile reads a small /proc file into buf with raw system calls:
// os.ReadFile would stat and allocate per call, and List makes one call per
// process on the host. A process that exits between open and read makes the
// kernel return ESRCH or an empty file; both mean ErrNoProcess.
func readProcFile(path string, buf []byte) (int, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, procErr(path, err)
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, procErr(path, err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	if n == 0 {
		return 0, fmt.Errorf("read %s: empty: %w", path, ErrNoProcess)
	}
	return n, nil
}

// procErr maps the errno values of a vanished process to ErrNoProcess and
// keeps the errno itself reachable with errors.Is.
func procErr(path string, err error) error {
	if err == unix.ENOENT || err == unix.ESRCH {
		return fmt.Errorf("read %s: %w: %w", path, ErrNoProcess, err)
	}
	return fmt.Errorf("read %s: %w", path, err)
}

// Identify returns the identity of the process running now as pid. Store it
// as soon as the pid is learnt (from fork or from a pid file): the later it
// is taken, the wider the window in which the pid could have been reused.
func Identify(pid int) (Identity, error) {
	s, err := ReadStat(pid)
	if err != nil {
		return Identity{}, fmt.Errorf("identify pid %d: %w", pid, err)
	}
	return s.Identity(), nil
}

// Alive reports whether the incarnation id is still running: its pid exists,
// has the same start time (so it was not reused) and has not exited. A
// zombie counts as dead: it has released its ports and memory and only waits
// for its parent to reap it, which for an orphaned JVM may be never.
func (id Identity) Alive() bool {
	if id.PID <= 0 {
		return false
	}
	s, err := ReadStat(id.PID)
	return err == nil && s.StartTime == id.StartTime && !s.Exited()
}

// List returns every process on the host from one walk of /proc, in pid
// order. /proc is not a snapshot: processes that exit during the walk are
// skipped, and so are processes whose stat we may not read (hidepid=1), since
// a supervisor cannot act on either. Every other error aborts the walk.
func List() ([]Stat, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("list processes: read /proc: %w", err)
	}
	out := make([]Stat, 0, len(names))
	var buf [statBufSize]byte
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue // self, sys, meminfo, ...
		}
		s, err := readStat(pid, buf[:])
		switch {
		case err == nil:
			out = append(out, s)
		case errors.Is(err, ErrNoProcess), errors.Is(err, unix.EACCES):
			continue
		default:
			return nil, fmt.Errorf("list processes: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b Stat) int { return a.PID - b.PID })
	return out, nil
}

// GroupMembers returns the live processes (zombies excluded) of process
// group pgid, in pid order. Each MI instance runs in its own group, so this
// is "everything of this instance that still runs": the script, the MI JVM,
// the diagnostics JVM, even after the script died and the JVMs were
// re-parented.
func GroupMembers(pgid int) ([]int, error) {
	if pgid <= 0 {
		return nil, fmt.Errorf("group members: invalid process group %d", pgid)
	}
	all, err := List()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, s := range all {
		if s.PGID == pgid && !s.Exited() {
			out = append(out, s.PID)
		}
	}
	return out, nil
}

// GroupEmpty reports whether nothing at all is left of group pgid, zombies
// included: one kill(-pgid, 0), where GroupMembers walks /proc. A zombie
// whose parent has not waited for it yet still counts. Groups 0 and 1
// never count as empty (kill would mean something else for them).
func GroupEmpty(pgid int) bool {
	return pgid > 1 && unix.Kill(-pgid, 0) == unix.ESRCH
}

// GroupLeader returns the live leader of group pgid: the process whose pid
// is pgid (for an instance, its start script). The kernel keeps a pid
// reserved while a group of that number exists, so a process found here
// in group pgid is the one that made the group, never a later process
// given the same pid.
func GroupLeader(pgid int) (Identity, bool) {
	st, err := ReadStat(pgid)
	if err != nil || st.Exited() || st.PGID != pgid {
		return Identity{}, false
	}
	return st.Identity(), true
}

// SignalGroup sends sig to every process of group pgid (kill(-pgid)). A
// group with nothing left in it is not an error: stopping what is already
// stopped succeeds.
//
// pgid 0 and 1 are refused because kill(0) means "my own group" and
// kill(-1) means "every process I may signal": a zero or corrupt pgid in the
// state file must never turn a stop into killing the user's session. The
// caller's own group is refused for the same reason: instances always run
// in groups of their own.
func SignalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return fmt.Errorf("signal process group %d: refusing to signal an invalid group", pgid)
	}
	if pgid == unix.Getpgrp() {
		return fmt.Errorf("signal process group %d: refusing to signal mictl's own group", pgid)
	}
	err := unix.Kill(-pgid, sig)
	if err == unix.ESRCH {
		return nil
	}
	if err != nil {
		return fmt.Errorf("signal process group %d with %v: %w", pgid, sig, err)
	}
	return nil
}

// BecomeSubreaper makes the calling process a child subreaper
// (prctl(PR_SET_CHILD_SUBREAPER, 1)). MI's script dies before its JVMs when
// the group is signalled, and SIGTERM to the script alone leaves both JVMs
// running (docs/mi-facts.md, "Start, stop, files"); without this they would be
// re-parented to PID 1 (or whatever subreaper sits above mictl) and the
// supervisor could only watch them from outside. As a subreaper it inherits
// them, sees their exit through wait(), and leaves no zombie behind. The
// attribute is not inherited by children: only mictl itself changes.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	return nil
}

// CloseInheritedOnExec marks every file descriptor above stderr
// close-on-exec. Go opens all of its own that way, but descriptors
// inherited without it (a make jobserver pipe, an ssh channel, a shell's
// redirection) would otherwise pass to the daemon and to every server it
// starts, and stay open as long as they run.
func CloseInheritedOnExec() {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return
	}
	// Kernels before 5.11: do it one descriptor at a time.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// GroupOf reports whether process group pgid still belongs to the MI
// home carbonHome: one of its live members runs with that CARBON_HOME. A
// pgid read back from a state file may by now name a stranger's group
// (pids, and so pgids, are reused); only a group that passes this check
// may be signalled. hint, when alive, is a likely member (the server),
// checked first so that the usual case reads no /proc walk.
func GroupOf(pgid int, carbonHome string, hint Identity) bool {
	// A group with no process left belongs to no home: one kill(-pgid, 0)
	// says so. That is the usual case after a stop, where the walk below
	// (every process read, for each instance) cost a down of twenty more
	// than the stop itself.
	if pgid <= 1 || GroupEmpty(pgid) {
		return false
	}
	if !hint.IsZero() {
		if st, err := ReadStat(hint.PID); err == nil && st.StartTime == hint.StartTime && !st.Exited() &&
			st.PGID == pgid && Getenv(hint.PID, "CARBON_HOME") == carbonHome {
			return true
		}
	}
	all, err := List()
	if err != nil {
		return false
	}
	for _, st := range all {
		if st.PGID == pgid && !st.Exited() && Getenv(st.PID, "CARBON_HOME") == carbonHome {
			return true
		}
	}
	return false
}

// GroupsRunning returns, for each of programs (absolute paths: a relative
// one matches nothing), the process groups in which a live process runs
// it: as argv[0], or as argv[1] for a script started through its
// interpreter (/bin/sh /srv/mi-1/bin/x.sh, or sh bin/x.sh from /srv/mi-1:
// see absoluteArg).
// One /proc walk for all of them, reading the command lines only of the
// processes named after one of programs or a shell. The command line is
// what the process was started with, so it finds an instance's start
// script wherever its record went, without trusting inherited variables
// such as CARBON_HOME.
func GroupsRunning(programs []string) (map[string][]int, error) {
	all, err := List()
	if err != nil {
		return nil, err
	}
	// A process runs one of programs only if the kernel named it after
	// the program (its first 15 bytes, as exec does) or after an
	// interpreter: only those command lines are read, not every one.
	comms := map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "ksh": true, "zsh": true, "busybox": true}
	for _, p := range programs {
		comms[CommOf(p)] = true
	}
	out := map[string][]int{}
	for _, st := range all {
		if st.Exited() || !comms[st.Comm] {
			continue
		}
		// Not Args: the first two arguments are all it compares, so it
		// splits no more of every shell's command line on the host.
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.PID))
		if err != nil {
			continue // gone, or not ours to read
		}
		args := bytes.SplitN(cmdline, []byte{0}, 3)
		for _, arg := range args[:min(len(args), 2)] {
			p, ok := absoluteArg(st.PID, string(arg))
			if ok && slices.Contains(programs, p) && !slices.Contains(out[p], st.PGID) {
				out[p] = append(out[p], st.PGID)
			}
		}
	}
	return out, nil
}

// absoluteArg is arg, an argument of process pid naming a program, as an
// absolute path: a relative one is taken from where the process runs, as
// it was started there (cd $MI_HOME && sh bin/micro-integrator.sh, as
// MI's docs have it). ok is false when that cannot be read. Compared as
// written, a relative path matched no home's script, so such a start
// went unseen until its server wrote its pid file; and a record naming
// no home (its start script "bin/micro-integrator.sh") matched every
// start made that way on the host, which a stop then signalled.
func absoluteArg(pid int, arg string) (string, bool) {
	if arg == "" || filepath.IsAbs(arg) {
		return arg, arg != ""
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return "", false
	}
	return filepath.Join(cwd, arg), true
}

// CommOf is the command name the kernel gives a process that execs
// program: its base name, cut to 15 bytes (TASK_COMM_LEN - 1).
func CommOf(program string) string {
	name := filepath.Base(program)
	if len(name) > 15 {
		name = name[:15]
	}
	return name
}

// ClockTicks is the unit of the CPU times in Stat, per second: the
// kernel's USER_HZ, handed to every process in its auxiliary vector
// (AT_CLKTCK, what sysconf(_SC_CLK_TCK) reads). 100 on every Linux
// architecture Go supports, the fallback should the vector not say.
var ClockTicks = sync.OnceValue(func() uint64 {
	const atClkTck = 17
	if auxv, err := unix.Auxv(); err == nil {
		for _, kv := range auxv {
			if kv[0] == atClkTck && kv[1] > 0 {
				return uint64(kv[1])
			}
		}
	}
	return 100
})

// Environ returns pid's environment, nil when unreadable (another user's
// process, or gone).
func Environ(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
}

// Getenv returns the value of key in pid's environment ("" when unset or
// unreadable: another user's process).
func Getenv(pid int, key string) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return ""
	}
	prefix := []byte(key + "=")
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			return string(v)
		}
	}
	return ""
}

// StartedAt is when the process s describes started, in wall time: its
// start time (clock ticks after boot) from the boot time in /proc/stat.
// ok is false when the boot time cannot be read.
func StartedAt(s Stat) (time.Time, bool) {
	boot, err := bootTime()
	if err != nil {
		return time.Time{}, false
	}
	ticks := ClockTicks()
	return boot.Add(time.Duration(s.StartTime/ticks)*time.Second + time.Duration(s.StartTime%ticks)*time.Second/time.Duration(ticks)), true
}

// bootTime is /proc/stat's btime.
func bootTime() (time.Time, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("/proc/stat btime %q: %w", v, err)
			}
			return time.Unix(secs, 0), nil
		}
	}
	return time.Time{}, errors.New("/proc/stat has no btime")
}
