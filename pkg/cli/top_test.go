package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/top"
)

// A terminal too short for every instance says how many it leaves out,
// and the screen never needs more lines than the terminal has.
func TestTopViewSaysWhatDoesNotFit(t *testing.T) {
	rows := []top.Row{{Name: "mi-1", State: "ready"}, {Name: "mi-2", State: "ready"}, {Name: "mi-3", State: "ready"}}
	for _, tt := range []struct {
		height int
		want   string // "" when all fit
		err    error  // the last refresh's
	}{
		{6, "", nil}, // title, header, 3 rows, help
		{5, "+2 more", nil},
		{4, "+3 more", nil},
		{3, "+3 more", nil}, // title, the note, help: no room for the header
		{4, "+3 more", errors.New("sample instances' processes: no /proc")},
	} {
		m := &topModel{rows: rows, width: 80, height: tt.height, err: tt.err}
		screen := m.View().Content
		lines := strings.Split(screen, "\n")
		if len(lines) > tt.height {
			t.Errorf("height %d: %d lines:\n%s", tt.height, len(lines), screen)
		}
		if tt.want == "" && strings.Contains(screen, "more") || tt.want != "" && !strings.Contains(screen, tt.want) {
			t.Errorf("height %d: want %q:\n%s", tt.height, tt.want, screen)
		}
		if tt.want == "" && !strings.Contains(screen, "mi-3") {
			t.Errorf("height %d: mi-3 not shown:\n%s", tt.height, screen)
		}
	}
}
