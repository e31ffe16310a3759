package supervisor

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/watch"
)

// reloadRetryMax is the longest wait before a refused reload is tried again
// (see configWatch.retryAfter).
const reloadRetryMax = time.Minute

// configWatch follows a daemon's configuration (Follow), reloading on
// every change. It pauses while a stop leaves the daemon nothing to
// supervise, and is taken up again when the daemon stays after all. Its
// inotify instance is kept from the daemon's start to its exit (see
// watch.Watcher): let go of while the servers stop, it made their own
// exits wait for the kernel.
type configWatch struct {
	sup    *Supervisor
	follow *Follow
	files  *watch.Watcher // nil until an inotify instance could be had
	// unwatchable is why the last try of one failed, said once.
	unwatchable string
	mu          sync.Mutex
	cancel      context.CancelFunc // nil while not watching
	wg          sync.WaitGroup     // the watches and reloads under way
	// retry is the next try of a reload refused for ports other programs
	// hold, retryEvery the wait before it; both under mu.
	retry      *time.Timer
	retryEvery time.Duration
}

func newConfigWatch(sup *Supervisor, follow *Follow) *configWatch {
	w := &configWatch{sup: sup, follow: follow}
	w.start(false)
	return w
}

// load is how the configuration the daemon follows is loaded; nil when
// it follows none (w is nil).
func (w *configWatch) load() LoadConfig {
	if w == nil {
		return nil
	}
	return w.follow.Load
}

// reloadNow applies the configuration as it is now (Supervisor.Reload)
// for the client whose request window marks (see Supervisor.reload), then
// arranges what follows a refusal (retryAfter).
func (w *configWatch) reloadNow(window *rollWindow) (reconcile.Changes, error) {
	return w.reloadAs(reloadAsked, window)
}

// reloadAs is reloadNow, for a reload that kind set off.
func (w *configWatch) reloadAs(kind reloadKind, window *rollWindow) (reconcile.Changes, error) {
	changes, err := w.sup.reload(w.follow.Load, kind, window)
	w.retryAfter(err)
	return changes, err
}

// reload is the watch's reload. A followed file found empty is taken as
// one being written in place, truncated and its new text not there yet
// (seen when the writer was held up past the debounce): applied, an empty
// mictl.toml stopped every instance but one. Its next change reloads;
// mictl reload applies it as it is.
func (w *configWatch) reload() {
	if anyEmpty(w.follow.Files()) {
		return
	}
	_, _ = w.reloadAs(reloadFollowed, nil)
}

// anyEmpty reports whether one of files exists and holds nothing.
func anyEmpty(files []string) bool {
	return slices.ContainsFunc(files, func(f string) bool {
		info, err := os.Stat(f)
		return err == nil && info.Mode().IsRegular() && info.Size() == 0
	})
}

// catchUp reloads once for what changed while no daemon watched (see
// reloadCatchUp); close waits for it. A watch paused (a stop of every
// instance came) or closed meanwhile has nothing to catch up with: the
// look and the reload's start are one step under mu, which close takes
// (pause) before it waits.
func (w *configWatch) catchUp() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel == nil {
		return
	}
	w.wg.Go(func() {
		_, err := w.sup.reload(w.follow.Load, reloadCatchUp, nil)
		w.retryAfter(err)
	})
}

// retryAfter arranges, after a reload that ended with err, its next try.
// A reload refused only because processes of other programs hold ports it
// needs is refused for as long as they hold them: it is tried again,
// health_interval later, then twice as long after each refusal, up to
// reloadRetryMax, until it is applied, refused for another reason, or another
// reload supersedes it. Any other outcome ends the tries.
func (w *configWatch) retryAfter(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropRetry()
	if w.cancel == nil || !heldPortsOnly(err) {
		w.retryEvery = 0
		return
	}
	w.retryEvery = min(max(2*w.retryEvery, w.sup.policy.WatchInterval), reloadRetryMax)
	var t *time.Timer
	t = time.AfterFunc(w.retryEvery, func() {
		w.mu.Lock() // held by retryAfter until t is set
		defer w.mu.Unlock()
		if w.cancel == nil || w.retry != t {
			return // paused, closed, or superseded by another reload meanwhile
		}
		w.retry = nil
		w.wg.Go(func() {
			_, err := w.sup.reload(w.follow.Load, reloadRetry, nil)
			w.retryAfter(err)
		})
	})
	w.retry = t
}

// heldPortsOnly reports whether err refused a reload only for ports that
// processes of other programs hold.
func heldPortsOnly(err error) bool {
	var refused *check.ConflictError
	if !errors.As(err, &refused) || len(refused.Report.Conflicts) == 0 {
		return false
	}
	for _, c := range refused.Report.Conflicts {
		if c.Kind != check.KindHost {
			return false
		}
	}
	return true
}

// start watches unless already watching (or the supervisor is closing),
// reloading first when reload is set; it reports whether it began a
// watch. The watch, reload included, begins once the previous one has
// ended (paused, it may still be reloading; see watch.Watcher.Follow), so
// that the reload applies whatever changed while none watched.
func (w *configWatch) start(reload bool) bool {
	var cannot string
	defer func() {
		if cannot != "" {
			w.sup.emit(Event{Instance: ReloadEvent, State: ReloadFailed, Message: cannot})
		}
	}()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil || w.sup.ctx.Err() != nil {
		return false
	}
	if w.files == nil {
		var err error
		if w.files, err = watch.New(); err != nil {
			if msg := "cannot watch the configuration: " + err.Error(); msg != w.unwatchable {
				w.unwatchable, cannot = msg, msg
			}
		}
	}
	ctx, cancel := context.WithCancel(w.sup.ctx)
	w.cancel = cancel
	files := w.files
	w.wg.Go(func() {
		if files != nil {
			files.Follow(ctx, w.follow.Files, w.follow.Debounce, w.reload, reload)
		} else if reload {
			w.reload()
		}
	})
	return true
}

// pause stops watching, and trying refused reloads again, without
// waiting for a reload under way.
func (w *configWatch) pause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		w.cancel()
		w.cancel = nil
	}
	w.dropRetry()
	w.retryEvery = 0
}

// dropRetry forgets the next try of a refused reload, if any; w.mu is
// held.
func (w *configWatch) dropRetry() {
	if w.retry != nil {
		w.retry.Stop()
		w.retry = nil
	}
}

// resume watches again after a pause, and reloads once for what may have
// changed meanwhile.
func (w *configWatch) resume() { w.start(true) }

// close stops watching, waits for the watches and reloads under way, and
// lets the inotify instance go.
func (w *configWatch) close() {
	w.pause()
	w.wg.Wait()
	if w.files != nil {
		w.files.Close()
	}
}
