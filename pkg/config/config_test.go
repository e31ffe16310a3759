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
