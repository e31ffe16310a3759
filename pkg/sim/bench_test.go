package sim

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/ports"
)

// BenchmarkRunReady starts `sim run` (the test binary acting as the
// simulator, like `mictl sim run`) with MICTL_SIM_STARTUP_DELAY=0 and
// reports the time from exec to /healthz 200 (ms-to-ready) and the server's
// resident memory once ready (rss-MB; peak-rss-MB is VmHWM). It is what
// `make bench` runs: go test -run '^$' -bench RunReady ./pkg/sim
func BenchmarkRunReady(b *testing.B) {
	home := b.TempDir()
	if err := WriteDist(home, DistOptions{Exe: testExe(b), ExeArgs: []string{testExeArg}}); err != nil {
		b.Fatal(err)
	}
	off := freeOffset(b)
	want := ports.DefaultBases().Shift(off)
	url := healthzURL(want)
	fast := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	env := append(baseEnv(), "CARBON_HOME="+home, EnvStartupDelay+"=0s")
	var totalReady time.Duration
	var totalRSS, totalHWM int
	for b.Loop() {
		cmd := exec.Command(testExe(b), testExeArg, "run", ports.OffsetFlag+strconv.Itoa(off))
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		for {
			resp, err := fast.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Since(t0) > 10*time.Second {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				cmd.Wait()
				b.Fatal("simulator not ready within 10s")
			}
			time.Sleep(500 * time.Microsecond)
		}
		totalReady += time.Since(t0)
		totalRSS += rssKiB(cmd.Process.Pid)
		totalHWM += statusKiB(cmd.Process.Pid, "VmHWM:")
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) {
				b.Fatalf("simulator exit: %v", err)
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(totalReady.Microseconds())/1000/n, "ms-to-ready")
	b.ReportMetric(float64(totalRSS)/1024/n, "rss-MB")
	b.ReportMetric(float64(totalHWM)/1024/n, "peak-rss-MB")
	b.ReportMetric(0, "ns/op")
	os.Remove(filepath.Join(home, PIDFile))
}

// statusKiB reads a "kB" field of /proc/pid/status, e.g. "VmRSS:" (0 when unknown).
func statusKiB(pid int, field string) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
