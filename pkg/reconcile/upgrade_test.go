package reconcile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/companion"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/home"
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
	cfg := loadConfig(t, fmt.Sprintf("instances = 1\nbase_offset = %d\n", planBase(t)))
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
	cfg := loadConfig(t, fmt.Sprintf("instances = 1\nbase_offset = %d\n", planBase(t)))
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
	cfg := loadConfig(t, fmt.Sprintf("instances = 1\nbase_offset = %d\n", planBase(t)))
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
	cfg, running := runningFromDist(t)
	build := func(cfg *config.Config) *Target { return buildTarget(t, cfg) }
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

// runningFromDist is mi-1 prepared from mi_home "dist" (writeDist) and
// recorded as running, and its configuration.
func runningFromDist(t *testing.T) (*config.Config, *state.File) {
	t.Helper()
	cfg := loadConfig(t, fmt.Sprintf("instances = 1\nbase_offset = %d\nmi_home = \"dist\"\n", planBase(t)))
	writeDist(t)
	records, err := buildTarget(t, cfg).Prepare(&state.File{}, []string{"mi-1"})
	if err != nil {
		t.Fatal(err)
	}
	records[0].State = state.StateReady
	return cfg, &state.File{Instances: records}
}

func buildTarget(t *testing.T, cfg *config.Config) *Target {
	t.Helper()
	target, err := Build(cfg, &state.File{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// mi_home pointed at a copy of the distribution (cp -a) restarts nothing,
// as the homes are behind it in nothing; but each home went on naming
// the old directory as the one it was synced from: status named it, and
// once it was deleted a crash restart could not put back what a home
// lost. A reload (ProposeToApply) and an up (Follow), which apply the
// configuration, record the copy; mictl diff (Propose) only looks.
func TestACopiedMIHomeIsRecordedWithoutARestart(t *testing.T) {
	cfg, running := runningFromDist(t)
	dir := running.Instances[0].Home
	old, _ := filepath.Abs("dist")
	for _, copied := range []string{"dist-copy", "dist-again"} {
		if out, err := exec.Command("cp", "-a", "dist", copied).CombinedOutput(); err != nil {
			t.Fatalf("cp -a dist %s: %v: %s", copied, err, out)
		}
	}
	copied, _ := filepath.Abs("dist-copy")
	cfg.MIHome = copied
	p, err := Propose(cfg, running, nil, nil)
	if err != nil || !p.Changes.Empty() {
		t.Fatalf("diff with mi_home copied: %+v, %v; want no change", p.Changes, err)
	}
	if got, _ := home.SyncedFrom(dir); got != old {
		t.Errorf("after mictl diff the home says it was synced from %s; want %s still: diff only looks", got, old)
	}
	if p, err = ProposeToApply(cfg, running, nil, nil); err != nil || !p.Changes.Empty() {
		t.Fatalf("reload with mi_home copied: %+v, %v; want no change", p.Changes, err)
	}
	if got, _ := home.SyncedFrom(dir); got != copied {
		t.Errorf("after a reload with mi_home copied the home says it was synced from %s; want %s", got, copied)
	}

	again, _ := filepath.Abs("dist-again")
	cfg.MIHome = again
	if c, err := Follow(buildTarget(t, cfg), running); err != nil || !c.Empty() {
		t.Fatalf("up with mi_home copied: %+v, %v; want no change", c, err)
	}
	if got, _ := home.SyncedFrom(dir); got != again {
		t.Errorf("after an up with mi_home copied the home says it was synced from %s; want %s", got, again)
	}
}
