package supervisor

import (
	"fmt"
	"testing"

	"github.com/mictl/mictl/pkg/ports"
)

// Offsets swapped in mictl.toml: each instance's new ports are the
// other's old ones, which no order of single restarts frees. The reload
// restarts them together, stopping both before it starts either: one at
// a time, mi-1 failed on mi-2's ports.
func TestAReloadSwappingOffsetsRestartsBothTogether(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	t.Setenv("MICTL_SIM_SHUTDOWN_DELAY", "300ms")
	offsets := func(first, second int) string {
		return fmt.Sprintf("instances = 2\n[[instance]]\nname = \"mi-1\"\noffset = %d\n[[instance]]\nname = \"mi-2\"\noffset = %d\n", first, second)
	}
	s.reload(offsets(s.base, s.base+1))
	for _, name := range []string{"mi-1", "mi-2"} {
		s.next(name, StateReady)
	}
	s.reload(offsets(s.base+1, s.base))
	s.assertRunsAt(map[string]int{"mi-1": s.base + 1, "mi-2": s.base}, 8280)
}

// assertRunsAt checks that each instance of offsets is ready at its
// offset, with the HTTP port http (the distribution's listener.port)
// plus it.
func (s *simSite) assertRunsAt(offsets map[string]int, http int) {
	s.t.Helper()
	f, err := s.sup.current()
	if err != nil {
		s.t.Fatal(err)
	}
	for name, offset := range offsets {
		rec, ok := f.Instance(name)
		if !ok || rec.State != StateReady || rec.Offset != offset || rec.Ports[ports.HTTP] != http+offset {
			s.t.Errorf("%s: %+v, want ready at offset %d, HTTP port %d\n%s", name, rec, offset, http+offset, s.log(name))
		}
	}
}
