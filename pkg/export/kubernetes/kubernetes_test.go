package kubernetes

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/export/exporttest"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

func TestEveryObjectDecodesStrictly(t *testing.T) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			_, files := exportCaseFiles(t, c)
			objs := decode(t, files)
			if len(objs.deployments) == 0 || len(objs.services) != len(objs.deployments) {
				t.Fatalf("%d deployments, %d services:\n%s", len(objs.deployments), len(objs.services), describe(files))
			}
			if large := NeedsServerSideApply(files); (len(large) > 0) != c.serverSide {
				t.Errorf("needs server-side apply for %v, want %v", large, c.serverSide)
			}
			if objs.kustomization.Namespace != c.opts.Namespace {
				t.Errorf("namespace %q, want %q", objs.kustomization.Namespace, c.opts.Namespace)
			}
		})
	}
}

// Identical instances become replicas of one Deployment named after
// name_prefix; an instance with overrides gets its own, with its ports.
func TestReplicasAndOverrides(t *testing.T) {
	_, files := exportCaseFiles(t, cases[1])
	objs := decode(t, files)
	mi, custom := objs.deployments["mi"], objs.deployments["mi-2"]
	if mi == nil || custom == nil || len(objs.deployments) != 2 {
		t.Fatalf("deployments %v, want mi and mi-2", keys(objs.deployments))
	}
	if *mi.Spec.Replicas != 2 || *custom.Spec.Replicas != 1 {
		t.Errorf("replicas mi=%d mi-2=%d, want 2 and 1", *mi.Spec.Replicas, *custom.Spec.Replicas)
	}
	if got := mi.Annotations["mictl/instances"]; got != "mi-1,mi-3" {
		t.Errorf("mi holds %q", got)
	}
	// docs/mi-facts.md: a port set explicitly is still shifted by the offset; pods
	// run at the default offset 10.
	want := map[string]int32{"http": 8310, "https": 8253, "internal-http": 9201, "management": 9164}
	for _, p := range custom.Spec.Template.Spec.Containers[0].Ports {
		if want[p.Name] != p.ContainerPort {
			t.Errorf("mi-2 port %s = %d, want %d", p.Name, p.ContainerPort, want[p.Name])
		}
	}
	if got := objs.services["mi-2"].Spec.Ports[0].Port; got != 8310 {
		t.Errorf("mi-2 service http port %d, want 8310", got)
	}
	toml := objs.deploymentTOML("mi-2")
	if !strings.Contains(toml, `hostname = "mi-2.example.com"`) || !strings.Contains(toml, "offset = 10") {
		t.Errorf("mi-2's deployment.toml lacks its override or offset 10:\n%s", toml)
	}
}

// An instance that runs keeps the JVM settings its record holds, listed
// in the order the shell that started it had them; another gets this
// shell's, the same settings in another order. Their pods are the same:
// one Deployment, two replicas.
func TestSameJVMSettingsInAnotherOrderAreReplicas(t *testing.T) {
	shell := []string{"JVM_MEM_OPTS=-Xmx2g", "JAVA_OPTS=-Dx=1"}
	target := exporttest.Target(t, t.TempDir(), exporttest.Case{Name: "order", TOML: "instances = 2\n", Env: shell, Offsets: []int{10, 11}})
	current := &state.File{Version: state.SchemaVersion, Instances: []state.Instance{
		{Name: "mi-1", Offset: 10, Env: []string{"JAVA_OPTS=-Dx=1", "JVM_MEM_OPTS=-Xmx2g"}, State: state.StateReady},
	}}
	in, err := export.FromTarget(target, export.Options{Current: current})
	if err != nil {
		t.Fatal(err)
	}
	files, err := Export(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	objs := decode(t, files)
	if mi := objs.deployments["mi"]; len(objs.deployments) != 1 || mi == nil || *mi.Spec.Replicas != 2 {
		t.Errorf("deployments %v, want mi alone with 2 replicas", keys(objs.deployments))
	}
}

// The pod's deployment.toml is rendered by the one renderer at offset 10
// whatever offset_method says: a pod gets no -DportOffset.
func TestPodsRenderAtTheDefaultOffsetThroughTheRenderer(t *testing.T) {
	in, files := exportCaseFiles(t, cases[2])
	objs := decode(t, files)
	for _, inst := range in.Instances {
		if strings.Contains(string(inst.HostTOML), "\noffset = ") {
			t.Errorf("%s: offset_method flag writes no offset into the home's file", inst.Name)
		}
	}
	for name, d := range objs.deployments {
		c := d.Spec.Template.Spec.Containers[0]
		if len(c.Args) != 0 || len(c.Command) != 0 {
			t.Errorf("%s passes %v %v", name, c.Command, c.Args)
		}
		toml := objs.deploymentTOML(name)
		if !strings.Contains(toml, "offset = 10") {
			t.Errorf("%s's deployment.toml has no explicit offset 10", name)
		}
	}
}

// With metrics = true a pod gets what `mictl up` gives an instance: the
// MetricHandler in its deployment.toml and -DenablePrometheusApi=true,
// the flag as Compose and systemd pass it (the start script's arguments),
// without the host's -DportOffset (offset_method "flag").
func TestMetricsReachThePod(t *testing.T) {
	in, files := exportCaseFiles(t, caseNamed(t, "metrics"))
	objs := decode(t, files)
	for _, inst := range in.Instances {
		if !slices.Contains(inst.Launch.Args, reconcile.MetricsFlag) || !slices.ContainsFunc(inst.Launch.Args, isOffsetFlag) {
			t.Fatalf("%s launches on this host with %v, want the offset and %s", inst.Name, inst.Launch.Args, reconcile.MetricsFlag)
		}
	}
	if len(objs.deployments) == 0 {
		t.Fatalf("no Deployment:\n%s", describe(files))
	}
	for name, d := range objs.deployments {
		if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args, []string{reconcile.MetricsFlag}) {
			t.Errorf("%s: container args %v, want [%s]", name, args, reconcile.MetricsFlag)
		}
		if toml := objs.deploymentTOML(name); !strings.Contains(toml, "MetricHandler") {
			t.Errorf("%s: deployment.toml has no MetricHandler:\n%s", name, toml)
		}
	}
	// Without metrics, no arguments at all: the image's own command.
	_, files = exportCaseFiles(t, cases[0])
	for name, d := range decode(t, files).deployments {
		if args := d.Spec.Template.Spec.Containers[0].Args; len(args) != 0 {
			t.Errorf("%s without metrics: container args %v", name, args)
		}
	}
}

func isOffsetFlag(arg string) bool { return strings.HasPrefix(arg, ports.OffsetFlag) }

func TestPodSpecFollowsWSO2sChart(t *testing.T) {
	_, files := exportCaseFiles(t, cases[0])
	objs := decode(t, files)
	d := objs.deployments["mi"]
	if d == nil {
		t.Fatalf("no Deployment mi:\n%s", describe(files))
	}
	s := d.Spec.Strategy
	if s.Type != "RollingUpdate" || s.RollingUpdate.MaxSurge.IntValue() != 1 || s.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy %+v", s)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if c.StartupProbe.TCPSocket == nil || c.StartupProbe.TCPSocket.Port.String() != "https" ||
		c.StartupProbe.PeriodSeconds != 3 || c.StartupProbe.FailureThreshold != 40 {
		t.Errorf("startup probe %+v", c.StartupProbe)
	}
	if g := c.LivenessProbe.HTTPGet; g == nil || g.Path != "/liveness" || g.Port.String() != "internal-http" {
		t.Errorf("liveness probe %+v", c.LivenessProbe)
	}
	// A pod fails /liveness as long as mictl lets a server fail it on a
	// host before ending it, and is then given the same grace.
	if failing := time.Duration(c.LivenessProbe.PeriodSeconds*c.LivenessProbe.FailureThreshold) * time.Second; failing != supervisor.DefaultLivenessWindow {
		t.Errorf("liveness probe fails a pod after %s; mictl ends a server after %s (supervisor.DefaultLivenessWindow)", failing, supervisor.DefaultLivenessWindow)
	}
	if grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second; grace != supervisor.DefaultPolicy().StopTimeout {
		t.Errorf("grace period %s; mictl stops a server within %s (the policy's StopTimeout)", grace, supervisor.DefaultPolicy().StopTimeout)
	}
	if g := c.ReadinessProbe.HTTPGet; g == nil || g.Path != "/healthz" || g.Port.String() != "internal-http" {
		t.Errorf("readiness probe %+v", c.ReadinessProbe)
	}
	// The chart's, but for the memory limit: its heap of -Xmx1024m and
	// 512Mi beyond it (memoryLimit), where the chart's 1Gi holds the
	// heap alone.
	if c.Resources.Requests.Memory().String() != "512Mi" || c.Resources.Requests.Cpu().String() != "500m" ||
		c.Resources.Limits.Memory().String() != "1536Mi" || c.Resources.Limits.Cpu().String() != "1" {
		t.Errorf("resources %+v", c.Resources)
	}
	if *pod.SecurityContext.RunAsUser != 10802 || !*pod.SecurityContext.RunAsNonRoot || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("security context %+v / %+v", pod.SecurityContext, c.SecurityContext)
	}
	if *pod.TerminationGracePeriodSeconds <= 180 {
		t.Errorf("grace period %d s does not outlast MI's 180 s drain", *pod.TerminationGracePeriodSeconds)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env["JAVA_MEM_OPTS"].Value != "-Xms512m -Xmx1024m" || env["JVM_MEM_OPTS"].Value != "-Xms512m -Xmx1024m" {
		t.Errorf("heap env %+v", env)
	}
	if e := env["nodeId"]; e.ValueFrom == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("nodeId %+v, want the pod's name", e)
	}
	m := c.VolumeMounts[0]
	if m.MountPath != export.DefaultCarbonHome+"/conf/deployment.toml" || m.SubPath != "deployment.toml" {
		t.Errorf("deployment.toml mount %+v", m)
	}
	sum := sha256.Sum256([]byte(objs.deploymentTOML("mi")))
	if got := d.Spec.Template.Annotations[checksumAnnotation]; got != hex.EncodeToString(sum[:]) {
		t.Errorf("checksum %s is not the sha256 of the deployment.toml", got)
	}
	for _, key := range []string{labelName, labelInstance, labelComponent, labelPartOf, labelManagedBy, labelVersion} {
		if d.Spec.Template.Labels[key] == "" || d.Labels[key] == "" {
			t.Errorf("label %s missing", key)
		}
	}
}

// The kubelet's SIGTERM reaches the image entrypoint's sh alone, which
// ignores it as PID 1 and would leave the JVMs running if it did not
// (docs/mi-facts.md, "Signals"): MI's own --stop, run by a preStop hook
// as argv (no shell string), sends SIGTERM to the MI java, and MI drains
// within the grace period instead of waiting it out to be killed.
func TestPreStopRunsMIsOwnStop(t *testing.T) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			_, files := exportCaseFiles(t, c)
			_, home, err := export.ImageAndHome(c.opts.Image, c.opts.CarbonHome)
			if err != nil {
				t.Fatal(err)
			}
			want := export.StopCommand(home)
			for name, d := range decode(t, files).deployments {
				if got := preStop(d.Spec.Template.Spec.Containers[0]); !slices.Equal(got, want) {
					t.Errorf("%s: preStop exec %q, want %q", name, got, want)
				}
			}
		})
	}
}

// The preStop hook stops an MI that is still starting (its pod deleted
// before MI wrote wso2carbon.pid) once it has: --stop alone signalled
// nothing, and the kubelet killed MI when the grace period ran out.
func TestPreStopStopsAnMIStillStarting(t *testing.T) {
	home, script := exporttest.MIHome(t, exporttest.SlowStartScript)
	mi := exec.Command("sh", script)
	if err := mi.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- mi.Wait() }()
	t.Cleanup(func() {
		if mi.ProcessState == nil {
			mi.Process.Kill()
		}
	})
	hook := export.StopCommand(home)
	stop := exec.Command(hook[0], hook[1:]...)
	stop.WaitDelay = time.Second
	if out, err := stop.CombinedOutput(); err != nil { // before the pid file, most likely: it waits
		t.Fatalf("the preStop hook failed: %v\n%s", err, out)
	}
	select {
	case <-ended:
	case <-time.After(30 * time.Second): // a hang, not a measurement
		t.Fatal("MI still runs 30 s after the preStop hook returned")
	}
	if log, _ := os.ReadFile(filepath.Join(home, "log")); !strings.HasSuffix(string(log), "drained\n") {
		t.Errorf("the start script logged %q: MI was not stopped with SIGTERM", log)
	}
}

// The configuration and CApps are mounted into the MI home of the image
// the pods run, wso2/wso2mi:4.3.0's own: mounted into another version's
// home, MI would never read them and the pods would run no integrations.
func TestMountsFollowTheImagesMIHome(t *testing.T) {
	_, files := exportCaseFiles(t, caseNamed(t, "older-image"))
	for name, d := range decode(t, files).deployments {
		c := d.Spec.Template.Spec.Containers[0]
		if len(c.VolumeMounts) != 2 {
			t.Fatalf("%s mounts %+v, want its deployment.toml and a CApp", name, c.VolumeMounts)
		}
		for _, m := range c.VolumeMounts {
			if !strings.HasPrefix(m.MountPath, "/home/wso2carbon/wso2mi-4.3.0/") {
				t.Errorf("%s mounts %s outside wso2/wso2mi:4.3.0's MI home", name, m.MountPath)
			}
		}
	}
}

func preStop(c corev1.Container) []string {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil {
		return nil
	}
	return c.Lifecycle.PreStop.Exec.Command
}

// The deployment.toml holds keystore, truststore and user-store
// passwords: a Secret, never a ConfigMap (which whoever lists ConfigMaps
// reads), mounted read-only for MI's user only through the pod's fsGroup.
func TestDeploymentTOMLIsASecret(t *testing.T) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			in, files := exportCaseFiles(t, c)
			objs := decode(t, files)
			for name, cm := range objs.configMaps {
				if _, ok := cm.Data["deployment.toml"]; ok || !strings.HasPrefix(name, "capp-") && !strings.HasPrefix(name, "inbound-endpoints-") {
					t.Errorf("ConfigMap %s holds more than a CApp or the distribution's inbound endpoints: %v", name, keys(cm.Data))
				}
			}
			for name, d := range objs.deployments {
				s := objs.secrets[name+"-deployment-toml"]
				// Beside deployment.toml, the file.properties of its
				// instances' MI where it reads one, and nothing else.
				first := strings.Split(d.Annotations["mictl/instances"], ",")[0]
				props := in.Instances[slices.IndexFunc(in.Instances, func(i export.Instance) bool { return i.Name == first })].FileProperties
				entries := 1
				if props != nil {
					entries++
				}
				if s == nil || s.Type != corev1.SecretTypeOpaque || len(s.Data) != entries || !strings.Contains(string(s.Data["deployment.toml"]), "[keystore.primary]") ||
					string(s.Data[filePropertiesKey]) != string(props) {
					t.Fatalf("%s: no Opaque Secret %s-deployment-toml with its deployment.toml and file.properties %q alone: %+v", name, name, props, s)
				}
				path := "secret-" + name + "-deployment-toml.yaml"
				if f := fileNamed(files, path); f == nil || f.Mode != 0o600 {
					t.Errorf("%s: %s is missing or not 0600", name, path)
				}
				pod := d.Spec.Template.Spec
				var vol *corev1.SecretVolumeSource
				for _, v := range pod.Volumes {
					if v.Name == "deployment-toml" {
						vol = v.Secret
					}
				}
				if vol == nil || vol.SecretName != s.Name || vol.DefaultMode == nil || *vol.DefaultMode != 0o440 {
					t.Fatalf("%s: deployment.toml volume %+v, want Secret %s with defaultMode 0440", name, vol, s.Name)
				}
				// 0440 owned by root: readable by the fsGroup the kubelet
				// gives the Secret's files, which MI's user is in.
				sc := pod.SecurityContext
				if sc.FSGroup == nil || *sc.FSGroup != runAsUser || *sc.RunAsUser != runAsUser {
					t.Errorf("%s: fsGroup %v, runAsUser %v: MI's user cannot read the Secret", name, sc.FSGroup, sc.RunAsUser)
				}
			}
			withJVMSecrets := 0
			for name := range objs.deployments {
				if objs.secrets[name+"-jvm-settings"] != nil {
					withJVMSecrets++
				}
			}
			if len(objs.secrets) != len(objs.deployments)+withJVMSecrets {
				t.Errorf("secrets %v for deployments %v", keys(objs.secrets), keys(objs.deployments))
			}
		})
	}
}

// The kubelet expands an env value ($$ is $, $(VAR) a variable's value),
// never one it takes from a Secret: what it makes of each JVM setting is
// what mictl launches with.
func TestEnvValuesReachMIAsWritten(t *testing.T) {
	for _, name := range []string{"dollars-in-env", "secret-in-env"} {
		t.Run(name, func(t *testing.T) {
			in, files := exportCaseFiles(t, caseNamed(t, name))
			want := map[string]string{}
			for _, kv := range in.Instances[0].JVMEnv() {
				k, v, _ := strings.Cut(kv, "=")
				want[k] = v
			}
			if _, ok := want["JVM_MEM_OPTS"]; ok {
				want["JAVA_MEM_OPTS"] = want["JVM_MEM_OPTS"]
			}
			objs := decode(t, files)
			for name, d := range objs.deployments {
				defined := map[string]string{}
				for _, e := range d.Spec.Template.Spec.Containers[0].Env {
					var got string
					switch {
					case e.ValueFrom == nil:
						got = kubeletExpand(e.Value, defined)
					case e.ValueFrom.SecretKeyRef != nil:
						ref := e.ValueFrom.SecretKeyRef
						s := objs.secrets[ref.Name]
						if s == nil {
							t.Fatalf("%s: %s is taken from Secret %s, which the export lacks", name, e.Name, ref.Name)
						}
						got = string(s.Data[ref.Key])
					default:
						defined[e.Name] = "pod-name"
						continue
					}
					defined[e.Name] = got
					if w, ok := want[e.Name]; !ok && e.Name != "JVM_MEM_OPTS" && e.Name != "JAVA_MEM_OPTS" || ok && got != w {
						t.Errorf("%s: %s reaches MI as %q, mictl launches with %q", name, e.Name, got, w)
					}
				}
			}
		})
	}
}

// A JVM setting holding a secret is in a Secret (its file 0600) the pods
// take it from, never in the Deployment; the others stay in it.
func TestJVMSecretsAreInASecret(t *testing.T) {
	_, files := exportCaseFiles(t, caseNamed(t, "secret-in-env"))
	for _, f := range files {
		if strings.Contains(string(f.Data), "keyStorePassword") {
			t.Errorf("%s (mode %o) holds the keystore password:\n%s", f.Path, f.Mode, f.Data)
		}
	}
	if f := fileNamed(files, "secret-mi-jvm-settings.yaml"); f == nil || f.Mode != 0o600 {
		t.Fatalf("secret-mi-jvm-settings.yaml is missing or not 0600: %+v", f)
	}
	objs := decode(t, files)
	if s := objs.secrets["mi-jvm-settings"]; len(s.Data) != 1 || !strings.HasPrefix(string(s.Data["JAVA_OPTS"]), "-Djavax.net.ssl.keyStorePassword=") {
		t.Errorf("Secret mi-jvm-settings holds %v, want JAVA_OPTS alone", keys(s.Data))
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range objs.deployments["mi"].Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	if ref := env["JAVA_OPTS"].ValueFrom; ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "mi-jvm-settings" || ref.SecretKeyRef.Key != "JAVA_OPTS" {
		t.Errorf("JAVA_OPTS is %+v, want it from Secret mi-jvm-settings", env["JAVA_OPTS"])
	}
	if e := env["JAVA_TOOL_OPTIONS"]; e.ValueFrom != nil || e.Value == "" {
		t.Errorf("JAVA_TOOL_OPTIONS, which holds no secret, is %+v: want it in the Deployment", e)
	}
}

// kubeletExpand is what the kubelet makes of an env value (its expansion
// package): $$ is $, $(NAME) the value of NAME when defined before it,
// any other $ itself.
func kubeletExpand(s string, defined map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if s[i+1] == '(' {
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				if v, ok := defined[s[i+2:i+2+end]]; ok {
					b.WriteString(v)
					i += 2 + end
					continue
				}
			}
		}
		b.WriteByte('$')
	}
	return b.String()
}

// The JVM settings mictl launches with carry over; host paths do not.
func TestJVMSettingsCarryHostPathsDoNot(t *testing.T) {
	_, files := exportCaseFiles(t, cases[1])
	objs := decode(t, files)
	env := map[string]string{}
	for _, e := range objs.deployments["mi"].Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	// Every $ doubled: the kubelet makes each $$ one $, and leaves no
	// $(HOME) to expand (TestEnvValuesReachMIAsWritten).
	if env["JAVA_OPTS"] != "-Dfoo=bar -Dlang=$$LANG -Dhome=$$(HOME)" {
		t.Errorf("JAVA_OPTS %q", env["JAVA_OPTS"])
	}
	for _, k := range []string{"JAVA_HOME", "CARBON_HOME", "MICTL_SIM_STARTUP_DELAY", "MICTL_SIM_BIND"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s reached the pod", k)
		}
	}
}

// podPorts lists a Deployment's container ports and its Service's
// ports, each as "name=port" (a Service port's target must be the
// container port of its name).
func podPorts(t *testing.T, objs objects, name string) (container, service []string) {
	t.Helper()
	d, s := objs.deployments[name], objs.services[name]
	if d == nil || s == nil {
		t.Fatalf("no Deployment and Service %s: %v, %v", name, keys(objs.deployments), keys(objs.services))
	}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		container = append(container, fmt.Sprintf("%s=%d", p.Name, p.ContainerPort))
	}
	for _, p := range s.Spec.Ports {
		if p.TargetPort.String() != p.Name {
			t.Errorf("service %s: port %s targets %s", name, p.Name, p.TargetPort.String())
		}
		service = append(service, fmt.Sprintf("%s=%d", p.Name, p.Port))
	}
	return container, service
}

// A CApp's inbound endpoints are container and Service ports of the
// Deployment running it, where MI opens them in a pod (offset 10).
func TestInboundEndpointsArePodPorts(t *testing.T) {
	fixed := []string{"http=8290", "https=8253", "internal-http=9201", "management=9164"}
	want := map[string][]string{
		"mi":   append(slices.Clone(fixed), "in-8095=8095"),
		"mi-3": append(slices.Clone(fixed), "in-8095=8095", "in-8097=8097", "in-8108=8108"),
	}
	_, files := exportCaseFiles(t, cases[6])
	objs := decode(t, files)
	var golden []export.File
	for name, w := range want {
		container, service := podPorts(t, objs, name)
		if !slices.Equal(container, w) || !slices.Equal(service, w) {
			t.Errorf("%s: container ports %v, service ports %v; want %v", name, container, service, w)
		}
		golden = append(golden, *fileNamed(files, "deployment-"+name+".yaml"), *fileNamed(files, "service-"+name+".yaml"))
	}
	slices.SortFunc(golden, func(a, b export.File) int { return strings.Compare(a.Path, b.Path) })
	exporttest.Golden(t, "kubernetes/inbound-endpoints.txt", describe(golden))
	// With the CApps in the image every pod runs the same CApps, and
	// opens all their ports.
	c := cases[6]
	c.opts.CAppsInImage = true
	_, files = exportCaseFiles(t, c)
	objs = decode(t, files)
	if len(objs.deployments) != 1 {
		t.Fatalf("--capps-in-image: Deployments %v, want one", keys(objs.deployments))
	}
	all := append(slices.Clone(fixed), "in-8095=8095", "in-8097=8097", "in-8108=8108")
	if container, service := podPorts(t, objs, "mi"); !slices.Equal(container, all) || !slices.Equal(service, all) {
		t.Errorf("--capps-in-image: container ports %v, service ports %v; want %v", container, service, all)
	}
}

// Kubernetes takes a port name of at most 15 characters, lowercase
// letters, digits and single '-' with a letter among them (IANA_SVC_NAME
// for a container port, a DNS-1123 label for a Service's): so does every
// extra's name, up to the highest port.
func TestExtraPortNamesAreValid(t *testing.T) {
	for _, role := range []string{ports.RoleInbound, ports.RoleDebugger, ports.RoleUnitTest} {
		for _, port := range []int{1, 8095, ports.MaxPort} {
			name := extraPortName(role, port)
			if errs := validation.IsValidPortName(name); len(errs) > 0 {
				t.Errorf("%s %d: %q: %v", role, port, name, errs)
			}
			if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
				t.Errorf("%s %d: %q: %v", role, port, name, errs)
			}
		}
	}
}

// Two listeners on one port in a pod (where offsets are 10, not the
// instance's own) cannot both open: the export refuses, naming them.
func TestExtraPortClashInAPodIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		inbound []capp.InboundSpec
		want    string
	}{
		{"a fixed port", []capp.InboundSpec{{Protocol: "ws", Port: 9201}},
			"instance mi-1: inbound clash_1.0.0/WSInbound9201 listens on 9201 in a pod (MI's default offset 10), as does internal_http"},
		{"another endpoint", []capp.InboundSpec{{Protocol: "http", Port: 8085}, {Protocol: "ws", Port: 8095}},
			"instance mi-1: inbound clash_1.0.0/WSInbound8095 listens on 8095 in a pod (MI's default offset 10), as does inbound clash_1.0.0/HTTPInbound8085"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := exporttest.Input(t, t.TempDir(), exporttest.Case{Name: tc.name, TOML: "instances = 1\ncapps = [\"clash.car\"]\n",
				Built: map[string]capp.Spec{"clash.car": {Name: "clash", Inbounds: tc.inbound}}})
			_, err := Export(in, Options{})
			var ce *config.Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a config error saying %q", err, tc.want)
			}
		})
	}
}

// A pod runs at MI's default offset 10, so a port set near the top for a
// host planned at offset 0 passes 65535 there (docs/mi-facts.md: ports
// above 65535 are invalid): refused, naming the instance, the key and
// the port, before the API server refuses the Deployment.
func TestPodPortsPastTheTopAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    exporttest.Case
		want string
	}{
		{"fixed port", exporttest.Case{Name: "fixed", TOML: "instances = 1\n[[instance]]\nname = \"mi-1\"\noverrides = { \"transport.http.listener.port\" = 65530 }\n", Offsets: []int{0}},
			"instance mi-1: transport.http.listener.port = 65530 puts its HTTP pass-through port at 65540 in a pod"},
		{"inbound endpoint", exporttest.Case{Name: "inbound", TOML: "instances = 1\ncapps = [\"top.car\"]\n", Offsets: []int{0},
			Built: map[string]capp.Spec{"top.car": {Name: "top", Inbounds: []capp.InboundSpec{{Protocol: "http", Port: 65530}}}}},
			"instance mi-1: inbound top_1.0.0/HTTPInbound65530 on port 65530 listens on 65540 in a pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := exporttest.Input(t, t.TempDir(), tc.c)
			_, err := Export(in, Options{})
			var ce *config.Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "at most 65525") {
				t.Fatalf("err = %v, want a config error saying %q and the highest port that fits", err, tc.want)
			}
		})
	}
}

func TestCAppsAreConfigMapsMountedOneByOne(t *testing.T) {
	in, files := exportCaseFiles(t, cases[2])
	objs := decode(t, files)
	// The 4 KiB CApp is shared by all three instances: one ConfigMap.
	if len(objs.configMaps) != 2 {
		t.Fatalf("config maps %v, want two CApps", keys(objs.configMaps))
	}
	edge := objs.deployments["edge"]
	mounts := edge.Spec.Template.Spec.Containers[0].VolumeMounts
	if len(mounts) != 3 {
		t.Fatalf("edge mounts %+v", mounts)
	}
	for _, m := range mounts[1:] {
		cm := objs.configMaps[m.Name]
		if cm == nil || len(cm.BinaryData[m.SubPath]) == 0 || !strings.HasSuffix(m.MountPath, "/repository/deployment/server/carbonapps/"+m.SubPath) {
			t.Errorf("mount %+v has no CApp behind it", m)
		}
	}
	var edgeInst export.Instance
	for _, inst := range in.Instances {
		if inst.Name == "edge" {
			edgeInst = inst
		}
	}
	for _, c := range edgeInst.CApps {
		found := false
		for _, cm := range objs.configMaps {
			found = found || bytes.Equal(cm.BinaryData[c.File], c.Data)
		}
		if !found {
			t.Errorf("CApp %s is not in any ConfigMap byte for byte", c.File)
		}
	}
}

func TestCAppTooLargeNamesItAndSaysBake(t *testing.T) {
	in := exporttest.Input(t, t.TempDir(), exporttest.Case{Name: "big", TOML: "instances = 1\n", CApps: map[string][]int{"mi-1": {maxConfigMapData + 1}}})
	_, err := Export(in, Options{})
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "App1048577_1.0.0.car") || !strings.Contains(err.Error(), "bake it into the image") {
		t.Fatalf("err = %v, want a config error naming the CApp and saying to bake it", err)
	}
	files, err := Export(in, Options{CAppsInImage: true})
	if err != nil {
		t.Fatalf("--capps-in-image: %v", err)
	}
	if objs := decode(t, files); len(objs.configMaps) != 0 {
		t.Errorf("--capps-in-image still exports CApps: %v", keys(objs.configMaps))
	}
}

func TestBadInputIsAConfigError(t *testing.T) {
	in := exporttest.Input(t, t.TempDir(), exporttest.Case{Name: "ok", TOML: "instances = 1\n"})
	digitFirst := exporttest.Input(t, t.TempDir(), exporttest.Case{Name: "digit", TOML: "instances = 1\n[[instance]]\nname = \"1st\"\noverrides = { \"server.hostname\" = \"a\" }\n"})
	for _, tc := range []struct {
		name string
		in   *export.Input
		opts Options
		want string
	}{
		{"upper-case image", in, Options{Image: "WSO2/MI:4.4.0"}, "--image"},
		{"image with spaces", in, Options{Image: "wso2/mi 4.4.0"}, "--image"},
		{"bad tag", in, Options{Image: "wso2/mi:" + strings.Repeat("x", 129)}, "the tag"},
		{"bad digest", in, Options{Image: "wso2/mi@sha256:xyz"}, "digest"},
		{"namespace with underscore", in, Options{Namespace: "my_ns"}, "--namespace"},
		{"namespace too long", in, Options{Namespace: strings.Repeat("a", 64)}, "--namespace"},
		{"relative carbon home", in, Options{CarbonHome: "wso2mi"}, "--carbon-home"},
		{"image by digest alone", in, Options{Image: "wso2/wso2mi@sha256:" + strings.Repeat("ab", 32)}, "add --carbon-home"},
		{"instance name starting with a digit", digitFirst, Options{}, `instance 1st: "1st" cannot name a Kubernetes Deployment`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Export(tc.in, tc.opts)
			var ce *config.Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a config error about %q", err, tc.want)
			}
		})
	}
}

func TestValidImages(t *testing.T) {
	for _, ref := range []string{
		"wso2/wso2mi:4.4.0", "wso2mi", "localhost:5000/mi", "registry.example.com/a/b/c:v1.2_3",
		"docker.io/wso2/wso2mi@sha256:" + strings.Repeat("0f", 32), "mi:latest@sha256:" + strings.Repeat("a", 64),
	} {
		if err := export.ValidateImage(ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

// The same configuration gives the same bytes; a changed deployment.toml
// changes the checksum that rolls the pods.
func TestDeterministicAndChecksumFollowsConfig(t *testing.T) {
	c := cases[1]
	_, a := exportCaseFiles(t, c)
	_, b := exportCaseFiles(t, c)
	if describe(a) != describe(b) {
		t.Fatal("two exports of one configuration differ")
	}
	changed := c
	changed.TOML = strings.Replace(c.TOML, "mi-2.example.com", "mi-2.example.org", 1)
	_, d := exportCaseFiles(t, changed)
	sum := func(files []export.File, name string) string {
		return decode(t, files).deployments[name].Spec.Template.Annotations[checksumAnnotation]
	}
	if sum(a, "mi-2") == sum(d, "mi-2") {
		t.Error("a changed override left mi-2's checksum as it was")
	}
	if sum(a, "mi") != sum(d, "mi") {
		t.Error("mi-2's override changed mi's checksum")
	}
}

// The golden file shows each Secret's deployment.toml decoded too, so a
// change of the rendering is a readable diff, not one of base64.
func TestGolden(t *testing.T) {
	_, files := exportCaseFiles(t, cases[1])
	got := describe(files)
	objs := decode(t, files)
	for _, name := range slices.Sorted(maps.Keys(objs.secrets)) {
		got += fmt.Sprintf("--- decoded: Secret %s, deployment.toml\n%s", name, objs.secrets[name].Data["deployment.toml"])
	}
	exporttest.Golden(t, "kubernetes/replicas-and-overrides.txt", got)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Deployments are named after name_prefix (the group of the first
// instance without settings of its own) or their first instance, never
// twice the same name: an instance's own CApps, without overrides, give it
// a Deployment of its own too.
func TestDeploymentNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		toml  string
		files map[string]int
		want  map[string]string // Deployment: its instances
	}{
		{"overrides", `instances = 4
[[instance]]
name = "mi-2"
overrides = { "server.hostname" = "same.example.com" }
[[instance]]
name = "mi-4"
overrides = { "server.hostname" = "same.example.com" }
[[instance]]
name = "mi"
overrides = { "server.hostname" = "mi.example.com" }
`, nil, map[string]string{"mi-default": "mi-1,mi-3", "mi-2": "mi-2,mi-4", "mi": "mi"}},
		{"instance capps", `instances = 2
[[instance]]
name = "mi-2"
capps = ["orders.car"]
`, map[string]int{"orders.car": 2048}, map[string]string{"mi": "mi-1", "mi-2": "mi-2"}},
		{"first instance's capps", `instances = 3
[[instance]]
name = "mi-1"
capps = ["orders.car"]
`, map[string]int{"orders.car": 2048}, map[string]string{"mi-1": "mi-1", "mi": "mi-2,mi-3"}},
		{"prefix and prefix-default taken", `instances = 2
[[instance]]
name = "mi"
overrides = { "server.hostname" = "a.example.com" }
[[instance]]
name = "mi-default"
overrides = { "server.hostname" = "b.example.com" }
`, nil, map[string]string{"mi-1": "mi-1,mi-2", "mi": "mi", "mi-default": "mi-default"}},
		{"every instance customised", `instances = 2
[[instance]]
name = "mi-1"
capps = ["orders.car"]
[[instance]]
name = "mi-2"
overrides = { "server.hostname" = "b.example.com" }
`, map[string]int{"orders.car": 2048}, map[string]string{"mi-1": "mi-1", "mi-2": "mi-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := exporttest.Input(t, t.TempDir(), exporttest.Case{Name: tc.name, TOML: tc.toml, Files: tc.files})
			files, err := Export(in, Options{})
			if err != nil {
				t.Fatal(err)
			}
			objs := decode(t, files)
			if len(objs.deployments) != len(tc.want) || len(objs.services) != len(tc.want) {
				t.Fatalf("deployments %v, services %v, want %v", keys(objs.deployments), keys(objs.services), tc.want)
			}
			for name, members := range tc.want {
				d := objs.deployments[name]
				if d == nil || d.Annotations["mictl/instances"] != members {
					t.Errorf("deployment %s: %v, want instances %s", name, d, members)
				}
			}
		})
	}
}

// A pod's memory limit holds the heap its JVM settings give (the last
// -Xmx of JVM_MEM_OPTS then JAVA_OPTS, as MI's start script passes them)
// and 512Mi beyond it, at least WSO2's chart's 1Gi; the Deployment's file
// says why.
func TestMemoryLimitFitsTheHeap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   []string
		limit string
		note  string
	}{
		{"chart's heap", nil, "1536Mi",
			"# Memory limit 1536Mi: MI's heap (-Xmx1024m in JVM_MEM_OPTS) and 512Mi beyond it for the JVM's\n# own memory and the diagnostics tool's JVM; at least WSO2's chart's 1Gi.\n"},
		{"JVM_MEM_OPTS", []string{"JVM_MEM_OPTS=-Xms1g -Xmx2g"}, "2560Mi", "(-Xmx2g in JVM_MEM_OPTS)"},
		{"JAVA_OPTS after JVM_MEM_OPTS", []string{"JAVA_OPTS=-Dx=1 -Xmx3G", "JVM_MEM_OPTS=-Xmx2g"}, "3584Mi", "(-Xmx3G in JAVA_OPTS)"},
		// The JVM reads JAVA_TOOL_OPTIONS, then JDK_JAVA_OPTIONS, before
		// the start script's JVM_MEM_OPTS and JAVA_OPTS: the later -Xmx
		// wins, whatever order the shell had the variables in.
		{"JAVA_TOOL_OPTIONS under the start script's default", []string{"JAVA_TOOL_OPTIONS=-Xmx4g"}, "1536Mi", "(-Xmx1024m in JVM_MEM_OPTS)"},
		{"JDK_JAVA_OPTIONS under JVM_MEM_OPTS", []string{"JVM_MEM_OPTS=-Xmx2g", "JDK_JAVA_OPTIONS=-Xmx4g"}, "2560Mi", "(-Xmx2g in JVM_MEM_OPTS)"},
		{"JAVA_OPTS over JAVA_TOOL_OPTIONS set after it", []string{"JAVA_OPTS=-Xmx2g", "JAVA_TOOL_OPTIONS=-Xmx4g"}, "2560Mi", "(-Xmx2g in JAVA_OPTS)"},
		// MI's start script takes an empty JVM_MEM_OPTS for none ([ -z ])
		// and uses its own -Xmx1024m: the pod gets the chart's, that heap.
		{"empty JVM_MEM_OPTS", []string{"JVM_MEM_OPTS="}, "1536Mi", "(-Xmx1024m in JVM_MEM_OPTS)"},
		{"MaxHeapSize in bytes", []string{"JAVA_OPTS=-XX:MaxHeapSize=2147483649"}, "2561Mi", "(-XX:MaxHeapSize=2147483649 in JAVA_OPTS)"},
		{"small heap", []string{"JVM_MEM_OPTS=-Xmx256m"}, "1Gi", "(-Xmx256m in JVM_MEM_OPTS)"},
		{"no heap set", []string{"JVM_MEM_OPTS=-Xms512m -XX:MaxRAMPercentage=75"}, "1Gi",
			"# Memory limit 1Gi, WSO2's chart's: no -Xmx sets MI's heap, so the JVM sizes it from the limit.\n"},
		{"unreadable size", []string{"JVM_MEM_OPTS=-Xmx2q"}, "1Gi", "no -Xmx sets MI's heap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := exporttest.Input(t, t.TempDir(), exporttest.Case{Name: tc.name, TOML: "instances = 1\n", Env: tc.env})
			files, err := Export(in, Options{})
			if err != nil {
				t.Fatal(err)
			}
			d := decode(t, files).deployments["mi"]
			if got := d.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String(); got != tc.limit {
				t.Errorf("memory limit %s, want %s", got, tc.limit)
			}
			if f := fileNamed(files, "deployment-mi.yaml"); !strings.Contains(string(f.Data), tc.note) {
				t.Errorf("deployment-mi.yaml does not say %q:\n%s", tc.note, f.Data)
			}
		})
	}
}

// The JVM's size syntax: digits and an optional unit, either case.
func TestJVMSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "2k": 2 << 10, "2K": 2 << 10, "512m": 512 << 20, "2g": 2 << 30, "1T": 1 << 40} {
		if got, err := jvmSize(in); err != nil || got != want {
			t.Errorf("jvmSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "g", "2q", "-1g", "0", "1.5g", "99999999999t"} {
		if got, err := jvmSize(in); err == nil {
			t.Errorf("jvmSize(%q) = %d, want an error", in, got)
		}
	}
}

// Each object's name is checked by the rule of its kind: a Service's name
// is a DNS-1035 label, an app.kubernetes.io/instance label's value at
// most 63 characters, a Deployment's and a Secret's name a DNS subdomain
// (253). An instance name of 48 characters (its Secret's 64) is fine; a
// Deployment named after name_prefix of 64 is not.
func TestNameLengthLimits(t *testing.T) {
	name := func(prefix string, n int) string { return prefix + strings.Repeat("x", n-len(prefix)) }
	custom := func(inst string) string {
		return "instances = 1\n[[instance]]\nname = \"" + inst + "\"\noverrides = { \"server.hostname\" = \"a.example.com\" }\n"
	}
	// An [[instance]] named name_prefix takes that name: the generated
	// instances' Deployment takes name_prefix-default.
	prefixed := func(prefix string) string {
		return "name_prefix = \"" + prefix + "\"\n" + custom(prefix)
	}
	for _, tc := range []struct {
		name, toml, deployment, refused string
	}{
		{"instance name of 48", custom(name("mi-", 48)), name("mi-", 48), ""},
		{"instance name of 63", custom(name("mi-", 63)), name("mi-", 63), ""},
		{"name_prefix-default of 63", prefixed(name("p", 55)), name("p", 55) + "-default", ""},
		{"name_prefix-default of 64", prefixed(name("p", 56)), "", fmt.Sprintf(
			`instance %s-1: %q, the name its Deployment takes after name_prefix, is 64 characters: a name may be at most 63 here, since it names a Kubernetes Service and is its pods' app.kubernetes.io/instance label (its Secret, %[2]s-deployment-toml, may take up to 253); shorten name_prefix in mictl.toml`,
			name("p", 56), name("p", 56)+"-default")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := exporttest.Input(t, t.TempDir(), exporttest.Case{Name: tc.name, TOML: tc.toml})
			files, err := Export(in, Options{})
			if tc.refused != "" {
				var ce *config.Error
				if !errors.As(err, &ce) || err.Error() != tc.refused {
					t.Fatalf("err = %v\nwant a config error: %s", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			objs := decode(t, files)
			if objs.deployments[tc.deployment] == nil || objs.secrets[tc.deployment+"-deployment-toml"] == nil {
				t.Errorf("no Deployment %s with its Secret: %v, %v", tc.deployment, keys(objs.deployments), keys(objs.secrets))
			}
			checkNames(t, objs)
		})
	}
}

// Every case's object names pass the API's own checks for their kinds.
func TestObjectNamesAreValid(t *testing.T) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			_, files := exportCaseFiles(t, c)
			checkNames(t, decode(t, files))
		})
	}
}

func checkNames(t *testing.T, objs objects) {
	t.Helper()
	check := func(what, name string, errs []string) {
		if len(errs) > 0 {
			t.Errorf("%s %q: %v", what, name, errs)
		}
	}
	labels := func(l map[string]string) {
		for k, v := range l {
			check("label "+k, v, validation.IsValidLabelValue(v))
		}
	}
	for name, d := range objs.deployments {
		check("Deployment", name, validation.IsDNS1123Subdomain(name))
		labels(d.Labels)
		labels(d.Spec.Template.Labels)
	}
	for name, s := range objs.services {
		check("Service", name, validation.IsDNS1035Label(name))
		labels(s.Labels)
	}
	for name, s := range objs.secrets {
		check("Secret", name, validation.IsDNS1123Subdomain(name))
		labels(s.Labels)
	}
	for name, cm := range objs.configMaps {
		check("ConfigMap", name, validation.IsDNS1123Subdomain(name))
		labels(cm.Labels)
	}
}

// name_prefix may end in '-', a label value may not: part-of drops it.
func TestPartOfLabelIsNamePrefixTrimmed(t *testing.T) {
	_, files := exportCaseFiles(t, caseNamed(t, "prefix-ending-in-dash"))
	objs := decode(t, files)
	if len(objs.configMaps) == 0 || len(objs.deployments) == 0 {
		t.Fatalf("want a Deployment and a CApp's ConfigMap:\n%s", describe(files))
	}
	for name, d := range objs.deployments {
		if got := d.Spec.Template.Labels[labelPartOf]; got != "p" {
			t.Errorf("%s: part-of %q, want p", name, got)
		}
	}
	for name, cm := range objs.configMaps {
		if got := cm.Labels[labelPartOf]; got != "p" {
			t.Errorf("%s: part-of %q, want p", name, got)
		}
	}
}

// Two groups of one name would be one Deployment, Service and Secret
// overwriting each other: an error before any file is made.
func TestUniqueGroupNames(t *testing.T) {
	a := &group{name: "mi", members: []export.Instance{{Name: "mi-1"}}}
	b := &group{name: "mi", members: []export.Instance{{Name: "mi-2"}, {Name: "mi-3"}}}
	if err := uniqueNames([]*group{a, b}); err == nil || !strings.Contains(err.Error(), `internal error: two Kubernetes Deployments named "mi" (one of them runs mi-2,mi-3)`) {
		t.Errorf("err = %v", err)
	}
	b.name = "mi-2"
	if err := uniqueNames([]*group{a, b}); err != nil {
		t.Errorf("distinct names: %v", err)
	}
}

// The CApps the distribution ships in its carbonapps/ run on every
// instance (each home is a clone of it), but WSO2's image lacks them:
// each is a ConfigMap mounted into every pod, as a declared one, whose
// endpoint's port the pods open; so are the inbound endpoints it keeps as
// synapse files (one ConfigMap); --capps-in-image leaves them out with
// the declared ones, the ports stay (the image has them).
func TestShippedCAppsAreCarried(t *testing.T) {
	c := caseNamed(t, "shipped-capps")
	_, files := exportCaseFiles(t, c)
	objs := decode(t, files)
	const car = "inb_1.0.0.car"
	shipped := ""
	for name, cm := range objs.configMaps {
		if _, ok := cm.BinaryData[car]; ok {
			shipped = name
		}
	}
	if shipped == "" {
		t.Fatalf("no ConfigMap holds %s: %v", car, keys(objs.configMaps))
	}
	const inbound = "LegacyIn.xml"
	kept := ""
	for name, cm := range objs.configMaps {
		if data, ok := cm.BinaryData[inbound]; ok && string(data) == exporttest.ShippedInbounds[inbound] {
			kept = name
		}
	}
	if kept == "" {
		t.Fatalf("no ConfigMap holds the distribution's %s: %v", inbound, keys(objs.configMaps))
	}
	mounts := func(objs objects, name string) []string {
		var out []string
		for _, m := range objs.deployments[name].Spec.Template.Spec.Containers[0].VolumeMounts {
			out = append(out, m.Name+":"+path.Base(m.MountPath))
		}
		return out
	}
	// LegacyIn's 7075, inb's 7070 and mi-2's orders.car's 8085, at MI's
	// default offset in a pod.
	for name, ports := range map[string][]string{"mi": {"in-7085=7085", "in-7080=7080"}, "mi-2": {"in-7085=7085", "in-7080=7080", "in-8095=8095"}} {
		container, service := podPorts(t, objs, name)
		if !slices.Equal(container[4:], ports) || !slices.Equal(service[4:], ports) {
			t.Errorf("%s: extra container ports %v, service ports %v; want %v", name, container[4:], service[4:], ports)
		}
		if !slices.Contains(mounts(objs, name), shipped+":"+car) {
			t.Errorf("%s mounts %v, not %s from %s", name, mounts(objs, name), car, shipped)
		}
		if !slices.Contains(mounts(objs, name), kept+":"+inbound) {
			t.Errorf("%s mounts %v, not %s from %s", name, mounts(objs, name), inbound, kept)
		}
	}
	var golden []export.File
	for _, name := range []string{"kustomization.yaml", "deployment-mi.yaml", "deployment-mi-2.yaml", "configmap-" + kept + ".yaml"} {
		golden = append(golden, *fileNamed(files, name))
	}
	exporttest.Golden(t, "kubernetes/shipped-capps.txt", describe(golden))

	c.opts.CAppsInImage = true
	_, files = exportCaseFiles(t, c)
	objs = decode(t, files)
	if len(objs.configMaps) != 0 || len(mounts(objs, "mi")) != 1 {
		t.Errorf("--capps-in-image: ConfigMaps %v, mi mounts %v; want none, and deployment.toml alone", keys(objs.configMaps), mounts(objs, "mi"))
	}
	if container, _ := podPorts(t, objs, "mi"); !slices.Contains(container, "in-7080=7080") || !slices.Contains(container, "in-7085=7085") {
		t.Errorf("--capps-in-image: container ports %v lack the shipped endpoints' in-7080 and in-7085", container)
	}
}
