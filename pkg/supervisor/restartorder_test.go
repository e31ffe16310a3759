package supervisor

import (
	"fmt"
	"testing"

	"github.com/mictl/mictl/pkg/ports"
)

// mictl restart brings each home up to date before it starts it again: a
// port moved in the distribution's deployment.toml (an edit no daemon
// followed) moves every instance's. Restarted in the order named, mi-1
// started on mi-2's old HTTP port, which mi-2 still held, and failed.
func TestARestartMovingEveryPortStartsNoneOnAnotherInstancesPort(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	// Ports held through a graceful shutdown, as MI's drain holds them:
	// a start on one of them meanwhile fails whatever the timing.
	t.Setenv("MICTL_SIM_SHUTDOWN_DELAY", "300ms")
	s.reload("instances = 2\n")
	for _, name := range []string{"mi-1", "mi-2"} {
		s.next(name, StateReady)
	}
	s.distHTTPMover()(8281)
	if err := s.restartServer().restart([]string{"mi-1", "mi-2"}, siteTimeout, nil); err != nil {
		t.Fatalf("restart: %v\n%s%s", err, s.log("mi-1"), s.log("mi-2"))
	}
	s.assertRunsAt(map[string]int{"mi-1": s.base, "mi-2": s.base + 1}, 8281)
}

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

// The same cycle in the homes mictl restart brings up to date: overrides
// that give mi-1 mi-2's HTTP port and mi-2 mi-1's, edited while no daemon
// followed mictl.toml.
func TestARestartOfInstancesTakingEachOthersPortsRestartsThemTogether(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	t.Setenv("MICTL_SIM_SHUTDOWN_DELAY", "300ms")
	s.reload("instances = 2\n")
	for _, name := range []string{"mi-1", "mi-2"} {
		s.next(name, StateReady)
	}
	s.write("instances = 2\n" +
		"[[instance]]\nname = \"mi-1\"\noverrides = { \"transport.http.listener.port\" = 8281 }\n" +
		"[[instance]]\nname = \"mi-2\"\noverrides = { \"transport.http.listener.port\" = 8279 }\n")
	if err := s.restartServer().restart([]string{"mi-1", "mi-2"}, siteTimeout, nil); err != nil {
		t.Fatalf("restart: %v\n%s%s", err, s.log("mi-1"), s.log("mi-2"))
	}
	f, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	for name, http := range map[string]int{"mi-1": s.base + 8281, "mi-2": s.base + 1 + 8279} {
		if rec, ok := f.Instance(name); !ok || rec.State != StateReady || rec.Ports[ports.HTTP] != http {
			t.Errorf("%s after the restart: %+v, want ready on HTTP port %d", name, rec, http)
		}
	}
}

// restartServer is a control server of the site's supervisor whose
// restarts bring the homes up to date from its mictl.toml, as the
// daemon's do; the file is not watched: no reload comes of its edits.
func (s *simSite) restartServer() *Server {
	srv := NewServer(s.sup)
	srv.watch = &configWatch{sup: s.sup, follow: &Follow{Load: s.load}}
	return srv
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
