package supervisor

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

// PortStatus is what the host says about one of an instance's fixed ports.
type PortStatus struct {
	Port      int    `json:"port"`
	Listening bool   `json:"listening"`
	Owned     bool   `json:"owned"`            // held by the instance's own processes
	Holder    string `json:"holder,omitempty"` // the foreign holder, when not owned
	HolderPID int    `json:"holder_pid,omitempty"`
}

// RandomPort is a port the instance opened that mictl did not plan: MI's
// JMX agent (TCP) and syslog appender (UDP) take a new one every start.
type RandomPort struct {
	Proto hostnet.Proto `json:"proto"`
	Port  int           `json:"port"`
	Role  string        `json:"role"` // "jmx", "syslog" or "other"
	PID   int           `json:"pid"`
}

// Observation is an instance's sockets as the host sees them now.
type Observation struct {
	Fixed  [ports.NumRoles]PortStatus
	Random []RandomPort
}

// AllOwned reports whether every fixed port listens and is the instance's.
func (o Observation) AllOwned() bool {
	for _, p := range o.Fixed {
		if !p.Owned {
			return false
		}
	}
	return true
}

// Foreign returns the first fixed port some other process holds.
func (o Observation) Foreign() (ports.Role, PortStatus, bool) {
	for i, p := range o.Fixed {
		if p.Listening && !p.Owned {
			return ports.Role(i), p, true
		}
	}
	return 0, PortStatus{}, false
}

// GroupInodes maps every socket inode held by a process of group pgid to
// its pid. MI is a sh, a JVM and a second JVM (MI-FACTS); any of them
// holding the port counts as the instance holding it.
func GroupInodes(pgid int) map[uint64]int {
	out := map[uint64]int{}
	if pgid <= 0 {
		return out
	}
	pids, err := proc.GroupMembers(pgid)
	if err != nil {
		return out
	}
	for _, pid := range pids {
		inodes, err := hostnet.SocketInodes(pid)
		if err != nil {
			continue // exited meanwhile
		}
		for ino := range inodes {
			out[ino] = pid
		}
	}
	return out
}

// Observe reports the fixed ports and the random ports of inst in snap.
func Observe(snap *hostnet.Snapshot, inst *state.Instance) Observation {
	var obs Observation
	bind, _ := netip.ParseAddr(inst.Bind)
	mine := GroupInodes(inst.PGID)
	foreignInode := map[int]uint64{} // role -> a foreign socket on its port
	fixed := map[int]bool{}
	for role, port := range inst.Ports {
		fixed[port] = true
		st := PortStatus{Port: port}
		for _, s := range snap.Holding(hostnet.TCP, port, bind) {
			st.Listening = true
			if _, ok := mine[s.Inode]; ok {
				st.Owned = true
			} else {
				foreignInode[role] = s.Inode
			}
		}
		obs.Fixed[role] = st
	}
	if len(foreignInode) > 0 {
		inodes := make([]uint64, 0, len(foreignInode))
		for _, ino := range foreignInode {
			inodes = append(inodes, ino)
		}
		owners := hostnet.Owners(inodes...)
		for role, ino := range foreignInode {
			st := &obs.Fixed[role]
			if st.Owned {
				continue // ours too (SO_REUSEPORT siblings): not a takeover
			}
			st.Holder = "owner unknown"
			if p, ok := owners[ino]; ok {
				st.Holder, st.HolderPID = p.String(), p.PID
			}
		}
	}
	for _, s := range snap.Sockets {
		pid, ok := mine[s.Inode]
		if !ok || (s.Proto == hostnet.TCP && fixed[s.Port]) {
			continue
		}
		role := "other"
		if pid == inst.Server.PID {
			role = map[hostnet.Proto]string{hostnet.TCP: "jmx", hostnet.UDP: "syslog"}[s.Proto]
		}
		obs.Random = append(obs.Random, RandomPort{Proto: s.Proto, Port: s.Port, Role: role, PID: pid})
	}
	return obs
}

// probeAddr is where mictl reaches an instance bound to bind: a wildcard
// bind is reached on loopback.
func probeAddr(bind string, port int) string {
	addr, err := netip.ParseAddr(bind)
	if err != nil || addr.IsUnspecified() {
		if err == nil && addr.Is6() {
			return net.JoinHostPort("::1", strconv.Itoa(port))
		}
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	return net.JoinHostPort(addr.String(), strconv.Itoa(port))
}

// healthClient never keeps connections: a probe every second for twenty
// instances must not pile up sockets in the daemon or the servers.
var healthClient = &http.Client{
	Timeout:   time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// Healthy asks the instance's internal HTTP API for /healthz; ready is 200
// (MI-FACTS: 503 until every artifact is deployed).
func Healthy(ctx context.Context, inst *state.Instance) error {
	url := fmt.Sprintf("http://%s/healthz", probeAddr(inst.Bind, inst.Ports[ports.InternalHTTP]))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func roleName(i int) string { return ports.Role(i).String() }
