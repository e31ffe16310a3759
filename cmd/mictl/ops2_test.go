package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mictl/mictl/pkg/jsonschematest"
)

// A state directory the daemon cannot write: status's footer said "free
// the space or fix the file" whatever the cause. It now says what to do
// for the cause the daemon recorded from the error number, in the table
// and in -o json's save_failure.cause: remount a read-only file system
// (root, a read-only bind mount), give access to a directory denied
// (another user, a chmod).
func TestStatusSaysWhatToDoForTheCauseOfAFailedSave(t *testing.T) {
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
