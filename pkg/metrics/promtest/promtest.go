// Package promtest runs a real Prometheus for tests (Debian's prometheus
// package; .ci/prometheus.sh installs it) and serves MI-style metrics, so
// tests can check mictl's metrics the way an operator's Prometheus sees
// them: through its HTTP API.
package promtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/testports"
)

// Require returns the path of the Prometheus tool name ("prometheus",
// "promtool"). When it is missing the test fails under CI (CI=true: the
// test setup must have installed it) and is skipped elsewhere, saying how
// to install it.
func Require(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found: run `make test-deps-metrics` (or apt-get install prometheus)", name)
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

// Server is a Prometheus started by Start.
type Server struct {
	// URL is its base URL, http://127.0.0.1:PORT.
	URL string
}

// Start runs Prometheus on a free loopback port with config (a whole
// prometheus.yml) and a temporary storage directory, waits until it is
// ready, and stops it when the test ends, pass or fail.
func Start(tb testing.TB, config string) *Server {
	tb.Helper()
	bin := Require(tb, "prometheus")
	dir := tb.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	addr := FreeAddr(tb)
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
	})
	s := &Server{URL: "http://" + addr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logf.Name())
			tb.Fatalf("prometheus exited before it was ready:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("prometheus not ready on %s after 30s", addr)
		}
	}
}

// FreeAddr returns a loopback address on a free port for a server the
// test starts in another program (testports.FreePort).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testports.FreePort(tb)))
}

// Sample is one series of an instant query's result.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query evaluates expr now (/api/v1/query) and returns the vector.
func (s *Server) Query(tb testing.TB, expr string) []Sample {
	tb.Helper()
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	s.get(tb, "/api/v1/query?query="+url.QueryEscape(expr), &data)
	if data.ResultType != "vector" {
		tb.Fatalf("query %s: result type %q, want vector", expr, data.ResultType)
	}
	out := make([]Sample, 0, len(data.Result))
	for _, r := range data.Result {
		str, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			tb.Fatalf("query %s: value %v: %v", expr, r.Value[1], err)
		}
		out = append(out, Sample{Labels: r.Metric, Value: v})
	}
	return out
}

// Target is one active scrape target (/api/v1/targets).
type Target struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"` // "up", "down", "unknown"
	LastError string            `json:"lastError"`
}

// Targets returns the active targets.
func (s *Server) Targets(tb testing.TB) []Target {
	tb.Helper()
	var data struct {
		Active []Target `json:"activeTargets"`
	}
	s.get(tb, "/api/v1/targets?state=active", &data)
	return data.Active
}

// get decodes the data of a successful API answer into v.
func (s *Server) get(tb testing.TB, path string, v any) {
	tb.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		tb.Fatalf("prometheus API %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		tb.Fatalf("prometheus API %s: %v", path, err)
	}
	if body.Status != "success" {
		tb.Fatalf("prometheus API %s: %s", path, body.Error)
	}
	if err := json.Unmarshal(body.Data, v); err != nil {
		tb.Fatalf("prometheus API %s: %v", path, err)
	}
}

// WaitFor polls cond until it holds; the limit (60 s: scrapes, file_sd
// refreshes and rule evaluation happen on Prometheus's own clock) only
// guards against a hung test. What explains a timeout is what the test
// returns from cond's last call.
func WaitFor(tb testing.TB, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s; last seen: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CheckMetrics runs `promtool check metrics` on a scrape's text and fails
// the test with promtool's findings if it finds any.
func CheckMetrics(tb testing.TB, text string) {
	tb.Helper()
	cmd := exec.Command(Require(tb, "promtool"), "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// CheckConfig runs `promtool check config` on a prometheus.yml.
func CheckConfig(tb testing.TB, config string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(Require(tb, "promtool"), "check", "config", path).CombinedOutput()
	if err != nil {
		tb.Errorf("promtool check config: %v\n%s", err, out)
	}
}
