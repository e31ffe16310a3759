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
	note := "instances = 5 (" + path + ":1:1) is not applied: the last mictl up's --instances=3 stands, and reloads plan with it; %s --instances=5 applies the file's"
	if got, want := Overridden(path, upArgs), []string{fmt.Sprintf(note, "mictl --config "+path+" up")}; !slices.Equal(got, want) {
		t.Errorf("Overridden from another directory:\n%q\nwant\n%q", got, want)
	}
	t.Chdir(dir)
	if got, want := Overridden(path, upArgs), []string{fmt.Sprintf(note, "mictl up")}; !slices.Equal(got, want) {
		t.Errorf("Overridden:\n%q\nwant\n%q", got, want)
	}
	if got := Overridden(path, nil); got != nil {
		t.Errorf("no flags: %q", got)
	}
}

// The up Overridden names pastes: a value with a space is one shell word.
func TestOverriddenQuotesTheUpItNames(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // mictl.toml of the directory: a plain up (see above)
	path := filepath.Join(dir, "mictl.toml")
	if err := os.WriteFile(path, []byte("mi_home = \"/opt/new mi\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := Overridden(path, []string{"--mi-home=/opt/my mi"})
	want := []string{`mi_home = "/opt/new mi" (` + path + `:1:1) is not applied: the last mictl up's '--mi-home=/opt/my mi' stands, and reloads plan with it; mictl up '--mi-home=/opt/new mi' applies the file's`}
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
