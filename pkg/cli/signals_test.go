package cli

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// A wait that begins after the command caught a Ctrl-C (as the wait
// before it answered, too late to end that one) is interrupted at once:
// deploy --wait went on waiting for MI after a Ctrl-C that came as the
// daemon's reload answered.
func TestAWaitAfterACaughtSignalIsInterruptedAtOnce(t *testing.T) {
	caught.Store(int32(syscall.SIGINT))
	t.Cleanup(func() { caught.Store(0) })
	ctx, stop := interruptible(context.Background())
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second): // a liveness bound, not a measure
		t.Fatal("a wait begun after a caught Ctrl-C was not interrupted")
	}
}
