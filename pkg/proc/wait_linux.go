package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pidfdOpen is unix.PidfdOpen; tests replace it to exercise the fallback
// that old kernels and strict seccomp profiles force.
var pidfdOpen = unix.PidfdOpen

// FallbackPollInterval is how often WaitExit looks at /proc when the kernel
// offers no pidfd: short enough that a restart is not visibly delayed, long
// enough that a few dozen idle waiters cost nothing measurable.
const FallbackPollInterval = 100 * time.Millisecond

// mainThreadEvery is how often WaitMainThreadExit looks.
const mainThreadEvery = 200 * time.Microsecond

// WaitMainThreadExit blocks until the main thread of the process
// incarnation id has exited (id is a zombie, or gone) or ctx is done, and
// then returns nil or ctx.Err(). Other threads of id may still be
// finishing in the kernel, which WaitExit's pidfd waits for and this does
// not: a process whose last thread waits for the release of its inotify
// instances (an RCU grace period, up to ~20 ms) has done all it will do.
// Nothing tells of a main thread's exit alone, so it looks every 200 µs:
// it is for a process that said it is exiting, a few looks at most.
func WaitMainThreadExit(ctx context.Context, id Identity) error {
	return pollAlive(ctx, id, mainThreadEvery)
}

// WaitExit blocks until the process incarnation id has exited (or become a
// zombie) or ctx is done, and then returns nil or ctx.Err(). A pid that is
// already gone, or now belongs to another process, has exited: WaitExit
// returns nil at once.
//
// It is made for processes that are not our children, such as the MI JVM
// adopted after a supervisor restart or the JVM a dying script left behind:
// wait() cannot see those. A pidfd (pidfd_open(2), Linux 5.3) becomes
// readable the moment its process exits, so the exit is seen at once instead
// of at the next /proc poll. The pidfd is handed to Go's network poller
// (epoll), so a waiter blocks no OS thread, and ctx cancellation wakes it
// through a read deadline: no goroutine or descriptor outlives the call.
//
// The pid-reuse race is closed by opening first and checking second:
// pidfd_open takes whatever process holds the pid now; if that is still id's
// start time afterwards, the pidfd refers to id (a pid cannot be reused
// while its process holds it), otherwise id is already gone.
//
// Without pidfd_open (ENOSYS before 5.3, or EPERM from a seccomp filter that
// does not know it), or without a descriptor to spare for it (EMFILE,
// ENFILE, ENOMEM), WaitExit falls back to checking Alive every
// FallbackPollInterval: the exit is then seen up to that much later, but
// never taken for one that has not happened.
//
// WaitExit never reaps: when id is our child, the caller's wait() still
// collects its status (a zombie counts as exited here).
func WaitExit(ctx context.Context, id Identity) error {
	if id.PID <= 0 {
		return fmt.Errorf("wait for %v: invalid pid", id)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fd, err := openPidfd(id.PID)
	switch {
	case err == unix.ESRCH:
		return nil // no process with that pid: id exited long ago
	case err == unix.ENOSYS || err == unix.EPERM || err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOMEM:
		return pollAlive(ctx, id, FallbackPollInterval)
	case err != nil:
		return fmt.Errorf("wait for %v: pidfd_open: %w", id, err)
	}
	f := os.NewFile(uintptr(fd), "pidfd:"+strconv.Itoa(id.PID))
	defer f.Close()

	if !id.Alive() {
		return nil
	}
	// A deadline can only be set on a descriptor the poller accepted; if it
	// did not (never seen on Linux, but os.NewFile does not say), poll.
	if f.SetReadDeadline(time.Time{}) != nil {
		return pollAlive(ctx, id, FallbackPollInterval)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("wait for %v: %w", id, err)
	}
	// The callback goroutine of AfterFunc only sets a deadline on f; if it
	// races with f.Close below, os.File turns that into a harmless ErrClosed.
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	exited := false
	err = rc.Read(func(fd uintptr) bool {
		exited = pidfdExited(int(fd))
		return exited
	})
	switch {
	case exited:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("wait for %v: %w", id, err)
	}
	return fmt.Errorf("wait for %v: poller returned without an exit", id)
}

// openPidfd opens a non-blocking pidfd (non-blocking so that os.NewFile puts
// it in the poller). PIDFD_NONBLOCK needs Linux 5.10; 5.3 to 5.9 answer
// EINVAL, and there O_NONBLOCK is set afterwards instead, which poll-based
// waiting does not care about.
func openPidfd(pid int) (int, error) {
	fd, err := pidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err == unix.EINVAL {
		fd, err = pidfdOpen(pid, 0)
		if err == nil {
			if err = unix.SetNonblock(fd, true); err != nil {
				unix.Close(fd)
				return -1, err
			}
		}
	}
	return fd, err
}

// pidfdExited asks, without blocking, whether the pidfd is readable, which
// the kernel makes it exactly when the process has exited. The poller can
// wake spuriously, so its word alone is not taken.
func pidfdExited(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		// Recent kernels add POLLHUP once the process has also been reaped.
		return err == nil && n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLERR|unix.POLLHUP) != 0
	}
}

// pollAlive looks at id every so often until it is not Alive: WaitExit's
// fallback for kernels without pidfd_open, and WaitMainThreadExit.
func pollAlive(ctx context.Context, id Identity, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for id.Alive() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Signal sends sig to the process incarnation id, and to no other: the
// pid is pinned with a pidfd first and checked to still be id's, then
// signalled through that pidfd, so a pid the kernel has handed to another
// process since (the server exited, its script reaped it) is never hit.
// It returns ErrNoProcess when id is gone. Without pidfds (see WaitExit)
// it checks and signals by pid: the window is then the one kill(2) has.
func Signal(id Identity, sig syscall.Signal) error {
	fd, err := openPidfd(id.PID)
	switch {
	case err == unix.ESRCH:
		return ErrNoProcess
	case err != nil:
		if !id.Alive() {
			return ErrNoProcess
		}
		return syscall.Kill(id.PID, sig)
	}
	defer unix.Close(fd)
	if !id.Alive() {
		return ErrNoProcess
	}
	return unix.PidfdSendSignal(fd, sig, nil, 0)
}
