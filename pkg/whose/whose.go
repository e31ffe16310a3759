// Package whose says which instance a process belongs to, for the
// messages that name what holds a port: "pid 9398 (mictl-sim), the
// server of mi-3". It reads the process itself (its process group and
// CARBON_HOME) and the pid file of the home that names, never a walk of
// /proc: the daemon may ask each time it finds a port of an instance
// held by another process.
package whose

import (
	"fmt"
	"path/filepath"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

// Deployment knows the processes of one deployment: its instances
// directory and its instances' records.
type Deployment struct {
	dir     string // as the user knows it, for messages: "instances"
	abs     string
	records []state.Instance
}

// New is the deployment whose homes are under dir (instances_dir, as
// configured) and whose instances are recorded in records (none when
// nothing was started).
func New(dir string, records []state.Instance) *Deployment {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return &Deployment{dir: dir, abs: abs, records: records}
}

// Of says whose process pid is: the instance whose home it runs in (""
// when it runs in none of the deployment's) and the words that follow
// "pid 9398 (mictl-sim)" in a message to say so (", the server of
// mi-3"; "" when nothing is known of it):
//   - a process of an instance mictl started (its recorded process
//     group, in its home): the server of it, or a process of it;
//   - a process mictl did not start running in an instance's home (its
//     CARBON_HOME): someone ran the home's start script by hand;
//   - the server of an MI home that is none of the deployment's
//     instances' (another deployment's instance, an MI_HOME started by
//     hand): its pid file names it.
func (d *Deployment) Of(pid int) (instance, about string) {
	st, err := proc.ReadStat(pid)
	if err != nil || st.Exited() {
		return "", ""
	}
	dir := proc.Getenv(pid, "CARBON_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		return "", ""
	}
	dir = filepath.Clean(dir)
	server, ok := home.Server(dir)
	isServer := ok && server.PID == pid
	name := ""
	for _, rec := range d.records {
		if rec.Home != dir {
			continue
		}
		name = rec.Name
		if rec.PGID > 0 && rec.PGID == st.PGID {
			if isServer || rec.Server.PID == pid {
				return name, ", the server of " + name
			}
			return name, ", a process of " + name
		}
	}
	if name == "" && filepath.Dir(dir) == d.abs && config.ValidateName(filepath.Base(dir)) == nil {
		name = filepath.Base(dir)
	}
	what := "a process"
	if isServer {
		what = "a server"
	}
	switch {
	case name != "":
		return name, fmt.Sprintf(", %s mictl did not start running in %s's home (%s)", what, name, d.shown(dir))
	case isServer:
		return "", ", a server running in " + dir
	}
	return "", ""
}

// shown is the home dir as the user knows it: under the instances
// directory as configured ("instances/mi-2"), else in full.
func (d *Deployment) shown(dir string) string {
	if filepath.Dir(dir) == d.abs {
		return filepath.Join(d.dir, filepath.Base(dir))
	}
	return dir
}
