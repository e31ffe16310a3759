package cli

import (
	"encoding/json"
	"testing"

	"github.com/mictl/mictl/pkg/observe"
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
		starting bool
		want     bool
	}{{free, true, true}, {free, false, false}, {held, true, false}, {held, false, false}} {
		if got := newLivePort(tt.st, tt.starting).Pending; got != tt.want {
			t.Errorf("newLivePort(%+v, starting %v).Pending = %v, want %v", tt.st, tt.starting, got, tt.want)
		}
	}
}
