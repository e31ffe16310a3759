package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/testports"
)

// An inbound endpoint mi_home keeps outside any CApp, as a synapse file
// MI's hot deployer deploys, opens its port in every instance as a CApp's
// does: an HL7 one (never offset) is a clash of two instances, explained
// with what to do; one whose port is no port is refused, naming its file.
func TestDistributionsOwnInboundEndpointsArePlanned(t *testing.T) {
	dir := inTempDir(t)
	if code, _, errOut := run(t, "sim", "dist", "dist"); code != exitcode.OK {
		t.Fatalf("sim dist: exit %d: %s", code, errOut)
	}
	endpoints := home.InboundEndpointsDir(filepath.Join(dir, "dist"))
	if err := os.MkdirAll(endpoints, 0o755); err != nil {
		t.Fatal(err)
	}
	endpoint := func(name, protocol, param, port string) string {
		return fmt.Sprintf(`<inboundEndpoint xmlns="http://ws.apache.org/ns/synapse" name=%q protocol=%q sequence="main">
  <parameters><parameter name=%q>%s</parameter></parameters>
</inboundEndpoint>
`, name, protocol, param, port)
	}
	if err := os.WriteFile(filepath.Join(endpoints, "LegacyHL7.xml"), []byte(endpoint("LegacyHL7", "hl7", "inbound.hl7.Port", "20001")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("mictl.toml", []byte("instances = 2\nmi_home = \"dist\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := testports.Base(t, testports.Other, 2)
	b := a + 1
	code, out, errOut := run(t, "check-conflicts", "--offsets", fmt.Sprintf("%d,%d", a, b))
	want := fmt.Sprintf("conflict: mi-1 inbound synapse-configs/LegacyHL7 port 20001 ↔ mi-2 inbound synapse-configs/LegacyHL7 port 20001 (offset %d vs %d): MI never adds the offset", a, b)
	if code != exitcode.Conflicts || !strings.Contains(out, want) || !strings.Contains(out, "it is a file of mi_home's synapse-configs/") {
		t.Fatalf("check-conflicts: exit %d, want 1 and %q:\n%s%s", code, want, out, errOut)
	}

	// One whose port MI resolves as it deploys it is noted, as a CApp's.
	if err := os.WriteFile(filepath.Join(endpoints, "LegacyHL7.xml"), []byte(endpoint("LegacyHL7", "hl7", "inbound.hl7.Port", "$SYSTEM:HL7_PORT")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "check-conflicts", "--offsets", fmt.Sprintf("%d,%d", a, b))
	want = "note: mi-2: inbound endpoint synapse-configs/LegacyHL7 listens on inbound.hl7.Port = $SYSTEM:HL7_PORT, a port MI resolves at run time: not planned, not checked for conflicts"
	if code != exitcode.OK || !strings.Contains(out, want) {
		t.Fatalf("check-conflicts with a run-time port: exit %d, want 0 and %q:\n%s%s", code, want, out, errOut)
	}

	if err := os.WriteFile(filepath.Join(endpoints, "Broken.xml"), []byte(endpoint("Broken", "http", "inbound.http.port", "eighty")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, "check-conflicts", "--offsets", fmt.Sprintf("%d,%d", a, b))
	if want := "synapse-configs/default/inbound-endpoints/Broken.xml: inbound endpoint Broken: inbound.http.port = \"eighty\" is not a port"; code != exitcode.Usage || !strings.Contains(errOut, want) {
		t.Fatalf("check-conflicts with a broken endpoint file: exit %d, want 2 and %q:\n%s", code, want, errOut)
	}
}
