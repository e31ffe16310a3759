package logs

import (
	"errors"
	"io/fs"
	"os"
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
}

// HeldAt is the file link names now, to be read through it later.
func HeldAt(link string) (*Held, error) {
	info, err := os.Stat(link)
	if err != nil {
		return nil, err
	}
	return &Held{Link: link, file: info}, nil
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
