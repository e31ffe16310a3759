// Package deployment turns a configuration into a plan: it reads the source
// distribution's deployment.toml, works out each instance's base ports from
// it and the instance's overrides, asks the planner for offsets and renders
// each instance's own deployment.toml.
package deployment

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/words"
)

// Source is the deployment.toml every instance's file is generated from.
type Source struct {
	// Path names the file in messages: "<mi_home>/conf/deployment.toml", or
	// "built-in deployment.toml" for the simulator distribution's template.
	Path string
	TOML []byte
}

// SourceTOML is where a distribution keeps its deployment.toml.
func SourceTOML(miHome string) string {
	return filepath.Join(miHome, "conf", "deployment.toml")
}

// SimulatorDist is where mictl writes the simulator distribution when no
// mi_home is configured.
func SimulatorDist(cfg *config.Config) string {
	return filepath.Join(cfg.InstancesDir, ".dist")
}

// Dist is cfg's source distribution, which every home is cloned from:
// mi_home, or the simulator distribution (once mictl wrote it).
func Dist(cfg *config.Config) string {
	if cfg.UsesSimulator() {
		return SimulatorDist(cfg)
	}
	return cfg.MIHome
}

// SourceTOMLOf is the source deployment.toml of cfg's distribution: the
// file LoadSource reads (once the simulator distribution exists).
func SourceTOMLOf(cfg *config.Config) string { return SourceTOML(Dist(cfg)) }

// LoadSource reads the source deployment.toml of cfg's distribution: the
// simulator distribution's (which the user may edit, as a real one) once
// it exists, the built-in template before that.
func LoadSource(cfg *config.Config) (Source, error) {
	if cfg.UsesSimulator() {
		path := SourceTOMLOf(cfg)
		if data, err := os.ReadFile(path); err == nil {
			return Source{Path: path, TOML: data}, nil
		}
		return Source{Path: "built-in deployment.toml", TOML: deploytoml.Template()}, nil
	}
	// Said up front, not when the first instance fails to start.
	script := filepath.Join(cfg.MIHome, home.StartScript)
	if _, err := os.Stat(script); err != nil {
		return Source{}, &config.Error{Where: cfg.Origin("mi_home"), Msg: notAnMIHome(cfg.MIHome, err)}
	}
	// Homes are copies of the distribution, modes included: a script
	// unpacked without its execute bit fails every start.
	if unix.Access(script, unix.X_OK) != nil {
		return Source{}, &config.Error{Where: cfg.Origin("mi_home"), Msg: fmt.Sprintf(
			"%s is not executable (a distribution unpacked without its file modes loses the bit): chmod +x %s", script, script)}
	}
	path := SourceTOMLOf(cfg)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Source{}, &config.Error{Where: path, Msg: "the distribution has no conf/deployment.toml; check mi_home points at a Micro Integrator home"}
	}
	if err != nil {
		return Source{}, &config.Error{Where: path, Msg: fmt.Sprintf(
			"cannot read the distribution's deployment.toml (%v); check mi_home points at a Micro Integrator home", err)}
	}
	return Source{Path: path, TOML: data}, nil
}

// notAnMIHome says why dir, whose start script could not be looked at
// (scriptErr), is no Micro Integrator home to this user: it cannot be
// read (another user's 0700 directory on the way), it does not exist (a
// mistyped path, or a symbolic link to nothing, as `ln -sfn wso2mi-4.5.0
// current` leaves before 4.5.0 is unpacked, named with its target), or it
// holds no bin/micro-integrator.sh.
func notAnMIHome(dir string, scriptErr error) string {
	fix := "set mi_home to the directory that holds bin/ and conf/ (e.g. /opt/wso2mi-4.4.0)"
	if errors.Is(scriptErr, fs.ErrPermission) {
		return fmt.Sprintf("mi_home %s cannot be looked into by this user (%v): give this user read and search access to it and the directories above it, or run mictl as their owner", dir, fsutil.Cause(scriptErr))
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Sprintf("mi_home %s has no %s, so it is not a Micro Integrator home: %s", dir, home.StartScript, fix)
	}
	if target, err := os.Readlink(filepath.Clean(dir)); err == nil { // "current/" is the link too
		return fmt.Sprintf("mi_home %s is a symbolic link to %s, which does not exist: unpack the distribution there, or point the link at one (ln -sfn DIR %s)", dir, target, dir)
	}
	// "~/wso2mi-4.4.0" in mictl.toml is taken from the file's directory,
	// as any relative path: no shell expanded it.
	parts := strings.Split(filepath.ToSlash(dir), "/")
	if tilde := slices.Index(parts, "~"); tilde >= 0 {
		if userHome, err := os.UserHomeDir(); err == nil {
			fix = fmt.Sprintf("mictl does not expand ~ as a shell does: write the path in full (%s)", filepath.Join(append([]string{userHome}, parts[tilde+1:]...)...))
		}
	}
	return fmt.Sprintf("mi_home %s does not exist: %s", dir, fix)
}

// Options are the planning inputs that do not come from the config file.
type Options struct {
	// Offsets are explicit offsets for the first instances, in order
	// (--offsets 10,20,30).
	Offsets []int
	// Pinned are the running instances, in their order: they stay in the
	// plan and keep their offsets while they run (growing N never moves a
	// running instance) unless --offsets or an [[instance]] offset says
	// otherwise.
	Pinned []Pin
	// HostBusy and MinPort are passed to the planner (see ports.Planner).
	HostBusy func(port int) bool
	MinPort  int
	// Apps are the CApps each instance runs (by name): their inbound
	// endpoints are ports of the instance.
	Apps map[string][]*capp.App
	// Inbounds are the inbound endpoints the distribution keeps outside
	// any CApp (home.ShippedInboundEndpoints): ports of every instance.
	Inbounds []capp.Inbound
	// JavaOpts is what the instances get as JVM_MEM_OPTS and JAVA_OPTS,
	// which MI's script hands java: it may turn on the mediation debugger
	// or the unit test server, or pin the JMX agent, which open ports too.
	// A pinned instance runs with its own (Pin.JavaOpts).
	JavaOpts string
}

// Pin is what a running instance keeps: its offset, and the JVM_MEM_OPTS
// and JAVA_OPTS it was started with (its up's, whatever this shell's
// are), which open its extra ports as much as its CApps do.
type Pin struct {
	Name     string
	Offset   int
	JavaOpts string
}

// Names lists the instances a plan of cfg places, in plan order: those
// cfg names, then each pinned one it does not (an instance an earlier,
// larger up started). Their CApps are read for the same list.
func Names(cfg *config.Config, pinned []Pin) []string {
	names := cfg.Names()
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	for _, p := range pinned {
		if !known[p.Name] {
			names, known[p.Name] = append(names, p.Name), true
		}
	}
	return names
}

// Plan places every instance cfg names, and every pinned one.
func Plan(cfg *config.Config, src Source, opts Options) (ports.Plan, error) {
	names := Names(cfg, opts.Pinned)
	pinned := map[string]Pin{}
	for _, p := range opts.Pinned {
		pinned[p.Name] = p
	}
	if len(opts.Offsets) > len(names) {
		return ports.Plan{}, &config.Error{Where: "flag --offsets", Msg: fmt.Sprintf(
			"%s for %s; give at most one offset per instance or raise --instances", words.Count(len(opts.Offsets), "offset"), words.Count(len(names), "instance"))}
	}
	source, err := deploytoml.Parse(src.Path, src.TOML)
	if err != nil {
		return ports.Plan{}, err
	}
	sourceBases, err := source.BasePorts()
	if err != nil {
		return ports.Plan{}, err
	}
	// Said up front, at the line: every start would wait out its timeout
	// for a port that never listens. An override may turn the API back on
	// for its instance (one turning it off is refused as mictl.toml loads).
	apiOff := source.InternalAPIOff()
	wants := make([]ports.Want, len(names))
	for i, name := range names {
		w := ports.Want{Name: name, Bases: sourceBases}
		javaOpts := opts.JavaOpts
		if pin, ok := pinned[name]; ok {
			w.Offset, w.From, javaOpts = &pin.Offset, ports.OffsetFromRunning, pin.JavaOpts
		}
		ic, ok := cfg.InstanceSettings(name)
		if _, turnedOn := ic.Overrides[ports.InternalAPIEnableTOMLKey]; apiOff != nil && !turnedOn {
			return ports.Plan{}, apiOff
		}
		if ok && len(ic.Overrides) > 0 {
			if w.Bases, err = basePorts(src, ic.Overrides); err != nil {
				return ports.Plan{}, overrideError(ic, err)
			}
		}
		enabled, err := InboundOffsetEnabled(src, ic.Overrides)
		if err != nil {
			return ports.Plan{}, err
		}
		w.Extras = InstanceExtras(opts.Inbounds, opts.Apps[name], enabled, javaOpts)
		if given, from, where := GivenOffset(cfg, opts.Offsets, i, name); given != nil {
			w.Offset, w.From, w.Where = given, from, where
		}
		wants[i] = w
	}
	planner := ports.Planner{BaseOffset: cfg.BaseOffset, Step: cfg.OffsetStep, MinPort: opts.MinPort, HostBusy: opts.HostBusy}
	return planner.Plan(wants)
}

// GivenOffset is the offset the user gave the named instance, the ith a
// plan places: its entry in offsets (--offsets), which wins, or its
// [[instance]] offset in cfg; with where it comes from
// (ports.OffsetFromFlag or ports.OffsetFromConfig) and where that is.
// Nil when the planner chooses it.
func GivenOffset(cfg *config.Config, offsets []int, i int, name string) (offset *int, from, where string) {
	if i < len(offsets) {
		return &offsets[i], ports.OffsetFromFlag, "--offsets"
	}
	if ic, ok := cfg.InstanceSettings(name); ok && ic.Offset != nil {
		return ic.Offset, ports.OffsetFromConfig, ic.OffsetPos
	}
	return nil, "", ""
}

// overrideError is err, found rendering the overrides of ic, as a
// mictl.toml error: at the key of the override at fault when err names
// one (as load-time override errors are), else at the overrides.
func overrideError(ic config.InstanceConfig, err error) error {
	where := ic.OverrideWhere("")
	var oe *deploytoml.OverrideError
	if errors.As(err, &oe) {
		where = ic.OverrideWhere(oe.Key)
	}
	return &config.Error{Where: where, Msg: fmt.Sprintf("instance %s: %v", ic.Name, err)}
}

// basePorts reads the base ports of src with an instance's overrides
// applied, going through the same Render call that writes the instance's
// file so the plan and the file can never disagree.
func basePorts(src Source, overrides map[string]any) (ports.Set, error) {
	data, err := deploytoml.Render(src.Path, src.TOML, nil, overrides)
	if err != nil {
		return ports.Set{}, err
	}
	doc, err := deploytoml.Parse(src.Path, data)
	if err != nil {
		return ports.Set{}, err
	}
	return doc.BasePorts()
}

// NodeIDEnv and NodeIDTOMLKey are two of the ways MI is told its node
// identity (docs/mi-facts.md, "Node identity").
const (
	NodeIDEnv     = "nodeId"
	NodeIDTOMLKey = "cluster_config.node_id"
)

// Render produces inst's deployment.toml: the source with [server] offset
// set (offset_method "toml"; with "flag" the source's offset stays and
// -DportOffset replaces it at launch), the instance's overrides applied,
// inbound endpoint ports offset like MI's own (unless the file or an
// override says otherwise: the user's choice stands, and the plan follows
// it), and with metrics on, MI's Prometheus handler.
func Render(cfg *config.Config, src Source, inst ports.Instance) ([]byte, error) {
	var offset *int
	if cfg.OffsetMethod == config.OffsetMethodTOML {
		offset = &inst.Offset
	}
	ic, _ := cfg.InstanceSettings(inst.Name)
	doc, err := render(cfg, src, " for "+inst.Name, offset, ic.Overrides)
	var oe *deploytoml.OverrideError
	if errors.As(err, &oe) { // said as Plan says it, in mictl.toml's terms
		return nil, overrideError(ic, oe)
	}
	if err != nil {
		return nil, err
	}
	return doc.Bytes(), nil
}

// render is Render's document; forWhom ends its messages' "render <file>".
func render(cfg *config.Config, src Source, forWhom string, offset *int, overrides map[string]any) (*deploytoml.Document, error) {
	out, err := deploytoml.Render(src.Path, src.TOML, offset, overrides)
	if err != nil {
		return nil, fmt.Errorf("render %s%s: %w", src.Path, forWhom, err)
	}
	doc, err := deploytoml.Parse(src.Path, out)
	if err != nil {
		return nil, err
	}
	if _, err := doc.SetUnlessSet(ports.InboundOffsetTOMLKey, true, ports.InboundOffsetSynapseTOMLKey); err != nil {
		return nil, fmt.Errorf("render %s%s: %w", src.Path, forWhom, err)
	}
	if cfg.Metrics {
		err := doc.AppendArrayElement("synapse_handlers", []deploytoml.KeyValue{
			{Key: "name", Value: ports.MetricHandlerName}, {Key: "class", Value: ports.MetricHandlerClass}})
		if err != nil {
			return nil, fmt.Errorf("render %s%s: %w", src.Path, forWhom, err)
		}
	}
	return doc, nil
}

// A Template renders the deployment.toml of instances that have no
// overrides. Theirs differ only in the digits of [server] offset
// (offset_method "toml"), or not at all ("flag"): one render, of several
// parses of the whole file, serves them all, where twenty were most of
// the time `up` of twenty spent before its daemon could launch anything.
type Template struct {
	out []byte
	// digits is where the offset's value is in out; nil when out holds
	// no offset of mictl's (offset_method "flag").
	digits *[2]int
}

// NewTemplate renders src as Render does for an instance without
// overrides.
func NewTemplate(cfg *config.Config, src Source) (*Template, error) {
	var offset *int
	if cfg.OffsetMethod == config.OffsetMethodTOML {
		offset = new(int)
	}
	doc, err := render(cfg, src, "", offset, nil)
	if err != nil {
		return nil, err
	}
	t := &Template{out: doc.Bytes()}
	if offset != nil {
		start, end, ok := doc.ValueSpan(ports.OffsetTOMLKey)
		if !ok {
			return nil, fmt.Errorf("render %s: %s is not in the rendered file", src.Path, ports.OffsetTOMLKey)
		}
		t.digits = &[2]int{start, end}
	}
	return t, nil
}

// For is the deployment.toml of an instance with offset and no
// overrides: what Render returns for it.
func (t *Template) For(offset int) ([]byte, error) {
	if t.digits == nil {
		return bytes.Clone(t.out), nil
	}
	if offset < 0 || offset > ports.MaxPort {
		return nil, fmt.Errorf("port offset %d out of range 0..%d", offset, ports.MaxPort)
	}
	out := make([]byte, 0, len(t.out)+5)
	out = append(out, t.out[:t.digits[0]]...)
	out = strconv.AppendInt(out, int64(offset), 10)
	return append(out, t.out[t.digits[1]:]...), nil
}

// InboundOffsetEnabled reports whether MI will add the server offset to
// the ports of an instance's inbound HTTP endpoints: as src with
// overrides says, else true, which Render writes. The user's "false" is
// kept, and then every co-located instance binds those ports as written
// (a conflict the check reports).
func InboundOffsetEnabled(src Source, overrides map[string]any) (bool, error) {
	data := src.TOML
	if len(overrides) > 0 {
		var err error
		if data, err = deploytoml.Render(src.Path, src.TOML, nil, overrides); err != nil {
			return false, err
		}
	}
	doc, err := deploytoml.Parse(src.Path, data)
	if err != nil {
		return false, err
	}
	for _, key := range []string{ports.InboundOffsetTOMLKey, ports.InboundOffsetSynapseTOMLKey} {
		v, ok := doc.Lookup(key)
		if !ok {
			continue
		}
		switch v := v.(type) {
		case bool:
			return v, nil
		case string: // a synapse property is a string in MI's docs
			return strings.EqualFold(strings.TrimSpace(v), "true"), nil
		}
		return false, &config.Error{Where: src.Path, Msg: fmt.Sprintf("%s = %v: expected true or false", key, v)}
	}
	return true, nil
}

// Extras are the ports an instance opens besides the four: every
// inbound endpoint of its apps whose port is written in the CApp (offset
// as MI offsets it, inboundOffset being the instance's
// inbound.port_offset_enable; RunTimePorts lists the others), and the
// mediation debugger (9005, 9006) and the unit test server (9008, or
// -DsynapseTestPort) when javaOpts turns them on, and MI's JMX agent on
// the port javaOpts pins it to: those three with no offset.
func Extras(apps []*capp.App, inboundOffset bool, javaOpts string) []ports.Extra {
	var out []ports.Extra
	for _, app := range apps {
		for _, in := range app.Inbounds {
			if in.AtRunTime() {
				continue
			}
			out = append(out, inboundExtra(InboundListener(app, in), in, inboundOffset))
		}
	}
	props := ports.SystemProperties(javaOpts, nil)
	on := func(prop string) bool {
		v, set := props[prop]
		return set && (v == "" || strings.EqualFold(v, "true"))
	}
	// MI opens the debugger's and the unit test server's sockets on the
	// ports as given (synapse.properties' 9005 and 9006; -DsynapseTestPort,
	// 9008 by default), on every address, with no offset: two instances
	// with the same JAVA_OPTS clash there, as with a pinned JMX port.
	if ports.DebuggerOn(props) {
		out = append(out,
			ports.Extra{Role: ports.RoleDebugger, Name: "command", Base: ports.DebuggerCommandPort},
			ports.Extra{Role: ports.RoleDebugger, Name: "event", Base: ports.DebuggerEventPort})
	}
	if on("synapseTest") {
		port := 9008
		if p, err := strconv.Atoi(props["synapseTestPort"]); err == nil && p > 0 {
			port = p
		}
		out = append(out, ports.Extra{Role: ports.RoleUnitTest, Name: "server", Base: port})
	}
	if port := ports.JMXPort(props); port > 0 {
		out = append(out, ports.Extra{Role: ports.RoleJMX, Name: "agent", Base: port})
	}
	return out
}

// InstanceExtras are every port an instance opens besides the four: the
// distribution's own inbound endpoints' (inbounds, see sourceExtras) and
// those of Extras.
func InstanceExtras(inbounds []capp.Inbound, apps []*capp.App, inboundOffset bool, javaOpts string) []ports.Extra {
	return append(sourceExtras(inbounds, inboundOffset), Extras(apps, inboundOffset, javaOpts)...)
}

// sourceExtras are the ports the distribution's own inbound endpoints
// (outside any CApp) open in each instance, offset as MI offsets them,
// inboundOffset being the instance's inbound.port_offset_enable; a port
// MI resolves at run time is left out.
func sourceExtras(inbounds []capp.Inbound, inboundOffset bool) []ports.Extra {
	var out []ports.Extra
	for _, in := range inbounds {
		if !in.AtRunTime() {
			out = append(out, inboundExtra(SourceInboundPrefix+in.Name, in, inboundOffset))
		}
	}
	return out
}

// SourceInboundPrefix begins the listener name of an inbound endpoint the
// distribution keeps outside any CApp, where a CApp's has its id.
const SourceInboundPrefix = "synapse-configs/"

// inboundExtra is the port in opens, named listener.
func inboundExtra(listener string, in capp.Inbound, inboundOffset bool) ports.Extra {
	shifted := in.Offset == capp.OffsetAlways || in.Offset == capp.OffsetIfEnabled && inboundOffset
	return ports.Extra{Role: ports.RoleInbound, Name: listener, Base: in.Port, Shifted: shifted, OffsetSwitch: OffsetSwitch(in)}
}

// The settings that make MI add the server offset to an inbound
// endpoint's port (see OffsetSwitch).
const (
	// OffsetSwitchHTTP is [mediation] inbound.port_offset_enable, for
	// HTTP(S) endpoints.
	OffsetSwitchHTTP = "inbound.port_offset_enable"
	// OffsetSwitchWebSocket is a WebSocket endpoint's own parameter.
	OffsetSwitchWebSocket = capp.WSUsePortOffset
)

// OffsetSwitch is the setting that makes MI add the offset to in's port
// (see ports.Extra.OffsetSwitch), "" when none does: the one place that
// tells, for the plan's clash hints and deploy's alike.
func OffsetSwitch(in capp.Inbound) string {
	switch {
	case in.Offset == capp.OffsetIfEnabled:
		return OffsetSwitchHTTP
	case strings.HasPrefix(in.Protocol, "ws"):
		return OffsetSwitchWebSocket
	}
	return ""
}

// InboundListener names an inbound endpoint's listener among an
// instance's ports: <app id>/<endpoint>.
func InboundListener(app *capp.App, in capp.Inbound) string { return app.ID() + "/" + in.Name }

// RunTimePort is an inbound endpoint port MI resolves only as it deploys
// the endpoint (a placeholder such as $SYSTEM:ORDERS_PORT, from the MI
// process's environment): mictl can neither plan nor check it.
type RunTimePort struct {
	Listener  string `json:"listener"`  // <app id>/<endpoint> (synapse-configs/<endpoint>), as Extras name the others
	Parameter string `json:"parameter"` // e.g. inbound.http.port
	Value     string `json:"value"`     // the placeholder as written, e.g. $SYSTEM:ORDERS_PORT
}

// RunTimePorts lists the inbound endpoint ports that InstanceExtras
// leaves out because MI resolves them at run time: those of the
// distribution's own inbound endpoints (inbounds), then those of apps.
func RunTimePorts(inbounds []capp.Inbound, apps []*capp.App) []RunTimePort {
	out := []RunTimePort{}
	for _, in := range inbounds {
		if in.AtRunTime() {
			out = append(out, RunTimePort{Listener: SourceInboundPrefix + in.Name, Parameter: in.Param, Value: in.Placeholder})
		}
	}
	for _, app := range apps {
		for _, in := range app.Inbounds {
			if in.AtRunTime() {
				out = append(out, RunTimePort{Listener: InboundListener(app, in), Parameter: in.Param, Value: in.Placeholder})
			}
		}
	}
	return out
}
