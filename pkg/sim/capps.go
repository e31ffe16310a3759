package sim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/mictl/mictl/pkg/capp"
)

// CarbonAppsDir is where MI's hot deployer looks for CApps, relative to
// CARBON_HOME.
const CarbonAppsDir = "repository/deployment/server/carbonapps"

// tenantLog is what MI appends to an application's id in its deployment
// lines (AppDeployerUtils.getTenantIdLogString for the super tenant).
const tenantLog = "{super-tenant}"

// extractDir is where MI extracts CApps (tmp/carbonapps/<tenant id>); the
// simulator does not extract them, but its messages name the files there
// as MI's do.
const extractDir = "tmp/carbonapps/-1234"

type appState int

const (
	appActive appState = iota // deployed: listed in activeList, its services served
	appFaulty                 // failed while its artifacts deployed: faultyList, /healthz 500
	appFailed                 // refused before deployment: only logged, as MI does
)

// fileStamp tells a changed file from an unchanged one without reading it.
type fileStamp struct {
	size, mtime int64
	ino         uint64
}

func stampOf(fi os.FileInfo) fileStamp {
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

// deployed is one .car file the deployer has seen, in whatever state.
type deployed struct {
	file  string // base name, e.g. orders_1.0.0.car
	path  string
	stamp fileStamp
	state appState
	// app is the application: all of it when active, as far as its
	// descriptors go when faulty (nil when even that is unknown).
	app          *capp.App
	errorMessage string // faulty: MI's errorMessage
	apis         []apiService
	proxies      []string
	inbounds     []*inboundListener
}

// apiService is a deployed API.
type apiService struct {
	name, context string
	version       string // a versioned API's, "" else
}

// deployer is MI's CApp deployer and hot deployment: it deploys every .car
// in carbonapps/ at start, then (with hot deployment on) rescans the
// directory and deploys new files, redeploys changed ones and undeploys
// removed ones (docs/mi-integrations.md, "Hot deployment").
type deployer struct {
	s   *server
	dir string

	mu   sync.RWMutex
	apps map[string]*deployed // by file name
	// synapseInbounds are the listeners of the inbound endpoints deployed
	// from synapse files, outside any CApp (deploySynapseInbounds).
	synapseInbounds []*inboundListener
}

func newDeployer(s *server) *deployer {
	return &deployer{s: s, dir: filepath.Join(s.home, CarbonAppsDir), apps: map[string]*deployed{}}
}

// scan brings the deployed applications in line with carbonapps/. Only
// one goroutine scans at a time (the start, then the hot deployment loop).
func (d *deployer) scan() {
	ents, err := os.ReadDir(d.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		d.s.log.warn("CappDeployer", "Could not read %s: %v", d.dir, err)
		return
	}
	type arrival struct {
		name, path string
		stamp      fileStamp
	}
	var arrivals []arrival
	var leaving []*deployed
	seen := map[string]bool{}
	for _, e := range ents { // sorted by name, as MI deploys them
		if !strings.HasSuffix(e.Name(), ".car") {
			continue
		}
		path := filepath.Join(d.dir, e.Name())
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		seen[e.Name()] = true
		stamp := stampOf(fi)
		d.mu.RLock()
		old := d.apps[e.Name()]
		d.mu.RUnlock()
		if old != nil && old.stamp == stamp {
			continue
		}
		if old != nil {
			leaving = append(leaving, old)
		}
		arrivals = append(arrivals, arrival{e.Name(), path, stamp})
	}
	d.mu.RLock()
	var gone []*deployed
	for name, dep := range d.apps {
		if !seen[name] {
			gone = append(gone, dep)
		}
	}
	d.mu.RUnlock()
	sort.Slice(gone, func(i, j int) bool { return gone[i].file < gone[j].file })
	// What left or changed is undeployed before anything is deployed, as
	// MI's (Axis2's) hot deployer does: a new version that takes over an
	// old one's API deploys cleanly when the old file went in the same
	// scan, rather than failing on its duplicate names.
	for _, dep := range append(leaving, gone...) {
		d.undeploy(dep)
	}
	for _, a := range arrivals {
		d.deploy(a.name, a.path, a.stamp)
	}
}

// hotDeployQuiet is how long carbonapps/ must stay still after a change
// before the watching deployer scans it: a .car copied in place arrives as
// several writes, and reading it half-written would fail it for nothing.
const hotDeployQuiet = 50 * time.Millisecond

// unwatchedDeployEvery is the scan interval where carbonapps/ cannot be
// watched: absent at start, removed later, or no inotify instance left.
const unwatchedDeployEvery = time.Second

// loop runs hot deployment until done is closed. With an interval
// (MICTL_SIM_DEPLOY_INTERVAL) it scans on that tick, as MI does every 15 s.
// Without one it scans when the directory changes, so an idle server does
// no work at all, and polls where it cannot watch.
func (d *deployer) loop(every time.Duration, done <-chan struct{}) {
	if every == 0 {
		if !d.watchLoop(done) {
			return
		}
		every = unwatchedDeployEvery
	}
	for tick := newPeriodic(every, done); tick.wait(); {
		d.scan()
	}
}

// watchLoop scans once each burst of changes to carbonapps/ has settled.
// It returns false when done is closed, true when the directory cannot be
// watched, or no longer (removed or renamed), for the caller to poll it.
func (d *deployer) watchLoop(done <-chan struct{}) (unwatched bool) {
	w, err := fsnotify.NewWatcher()
	if err == nil {
		defer w.Close()
		err = w.Add(d.dir)
	}
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			// Each watching server holds an inotify instance, of the 128
			// a user has by default: say why this one polls.
			d.s.log.warn("CappDeployer", "Hot deployment scans %s every %s: it cannot be watched (%v); raise fs.inotify.max_user_instances, or set %s",
				d.dir, unwatchedDeployEvery, err, EnvDeployInterval)
		}
		return true
	}
	d.scan() // what arrived between the start's scan and the watch
	quiet := time.NewTimer(hotDeployQuiet)
	quiet.Stop()
	defer quiet.Stop()
	for {
		select {
		case <-done:
			return false
		case ev := <-w.Events:
			if ev.Name == d.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				d.scan()
				return true
			}
			quiet.Reset(hotDeployQuiet)
		case <-w.Errors: // events were lost (queue overflow): rescan
			quiet.Reset(hotDeployQuiet)
		case <-quiet.C:
			d.scan()
		}
	}
}

// deploy reads one .car and deploys it, or records why MI would not.
func (d *deployer) deploy(file, path string, stamp fileStamp) {
	dep := &deployed{file: file, path: path, stamp: stamp, state: appFailed}
	// Every outcome is listed (once) before the CApp deployer's lines say
	// it: whoever reads such a line and then asks the server (/healthz,
	// the Management API) finds what it says. (The lines of each artifact,
	// logged as start deploys it, come before: a reader of those may still
	// find the CApp unlisted.) Until undeploy, dep is not changed once
	// listed.
	listed := func() {
		d.mu.Lock()
		d.apps[file] = dep
		d.mu.Unlock()
	}
	app, err := capp.Read(path)
	var ce *capp.Error
	known := app
	if errors.As(err, &ce) && ce.App != nil {
		known = ce.App
	}
	// MI checks the id right after reading artifacts.xml, before the
	// artifacts: a duplicate is refused and logged, not listed as faulty.
	if known != nil && d.activeID(known.ID()) {
		msg := fmt.Sprintf("Carbon Application : %s already exists. Two applications can't have the same Id. Deployment aborted.", known.ID())
		listed()
		d.s.log.error("CappDeployer", "%s", msg)
		d.s.log.errorWith("CappDeployer", "org.wso2.micro.core.util.CarbonException: "+msg, "Error while deploying carbon application %s", path)
		return
	}
	switch {
	case err != nil && ce != nil && ce.Stage == capp.StageArtifact:
		d.fault(dep, ce.App, artifactFailure{typ: ce.ArtifactType, file: d.extracted(file, ce.Entry), cause: ce.Reason}, listed)
		return
	case err != nil:
		listed()
		d.s.log.errorWith("CappDeployer", "org.wso2.micro.core.util.CarbonException: "+err.Error(), "Error while deploying carbon application %s", path)
		return
	}
	if f := d.start(dep, app); f != nil {
		d.fault(dep, app, *f, listed)
		return
	}
	dep.state, dep.app = appActive, app
	listed()
	d.s.log.info("CappDeployer", "Successfully Deployed Carbon Application : %s%s", app.ID(), tenantLog)
}

func (d *deployer) activeID(id string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, dep := range d.apps {
		if dep.state == appActive && dep.app.ID() == id {
			return true
		}
	}
	return false
}

func (d *deployer) extracted(file, entry string) string {
	return filepath.Join(d.s.home, extractDir, file, filepath.FromSlash(entry))
}

// artifactFailure is an artifact MI's synapse deployer could not deploy:
// the CApp turns faulty.
type artifactFailure struct {
	typ   string // the artifact's CApp type
	file  string // its file, where MI extracted it
	cause string // what failed it
}

// deployerOf names MI's synapse deployer of an artifact type: the word its
// messages use and its logging class.
func deployerOf(typ string) (word, class string) {
	switch typ {
	case capp.TypeAPI:
		return "API", "APIDeployer"
	case capp.TypeProxyService:
		return "ProxyService", "ProxyServiceDeployer"
	case capp.TypeInboundEndpoint:
		return "Inbound Endpoint", "InboundEndpointDeployer"
	case capp.TypeSequence:
		return "Sequence", "SequenceDeployer"
	}
	return "Artifact", "AbstractSynapseArtifactDeployer"
}

// errorMessage is MI's errorMessage of the faulty application: the
// DeploymentException's message, which is the synapse exception's text.
func (f artifactFailure) errorMessage() string {
	word, _ := deployerOf(f.typ)
	return fmt.Sprintf("org.apache.synapse.deployers.SynapseArtifactDeploymentException: %s deployment from the file : %s : Failed.", word, f.file)
}

// fault lists an application whose artifact failed as faulty (listed)
// and logs MI's lines for it; its artifacts already deployed were reverted
// by the caller.
func (d *deployer) fault(dep *deployed, app *capp.App, f artifactFailure, listed func()) {
	dep.state, dep.app, dep.errorMessage = appFaulty, app, f.errorMessage()
	listed()
	word, class := deployerOf(f.typ)
	d.s.log.errorWith(class, "org.apache.synapse.SynapseException: "+f.cause, "%s deployment from the file : %s : Failed.", word, f.file)
	d.s.log.errorWith("CappDeployer", "org.apache.axis2.deployment.DeploymentException: "+f.errorMessage(),
		"Error occurred while deploying the Carbon application: %s. Reverting successfully deployed artifacts in the CApp.", dep.file)
	if app != nil {
		d.s.log.info("CappDeployer", "Undeploying Carbon Application : %s...", app.ID())
		d.s.log.info("CappDeployer", "Successfully undeployed Carbon Application : %s%s", app.ID(), tenantLog)
	}
}

// artifactOrder is the order MI's synapse application deployer deploys
// artifact types in (SynapseAppDeployer.getOrderedArtifactsMap), for the
// types the simulator runs.
var artifactOrder = map[string]int{capp.TypeSequence: 0, capp.TypeProxyService: 1, capp.TypeAPI: 2, capp.TypeInboundEndpoint: 3}

// start deploys an application's artifacts: its APIs and proxy services
// are served on the pass-through ports, its inbound endpoints listen. On a
// failure everything started is stopped again.
func (d *deployer) start(dep *deployed, app *capp.App) *artifactFailure {
	arts := make([]capp.Artifact, 0, len(app.Artifacts))
	for _, a := range app.Artifacts {
		if a.Include {
			arts = append(arts, a)
		}
	}
	sort.SliceStable(arts, func(i, j int) bool { return rank(arts[i].Type) < rank(arts[j].Type) })
	for _, a := range arts {
		file := d.extracted(dep.file, a.File)
		fail := func(cause string) *artifactFailure {
			d.stop(dep)
			return &artifactFailure{typ: a.Type, file: file, cause: cause}
		}
		switch a.Type {
		case capp.TypeAPI:
			if other := d.apiClash(a.ConfigName, a.Context, a.APIVersion); other != "" {
				return fail(other)
			}
			d.s.log.info("API", "Initializing API: %s", a.ConfigName)
			dep.apis = append(dep.apis, apiService{name: a.ConfigName, context: a.Context, version: a.APIVersion})
			d.s.metrics.serviceUp(a.ConfigName, serviceAPI)
		case capp.TypeProxyService:
			if d.proxyClash(a.ConfigName) {
				return fail("Duplicate proxy service by the name: " + a.ConfigName)
			}
			dep.proxies = append(dep.proxies, a.ConfigName)
			d.s.metrics.serviceUp(a.ConfigName, serviceProxy)
		case capp.TypeInboundEndpoint:
			d.s.log.info("InboundEndpoint", "Initializing Inbound Endpoint: %s", a.ConfigName)
			for _, in := range app.Inbounds {
				if in.Artifact != a.Name {
					continue
				}
				l, err := d.s.openInbound(in)
				if err != nil {
					return fail(err.Error())
				}
				dep.inbounds = append(dep.inbounds, l)
			}
			d.s.metrics.serviceUp(a.ConfigName, serviceInbound)
		}
		if word, class := deployerOf(a.Type); a.ConfigName != "" {
			d.s.log.info(class, "%s named '%s' has been deployed from file : %s", word, a.ConfigName, file)
		}
	}
	return nil
}

func rank(typ string) int {
	if r, ok := artifactOrder[typ]; ok {
		return r
	}
	return len(artifactOrder)
}

// apiClash says why an API cannot be added beside the deployed ones, ""
// when it can: as Synapse keys APIs, by name and version.
func (d *deployer) apiClash(name, context, version string) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, dep := range d.apps {
		for _, api := range dep.apis {
			switch {
			case api.version != version:
			case api.name == name:
				return "Duplicate resource definition by the name: " + name
			case api.context == context:
				return "API context: " + context + " already exists"
			}
		}
	}
	return ""
}

func (d *deployer) proxyClash(name string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, dep := range d.apps {
		for _, p := range dep.proxies {
			if p == name {
				return true
			}
		}
	}
	return false
}

// stop takes an application's services down: its inbound endpoints stop
// listening, its APIs and proxies are no longer served.
func (d *deployer) stop(dep *deployed) {
	for _, l := range dep.inbounds {
		l.close()
		d.s.metrics.serviceDown(l.name, serviceInbound)
	}
	for _, a := range dep.apis {
		d.s.metrics.serviceDown(a.name, serviceAPI)
	}
	for _, p := range dep.proxies {
		d.s.metrics.serviceDown(p, serviceProxy)
	}
	d.mu.Lock()
	dep.inbounds, dep.apis, dep.proxies = nil, nil, nil
	d.mu.Unlock()
}

// undeploy forgets a file: an active application is undeployed with MI's
// lines; for any other MI logs that it undeploys a faulty one.
func (d *deployer) undeploy(dep *deployed) {
	active := dep.state == appActive
	if active {
		d.s.log.info("CappDeployer", "Undeploying Carbon Application : %s...", dep.app.ID())
		d.stop(dep)
	}
	d.mu.Lock()
	delete(d.apps, dep.file)
	d.mu.Unlock()
	// Said once the app is gone: whoever reads the line and then asks the
	// server (/healthz, the Management API) finds it gone too.
	if active {
		d.s.log.info("CappDeployer", "Successfully undeployed Carbon Application : %s%s", dep.app.ID(), tenantLog)
	} else {
		d.s.log.info("CappDeployer", "Undeploying Faulty Carbon Application On : %s", dep.path)
	}
}

// snapshot returns the deployed files sorted by name, copied so that the
// caller may read them without the lock.
func (d *deployer) snapshot() []deployed {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]deployed, 0, len(d.apps))
	for _, dep := range d.apps {
		out = append(out, *dep)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].file < out[j].file })
	return out
}

// inbounds lists the listeners of every deployed inbound endpoint: those
// of synapse files first, then the applications' by file name.
func (d *deployer) inbounds() []*inboundListener {
	d.mu.RLock()
	out := slices.Clone(d.synapseInbounds)
	d.mu.RUnlock()
	for _, dep := range d.snapshot() {
		out = append(out, dep.inbounds...)
	}
	return out
}

// faulty lists the files of the faulty applications, for /healthz.
func (d *deployer) faulty() []string {
	var out []string
	for _, dep := range d.snapshot() {
		if dep.state == appFaulty {
			out = append(out, dep.file)
		}
	}
	return out
}

// anyActive reports whether some application is deployed.
func (d *deployer) anyActive() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, dep := range d.apps {
		if dep.state == appActive {
			return true
		}
	}
	return false
}
