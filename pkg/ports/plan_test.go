package ports

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func intp(n int) *int { return &n }

func wants(n int) []Want {
	ws := make([]Want, n)
	for i := range ws {
		ws[i] = Want{Name: fmt.Sprintf("mi-%d", i+1), Bases: DefaultBases()}
	}
	return ws
}

func offsets(p Plan) []int {
	out := make([]int, len(p.Instances))
	for i, inst := range p.Instances {
		out[i] = inst.Offset
	}
	return out
}

func defaultPlanner() Planner {
	return Planner{BaseOffset: DefaultOffset, Step: 1, MinPort: FirstUnprivileged}
}

func TestCatalogueMatchesMIFacts(t *testing.T) {
	// docs/mi-facts.md "Ports": with the default offset 10 the ports are 8290, 8253, 9201, 9164.
	got := DefaultBases().Shift(DefaultOffset)
	if want := (Set{8290, 8253, 9201, 9164}); got != want {
		t.Fatalf("default ports at offset 10 = %v, want %v", got, want)
	}
}

func TestPlan(t *testing.T) {
	busy := func(ports ...int) func(int) bool {
		set := map[int]bool{}
		for _, p := range ports {
			set[p] = true
		}
		return func(p int) bool { return set[p] }
	}
	tests := []struct {
		name    string
		planner Planner
		wants   []Want
		offsets []int
	}{
		{"three instances take consecutive offsets from 10", defaultPlanner(), wants(3), []int{10, 11, 12}},
		{"step is honoured", Planner{BaseOffset: 10, Step: 10, MinPort: 1024}, wants(3), []int{10, 20, 30}},
		{
			// mi-1 at 47 has https 8290 = http of offset 10 (docs/mi-facts.md: a-b = 37 collides across types).
			"auto offset avoids a cross-role clash with an explicit one",
			defaultPlanner(),
			[]Want{{Name: "mi-1", Offset: intp(47), Bases: DefaultBases()}, {Name: "mi-2", Bases: DefaultBases()}},
			[]int{47, 11},
		},
		{
			"explicit offsets are kept even when they clash",
			defaultPlanner(),
			[]Want{{Name: "mi-1", Offset: intp(10), Bases: DefaultBases()}, {Name: "mi-2", Offset: intp(47), Bases: DefaultBases()}},
			[]int{10, 47},
		},
		// Only mi-1 moves: mi-2's clients keep their ports.
		{"a busy host port moves only its instance", Planner{BaseOffset: 10, Step: 1, MinPort: 1024, HostBusy: busy(8290)}, wants(2), []int{12, 11}},
		{"busy management port is planned around", Planner{BaseOffset: 10, Step: 1, MinPort: 1024, HostBusy: busy(9164, 9165)}, wants(1), []int{12}},
		{
			"privileged bases climb above MinPort",
			Planner{BaseOffset: 0, Step: 1, MinPort: 1024},
			[]Want{{Name: "mi-1", Bases: Set{80, 443, 9191, 9154}}},
			[]int{944},
		},
		{
			"root may use privileged ports",
			Planner{BaseOffset: 0, Step: 1, MinPort: 1},
			[]Want{{Name: "mi-1", Bases: Set{80, 443, 9191, 9154}}},
			[]int{0},
		},
		{
			"explicit base ports from deployment.toml shift with the offset",
			defaultPlanner(),
			[]Want{{Name: "mi-1", Bases: Set{8300, 8243, 9191, 9154}}, {Name: "mi-2", Bases: DefaultBases()}},
			[]int{10, 11},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := tt.planner.Plan(tt.wants)
			if err != nil {
				t.Fatal(err)
			}
			if got := offsets(plan); fmt.Sprint(got) != fmt.Sprint(tt.offsets) {
				t.Fatalf("offsets = %v, want %v", got, tt.offsets)
			}
			for i, inst := range plan.Instances {
				if fixed := inst.From != OffsetFromPlanner; fixed != (tt.wants[i].Offset != nil) {
					t.Errorf("%s: offset from %q, want fixed = %v", inst.Name, inst.From, tt.wants[i].Offset != nil)
				}
			}
		})
	}
}

func TestPlanAutoInstancesAreDisjoint(t *testing.T) {
	for _, step := range []int{1, 2, 7, 37} {
		plan, err := Planner{BaseOffset: 10, Step: step, MinPort: 1024}.Plan(wants(300))
		if err != nil {
			t.Fatal(err)
		}
		owner := map[int]string{}
		for _, inst := range plan.Instances {
			if (inst.Offset-10)%step != 0 {
				t.Errorf("step %d: %s offset %d is off the grid", step, inst.Name, inst.Offset)
			}
			for role, port := range inst.Ports() {
				if prev, dup := owner[port]; dup {
					t.Fatalf("step %d: port %d of %s %s already used by %s", step, port, inst.Name, Role(role), prev)
				}
				owner[port] = inst.Name
			}
		}
	}
}

func TestPlanIsStableWhenGrowing(t *testing.T) {
	busy := func(p int) bool { return p%97 == 0 } // a scattered, fixed host
	p := Planner{BaseOffset: 10, Step: 1, MinPort: 1024, HostBusy: busy}
	small, err := p.Plan(wants(40))
	if err != nil {
		t.Fatal(err)
	}
	large, err := p.Plan(wants(120))
	if err != nil {
		t.Fatal(err)
	}
	for i, inst := range small.Instances {
		// One the host moved goes past the others' natural slots, which
		// the newcomers add to.
		if inst.Moved != nil {
			continue
		}
		if got := large.Instances[i]; got.Offset != inst.Offset || got.From != inst.From || got.Moved != nil {
			t.Fatalf("growing moved %s: %+v -> %+v", inst.Name, inst, got)
		}
	}
	again, _ := p.Plan(wants(120))
	if !reflect.DeepEqual(again, large) {
		t.Fatal("the same inputs gave a different plan")
	}
}

// A stranger on one instance's port moves that instance alone: the others
// keep the offsets an idle host gives them, and every port set stays
// disjoint and free on the host.
func TestPlanMovesOnlyTheInstanceTheHostDisplaces(t *testing.T) {
	const base = 17000
	stranger := DefaultBases().Shift(base + 1)[HTTP] // mi-2's HTTP port
	p := Planner{BaseOffset: base, Step: 1, MinPort: 1024, HostBusy: func(port int) bool { return port == stranger }}
	plan, err := p.Plan(wants(4))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := offsets(plan), []int{base, base + 4, base + 2, base + 3}; !reflect.DeepEqual(got, want) {
		t.Fatalf("offsets = %v, want %v", got, want)
	}
	for _, inst := range plan.Instances {
		if (inst.Moved != nil) != (inst.Name == "mi-2") {
			t.Errorf("%s: moved = %+v", inst.Name, inst.Moved)
		}
	}
	if m, want := plan.Instances[1].Moved, (Move{Skipped: base + 1, Port: stranger, Role: "http", Passed: 1}); *m != want {
		t.Errorf("mi-2 moved = %+v, want %+v", *m, want)
	}

	// The same on a scattered host, around fixed offsets: each instance the
	// host leaves alone is where an idle host puts it.
	busy := func(port int) bool { return port%53 == 0 }
	ws := wants(60)
	ws[3].Offset, ws[3].From = intp(40), OffsetFromRunning
	ws[7].Offset, ws[7].From = intp(11), OffsetFromFlag
	idle, err := Planner{BaseOffset: 10, Step: 1, MinPort: 1024}.Plan(ws)
	if err != nil {
		t.Fatal(err)
	}
	plan, err = Planner{BaseOffset: 10, Step: 1, MinPort: 1024, HostBusy: busy}.Plan(ws)
	if err != nil {
		t.Fatal(err)
	}
	owner := map[int]string{}
	for i, inst := range plan.Instances {
		natural := idle.Instances[i]
		if inst.Moved == nil && inst.Offset != natural.Offset {
			t.Errorf("%s: offset %d, an idle host's %d, and not moved", inst.Name, inst.Offset, natural.Offset)
		}
		if inst.Moved != nil && (inst.Moved.Skipped != natural.Offset || inst.Offset <= natural.Offset) {
			t.Errorf("%s: moved from %d to %d, natural slot %d", inst.Name, inst.Moved.Skipped, inst.Offset, natural.Offset)
		}
		for _, port := range inst.Ports() {
			if prev, dup := owner[port]; dup {
				t.Errorf("port %d of %s is %s's too", port, inst.Name, prev)
			}
			if busy(port) && inst.From == OffsetFromPlanner {
				t.Errorf("%s planned on busy port %d", inst.Name, port)
			}
			owner[port] = inst.Name
		}
	}
	if plan.Instances[3].Offset != 40 || plan.Instances[7].Offset != 11 {
		t.Errorf("fixed offsets not kept: %v", offsets(plan))
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name    string
		planner Planner
		wants   []Want
		noRoom  bool
	}{
		{"no room above 65535", Planner{BaseOffset: 56344, Step: 1, MinPort: 1024}, wants(2), true},
		{"step zero", Planner{BaseOffset: 10, Step: 0, MinPort: 1024}, wants(1), false},
		{"negative base offset", Planner{BaseOffset: -1, Step: 1, MinPort: 1024}, wants(1), false},
		{"two roles share a base", defaultPlanner(), []Want{{Name: "mi-1", Bases: Set{8280, 8280, 9191, 9154}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.planner.Plan(tt.wants)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrNoRoom) != tt.noRoom {
				t.Fatalf("errors.Is(ErrNoRoom) = %v for %v", !tt.noRoom, err)
			}
		})
	}
}

// Out of room, the planner names the whole span of offsets it had, from
// the base offset: it named the offset where its search resumed for the
// instance that did not fit ("every offset from 56344 up to 56344" for
// ten instances from base offset 56340).
func TestNoRoomNamesTheSpanFromTheBaseOffset(t *testing.T) {
	_, err := Planner{BaseOffset: 56340, Step: 1, MinPort: 1024}.Plan(wants(10))
	want := "mi-6: no room in the port space: every offset from 56340 up to 56344 (step 1) clashes with another instance or a busy host port, and a higher one would push port 9191 past 65535"
	if !errors.Is(err, ErrNoRoom) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %v, want %q...", err, want)
	}
}

// A step above 1 skips offsets that would fit: with --offset-step 30000
// three instances found no room, and the error named base_offset alone
// as the way out. It names offset_step too, and not with a step of 1,
// which cannot go lower.
func TestNoRoomNamesTheStepWhenItCanBeLowered(t *testing.T) {
	for _, c := range []struct {
		step  int
		names bool
	}{{30000, true}, {1, false}} {
		base := 10
		if c.step == 1 {
			base = 56340
		}
		_, err := Planner{BaseOffset: base, Step: c.step, MinPort: 1024}.Plan(wants(10))
		if !errors.Is(err, ErrNoRoom) || strings.Contains(err.Error(), "lower offset_step or base_offset (--offset-step, --base-offset, or their keys in mictl.toml)") != c.names {
			t.Errorf("step %d: %v; want offset_step named: %v", c.step, err, c.names)
		}
	}
}

func TestSetJSONRoundTrip(t *testing.T) {
	s := DefaultBases().Shift(10)
	data, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"http":8290,"https":8253,"internal_http":9201,"management":9164}`; string(data) != want {
		t.Fatalf("json = %s, want %s", data, want)
	}
	var back Set
	if err := back.UnmarshalJSON(data); err != nil || back != s {
		t.Fatalf("round trip = %v, %v", back, err)
	}
	if err := back.UnmarshalJSON([]byte(`{"jmx":1}`)); err == nil {
		t.Fatal("unknown role accepted")
	}
}

func BenchmarkPlan1000(b *testing.B) {
	ws := wants(1000)
	p := defaultPlanner()
	for b.Loop() {
		if _, err := p.Plan(ws); err != nil {
			b.Fatal(err)
		}
	}
}
