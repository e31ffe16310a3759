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
		Holder: "pid 7 (mictl-sim), the server of mi-3", HolderPID: 7, HolderProcess: "mictl-sim", HolderInstance: "mi-3"})
	owned := newLivePort(observe.PortStatus{Port: 8290, Listening: true, Owned: true})
	for _, tt := range []struct {
		lp   livePort
		want string
	}{
		{held, `{"listening":true,"owned":false,"holder":"pid 7 (mictl-sim), the server of mi-3","holder_pid":7,"holder_process":"mictl-sim","holder_instance":"mi-3"}`},
		{owned, `{"listening":true,"owned":true,"holder":null,"holder_pid":null,"holder_process":null,"holder_instance":null}`},
	} {
		if b, err := json.Marshal(tt.lp); err != nil || string(b) != tt.want {
			t.Errorf("json = %s, %v; want %s", b, err, tt.want)
		}
	}
	if got, want := unownedNote("mi-1", "http", 8290, held), "  mi-1's http port 8290 is held by pid 7 (mictl-sim), the server of mi-3"; got != want {
		t.Errorf("note = %q, want %q", got, want)
	}
}
