package whose

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

// runIn starts a process with CARBON_HOME dir (none when ""), in group
// pgid (a group of its own when 0), and returns its pid; the test's end
// kills it.
func runIn(t *testing.T, dir string, pgid int) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if dir != "" {
		cmd.Env = append(cmd.Env, "CARBON_HOME="+dir)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// serves writes dir's pid file naming pid, as MI's server does.
func serves(t *testing.T, dir string, pid int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(home.PIDFile(dir), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOf(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	instances := filepath.Join(root, "instances")
	mi1, mi2, mi3 := filepath.Join(instances, "mi-1"), filepath.Join(instances, "mi-2"), filepath.Join(instances, "mi-3")
	other := filepath.Join(root, "elsewhere", "instances", "mi-1")

	// mi-3 runs as mictl started it: its script leads its group, with
	// its server in it.
	script3 := runIn(t, mi3, 0)
	server3 := runIn(t, mi3, script3)
	serves(t, mi3, server3)
	records := []state.Instance{
		{Name: "mi-1", Home: mi1}, // stopped
		{Name: "mi-3", Home: mi3, PGID: script3, Script: proc.Identity{PID: script3}, Server: proc.Identity{PID: server3}},
	}
	// mi-2 has no record (generated, never started) and runs a server
	// started by hand, and a second process there.
	hand2 := runIn(t, mi2, 0)
	serves(t, mi2, hand2)
	other2 := runIn(t, mi2, 0)
	// mi-1 is recorded stopped; a server runs in its home by hand.
	hand1 := runIn(t, mi1, 0)
	serves(t, mi1, hand1)
	// Another deployment's server, and a process that only says that
	// home without being its server.
	elsewhere := runIn(t, other, 0)
	serves(t, other, elsewhere)
	loose := runIn(t, filepath.Join(root, "elsewhere", "instances", "mi-9"), 0)
	none := runIn(t, "", 0)

	d := New("instances", records)
	for _, tt := range []struct {
		name            string
		pid             int
		instance, about string
	}{
		{"the server of an instance mictl started", server3, "mi-3", ", the server of mi-3"},
		{"another process of it", script3, "mi-3", ", a process of mi-3"},
		{"a server started by hand in an unrecorded home", hand2, "mi-2", ", a server mictl did not start running in mi-2's home (instances/mi-2)"},
		{"a process started by hand there", other2, "mi-2", ", a process mictl did not start running in mi-2's home (instances/mi-2)"},
		{"a server started by hand in a stopped instance's home", hand1, "mi-1", ", a server mictl did not start running in mi-1's home (instances/mi-1)"},
		{"the server of another deployment's home", elsewhere, "", ", a server running in " + other},
		{"a process that only names a home", loose, "", ""},
		{"a process of no home", none, "", ""},
		{"no process", 0, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			instance, about := d.Of(tt.pid)
			if instance != tt.instance || about != tt.about {
				t.Errorf("Of(%d) = %q, %q; want %q, %q", tt.pid, instance, about, tt.instance, tt.about)
			}
		})
	}
}
