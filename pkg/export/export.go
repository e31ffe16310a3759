// Package export carries a configuration planned on this host to the
// engines it will run on beyond it: Kubernetes, systemd, Compose. It builds
// the one input every exporter reads (each instance's offset, ports,
// rendered deployment.toml, launch record and CApps) from the same
// reconcile.Target `mictl up` uses, so nothing renders deployment.toml a
// second way, and it writes an export's files atomically.
//
// The exporters themselves (pkg/export/kubernetes, systemd, compose) turn
// an Input into Files in memory; nothing is written until every file of
// an export exists and every input was checked.
package export

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/words"
)

// Input is a planned configuration as the exporters see it.
type Input struct {
	// ConfigFile is the mictl.toml it came from ("" when none), for the
	// generated files' headers.
	ConfigFile string
	// Prefix is the configuration's name_prefix.
	Prefix string
	// Simulator is true when the instances run the built-in simulator.
	Simulator bool
	// InstancesDir is the absolute directory of the instance homes.
	InstancesDir string
	Instances    []Instance
	// ShippedFrom is the carbonapps/ directory of the distribution the
	// instances are cloned from, and Shipped the CApps it ships there:
	// every instance runs them (each Instance.CApps starts with them).
	ShippedFrom string
	Shipped     []CApp
	// InboundsFrom is the directory where the distribution keeps inbound
	// endpoints as synapse files, outside any CApp
	// (home.InboundEndpointsDir), and Inbounds those files: every
	// instance deploys them at start, and MI's image lacks them, so they
	// are carried as the shipped CApps are. Their ports are in each
	// Instance's Extras.
	InboundsFrom string
	Inbounds     []SynapseFile
}

// SynapseFile is a synapse configuration file the distribution keeps
// (an inbound endpoint), read whole.
type SynapseFile struct {
	Path   string // where the distribution keeps it
	File   string // its base name
	Data   []byte
	SHA256 string // hex
}

// Instance is one planned instance.
type Instance struct {
	Name   string
	Offset int
	// Bases are the base ports (offset 0) after the instance's overrides.
	Bases ports.Set
	// HostTOML is the deployment.toml `mictl up` writes into its home:
	// what systemd and Compose run.
	HostTOML []byte
	// PodTOML is the same file rendered for a host of its own: MI's
	// default offset, written explicitly (docs/mi-facts.md: a pod has its own
	// address, so pods need no offsets).
	PodTOML []byte
	// Launch is the record `mictl up` would launch it with: Home, Bind,
	// Args (-DportOffset=N with offset_method "flag",
	// -DenablePrometheusApi=true with metrics = true), Env. Env is the
	// environment its state record holds while it runs or is wanted
	// running (what the `mictl up` that started it captured, which
	// restarts, reloads and a daemon taking over keep), else the one this
	// mictl captured, as the next `mictl up` would.
	Launch state.Instance
	// Recorded is true when Launch.Env comes from its state record.
	Recorded bool
	// Here is what this mictl captured for it (as `mictl up` from this
	// shell would) when Recorded and that differs from Launch.Env: the
	// settings the export does not carry. Nil otherwise.
	Here []string
	// LastRun is what its state record keeps of the environment of its
	// last run when it no longer runs (stopped, failed) and that differs
	// from the one the export gives it, this shell's: the settings of that
	// run the export does not carry. Nil otherwise.
	LastRun []string
	// PodArgs are the start script's arguments on a host of its own, made
	// as Launch.Args are for PodTOML's target: never -DportOffset (the
	// offset is in PodTOML), -DenablePrometheusApi=true with metrics = true.
	PodArgs []string
	// Customised is true when an [[instance]] table gives it settings
	// that set it apart from the generated instances: overrides or CApps
	// of its own.
	Customised bool
	// CApps are those it runs: the distribution's shipped ones (Shipped
	// set), then those declared for it.
	CApps []CApp
	// Extras are the ports it opens besides the four, as planned: its
	// CApps' inbound endpoints (and the debugger's with JAVA_OPTS asking
	// for it), each with whether MI adds the offset to it.
	Extras []ports.Extra
	// PortEnv are the variables its inbound endpoints take their ports
	// from ($SYSTEM:NAME), NAME=value as its MI gets them under mictl
	// (Options.ServerEnv), in the order the endpoints name them. `mictl
	// up` passes a server its supervisor's whole environment, while every
	// engine passes only what it is given, and MI fails an endpoint whose
	// variable is unset and lists its CApp as faulty (/healthz 500).
	PortEnv []string
	// FileProperties is the conf/file.properties its MI resolves $FILE:
	// placeholders from (an inbound endpoint's port, any artifact's
	// parameter) under mictl: its home's, else the distribution's, which
	// the clone copies; nil when neither has one. The MI of an image reads
	// the image's own, without the keys set here, and fails what needs
	// them: Compose and Kubernetes carry it (systemd runs the homes).
	FileProperties []byte
}

// Ports are the instance's ports as planned on this host.
func (i Instance) Ports() ports.Set { return i.Bases.Shift(i.Offset) }

// PodPorts are the instance's ports in a pod of its own.
func (i Instance) PodPorts() ports.Set { return i.Bases.Shift(ports.DefaultOffset) }

// ExtraPorts are where its extras listen as planned on this host, in
// Extras' order: what `mictl ports table` shows.
func (i Instance) ExtraPorts() []int {
	return ports.Instance{Offset: i.Offset, Extras: i.Extras}.ExtraPorts()
}

// PodExtraPorts are where its extras listen in a pod of its own, at MI's
// default offset: an extra MI shifts at Base+10, another at Base.
func (i Instance) PodExtraPorts() []int {
	return ports.Instance{Offset: ports.DefaultOffset, Extras: i.Extras}.ExtraPorts()
}

// LaunchEnv is the instance's own environment, exactly as the supervisor
// sets it (captured variables, CARBON_HOME, the simulator's bind address).
func (i Instance) LaunchEnv() []string { return supervisor.LaunchEnv(&i.Launch) }

// JVMEnv is the part of the launch environment that carries to another
// host: the JVM settings, in the order the JVM takes them
// (ports.JavaOptsVars: of two -Xmx the later wins), whatever order the
// shell that captured them had them in. JAVA_HOME, CARBON_HOME and the
// simulator's switches name things on this host only.
func (i Instance) JVMEnv() []string {
	var out []string
	for _, name := range ports.JavaOptsVars {
		for _, kv := range i.Launch.Env {
			if strings.HasPrefix(kv, name+"=") {
				out = append(out, kv)
			}
		}
	}
	return out
}

// Carriage is which of the variables `mictl up` captures
// (supervisor.CaptureEnv: JAVA_HOME, the JVM settings, the simulator's
// MICTL_SIM_ switches) an engine's export carries, for the notes that
// compare them with another environment: one it leaves out is the same
// in the export whatever either environment sets.
type Carriage struct {
	// What names what it carries, as the notes say it: "environment".
	What string
	// Carries reports whether the export carries the variable name.
	Carries func(name string) bool
	// Why says why it leaves out those of names, which it does not
	// carry, as a clause after "since".
	Why func(names []string) string
}

// EveryCaptured is the carriage of an export whose servers run the homes
// on this host, as mictl runs them (systemd's units): every variable.
var EveryCaptured = Carriage{What: "environment", Carries: func(string) bool { return true }, Why: func([]string) string { return "" }}

// JVMSettings is the carriage of an export whose containers run MI's
// image (Compose, Kubernetes): the JVM settings alone (Instance.JVMEnv).
var JVMSettings = Carriage{
	What:    "JVM settings",
	Carries: func(name string) bool { return slices.Contains(ports.JavaOptsVars, name) },
	Why: func(names []string) string {
		var why []string
		if slices.Contains(names, "JAVA_HOME") {
			why = append(why, "a container has its own JAVA_HOME, the image's")
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, simulatorSwitch) }) {
			why = append(why, "the "+simulatorSwitch+" switches are the built-in simulator's, which the image does not run")
		}
		return strings.Join(why, ", and ")
	},
}

// simulatorSwitch begins the name of every switch of the built-in
// simulator that `mictl up` captures.
const simulatorSwitch = "MICTL_SIM_"

// secretWords are what the name of a JVM system property says when its
// value is a secret: javax.net.ssl.keyStorePassword,
// com.sun.management.jmxremote.password.file, db.pwd, api.token,
// client_secret, wso2.credential, an API key, secure vault's settings
// (secret.*, securevault.*). Two shorter words count only as a whole
// segment (see SecretProperty): "pass" (db.pass; passive, compass are
// none) and, as the last one, "key" (encryption.key; not key.store.type,
// javax.net.ssl.keyStore, keyAlias: key stores and aliases, whose values
// are paths and types).
var secretWords = []string{"password", "passwd", "passphrase", "passcode", "pwd", "secret", "securevault", "token", "credential", "apikey"}

// SecretWordsText lists secretWords for help texts, built from them so
// that the help names exactly the words the rule takes.
var SecretWordsText = strings.Join(secretWords[:len(secretWords)-1], ", ") + " or " + secretWords[len(secretWords)-1]

// SecretProperty reports whether the JVM system property name (what
// follows -D, without its value) says its value is a secret: whether,
// case aside, one of the name's segments (split on '.', '_' and '-')
// holds one of secretWords, or two adjacent ones together are one, or a
// segment is "pass", or the last one is "key".
// Within a segment the word may run into others, as spellings
// do (keyStorePassword, dbpwd, secretkey); across two it must be the whole
// of both, so that a word split by a separator counts (api.key, api_key,
// api-key, secure.vault, pass_phrase) while no short word straddles a
// separator by chance. Every export asks this one rule: a name it misses
// leaks the value, one it takes too many costs only a private file.
func SecretProperty(name string) bool {
	segments := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '.' || r == '_' || r == '-' })
	for i, seg := range segments {
		if seg == "pass" || (seg == "key" && i == len(segments)-1) {
			return true
		}
		if slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(seg, w) }) {
			return true
		}
		if i > 0 && slices.Contains(secretWords, segments[i-1]+seg) {
			return true
		}
	}
	return false
}

// HoldsSecret reports whether the environment variable kv (NAME=value)
// sets a -D property whose name says it is a secret (SecretProperty). An
// export keeps such a variable, whole (the JVM reads it as one string),
// where only its owner reads it: a 0600 file, a Kubernetes Secret.
func HoldsSecret(kv string) bool {
	_, value, _ := strings.Cut(kv, "=")
	return slices.ContainsFunc(strings.Fields(value), func(word string) bool {
		_, secret := secretSetting(word)
		return secret
	})
}

// secretSetting reports whether word, one word of a JVM setting, sets a
// -D property whose name says it is a secret (SecretProperty), and
// returns that name.
func secretSetting(word string) (name string, secret bool) {
	name, ok := strings.CutPrefix(word, "-D")
	if !ok {
		return "", false
	}
	name, _, _ = strings.Cut(name, "=")
	return name, SecretProperty(name)
}

// hiddenValue stands for the value of a -D property named for a secret where
// an export shows a JVM setting: on stderr and in -o json, which more
// than the setting's owner may read (a terminal, a CI log).
const hiddenValue = "<hidden>"

// hideSecrets is value, a JVM setting, with the value of each -D property
// named for a secret (secretSetting) shown as hiddenValue, and every other
// character as it was.
func hideSecrets(value string) string {
	var b strings.Builder
	for value != "" {
		start := strings.IndexFunc(value, func(r rune) bool { return !unicode.IsSpace(r) })
		if start < 0 {
			start = len(value)
		}
		b.WriteString(value[:start])
		value = value[start:]
		end := strings.IndexFunc(value, unicode.IsSpace)
		if end < 0 {
			end = len(value)
		}
		word := value[:end]
		value = value[end:]
		if name, secret := secretSetting(word); secret && strings.Contains(word, "=") {
			word = "-D" + name + "=" + hiddenValue
		}
		b.WriteString(word)
	}
	return b.String()
}

// CApp is a Carbon Application (.car) an instance runs, read whole.
type CApp struct {
	Path   string // as declared, or where the distribution ships it
	File   string // its base name, the name MI deploys it under
	Data   []byte
	SHA256 string // hex
	// Shipped is true for a CApp the distribution ships in its own
	// carbonapps/: every home cloned from it has it, so every instance
	// runs it, though mictl.toml does not declare it.
	Shipped bool
}

// Options are what FromTarget needs beyond the target.
type Options struct {
	// CApps lists the CApp files declared for an instance (nil: none).
	CApps func(instance string) []string
	// Current is what runs (the state file; nil: nothing has run). An
	// instance that runs keeps the environment its record holds.
	Current *state.File
	// ServerEnv is the environment the named instance's MI resolves
	// $SYSTEM: placeholders from under mictl: its running server's, else
	// the one its supervisor would start it with (nil: none is carried).
	ServerEnv func(instance string) []string
}

// FromTarget builds the exporters' input from t: every planned instance
// with both its renders, its launch record and its CApps read, those the
// distribution ships (t.Shipped: an image of MI's own lacks them, so they
// are carried as the declared ones are) and those declared. A bad
// override or an unreadable CApp is a *config.Error.
func FromTarget(t *reconcile.Target, opts Options) (*Input, error) {
	dir, err := filepath.Abs(t.Config.InstancesDir)
	if err != nil {
		return nil, err
	}
	in := &Input{
		ConfigFile: t.Config.File, Prefix: t.Config.NamePrefix,
		Simulator: t.Config.UsesSimulator(), InstancesDir: dir,
	}
	pods := podTarget(t)
	cache := map[string]CApp{}
	in.ShippedFrom = home.CarbonAppsDir(deployment.Dist(t.Config))
	for _, app := range t.Shipped {
		c, err := readCApp(app.Path, cache)
		if err != nil {
			return nil, &config.Error{Where: in.ShippedFrom, Msg: err.Error()}
		}
		c.Shipped = true
		in.Shipped = append(in.Shipped, c)
	}
	if in.InboundsFrom, in.Inbounds, err = readShippedInbounds(deployment.Dist(t.Config)); err != nil {
		return nil, err
	}
	for _, p := range t.Plan.Instances {
		inst := Instance{Name: p.Name, Offset: p.Offset, Bases: p.Bases, Extras: p.Extras}
		if inst.HostTOML, err = t.Render(p); err != nil {
			return nil, err
		}
		pod := ports.Instance{Name: p.Name, Offset: ports.DefaultOffset, Bases: p.Bases}
		if inst.PodTOML, err = pods.Render(pod); err != nil {
			return nil, err
		}
		if inst.Launch, err = t.Record(p); err != nil {
			return nil, err
		}
		if err := inst.keepRecorded(t, p, opts.Current); err != nil {
			return nil, err
		}
		if inst.FileProperties, err = readFileProperties(inst.Launch.Home, deployment.Dist(t.Config)); err != nil {
			return nil, err
		}
		if opts.ServerEnv != nil {
			inst.PortEnv = portEnv(deployment.RunTimePorts(t.Inbounds, t.AppsOf(p.Name)), opts.ServerEnv(p.Name), inst.LaunchEnv())
		}
		if err := inst.knowRunTimePorts(t, p); err != nil {
			return nil, err
		}
		podLaunch, err := pods.Record(pod)
		if err != nil {
			return nil, err
		}
		inst.PodArgs = podLaunch.Args
		ic, ok := t.Config.InstanceSettings(p.Name)
		inst.Customised = ok && (len(ic.Overrides) > 0 || len(ic.CApps) > 0)
		inst.CApps = slices.Clone(in.Shipped)
		if opts.CApps != nil {
			for _, path := range opts.CApps(p.Name) {
				c, err := readCApp(path, cache)
				if err != nil {
					return nil, &config.Error{Where: "instance " + p.Name, Msg: err.Error()}
				}
				inst.CApps = append(inst.CApps, c)
			}
		}
		in.Instances = append(in.Instances, inst)
	}
	return in, nil
}

// keepRecorded gives inst the environment its state record holds, as
// the supervisor launches it again (a restart, a reload, a daemon taking
// over: reconcile.KeepCaptured), rather than the one this mictl
// captured: an export describes the servers that run, and mictl.toml has
// no JVM settings, so what JAVA_HOME, JAVA_OPTS and JVM_MEM_OPTS the
// exporting shell happens to have must not replace theirs. An instance
// that does not run nor is wanted running (stopped, failed) is left out:
// the next `mictl up` starts it afresh, with its own shell's; so is a
// record without an environment (one rebuilt for a server that was gone,
// or from a mictl that recorded none), as the supervisor leaves it. The
// extra ports its JVM options open (the debugger's, a pinned JMX agent's)
// follow the JVM_MEM_OPTS and JAVA_OPTS carried.
func (inst *Instance) keepRecorded(t *reconcile.Target, p ports.Instance, current *state.File) error {
	if current == nil {
		return nil
	}
	rec, ok := current.Instance(inst.Name)
	if !ok || len(rec.Env) == 0 {
		return nil
	}
	if !reconcile.Active(*rec) {
		// Exported again once mictl down stopped it (as the units and
		// containers the last export made took over), it would lose its
		// JVM settings unsaid where this shell lacks them.
		if last := captured(rec.Env); !slices.Equal(last, captured(inst.Launch.Env)) {
			inst.LastRun = last
		}
		return nil
	}
	fresh := inst.Launch.Env
	inst.Launch.Env = reconcile.KeepCaptured(rec.Env, fresh)
	inst.Recorded = true
	if !slices.Equal(captured(inst.Launch.Env), captured(fresh)) {
		inst.Here = captured(fresh)
	}
	if ports.JavaOptsIn(inst.Launch.Env) == ports.JavaOptsIn(fresh) {
		return nil
	}
	if err := inst.planExtras(t, t.Inbounds, t.AppsOf(p.Name)); err != nil {
		return err
	}
	inst.Launch.Extras = reconcile.LaunchExtras(ports.Instance{Offset: inst.Offset, Extras: inst.Extras})
	return nil
}

// planExtras makes inst's Extras as the plan makes them, from the
// distribution's inbound endpoints and its CApps, apps, with the JVM
// settings it carries (the debugger's and a pinned JMX agent's ports
// follow them).
func (inst *Instance) planExtras(t *reconcile.Target, inbounds []capp.Inbound, apps []*capp.App) error {
	ic, _ := t.Config.InstanceSettings(inst.Name)
	enabled, err := deployment.InboundOffsetEnabled(t.Source, ic.Overrides)
	if err != nil {
		return &config.Error{Where: "instance " + inst.Name, Msg: err.Error()}
	}
	inst.Extras = deployment.InstanceExtras(inbounds, apps, enabled, ports.JavaOptsIn(inst.Launch.Env))
	return nil
}

// knowRunTimePorts makes each inbound endpoint port MI resolves at run
// time whose value the export carries (a $SYSTEM:NAME of PortEnv, a
// $FILE:key of FileProperties) one of inst's Extras, where the plan has
// only the ports written in the CApps: MI opens it wherever the export
// runs, so Compose publishes it and Kubernetes exposes it as those, with
// the clash checks they get. A port whose value the export lacks, or
// which is no port, stays out: MI fails that endpoint.
func (inst *Instance) knowRunTimePorts(t *reconcile.Target, p ports.Instance) error {
	inbounds, known := inst.resolve(t.Inbounds)
	var apps []*capp.App
	for _, app := range t.AppsOf(p.Name) {
		if resolved, ok := inst.resolve(app.Inbounds); ok {
			c := *app
			c.Inbounds, app, known = resolved, &c, true
		}
		apps = append(apps, app)
	}
	if !known {
		return nil
	}
	return inst.planExtras(t, inbounds, apps)
}

// resolve is inbounds with each port MI resolves at run time that inst
// carries the value of (runTimePort) written in as a fixed one; known
// says whether there was one.
func (inst *Instance) resolve(inbounds []capp.Inbound) (out []capp.Inbound, known bool) {
	out = slices.Clone(inbounds)
	for i, in := range out {
		if port, ok := inst.runTimePort(in); ok {
			out[i].Port, out[i].Placeholder, known = port, "", true
		}
	}
	return out, known
}

// runTimePort is the port in's placeholder resolves to in the MI the
// export runs, as MI resolves it (trimmed, then a port number): from the
// variable it carries for a $SYSTEM:NAME (PortEnv), from the
// file.properties it carries for a $FILE:key; ok false for any other
// port, or a value that is unknown or no port.
func (inst *Instance) runTimePort(in capp.Inbound) (port int, ok bool) {
	var value string
	switch name, key := in.EnvVar(), in.FileKey(); {
	case name != "":
		i := slices.IndexFunc(inst.PortEnv, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
		if i < 0 {
			return 0, false
		}
		value = strings.TrimPrefix(inst.PortEnv[i], name+"=")
	case key != "" && inst.FileProperties != nil:
		if value, ok = capp.FileProperty(inst.FileProperties, key); !ok {
			return 0, false
		}
	default:
		return 0, false
	}
	port, err := capp.ParsePort(strings.TrimSpace(value))
	return port, err == nil
}

// Opens says whether the instance opens the inbound endpoint port of
// listener as one of its Extras, as the export knows it: false for a
// port MI resolves at run time whose value the export lacks.
func (i Instance) Opens(listener string) bool {
	return slices.ContainsFunc(i.Extras, func(e ports.Extra) bool { return e.Role == ports.RoleInbound && e.Name == listener })
}

// portEnv is NAME=value of each variable a $SYSTEM:NAME port of runTime
// reads, once, as env sets it (its last entry, which exec gives the
// process). One env lacks is left out, as is one launch (the instance's
// own environment, which every export carries) sets already.
func portEnv(runTime []deployment.RunTimePort, env, launch []string) []string {
	var out []string
	for _, r := range runTime {
		name := capp.Inbound{Placeholder: r.Value}.EnvVar()
		if name == "" || slices.ContainsFunc(append(slices.Clip(launch), out...), func(kv string) bool { return strings.HasPrefix(kv, name+"=") }) {
			continue
		}
		for _, kv := range slices.Backward(env) {
			if strings.HasPrefix(kv, name+"=") {
				out = append(out, kv)
				break
			}
		}
	}
	return out
}

// captured is env without the node identity, which mictl sets and no
// one captures, sorted: the variables a `mictl up` took from its shell.
func captured(env []string) []string {
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, deployment.NodeIDEnv+"=")
	})
	slices.Sort(out)
	return out
}

// EnvDiffNote is one distinct difference between the environment an
// export carries and another: the instances it concerns, each variable
// that differs (V says with which), and the note stderr gives of it
// (-o json keeps all three).
type EnvDiffNote[V EnvVariable | LastRunVariable] struct {
	Instances []string `json:"instances"`
	Variables []V      `json:"variables"`
	Message   string   `json:"message"`
}

// EnvNote is a difference from the environment this mictl captured.
type EnvNote = EnvDiffNote[EnvVariable]

// EnvVariable is a variable whose value in the environment the export
// describes (Exported) differs from this shell's (ThisShell); nil where
// it is unset. The value of a -D property named for a secret is
// hiddenValue in both. Carried says whether the export's files carry the
// variable at all (Carriage): Compose and Kubernetes carry no JAVA_HOME.
type EnvVariable struct {
	Variable  string  `json:"variable"`
	Exported  *string `json:"exported"`
	ThisShell *string `json:"this_shell"`
	Carried   bool    `json:"carried"`
}

// EnvNotes say, for the instances whose recorded environment the export
// carries where this mictl captured another, which settings win and how
// to change them, and which of them c, the export's carriage, leaves out
// either way, and why: one note per distinct difference, naming its
// instances (none: empty, not nil, as -o json lists it).
func (in *Input) EnvNotes(c Carriage) []EnvNote {
	notes := []EnvNote{}
	var fresh []string
	for _, inst := range in.Instances {
		if !inst.Recorded {
			fresh = append(fresh, inst.Name)
		}
	}
	for _, g := range in.envGroups(func(inst Instance) []string { return inst.Here }, "this shell", c) {
		n := EnvNote{Instances: g.instances, Variables: g.vars}
		n.Message = fmt.Sprintf("the export carries the %s %s %s started with (recorded by mictl up), ", c.What, words.And(n.Instances), words.WasOrWere(len(n.Instances)))
		if g.carried == "" {
			n.Message += "the same as this shell's, and neither theirs nor this shell's " + g.leftOut
			notes = append(notes, n)
			continue
		}
		n.Message += "not this shell's: " + g.carried
		if g.leftOut != "" {
			n.Message += "; it carries neither theirs nor this shell's " + g.leftOut
		}
		n.Message += "; to export other settings, start the instances with them (mictl down, then mictl up in a shell that sets them) and export again"
		if len(fresh) > 0 {
			n.Message += fmt.Sprintf(" (%s, not running or with no environment recorded of a run, %s this shell's)", words.And(fresh), words.Verb(len(fresh), "get"))
		}
		notes = append(notes, n)
	}
	return notes
}

// LastRunNote is a difference between the environment an export gives
// instances that no longer run (this shell's) and the one of their last
// run, which their records keep.
type LastRunNote = EnvDiffNote[LastRunVariable]

// LastRunVariable is a variable whose value in the environment the
// export gives (Exported, this shell's) differs from the one of the last
// run (LastRun); nil where it is unset, a secret's value hidden and
// Carried as in EnvVariable.
type LastRunVariable struct {
	Variable string  `json:"variable"`
	Exported *string `json:"exported"`
	LastRun  *string `json:"last_run"`
	Carried  bool    `json:"carried"`
}

// LastRunNotes say, for the instances that no longer run, which settings
// of their last run the export does not carry, and how to carry them,
// and which c, the export's carriage, leaves out either way, and why:
// one note per distinct difference (none: empty, not nil).
func (in *Input) LastRunNotes(c Carriage) []LastRunNote {
	notes := []LastRunNote{}
	for _, g := range in.envGroups(func(inst Instance) []string { return inst.LastRun }, "last run", c) {
		n := LastRunNote{Instances: g.instances}
		for _, v := range g.vars {
			n.Variables = append(n.Variables, LastRunVariable{Variable: v.Variable, Exported: v.Exported, LastRun: v.ThisShell, Carried: v.Carried})
		}
		count := len(n.Instances)
		n.Message = fmt.Sprintf("%s %s not running: the export gives %s this shell's %s, as the next mictl up would, ",
			words.And(n.Instances), words.IsOrAre(count), words.ItOrThem(count), c.What)
		lastRun := words.ItsOrTheir(count) + " last run's (recorded by mictl up)"
		if g.carried == "" {
			n.Message += "the same as " + lastRun + ", and neither this shell's nor the last run's " + g.leftOut
			notes = append(notes, n)
			continue
		}
		n.Message += "not " + lastRun + ": " + g.carried
		if g.leftOut != "" {
			n.Message += "; it carries neither this shell's nor the last run's " + g.leftOut
		}
		n.Message += "; to export them, set them in this shell and export again"
		notes = append(notes, n)
	}
	return notes
}

// envGroup is the instances whose carried environment differs alike from
// another, each variable that differs (the other's value as ThisShell),
// and the texts naming them: those the export carries, and those it
// leaves out with why.
type envGroup struct {
	instances []string
	vars      []EnvVariable
	carried   string
	leftOut   string
}

// envGroups compares each instance's carried environment with other's
// (nil: nothing to say), which label names in the texts, telling apart
// the variables c carries, and groups the instances whose differences
// read the same, in plan order.
func (in *Input) envGroups(other func(Instance) []string, label string, c Carriage) []envGroup {
	var groups []envGroup
	for _, inst := range in.Instances {
		env := other(inst)
		if env == nil {
			continue
		}
		vars := envDiff(captured(inst.Launch.Env), env)
		var carried, leftOut []EnvVariable
		var names []string
		for i := range vars {
			vars[i].Carried = c.Carries(vars[i].Variable)
			if vars[i].Carried {
				carried = append(carried, vars[i])
			} else {
				leftOut, names = append(leftOut, vars[i]), append(names, vars[i].Variable)
			}
		}
		g := envGroup{vars: vars, carried: envDiffText(carried, label)}
		if len(leftOut) > 0 {
			g.leftOut = envDiffText(leftOut, label) + ", since " + c.Why(names)
		}
		i := slices.IndexFunc(groups, func(o envGroup) bool { return o.carried == g.carried && o.leftOut == g.leftOut })
		if i < 0 {
			i = len(groups)
			groups = append(groups, g)
		}
		groups[i].instances = append(groups[i].instances, inst.Name)
	}
	return groups
}

// envDiff is each variable that differs between carried and here, by
// name.
func envDiff(carried, here []string) []EnvVariable {
	values := func(env []string) map[string]string {
		m := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	c, h := values(carried), values(here)
	var keys []string
	for k := range c {
		keys = append(keys, k)
	}
	for k := range h {
		if _, ok := c[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	value := func(m map[string]string, k string) *string {
		if v, ok := m[k]; ok {
			return &v
		}
		return nil
	}
	shown := func(v *string) *string {
		if v == nil {
			return nil
		}
		h := hideSecrets(*v)
		return &h
	}
	var out []EnvVariable
	for _, k := range keys {
		cv, hv := value(c, k), value(h, k)
		if cv != nil && hv != nil && *cv == *hv {
			continue
		}
		// Told apart by their values, shown without their secrets.
		out = append(out, EnvVariable{Variable: k, Exported: shown(cv), ThisShell: shown(hv)})
	}
	return out
}

// envDiffText names each of vars with its value in each ("unset" when it
// has none), as the note says it, label naming the other (ThisShell).
func envDiffText(vars []EnvVariable, label string) string {
	show := func(v *string) string {
		switch {
		case v == nil:
			return "unset"
		case *v == "" || strings.ContainsAny(*v, " \t\"'"):
			return strconv.Quote(*v)
		}
		return *v
	}
	var parts []string
	for _, v := range vars {
		switch {
		case v.Exported == nil:
			parts = append(parts, fmt.Sprintf("%s unset (%s: %s)", v.Variable, label, show(v.ThisShell)))
		case v.ThisShell != nil && *v.ThisShell == *v.Exported:
			// They differ where hideSecrets hid them.
			parts = append(parts, fmt.Sprintf("%s=%s (%s: the same but for a hidden value)", v.Variable, show(v.Exported), label))
		default:
			parts = append(parts, fmt.Sprintf("%s=%s (%s: %s)", v.Variable, show(v.Exported), label, show(v.ThisShell)))
		}
	}
	return strings.Join(parts, ", ")
}

// podTarget is t rendering as for a host of its own: the offset always
// written into the file ([server] offset), whatever offset_method says,
// since a pod gets no -DportOffset.
func podTarget(t *reconcile.Target) *reconcile.Target {
	cfg := *t.Config
	cfg.OffsetMethod = config.OffsetMethodTOML
	pt := *t
	pt.Config = &cfg
	return &pt
}

// readCApp reads a declared CApp once, however many instances declare it.
func readCApp(path string, cache map[string]CApp) (CApp, error) {
	if c, ok := cache[path]; ok {
		return c, nil
	}
	if !strings.HasSuffix(path, ".car") {
		return CApp{}, fmt.Errorf("CApp %s: Micro Integrator deploys only .car files", path)
	}
	info, err := os.Stat(path)
	if err != nil {
		return CApp{}, fmt.Errorf("CApp %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return CApp{}, fmt.Errorf("CApp %s is not a regular file", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return CApp{}, fmt.Errorf("CApp %s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	c := CApp{Path: path, File: filepath.Base(path), Data: data, SHA256: hex.EncodeToString(sum[:])}
	cache[path] = c
	return c, nil
}

// readFileProperties reads the conf/file.properties of the MI home, else
// of the distribution dist it is cloned from; nil when neither has one.
func readFileProperties(home, dist string) ([]byte, error) {
	for _, dir := range []string{home, dist} {
		path := filepath.Join(dir, filepath.FromSlash(capp.FilePropertiesFile))
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			return data, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, &config.Error{Where: path, Msg: fmt.Sprintf("cannot read the file MI resolves $FILE: placeholders from: %v", fsutil.Cause(err))}
		}
	}
	return nil, nil
}

// readShippedInbounds reads the inbound endpoints the distribution at
// dist keeps as synapse files (home.ShippedInboundEndpoints), and says
// where it keeps them.
func readShippedInbounds(dist string) (dir string, files []SynapseFile, err error) {
	dir = home.InboundEndpointsDir(dist)
	paths, err := home.ShippedInboundEndpoints(dist)
	if err != nil {
		return dir, nil, err
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return dir, nil, &config.Error{Where: path, Msg: fmt.Sprintf("cannot read this inbound endpoint, which every instance deploys: %v", fsutil.Cause(err))}
		}
		sum := sha256.Sum256(data)
		files = append(files, SynapseFile{Path: path, File: filepath.Base(path), Data: data, SHA256: hex.EncodeToString(sum[:])})
	}
	return dir, files, nil
}

// Header is the comment every generated file starts with: where it came
// from and that it is made again, not edited.
func (in *Input) Header(command string) []string {
	from := "the built-in defaults (no mictl.toml)"
	if in.ConfigFile != "" {
		from = in.ConfigFile
	}
	return []string{
		Generated(command) + " from " + from + ".",
		"Do not edit: change mictl.toml and export again.",
	}
}

// Generated is how every generated file's first line starts.
func Generated(command string) string { return "Generated by `mictl " + command + "`" }
