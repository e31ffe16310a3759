package supervisor

import "testing"

// A restart's step names its instances' homes as many as they are.
func TestHomesOfAStepAgreeWithItsCount(t *testing.T) {
	for _, tt := range []struct {
		step []string
		want string
	}{
		{[]string{"mi-1"}, "its home"},
		{[]string{"mi-1", "mi-2"}, "their homes"},
	} {
		if got := homesOf(tt.step); got != tt.want {
			t.Errorf("homesOf(%v) = %q, want %q", tt.step, got, tt.want)
		}
	}
}
