package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// unsetVariable is an inbound endpoint whose port is a $SYSTEM:NAME
// placeholder that the MI of some target instances cannot resolve: NAME
// is missing from the environment they run with (or will start with), or
// is no port. MI then fails the endpoint and lists the application as
// faulty (docs/mi-integrations.md, "Inbound endpoint ports"). Every key is
// always present.
type unsetVariable struct {
	Endpoint  string   `json:"endpoint"`
	Parameter string   `json:"parameter"`
	Variable  string   `json:"variable"`
	Instances []string `json:"instances"`
	// Message says it all, with what to do.
	Message string `json:"message"`
}

// placeholderEnv is where the MI of each instance gets the environment it
// resolves $SYSTEM: placeholders from. A server has the environment it was
// started with; the daemon starts and restarts every server with its own
// (supervisor.instanceEnv), so a variable exported later in a shell
// reaches no server until a daemon started from that shell runs them.
type placeholderEnv struct {
	// daemonPID is the live daemon's pid, 0 when none runs: the next
	// mictl command that needs one starts it from this shell.
	daemonPID int
	// launcher is what the daemon gives the servers it starts: the live
	// daemon's environment, else this shell's.
	launcher []string
	// servers are the environments of the target instances whose server
	// runs now, which MI resolves the placeholder from as it deploys
	// the application.
	servers map[string][]string
	// running is whether any target instance runs: a daemon then
	// supervises it (the live one, or one this deploy starts).
	running bool
}

// currentPlaceholderEnv reads it for the named instances of f (nil: none
// was started).
func currentPlaceholderEnv(f *state.File, names []string) placeholderEnv {
	e := placeholderEnv{launcher: os.Environ(), servers: map[string][]string{}}
	if id, ok := daemonIdentity(f); ok {
		if env := proc.Environ(id.PID); env != nil {
			e.daemonPID, e.launcher = id.PID, env
		}
	}
	if f == nil {
		return e
	}
	for _, rec := range f.Instances {
		if !slices.Contains(names, rec.Name) || !reconcile.Running(rec) {
			continue
		}
		e.running = true
		// Unreadable (a server of another user): it has what the
		// daemon gave it, as far as mictl can tell.
		if env := proc.Environ(rec.Server.PID); env != nil {
			e.servers[rec.Name] = env
		}
	}
	return e
}

// resolves says whether env gives name a value MI reads as a port
// (synapse's SystemResolver, then Integer.parseInt, as the simulator does).
func resolves(env []string, name string) bool {
	for _, kv := range env {
		if value, ok := strings.CutPrefix(kv, name+"="); ok {
			_, err := capp.ParsePort(strings.TrimSpace(value))
			return err == nil
		}
	}
	return false
}

// unset lists the $SYSTEM: placeholder ports of app that names (the
// instances it goes to) cannot resolve, one entry per endpoint and fix.
func (e placeholderEnv) unset(app *capp.App, names []string) []unsetVariable {
	out := []unsetVariable{}
	for _, in := range app.Inbounds {
		name := in.EnvVar()
		if name == "" {
			continue
		}
		// A running server resolves the placeholder from its own
		// environment; the others, once started, from the launcher's.
		var restart, relaunch []string
		for _, n := range names {
			env, runs := e.servers[n]
			switch {
			case !resolves(e.launcher, name):
				relaunch = append(relaunch, n)
			case runs && !resolves(env, name):
				restart = append(restart, n)
			}
		}
		if len(restart) > 0 {
			server, it := "the running server of", "it"
			if len(restart) > 1 {
				server, it = "the running servers of", "them"
			}
			out = append(out, e.unsetOn(app, in, name, restart, fmt.Sprintf("%s %s, started without it", server, strings.Join(restart, ", ")),
				fmt.Sprintf("mictl restart %s starts %s with the environment of the mictl daemon, which sets %s", strings.Join(restart, " "), it, name)))
		}
		if len(relaunch) > 0 {
			out = append(out, e.unsetOn(app, in, name, relaunch, e.launcherSays(relaunch), e.relaunchFix(name)))
		}
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

func (e placeholderEnv) unsetOn(app *capp.App, in capp.Inbound, name string, names []string, where, fix string) unsetVariable {
	return unsetVariable{Endpoint: in.Name, Parameter: in.Param, Variable: name, Instances: names,
		Message: fmt.Sprintf("inbound endpoint %s of %s takes its port from %s = %s, and %s is not set to a port in %s: MI fails the endpoint there and lists %s as faulty (mictl apps); %s",
			in.Name, app.ID(), in.Param, in.Placeholder, name, where, app.ID(), fix)}
}
