package appstate

import (
	"path/filepath"
	"strings"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/mgmt"
	"github.com/mictl/mictl/pkg/proc"
)

// The states of an application on an instance.
const (
	StateActive  = "active"  // MI deployed it (this build)
	StateFaulty  = "faulty"  // MI failed to deploy it: ErrorMessage says why
	StatePending = "pending" // declared, and MI does not run it (this build) yet
	StateUnknown = "unknown" // the instance could not be asked, or the file not read
)

// Where an instance's applications were read from.
const (
	SourceAPI = "management_api"
	SourceLog = "log"
)

// Target is one instance to look at.
type Target struct {
	Name    string
	State   string // the instance's own state (ready, stopped, ...)
	Running bool   // its server runs: there is an MI to ask
	// Server is the server process it runs (zero when unknown): a session
	// stops asking an instance whose server exits, as a down or a crash
	// ends it, rather than waiting on an MI that is gone.
	Server proc.Identity
	// Starting: the instance is starting (its server perhaps not found
	// yet), or backing off before the daemon starts it again, and MI
	// opens its Management API only once it has deployed its CApps, at
	// the end of its start: no answer yet is no failure.
	Starting bool
	Home     string
	// URL is its Management API, "" when the instance serves none
	// (internal_http_api_enable = false): its log is read instead.
	URL      string
	Declared []Declared
	// Shipped is the distribution's own carbonapps/ directory, whose CApps
	// every home has from it ("" when unknown).
	Shipped string
	// Up is the mictl up that starts the instance when it does not run,
	// as the user pastes it where the command ran (with its --config),
	// which status names too: a plain "mictl up" acted on another
	// mictl.toml, or left an instance a larger up planned as it was.
	Up string
}

// Declared is one CApp mictl.toml declares for an instance.
type Declared struct {
	Path string
	App  *capp.App // nil when the file could not be read
	Err  error     // why not
	// ID is MI's id of the application when App is nil but mictl knows
	// it otherwise (what it deployed from Path): an undeploy of a
	// declared file deleted since waits for that application to go.
	ID string
}

// Observation is what an instance said about its applications.
type Observation struct {
	Target Target
	// Source is SourceAPI or SourceLog, "" when the instance was not asked
	// (it does not run).
	Source string
	Apps   *mgmt.Applications // the Management API's answer (SourceAPI)
	Events []Event            // its log's CApp lines (SourceLog)
	// Copies maps a declared path to the file of the instance's
	// carbonapps/ holding the same bytes; a path is missing when the
	// instance holds no copy of this build. Nil when carbonapps/ could not
	// be read: then nothing is known of builds.
	Copies map[string]string
	Err    error // why the instance could not be asked
	// Exited says the target's server, running until now, was found gone
	// by this observation (its Running is false from now on).
	Exited bool
}

// InstanceApps is one instance in `mictl apps -o json`. Every key is
// always present; null means unknown or not applicable.
type InstanceApps struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Source is where the states come from: "management_api", "log", or
	// null when the instance was not asked (it does not run).
	Source        *string `json:"source"`
	ManagementURL *string `json:"management_url"`
	Error         *string `json:"error"` // why the instance could not be asked
	Note          *string `json:"note"`
	Apps          []App   `json:"apps"`
}

// App is one application on one instance.
type App struct {
	Name    string  `json:"name"`
	Version *string `json:"version"`
	ID      string  `json:"id"` // MI's name_version
	State   string  `json:"state"`
	// ErrorMessage is MI's reason for a faulty application (or mictl's
	// for a declared file it cannot read).
	ErrorMessage *string `json:"error_message"`
	Note         *string `json:"note"`
	// Declared is the file mictl.toml declares; null for an application
	// MI runs that mictl.toml does not declare.
	Declared *string `json:"declared"`
	SHA256   *string `json:"sha256"` // of the declared file
	// DeployedFile is the file in the instance's carbonapps/ holding this
	// build; null when there is none.
	DeployedFile *string    `json:"deployed_file"`
	Artifacts    []Artifact `json:"artifacts"`
}

// Artifact is one artifact of an application, typed as MI's Management
// API types it (the part after the slash: api, inbound-endpoint, ...).
type Artifact struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// View turns an observation into the instance's row of applications: the
// declared ones in mictl.toml's order, then those MI runs that mictl.toml
// does not declare.
func View(o Observation) InstanceApps {
	t := o.Target
	v := InstanceApps{Name: t.Name, State: t.State, Apps: []App{}}
	if o.Source != "" {
		v.Source = ptr(o.Source)
	}
	if t.URL != "" {
		v.ManagementURL = ptr(t.URL)
	}
	switch {
	case t.Starting && (!t.Running || o.Err != nil):
		// Its server not found yet, or not answering yet: either way no
		// failure, and nothing for the user to start.
		v.Note = ptr("starting: MI says which CApps it runs once it has deployed them (mictl apps again when it is ready)")
	case !t.Running:
		v.Note = ptr("not running: its CApps deploy when it starts; " + t.Up + " starts it")
	case o.Err != nil:
		v.Error = ptr(o.Err.Error())
	case o.Source == SourceLog:
		v.Note = ptr("the Management API is off ([mediation] internal_http_api_enable = false): states read from repository/logs/wso2carbon.log")
	}
	used := map[int]bool{} // MI's entries matched to a declaration (index into listed())
	listed := o.listed()
	for _, d := range t.Declared {
		v.Apps = append(v.Apps, o.declaredApp(d, listed, used))
	}
	for i, l := range listed {
		if !used[i] {
			a := fromMI(l.app, l.faulty)
			if file := filepath.Join(t.Shipped, l.app.ID()+".car"); t.Shipped != "" && fsutil.Exists(file) {
				a.Note = ptr("shipped in the distribution (" + file + "): every instance has it")
			}
			v.Apps = append(v.Apps, a)
		}
	}
	return v
}

// listedApp is one entry of MI's lists.
type listedApp struct {
	app    mgmt.Application
	faulty bool
}

func (o Observation) listed() []listedApp {
	if o.Apps == nil {
		return nil
	}
	var out []listedApp
	for _, a := range o.Apps.ActiveList {
		out = append(out, listedApp{a, false})
	}
	for _, a := range o.Apps.FaultyList {
		out = append(out, listedApp{a, true})
	}
	return out
}

func (o Observation) declaredApp(d Declared, listed []listedApp, used map[int]bool) App {
	path := d.Path
	a := App{Declared: &path, Artifacts: []Artifact{}}
	if d.App == nil {
		// MI names an application's file <name>_<version>.car: what it
		// still runs from an earlier copy of the file is this app.
		id := strings.TrimSuffix(filepath.Base(d.Path), filepath.Ext(d.Path))
		for i, l := range listed {
			if !used[i] && l.app.ID() == id {
				used[i] = true
				a = fromMI(l.app, l.faulty)
				a.Declared = &path
				if d.Err != nil {
					a.Note = ptr("mictl cannot read the declared file (" + d.Err.Error() + "): MI runs the copy it has")
				}
				return a
			}
		}
		a.Name, a.ID, a.State = id, id, StateUnknown
		if d.Err != nil {
			a.ErrorMessage = ptr("mictl cannot read the file: " + d.Err.Error())
		}
		return a
	}
	app := d.App
	a.Name, a.ID, a.SHA256 = app.Name, app.ID(), ptr(app.SHA256)
	if app.Version != "" {
		a.Version = ptr(app.Version)
	}
	for _, art := range app.Artifacts {
		if art.Include {
			a.Artifacts = append(a.Artifacts, Artifact{Name: art.Name, Type: shortType(art.Type)})
		}
	}
	file := o.fileOf(d)
	if _, copied := o.Copies[d.Path]; copied {
		a.DeployedFile = ptr(file)
	}
	switch {
	case !o.Target.Running, o.Err != nil && o.Target.Starting:
		a.State = StatePending
		return a
	case o.Err != nil:
		a.State = StateUnknown
		return a
	case o.Source == SourceLog:
		a.State = StatePending
		if e, ok := Last(o.Events, app.ID(), file); ok {
			switch e.Kind {
			case Deployed:
				a.State = StateActive
			case Failed:
				a.State, a.ErrorMessage = StateFaulty, ptr(e.Message)
			}
		}
	default:
		a.State = StatePending
		for i, l := range listed {
			if used[i] || !l.matches(app.ID(), file) {
				continue
			}
			used[i] = true
			a.State = StateActive
			if l.faulty {
				a.State = StateFaulty
				if l.app.ErrorMessage != "" {
					a.ErrorMessage = ptr(l.app.ErrorMessage)
				}
			}
			a.Artifacts = artifactsOf(l.app, a.Artifacts)
			break
		}
	}
	if a.State != StatePending && o.Copies != nil && a.DeployedFile == nil {
		// MI runs an application of this id, not from this build.
		a.State = StatePending
		a.Note = ptr("the instance runs another build of it: this one is not in its carbonapps/ yet")
	}
	return a
}

// matches reports whether MI's entry is the application id ("" when
// unknown), deployed from file: by id, or (for a faulty application whose
// descriptors MI could not read) by the file's name.
func (l listedApp) matches(id, file string) bool {
	return (id != "" && l.app.ID() == id) || (l.faulty && l.app.Version == "" && l.app.Name == strings.TrimSuffix(file, ".car"))
}

// fileOf is the name of d's file in the instance's carbonapps/: the copy
// of this build when there is one, else the declared file's own name.
func (o Observation) fileOf(d Declared) string {
	if f, ok := o.Copies[d.Path]; ok {
		return f
	}
	return filepath.Base(d.Path)
}

// fromMI is an application MI runs that mictl.toml does not declare.
func fromMI(m mgmt.Application, faulty bool) App {
	a := App{Name: m.Name, ID: m.ID(), State: StateActive, Artifacts: artifactsOf(m, []Artifact{}),
		Note: ptr("not declared in mictl.toml")}
	if m.Version != "" {
		a.Version = ptr(m.Version)
	}
	if faulty {
		a.State = StateFaulty
		if m.ErrorMessage != "" {
			a.ErrorMessage = ptr(m.ErrorMessage)
		}
	}
	return a
}

// artifactsOf is MI's list of an application's artifacts, or fallback
// (the file's) when MI lists none (a faulty application).
func artifactsOf(m mgmt.Application, fallback []Artifact) []Artifact {
	if len(m.Artifacts) == 0 {
		return fallback
	}
	out := make([]Artifact, len(m.Artifacts))
	for i, a := range m.Artifacts {
		out[i] = Artifact{Name: a.Name, Type: a.Type}
	}
	return out
}

// shortType is a CApp artifact type as the Management API writes it:
// synapse/api → api.
func shortType(t string) string {
	if _, after, ok := strings.Cut(t, "/"); ok {
		return after
	}
	return t
}

func ptr[T any](v T) *T { return &v }
