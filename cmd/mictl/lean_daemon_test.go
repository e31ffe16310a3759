package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/mictl/mictl/pkg/companion/companiontest"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/supervisor"
)

// installCopy puts a copy of file at dir/name, executable.
func installCopy(t *testing.T, file, dir, name string) {
	t.Helper()
	if err := tryInstallCopy(file, dir, name); err != nil {
		t.Fatal(err)
	}
}

// tryInstallCopy is installCopy, returning what failed.
func tryInstallCopy(file, dir, name string) error {
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// daemonCommandLine is the running daemon's program and arguments.
func (d *deployment) daemonCommandLine() (exe string, args []string) {
	d.t.Helper()
	pid := d.daemonPID()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		d.t.Fatalf("daemon pid %d: %v", pid, err)
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		d.t.Fatal(err)
	}
	return exe, strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")[1:]
}

// With mictl-daemon of the same build beside mictl (as make build leaves
// them), up starts it rather than `mictl daemon`, and it supervises as
// that does: status, a live reload of mictl.toml, down. One from another
// build (here not a Go program at all) is passed over for `mictl daemon`.
func TestLeanDaemon(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	bin := filepath.Join(d.dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	installCopy(t, os.Args[0], bin, "mictl")
	installCopy(t, os.Args[0], bin, supervisor.LeanDaemonExe)
	d.exe = filepath.Join(bin, "mictl")

	d.configFile("rename", fmt.Sprintf("instances = 1\nbase_offset = %d\n", d.base))
	d.must("up", "--timeout", "30s")
	exe, args := d.daemonCommandLine()
	if exe != filepath.Join(bin, supervisor.LeanDaemonExe) || slices.Contains(args, "daemon") {
		t.Fatalf("the daemon runs %s %q, want %s with the daemon's flags alone", exe, args, supervisor.LeanDaemonExe)
	}
	if st := d.statusJSON(); st.Daemon == nil || !st.Daemon.Answering {
		t.Fatalf("status of a lean daemon: %+v", st.Daemon)
	}
	d.configFile("rename", fmt.Sprintf("instances = 2\nbase_offset = %d\n", d.base))
	d.waitReloads(1, 0)
	d.waitFor("mi-2 ready after the reload", func() bool { return d.stateIs("mi-2", "ready") })
	lean := d.state().Daemon.Identity
	d.must("down")
	if lean.Alive() {
		t.Fatalf("the lean daemon (pid %d) still runs after down", lean.PID)
	}
	// down returns once the daemon's main thread has exited; its program
	// can be written over in place once its last thread has too (the
	// kernel may still be releasing its inotify instances for a few
	// milliseconds, and the program is busy meanwhile).
	d.waitFor("the lean daemon's program to be free to write over", func() bool {
		err := tryInstallCopy("/bin/sleep", bin, supervisor.LeanDaemonExe)
		if err != nil && !errors.Is(err, syscall.ETXTBSY) {
			t.Fatal(err)
		}
		return err == nil
	})
	d.must("up", "--timeout", "30s")
	if exe, args := d.daemonCommandLine(); exe != filepath.Join(bin, "mictl") || len(args) == 0 || args[0] != "daemon" {
		t.Errorf("with another program named %s beside mictl the daemon runs %s %q, want mictl daemon", supervisor.LeanDaemonExe, exe, args)
	}
}

// A daemon from another build of mictl (one started before mictl was
// upgraded) is named by the new build's commands and left running; the
// way the warning gives to replace it keeps the servers running, never
// restarted, and the last up's flags: it said to end it and run a plain
// `mictl up`, which planned anew from mictl.toml and forgot them.
func TestDaemonOfAnotherBuildIsNamed(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	old := companiontest.Build(t, t.TempDir())
	upgraded := companiontest.Build(t, t.TempDir())
	d.exe = old
	d.up(1)
	server := d.instance("mi-1").Server
	oldDaemon, err := proc.Identify(d.daemonPID())
	if err != nil {
		t.Fatal(err)
	}

	d.exe = upgraded
	code, _, errOut := d.mictl("status")
	want := fmt.Sprintf("warning: the running mictl daemon (pid %d) is from another build of mictl", oldDaemon.PID)
	if code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("status of the new build: exit %d, want 0 and %q\nstderr:\n%s", code, want, errOut)
	}
	if !oldDaemon.Alive() {
		t.Fatal("status ended the daemon of the old build")
	}
	if got := d.statusJSON().Daemon; got == nil || got.OtherBuild == nil || !*got.OtherBuild {
		t.Errorf("status -o json of the new build: daemon %+v, want other_build true", got)
	}

	_, advice, found := strings.Cut(errOut, fmt.Sprintf("kill -9 %d (it leaves them running; ", oldDaemon.PID))
	_, advice, _ = strings.Cut(advice, "), then mictl ")
	advised, _, _ := strings.Cut(advice, " (")
	if !found || advised == "" {
		t.Fatalf("the warning names no command to run after the kill:\n%s", errOut)
	}
	upArgs := d.state().UpArgs
	if err := proc.Signal(oldDaemon, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the old build's daemon to exit", func() bool { return !oldDaemon.Alive() })
	code, _, errOut = d.mictl(strings.Fields(advised)...)
	if code != 0 || strings.Contains(errOut, "another build") {
		t.Fatalf("mictl %s of the new build after the old daemon ended: exit %d\nstderr:\n%s", advised, code, errOut)
	}
	if got := d.state().UpArgs; !slices.Equal(got, upArgs) {
		t.Errorf("after mictl %s the last up's flags are %q, want %q kept", advised, got, upArgs)
	}
	exe, _ := d.daemonCommandLine()
	if exe != filepath.Join(filepath.Dir(upgraded), supervisor.LeanDaemonExe) {
		t.Fatalf("the daemon runs %s, want the new build's %s", exe, supervisor.LeanDaemonExe)
	}
	if got := d.statusJSON().Daemon; got == nil || got.OtherBuild == nil || *got.OtherBuild {
		t.Errorf("status -o json once the new build's daemon runs: daemon %+v, want other_build false", got)
	}
	if inst := d.instance("mi-1"); inst.Server != server || !server.Alive() || inst.State != "ready" {
		t.Fatalf("mi-1 after the daemon's replacement: %s, server %v (before: %v, alive %v); want the same server, ready\nevents:\n%s",
			inst.State, inst.Server, server, server.Alive(), d.events())
	}
}

// twoCopies puts a copy of mictl in each of the deployment's old/ and new/
// directories, for a test that moves it from one to the other.
func (d *deployment) twoCopies() (oldBin, newBin string) {
	d.t.Helper()
	oldBin, newBin = filepath.Join(d.dir, "old"), filepath.Join(d.dir, "new")
	for _, dir := range []string{oldBin, newBin} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			d.t.Fatal(err)
		}
		installCopy(d.t, os.Args[0], dir, "mictl")
	}
	return oldBin, newBin
}

// mictl copied to another directory and the old copy removed while its
// daemon runs: `mictl restart --all` from the new copy, as README
// advises, moves every instance onto the new copy's simulator. The
// daemon wrote its own removed mictl into the simulator distribution,
// and the restart stopped each instance and could not start it again.
func TestRestartAllAfterMictlMoved(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	oldBin, newBin := d.twoCopies()
	d.exe = filepath.Join(oldBin, "mictl")
	d.up(1)
	if err := os.RemoveAll(oldBin); err != nil {
		t.Fatal(err)
	}
	d.exe = filepath.Join(newBin, "mictl")
	d.must("restart", "--all")
	if script := d.readFile("instances/mi-1/bin/micro-integrator.sh"); !strings.Contains(script, d.exe) {
		t.Errorf("mi-1's start script after the restart:\n%s\nwant it to run %s", script, d.exe)
	}
}

// mictl copied to another directory and the old copy removed while its
// daemon runs, then mictl.toml edited: the daemon's own reload (its watch)
// knows of no simulator but the removed one, and refuses, every instance
// running on as it was; `mictl reload` from the new copy writes the
// simulator distribution for itself first, as `mictl restart` does, and
// restarts the instance onto it. Before, both reloads stopped mi-1 and
// failed to start it again.
func TestReloadAfterMictlMoved(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	oldBin, newBin := d.twoCopies()
	toml := fmt.Sprintf("instances = 1\nbase_offset = %d\n", d.base)
	d.configFile("inplace", toml)
	d.exe = filepath.Join(oldBin, "mictl")
	d.up(1)
	before := d.instance("mi-1").Server
	if err := os.RemoveAll(oldBin); err != nil {
		t.Fatal(err)
	}
	d.exe = filepath.Join(newBin, "mictl")
	d.configFile("inplace", toml+"metrics = true\n") // restarts mi-1
	d.waitReloads(0, 1)
	if inst := d.instance("mi-1"); inst.Server != before || inst.State != "ready" {
		t.Fatalf("mi-1 after the daemon's reload: %s, server %v (before: %v); want it running as it was\nevents:\n%s", inst.State, inst.Server, before, d.events())
	}
	if events := d.events(); !strings.Contains(events, filepath.Join(oldBin, "mictl")+", which is gone") {
		t.Errorf("the refusal does not name the removed mictl:\n%s", events)
	}
	d.must("reload")
	if inst := d.instance("mi-1"); inst.Server == before || inst.State != "ready" {
		t.Fatalf("mi-1 after mictl reload: %s, server %v (before: %v); want it restarted and ready\nevents:\n%s", inst.State, inst.Server, before, d.events())
	}
	if script := d.readFile("instances/mi-1/bin/micro-integrator.sh"); !strings.Contains(script, d.exe) {
		t.Errorf("mi-1's start script after the reload:\n%s\nwant it to run %s", script, d.exe)
	}
}
