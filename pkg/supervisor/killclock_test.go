package supervisor

import (
	"context"
	"testing"
	"time"
)

// A later stop that allows less brings the SIGKILL forward, before or
// after the first stop's clock started; one that allows more, or the same
// from a moment later (the stop's own request), changes nothing.
func TestKillClock(t *testing.T) {
	fired := func(ctx context.Context) bool {
		select {
		case <-ctx.Done():
			return true
		case <-time.After(10 * time.Second):
			return false
		}
	}
	t.Run("hurried after the start", func(t *testing.T) {
		k := newKillClock(time.Hour)
		due, release := k.start(time.Now())
		defer release()
		k.hurry(time.Now().Add(2*time.Hour), 2*time.Hour)
		if k.hurried() != 0 {
			t.Fatal("a later stop allowing more hurried the clock")
		}
		k.hurry(time.Now().Add(10*time.Millisecond), 10*time.Millisecond)
		if !fired(due) {
			t.Fatal("the SIGKILL is not due 10 s after a later stop allowed 10 ms")
		}
		if got := k.hurried(); got != 10*time.Millisecond {
			t.Fatalf("hurried = %s, want 10ms", got)
		}
	})
	t.Run("hurried before the start", func(t *testing.T) {
		k := newKillClock(time.Hour)
		k.hurry(time.Now(), time.Millisecond)
		due, release := k.start(time.Now())
		defer release()
		if !fired(due) || k.hurried() != time.Millisecond {
			t.Fatalf("a hurry before the start was lost (hurried %s)", k.hurried())
		}
	})
	t.Run("its own request", func(t *testing.T) {
		k := newKillClock(time.Hour)
		asked := time.Now()
		due, release := k.start(asked.Add(time.Millisecond)) // the SIGTERM went out after the request
		defer release()
		k.hurry(asked.Add(time.Hour), time.Hour)
		if k.hurried() != 0 {
			t.Fatal("the stop's own request counted as a later stop")
		}
		select {
		case <-due.Done():
			t.Fatal("the SIGKILL is due at once")
		default:
		}
	})
}
