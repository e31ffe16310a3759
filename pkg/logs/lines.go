package logs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// backwardsChunk is how much a backwards read takes at a time.
const backwardsChunk = 64 << 10

// errCut says a log was cut shorter while it was read backwards: rotated
// (copy-truncate) under the reader, what it held before is gone from it.
var errCut = errors.New("the log was cut shorter while it was read (rotated)")

// backwardChunks hands r's first size bytes to fn in chunks, the last
// first, each with its offset, until fn returns false or the start is
// passed. The chunk's memory is reused: fn copies what it keeps. A read
// that finds r shorter than size returns errCut.
func backwardChunks(r io.ReaderAt, size int64, fn func(chunk []byte, at int64) bool) error {
	buf := make([]byte, min(size, backwardsChunk))
	for end := size; end > 0; {
		start := max(0, end-backwardsChunk)
		chunk := buf[:end-start]
		if n, err := r.ReadAt(chunk, start); n < len(chunk) {
			if err == io.EOF {
				return errCut
			}
			return err
		}
		if !fn(chunk, start) {
			return nil
		}
		end = start
	}
	return nil
}

// Backwards hands each line of the file at path to keep, the last first,
// without its newline, until keep returns false or the first line is
// passed: a reader that wants the last few lines of a kind reads only the
// end of a long log. A line comes whole however long it is, and is keep's
// only during the call. A missing file has no lines.
func Backwards(path string, keep func(line []byte) bool) error {
	f, err := openLog(path)
	if f == nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	// carry is the end of a line whose beginning is in a chunk not read
	// yet; a final line without its newline is a line too.
	var carry []byte
	stopped := false
	err = backwardChunks(f, info.Size(), func(chunk []byte, at int64) bool {
		if at+int64(len(chunk)) == info.Size() {
			chunk = bytes.TrimSuffix(chunk, []byte{'\n'})
		}
		for {
			i := bytes.LastIndexByte(chunk, '\n')
			if i < 0 {
				break
			}
			line := append(chunk[i+1:len(chunk):len(chunk)], carry...)
			carry = nil
			if !keep(line) {
				stopped = true
				return false
			}
			chunk = chunk[:i]
		}
		carry = append(bytes.Clone(chunk), carry...)
		return true
	})
	switch {
	case errors.Is(err, errCut):
		return nil // the lines before the cut went with the rotation
	case err != nil:
		return fmt.Errorf("read %s: %w", path, err)
	case !stopped && info.Size() > 0:
		keep(carry)
	}
	return nil
}

// Lines hands each line of the file at path to fn, the first first,
// without its newline, cut at maxLine bytes (the rest of a longer line
// is skipped). A missing file has no lines.
func Lines(path string, maxLine int, fn func(line string)) error {
	f, err := openLog(path)
	if f == nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var line []byte
	for {
		part, err := r.ReadSlice('\n')
		line = append(line, part[:min(len(part), maxLine-len(line))]...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) > 0 {
			fn(strings.TrimSuffix(string(line), "\n"))
		}
		line = line[:0]
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return nil
		default:
			return fmt.Errorf("read %s: %w", path, err)
		}
	}
}

// openLog opens the log at path to read it: nil and no error when there
// is none.
func openLog(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return f, nil
}
