package reconcile

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/state"
)

// A failed instance keeps the offset it last ran at, as a running one
// does: a failed reload onto a broken mi_home, rolled back, moved mi-1
// from 5005 to the lower offset the host had freed meanwhile, and its
// clients lost it. It is planned afresh once stopped (a down), when a
// stranger took one of its ports, when mictl.toml gives it an offset, or
// when what placed it changed (base_offset, offset_method, its own
// offset...): kept then, `up --base-offset` was ignored for it without a
// word.
func TestAFailedInstanceKeepsItsOffset(t *testing.T) {
	base := planBase(t)
	last := base + 5
	placed := func(base, step int, method string, given *int) *state.Placement {
		return &state.Placement{BaseOffset: base, OffsetStep: step, OffsetMethod: method, Host: "127.0.0.1", Offset: given}
	}
	// Placed where base_offset = base placed it, the host having moved it
	// up (a stranger then on its natural slot).
	byBase := placed(base, 1, config.OffsetMethodTOML, nil)
	failed := func(st string, by *state.Placement) *state.File {
		return &state.File{Instances: []state.Instance{
			{Name: "mi-1", Offset: last, Ports: ports.DefaultBases().Shift(last), State: st, Placed: by},
		}}
	}
	for _, tc := range []struct {
		what     string
		toml     string
		f        *state.File
		offsets  []int
		stranger bool
		want     int
		from     string
		why      string
	}{
		{"failed", "", failed(state.StateFailed, byBase), nil, false, last, ports.OffsetFromRunning, ""},
		{"stopped by a down", "", failed(state.StateStopped, byBase), nil, false, base, ports.OffsetFromPlanner, ""},
		{"failed, a stranger on its http port", "", failed(state.StateFailed, byBase), nil, true, base, ports.OffsetFromPlanner, ""},
		{"failed, an offset in mictl.toml", fmt.Sprintf("[[instance]]\nname = \"mi-1\"\noffset = %d\n", base+2), failed(state.StateFailed, byBase), nil, false, base + 2, ports.OffsetFromConfig,
			fmt.Sprintf("what placed it there changed (its own offset (--offsets, [[instance]] offset) none, now %d)", base+2)},
		// What placed it changed: up --base-offset, or base_offset
		// edited in mictl.toml, was ignored for it without a word.
		{"failed, base_offset changed", "", failed(state.StateFailed, placed(base-1, 1, config.OffsetMethodTOML, nil)), nil, false, base, ports.OffsetFromPlanner,
			fmt.Sprintf("what placed it there changed (base_offset %d, now %d)", base-1, base)},
		{"failed, offset_method changed", "", failed(state.StateFailed, placed(base, 1, config.OffsetMethodFlag, nil)), nil, false, base, ports.OffsetFromPlanner,
			`what placed it there changed (offset_method "flag", now "toml")`},
		{"failed, its --offsets entry dropped", "", failed(state.StateFailed, placed(base, 1, config.OffsetMethodTOML, &last)), nil, false, base, ports.OffsetFromPlanner,
			fmt.Sprintf("what placed it there changed (its own offset (--offsets, [[instance]] offset) %d, now none)", last)},
		{"failed, the same --offsets", "", failed(state.StateFailed, placed(base, 1, config.OffsetMethodTOML, &last)), []int{last}, false, last, ports.OffsetFromFlag, ""},
		{"failed, placed by an older mictl", "", failed(state.StateFailed, nil), nil, false, base, ports.OffsetFromPlanner,
			"mictl has no record of the settings that placed it there (an older mictl started it)"},
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
			target, err := Build(cfg, tc.f, Options{KeepUnknown: true, Offsets: tc.offsets})
			if err != nil {
				t.Fatal(err)
			}
			inst, _ := target.Instance("mi-1")
			if inst.Offset != tc.want || inst.From != tc.from {
				t.Errorf("mi-1 planned at offset %d (%s), want %d (%s)", inst.Offset, inst.From, tc.want, tc.from)
			}
			if why := target.Replanned["mi-1"]; why != tc.why {
				t.Errorf("mi-1 planned again because %q, want %q", why, tc.why)
			}
		})
	}
}
