// Package observe looks at running instances from the outside: which of
// their fixed ports listen and are held by their own processes, which
// random ports (JMX, syslog) they opened, and whether /healthz says ready.
// One View is one look at the host, shared by every instance it judges.
package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

// PortStatus is what the host says about one of an instance's fixed ports.
type PortStatus struct {
	Port          int    `json:"port"`
	Listening     bool   `json:"listening"`
	Owned         bool   `json:"owned"`            // held by the instance's own processes
	Holder        string `json:"holder,omitempty"` // the foreign holder, when not owned
	HolderPID     int    `json:"holder_pid,omitempty"`
	HolderProcess string `json:"holder_process,omitempty"`
	// HolderInstance is the instance whose home the holder runs in (see
	// View.Whose), "" when none.
	HolderInstance string `json:"holder_instance,omitempty"`
	// Closing says that no process shows the foreign listener although
	// its owner would show (hostnet.Socket.OwnerVisible): its holder is
	// exiting, and the port frees within moments (hostnet.ClosingFor).
	Closing bool `json:"-"`
}

// RandomPort is a port the instance opened that mictl did not plan: MI's
// JMX agent (TCP) and syslog appender (UDP) take a new one every start.
type RandomPort struct {
	Proto hostnet.Proto `json:"proto"`
	Port  int           `json:"port"`
	Role  string        `json:"role"` // "jmx", "syslog", "other" or "pending" ("inbound" in ports table: see there); see randomPorts
	PID   int           `json:"pid"`
	// Listener is, for an inbound port, the endpoint whose port it is
	// ("orders_1.0.0/OrdersHTTP"), and Undeploying says that mictl took
	// its CApp away and MI holds the port until its next scan: what
	// ports table knows (see there); null and false for any other.
	Listener    *string `json:"listener"`
	Undeploying bool    `json:"undeploying"`
}

// Observation is an instance's sockets as the host sees them now.
type Observation struct {
	Fixed [ports.NumRoles]PortStatus
	// Extras are its extra ports (state.Instance.Extras, in their order)
	// and Random the ports it opened unplanned: both only in a full look.
	Extras []PortStatus
	Random []RandomPort
	// Server is the pid of the server whose sockets Random labels (see
	// View.server), 0 when it is not known yet; only in a full look.
	Server int
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

// anyListening reports whether something listens on one of the fixed
// ports.
func (o Observation) anyListening() bool {
	for _, p := range o.Fixed {
		if p.Listening {
			return true
		}
	}
	return false
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

// View is one look at the host: its sockets, and (read only when needed)
// its processes by group. Every instance observed through one View is
// judged against the same moment, and the host is read once, not once per
// instance: twenty instances watched every second must cost the daemon
// next to nothing.
//
// A View may be shared between goroutines: its processes are read once,
// by the first caller that needs them.
type View struct {
	Sockets *hostnet.Snapshot
	// Whose says which instance the process pid holding a port belongs
	// to, and how to say so after its pid (whose.Deployment.Of); nil
	// names only the process. Set before the View is shared.
	Whose      func(pid int) (instance, about string)
	groupsOnce sync.Once
	groups     map[int][]int // pgid -> live pids, from one /proc walk

	ephemeralOnce sync.Once
	ephemeralLo   int // the host's ephemeral range, 0-0 when unreadable
	ephemeralHi   int
}

// NewView scans the host's sockets.
func NewView() (*View, error) {
	snap, err := hostnet.Scan()
	if err != nil {
		return nil, err
	}
	return &View{Sockets: snap}, nil
}

// members lists the live processes of group pgid.
func (v *View) members(pgid int) []int {
	v.groupsOnce.Do(func() {
		v.groups = map[int][]int{}
		all, err := proc.List()
		if err != nil {
			return
		}
		for _, st := range all {
			if !st.Exited() {
				v.groups[st.PGID] = append(v.groups[st.PGID], st.PID)
			}
		}
	})
	return v.groups[pgid]
}

// Recent shares one look at the host among callers that probe often: a
// View younger than MaxAge is handed out again rather than scanning anew.
// Twenty instances starting together, each probed every few milliseconds,
// then cost one socket scan per interval instead of twenty.
type Recent struct {
	MaxAge time.Duration
	// Whose is given to every View (View.Whose).
	Whose func(pid int) (instance, about string)

	mu   sync.Mutex
	at   time.Time
	view *View
}

// View returns a View at most r.MaxAge old.
func (r *Recent) View() (*View, error) {
	return r.Since(time.Now().Add(-r.MaxAge))
}

// Since returns a View whose scan began at t or later: a look taken
// after something the caller saw (a /healthz answer), shared by every
// caller whose moment came before that scan began. Instances that turn
// ready together then share one scan of the sockets and one walk of
// /proc rather than taking one each.
func (r *Recent) Since(t time.Time) (*View, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.view != nil && !r.at.Before(t) {
		return r.view, nil
	}
	at := time.Now() // a View is as old as its scan's start
	v, err := NewView()
	if err != nil {
		return nil, err
	}
	v.Whose = r.Whose
	r.view, r.at = v, at
	return v, nil
}

// GroupInodes maps every socket inode held by a process of group pgid to
// its pid. MI is a sh, a JVM and a second JVM (docs/mi-facts.md); any of them
// holding the port counts as the instance holding it.
func (v *View) GroupInodes(pgid int) map[uint64]int {
	out := map[uint64]int{}
	if pgid <= 0 {
		return out
	}
	for _, pid := range v.members(pgid) {
		addInodes(out, pid)
	}
	return out
}

func addInodes(out map[uint64]int, pid int) {
	inodes, err := hostnet.SocketInodes(pid)
	if err != nil {
		return // exited meanwhile
	}
	for ino := range inodes {
		out[ino] = pid
	}
}

// ListeningInodes returns, per fixed port of inst, the inode of a TCP
// listener overlapping its bind address (0 when none listens): a cheap
// fingerprint of who holds the ports, to compare with the last one found
// to be the instance's.
func (v *View) ListeningInodes(inst *state.Instance) [ports.NumRoles]uint64 {
	var out [ports.NumRoles]uint64
	bind, _ := netip.ParseAddr(inst.Bind)
	for role, port := range inst.Ports {
		for _, s := range v.Sockets.Holding(hostnet.TCP, port, bind) {
			out[role] = s.Inode
		}
	}
	return out
}

// Observe reports the fixed ports and, when full, the random ports of
// inst. Without full only the fixed ports matter: when none of them
// listens there is no holder to tell apart and no process is read (as
// after a stop); otherwise the server's own sockets are looked at first,
// and the rest of its group only when the server does not hold every
// fixed port itself.
func (v *View) Observe(inst *state.Instance, full bool) Observation {
	bind, _ := netip.ParseAddr(inst.Bind)
	if !full {
		if obs := v.fixedPorts(inst, bind, nil, nil); !obs.anyListening() {
			return obs
		}
	}
	var mine map[uint64]int
	if full || inst.Server.PID <= 0 {
		mine = v.GroupInodes(inst.PGID)
	} else {
		mine = map[uint64]int{}
		addInodes(mine, inst.Server.PID)
		if obs := v.fixedPorts(inst, bind, mine, nil); obs.AllOwned() {
			return obs
		}
		mine = v.GroupInodes(inst.PGID)
	}
	foreign := map[int]hostnet.Socket{} // role -> a foreign socket on its port
	obs := v.fixedPorts(inst, bind, mine, foreign)
	v.nameHolders(obs.Fixed[:], foreign)
	if full {
		obs.Server = v.server(inst)
		obs.Extras = v.extraPorts(inst, bind, mine)
		obs.Random = v.randomPorts(inst, obs.Server, mine)
	}
	return obs
}

// server is the pid of inst's server: the one recorded, or, for a start
// that has not recorded it yet, the live process of the instance's group
// that its home's wso2carbon.pid names (MI's java writes it early, and
// the file outlives its server: docs/mi-facts.md); 0 when neither is
// known.
func (v *View) server(inst *state.Instance) int {
	if inst.Server.PID > 0 {
		return inst.Server.PID
	}
	if inst.PGID <= 0 {
		return 0
	}
	pid, ok := home.ServerPID(inst.Home)
	if !ok || !slices.Contains(v.members(inst.PGID), pid) {
		return 0
	}
	return pid
}

// extraPorts says, for each extra port of inst, whether it listens and
// whose it is.
func (v *View) extraPorts(inst *state.Instance, bind netip.Addr, mine map[uint64]int) []PortStatus {
	out := make([]PortStatus, len(inst.Extras))
	foreign := map[int]hostnet.Socket{}
	for i, e := range inst.Extras {
		out[i] = v.portStatus(e.Port, bind, mine, func(s hostnet.Socket) { foreign[i] = s })
	}
	v.nameHolders(out, foreign)
	return out
}

// Holder says whether port listens and who holds it when inst does not,
// for a port that is neither fixed nor planned (one the server logged it
// could not bind), as extraPorts says it of a planned one.
func (v *View) Holder(inst *state.Instance, port int) PortStatus {
	bind, _ := netip.ParseAddr(inst.Bind)
	foreign := map[int]hostnet.Socket{}
	sts := []PortStatus{v.portStatus(port, bind, v.GroupInodes(inst.PGID), func(s hostnet.Socket) { foreign[0] = s })}
	v.nameHolders(sts, foreign)
	return sts[0]
}

// portStatus says whether port listens and whether a socket of mine holds
// it, calling other with each foreign socket on it.
func (v *View) portStatus(port int, bind netip.Addr, mine map[uint64]int, other func(hostnet.Socket)) PortStatus {
	st := PortStatus{Port: port}
	for _, s := range v.Sockets.Holding(hostnet.TCP, port, bind) {
		st.Listening = true
		if _, ok := mine[s.Inode]; ok {
			st.Owned = true
		} else if other != nil {
			other(s)
		}
	}
	return st
}

// fixedPorts says, for each fixed port of inst, whether it listens and
// whether a socket of mine holds it; foreign, when not nil, collects a
// foreign socket per role.
func (v *View) fixedPorts(inst *state.Instance, bind netip.Addr, mine map[uint64]int, foreign map[int]hostnet.Socket) Observation {
	var obs Observation
	for role, port := range inst.Ports {
		var other func(hostnet.Socket)
		if foreign != nil {
			other = func(s hostnet.Socket) { foreign[role] = s }
		}
		obs.Fixed[role] = v.portStatus(port, bind, mine, other)
	}
	return obs
}

// nameHolders finds the processes holding the ports of sts (by index in
// foreign) that are not the instance's: one /proc walk, and only when
// there is such a port. Whose names the instance of each, if any.
func (v *View) nameHolders(sts []PortStatus, foreign map[int]hostnet.Socket) {
	if len(foreign) == 0 {
		return
	}
	inodes := make([]uint64, 0, len(foreign))
	for _, s := range foreign {
		inodes = append(inodes, s.Inode)
	}
	owners := hostnet.Owners(inodes...)
	for i, s := range foreign {
		st := &sts[i]
		if st.Owned {
			continue // ours too (SO_REUSEPORT siblings): not a takeover
		}
		st.Holder = s.UnseenOwner()
		p, ok := owners[s.Inode]
		st.Closing = !ok && s.OwnerVisible()
		if ok {
			st.Holder, st.HolderPID, st.HolderProcess = p.String(), p.PID, p.Comm
			if v.Whose != nil {
				var about string
				st.HolderInstance, about = v.Whose(p.PID)
				st.Holder += about
			}
		}
	}
}

// randomPorts lists the sockets of the instance's processes that are not
// its fixed ports: MI's JMX agent (TCP, on the server, whose pid is
// server) and syslog appender (UDP, on the server), and anything else
// ("other"). While a start has not found its server yet (server 0; MI's
// JVM opens its JMX port before it writes its pid file), whose socket it
// is cannot be told yet: "pending", not "other", which read as a socket
// that would never be the server's.
func (v *View) randomPorts(inst *state.Instance, server int, mine map[uint64]int) []RandomPort {
	var out []RandomPort
	jmx := ports.PinnedJMXPort(inst.Env, inst.Args)
	for _, s := range v.Sockets.Sockets {
		pid, ok := mine[s.Inode]
		if !ok || (s.Proto == hostnet.TCP && (slices.Contains(inst.Ports[:], s.Port) || slices.ContainsFunc(inst.Extras, func(e state.Extra) bool { return e.Port == s.Port }))) {
			continue
		}
		role := "other"
		switch {
		case server == 0 && inst.State == state.StateStarting:
			role = "pending"
		case pid != server:
		case s.Proto == hostnet.UDP:
			role = "syslog"
		case s.Port == jmx || jmx == 0 && v.ephemeral(s.Port):
			role = "jmx"
		}
		out = append(out, RandomPort{Proto: s.Proto, Port: s.Port, Role: role, PID: pid})
	}
	return out
}

// ephemeral reports whether port may be one the kernel picked at random:
// in the host's ephemeral range, or any port when that cannot be read.
// An unpinned JMX agent listens on such a port; a server listener outside
// the range was chosen by someone (an inbound endpoint no declared CApp
// names, say), so it is not labelled JMX.
func (v *View) ephemeral(port int) bool {
	v.ephemeralOnce.Do(func() {
		v.ephemeralLo, v.ephemeralHi, _ = hostnet.EphemeralRange()
	})
	return v.ephemeralHi == 0 || port >= v.ephemeralLo && port <= v.ephemeralHi
}

// ManagementURL is where mictl reaches inst's Management API (HTTPS on
// its management port).
func ManagementURL(inst *state.Instance) string {
	return "https://" + probeAddr(inst.Bind, inst.Ports[ports.Management])
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

// healthClient keeps one idle connection per instance: a probe every
// second for twenty instances then costs a request each, not a TCP
// handshake and a server goroutine each. The idle timeout is short so a
// connection to a stopped instance does not linger.
var healthClient = &http.Client{
	Timeout: time.Second,
	Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     5 * time.Second,
	},
}

// Healthy asks the instance's internal HTTP API for /healthz; ready is 200
// (docs/mi-facts.md: 503 until every artifact is deployed). A 500 that lists
// faulty CApps is a *FaultyApps: the server runs, and only its apps are
// at fault.
func Healthy(ctx context.Context, inst *state.Instance) error {
	url := fmt.Sprintf("http://%s/healthz", probeAddr(inst.Bind, inst.Ports[ports.InternalHTTP]))
	status, body, err := get(ctx, url)
	if err != nil {
		return err
	}
	return healthOf(status, body)
}

// healthOf is what /healthz answering status with body means.
func healthOf(status int, body []byte) error {
	if status == http.StatusOK {
		return nil
	}
	var faulty struct {
		Status string   `json:"status"`
		Apps   []string `json:"Faulty CAPPs"`
	}
	if status == http.StatusInternalServerError && json.Unmarshal(body, &faulty) == nil && len(faulty.Apps) > 0 {
		return &FaultyApps{Apps: faulty.Apps}
	}
	// Short: it is shown in the HEALTH column of mictl status.
	return fmt.Errorf("/healthz: %d %s", status, http.StatusText(status))
}

// livenessOf is what /liveness answering status means.
func livenessOf(status int) error {
	if status != http.StatusOK {
		return fmt.Errorf("/liveness: %d %s", status, http.StatusText(status))
	}
	return nil
}

// FaultyApps is /healthz saying that CApps could not be deployed: the
// instance serves, without them. Never a reason to restart it.
type FaultyApps struct{ Apps []string }

func (e *FaultyApps) Error() string { return faultyAppsPrefix + strings.Join(e.Apps, ", ") }

const faultyAppsPrefix = "faulty CApps: "

// FaultyAppsIn are the CApp files a health reason (a FaultyApps' Error,
// as the state file keeps it) lists as faulty; none for another reason.
// The list ends at the first "; ": the supervisor joins what else makes
// the instance degraded after it (a port not bound, ports left
// unchecked), and the last file's name read with that appended was no
// file's, so deploy --wait waited its whole timeout for it.
func FaultyAppsIn(reason string) []string {
	list, ok := strings.CutPrefix(reason, faultyAppsPrefix)
	if !ok {
		return nil
	}
	list, _, _ = strings.Cut(list, "; ")
	return strings.Split(list, ", ")
}

// get does one probe request and reads its (small) body to the end, so
// the connection is kept for the next probe.
func get(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return resp.StatusCode, body, nil
}
