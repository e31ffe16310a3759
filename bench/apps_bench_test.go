package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/testports"
)

// appsSite is a running deployment of n instances declaring the CApps
// apps_1 .. apps_<count>, each deployed and active on every instance.
func appsSite(b *testing.B, mictl string, n, count int) *site {
	b.Helper()
	s := newSite(b, mictl, "MICTL_SIM_STARTUP_DELAY=0")
	var capps []string
	for i := 1; i <= count; i++ {
		car := fmt.Sprintf("build/app%d_1.0.0.car", i)
		if err := os.MkdirAll(filepath.Join(s.dir, "build"), 0o755); err != nil {
			b.Fatal(err)
		}
		s.run("sim", "capp", car, "--name", fmt.Sprintf("app%d", i), "--api", fmt.Sprintf("/app%d", i), "--api", fmt.Sprintf("/app%d/v2", i))
		capps = append(capps, fmt.Sprintf("%q", car))
	}
	if err := os.WriteFile(filepath.Join(s.dir, "mictl.toml"), []byte("capps = ["+strings.Join(capps, ", ")+"]\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	s.run("up", "--instances", fmt.Sprint(n), "--base-offset", fmt.Sprint(testports.Base(b, testports.Bench, 100)))
	s.waitActive(n * count)
	return s
}

// waitActive waits until mictl apps counts want active applications.
func (s *site) waitActive(want int) {
	s.b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.Command(s.mictl, "apps", "-o", "json")
		cmd.Dir = s.dir
		out, err := cmd.Output()
		var r struct {
			Instances []struct {
				Apps []struct{ State string } `json:"apps"`
			} `json:"instances"`
		}
		active := 0
		if err == nil && json.Unmarshal(out, &r) == nil {
			for _, inst := range r.Instances {
				for _, a := range inst.Apps {
					if a.State == "active" {
						active++
					}
				}
			}
		}
		if active == want {
			return
		}
		if time.Now().After(deadline) {
			s.b.Fatalf("%d of %d applications active after 30s (%v)", active, want, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkApps20x10 times `mictl apps` (the table, and -o json) on 20
// running simulator instances with 10 active CApps each, as a whole
// process: every instance's Management API asked at once, one login
// each. Target (issue 12): under 100 ms.
func BenchmarkApps20x10(b *testing.B) {
	mictl := buildMictl(b)
	s := appsSite(b, mictl, 20, 10)
	var table, js time.Duration
	for b.Loop() {
		var t, j []time.Duration
		for range 15 {
			t = append(t, s.run("apps"))
			j = append(j, s.run("apps", "-o", "json"))
		}
		table, js = median(t), median(j)
	}
	b.ReportMetric(ms(table), "apps-ms")
	b.ReportMetric(ms(js), "apps-json-ms")
}

// BenchmarkDeployWait20VsOne times `mictl deploy app.car --wait` (then
// `undeploy --wait`) on 20 running simulator instances against 1, the
// median of several rounds. Both wait for the simulator to take the file
// (it deploys as soon as carbonapps/ changes) and for the daemon's check
// to see it active: the target (issue 12) is at most 1.5x.
func BenchmarkDeployWait20VsOne(b *testing.B) {
	mictl := buildMictl(b)
	one, twenty := appsSite(b, mictl, 1, 0), appsSite(b, mictl, 20, 0)
	for _, s := range []*site{one, twenty} {
		if err := os.MkdirAll(filepath.Join(s.dir, "build"), 0o755); err != nil {
			b.Fatal(err)
		}
		s.run("sim", "capp", "build/orders_1.0.0.car", "--name", "orders", "--api", "/orders")
	}
	const rounds = 5
	var d1, d20, u1, u20 time.Duration
	for b.Loop() {
		var dep1, dep20, und1, und20 []time.Duration
		for range rounds {
			dep1 = append(dep1, one.run("deploy", "build/orders_1.0.0.car", "--wait"))
			dep20 = append(dep20, twenty.run("deploy", "build/orders_1.0.0.car", "--wait"))
			und1 = append(und1, one.run("undeploy", "orders", "--wait"))
			und20 = append(und20, twenty.run("undeploy", "orders", "--wait"))
		}
		d1, d20, u1, u20 = median(dep1), median(dep20), median(und1), median(und20)
	}
	b.ReportMetric(ms(d1), "deploy1-ms")
	b.ReportMetric(ms(d20), "deploy20-ms")
	b.ReportMetric(float64(d20)/float64(d1), "deploy-ratio")
	b.ReportMetric(ms(u1), "undeploy1-ms")
	b.ReportMetric(ms(u20), "undeploy20-ms")
}
