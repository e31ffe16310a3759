package reconcile

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/state"
)

// A failed instance keeps the offset it last ran at, as a running one
// does: a failed reload onto a broken mi_home, rolled back, moved mi-1
// from 5005 to the lower offset the host had freed meanwhile, and its
// clients lost it. It is planned afresh once stopped (a down), when a
// stranger took one of its ports, or when mictl.toml gives it an offset.
func TestAFailedInstanceKeepsItsOffset(t *testing.T) {
	base := planBase(t)
	last := base + 5
	failed := func(st string) *state.File {
		return &state.File{Instances: []state.Instance{
			{Name: "mi-1", Offset: last, Ports: ports.DefaultBases().Shift(last), State: st},
		}}
	}
	for _, tc := range []struct {
		what     string
		toml     string
		f        *state.File
		stranger bool
		want     int
		from     string
	}{
		{"failed", "", failed(state.StateFailed), false, last, ports.OffsetFromRunning},
		{"stopped by a down", "", failed(state.StateStopped), false, base, ports.OffsetFromPlanner},
		{"failed, a stranger on its http port", "", failed(state.StateFailed), true, base, ports.OffsetFromPlanner},
		{"failed, an offset in mictl.toml", fmt.Sprintf("[[instance]]\nname = \"mi-1\"\noffset = %d\n", base+2), failed(state.StateFailed), false, base + 2, ports.OffsetFromConfig},
	} {
		t.Run(tc.what, func(t *testing.T) {
			cfg := loadConfig(t, fmt.Sprintf("instances = 1\nbase_offset = %d\n%s", base, tc.toml))
			if tc.stranger {
				ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(tc.f.Instances[0].Ports[ports.HTTP])))
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			target, err := Build(cfg, tc.f, Options{KeepUnknown: true})
			if err != nil {
				t.Fatal(err)
			}
			inst, _ := target.Instance("mi-1")
			if inst.Offset != tc.want || inst.From != tc.from {
				t.Errorf("mi-1 planned at offset %d (%s), want %d (%s)", inst.Offset, inst.From, tc.want, tc.from)
			}
		})
	}
}
