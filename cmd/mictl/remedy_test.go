package main

// End-to-end tests of failures an operator meets, each of which must say
// what to do about it, not only what failed.

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc/proctest"
)

// heldRemedy is what status says about mi-1, failed on its port held by
// this test's process: stop it, or let up plan mi-1 elsewhere.
func heldRemedy(port int) string {
	return fmt.Sprintf("stop pid %d to free port %d, then mictl up starts mi-1 again; or mictl up plans mi-1 around the port, or refuses while it is held if its offset is fixed (an [[instance]] offset, --offsets)", os.Getpid(), port)
}

// assertStatusSays checks that every view of status (the table, status
// mi-1, and -o json's health and last_error) says want about mi-1, failed.
func (d *deployment) assertStatusSays(want string) {
	d.t.Helper()
	d.assertStatusSaysOf("failed", want)
}

// assertStatusSaysOf is assertStatusSays of mi-1 in state st.
func (d *deployment) assertStatusSaysOf(st, want string) {
	d.t.Helper()
	for _, args := range [][]string{{"status"}, {"status", "mi-1"}} {
		if out := d.faulted("mi-1", args...); !strings.Contains(out, want) {
			d.t.Errorf("mictl %s does not say %q:\n%s", strings.Join(args, " "), want, out)
		}
	}
	row := d.statusJSON().Instances[0]
	if row.State != st || row.Health == nil || !strings.Contains(*row.Health, want) || row.LastError == nil || !strings.Contains(*row.LastError, want) {
		d.t.Errorf("mictl status -o json: mi-1 %s, health %v, last_error %v: want %s, both saying %q", row.State, deref(row.Health), deref(row.LastError), st, want)
	}
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// A first start that fails on a port a stranger holds says, in up and in
// every view of status, what to do: stop the holder (by pid), or let up
// plan the instance around the port. It said only what failed.
func TestAStartFailedOnAHeldPortSaysWhatToDo(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	port := 8280 + d.base
	listen(t, port)
	code, _, errOut := d.mictl("up", "--offsets", fmt.Sprint(d.base), "--force", "--timeout", "20s")
	want := heldRemedy(port)
	if code != 3 || !strings.Contains(errOut, want) {
		t.Fatalf("up: exit %d, want 3 and %q:\n%s", code, want, errOut)
	}
	d.assertStatusSays(want)

	// The remedy holds: up, its offset no longer fixed, plans it around.
	d.up(1)
	if inst := d.instance("mi-1"); inst.State != "ready" || inst.Offset == d.base {
		t.Fatalf("after mictl up, mi-1 is %s at offset %d, want ready away from %d", inst.State, inst.Offset, d.base)
	}
}

// restartOntoAStranger has the named instance, started with
// --max-restarts 1, crash while no daemon runs and a stranger (this test)
// take its http port; the next daemon restarts it by its policy, onto the
// taken port, until it is failed. It returns the port and the stranger's
// listener (closed at the test's end).
func (d *deployment) restartOntoAStranger(name string) (int, net.Listener) {
	d.t.Helper()
	inst := d.instance(name)
	// With the daemon away, the crash and the stranger come before the
	// restart.
	d.killDaemon()
	if err := syscall.Kill(inst.Server.PID, syscall.SIGKILL); err != nil {
		d.t.Fatal(err)
	}
	port := inst.Ports[ports.HTTP]
	// The server's listener closes once its last thread has exited, a
	// moment after its pid is a zombie.
	var stranger net.Listener
	d.waitFor("the server's http port to be free", func() bool {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			stranger = l
			d.t.Cleanup(func() { l.Close() })
		}
		return err == nil
	})
	d.adopt()
	d.waitFor(name+" failed", func() bool { return d.stateIs(name, "failed") })
	return port, stranger
}

// A crashed instance whose restarts fail on a port a stranger took
// meanwhile says what to do once the daemon gives up, as a first start
// does.
func TestRestartsFailedOnAHeldPortSayWhatToDo(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1, "--max-restarts", "1")
	port, _ := d.restartOntoAStranger("mi-1")
	want := heldRemedy(port)
	if !strings.Contains(d.instance("mi-1").LastError, "gave up after 1 restart in a row; "+want) {
		t.Fatalf("mi-1's last error: %q, want the restarts given up, then %q", d.instance("mi-1").LastError, want)
	}
	d.assertStatusSays(want)
}

// A ready instance whose server lost a fixed port's listener, a stranger
// taking the port then, says what to do in every view of status and in
// the event log, as a start failed on a held port does: it said only who
// held the port. The remedy holds: the stranger gone, mictl restart binds
// the port again.
func TestAPortTakenFromARunningInstanceSaysWhatToDo(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1, "--health-interval", "200ms")
	inst := d.instance("mi-1")
	port := inst.Ports[ports.HTTP]
	l := proctest.TakePort(t, inst.Server.PID, port)
	want := fmt.Sprintf("stop pid %d to free port %d, then mictl restart mi-1 binds it again; or mictl down mi-1, then mictl up plans mi-1 around the port, or refuses while it is held if its offset is fixed (an [[instance]] offset, --offsets)", os.Getpid(), port)
	d.waitFor("mi-1 degraded for the held port", func() bool { return strings.Contains(d.instance("mi-1").LastError, want) })
	d.assertStatusSaysOf("degraded", want)
	if said := fmt.Sprintf("mi-1 degraded pid=%d: http port %d is held by pid %d (", inst.Server.PID, port, os.Getpid()); !strings.Contains(d.events(), said) || !strings.Contains(d.events(), "not by this instance; "+want) {
		t.Fatalf("the event log does not say %q, then %q:\n%s", said, want, d.events())
	}

	l.Close()
	d.must("restart", "mi-1")
	if now := d.instance("mi-1"); now.State != "ready" || now.Offset != inst.Offset {
		t.Fatalf("after mictl restart, mi-1 is %s at offset %d, want ready at %d", now.State, now.Offset, inst.Offset)
	}
}

// An instance that only the last up's flags plan (mictl init's file says
// 1, the operator ran up --instances 2) and that failed on a port a
// stranger took is started again by that up, not by a plain one: the
// remedy said "then mictl up starts mi-2 again", and the plain up the
// operator ran left mi-2 failed, saying only that it is not in the
// configuration.
func TestAHeldPortRemedyNamesTheUpThatPlannedTheInstance(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.configFile("inplace", "instances = 1\n")
	d.up(2, "--max-restarts", "1")
	port, stranger := d.restartOntoAStranger("mi-2")
	up := fmt.Sprintf("mictl up --base-offset=%d --instances=2", d.base)
	want := fmt.Sprintf("stop pid %d to free port %d, then %s starts mi-2 again; or %s plans mi-2 around the port", os.Getpid(), port, up, up)
	if got := d.instance("mi-2").LastError; !strings.Contains(got, want) {
		t.Fatalf("mi-2's last error: %q, want %q", got, want)
	}
	// A plain up leaves it failed, and says which up starts it.
	code, _, errOut := d.mictl("up", "--timeout", "30s")
	if want := "note: mi-2 is failed and not in this up's plan: up leaves it so, and mictl status goes on showing it (exit 3); " + up + " starts it again (the last up's flags planned it)"; code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("a plain up: exit %d, want 0 and %q:\n%s", code, want, errOut)
	}
	// The remedy holds.
	stranger.Close()
	d.must(append(strings.Fields(up)[1:], "--timeout", "30s")...)
	if st := d.instance("mi-2").State; st != "ready" {
		t.Fatalf("mi-2 is %s after %s, want ready\n%s", st, up, d.events())
	}
	// So does down's note about a port of it another process holds.
	d.must("down", "mi-2")
	listen(t, port)
	if _, _, errOut := d.mictl("down", "mi-2"); !strings.Contains(errOut, "the next "+up+" plans mi-2 around the port") {
		t.Fatalf("down mi-2 with its port held does not name %s:\n%s", up, errOut)
	}
}

// A ready instance whose server lost a fixed port's listener, nothing
// taking the port since, says what to do in every view of status and in
// the event log: MI binds its ports only as it starts, so mictl restart
// binds it again. It said only that the port was not listening. The
// remedy holds.
func TestAPortLostByARunningInstanceSaysWhatToDo(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1, "--health-interval", "200ms")
	inst := d.instance("mi-1")
	port := inst.Ports[ports.HTTP]
	proctest.DropListener(t, inst.Server.PID, port)
	// Worded as a held port is ("http port N is held by ..."), and as
	// the ports table says it.
	want := fmt.Sprintf("http port %d is not listening; mictl restart mi-1 binds it again", port)
	d.waitFor("mi-1 degraded for the lost port", func() bool { return d.instance("mi-1").LastError == want })
	d.assertStatusSaysOf("degraded", want)
	if said := fmt.Sprintf("mi-1 degraded pid=%d: %s\n", inst.Server.PID, want); !strings.Contains(d.events(), said) {
		t.Fatalf("the event log does not say %q:\n%s", said, d.events())
	}

	d.must("restart", "mi-1")
	if now := d.instance("mi-1"); now.State != "ready" || now.Offset != inst.Offset {
		t.Fatalf("after mictl restart, mi-1 is %s at offset %d, want ready at %d", now.State, now.Offset, inst.Offset)
	}
}

// A crashed instance whose conf/deployment.toml was deleted while it ran
// is restarted with the file mictl rendered there put back: restarted
// without it, MI would not run on the instance's ports (the simulator
// failed to start, at every restart the policy allowed).
func TestACrashRestartPutsBackTheDeletedDeploymentTOML(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	inst := d.instance("mi-1")
	conf := filepath.Join(inst.Home, "conf", "deployment.toml")
	rendered, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	// conf/ whole: the distribution's files in it come back too.
	if err := os.RemoveAll(filepath.Dir(conf)); err != nil {
		t.Fatal(err)
	}
	d.crash(inst)
	if now := d.instance("mi-1"); now.State != "ready" || now.Restarts != 1 {
		t.Fatalf("mi-1 is %s after %d restarts (%s), want ready after 1\n%s", now.State, now.Restarts, now.LastError, d.events())
	}
	if got, err := os.ReadFile(conf); err != nil || string(got) != string(rendered) {
		t.Fatalf("conf/deployment.toml after the restart: %v, want it as rendered:\n%s", err, got)
	}
	if info, err := os.Stat(conf); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("conf/deployment.toml put back: %v, want mode 0600", info.Mode())
	}
	if !strings.Contains(d.events(), "mi-1 home-restored: put back conf/deployment.toml as mictl last rendered it") {
		t.Fatalf("the event log does not say the file was put back:\n%s", d.events())
	}
}

// A home that keeps no copy of its deployment.toml (one an older mictl
// rendered) fails the crash restart at once, naming the file and the
// command that renders it, rather than start MI without it.
func TestACrashRestartWithoutDeploymentTOMLOrItsCopyFailsSayingSo(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	inst := d.instance("mi-1")
	conf := filepath.Join(inst.Home, "conf", "deployment.toml")
	for _, file := range []string{conf, filepath.Join(inst.Home, ".mictl-deployment.toml")} {
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	if err := syscall.Kill(inst.Server.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.waitFor("mi-1 failed", func() bool { return d.stateIs("mi-1", "failed") })
	want := conf + " is gone (deleted while the server ran), and the home keeps no copy of it to put back; mictl up renders it and starts the instance again"
	if now := d.instance("mi-1"); now.LastError != want || now.Restarts != 1 {
		t.Fatalf("mi-1 failed after %d restarts saying %q, want after 1 saying %q\n%s", now.Restarts, now.LastError, want, d.events())
	}
	if row := d.statusRow("mi-1"); row.Health == nil || *row.Health != "conf/deployment.toml gone, not put back: mictl up renders it" {
		t.Fatalf("mictl status: mi-1's health %v, want the file named and mictl up", deref(row.Health))
	}
	if n := strings.Count(d.events(), "mi-1 starting pid="); n != 2 {
		t.Fatalf("%d starting events, want those of the first start alone:\n%s", n, d.events())
	}
	d.up(1)
	if got, err := os.ReadFile(conf); err != nil || len(got) == 0 || d.instance("mi-1").State != "ready" {
		t.Fatalf("mictl up did not render conf/deployment.toml and start mi-1 (%v)", err)
	}
}
