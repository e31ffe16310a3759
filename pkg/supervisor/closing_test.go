package supervisor

import (
	"fmt"
	"os"
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
// reaped (a zombie, as a server's main thread is while its other threads
// end). Its parent is a sleep that never waits for it: this package's
// tests reap every child of their own (their sites share one reaper), and
// a shell reaps its own before it execs (dash did, 17 times in 200, with
// a child that exited at once). So the child waits on a pipe that the
// test closes once the sleep has taken the shell's place. The test's end
// ends the sleep, and the zombie with it.
func exitedServer(t *testing.T) proc.Identity {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	parent := exec.Command("sh", "-c", "read _ <&3 & echo $!; exec sleep 60")
	parent.ExtraFiles = []*os.File{r}
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = parent.Process.Kill(); _ = parent.Wait() })
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		t.Fatalf("the pid of the process left unreaped: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := proc.ReadStat(parent.Process.Pid); err == nil && st.Comm == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d (sh) did not exec sleep within 10 s", parent.Process.Pid)
		}
		time.Sleep(time.Millisecond)
	}
	w.Close() // the child reads its end, and exits
	for ; time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if st, err := proc.ReadStat(pid); err == nil && st.Exited() {
			return st.Identity()
		}
	}
	t.Fatalf("pid %d (read) did not exit within 10 s", pid)
	return proc.Identity{}
}
