package proctest

import "testing"

// A simulated server is found by its command line as the simulator
// distribution's start script runs it, mictl-sim beside mictl or not,
// and as a test binary standing in for mictl runs it.
func TestRunsSim(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{[]string{"/usr/local/bin/mictl", "sim", "run", "-DportOffset=10"}, true},
		{[]string{"/work/bin/mictl-sim", "run"}, true},
		{[]string{"/tmp/go-build1/b001/mictl.test", "sim", "run"}, true},
		{[]string{"/usr/local/bin/mictl", "sim", "dist", "run"}, false},
		{[]string{"/usr/local/bin/mictl", "up", "--instances", "2"}, false},
		{[]string{"sim"}, false},
		{nil, false},
	} {
		if got := runsSim(tt.args); got != tt.want {
			t.Errorf("runsSim(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
