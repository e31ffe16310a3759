package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/testports"
)

// A port of a running instance that another instance's server holds
// names that instance, in ports table's note and its -o json; a port
// the instance holds has every holder key, null.
func TestLivePortNamesTheHoldersInstance(t *testing.T) {
	held := newLivePort(observe.PortStatus{Port: 8290, Listening: true,
		Holder: "pid 7 (mictl-sim), the server of mi-3", HolderPID: 7, HolderProcess: "mictl-sim", HolderInstance: "mi-3"}, false)
	owned := newLivePort(observe.PortStatus{Port: 8290, Listening: true, Owned: true}, false)
	for _, tt := range []struct {
		lp   livePort
		want string
	}{
		{held, `{"listening":true,"owned":false,"pending":false,"holder":"pid 7 (mictl-sim), the server of mi-3","holder_pid":7,"holder_process":"mictl-sim","holder_instance":"mi-3"}`},
		{owned, `{"listening":true,"owned":true,"pending":false,"holder":null,"holder_pid":null,"holder_process":null,"holder_instance":null}`},
	} {
		if b, err := json.Marshal(tt.lp); err != nil || string(b) != tt.want {
			t.Errorf("json = %s, %v; want %s", b, err, tt.want)
		}
	}
	if got, want := unownedNote("mi-1", "http", 8290, held), "  mi-1's http port 8290 is held by pid 7 (mictl-sim), the server of mi-3"; got != want {
		t.Errorf("note = %q, want %q", got, want)
	}
}

// Only a port that does not listen while its instance starts is pending:
// one held by another process is a fault even then (the instance will
// not get it), and one that does not listen once started is one too.
func TestLivePortIsPendingOnlyWhileStartingAndFree(t *testing.T) {
	free := observe.PortStatus{Port: 8290}
	held := observe.PortStatus{Port: 8290, Listening: true, Holder: "pid 7 (python3)", HolderPID: 7, HolderProcess: "python3"}
	for _, tt := range []struct {
		st       observe.PortStatus
		changing bool
		want     bool
	}{{free, true, true}, {free, false, false}, {held, true, false}, {held, false, false}} {
		if got := newLivePort(tt.st, tt.changing).Pending; got != tt.want {
			t.Errorf("newLivePort(%+v, changing %v).Pending = %v, want %v", tt.st, tt.changing, got, tt.want)
		}
	}
}

// A stopping instance whose server has closed its ports, as MI does
// before it ends, is what every stop looks like: ports table marked each
// port "!" and "does not listen", a fault. Its closed ports are pending,
// and one note names them, as a starting instance's.
func TestAStoppingInstancesClosedPortsArePending(t *testing.T) {
	self, err := proc.Identify(os.Getpid()) // a server that is alive
	if err != nil {
		t.Fatal(err)
	}
	offset := testports.Base(t, testports.Other, 1)
	rec := state.Instance{Name: "mi-1", State: supervisor.StateStopping, Offset: offset, Bind: "127.0.0.1",
		Ports: ports.DefaultBases().Shift(offset), Server: self}
	view, err := observe.NewView()
	if err != nil {
		t.Fatal(err)
	}
	row := portsRow{Name: rec.Name, Offset: offset, Ports: rec.Ports, Extras: []extraRow{}}
	row.observe(view, rec)
	var pending []string
	for role, port := range row.Ports {
		name := ports.Catalogue[role].Name
		if lp := row.Live[name]; !lp.Pending || lp.Listening {
			t.Errorf("%s %d of a stopping instance: %+v, want pending", name, port, lp)
		}
		pending = append(pending, fmt.Sprintf("%s %d", name, port))
	}
	want := fmt.Sprintf("mi-1 is stopping: no longer listening on %s, as expected until it has stopped (mictl status shows when it has)", strings.Join(pending, ", "))
	if got := pendingNote(row, pending); got != want {
		t.Errorf("note %q\nwant %q", got, want)
	}
}
