package supervisor

import (
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/state"
)

// stray is a process group still running an instance that no runner
// watches.
type stray struct {
	name string
	pgid int
	home string
}

// findStrays lists what still runs of insts in their homes, whatever
// their records say. A supervisor that died in the middle of a start
// leaves a script and a server it recorded only in part, or not at all
// (killed between the launch and the state write); a server started while
// the state file could not be written is recorded nowhere. They are found
// by the group the record names (while it still belongs to the home), by
// the start script on command lines, and by the home's pid file (a server
// whose script was killed runs on alone, and only its pid file and its
// CARBON_HOME name it). Never mictl's own group.
func findStrays(insts []state.Instance) []stray {
	var out []stray
	add := func(st stray) {
		if st.pgid > 1 && st.pgid != syscall.Getpgrp() && !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	scripts := map[string]state.Instance{} // start script -> instance
	for _, inst := range insts {
		scripts[filepath.Join(inst.Home, home.StartScript)] = inst
		if proc.GroupOf(inst.PGID, inst.Home, inst.Server) {
			add(stray{inst.Name, inst.PGID, inst.Home})
		}
		if st, ok := home.Server(inst.Home); ok {
			add(stray{inst.Name, st.PGID, inst.Home})
		}
	}
	if len(scripts) == 0 {
		return out
	}
	groups, err := proc.GroupsRunning(slices.Collect(maps.Keys(scripts)))
	if err != nil {
		return out // the caller's next step says what is wrong with /proc
	}
	for script, pgids := range groups {
		for _, pgid := range pgids {
			inst := scripts[script]
			add(stray{inst.Name, pgid, inst.Home})
		}
	}
	return out
}

// endStrays ends what still runs of the named instances that have no
// runner and no live recorded server, before they are started again: a
// new start would run a second copy in the same home and fail on the
// ports the first one holds. Strays are left only by a supervisor that
// ended without saying so (see Supervisor.strays): after one that left
// cleanly there is nothing to look for, and the look (a walk of every
// process's command line) was most of the CPU a start of one instance
// cost.
func (s *Supervisor) endStrays(f *state.File, names []string) {
	if !s.strays {
		return
	}
	var insts []state.Instance
	for _, name := range names {
		inst, _ := f.Instance(name)
		if s.hasRunner(name) || (!inst.Server.IsZero() && inst.Server.Alive()) {
			continue
		}
		insts = append(insts, *inst)
	}
	terminateStrays(findStrays(insts), strayTimeout)
}

// strayTimeout bounds the graceful end of a stray before a start: the
// start is waiting for it.
const strayTimeout = 5 * time.Second

// endUnrecorded ends whatever still runs in the homes of the named
// instances, recorded or not (see findStrays): Stop calls it for the
// instances no runner watched, after stopping what the state file names.
func (s *Supervisor) endUnrecorded(names []string, timeout time.Duration) error {
	f, err := s.current()
	if err != nil {
		return err
	}
	var insts []state.Instance
	for _, name := range names {
		if inst, ok := f.Instance(name); ok {
			insts = append(insts, *inst)
		}
	}
	strays := findStrays(insts)
	for _, st := range strays {
		s.emit(Event{Instance: st.name, State: StateStopping, PID: st.pgid, Message: "ending processes still running in its home, unrecorded (process group " + strconv.Itoa(st.pgid) + ")"})
	}
	terminateStrays(strays, timeout)
	ended := map[string]bool{}
	for _, st := range strays {
		// The last word on it: a rebuild reads "stopping" as a stop to
		// finish, never as a server to bring back.
		if !ended[st.name] {
			ended[st.name] = true
			s.emit(Event{Instance: st.name, State: StateStopped, Message: "processes left in its home ended"})
		}
	}
	return nil
}

func terminateStrays(strays []stray, timeout time.Duration) {
	var wg sync.WaitGroup
	for _, st := range strays {
		wg.Go(func() {
			_, _ = terminate(sendSIGTERM(zeroID, st.pgid, st.home), st.home, newKillClock(timeout, time.Now()), nil)
		})
	}
	wg.Wait()
}

// EndIn ends whatever runs in the homes of insts, which no record needs
// to name (a home a reload removed from the configuration, or one mictl
// generate prepared and another program started).
func EndIn(insts []state.Instance, timeout time.Duration) {
	terminateStrays(findStrays(insts), timeout)
}

// Leftovers lists, per instance of insts, the live processes still
// running in its home (see findStrays): after a stop there must be none.
func Leftovers(insts []state.Instance) map[string][]int {
	out := map[string][]int{}
	for _, st := range findStrays(insts) {
		pids, err := proc.GroupMembers(st.pgid)
		if err != nil {
			continue
		}
		for _, pid := range pids {
			if !slices.Contains(out[st.name], pid) {
				out[st.name] = append(out[st.name], pid)
			}
		}
	}
	return out
}
