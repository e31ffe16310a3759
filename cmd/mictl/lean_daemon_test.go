package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/supervisor"
)

// installCopy puts a copy of file at dir/name, executable.
func installCopy(t *testing.T, file, dir, name string) {
	t.Helper()
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
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
	d.waitFor("the lean daemon to exit after down", func() bool { return !lean.Alive() })

	installCopy(t, "/bin/sleep", bin, supervisor.LeanDaemonExe)
	d.must("up", "--timeout", "30s")
	if exe, args := d.daemonCommandLine(); exe != filepath.Join(bin, "mictl") || len(args) == 0 || args[0] != "daemon" {
		t.Errorf("with another program named %s beside mictl the daemon runs %s %q, want mictl daemon", supervisor.LeanDaemonExe, exe, args)
	}
}
