package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/goldentest"
)

// jdkRefusingDist writes a simulator distribution at dir whose start
// script, in the homes cloned from it, only prints MI's JDK [ERROR] and
// exits 0, as MI's does outside its JDK range: in every home, or in the
// home of the instance only when only names one.
func (d *deployment) jdkRefusingDist(dir, only string) {
	d.t.Helper()
	refuse := "echo '[ERROR] WSO2 MI is supported only between JDK 21 and JDK 25'; exit 0"
	if only != "" {
		refuse = fmt.Sprintf("case \"$(cd \"$(dirname \"$0\")/..\" && pwd)\" in */%s) %s;; esac", only, refuse)
	}
	d.simDist(dir, filepath.Join("bin", "micro-integrator.sh"), func(script string) string {
		first, rest, _ := strings.Cut(script, "\n")
		return first + "\n" + refuse + "\n" + rest
	})
}

// twoDists writes wso2mi-4.4.0, a simulator distribution, and
// wso2mi-4.6.0, whose start script refuses (jdkRefusingDist: in the home
// of only alone when only is set), and returns the mictl.toml of n
// instances on miHome.
func (d *deployment) twoDists(n int, only string) func(miHome string) string {
	d.t.Helper()
	d.must("sim", "dist", "wso2mi-4.4.0")
	d.jdkRefusingDist("wso2mi-4.6.0", only)
	return func(miHome string) string {
		return fmt.Sprintf("host = \"127.0.0.1\"\nbase_offset = %d\ninstances = %d\nmi_home = %q\n", d.base, n, miHome)
	}
}

// behindLiveReload edits mictl.toml to body, waits until the daemon's own
// reload of the edit has begun (mi-1's stop drains for 2 s meanwhile),
// and runs mictl reload, which waits behind it.
func (d *deployment) behindLiveReload(body string) (code int, out, errOut string) {
	d.t.Helper()
	d.configFile("inplace", body)
	d.waitFor("the daemon's own reload of the edit", func() bool { return strings.Contains(d.events(), "mictl reloading: ~mi-1") })
	return d.mictl("reload")
}

// A mictl reload that waits behind the daemon's own reload of the very
// same edit says that reload applied it and ends 3, mi-1 restarted into
// degraded (a faulty CApp) and mi-2 running degraded as it was, as every
// instance running as a reload ends counts. It said "no change", as
// though nothing had happened.
func TestReloadBehindTheLiveReloadOfItsEditSaysItApplied(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	broken := d.car("broken_1.0.0.car", capp.Spec{Name: "broken", Faulty: true})
	capps := fmt.Sprintf("capps = [%q]\n", broken)
	d.configFile("inplace", capps)
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=2s"}
	d.faulted("mi-1", "up", "--instances", "2", "--base-offset", fmt.Sprint(d.base), "--timeout", "30s")
	d.env = nil
	code, _, errOut := d.behindLiveReload(capps + "\n[[instance]]\nname = \"mi-1\"\noverrides = { \"server.hostname\" = \"mi-1.local\" }\n")
	if unsaid := goldentest.Unsaid(errOut,
		"mictl reloaded: nothing left to change: the daemon's own reload of the edit it follows, under way as this reload began, applied the configuration as it is now: ~mi-1 (deployment.toml changed)",
		"not healthy: mi-1 degraded, mi-2 degraded (",
	); code != 3 || len(unsaid) > 0 {
		t.Errorf("mictl reload behind the live reload: exit %d, want 3 saying:\n%s\nstderr:\n%s\nevents:\n%s", code, strings.Join(unsaid, "\n"), errOut, d.events())
	}
}

// One behind a live reload that failed (a restart onto an mi_home whose
// start script only prints the JDK [ERROR]) ends with 3 and that
// failure, said as the live reload's: it said that the last reload's
// failure stands, as of a reload asked to try again.
func TestReloadBehindAFailedLiveReloadSaysItFailed(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	toml := d.twoDists(1, "")
	d.configFile("inplace", toml("wso2mi-4.4.0"))
	d.env = []string{"MICTL_SIM_SHUTDOWN_DELAY=2s"}
	d.must("up", "--timeout", "30s")
	d.env = nil
	code, _, errOut := d.behindLiveReload(toml("wso2mi-4.6.0"))
	want := "mictl: reload: nothing left to change: the daemon's own reload of the edit it follows, under way as this reload began, applied the configuration as it is now, and failed: restart mi-1: mi-1 failed: the start script ended (exit status 0) without a running server"
	if code != 3 || !strings.Contains(errOut, want) {
		t.Errorf("mictl reload behind a failed live reload: exit %d, want 3 saying:\n%s\nstderr:\n%s\nevents:\n%s", code, want, errOut, d.events())
	}
}
