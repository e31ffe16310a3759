package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// A daemon that runs for months rotates its own log and the event log as
// it rotates the console logs, in the same tick: neither grows without end.
func TestRotateLogsTakesTheDaemonsOwnLogs(t *testing.T) {
	t.Parallel()
	store, err := state.Open(filepath.Join(t.TempDir(), ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("2026-12-03T10:00:00.000Z mi-1 ready pid=4\n", logMaxBytes/40)
	daemonLog, eventLog := supervisor.DaemonLog(store), supervisor.EventsLog(store)
	for _, path := range []string{daemonLog, eventLog} {
		if err := os.WriteFile(path, []byte(big), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sup, err := supervisor.New(store, nil, supervisor.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	var logged []string
	rotateLogs(sup, daemonLog, func(format string, a ...any) { logged = append(logged, fmt.Sprintf(format, a...)) })
	if len(logged) > 0 {
		t.Fatalf("the rotation logged %q", logged)
	}
	for _, path := range []string{daemonLog, eventLog} {
		now, err1 := os.Stat(path)
		old, err2 := os.Stat(path + ".1")
		if err1 != nil || err2 != nil || now.Size() != 0 || old.Size() != int64(len(big)) {
			t.Errorf("%s after the rotation: %v %v; want it empty and its %d bytes in %s.1", filepath.Base(path), err1, err2, len(big), filepath.Base(path))
		}
	}
}
