package supervisor

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/state"
)

// mutation is one recorded change: to an instance's state record (name
// and fn), or to the file as a whole (file).
type mutation struct {
	name string
	fn   func(*state.Instance)
	file func(*state.File)
	// outcome marks a change a power failure may lose: how a stop ended,
	// after the record that the instance is stopping was made durable
	// (see Supervisor.Stop), or the leaving daemon's record cleared. A
	// power failure ends the processes it describes anyway. A write of
	// outcomes alone needs no fsync.
	outcome bool
}

// needsSync reports whether batch holds a change that must outlive a
// power failure once somebody waits for it.
func needsSync(batch []mutation) bool {
	return slices.ContainsFunc(batch, func(m mutation) bool { return !m.outcome })
}

// apply makes the changes of ms to f, in order; a change to an instance f
// does not hold is dropped (it was forgotten meanwhile).
func apply(f *state.File, ms []mutation) {
	for _, m := range ms {
		if m.file != nil {
			m.file(f)
			continue
		}
		if inst, ok := f.Instance(m.name); ok {
			m.fn(inst)
		}
	}
}

// writeGap is the least time between two writes of the state file that
// nobody waits for. Twenty instances starting at once record sixty
// changes within a few hundred milliseconds; each write reads, decodes,
// encodes and fsyncs the whole file, and written one after another they
// were the biggest part of the daemon's CPU. A flush is never held back.
const writeGap = 50 * time.Millisecond

// Retries of a failed write start at retryMin and double up to retryMax:
// a full disk is usually freed by a person, in seconds or minutes.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// SaveFailure says since when, and why, the state file could not be
// written: while it lasts, the daemon's memory is ahead of the file.
type SaveFailure struct {
	Error string    `json:"error"`
	Since time.Time `json:"since"`
	// Cause is what the system said, as one of the SaveCause words, for
	// whoever says what to do about it; nil for any other cause. It is
	// decided from the error number where the write failed, never from
	// the message.
	Cause *string `json:"cause"`
}

// The causes of a failed save that each have their own remedy.
const (
	SaveNoSpace          = "no_space"          // ENOSPC: free space on the file system
	SaveReadOnly         = "read_only"         // EROFS: remount the file system read-write
	SavePermissionDenied = "permission_denied" // EACCES: give the daemon's user access
)

// saveCause is the SaveFailure.Cause of err: nil for a cause with no
// remedy of its own.
func saveCause(err error) *string {
	var cause string
	switch {
	case errors.Is(err, unix.ENOSPC):
		cause = SaveNoSpace
	case errors.Is(err, unix.EROFS):
		cause = SaveReadOnly
	case errors.Is(err, unix.EACCES):
		cause = SavePermissionDenied
	default:
		return nil
	}
	return &cause
}

// persister writes recorded changes to the state file from one goroutine,
// folding every change queued meanwhile into the next write, which waits
// until writeGap after the previous one unless somebody flushes.
//
// A write that fails keeps its changes queued, and they are tried again
// with backoff (and at every flush) until a write takes them: the file
// catches up once the disk has room again. Meanwhile the failure is
// reported by failure(), for `mictl status` to show; it is never the
// answer to a request that did not ask for the file.
type persister struct {
	// write saves a batch, durably when asked (see flush).
	write  func(batch []mutation, durable bool) error
	gap    time.Duration
	kick   chan struct{}
	urgent chan struct{}
	quit   chan struct{}
	ended  chan struct{}
	// caughtUp is signalled when a write succeeds after writes failed.
	caughtUp chan struct{}

	// writing is held while a write runs: quiet excludes it.
	writing sync.Mutex

	mu   sync.Mutex
	cond *sync.Cond
	// queue holds every change not in the file yet, oldest first: the
	// changes numbered saved+1 to queued.
	queue  []mutation
	queued uint64 // changes queued so far
	saved  uint64 // changes the file holds
	// tried counts the changes some durable write has tried to save,
	// with or without success: a flush waits for a try, not for a
	// success. shown counts those some write has tried to save, durably
	// wherever a change needed it (see flushVisible).
	tried, shown uint64
	// durable asks the next write to be durable: somebody flushed, and
	// the answer they give their client stands on the file. Writes
	// nobody waits for skip the fsyncs: the flush that ends a request
	// makes everything before it durable at once (a stop's, everything
	// but its outcomes, see flushVisible). visible asks the next write to
	// be durable only where a change needs it.
	durable, visible bool
	// owed is true while the file holds a change written without fsync
	// that must outlive a power failure (only the writer reads and sets
	// it, under writing).
	owed    bool
	failing *SaveFailure // nil while writes succeed
	failErr error        // the last failed write's error
}

func startPersister(gap time.Duration, write func(batch []mutation, durable bool) error) *persister {
	p := &persister{
		write: write, gap: gap,
		kick: make(chan struct{}, 1), urgent: make(chan struct{}, 1),
		quit: make(chan struct{}), ended: make(chan struct{}), caughtUp: make(chan struct{}, 1),
	}
	p.cond = sync.NewCond(&p.mu)
	// The daemon's own record was written without fsync at its start,
	// with whatever it found of its predecessor's instances.
	p.owed = true
	go p.loop()
	return p
}

// add queues fn for the named instance.
func (p *persister) add(name string, fn func(*state.Instance)) {
	p.enqueue(mutation{name: name, fn: fn})
}

// addFile queues fn for the file as a whole.
func (p *persister) addFile(fn func(*state.File)) { p.enqueue(mutation{file: fn}) }

func (p *persister) enqueue(m mutation) {
	p.mu.Lock()
	p.queue = append(p.queue, m)
	p.queued++
	p.mu.Unlock()
	notify(p.kick)
}

// hurry asks for the next write now rather than after the gap, without
// waiting for it.
func (p *persister) hurry() { notify(p.urgent) }

// flush waits until a durable write has tried to save everything queued
// before the call, and returns that write's error if it failed (the
// changes then stay queued for the retries).
func (p *persister) flush() error { return p.await(&p.tried, &p.durable) }

// flushVisible is flush for whoever needs the changes in the file, and on
// the disk only where they must outlive a power failure: a write of
// outcomes alone after a durable one skips the fsyncs (a stop's answer,
// after the stop's intent was fsynced while the servers stopped).
func (p *persister) flushVisible() error { return p.await(&p.shown, &p.visible) }

// await waits until *served counts every change queued before the call,
// asking a write with *ask.
func (p *persister) await(served *uint64, ask *bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	target := p.queued
	if *served < target {
		*ask = true
		notify(p.urgent)
	}
	for *served < target {
		p.cond.Wait()
	}
	if p.saved < target && p.failing != nil {
		return fmt.Errorf("state not saved since %s: %w", p.failing.Since.Format("15:04:05"), p.failErr)
	}
	return nil
}

// quiet runs fn while no write is under way: what fn reads of the file
// and of pending() then agree (no change is in both, none in neither).
func (p *persister) quiet(fn func()) {
	p.writing.Lock()
	defer p.writing.Unlock()
	fn()
}

// tryQuiet runs fn as quiet does, unless a write is under way: then it
// returns false at once, for a reader that must never wait for the disk
// (a metrics scrape).
func (p *persister) tryQuiet(fn func()) bool {
	if !p.writing.TryLock() {
		return false
	}
	defer p.writing.Unlock()
	fn()
	return true
}

// pending returns the changes not in the file yet, oldest first.
func (p *persister) pending() []mutation {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]mutation(nil), p.queue...)
}

// failure is the ongoing failure to save, nil when the file is current
// or a write of it succeeded last.
func (p *persister) failure() *SaveFailure {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing == nil {
		return nil
	}
	f := *p.failing
	return &f
}

// close makes a last attempt to write what is queued, durably where a
// change needs it (see flushVisible), and stops the writer: a daemon
// leaving after a stop does not hold up the `down` that waits for its
// exit with fsyncs of the stop's outcome.
func (p *persister) close() {
	p.mu.Lock()
	p.visible = true
	p.mu.Unlock()
	close(p.quit)
	<-p.ended
}

func (p *persister) loop() {
	defer close(p.ended)
	var last time.Time
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	backoff := retryMin
	for {
		now := true // a flush or a retry: no gap to wait
		select {
		case <-p.kick:
			if p.failure() != nil {
				continue // the retry timer is set; a flush still tries at once
			}
			now = false
		case <-p.urgent:
		case <-retry.C:
		case <-p.quit:
			p.writeQueued()
			return
		}
		if wait := p.gap - time.Since(last); wait > 0 && !now {
			hold := time.NewTimer(wait)
			select {
			case <-hold.C:
			case <-p.urgent:
			case <-p.quit:
			}
			hold.Stop()
		}
		// This write takes every change queued so far: whoever flushed
		// for them is served, and the next write may wait its gap again.
		select {
		case <-p.urgent:
		default:
		}
		last = time.Now()
		if p.writeQueued() {
			backoff = retryMin
			continue
		}
		retry.Reset(backoff)
		backoff = min(2*backoff, retryMax)
	}
}

// writeQueued tries to save every queued change and reports whether it
// did (or there was nothing to save).
func (p *persister) writeQueued() bool {
	p.writing.Lock()
	defer p.writing.Unlock()
	p.mu.Lock()
	batch, upto := p.queue, p.queued
	durable := p.durable || (p.visible && (p.owed || needsSync(batch)))
	p.durable, p.visible = false, false
	p.mu.Unlock()
	var err error
	if len(batch) > 0 || (durable && p.owed) {
		err = p.write(batch, durable)
	}
	if err == nil {
		p.owed = !durable && (p.owed || needsSync(batch))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// A write saved but not durably has not served a flush: its caller
	// is still owed a durable write, even of nothing new.
	if durable || err != nil {
		p.tried = upto
	}
	if !p.owed || err != nil {
		p.shown = upto
	}
	if err != nil {
		p.durable = true // retries are owed a durable write
		if p.failing == nil {
			p.failing = &SaveFailure{Since: time.Now()}
		}
		// The latest reason, since the first failure.
		p.failing.Error, p.failing.Cause, p.failErr = err.Error(), saveCause(err), err
		p.cond.Broadcast()
		return false
	}
	// Changes queued during the write stay for the next one.
	p.queue = p.queue[len(batch):]
	if p.failing != nil {
		notify(p.caughtUp)
	}
	p.saved, p.failing, p.failErr = upto, nil, nil
	p.cond.Broadcast()
	return true
}

// notify wakes whoever waits on the one-slot channel ch, without blocking.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
