package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// The report after a request names the daemon that answered only while
// the state file records that very daemon alive: one that has left since,
// or was followed by another a concurrent up started, is not shown as
// answering.
func TestReportAfterNamesOnlyTheDaemonThatAnswered(t *testing.T) {
	store, err := state.Open(filepath.Join(t.TempDir(), ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	self, err := proc.Identify(os.Getpid()) // a live process to stand for a daemon
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(&state.File{Daemon: &state.Daemon{Identity: self}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what      string
		answered  int
		wantNamed bool
	}{
		{"the recorded daemon answered", self.PID, true},
		{"another daemon answered, and the file records a later one", self.PID + 1, false},
	} {
		r, err := reportAfter(store, supervisor.Reply{PID: tc.answered})
		if err != nil {
			t.Fatal(err)
		}
		if named := r.Daemon != nil && r.Daemon.PID == tc.answered && r.Daemon.Answering; named != tc.wantNamed {
			t.Errorf("%s: daemon %+v, want named: %v", tc.what, r.Daemon, tc.wantNamed)
		}
	}
	if err := store.Save(&state.File{}); err != nil {
		t.Fatal(err)
	}
	if r, err := reportAfter(store, supervisor.Reply{PID: self.PID}); err != nil || r.Daemon != nil {
		t.Errorf("after the daemon left: daemon %+v, %v; want none", r.Daemon, err)
	}
}
