package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/testports"
	"github.com/mictl/mictl/pkg/top"
)

// After a kill -9 of the daemon, the views that start none (ports table,
// check-conflicts, apps, top) say once on stderr, in status's words, that
// nothing supervises the instances, table or JSON alike: they showed
// them, crashed ones too, as though something restarted them. With the
// daemon alive they say nothing of it.
func TestViewsSayNothingSupervisesTheInstances(t *testing.T) {
	dir := inTempDir(t)
	off := testports.Base(t, testports.Other, 1)
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	gone := proc.Identity{PID: os.Getpid(), StartTime: 1} // this pid, another process
	views := [][]string{
		{"ports", "table"}, {"ports", "table", "-o", "json"},
		{"check-conflicts"}, {"check-conflicts", "-o", "json"},
		{"apps", "--timeout", "1s"}, {"apps", "--timeout", "1s", "-o", "json"},
		{"top", "--once", "--interval", "100ms"}, {"top", "-o", "json", "--interval", "100ms"},
	}
	for _, daemon := range []proc.Identity{gone, self} {
		recordRunning(t, filepath.Join(dir, "instances"), off, &state.Daemon{Identity: daemon})
		for _, args := range views {
			_, out, errOut := run(t, args...)
			said := strings.Count(errOut, "had ended (killed, or crashed), leaving the instances unsupervised")
			if daemon == gone && (said != 1 || !strings.Contains(errOut, "warning: the mictl daemon (pid ")) {
				t.Errorf("%s with the daemon killed: said %d times, want once on stderr:\n%s", strings.Join(args, " "), said, errOut)
			}
			if daemon == self && said != 0 {
				t.Errorf("%s with the daemon alive: %s", strings.Join(args, " "), errOut)
			}
			if strings.Contains(out, "unsupervised") {
				t.Errorf("%s: the warning is on stdout:\n%s", strings.Join(args, " "), out)
			}
		}
	}
}

// top's live view says it above the instances, wrapped rather than cut
// (what to do is at its end), within the terminal's height.
func TestTopViewSaysNothingSupervisesTheInstances(t *testing.T) {
	f := &state.File{Daemon: &state.Daemon{Identity: proc.Identity{PID: os.Getpid(), StartTime: 1}},
		Instances: []state.Instance{{Name: "mi-1", State: state.StateReady}}}
	note := unsupervised(f)
	m := &topModel{rows: []top.Row{{Name: "mi-1", State: "crashed"}}, width: 80, height: 12, note: note}
	screen := m.View().Content
	flat := strings.Join(strings.Fields(screen), " ")
	if !strings.Contains(flat, "leaving the instances unsupervised") || !strings.Contains(flat, "which takes them over") || !strings.Contains(screen, "mi-1") {
		t.Errorf("top's view does not say %q whole:\n%s", note, screen)
	}
	if lines := strings.Count(screen, "\n") + 1; lines > m.height {
		t.Errorf("%d lines for a terminal of %d:\n%s", lines, m.height, screen)
	}
}
