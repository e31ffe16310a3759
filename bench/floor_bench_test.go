package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/testports"
)

// The floor is what no supervisor can avoid on this machine: the same
// start scripts, in the same homes, started and stopped by hand (this
// benchmark process forks them and signals them, with nothing else in
// the way). Issue 15 sets mictl's targets as ratios to it, each measured
// in the same run, rounds interleaved so both meet the same machine.

// fast is the simulator start the floor benchmarks use: no start-up delay,
// so the time is the processes' and the supervisor's, not a sleep.
const fast = "MICTL_SIM_STARTUP_DELAY=0"

// handStart starts inst's start script as mictl would (its own process
// group, its CARBON_HOME and captured environment, output appended to its
// console log) and returns the script's exit.
func handStart(b *testing.B, inst state.Instance) (*exec.Cmd, <-chan struct{}) {
	b.Helper()
	logf, err := os.OpenFile(home.ConsoleLog(inst.Home), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(inst.Home, home.StartScript), inst.Args...)
	cmd.Dir = inst.Home
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MICTL_SIM_") && !strings.HasPrefix(kv, "CARBON_HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, supervisor.LaunchEnv(&inst)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pgid := cmd.Process.Pid
	b.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return cmd, done
}

// httpAddr is where inst's pass-through HTTP listener accepts.
func httpAddr(inst state.Instance) string {
	return fmt.Sprintf("127.0.0.1:%d", inst.Ports[ports.HTTP])
}

// accepts reports whether something accepts connections on addr now.
func accepts(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// waitAccepting waits until every addr accepts a connection, looking
// every 200 µs, and fails after 10 s.
func waitAccepting(b *testing.B, start time.Time, addrs []string) {
	b.Helper()
	left := append([]string(nil), addrs...)
	for len(left) > 0 {
		if accepts(left[0]) {
			left = left[1:]
			continue
		}
		if time.Since(start) > 10*time.Second {
			b.Fatalf("%s not accepting within 10s", left[0])
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// waitHealthy waits until every instance's /healthz answers 200: a stop
// is measured on started servers, as mictl down meets them.
func waitHealthy(b *testing.B, insts []state.Instance) {
	b.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(10 * time.Second)
	for _, inst := range insts {
		url := fmt.Sprintf("http://127.0.0.1:%d/healthz", inst.Ports[ports.InternalHTTP])
		for {
			resp, err := client.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s not healthy within 10s", inst.Name)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// handStop stops what handStart started the way mictl's stop does it
// (SIGTERM to the server, then to the group) and waits on pidfds until
// every process of the groups has exited.
func handStop(b *testing.B, groups []int) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var members []proc.Identity
	servers := map[int]int{} // pgid -> server pid
	for _, pgid := range groups {
		pids, err := proc.GroupMembers(pgid)
		if err != nil {
			b.Fatal(err)
		}
		for _, pid := range pids {
			id, err := proc.Identify(pid)
			if err != nil {
				continue
			}
			members = append(members, id)
			if st, _ := proc.ReadStat(pid); st.Comm != "sh" && st.Comm != "sleep" {
				servers[pgid] = pid
			}
		}
	}
	start := time.Now()
	for _, pgid := range groups {
		if pid, ok := servers[pgid]; ok {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
		_ = proc.SignalGroup(pgid, syscall.SIGTERM)
	}
	var wg sync.WaitGroup
	for _, id := range members {
		wg.Go(func() { _ = proc.WaitExit(ctx, id) })
	}
	wg.Wait()
	took := time.Since(start)
	if ctx.Err() != nil {
		b.Fatal("the hand-started instances did not stop within 30s")
	}
	return took
}

// floorRound starts insts by hand, all at once, and returns the time
// until every HTTP port accepts, then the time to stop them all.
func floorRound(b *testing.B, insts []state.Instance) (up, down time.Duration) {
	b.Helper()
	addrs := make([]string, len(insts))
	groups := make([]int, len(insts))
	dones := make([]<-chan struct{}, len(insts))
	start := time.Now()
	for i, inst := range insts {
		cmd, done := handStart(b, inst)
		addrs[i], groups[i], dones[i] = httpAddr(inst), cmd.Process.Pid, done
	}
	waitAccepting(b, start, addrs)
	up = time.Since(start)
	waitHealthy(b, insts)
	down = handStop(b, groups)
	for _, done := range dones {
		<-done
	}
	return up, down
}

// upDownFigures is one size's figures, each the median of its rounds.
type upDownFigures struct {
	upFresh, up, down, floorUp, floorDown time.Duration
}

// upDownRounds measures n instances for rounds rounds: mictl up on fresh
// homes, down, up again on the homes it left (what the floor starts
// from), down again; then the same homes started and stopped by hand.
func upDownRounds(b *testing.B, mictl string, n, rounds int) upDownFigures {
	var fresh, ups, downs, fUps, fDowns []time.Duration
	// One span for every round: each round's servers are gone before the
	// next starts, and a span is held until the benchmark ends (a span a
	// round, 14 in all, left none free: spans side by side share ports).
	base := fmt.Sprint(testports.Base(b, testports.Bench, 100))
	for range rounds {
		s := newSite(b, mictl, fast)
		fresh = append(fresh, s.run("up", "--instances", fmt.Sprint(n), "--base-offset", base))
		downs = append(downs, s.run("down"))
		ups = append(ups, s.run("up", "--instances", fmt.Sprint(n), "--base-offset", base))
		downs = append(downs, s.run("down"))
		u, d := floorRound(b, s.state().Instances)
		fUps, fDowns = append(fUps, u), append(fDowns, d)
	}
	return upDownFigures{median(fresh), median(ups), median(downs), median(fUps), median(fDowns)}
}

// BenchmarkUpDownVsFloor compares mictl up and down of 1 and of 20
// simulator instances (no start-up delay) with the same starts and stops
// done by hand: up returned (every instance ready: /healthz 200, each
// port held by its own processes) against the hand start's time until
// every HTTP port accepts; down returned (everything gone) against
// SIGTERM to the servers and groups and the wait for every process.
// Targets (issue 15): up of 1 within 2x its floor, of 20 within 1.2x
// (quiet machine); down of 20 within 2x, of 1 within 3x.
//
// version-ms is the wall time of `mictl version`: what any mictl command
// costs before it does anything (a process start, the Go runtime and the
// linked packages' init), which up and down pay once each and up once
// more for the daemon it starts.
func BenchmarkUpDownVsFloor(b *testing.B) {
	mictl := buildMictl(b)
	const rounds = 7
	var one, twenty upDownFigures
	var version time.Duration
	for b.Loop() {
		one = upDownRounds(b, mictl, 1, rounds)
		twenty = upDownRounds(b, mictl, 20, rounds)
		var v []time.Duration
		for range 21 {
			v = append(v, timeRuns(b, 1, b.TempDir(), []string{mictl, "version"}))
		}
		version = median(v)
	}
	b.ReportMetric(ms(version), "version-ms")
	for _, f := range []struct {
		n   string
		fig upDownFigures
	}{{"1", one}, {"20", twenty}} {
		b.ReportMetric(ms(f.fig.upFresh), "up"+f.n+"-fresh-ms")
		b.ReportMetric(ms(f.fig.up), "up"+f.n+"-ms")
		b.ReportMetric(ms(f.fig.floorUp), "up"+f.n+"-floor-ms")
		b.ReportMetric(float64(f.fig.up)/float64(f.fig.floorUp), "up"+f.n+"/floor")
		b.ReportMetric(ms(f.fig.down), "down"+f.n+"-ms")
		b.ReportMetric(ms(f.fig.floorDown), "down"+f.n+"-floor-ms")
		b.ReportMetric(float64(f.fig.down)/float64(f.fig.floorDown), "down"+f.n+"/floor")
	}
}

// replacementAfterKill kills server and returns the time until a new
// server (another pid in the pid file) accepts on addr.
func replacementAfterKill(b *testing.B, server int, pidFile, addr string) time.Duration {
	b.Helper()
	start := time.Now()
	if err := killPID(server); err != nil {
		b.Fatal(err)
	}
	for {
		if time.Since(start) > 10*time.Second {
			b.Fatal("no replacement within 10s")
		}
		data, _ := os.ReadFile(pidFile)
		if strings.TrimSpace(string(data)) != fmt.Sprint(server) && accepts(addr) {
			return time.Since(start)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// handSupervisor runs inst's start script again each time it ends, as a
// shell loop would, until the benchmark ends.
func handSupervisor(b *testing.B, inst state.Instance) {
	quit := make(chan struct{})
	ended := make(chan struct{})
	_, done := handStart(b, inst)
	go func() {
		defer close(ended)
		for {
			select {
			case <-quit:
				return
			case <-done:
			}
			_, done = handStart(b, inst)
		}
	}()
	b.Cleanup(func() { close(quit); <-ended })
}

// serverPID reads the pid file of inst's home, once a live server other
// than not is in it.
func serverPID(b *testing.B, inst state.Instance, not int) int {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(home.PIDFile(inst.Home))
		var pid int
		fmt.Sscan(strings.TrimSpace(string(data)), &pid)
		if pid > 0 && pid != not && accepts(httpAddr(inst)) {
			return pid
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: no server within 10s", inst.Name)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkCrashToReplacement measures, for a simulator with no startup
// delay, the time from kill -9 of its server to a new server process
// accepting connections on the same HTTP port, under mictl (restart
// always, no backoff) and under the floor: a loop that starts the script
// again the moment it ends. Samples alternate between the two. Target
// (issue 15): mictl's median within 1.2x the floor's.
func BenchmarkCrashToReplacement(b *testing.B) {
	mictl := buildMictl(b)
	s := newSite(b, mictl, fast)
	s.run("up", "--instances", "1", "--base-offset", fmt.Sprint(testports.Base(b, testports.Bench, 100)), "--restart", "always", "--max-restarts", "100000", "--backoff", "0")
	f := newSite(b, mictl, fast)
	f.run("up", "--instances", "1", "--base-offset", fmt.Sprint(testports.Base(b, testports.Bench, 100)))
	f.run("down")
	hand := f.state().Instances[0]
	handSupervisor(b, hand)
	handServer := serverPID(b, hand, 0)
	var samples, floor []time.Duration
	for b.Loop() {
		inst := s.state().Instances[0]
		samples = append(samples, replacementAfterKill(b, inst.Server.PID, home.PIDFile(inst.Home), httpAddr(inst)))
		// Let the instance settle before the next kill: the state file
		// (written at most every 50 ms) shows the new server ready.
		for st := s.state().Instances[0]; st.State != "ready" || st.Server.PID == inst.Server.PID; st = s.state().Instances[0] {
			time.Sleep(5 * time.Millisecond)
		}
		floor = append(floor, replacementAfterKill(b, handServer, home.PIDFile(hand.Home), httpAddr(hand)))
		handServer = serverPID(b, hand, handServer)
	}
	m, fl := median(samples), median(floor)
	b.ReportMetric(ms(m), "median-ms")
	b.ReportMetric(ms(samples[len(samples)*9/10]), "p90-ms")
	b.ReportMetric(ms(fl), "floor-median-ms")
	b.ReportMetric(float64(m)/float64(fl), "median/floor")
}
