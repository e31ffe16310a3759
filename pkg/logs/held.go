package logs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mictl/mictl/pkg/proc"
)

// Held is a log deleted from its place that a running server still holds
// open and writes on to (a server starts a new log only when it starts
// again): it can be read only through the server's /proc/PID/fd/N link.
type Held struct {
	// Link is the server's /proc/PID/fd/N for the file.
	Link string
	// file is the file Link named when it was found. Opened later, Link
	// may name another: the server closed the log meanwhile and its next
	// open file took the fd number, or it ended and its pid went to
	// another process. Only this file is read through it.
	file fs.FileInfo
	// holder is the server, and pgid its process group, where the other
	// processes that may hold the file too run (see released).
	holder proc.Identity
	pgid   int
}

// HeldAt is the file that the descriptor fd (its name under
// /proc/PID/fd) of the process pid names now, to be read through its
// link later.
func HeldAt(pid int, fd string) (*Held, error) {
	st, err := proc.ReadStat(pid)
	if err != nil {
		return nil, err
	}
	link := filepath.Join("/proc", strconv.Itoa(pid), "fd", fd)
	info, err := os.Stat(link)
	if err != nil {
		return nil, err
	}
	return &Held{Link: link, file: info, holder: st.Identity(), pgid: st.PGID}, nil
}

// open opens the held file, with its stat; nil, and no error, once Link
// names it no more: gone, or another file (another device or inode).
func (h *Held) open() (*os.File, fs.FileInfo, error) {
	f, err := os.Open(h.Link)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !os.SameFile(info, h.file) {
		f.Close()
		return nil, nil, nil
	}
	return f, info, nil
}

// released is closed once no process of the server's group holds the
// file open any more: the server has ended, and so has every other
// process of its group that held the file too (MI's script holds it as
// its output, and gives it to the JVM it starts again on exit 121). The
// file is then written no more, and a follower that kept it open kept
// its disk space in use. Never closed before ctx ends otherwise, nor
// when the server's exit cannot be waited for.
func (h *Held) released(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for holder := h.holder; !holder.IsZero(); holder = h.holderIn(h.pgid) {
			if proc.WaitExit(ctx, holder) != nil {
				return
			}
		}
		close(done)
	}()
	return done
}

// holderIn is a live process of group pgid that holds the file open,
// zero when none does (or the group cannot be looked at).
func (h *Held) holderIn(pgid int) proc.Identity {
	pids, err := proc.GroupMembers(pgid)
	if err != nil {
		return proc.Identity{}
	}
	for _, pid := range pids {
		fds := filepath.Join("/proc", strconv.Itoa(pid), "fd")
		entries, _ := os.ReadDir(fds) // ended, or not ours to look at: holds nothing we can tell
		for _, e := range entries {
			if info, err := os.Stat(filepath.Join(fds, e.Name())); err == nil && os.SameFile(info, h.file) {
				if id, err := proc.Identify(pid); err == nil {
					return id
				}
			}
		}
	}
	return proc.Identity{}
}
