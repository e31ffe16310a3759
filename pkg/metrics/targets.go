package metrics

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/mictl/mictl/pkg/fsutil"
)

// TargetsFileName is the file_sd file in the state directory
// (instances/.mictl/prometheus-targets.json).
const TargetsFileName = "prometheus-targets.json"

// MIMetricsPath is where MI serves its Prometheus metrics, on the internal
// HTTP API port (9191+offset), once the MetricHandler is configured and
// MI runs with -DenablePrometheusApi=true (docs/mi-facts.md, "Integrations").
const MIMetricsPath = "/metric-service/metrics"

// targetsPerm: the file holds instance names, offsets and loopback
// addresses, nothing secret, and Prometheus usually runs as a user of its
// own (Debian's runs as "prometheus"), which must be able to read it. The
// state directory it lives in stays 0700, so access is decided there:
// the user runs Prometheus as themselves, or grants it the directory.
const targetsPerm = 0o644

// Target is one instance whose MI serves metrics.
type Target struct {
	Name   string
	Offset int
	// Host is the address the instance binds (mictl's host setting); a
	// wildcard (0.0.0.0, ::, empty) is scraped on loopback.
	Host string
	// Port is the instance's internal HTTP API port: 9191+offset, or the
	// port its deployment.toml sets, shifted by the offset.
	Port int
}

// TargetsWriter keeps the file_sd file current. The daemon calls Write
// with the whole set whenever instances come, go or change offset;
// Prometheus watches the file and follows without a reload of its own.
type TargetsWriter struct {
	path string

	mu   sync.Mutex
	last []byte // what the file holds, once known
}

// NewTargetsWriter returns the writer of stateDir/prometheus-targets.json.
func NewTargetsWriter(stateDir string) *TargetsWriter {
	return &TargetsWriter{path: filepath.Join(stateDir, TargetsFileName)}
}

// Path returns the file's path.
func (w *TargetsWriter) Path() string { return w.path }

// Write replaces the file with targets, sorted by name, atomically (a
// Prometheus reading it sees the old or the new set, never half of one),
// and only when its content changes: Prometheus re-reads the file at every
// change, and a daemon restart with the same instances changes nothing.
// It reports whether the file was written.
func (w *TargetsWriter) Write(targets []Target) (bool, error) {
	data, err := renderTargets(targets)
	if err != nil {
		return false, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		old, err := os.ReadFile(w.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("read %s: %w", w.path, err)
		}
		w.last = old
	}
	if bytes.Equal(data, w.last) {
		return false, nil
	}
	// ReplaceFile, not WriteFileAtomic: the file is made again from the
	// running instances whenever it is needed, so a crash may lose it.
	if err := fsutil.ReplaceFile(w.path, data, targetsPerm); err != nil {
		return false, err // names the file already
	}
	w.last = data
	return true, nil
}

// fileSDGroup is one entry of a file_sd_configs file.
type fileSDGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// renderTargets renders targets in Prometheus's file_sd format, one group
// per instance (so each carries its own labels), sorted by name. Each
// group also sets __metrics_path__ to MI's path, so the file is right
// even in a job that forgot metrics_path.
func renderTargets(targets []Target) ([]byte, error) {
	sorted := slices.Clone(targets)
	slices.SortFunc(sorted, func(a, b Target) int { return cmp.Compare(a.Name, b.Name) })
	groups := make([]fileSDGroup, 0, len(sorted))
	for i, t := range sorted {
		if i > 0 && t.Name == sorted[i-1].Name {
			return nil, fmt.Errorf("prometheus-targets.json: instance %s listed twice", t.Name)
		}
		if t.Port < 1 || t.Port > 65535 {
			return nil, fmt.Errorf("prometheus-targets.json: instance %s: internal HTTP port %d out of range", t.Name, t.Port)
		}
		groups = append(groups, fileSDGroup{
			Targets: []string{ScrapeAddr(t.Host, t.Port)},
			Labels: map[string]string{
				labelName:          t.Name,
				labelOffset:        strconv.Itoa(t.Offset),
				"__metrics_path__": MIMetricsPath,
			},
		})
	}
	data, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("prometheus-targets.json: %w", err)
	}
	return append(data, '\n'), nil
}

// ScrapeAddr is host:port of a server bound to host and port, as reached
// from this host: a wildcard bind (0.0.0.0, ::, empty) on loopback.
func ScrapeAddr(host string, port int) string {
	a, err := netip.ParseAddr(host)
	switch {
	case host == "" || (err == nil && a.Is4() && a.IsUnspecified()):
		host = "127.0.0.1"
	case err == nil && a.IsUnspecified():
		host = "::1"
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
