package bench

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/testports"
)

// BenchmarkTopIdleWith20 measures `mictl top` watching 20 instances in a
// real terminal (tmux, 80x24): its CPU over 5 s of refreshes, each one a
// state file read, a /proc walk and a metrics request per instance.
// Target (issue 13): under 1% of a core.
func BenchmarkTopIdleWith20(b *testing.B) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		b.Skip("tmux is not installed")
	}
	mictl := buildMictl(b)
	s := newSite(b, mictl, "MICTL_SIM_STARTUP_DELAY=0")
	s.run("up", "--instances", "20", "--base-offset", fmt.Sprint(testports.Base(b, testports.Bench, 100)))
	session := fmt.Sprintf("mictl-bench-top-%d", time.Now().UnixNano())
	if out, err := exec.Command(tmux, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", s.dir,
		"exec "+mictl+" top").CombinedOutput(); err != nil {
		b.Fatalf("tmux: %v\n%s", err, out)
	}
	b.Cleanup(func() { _ = exec.Command(tmux, "kill-session", "-t", session).Run() })
	out, err := exec.Command(tmux, "list-panes", "-t", session, "-F", "#{pane_pid}").Output()
	if err != nil {
		b.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		b.Fatalf("pane pid %q: %v", out, err)
	}
	var cpu float64
	for b.Loop() {
		time.Sleep(2 * time.Second) // first samples, first scrapes
		const idle = 5 * time.Second
		t0 := cpuTime(b, pid)
		time.Sleep(idle)
		cpu = float64(cpuTime(b, pid)-t0) / float64(idle) * 100 // % of one core
	}
	b.ReportMetric(cpu, "top-idle-cpu-%")
}
