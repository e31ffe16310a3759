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
	clocks := map[string]func(period time.Duration, done chan struct{}) *periodic{
		"newPeriodic": func(period time.Duration, done chan struct{}) *periodic {
			p := newPeriodic(period, done)
			if runtime.GOOS == "linux" && p.timer == nil {
				t.Fatal("no timerfd on Linux: idle servers would wake on runtime timers")
			}
			return p
		},
		"ticker": func(period time.Duration, done chan struct{}) *periodic {
			return &periodic{ticker: time.NewTicker(period), done: done}
		},
	}
	for name, clock := range clocks {
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			defer close(done)
			p := clock(5*time.Millisecond, done)
			for i := range 3 {
				if !p.wait() {
					t.Fatalf("wake %d: wait ended before done was closed", i+1)
				}
			}
		})
		// A wait blocked for a period that will not end soon ends when
		// done is closed: a server's hot deployment loop must not outlive
		// it.
		t.Run(name+"/done", func(t *testing.T) {
			done := make(chan struct{})
			p := clock(time.Hour, done)
			ended := make(chan bool)
			go func() { ended <- p.wait() }()
			time.Sleep(20 * time.Millisecond)
			close(done)
			select {
			case woke := <-ended:
				if woke {
					t.Fatal("wait said a period ended, an hour early")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("wait still blocked after done was closed")
			}
		})
	}
}
