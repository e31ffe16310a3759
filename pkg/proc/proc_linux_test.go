package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// helperEnv selects a helper role when the test binary re-executes itself.
const helperEnv = "MICTL_PROC_TEST_HELPER"

// noSuchPid is above PID_MAX_LIMIT (2^22), so the kernel can never hand it out.
const noSuchPid = 1<<22 + 1

// mainThreadExits is the helper whose main thread exits alone (exit(2),
// not exit_group(2)), the process living on in its other threads until
// its stdin closes. Its main goroutine is kept on the main thread from
// init, where it starts. The runtime is not told: a garbage collection
// would wait for that goroutine for ever, so the helper does next to
// nothing.
const mainThreadExits = "main-thread-exits"

func init() {
	if os.Getenv(helperEnv) == mainThreadExits {
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case mainThreadExits:
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
		_, _, _ = unix.RawSyscall(unix.SYS_EXIT, 0, 0, 0)
	case "subreaper":
		if err := subreaperHelper(); err != nil {
			fmt.Fprintln(os.Stderr, "subreaper helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// start runs argv in a process group of its own and kills the whole group
// (and reaps the leader) when the test ends, pass or fail.
func start(t *testing.T, argv ...string) *exec.Cmd {
	t.Helper()
	return startIn(t, "", argv...)
}

// startIn is start with dir as the process's working directory.
func startIn(t *testing.T, dir string, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %q: %v", argv, err)
	}
	t.Cleanup(func() { killGroup(cmd) })
	return cmd
}

func killGroup(cmd *exec.Cmd) {
	_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	_ = cmd.Wait() // an error here only says it was killed or already reaped
}

// eventually polls cond until it holds; the limit only guards against a hung
// test, it is not a performance assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitMembers waits until group pgid has n live processes.
func waitMembers(t *testing.T, pgid, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d processes in group %d", n, pgid), func() bool {
		m, err := GroupMembers(pgid)
		return err == nil && len(m) == n
	})
}

// startGrandchild starts `sh -c 'sleep 30 & echo $!'` in its own group,
// waits for the sh to exit and returns the sleep's pid: a live process that
// is not our child (it is re-parented to a subreaper or PID 1).
func startGrandchild(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 </dev/null >/dev/null 2>&1 & echo $!")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("start grandchild: %v", err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = unix.Kill(-pgid, unix.SIGKILL) })
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", out, err)
	}
	return pid
}

func TestIdentifyAndAlive(t *testing.T) {
	cmd := start(t, "sleep", "60")
	pid := cmd.Process.Pid
	id, err := Identify(pid)
	if err != nil {
		t.Fatal(err)
	}
	if id.PID != pid || id.StartTime == 0 {
		t.Fatalf("Identify(%d) = %+v", pid, id)
	}
	again, err := Identify(pid)
	if err != nil || again != id {
		t.Fatalf("Identify is not stable: %+v then %+v (%v)", id, again, err)
	}

	tests := []struct {
		name string
		id   Identity
		want bool
	}{
		{"running child", id, true},
		{"same pid, other start time (reused pid)", Identity{PID: pid, StartTime: id.StartTime + 1}, false},
		{"same pid, earlier start time", Identity{PID: pid, StartTime: id.StartTime - 1}, false},
		{"no such pid", Identity{PID: noSuchPid, StartTime: id.StartTime}, false},
		{"zero", Identity{}, false},
		{"negative pid", Identity{PID: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.Alive(); got != tt.want {
				t.Errorf("%v.Alive() = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestIdentifyMissing(t *testing.T) {
	for _, pid := range []int{0, -3, noSuchPid} {
		if id, err := Identify(pid); !errors.Is(err, ErrNoProcess) {
			t.Errorf("Identify(%d) = %+v, %v; want ErrNoProcess", pid, id, err)
		}
	}
}

func TestZombieIsNotAlive(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killGroup(cmd) }) // reaps the zombie
	id, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Not waited for: the child stays a zombie until Cleanup reaps it.
	eventually(t, "child to become a zombie", func() bool {
		s, err := ReadStat(id.PID)
		return err == nil && s.State == 'Z'
	})
	if id.Alive() {
		t.Errorf("zombie %v is Alive", id)
	}
	if s, err := ReadStat(id.PID); err != nil || !s.Exited() || s.StartTime != id.StartTime {
		t.Errorf("ReadStat(zombie) = %+v, %v; want same start time, Exited", s, err)
	}
	if members, err := GroupMembers(id.PID); err != nil || len(members) != 0 {
		t.Errorf("GroupMembers(zombie's group) = %v, %v; want none", members, err)
	}
	if err := WaitExit(context.Background(), id); err != nil {
		t.Errorf("WaitExit(zombie) = %v", err)
	}
}

// TestReadStatOddComm runs a program whose name holds ") (" and spaces, so
// the live kernel line exercises the split at the last ')'.
func TestReadStatOddComm(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep:", err)
	}
	const name = "a) b (c) d"
	link := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(sleep, link); err != nil {
		t.Fatal(err)
	}
	cmd := start(t, link, "60")
	s, err := ReadStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if s.Comm != name || s.PPID != os.Getpid() || s.PGID != cmd.Process.Pid || s.SID != unixGetsid(t) {
		t.Errorf("ReadStat = %+v; want comm %q, ppid %d, pgid %d", s, name, os.Getpid(), cmd.Process.Pid)
	}
}

func unixGetsid(t *testing.T) int {
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func TestList(t *testing.T) {
	all, err := List()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(all, func(a, b Stat) int { return a.PID - b.PID }) {
		t.Error("List is not in pid order")
	}
	i := slices.IndexFunc(all, func(s Stat) bool { return s.PID == os.Getpid() })
	if i < 0 {
		t.Fatalf("List (%d processes) misses this process %d", len(all), os.Getpid())
	}
	if self := all[i]; self.PPID != os.Getppid() || self.PGID != unix.Getpgrp() || self.State == 'Z' {
		t.Errorf("self in List = %+v; want ppid %d, pgid %d", self, os.Getppid(), unix.Getpgrp())
	}
}

// TestGroupMembers starts the tree
//
//	sh ─┬─ sleep
//	    └─ sh ── sleep
//
// in one process group and finds all of it.
func TestGroupMembers(t *testing.T) {
	cmd := start(t, "/bin/sh", "-c", "sleep 60 & /bin/sh -c 'sleep 60; :' & wait")
	root := cmd.Process.Pid
	waitMembers(t, root, 4)
	members, _ := GroupMembers(root)
	if !slices.Contains(members, root) || !slices.IsSorted(members) {
		t.Errorf("GroupMembers = %v; want sorted, with the leader %d", members, root)
	}

}

// GroupEmpty is exact and cheap; unlike GroupMembers it counts a zombie,
// which is still in its group until its parent waits for it.
func TestGroupEmptyAndLeader(t *testing.T) {
	cmd := start(t, "/bin/sh", "-c", "sleep 60 & wait")
	pgid := cmd.Process.Pid
	waitMembers(t, pgid, 2)
	if GroupEmpty(pgid) {
		t.Error("GroupEmpty of a running group")
	}
	leader, ok := GroupLeader(pgid)
	if !ok || leader.PID != pgid {
		t.Errorf("GroupLeader = %v, %v; want pid %d", leader, ok, pgid)
	}
	members, _ := GroupMembers(pgid)
	sleep := members[slices.IndexFunc(members, func(pid int) bool { return pid != pgid })]
	if _, ok := GroupLeader(sleep); ok {
		t.Errorf("GroupLeader(%d) found a leader, but the sleep leads no group", sleep)
	}
	// The sh reaps its sleep and exits; as our child, not waited for yet,
	// it stays a zombie.
	if err := unix.Kill(sleep, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, pgid, 0)
	if GroupEmpty(pgid) {
		t.Error("GroupEmpty while the leader is an unreaped zombie")
	}
	if _, ok := GroupLeader(pgid); ok {
		t.Error("GroupLeader found a zombie leader")
	}
	_ = cmd.Wait()
	if !GroupEmpty(pgid) {
		t.Error("GroupEmpty false once every member is gone")
	}
	for _, bad := range []int{-1, 0, 1} {
		if GroupEmpty(bad) {
			t.Errorf("GroupEmpty(%d) = true", bad)
		}
	}
}

// GroupOf tells a group by the CARBON_HOME of its members, with or without
// a live hint, and a group with nothing left in it belongs to no home.
func TestGroupOf(t *testing.T) {
	home := t.TempDir()
	cmd := exec.Command("/bin/sh", "-c", "sleep 60 & wait")
	cmd.Env = append(os.Environ(), "CARBON_HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killGroup(cmd) })
	pgid := cmd.Process.Pid
	waitMembers(t, pgid, 2)
	leader, err := Identify(pgid)
	if err != nil {
		t.Fatal(err)
	}
	for _, hint := range []Identity{leader, {}} {
		if !GroupOf(pgid, home, hint) {
			t.Errorf("GroupOf(%d, its home, hint %v) = false", pgid, hint)
		}
		if GroupOf(pgid, t.TempDir(), hint) {
			t.Errorf("GroupOf(%d, another home, hint %v) = true", pgid, hint)
		}
	}
	// The sh reaps its sleep and exits; reaped here, nothing is left.
	members, _ := GroupMembers(pgid)
	for _, pid := range members {
		if pid != pgid {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	_ = cmd.Wait()
	if !GroupEmpty(pgid) {
		t.Fatal("the group is not empty once its sh and sleep are reaped")
	}
	if GroupOf(pgid, home, leader) || GroupOf(pgid, home, Identity{}) {
		t.Errorf("GroupOf(%d) = true for a group with nothing left in it", pgid)
	}
	for _, bad := range []int{-1, 0, 1} {
		if GroupOf(bad, home, Identity{}) {
			t.Errorf("GroupOf(%d) = true", bad)
		}
	}
}

// GroupsRunning finds a script run through its interpreter, by its path
// on the command line, and nothing that merely mentions it.
func TestGroupsRunning(t *testing.T) {
	dir := t.TempDir()
	script, other := filepath.Join(dir, "run.sh"), filepath.Join(dir, "other.sh")
	for _, p := range []string{script, other} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\nsleep 60 & wait\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := start(t, script)
	viaSh := start(t, "/bin/sh", other) // the script as its interpreter's argument
	decoy := start(t, "/bin/sh", "-c", "sleep 60; : "+script)
	waitMembers(t, cmd.Process.Pid, 2)
	waitMembers(t, viaSh.Process.Pid, 2)
	groups, err := GroupsRunning([]string{script, other})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]int{script: {cmd.Process.Pid}, other: {viaSh.Process.Pid}}; !maps.EqualFunc(groups, want, slices.Equal) {
		t.Errorf("GroupsRunning = %v, want %v (not the decoy's group %d)", groups, want, decoy.Process.Pid)
	}
}

// A script started by a relative path from its directory (cd $MI_HOME &&
// sh bin/micro-integrator.sh) is found by its absolute path; a relative
// program matches nothing (a record naming no home had its stop signal
// every start made that way on the host: a server started by hand in
// another home got its SIGTERM).
func TestGroupsRunningFindsAScriptStartedByARelativePath(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "bin", "run.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 60 & wait\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	viaSh := startIn(t, dir, "/bin/sh", "bin/run.sh")
	direct := startIn(t, filepath.Join(dir, "bin"), "./run.sh")
	waitMembers(t, viaSh.Process.Pid, 2)
	waitMembers(t, direct.Process.Pid, 2)
	groups, err := GroupsRunning([]string{script, "bin/run.sh", "./run.sh"})
	if err != nil {
		t.Fatal(err)
	}
	got := groups[script]
	slices.Sort(got)
	want := []int{viaSh.Process.Pid, direct.Process.Pid}
	slices.Sort(want)
	if !slices.Equal(got, want) || len(groups) != 1 {
		t.Errorf("GroupsRunning = %v, want %s run by the groups %v and the relative programs matching nothing", groups, script, want)
	}
}

func TestSignalGroup(t *testing.T) {
	cmd := start(t, "/bin/sh", "-c", "sleep 60 & sleep 60 & wait")
	pgid := cmd.Process.Pid
	waitMembers(t, pgid, 3)
	if err := SignalGroup(pgid, syscall.SIGTERM); err != nil {
		t.Fatalf("SignalGroup: %v", err)
	}
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("leader exit = %v, want killed by SIGTERM", err)
	}
	waitMembers(t, pgid, 0)
	if err := SignalGroup(pgid, syscall.SIGKILL); err != nil {
		t.Errorf("SignalGroup(empty group) = %v, want nil", err)
	}
}

func TestSignalGroupRefuses(t *testing.T) {
	tests := []struct {
		name string
		pgid int
		ok   bool
	}{
		{"zero is our own group to kill(2)", 0, false},
		{"one is every process to kill(2)", 1, false},
		{"negative", -42, false},
		{"own group", unix.Getpgrp(), false},
		{"nonexistent group", noSuchPid, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Signal 0 checks without delivering, so even a bug here harms nothing.
			err := SignalGroup(tt.pgid, 0)
			if (err == nil) != tt.ok {
				t.Errorf("SignalGroup(%d) = %v, want ok=%v", tt.pgid, err, tt.ok)
			}
		})
	}
	if _, err := GroupMembers(0); err == nil {
		t.Error("GroupMembers(0) = nil error")
	}
}

// subreaperHelper runs in a re-executed test binary: it becomes a
// subreaper, lets a child start a grandchild and exit, and checks the
// grandchild was re-parented to it and can be reaped by it.
func subreaperHelper() error {
	if err := BecomeSubreaper(); err != nil {
		return err
	}
	if ok, err := isSubreaper(); err != nil || !ok {
		return fmt.Errorf("isSubreaper = %v, %v after BecomeSubreaper", ok, err)
	}
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 </dev/null >/dev/null 2>&1 & echo $!")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read grandchild pid: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return err
	}
	defer unix.Kill(pid, unix.SIGKILL)
	s, err := ReadStat(pid)
	if err != nil {
		return err
	}
	if s.PPID != os.Getpid() {
		return fmt.Errorf("grandchild %d has ppid %d, want the subreaper %d", pid, s.PPID, os.Getpid())
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		return err
	}
	var ws unix.WaitStatus
	got, err := unix.Wait4(pid, &ws, 0, nil)
	if err != nil || got != pid || ws.Signal() != unix.SIGKILL {
		return fmt.Errorf("wait4(grandchild %d) = %d, %v, %v", pid, got, ws, err)
	}
	fmt.Println("reaped", pid)
	return nil
}

func TestBecomeSubreaper(t *testing.T) {
	if ok, err := isSubreaper(); err != nil || ok {
		t.Fatalf("test process already a subreaper? %v, %v", ok, err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// atexit_sleep_ms: under -race a process otherwise lingers 1 s at exit.
	cmd.Env = append(os.Environ(), helperEnv+"=subreaper", "GORACE=atexit_sleep_ms=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "reaped ") {
		t.Errorf("helper output %q", out)
	}
}

// countFDs counts this process's open descriptors.
func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settledGoroutines waits for goroutines to drop back to at most want and
// returns the count it saw last.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 200 && n > want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// withFallback runs f once with pidfds and once as on a kernel without
// pidfd_open.
func withFallback(t *testing.T, f func(t *testing.T)) {
	t.Run("pidfd", f)
	t.Run("fallback", func(t *testing.T) {
		pidfdOpen = func(int, int) (int, error) { return -1, unix.ENOSYS }
		t.Cleanup(func() { pidfdOpen = unix.PidfdOpen })
		f(t)
	})
}

func TestWaitExitNonChild(t *testing.T) {
	withFallback(t, func(t *testing.T) {
		pid := startGrandchild(t)
		id, err := Identify(pid)
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := ReadStat(pid); s.PPID == os.Getpid() {
			t.Fatalf("grandchild %d is our child", pid)
		}
		done := make(chan error, 1)
		go func() { done <- WaitExit(context.Background(), id) }()
		select {
		case err := <-done:
			t.Fatalf("WaitExit returned %v while %v runs", err, id)
		case <-time.After(300 * time.Millisecond):
		}
		if err := unix.Kill(pid, unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("WaitExit = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("WaitExit did not return after the process was killed")
		}
	})
}

// WaitMainThreadExit returns once a process's main thread has exited,
// while its other threads live on (the helper ends only when told).
func TestWaitMainThreadExitDoesNotWaitForOtherThreads(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mainThreadExits, "GOMAXPROCS=2")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	id, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitMainThreadExit(ctx, id); err != nil {
		t.Fatalf("WaitMainThreadExit: %v", err)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", id.PID))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("the helper's other threads are gone too (%d tasks, %v): nothing left to tell apart", len(tasks), err)
	}
	stdin.Close()
	if err := WaitExit(ctx, id); err != nil {
		t.Fatalf("WaitExit after the helper was let go: %v", err)
	}
}

func TestWaitExitImmediate(t *testing.T) {
	withFallback(t, func(t *testing.T) {
		live, err := Identify(start(t, "sleep", "60").Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		tests := []struct {
			name    string
			ctx     context.Context
			id      Identity
			wantErr error // nil: returns nil
			invalid bool
		}{
			{"reused pid", context.Background(), Identity{PID: live.PID, StartTime: live.StartTime + 1}, nil, false},
			{"no such pid", context.Background(), Identity{PID: noSuchPid, StartTime: 1}, nil, false},
			{"context already done", cancelled, live, context.Canceled, false},
			{"invalid pid", context.Background(), Identity{}, nil, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := WaitExit(tt.ctx, tt.id)
				switch {
				case tt.invalid:
					if err == nil {
						t.Error("WaitExit(invalid) = nil")
					}
				case !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil):
					t.Errorf("WaitExit = %v, want %v", err, tt.wantErr)
				}
			})
		}
	})
}

func TestWaitExitCancelLeaksNothing(t *testing.T) {
	withFallback(t, func(t *testing.T) {
		id, err := Identify(start(t, "sleep", "60").Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		wait := func(d time.Duration) error {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			return WaitExit(ctx, id)
		}
		// Warm up: the runtime opens its epoll descriptors on first use.
		if err := wait(time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitExit = %v, want DeadlineExceeded", err)
		}
		fds, goroutines := countFDs(t), runtime.NumGoroutine()
		for range 5 {
			if err := wait(20 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("WaitExit = %v, want DeadlineExceeded", err)
			}
		}
		if n := countFDs(t); n != fds {
			t.Errorf("open descriptors %d before, %d after", fds, n)
		}
		if n := settledGoroutines(goroutines); n > goroutines {
			t.Errorf("goroutines %d before, %d after", goroutines, n)
		}
		if !id.Alive() {
			t.Error("cancelled WaitExit harmed the process")
		}
	})
}

// isSubreaper reports whether this process is a child subreaper.
func isSubreaper() (bool, error) {
	v := new(int32)
	_, _, errno := unix.Syscall6(unix.SYS_PRCTL, unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(v)), 0, 0, 0, 0)
	if errno != 0 {
		return false, errno
	}
	return *v != 0, nil
}

// Signal reaches the incarnation it names, and never another process
// that holds its pid now.
func TestSignal(t *testing.T) {
	withFallback(t, func(t *testing.T) {
		cmd := start(t, "sleep", "60")
		id, err := Identify(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		reused := Identity{PID: id.PID, StartTime: id.StartTime + 1} // the pid, another process
		if err := Signal(reused, syscall.SIGKILL); !errors.Is(err, ErrNoProcess) {
			t.Fatalf("Signal to a reused pid = %v, want ErrNoProcess", err)
		}
		if !id.Alive() {
			t.Fatal("a signal meant for another incarnation reached the process")
		}
		if err := Signal(id, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("the process ended with %v, want killed", err)
		}
		if err := Signal(id, syscall.SIGKILL); !errors.Is(err, ErrNoProcess) {
			t.Fatalf("Signal to an exited process = %v, want ErrNoProcess", err)
		}
	})
}
