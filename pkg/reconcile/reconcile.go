// Package reconcile works out what a configuration asks for on this host
// (the target: every instance's offset, ports, home and rendered
// deployment.toml) and how it differs from what runs (the changes:
// instances to add, remove and restart). `mictl up` applies a target's
// additions; the daemon applies all of it when mictl.toml or the source
// deployment.toml changes; `mictl diff` only shows it.
package reconcile

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/metrics"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/sim"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/whose"
)

// Kept reports whether a reload leaves the instance name of f as it runs,
// whatever the configuration says: one it did not name when last applied
// (an earlier, larger up started it, a smaller one left it). Such an
// instance stays in every plan, with its offset, its ports and its CApps,
// so that a reload changes it as it changes the others and never places
// a new instance on its ports.
func Kept(f *state.File, name string) bool {
	return f.Configured != nil && !slices.Contains(f.Configured, name)
}

// Options are the inputs of a target that do not come from the config.
type Options struct {
	// Offsets are explicit offsets for the first instances (--offsets).
	Offsets []int
	// KeepUnknown keeps running instances the state file knows but the
	// config no longer names (up never removes anything); a reload
	// removes them, but for those it keeps (see Kept).
	KeepUnknown bool
	// Env is captured for instances that get a new record.
	Env []string
}

// Target is the deployment a configuration asks for, placed on this host.
type Target struct {
	Config *config.Config
	Source deployment.Source
	Plan   ports.Plan
	Host   check.Host
	// Apps are the CApps declared for each instance, by instance name, as
	// read from their files when the target was built: those mictl
	// deploys into its home.
	Apps map[string][]*capp.App
	// Inbounds are the inbound endpoints the source distribution keeps
	// outside any CApp (synapse-configs): every instance opens them.
	Inbounds []capp.Inbound
	// Shipped are the CApps the source distribution ships in its own
	// carbonapps/: every home cloned from it has them (AppsOf).
	Shipped []*capp.App
	// EditsKept are the deployment.toml files edited in their homes that
	// Prepare rendered again, one per home, each saying where it kept the
	// edit: for the command to tell (see home.WriteConf).
	EditsKept []EditKept
	// Replanned says, by name, why an instance mictl records failed is
	// planned afresh rather than kept where it failed, when what placed
	// it there changed (see failedPins): for up's note of its move.
	Replanned map[string]string
	env       []string
	// placed are the recorded placements of the instances that keep
	// their offsets: their records keep them (see Record).
	placed map[string]*state.Placement
}

// EditKept says that Prepare rendered again an instance's deployment.toml
// edited in its home, where it kept the edit, and how to make a setting
// of it last. Apart from the instance, for a supervisor that says it as
// the instance's event; a command says it whole (String).
type EditKept struct {
	Instance string
	Note     string
}

// String is the edit as a command warns of it: the instance, then the note.
func (e EditKept) String() string { return e.Instance + ": " + e.Note }

// Build plans cfg on this host around what runs (f), keeping the offsets
// f persisted. Nothing is written.
func Build(cfg *config.Config, f *state.File, opts Options) (*Target, error) {
	if err := refuseOffsetInJavaOpts(cfg, opts.Env); err != nil {
		return nil, err
	}
	src, err := deployment.LoadSource(cfg)
	if err != nil {
		return nil, err
	}
	host, err := check.LiveHost(cfg.Host)
	if err != nil {
		return nil, err
	}
	host.Ours = ownedBy(f)
	host.Whose = whose.New(cfg.InstancesDir, f.Instances).Of
	if host.Reserved, err = daemonPorts(cfg); err != nil {
		return nil, err
	}
	// Offsets are kept while something runs with them, or is meant to (a
	// start under way, a restart after a crash), or mictl records it
	// failed and what placed it is unchanged (see failedPins): a stopped
	// deployment is planned again from the configuration, so that `up
	// --base-offset 2750` after a down means 2750.
	pinned := pins(cfg, f, opts.KeepUnknown)
	failed, replanned := failedPins(cfg, f, opts.Offsets, pinned, host.Busy())
	pinned = append(pinned, failed...)
	placed := make(map[string]*state.Placement, len(pinned))
	for _, p := range pinned {
		if rec, ok := f.Instance(p.Name); ok {
			placed[p.Name] = rec.Placed
		}
	}
	shipped, err := shippedCApps(cfg)
	if err != nil {
		return nil, err
	}
	// An instance only the state file knows runs the CApps every instance
	// does, as one the configuration names.
	planned := deployment.Names(cfg, pinned)
	apps, shippedApps, err := readApps(cfg, planned, shipped)
	if err != nil {
		return nil, err
	}
	inbounds, err := shippedInbounds(cfg)
	if err != nil {
		return nil, err
	}
	t := &Target{Config: cfg, Source: src, Host: host, Apps: apps, Shipped: shippedApps, Inbounds: inbounds, Replanned: replanned, env: opts.Env, placed: placed}
	runs := make(map[string][]*capp.App, len(planned))
	for _, name := range planned {
		runs[name] = t.AppsOf(name)
	}
	t.Plan, err = deployment.Plan(cfg, src, deployment.Options{
		Offsets: opts.Offsets, Pinned: pinned, HostBusy: host.Busy(), MinPort: host.MinPort,
		Apps: runs, Inbounds: inbounds, JavaOpts: javaOpts(opts.Env),
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// pins are the instances of f that keep their offsets in a plan of cfg:
// those that run (or are meant to) and that cfg names, or f keeps (see
// Kept), or any with keepUnknown (see Options).
func pins(cfg *config.Config, f *state.File, keepUnknown bool) []deployment.Pin {
	names := make(map[string]bool, cfg.Instances)
	for _, n := range cfg.Names() {
		names[n] = true
	}
	var pinned []deployment.Pin
	for _, inst := range f.Instances {
		if (keepUnknown || names[inst.Name] || Kept(f, inst.Name)) && Active(inst) {
			pinned = append(pinned, pin(inst))
		}
	}
	return pinned
}

func pin(inst state.Instance) deployment.Pin {
	return deployment.Pin{Name: inst.Name, Offset: inst.Offset, JavaOpts: javaOpts(inst.Env)}
}

// failedPins are the instances cfg names that f records failed and that
// keep their offsets in a plan of cfg with the explicit offsets
// (--offsets) beside pinned (pins): those whose Placement cfg and
// offsets give again, where no port of theirs is busy (a foreign process
// holds it) nor one a pin before them keeps. replanned says why each
// other failed one is planned afresh, by name, when its placement is
// what changed. A failed instance is still the user's (status shows it,
// exit 3) and its clients know its ports: planned again whatever
// changed, it moved whenever the host had freed a lower offset
// meanwhile, as after a failed reload onto a broken mi_home, rolled back.
// But kept whatever changed, `up --base-offset`, or base_offset edited in
// mictl.toml, was ignored for it without a word. One whose port a
// stranger took is planned again (up names the stranger), and a down
// (recorded stopped) lets the next up plan it afresh.
func failedPins(cfg *config.Config, f *state.File, offsets []int, pinned []deployment.Pin, busy func(port int) bool) (kept []deployment.Pin, replanned map[string]string) {
	taken := map[int]bool{}
	take := func(inst state.Instance) {
		for _, port := range recordedPorts(inst) {
			taken[port] = true
		}
	}
	for _, p := range pinned {
		if rec, ok := f.Instance(p.Name); ok {
			take(*rec)
		}
	}
	replanned = map[string]string{}
	for i, name := range cfg.Names() {
		rec, ok := f.Instance(name)
		if !ok || rec.State != state.StateFailed || Active(*rec) {
			continue
		}
		given, _, _ := deployment.GivenOffset(cfg, offsets, i, name)
		if changed := placementChanged(rec.Placed, placement(cfg, given)); changed != "" {
			replanned[name] = changed
			continue
		}
		if !slices.ContainsFunc(recordedPorts(*rec), func(port int) bool { return taken[port] || busy(port) }) {
			kept = append(kept, pin(*rec))
			take(*rec)
		}
	}
	return kept, replanned
}

// placement is what places an instance in a plan of cfg, given offset
// given (nil: none).
func placement(cfg *config.Config, given *int) state.Placement {
	return state.Placement{BaseOffset: cfg.BaseOffset, OffsetStep: cfg.OffsetStep, OffsetMethod: cfg.OffsetMethod, Host: cfg.Host.String(), Offset: given}
}

// placementChanged says what of was, an instance's recorded placement,
// differs from now, "" when nothing does. A record without one (from
// before mictl kept it) cannot say what placed it: that is said instead.
func placementChanged(was *state.Placement, now state.Placement) string {
	if was == nil {
		return "mictl has no record of the settings that placed it there (an older mictl started it)"
	}
	var changed []string
	differs := func(key, then, now string) {
		if then != now {
			changed = append(changed, fmt.Sprintf("%s %s, now %s", key, then, now))
		}
	}
	differs("base_offset", strconv.Itoa(was.BaseOffset), strconv.Itoa(now.BaseOffset))
	differs("offset_step", strconv.Itoa(was.OffsetStep), strconv.Itoa(now.OffsetStep))
	differs("offset_method", strconv.Quote(was.OffsetMethod), strconv.Quote(now.OffsetMethod))
	differs("host", strconv.Quote(was.Host), strconv.Quote(now.Host))
	differs("its own offset (--offsets, [[instance]] offset)", givenWords(was.Offset), givenWords(now.Offset))
	if len(changed) == 0 {
		return ""
	}
	return "what placed it there changed (" + strings.Join(changed, "; ") + ")"
}

// givenWords says an offset given an instance, "none" for nil.
func givenWords(offset *int) string {
	if offset == nil {
		return "none"
	}
	return strconv.Itoa(*offset)
}

// recordedPorts are the ports inst's record says it opens: its four fixed
// ones and its extras.
func recordedPorts(inst state.Instance) []int {
	out := make([]int, 0, len(inst.Ports)+len(inst.Extras))
	for _, port := range inst.Ports {
		if port > 0 { // a record from before mictl kept a role
			out = append(out, port)
		}
	}
	for _, e := range inst.Extras {
		out = append(out, e.Port)
	}
	return out
}

// Planned names every instance a reload of cfg plans around f: those cfg
// names, then those f keeps running beyond them (see Kept), which run
// the top-level CApps as the others do.
func Planned(cfg *config.Config, f *state.File) []string {
	return deployment.Names(cfg, pins(cfg, f, false))
}

// OwnApps are the records of recorded (an instance's Apps) of CApps
// mictl put in its home: not those of the distribution's own CApps,
// which came with the clone and which mictl never removes. A state file
// rebuilt from the homes without knowing the distribution records them
// (see supervisor.Rebuild); taken for mictl's, they were undeployed from
// every instance by the next reload.
func (t *Target) OwnApps(recorded []state.App) []state.App {
	return slices.DeleteFunc(slices.Clone(recorded), func(a state.App) bool {
		return slices.ContainsFunc(t.Shipped, func(s *capp.App) bool { return s.ID() == a.ID })
	})
}

// AppsOf lists the CApps the named instance runs: those its distribution
// ships, then those declared for it.
func (t *Target) AppsOf(name string) []*capp.App {
	return slices.Concat(t.Shipped, t.Apps[name])
}

// MetricsAddr is cfg's metrics_addr, checked, as the daemon listens on it
// ("127.0.0.1:9464"): "" when the daemon serves no metrics.
func MetricsAddr(cfg *config.Config) (string, error) {
	if cfg.MetricsAddr == "" {
		return "", nil
	}
	addr, err := metrics.ParseAddr(cfg.MetricsAddr)
	if err != nil {
		return "", cfg.SettingError("metrics_addr", err.Error())
	}
	return addr, nil
}

// daemonPorts are the ports the daemon of cfg listens on besides the
// instances': no instance may be planned there.
func daemonPorts(cfg *config.Config) ([]check.Reservation, error) {
	addr, err := MetricsAddr(cfg)
	if err != nil || addr == "" {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, cfg.SettingError("metrics_addr", err.Error())
	}
	return []check.Reservation{{
		Socket: hostnet.Socket{Proto: hostnet.TCP, Addr: ap.Addr(), Port: int(ap.Port())},
		By:     "the mictl daemon (metrics_addr, " + cfg.Origin("metrics_addr") + ")",
	}}, nil
}

// refuseOffsetInJavaOpts refuses a JAVA_OPTS (or JVM_MEM_OPTS) in env
// that sets MI's port offset: the start script hands it to java, where
// -DportOffset replaces the offset mictl planned for each instance
// (docs/mi-facts.md), so every instance would take one set of ports and
// every start but the first would wait out its timeout before failing on
// a port it never meant to open. The way to choose an offset it gives
// is the one up and ports give (config.PinOffset), shown on the first
// instance: it said "its [[instance]] table" where a count named the
// instances and there was none to edit.
func refuseOffsetInJavaOpts(cfg *config.Config, env []string) error {
	for _, name := range ports.JavaOptsVars {
		for _, arg := range strings.Fields(launchVar(env, name)) {
			if strings.HasPrefix(arg, ports.OffsetFlag) {
				first := cfg.Names()[0]
				return &config.Error{Where: name + " (environment)", Msg: arg + " sets MI's port offset, which mictl plans for each instance (all of them would take the same ports): " +
					"remove it from " + name + "; to choose an instance's offset, use --offsets or, for " + first + ", " + cfg.PinOffset(first, "N")}
			}
		}
	}
	return nil
}

// javaOpts is what the start script hands java of env before its own
// options (see ports.JavaOpts).
func javaOpts(env []string) string {
	return ports.JavaOpts(func(name string) string { return launchVar(env, name) })
}

// launchVar is the variable name instances get: from env when it was
// captured (up, a reload), else mictl's own (a plan to look at).
func launchVar(env []string, name string) string {
	if env == nil {
		return os.Getenv(name)
	}
	return ports.EnvValue(env, name)
}

// ReadApps reads every CApp cfg declares, each file once, and returns
// those of each instance of names (see readApps). A file MI would not
// deploy (not a zip, no artifacts.xml, a path that escapes the archive,
// an inbound endpoint whose port is not one) is refused here, before any
// instance is touched, naming the file and where mictl.toml declares it;
// so are two files of one instance with the same name and version, which
// MI refuses ("Two applications can't have the same Id"). An application
// whose own artifact is broken (an API's XML) is kept: MI deploys it as
// faulty and says why, which mictl apps shows.
func ReadApps(cfg *config.Config, names []string) (map[string][]*capp.App, error) {
	apps, _, err := readApps(cfg, names, nil)
	return apps, err
}

// readApps is ReadApps for the instances names (those cfg names, and any
// other, an instance an earlier, larger up started, which runs the CApps
// every instance does), each also running the CApps of shipped, which
// their distribution ships: those are read alike, and are returned
// apart (mictl does not deploy them, the clone of the distribution
// does). A declared CApp with the id of a shipped one is refused as two
// declared would be.
func readApps(cfg *config.Config, names []string, shipped []config.CApp) (map[string][]*capp.App, []*capp.App, error) {
	byPath := map[string]*capp.App{}
	read := func(decl config.CApp) (*capp.App, error) {
		app, ok := byPath[decl.Path]
		if !ok {
			var err error
			if app, err = readApp(decl); err != nil {
				return nil, err
			}
			byPath[decl.Path] = app
		}
		return app, nil
	}
	// A CApp id and the file that has it, as messages name it.
	shippedIDs := map[string]string{}
	var shippedApps []*capp.App
	for _, decl := range shipped {
		app, err := read(decl)
		if err != nil {
			return nil, nil, err
		}
		if other, dup := shippedIDs[app.ID()]; dup {
			return nil, nil, &config.Error{Where: decl.Pos, Msg: fmt.Sprintf(
				"%s and %s are both CApp %s; MI deploys only one of them (two applications can't have the same id): keep one in the distribution", other, decl.Path, app.ID())}
		}
		shippedIDs[app.ID()] = decl.Path + shippedNote
		shippedApps = append(shippedApps, app)
	}
	out := map[string][]*capp.App{}
	for _, name := range names {
		ids := maps.Clone(shippedIDs)
		for _, decl := range cfg.CAppsOf(name) {
			app, err := read(decl)
			if err != nil {
				return nil, nil, err
			}
			if other, dup := ids[app.ID()]; dup {
				return nil, nil, &config.Error{Where: decl.Pos, Msg: fmt.Sprintf(
					"instance %s: %s and %s are both CApp %s; MI deploys only one of them (two applications can't have the same id): keep one", name, other, decl.Path, app.ID())}
			}
			ids[app.ID()] = decl.Path
			for _, earlier := range slices.Concat(shippedApps, out[name]) {
				clashes := earlier.Clashes(app)
				if len(clashes) == 0 {
					continue
				}
				other := fmt.Sprintf("%s (%s)", earlier.ID(), ids[earlier.ID()])
				fix := fmt.Sprintf("keep one (mictl undeploy %s, or remove it from capps)", earlier.ID())
				if slices.Contains(shippedApps, earlier) {
					other = fmt.Sprintf("%s, which the distribution ships (%s)", earlier.ID(), strings.TrimSuffix(ids[earlier.ID()], shippedNote))
					fix = fmt.Sprintf("drop %s from capps, or take %s out of the distribution's carbonapps/", app.ID(), earlier.ID())
				}
				return nil, nil, &config.Error{Where: decl.Pos, Msg: fmt.Sprintf(
					"instance %s: %s (%s) has the same %s as %s: MI fails whichever it deploys second as faulty, and which that is changes with the order of a start, so instances end up serving different ones; %s",
					name, app.ID(), decl.Path, strings.Join(clashes, ", "), other, fix)}
			}
			out[name] = append(out[name], app)
		}
	}
	return out, shippedApps, nil
}

// shippedNote follows the path of a CApp the distribution ships in
// messages.
const shippedNote = " (shipped in the distribution's carbonapps/, so every instance deploys it)"

// shippedCApps are the CApps cfg's distribution ships in its carbonapps/
// (see home.ShippedCApps), each found where it is.
func shippedCApps(cfg *config.Config) ([]config.CApp, error) {
	paths, err := home.ShippedCApps(deployment.Dist(cfg))
	if err != nil {
		return nil, err
	}
	out := make([]config.CApp, len(paths))
	for i, p := range paths {
		out[i] = config.CApp{Path: p, Pos: p}
	}
	return out, nil
}

// shippedInbounds reads the inbound endpoints the source distribution
// keeps outside any CApp (see home.ShippedInboundEndpoints). One whose
// port is no port is refused, naming its file: MI would not start it.
func shippedInbounds(cfg *config.Config) ([]capp.Inbound, error) {
	paths, err := home.ShippedInboundEndpoints(deployment.Dist(cfg))
	if err != nil {
		return nil, err
	}
	var out []capp.Inbound
	for _, p := range paths {
		ins, err := capp.ReadInboundEndpoint(p)
		if err != nil {
			return nil, &config.Error{Where: p, Msg: fsutil.Cause(err).Error()}
		}
		out = append(out, ins...)
	}
	return out, nil
}

func readApp(decl config.CApp) (*capp.App, error) {
	app, err := capp.Read(decl.Path)
	var ce *capp.Error
	switch {
	case err == nil:
		return app, nil
	case errors.As(err, &ce) && ce.Stage == capp.StageArtifact && ce.ArtifactType != capp.TypeInboundEndpoint && ce.App != nil:
		return ce.App, nil // MI deploys it as faulty, with its reason
	}
	return nil, &config.Error{Where: decl.Pos, Msg: "CApp " + err.Error()}
}

// Render produces inst's deployment.toml. A failure is the user's input
// (an override the source cannot take): a *config.Error.
func (t *Target) Render(inst ports.Instance) ([]byte, error) {
	out, err := deployment.Render(t.Config, t.Source, inst)
	if err != nil {
		return nil, &config.Error{Where: "instance " + inst.Name, Msg: err.Error()}
	}
	return out, nil
}

// renderer renders many instances as Render does, those without
// overrides from one template made at the first of them.
func (t *Target) renderer() func(ports.Instance) ([]byte, error) {
	plain := sync.OnceValues(func() (*deployment.Template, error) { return deployment.NewTemplate(t.Config, t.Source) })
	fromTemplate := func(inst ports.Instance) ([]byte, bool) {
		if ic, _ := t.Config.InstanceSettings(inst.Name); len(ic.Overrides) > 0 {
			return nil, false
		}
		tmpl, err := plain()
		if err != nil {
			return nil, false
		}
		out, err := tmpl.For(inst.Offset)
		return out, err == nil
	}
	return func(inst ports.Instance) ([]byte, error) {
		if out, ok := fromTemplate(inst); ok {
			return out, nil
		}
		// With overrides, or when the template failed: in full, which
		// says what failed, naming the instance.
		return t.Render(inst)
	}
}

// Conflicts checks the target against itself and the host.
func (t *Target) Conflicts() check.Report { return check.Run(t.Plan, t.Host) }

// Home is the absolute path of the named instance's home: what its
// record holds and its processes' CARBON_HOME says.
func (t *Target) Home(name string) (string, error) {
	dir, err := home.Dir(t.Config, name)
	if err != nil {
		return "", err
	}
	return filepath.Abs(dir)
}

// Record is the state record that launches inst as the target wants it.
func (t *Target) Record(inst ports.Instance) (state.Instance, error) {
	abs, err := t.Home(inst.Name)
	if err != nil {
		return state.Instance{}, err
	}
	var args []string
	if t.Config.OffsetMethod == config.OffsetMethodFlag {
		args = []string{fmt.Sprintf("%s%d", ports.OffsetFlag, inst.Offset)}
	}
	if t.Config.Metrics {
		args = append(args, MetricsFlag)
	}
	return state.Instance{
		Name: inst.Name, Offset: inst.Offset, Ports: inst.Ports(), Home: abs,
		Bind: t.Config.Host.String(), Args: args, Env: t.launchEnv(inst.Name), State: state.StateStarting, Extras: LaunchExtras(inst),
		Placed: t.placement(inst),
	}, nil
}

// placement is what placed inst: for one that keeps its offset, what
// placed it there before, as its record says (a running instance keeps
// its offset whatever changed since); else the settings of this target.
func (t *Target) placement(inst ports.Instance) *state.Placement {
	if inst.From == ports.OffsetFromRunning {
		return t.placed[inst.Name]
	}
	var given *int
	if inst.Explicit() {
		given = &inst.Offset
	}
	p := placement(t.Config, given)
	return &p
}

// LaunchExtras are inst's extra ports as its state record keeps them:
// each planned extra with the port it listens on.
func LaunchExtras(inst ports.Instance) []state.Extra {
	var extras []state.Extra
	for k, e := range inst.Extras {
		extras = append(extras, state.Extra{Role: e.Role, Listener: e.Name, Port: inst.ExtraPorts()[k]})
	}
	return extras
}

// launchEnv is the environment the target gives the named instance: the
// captured one, and a node identity of its own. MI otherwise takes a new
// random one at every start, and instances sharing a coordination
// database need unique, stable ones (docs/mi-facts.md, "Node identity");
// the exports name each node the same way. [cluster_config] node_id in
// the instance's overrides is left to stand: the environment would win
// over it (and -DnodeId in JAVA_OPTS wins over both, as in MI). One in the
// distribution's deployment.toml is not: every instance would share it.
func (t *Target) launchEnv(name string) []string {
	ic, _ := t.Config.InstanceSettings(name)
	if _, overridden := ic.Overrides[deployment.NodeIDTOMLKey]; overridden {
		return t.env
	}
	return append(slices.Clip(t.env), deployment.NodeIDEnv+"="+name)
}

// KeepCaptured is the environment of a record prepared again for an
// instance that ran with env: what the user's `mictl up` captured then
// (JAVA_HOME, JAVA_OPTS: a daemon's own capture may differ), with the node
// identity the fresh record decides (see launchEnv), which may have
// changed since ([cluster_config] node_id set or removed).
func KeepCaptured(env, fresh []string) []string {
	isNodeID := func(kv string) bool { return strings.HasPrefix(kv, deployment.NodeIDEnv+"=") }
	out := slices.DeleteFunc(slices.Clone(env), isNodeID)
	if i := slices.IndexFunc(fresh, isNodeID); i >= 0 {
		out = append(out, fresh[i])
	}
	return out
}

// MetricsFlag is the launch argument that, with the MetricHandler in
// deployment.toml, turns on MI's Prometheus metrics.
const MetricsFlag = "-D" + ports.PrometheusAPIProperty + "=true"

// Prepare clones the source distribution into the homes of names, writes
// their deployment.toml and their CApps, in parallel (each home is a few
// files; twenty in a row would be most of the time `up` takes), and
// returns their records. current is what runs: the CApps mictl put in a
// home before and no longer declared are removed.
func (t *Target) Prepare(current *state.File, names []string) ([]state.Instance, error) {
	// Render everything first: a bad override must leave nothing written.
	render := t.renderer()
	rendered := make([][]byte, len(names))
	insts := make([]ports.Instance, len(names))
	for i, name := range names {
		inst, ok := t.Instance(name)
		if !ok {
			return nil, fmt.Errorf("instance %s is not in the plan", name)
		}
		var err error
		if rendered[i], err = render(inst); err != nil {
			return nil, err
		}
		insts[i] = inst
	}
	if len(names) == 0 {
		// Everything runs: the distribution is not read (it may even
		// have moved since; the servers run from their own homes).
		return nil, nil
	}
	dist, err := t.distribution()
	if err != nil {
		return nil, err
	}
	records := make([]state.Instance, len(names))
	kept := make([]home.KeptEdit, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i := range names {
		var prev []state.App
		if rec, ok := current.Instance(names[i]); ok {
			prev = t.OwnApps(rec.Apps)
		}
		wg.Go(func() { records[i], kept[i], errs[i] = t.prepare(dist, insts[i], rendered[i], prev) })
	}
	wg.Wait()
	for i, k := range kept {
		if k.Path != "" {
			t.EditsKept = append(t.EditsKept, t.editKept(names[i], records[i].Home, k))
		}
	}
	return records, errors.Join(errs...)
}

// editKept says that the named instance's deployment.toml, edited in its
// home, was rendered again, where the edit is kept, and how to make it
// last: an edit made in a home, replaced without a word, was lost. A home
// that predates mictl's record of its renders may hold no edit at all
// (see home.KeptEdit): said as one, the operator looked for an edit
// nobody made.
func (t *Target) editKept(name, dir string, kept home.KeptEdit) EditKept {
	what := fmt.Sprintf("%s was edited in the home since mictl rendered it, and mictl renders it from %s and mictl.toml: the edited file", home.ConfPath(dir), t.Source.Path)
	if kept.Unrecorded {
		what = fmt.Sprintf("%s differs from what mictl renders from %s and mictl.toml, and the home predates mictl's record of what it renders there (an older mictl rendered it), so whether it was edited there cannot be told: the file as it was", home.ConfPath(dir), t.Source.Path)
	}
	return EditKept{Instance: name, Note: fmt.Sprintf("%s is kept as %s; to keep a setting of it, put it in mictl.toml ([[instance]] name = %q, with overrides) or in %s", what, kept, name, t.Source.Path)}
}

func (t *Target) prepare(dist *home.Distribution, inst ports.Instance, rendered []byte, prevApps []state.App) (rec state.Instance, kept home.KeptEdit, err error) {
	// A home another user made (a generate or up run as them) is theirs.
	defer func() { err = state.ExplainAccess(err, rec.Home) }()
	rec, err = t.Record(inst)
	if err != nil {
		return rec, home.KeptEdit{}, err
	}
	if _, err := dist.Sync(rec.Home); err != nil {
		return rec, home.KeptEdit{}, err
	}
	if kept, err = home.WriteConf(rec.Home, t.Config.MIHome, rendered); err != nil {
		return rec, home.KeptEdit{}, fmt.Errorf("generate %s: %w", inst.Name, err)
	}
	// Before the start: MI deploys them before /healthz says ready.
	if rec.Apps, err = SyncApps(rec.Home, t.Apps[inst.Name], prevApps); err != nil {
		return rec, kept, fmt.Errorf("prepare %s: %w", inst.Name, err)
	}
	return rec, kept, nil
}

// distribution reads the distribution the homes are cloned from.
func (t *Target) distribution() (*home.Distribution, error) {
	dir, err := SourceDistribution(t.Config)
	if err != nil {
		return nil, err
	}
	return home.ReadDistribution(dir)
}

// Instance is the planned instance called name.
func (t *Target) Instance(name string) (ports.Instance, bool) {
	for _, inst := range t.Plan.Instances {
		if inst.Name == name {
			return inst, true
		}
	}
	return ports.Instance{}, false
}

// SourceDistribution is the MI home instances are cloned from: mi_home, or
// the simulator distribution under instances_dir/.dist, written again each
// time so that it always runs this mictl binary (its conf/ files, which the
// user may edit, are kept). A daemon whose mictl was removed since (copied
// elsewhere, the old directory removed) leaves it as it is: written, it
// named that program, and the restart or reload the new mictl asked for
// (which wrote it for itself first) failed to start every instance it
// stopped. Left naming that removed program (no newer mictl wrote it), it
// is refused: every server started from it would fail.
func SourceDistribution(cfg *config.Config) (string, error) {
	dir := sourceDistributionDir(cfg)
	if !cfg.UsesSimulator() {
		return dir, nil
	}
	opts, ok := sim.RunnableDistOptions()
	if !ok && sim.IsDist(dir) {
		if gone := sim.GoneProgram(dir); gone != "" {
			return "", fmt.Errorf("the simulator distribution %s runs %s, which is gone (mictl moved or removed): run mictl reload or mictl restart from the mictl you use now, which writes the distribution for itself first", dir, gone)
		}
		return dir, nil
	}
	if !ok {
		var err error
		if opts, err = sim.MictlDistOptions(); err != nil {
			return "", err
		}
	}
	var taken *sim.DirTakenError
	switch err := sim.WriteDist(dir, opts); {
	case errors.As(err, &taken):
		return "", &config.Error{Where: cfg.Origin("instances_dir"), Msg: fmt.Sprintf(
			"mictl writes the simulator distribution in %s, but %s: move it away or choose another instances_dir", dir, taken.Why)}
	case err != nil:
		return "", state.ExplainAccess(err, dir) // it says "write simulator distribution"
	}
	return dir, nil
}

// sourceDistributionDir is where SourceDistribution's distribution is,
// without writing the simulator's.
func sourceDistributionDir(cfg *config.Config) string {
	if cfg.UsesSimulator() {
		return deployment.SimulatorDist(cfg)
	}
	return cfg.MIHome
}

// Merge puts records into f, replacing same-named ones (keeping their
// restart counts) and adding new ones, and leaves f's instances in the
// plan's order, those the plan does not name after them as they were:
// the views list the state file's order, and an instance purged and
// started again came last (mi-1, mi-3, mi-2).
func (t *Target) Merge(f *state.File, records []state.Instance) {
	for _, rec := range records {
		if cur, ok := f.Instance(rec.Name); ok {
			rec.Restarts = cur.Restarts
			*cur = rec
			continue
		}
		f.Instances = append(f.Instances, rec)
	}
	order := make(map[string]int, len(t.Plan.Instances))
	for i, p := range t.Plan.Instances {
		order[p.Name] = i
	}
	place := func(inst state.Instance) int {
		if i, ok := order[inst.Name]; ok {
			return i
		}
		return len(t.Plan.Instances)
	}
	slices.SortStableFunc(f.Instances, func(a, b state.Instance) int { return place(a) - place(b) })
}

// Running reports whether inst has live processes: its server, or, while
// a supervisor is still starting it (no server recorded yet), its group.
func Running(inst state.Instance) bool {
	return inst.Server.Alive() || proc.GroupOf(inst.PGID, inst.Home, inst.Server)
}

// Active reports whether inst runs or is meant to (a start, a restart
// under way): what keeps its offset and the last up's flags.
func Active(inst state.Instance) bool {
	return state.Wanted(inst.State) || inst.RestartUnderWay() || Running(inst)
}

// AnyActive reports whether any instance of f is Active.
func AnyActive(f *state.File) bool { return slices.ContainsFunc(f.Instances, Active) }

// ForgetRun clears what f keeps of a run once nothing in it is Active:
// the planning flags of the last up, the instances its configuration named
// and why its last reload failed. Like persisted offsets, they hold only
// while something runs (an up that began meanwhile keeps what it
// recorded). It reports whether it changed f.
func ForgetRun(f *state.File) bool { return forgetRunUnless(f, Active) != nil }

// RunMemory is what ForgetRun clears.
type RunMemory struct {
	UpArgs, Configured []string
	ReloadError        string
	ReloadBegun        bool
	// ReloadLeftFailed, ReloadFailures, ReloadLast and ReloadRefused go
	// with ReloadBegun: left behind, they stayed in state.json, of a
	// failure forgotten.
	ReloadLeftFailed []string
	ReloadFailures   map[string]string
	ReloadLast       string
	ReloadRefused    bool
}

// ForgetStoppedRun is ForgetRun for a stop of everything under way,
// written with the stop's intent before the servers are gone: an
// instance stopping counts as stopped. It returns what it cleared (nil
// when nothing), for RecallRun should the stop leave something running.
func ForgetStoppedRun(f *state.File) *RunMemory {
	return forgetRunUnless(f, func(inst state.Instance) bool {
		return inst.State != state.StateStopping && Active(inst)
	})
}

// RecallRun puts back what ForgetStoppedRun cleared, m, while something
// in f is Active and no up recorded its own run since.
func RecallRun(f *state.File, m *RunMemory) {
	if remembersRun(f) || !AnyActive(f) {
		return
	}
	f.UpArgs, f.Configured, f.ReloadError, f.ReloadBegun = m.UpArgs, m.Configured, m.ReloadError, m.ReloadBegun
	f.ReloadLeftFailed, f.ReloadFailures, f.ReloadLast, f.ReloadRefused = m.ReloadLeftFailed, m.ReloadFailures, m.ReloadLast, m.ReloadRefused
}

// remembersRun reports whether f keeps anything of a run (see ForgetRun).
func remembersRun(f *state.File) bool {
	return f.UpArgs != nil || f.Configured != nil || f.ReloadError != ""
}

// forgetRunUnless clears what f keeps of a run unless an instance of f is
// active, and returns what it cleared, nil when nothing.
func forgetRunUnless(f *state.File, active func(state.Instance) bool) *RunMemory {
	if !remembersRun(f) || slices.ContainsFunc(f.Instances, active) {
		return nil
	}
	m := &RunMemory{UpArgs: f.UpArgs, Configured: f.Configured, ReloadError: f.ReloadError, ReloadBegun: f.ReloadBegun,
		ReloadLeftFailed: f.ReloadLeftFailed, ReloadFailures: f.ReloadFailures, ReloadLast: f.ReloadLast, ReloadRefused: f.ReloadRefused}
	f.UpArgs, f.Configured = nil, nil
	f.ForgetReload()
	return m
}

// ownedBy recognises sockets held by the running instances of f, which
// are no conflict for their own deployment (see check.Host.Ours): those of
// each recorded process group, and, for an instance running or meant to
// (Active) whose new group the file does not name yet (the daemon records
// a start's, or a restart's, a few milliseconds after it), those of the
// processes running in its home. An
// instance's own socket is never a conflict for itself (a port it still
// holds that its record no longer lists: an inbound endpoint MI has not
// undeployed yet); for the others it is only on the ports its record
// plans (which the plan itself keeps apart). On any other port (MI's
// random JMX port, a port an inbound endpoint resolved at run time) it is
// as foreign to them as any program's: planned onto, it failed their
// start.
//
// Processes are read only for the instances a socket could be ours for,
// and the server's own descriptors first (it holds every listener MI
// opens): reading every group's, from a walk of /proc, was ~6 ms of each
// plan beside twenty running instances, for a question most sockets
// (another program's, on no recorded port) need no process to answer.
func ownedBy(f *state.File) func(s hostnet.Socket, instance string) bool {
	o := &owners{view: &observe.View{}, inodes: map[*state.Instance]map[uint64]int{}, complete: map[*state.Instance]bool{}}
	for i := range f.Instances {
		inst := &f.Instances[i]
		if Running(*inst) && inst.PGID > 0 {
			o.grouped = append(o.grouped, inst)
		}
		// Its home too: a restart's new server runs in a group the file
		// names a few milliseconds later (mictl up beside mictl restart
		// refused on the new server's ports, "a server mictl did not
		// start running in mi-3's home").
		if Active(*inst) {
			o.unrecorded = append(o.unrecorded, inst)
		}
	}
	return func(s hostnet.Socket, instance string) bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		could := func(inst *state.Instance) bool { return inst.Name == instance || recordedPort(inst, s.Port) }
		return slices.ContainsFunc(o.grouped, func(inst *state.Instance) bool { return could(inst) && o.groupHolds(inst, s.Inode) }) ||
			slices.ContainsFunc(o.unrecorded, could) && o.homeHolds(s.Inode, could)
	}
}

// owners is ownedBy's reading of the processes, each read at most once.
type owners struct {
	mu      sync.Mutex
	view    *observe.View
	grouped []*state.Instance // running, in a recorded process group
	// unrecorded are those whose processes may run in a group the file
	// does not name yet: every Active one (a start's group, a restart's
	// new one).
	unrecorded []*state.Instance
	// inodes are the sockets of each grouped instance read so far: its
	// server's, then its whole group's (complete).
	inodes   map[*state.Instance]map[uint64]int
	complete map[*state.Instance]bool
	// inHomes owns the sockets of the processes running in the homes of
	// the unrecorded instances, once read.
	inHomes map[uint64]*state.Instance
}

// groupHolds reports whether the process group of inst holds the socket
// ino: its server's descriptors first, every member's when the server's
// do not have it.
func (o *owners) groupHolds(inst *state.Instance, ino uint64) bool {
	if o.inodes[inst] == nil {
		o.inodes[inst] = map[uint64]int{}
		// The server only while it is a member of the group (its pid
		// may have been reused since it was recorded).
		if st, err := proc.ReadStat(inst.Server.PID); err == nil && !st.Exited() && st.PGID == inst.PGID {
			inodes, _ := hostnet.SocketInodes(st.PID)
			for i := range inodes {
				o.inodes[inst][i] = st.PID
			}
		}
	}
	if _, ok := o.inodes[inst][ino]; ok {
		return true
	}
	if !o.complete[inst] {
		o.complete[inst] = true
		maps.Copy(o.inodes[inst], o.view.GroupInodes(inst.PGID))
	}
	_, ok := o.inodes[inst][ino]
	return ok
}

// homeHolds reports whether a process running in the home of an
// unrecorded instance for which could holds the socket ino: one /proc
// walk, at the first question.
func (o *owners) homeHolds(ino uint64, could func(*state.Instance) bool) bool {
	if o.inHomes == nil {
		o.inHomes = map[uint64]*state.Instance{}
		homes := make(map[string]bool, len(o.unrecorded))
		byHome := make(map[string]*state.Instance, len(o.unrecorded))
		for _, inst := range o.unrecorded {
			// No home recorded: not every process without a CARBON_HOME.
			if inst.Home != "" {
				homes[inst.Home], byHome[inst.Home] = true, inst
			}
		}
		for _, pid := range processesIn(homes) {
			inodes, _ := hostnet.SocketInodes(pid)
			inst := byHome[proc.Getenv(pid, "CARBON_HOME")]
			for i := range inodes {
				o.inHomes[i] = inst
			}
		}
	}
	inst := o.inHomes[ino]
	return inst != nil && could(inst)
}

// recordedPort reports whether port is one of inst's planned ports, as
// its record has them.
func recordedPort(inst *state.Instance, port int) bool {
	return slices.Contains(inst.Ports[:], port) ||
		slices.ContainsFunc(inst.Extras, func(e state.Extra) bool { return e.Port == port })
}

// processesIn lists the live processes running with one of homes as
// their CARBON_HOME: one /proc walk.
func processesIn(homes map[string]bool) []int {
	all, err := proc.List()
	if err != nil {
		return nil
	}
	var out []int
	for _, st := range all {
		if !st.Exited() && homes[proc.Getenv(st.PID, "CARBON_HOME")] {
			out = append(out, st.PID)
		}
	}
	return out
}

// Proposal is what applying a configuration to what runs would do: the
// target, the changes, and the conflicts it would be refused for. A
// reload and `mictl diff` both make it, so diff shows exactly what a
// reload would do, refusal included.
type Proposal struct {
	Target    *Target
	Changes   Changes
	Conflicts check.Report
}

// Propose plans cfg against what runs (f) as a reload does: instances
// the configuration no longer names are removed.
func Propose(cfg *config.Config, f *state.File, offsets []int, env []string) (Proposal, error) {
	return propose(cfg, f, offsets, env, false)
}

// ProposeToApply is Propose for a reload, which applies cfg unless it is
// refused: a plan it is not refused for also records the distribution as
// the one each running home was synced from, where that home's list names
// another directory with the same files (see Follow). mictl diff, which
// only looks, proposes with Propose.
func ProposeToApply(cfg *config.Config, f *state.File, offsets []int, env []string) (Proposal, error) {
	return propose(cfg, f, offsets, env, true)
}

func propose(cfg *config.Config, f *state.File, offsets []int, env []string, apply bool) (Proposal, error) {
	p, err := ProposeTarget(cfg, f, offsets, env)
	if err != nil {
		return Proposal{}, err
	}
	if p.Changes, err = compare(p.Target, f, apply && p.Refusal() == nil); err != nil {
		return Proposal{}, err
	}
	return p, nil
}

// ProposeTarget is Propose without comparing with what runs (its Changes
// are none): the target and its conflicts.
func ProposeTarget(cfg *config.Config, f *state.File, offsets []int, env []string) (Proposal, error) {
	t, err := Build(cfg, f, Options{Offsets: offsets, Env: env})
	if err != nil {
		return Proposal{}, err
	}
	return Proposal{Target: t, Changes: NoChanges(), Conflicts: t.Conflicts()}, nil
}

// Refusal is the error a reload of p is refused with, nil when it may go
// ahead.
func (p Proposal) Refusal() error {
	if p.Conflicts.OK() {
		return nil
	}
	return &check.ConflictError{Report: p.Conflicts, Refused: "the new configuration has conflicts, nothing was changed"}
}

// Changes is what it takes to go from what runs to a target.
type Changes struct {
	Add     []string `json:"add"`     // planned, not running: start
	Remove  []string `json:"remove"`  // running or known, no longer planned: stop
	Restart []string `json:"restart"` // running with another deployment.toml, offset or launch: restart
	// Redeploy are running instances whose CApps alone changed: MI's hot
	// deployment takes the new files, nothing restarts.
	Redeploy []string `json:"redeploy"`
	// CApps say what each of Redeploy's CApp change is, in the daemon's
	// event words (AppsVerb): "deploy" when it only adds CApps,
	// "undeploy" when it only takes some away, else "redeploy". A first
	// deploy was shown as a redeploy, as if the CApp had run before.
	CApps map[string]string `json:"capps"`
	Why   map[string]string `json:"why"`   // why each restart
	Diffs map[string]string `json:"diffs"` // deployment.toml now vs target, per restart
	// Kept are, per running instance, the files changed in its home that
	// the distribution changed too since they were cloned: a sync keeps
	// the home's (see home.Distribution.Behind), and someone should look
	// at both. Nothing to do for a reload.
	Kept map[string][]string `json:"kept"`
	// Comments are the running instances, none of them restarted, whose
	// home's deployment.toml differs from what mictl renders in comments
	// or layout alone: that restarts nothing, and each home takes mictl's
	// file at its instance's next start. Unsaid, diff said "no changes"
	// while the homes lacked a comment edited in mi_home. Nothing to do
	// for a reload, whose account of what it did keeps them all the same
	// (the homes it left lacking the edit).
	Comments []string `json:"comments"`
}

// NoChanges is Changes with nothing in it, every list empty (not null).
func NoChanges() Changes {
	return Changes{Add: []string{}, Remove: []string{}, Restart: []string{}, Redeploy: []string{}, CApps: map[string]string{}, Why: map[string]string{}, Diffs: map[string]string{}, Kept: map[string][]string{}, Comments: []string{}}
}

// Empty reports whether nothing would change.
func (c Changes) Empty() bool { return len(c.Add)+len(c.Remove)+len(c.Restart)+len(c.Redeploy) == 0 }

// Compare works out the changes from f (what runs, and the homes on disk)
// to t. Only running instances are restarted; a stopped instance that is
// still planned is left to `mictl up`. Only what the configuration named
// when last applied (f.Configured) and no longer names is removed.
func Compare(t *Target, f *state.File) (Changes, error) { return compare(t, f, false) }

// Follow is Compare for an up or a reload, which apply t: it also
// records t's distribution as the one each running home was synced from
// where the home's list names another directory with the same files
// (home.Distribution.Follow). mi_home pointed at a copy of the
// distribution (cp -a) restarts nothing; left naming the old directory,
// the homes sent status there, and a crash restart could not put back
// what a home lost once it was deleted.
func Follow(t *Target, f *state.File) (Changes, error) { return compare(t, f, true) }

func compare(t *Target, f *state.File, follow bool) (Changes, error) {
	c := NoChanges()
	planned := map[string]bool{}
	render := t.renderer()
	behind, err := t.homesBehind(f, follow)
	if err != nil {
		return c, err
	}
	for _, inst := range t.Plan.Instances {
		planned[inst.Name] = true
		rec, known := f.Instance(inst.Name)
		if !known {
			c.Add = append(c.Add, inst.Name)
			continue
		}
		if !state.Wanted(rec.State) {
			continue
		}
		want, err := t.Record(inst)
		if err != nil {
			continue
		}
		rendered, err := render(inst)
		if err != nil {
			return c, err
		}
		current, _ := os.ReadFile(home.ConfPath(rec.Home))
		var why []string
		if rec.Offset != inst.Offset {
			why = append(why, fmt.Sprintf("offset %d -> %d", rec.Offset, inst.Offset))
		}
		// A comment or a blank line edited restarts nothing: the home
		// takes the new file when mictl next prepares it (an up after a
		// down, a restart, a reload that restarts it).
		settings := !deploytoml.SameSettings(current, rendered)
		if settings {
			c.Diffs[inst.Name] = unifiedDiff(home.ConfPath(rec.Home), current, rendered)
		}
		// Edited in the home, the file is rendered again by the restart:
		// "deployment.toml changed" read as the configuration's change,
		// and the edit went without a word.
		_, edited := home.ConfEdited(rec.Home)
		replaced := edited && !bytes.Equal(current, rendered)
		if settings && !replaced {
			why = append(why, "deployment.toml changed")
		}
		if rec.Bind != want.Bind || !slices.Equal(rec.Args, want.Args) {
			why = append(why, "launch settings changed")
		}
		b := behind[rec.Name]
		switch {
		case len(b.files) > 0 && b.from != "":
			// A new mi_home (an upgrade, a rollback): said as files
			// changed alone, the events of the roll did not say from
			// which distribution to which each instance went.
			why = append(why, fmt.Sprintf("the distribution changed from %s to %s: %s", b.from, b.to, listSome(b.files, 3)))
		case len(b.files) > 0:
			// Files changed in mi_home: what a restart's sync brings
			// in, which nothing else here shows.
			why = append(why, "the distribution's files changed: "+listSome(b.files, 3))
		}
		if len(b.kept) > 0 {
			c.Kept[rec.Name] = b.kept
		}
		if replaced && (settings || len(why) > 0) {
			why = append(why, EditedWhy)
		}
		// No reason to restart, so the settings are the same (a change of
		// them is one): what differs is comments or layout. Not of a file
		// edited in the home: the restart the note advises would set the
		// edit aside, which its next start says (an EditKept).
		if len(why) == 0 && !replaced && !bytes.Equal(current, rendered) {
			c.Comments = append(c.Comments, inst.Name)
		}
		apps := appsChange(t.Apps[inst.Name], t.OwnApps(rec.Apps), rec.Home)
		switch {
		case len(why) > 0:
			if apps != "" {
				why = append(why, "CApps "+apps)
			}
			c.Restart = append(c.Restart, inst.Name)
			c.Why[inst.Name] = joinReasons(why)
		case apps != "":
			c.Redeploy = append(c.Redeploy, inst.Name)
			c.CApps[inst.Name] = changeVerb(apps)
			c.Why[inst.Name] = "CApps " + apps
		}
	}
	for _, rec := range f.Instances {
		if !planned[rec.Name] && !Kept(f, rec.Name) {
			c.Remove = append(c.Remove, rec.Name)
		}
	}
	steps := t.RestartSteps(f, c.Restart)
	c.Restart = []string{} // none is [] in -o json, not null
	for _, step := range steps {
		if len(step) > 1 {
			for _, name := range step {
				others := slices.DeleteFunc(slices.Clone(step), func(other string) bool { return other == name })
				c.Why[name] += ", together with " + strings.Join(others, ", ") + ": they take each other's ports"
			}
		}
		c.Restart = append(c.Restart, step...)
	}
	return c, nil
}

// EditedWhy is the reason of a restart that renders again a
// deployment.toml edited in the home (see home.WriteConf).
const EditedWhy = "its conf/deployment.toml was edited in the home: the restart renders it again, keeping the edit as conf/deployment.toml.edited"

// TakesPorts reports whether the named instance, as t plans it, opens a
// port that another of holders holds as f records it: one that runs with
// the ports it had until its restart, or until MI took its new CApps.
func (t *Target) TakesPorts(f *state.File, name string, holders []string) bool {
	return slices.ContainsFunc(holders, func(holder string) bool { return len(t.PortsTaken(f, name, holder)) > 0 })
}

// PortsTaken are the ports the named instance, as t plans it, opens that
// holder, another instance, holds as f records it: none for itself.
func (t *Target) PortsTaken(f *state.File, name, holder string) []int {
	rec, ok := f.Instance(holder)
	if !ok || holder == name {
		return nil
	}
	inst, _ := t.Instance(name)
	fixed := inst.Ports()
	return slices.DeleteFunc(slices.Concat(fixed[:], inst.ExtraPorts()), func(p int) bool { return !recordedPort(rec, p) })
}

// RestartSteps orders a rolling restart of names, instances of f that
// run, so that none starts on a port another still holds with the ports
// it had: restarts go one at a time, and a port moved in the
// distribution's deployment.toml (listener.port 8281 -> 8282) gives mi-1
// the HTTP port mi-2, one offset up, still holds until its own restart;
// started first, mi-1 failed on it. Each step is one instance, after
// those whose old ports its new ones take, in plan order otherwise. No
// order of single restarts frees the ports of instances that take each
// other's in a cycle (offsets swapped in mictl.toml): such a cycle is one
// step, its instances stopped all before any starts again. A reload and
// mictl restart both go by these steps, and so does a reload's redeploy
// of rebuilt CApps whose inbound endpoints moved (see
// supervisor.redeploy).
func (t *Target) RestartSteps(f *state.File, names []string) [][]string {
	steps := [][]string{}
	left := slices.Clone(names)
	for len(left) > 0 {
		var step []string
		if next := slices.IndexFunc(left, func(name string) bool { return !t.TakesPorts(f, name, left) }); next >= 0 {
			step = []string{left[next]}
		} else {
			step = t.portCycle(f, left)
		}
		steps = append(steps, step)
		left = slices.DeleteFunc(left, func(name string) bool { return slices.Contains(step, name) })
	}
	return steps
}

// portCycle is, among left, each of which takes ports another of left
// holds, the smallest set of instances that take ports of each other
// alone, in plan order: what one instance's new ports reach, and the new
// ports of those reach, and so on, for the instance that reaches fewest.
// Every instance reaches such a cycle, so the fewest reached are one.
func (t *Target) portCycle(f *state.File, left []string) []string {
	takes := map[string][]string{}
	for _, name := range left {
		for _, holder := range left {
			if t.TakesPorts(f, name, []string{holder}) {
				takes[name] = append(takes[name], holder)
			}
		}
	}
	var fewest []string
	for _, name := range left {
		reached := []string{name}
		for i := 0; i < len(reached); i++ {
			for _, holder := range takes[reached[i]] {
				if !slices.Contains(reached, holder) {
					reached = append(reached, holder)
				}
			}
		}
		if fewest == nil || len(reached) < len(fewest) {
			fewest = reached
		}
	}
	return slices.DeleteFunc(slices.Clone(left), func(name string) bool { return !slices.Contains(fewest, name) })
}

// homeBehind is what Distribution.Behind says of one home, and, when the
// home was last synced from another distribution than the one it is
// compared with (see home.SyncedFrom), that one (from) and this one (to).
type homeBehind struct {
	files, kept []string
	from, to    string
}

// homesBehind asks, for each instance of f that runs, what a sync of its
// home with the distribution would change; a few homes at a time (a real
// MI home is thousands of files to look at). Nothing runs: nothing is
// read. With follow, a home synced from another directory with the same
// files is recorded as synced from the distribution (see Follow).
func (t *Target) homesBehind(f *state.File, follow bool) (map[string]homeBehind, error) {
	var running []state.Instance
	for _, rec := range f.Instances {
		if _, planned := t.Instance(rec.Name); planned && state.Wanted(rec.State) {
			running = append(running, rec)
		}
	}
	out := map[string]homeBehind{}
	if len(running) == 0 {
		return out, nil
	}
	// As it is: writing the simulator's (SourceDistribution) is for the
	// commands that start servers. Compare only looks, and a look from
	// another mictl binary made every home behind its start script.
	dist, err := home.ReadDistribution(sourceDistributionDir(t.Config))
	if err != nil {
		return nil, err
	}
	results := make([]homeBehind, len(running))
	errs := make([]error, len(running))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, rec := range running {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			b, kept, look, err := dist.Behind(rec.Home)
			if err != nil {
				errs[i] = fmt.Errorf("compare the home of %s with the distribution: %w", rec.Name, err)
			}
			if t.Config.UsesSimulator() {
				// The simulator's start script names the mictl program
				// that wrote it (sim.Script): mictl upgraded or moved, or
				// a mictl-sim beside it left from another build, writes
				// another. A server that runs is the same for it, and
				// upgrading mictl restarts nothing: each home takes the
				// new script at its next start by mictl.
				b = slices.DeleteFunc(b, func(rel string) bool { return rel == sim.ScriptPath })
			}
			results[i] = homeBehind{files: b, kept: kept}
			if from, ok := home.SyncedFrom(rec.Home); ok && from != dist.Dir() {
				results[i].from, results[i].to = from, dist.Dir()
			}
			if follow {
				// Not followed (its list cannot be written), the home
				// keeps naming the old directory: its crash restart
				// says so and that mictl restart brings it up to date.
				_, _ = dist.Follow(rec.Home, look)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, rec := range running {
		out[rec.Name] = results[i]
	}
	return out, nil
}

// listSome is the first n of items, comma-separated, and how many more
// there are.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

func joinReasons(why []string) string {
	var b bytes.Buffer
	for i, w := range why {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(w)
	}
	return b.String()
}
