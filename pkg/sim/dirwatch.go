package sim

import (
	"encoding/binary"
	"os"
	"syscall"
)

// watchDir signals on the returned channel (one slot: a burst of changes
// is one signal) whenever an entry of dir is created, written, renamed,
// removed or touched, until stop is called. The channel is closed when
// the watch ends: stopped, or lost because dir itself was removed or
// moved. It is nil when dir cannot be watched (no such directory, no
// inotify instance left): the caller polls instead.
func watchDir(dir string) (changed <-chan struct{}, stop func()) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, func() {}
	}
	const mask = syscall.IN_CREATE | syscall.IN_CLOSE_WRITE | syscall.IN_MOVED_TO | syscall.IN_MOVED_FROM |
		syscall.IN_DELETE | syscall.IN_ATTRIB | syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF
	if _, err := syscall.InotifyAddWatch(fd, dir, mask); err != nil {
		syscall.Close(fd)
		return nil, func() {}
	}
	// Non-blocking, so the runtime's poller waits for it and Close ends
	// a Read in progress.
	f := os.NewFile(uintptr(fd), "inotify:"+dir)
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		buf := make([]byte, 16<<10)
		for {
			n, err := f.Read(buf)
			if err != nil || n <= 0 {
				return
			}
			lost := false
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				evMask := binary.NativeEndian.Uint32(buf[off+4:])
				nameLen := binary.NativeEndian.Uint32(buf[off+12:])
				lost = lost || evMask&(syscall.IN_IGNORED|syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF) != 0
				off += syscall.SizeofInotifyEvent + int(nameLen)
			}
			select {
			case ch <- struct{}{}:
			default:
			}
			if lost {
				return
			}
		}
	}()
	return ch, func() { f.Close() }
}
