package cli

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/testports"
)

// The advice of a failed start to stop the stranger on a port is judged
// as status shows it: status said "stop pid 5524 to free port 13283"
// after pid 5524 had exited. Gone, the stranger is said to be, with the
// port free now (or who holds it now) and what starts the instance.
func TestStatusJudgesTheAdviceToStopAStranger(t *testing.T) {
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	port := testports.FreePort(t)
	exited := proc.Identity{PID: self.PID, StartTime: self.StartTime + 1} // that pid, another process's run
	failed := func(holder proc.Identity) *state.File {
		b := &state.Blocker{Port: port, Holder: holder, Again: "mictl up starts mi-1 again", Around: "mictl up plans mi-1 around the port"}
		why := fmt.Sprintf("http port %d is held by pid %d (python3), not by this instance; %s", port, holder.PID, b.Remedy())
		return &state.File{Instances: []state.Instance{{Name: "mi-1", State: state.StateFailed, Bind: "127.0.0.1", Reason: why, LastError: why, Blocker: b}}}
	}
	stale := fmt.Sprintf("stop pid %d to free port %d", self.PID, port)
	for _, tc := range []struct {
		what   string
		holder proc.Identity
		listen bool
		want   string
	}{
		{"the stranger holds it", self, true, stale},
		{"the stranger exited", exited, false, fmt.Sprintf("pid %d has exited since, and port %d is free now: mictl up starts mi-1 again", self.PID, port)},
		{"another holds it since", exited, true, fmt.Sprintf("pid %d has exited since, and port %d is now held by pid %d", self.PID, port, self.PID)},
	} {
		t.Run(tc.what, func(t *testing.T) {
			if tc.listen {
				ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			row := statusRows(failed(tc.holder), false)[0]
			for key, got := range map[string]*string{"health": row.Health, "last_error": row.LastError} {
				if got == nil || !strings.Contains(*got, tc.want) || (tc.want != stale && strings.Contains(*got, stale)) {
					t.Errorf("%s: %v, want it saying %q", key, deref(got), tc.want)
				}
			}
		})
	}
}

// One status scans the host's sockets once, however many instances have
// a blocker that exited since: it scanned once per such instance.
func TestStatusScansTheHostOnceForEveryGoneBlocker(t *testing.T) {
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exited := proc.Identity{PID: self.PID, StartTime: self.StartTime + 1}
	port := testports.FreePort(t)
	f := &state.File{}
	for _, name := range []string{"mi-1", "mi-2", "mi-3"} {
		b := &state.Blocker{Port: port, Holder: exited, Again: "mictl up starts " + name + " again", Around: "mictl up plans " + name + " around the port"}
		f.Instances = append(f.Instances, state.Instance{Name: name, State: state.StateFailed, Bind: "127.0.0.1", Reason: b.Remedy(), LastError: b.Remedy(), Blocker: b})
	}
	scans := 0
	defer func(scan func(netip.Addr) (check.Host, error)) { liveHost = scan }(liveHost)
	liveHost = func(bind netip.Addr) (check.Host, error) {
		scans++
		return check.LiveHost(bind)
	}
	for _, row := range statusRows(f, false) {
		if want := fmt.Sprintf("port %d is free now", port); row.Health == nil || !strings.Contains(*row.Health, want) {
			t.Errorf("%s: health %v, want it saying %q", row.Name, deref(row.Health), want)
		}
	}
	if scans != 1 {
		t.Errorf("status scanned the host %d times for 3 instances whose blocker exited, want once", scans)
	}
}
