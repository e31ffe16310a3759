package reconcile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/companion"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/sim"
	"github.com/mictl/mictl/pkg/state"
)

// Another mictl program writing the simulator distribution (mictl
// upgraded or moved, or a mictl-sim beside it from another build, as a
// `cp` that met "Text file busy" leaves) changes its start script, which
// names that program. Running instances are not restarted for it: a plain
// `mictl up` wrote the script, and the next reload (a deploy, any edit of
// mictl.toml) restarted every instance. A start still takes the new one.
func TestAnotherMictlWritingTheSimulatorRestartsNothing(t *testing.T) {
	cfg := loadConfig(t, "instances = 1\nbase_offset = 21900\n")
	bin := t.TempDir()
	for _, dir := range []string{"old", "new"} {
		fakeProgram(t, filepath.Join(bin, dir, "mictl"))
	}
	t.Setenv(companion.EnvMictl, filepath.Join(bin, "old", "mictl"))
	target, err := Build(cfg, &state.File{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	records, err := target.Prepare(&state.File{}, []string{"mi-1"})
	if err != nil {
		t.Fatal(err)
	}
	records[0].State = state.StateReady
	f := &state.File{Instances: records}

	upgraded := filepath.Join(bin, "new", "mictl")
	t.Setenv(companion.EnvMictl, upgraded)
	if _, err := SourceDistribution(cfg); err != nil { // as every mictl up does
		t.Fatal(err)
	}
	changes, err := Compare(target, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes.Restart) > 0 {
		t.Errorf("after another mictl wrote the simulator distribution: restart %v (%v), want none", changes.Restart, changes.Why)
	}

	if _, err := target.Prepare(f, []string{"mi-1"}); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(records[0].Home, sim.ScriptPath))
	if err != nil || !strings.Contains(string(script), upgraded) {
		t.Errorf("the home prepared for a start runs %q (%v), want the script naming %s", script, err, upgraded)
	}
}

// fakeProgram makes an executable file at path: a mictl as far as the
// simulator distribution's writer can tell, which runs none.
func fakeProgram(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// A daemon whose mictl was removed since it started (copied elsewhere,
// the old directory removed) leaves the simulator distribution as it is:
// it wrote the script naming the removed program over the one the new
// mictl had written, and the restart --all that README advises after such
// a move stopped each instance it then could not start.
func TestAMictlGoneLeavesTheSimulatorDistributionAsItIs(t *testing.T) {
	cfg := loadConfig(t, "instances = 1\nbase_offset = 21900\n")
	bin := t.TempDir()
	current := filepath.Join(bin, "new", "mictl")
	fakeProgram(t, current)
	t.Setenv(companion.EnvMictl, current)
	dir, err := SourceDistribution(cfg) // as the new mictl does
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(companion.EnvMictl, filepath.Join(bin, "old", "mictl")) // the daemon's, removed
	if _, err := SourceDistribution(cfg); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(dir, sim.ScriptPath))
	if program, _ := sim.ScriptProgram(string(script)); err != nil || program != current {
		t.Errorf("the simulator distribution runs %q (%v), want %s", program, err, current)
	}
}

// The simulator distribution left naming a removed mictl (a daemon's,
// copied elsewhere and removed, and no mictl wrote it for itself since) is
// refused, naming that program: every server started from it failed. The
// same distribution as mi_home is the user's, and is taken as it is.
func TestASimulatorDistributionOfAGoneMictlIsRefused(t *testing.T) {
	cfg := loadConfig(t, "instances = 1\nbase_offset = 21900\n")
	gone := filepath.Join(t.TempDir(), "old", "mictl")
	fakeProgram(t, gone)
	t.Setenv(companion.EnvMictl, gone)
	dir, err := SourceDistribution(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Dir(gone)); err != nil {
		t.Fatal(err)
	}
	if _, err := SourceDistribution(cfg); err == nil || !strings.Contains(err.Error(), gone+", which is gone") {
		t.Errorf("the simulator distribution of a gone mictl: %v, want it refused naming %s", err, gone)
	}
	asMIHome := *cfg
	asMIHome.MIHome = dir
	if got, err := SourceDistribution(&asMIHome); err != nil || got != dir {
		t.Errorf("that distribution as mi_home: %q, %v; want %s as it is", got, err, dir)
	}
}

// An upgrade by a new mi_home (and its rollback) restarts each instance
// for "the distribution's files changed", which said neither from which
// distribution nor to which: the diff and the roll's events now name both
// (the directory a link leads to, as the homes record it). Files changed
// in the same mi_home are said as before.
func TestANewMIHomeIsSaidFromWhichToWhich(t *testing.T) {
	cfg := loadConfig(t, "instances = 1\nbase_offset = 2000\nmi_home = \"dist\"\n")
	writeDist(t)
	build := func(cfg *config.Config) *Target {
		t.Helper()
		target, err := Build(cfg, &state.File{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return target
	}
	records, err := build(cfg).Prepare(&state.File{}, []string{"mi-1"})
	if err != nil {
		t.Fatal(err)
	}
	records[0].State = state.StateReady
	running := &state.File{Instances: records}
	if err := os.CopyFS("dist-4.5.0", os.DirFS("dist")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("dist-4.5.0", "VERSION"), []byte("4.5.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dist-4.5.0", "current"); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Abs("dist")
	upgraded, _ := filepath.Abs("dist-4.5.0")
	cfg.MIHome, _ = filepath.Abs("current") // mi_home edited to the link
	c, err := Compare(build(cfg), running)
	if err != nil {
		t.Fatal(err)
	}
	if want := "the distribution changed from " + old + " to " + upgraded + ": VERSION"; c.Why["mi-1"] != want {
		t.Errorf("mi_home turned to 4.5.0: restart %v, why %q; want %q", c.Restart, c.Why["mi-1"], want)
	}
}
