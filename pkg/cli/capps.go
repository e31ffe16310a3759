package cli

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mictl/mictl/pkg/appstate"
	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// What the CApp commands (inspect, apps, deploy, undeploy) share.

// readDeclared reads the .car at path exactly as mictl reads a declared
// one (reconcile.ReadApps, which the daemon and mictl up use): a file MI
// would not deploy is refused, exit 2, naming the file and the reason; an
// application MI will deploy as faulty is returned as far as its
// descriptors describe it.
func readDeclared(path string) (*capp.App, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, exitcode.Usagef("%s: %v", path, err)
	}
	if !strings.EqualFold(filepath.Ext(abs), ".car") {
		return nil, exitcode.Usagef("%s is not a CApp: MI deploys only files named *.car", path)
	}
	// One instance declaring only this file: ReadApps then judges it alone.
	one := &config.Config{Instances: 1, NamePrefix: "mi", CApps: []string{abs}}
	apps, err := reconcile.ReadApps(one)
	if err != nil {
		return nil, err
	}
	return apps[one.InstanceName(1)][0], nil
}

// readCApp is readDeclared for a file the user names on the command line;
// faulty says why MI will list it as faulty ("" when it will not).
func readCApp(path string) (app *capp.App, faulty string, err error) {
	if app, err = readDeclared(path); err != nil {
		return nil, "", err
	}
	if _, err := capp.Read(app.Path); err != nil {
		faulty = err.Error()
	}
	return app, faulty, nil
}

// declaredFiles reads each declared file once, tolerating the ones that
// cannot be read (a view shows why).
type declaredFiles map[string]appstate.Declared

func (d declaredFiles) get(path string) appstate.Declared {
	if v, ok := d[path]; ok {
		return v
	}
	app, err := readDeclared(path)
	v := appstate.Declared{Path: path, App: app, Err: err}
	d[path] = v
	return v
}

// declaredFor lists the CApps cfg declares for instance name (absolute
// paths; cfg nil: none).
func declaredFor(cfg *config.Config, name string, files declaredFiles) []appstate.Declared {
	if cfg == nil {
		return nil
	}
	var out []appstate.Declared
	for _, c := range cfg.CAppsOf(name) {
		abs, err := filepath.Abs(c.Path)
		if err != nil {
			abs = c.Path
		}
		out = append(out, files.get(abs))
	}
	return out
}

// appTarget is a state file instance as appstate looks at it: running or
// not, reached where it binds, with the CApps cfg declares for it.
func appTarget(inst state.Instance, cfg *config.Config, files declaredFiles) appstate.Target {
	live := liveState(inst)
	return appstate.Target{
		Name: inst.Name, State: live, Running: serverPID(inst, live) > 0, Home: inst.Home,
		URL:      appstate.ManagementURL(inst.Bind, inst.Ports, inst.Home),
		Declared: declaredFor(cfg, inst.Name, files),
	}
}

// sessionOptions are the Management API credentials of cfg.
func sessionOptions(cfg *config.Config) appstate.Options {
	return appstate.Options{User: cfg.ManagementUser, Password: cfg.ManagementPassword}
}

// withCApp is a copy of cfg in which the CApp at path (absolute) is
// declared: at the top level when names is empty, else in each named
// instance (cfg itself is not changed).
func withCApp(cfg *config.Config, path string, names []string) *config.Config {
	c := *cfg
	if len(names) == 0 {
		if !slices.Contains(c.CApps, path) {
			c.CApps = append(slices.Clip(c.CApps), path)
		}
		return &c
	}
	c.Instance = slices.Clone(cfg.Instance)
	for _, n := range names {
		i := slices.IndexFunc(c.Instance, func(ic config.InstanceConfig) bool { return ic.Name == n })
		if i < 0 {
			c.Instance = append(c.Instance, config.InstanceConfig{Name: n, Pos: "mictl deploy " + n, CAppsPos: "mictl deploy " + n})
			i = len(c.Instance) - 1
		}
		if ic := &c.Instance[i]; !slices.Contains(ic.CApps, path) {
			ic.CApps = append(slices.Clip(ic.CApps), path)
		}
	}
	return &c
}

// checkInstanceNames refuses names the configuration does not name
// (exit 2): deploying to a typo would add an instance.
func checkInstanceNames(cfg *config.Config, names []string) error {
	known := cfg.Names()
	for _, n := range names {
		if !slices.Contains(known, n) {
			return exitcode.Usagef("unknown instance %q: the configuration names %s (an instance of its own is added with an [[instance]] table in mictl.toml)",
				n, strings.Join(known, ", "))
		}
	}
	return nil
}

// configFile is the mictl.toml a command edits: --config, else
// ./mictl.toml (created when missing).
func configFile(g *globalOptions) string {
	if g.configPath != "" {
		return g.configPath
	}
	return config.DefaultFile
}

// listenerPrefix is how the plan names an application's inbound
// endpoints: "orders_1.0.0/" + endpoint.
func listenerPrefix(app *capp.App) string { return app.ID() + "/" }

// short abbreviates a SHA-256 for tables.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// humanSize writes n bytes for people.
func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
