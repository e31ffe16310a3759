package cli

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// moveNote says why the planner placed inst higher than an idle host
// would have: the offset it passed over, and what holds the port there.
// "" when it did not.
func moveNote(t *reconcile.Target, inst ports.Instance) string {
	m := inst.Moved
	if m == nil {
		return ""
	}
	return fmt.Sprintf("%s planned at offset %d, not %d: %s", inst.Name, inst.Offset, m.Skipped, heldThere(t, *m))
}

// heldThere says what made the planner pass over m.Skipped: the port
// there and its holder, and how many offsets it passed over in all.
func heldThere(t *reconcile.Target, m ports.Move) string {
	said := fmt.Sprintf("its %s there is held by %s", ports.Spell(m.What(), m.Port), orUnknown(deref(t.Host.Holder(m.Port).Holder)))
	if m.Passed > 1 {
		said += fmt.Sprintf(" (%d offsets passed over for ports busy on the host)", m.Passed)
	}
	return said
}

// passedOver says, for the note of inst, placed elsewhere than offset
// last where it last ran, the offset the planner passed over for the host
// and why, "" when it passed over none, or only last (whose port a stranger
// took: the note names it). That note says it all: up printed a second
// one, "mi-4 planned at offset 5007, not 5000", beside "mi-4 starts at
// offset 5007, not 5003 where it last ran", which read as a contradiction.
func passedOver(t *reconcile.Target, inst ports.Instance, last int) string {
	m := inst.Moved
	if m == nil || m.Skipped == last {
		return ""
	}
	return fmt.Sprintf("passed over offset %d: %s", m.Skipped, heldThere(t, *m))
}

// moveNotes lists the moveNote of every instance the host moved, but
// those of noted, whose notes of where they last ran say it (passedOver).
func moveNotes(t *reconcile.Target, noted []string) []string {
	var out []string
	for _, inst := range t.Plan.Instances {
		if note := moveNote(t, inst); note != "" && !slices.Contains(noted, inst.Name) {
			out = append(out, note)
		}
	}
	return out
}

// instanceRunTimePort is an inbound endpoint port of an instance that MI
// resolves at run time (check-conflicts -o json).
type instanceRunTimePort struct {
	Instance string `json:"instance"`
	deployment.RunTimePort
}

// runTimePorts lists, instance by instance, the inbound endpoint ports MI
// resolves only at run time: the plan and the conflict check leave them out.
func runTimePorts(t *reconcile.Target) []instanceRunTimePort {
	out := []instanceRunTimePort{}
	for _, inst := range t.Plan.Instances {
		for _, r := range deployment.RunTimePorts(t.Inbounds, t.AppsOf(inst.Name)) {
			out = append(out, instanceRunTimePort{Instance: inst.Name, RunTimePort: r})
		}
	}
	return out
}

// runTimeNotes say which ports runTimePorts lists, and that nothing
// checked them.
func runTimeNotes(t *reconcile.Target) []string { return runTimePortNotes(runTimePorts(t), "") }

// runTimePortNotes are the notes of runTime (some of runTimePorts), each
// followed by more (what else leaves the port out) unless that is "".
func runTimePortNotes(runTime []instanceRunTimePort, more string) []string {
	if more != "" {
		more = "; " + more
	}
	var out []string
	for _, r := range runTime {
		out = append(out, fmt.Sprintf("%s: inbound endpoint %s listens on %s = %s, a port MI resolves at run time: not planned, not checked for conflicts%s",
			r.Instance, r.Listener, r.Parameter, r.Value, more))
	}
	return out
}

// takenPort is a port of where an instance that does not run last ran,
// which a foreign process now holds: why it cannot start there again.
// Its holder and address are apart, as in every -o json holder
// (movedInfo's): the holder spelled as the notes say it, "pid 7 (python3)
// on ::1, which clients of localhost:8290 may reach instead", matched no
// other output's.
type takenPort struct {
	Port int    `json:"port"`
	Role string `json:"role"`
	check.HeldBy
	// Address is where the holder holds the port, as movedInfo's.
	Address *string `json:"address"`
	// said is the holder as the notes say it (check.Host.Holder).
	said string
}

// String says it as the notes do.
func (p *takenPort) String() string {
	return fmt.Sprintf("its %s is now held by %s", ports.Spell(p.Role, p.Port), p.said)
}

// lastPortTaken is the first of rec's ports that a foreign process now
// holds, nil when none is: rec does not run, and the planner would start
// it elsewhere. Without it, the notes of a stopped or failed instance
// placed elsewhere named only the offset the planner passed over first,
// never the stranger that took its own port, and advised pinning the old
// offset, which up then refused. (A port another planned instance now has
// needs no word: pinned, the old offset wins and the planner moves that
// one.)
func lastPortTaken(t *reconcile.Target, rec state.Instance) *takenPort {
	for role, port := range rec.Ports {
		if said := t.Host.Holder(port).Holder; said != nil {
			held, at := heldAt(t, port)
			return &takenPort{Port: port, Role: ports.Role(role).String(), HeldBy: held, Address: at, said: *said}
		}
	}
	return nil
}

// backAdvice says how instance name, which does not run, goes back to
// offset, where it last ran, given lastPortTaken's taken, by pinning the
// offset in cfg's file (config.PinOffset).
func backAdvice(cfg *config.Config, name string, taken *takenPort, offset int) string {
	if taken != nil {
		return "to go back, free that port, then " + cfg.PinOffset(name, strconv.Itoa(offset))
	}
	return "to keep an offset, " + cfg.PinOffset(name, strconv.Itoa(offset))
}

func orUnknown(holder string) string {
	if holder == "" {
		return "a process that has since let it go"
	}
	return holder
}

// refusalHints say, for each instance in a conflict whose offset is fixed
// (by --offsets, by mictl.toml, or because it runs with it or is meant
// to: f records which), where the offset comes from and the command that
// gets it out of the way.
func refusalHints(t *reconcile.Target, f *state.File, report check.Report) []string {
	var names []string
	for _, c := range report.Conflicts {
		for _, name := range c.Instances {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	var hints []string
	for _, inst := range t.Plan.Instances {
		if !slices.Contains(names, inst.Name) {
			continue
		}
		switch inst.From {
		case ports.OffsetFromFlag:
			hints = append(hints, fmt.Sprintf("%s has offset %d from --offsets: give it a free one (mictl ports table --instances %d --base-offset %d shows what the planner would choose), or leave it out of --offsets",
				inst.Name, inst.Offset, len(t.Plan.Instances), t.Config.BaseOffset))
		case ports.OffsetFromConfig:
			hints = append(hints, fmt.Sprintf("%s has offset %d from mictl.toml (%s, [[instance]] offset): change it, or remove it to let mictl choose",
				inst.Name, inst.Offset, inst.Where))
		case ports.OffsetFromRunning:
			rec, _ := f.Instance(inst.Name)
			free := "free its ports, or "
			if rec != nil && rec.State == state.StateFailed {
				free = "" // it holds none: no server runs
			}
			hints = append(hints, fmt.Sprintf("%s %s: %sstop it (mictl down %s) so that the next up plans it again",
				inst.Name, whyPinned(inst, rec), free, inst.Name))
		}
	}
	return hints
}

// whyPinned says why inst keeps its offset: it runs with it, or it has no
// server now but is meant to run, and what starts it there again, or it
// failed (reconcile.Build keeps a failed one's offset). rec is
// its record (nil when the state file has none). "Runs" alone said of an
// instance between two restarts of a crash loop (a stranger holding its
// port, say) that it runs, which status then contradicted.
func whyPinned(inst ports.Instance, rec *state.Instance) string {
	if rec != nil && !rec.Server.Alive() {
		switch {
		case rec.State == state.StateBackoff || rec.State == state.StateCrashed:
			return fmt.Sprintf("has no server now (%s: mictl status %s says why) but is meant to run: its restart policy starts it again at offset %d, until it gives up (state failed)",
				rec.State, inst.Name, inst.Offset)
		case rec.State == state.StateStarting:
			return fmt.Sprintf("has no server yet but is starting, at offset %d, and keeps it while it runs", inst.Offset)
		case rec.RestartUnderWay():
			return fmt.Sprintf("has no server now but is being restarted, at offset %d again, and keeps it while it runs", inst.Offset)
		case rec.State == state.StateFailed:
			return fmt.Sprintf("failed (mictl status %s says why) and keeps offset %d, where it last ran and its clients know it, while base_offset, offset_step, offset_method, host and its own offset stay as they placed it there, until it is stopped", inst.Name, inst.Offset)
		}
	}
	return fmt.Sprintf("runs with offset %d and keeps it while it runs", inst.Offset)
}
