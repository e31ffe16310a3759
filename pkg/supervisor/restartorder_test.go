package supervisor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/ports"
)

// mictl restart brings each home up to date before it starts it again: a
// port moved in the distribution's deployment.toml (an edit no daemon
// followed) moves every instance's. Restarted in the order named, mi-1
// started on mi-2's old HTTP port, which mi-2 still held, and failed.
func TestARestartMovingEveryPortStartsNoneOnAnotherInstancesPort(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	// Ports held through a graceful shutdown, as MI's drain holds them:
	// a start on one of them meanwhile fails whatever the timing.
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "300ms")
	s.reload("instances = 2\n")
	for _, name := range []string{"mi-1", "mi-2"} {
		s.next(name, StateReady)
	}
	s.distHTTPMover()(8281)
	if _, err := s.restartServer().restart([]string{"mi-1", "mi-2"}, siteTimeout, nil); err != nil {
		t.Fatalf("restart: %v\n%s%s", err, s.log("mi-1"), s.log("mi-2"))
	}
	s.assertRunsAt(map[string]int{"mi-1": s.base, "mi-2": s.base + 1}, 8281)
}

// A restart of mi-1 alone, whose moved ports mi-2 holds until its own
// restart, is refused before anything stops: restarted, mi-1 failed on
// mi-2's port and stayed down.
func TestARestartOntoPortsAnInstanceNotNamedHoldsIsRefused(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 2\n")
	ready := s.next("mi-1", StateReady)
	s.next("mi-2", StateReady)
	s.distHTTPMover()(8281)
	_, err := s.restartServer().restart([]string{"mi-1"}, siteTimeout, nil)
	want := "restart mi-1: its ports moved (mictl diff shows how) onto ports mi-2 holds until its own restart; nothing was restarted: restart them together (mictl restart mi-1 mi-2), or apply the change with mictl reload"
	if err == nil || err.Error() != want || exitcode.Of(err) != exitcode.Conflicts {
		t.Fatalf("restart of mi-1 alone: %v (exit %d); want exit 1 and %q", err, exitcode.Of(err), want)
	}
	if inst := s.sup.Instances([]string{"mi-1"})["mi-1"]; inst.State != StateReady || inst.Server.PID != ready.PID {
		t.Errorf("mi-1 after the refused restart: %s, server %d; want ready, still %d", inst.State, inst.Server.PID, ready.PID)
	}
}

// A port mi-1's override moves onto mi-2's for good is a conflict of the
// plan, not one mi-2's restart ends: mictl restart mi-1 starts mi-1 as it
// was and says why, rather than advise restarting mi-2 too, which frees
// nothing.
func TestARestartOntoAnotherInstancesPlannedPortStartsAsItWas(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 2\n")
	s.next("mi-1", StateReady)
	s.next("mi-2", StateReady)
	s.write("instances = 2\n[[instance]]\nname = \"mi-1\"\noverrides = { \"transport.http.listener.port\" = 8281 }\n")
	_, err := s.restartServer().restart([]string{"mi-1"}, siteTimeout, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "restart mi-1: started as it was, its home not brought up to date: the new configuration has conflicts") {
		t.Fatalf("restart of mi-1 onto mi-2's planned port: %v; want it started as it was, saying why", err)
	}
	s.assertRunsAt(map[string]int{"mi-1": s.base}, 8280)
}

// Offsets swapped in mictl.toml: each instance's new ports are the
// other's old ones, which no order of single restarts frees. The reload
// restarts them together, stopping both before it starts either: one at
// a time, mi-1 failed on mi-2's ports.
func TestAReloadSwappingOffsetsRestartsBothTogether(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "300ms")
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
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "300ms")
	s.reload("instances = 2\n")
	for _, name := range []string{"mi-1", "mi-2"} {
		s.next(name, StateReady)
	}
	s.write("instances = 2\n" +
		"[[instance]]\nname = \"mi-1\"\noverrides = { \"transport.http.listener.port\" = 8281 }\n" +
		"[[instance]]\nname = \"mi-2\"\noverrides = { \"transport.http.listener.port\" = 8279 }\n")
	if _, err := s.restartServer().restart([]string{"mi-1", "mi-2"}, siteTimeout, nil); err != nil {
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

// A restart answers with the state at the end of its own roll, and shows
// its client the events of its roll alone: a restart (or a reload) that
// waited behind it begins as it ends, and the table mictl restart --all
// printed showed mi-1 stopping for that next roll, its stream that next
// roll's stop.
func TestARestartShowsTheEndOfItsOwnRoll(t *testing.T) {
	t.Parallel()
	// mi-1's starts take a second: an answer taken once the next roll
	// began finds mi-1 stopping or starting.
	s, srv, first := restartUnderWay(t, 1)
	addr := serveControl(t, s.dir, srv)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The roll under test, and the next one queued behind it.
	var shown []Event
	answered := make(chan Reply, 1)
	go func() {
		reply, err := Call(context.Background(), addr, Request{Op: OpRestart, Names: []string{"mi-1"}, Timeout: siteTimeout}, func(ev Event) {
			shown = append(shown, ev)
		})
		if err != nil {
			t.Errorf("the restart: %v", err)
		}
		answered <- reply
	}()
	s.next("mi-1", StateStopping)
	next := make(chan error, 1)
	go func() {
		var reply Message
		_, err := srv.serve(Request{Op: OpRestart, Names: []string{"mi-1"}, Timeout: siteTimeout}, &reply, nil, false)
		next <- err
	}()
	reply := <-answered
	if err := <-next; err != nil {
		t.Fatal(err)
	}
	if reply.State == nil {
		t.Fatal("the restart's answer carries no state")
	}
	if rec, _ := reply.State.Instance("mi-1"); rec.State != StateReady {
		t.Errorf("the restart answered mi-1 %s; want ready, as its roll ended", rec.State)
	}
	var stops int
	var lines strings.Builder
	for _, ev := range shown {
		if ev.Instance == "mi-1" && ev.State == StateStopping {
			stops++
		}
		fmt.Fprintln(&lines, ev)
	}
	if stops != 1 {
		t.Errorf("the restart showed %d stops of mi-1; want its own alone:\n%s", stops, &lines)
	}
}
