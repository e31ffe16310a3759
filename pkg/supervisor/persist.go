package supervisor

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/mictl/mictl/pkg/state"
)

// mutation is one recorded change to an instance's state record.
type mutation struct {
	name string
	fn   func(*state.Instance)
}

// writeGap is the least time between two writes of the state file that
// nobody waits for. Twenty instances starting at once record sixty
// changes within a few hundred milliseconds; each write reads, decodes,
// encodes and fsyncs the whole file, and written one after another they
// were the biggest part of the daemon's CPU. A flush is never held back.
const writeGap = 50 * time.Millisecond

// persister writes recorded changes to the state file from one goroutine,
// folding every change queued meanwhile into the next write, which waits
// until writeGap after the previous one unless somebody flushes.
type persister struct {
	write  func([]mutation) error
	gap    time.Duration
	kick   chan struct{}
	urgent chan struct{}
	quit   chan struct{}
	ended  chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []mutation
	queued  uint64 // mutations queued so far
	written uint64 // mutations written, or failed to be, so far
	// The mutations of the last write that failed are those numbered
	// failFrom+1 to failUpto; failErr is why.
	failFrom, failUpto uint64
	failErr            error
}

func newPersister(store *state.Store) *persister {
	return startPersister(writeGap, func(batch []mutation) error {
		// Not the supervisor's context: a change recorded just before a
		// shutdown (an instance marked stopped) must still reach the file.
		err := store.Update(context.Background(), func(f *state.File) error {
			for _, m := range batch {
				if inst, ok := f.Instance(m.name); ok {
					m.fn(inst)
				}
			}
			return nil
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "mictl: saving %s: %v\n", store.Path(), err)
		}
		return err
	})
}

func startPersister(gap time.Duration, write func([]mutation) error) *persister {
	p := &persister{
		write: write, gap: gap,
		kick: make(chan struct{}, 1), urgent: make(chan struct{}, 1),
		quit: make(chan struct{}), ended: make(chan struct{}),
	}
	p.cond = sync.NewCond(&p.mu)
	go p.loop()
	return p
}

// add queues fn for the named instance.
func (p *persister) add(name string, fn func(*state.Instance)) {
	p.mu.Lock()
	p.queue = append(p.queue, mutation{name, fn})
	p.queued++
	p.mu.Unlock()
	notify(p.kick)
}

// flush waits until everything queued before the call is in the file. It
// returns the error of the write that took the last change queued before
// the call, if that write failed.
func (p *persister) flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	target := p.queued
	if p.written < target {
		notify(p.urgent)
	}
	for p.written < target {
		p.cond.Wait()
	}
	if p.failFrom < target && target <= p.failUpto {
		return p.failErr
	}
	return nil
}

// close writes what is queued and stops the writer.
func (p *persister) close() {
	close(p.quit)
	<-p.ended
}

func (p *persister) loop() {
	defer close(p.ended)
	var last time.Time
	for {
		select {
		case <-p.kick:
		case <-p.quit:
			p.writeQueued()
			return
		}
		if wait := p.gap - time.Since(last); wait > 0 {
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
		p.writeQueued()
	}
}

func (p *persister) writeQueued() {
	p.mu.Lock()
	batch, from, upto := p.queue, p.written, p.queued
	p.queue = nil
	p.mu.Unlock()
	var err error
	if len(batch) > 0 {
		err = p.write(batch)
	}
	p.mu.Lock()
	p.written = upto
	if err != nil {
		p.failFrom, p.failUpto, p.failErr = from, upto, err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// notify wakes whoever waits on the one-slot channel ch, without blocking.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
