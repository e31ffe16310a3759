package supervisor

import (
	"os"
	"path/filepath"
	"testing"
)

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

// Advice for a daemon's deployment, pasted where the command runs, names
// its configuration file unless that is the directory's own mictl.toml,
// and its instances directory unless that file, read here, says so.
func TestAsRunForNamesTheDaemonsDeployment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("MICTL_INSTANCES_DIR", "")
	here, prod := filepath.Join(dir, "mictl.toml"), filepath.Join(dir, "ops", "prod.toml")
	if err := os.MkdirAll(filepath.Dir(prod), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{here, prod} {
		if err := os.WriteFile(f, []byte("instances = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	instances, homes := filepath.Join(dir, "instances"), filepath.Join(dir, "homes")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--instances-dir", instances, "--config", here}, "mictl status"},
		{[]string{"--instances-dir", instances, "--follow-dir", dir}, "mictl status"},
		{[]string{"--instances-dir", instances, "--config", prod}, "mictl --config " + prod + " status"},
		{[]string{"--instances-dir", homes, "--config", prod}, "mictl --config " + prod + " status --instances-dir " + homes},
		{[]string{"--instances-dir", homes, "--follow-dir", dir}, "mictl status --instances-dir " + homes},
		{nil, "mictl status"}, // no daemon recorded
	} {
		if got := AsRunFor(tc.args, "mictl status"); got != tc.want {
			t.Errorf("for a daemon run with %q: %q, want %q", tc.args, got, tc.want)
		}
	}
	// The flag goes after the verb, with its own flags, not among the
	// words advice may go on with: "mictl up, once ... mi-3, --instances-dir
	// H" pasted as far as the comma looked under ./instances.
	elsewhere := DeploymentArgs(prod, homes)
	for command, want := range map[string]string{
		"mictl restart mi-1 binds it again":                 "mictl --config " + prod + " restart --instances-dir " + homes + " mi-1 binds it again",
		"mictl up, once mictl.toml or its flags name mi-3,": "mictl --config " + prod + " up --instances-dir " + homes + ", once mictl.toml or its flags name mi-3,",
		"mictl up --offset-method=flag":                     "mictl --config " + prod + " up --instances-dir " + homes + " --offset-method=flag",
		"restart it by hand":                                "restart it by hand",
	} {
		if got := AsRunFor(elsewhere, command); got != want {
			t.Errorf("%q for %q: %q, want %q", command, elsewhere, got, want)
		}
	}
}
