package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/export/compose"
	"github.com/mictl/mictl/pkg/export/kubernetes"
	"github.com/mictl/mictl/pkg/export/systemd"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/shellword"
	"github.com/mictl/mictl/pkg/words"
)

// newCmdExport is `mictl export`: the configuration carried to the engines
// it will run on beyond this host.
func newCmdExport(streams *IOStreams, g *globalOptions) *cobra.Command {
	cmd := asGroup(&cobra.Command{
		Use:   "export",
		Short: "Write the configuration for Kubernetes, systemd, Compose or Prometheus",
		Long: `Carry the instances of mictl.toml to another engine: Kubernetes (a
kustomization directory), systemd (units running the homes mictl prepares)
or Compose (a service per instance). Each export plans the configuration
exactly as 'mictl up' does and renders every deployment.toml with the same
code; nothing is written until every file of the export is made and every
input checked, and then the files appear at once (a new directory renamed
into place). The files of an earlier export there that this one does not
write (an instance gone since) go with it, named on stderr (and under
"removed" with -o json): what was installed or applied from them stays
until you remove it. systemd and Compose run every instance on one host: a plan whose
instances share ports is refused there (exit 1), as 'mictl up' refuses it;
pods need no offsets, so Kubernetes takes it. A CApp MI deploys as faulty
(an artifact's own file it cannot deploy, as 'mictl deploy' warns) is
exported all the same and named on stderr with what its engine does of
MI's /healthz 500 (and under "faulty_capps" with -o json): Kubernetes
never calls the pods ready, Docker marks the container unhealthy, systemd
notices nothing. An inbound endpoint port MI resolves only at run time
($SYSTEM:, $FILE:) is named on stderr too (and under "runtime_ports", as
check-conflicts lists it), unless the export carries its value and
publishes it: each export carries the variable a $SYSTEM:NAME port
reads, NAME, as the instance's server has it under mictl (a running
server's own, else the daemon's, else this shell's), without which MI
fails the endpoint, and Compose and Kubernetes the conf/file.properties a
$FILE:key port reads; with the value, Compose publishes the port and
Kubernetes exposes it as one written in the CApp, with the same checks.
Every other note
on stderr is under a key of its own with -o json too, each with its
"message": "environment", "last_run_environment", "up_flags",
"restart_policy", "shipped_capps",
"shipped_inbound_endpoints", "server_side_apply" and, for systemd,
"unprepared_homes" and "java_home_unset" (null or empty when there is
nothing to say; each of these three exports has every key; 'mictl export
prometheus -o json' has its own, which its help lists).

JVM settings are not in mictl.toml: they are the environment (JAVA_HOME,
JAVA_OPTS, JVM_MEM_OPTS, JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS) 'mictl up'
captures and each instance's record keeps, across restarts and reloads.
An export carries the recorded
environment of the instances that run, and this shell's to those that do
not (never started, or stopped: the next 'mictl up' starts them afresh),
as 'mictl up' would capture it; where this shell's differs from
what an instance runs with, or from what one that no longer runs had on
its last run (stopped by 'mictl down' once an earlier export's units or
containers took over), stderr says so. systemd carries all of it; Compose
and Kubernetes carry the JVM settings alone, and their notes name apart
the variables that differ which they carry neither way (a container has
its own JAVA_HOME, the image's). To export other settings, start
the instances with them ('mictl down', then 'mictl up' in a shell that sets
them) and export again.

A JVM setting whose -D property is named for a secret is kept where only
its owner reads it: the systemd drop-in and the Compose file holding it
are written 0600, and Kubernetes pods take it from a Secret of its own,
<deployment>-jvm-settings (its file 0600), not from the Deployment. A
property is named for a secret when, whatever the case, a segment of its
name (split on '.', '_' and '-') holds one of
` + export.SecretWordsText + `,
or two adjacent segments together are one, or a segment is "pass", or the
last is "key": -Djavax.net.ssl.keyStorePassword, -Ddb.pwd, -Dapi.key,
-Ddb.pass, -Dencryption.key. -Dkey.store.type is no secret. Where stderr
(and -o json) shows a JVM setting, such a property's value reads <hidden>.`,
		Example: `  mictl export kubernetes --out deploy/k8s --namespace integration
  mictl export systemd --out deploy/systemd
  mictl export compose --out deploy/compose.yaml`,
	})
	cmd.AddCommand(
		newCmdExportKubernetes(streams, g),
		newCmdExportSystemd(streams, g),
		newCmdExportCompose(streams, g),
		newCmdExportPrometheus(streams, g),
	)
	return cmd
}

// exportOptions are the flags every export has.
type exportOptions struct {
	plan   planOptions
	output string
	out    string
	force  bool
}

func addExportFlags(cmd *cobra.Command, o *exportOptions, defaultOut, what string) {
	// Every export describes servers launched as `mictl up` launches
	// them, with the environment it captures: what those that have not
	// run get (those that have keep their records', exportInput).
	o.plan.captureEnv = true
	cmd.Flags().StringVar(&o.out, "out", defaultOut, what)
	cmd.Flags().BoolVar(&o.force, "force", false, "replace --out even when it holds files no earlier export of this kind wrote")
}

// engine is what the notes of an export say of the engine it is for.
type engine struct {
	// restarts says how it restarts a server; runTime what the export
	// does without an inbound endpoint port MI resolves only at run time
	// (the four ports and those planned are all it exposes); unhealthy
	// what it does of MI's /healthz 500.
	restarts, runTime, unhealthy string
	// carriage is what the export carries of the captured environment.
	carriage export.Carriage
	// publishes says the export publishes (Compose) or exposes
	// (Kubernetes) every port it knows: a run-time port whose value it
	// carries (export.Instance.Opens) is none of runTime's.
	publishes bool
}

// exportInput builds the exporters' input from the plan: the instances
// that run keep the environment their records hold (see
// export.FromTarget), and stderr says where that differs from this
// shell's in what e carries, and where what runs was planned or is
// supervised otherwise, and which inbound endpoint ports MI resolves
// only at run time (but those whose value the export carries, where e
// publishes them). What it says are findings -o json keeps as well: a
// script reading only stdout must not export pods that never become
// ready, nor settings other than those that run, unwarned.
func exportInput(streams *IOStreams, p *planned, e engine) (*export.Input, exportFindings, error) {
	in, err := export.FromTarget(p.Target, export.Options{
		CApps: func(name string) []string {
			var paths []string
			for _, c := range p.Config.CAppsOf(name) {
				paths = append(paths, c.Path)
			}
			return paths
		},
		Current:   p.state,
		ServerEnv: serverEnv(p),
	})
	if err != nil {
		return nil, exportFindings{}, err
	}
	runTime := runTimePorts(p.Target)
	if e.publishes {
		runTime = slices.DeleteFunc(runTime, func(r instanceRunTimePort) bool {
			i := slices.IndexFunc(in.Instances, func(inst export.Instance) bool { return inst.Name == r.Instance })
			return i >= 0 && in.Instances[i].Opens(r.Listener)
		})
	}
	found := exportFindings{RunTime: runTime, Environment: in.EnvNotes(e.carriage), LastRunEnvironment: in.LastRunNotes(e.carriage), UpFlags: []upFlagNote{}}
	for _, n := range found.Environment {
		fmt.Fprintf(streams.ErrOut, "note: %s\n", n.Message)
	}
	for _, n := range found.LastRunEnvironment {
		fmt.Fprintf(streams.ErrOut, "note: %s\n", n.Message)
	}
	for _, n := range runTimePortNotes(runTime, e.runTime) {
		fmt.Fprintf(streams.ErrOut, "note: %s\n", n)
	}
	if reconcile.AnyActive(p.state) {
		// What runs was planned with the last up's flags over the file:
		// an export of the file alone describes other instances.
		for _, n := range daemon.NotAsRunning(p.Config, p.Config.File, p.state.UpArgs) {
			found.UpFlags = append(found.UpFlags, upFlagNote{Flag: n.Flag, Value: n.Value, exportNote: noted(streams, n.Message)})
		}
		if asked := ownRestartPolicy(p); asked != "" {
			found.RestartPolicy = &restartPolicyNote{Flags: asked,
				exportNote: noted(streams, fmt.Sprintf("the instances run with %s (their daemon's), a restart policy the export does not carry: %s", asked, e.restarts))}
		}
	}
	found.FaultyCApps = faultyCApps(in, e.unhealthy)
	for _, f := range found.FaultyCApps {
		fmt.Fprintf(streams.ErrOut, "warning: %s\n", f.Message)
	}
	return in, found, nil
}

// serverEnv is the environment each planned instance's MI resolves a
// $SYSTEM: port from under mictl (placeholderEnv, as deploy judges it):
// its running server's, else the one the daemon (the live one, else one
// this shell starts) would start it with.
func serverEnv(p *planned) func(string) []string {
	names := make([]string, len(p.Target.Plan.Instances))
	for i, inst := range p.Target.Plan.Instances {
		names[i] = inst.Name
	}
	e := currentPlaceholderEnv(p.Config, p.state, names)
	return func(name string) []string {
		t := e.targets[name]
		if t.env != nil {
			return t.env
		}
		return append(slices.Clip(e.launcher), t.launch...)
	}
}

// exportFindings are what an export warns or notes of its input, which
// -o json keeps beside the files: every key whatever the export's kind,
// a list empty and a single note null when there is nothing to say, the
// names check-conflicts and inspect give them where they have one.
type exportFindings struct {
	// RunTime are the inbound endpoint ports MI resolves only at run
	// time, which the export cannot expose (check-conflicts' runtime_ports).
	RunTime []instanceRunTimePort `json:"runtime_ports"`
	// FaultyCApps are the CApps MI deploys as faulty.
	FaultyCApps []faultyCApp `json:"faulty_capps"`
	// Environment says where the environment carried (the instances'
	// records) differs from the one this shell gives.
	Environment []export.EnvNote `json:"environment"`
	// LastRunEnvironment says where the environment of the instances
	// that no longer run (this shell's) differs from their last run's.
	LastRunEnvironment []export.LastRunNote `json:"last_run_environment"`
	// UpFlags are the last up's flags that planned what runs otherwise
	// than this export plans it.
	UpFlags []upFlagNote `json:"up_flags"`
	// RestartPolicy is the supervising daemon's own, which the export
	// does not carry.
	RestartPolicy *restartPolicyNote `json:"restart_policy"`
	// ShippedCApps and ShippedInbounds are the CApps and inbound
	// endpoint files the distribution ships, which the export carried or
	// left out (systemd's units run the homes, which have them: null).
	ShippedCApps    *shippedNote `json:"shipped_capps"`
	ShippedInbounds *shippedNote `json:"shipped_inbound_endpoints"`
	// ServerSideApply names the Kubernetes files too large for a
	// client-side kubectl apply.
	ServerSideApply *filesNote `json:"server_side_apply"`
	// UnpreparedHomes names the instances with no home for systemd's
	// units to run yet.
	UnpreparedHomes *instancesNote `json:"unprepared_homes"`
	// JavaHomeUnset says that no unit has a JAVA_HOME, without which
	// MI's start script refuses to start.
	JavaHomeUnset *exportNote `json:"java_home_unset"`
}

// exportNote is a note an export gives on stderr, as it gives it.
type exportNote struct {
	Message string `json:"message"`
}

// noted prints message as a note on stderr, and returns it for -o json.
func noted(streams *IOStreams, message string) exportNote {
	fmt.Fprintf(streams.ErrOut, "note: %s\n", message)
	return exportNote{Message: message}
}

// upFlagNote is a note of a flag of mictl up, the flag ("--offset-method")
// and its value ("flag") apart: a script need not read them out of the
// message to pass them on.
type upFlagNote struct {
	Flag  string `json:"flag"`
	Value string `json:"value"`
	exportNote
}

// restartPolicyNote is ownRestartPolicy's flags and the note of them.
type restartPolicyNote struct {
	Flags string `json:"flags"`
	exportNote
}

// shippedNote is what noteShipped says of the distribution's CApps or
// inbound endpoint files: where it keeps them, the files (absolute),
// and whether the export carried them.
type shippedNote struct {
	From    string   `json:"from"`
	Files   []string `json:"files"`
	Carried bool     `json:"carried"`
	exportNote
}

// filesNote is a note of some of the export's files (absolute).
type filesNote struct {
	Files []string `json:"files"`
	exportNote
}

// instancesNote is a note of some of the instances.
type instancesNote struct {
	Instances []string `json:"instances"`
	exportNote
}

// faultyCApp is a CApp MI deploys as faulty and the instances that run it.
type faultyCApp struct {
	// File is the .car, absolute as every path -o json gives (a shipped
	// one's is under mi_home, which mictl.toml may give relative).
	File      string   `json:"file"`
	ID        string   `json:"id"`
	Instances []string `json:"instances"`
	// Faulty is why, as inspect's "faulty" says it.
	Faulty string `json:"faulty"`
	// Message is the warning stderr gives: also what the export's engine
	// does of MI's /healthz 500.
	Message string `json:"message"`
}

// faultyCApps are the instances' CApps MI deploys as faulty (an
// artifact's own file it cannot deploy, as mictl deploy warns before
// declaring one), each with what the export's engine then does
// (unhealthy): MI's /healthz answers 500 while such a CApp is deployed,
// which the Kubernetes readiness probe and the Compose healthcheck ask.
// Exported without a word, the pods of a rollout never became ready.
func faultyCApps(in *export.Input, unhealthy string) []faultyCApp {
	var order []*capp.Error // one per faulty CApp file, as first met
	faulty, names := map[string]*capp.Error{}, map[string][]string{}
	for _, inst := range in.Instances {
		for _, c := range inst.CApps {
			ce, seen := faulty[c.Path]
			if !seen {
				_, err := capp.ReadFrom(bytes.NewReader(c.Data), int64(len(c.Data)), c.Path)
				if ce = faultyError(err); ce != nil {
					order = append(order, ce)
				}
				faulty[c.Path] = ce
			}
			if ce != nil {
				names[c.Path] = append(names[c.Path], inst.Name)
			}
		}
	}
	out := make([]faultyCApp, len(order))
	for i, ce := range order {
		out[i] = faultyCApp{File: absolute(ce.Path), ID: ce.App.ID(), Instances: names[ce.Path], Faulty: ce.Error(),
			Message: fmt.Sprintf("MI deploys %s as faulty on %s (its artifacts fail to deploy): %s; MI's /healthz answers 500 while it is deployed, so %s",
				ce.App.ID(), strings.Join(names[ce.Path], ", "), ce.Error(), unhealthy)}
	}
	return out
}

// ownRestartPolicy is the restart flags (--restart, --max-restarts,
// --backoff) the daemon supervising the instances was started with where
// they are not mictl's defaults, as "--restart=never ...", or "". The
// state file records them in the daemon's arguments: without a daemon
// (none started, or its record gone) they are nowhere to be read.
func ownRestartPolicy(p *planned) string {
	if p.state.Daemon == nil {
		return ""
	}
	def := daemon.DefaultRunFlags().Args(p.Config)
	var asked []string
	for _, f := range daemon.PolicyFlags {
		if v := daemon.FlagValue(p.state.Daemon.Args, "--"+f); v != "" && v != daemon.FlagValue(def, "--"+f) {
			asked = append(asked, "--"+f+"="+v)
		}
	}
	return strings.Join(asked, " ")
}

// exportReport lists what an export wrote (-o json keeps every key).
type exportReport struct {
	Kind  string        `json:"kind"`
	Out   string        `json:"out"`
	Files []export.File `json:"files"`
	// Next is the command that applies the export.
	Next string `json:"next"`
	// Removed are the files the earlier export in --out wrote and this
	// one does not (export.Dropped), gone with it: what was installed or
	// applied from them stays.
	Removed []string `json:"removed"`
	exportFindings
}

func printExport(streams *IOStreams, o *exportOptions, r exportReport) error {
	if len(r.Removed) > 0 {
		fmt.Fprintf(streams.ErrOut, "note: removed %s, which the earlier export wrote and this one does not: what was installed or applied from %s stays until you remove it\n",
			strings.Join(r.Removed, ", "), words.ItOrThem(len(r.Removed)))
	}
	if o.output == formatJSON {
		// Absolute, as generate's paths are: a script reading them need
		// not run where mictl ran. next stays the command to type here.
		r.Out = absolute(r.Out)
		files := make([]export.File, len(r.Files))
		for i, f := range r.Files {
			files[i] = export.File{Path: absolute(f.Path), What: f.What}
		}
		r.Files = files
		r.Removed = absolutes(r.Removed)
		return writeJSON(streams.Out, r)
	}
	rows := make([][]string, len(r.Files))
	for i, f := range r.Files {
		rows[i] = []string{f.Path, f.What}
	}
	if err := writeTable(streams.Out, formatTable, []string{"FILE", "WHAT"}, rows); err != nil {
		return err
	}
	if r.Kind == compose.Kind { // --out names the Compose file, its mounts are beside it
		fmt.Fprintf(streams.ErrOut, "wrote %s and the %s it mounts; next: %s\n", r.Out, words.Count(len(r.Files)-1, "file"), r.Next)
		return nil
	}
	fmt.Fprintf(streams.ErrOut, "wrote %d files to %s; next: %s\n", len(r.Files), r.Out, r.Next)
	return nil
}

// absolute is path made absolute from the working directory (as it is,
// when that cannot be told).
func absolute(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// writeExportDir checks and writes an export's directory, and reports it.
func writeExportDir(streams *IOStreams, o *exportOptions, kind string, files []export.File, dirMode os.FileMode, next string, found exportFindings) error {
	if err := export.CheckDir(o.out, kind, "--out", o.force); err != nil {
		return err
	}
	dropped := export.Dropped(o.out, kind, files)
	if err := export.WriteDir(o.out, kind, files, dirMode); err != nil {
		return err
	}
	r := exportReport{Kind: kind, Out: o.out, Next: next, Removed: inDir(o.out, dropped), exportFindings: found}
	for _, f := range files {
		r.Files = append(r.Files, export.File{Path: filepath.Join(o.out, filepath.FromSlash(f.Path)), What: f.What})
	}
	return printExport(streams, o, r)
}

// absolutes is each of paths made absolute (empty, not nil, for none:
// -o json lists it).
func absolutes(paths []string) []string {
	out := []string{}
	for _, p := range paths {
		out = append(out, absolute(p))
	}
	return out
}

// inDir is each of paths (relative, '/' separators) under dir.
func inDir(dir string, paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Join(dir, filepath.FromSlash(p)))
	}
	return out
}

type exportKubernetesOptions struct {
	exportOptions
	k8s kubernetes.Options
}

func newCmdExportKubernetes(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &exportKubernetesOptions{}
	cmd := &cobra.Command{
		Use: "kubernetes",
		// As users and kubectl's own docs shorten it.
		Aliases: []string{"kube", "k8s"},
		Short:   "Write a kustomization directory: a Deployment per distinct instance",
		Long: `Write a kustomization directory (apply it with 'kubectl apply -k DIR', or
overlay it) for the planned instances ('mictl export kube' and 'mictl
export k8s' are this command too). Instances whose pods would be
identical (the same rendered deployment.toml, JVM settings and CApps) become
the replicas of one Deployment; an instance with overrides or CApps of its
own gets a Deployment of its own. The Deployment of the generated instances
(those without overrides or CApps of their own) is named after name_prefix
(name_prefix-default when an instance named name_prefix has one of its own),
every other Deployment after its first instance. Pods need no offsets: each
has its own address, so every pod runs at MI's default offset 10 (ports
8290, 8253, 9201, 9164), written explicitly into its deployment.toml.

Each Deployment has, as WSO2's Helm chart: its deployment.toml mounted with
subPath into conf/ (from a Secret, where the chart has a ConfigMap; so is
the conf/file.properties $FILE: placeholders read, where the instance's home
or the distribution has one, which the image's MI would not), a pod
annotation with the sha256 of that configuration (so a change rolls the
pods), a startup probe on the HTTPS pass-through port, liveness GET
/liveness and readiness GET /healthz on the internal HTTP API, RollingUpdate
with maxSurge 1 and maxUnavailable 0, requests 512Mi/500m, a CPU limit of
1000m, and runAsUser 10802. Beyond it: a memory limit that holds the heap
(the -Xmx of JVM_MEM_OPTS or JAVA_OPTS plus 512Mi, at least 1Gi; 1536Mi with
MI's default -Xmx1024m, where the chart's 1Gi leaves nothing beside the
heap), container args -DenablePrometheusApi=true with metrics = true, the node
identity (env nodeId) is the pod's name, a preStop hook runs MI's own
'micro-integrator.sh --stop' (the image's entrypoint, the container's PID 1,
never passes the kubelet's SIGTERM on to MI), the grace period (200 s)
outlasts MI's graceful drain, and each CApp the instances run (those declared, and
those the distribution ships in its own carbonapps/, which MI's image
lacks) is a ConfigMap of its own mounted into
repository/deployment/server/carbonapps (up to 1 MiB each; bake larger ones
into the image and pass --capps-in-image, which leaves them all out). The
inbound endpoints the distribution keeps as synapse files (in
repository/deployment/server/synapse-configs/default/inbound-endpoints/,
which MI's image lacks too) are one ConfigMap, each file mounted into that
directory (left out with --capps-in-image as well). The container and a
Service expose the four ports and the inbound endpoints' ports, as MI
opens them in a pod (an endpoint MI offsets on PORT+10, others on PORT;
named in-PORT; a $FILE: or $SYSTEM: port too where the export carries
its value), and the ports MI opens with no offset when the JVM
settings ask for them: the mediation debugger's 9005 and 9006
(-Desb.debug=true; debug-PORT) and the unit test server's
(-DsynapseTest, on -DsynapseTestPort or 9008; test-PORT). A ConfigMap over about 190 KiB (a large
CApp) is too large for a client-side 'kubectl apply', which copies every
object into a 256 KiB annotation: the export says so, and 'kubectl apply
--server-side -k DIR' applies it. Stderr names the shipped CApps and
inbound endpoint files the export carried (or, with --capps-in-image, left
out) and where they come from.

The deployment.toml holds keystore, truststore and user-store passwords, as
in every MI home: so it is a Secret, not a ConfigMap that whoever may read
ConfigMaps reads; in the pod it is read-only, mode 0440, in MI's group (the
pod's fsGroup); and the Secrets' files are written with mode 0600.`,
		Example: `  mictl export kubernetes
  mictl export k8s --out deploy/k8s --namespace integration --image registry.example.com/mi:4.4.0-capps --carbon-home /home/wso2carbon/wso2mi-4.4.0 --capps-in-image
  kubectl apply -k deploy/kubernetes     # --server-side when a CApp is over ~190 KiB`,
		Args: usageArgs(cobra.NoArgs),
	}
	addExportFlags(cmd, &o.exportOptions, "deploy/kubernetes", "the kustomization directory to write")
	cmd.Flags().StringVar(&o.k8s.Image, "image", export.DefaultImage, "the Micro Integrator image the pods run")
	cmd.PreRunE = namesAnImage(&o.k8s.Image)
	cmd.Flags().StringVar(&o.k8s.Namespace, "namespace", "", "the namespace kustomization.yaml sets (default: kubectl's current one)")
	cmd.Flags().StringVar(&o.k8s.CarbonHome, "carbon-home", "", carbonHomeHelp)
	cmd.Flags().BoolVar(&o.k8s.CAppsInImage, "capps-in-image", false, "leave the CApps out (declared and shipped in the distribution) and the inbound endpoints the distribution keeps as synapse files: the image has them")
	return withPlan(cmd, g, &o.plan, &o.output, []string{formatTable, formatJSON}, func(p *planned) error {
		in, found, err := exportInput(streams, p, engine{kubernetes.Restarts, kubernetes.RunTimePorts, kubernetes.Unhealthy, kubernetes.Carriage, true})
		if err != nil {
			return err
		}
		files, err := kubernetes.Export(in, o.k8s)
		if err != nil {
			return err
		}
		if o.k8s.CAppsInImage {
			noteShipped(streams, &found, in, false, "--capps-in-image: the image has them", "--capps-in-image: the image has them")
		} else {
			noteShipped(streams, &found, in, true, "each a ConfigMap mounted into carbonapps/, as a declared CApp", "one ConfigMap, each file mounted into their directory")
		}
		next := "kubectl apply -k " + shellword.Quote(o.out)
		if large := kubernetes.NeedsServerSideApply(files); len(large) > 0 {
			next = "kubectl apply --server-side -k " + shellword.Quote(o.out)
			found.ServerSideApply = &filesNote{Files: absolutes(inDir(o.out, large)),
				exportNote: noted(streams, strings.Join(large, ", ")+" too large for a client-side kubectl apply (it copies each object into a 256 KiB annotation): apply with --server-side")}
		}
		return writeExportDir(streams, &o.exportOptions, kubernetes.Kind, files, 0o700, next, found)
	})
}

// noteShipped says whether an export carried or left out the CApps the
// distribution ships in its carbonapps/ and the inbound endpoints it
// keeps as synapse files, and how, on stderr and in found: not in
// mictl.toml, yet every instance runs them (its home is a clone of the
// distribution), and MI's image lacks them.
func noteShipped(streams *IOStreams, found *exportFindings, in *export.Input, carried bool, cappsHow, inboundsHow string) {
	done := "carried"
	if !carried {
		done = "left out"
	}
	note := func(what, from string, names, paths []string, how string) *shippedNote {
		if len(names) == 0 {
			return nil
		}
		return &shippedNote{From: absolute(from), Files: absolutes(paths), Carried: carried,
			exportNote: noted(streams, fmt.Sprintf("%s %s: %s (%s)", done, what, strings.Join(names, ", "), how))}
	}
	var capps, cappPaths, inbounds, inboundPaths []string
	for _, c := range in.Shipped {
		capps, cappPaths = append(capps, c.File), append(cappPaths, c.Path)
	}
	for _, f := range in.Inbounds {
		inbounds, inboundPaths = append(inbounds, f.File), append(inboundPaths, f.Path)
	}
	found.ShippedCApps = note("the CApps the distribution ships in "+in.ShippedFrom+", which every instance runs", in.ShippedFrom, capps, cappPaths, cappsHow)
	found.ShippedInbounds = note("the inbound endpoints the distribution keeps as synapse files in "+in.InboundsFrom+", which every instance deploys", in.InboundsFrom, inbounds, inboundPaths, inboundsHow)
}

// carbonHomeHelp is --carbon-home's: its default comes from --image
// (export.CarbonHomeIn).
const carbonHomeHelp = "the MI home inside the image (default: /home/wso2carbon/wso2mi-X.Y.Z for WSO2's wso2mi image tagged X.Y.Z; any other image needs it)"

// namesAnImage refuses an empty --image rather than export the default
// image the user asked not to have.
func namesAnImage(image *string) func(*cobra.Command, []string) error {
	return func(*cobra.Command, []string) error {
		if strings.TrimSpace(*image) == "" {
			return exitcode.Usagef("--image is empty: name the image the instances run, e.g. %s", export.DefaultImage)
		}
		return nil
	}
}

type exportSystemdOptions struct {
	exportOptions
	user bool
}

func newCmdExportSystemd(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &exportSystemdOptions{}
	cmd := &cobra.Command{
		Use:   "systemd",
		Short: "Write systemd units that run each instance as mictl does",
		Long: `Write systemd units for the planned instances: a template mictl-mi@.service
(the policy, written once), a drop-in mictl-mi@<name>.service.d/10-mictl.conf
per instance (what mictl planned for it: CARBON_HOME, JAVA_HOME, JAVA_OPTS
and the rest of its environment, and -DportOffset with offset_method "flag",
exactly as mictl launches it), and mictl-mi.target, which starts and stops
them all.

Better than WSO2's unit: MI's start script runs in the foreground as the main
process (Type=simple, no pid file to race), a stop signals every process of
the unit (KillMode=control-group: the script and both JVMs) and waits 200 s,
longer than MI's graceful drain of up to 180 s, and a crashed server is
restarted (Restart=always, since the script exits 0 even when java crashed;
systemd gives up after 5 starts in 10 minutes).

The units run the instance homes under instances_dir: prepare them first
with 'mictl generate' (same mictl.toml), and stop mictl's own supervisor
('mictl down') so that no home runs twice. System units run as the user who
exports (User=, Group=); --user writes user units instead.

Exit status: 0 when the units are written; 1 when the instances' own
ports clash (nothing is written); 2 on usage or configuration errors; 3
when a file could not be written;
` + exitInterrupted + `.`,
		Example: `  mictl export systemd --out deploy/systemd
  sudo cp -r deploy/systemd/mictl-mi* /etc/systemd/system/ && sudo systemctl daemon-reload
  sudo systemctl start mictl-mi.target
  mictl export systemd --user --out ~/.config/systemd/user/mictl   # then copy up one level`,
		Args: usageArgs(cobra.NoArgs),
	}
	addExportFlags(cmd, &o.exportOptions, "deploy/systemd", "the directory to write the units into")
	cmd.Flags().BoolVar(&o.user, "user", false, "write user units (systemctl --user): no User=, wanted by default.target")
	return withPlan(cmd, g, &o.plan, &o.output, []string{formatTable, formatJSON}, func(p *planned) error {
		return runExportSystemd(streams, o, p)
	})
}

func runExportSystemd(streams *IOStreams, o *exportSystemdOptions, p *planned) error {
	const refused = "refusing to export the systemd units"
	if err := p.refuseSelfClashes(streams, o.output, refused); err != nil {
		return err
	}
	in, found, err := exportInput(streams, p, engine{systemd.Restarts(), systemd.RunTimePorts, systemd.Unhealthy, systemd.Carriage, false})
	if err != nil {
		return err
	}
	// The units run on one host: the ports the export knows beyond the
	// plan's clash there as Compose's published ones do.
	if err := refuseExportedClashes(streams, p, o.output, refused, in); err != nil {
		return err
	}
	opts := systemd.Options{User: o.user}
	if !o.user {
		if opts.RunAs, opts.Group, err = currentUser(); err != nil {
			return err
		}
	}
	files, err := systemd.Export(in, opts)
	if err != nil {
		return err
	}
	warnUnprepared(streams, &found, in)
	systemctl := "sudo systemctl"
	if o.user {
		systemctl = "systemctl --user"
	}
	return writeExportDir(streams, &o.exportOptions, systemd.Kind, files, 0o755,
		"mictl generate, copy the units into place, then "+systemctl+" daemon-reload && "+systemctl+" start "+systemd.Target, found)
}

// currentUser names the user and group system units run as: whoever
// exports, who owns the homes `mictl generate` prepares.
func currentUser() (name, group string, err error) {
	u, err := user.Current()
	if err != nil {
		return "", "", fmt.Errorf("find the user to run the units as: %w", err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return "", "", fmt.Errorf("find the group of user %s: %w", u.Username, err)
	}
	return u.Username, g.Name, nil
}

// warnUnprepared says which homes the units need before they can start,
// and whether they lack the JAVA_HOME MI's start script needs, on stderr
// and in found.
func warnUnprepared(streams *IOStreams, found *exportFindings, in *export.Input) {
	var missing []string
	for _, inst := range in.Instances {
		if _, err := os.Stat(filepath.Join(inst.Launch.Home, home.StartScript)); err != nil {
			missing = append(missing, inst.Name)
		}
	}
	if len(missing) > 0 {
		found.UnpreparedHomes = &instancesNote{Instances: missing,
			exportNote: noted(streams, fmt.Sprintf("no home prepared yet for %s: run mictl generate before starting the units", strings.Join(missing, ", ")))}
	}
	hasJava := func(inst export.Instance) bool {
		return slices.ContainsFunc(inst.Launch.Env, func(kv string) bool { return strings.HasPrefix(kv, "JAVA_HOME=") })
	}
	if !in.Simulator && !slices.ContainsFunc(in.Instances, hasJava) {
		how := "set it and export again"
		if slices.ContainsFunc(in.Instances, func(inst export.Instance) bool { return inst.Recorded }) {
			how = "start the instances with it set (mictl down, then mictl up) and export again"
		}
		n := noted(streams, "JAVA_HOME is not set: MI's start script refuses to start without it; "+how)
		found.JavaHomeUnset = &n
	}
}

type exportComposeOptions struct {
	exportOptions
	compose compose.Options
}

func newCmdExportCompose(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &exportComposeOptions{}
	cmd := &cobra.Command{
		Use:   "compose",
		Short: "Write a Compose file: a service per instance on its planned ports",
		Long: `Write a Compose file with one service per planned instance: MI's image
running the instance with its offset, its ports (its CApps' inbound
endpoints too, and the debugger's and unit test server's, which MI does
not offset, when the JVM settings turn them on) published on this host
as planned, on the host address of
mictl.toml ('mictl ports table' shows them), its rendered deployment.toml,
its conf/file.properties ($FILE: placeholders read it; where the home or the
distribution has one; a $FILE: or $SYSTEM: inbound endpoint port whose
value the export carries is published as the others) and its CApps mounted (those declared, and those the distribution ships in
its own carbonapps/, which MI's image lacks: stderr names those, and where
they come from), and so are the inbound endpoints the distribution keeps as
synapse files (said on stderr alike), a healthcheck on /healthz, restart unless-stopped (MI's
start script exits 0 even when java crashed, so on-failure would not
restart it) and a stop grace period of 200 s, longer than MI's drain. Each
container's PID 1 is a small entrypoint the export writes (entrypoint.sh,
mounted read-only): it runs MI's start script as WSO2's entrypoint does,
and on Docker's SIGTERM runs the script's own --stop, which signals the MI
java; WSO2's entrypoint passes no signal on, so MI would never drain and
every stop would end in SIGKILL.

The mounted files go into a directory beside the Compose file, named after
it (compose.yaml: compose-files/), written atomically first; then the
Compose file itself. Apply it with 'docker compose up -d --remove-orphans':
the service of an instance gone from the configuration is no longer in the
file, and without --remove-orphans its container runs on. The project is
named after name_prefix: keep other Compose projects off that name.

Exit status: 0 when the Compose file is written; 1 when the instances' own
ports clash (nothing is written); 2 on usage or configuration errors, such
as an --image whose MI home cannot be told without --carbon-home; 3 when a
file could not be written;
` + exitInterrupted + `.`,
		Example: `  mictl export compose
  mictl export compose --out deploy/compose.yaml --image wso2/wso2mi:4.4.0
  docker compose -f deploy/compose.yaml up -d --remove-orphans`,
		Args: usageArgs(cobra.NoArgs),
	}
	addExportFlags(cmd, &o.exportOptions, "deploy/compose.yaml", "the Compose file to write")
	cmd.Flags().StringVar(&o.compose.Image, "image", export.DefaultImage, "the Micro Integrator image the services run")
	cmd.PreRunE = namesAnImage(&o.compose.Image)
	cmd.Flags().StringVar(&o.compose.CarbonHome, "carbon-home", "", carbonHomeHelp)
	return withPlan(cmd, g, &o.plan, &o.output, []string{formatTable, formatJSON}, func(p *planned) error {
		return runExportCompose(streams, o, p)
	})
}

func runExportCompose(streams *IOStreams, o *exportComposeOptions, p *planned) error {
	const refused = "refusing to export the Compose file"
	if err := p.refuseSelfClashes(streams, o.output, refused); err != nil {
		return err
	}
	in, found, err := exportInput(streams, p, engine{compose.Restarts, compose.RunTimePorts, compose.Unhealthy, compose.Carriage, true})
	if err != nil {
		return err
	}
	// Every port the services publish, beyond the plan's too: Docker
	// starts no second container on a host port another has.
	if err := refuseExportedClashes(streams, p, o.output, refused, in); err != nil {
		return err
	}
	base := filepath.Base(o.out)
	o.compose.FilesDir = strings.TrimSuffix(base, filepath.Ext(base)) + "-files"
	data, files, err := compose.Export(in, o.compose)
	if err != nil {
		return err
	}
	filesDir := filepath.Join(filepath.Dir(o.out), o.compose.FilesDir)
	noteShipped(streams, &found, in, true, "each mounted into carbonapps/ from "+filepath.Join(filesDir, "capps")+"/, as a declared CApp",
		"each mounted into their directory from "+filepath.Join(filesDir, compose.InboundsDir)+"/")
	if err := checkComposeFile(o.out, o.force); err != nil {
		return err
	}
	if err := export.CheckDir(filesDir, compose.Kind, "--out", o.force); err != nil {
		return err
	}
	dropped := export.Dropped(filesDir, compose.Kind, files)
	// The mounted files first: the Compose file never names one missing.
	if err := export.WriteDir(filesDir, compose.Kind, files, 0o700); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(o.out, data, compose.FileMode(in)); err != nil {
		return err
	}
	// --remove-orphans always: the container of an instance gone since
	// the export Compose last applied runs on otherwise, whichever export
	// removed its files.
	r := exportReport{Kind: compose.Kind, Out: o.out, Next: "docker compose -f " + shellword.Quote(o.out) + " up -d --remove-orphans",
		Files: []export.File{{Path: o.out, What: "Compose file"}}, Removed: inDir(filesDir, dropped), exportFindings: found}
	for _, f := range files {
		r.Files = append(r.Files, export.File{Path: filepath.Join(filesDir, filepath.FromSlash(f.Path)), What: f.What})
	}
	return printExport(streams, &o.exportOptions, r)
}

// refuseExportedClashes refuses an export whose instances clash on a
// port the export knows beyond the plan's (an inbound endpoint's
// $SYSTEM: or $FILE: port whose value it carries, a JVM setting's):
// they share one host, as systemd's units do and Compose's published
// ports, so the second server to bind it would lose it.
func refuseExportedClashes(streams *IOStreams, p *planned, output, refused string, in *export.Input) error {
	return p.refuseClashes(streams, output, refused, check.Run(exportedPlan(in), check.Host{}),
		"mictl check-conflicts does not check them: MI resolves them at run time, from the values the export carries, or the JVM settings the instances run with open them")
}

// exportedPlan is the instances' ports as the export runs them: with the
// extras it knows (export.Instance.Extras), where the plan has its own.
func exportedPlan(in *export.Input) ports.Plan {
	var plan ports.Plan
	for _, inst := range in.Instances {
		plan.Instances = append(plan.Instances, ports.Instance{Name: inst.Name, Offset: inst.Offset, Bases: inst.Bases, Extras: inst.Extras})
	}
	return plan
}

// checkComposeFile refuses to overwrite a file an earlier compose export
// did not write, unless force.
func checkComposeFile(path string, force bool) error {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist) || force:
		return nil
	case errors.Is(err, syscall.ENOTDIR):
		return export.UnderAFile(path, "--out")
	case err != nil:
		return fmt.Errorf("cannot read %s (--out): %w", path, fsutil.Cause(err))
	}
	defer f.Close()
	first, _ := bufio.NewReader(f).ReadBytes('\n')
	if bytes.HasPrefix(first, []byte("# "+export.Generated(compose.Command))) {
		return nil
	}
	return &config.Error{Where: "flag --out", Msg: fmt.Sprintf("%s exists and no earlier `mictl export compose` wrote it; choose another --out, or add --force to replace it", path)}
}
