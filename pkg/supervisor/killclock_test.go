package supervisor

import (
	"context"
	"testing"
	"time"
)

// A stop asked for later that allows less brings the SIGKILL forward,
// before or after the first stop's clock started; one that allows more,
// or the stop's own request (served a moment after it was asked for),
// changes nothing.
func TestKillClock(t *testing.T) {
	fired := func(ctx context.Context) bool {
		select {
		case <-ctx.Done():
			return true
		case <-time.After(10 * time.Second):
			return false
		}
	}
	asked := time.Now()
	later := asked.Add(time.Millisecond)
	t.Run("hurried after the start", func(t *testing.T) {
		k := newKillClock(time.Hour, asked)
		due, release := k.start(time.Now())
		defer release()
		k.hurry(later, 2*time.Hour)
		if k.hurried() != 0 || k.limit() != time.Hour {
			t.Fatalf("a later stop allowing more hurried the clock (limit %s)", k.limit())
		}
		k.hurry(time.Now(), 10*time.Millisecond)
		if !fired(due) {
			t.Fatal("the SIGKILL is not due 10 s after a later stop allowed 10 ms")
		}
		if got := k.hurried(); got != 10*time.Millisecond {
			t.Fatalf("hurried = %s, want 10ms", got)
		}
	})
	t.Run("hurried before the start", func(t *testing.T) {
		k := newKillClock(time.Hour, asked)
		k.hurry(later, time.Millisecond)
		due, release := k.start(time.Now())
		defer release()
		if !fired(due) || k.hurried() != time.Millisecond {
			t.Fatalf("a hurry before the start was lost (hurried %s)", k.hurried())
		}
	})
	t.Run("its own request", func(t *testing.T) {
		k := newKillClock(time.Hour, asked)
		due, release := k.start(later) // the SIGTERM went out after the request
		defer release()
		k.hurry(asked, time.Hour)
		if k.hurried() != 0 || k.limit() != time.Hour {
			t.Fatalf("the stop's own request hurried it (limit %s)", k.limit())
		}
		select {
		case <-due.Done():
			t.Fatal("the SIGKILL is due at once")
		default:
		}
	})
	t.Run("released", func(t *testing.T) {
		k := newKillClock(time.Hour, asked)
		_, release := k.start(time.Now())
		release()
		k.hurry(later, time.Millisecond) // the stop is over: nothing to re-arm
	})
}
