package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/supervisor"
)

// The daemon's flags are refused in the user's words, with exit 2, before
// anything starts; --help is help, on stdout.
func TestMainFlags(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--backoff", "abc"}, `--backoff "abc": expected a duration with its unit`},
		{[]string{"--timeout", "0s"}, "--timeout 0s: must be positive"},
		{[]string{"--restart", "sometimes"}, `--restart "sometimes": expected always, on-failure or never`},
		{[]string{"--max-restarts", "-1"}, "--max-restarts -1: must not be negative"},
		{[]string{"stray"}, `mictl daemon takes no arguments, got "stray"`},
	} {
		var out, log strings.Builder
		err := Main(c.args, &out, &log)
		if err == nil || !strings.Contains(err.Error(), c.want) || exitcode.Of(err) != exitcode.Usage {
			t.Errorf("%q: %v (exit %d), want exit 2 and %q", c.args, err, exitcode.Of(err), c.want)
		}
		if log.Len() > 0 {
			t.Errorf("%q: the daemon logged %q before refusing", c.args, log.String())
		}
	}
	var out, log strings.Builder
	if err := Main([]string{"--help"}, &out, &log); err != nil || !strings.Contains(out.String(), "mictl daemon [flags]") || !strings.Contains(out.String(), "--instances-dir") {
		t.Errorf("--help: %v\n%s", err, out.String())
	}
}

// A setting mictl.toml gives a value the last up's flags replace is
// named, with what applies it; the others (the same value, one the flags
// do not name, instances_dir, which never moves) are not. The up it
// names reads that file where it is pasted: a plain one in the file's
// directory (where the daemon following it, and the command that started
// it, run), else with --config.
func TestOverriddenNamesTheFilesSettingsTheLastUpReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mictl.toml")
	body := "instances = 5\nbase_offset = 100\nname_prefix = \"edge\"\ninstances_dir = \"homes\"\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	upArgs := []string{"--instances=3", "--base-offset=100", "--instances-dir=elsewhere"}
	note := "instances = 5 (" + path + ":1:1) is not applied: the last mictl up's --instances=3 stands, and reloads plan with it; %s --base-offset=100 --instances-dir=elsewhere applies the file's, and its later edits"
	named := supervisor.DeploymentArgs(path, filepath.Join(dir, "homes"))
	if got, want := Overridden(path, upArgs, named), []string{fmt.Sprintf(note, "mictl --config "+path+" up")}; !slices.Equal(got, want) {
		t.Errorf("Overridden from another directory:\n%q\nwant\n%q", got, want)
	}
	t.Chdir(dir)
	if got, want := Overridden(path, upArgs, named), []string{fmt.Sprintf(note, "mictl up")}; !slices.Equal(got, want) {
		t.Errorf("Overridden:\n%q\nwant\n%q", got, want)
	}
	if got := Overridden(path, nil, named); got != nil {
		t.Errorf("no flags: %q", got)
	}
}

// The up Overridden names pastes: a value with a space is one shell word,
// in the flag it says stands and in the last up's other flags it keeps.
func TestOverriddenQuotesTheUpItNames(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // mictl.toml of the directory: a plain up (see above)
	path := filepath.Join(dir, "mictl.toml")
	if err := os.WriteFile(path, []byte("mi_home = \"/opt/new mi\"\nname_prefix = \"edge\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := Overridden(path, []string{"--mi-home=/opt/my mi", "--name-prefix=core"}, supervisor.DeploymentArgs(path, filepath.Join(dir, "instances")))
	want := []string{
		`name_prefix = "edge" (` + path + `:2:1) is not applied: the last mictl up's --name-prefix=core stands, and reloads plan with it; mictl up '--mi-home=/opt/my mi' applies the file's, and its later edits`,
		`mi_home = "/opt/new mi" (` + path + `:1:1) is not applied: the last mictl up's '--mi-home=/opt/my mi' stands, and reloads plan with it; mictl up --name-prefix=core applies the file's, and its later edits`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Overridden:\n%q\nwant\n%q", got, want)
	}
}

// The up Overridden names to apply the file's value leaves the flag out
// rather than giving it that value: given as a flag, the value would be
// applied, but would stand against the file's next edit of the key too
// (an upgrade's mi_home edited after a rollback by up --mi-home= was not
// applied: the empty flag stood).
func TestOverriddenNamesAnUpThatLeavesTheKeyToTheFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	path := filepath.Join(dir, "mictl.toml")
	if err := os.WriteFile(path, []byte("mi_home = \"/opt/wso2mi-4.5.0\"\ninstances = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	upArgs := []string{"--instances=5", "--mi-home="}
	named := supervisor.DeploymentArgs(path, filepath.Join(dir, "instances"))
	got := Overridden(path, upArgs, named)
	want := []string{
		`instances = 3 (` + path + `:2:1) is not applied: the last mictl up's --instances=5 stands, and reloads plan with it; mictl up --mi-home= applies the file's, and its later edits`,
		`mi_home = "/opt/wso2mi-4.5.0" (` + path + `:1:1) is not applied: the last mictl up's --mi-home= stands, and reloads plan with it; mictl up --instances=5 applies the file's, and its later edits`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Overridden:\n%q\nwant\n%q", got, want)
	}
	// What the note names, run, leaves mi_home to the file: its next edit
	// is no longer overridden.
	if err := os.WriteFile(path, []byte("mi_home = \"/opt/wso2mi-4.6.0\"\ninstances = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Overridden(path, []string{"--instances=5"}, named); len(got) != 1 || !strings.HasPrefix(got[0], "instances") {
		t.Errorf("after the up the note named, the file's mi_home is still overridden: %q", got)
	}
}

// The up Overridden names acts on the instances that run: after mictl
// up --instances-dir /srv/mi, it names that directory, as all advice
// does; a plain mictl up started a second set under the file's
// instances_dir.
func TestOverriddenNamesTheInstancesDirAFlagGave(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	path := filepath.Join(dir, "mictl.toml")
	if err := os.WriteFile(path, []byte("instances = 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(dir, "srv mi")
	got := Overridden(path, []string{"--instances=3"}, supervisor.DeploymentArgs(path, elsewhere))
	want := []string{"instances = 5 (" + path + ":1:1) is not applied: the last mictl up's --instances=3 stands, and reloads plan with it; mictl up --instances-dir '" + elsewhere + "' applies the file's, and its later edits"}
	if !slices.Equal(got, want) {
		t.Errorf("Overridden:\n%q\nwant\n%q", got, want)
	}
}

// Another command's plan is told where it differs from what the last
// up's flags made run, default or file value alike, unless its own flag
// chose it or the plan keeps it anyway (the running instances, at their
// offsets).
func TestNotAsRunningNamesTheFlagsThatPlanWhatRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mictl.toml")
	if err := os.WriteFile(path, []byte("instances = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	got := NotAsRunning(cfg, path, []string{"--instances=3", "--base-offset=500", "--offset-method=flag"})
	want := []FlagNote{{Flag: "--offset-method", Value: "flag",
		Message: `the instances run with --offset-method=flag (the last mictl up's), where this plans offset_method = "toml" (default offset_method): add --offset-method=flag for what runs`,
	}}
	if !slices.Equal(got, want) {
		t.Errorf("NotAsRunning:\n%q\nwant\n%q", got, want)
	}
}
