package supervisor

import (
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"github.com/mictl/mictl/pkg/proc"
)

// Reaper collects the exit of every child of this process, including the
// orphans a child subreaper inherits (docs/mi-facts.md: when the script dies first
// its JVMs are re-parented to the nearest subreaper). One goroutine owns
// wait4(-1): nobody else may wait for children, or exits would be stolen,
// so processes are started with exec.Cmd.Start and never Cmd.Wait.
type Reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
	sigs    chan os.Signal
	done    chan struct{}
}

// NewReaper starts reaping. With subreaper true the process also becomes a
// child subreaper (prctl PR_SET_CHILD_SUBREAPER), which the daemon and
// `up --foreground` do; tests that share a process with other code do not.
func NewReaper(subreaper bool) (*Reaper, error) {
	if subreaper {
		if err := proc.BecomeSubreaper(); err != nil {
			return nil, err
		}
	}
	r := &Reaper{
		waiters: map[int]chan syscall.WaitStatus{},
		sigs:    make(chan os.Signal, 1),
		done:    make(chan struct{}),
	}
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go r.loop()
	return r, nil
}

// Close stops reaping.
func (r *Reaper) Close() {
	signal.Stop(r.sigs)
	close(r.done)
}

// Start starts cmd and returns a channel that receives its exit status
// once. The reaper's lock is held from the fork to the registration, so
// the exit cannot be reaped before anyone waits for it; and exits of
// processes nobody registered (orphans) are dropped, never kept for a pid
// the kernel may later give to another child.
func (r *Reaper) Start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiters[cmd.Process.Pid] = ch
	return ch, nil
}

func (r *Reaper) loop() {
	r.reapAll() // children may have exited before Notify was in place
	for {
		select {
		case <-r.done:
			return
		case <-r.sigs:
			r.reapAll()
		}
	}
}

// reapAll collects every exited child; SIGCHLD signals coalesce, so one
// signal may stand for many exits.
func (r *Reaper) reapAll() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.mu.Lock()
		if ch, ok := r.waiters[pid]; ok {
			delete(r.waiters, pid)
			ch <- ws
		}
		r.mu.Unlock()
		reaps.notify()
	}
}

// reaps tells of every exit a reaper of this process collects: a stop
// waiting for a process group to empty looks again then (see
// groupSettles). There is one for the process, as wait4(-1) has one
// owner.
var reaps broadcast

// broadcast wakes every waiter at each notify, without blocking it.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

// next returns a channel closed at the next notify.
func (b *broadcast) next() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}
