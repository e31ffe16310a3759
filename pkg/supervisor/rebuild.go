package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

// Rebuild reconstructs the state file from the instance homes under
// instancesDir, for when state.json is corrupt or lost: each home's
// deployment.toml gives its ports, and its pid file, checked against /proc
// (alive, and running with this home as CARBON_HOME), gives its server.
// Instances whose server is not found are recorded as stopped.
func Rebuild(instancesDir, bind string) (*state.File, error) {
	entries, err := os.ReadDir(instancesDir)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("rebuild the state from %s: %w", instancesDir, err)
	}
	f := &state.File{Version: state.SchemaVersion}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || config.ValidateName(name) != nil {
			continue // .mictl, .dist and anything that is not an instance
		}
		dir, err := filepath.Abs(filepath.Join(instancesDir, name))
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(home.ConfPath(dir))
		if err != nil {
			continue
		}
		doc, err := deploytoml.Parse(home.ConfPath(dir), data)
		if err != nil {
			continue
		}
		bases, err := doc.BasePorts()
		if err != nil {
			continue
		}
		offset, _, _ := doc.Offset()
		inst := state.Instance{Name: name, Home: dir, Bind: bind, State: StateStopped}
		if server, st, ok := serverOf(dir); ok {
			inst.Server, inst.PGID, inst.State = server, st.PGID, StateReady
			if b := proc.Getenv(server.PID, "MICTL_SIM_BIND"); b != "" {
				inst.Bind = b
			}
			if o, ok := flagOffset(server.PID); ok {
				offset = o
				inst.Args = []string{fmt.Sprintf("%s%d", ports.OffsetFlag, o)}
			}
		}
		inst.Offset, inst.Ports = offset, bases.Shift(offset)
		f.Instances = append(f.Instances, inst)
	}
	return f, nil
}

// serverOf returns the live server named by dir's pid file, if it really
// is this home's server: a stale pid file may name any process by now.
func serverOf(dir string) (proc.Identity, proc.Stat, bool) {
	data, err := os.ReadFile(home.PIDFile(dir))
	if err != nil {
		return proc.Identity{}, proc.Stat{}, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return proc.Identity{}, proc.Stat{}, false
	}
	st, err := proc.ReadStat(pid)
	if err != nil || st.Exited() || proc.Getenv(pid, "CARBON_HOME") != dir {
		return proc.Identity{}, proc.Stat{}, false
	}
	return st.Identity(), st, true
}

// flagOffset reads -DportOffset=N from the server's command line.
func flagOffset(pid int) (int, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, false
	}
	for _, arg := range bytes.Split(data, []byte{0}) {
		if v, ok := strings.CutPrefix(string(arg), ports.OffsetFlag); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n, true
			}
		}
	}
	return 0, false
}
