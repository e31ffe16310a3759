package supervisor

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/reconcile"
)

// A reload planned again (an mictl up started b, which it adds, once it
// had removed a) whose second plan is refused (mictl.toml broken
// meanwhile) keeps the failure an earlier reload left standing for mi-1,
// which its first pass planned as it failed: reload_left_failed ["mi-1"],
// reload_error its failure, then mi-1's, as when the last pass fails
// once planned. Recorded without the standing list, that failure was
// dropped: reload_left_failed [], and status no longer said why mi-1 was
// failed, nor that mictl up would start it into the same failure.
func TestAReloadRefusedOncePlannedAgainKeepsTheFailureThatStands(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	const mi1 = "instances = 1\n\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"a.local\" }\n"
	s.reload("instances = 1\n\n[[instance]]\nname = \"a\"\n")
	s.next("mi-1", StateReady)
	s.next("a", StateReady)
	ready := s.sup.policy.ReadyTimeout
	s.sup.policy.ReadyTimeout = time.Nanosecond // mi-1's restart fails
	failure := s.tryReload(mi1 + "[[instance]]\nname = \"a\"\n")
	if failure == nil {
		t.Fatal("the reload whose restart of mi-1 could not turn ready succeeded")
	}
	s.sup.policy.ReadyTimeout = ready
	// a removed, b added, mi-1 planned as it failed.
	s.write(mi1 + "[[instance]]\nname = \"b\"\n")
	cfg, _, err := s.load(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.upAt("removed", cfg, reconcile.Options{}, "b", nil)
	up := reloadAt
	reloadAt = func(at string) {
		up(at)
		if at == "removed" {
			s.write("bogus = 1\n" + mi1 + "[[instance]]\nname = \"b\"\n")
		}
	}
	_, err = s.sup.Reload(s.load)
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("reload: %v; want the second plan refused for the unknown key bogus", err)
	}
	f := s.flushed()
	if !f.ReloadBegun || !slices.Equal(f.ReloadLeftFailed, []string{"mi-1"}) || f.ReloadFailures["mi-1"] != failure.Error() ||
		!strings.HasSuffix(f.ReloadError, "; and the failure of a reload before it stands for mi-1: "+failure.Error()) {
		t.Errorf("recorded reload_begun %v, reload_left_failed %v, reload_failures %q, reload_error %q;\nwant true, [mi-1], mi-1's failure, and reload_error ending with it: %v",
			f.ReloadBegun, f.ReloadLeftFailed, f.ReloadFailures, f.ReloadError, failure)
	}
}
