package supervisor

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/mictl/mictl/pkg/state"
)

// mutation is one recorded change to an instance's state record.
type mutation struct {
	name string
	fn   func(*state.Instance)
}

// persister writes recorded changes to the state file from one goroutine,
// folding every change queued while a write was in flight into the next
// write. Twenty instances starting at once would otherwise queue sixty
// fsynced writes behind the state lock and start one after another.
type persister struct {
	store *state.Store
	kick  chan struct{}
	quit  chan struct{}
	ended chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []mutation
	queued  uint64 // mutations queued so far
	written uint64 // mutations written so far
	lastErr error
}

func newPersister(store *state.Store) *persister {
	p := &persister{store: store, kick: make(chan struct{}, 1), quit: make(chan struct{}), ended: make(chan struct{})}
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
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// flush waits until everything queued before the call is in the file.
func (p *persister) flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	target := p.queued
	for p.written < target {
		p.cond.Wait()
	}
	return p.lastErr
}

// close writes what is queued and stops the writer.
func (p *persister) close() {
	close(p.quit)
	<-p.ended
}

func (p *persister) loop() {
	defer close(p.ended)
	for {
		select {
		case <-p.kick:
			p.writeQueued()
		case <-p.quit:
			p.writeQueued()
			return
		}
	}
}

func (p *persister) writeQueued() {
	p.mu.Lock()
	batch, upto := p.queue, p.queued
	p.queue = nil
	p.mu.Unlock()
	var err error
	if len(batch) > 0 {
		// Not the supervisor's context: a change recorded just before a
		// shutdown (an instance marked stopped) must still reach the file.
		err = p.store.Update(context.Background(), func(f *state.File) error {
			for _, m := range batch {
				if inst, ok := f.Instance(m.name); ok {
					m.fn(inst)
				}
			}
			return nil
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "mictl: saving %s: %v\n", p.store.Path(), err)
		}
	}
	p.mu.Lock()
	p.written, p.lastErr = upto, err
	p.cond.Broadcast()
	p.mu.Unlock()
}
