package config

import (
	"slices"
	"testing"
)

// Instance names sort as a user counts them (mi-2 before mi-10), and two
// different names never compare equal (mi-01 and mi-1 are both valid):
// an unstable sort would list them in either order.
func TestCompareNames(t *testing.T) {
	want := []string{"a", "mi-01", "mi-1", "mi-2", "mi-10", "mi-10b", "mi-11", "node-3"}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortFunc(got, CompareNames)
	if !slices.Equal(got, want) {
		t.Fatalf("sorted %q, want %q", got, want)
	}
	if CompareNames("mi-01", "mi-1") == 0 {
		t.Fatal("mi-01 and mi-1 compare equal")
	}
}

// The advice to keep an instance's offset names the [[instance]] table it
// has, where it is, or the table to add when it has none: it said "its
// [[instance]] table" of an instance that only a count named.
func TestPinOffsetNamesTheTableOrOneToAdd(t *testing.T) {
	pinned := 30
	cfg := &Config{File: "conf/mictl.toml", Instance: []InstanceConfig{
		{Name: "mi-2", Pos: "conf/mictl.toml:5:1"},
		{Name: "mi-3", Offset: &pinned, Pos: "conf/mictl.toml:8:1", OffsetPos: "conf/mictl.toml:10:1"},
	}}
	for _, tt := range []struct{ name, want string }{
		{"mi-1", `add to conf/mictl.toml an [[instance]] table with name = "mi-1" and offset = 12`},
		{"mi-2", "set offset = 12 in its [[instance]] table at conf/mictl.toml:5:1"},
		{"mi-3", "set offset = 12 in its [[instance]] table, where conf/mictl.toml:10:1 has offset = 30"},
	} {
		if got := cfg.PinOffset(tt.name, "12"); got != tt.want {
			t.Errorf("PinOffset(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got, want := (&Config{}).PinOffset("mi-1", "12"), `add to mictl.toml an [[instance]] table with name = "mi-1" and offset = 12`; got != want {
		t.Errorf("with no file read: %q, want %q", got, want)
	}
}
