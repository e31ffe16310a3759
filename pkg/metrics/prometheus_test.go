package metrics

// Integration tests with a real Prometheus (promtest): the daemon's
// endpoint and the file_sd file, as an operator's Prometheus sees them.

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/metrics/promtest"
	"github.com/mictl/mictl/pkg/state"
)

func TestPrometheusScrapesDaemonAndInstances(t *testing.T) {
	promtest.Require(t, "prometheus")
	// The daemon's metrics, from a supervisor of three instances.
	src := &fakeSource{}
	insts := []InstanceSnapshot{
		{Name: "mi-1", Offset: 10, State: state.StateReady, Up: true},
		{Name: "mi-2", Offset: 11, State: state.StateReady, Up: true},
		{Name: "mi-3", Offset: 12, State: state.StateReady, Up: true},
	}
	src.set(insts, DeploymentSnapshot{})
	m := New(src)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- m.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-served })

	// Each instance's MI metrics, found through the file_sd file.
	stateDir := t.TempDir()
	w := NewTargetsWriter(stateDir)
	var targets []Target
	addMI := func(name string, offset int) {
		host, port := promtest.NewMIExporter(t).Addr()
		targets = append(targets, Target{Name: name, Offset: offset, Host: host, Port: port})
		if _, err := w.Write(targets); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range insts {
		addMI(in.Name, in.Offset)
	}

	// The configuration mictl export prometheus prints, scraping each
	// second instead of each 15 for the test's sake.
	config := string(ScrapeConfig(ln.Addr().String(), false, w.Path()))
	fast := strings.Replace(config, "scrape_interval: 15s", "scrape_interval: 1s", 1)
	if fast == config {
		t.Fatal("the scrape config sets no 15s scrape_interval to speed up")
	}
	prom := promtest.Start(t, fast)

	allUp := func(want int) func() (bool, string) {
		return func() (bool, string) {
			ts := prom.Targets(t)
			up := 0
			for _, tg := range ts {
				if tg.Health == "up" {
					up++
				}
			}
			return len(ts) == want && up == want, fmt.Sprintf("%+v", ts)
		}
	}
	promtest.WaitFor(t, "4 targets up", allUp(4))
	ups := prom.Query(t, "up == 1")
	if len(ups) != 4 {
		t.Errorf("up == 1 for %d series, want 4: %+v", len(ups), ups)
	}
	for _, s := range ups {
		if s.Labels["job"] == "wso2-mi" && (s.Labels["instance_name"] == "" || s.Labels["offset"] == "") {
			t.Errorf("an MI target lacks the file's labels: %v", s.Labels)
		}
	}
	promtest.WaitFor(t, "the MI metrics scraped", func() (bool, string) {
		got := prom.Query(t, "wso2_integration_server_up")
		return len(got) == 3, fmt.Sprint(got)
	})

	// A restart seen by the supervisor shows in Prometheus.
	insts[1].Restarts = 1
	src.set(insts, DeploymentSnapshot{})
	promtest.WaitFor(t, "mi-2's restarts counter to rise", func() (bool, string) {
		got := prom.Query(t, `mictl_instance_restarts_total{instance_name="mi-2"}`)
		return len(got) == 1 && got[0].Value == 1, fmt.Sprint(got)
	})

	// A fourth instance appears through the file alone.
	addMI("mi-4", 13)
	promtest.WaitFor(t, "5 targets up, mi-4 among them", allUp(5))
	got := prom.Query(t, `up{job="wso2-mi",instance_name="mi-4",offset="13"}`)
	if len(got) != 1 || got[0].Value != 1 {
		t.Errorf("mi-4's target: %+v", got)
	}
}

func TestPromtoolChecksTheOutput(t *testing.T) {
	src := &fakeSource{}
	src.set([]InstanceSnapshot{
		{Name: "mi-1", Offset: 10, State: state.StateReady, Up: true, PGID: 100, AppsActive: intp(1), AppsFaulty: intp(0)},
	}, DeploymentSnapshot{Conflicts: 1})
	m := New(src)
	m.ObserveReady("mi-1", 1)
	m.ObserveReload(nil)
	promtest.CheckMetrics(t, scrape(t, m))
	dir := t.TempDir()
	promtest.CheckConfig(t, string(ScrapeConfig("127.0.0.1:9464", false, filepath.Join(dir, TargetsFileName))))
	promtest.CheckConfig(t, string(ScrapeConfig("", false, filepath.Join(dir, TargetsFileName))))
	// MI's metrics off (metrics = false): the daemon's job alone, or none.
	promtest.CheckConfig(t, string(ScrapeConfig("127.0.0.1:9464", false, "")))
	promtest.CheckConfig(t, string(ScrapeConfig("", false, "")))
}
