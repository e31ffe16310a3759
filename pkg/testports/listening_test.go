package testports

import (
	"path/filepath"
	"testing"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
)

// A span with a port something listens on (a server a killed test run
// left, a copy of the suite that takes no lock) is passed over, whichever
// of its offsets and ports it is.
func TestBasePassesOverSpansWithListeners(t *testing.T) {
	t.Setenv(EnvRange, "9000-9999")                       // 4 spans of 40 in the Other block: 9800, 9840, 9880, 9920
	t.Setenv(EnvLock, filepath.Join(t.TempDir(), "lock")) // no other suite's spans
	busy := map[int][]hostnet.Socket{}
	// A port of each span but 9920's, none of them one of 9920's span
	// too (ports of offsets 37, 874, 911 or 948 apart meet).
	for _, held := range []struct {
		offset int
		role   ports.Role
	}{{9800, ports.HTTP}, {9840 + 39, ports.Management}, {9880 + 17, ports.HTTPS}} {
		p := ports.DefaultBases().Shift(held.offset)[held.role]
		busy[p] = []hostnet.Socket{{Proto: hostnet.TCP, Port: p}}
	}
	real := listening
	listening = func() map[int][]hostnet.Socket { return busy }
	t.Cleanup(func() { listening = real })
	for range 10 { // a random pick among the 4 would take a listened one
		t.Run("pick", func(t *testing.T) {
			if b := Base(t, Other, 40); b != 9920 {
				t.Fatalf("Base gave %d, whose span has a port something listens on", b)
			}
		})
	}
}
