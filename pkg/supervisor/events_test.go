package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

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
	if len(got) != 1 || !strings.HasSuffix(got[0], " mi-1 failed: "+failed.Message) {
		t.Fatalf("mi-1's recent events are %q, want the failure as it was said", got)
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
	if !slices.Equal(got, want) {
		t.Fatalf("mi-1's last 3 events are %.200q, want %.200q", got, want)
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
	if err != nil || len(got) != 2 || !strings.HasSuffix(got[0], "before") || !strings.HasSuffix(got[1], "after") {
		t.Fatalf("recent events across the rotation: %q, %v", got, err)
	}
}

// A stop's durable write syncs the event log, which a rotation replaces:
// it takes the log under the lock the rotation holds (go test -race saw
// the sync read the log as a rotation wrote it).
func TestEventLogSyncedAsItIsRotated(t *testing.T) {
	t.Parallel()
	store, sup := supervisorOf(t, func(*state.File) {})
	sup.emit(Event{Instance: "mi-1", State: StateStopping, Message: "SIGTERM"})
	old := fmt.Sprintf("/proc/self/fd/%d", sup.events.Fd())
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
