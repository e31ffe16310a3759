package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Every mictl command is a short-lived process whose start is much of its
// run: the programs must not link Prometheus's client libraries, whose
// package initialisation alone cost each process about a millisecond
// (pkg/promtext writes and reads the text format instead). Tests may use
// them to check that format.
func TestProgramsLinkNoPrometheusClient(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps",
		"github.com/mictl/mictl/cmd/mictl", "github.com/mictl/mictl/cmd/mictl-daemon").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for dep := range strings.Lines(string(out)) {
		if strings.HasPrefix(dep, "github.com/prometheus/") || strings.HasPrefix(dep, "google.golang.org/protobuf/") {
			t.Errorf("mictl links %s: use pkg/promtext (see its package comment)", strings.TrimSpace(dep))
		}
	}
}
