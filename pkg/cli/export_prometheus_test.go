package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/jsonschematest"
	"github.com/mictl/mictl/pkg/metrics"
	"github.com/mictl/mictl/pkg/metrics/promtest"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/testports"
)

// exportPrometheus runs `mictl export prometheus args...` in-process.
func exportPrometheus(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := exportPrometheusNotes(t, args...)
	return out, err
}

// exportPrometheusNotes is exportPrometheus, with what it says on stderr.
func exportPrometheusNotes(t *testing.T, args ...string) (out, notes string, err error) {
	t.Helper()
	streams, stdout, stderr := testStreams()
	cmd := newCmdExportPrometheus(streams, &globalOptions{})
	cmd.SetArgs(args)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	err = cmd.Execute()
	return stdout.String(), stderr.String(), err
}

// metricsAddrForGolden is a metrics_addr on a port free here, from the
// test's own range (the export leaves out a daemon job whose address
// another process holds, and another run of the suite, or a service on
// :9464, may hold a fixed one), and what turns an export for it into the
// golden files' :9464.
func metricsAddrForGolden(t *testing.T) (addr string, asGolden func(string) string) {
	port := testports.FreePort(t)
	return fmt.Sprintf(":%d", port), func(out string) string {
		return strings.ReplaceAll(out, fmt.Sprintf("127.0.0.1:%d", port), "127.0.0.1:9464")
	}
}

func TestExportPrometheus(t *testing.T) {
	dir := inTempDir(t)
	addr, asGolden := metricsAddrForGolden(t)
	out, notes, err := exportPrometheusNotes(t, "--metrics-addr", addr, "--metrics")
	if err != nil {
		t.Fatal(err)
	}
	// The targets file is named by its absolute path: Prometheus would
	// resolve a relative one against its own configuration's directory.
	targets := filepath.Join(dir, "instances", ".mictl", "prometheus-targets.json")
	// Before the first up there is no targets file, nor its directory,
	// which Prometheus's file_sd then cannot watch: said, with who
	// writes it and when to start Prometheus.
	if want := "note: " + targets + " does not exist yet: the mictl daemon writes it when mictl up starts the instances, and until then the wso2-mi job has no targets; " +
		"start Prometheus after that up: one started while " + filepath.Dir(targets) + " is missing cannot watch it, and follows the instances only every refresh_interval (5m)\n"; notes != want {
		t.Errorf("before the first up, stderr:\n%s\nwant:\n%s", notes, want)
	}
	if err := os.MkdirAll(filepath.Dir(targets), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, notes, _ = exportPrometheusNotes(t, "--metrics-addr", addr, "--metrics"); !strings.HasSuffix(notes, "the wso2-mi job has no targets\n") {
		t.Errorf("with the directory and without the file, stderr:\n%s", notes)
	}
	if err := os.WriteFile(targets, []byte("[]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, notes, _ = exportPrometheusNotes(t, "--metrics-addr", addr, "--metrics"); notes != "" {
		t.Errorf("with metrics on and the targets file there, a note: %s", notes)
	}
	if !strings.Contains(out, `"`+targets+`"`) {
		t.Errorf("the config does not name %s", targets)
	}
	golden(t, "export-prometheus.yml", asGolden(strings.ReplaceAll(out, dir, "/DIR")))
	promtest.CheckConfig(t, out)

	out, err = exportPrometheus(t, "--instances-dir", "elsewhere", "--metrics")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "job_name: mictl") || !strings.Contains(out, filepath.Join(dir, "elsewhere", ".mictl")) {
		t.Errorf("without --metrics-addr, under --instances-dir elsewhere:\n%s", out)
	}
	promtest.CheckConfig(t, out)
}

// With metrics = false MI serves no /metric-service/metrics: a wso2-mi
// job would scrape only errors. It is left out, the file and stderr say
// why, and the daemon's job stays.
func TestExportPrometheusWithoutMIMetrics(t *testing.T) {
	dir := inTempDir(t)
	const note = "metrics = false: MI's own metrics are off; set metrics = true to scrape them"
	addr, asGolden := metricsAddrForGolden(t)
	out, notes, err := exportPrometheusNotes(t, "--metrics-addr", addr)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "wso2-mi") || strings.Contains(out, "prometheus-targets.json") {
		t.Errorf("metrics = false, yet an MI job:\n%s", out)
	}
	if !strings.Contains(out, "# "+note) || !strings.Contains(notes, note) {
		t.Errorf("the file or stderr does not say %q:\n%s\nstderr: %s", note, out, notes)
	}
	if !strings.Contains(out, "job_name: mictl") {
		t.Errorf("no daemon job:\n%s", out)
	}
	golden(t, "export-prometheus-no-mi-metrics.yml", asGolden(strings.ReplaceAll(out, dir, "/DIR")))
	promtest.CheckConfig(t, out)
	// Neither the daemon's metrics nor MI's: nothing to scrape, said so
	// rather than printed as an empty configuration.
	if code, out, errOut := run(t, "export", "prometheus"); code != exitcode.Usage || out != "" || !strings.Contains(errOut, "nothing to scrape") {
		t.Errorf("no metrics at all: exit %d, output %q, stderr %q; want exit %d saying there is nothing to scrape, and no output", code, out, errOut, exitcode.Usage)
	}
	// metrics = true in mictl.toml turns the job on, as --metrics does.
	if err := os.WriteFile("mictl.toml", []byte("metrics = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, notes, err = exportPrometheusNotes(t)
	if err != nil || !strings.Contains(out, "job_name: wso2-mi") || strings.Contains(notes, note) {
		t.Errorf("metrics = true in mictl.toml: err %v, stderr %q:\n%s", err, notes, out)
	}
}

func TestExportPrometheusBadAddr(t *testing.T) {
	inTempDir(t)
	_, err := exportPrometheus(t, "--metrics-addr", "localhost:x")
	if code := exitcode.Of(err); code != exitcode.Usage || !strings.HasPrefix(err.Error(), "flag --metrics-addr: ") || strings.Contains(err.Error(), "metrics_addr:") {
		t.Errorf("bad --metrics-addr: exit %d, %v; want exit %d naming the flag", code, err, exitcode.Usage)
	}
}

// One address written two ways is one address: a daemon started with
// metrics_addr = "127.0.0.1:9464" serves what ":9464" asks for. Export
// said the daemon served its metrics "on 127.0.0.1:9464, not :9464", and
// diff, reload and up that it kept its --metrics-addr.
func TestMetricsAddrWrittenTwoWaysIsNoChange(t *testing.T) {
	inTempDir(t)
	self, err := proc.Identify(os.Getpid()) // a live process to stand for the daemon
	if err != nil {
		t.Fatal(err)
	}
	argsFor := func(addr string) []string {
		return daemon.DefaultRunFlags().Args(&config.Config{InstancesDir: "instances", MetricsAddr: addr})
	}
	store, err := state.Open(filepath.Join("instances", ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	f := &state.File{Daemon: &state.Daemon{Identity: self, Args: argsFor("127.0.0.1:9464")}}
	if err := store.Save(f); err != nil {
		t.Fatal(err)
	}
	// A daemon keeps the targets file (empty: no instance serves metrics).
	if err := os.WriteFile(filepath.Join("instances", ".mictl", metrics.TargetsFileName), []byte("[]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, notes, err := exportPrometheusNotes(t, "--metrics-addr", ":9464", "--metrics"); err != nil || notes != "" {
		t.Errorf("export prometheus --metrics-addr :9464 under a daemon on 127.0.0.1:9464: err %v, stderr %q; want no note", err, notes)
	}
	streams, _, errOut := testStreams()
	warnKept(streams, f, argsFor(":9464"))
	if errOut.Len() > 0 {
		t.Errorf("metrics_addr :9464 under a daemon on 127.0.0.1:9464:\n%s", errOut)
	}
}

// A metrics_addr emptied since the daemon started: the export has no
// daemon job, and says the daemon serves its metrics all the same. It
// said they were off, without a note.
func TestExportPrometheusSaysTheDaemonServesMetricsTheFileTurnedOff(t *testing.T) {
	inTempDir(t)
	self := recordDaemon(t, "127.0.0.1:9464")
	if err := os.WriteFile("mictl.toml", []byte("metrics = true\nmetrics_addr = \"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, notes, err := exportPrometheusNotes(t)
	const want = "the running mictl daemon (pid %d) serves its metrics on 127.0.0.1:9464, though metrics_addr is now empty"
	if err != nil || strings.Contains(out, "job_name: mictl") || !strings.Contains(notes, fmt.Sprintf(want, self.PID)) {
		t.Errorf("export prometheus, metrics_addr emptied under a daemon on 127.0.0.1:9464: err %v, stderr %q, want %q and no mictl job:\n%s", err, notes, want, out)
	}
}

// A metrics_addr another process holds, where no mictl daemon serves:
// the daemon that listened there is gone (its instances run on), and
// the next up refuses the address. The export's mictl job scraped that
// process; it is left out, the file and stderr saying why, and with MI's
// metrics off as well nothing is left to scrape (exit 1, as up's
// refusal). Held by the running daemon started there, the job stays.
func TestExportPrometheusLeavesOutAMetricsAddrAnotherProcessHolds(t *testing.T) {
	inTempDir(t)
	stranger, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	addr := stranger.Addr().String()
	if err := os.MkdirAll(filepath.Join("instances", ".mictl"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("instances", ".mictl", metrics.TargetsFileName), []byte("[]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, notes, err := exportPrometheusNotes(t, "--metrics-addr", addr, "--metrics")
	if err != nil || strings.Contains(out, "job_name: mictl") || !strings.Contains(out, "job_name: wso2-mi") ||
		!strings.Contains(out, "# No mictl job: another process holds metrics_addr "+addr+", where") {
		t.Errorf("metrics_addr %s held by another process: err %v, want no mictl job and the file saying why:\n%s", addr, err, out)
	}
	if want := "note: no mictl job, which would scrape another process: no mictl daemon serves its metrics on metrics_addr, and " + addr + " is already in use"; !strings.HasPrefix(notes, want) {
		t.Errorf("stderr %q, want %q...", notes, want)
	}
	promtest.CheckConfig(t, out)

	code, out, errOut := run(t, "export", "prometheus", "--metrics-addr", addr)
	if code != exitcode.Conflicts || out != "" || !strings.Contains(errOut, "nothing to scrape: metrics = false (MI serves none), and no mictl daemon serves its metrics on metrics_addr: "+addr+" is already in use") {
		t.Errorf("held metrics_addr and metrics = false: exit %d, stderr %q, output %q; want exit %d, nothing to scrape, no output", code, errOut, out, exitcode.Conflicts)
	}

	recordDaemon(t, addr) // this process, which holds addr
	if out, notes, err = exportPrometheusNotes(t, "--metrics-addr", addr, "--metrics"); err != nil || notes != "" || !strings.Contains(out, "job_name: mictl") {
		t.Errorf("metrics_addr %s held by the running daemon: err %v, stderr %q; want its job and no note:\n%s", addr, err, notes, out)
	}
}

// recordDaemon records this process in the state file as a live daemon
// started on metricsAddr, and returns it.
func recordDaemon(t *testing.T, metricsAddr string) proc.Identity {
	t.Helper()
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(filepath.Join("instances", ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	args := daemon.DefaultRunFlags().Args(&config.Config{InstancesDir: "instances", MetricsAddr: metricsAddr})
	if err := store.Save(&state.File{Daemon: &state.Daemon{Identity: self, Args: args}}); err != nil {
		t.Fatal(err)
	}
	return self
}

// export prometheus -o json has the configuration and every note stderr
// gives, each under a key of its own that every run has (null or empty
// where it says nothing), as the other exports do: a script reading
// stdout alone learnt neither that a job was left out nor why. It had no
// -o at all.
func TestExportPrometheusJSONKeepsEveryNote(t *testing.T) {
	dir := inTempDir(t)
	free, _ := metricsAddrForGolden(t)
	stranger, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	held := stranger.Addr().String()
	targets := filepath.Join(dir, "instances", ".mictl", metrics.TargetsFileName)
	str := func(s string) *string { return &s }
	type want struct {
		jobs                     string
		metricsAddr, targetsFile *string
		// the keys that hold a note; every other note key is null or empty
		notes []string
	}
	for _, c := range []struct {
		name   string
		args   []string
		before func(t *testing.T)
		want   want
	}{
		{"before the first up", []string{"--metrics-addr", free, "--metrics"}, nil,
			want{"[mictl wso2-mi]", str("127.0.0.1" + free), str(targets), []string{"targets_missing"}}},
		{"metrics = false", []string{"--metrics-addr", free}, nil,
			want{"[mictl]", str("127.0.0.1" + free), nil, []string{"mi_metrics_off"}}},
		{"metrics_addr held by another process", []string{"--metrics-addr", held, "--metrics"}, func(t *testing.T) {
			if err := os.MkdirAll(filepath.Dir(targets), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(targets, []byte("[]\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, want{"[wso2-mi]", nil, str(targets), []string{"metrics_addr_held"}}},
		{"metrics_addr taken from the running daemon", nil, func(t *testing.T) { recordDaemon(t, "127.0.0.1"+free) },
			want{"[mictl]", str("127.0.0.1" + free), nil, []string{"from_running", "mi_metrics_off"}}},
		{"the running daemon serves elsewhere", []string{"--metrics-addr", held, "--metrics"}, nil,
			want{"[wso2-mi]", nil, str(targets), []string{"daemon_serves_otherwise", "metrics_addr_held"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.before != nil {
				c.before(t)
			}
			plain, plainNotes, err := exportPrometheusNotes(t, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			out, notes, err := exportPrometheusNotes(t, append(c.args, "-o", "json")...)
			if err != nil {
				t.Fatal(err)
			}
			if notes != plainNotes {
				t.Errorf("stderr with -o json:\n%s\nwithout:\n%s", notes, plainNotes)
			}
			jsonschematest.Validate(t, "export-prometheus", []byte(out))
			var r map[string]any
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if r["config"] != plain {
				t.Errorf("config:\n%s\nwant what the export prints without -o json:\n%s", r["config"], plain)
			}
			nullable := func(key string, want *string) {
				var w any // nil, as JSON's null decodes
				if want != nil {
					w = *want
				}
				if r[key] != w {
					t.Errorf("%s = %v, want %v", key, r[key], w)
				}
			}
			nullable("metrics_addr", c.want.metricsAddr)
			nullable("targets_file", c.want.targetsFile)
			if got := fmt.Sprint(r["jobs"]); got != c.want.jobs {
				t.Errorf("jobs %s, want %s", got, c.want.jobs)
			}
			said := notedKeys(t, "export prometheus -o json", r, notes)
			for _, key := range []string{"from_running", "daemon_serves_otherwise", "metrics_addr_held", "mi_metrics_off", "targets_missing"} {
				if want := slices.Contains(c.want.notes, key); said[key] != want || len(messagesIn(r[key])) > 0 != want {
					t.Errorf("%q is %v, noted on stderr %v; want a note %v", key, r[key], said[key], want)
				}
			}
			if taken, _ := r["from_running"].([]any); len(taken) > 0 {
				want := fmt.Sprintf("map[flag:--metrics-addr message:%s setting:metrics_addr value:127.0.0.1%s]", messagesIn(taken)[0], free)
				if got := fmt.Sprint(taken[0]); got != want {
					t.Errorf("from_running %s, want %s", got, want)
				}
			}
		})
	}
}
