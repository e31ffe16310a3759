package supervisor

import (
	"os/exec"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/proc"
)

// A start that finds a fixed port held by a listener whose holder exits
// (observe.PortStatus.Closing) looks again, for hostnet.ClosingFor and for
// as long as its own server is exiting: a simulated server crashing right
// after it bound its ports failed its start as "https port N is held by a
// process of user root (uid 0), not by this instance" rather than as the
// crash (CI, TestFailedStartsHealthSaysWhatItsErrorSays/crash). A holder
// that shows fails the start at once.
func TestStartLooksAgainAtAListenerWhoseHolderExits(t *testing.T) {
	t.Parallel()
	closing := &observe.PortStatus{Port: 9543, Listening: true, Holder: "a process of user root (uid 0)", Closing: true}
	var cur running
	if !cur.waitsForClosing(closing) {
		t.Fatal("the first look at a listener whose holder exits failed the start; want a look again")
	}
	cur.closingSince = time.Now().Add(-hostnet.ClosingFor)
	if cur.waitsForClosing(closing) {
		t.Fatalf("a listener whose holder exits, still there after %s and no server of the start exiting: looked at again, want the start failed", hostnet.ClosingFor)
	}

	cur.server = exitedServer(t)
	if !cur.waitsForClosing(closing) {
		t.Fatal("a listener whose holder exits while the start's own server is exiting: failed the start, want it looked at again until the server's exit is seen")
	}

	stranger := &observe.PortStatus{Port: 9543, Listening: true, Holder: "pid 1 (init)", HolderPID: 1}
	if cur.waitsForClosing(stranger) || !cur.closingSince.IsZero() {
		t.Fatalf("a holder that shows: looked at again (since %v), want the start failed at once and the wait ended", cur.closingSince)
	}
}

// exitedServer is the identity of a process that has exited and is not
// reaped yet (a zombie, as a server's main thread is while its other
// threads end); it is reaped at the test's end.
func exitedServer(t *testing.T) proc.Identity {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if st, err := proc.ReadStat(cmd.Process.Pid); err == nil && st.Exited() {
			return st.Identity()
		}
	}
	t.Fatalf("pid %d (true) did not exit within 10 s", cmd.Process.Pid)
	return proc.Identity{}
}
