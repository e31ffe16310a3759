package main

// End-to-end tests of what commands say when the daemon goes away
// while they report.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/jsonschematest"
)

// An up -o json whose start a mictl down ends (down right after up
// began: the instances are still starting) prints what holds when it
// prints, as mictl status -o json run right after says it: the down made
// the daemon leave, and up's JSON named it "answering": true, a daemon
// gone by then (status: null).
func TestUpJSONEndedByADownAgreesWithStatus(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	// Never ready: the down surely comes while up waits for them.
	up := d.start([]string{"MICTL_SIM_NEVER_READY=1"}, "up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "60s", "-o", "json")
	// Once up's own request runs: a down before it stopped what the
	// daemon's take-over had started, and up's start began them again.
	d.waitFor("up's start to launch the instances", func() bool {
		return strings.Count(up.out.String(), "server process found") == 2
	})
	d.must("down")
	if _, ok := up.wait(time.Minute); !ok {
		t.Fatalf("up did not end within a minute of the down:\n%s", up.out.String())
	}
	// up's stdout, its JSON, comes between lines of its stderr.
	out := up.out.String()
	begin := strings.Index(out, "{\n")
	if begin < 0 {
		t.Fatalf("up printed no JSON:\n%s", out)
	}
	dec := json.NewDecoder(strings.NewReader(out[begin:]))
	var upSays statusReport
	if err := dec.Decode(&upSays); err != nil {
		t.Fatalf("up's JSON: %v\n%s", err, out)
	}
	jsonschematest.Validate(t, "status", []byte(out[begin:begin+int(dec.InputOffset())]))
	status := d.statusJSON()
	if status.Daemon != nil {
		t.Fatalf("mictl status after the down shows the daemon %+v, want none (it left)", *status.Daemon)
	}
	if upSays.Daemon != nil {
		t.Errorf("up's JSON shows the daemon %+v, which the down made leave; mictl status right after shows none:\n%s", *upSays.Daemon, out)
	}
	for _, row := range upSays.Instances {
		if row.State != "stopped" {
			t.Errorf("up's JSON shows %s %s, want stopped (by the down):\n%s", row.Name, row.State, out)
		}
	}
}
