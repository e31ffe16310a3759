package supervisor

import "testing"

// The advice of a supervisor following /srv/mi/prod.toml, or a
// mictl.toml elsewhere than where it was started, names that file: a
// plain mictl pasted anywhere reads another, or none. The mictl.toml of
// its own directory is what a plain mictl reads there.
func TestAdviceNamesTheFileItFollows(t *testing.T) {
	for _, tc := range []struct{ file, dir, command, want string }{
		{"/srv/mi/mictl.toml", "/srv/mi", "mictl up --instances=3", "mictl up --instances=3"},
		{"/srv/mi/ops/prod.toml", "/srv/mi", "mictl up", "mictl --config /srv/mi/ops/prod.toml up"},
		{"/srv/mi/mictl.toml", "/home/op", "mictl restart mi-2", "mictl --config /srv/mi/mictl.toml restart mi-2"},
		{"/srv/my mi/mictl.toml", "/", "mictl down mi-1", "mictl --config '/srv/my mi/mictl.toml' down mi-1"},
		{"/srv/mi/ops/prod.toml", "/srv/mi", "an mictl up", "an mictl up"}, // not a command line
	} {
		if got := AsRun(AdvisedFile(tc.file, tc.dir), tc.command); got != tc.want {
			t.Errorf("following %s from %s: %q = %q; want %q", tc.file, tc.dir, tc.command, got, tc.want)
		}
	}
}
