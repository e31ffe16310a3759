package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// eventLogLine is a line of the event log: time, instance, state, an
// optional pid and an optional message.
var eventLogLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) \S+ \S+( pid=\d+)?(: .*)?$`)

// A server that crashes while the state directory's disk is full is
// restarted, and once there is room again the event log holds every event
// of it, each on a line of its own. The log was left ending in a line cut
// short by the full disk, which the next event's line ran into once space
// was back: both, and every event in between, were lost to mictl status
// NAME and to a state rebuilt from the homes.
func TestEventLogAfterAFullDisk(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs under instances/.mictl")
	}
	d := newDeployment(t)
	mnt := filepath.Join(d.dir, "instances", ".mictl")
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("mictl-walk7", mnt, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v", mnt, err)
	}
	t.Cleanup(func() {
		d.cleanup() // down needs the state directory: before it goes
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
	d.up(1)
	victim := d.instance("mi-1").Server.PID

	// The log's last page keeps room for a few bytes of the next line
	// (blank lines, which no reader takes for an event), then the disk
	// fills up: the crash's first event is cut short by the full disk.
	events := filepath.Join(mnt, "events.log")
	info, err := os.Stat(events)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("\n", int((8192-info.Size()%4096-20)%4096))
	f, err := os.OpenFile(events, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		_, err = f.WriteString(pad)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler)
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.waitFor("mi-1 restarted on the full disk", func() bool {
		pids := d.servers()["mi-1"]
		return len(pids) == 1 && pids[0] != victim
	})

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	crashed := fmt.Sprintf(" mi-1 crashed pid=%d: ", victim)
	d.waitFor("the crash in the event log once there is room", func() bool {
		return strings.Contains(d.events(), crashed)
	})
	d.must("restart", "mi-1") // events after those the full disk held back
	for i, line := range strings.Split(strings.TrimSuffix(d.events(), "\n"), "\n") {
		if line != "" && !eventLogLine.MatchString(line) {
			t.Errorf("events.log line %d is not an event: %q", i+1, line)
		}
	}
	log := d.events()
	if at := strings.Index(log, crashed); strings.Count(log, crashed) != 1 || !strings.Contains(log[at:], " mi-1 starting pid=") || !strings.Contains(log[at:], " mi-1 ready pid=") {
		t.Errorf("the event log does not hold the crash of pid %d once, and the restart after it:\n%s", victim, log)
	}
}

// fillDisk writes zeros to path until its filesystem is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for err == nil {
		_, err = f.Write(buf)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fill the disk of %s: %v", path, err)
	}
	// A last page partly written: fill it too, a byte at a time.
	for err = nil; err == nil; {
		_, err = f.Write(buf[:1])
	}
}
