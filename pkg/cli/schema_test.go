package cli

import (
	"fmt"
	"testing"

	"github.com/mictl/mictl/pkg/jsonschematest"
)

// Every -o json output that needs no running instance matches its schema
// in pkg/cli/schema, every key present (issue 10). The e2e tests check the
// outputs of running deployments (status, ports table live, top).
func TestJSONOutputsMatchTheirSchemas(t *testing.T) {
	inTempDir(t)
	a, b := clashingOffsets(t)
	tests := []struct {
		schema string
		args   []string
	}{
		{"version", []string{"version", "-o", "json"}},
		{"ports-table", []string{"ports", "table", "--instances", "3", "-o", "json"}},
		{"ports-table", []string{"ports", "table", "--offsets", fmt.Sprintf("%d,%d", a, b), "-o", "json"}},
		{"check-conflicts", []string{"check-conflicts", "--offsets", fmt.Sprintf("%d,%d", a, b), "-o", "json"}},
		{"check-conflicts", []string{"check-conflicts", "--instances", "2", "-o", "json"}},
		// A refused up says why as check-conflicts does, never in text.
		{"check-conflicts", []string{"up", "--offsets", fmt.Sprintf("%d,%d", a, b), "-o", "json"}},
		{"generate", []string{"generate", "--instances", "2", "--base-offset", fmt.Sprint(a), "-o", "json"}},
		{"diff", []string{"diff", "-o", "json"}},
		{"status", []string{"status", "-o", "json"}},
		{"export", []string{"export", "kubernetes", "--out", "k8s", "-o", "json"}},
		{"export", []string{"export", "systemd", "--out", "systemd", "-o", "json"}},
		{"export", []string{"export", "compose", "--out", "compose.yaml", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			_, out, errOut := run(t, tt.args...)
			if out == "" {
				t.Fatalf("no output; stderr:\n%s", errOut)
			}
			jsonschematest.Validate(t, tt.schema, []byte(out))
		})
	}
}
