// Package kubernetes exports a planned configuration as a kustomization
// directory: one Deployment per distinct instance configuration (instances
// that would run identically become its replicas), with a Secret of its
// rendered deployment.toml, a Service, the probes, resources and security
// context of WSO2's own Helm chart (with a memory limit that holds the
// heap and more, memoryLimit), and the CApps the instances run (declared
// ones, and those the distribution ships in its own carbonapps/).
//
// Pods need no offsets (each has its own address): every pod runs at MI's
// default offset, written explicitly into its deployment.toml by the same
// renderer `mictl up` uses (export.Instance.PodTOML).
//
// A Deployment and its Service and deployment.toml are named after
// name_prefix when they run the generated instances (those an [[instance]]
// table gives no overrides or CApps of its own; name_prefix-default when
// another Deployment is already named name_prefix), and after their first
// instance otherwise. No two share a name.
package kubernetes

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
)

// Kind names this export in markers and messages.
const Kind = "kubernetes"

// Options are the export's settings beyond the configuration.
type Options struct {
	// Image runs MI (export.DefaultImage when empty).
	Image string
	// Namespace goes into kustomization.yaml ("": the one kubectl uses).
	Namespace string
	// CarbonHome is MI's home inside Image (export.CarbonHomeIn when
	// empty).
	CarbonHome string
	// CAppsInImage leaves the CApps out, declared and shipped, and the
	// inbound endpoints the distribution keeps as synapse files: the
	// image has them.
	CAppsInImage bool
}

// Restarts says how pods restart MI, for a note where the instances run
// with a restart policy of their own.
const Restarts = "the kubelet restarts MI whenever its container ends (a Deployment's pods always restart), waiting longer after each crash"

// Carriage is what the pods carry of the environment `mictl up`
// captures: the JVM settings; the image has its own Java.
var Carriage = export.JVMSettings

// RunTimePorts says what the export does with an inbound endpoint port
// MI resolves only at run time whose value it does not carry, for a note
// naming it: only the ports the export knows are listed (one whose value
// it carries is, export.Instance.Extras).
const RunTimePorts = "not a container or Service port of its Deployment: add it to both to reach it through the Service"

// Unhealthy says what becomes of a pod whose MI answers /healthz with
// 500 (a faulty CApp), for a warning naming the CApp: the readiness
// probe asks /healthz, and a rolling update waits for the new pod.
const Unhealthy = "its pods fail the readiness probe and never become ready: the Service sends them nothing, and a rollout that brings them never completes"

// What WSO2's Helm chart for MI sets (issue 14, "Facts").
const (
	runAsUser        = 10802 // wso2carbon in WSO2's images
	memOpts          = "-Xms512m -Xmx1024m"
	startupPeriod    = 3
	startupFailures  = 40
	containerName    = "micro-integrator"
	maxConfigMapData = 1 << 20 // the API server's limit on a ConfigMap's data
	// tomlMode is the deployment.toml's mode in the pod: it holds
	// keystore passwords, so read-only, and not for everyone: the kubelet
	// gives a Secret's files the pod's fsGroup (runAsUser), MI's group.
	tomlMode = 0o440
	// gracePeriod exceeds MI's graceful drain of up to 180 s (docs/mi-facts.md);
	// Kubernetes' default of 30 s would kill MI mid-drain.
	gracePeriod = 200
)

// Labels are Kubernetes' recommended app.kubernetes.io labels.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
	labelPartOf    = "app.kubernetes.io/part-of"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelVersion   = "app.kubernetes.io/version"
	appName        = "micro-integrator"
	// checksumAnnotation holds the sha256 of everything a pod reads from
	// its Secret and ConfigMaps: a change rolls the pods (a subPath mount
	// never sees a change by itself).
	checksumAnnotation = "checksum/config"
)

// group is one Deployment: instances whose pods would be identical.
type group struct {
	name    string
	members []export.Instance
	capps   []cappMap
	// extras are the ports its pods open besides the four.
	extras []extraPort
}

// extraPort is a port a group's pods open besides the four (a CApp's
// inbound endpoint), where it listens in a pod.
type extraPort struct {
	name string // the container's and the Service's port name
	port int
}

// inboundMap is the inbound endpoints the distribution keeps as synapse
// files (export.Input.Inbounds) as one ConfigMap, which every pod mounts:
// every instance deploys them.
type inboundMap struct {
	name  string // the ConfigMap's and the volume's name
	files []export.SynapseFile
}

// cappMap is a CApp as a ConfigMap of its own, shared by every group
// that declares it.
type cappMap struct {
	export.CApp
	name string // the ConfigMap's and the volume's name
}

// Export makes the kustomization directory's files for in.
func Export(in *export.Input, opts Options) ([]export.File, error) {
	opts, err := complete(opts)
	if err != nil {
		return nil, err
	}
	groups, err := groupInstances(in, opts)
	if err != nil {
		return nil, err
	}
	header := in.Header("export kubernetes")
	var files []export.File
	add := func(kind, name string, obj any, mode os.FileMode, notes ...string) error {
		data, err := marshal(append(slices.Clip(header), notes...), obj)
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind, name, err)
		}
		files = append(files, export.File{Path: strings.ToLower(kind) + "-" + name + ".yaml", What: kind + " " + name, Data: data, Mode: mode})
		return nil
	}
	inbounds, err := newInboundMap(in, opts)
	if err != nil {
		return nil, err
	}
	if inbounds != nil {
		if err := add("ConfigMap", inbounds.name, inboundConfigMap(in, inbounds), 0o644); err != nil {
			return nil, err
		}
	}
	shared := map[string]bool{}
	for _, g := range groups {
		// The deployment.toml holds keystore, truststore and user-store
		// passwords: a Secret, and 0600 here, as in a home.
		if err := add("Secret", tomlSecretName(g), tomlSecret(in, g, opts), 0o600); err != nil {
			return nil, err
		}
		// So are the JVM settings that hold one (a keystore's password):
		// the pods take them from a Secret, not from the Deployment, which
		// more may read.
		if env := secretJVMEnv(g.members[0]); len(env) > 0 {
			if err := add("Secret", jvmSecretName(g), jvmSecret(in, g, opts, env), 0o600); err != nil {
				return nil, err
			}
		}
		for _, c := range g.capps {
			if shared[c.name] {
				continue
			}
			shared[c.name] = true
			if err := add("ConfigMap", c.name, cappConfigMap(in, c), 0o644); err != nil {
				return nil, err
			}
		}
		d, note := newDeployment(in, g, inbounds, opts)
		if err := add("Deployment", g.name, d, 0o644, note...); err != nil {
			return nil, err
		}
		if err := add("Service", g.name, newService(in, g, opts), 0o644); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(files, func(a, b export.File) int { return strings.Compare(a.Path, b.Path) })
	k := kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Namespace: opts.Namespace}
	for _, f := range files {
		k.Resources = append(k.Resources, f.Path)
	}
	data, err := marshal(header, k)
	if err != nil {
		return nil, err
	}
	return append([]export.File{{Path: "kustomization.yaml", What: "kustomization", Data: data, Mode: 0o644}}, files...), nil
}

// complete fills in o's defaults and checks it.
func complete(o Options) (Options, error) {
	var err error
	if o.Image, o.CarbonHome, err = export.ImageAndHome(o.Image, o.CarbonHome); err != nil {
		return o, err
	}
	if o.Namespace != "" {
		if why := dnsLabel(o.Namespace, false); why != "" {
			return o, &config.Error{Where: "flag --namespace", Msg: fmt.Sprintf("%q is not a Kubernetes namespace: %s", o.Namespace, why)}
		}
	}
	return o, nil
}

// dnsLabel explains why s is not a DNS label (RFC 1123, or RFC 1035 when
// letterFirst, as Service names must be), or returns "".
func dnsLabel(s string, letterFirst bool) string {
	switch {
	case s == "" || len(s) > 63:
		return "it must be 1-63 characters"
	case letterFirst && (s[0] < 'a' || s[0] > 'z'):
		return "it must start with a lowercase letter"
	case s[0] == '-' || s[len(s)-1] == '-':
		return "it must start and end with a lowercase letter or digit"
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "it may hold only lowercase letters, digits and '-'"
		}
	}
	return ""
}

// podConfig is what makes two instances' pods differ: their rendered
// deployment.toml, the arguments and JVM settings they carry, and their
// CApps.
func podConfig(inst export.Instance, opts Options) string {
	h := sha256.New()
	fmt.Fprintf(h, "toml %d\n", len(inst.PodTOML))
	h.Write(inst.PodTOML)
	if inst.FileProperties != nil {
		fmt.Fprintf(h, "file.properties %d\n", len(inst.FileProperties))
		h.Write(inst.FileProperties)
	}
	for _, a := range inst.PodArgs {
		fmt.Fprintf(h, "arg %q\n", a)
	}
	for _, kv := range append(inst.JVMEnv(), inst.PortEnv...) {
		fmt.Fprintf(h, "env %q\n", kv)
	}
	if !opts.CAppsInImage {
		for _, c := range inst.CApps {
			fmt.Fprintf(h, "capp %q %s\n", c.File, c.SHA256)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// groupInstances puts instances with identical pods together, in plan
// order, and names each group (nameGroups).
func groupInstances(in *export.Input, opts Options) ([]*group, error) {
	var groups []*group
	byConfig := map[string]*group{}
	for _, inst := range in.Instances {
		key := podConfig(inst, opts)
		g, ok := byConfig[key]
		if !ok {
			g = &group{name: inst.Name}
			byConfig[key] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, inst)
	}
	if err := nameGroups(in, groups); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := checkGroupName(g); err != nil {
			return nil, err
		}
		if err := podPortsFit(g); err != nil {
			return nil, err
		}
		extras, err := podExtras(g)
		if err != nil {
			return nil, err
		}
		g.extras = extras
		if opts.CAppsInImage {
			continue
		}
		for _, c := range g.members[0].CApps {
			cm, err := newCAppMap(c, g.members[0].Name)
			if err != nil {
				return nil, err
			}
			g.capps = append(g.capps, cm)
		}
	}
	return groups, nil
}

// maxGroupName is the longest name a group may have. It names the
// Deployment's Service, a DNS-1035 label, and is its pods'
// app.kubernetes.io/instance label: both take at most 63 characters. The
// Deployment's own name and its Secret's, <name>-deployment-toml, are DNS
// subdomains, which take 253: they always fit then.
const maxGroupName = 63

// checkGroupName explains why g's name cannot name its objects, or
// returns nil.
func checkGroupName(g *group) error {
	first := g.members[0].Name
	what, shorten, rename := fmt.Sprintf("%q", g.name), "shorten it", "rename it"
	if g.name != first {
		what = fmt.Sprintf("%q, the name its Deployment takes after name_prefix,", g.name)
		shorten, rename = "shorten name_prefix", "change name_prefix"
	}
	if len(g.name) > maxGroupName {
		return &config.Error{Where: "instance " + first, Msg: fmt.Sprintf(
			"%s is %d characters: a name may be at most %d here, since it names a Kubernetes Service and is its pods' %s label (its Secret, %s, may take up to 253); %s in mictl.toml",
			what, len(g.name), maxGroupName, labelInstance, tomlSecretName(g), shorten)}
	}
	if why := dnsLabel(g.name, true); why != "" {
		return &config.Error{Where: "instance " + first, Msg: fmt.Sprintf(
			"%s cannot name a Kubernetes Deployment and Service: %s; %s in mictl.toml", what, why, rename)}
	}
	return nil
}

// nameGroups names the groups, each already named after its first
// instance: the group of the first instance without settings of its own
// (the generated instances, export.Instance.Customised) takes name_prefix
// instead, or name_prefix-default when another group is named
// name_prefix, or keeps its first instance's name when that is taken too.
// So at most one group is named after name_prefix, and no two alike.
func nameGroups(in *export.Input, groups []*group) error {
	// In plan order, so the first group holding an instance without
	// settings holds the first such instance.
	generated := slices.IndexFunc(groups, func(g *group) bool {
		return slices.ContainsFunc(g.members, func(i export.Instance) bool { return !i.Customised })
	})
	if generated >= 0 {
		taken := map[string]bool{}
		for i, g := range groups {
			if i != generated {
				taken[g.name] = true
			}
		}
		for _, name := range []string{in.Prefix, in.Prefix + "-default"} {
			if !taken[name] {
				groups[generated].name = name
				break
			}
		}
	}
	return uniqueNames(groups)
}

// uniqueNames makes sure no two groups share a name, before any file is
// made: two would be one Deployment, Service and Secret, each overwriting
// the other's.
func uniqueNames(groups []*group) error {
	seen := map[string]bool{}
	for _, g := range groups {
		if seen[g.name] {
			return fmt.Errorf("internal error: two Kubernetes Deployments named %q (one of them runs %s); please report this with your mictl.toml", g.name, memberNames(g))
		}
		seen[g.name] = true
	}
	return nil
}

// podPortsFit explains why a port of g's pods is above the highest port,
// or returns nil. A pod runs at MI's default offset, so a port set near
// the top in mictl.toml (valid on a host planned at a lower offset) can
// end up past it, and the API server would refuse the whole Deployment.
func podPortsFit(g *group) error {
	for _, m := range g.members {
		for _, spec := range ports.Catalogue {
			if port := m.PodPorts()[spec.Role]; port > ports.MaxPort {
				return &config.Error{Where: "instance " + m.Name, Msg: fmt.Sprintf(
					"%s = %d puts its %s port at %d in a pod (MI adds its default offset %d there), above the highest port, %d: set %s to at most %d in mictl.toml",
					spec.TOMLKey, m.Bases[spec.Role], spec.What, port, ports.DefaultOffset, ports.MaxPort, spec.TOMLKey, ports.MaxPort-ports.DefaultOffset)}
			}
		}
		for k, e := range m.Extras {
			if port := m.PodExtraPorts()[k]; port > ports.MaxPort {
				return &config.Error{Where: "instance " + m.Name, Msg: fmt.Sprintf(
					"%s on port %d listens on %d in a pod (MI adds its default offset %d there), above the highest port, %d: give it a port of at most %d",
					e.Label(), e.Base, port, ports.DefaultOffset, ports.MaxPort, ports.MaxPort-ports.DefaultOffset)}
			}
		}
	}
	return nil
}

// podExtras lists the extra ports of g's pods, each once, in plan
// order. Its members' pods run the same CApps (their own, or with
// --capps-in-image the image's, which holds every member's): so every pod
// opens every member's extras, where MI opens them at offset 10. Two
// listeners on one port cannot both open: that is refused, not written,
// since no host plan shows it (on the host the offsets differ).
func podExtras(g *group) ([]extraPort, error) {
	// Who listens on each port of a pod: the four, then the extras.
	owner := map[int]string{}
	for _, spec := range ports.Catalogue {
		owner[g.members[0].PodPorts()[spec.Role]] = spec.Name
	}
	var out []extraPort
	for _, m := range g.members {
		for k, e := range m.Extras {
			port := m.PodExtraPorts()[k]
			if who, ok := owner[port]; ok {
				if who == e.Label() {
					continue // another replica's, or the same CApp's twice
				}
				return nil, &config.Error{Where: "instance " + m.Name, Msg: fmt.Sprintf(
					"%s listens on %d in a pod (MI's default offset %d), as does %s: MI cannot open both; give one of them another port",
					e.Label(), port, ports.DefaultOffset, who)}
			}
			owner[port] = e.Label()
			out = append(out, extraPort{name: extraPortName(e.Role, port), port: port})
		}
	}
	return out, nil
}

// extraPortName names an extra port after its role and number: short
// (Kubernetes takes at most 15 characters: "debug-65535" is 11), and
// unique in a pod, where no two listeners share a port.
func extraPortName(role string, port int) string {
	short := map[string]string{ports.RoleInbound: "in", ports.RoleDebugger: "debug", ports.RoleUnitTest: "test"}[role]
	if short == "" {
		short = "extra"
	}
	return fmt.Sprintf("%s-%d", short, port)
}

// newCAppMap checks that c fits a ConfigMap and names it.
func newCAppMap(c export.CApp, instance string) (cappMap, error) {
	if len(c.Data) > maxConfigMapData {
		return cappMap{}, &config.Error{Where: "instance " + instance, Msg: fmt.Sprintf(
			"CApp %s is %d bytes, more than a Kubernetes ConfigMap holds (1 MiB, %d bytes): bake it into the image (COPY it into repository/deployment/server/carbonapps/ of the MI home) and export with --image IMAGE --capps-in-image",
			c.Path, len(c.Data), maxConfigMapData)}
	}
	if !configMapKey(c.File) {
		return cappMap{}, &config.Error{Where: "instance " + instance, Msg: fmt.Sprintf(
			"CApp %s: a ConfigMap key may hold only letters, digits, '-', '_' and '.'; rename the file", c.Path)}
	}
	// Named by content: one ConfigMap per distinct CApp, and a new CApp
	// gets a new name (the old one is no longer referenced).
	stem := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, strings.TrimSuffix(c.File, ".car"))
	stem = strings.Trim(stem, "-")
	if len(stem) > 40 {
		stem = strings.TrimRight(stem[:40], "-")
	}
	name := "capp-" + c.SHA256[:10]
	if stem != "" {
		name = "capp-" + stem + "-" + c.SHA256[:10]
	}
	return cappMap{CApp: c, name: name}, nil
}

// configMapKey says whether a file's name can be a ConfigMap's key.
func configMapKey(name string) bool {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// newInboundMap checks that the inbound endpoints the distribution keeps
// as synapse files fit a ConfigMap and names it, by content; nil when
// there are none, or the image has them (--capps-in-image).
func newInboundMap(in *export.Input, opts Options) (*inboundMap, error) {
	if opts.CAppsInImage || len(in.Inbounds) == 0 {
		return nil, nil
	}
	h := sha256.New()
	size := 0
	for _, f := range in.Inbounds {
		if !configMapKey(f.File) {
			return nil, &config.Error{Where: f.Path, Msg: "a ConfigMap key may hold only letters, digits, '-', '_' and '.'; rename the file (every instance deploys it)"}
		}
		size += len(f.Data)
		fmt.Fprintf(h, "%s %s\n", f.File, f.SHA256)
	}
	if size > maxConfigMapData {
		return nil, &config.Error{Where: in.InboundsFrom, Msg: fmt.Sprintf(
			"the inbound endpoints kept here are %d bytes, more than a Kubernetes ConfigMap holds (1 MiB, %d bytes): bake them into the image (in the same directory of the MI home) and export with --image IMAGE --capps-in-image",
			size, maxConfigMapData)}
	}
	return &inboundMap{name: "inbound-endpoints-" + hex.EncodeToString(h.Sum(nil))[:10], files: in.Inbounds}, nil
}

func inboundConfigMap(in *export.Input, m *inboundMap) configMap {
	data := map[string]string{}
	for _, f := range m.files {
		data[f.File] = base64.StdEncoding.EncodeToString(f.Data)
	}
	return configMap{APIVersion: "v1", Kind: "ConfigMap", Metadata: meta{Name: m.name, Labels: sharedLabels(in)}, BinaryData: data}
}

func tomlSecretName(g *group) string { return g.name + "-deployment-toml" }

func labels(in *export.Input, g *group, opts Options) map[string]string {
	l := selector(g)
	l[labelComponent] = "integration-server"
	l[labelPartOf] = partOf(in)
	l[labelManagedBy] = "mictl"
	if tag := export.ImageTag(opts.Image); tag != "" && len(tag) <= 63 {
		l[labelVersion] = tag
	}
	return l
}

// selector is what ties a group's pods to its Deployment and Service;
// immutable once applied, so it holds only what never changes.
func selector(g *group) map[string]string {
	return map[string]string{labelName: appName, labelInstance: g.name}
}

func sharedLabels(in *export.Input) map[string]string {
	return map[string]string{labelName: appName, labelPartOf: partOf(in), labelManagedBy: "mictl"}
}

// partOf is the app.kubernetes.io/part-of label: name_prefix, which may
// end in '-' (its instances are then named p--1...), where a label value
// must end in a letter or digit. It starts with one and is short enough,
// as instance names need.
func partOf(in *export.Input) string { return strings.TrimRight(in.Prefix, "-") }

// tomlSecret holds g's deployment.toml and, where its MI has one, the
// conf/file.properties $FILE: placeholders read (export.Instance.
// FileProperties), which may hold secrets as well.
func tomlSecret(in *export.Input, g *group, opts Options) secret {
	data := map[string]string{tomlKey: base64.StdEncoding.EncodeToString(g.members[0].PodTOML)}
	if props := g.members[0].FileProperties; props != nil {
		data[filePropertiesKey] = base64.StdEncoding.EncodeToString(props)
	}
	return secret{
		APIVersion: "v1", Kind: "Secret", Type: "Opaque",
		Metadata: meta{Name: tomlSecretName(g), Labels: labels(in, g, opts)},
		Data:     data,
	}
}

// The keys of tomlSecret, each the name of the file it is mounted as.
const (
	tomlKey           = "deployment.toml"
	filePropertiesKey = "file.properties"
)

// jvmSecretName names the Secret of g's JVM settings that hold secrets.
func jvmSecretName(g *group) string { return g.name + "-jvm-settings" }

// secretJVMEnv are the JVM settings of inst's pods that hold a secret
// (export.HoldsSecret), each whole: the JVM reads a variable as one string.
func secretJVMEnv(inst export.Instance) []string {
	return slices.DeleteFunc(podJVMEnv(inst), func(kv string) bool { return !export.HoldsSecret(kv) })
}

// jvmSecret holds env, each variable under its own name. The values are
// as MI gets them: the kubelet expands $(VAR) in an env value, never in a
// Secret's.
func jvmSecret(in *export.Input, g *group, opts Options, env []string) secret {
	data := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		data[k] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	return secret{
		APIVersion: "v1", Kind: "Secret", Type: "Opaque",
		Metadata: meta{Name: jvmSecretName(g), Labels: labels(in, g, opts)},
		Data:     data,
	}
}

func cappConfigMap(in *export.Input, c cappMap) configMap {
	return configMap{
		APIVersion: "v1", Kind: "ConfigMap",
		Metadata:   meta{Name: c.name, Labels: sharedLabels(in), Annotations: map[string]string{"mictl/capp-sha256": c.SHA256}},
		BinaryData: map[string]string{c.File: base64.StdEncoding.EncodeToString(c.Data)},
	}
}

// checksum covers every byte a pod reads from its Secret and ConfigMaps.
func checksum(g *group, inbounds *inboundMap) string {
	h := sha256.New()
	h.Write(g.members[0].PodTOML)
	if props := g.members[0].FileProperties; props != nil {
		fmt.Fprintf(h, "\n%s %d\n", filePropertiesKey, len(props))
		h.Write(props)
	}
	for _, kv := range secretJVMEnv(g.members[0]) {
		fmt.Fprintf(h, "\nenv %q", kv)
	}
	for _, c := range g.capps {
		fmt.Fprintf(h, "\n%s %s", c.File, c.SHA256)
	}
	if inbounds != nil {
		fmt.Fprintf(h, "\n%s", inbounds.name) // named by content
	}
	return hex.EncodeToString(h.Sum(nil))
}

// portNames are the container ports' names (at most 15 characters, as
// Kubernetes requires), in ports.Role order.
var portNames = [ports.NumRoles]string{"http", "https", "internal-http", "management"}

// newDeployment makes g's Deployment, and a note for its file's header
// that says how its memory limit was chosen.
func newDeployment(in *export.Input, g *group, inbounds *inboundMap, opts Options) (deployment, []string) {
	first := g.members[0]
	podPorts := first.PodPorts()
	memLimit, memNote := memoryLimit(podJVMEnv(first)...)
	c := container{
		Name: containerName, Image: opts.Image, ImagePullPolicy: "IfNotPresent",
		// -DenablePrometheusApi=true with metrics = true, never an offset
		// (export.Instance.PodArgs). Args replace the image's command, not
		// its entrypoint, which hands them to MI's start script, as
		// Compose's command: does.
		Args: first.PodArgs,
		Env:  podEnv(first, jvmSecretName(g)),
		// As WSO2's chart: the pass-through HTTPS listener open means MI
		// started; /liveness says it runs, /healthz that it is ready
		// (docs/mi-facts.md: /healthz fails while a CApp is faulty).
		StartupProbe: probe{TCPSocket: &tcpSocketAction{Port: portNames[ports.HTTPS]},
			PeriodSeconds: startupPeriod, TimeoutSeconds: 1, FailureThreshold: startupFailures},
		LivenessProbe: probe{HTTPGet: &httpGetAction{Path: "/liveness", Port: portNames[ports.InternalHTTP], Scheme: "HTTP"},
			PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3},
		ReadinessProbe: probe{HTTPGet: &httpGetAction{Path: "/healthz", Port: portNames[ports.InternalHTTP], Scheme: "HTTP"},
			PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3},
		// The container's PID 1 is the image's entrypoint, a sh that runs
		// MI's start script without exec: the kubelet's SIGTERM reaches
		// that sh alone, which ignores it (PID 1 of its namespace, no
		// handler), and a TERM to the start script would leave the JVMs
		// running anyway (docs/mi-facts.md, "Signals"). MI's own --stop
		// sends SIGTERM to the MI java in wso2carbon.pid and returns at
		// once; MI drains, java exits, the start script and the container
		// with it, within the grace period, which counts the hook's time.
		Lifecycle: lifecycle{PreStop: lifecycleHandler{Exec: execAction{Command: export.StopCommand(opts.CarbonHome)}}},
		Resources: resources{
			Requests: resourceList{CPU: "500m", Memory: "512Mi"},
			Limits:   resourceList{CPU: "1000m", Memory: memLimit},
		},
		SecurityContext: containerSecurityContext{RunAsNonRoot: true, Capabilities: capabilities{Drop: []string{"ALL"}}},
		VolumeMounts: []volumeMount{{
			Name: "deployment-toml", MountPath: path.Join(opts.CarbonHome, "conf", tomlKey),
			SubPath: tomlKey, ReadOnly: true,
		}},
	}
	if first.FileProperties != nil {
		c.VolumeMounts = append(c.VolumeMounts, volumeMount{
			Name: "deployment-toml", MountPath: path.Join(opts.CarbonHome, capp.FilePropertiesFile),
			SubPath: filePropertiesKey, ReadOnly: true,
		})
	}
	for _, spec := range ports.Catalogue {
		c.Ports = append(c.Ports, containerPort{Name: portNames[spec.Role], ContainerPort: podPorts[spec.Role], Protocol: "TCP"})
	}
	for _, e := range g.extras {
		c.Ports = append(c.Ports, containerPort{Name: e.name, ContainerPort: e.port, Protocol: "TCP"})
	}
	volumes := []volume{{Name: "deployment-toml", Secret: &secretVolume{SecretName: tomlSecretName(g), DefaultMode: tomlMode}}}
	for _, cm := range g.capps {
		// One file each (subPath), so CApps baked into the image stay.
		c.VolumeMounts = append(c.VolumeMounts, volumeMount{
			Name: cm.name, MountPath: path.Join(opts.CarbonHome, "repository", "deployment", "server", "carbonapps", cm.File),
			SubPath: cm.File, ReadOnly: true,
		})
		volumes = append(volumes, volume{Name: cm.name, ConfigMap: &configMapVolume{Name: cm.name}})
	}
	if inbounds != nil {
		// One file each, as the CApps: the image's own stay.
		for _, f := range inbounds.files {
			c.VolumeMounts = append(c.VolumeMounts, volumeMount{
				Name: inbounds.name, MountPath: path.Join(home.InboundEndpointsDir(opts.CarbonHome), f.File),
				SubPath: f.File, ReadOnly: true,
			})
		}
		volumes = append(volumes, volume{Name: inbounds.name, ConfigMap: &configMapVolume{Name: inbounds.name}})
	}
	l := labels(in, g, opts)
	return deployment{
		APIVersion: "apps/v1", Kind: "Deployment",
		Metadata: meta{Name: g.name, Labels: l, Annotations: map[string]string{"mictl/instances": memberNames(g)}},
		Spec: deploymentSpec{
			Replicas: len(g.members),
			Selector: labelSelector{MatchLabels: selector(g)},
			Strategy: strategy{Type: "RollingUpdate", RollingUpdate: rollingUpdate{MaxSurge: 1, MaxUnavailable: 0}},
			Template: podTemplateSpec{
				Metadata: meta{Labels: l, Annotations: map[string]string{checksumAnnotation: checksum(g, inbounds)}},
				Spec: podSpec{
					TerminationGracePeriodSeconds: gracePeriod,
					SecurityContext: podSecurityContext{
						RunAsUser: runAsUser, RunAsGroup: runAsUser, FSGroup: runAsUser, RunAsNonRoot: true,
						SeccompProfile: seccompProfile{Type: "RuntimeDefault"},
					},
					Containers: []container{c},
					Volumes:    volumes,
				},
			},
		},
	}, memNote
}

// podJVMEnv is the JVM settings a pod's MI runs with, in the order the
// JVM takes them (export.Instance.JVMEnv): JVM_MEM_OPTS is the heap mictl
// launches the instance with, or else WSO2's chart's. The JVM reads
// JAVA_TOOL_OPTIONS and JDK_JAVA_OPTIONS before the start script's
// JVM_MEM_OPTS, so an -Xmx there does not set the heap.
func podJVMEnv(inst export.Instance) []string {
	// An empty JVM_MEM_OPTS is none to MI's start script ([ -z ]), which
	// then uses its own -Xmx1024m: the pod gets the chart's, that heap, as
	// where it is unset, and a limit that holds it.
	jvm := slices.DeleteFunc(inst.JVMEnv(), func(kv string) bool { return kv == "JVM_MEM_OPTS=" })
	sets := func(name string) func(string) bool {
		return func(kv string) bool { return strings.HasPrefix(kv, name+"=") }
	}
	if slices.ContainsFunc(jvm, sets("JVM_MEM_OPTS")) {
		return jvm
	}
	// In its place: before JAVA_OPTS, the one variable after it.
	at := slices.IndexFunc(jvm, sets("JAVA_OPTS"))
	if at < 0 {
		at = len(jvm)
	}
	return slices.Insert(jvm, at, "JVM_MEM_OPTS="+memOpts)
}

// podEnv is the container's environment: the node identity from the pod
// name (docs/mi-facts.md: env nodeId; stable and unique per pod), the
// JVM settings (podJVMEnv), those holding a secret from the Secret
// secretName (jvmSecret), and the variables its inbound endpoints' ports
// come from (export.Instance.PortEnv).
func podEnv(inst export.Instance, secretName string) []envVar {
	env := []envVar{{Name: "nodeId", ValueFrom: &envVarSource{FieldRef: &fieldRef{APIVersion: "v1", FieldPath: "metadata.name"}}}}
	jvm := podJVMEnv(inst)
	setting := func(name, kv string) envVar {
		k, v, _ := strings.Cut(kv, "=")
		if export.HoldsSecret(kv) {
			return envVar{Name: name, ValueFrom: &envVarSource{SecretKeyRef: &secretKeySelector{Name: secretName, Key: k}}}
		}
		return envVar{Name: name, Value: literal(v)}
	}
	// WSO2's chart sets JAVA_MEM_OPTS; MI's start script reads
	// JVM_MEM_OPTS (docs/mi-facts.md). Both, so the heap is the same
	// either way.
	for _, kv := range jvm {
		if strings.HasPrefix(kv, "JVM_MEM_OPTS=") {
			env = append(env, setting("JAVA_MEM_OPTS", kv))
		}
	}
	for _, kv := range jvm {
		k, _, _ := strings.Cut(kv, "=")
		env = append(env, setting(k, kv))
	}
	for _, kv := range inst.PortEnv {
		k, v, _ := strings.Cut(kv, "=")
		env = append(env, envVar{Name: k, Value: literal(v)})
	}
	return env
}

// literal keeps an env value as it is through the kubelet, which expands
// $(VAR) and turns $$ into $: every $ doubled reaches MI as written, as
// it does under mictl up, systemd and Compose.
func literal(v string) string { return strings.ReplaceAll(v, "$", "$$") }

func memberNames(g *group) string {
	names := make([]string, len(g.members))
	for i, m := range g.members {
		names[i] = m.Name
	}
	return strings.Join(names, ",")
}

func newService(in *export.Input, g *group, opts Options) service {
	podPorts := g.members[0].PodPorts()
	s := service{
		APIVersion: "v1", Kind: "Service",
		Metadata: meta{Name: g.name, Labels: labels(in, g, opts)},
		Spec:     serviceSpec{Type: "ClusterIP", Selector: selector(g)},
	}
	for _, spec := range ports.Catalogue {
		s.Spec.Ports = append(s.Spec.Ports, servicePort{
			Name: portNames[spec.Role], Protocol: "TCP", Port: podPorts[spec.Role], TargetPort: portNames[spec.Role],
		})
	}
	for _, e := range g.extras {
		s.Spec.Ports = append(s.Spec.Ports, servicePort{Name: e.name, Protocol: "TCP", Port: e.port, TargetPort: e.name})
	}
	return s
}

// clientSideLimit is what a client-side `kubectl apply` can take in one
// object: it records the whole object in an annotation, and an object's
// annotations hold at most 256 KiB (less a margin for the metadata kubectl
// adds). A larger ConfigMap (a CApp of more than about 190 KiB) needs
// `kubectl apply --server-side`, which records no such copy.
const clientSideLimit = 256<<10 - 8<<10

// NeedsServerSideApply lists the files of an export too large for a
// client-side `kubectl apply`.
func NeedsServerSideApply(files []export.File) []string {
	var large []string
	for _, f := range files {
		if len(f.Data) > clientSideLimit {
			large = append(large, f.Path)
		}
	}
	return large
}

// marshal writes obj as YAML under a comment header. yaml.v3 is already
// in mictl (through viper): no library is added to the binary.
func marshal(header []string, obj any) ([]byte, error) {
	var buf bytes.Buffer
	for _, line := range header {
		buf.WriteString("# " + line + "\n")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
