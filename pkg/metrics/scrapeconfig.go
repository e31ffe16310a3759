package metrics

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"sync"
	"text/template"
)

// ScrapeConfig renders a prometheus.yml that scrapes the daemon at
// daemonAddr (its metrics_addr; no daemon job when empty, with a note on
// how to turn it on, nor when daemonHeld: another process holds that
// address, which the job would scrape) and every instance listed in targetsPath, the
// absolute path of the file_sd file. Prometheus follows the file as
// instances come and go, so the configuration never needs editing again.
// An empty targetsPath means MI's own metrics are off (metrics = false:
// MI serves no /metric-service/metrics): no MI job, which would scrape
// only errors, and MIMetricsOff says why.
func ScrapeConfig(daemonAddr string, daemonHeld bool, targetsPath string) []byte {
	daemonAddr = scrapeAddr(daemonAddr)
	var b bytes.Buffer
	// The template only fails on a programming error in it.
	data := struct {
		DaemonAddr                             string
		DaemonHeld                             bool
		TargetsPath, MetricsPath, MIMetricsOff string
		DaemonJob, MIJob                       string
	}{daemonAddr, daemonHeld, targetsPath, MIMetricsPath, MIMetricsOff, DaemonJob, MIJob}
	if err := scrapeTemplate().Execute(&b, data); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// scrapeAddr is where a Prometheus on this host reaches a listener on
// addr: a wildcard address (0.0.0.0, ::) is no place to connect to, its
// loopback is.
func scrapeAddr(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsUnspecified() {
		return addr
	}
	loopback := netip.MustParseAddr("127.0.0.1")
	if ap.Addr().Is6() {
		loopback = netip.IPv6Loopback()
	}
	return netip.AddrPortFrom(loopback, ap.Port()).String()
}

// The jobs of a scrape configuration: the daemon's own metrics, and every
// instance's MI metrics. Named here once, for the file and for export
// prometheus -o json, which lists the jobs it has.
const (
	DaemonJob = "mictl"
	MIJob     = "wso2-mi"
)

// MIMetricsOff says why a scrape configuration has no MI job.
const MIMetricsOff = "metrics = false: MI's own metrics are off; set metrics = true to scrape them"

// scrapeTemplate is parsed at its first use, not at the start of every
// mictl process.
var scrapeTemplate = sync.OnceValue(func() *template.Template { return parseScrapeTemplate() })

func parseScrapeTemplate() *template.Template {
	return template.Must(template.New("prometheus.yml").Funcs(template.FuncMap{
		// A JSON string is a YAML double-quoted scalar: any path is safe.
		"yaml": func(s string) (string, error) {
			b, err := json.Marshal(s)
			return string(b), err
		},
	}).Parse(`# Prometheus scrape configuration for mictl (from: mictl export prometheus).
# Use it as prometheus.yml, or paste the scrape_configs into yours.
global:
  scrape_interval: 15s

scrape_configs:
{{- if .DaemonHeld}}
  # No mictl job: another process holds metrics_addr {{.DaemonAddr}}, where
  # no mictl daemon serves its metrics. Choose another port for
  # metrics_addr, start the deployment with it (mictl up), export again.
{{- else if .DaemonAddr}}
  # The mictl daemon: instance states, restarts, time to ready, and the
  # CPU, memory, threads and open files of each instance's processes.
  - job_name: {{.DaemonJob}}
    static_configs:
      - targets: [{{yaml .DaemonAddr}}]
{{- else}}
  # The mictl daemon's own metrics are off: set metrics_addr in mictl.toml
  # (or mictl up --metrics-addr 127.0.0.1:PORT) and export again.
{{- end}}
{{- if .TargetsPath}}

  # Each instance's MI metrics (metrics = true in mictl.toml), found in a
  # file the daemon rewrites as instances come, go or change offset.
  # Prometheus must be able to read it: its directory is private to the
  # user running mictl (0700), so run Prometheus as that user or give it
  # access (e.g. setfacl -m u:prometheus:x on the directory).
  - job_name: {{.MIJob}}
    metrics_path: {{yaml .MetricsPath}}
    file_sd_configs:
      - files: [{{yaml .TargetsPath}}]
{{- else}}

  # {{.MIMetricsOff}}
  # (mictl.toml, or mictl up --metrics), then export again.
{{- end}}
`))
}
