package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/metrics/promtest"
)

// exportPrometheus runs `mictl export prometheus args...` in-process.
func exportPrometheus(t *testing.T, args ...string) (string, error) {
	t.Helper()
	streams, out, _ := testStreams()
	cmd := newCmdExportPrometheus(streams, &globalOptions{})
	cmd.SetArgs(args)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	err := cmd.Execute()
	return out.String(), err
}

func TestExportPrometheus(t *testing.T) {
	dir := inTempDir(t)
	out, err := exportPrometheus(t, "--metrics-addr", ":9464")
	if err != nil {
		t.Fatal(err)
	}
	// The targets file is named by its absolute path: Prometheus would
	// resolve a relative one against its own configuration's directory.
	targets := filepath.Join(dir, "instances", ".mictl", "prometheus-targets.json")
	if !strings.Contains(out, `"`+targets+`"`) {
		t.Errorf("the config does not name %s", targets)
	}
	golden(t, "export-prometheus.yml", strings.ReplaceAll(out, dir, "/DIR"))
	promtest.CheckConfig(t, out)

	out, err = exportPrometheus(t, "--instances-dir", "elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "job_name: mictl") || !strings.Contains(out, filepath.Join(dir, "elsewhere", ".mictl")) {
		t.Errorf("without --metrics-addr, under --instances-dir elsewhere:\n%s", out)
	}
	promtest.CheckConfig(t, out)
}

func TestExportPrometheusBadAddr(t *testing.T) {
	inTempDir(t)
	_, err := exportPrometheus(t, "--metrics-addr", "localhost:x")
	if code := exitcode.Of(err); code != exitcode.Usage || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("bad --metrics-addr: exit %d, %v; want exit %d naming the flag", code, err, exitcode.Usage)
	}
}
