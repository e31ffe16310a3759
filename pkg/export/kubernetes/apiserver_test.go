package kubernetes

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/testports"
)

// TestAPIServerTakesEveryExport sends every export the tests make to a
// real kube-apiserver (on etcd): a server-side dry run, then a real apply,
// and reads the objects back. The API server is the one
// .ci/kube-apiserver.sh builds (make test-deps) and starts for this test,
// or the one MICTL_KUBECONFIG points at.
func TestAPIServerTakesEveryExport(t *testing.T) {
	kube := apiServer(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			in, files := exportCaseFiles(t, c)
			dir := filepath.Join(t.TempDir(), "k8s")
			if err := export.WriteDir(dir, Kind, files, 0o700); err != nil {
				t.Fatal(err)
			}
			ns := c.opts.Namespace
			if ns == "" {
				ns = "case-" + c.Name
			}
			// A server of MICTL_KUBECONFIG may have it from an earlier run.
			if out, err := kube.kubectl("create", "namespace", ns); err != nil && !strings.Contains(out, "AlreadyExists") {
				t.Fatalf("create namespace %s: %v\n%s", ns, err, out)
			}
			apply := []string{"apply", "-k", dir, "-n", ns}
			if large := NeedsServerSideApply(files); len(large) > 0 {
				// The export says so, and the server agrees: a client-side
				// apply records each object in an annotation, which holds
				// 256 KiB, less than a ConfigMap's 1 MiB.
				if out, err := kube.kubectl("apply", "--dry-run=server", "-k", dir, "-n", ns); err == nil || !strings.Contains(out, "metadata.annotations: Too long") {
					t.Errorf("%v need server-side apply, but a client-side one went through (err %v):\n%s", large, err, out)
				}
				apply = append(apply, "--server-side")
			}
			kube.run(t, append(apply, "--dry-run=server")...)
			kube.run(t, apply...)
			checkReadBack(t, kube, ns, in, files)
		})
	}
	// Our 1 MiB limit is the server's: one byte more and it refuses.
	t.Run("configmap-limit", func(t *testing.T) {
		c := cappMap{CApp: export.CApp{File: "Big_1.0.0.car", Data: bytes.Repeat([]byte{1}, maxConfigMapData+1), SHA256: strings.Repeat("0", 64)}, name: "capp-big"}
		data, err := marshal(nil, cappConfigMap(&export.Input{Prefix: "mi"}, c))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "big.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := kube.kubectl("apply", "--dry-run=server", "--server-side", "-f", path, "-n", "default")
		if err == nil || !strings.Contains(out, fmt.Sprint(maxConfigMapData)) {
			t.Fatalf("the API server took a ConfigMap of %d bytes (err %v):\n%s", maxConfigMapData+1, err, out)
		}
	})
}

// checkReadBack reads the applied objects back and compares them with
// what the export says.
func checkReadBack(t *testing.T, kube *kubeServer, ns string, in *export.Input, files []export.File) {
	t.Helper()
	want := decode(t, files)
	replicas := 0
	for _, d := range readBack[appsv1.Deployment](t, kube, ns, "deployments", len(want.deployments)) {
		w := want.deployments[d.Name]
		if w == nil || *d.Spec.Replicas != *w.Spec.Replicas ||
			d.Spec.Template.Annotations[checksumAnnotation] != w.Spec.Template.Annotations[checksumAnnotation] {
			t.Errorf("deployment %s read back differs from the export", d.Name)
			continue
		}
		// Through kubectl and kustomize, the mode is still 0440.
		if v := d.Spec.Template.Spec.Volumes[0].Secret; v == nil || v.SecretName != d.Name+"-deployment-toml" || v.DefaultMode == nil || *v.DefaultMode != tomlMode {
			t.Errorf("deployment %s: deployment.toml volume read back as %+v, want Secret %s-deployment-toml with mode %o", d.Name, v, d.Name, tomlMode)
		}
		// The files mounted into MI's home (deployment.toml and
		// file.properties from the Secret), each with its subPath.
		if got, exp := volumeMounts(d.Spec.Template.Spec.Containers[0].VolumeMounts), volumeMounts(w.Spec.Template.Spec.Containers[0].VolumeMounts); got != exp {
			t.Errorf("deployment %s: volume mounts read back as %s, exported %s", d.Name, got, exp)
		}
		// The ports, a CApp's inbound endpoints among them, as exported.
		if got, exp := containerPorts(d.Spec.Template.Spec.Containers[0].Ports), containerPorts(w.Spec.Template.Spec.Containers[0].Ports); got != exp {
			t.Errorf("deployment %s: container ports read back as %s, exported %s", d.Name, got, exp)
		}
		// The start script's arguments (-DenablePrometheusApi=true with
		// metrics = true), as exported.
		if got, exp := d.Spec.Template.Spec.Containers[0].Args, w.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, exp) {
			t.Errorf("deployment %s: container args read back as %q, exported %q", d.Name, got, exp)
		}
		// The preStop hook that stops MI gracefully, as exported.
		if got, exp := preStop(d.Spec.Template.Spec.Containers[0]), preStop(w.Spec.Template.Spec.Containers[0]); !slices.Equal(got, exp) {
			t.Errorf("deployment %s: preStop read back as %q, exported %q", d.Name, got, exp)
		}
		// The memory limit that holds the heap (memoryLimit).
		if got, exp := d.Spec.Template.Spec.Containers[0].Resources.Limits.Memory(), w.Spec.Template.Spec.Containers[0].Resources.Limits.Memory(); got.Cmp(*exp) != 0 {
			t.Errorf("deployment %s: memory limit read back as %s, exported %s", d.Name, got, exp)
		}
		replicas += int(*d.Spec.Replicas)
	}
	if replicas != len(in.Instances) {
		t.Errorf("%d replicas for %d instances", replicas, len(in.Instances))
	}
	for _, cm := range readBack[corev1.ConfigMap](t, kube, ns, "configmaps", len(want.configMaps)) {
		w := want.configMaps[cm.Name]
		if w == nil || fmt.Sprint(cm.Data) != fmt.Sprint(w.Data) || len(cm.BinaryData) != len(w.BinaryData) {
			t.Errorf("config map %s read back differs from the export", cm.Name)
			continue
		}
		for k, v := range w.BinaryData {
			if !bytes.Equal(cm.BinaryData[k], v) {
				t.Errorf("config map %s: %s read back differs", cm.Name, k)
			}
		}
	}
	for _, s := range readBack[corev1.Secret](t, kube, ns, "secrets", len(want.secrets)) {
		w := want.secrets[s.Name]
		if w == nil || s.Type != w.Type || len(s.Data) != len(w.Data) {
			t.Errorf("secret %s read back differs from the export", s.Name)
			continue
		}
		// Every key: deployment.toml, and file.properties where the
		// instances' MI reads one.
		for k, v := range w.Data {
			if !bytes.Equal(s.Data[k], v) {
				t.Errorf("secret %s: %s read back differs", s.Name, k)
			}
		}
	}
	for _, s := range readBack[corev1.Service](t, kube, ns, "services", len(want.services)) {
		w := want.services[s.Name]
		if w == nil {
			t.Errorf("service %s read back, not exported", s.Name)
			continue
		}
		if got, exp := servicePorts(s.Spec.Ports), servicePorts(w.Spec.Ports); got != exp {
			t.Errorf("service %s: ports read back as %s, exported %s", s.Name, got, exp)
		}
	}
}

func containerPorts(list []corev1.ContainerPort) string {
	var b strings.Builder
	for _, p := range list {
		fmt.Fprintf(&b, "%s=%d/%s ", p.Name, p.ContainerPort, p.Protocol)
	}
	return b.String()
}

func volumeMounts(list []corev1.VolumeMount) string {
	var b strings.Builder
	for _, m := range list {
		fmt.Fprintf(&b, "%s:%s=%s(ro %v) ", m.Name, m.SubPath, m.MountPath, m.ReadOnly)
	}
	return b.String()
}

func servicePorts(list []corev1.ServicePort) string {
	var b strings.Builder
	for _, p := range list {
		fmt.Fprintf(&b, "%s=%d->%s/%s ", p.Name, p.Port, p.TargetPort.String(), p.Protocol)
	}
	return b.String()
}

// readBack lists the objects of a resource (deployments, secrets, ...)
// mictl manages in ns, as many as the export has.
func readBack[T any](t *testing.T, kube *kubeServer, ns, resource string, exported int) []T {
	t.Helper()
	var list struct{ Items []T }
	kube.getJSON(t, &list, "get", resource, "-n", ns, "-l", labelManagedBy+"=mictl", "-o", "json")
	if len(list.Items) != exported {
		t.Fatalf("read back %d %s, exported %d", len(list.Items), resource, exported)
	}
	return list.Items
}

// kubeServer runs kubectl against one API server.
type kubeServer struct{ kubeconfig string }

func (k *kubeServer) kubectl(args ...string) (string, error) {
	kubectl := os.Getenv("MICTL_KUBECTL")
	if kubectl == "" {
		kubectl = "kubectl"
	}
	cmd := exec.Command(kubectl, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (k *kubeServer) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := k.kubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (k *kubeServer) getJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	kubectl := os.Getenv("MICTL_KUBECTL")
	if kubectl == "" {
		kubectl = "kubectl"
	}
	// Stdout alone: kubectl warns (version skew) on stderr.
	out, err := exec.Command(kubectl, append([]string{"--kubeconfig", k.kubeconfig}, args...)...).Output()
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
}

// apiServer is the API server for this test: MICTL_KUBECONFIG's, or one
// .ci/kube-apiserver.sh starts on loopback ports of this package's test
// offsets and stops when the test ends. The script runs until its stdin
// closes, so it stops even when this test binary is killed.
func apiServer(t *testing.T) *kubeServer {
	t.Helper()
	if kc := os.Getenv("MICTL_KUBECONFIG"); kc != "" {
		return &kubeServer{kubeconfig: kc}
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "..", ".ci", "kube-apiserver.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(script, "check").CombinedOutput(); err != nil {
		unavailable(t, strings.TrimSpace(string(out)))
	}
	for attempt := 0; ; attempt++ {
		p := ports.DefaultBases().Shift(testports.Base(t, testports.Other, 4))
		if !free(p[:3]...) {
			if attempt == 5 {
				t.Fatal("found no free loopback ports for etcd and the API server")
			}
			continue
		}
		return startAPIServer(t, script, p[0], p[1], p[2])
	}
}

// unavailable skips the test without an API server, and fails it in CI,
// where make test-deps must have provided one.
func unavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("no API server under CI=true: %s", why)
	}
	t.Skipf("no API server, so the exports are not checked against one: %s", why)
}

func free(list ...int) bool {
	for _, p := range list {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

func startAPIServer(t *testing.T, script string, etcdPort, peerPort, apiPort int) *kubeServer {
	t.Helper()
	dir := t.TempDir()
	stdin, keepOpen, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// The script's messages, read when it fails: a file, which the test
	// may read while the script still writes.
	stderr, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	log := func() string { data, _ := os.ReadFile(stderr.Name()); return string(data) }
	cmd := exec.Command(script, "serve", dir, fmt.Sprint(etcdPort), fmt.Sprint(peerPort), fmt.Sprint(apiPort))
	cmd.Stdin, cmd.Stderr = stdin, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	lines, done := make(chan string), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && sc.Text() != "ready" {
			lines <- sc.Text()
		}
		close(lines) // after "ready", or when the script ended
		_, _ = io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		keepOpen.Close() // the script stops both servers
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("the API server did not stop within 30 s; killed:\n%s", log())
		}
	})
	kube := &kubeServer{}
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-lines:
			if !ok && kube.kubeconfig != "" {
				return kube // ready
			}
			if !ok {
				t.Fatalf("the API server did not start:\n%s", log())
			}
			if v, found := strings.CutPrefix(line, "KUBECONFIG="); found {
				kube.kubeconfig = v
			}
		case <-timeout:
			t.Fatalf("the API server was not ready in 2 minutes:\n%s", log())
		}
	}
}
