package supervisor

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/sim"
)

// Events of a home readied for a crash restart (see restoreHome).
const (
	eventHomeRestored      = "home-restored"
	eventHomeRestoreFailed = "home-restore-failed"
)

// restoreHome readies the home of an instance that crashed for its
// restart. Unlike `mictl restart`, a crash restart does not bring the
// home up to date with the distribution and the configuration: changes
// wait for a restart or a reload the user asks for. It puts back what
// the home lost since its last start (see home.Restore: MI's secure vault
// deletes password-tmp at every start; and home.RestoreConf: its
// deployment.toml as mictl rendered it), and, in a simulated home whose
// start script runs a simulator that is gone (mictl moved), the script,
// naming the simulator of the running mictl. It returns an error, for
// the run to end at once, when the start would fail however often it is
// tried, or run on other ports than planned: the simulator is gone and
// no other can be named, or deployment.toml is gone with no copy.
func (r *runner) restoreHome() error {
	// The distribution the home was cloned from, which a reload may have
	// changed since this supervisor started.
	dist, ok := home.SyncedFrom(r.inst.Home)
	if !ok {
		dist = r.s.dist // a home an older mictl cloned
	}
	if dist == "" {
		return nil // a supervisor that knows no distribution (some tests')
	}
	var current []string
	if sim.GoneProgram(r.inst.Home) != "" && sim.IsDist(dist) && r.rewriteSimulatorDist(dist) {
		current = []string{home.StartScript}
	}
	restored, err := home.Restore(dist, r.inst.Home, current)
	if len(restored) > 0 {
		r.s.emit(Event{Instance: r.inst.Name, State: eventHomeRestored, Message: fmt.Sprintf("put back from %s: %s", dist, strings.Join(restored, ", "))})
	}
	if err != nil {
		r.s.emit(Event{Instance: r.inst.Name, State: eventHomeRestoreFailed, Message: err.Error() + "; starting the home as it is"})
	}
	// After the files of the distribution: conf/ gone whole, it is made
	// again with the distribution's mode.
	switch put, err := home.RestoreConf(r.inst.Home); {
	case err != nil:
		return &startFailure{final: true, reason: "conf/deployment.toml gone, not put back: " + r.s.asRun("mictl up") + " renders it", detail: err.Error()}
	case put:
		r.s.emit(Event{Instance: r.inst.Name, State: eventHomeRestored, Message: "put back conf/deployment.toml as mictl last rendered it"})
	}
	if gone := sim.GoneProgram(r.inst.Home); gone != "" {
		return &startFailure{final: true, reason: "simulator gone: " + gone,
			detail: fmt.Sprintf("%s runs the simulator %s, which is gone (mictl moved or removed): start %s again with `%s` from the mictl you use now, and move the instances still running onto it with `%s` before they crash too",
				filepath.Join(r.inst.Home, home.StartScript), gone, r.inst.Name, r.s.asRun("mictl up"), r.s.asRun("mictl restart --all"))}
	}
	return nil
}

// rewriteSimulatorDist writes the simulator distribution dist again for
// the simulator of the running mictl, as every `mictl up` does, and
// reports whether it did; not when that simulator is gone too (a daemon
// whose mictl was copied elsewhere and removed knows of no other).
func (r *runner) rewriteSimulatorDist(dist string) bool {
	opts, ok := sim.RunnableDistOptions()
	if !ok {
		return false
	}
	if err := sim.WriteDist(dist, opts); err != nil {
		r.s.emit(Event{Instance: r.inst.Name, State: eventHomeRestoreFailed, Message: err.Error()})
		return false
	}
	return true
}
