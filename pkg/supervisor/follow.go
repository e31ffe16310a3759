package supervisor

import (
	"context"
	"sync"

	"github.com/mictl/mictl/pkg/watch"
)

// configWatch follows a daemon's configuration (Follow), reloading on
// every change. It is let go of while a stop leaves the daemon nothing to
// supervise: closing the watch's inotify instance waits for the kernel (an
// RCU grace period, up to ~13 ms here), and down waits for the daemon's
// exit, which would otherwise wait for it. The watch is taken up again
// when the daemon stays after all.
type configWatch struct {
	sup    *Supervisor
	follow *Follow
	mu     sync.Mutex
	cancel context.CancelFunc // nil while not watching
	wg     sync.WaitGroup     // the watches and reloads under way
}

func newConfigWatch(sup *Supervisor, follow *Follow) *configWatch {
	w := &configWatch{sup: sup, follow: follow}
	w.start()
	return w
}

func (w *configWatch) reload() { _, _ = w.sup.Reload(w.follow.Load) }

// catchUp reloads once for what changed while no daemon watched (see
// Supervisor.catchUp); close waits for it.
func (w *configWatch) catchUp() { w.wg.Go(func() { w.sup.catchUp(w.follow.Load) }) }

// start watches unless already watching (or the supervisor is closing);
// it reports whether it began a watch.
func (w *configWatch) start() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil || w.sup.ctx.Err() != nil {
		return false
	}
	ctx, cancel := context.WithCancel(w.sup.ctx)
	w.cancel = cancel
	w.wg.Go(func() {
		if err := watch.Files(ctx, w.follow.Files, w.follow.Debounce, w.reload); err != nil {
			w.sup.emit(Event{Instance: ReloadEvent, State: "reload-failed", Message: "cannot watch the configuration: " + err.Error()})
		}
	})
	return true
}

// pause stops watching, without waiting for a reload under way.
func (w *configWatch) pause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		w.cancel()
		w.cancel = nil
	}
}

// resume watches again after a pause, and reloads once for what may have
// changed meanwhile.
func (w *configWatch) resume() {
	if w.start() {
		w.wg.Go(w.reload)
	}
}

// close stops watching and waits for the watches and reloads under way.
func (w *configWatch) close() {
	w.pause()
	w.wg.Wait()
}
