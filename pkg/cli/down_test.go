package cli

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

// A hung daemon that SIGKILL does not end (the kernel holds it in a
// wait) is said with how long down waited and what to do, not as the
// wait's "context deadline exceeded".
func TestDownSaysWhenAKilledDaemonStays(t *testing.T) {
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
	id, err := proc.Identify(sleep.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	saved := waitExit
	waitExit = func(ctx context.Context, _ proc.Identity) error { <-ctx.Done(); return ctx.Err() }
	t.Cleanup(func() { waitExit = saved })
	streams, _, _ := testStreams()
	err = endHungDaemon(streams, &state.File{Daemon: &state.Daemon{Identity: id}}, supervisor.ErrNotAnswering)
	want := fmt.Sprintf("the mictl daemon (pid %d) did not end within 5s of SIGKILL", id.PID)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "run mictl down again once it is gone") || strings.Contains(err.Error(), "context") {
		t.Fatalf("endHungDaemon = %v, want %q and what to do", err, want)
	}
}
