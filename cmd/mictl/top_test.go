package main

// mictl top in a real terminal: tmux gives it a pty 80 columns wide,
// takes keys and shows what is on the screen.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mictl/mictl/pkg/jsonschematest"
)

// terminal is a private tmux server (its own socket) whose sessions run
// mictl as the user would; it is killed when the test ends, pass or fail.
type terminal struct {
	t    *testing.T
	tmux string
	sock string
}

func newTerminal(t *testing.T) *terminal {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux not found: the top tests need it (make test-deps-metrics)")
		}
		t.Skip("tmux not found: the top tests need it (make test-deps-metrics)")
	}
	term := &terminal{t: t, tmux: tmux, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	t.Cleanup(func() { _ = exec.Command(tmux, "-S", term.sock, "kill-server").Run() })
	// The server outlives its sessions, so a session ended by a test
	// (top quit) does not take the server down under the next one.
	term.run("start-server", ";", "set-option", "-g", "exit-empty", "off")
	return term
}

// run runs a tmux command.
func (term *terminal) run(args ...string) string {
	term.t.Helper()
	cmd := exec.Command(term.tmux, append([]string{"-S", term.sock}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		term.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start runs mictl args in a new detached 80x24 session in d's directory,
// with env added to the session's environment.
func (term *terminal) start(d *deployment, session string, env []string, args ...string) {
	term.t.Helper()
	term.startShell(d, session, env, "exec "+os.Args[0]+" "+strings.Join(args, " "))
}

// startShell runs the shell command line in a new session.
func (term *terminal) startShell(d *deployment, session string, env []string, line string) {
	term.t.Helper()
	tmuxArgs := []string{"new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", d.dir}
	for _, kv := range append([]string{asMictl + "=1", "GORACE=atexit_sleep_ms=0", "TERM=xterm-256color"}, env...) {
		tmuxArgs = append(tmuxArgs, "-e", kv)
	}
	term.run(append(tmuxArgs, line)...)
}

// screen is what session shows now; escapes keeps the SGR sequences.
func (term *terminal) screen(session string, escapes bool) string {
	term.t.Helper()
	args := []string{"capture-pane", "-p", "-t", session}
	if escapes {
		args = append(args, "-e")
	}
	return term.run(args...)
}

// waitScreen waits until session shows what match accepts.
func (term *terminal) waitScreen(d *deployment, session, what string, match func(string) bool) string {
	term.t.Helper()
	var last string
	d.waitFor(what, func() bool {
		last = term.screen(session, false)
		return match(last)
	})
	return last
}

// alive reports whether session still runs (its program has not exited).
func (term *terminal) alive(session string) bool {
	return exec.Command(term.tmux, "-S", term.sock, "has-session", "-t", session).Run() == nil
}

var readyRow = regexp.MustCompile(`(?m)^mi-[12] +ready +\d+ +\d+s +0 +\d+\.\d +\d+(\.\d)?[KMG] +\d+ `)

func TestTopInATerminal(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	term := newTerminal(t)
	term.start(d, "top", []string{"NO_COLOR="}, "top") // empty: colour on, whatever CI sets
	screen := term.waitScreen(d, "top", "two ready rows with CPU and memory", func(s string) bool {
		return len(readyRow.FindAllString(s, -1)) == 2
	})
	for _, want := range []string{"mictl top 2 instances: 2 ready", "NAME", "CPU%", "RSS", "THR", "REQ/S", "P95", "q quit"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	for _, line := range strings.Split(screen, "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("a line of %d columns in an 80-column terminal: %q", n, line)
		}
	}
	// Colour is on in a terminal: the title is bold.
	if !strings.Contains(term.screen("top", true), "\x1b[1m") {
		t.Error("no bold title on a colour terminal")
	}

	for key, order := range map[string]string{"m": "memory", "c": "cpu", "r": "restarts", "n": "name"} {
		term.run("send-keys", "-t", "top", key)
		term.waitScreen(d, "top", "sort by "+order, func(s string) bool { return strings.Contains(s, "sort: "+order) })
	}
	term.run("send-keys", "-t", "top", "q")
	d.waitFor("top to quit on q", func() bool { return !term.alive("top") })

	// Ctrl-C quits too, and NO_COLOR leaves every line unstyled.
	term.start(d, "plain", []string{"NO_COLOR=1"}, "top")
	term.waitScreen(d, "plain", "rows", func(s string) bool { return len(readyRow.FindAllString(s, -1)) == 2 })
	if s := term.screen("plain", true); strings.Contains(s, "\x1b[") {
		t.Errorf("styled output under NO_COLOR:\n%q", s)
	}
	term.run("send-keys", "-t", "plain", "C-c")
	d.waitFor("top to quit on Ctrl-C", func() bool { return !term.alive("plain") })

	// A SIGINT from outside quits as the keys do: exit 0, not an error.
	// (A shell records the exit status: tmux 3.3 shows none for 0.)
	status, stderr := filepath.Join(d.dir, "top.status"), filepath.Join(d.dir, "top.stderr")
	term.startShell(d, "signalled", nil, os.Args[0]+" top 2> "+stderr+"; echo $? > "+status)
	term.waitScreen(d, "signalled", "rows", func(s string) bool { return len(readyRow.FindAllString(s, -1)) == 2 })
	shell := strings.TrimSpace(term.run("display-message", "-p", "-t", "signalled", "#{pane_pid}"))
	children, err := os.ReadFile("/proc/" + shell + "/task/" + shell + "/children")
	pid, perr := strconv.Atoi(strings.TrimSpace(string(children)))
	if err != nil || perr != nil {
		t.Fatalf("the pid of top under the pane's shell %s: %q, %v, %v", shell, children, err, perr)
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var code []byte
	d.waitFor("top to quit on SIGINT", func() bool {
		code, err = os.ReadFile(status)
		return err == nil && len(code) > 0
	})
	if got := strings.TrimSpace(string(code)); got != "0" {
		said, _ := os.ReadFile(stderr)
		t.Errorf("top after SIGINT: exit %s, want 0; stderr:\n%s", got, said)
	}
}

func TestTopSnapshot(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	// Not a terminal: one plain table, without being asked.
	out := d.must("top", "--interval", "200ms")
	if !strings.Contains(out, "| NAME | STATE |") || strings.Count(out, "| ready |") != 2 {
		t.Errorf("top on a pipe:\n%s", out)
	}
	var rows []map[string]any
	out = d.must("top", "-o", "json", "--interval", "200ms")
	jsonschematest.Validate(t, "top", []byte(out))
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	keys := []string{"name", "state", "pid", "uptime_seconds", "restarts", "cpu_percent", "rss_bytes", "threads",
		"requests_per_second", "error_percent", "p95_latency_seconds", "p95_latency_bound"}
	for _, r := range rows {
		for _, k := range keys {
			if _, ok := r[k]; !ok {
				t.Errorf("%v lacks %q", r["name"], k)
			}
		}
		if len(r) != len(keys) {
			t.Errorf("%v has keys %v, want exactly %v", r["name"], r, keys)
		}
		if r["state"] != "ready" || r["pid"] == nil || r["cpu_percent"] == nil || r["rss_bytes"].(float64) <= 0 || r["threads"].(float64) <= 0 {
			t.Errorf("row %v", r)
		}
	}

	// A stopped instance: what is unknown is null.
	d.must("down", "mi-2", "--timeout", "10s")
	out = d.must("top", "--once", "-o", "json", "--interval", "200ms")
	jsonschematest.Validate(t, "top", []byte(out))
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r["name"] == "mi-2" && (r["state"] != "stopped" || r["pid"] != nil || r["rss_bytes"] != nil || r["cpu_percent"] != nil) {
			t.Errorf("stopped mi-2: %v", r)
		}
	}
}
