package ports

import (
	"errors"
	"fmt"
	"reflect"
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
		{"a busy host port is planned around", Planner{BaseOffset: 10, Step: 1, MinPort: 1024, HostBusy: busy(8290)}, wants(2), []int{11, 12}},
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
		if got := large.Instances[i]; got.Offset != inst.Offset || got.From != inst.From || fmt.Sprint(got.Moved) != fmt.Sprint(inst.Moved) {
			t.Fatalf("growing moved %s: %+v -> %+v", inst.Name, inst, got)
		}
	}
	again, _ := p.Plan(wants(120))
	if !reflect.DeepEqual(again, large) {
		t.Fatal("the same inputs gave a different plan")
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
