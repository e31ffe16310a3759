package state

import (
	"os"
	"slices"
	"testing"
)

// A file from a mictl that kept no per-instance texts reads each of
// reload_left_failed as failed by reload_error, and what ends the failed
// state of one (mictl down writing it stopped) drops it from the failure,
// which then says the others alone; a refusal beside it, once none is
// left, is a refusal alone. Kept as written, a stopped mi-1 stayed in
// reload_left_failed, and reload_error named every failure, of instances
// put right long before.
func TestAReloadFailureStandsForTheInstancesStillFailedAlone(t *testing.T) {
	s := openStore(t)
	older := `{"version": 1, "instances": [{"name": "mi-1", "state": "failed"}, {"name": "mi-2", "state": "failed"}],
		"reload_error": "restart mi-1: mi-1 failed", "reload_begun": true, "reload_left_failed": ["mi-1", "mi-2"]}`
	if err := os.WriteFile(s.Path(), []byte(older), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if f.ReloadFailures["mi-2"] != "restart mi-1: mi-1 failed" || f.ReloadError != "restart mi-1: mi-1 failed" {
		t.Fatalf("an older file: reload_failures %v, reload_error %q; want each instance's failure reload_error's", f.ReloadFailures, f.ReloadError)
	}
	f.LeftFailedBy("mi-2", "restart mi-2: mi-2 failed")
	f.ReloadLast, f.ReloadRefused = "mictl.toml:4:1: unknown key \"bogus\"", true
	mi1, _ := f.Instance("mi-1")
	mi1.State = StateStopped // mictl down mi-1
	if err := s.Save(f); err != nil {
		t.Fatal(err)
	}
	if f, err = s.Load(); err != nil {
		t.Fatal(err)
	}
	want := "mictl.toml:4:1: unknown key \"bogus\"; and the failure of a reload before it stands for mi-2: restart mi-2: mi-2 failed"
	if f.ReloadError != want || !f.ReloadBegun || !slices.Equal(f.ReloadLeftFailed, []string{"mi-2"}) {
		t.Errorf("once mi-1 is stopped: reload_error %q, reload_begun %v, reload_left_failed %v; want %q, true, [mi-2]", f.ReloadError, f.ReloadBegun, f.ReloadLeftFailed, want)
	}
	mi2, _ := f.Instance("mi-2")
	mi2.State = StateStarting // mictl restart mi-2
	f.SettleReload()
	if f.ReloadError != "mictl.toml:4:1: unknown key \"bogus\"" || f.ReloadBegun || f.ReloadLeftFailed != nil || f.ReloadFailures != nil {
		t.Errorf("once mi-2 is started again: reload_error %q, reload_begun %v, reload_left_failed %v, reload_failures %v; want the refusal alone", f.ReloadError, f.ReloadBegun, f.ReloadLeftFailed, f.ReloadFailures)
	}
}
