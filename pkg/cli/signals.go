package cli

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

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
