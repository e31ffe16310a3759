package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// caught is the last Ctrl-C (SIGINT) or SIGTERM this package's handlers
// caught: a command it interrupted ends as the signal would have ended it
// (Main: 130 for SIGINT, 143 for SIGTERM), after saying what goes on.
var caught atomic.Int32

// caughtSignal is the signal an interrupted command ends by: the last one
// caught, SIGINT when none was (an interruption mictl was told of).
func caughtSignal() syscall.Signal {
	if sig := syscall.Signal(caught.Load()); sig != 0 {
		return sig
	}
	return syscall.SIGINT
}

// interruptible is ctx cancelled by a Ctrl-C (or SIGTERM) until stop is
// called, for a wait on the daemon: the supervisor package's calls then
// end saying what they interrupted and what goes on, where the default
// handler ended mictl without a word.
func interruptible(ctx context.Context) (_ context.Context, stop context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	release := onInterrupt(cancel)
	return ctx, func() {
		release()
		cancel()
	}
}

// onInterrupt calls fn once, at the first Ctrl-C or SIGTERM, until
// release, which stops catching them (another handler takes over, or the
// default: the process ends). Once this command caught one, fn is called
// at once: a signal that came as a wait's answer did (its handler caught
// it, too late to end that wait) interrupts the command, not the next
// wait's start (deploy --wait, Ctrl-C'd as the daemon's reload answered,
// then waited for MI as if nothing had been asked).
func onInterrupt(fn func()) (release func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		if caught.Load() != 0 {
			fn()
			return
		}
		select {
		case sig := <-sigs:
			caught.Store(int32(sig.(syscall.Signal)))
			fn()
		case <-done:
			// One that came with the release is caught all the same, for
			// the next wait: select may pick the release first.
			select {
			case sig := <-sigs:
				caught.Store(int32(sig.(syscall.Signal)))
			default:
			}
		}
	}()
	return sync.OnceFunc(func() {
		signal.Stop(sigs)
		close(done)
		<-ended // caught is stored before the next handler looks at it
	})
}
