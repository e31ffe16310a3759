package main

import (
	"strings"
	"testing"
)

// The processes that supervise instances keep their main thread; the
// guess is made from raw arguments, global flags anywhere among them.
func TestRunsADaemon(t *testing.T) {
	t.Parallel()
	for args, want := range map[string]bool{
		"daemon --instances-dir x":             true,
		"up --foreground":                      true,
		"--config m.yaml up -n 2 --foreground": true,
		"up --foreground=true":                 true,
		"up --foreground=1":                    true,
		"up":                                   false,
		"up --foreground=false":                false,
		"status --foreground":                  false,
		"down":                                 false,
		"logs daemon":                          false,
	} {
		if got := runsADaemon(strings.Fields(args)); got != want {
			t.Errorf("mictl %s: runsADaemon = %v, want %v", args, got, want)
		}
	}
}
