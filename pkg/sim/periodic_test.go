package sim

import (
	"runtime"
	"testing"
	"time"
)

// TestPeriodicWakesEachPeriodUntilDone checks both clocks: the kernel
// timer Linux gives and the runtime ticker elsewhere (or when no timer
// descriptor can be made).
func TestPeriodicWakesEachPeriodUntilDone(t *testing.T) {
	clocks := map[string]func(done chan struct{}) *periodic{
		"newPeriodic": func(done chan struct{}) *periodic {
			p := newPeriodic(5*time.Millisecond, done)
			if runtime.GOOS == "linux" && p.timer == nil {
				t.Fatal("no timerfd on Linux: idle servers would wake on runtime timers")
			}
			return p
		},
		"ticker": func(done chan struct{}) *periodic {
			return &periodic{ticker: time.NewTicker(5 * time.Millisecond), done: done}
		},
	}
	for name, clock := range clocks {
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			p := clock(done)
			for i := range 3 {
				if !p.wait() {
					t.Fatalf("wake %d: wait ended before done was closed", i+1)
				}
			}
			close(done)
			// A wake already due may still be delivered; the clock must
			// then stop for good.
			ended := make(chan struct{})
			go func() {
				for p.wait() {
				}
				close(ended)
			}()
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("wait kept waking after done was closed")
			}
		})
	}
}
