package supervisor

import (
	"testing"
	"time"
)

// A server not found yet is looked for every firstProbe for the first
// fastSearch of its start; a found one, or a search that lasts, backs off.
func TestProbesSearchFastThenBackOff(t *testing.T) {
	p := newProbes(10 * time.Millisecond)
	defer p.stop()
	steps := []struct {
		searching bool
		since     time.Duration
		want      time.Duration
	}{
		{true, 0, firstProbe},
		{true, fastSearch / 2, firstProbe},
		{true, fastSearch, 2 * firstProbe},
		{true, fastSearch, 4 * firstProbe},
		{false, 0, 8 * firstProbe},
		{false, 0, 10 * time.Millisecond}, // max
		{true, 0, firstProbe},
		{false, 0, 2 * firstProbe},
	}
	for i, s := range steps {
		p.next(s.searching, s.since)
		if p.every != s.want {
			t.Errorf("step %d (searching %v, %s after launch): next probe in %s, want %s", i, s.searching, s.since, p.every, s.want)
		}
	}
}
