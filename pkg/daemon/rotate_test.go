package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// `mictl up --foreground` supervises for as long as a detached daemon
// may: its event log is rotated on the same interval, until it stops.
func TestRotateLogsUntilRotatesUntilCancelled(t *testing.T) {
	t.Parallel()
	store, err := state.Open(filepath.Join(t.TempDir(), ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	sup, err := supervisor.New(store, nil, supervisor.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	eventLog := supervisor.EventsLog(store)
	if err := os.WriteFile(eventLog, make([]byte, logMaxBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		RotateLogsUntil(ctx, sup, time.Millisecond, func(format string, a ...any) { t.Errorf(format, a...) })
	}()
	deadline := time.After(10 * time.Second)
	for {
		if _, err := os.Stat(eventLog + ".1"); err == nil {
			break
		}
		select {
		case <-deadline:
			cancel()
			<-done
			t.Fatal("the event log past its limit was not rotated within 10 s")
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	<-done // returns once cancelled
}
