package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/state"
)

// A failed start's message, with the server's last output on lines of
// its own, is one line of the event log, and comes back as it was said:
// a reader taking a line for an event (mictl status NAME, tail, a state
// rebuilt from the homes) keeps the output with its event.
func TestEventLogHasOneLinePerEvent(t *testing.T) {
	t.Parallel()
	store, sup := supervisorOf(t, func(*state.File) {})
	failed := Event{Instance: "mi-1", State: StateFailed, Message: "start script exited; last output:\n    [ERROR] WSO2 MI is supported only between JDK 11 and JDK 21\n    C:\\not\\a\\newline"}
	sup.emit(failed)
	sup.emit(Event{Instance: "mi-2", State: StateReady, PID: 7})
	data, err := os.ReadFile(EventsLog(store))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 || eventInstance(lines[0]) != "mi-1" || eventInstance(lines[1]) != "mi-2" {
		t.Fatalf("the event log holds, for two events:\n%s", data)
	}
	got, err := RecentEvents(store, "mi-1", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].State != StateFailed || got[0].Message != failed.Message {
		t.Fatalf("mi-1's recent events are %+v, want the failure as it was said", got)
	}
}

// Recent events are read from the end of the log whatever its lines'
// length, and from its last rotated copy when the log holds fewer.
func TestRecentEventsReadTheRotatedCopyToo(t *testing.T) {
	t.Parallel()
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := EventsLog(store)
	long := "2026-12-03T10:00:02.000Z mi-1 degraded: " + strings.Repeat("x", 256<<10)
	write := func(path string, lines ...string) {
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(log+".2", "2026-12-03T09:00:00.000Z mi-1 starting pid=1: old")
	write(log+".1", "2026-12-03T10:00:00.000Z mi-1 starting pid=2: x", "2026-12-03T10:00:01.000Z mi-2 ready pid=3")
	write(log, long, "2026-12-03T10:00:03.000Z mi-2 ready pid=5", "2026-12-03T10:00:04.000Z mi-1 ready pid=4")
	got, err := RecentEvents(store, "mi-1", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2026-12-03T10:00:00.000Z mi-1 starting pid=2: x", long, "2026-12-03T10:00:04.000Z mi-1 ready pid=4"}
	var lines []string
	for _, ev := range got {
		lines = append(lines, eventLine(ev))
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("mi-1's last 3 events are %.200q, want %.200q", lines, want)
	}
}

// An event log line gives back the event it was written for, whatever
// its message says (a colon and a space, line breaks, backslashes), and a
// line that is not an event is none.
func TestParseEventIsEventLinesInverse(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 4, 22, 30, 1, 250e6, time.FixedZone("", 3600))
	for _, ev := range []Event{
		{Time: at, Instance: "mi-1", State: StateReady},
		{Time: at.UTC(), Instance: "mi-2", State: StateStarting, PID: 42, Message: "started " + startedScript + " -DportOffset=10"},
		{Time: at, Instance: "mi-3", State: StateFailed, Message: "port 8290: held by pid 7: python3\nC:\\x\\n"},
		{Time: at, Instance: "mi-3", State: "deployed", PID: 9, Message: "hello.car: ready"},
	} {
		got, ok := parseEvent(eventLine(ev))
		if !ok || !got.Time.Equal(ev.Time) || got.Instance != ev.Instance || got.State != ev.State || got.PID != ev.PID || got.Message != ev.Message {
			t.Errorf("the line %q gives %+v (%v), want %+v", eventLine(ev), got, ok, ev)
		}
	}
	for _, line := range []string{"", "2026-12-04T22:30:01.250Z mi-1", "yesterday mi-1 ready", "2026-12-04T22:30:01.250Z mi-1 ready pid=x", "2026-12-04T22:30:01.250Z mi-1 ready pid=1 extra"} {
		if ev, ok := parseEvent(line); ok {
			t.Errorf("%q is no event, yet gives %+v", line, ev)
		}
	}
}

// A state rebuilt from the homes learns each instance's history from the
// event log's rotated copies too, and past a line longer than a whole
// read takes in.
func TestEventHistoryReadsEveryCopy(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), eventsFile)
	write := func(path string, lines ...string) {
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(log+".1", "2026-12-03T10:00:00.000Z mi-1 starting pid=2: "+startedScript+" -DportOffset=37")
	write(log, "2026-12-03T10:00:01.000Z mi-2 degraded: "+strings.Repeat("x", 2*maxEventLine), "2026-12-03T10:00:02.000Z mi-1 ready pid=4")
	h := eventHistory(log)["mi-1"]
	if h.last != StateReady || !slices.Equal(h.args, []string{"-DportOffset=37"}) {
		t.Fatalf("mi-1's history: %+v; want ready, started with -DportOffset=37", h)
	}
}

// The event log rotated under the daemon goes on from its start, and the
// recent events span the rotation.
func TestRotateEventLog(t *testing.T) {
	t.Parallel()
	store, sup := supervisorOf(t, func(*state.File) {})
	sup.emit(Event{Instance: "mi-1", State: StateStarting, Message: "before"})
	before, err := os.Stat(EventsLog(store))
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.RotateEventLog(1, 1); err != nil {
		t.Fatal(err)
	}
	// Renamed, not copied: no large copy and its fsync under the lock
	// every event waits for.
	if copied, err := os.Stat(EventsLog(store) + ".1"); err != nil || !os.SameFile(before, copied) {
		t.Fatalf("the rotated event log is not the log renamed (%v)", err)
	}
	sup.emit(Event{Instance: "mi-1", State: StateReady, Message: "after"})
	data, err := os.ReadFile(EventsLog(store))
	if err != nil || strings.Count(string(data), "\n") != 1 || !strings.Contains(string(data), "mi-1 ready: after") {
		t.Fatalf("the event log after its rotation holds %q (%v), want only the event since", data, err)
	}
	got, err := RecentEvents(store, "mi-1", 5)
	if err != nil || len(got) != 2 || got[0].Message != "before" || got[1].Message != "after" {
		t.Fatalf("recent events across the rotation: %+v, %v", got, err)
	}
}

// A stop's durable write syncs the event log, which a rotation replaces:
// it takes the log under the lock the rotation holds (go test -race saw
// the sync read the log as a rotation wrote it).
func TestEventLogSyncedAsItIsRotated(t *testing.T) {
	t.Parallel()
	store, sup := supervisorOf(t, func(*state.File) {})
	sup.emit(Event{Instance: "mi-1", State: StateStopping, Message: "SIGTERM"})
	old := fmt.Sprintf("/proc/self/fd/%d", sup.events.file.(*os.File).Fd())
	rotated := make(chan error, 1)
	go func() { rotated <- sup.RotateEventLog(0, 1) }()
	// The rotation's end is seen in /proc (the old log closed), not told
	// on a channel: that would order the sync after it and hide the race.
	closed := func() bool {
		link, _ := os.Readlink(old)
		return link != EventsLog(store) && link != EventsLog(store)+".1"
	}
	var err error
	ended := false
	for !closed() {
		if ended {
			t.Fatalf("the rotation ended with the old log open: %v", err)
		}
		select {
		case err = <-rotated:
			ended = true // it may have closed it since the look: look again
		default:
			runtime.Gosched()
		}
	}
	sup.writeIntent()
	if !ended {
		err = <-rotated
	}
	if err != nil {
		t.Fatal(err)
	}
}

// fullDisk is an event log file on a disk with room bytes left: a write
// beyond them writes what fits and fails, as write(2) does.
type fullDisk struct {
	*os.File
	room int
}

func (f *fullDisk) Write(b []byte) (int, error) {
	n, err := f.File.Write(b[:min(len(b), f.room)])
	f.room -= n
	if err == nil && n < len(b) {
		err = syscall.ENOSPC
	}
	return n, err
}

// Events that come while the event log cannot be written are written
// once it can, in order, and a write that failed half-way leaves nothing
// of its line behind. On a full disk the log was left ending in a torn
// line, which the next event's line ran into once space was back: both
// were lost to mictl status NAME and to a state rebuilt from the homes
// (a start's arguments are on its "starting" line), as was every event
// in between.
func TestEventLogCatchesUpAfterAFullDisk(t *testing.T) {
	t.Parallel()
	store, sup := supervisorOf(t, func(*state.File) {})
	disk := &fullDisk{File: sup.events.file.(*os.File), room: 30}
	sup.mu.Lock()
	sup.events.file = disk
	sup.mu.Unlock()
	held := []Event{
		{Instance: "mi-1", State: StateStarting, PID: 41, Message: startedScript + " -DportOffset=3"},
		{Instance: "mi-1", State: StateReady, PID: 42, Message: "ready in 9ms"},
	}
	for _, ev := range held {
		sup.emit(ev)
	}
	if data, err := os.ReadFile(EventsLog(store)); err != nil || len(data) != 0 {
		t.Fatalf("the full disk's event log holds %q (%v), want nothing of the events that did not fit", data, err)
	}

	disk.room = 1 << 20
	// The daemon's look at its logs, every few seconds, writes them with
	// no new event.
	if err := sup.RotateEventLog(1<<20, 1); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(EventsLog(store)); err != nil || strings.Count(string(data), "\n") != len(held) {
		t.Fatalf("the event log once the disk has room holds %q (%v), want the %d events held", data, err, len(held))
	}
	sup.emit(Event{Instance: "mi-1", State: StateCrashed, PID: 42, Message: "server pid 42 exited"})
	got, err := RecentEvents(store, "mi-1", 5)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, ev := range got {
		states = append(states, ev.State)
	}
	if want := []string{StateStarting, StateReady, StateCrashed}; !slices.Equal(states, want) || got[0].Message != held[0].Message {
		t.Fatalf("events once the disk has room: %+v, want %v, the start's arguments kept", got, want)
	}
}

// Beyond maxHeldEvents the oldest events held are let go of, and the log
// says how many where they were.
func TestEventLogSaysWhatAFullDiskLost(t *testing.T) {
	t.Parallel()
	store, sup := supervisorOf(t, func(*state.File) {})
	disk := &fullDisk{File: sup.events.file.(*os.File)}
	sup.mu.Lock()
	sup.events.file = disk
	sup.mu.Unlock()
	for i := range maxHeldEvents + 2 {
		sup.emit(Event{Instance: "mi-1", State: StateBackoff, Message: fmt.Sprintf("restart %d", i+1)})
	}
	disk.room = 1 << 30
	if err := sup.RotateEventLog(1<<30, 1); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(EventsLog(store))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	lost, ok := parseEvent(lines[0])
	if !ok || lost.State != "events-lost" || !strings.Contains(lost.Message, "2 events up to this time went missing") ||
		len(lines) != maxHeldEvents+1 || !strings.HasSuffix(lines[1], ": restart 3") {
		t.Fatalf("the event log after a full disk lost 2 events begins %q, then %q (%d lines)", lines[0], lines[1], len(lines))
	}
}

// A runner's return is signalled (RunnerEnded) however many events its
// subscribers lose: the daemon leaves on that signal once its last
// instance ended. It waited for the instance's failed or stopped event,
// which its subscription lost when a huge deployment's events came
// faster than it read them, and stayed until its next log check (10 s).
func TestRunnerEndedIsSaidWhenEveryEventIsLost(t *testing.T) {
	saved := subscriberBuffer
	subscriberBuffer = 0 // nothing reads: every event is lost
	t.Cleanup(func() { subscriberBuffer = saved })
	dir := t.TempDir()
	names := []string{"mi-1", "mi-2", "mi-3"}
	_, sup := supervisorOf(t, func(f *state.File) {
		f.Instances = nil
		for _, name := range names {
			home := filepath.Join(dir, name) // no start script: each start fails at once
			if err := os.MkdirAll(home, 0o755); err != nil {
				t.Fatal(err)
			}
			f.Instances = append(f.Instances, state.Instance{Name: name, Home: home, State: state.StateStopped})
		}
	})
	_, lost := sup.Subscribe()
	if err := sup.Start(names); err != nil {
		t.Fatal(err)
	}
	// A signal follows the last runner's return: the look after it
	// finds none active.
	deadline := time.After(time.Minute)
	for {
		select {
		case <-sup.RunnerEnded():
		case <-deadline:
			t.Fatalf("no runner's return was signalled within a minute of the starts, which fail at once; active: %v", sup.Active())
		}
		if len(sup.Active()) == 0 {
			break
		}
	}
	if n := lost(); n == 0 {
		t.Fatal("the subscription lost no event: the test shows nothing")
	}
}

// A subscription that keeps only some events (a restart's: those of its
// roll's window) neither queues nor counts as lost the others: a restart
// waiting its turn behind a roll of the same instances said "up to N
// lines of progress went missing" of the roll ahead's events, which it
// never was to show.
func TestASubscriptionCountsLostOnlyWhatItKeeps(t *testing.T) {
	saved := subscriberBuffer
	subscriberBuffer = 1
	t.Cleanup(func() { subscriberBuffer = saved })
	_, sup := supervisorOf(t, func(*state.File) {})
	window := &rollWindow{}
	events, lost := sup.subscribe([]string{"mi-1"}, false, false, func(ev Event) bool { return window.holds(ev.Time) })
	for range 3 { // the roll ahead's, before this one's window
		sup.emit(Event{Instance: "mi-1", State: StateStopping, Transient: true})
	}
	window.begin()
	for range 3 { // its own: the first queued, the rest lost
		sup.emit(Event{Instance: "mi-1", State: StateStarting, Transient: true})
	}
	window.end()
	time.Sleep(time.Millisecond) // the next events come after the window
	sup.emit(Event{Instance: "mi-1", State: StateReady, Transient: true})
	if n := lost(); n != 2 {
		t.Errorf("lost %d events, want 2: those of the window that did not fit", n)
	}
	var got []string
	for ev := range events {
		got = append(got, ev.State)
	}
	if !slices.Equal(got, []string{StateStarting}) {
		t.Errorf("the subscription got %v, want the window's first event alone", got)
	}
}

// A start that ends without a runner (refused: it names an instance the
// state file no longer has) is signalled as a runner's return is: the
// daemon, which looked while it was pending and stayed for it, looks
// again. Nothing else followed, and it stayed until its next log check.
func TestRunnerEndedIsSaidWhenAStartEndsWithoutARunner(t *testing.T) {
	_, sup := supervisorOf(t, func(f *state.File) { f.Instances = nil })
	select {
	case <-sup.RunnerEnded(): // none ran: nothing to take, but leave none behind
	default:
	}
	if err := sup.Start([]string{"mi-1"}); err == nil {
		t.Fatal("a start of an instance the state file does not have succeeded")
	}
	select {
	case <-sup.RunnerEnded():
	default:
		t.Fatalf("the start ended without a runner and without a signal; pending: %v", sup.startsPending())
	}
}
