package sim

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/ports"
)

// docs/mi-integrations.md "Inbound endpoint ports": a port written as a
// synapse placeholder is resolved as the endpoint deploys, $SYSTEM: from
// the server's environment, $FILE: from conf/file.properties; one that
// does not resolve fails the endpoint and its application is faulty.
func TestInboundPlaceholderPort(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	off := freeOffset(t)
	set := ports.DefaultBases().Shift(off)
	envPort, filePort := freeInboundPort(t, off), freeInboundPort(t, off)
	writeFile(t, filepath.Join(home, DeployTOMLPath), tomlWithOffset(off, ""))
	writeFile(t, filepath.Join(home, capp.FilePropertiesFile), "# ports\n! also a comment\norders.other = 1\norders_port : "+strconv.Itoa(filePort)+"\n")
	for name, ph := range map[string]string{"env": "$SYSTEM:MICTL_TEST_ORDERS_PORT", "file": "$FILE:orders_port", "unset": "$SYSTEM:MICTL_TEST_UNSET_PORT"} {
		placeCar(t, home, name+"_1.0.0.car", carBytes(t, capp.Spec{Name: name, Inbounds: []capp.InboundSpec{{Name: name + "In", Placeholder: ph}}}))
	}
	in := start(t, home, startOpts{env: []string{fastDeploy, "MICTL_TEST_ORDERS_PORT=" + strconv.Itoa(envPort)}})
	pid := in.serverPID(0)
	// Deployed in file name order: env, file, then unset.
	in.waitLog("$SYSTEM:MICTL_TEST_UNSET_PORT: Environment variable could not be found", 1)
	if !listensOn(t, pid, envPort) || !listensOn(t, pid, filePort) {
		t.Errorf("want ports %d ($SYSTEM:) and %d ($FILE:) held by pid %d", envPort, filePort, pid)
	}
	apps := applications(t, set, mgmtHeader(t, set))
	if apps.ActiveCount != 2 || apps.FaultyCount != 1 || apps.FaultyList[0].Name != "unset" {
		t.Fatalf("applications %+v", apps)
	}
}
