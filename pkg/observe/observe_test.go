package observe

import (
	"testing"
	"time"
)

func TestProbeAddr(t *testing.T) {
	for bind, want := range map[string]string{
		"127.0.0.1": "127.0.0.1:9201", "0.0.0.0": "127.0.0.1:9201", "::": "[::1]:9201", "::1": "[::1]:9201", "10.1.2.3": "10.1.2.3:9201",
	} {
		if got := probeAddr(bind, 9201); got != want {
			t.Errorf("probeAddr(%s) = %s, want %s", bind, got, want)
		}
	}
}

// Since shares a look among the callers whose moment came before it
// began, and takes a new one for a caller whose moment came after.
func TestRecentSince(t *testing.T) {
	r := &Recent{MaxAge: time.Hour}
	before := time.Now()
	first, err := r.Since(before)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := r.Since(before); err != nil || again != first {
		t.Fatalf("Since(a moment before the look began) = %p, %v; want the look itself, %p", again, err, first)
	}
	if within, err := r.View(); err != nil || within != first {
		t.Fatalf("View() within MaxAge = %p, %v; want the look itself, %p", within, err, first)
	}
	later, err := r.Since(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if later == first {
		t.Fatal("Since(a moment after the look began) handed out that older look")
	}
}
