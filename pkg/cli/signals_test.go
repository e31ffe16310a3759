package cli

import (
	"context"
	"os"
	"os/signal"
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

// A signal that reached a wait's handler as the wait let it go is kept
// for the next wait: the handler's goroutine could take the release
// first, and deploy --wait then waited for MI its whole --timeout, the
// Ctrl-C (or SIGTERM) unheeded.
func TestASignalCaughtAsAWaitEndsIsKept(t *testing.T) {
	// Holds SIGTERM too, so that none reaches the default handler.
	keeper := make(chan os.Signal, 1)
	signal.Notify(keeper, syscall.SIGTERM)
	defer signal.Stop(keeper)
	t.Cleanup(func() { caught.Store(0) })
	for range 200 {
		caught.Store(0)
		release := onInterrupt(func() {})
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-keeper // the wait's handler has it too: one loop hands it to both
		release()
		if caught.Load() != int32(syscall.SIGTERM) {
			t.Fatal("a SIGTERM caught as the wait let go of its handler was lost")
		}
	}
}
