package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// interruptible is ctx cancelled by a Ctrl-C (or SIGTERM) until stop is
// called, for a wait on the daemon: the supervisor package's calls then
// end saying what they interrupted and what goes on (exit 130), where the
// default handler ended mictl without a word.
func interruptible(ctx context.Context) (_ context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// onInterrupt calls fn once, at the first Ctrl-C or SIGTERM, until
// release, which stops catching them (another handler takes over, or the
// default: the process ends).
func onInterrupt(fn func()) (release func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			fn()
		case <-done:
		}
	}()
	return sync.OnceFunc(func() {
		signal.Stop(sigs)
		close(done)
	})
}
