package usage

import (
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/proc/proctest"
)

// waitUsage polls walk until cond holds for group pgid and returns
// that sample; the limit only guards against a hung test.
func waitUsage(t *testing.T, pgid int, what string, cond func(Usage, bool) bool) Usage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _, err := walk([]int{pgid})
		if err != nil {
			t.Fatal(err)
		}
		u, ok := got[pgid]
		if cond(u, ok) {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last sample %+v (present %v)", what, u, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSampleSumsTheGroup(t *testing.T) {
	// An instance's shape: a script, a server and a companion.
	pgid := proctest.StartGroup(t, "sleep 100 & sleep 100 & wait")
	other := proctest.StartGroup(t, "exec sleep 100")
	waitUsage(t, other, "the other group", func(u Usage, _ bool) bool { return u.Processes == 1 })
	u := waitUsage(t, pgid, "3 processes", func(u Usage, _ bool) bool { return u.Processes == 3 })
	if u.Threads != 3 {
		t.Errorf("Threads = %d, want 3 (one per single-threaded process)", u.Threads)
	}
	if u.RSSBytes == 0 {
		t.Error("RSSBytes = 0 for three live processes")
	}
	// Each process has at least stdin, stdout and stderr open.
	if u.OpenFDs < 9 || u.Unreadable != 0 {
		t.Errorf("OpenFDs = %d, Unreadable = %d; want >= 9 and 0", u.OpenFDs, u.Unreadable)
	}
	both, _, err := walk([]int{pgid, other, 0, -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(both) != 2 || both[other].Processes != 1 {
		t.Errorf("walk of two groups and two invalid pgids = %+v, want the two groups only", both)
	}
}

func TestSampleOmitsGoneGroups(t *testing.T) {
	pgid := proctest.StartGroup(t, "exit 0")
	waitUsage(t, pgid, "the group to end", func(_ Usage, ok bool) bool { return !ok })
	got, _, err := walk(nil)
	if err != nil || len(got) != 0 {
		t.Errorf("walk(nil) = %v, %v; want an empty map", got, err)
	}
}

// A child the script waited for leaves its CPU in the script's count, as
// the old server does when MI's script restarts it (exit 121): the
// instance's CPU seconds do not drop when it exits.
func TestSampleKeepsWaitedChildrenCPU(t *testing.T) {
	pgid := proctest.StartGroup(t, `sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'; sleep 100`)
	busy := waitUsage(t, pgid, "the busy child to use CPU", func(u Usage, _ bool) bool { return u.CPUSeconds >= 0.05 })
	// The busy child exits; then only the script and sleep are left.
	after := waitUsage(t, pgid, "the busy child to end", func(u Usage, _ bool) bool {
		return u.Processes == 2 && u.CPUSeconds > 0
	})
	if after.CPUSeconds < busy.CPUSeconds {
		t.Errorf("CPU seconds fell from %.2f to %.2f when a waited-for child exited", busy.CPUSeconds, after.CPUSeconds)
	}
}

func TestOpenFDsFallbackAgrees(t *testing.T) {
	pid := os.Getpid()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	listed, err := countEntries(dir)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size == 0 {
		t.Skip("this kernel (before 6.2) does not report the count as the size of /proc/<pid>/fd")
	}
	// Both were read by this very process; the listing's own descriptor
	// is the one that may differ.
	if d := listed - int(st.Size); d < -1 || d > 1 {
		t.Errorf("listing counts %d descriptors, the size says %d", listed, st.Size)
	}
	if _, err := OpenFDs(1<<22 + 1); err == nil {
		t.Error("openFDs of a pid that cannot exist: no error")
	}
}

// BenchmarkSample is the cost of sampling twenty instances of three
// processes each: a walk of /proc (a daemon's scrape), and a Tracker's
// sample between walks (mictl top's second).
func BenchmarkSample(b *testing.B) {
	pgids := make([]int, 20)
	for i := range pgids {
		pgids[i] = proctest.StartGroup(b, "sleep 1000 & sleep 1000 & wait")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _, err := walk(pgids)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, u := range got {
			n += u.Processes
		}
		if n == 60 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of 60 processes started", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := walk(pgids); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tracker", func(b *testing.B) {
		tr := NewTracker(time.Hour)
		now := time.Now()
		for b.Loop() {
			if _, err := tr.Sample(now, pgids); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Between walks a Tracker reads the members it knows; a member that
// appeared inside a known group shows at the next walk, one that ended
// at once.
func TestTrackerRereadsKnownMembers(t *testing.T) {
	pgid := proctest.StartGroup(t, `trap 'sleep 100 &' USR1; sleep 100 & wait; wait`)
	waitUsage(t, pgid, "2 processes", func(u Usage, _ bool) bool { return u.Processes == 2 })
	tr := NewTracker(time.Minute)
	t0 := time.Now()
	count := func(at time.Duration) int {
		t.Helper()
		got, err := tr.Sample(t0.Add(at), []int{pgid})
		if err != nil {
			t.Fatal(err)
		}
		return got[pgid].Processes
	}
	if n := count(0); n != 2 {
		t.Fatalf("first sample: %d processes, want 2", n)
	}
	if err := unix.Kill(pgid, unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitUsage(t, pgid, "3 processes", func(u Usage, _ bool) bool { return u.Processes == 3 })
	if n := count(time.Second); n != 2 {
		t.Errorf("between walks: %d processes, want the 2 known", n)
	}
	if n := count(time.Minute); n != 3 {
		t.Errorf("at the next walk: %d processes, want 3", n)
	}
	// A member ends: the next sample walks again.
	_, byGroup, err := walk([]int{pgid})
	if err != nil {
		t.Fatal(err)
	}
	victim := byGroup[pgid][len(byGroup[pgid])-1]
	if err := unix.Kill(victim.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUsage(t, pgid, "2 processes", func(u Usage, _ bool) bool { return u.Processes == 2 })
	if n := count(time.Minute + time.Second); n != 2 {
		t.Errorf("after a member ended: %d processes, want 2", n)
	}
	// A group it does not know yet is walked for at once.
	other := proctest.StartGroup(t, "exec sleep 100")
	waitUsage(t, other, "the other group", func(u Usage, _ bool) bool { return u.Processes == 1 })
	got, err := tr.Sample(t0.Add(time.Minute+2*time.Second), []int{pgid, other})
	if err != nil || got[other].Processes != 1 {
		t.Errorf("a new group: %+v, %v", got, err)
	}
}
