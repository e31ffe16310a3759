package cli

import (
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/supervisor"
)

// A failed start's message ends in its last output, many lines long: the
// progress line says that more follows (the final error shows it whole)
// rather than ending on a dangling "last output:".
func TestProgressMarksAMessageOfManyLines(t *testing.T) {
	var errOut strings.Builder
	p := newProgress(&IOStreams{ErrOut: &errOut}, []string{"mi-1"})
	p.event(supervisor.Event{Instance: "mi-1", State: "failed", Message: "not ready after 2s: /healthz: 503; last output:\n    [INFO] started\n    [INFO] done"})
	p.event(supervisor.Event{Instance: "mi-1", State: "stopped", Message: "stopped gracefully"})
	want := "mi-1 failed: not ready after 2s: /healthz: 503; last output: …\nmi-1 stopped: stopped gracefully\n"
	if got := errOut.String(); got != want {
		t.Errorf("progress:\n%s\nwant:\n%s", got, want)
	}
}

// A restart waiting its turn says so once, on a line of its own, and an
// instance it did not come to before the daemon went is still named as
// not restarted: the wait is no step of its restart.
func TestProgressWaitingItsTurnIsNoStep(t *testing.T) {
	var errOut strings.Builder
	p := newProgress(&IOStreams{ErrOut: &errOut}, []string{"mi-1", "mi-2"})
	p.event(supervisor.Event{Instance: supervisor.ReloadEvent, State: supervisor.TurnWaiting, Message: "this restart begins once the rolling restart or reload under way ends"})
	p.event(supervisor.Event{Instance: "mi-1", State: "stopping"})
	if got := p.untouched(); len(got) != 1 || got[0] != "mi-2" {
		t.Errorf("untouched = %q, want [mi-2]", got)
	}
	want := "mictl " + supervisor.TurnWaiting + ": this restart begins once the rolling restart or reload under way ends\nmi-1 stopping\n"
	if got := errOut.String(); got != want {
		t.Errorf("progress:\n%s\nwant:\n%s", got, want)
	}
}

// On a terminal, the restart's wait for its turn is a line above the
// block of its instances, not one of them: drawn into the block it was
// mi-1's line beside mi-2's, and stayed there through the roll.
func TestProgressDrawsTheTurnAboveTheBlock(t *testing.T) {
	var errOut strings.Builder
	p := newProgress(&IOStreams{ErrOut: &errOut, ErrTTY: true}, []string{"mi-1", "mi-2"})
	p.event(supervisor.Event{Instance: supervisor.ReloadEvent, State: supervisor.TurnWaiting, Message: "this restart begins once the rolling restart or reload under way ends"})
	p.event(supervisor.Event{Instance: "mi-1", State: "stopping"})
	want := "mictl " + supervisor.TurnWaiting + ": this restart begins once the rolling restart or reload under way ends\n" +
		"\x1b[2Kmi-1  stopping\n\x1b[2Kmi-2  waiting\n"
	if got := errOut.String(); got != want {
		t.Errorf("progress:\n%q\nwant:\n%q", got, want)
	}
}

// The restart's wait for its turn and an instance its roll has not come
// to yet are shown together on a terminal (the line above the block and
// one of its lines): both said "waiting", for two different waits.
func TestProgressTellsTheTurnFromAnInstanceNotComeTo(t *testing.T) {
	if supervisor.TurnWaiting == progressWaiting {
		t.Fatalf("a restart waiting its turn and an instance not come to yet are both %q", progressWaiting)
	}
}
