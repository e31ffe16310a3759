// Package systemd exports a planned configuration as systemd units that
// run each instance's prepared home on this host (or a host laid out like
// it) exactly as mictl launches it: a template mictl-mi@.service holding
// the policy, a drop-in per instance holding what mictl planned for it
// (its environment, its -DportOffset), and mictl-mi.target grouping them.
//
// A template with drop-ins rather than one unit per instance: the restart
// and stop policy is written once, `systemctl status 'mictl-mi@*'` lists
// every instance, and adding an instance is one small drop-in.
//
// It improves on WSO2's own unit (docs/mi-facts.md): the start script runs in the
// foreground as the main process (Type=simple, no PIDFile race), stop
// signals the whole control group and waits longer than MI's graceful
// drain of up to 180 s.
package systemd

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/reconcile"
)

// Kind names this export in markers and messages.
const Kind = "systemd"

// Unit names.
const (
	Template = "mictl-mi@.service"
	Target   = "mictl-mi.target"
)

// Instance is the unit name of an instance.
func Instance(name string) string { return "mictl-mi@" + name + ".service" }

// DropIn is where an instance's drop-in goes, relative to the unit
// directory.
func DropIn(name string) string { return Instance(name) + ".d/10-mictl.conf" }

// Options are the export's settings beyond the configuration.
type Options struct {
	// User writes user units (systemctl --user): no User=/Group=, wanted
	// by default.target.
	User bool
	// RunAs and Group run system units (the homes' owner, usually the
	// user who exports).
	RunAs, Group string
}

// The stop and restart policy, mirroring mictl's own supervisor.
const (
	// stopTimeout exceeds MI's graceful drain of up to 180 s (docs/mi-facts.md);
	// systemd's default of 90 s would SIGKILL MI mid-drain. It is `mictl
	// down`'s default timeout.
	stopTimeout = "200s"
	restartSec  = "5s"
	// Five starts in ten minutes and systemd gives up, as mictl's
	// --max-restarts 5 does: a start script that ends at once (MI's exits
	// 0 on an unsupported JDK) must not loop forever.
	startLimitInterval = "10min"
	startLimitBurst    = 5
)

// Carriage is what the units carry of the environment `mictl up`
// captures: all of it, as they run the homes on this host as mictl does.
var Carriage = export.EveryCaptured

// RunTimePorts says what the export does with an inbound endpoint port
// MI resolves only at run time, for a note naming it: nothing more than
// mictl up does, since the units run the same homes on this host.
const RunTimePorts = ""

// Unhealthy says what becomes of a unit whose MI answers /healthz with
// 500 (a faulty CApp), for a warning naming the CApp: nothing asks it.
const Unhealthy = "systemd, which never asks /healthz, reports the unit active all the same"

// Restarts says how the units restart MI, for a note where the instances
// run with a restart policy of their own.
func Restarts() string {
	return fmt.Sprintf("systemd restarts a server whenever it ends (Restart=always, after %s) and gives up after %d starts in %s",
		restartSec, startLimitBurst, startLimitInterval)
}

// Export makes the unit directory's files for in.
func Export(in *export.Input, opts Options) ([]export.File, error) {
	if !opts.User && (opts.RunAs == "" || opts.Group == "") {
		return nil, fmt.Errorf("system units need a user and group to run as (or user units)")
	}
	if hasControl(in.InstancesDir) {
		return nil, &config.Error{Where: "instances_dir", Msg: fmt.Sprintf("%q cannot stand in a systemd unit: it holds a control character", in.InstancesDir)}
	}
	header := in.Header("export systemd")
	files := []export.File{
		{Path: Template, What: "unit template", Data: template(in, header, opts), Mode: 0o644},
		{Path: Target, What: "target of every instance", Data: target(in, header, opts), Mode: 0o644},
	}
	for _, inst := range in.Instances {
		data, err := dropIn(inst, header)
		if err != nil {
			return nil, err
		}
		mode := os.FileMode(0o644)
		if slices.ContainsFunc(inst.LaunchEnv(), export.HoldsSecret) {
			// systemd reads it as root (or as the user, for user units):
			// no one else needs its secrets.
			mode = 0o600
		}
		files = append(files, export.File{Path: DropIn(inst.Name), What: "drop-in of " + inst.Name, Data: data, Mode: mode})
	}
	return files, nil
}

func comments(b *strings.Builder, lines ...string) {
	for _, l := range lines {
		if l == "" {
			b.WriteString("#\n")
			continue
		}
		b.WriteString("# " + l + "\n")
	}
}

func unitDir(opts Options) (dir, wantedBy, systemctl string) {
	if opts.User {
		return "~/.config/systemd/user", "default.target", "systemctl --user"
	}
	return "/etc/systemd/system", "multi-user.target", "systemctl"
}

func template(in *export.Input, header []string, opts Options) []byte {
	dir, _, systemctl := unitDir(opts)
	// The instance's home: instances_dir/<name>, <name> being the unit's
	// instance (%i, as it is: %I would turn '-' into '/').
	instanceHome := withInstance(in.InstancesDir, "", false)
	script := withInstance(in.InstancesDir, home.StartScript, true)
	var b strings.Builder
	comments(&b, header...)
	comments(&b,
		"",
		"Runs one Micro Integrator instance from its home "+in.InstancesDir+"/<name>,",
		"as mictl runs it. The homes must exist: run `mictl generate` with the same",
		"mictl.toml first, and `mictl down` so that mictl's own supervisor does not",
		"run the same homes. Install and start:",
		"  cp -r mictl-mi* "+dir+"/ && "+systemctl+" daemon-reload",
		"  "+systemctl+" enable --now "+Target,
		"Each instance's environment and arguments (-DportOffset with offset_method",
		"\"flag\", -DenablePrometheusApi=true with metrics = true) are in its drop-in,",
		Instance("<name>")+".d/10-mictl.conf.",
	)
	fmt.Fprintf(&b, `
[Unit]
Description=WSO2 Micro Integrator %%i (mictl)
After=network-online.target
Wants=network-online.target
PartOf=%s
AssertPathExists=%s
StartLimitIntervalSec=%s
StartLimitBurst=%d

[Service]
# The start script in the foreground is the main process: no PIDFile to
# race (WSO2's unit forks with "start" and reads wso2carbon.pid).
Type=simple
`, Target, withInstance(in.InstancesDir, home.StartScript, false), startLimitInterval, startLimitBurst)
	if !opts.User {
		fmt.Fprintf(&b, "User=%s\nGroup=%s\n", escapeValue(opts.RunAs), escapeValue(opts.Group))
	}
	fmt.Fprintf(&b, `WorkingDirectory=%s
ExecStart=/bin/sh %s
# SIGTERM to every process of the unit at once: the script, MI's JVM
# (which then shuts down gracefully) and the diagnostics JVM. Signalling
# the script alone would leave both JVMs running.
KillMode=control-group
KillSignal=SIGTERM
TimeoutStopSec=%s
# Always, not on-failure: MI's start script exits 0 even when the JVM
# crashed, so on-failure would never restart a crashed server.
# systemctl stop is never undone by it; StartLimitBurst bounds the loop.
Restart=always
RestartSec=%s
NoNewPrivileges=yes

[Install]
WantedBy=%s
`, instanceHome, script, stopTimeout, restartSec, Target)
	return []byte(b.String())
}

func target(in *export.Input, header []string, opts Options) []byte {
	_, wantedBy, systemctl := unitDir(opts)
	var b strings.Builder
	comments(&b, header...)
	comments(&b, "", "Every instance of the configuration: "+systemctl+" start|stop "+Target+".")
	units := make([]string, len(in.Instances))
	for i, inst := range in.Instances {
		units[i] = Instance(inst.Name)
	}
	fmt.Fprintf(&b, `
[Unit]
Description=WSO2 Micro Integrator instances (mictl)
Wants=%s

[Install]
WantedBy=%s
`, strings.Join(units, " "), wantedBy)
	return []byte(b.String())
}

// dropIn is what mictl planned for one instance: the environment and the
// arguments the supervisor launches it with (supervisor.LaunchEnv,
// state.Instance.Args), so the unit runs it exactly as `mictl up` would.
func dropIn(inst export.Instance, header []string) ([]byte, error) {
	var b strings.Builder
	comments(&b, header...)
	// Its ports as `mictl ports table` shows them: the four, then the
	// extras (its CApps' inbound endpoints).
	p := inst.Ports()
	var parts []string
	for _, spec := range ports.Catalogue {
		parts = append(parts, fmt.Sprintf("%s %d", spec.Name, p[spec.Role]))
	}
	for k, e := range inst.Extras {
		parts = append(parts, fmt.Sprintf("%s %d", e.Label(), inst.ExtraPorts()[k]))
	}
	comments(&b, "", fmt.Sprintf("%s: offset %d; %s.", inst.Name, inst.Offset, strings.Join(parts, ", ")))
	b.WriteString("\n[Service]\n")
	for _, kv := range unitEnv(inst) {
		if hasControl(kv) {
			return nil, &config.Error{Where: "instance " + inst.Name, Msg: fmt.Sprintf("environment variable %.40q cannot stand in a systemd unit: it holds a control character", kv)}
		}
		b.WriteString("Environment=" + quote(kv, false) + "\n")
	}
	if len(inst.Launch.Args) > 0 {
		words := []string{"/bin/sh", quote(inst.Launch.Home+"/"+home.StartScript, true)}
		for _, a := range inst.Launch.Args {
			if hasControl(a) {
				return nil, &config.Error{Where: "instance " + inst.Name, Msg: fmt.Sprintf("argument %.40q cannot stand in a systemd unit: it holds a control character", a)}
			}
			words = append(words, quote(a, true))
		}
		comments(&b, "The start script's arguments, as mictl launches it:")
		for _, a := range inst.Launch.Args {
			comments(&b, "  "+argNote(a))
		}
		b.WriteString("ExecStart=\nExecStart=" + strings.Join(words, " ") + "\n")
	}
	return []byte(b.String()), nil
}

// unitEnv is inst's launch environment, and the variables its inbound
// endpoints' ports come from (export.Instance.PortEnv), in an order of its
// own, whatever order the shell that captured it had, so that the same
// settings make the same drop-in: the variables naming things on this
// host (JAVA_HOME, CARBON_HOME, the simulator's, the ports) by name, then
// the JVM settings in the order the JVM takes them
// (export.Instance.JVMEnv).
func unitEnv(inst export.Instance) []string {
	env := append(slices.DeleteFunc(inst.LaunchEnv(), ports.SetsJavaOpts), inst.PortEnv...)
	slices.SortStableFunc(env, func(a, b string) int {
		an, _, _ := strings.Cut(a, "=")
		bn, _, _ := strings.Cut(b, "=")
		return strings.Compare(an, bn)
	})
	return append(env, inst.JVMEnv()...)
}

// argNote says what a launch argument (state.Instance.Args) is for.
func argNote(arg string) string {
	switch {
	case strings.HasPrefix(arg, ports.OffsetFlag):
		return arg + `: its offset (offset_method "flag"), which replaces the one in deployment.toml.`
	case arg == reconcile.MetricsFlag:
		return arg + ": with the MetricHandler in deployment.toml, MI's Prometheus metrics at /metric-service/metrics (metrics = true)."
	}
	return arg
}

// escapeValue escapes systemd's specifiers in a plain setting's value.
func escapeValue(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// hasControl reports a control character, which no unit line can hold.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// withInstance is the path dir/%i/rest (rest may be empty) for a unit
// template: dir's specifiers escaped, %i left to systemd, and quoted as a
// command's word when command is set. Paths are otherwise taken as they
// stand (WorkingDirectory= and AssertPathExists= do not unquote).
func withInstance(dir, rest string, command bool) string {
	const mark = "\x01" // hasControl keeps it out of dir
	p := dir + "/" + mark
	if rest != "" {
		p += "/" + rest
	}
	if command {
		p = quote(p, true)
	} else {
		p = escapeValue(p)
	}
	return strings.Replace(p, mark, "%i", 1)
}

// quote makes s one word of an Environment= or ExecStart= line: specifiers
// (and, in a command line, variable references) escaped, and double
// quotes with C escapes around anything holding a space, quote or
// backslash.
func quote(s string, command bool) string {
	s = escapeValue(s)
	if command {
		s = strings.ReplaceAll(s, "$", "$$")
	}
	if !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
