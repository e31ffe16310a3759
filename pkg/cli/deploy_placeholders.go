package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/words"
)

// unsetVariable is an inbound endpoint whose port is a placeholder
// ($SYSTEM:NAME, $FILE:key) that the MI of some target instances cannot
// resolve to a port: NAME missing from the environment they run with (or
// will start with), key missing from their home's conf/file.properties,
// or no port. MI then fails the endpoint and lists the application as
// faulty (docs/mi-integrations.md, "Inbound endpoint ports"). Every key is
// always present.
type unsetVariable struct {
	Endpoint    string `json:"endpoint"`
	Parameter   string `json:"parameter"`
	Placeholder string `json:"placeholder"`
	// Variable is the placeholder's name: NAME of $SYSTEM:NAME, key of
	// $FILE:key.
	Variable  string   `json:"variable"`
	Instances []string `json:"instances"`
	// Fails is when MI fails the endpoint there: "now" on a running
	// server (as it deploys the application), "next_start" when the
	// instances next start, or restart, a running server resolving it now.
	Fails string `json:"fails"`
	// Message says it all, with what to do.
	Message string `json:"message"`
}

// When an unsetVariable fails its instances.
const (
	failsNow       = "now"
	failsNextStart = "next_start"
)

// placeholderEnv is where the MI of each instance gets what it resolves
// placeholders from. A server has the environment it was started with;
// the daemon starts and restarts every server with its own plus what the
// instance's state record keeps (supervisor.LaunchEnv), so a variable
// exported later in a shell reaches no server until a daemon started
// from that shell runs them. $FILE: placeholders read the conf/file.properties
// of the instance's home.
type placeholderEnv struct {
	// daemonPID is the live daemon's pid, 0 when none runs: the next
	// mictl command that needs one starts it from this shell.
	daemonPID int
	// launcher is what the daemon gives the servers it starts: the live
	// daemon's environment, else this shell's.
	launcher []string
	// running is whether any target instance runs: a daemon then
	// supervises it (the live one, or one this deploy starts).
	running bool
	// targets are the instances the application goes to.
	targets map[string]placeholderTarget
	// dist is the distribution new homes are cloned from.
	dist string
}

// placeholderTarget is what one instance's MI resolves placeholders from.
type placeholderTarget struct {
	// runs says its server runs now: MI resolves the placeholder as it
	// deploys the application.
	runs bool
	// env is the environment of its running server, nil when it does not
	// run or cannot be read (a server of another user).
	env []string
	// launch is what the daemon adds to its own environment when it
	// starts the server (the state record's; nil before the first up).
	launch []string
	// home is its MI home ("" when it cannot be told), which may not exist
	// yet: the next mictl up clones it from the distribution.
	home string
}

// currentPlaceholderEnv reads it for the named instances of cfg, f being
// what runs (nil: nothing was started).
func currentPlaceholderEnv(cfg *config.Config, f *state.File, names []string) placeholderEnv {
	e := placeholderEnv{launcher: os.Environ(), targets: map[string]placeholderTarget{}, dist: deployment.Dist(cfg)}
	if id, ok := daemonIdentity(f); ok {
		if env := proc.Environ(id.PID); env != nil {
			e.daemonPID, e.launcher = id.PID, env
		}
	}
	for _, n := range names {
		var t placeholderTarget
		t.home, _ = home.Dir(cfg, n)
		if f == nil {
			e.targets[n] = t
			continue
		}
		if rec, ok := f.Instance(n); ok {
			t.home, t.launch = rec.Home, supervisor.LaunchEnv(rec)
			if t.runs = reconcile.Running(*rec); t.runs {
				e.running = true
				t.env = proc.Environ(rec.Server.PID)
			}
		}
		e.targets[n] = t
	}
	return e
}

// envPort is the port $SYSTEM:name resolves to in env (synapse's
// SystemResolver, then Integer.parseInt, as the simulator does; the last
// of repeated entries, as exec gives the process), ok false when it is
// unset or no port.
func envPort(env []string, name string) (port int, ok bool) {
	for _, kv := range slices.Backward(env) {
		if value, set := strings.CutPrefix(kv, name+"="); set {
			port, err := capp.ParsePort(strings.TrimSpace(value))
			return port, err == nil
		}
	}
	return 0, false
}

// filePort is the port $FILE:key resolves to from path, a
// conf/file.properties, as the simulator reads it; else why not, in the
// user's terms.
func filePort(path, key string) (int, string) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, path + " does not exist"
	case err != nil:
		return 0, fmt.Sprintf("cannot read %s: %v", path, fsutil.Cause(err))
	}
	value, found := capp.FileProperty(data, key)
	if !found {
		return 0, fmt.Sprintf("%s has no %s", path, key)
	}
	port, err := capp.ParsePort(value)
	if err != nil {
		return 0, fmt.Sprintf("%s = %s in %s is no port", key, value, path)
	}
	return port, ""
}

// propertiesFile is the conf/file.properties the MI of t reads: its
// home's; for an instance that does not run, the distribution's when its
// home has none (or does not exist yet), which the next mictl up copies
// into it (which says so).
func (e placeholderEnv) propertiesFile(t placeholderTarget) (path, which string) {
	own := filepath.Join(t.home, filepath.FromSlash(capp.FilePropertiesFile))
	if t.runs {
		return own, ""
	}
	if _, err := os.Stat(own); t.home != "" && err == nil {
		return own, ""
	}
	return filepath.Join(e.dist, filepath.FromSlash(capp.FilePropertiesFile)), ", the distribution's, which mictl up copies into the home"
}

// unset lists the placeholder ports of app that names (the instances it
// goes to) cannot resolve, one entry per endpoint, time and fix.
func (e placeholderEnv) unset(app *capp.App, names []string) []unsetVariable {
	out := []unsetVariable{}
	for _, in := range app.Inbounds {
		switch {
		case in.EnvVar() != "":
			out = append(out, e.unsetEnv(app, in, names)...)
		case in.FileKey() != "":
			out = append(out, e.unsetFile(app, in, names)...)
		}
	}
	return out
}

// unsetEnv judges a $SYSTEM:NAME port: each running server by the
// environment it runs with (the endpoint deploys there now or fails now),
// and apart from that what its next start gets from the daemon.
func (e placeholderEnv) unsetEnv(app *capp.App, in capp.Inbound, names []string) []unsetVariable {
	name := in.EnvVar()
	var restart, relaunchNow, relaunchLater, nextRestart []string
	for _, n := range names {
		t := e.targets[n]
		_, next := envPort(append(slices.Clip(e.launcher), t.launch...), name)
		// A server whose environment cannot be read has what the
		// daemon gave it, as far as mictl can tell.
		known := t.env != nil
		_, now := envPort(t.env, name)
		switch {
		case known && !now && next:
			restart = append(restart, n)
		case known && now && !next:
			nextRestart = append(nextRestart, n)
		case !next && t.runs && !now:
			relaunchNow = append(relaunchNow, n)
		case !next && !t.runs:
			relaunchLater = append(relaunchLater, n)
		}
	}
	var out []unsetVariable
	if len(restart) > 0 {
		n := len(restart)
		out = append(out, e.unsetOn(app, in, name, restart, failsNow, fmt.Sprintf("the running %s of %s, started without it", words.Noun(n, "server"), strings.Join(restart, ", ")),
			fmt.Sprintf("mictl restart %s starts %s with the environment of the mictl daemon, which sets %s", strings.Join(restart, " "), words.ItOrThem(n), name)))
	}
	for _, g := range []struct {
		names []string
		fails string
	}{{relaunchNow, failsNow}, {relaunchLater, failsNextStart}} {
		if len(g.names) > 0 {
			out = append(out, e.unsetOn(app, in, name, g.names, g.fails, e.launcherSays(g.names), e.relaunchFix(name)))
		}
	}
	if len(nextRestart) > 0 {
		n, list := len(nextRestart), strings.Join(nextRestart, ", ")
		them := words.ItOrThem(n)
		out = append(out, unsetVariable{Endpoint: in.Name, Parameter: in.Param, Placeholder: in.Placeholder, Variable: name, Instances: nextRestart, Fails: failsNextStart,
			Message: fmt.Sprintf("inbound endpoint %s of %s takes its port from %s = %s: the running %s of %s %s started with %s and %s the endpoint now, but %s is not set to a port in %s: the next restart of %s (mictl restart, a reload that restarts %s, or the restart policy after a crash) starts %s without %s, and MI then fails the endpoint and lists %s as faulty (mictl apps); %s",
				in.Name, app.ID(), in.Param, in.Placeholder, words.Noun(n, "server"), list, words.WasOrWere(n), name, words.Verb(n, "deploy"), name, e.launcherSays(nextRestart), list, them, them, name, app.ID(), e.relaunchFix(name))})
	}
	return out
}

// launcherSays names where the servers of names get their environment.
func (e placeholderEnv) launcherSays(names []string) string {
	if e.daemonPID != 0 {
		return fmt.Sprintf("the environment of the mictl daemon (pid %d), which starts and restarts the servers of %s with it", e.daemonPID, strings.Join(names, ", "))
	}
	return fmt.Sprintf("this shell, whose environment a mictl daemon started from it (by mictl up) gives the servers of %s", strings.Join(names, ", "))
}

// relaunchFix says how the variable reaches servers whose launcher lacks
// it: only a daemon started from a shell that sets it passes it on (a
// mictl restart keeps the running daemon's environment).
func (e placeholderEnv) relaunchFix(name string) string {
	if e.daemonPID != 0 || e.running {
		return fmt.Sprintf("export %s=<port>, then mictl down and mictl up from that shell (mictl restart keeps the daemon's environment)", name)
	}
	return fmt.Sprintf("export %s=<port> before mictl up", name)
}

func (e placeholderEnv) unsetOn(app *capp.App, in capp.Inbound, name string, names []string, fails, where, fix string) unsetVariable {
	return unsetVariable{Endpoint: in.Name, Parameter: in.Param, Placeholder: in.Placeholder, Variable: name, Instances: names, Fails: fails,
		Message: fmt.Sprintf("inbound endpoint %s of %s takes its port from %s = %s, and %s is not set to a port in %s: MI fails the endpoint there and lists %s as faulty (mictl apps); %s",
			in.Name, app.ID(), in.Param, in.Placeholder, name, where, app.ID(), fix)}
}

// unsetFile judges a $FILE:key port by the conf/file.properties each
// instance's MI reads: a running server's now (MI keeps the application
// faulty until its server restarts), the file the others start with.
func (e placeholderEnv) unsetFile(app *capp.App, in capp.Inbound, names []string) []unsetVariable {
	key := in.FileKey()
	var out []unsetVariable
	for _, runs := range []bool{true, false} {
		var failing, why []string
		for _, n := range names {
			t := e.targets[n]
			if t.runs != runs {
				continue
			}
			path, which := e.propertiesFile(t)
			if _, reason := filePort(path, key); reason != "" {
				failing, why = append(failing, n), append(why, n+": "+reason+which)
			}
		}
		if len(failing) == 0 {
			continue
		}
		whose, fails, fix := "", failsNextStart, " before mictl up"
		if runs {
			whose, fails, fix = "the running "+words.Noun(len(failing), "server")+" of ", failsNow, ", then mictl restart "+strings.Join(failing, " ")
		}
		file := "that file"
		if len(failing) > 1 {
			file = "each file"
		}
		out = append(out, unsetVariable{Endpoint: in.Name, Parameter: in.Param, Placeholder: in.Placeholder, Variable: key, Instances: failing, Fails: fails,
			Message: fmt.Sprintf("inbound endpoint %s of %s takes its port from %s = %s, the key %s of the %s in the MI home, and it is not set to a port for %s%s (%s): MI fails the endpoint there and lists %s as faulty (mictl apps); set %s=<port> in %s%s",
				in.Name, app.ID(), in.Param, in.Placeholder, key, capp.FilePropertiesFile, whose, strings.Join(failing, ", "), strings.Join(why, "; "), app.ID(), key, file, fix)})
	}
	return out
}

// resolvedPort is the port the running server of rec resolves in's
// placeholder to now, from its environment or its home's
// conf/file.properties; ok false when it does not resolve, or cannot be
// told (its environment unreadable, another kind of placeholder).
func resolvedPort(rec *state.Instance, in capp.Inbound) (port int, ok bool) {
	switch {
	case in.EnvVar() != "":
		return envPort(proc.Environ(rec.Server.PID), in.EnvVar())
	case in.FileKey() != "":
		port, why := filePort(filepath.Join(rec.Home, filepath.FromSlash(capp.FilePropertiesFile)), in.FileKey())
		return port, why == ""
	}
	return 0, false
}
