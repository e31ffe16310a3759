package cli

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mictl/mictl/pkg/supervisor"
)

// progress shows, on stderr, one line per instance while `up` waits:
// redrawn in place on a terminal, appended as plain lines otherwise (CI
// logs, pipes), so data on stdout stays clean either way.
type progress struct {
	streams *IOStreams
	names   []string
	mu      sync.Mutex
	lines   map[string]string
	// touched are the instances an event was seen of; last is the state
	// of the last one.
	touched map[string]bool
	last    map[string]string
	drawn   int
}

// progressWaiting is an instance's line until its first event (one a
// rolling restart has not come to yet); not supervisor.TurnWaiting, the
// line above the block of a restart that waits its turn.
const progressWaiting = "waiting"

func newProgress(streams *IOStreams, names []string) *progress {
	p := &progress{streams: streams, names: names, lines: map[string]string{}, touched: map[string]bool{}, last: map[string]string{}}
	for _, n := range names {
		p.lines[n] = progressWaiting
	}
	return p
}

func (p *progress) event(ev supervisor.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := ev.State
	if ev.PID > 0 {
		line += fmt.Sprintf(" (pid %d)", ev.PID)
	}
	if ev.Message != "" {
		line += ": " + summaryLine(ev.Message)
	}
	if !slices.Contains(p.names, ev.Instance) {
		// About the whole command (a restart waiting its turn).
		p.lineOfItsOwn(ev.Instance + " " + line)
		return
	}
	p.lines[ev.Instance] = line
	p.touched[ev.Instance] = true
	p.last[ev.Instance] = ev.State
	if !p.streams.ErrTTY {
		fmt.Fprintf(p.streams.ErrOut, "%s %s\n", ev.Instance, line)
		return
	}
	p.redraw()
}

// say prints line on a line of its own, which stays: on a terminal an
// instance's line of the block is written over by its next event.
func (p *progress) say(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lineOfItsOwn(line)
}

// lineOfItsOwn prints line above the block, which is drawn again below
// it; p.mu is held.
func (p *progress) lineOfItsOwn(line string) {
	fmt.Fprintln(p.streams.ErrOut, line)
	p.drawn = 0
}

// untouched are the instances no event was seen of: those a rolling
// restart had not come to.
func (p *progress) untouched() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, n := range p.names {
		if !p.touched[n] {
			out = append(out, n)
		}
	}
	return out
}

// notServing are the instances whose last event did not say they serve
// (ready or degraded): those a rolling restart had not come to, and the
// one it had stopped and not started again when it ended.
func (p *progress) notServing() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, n := range p.names {
		if st := p.last[n]; st != supervisor.StateReady && st != supervisor.StateDegraded {
			out = append(out, n)
		}
	}
	return out
}

// redraw moves the cursor up over the block drawn last time and rewrites it.
func (p *progress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	width := 0
	for _, n := range p.names {
		width = max(width, len(n))
	}
	for _, n := range p.names {
		fmt.Fprintf(&b, "\x1b[2K%-*s  %s\n", width, n, p.lines[n])
	}
	p.drawn = len(p.names)
	fmt.Fprint(p.streams.ErrOut, b.String())
}

// summaryLine is the first line of a message, marked when more follow
// (a failed start's last output, which the command's final error shows
// whole).
func summaryLine(s string) string {
	if first := firstLine(s); first != s {
		return first + " …"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
