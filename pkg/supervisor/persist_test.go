package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/state"
)

// writeLog records what a persister writes, batch by batch.
type writeLog struct {
	mu      sync.Mutex
	batches [][]string
	durable []bool
}

func (w *writeLog) write(batch []mutation, durable bool) error {
	names := make([]string, len(batch))
	for i, m := range batch {
		names[i] = m.name
	}
	w.mu.Lock()
	w.batches = append(w.batches, names)
	w.durable = append(w.durable, durable)
	w.mu.Unlock()
	return nil
}

func (w *writeLog) snapshot() (writes int, names []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.batches {
		names = append(names, b...)
	}
	return len(w.batches), names
}

func noop(*state.Instance) {}

// queueOutcome queues a change of nothing to the named instance, as an
// outcome (see mutation.outcome).
func queueOutcome(p *persister, name string) {
	p.enqueue(mutation{name: name, fn: noop, outcome: true})
}

// flushPromptly flushes p and fails the test if the flush is held back
// (the tests use an hour-long write gap, so waiting out the gap hangs).
func flushPromptly(t *testing.T, p *persister) {
	t.Helper()
	flushed := make(chan error, 1)
	go func() { flushed <- p.flush() }()
	select {
	case err := <-flushed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("flush waited for the write gap")
	}
}

// A burst of changes goes out in a few writes, every change once, in order.
func TestPersisterFoldsABurstIntoFewWrites(t *testing.T) {
	var w writeLog
	p := startPersister(time.Hour, w.write)
	defer p.close()
	const n = 30
	var want []string
	for i := range n {
		name := string(rune('a' + i%26))
		want = append(want, name)
		p.add(name, noop)
		time.Sleep(time.Millisecond) // as events come: apart, not all at once
	}
	flushPromptly(t, p)
	writes, got := w.snapshot()
	// The first change is written at once, the rest wait for the gap and
	// go together (the flush cuts the wait short).
	if writes < 1 || writes > 2 {
		t.Errorf("%d writes for %d changes, want 1 or 2", writes, n)
	}
	if len(got) != n {
		t.Fatalf("%d changes written, want %d", len(got), n)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("change %d is %q, want %q: order lost", i, got[i], want[i])
		}
	}
}

// flush waits for the write, and the gap never delays it; close writes
// what is still queued.
func TestPersisterFlushAndCloseAreNotHeldBack(t *testing.T) {
	var w writeLog
	p := startPersister(time.Hour, w.write)
	p.add("first", noop) // written at once: no write before it
	flushPromptly(t, p)
	p.add("second", noop) // held back by the hour-long gap, unless flushed
	flushPromptly(t, p)
	p.add("third", noop)
	closed := make(chan struct{})
	go func() { p.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("close waited for the write gap")
	}
	if _, got := w.snapshot(); len(got) != 3 || got[2] != "third" {
		t.Errorf("written %v, want first, second and third", got)
	}
}

// Writes nobody waits for skip the fsyncs; a flush is answered by a
// durable write, even when the changes it waits for were saved already.
func TestPersisterFlushIsDurable(t *testing.T) {
	var w writeLog
	p := startPersister(time.Hour, w.write)
	defer p.close()
	p.add("first", noop) // written at once, nobody waiting
	for {
		if writes, _ := w.snapshot(); writes == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	flushPromptly(t, p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if want := []bool{false, true}; fmt.Sprint(w.durable) != fmt.Sprint(want) {
		t.Errorf("durable writes %v, want %v", w.durable, want)
	}
}

// A write that fails keeps its changes: flush reports the failure, the
// changes are tried again (at the next flush, or by the retries), and
// the first write that succeeds takes them, in order, with the later ones.
func TestPersisterKeepsWhatAFailedWriteCouldNotSave(t *testing.T) {
	full := errors.New("no space left on device")
	var mu sync.Mutex
	failing := true
	var saved []string
	p := startPersister(time.Hour, func(batch []mutation, _ bool) error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return full
		}
		for _, m := range batch {
			saved = append(saved, m.name)
		}
		return nil
	})
	defer p.close()
	p.add("lost-for-now", noop)
	if err := p.flush(); !errors.Is(err, full) {
		t.Fatalf("flush after a failed write = %v, want %v", err, full)
	}
	if f := p.failure(); f == nil || f.Error != full.Error() || f.Since.IsZero() {
		t.Fatalf("failure() = %+v, want %q with its time", f, full)
	}
	if got := len(p.pending()); got != 1 {
		t.Fatalf("%d changes pending, want the one that could not be saved", got)
	}
	mu.Lock()
	failing = false // the disk has room again
	mu.Unlock()
	p.add("later", noop)
	if err := p.flush(); err != nil {
		t.Fatalf("flush once writes succeed = %v", err)
	}
	if p.failure() != nil || len(p.pending()) != 0 {
		t.Fatalf("after a good write: failure %+v, %d pending", p.failure(), len(p.pending()))
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(saved) != "[lost-for-now later]" {
		t.Fatalf("saved %v, want both changes in order", saved)
	}
}

// The retries need no flush: the file catches up by itself once writes
// succeed again.
func TestPersisterRetriesAFailedWrite(t *testing.T) {
	var tries atomic.Int32
	done := make(chan struct{})
	p := startPersister(time.Millisecond, func(batch []mutation, _ bool) error {
		if tries.Add(1) < 3 {
			return errors.New("no space left on device")
		}
		close(done)
		return nil
	})
	defer p.close()
	p.add("mi-1", noop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("not retried: %d tries", tries.Load())
	}
}

// writtenOnce is a supervisor (closed when the test ends) over a state
// file recording mi-1 ready, that has written the file once: its next
// write waits for the write gap.
func writtenOnce(t *testing.T) (*state.Store, *Supervisor) {
	t.Helper()
	store, err := state.Open(filepath.Join(t.TempDir(), ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(&state.File{Instances: []state.Instance{{Name: "mi-1", State: StateReady}}}); err != nil {
		t.Fatal(err)
	}
	sup, err := New(store, nil, DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sup.Close)
	sup.record("mi-1", Event{State: StateReady}, func(*state.Instance) {})
	if err := sup.Flush(); err != nil {
		t.Fatal(err)
	}
	return store, sup
}

// Stop reads the records of finished runners from the state file, so it
// must flush first: a failure recorded a moment ago (and held back by the
// write gap) must not be taken for a running instance, whose stop clears
// the last error. Stopped as a failed one, it keeps it.
func TestStopSeesARecordStillQueued(t *testing.T) {
	store, sup := writtenOnce(t)
	const why = "gave up after 0 restarts"
	sup.record("mi-1", Event{State: StateFailed, Message: why}, func(i *state.Instance) {
		i.State, i.LastError = StateFailed, why
	})
	if err := sup.Stop([]string{"mi-1"}, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := sup.Flush(); err != nil {
		t.Fatal(err)
	}
	f, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if inst, _ := f.Instance("mi-1"); inst.State != StateStopped || inst.LastError != why {
		t.Errorf("after stop: %s (%q), want %s keeping its last error (%q)", inst.State, inst.LastError, StateStopped, why)
	}
}

// A reader's flush (flushVisible), and close, fsync only where a change
// must outlive a power failure: outcomes after a durable write go
// without; a change that must not be lost, or one written before without
// fsync (a hurried write), makes the write durable.
func TestPersisterFsyncsOnlyWhatMustOutliveAPowerFailure(t *testing.T) {
	var w writeLog
	p := startPersister(time.Hour, w.write)
	visible := func() {
		t.Helper()
		if err := p.flushVisible(); err != nil {
			t.Fatal(err)
		}
	}
	written := func() int {
		writes, _ := w.snapshot()
		return writes
	}
	writeNow := func(name string) { // a write nobody waits for
		t.Helper()
		before := written()
		p.add(name, noop)
		p.hurry()
		for deadline := time.Now().Add(10 * time.Second); written() == before; {
			if time.Now().After(deadline) {
				t.Fatalf("%s was not written", name)
			}
			time.Sleep(time.Millisecond)
		}
	}
	writeNow("first")          // quick
	queueOutcome(p, "outcome") // durable: the write before was not fsynced
	visible()
	queueOutcome(p, "outcome") // quick
	visible()
	p.add("wanted", noop) // durable
	visible()
	writeNow("ready")                   // quick
	queueOutcome(p, "outcome after it") // durable: the write before was not fsynced
	visible()
	visible() // nothing to write
	queueOutcome(p, "last outcome")
	p.close() // quick
	w.mu.Lock()
	defer w.mu.Unlock()
	if want := []bool{false, true, false, true, false, true, false}; fmt.Sprint(w.durable) != fmt.Sprint(want) {
		t.Errorf("durable writes %v, want %v", w.durable, want)
	}
}

// The daemon's start record was written without fsync: a reader's first
// flush makes it durable, even when only outcomes are queued.
func TestPersisterOwesTheStartRecordAnFsync(t *testing.T) {
	var w writeLog
	p := startPersister(time.Hour, w.write)
	defer p.close()
	queueOutcome(p, "outcome") // may be written at once, without fsync
	if err := p.flushVisible(); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.durable) == 0 || !w.durable[len(w.durable)-1] {
		t.Errorf("durable writes %v, want the last one fsynced", w.durable)
	}
}

// A restart recorded while the state file cannot be written (a full disk,
// a read-only state directory) keeps the time it began. The record's
// change ran again at every read and every retry, and read the clock
// each time: status showed every such instance up for 0s as long as the
// disk stayed full, as a crash loop would, and once the file caught up
// its uptime counted from the moment space came back.
func TestARestartRecordedWhileTheStateFileCannotBeWrittenKeepsItsStartTime(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	var full atomic.Bool
	s.sup.persist.close()
	s.sup.persist = startPersister(writeGap, func(batch []mutation, durable bool) error {
		if full.Load() {
			return errors.New("write state.json: no space left on device")
		}
		return s.sup.save(batch, durable)
	})
	s.reload("instances = 1\n")
	s.next("mi-1", StateReady)
	f, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := f.Instance("mi-1")

	full.Store(true)
	killed := time.Now()
	if err := syscall.Kill(inst.Server.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ready := s.next("mi-1", StateReady)
	startedAt := func(f *state.File) time.Time {
		t.Helper()
		inst, _ := f.Instance("mi-1")
		if inst.Server.PID != ready.PID {
			t.Fatalf("mi-1's server is %d, want the restarted %d", inst.Server.PID, ready.PID)
		}
		return inst.StartedAt
	}
	if err := s.sup.Flush(); err == nil {
		t.Fatal("the restart was saved although every write fails")
	}
	if f, err = s.sup.current(); err != nil {
		t.Fatal(err)
	}
	if at := startedAt(f); at.Before(killed) || at.After(ready.Time) {
		t.Fatalf("while the file cannot be written mi-1 started at %s, want between its crash (%s) and ready (%s)",
			at.Format(time.StampMicro), killed.Format(time.StampMicro), ready.Time.Format(time.StampMicro))
	}

	full.Store(false)
	s.await("the state file to catch up", func() bool { return s.sup.SaveFailure() == nil })
	if at := startedAt(s.flushed()); at.After(ready.Time) {
		t.Fatalf("once the file caught up mi-1 started at %s, after it was ready (%s)", at.Format(time.StampMicro), ready.Time.Format(time.StampMicro))
	}
}

// The cause of a failed save is recorded from the error number where the
// write failed, whatever the message says, for status to say what to do:
// it said "free the space" of a read-only file system too.
func TestPersisterRecordsTheCauseOfAFailedSave(t *testing.T) {
	for errno, want := range map[syscall.Errno]string{
		syscall.ENOSPC: SaveNoSpace, syscall.EROFS: SaveReadOnly, syscall.EACCES: SavePermissionDenied, syscall.EIO: "",
	} {
		failed := fmt.Errorf("save state: %w", &fs.PathError{Op: "write", Path: "instances/.mictl/state.json", Err: errno})
		p := startPersister(time.Hour, func([]mutation, bool) error { return failed })
		p.add("mi-1", noop)
		if err := p.flush(); !errors.Is(err, errno) {
			t.Errorf("%v: flush = %v", errno, err)
		}
		f := p.failure()
		p.close()
		switch {
		case f == nil:
			t.Errorf("%v: no failure recorded", errno)
		case want == "" && f.Cause != nil:
			t.Errorf("%v: cause %q, want none (null)", errno, *f.Cause)
		case want != "" && (f.Cause == nil || *f.Cause != want):
			t.Errorf("%v: cause %v, want %q", errno, f.Cause, want)
		}
	}
}
