package sim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/mictl/mictl/pkg/capp"
)

// InboundEndpointsDir is where MI deploys inbound endpoints kept as plain
// synapse files, outside any CApp, relative to CARBON_HOME.
const InboundEndpointsDir = "repository/deployment/server/synapse-configs/default/inbound-endpoints"

// deploySynapseInbounds deploys the inbound endpoints kept as synapse
// files in InboundEndpointsDir, as MI's synapse deployer does at start,
// before the CApps: each file's listeners open on the ports MI would
// bind. A file that cannot be deployed (malformed, a port that is no
// port, a port in use) is logged and left out; the server runs on.
// Unlike MI, later changes to the directory are not followed: mictl plans
// these ports from the distribution, once per up.
func (d *deployer) deploySynapseInbounds() {
	dir := filepath.Join(d.s.home, InboundEndpointsDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.s.log.warn("InboundEndpointDeployer", "Could not read %s: %v", dir, err)
		}
		return
	}
	for _, e := range ents { // sorted by name, as MI deploys them
		if !strings.HasSuffix(e.Name(), ".xml") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		listeners, ok := d.openSynapseInbound(path)
		if !ok {
			d.s.log.error("InboundEndpointDeployer", "Inbound Endpoint deployment from the file : %s : Failed.", path)
			continue
		}
		d.mu.Lock()
		d.synapseInbounds = append(d.synapseInbounds, listeners...)
		d.mu.Unlock()
	}
}

// openSynapseInbound opens the listeners of the inbound endpoint in the
// synapse file at path; false, with nothing left open, when it fails.
func (d *deployer) openSynapseInbound(path string) ([]*inboundListener, bool) {
	ins, err := capp.ReadInboundEndpoint(path)
	if err != nil {
		d.s.log.error("InboundEndpointDeployer", "Error reading the inbound endpoint in %s: %v", path, err)
		return nil, false
	}
	var opened []*inboundListener
	for _, in := range ins {
		d.s.log.info("InboundEndpoint", "Initializing Inbound Endpoint: %s", in.Name)
		l, err := d.s.openInbound(in)
		if err != nil {
			for _, l := range opened {
				l.close()
			}
			return nil, false
		}
		opened = append(opened, l)
		d.s.metrics.serviceUp(in.Name, serviceInbound)
		d.s.log.info("InboundEndpointDeployer", "Inbound Endpoint named '%s' has been deployed from file : %s", in.Name, path)
	}
	return opened, true
}
