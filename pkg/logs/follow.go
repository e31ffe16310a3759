package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// maxLine bounds a line that never ends: a writer that prints megabytes
// without a newline must not make a follower buffer it all. Longer lines are
// emitted in pieces of this size.
const maxLine = 1 << 20

// Follow calls out with every complete line appended to the file at path,
// starting at byte fromOffset, until ctx is done; it then closes everything
// it opened and returns nil, since being stopped is how following is meant
// to end. Lines are passed without their "\n" (nor a "\r" before it).
//
// It watches the file's DIRECTORY with fsnotify, not the file: rotators and
// editors replace files, and a watch on the file itself would stay on the
// old inode and go silent. There is no polling (unless no inotify instance
// is left to the user, see poll): after each event about the file it stats
// the path and the open file once each and reacts:
//   - the file shrank below what was read (copy-truncate, see
//     RotateIfLarger): read again from offset 0;
//   - another file now sits at path (rename + recreate, or a rename over
//     it): read the rest of the old file, then the new one from offset 0;
//   - the path is gone (renamed away or removed): keep the old file open and
//     keep reading it on every event in the directory — a writer that was
//     not told to reopen still appends there — until a file appears at
//     path;
//   - the file does not exist yet: wait for it to be created.
//
// fromOffset applies only to the file found at path when Follow starts; an
// offset beyond its end means it was truncated since the caller looked, and
// reading starts from 0. A partial last line is held back until its newline
// arrives; when its file is truncated or replaced it is emitted as it is,
// since nothing more of it will ever come.
//
// The directory is treated as the file is, as tail -F does: one that does
// not exist (yet) is waited for, watching the nearest directory above it
// that exists, and when it is removed or renamed away the file in it is
// let go (a writer still holding it open writes where nobody can read) and
// a new directory at its path is waited for. While the file is gone from
// path the directory above is watched too: the kernel reports a removed
// directory only once nothing holds it, and the open file in it does.
//
// Limits: a truncate immediately followed by more than fromOffset bytes of
// new writes, all before Follow handles the event, is indistinguishable
// from growth; the kernel reports the truncate itself as an event, so this
// needs the follower to be starved.
func Follow(ctx context.Context, path string, fromOffset int64, out func(line string)) error {
	return followFile(ctx, path, nil, fromOffset, out, nil)
}

// followFile is Follow of the log at path, or, with held (see Source.Held),
// of the file deleted from path that a running server still writes to:
// that file is read from fromOffset, as a file renamed away is, but
// through held, and kept when its directory goes too (the server writes
// on), until a file appears at path, which is then followed from its
// first line. Or until the server has ended with no file at path (it was
// stopped, or failed, and nothing starts it again): the held file is then
// let go, and released, when set, told so; kept open, it kept its disk
// space in use for as long as the follower ran. A file at path is waited
// for as before.
func followFile(ctx context.Context, path string, held *Held, fromOffset int64, out func(line string), released func()) error {
	ctx, cancel := context.WithCancel(ctx) // ends the wait for the server's exit
	defer cancel()
	dir := filepath.Clean(filepath.Dir(path))
	file := filepath.Join(dir, filepath.Base(path)) // as events name it
	t := &tailer{path: path, from: fromOffset, out: out, buf: make([]byte, 64<<10)}
	defer t.close()
	if held != nil {
		if err := t.openHeld(held); err != nil {
			return err
		}
	}
	if t.held {
		t.released, t.onRelease = held.released(ctx), released
	}
	w, err := newWatcher()
	if err != nil {
		// No inotify instance is left to this user (other programs hold
		// fs.inotify.max_user_instances of them): look every pollEvery.
		return t.poll(ctx)
	}
	defer w.Close() // waits for fsnotify's reader goroutine to end
	if t.held {
		// A file without a name is reported by no directory's watch: its
		// own is set through the link of the file opened (inotify
		// follows a /proc link to the file), which names it for as long
		// as it is open, where the server's may name another file by
		// then. Not watchable: looked at instead.
		heldWatch := fmt.Sprintf("/proc/self/fd/%d", t.f.Fd())
		if err := w.Add(heldWatch); err != nil {
			return t.poll(ctx)
		}
		// Let go of the file, its watch goes too: nothing more comes.
		onRelease := t.onRelease
		t.onRelease = func() {
			_ = w.Remove(heldWatch)
			if onRelease != nil {
				onRelease()
			}
		}
		// What it was given before its watch was set is reported by none.
		if err := t.drain(); err != nil {
			return err
		}
	}
	// watchDir watches dir, once it exists, before the next look at the
	// file, so a file created in between is still reported. A directory
	// that cannot be watched (no watch left, fs.inotify.max_user_watches)
	// is looked at instead.
	var watched os.FileInfo // the directory watched
	watchDir := func() (stop bool, err error) {
		for {
			ok, err := awaitDir(ctx, w, dir, t.released, t.look)
			var cannot watchError
			if errors.As(err, &cannot) {
				return true, t.poll(ctx)
			}
			if err != nil {
				return true, err
			}
			if !ok {
				return true, nil
			}
			err = w.Add(dir)
			if errors.Is(err, fs.ErrNotExist) {
				continue // gone again
			}
			if err != nil {
				return true, t.poll(ctx)
			}
			if watched, err = os.Stat(dir); err != nil {
				_ = w.Remove(dir)
				continue
			}
			return false, t.sync()
		}
	}
	// dirGone reports whether the directory watched is no longer at dir.
	// Its own removal is not always reported at once: the kernel tells
	// of it only once nothing holds it, and the open file in it does.
	dirGone := func() bool {
		info, err := os.Stat(dir)
		return err != nil || !os.SameFile(info, watched)
	}
	// While the file is detached, the directory above dir is watched too:
	// the kernel reports the removal of a directory only once nothing
	// holds it, and the open file in it does, while the directory above
	// reports it at once.
	parent, parentWatched := filepath.Dir(dir), false
	unwatchParent := func() {
		if parentWatched {
			_ = w.Remove(parent)
			parentWatched = false
		}
	}
	// rewatch lets the watch of a directory no longer at dir go, with the
	// file read from it if that is no longer at path either, and watches
	// the directory now at dir, or waits for one.
	rewatch := func() (stop bool, err error) {
		if err := t.drain(); err != nil {
			return true, err
		}
		if t.detached && !t.held {
			t.drop()
		}
		unwatchParent()
		// Events still to come of the old watch are then not reported
		// (they could not be told from those of the new one).
		_ = w.Remove(dir)
		return watchDir()
	}
	// settle rewatches when the directory is gone, and watches the one
	// above while the file is detached.
	settle := func() (stop bool, err error) {
		if !t.detached {
			unwatchParent()
			return false, nil
		}
		if !parentWatched && parent != dir {
			// Not watchable (gone too, or no watch left): dirGone below
			// tells the first, and the second only delays the news.
			parentWatched = w.Add(parent) == nil
		}
		// Looked at once the directory above is watched: a removal before
		// it was is reported by no event.
		if dirGone() {
			return rewatch()
		}
		return false, nil
	}
	if stop, err := watchDir(); stop || err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			stop := false
			switch {
			case filepath.Clean(ev.Name) == dir:
				if (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) && dirGone() {
					stop, err = rewatch()
				}
			case filepath.Clean(ev.Name) == file:
				if err = t.sync(); err == nil {
					stop, err = settle()
				}
			case t.detached:
				// Only a renamed-away file can change without an event
				// naming path; reading it costs one read at EOF.
				err = t.drain()
			}
			if stop || err != nil {
				return err
			}
		case <-t.released:
			if err := t.look(); err != nil {
				return err
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				return fmt.Errorf("follow %s: %w", path, err)
			}
			// Events were dropped: look at the file as it is now.
			if err := t.sync(); err != nil {
				return err
			}
			if stop, err := settle(); stop || err != nil {
				return err
			}
		}
	}
}

// newWatcher is fsnotify.NewWatcher (a variable for the tests of the
// polling Follow falls back to).
var newWatcher = fsnotify.NewWatcher

// pollEvery is how often Follow looks at the file when it cannot be told
// of changes.
const pollEvery = 250 * time.Millisecond

// poll is Follow without inotify: the same looks at the file (sync), made
// every pollEvery instead of after each event. A file removed and created
// again between two looks, on the same inode number, reads as the old
// one grown. A missing directory is a missing file, and the file that was
// in it is let go, as Follow does.
func (t *tailer) poll(ctx context.Context) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if err := t.sync(); err != nil {
			return err
		}
		if t.detached && !t.held {
			if _, err := os.Stat(filepath.Dir(t.path)); errors.Is(err, fs.ErrNotExist) {
				t.drop()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-t.released:
			if err := t.look(); err != nil {
				return err
			}
		}
	}
}

// awaitDir returns once dir exists (true), or once ctx is done (false). It
// watches the nearest directory above dir that exists, where dir (or the
// next directory on the way to it) will be created, and looks again after
// each event there. Other watches of w report meanwhile too: seen is
// called after each event, and its error returned (a held file, see
// followFile, is read on its events), and once released is closed (the
// held file is then let go). A watchError means it cannot watch: Follow
// polls instead.
func awaitDir(ctx context.Context, w *fsnotify.Watcher, dir string, released <-chan struct{}, seen func() error) (bool, error) {
	for {
		above := nearestDir(dir)
		if above == dir {
			return true, nil
		}
		if err := w.Add(above); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, watchError{err}
		}
		// Looked at again now that it is watched: the next directory on the
		// way may have been created in between, and its creation reported
		// by no watch.
		if nearestDir(dir) == above {
			select {
			case <-ctx.Done():
			case <-released:
				released = nil // closed: taken once
				if err := seen(); err != nil {
					_ = w.Remove(above)
					return false, err
				}
			case <-w.Events:
				if err := seen(); err != nil {
					_ = w.Remove(above)
					return false, err
				}
			case err := <-w.Errors:
				if err != nil && !errors.Is(err, fsnotify.ErrEventOverflow) {
					_ = w.Remove(above)
					return false, watchError{err}
				}
			}
		}
		// Gone already when it was removed or renamed itself.
		_ = w.Remove(above)
		if ctx.Err() != nil {
			return false, nil
		}
	}
}

// watchError is a watch awaitDir cannot set or keep.
type watchError struct{ err error }

func (e watchError) Error() string { return e.err.Error() }
func (e watchError) Unwrap() error { return e.err }

// nearestDir is dir if it exists, else the nearest directory above it
// that does (the root at worst, or "." for a relative dir).
func nearestDir(dir string) string {
	for dir != filepath.Dir(dir) {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		dir = filepath.Dir(dir)
	}
	return dir
}

// tailer is Follow's view of the file: what is open, where reading is,
// and the start of a line whose newline has not arrived yet.
type tailer struct {
	path string
	from int64 // offset for the file found at the start; 0 afterwards
	out  func(string)

	f        *os.File
	off      int64 // next byte of f to read
	pending  []byte
	detached bool // f is no longer at path but may still be appended to
	// held: f is the file deleted from path that a server holds open,
	// opened through its /proc/PID/fd link (followFile's held): read
	// until a file appears at path, even once its directory is gone too,
	// or until released is closed (Held.released): then it is let go, and
	// onRelease, when set, called.
	held      bool
	released  <-chan struct{}
	onRelease func()
	buf       []byte
}

// look reads what is new in the open file and, once no process holds the
// held file open any more, reads it to its end and lets it go (see
// followFile). Not once a file at path took its place: that let it go.
func (t *tailer) look() error {
	if err := t.drain(); err != nil {
		return err
	}
	select {
	case <-t.released:
	default:
		return nil
	}
	t.released = nil // closed: taken once
	if !t.held {
		return nil
	}
	t.drop()
	if t.onRelease != nil {
		t.onRelease()
	}
	return nil
}

// openHeld opens the file held, to read it from t.from on; one its link
// names no more (the server ended, or closed it) opens nothing, and the
// file at path is waited for.
func (t *tailer) openHeld(held *Held) error {
	f, info, err := held.open()
	if err != nil {
		return fmt.Errorf("follow %s (deleted, read through %s): %w", t.path, held.Link, err)
	}
	if f == nil {
		t.from = 0 // meant for the held file: a file at path is a new one
		return nil
	}
	t.f, t.off, t.detached, t.held = f, t.from, true, true
	if t.from > info.Size() { // cut since the caller looked
		t.off = 0
	}
	t.from = 0
	return nil
}

// sync brings the tailer in line with what is at path now and reads
// whatever is new.
func (t *tailer) sync() error {
	defer func() { t.from = 0 }()
	cur, err := os.Stat(t.path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("follow %s: %w", t.path, err)
	}
	if t.f != nil {
		open, err := t.f.Stat()
		if err != nil {
			return fmt.Errorf("follow %s: %w", t.path, err)
		}
		if exists && os.SameFile(open, cur) {
			if open.Size() < t.off {
				t.flushPending()
				t.off = 0
			}
			return t.drain()
		}
		// Replaced or gone: first finish what the old file holds.
		if err := t.drain(); err != nil {
			return err
		}
		if !exists {
			t.detached = true
			return nil
		}
		t.flushPending()
		t.close()
	}
	if !exists {
		return nil
	}
	f, err := os.Open(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // gone again between the stat and the open: wait for the next event
	}
	if err != nil {
		return fmt.Errorf("follow %s: %w", t.path, err)
	}
	t.f, t.off = f, 0
	if t.from > 0 {
		info, err := f.Stat()
		if err != nil {
			return fmt.Errorf("follow %s: %w", t.path, err)
		}
		if t.from <= info.Size() {
			t.off = t.from
		}
	}
	return t.drain()
}

// drain reads the open file from t.off to its current end.
func (t *tailer) drain() error {
	if t.f == nil {
		return nil
	}
	for {
		n, err := t.f.ReadAt(t.buf, t.off)
		if n > 0 {
			t.off += int64(n)
			t.emit(t.buf[:n])
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("follow %s: %w", t.path, err)
		}
	}
}

// emit passes on every complete line in pending+b and keeps the rest.
func (t *tailer) emit(b []byte) {
	t.pending = append(t.pending, b...)
	rest := t.pending
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		t.out(string(bytes.TrimSuffix(rest[:i], []byte{'\r'})))
		rest = rest[i+1:]
	}
	for len(rest) >= maxLine {
		t.out(string(rest[:maxLine]))
		rest = rest[maxLine:]
	}
	t.pending = append(t.pending[:0], rest...)
}

// flushPending emits a partial line whose file will never complete it.
func (t *tailer) flushPending() {
	if len(t.pending) > 0 {
		t.out(string(t.pending))
		t.pending = t.pending[:0]
	}
}

// drop lets the open file go: its partial last line is shown as it is,
// since nothing will complete it where Follow can see.
func (t *tailer) drop() {
	t.flushPending()
	t.close()
}

// close closes the open file. A partial line is dropped, not flushed: when
// Follow stops, its caller is no longer interested in the line's start.
func (t *tailer) close() {
	t.pending = t.pending[:0]
	if t.f != nil {
		t.f.Close()
		t.f, t.detached, t.held = nil, false, false
	}
}
