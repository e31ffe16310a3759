package supervisor

import (
	"runtime/debug"
	"sync"
	"time"
)

// trimAfter is how long the daemon must have been quiet after a request
// that started, stopped or reloaded instances before it hands the memory
// that work left free back to the kernel.
const trimAfter = 2 * time.Second

// trimmer returns the heap a burst of work freed to the kernel once the
// daemon is quiet again. The Go runtime keeps freed heap for reuse and
// gives it back only slowly: after twenty starts the daemon kept a few MB
// it did not use for as long as it ran.
type trimmer struct {
	mu    sync.Mutex
	timer *time.Timer
}

// trimSoon (re)arms the trim: it runs trimAfter after the last call.
func (s *Supervisor) trimSoon() {
	t := &s.trim
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer == nil {
		t.timer = time.AfterFunc(trimAfter, debug.FreeOSMemory)
		return
	}
	t.timer.Reset(trimAfter)
}

// stopTrim cancels a trim not run yet.
func (s *Supervisor) stopTrim() {
	t := &s.trim
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
}
