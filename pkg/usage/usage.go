// Package usage measures what each MI instance costs the host: CPU time,
// memory, threads and open files of its process group, read from /proc.
//
// An instance is a process group (the start script, the server and MI's
// diagnostics companion; see pkg/proc), so usage is always summed over a
// group, never taken from one pid: MI's second JVM and whatever the script
// runs are the instance's cost too. One walk of /proc serves every group
// asked for at once, so sampling twenty instances each second costs about
// what sampling one does (BenchmarkSample).
package usage

import (
	"errors"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/proc"
)

// Usage is one process group's use of the host at the moment of a Sample.
type Usage struct {
	// Processes is how many live members the group has (zombies excluded).
	Processes int
	// CPUSeconds is the CPU time (user + system) of the live members plus
	// that of their children that exited and which they waited for. So
	// the CPU of a server that MI's script restarted itself (exit 121) or
	// of a short command the script ran stays counted. Not counted: a
	// member that exited and was reaped outside the group (by the
	// supervisor as child subreaper, or by PID 1), e.g. a JVM that
	// outlived its script. The sum then goes down; consumers treat that as
	// a counter reset, as Prometheus's rate() does, and so does a restart
	// by the supervisor, which starts a new group.
	CPUSeconds float64
	// RSSBytes is the resident memory of the members, summed: pages shared
	// between members (the same binary, copy-on-write after fork) count
	// once per member, so this overstates what the group alone holds.
	RSSBytes uint64
	// Threads is the number of threads of all members.
	Threads int
	// OpenFDs is the number of open file descriptors of the members whose
	// descriptor table may be read (all of them for the user who started
	// the instance, or root); Unreadable counts the others.
	OpenFDs    int
	Unreadable int
}

// walk returns the usage of each process group in pgids, from one walk
// of /proc, and the members it found, by group. A group with no live
// member is absent from the result, so "absent" means "nothing of this
// instance runs". Invalid pgids (<= 0) are ignored. The only error is
// /proc itself failing.
func walk(pgids []int) (map[int]Usage, map[int][]proc.Identity, error) {
	out := make(map[int]Usage, len(pgids))
	members := make(map[int][]proc.Identity, len(pgids))
	for _, g := range pgids {
		if g > 0 {
			members[g] = nil
		}
	}
	if len(members) == 0 {
		return out, members, nil
	}
	all, err := proc.List()
	if err != nil {
		return nil, nil, err
	}
	for _, st := range all {
		if _, want := members[st.PGID]; !want || st.Exited() {
			continue
		}
		members[st.PGID] = append(members[st.PGID], st.Identity())
		add(out, st)
	}
	return out, members, nil
}

// add counts process st in its group's usage.
func add(out map[int]Usage, st proc.Stat) {
	u := out[st.PGID]
	u.Processes++
	u.CPUSeconds += float64(st.UTime+st.STime+st.CUTime+st.CSTime) / float64(proc.ClockTicks())
	u.RSSBytes += st.RSSPages * uint64(os.Getpagesize())
	u.Threads += st.Threads
	if n, err := OpenFDs(st.PID); err == nil {
		u.OpenFDs += n
	} else {
		u.Unreadable++
	}
	out[st.PGID] = u
}

// Tracker samples the same groups again and again (mictl top, each
// second) for less than a walk of /proc each time: a walk reads every
// process on the host, while between walks only the members found by
// the last one are read. It walks again when a group is new, when a
// member is gone (its pid ended or names another process now), and at
// least every rewalk, to find members that appeared inside a group it
// knows (a server restarted by MI's own script). Not safe for concurrent
// use.
type Tracker struct {
	rewalk  time.Duration
	walked  time.Time
	members map[int][]proc.Identity
}

// NewTracker returns a Tracker that walks /proc at least every rewalk.
func NewTracker(rewalk time.Duration) *Tracker {
	return &Tracker{rewalk: rewalk}
}

// Sample is the usage of each process group in pgids as of now (see
// walk), read as cheaply as the groups allow.
func (t *Tracker) Sample(now time.Time, pgids []int) (map[int]Usage, error) {
	if out, ok := t.reread(now, pgids); ok {
		return out, nil
	}
	out, members, err := walk(pgids)
	if err != nil {
		return nil, err
	}
	t.walked, t.members = now, members
	return out, nil
}

// reread reads the known members of pgids again, or reports false when
// only a walk can tell.
func (t *Tracker) reread(now time.Time, pgids []int) (map[int]Usage, bool) {
	if t.members == nil || now.Sub(t.walked) >= t.rewalk {
		return nil, false
	}
	out := make(map[int]Usage, len(pgids))
	for _, g := range pgids {
		if g <= 0 {
			continue
		}
		ids, known := t.members[g]
		if !known {
			return nil, false
		}
		for _, id := range ids {
			st, err := proc.ReadStat(id.PID)
			if err != nil || st.StartTime != id.StartTime || st.PGID != g || st.Exited() {
				return nil, false
			}
			add(out, st)
		}
	}
	return out, true
}

// OpenFDs counts pid's open file descriptors. Since Linux 6.2 the size of
// /proc/<pid>/fd is that count, one stat; older kernels report 0 there and
// the directory is listed instead.
func OpenFDs(pid int) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, err
	}
	if st.Size > 0 {
		return int(st.Size), nil
	}
	return countEntries(dir)
}

// countEntries lists dir and counts its entries.
func countEntries(dir string) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(64)
		n += len(names)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
