package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/exitcode"
)

// Users, and kubectl's own docs, shorten Kubernetes to kube and k8s:
// `mictl export kube` failed with a suggestion of kubernetes.
func TestExportKubernetesAnswersToKubeAndK8s(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "mictl.toml"), exportTOML)
	for _, alias := range []string{"kube", "k8s"} {
		code, _, errOut := runExport(t, "export", alias, "--out", alias+"-out")
		if code != exitcode.OK || !strings.Contains(errOut, "next: kubectl apply -k "+alias+"-out") {
			t.Errorf("export %s: exit %d:\n%s", alias, code, errOut)
		}
	}
}
