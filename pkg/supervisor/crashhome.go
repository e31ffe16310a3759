package supervisor

import (
	"fmt"
	"strings"

	"github.com/mictl/mictl/pkg/home"
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
// deletes password-tmp at every start).
func (r *runner) restoreHome() {
	dist := r.s.dist
	if dist == "" {
		return // a supervisor that knows no distribution (some tests')
	}
	restored, err := home.Restore(dist, r.inst.Home, nil)
	if len(restored) > 0 {
		r.s.emit(Event{Instance: r.inst.Name, State: eventHomeRestored, Message: fmt.Sprintf("put back from %s, as the home had it at its last start: %s", dist, strings.Join(restored, ", "))})
	}
	if err != nil {
		r.s.emit(Event{Instance: r.inst.Name, State: eventHomeRestoreFailed, Message: err.Error() + "; starting the home as it is"})
	}
}
