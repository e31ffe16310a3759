package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/metrics/promtest"
)

// A state directory the daemon cannot write: status's footer said "free
// the space or fix the file" whatever the cause. It now says what to do
// for the cause the daemon recorded from the error number, in the table
// and in -o json's save_failure.cause: remount a read-only file system
// (root, a read-only bind mount), give access to a directory denied
// (another user, a chmod).
func TestStatusSaysWhatToDoForTheCauseOfAFailedSave(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	dir := filepath.Join(d.dir, "instances", ".mictl")
	readOnly(t, dir)
	// As the user named it: instances_dir is relative.
	cause, remedy := "read_only", "remount the file system holding instances/.mictl read-write"
	if os.Geteuid() != 0 {
		cause, remedy = "permission_denied", "give the daemon's user write access to instances/.mictl"
	}
	// A crash and its restart are changes the daemon must write (the
	// state file, behind, cannot say when the restart is done).
	victim := d.instance("mi-1").Server.PID
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var report struct {
		SaveFailure *struct {
			Error string  `json:"error"`
			Cause *string `json:"cause"`
		} `json:"save_failure"`
	}
	d.waitFor("the save failure in status", func() bool {
		_, out, _ := d.mictl("status", "-o", "json")
		report.SaveFailure = nil
		return json.Unmarshal([]byte(out), &report) == nil && report.SaveFailure != nil
	})
	_, out, _ := d.mictl("status", "-o", "json")
	jsonschematest.Validate(t, "status", []byte(out))
	if sf := report.SaveFailure; sf.Cause == nil || *sf.Cause != cause {
		t.Errorf("save_failure = %+v, want the cause %q", *sf, cause)
	}
	_, _, errOut := d.mictl("status")
	if !strings.Contains(errOut, "state not saved: ") || !strings.Contains(errOut, remedy) || strings.Contains(errOut, "free the space") {
		t.Errorf("status: want the save failure with %q, and not the generic advice:\n%s", remedy, errOut)
	}
}

// An up on a full disk failed clearly (exit 3, "no space left on
// device") but left the homes it had begun, empty or half copied, which
// every later command took for instances. It now removes the homes it
// created and could not finish, says so, and never touches a home that
// was there before it.
func TestUpOnAFullDiskRemovesTheHomesItBegan(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs as instances/")
	}
	d := newDeployment(t)
	mnt := filepath.Join(d.dir, "instances")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("mictl-ops2", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v", mnt, err)
	}
	filler := filepath.Join(mnt, "filler")
	t.Cleanup(func() {
		os.Remove(filler)
		d.cleanup() // down needs the state directory: before it goes
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
	d.up(1)
	d.must("down")
	fillDisk(t, filler)
	code, _, errOut := d.mictl("up", "--instances", "3", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	want := "removed what this up had made of instances/mi-2 and instances/mi-3: the next mictl up makes them again"
	if code != 3 || !strings.Contains(errOut, "no space left on device") || !strings.Contains(errOut, want) {
		t.Fatalf("up on a full disk: exit %d, want 3, the full disk and %q:\n%s", code, want, errOut)
	}
	for name, kept := range map[string]bool{"mi-1": true, "mi-2": false, "mi-3": false} {
		if _, err := os.Stat(filepath.Join(mnt, name)); (err == nil) != kept {
			t.Errorf("%s: %v; want it kept %v", name, err, kept)
		}
	}
	// Room again: the next up makes them.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	d.up(3)
}

// mictl logs of an instance whose log was deleted while its server still
// writes to it printed nothing and exited 0 with a note: the server
// holds the file open, and it is read through /proc/PID/fd, with a note
// that says the file was deleted. Both logs, console.log and MI's own.
func TestLogsReadsALogDeletedUnderItsServer(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(1)
	pid := d.instance("mi-1").Server.PID
	home := filepath.Join(d.dir, "instances", "mi-1")
	for file, path := range map[string]string{"console": "logs/console.log", "carbon": "repository/logs/wso2carbon.log"} {
		if err := os.Remove(filepath.Join(home, path)); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := d.mictl("logs", "--file", file, "mi-1")
		note := fmt.Sprintf("mi-1: its log instances/mi-1/%s was deleted while the server (pid %d) still writes to it: read from /proc/%d/fd/", path, pid, pid)
		if code != 0 || !strings.Contains(out, "WSO2 Micro Integrator started") || !strings.Contains(errOut, note) {
			t.Errorf("logs --file %s of a deleted log: exit %d, want 0, its lines and %q\nstdout:\n%s\nstderr:\n%s", file, code, note, out, errOut)
		}
	}
}

// RESTARTS showed 2 beside "restart 2 at HH:MM:SS" while that restart
// still waited in backoff: it counted restarts scheduled. It counts those
// made, in the table, status NAME, -o json and the metrics alike; the
// one waiting is numbered as it will be counted.
func TestRestartsCountsRestartsMade(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	addr := promtest.FreeAddr(t)
	d.up(1, "--backoff", "1m", "--metrics-addr", addr)
	d.crash(d.instance("mi-1")) // the first restart is made at once
	victim := d.instance("mi-1").Server.PID
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.waitFor("mi-1 in backoff", func() bool { return d.stateIs("mi-1", "backoff") })
	row := d.statusRow("mi-1")
	if row.Restarts != 1 || row.Health == nil || !strings.Contains(*row.Health, "; restart 2 at ") {
		t.Errorf("status -o json: restarts %d, health %q; want 1 made, and restart 2 waiting", row.Restarts, deref(row.Health))
	}
	_, table, _ := d.mictl("status")
	if !regexp.MustCompile(`\| mi-1 \| backoff \| - +\| - +\| 1 +\|`).MatchString(table) {
		t.Errorf("status: want RESTARTS 1 for mi-1:\n%s", table)
	}
	if _, detail, _ := d.mictl("status", "mi-1"); !strings.Contains(detail, "\nrestarts:     1\n") {
		t.Errorf("status mi-1: want restarts 1:\n%s", detail)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := `mictl_instance_restarts_total{instance_name="mi-1"} `
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, want) && line != want+"1\n" {
			t.Errorf("metrics: %q, want %s1", line, want)
		}
	}
	// A daemon that takes over an instance left in backoff makes the
	// restart at once: counted then.
	d.killDaemon()
	d.mictl("status") // starts the next daemon
	d.waitFor("mi-1 restarted by the next daemon", func() bool { return d.stateIs("mi-1", "ready") })
	if n := d.instance("mi-1").Restarts; n != 2 {
		t.Errorf("after the restart the next daemon made: %d restarts, want 2", n)
	}
}
