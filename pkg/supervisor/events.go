package supervisor

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mictl/mictl/pkg/logs"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/words"
)

// The event log holds one line per event (Event.String): time, instance,
// state, pid and message, so that its readers (mictl status NAME, a state
// rebuilt from the homes, tail and grep) take a line for an event. A
// message of several lines (a failed start's, with the server's last
// output) keeps them on its one line, its line breaks written as \n and
// its backslashes as \\; parseEvent gives the event back as it was said.
var eventEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`)

// eventLine is ev as the event log holds it.
func eventLine(ev Event) string { return eventEscaper.Replace(ev.String()) }

// eventText is an event log line as its event was said: its line breaks
// and backslashes back. A backslash before any other character (a line
// of a mictl that wrote them as they were) stays.
func eventText(line string) string { return eventUnescaper.Replace(line) }

// eventUnescaper undoes eventEscaper; a Replacer matches left to right,
// so \\n is a backslash and an n.
var eventUnescaper = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r")

// eventInstance is the instance a line of the event log is about: its
// second word.
func eventInstance(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// parseEvent is the event a line of the event log says (the inverse of
// eventLine); false for a line that is not one (cut short, or not
// mictl's).
func parseEvent(line string) (Event, bool) {
	head, msg, _ := strings.Cut(eventText(line), ": ")
	f := strings.Fields(head)
	if len(f) < 3 || len(f) > 4 {
		return Event{}, false
	}
	at, err := time.Parse(eventTimeLayout, f[0])
	if err != nil {
		return Event{}, false
	}
	ev := Event{Time: at, Instance: f[1], State: f[2], Message: msg}
	if len(f) == 4 {
		pid, ok := strings.CutPrefix(f[3], "pid=")
		if ev.PID, err = strconv.Atoi(pid); !ok || err != nil {
			return Event{}, false
		}
	}
	return ev, true
}

// RecentEvents returns the last n events about name, oldest first, read
// from the end of the event log, and of its last rotated copy when the
// log, rotated lately, holds fewer.
func RecentEvents(store *state.Store, name string, n int) ([]Event, error) {
	path := EventsLog(store)
	copies, err := logs.Rotated(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if len(copies) > 0 {
		files = append(files, copies[len(copies)-1])
	}
	var found []Event // the newest first
	for _, file := range files {
		err = logs.Backwards(file, func(line []byte) bool {
			if text := string(line); eventInstance(text) == name {
				if ev, ok := parseEvent(text); ok {
					found = append(found, ev)
				}
			}
			return len(found) < n
		})
		if err != nil || len(found) >= n {
			break
		}
	}
	slices.Reverse(found)
	return found, err
}

// maxEventLine bounds one line of the event log as a whole read takes it
// in; the rest of a longer line is skipped.
const maxEventLine = 1 << 20

// eachEvent calls fn with every line of the event log at path, oldest
// first: its rotated copies, then the log itself. A missing log has none.
func eachEvent(path string, fn func(line string)) error {
	copies, err := logs.Rotated(path)
	if err != nil {
		return err
	}
	for _, file := range append(copies, path) {
		if err := logs.Lines(file, maxEventLine, fn); err != nil {
			return err
		}
	}
	return nil
}

// RotateEventLog rotates the event log past maxBytes, keeping keep old
// copies. The supervisor is its only writer, so the log is renamed and
// a new one opened (logs.ReplaceIfLarger) rather than copied: every
// event is written under s.mu, which is held only for the renames. The
// daemon calls it every few seconds: it also writes the events a full
// disk held back (see eventLog) once there is room, with no new event.
func (s *Supervisor) RotateEventLog(maxBytes int64, keep int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := logs.ReplaceIfLarger(EventsLog(s.store), maxBytes, keep)
	if next != nil {
		s.events.file.Close()
		s.events.file = next
	}
	s.events.write()
	return err
}

// eventFile is the event log as eventLog writes it: an *os.File opened
// for appending.
type eventFile interface {
	io.WriteSeeker
	Truncate(size int64) error
	Sync() error
	Close() error
}

// maxHeldEvents bounds the events an eventLog holds while the log cannot
// be written: a crash loop on a full disk must not grow the daemon
// without end. After a failed write, new events are held without a try
// for heldRetry: each try writes every event held.
const (
	maxHeldEvents = 4096
	heldRetry     = time.Second
)

// eventLog appends events to the event log, one line each. A write the
// file does not take whole (a full disk, a read-only state directory)
// leaves no part of its line behind, and the event waits in memory, with
// those after it, for the next write that the file takes: once there is
// room again the log holds every event, in order. A torn line ran into
// the next event's, and both were lost to the log's readers (mictl status
// NAME, a state rebuilt from the homes, which takes a start's arguments
// from its "starting" line), as was every event in between. Its methods
// are called under the supervisor's s.mu.
type eventLog struct {
	file eventFile
	// held are the events not in the file yet, oldest first; dropped
	// counts those let go of beyond maxHeldEvents, the last at droppedAt.
	held      []Event
	dropped   int
	droppedAt time.Time
	// torn is set when a failed write's part could not be cut off again:
	// the next write ends that line first.
	torn bool
	// retryAt is when append may try again after a failed write.
	retryAt time.Time
}

// append writes ev after the events held before it.
func (l *eventLog) append(ev Event) {
	if len(l.held) == maxHeldEvents {
		l.dropped, l.droppedAt = l.dropped+1, l.held[0].Time
		l.held = l.held[1:]
	}
	l.held = append(l.held, ev)
	if time.Now().Before(l.retryAt) {
		return
	}
	l.write()
}

// write tries to write the held events, all of them or none.
func (l *eventLog) write() {
	if len(l.held) == 0 {
		return
	}
	var b strings.Builder
	if l.torn {
		b.WriteByte('\n')
	}
	if l.dropped > 0 {
		lost := Event{Time: l.droppedAt, Instance: ReloadEvent, State: "events-lost",
			Message: fmt.Sprintf("the event log could not be written, and %s up to this time went missing: only the %d after %s were held until it could", words.Count(l.dropped, "event"), maxHeldEvents, words.ItOrThem(l.dropped))}
		b.WriteString(eventLine(lost) + "\n")
	}
	for _, ev := range l.held {
		b.WriteString(eventLine(ev) + "\n")
	}
	n := 0
	end, err := l.file.Seek(0, io.SeekEnd)
	if err == nil {
		n, err = l.file.Write([]byte(b.String()))
	}
	if err == nil {
		l.held, l.dropped, l.torn, l.retryAt = l.held[:0], 0, false, time.Time{}
		return
	}
	l.retryAt = time.Now().Add(heldRetry)
	if n > 0 {
		l.torn = l.torn || l.file.Truncate(end) != nil
	}
}

// close writes what it holds, if it can, and closes the log.
func (l *eventLog) close() error {
	l.write()
	return l.file.Close()
}
