package sim

import (
	"os"
	"time"
)

// periodic wakes its one waiter every period until done is closed.
//
// Where the kernel offers it, the wake is a timer file descriptor read
// through the runtime's poller rather than a runtime timer. An idle Go
// process sleeping on a runtime timer waits in epoll_wait, whose timeout
// the kernel lets run late by 0.1 % of its length (15 ms of MI's 15 s
// scan interval); the runtime's monitor thread, woken on time, then polls
// every 20 us until the poller returns: ~50 wakeups per scan, which were
// most of what an idle simulated server cost (BenchmarkDaemonWith20's
// tree-idle-mi-scan row). A timer descriptor fires on time, and the poller
// waits for it with no timeout at all.
type periodic struct {
	timer  *os.File     // the kernel timer, or nil where none could be made
	ticker *time.Ticker // the runtime timer where there is no kernel one
	done   <-chan struct{}
}

// newPeriodic starts the period's clock; the first wake is one period on.
func newPeriodic(period time.Duration, done <-chan struct{}) *periodic {
	p := &periodic{done: done}
	if f, err := timerFile(period); err == nil {
		p.timer = f
		// Closing the descriptor is what ends a blocked read.
		go func() {
			<-done
			f.Close()
		}()
		return p
	}
	p.ticker = time.NewTicker(period)
	return p
}

// wait blocks until the next period ends (true) or done is closed (false).
func (p *periodic) wait() bool {
	if p.timer != nil {
		var expirations [8]byte
		_, err := p.timer.Read(expirations[:])
		return err == nil
	}
	select {
	case <-p.done:
		p.ticker.Stop()
		return false
	case <-p.ticker.C:
		return true
	}
}
