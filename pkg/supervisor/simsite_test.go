package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc/proctest"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/sim"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/testports"
)

// simSite is a supervisor running simulated instances, planned from a
// mictl.toml in a temporary directory and changed by reloads, as the
// daemon runs them.
type simSite struct {
	t      *testing.T
	dir    string
	base   int
	sup    *Supervisor
	events <-chan Event
	// seen are the events received so far; cursor is, per instance, where
	// its next look at them starts.
	seen   []Event
	cursor map[string]int
	// settings are the simulator's settings the site gives the instances
	// it adds (see setenv).
	settings map[string]string
}

// simSiteInstances is how many offsets a site may use from its base.
const simSiteInstances = 4

// newSimSite starts a supervisor (no instance yet) whose event stream the
// site follows. Every process it starts is gone when the test ends.
func newSimSite(t *testing.T, policy Policy) *simSite {
	t.Helper()
	dir := t.TempDir()
	store, err := state.Open(filepath.Join(dir, "instances", ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if left := proctest.Reap(dir, 5*time.Second); len(left) > 0 {
			t.Errorf("processes left running after the test: %v", left)
		}
	})
	sup, err := New(store, sharedReaper(t), policy)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sup.Close)
	t.Cleanup(func() { _ = sup.Stop(nil, 10*time.Second) })
	events, cancel := sup.Subscribe()
	t.Cleanup(func() { cancel() })
	s := &simSite{t: t, dir: dir, base: freeBase(t), sup: sup, events: events, cursor: map[string]int{}, settings: map[string]string{}}
	// Simulated servers start at once and scan carbonapps/ often.
	s.setenv("MICTL_SIM_STARTUP_DELAY", "0s")
	s.setenv("MICTL_SIM_DEPLOY_INTERVAL", "200ms")
	return s
}

// sites is the reaper every site of the tests running at once shares: a
// reaper owns wait4(-1) (see Reaper), and one site's would reap, and
// drop, the exits of another's servers. It is closed when the last site
// ends. Meanwhile it takes the exit of any child of the process, so a
// test that needs the exit status of a child of its own (exec.Cmd's
// Wait, Run, Output) is not parallel: it runs before the parallel
// tests, with a site of its own at most.
var sites struct {
	mu     sync.Mutex
	reaper *Reaper
	users  int
}

// sharedReaper is sites' reaper, the test's until it ends.
func sharedReaper(t *testing.T) *Reaper {
	t.Helper()
	sites.mu.Lock()
	defer sites.mu.Unlock()
	if sites.users == 0 {
		r, err := NewReaper(false)
		if err != nil {
			t.Fatal(err)
		}
		sites.reaper = r
	}
	sites.users++
	t.Cleanup(func() {
		sites.mu.Lock()
		defer sites.mu.Unlock()
		if sites.users--; sites.users == 0 {
			sites.reaper.Close()
			sites.reaper = nil
		}
	})
	return sites.reaper
}

// siteSettingsFile is the file, in a site's directory, of the simulator's
// settings (MICTL_SIM_*, one KEY=VALUE a line) for the servers of its
// instances: they are the site's, not this process's environment, which
// every test shares, so that sites of tests running side by side
// (t.Parallel) each have faults and delays of their own.
const siteSettingsFile = "mictl-sim-settings.env"

// siteSettingsKept is the directory, in a site's, of the settings each
// instance took at its first start (see takeSiteSettings), by name.
const siteSettingsKept = "mictl-sim-settings.kept"

// setenv sets the simulator's setting key to value (empty: as unset) for
// the instances the site adds from now on, as a t.Setenv before a reload
// did through the environment the daemon captures into the record of an
// instance it adds.
func (s *simSite) setenv(key, value string) {
	s.t.Helper()
	s.settings[key] = value
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(s.settings)) {
		fmt.Fprintf(&b, "%s=%s\n", k, s.settings[k])
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(s.dir, siteSettingsFile), []byte(b.String()), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// takeSiteSettings sets, in a simulated server of a site's instance
// (CARBON_HOME <site>/instances/<name>), the simulator's settings of its
// site as they were at the instance's first start, which it keeps for
// every later start: a daemon restarts an instance with the environment
// it captured when it added it (CaptureEnv), so a setting changed later
// reaches only the instances added later. A server of no site's home
// (a test's own) takes none.
func takeSiteSettings() error {
	home := os.Getenv("CARBON_HOME")
	site := filepath.Dir(filepath.Dir(home))
	kept := filepath.Join(site, siteSettingsKept, filepath.Base(home))
	settings, err := os.ReadFile(kept)
	if errors.Is(err, fs.ErrNotExist) {
		settings, err = os.ReadFile(filepath.Join(site, siteSettingsFile))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil {
			err = os.MkdirAll(filepath.Dir(kept), 0o755)
		}
		if err == nil {
			err = fsutil.WriteFileAtomic(kept, settings, 0o644)
		}
	}
	if err != nil {
		return fmt.Errorf("simulated server of %s: take its site's settings: %w", home, err)
	}
	for line := range strings.Lines(string(settings)) {
		key, value, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		if err := os.Setenv(key, value); err != nil {
			return fmt.Errorf("simulated server of %s: setting %s of %s: %w", home, key, kept, err)
		}
	}
	return nil
}

// freeBase picks a base offset in the package's block whose instances'
// fixed ports are all free now, kept from other tests' ports with the
// inbound ports its CApps open (inboundCApp).
func freeBase(t *testing.T) int {
	t.Helper()
	for range 50 {
		base := testports.Base(t, testports.Other, simSiteInstances, testports.InboundBases()...)
		if portsFree(base) {
			return base
		}
	}
	t.Fatal("no base offset with free ports found")
	return 0
}

func portsFree(base int) bool {
	for off := base; off < base+simSiteInstances; off++ {
		for _, p := range ports.DefaultBases().Shift(off) {
			if !portFree(p) {
				return false
			}
		}
	}
	return true
}

// portFree reports whether a listener can take port on 127.0.0.1 now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// car writes the CApp spec describes to build/<file> (replacing it, as a
// rebuild does) and returns its path.
func (s *simSite) car(file string, spec capp.Spec) string {
	s.t.Helper()
	var buf bytes.Buffer
	if err := capp.Build(&buf, spec); err != nil {
		s.t.Fatal(err)
	}
	path := filepath.Join(s.dir, "build", file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := fsutil.WriteFileAtomic(path, buf.Bytes(), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// debuggerOnSparePorts writes the site's distribution with MI's
// mediation debugger (-Desb.debug=true) on two ports of the site's last
// offset, which a test of one instance leaves free, not on 9005 and 9006,
// which another run on the host may hold. It returns the command port and
// the synapse.properties written.
func (s *simSite) debuggerOnSparePorts() (command int, properties string) {
	s.t.Helper()
	spare := ports.DefaultBases().Shift(s.base + simSiteInstances - 1)
	dist := filepath.Join(s.dir, "instances", ".dist")
	opts, err := sim.MictlDistOptions()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := sim.WriteDist(dist, opts); err != nil {
		s.t.Fatal(err)
	}
	properties = fmt.Sprintf("%s=%d\n%s=%d\n", sim.DebuggerCommandPortKey, spare[ports.HTTP], sim.DebuggerEventPortKey, spare[ports.HTTPS])
	if err := os.WriteFile(filepath.Join(dist, sim.SynapsePropertiesPath), []byte(properties), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return spare[ports.HTTP], properties
}

// reload writes toml (the settings after the site's own) as mictl.toml and
// has the supervisor apply it, as the daemon does when the file changes.
func (s *simSite) reload(toml string) {
	s.t.Helper()
	if err := s.tryReload(toml); err != nil {
		s.t.Fatalf("reload:\n%s\n%v", toml, err)
	}
}

// tryReload is reload, returning what the reload returned.
func (s *simSite) tryReload(toml string) error {
	s.t.Helper()
	s.write(toml)
	_, err := s.sup.Reload(s.load)
	return err
}

// client is the window of a reload a client asked for, what is said to
// that client alone emitted for the site's events to show.
func (s *simSite) client() *rollWindow {
	return &rollWindow{say: s.sup.emit}
}

// write writes toml (the settings after the site's own) as mictl.toml.
func (s *simSite) write(toml string) {
	s.t.Helper()
	head := fmt.Sprintf("base_offset = %d\nhost = \"127.0.0.1\"\ninstances_dir = \"instances\"\n", s.base)
	if err := os.WriteFile(filepath.Join(s.dir, config.DefaultFile), []byte(head+toml), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// load loads the site's mictl.toml, as the daemon's configuration watch
// does.
func (s *simSite) load([]string) (*config.Config, []int, error) {
	cfg, err := config.Load(config.Sources{Path: filepath.Join(s.dir, config.DefaultFile)})
	return cfg, nil, err
}

// siteTimeout bounds every wait of a site: far beyond what the simulator
// takes (it scans carbonapps/ every 200 ms).
const siteTimeout = 30 * time.Second

// next returns the next event of instance, after the one next returned
// last for it, whose state is one of states; it fails the test when none
// comes. Events of other instances are kept for their own calls.
func (s *simSite) next(instance string, states ...string) Event {
	s.t.Helper()
	timeout := time.After(siteTimeout)
	for i := s.cursor[instance]; ; i++ {
		for i == len(s.seen) {
			select {
			case ev, ok := <-s.events:
				if !ok {
					s.t.Fatal("the event stream ended")
				}
				s.seen = append(s.seen, ev)
			case <-timeout:
				s.t.Fatalf("no %s event of %s after %s; its events:\n%s", strings.Join(states, " or "), instance, siteTimeout, s.log(instance))
			}
		}
		if ev := s.seen[i]; ev.Instance == instance && slices.Contains(states, ev.State) {
			s.cursor[instance] = i + 1
			return ev
		}
	}
}

// log is every event of instance seen so far, one a line.
func (s *simSite) log(instance string) string {
	var b strings.Builder
	for _, ev := range s.seen {
		if ev.Instance == instance {
			fmt.Fprintln(&b, ev)
		}
	}
	return b.String()
}

// A reload set off while a command holds the state lock (an `mictl up`
// preparing its homes unpacks the source distribution the daemon it
// started follows) waits for it, and plans from what it recorded: planned
// from the file as it was before, it announced and recorded its own
// default instance over the up's, at another offset, and the up's
// instance never turned ready. The wait holds up no other reader (while
// no write of the supervisor's waits for the lock too).
func TestReloadPlansFromWhatTheLockHolderRecorded(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	file := filepath.Join(s.dir, config.DefaultFile)
	toml := fmt.Sprintf("base_offset = %d\nhost = \"127.0.0.1\"\ninstances_dir = \"instances\"\n", s.base)
	if err := os.WriteFile(file, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func([]string) (*config.Config, []int, error) {
		cfg, err := config.Load(config.Sources{Path: file})
		return cfg, nil, err
	}
	cfg, _, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}

	// The up: under the state lock, mi-1 prepared and recorded at the
	// offset after the configured one (--offsets).
	store := s.sup.store
	unlock, err := store.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		changes reconcile.Changes
		err     error
	}
	reloaded := make(chan result, 1)
	go func() {
		changes, err := s.sup.Reload(load)
		reloaded <- result{changes, err}
	}()
	up, err := reconcile.Build(cfg, &state.File{}, reconcile.Options{Offsets: []int{s.base + 1}})
	if err != nil {
		unlock()
		t.Fatal(err)
	}
	records, err := up.Prepare(&state.File{}, []string{"mi-1"})
	if err != nil {
		unlock()
		t.Fatal(err)
	}
	// Long enough for a reload that does not wait to plan and say so.
	select {
	case ev := <-s.events:
		unlock()
		t.Fatalf("the reload went on while the up held the state lock: %s %s", ev.State, ev.Message)
	case <-time.After(300 * time.Millisecond):
	}
	// Its wait holds up no one else: status reads the state meanwhile.
	read := make(chan error, 1)
	go func() {
		_, err := s.sup.current()
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			unlock()
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		unlock()
		t.Fatal("reading the state (as status does) waited for the reload's wait for the state lock")
	}
	f := &state.File{Version: state.SchemaVersion}
	up.Merge(f, records)
	err = store.Quick().Save(f)
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	// Nothing to change: the configuration asks for what the up recorded,
	// which the up then asks the daemon to start.
	if r := <-reloaded; r.err != nil || !r.changes.Empty() {
		t.Fatalf("reload: %v, changes %+v; want none", r.err, r.changes)
	}
	if err := s.sup.Start([]string{"mi-1"}); err != nil {
		t.Fatal(err)
	}
	s.next("mi-1", StateReady)
	after, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if rec, _ := after.Instance("mi-1"); rec == nil || rec.Offset != s.base+1 {
		t.Errorf("mi-1 recorded as %+v, want the up's offset %d", rec, s.base+1)
	}
}

// A reload that removes an instance (here, renames it) drops its runner:
// a daemon whose instances are renamed over months keeps a runner for
// each instance it has, not for every name it ever ran.
func TestRemovedInstanceLeavesNoRunner(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\nname_prefix = \"blue\"\n")
	s.next("blue-1", StateReady)
	s.reload("instances = 1\nname_prefix = \"green\"\n")
	s.next("green-1", StateReady)
	s.sup.mu.Lock()
	names := slices.Sorted(maps.Keys(s.sup.runners))
	s.sup.mu.Unlock()
	if !slices.Equal(names, []string{"green-1"}) {
		t.Errorf("runners after blue-1 was renamed green-1: %v, want [green-1]", names)
	}
}

// A reload that removes an instance lets go of the inotify watch on its
// carbonapps/, which a stop alone keeps (see appDirs): renamed instances
// must not pile up watches, counted against the user's
// fs.inotify.max_user_watches, for as long as the daemon runs.
func TestRemovedInstanceLeavesNoWatch(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	s.reload("instances = 1\nname_prefix = \"blue\"\n")
	s.next("blue-1", StateReady)
	apps := home.CarbonAppsDir(filepath.Join(s.dir, "instances", "blue-1"))
	s.await("blue-1's carbonapps/ watched", func() bool { return inotifyWatches(t, apps) })
	s.reload("instances = 1\nname_prefix = \"green\"\n")
	s.next("green-1", StateReady)
	s.await("the removed blue-1's carbonapps/ no longer watched", func() bool { return !inotifyWatches(t, apps) })
}

// await waits until cond holds, failing the test after siteTimeout: for
// what the monitor does in its own time.
func (s *simSite) await(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(siteTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("not so after %s: %s", siteTimeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inotifyWatches reports whether an inotify instance of this process
// watches dir, as the kernel lists the watches in /proc/self/fdinfo (by
// inode).
func inotifyWatches(t *testing.T, dir string) bool {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	ino := " ino:" + strconv.FormatUint(st.Ino, 16) + " "
	fds, err := os.ReadDir("/proc/self/fdinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		for line := range strings.Lines(string(info)) {
			if strings.HasPrefix(line, "inotify ") && strings.Contains(line, ino) {
				return true
			}
		}
	}
	return false
}

// A port moved in the distribution's deployment.toml moves every
// instance's, while each still holds its old ones until its own restart.
// Moved up, mi-1's new HTTP port was mi-2's old one, and mi-1, restarted
// first, failed on it; moved down with an instance added, the newcomer
// was started on the old port of one yet to restart, and failed.
func TestAReloadMovingEveryPortStartsNoneOnAnotherInstancesPort(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	// Ports held through a graceful shutdown, as MI's drain holds them:
	// a start on one of them meanwhile fails whatever the timing.
	s.setenv("MICTL_SIM_SHUTDOWN_DELAY", "300ms")
	moveHTTP := s.twoMovedUp()
	moveHTTP(8279)
	s.reload("instances = 3\n")
	f, err := s.sup.current()
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"mi-1", "mi-2", "mi-3"} {
		rec, ok := f.Instance(name)
		if !ok || rec.State != StateReady || rec.Ports[ports.HTTP] != s.base+i+8279 {
			t.Errorf("%s after the reloads: %+v, want ready on HTTP port %d", name, rec, s.base+i+8279)
		}
	}
}

// A reload whose restart fails names the instances it was to add once the
// restarts had freed their ports: it left them unstarted, and said only
// why the restart failed.
func TestAReloadWhoseRestartFailsNamesTheInstancesItDidNotAdd(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	// HTTP moved up, then down with mi-3 added: mi-3's new port is
	// mi-1's until mi-1 restarts, and that first restart fails.
	moveHTTP := s.twoMovedUp()
	moveHTTP(8279)
	s.sup.policy.ReadyTimeout = time.Nanosecond // the restarts fail from now on
	err := s.tryReload("instances = 3\n")
	if err == nil || !strings.Contains(err.Error(), "not started: mi-3, which takes ports the restarts were to free") {
		t.Fatalf("the reload whose restart failed: %v; want mi-3 named as not started", err)
	}
}

// twoMovedUp runs mi-1 and mi-2, then moves the distribution's HTTP port
// up by one (mi-1 onto mi-2's old port) and reloads; it returns the func
// that moves it again (distHTTPMover).
func (s *simSite) twoMovedUp() func(port int) {
	s.t.Helper()
	s.reload("instances = 2\n")
	for _, name := range []string{"mi-1", "mi-2"} {
		s.next(name, StateReady)
	}
	moveHTTP := s.distHTTPMover()
	moveHTTP(8281)
	s.reload("instances = 2\n")
	return moveHTTP
}

// distHTTPMover returns a func that sets listener.port in the site's
// distribution deployment.toml (its shipped content plus that line).
func (s *simSite) distHTTPMover() func(port int) {
	s.t.Helper()
	source := filepath.Join(s.dir, "instances", ".dist", "conf", "deployment.toml")
	template, err := os.ReadFile(source)
	if err != nil {
		s.t.Fatal(err)
	}
	return func(port int) {
		s.t.Helper()
		moved := fmt.Appendf(slices.Clone(template), "\n[transport.http]\nlistener.port = %d\n", port)
		if err := os.WriteFile(source, moved, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

// upAt runs an `mictl up` whole as a reload reaches point (see reloadAt):
// name recorded under the state lock as up records it, planned from cfg
// with opts (edit, when not nil, changing the file as up records its
// flags), then started, and ready.
func (s *simSite) upAt(point string, cfg *config.Config, opts reconcile.Options, name string, edit func(*state.File)) {
	s.t.Cleanup(func() { reloadAt = nil })
	reloadAt = func(at string) {
		if at != point {
			return
		}
		reloadAt = nil
		if err := s.recordUp(cfg, opts, name, edit); err != nil {
			s.t.Fatal(err)
		}
		if err := s.sup.Start([]string{name}); err != nil {
			s.t.Fatal(err)
		}
		s.next(name, StateReady)
	}
}

// recordUp is upAt's record of name.
func (s *simSite) recordUp(cfg *config.Config, opts reconcile.Options, name string, edit func(*state.File)) error {
	return s.sup.store.Update(s.t.Context(), func(f *state.File) error {
		if edit != nil {
			edit(f)
		}
		target, err := reconcile.Build(cfg, f, opts)
		if err != nil {
			return err
		}
		records, err := target.Prepare(f, []string{name})
		if err != nil {
			return err
		}
		target.Merge(f, records)
		return nil
	})
}

// An `mictl up` that runs whole between a reload's plan and the
// reload's start of the instance both add (up --offsets and an edit of
// mictl.toml at once) keeps the instance it started: the reload plans
// again from what the up recorded. Planned once, the reload wrote its own
// home and record over the up's, at its own offset, while the up's server
// ran on: the record named no server, and deployment.toml another offset
// than the server's.
func TestAnUpBetweenAReloadsPlanAndItsStartKeepsItsInstance(t *testing.T) {
	// Not parallel: it sets the package's reload hook (reloadAt).
	s := newSimSite(t, DefaultPolicy())
	s.write("instances = 1\n")
	cfg, _, err := s.load(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.upAt("planned", cfg, reconcile.Options{Offsets: []int{s.base + 1}}, "mi-1", nil)
	changes, err := s.sup.Reload(s.load)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !changes.Empty() {
		t.Errorf("reload changes %+v, want none: the up started what the configuration asks for", changes)
	}
	f, err := s.sup.store.Load()
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := f.Instance("mi-1")
	if !ok {
		t.Fatal("mi-1 is not recorded")
	}
	if rec.Offset != s.base+1 || !rec.Server.Alive() {
		t.Errorf("mi-1 recorded at offset %d with server %+v, want the up's offset %d and its running server", rec.Offset, rec.Server, s.base+1)
	}
	conf, err := os.ReadFile(home.ConfPath(rec.Home))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("offset = %d\n", s.base+1); !strings.Contains(string(conf), want) {
		t.Errorf("mi-1's deployment.toml has no %q, the offset its server runs with", want)
	}
}

// An `mictl up --instances 2` that starts again the instance a reload
// (of an edit to instances = 1) has just stopped to remove it keeps that
// instance: the reload plans again, with the up's flags, and forgets
// nothing the up started. Planned once, it dropped the record of the
// server the up had started, which ran on with no record naming it (and
// an up whose start came after that failed: "not in the state").
func TestAnUpBetweenAReloadsStopAndItsForgetKeepsItsInstance(t *testing.T) {
	// Not parallel: it sets the package's reload hook (reloadAt).
	s, flags, load := twoRunningEditedToOne(t)
	cfg, _, err := load(flags)
	if err != nil {
		t.Fatal(err)
	}
	s.upAt("removed", cfg, reconcile.Options{KeepUnknown: true}, "mi-2", func(f *state.File) {
		f.UpArgs, f.Configured = flags, cfg.Names()
	})
	if _, err := s.sup.Reload(load); err != nil {
		t.Fatalf("reload: %v", err)
	}
	f, err := s.sup.store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if rec, ok := f.Instance("mi-2"); !ok || !rec.Server.Alive() {
		t.Fatalf("mi-2 recorded as %+v, want the server the up started again", rec)
	}
	if !s.sup.hasRunner("mi-2") {
		t.Error("mi-2 has no runner: its server is supervised by none")
	}
}

// twoRunningEditedToOne runs mi-1 and mi-2, then edits mictl.toml to
// instances = 1, and returns the planning flags of an up of both
// (--instances=2) and a load of the file under which those flags
// override it, as planflags does: an up that keeps mi-2 beside a reload
// that removes it.
func twoRunningEditedToOne(t *testing.T) (s *simSite, flags []string, load LoadConfig) {
	t.Helper()
	s = newSimSite(t, DefaultPolicy())
	s.reload("instances = 2\n")
	s.next("mi-1", StateReady)
	s.next("mi-2", StateReady)
	flags = []string{"--instances=2"}
	load = func(args []string) (*config.Config, []int, error) {
		cfg, offsets, err := s.load(args)
		if err == nil && slices.Equal(args, flags) {
			cfg.Instances = 2
		}
		return cfg, offsets, err
	}
	s.write("instances = 1\n")
	return s, flags, load
}

// An `mictl up` with other planning flags that runs between a reload's
// plan and its stop of the instances it removes (up --instances 2 beside
// an edit to instances = 1, both running) keeps them running: the
// reload plans again before it stops anything. It stopped mi-2 first,
// and the plan made again then left it stopped, as a stopped instance
// the configuration names is up's to start, and said "no change".
func TestAnUpWithOtherFlagsBeforeAReloadsStopKeepsItsInstanceRunning(t *testing.T) {
	// Not parallel: it sets the package's reload hook (reloadAt).
	s, flags, load := twoRunningEditedToOne(t)
	s.upBeforeTheStopKeepsMi2(load, flags, []string{"mi-1", "mi-2"})
}

// An `mictl up` with the same planning flags (none) that runs between
// a reload's plan and its stop of mi-2, which an edit to instances = 1
// removes, keeps mi-2 running: up never stops an instance, and records
// the configuration's names, mi-2 not among them, which a reload keeps
// as it runs (reconcile.Kept). The reload plans again before it stops
// anything. Looking only for other flags, it stopped mi-2 all the same.
func TestAnUpWithTheSameFlagsBeforeAReloadsStopKeepsItsInstanceRunning(t *testing.T) {
	// Not parallel: it sets the package's reload hook (reloadAt).
	s, _, _ := twoRunningEditedToOne(t)
	s.upBeforeTheStopKeepsMi2(s.load, nil, []string{"mi-1"})
}

// upBeforeTheStopKeepsMi2 records an up of mi-1 and mi-2, both running,
// with the planning flags upArgs whose configuration names configured,
// as a reload (of load) reaches its plan, and checks that the reload
// leaves mi-2's server running.
func (s *simSite) upBeforeTheStopKeepsMi2(load LoadConfig, upArgs, configured []string) {
	s.t.Helper()
	before := s.sup.Instances([]string{"mi-2"})["mi-2"].Server
	s.t.Cleanup(func() { reloadAt = nil })
	reloadAt = func(at string) {
		if at != "planned" {
			return
		}
		reloadAt = nil
		if err := s.sup.store.Update(s.t.Context(), func(f *state.File) error {
			f.UpArgs, f.Configured = upArgs, configured
			return nil
		}); err != nil {
			s.t.Fatal(err)
		}
	}
	if _, err := s.sup.Reload(load); err != nil {
		s.t.Fatalf("reload: %v", err)
	}
	if got := s.sup.Instances([]string{"mi-2"})["mi-2"]; got.State != StateReady || got.Server != before {
		s.t.Fatalf("mi-2 is %s with server %v after the reload; want it ready, still %v", got.State, got.Server, before)
	}
}
