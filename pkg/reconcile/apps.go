package reconcile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/state"
)

// SyncApps makes the CApps mictl keeps in home dir's carbonapps/ those of
// apps, and returns their records. Each app mictl put there before (prev)
// and no longer declared is removed first (MI undeploys it), then each
// declared one is copied in through a temporary file in carbonapps/
// renamed over its name, so MI's hot deployer (which reads only .car
// files) never sees half of one, and a copy interrupted leaves the old
// app or the new one; one whose file already has the content is left
// alone. Removals go first because a new version that takes over a
// removed one's API deploys cleanly only after it: MI undeploys before it
// deploys in one scan, but a scan between a copy and a removal would fail
// the new version, for good. Files mictl did not put there are never
// touched. On a failure it returns the records of what the home holds
// then: those of prev not removed or replaced yet, and the apps copied
// so far. Returned prev whole, a removal or a copy made before the
// failure went unrecorded.
func SyncApps(dir string, apps []*capp.App, prev []state.App) ([]state.App, error) {
	target := home.CarbonAppsDir(dir)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return prev, fmt.Errorf("deploy CApps into %s: %w", target, err)
	}
	held := slices.Clone(prev)
	for _, old := range prev {
		if slices.ContainsFunc(apps, func(a *capp.App) bool { return fileOfApp(a) == old.File }) {
			continue
		}
		if err := os.Remove(filepath.Join(target, old.File)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return held, fmt.Errorf("undeploy CApp %s: %w", old.ID, err)
		}
		held = slices.DeleteFunc(held, func(a state.App) bool { return a.File == old.File })
	}
	out := make([]state.App, 0, len(apps))
	for _, app := range apps {
		rec := state.App{ID: app.ID(), File: fileOfApp(app), Source: app.Path, SHA256: app.SHA256}
		path := filepath.Join(target, rec.File)
		if !sameContent(prev, rec, path) {
			if err := fsutil.CopyBuildAtomic(app.Path, path, 0o644, app.SHA256); err != nil {
				if errors.Is(err, fsutil.ErrChanged) {
					// Copied, the home would hold another build than
					// the one recorded, planned (its inbound ports) and
					// waited for: MI would keep it, and no reload would
					// see a change to make.
					return held, &rewritten{app: app}
				}
				return held, fmt.Errorf("deploy CApp %s: %w", app.ID(), err)
			}
		}
		out = append(out, Stamped(rec, path))
		held = append(slices.DeleteFunc(held, func(a state.App) bool { return a.File == rec.File }), out[len(out)-1])
	}
	return out, nil
}

// HeldExtras are the extra ports of an instance whose home holds the
// CApps held (SyncApps' records, after a failure too), planned being its
// extras as planned with apps, the CApps declared for it, and was those
// its record had: an app's inbound endpoints are planned's where the home
// holds the declared build, was's where it still holds the one before (a
// copy or a removal failed), none where it holds none; the other extras
// are planned's. Recorded as planned after a failed copy, the old build's
// port, which MI still held, read as let go, and the new build's, which
// nothing opened, as the instance's: every later reload refused to give
// the old port to the instance it moved to, "held by the server of" the
// one whose copy failed.
func HeldExtras(planned, was []state.Extra, apps []*capp.App, held []state.App) []state.Extra {
	asDeclared := func(id string) bool {
		return slices.ContainsFunc(held, func(h state.App) bool {
			return h.ID == id && slices.ContainsFunc(apps, func(a *capp.App) bool { return a.ID() == id && a.SHA256 == h.SHA256 })
		})
	}
	// appOf is the id, among ids, of the app whose inbound endpoint e is
	// ("orders_1.0.0/HTTPIn"), "" for any other extra.
	appOf := func(e state.Extra, ids []string) string {
		i := slices.IndexFunc(ids, func(id string) bool { return e.Role == ports.RoleInbound && strings.HasPrefix(e.Listener, id+"/") })
		if i < 0 {
			return ""
		}
		return ids[i]
	}
	var declared, heldIDs []string
	for _, a := range apps {
		declared = append(declared, a.ID())
	}
	for _, h := range held {
		heldIDs = append(heldIDs, h.ID)
	}
	var out []state.Extra
	for _, e := range planned {
		if id := appOf(e, declared); id == "" || asDeclared(id) {
			out = append(out, e)
		}
	}
	for _, e := range was {
		if id := appOf(e, heldIDs); id != "" && !asDeclared(id) {
			out = append(out, e)
		}
	}
	return out
}

// rewritten is SyncApps' error when the file of app no longer holds the
// build read: it wraps fsutil.ErrChanged, for a caller to tell a plan
// made stale from a home that failed.
type rewritten struct{ app *capp.App }

func (e *rewritten) Error() string {
	return fmt.Sprintf("deploy CApp %s: %s was rewritten while it was deployed (rebuilt, or copied over), and this build was not copied: a running daemon deploys the build it holds now at its next reload (mictl reload does it at once); for mictl up or generate, run it again", e.app.ID(), e.app.Path)
}

func (e *rewritten) Unwrap() error { return fsutil.ErrChanged }

// fileOfApp is the name of app's file in carbonapps/: MI's id, .car.
func fileOfApp(app *capp.App) string { return app.ID() + ".car" }

// sameContent reports whether path already holds what rec describes, as
// mictl copied it there.
func sameContent(prev []state.App, rec state.App, path string) bool {
	i := slices.IndexFunc(prev, func(a state.App) bool { return a.File == rec.File })
	return i >= 0 && prev[i].SHA256 == rec.SHA256 && holds(prev[i], path)
}

// Stamped is rec with the size and modification time of its file at
// path as mictl leaves it (or finds it, rebuilding a record): later looks
// need not read it (see holds).
func Stamped(rec state.App, path string) state.App {
	if info, err := os.Stat(path); err == nil {
		rec.Size, rec.ModTime = info.Size(), info.ModTime().UnixNano()
	}
	return rec
}

// holds reports whether the file at path is the build rec records: by
// its stamp while the file is as mictl left it, else by its content
// (another build copied over it by hand is not; one only touched is).
func holds(rec state.App, path string) bool {
	info, err := os.Stat(path)
	if err != nil {
		return false
	}
	if rec.ModTime != 0 && info.Size() == rec.Size && info.ModTime().UnixNano() == rec.ModTime {
		return true
	}
	sum, err := fsutil.SHA256(path)
	return err == nil && sum == rec.SHA256
}

// appsChange describes how apps differ from what the instance whose home
// is dir runs (prev), "" when they do not: "+orders_1.0.0 ~billing_2.0.0
// -old_1.0.0". An app whose file in the home is no longer the build
// mictl put there (another copied over it) is changed too.
func appsChange(apps []*capp.App, prev []state.App, dir string) string {
	var parts []string
	for _, app := range apps {
		i := slices.IndexFunc(prev, func(a state.App) bool { return a.ID == app.ID() })
		switch {
		case i < 0:
			parts = append(parts, "+"+app.ID())
		case prev[i].SHA256 != app.SHA256, !holds(prev[i], filepath.Join(home.CarbonAppsDir(dir), prev[i].File)):
			parts = append(parts, "~"+app.ID())
		}
	}
	for _, old := range prev {
		if !slices.ContainsFunc(apps, func(a *capp.App) bool { return a.ID() == old.ID }) {
			parts = append(parts, "-"+old.ID)
		}
	}
	return strings.Join(parts, " ")
}

// AppsVerb names, for the event log, what giving the instance whose home
// is dir apps, where it runs prev, does: "deploy" when it only adds
// CApps, "undeploy" when it only takes some away, else "redeploy". The
// first deploy of a CApp was logged "redeploy", as if it had run before.
func AppsVerb(apps []*capp.App, prev []state.App, dir string) string {
	return changeVerb(appsChange(apps, prev, dir))
}

// changeVerb is AppsVerb of change, an appsChange: one word for what the
// event log and mictl diff say alike.
func changeVerb(change string) string {
	parts := strings.Fields(change)
	all := func(sign string) bool {
		return len(parts) > 0 && !slices.ContainsFunc(parts, func(p string) bool { return !strings.HasPrefix(p, sign) })
	}
	switch {
	case all("+"):
		return "deploy"
	case all("-"):
		return "undeploy"
	default:
		return "redeploy"
	}
}

// Undeploying are the inbound endpoint ports the running instance rec
// may still hold once its CApps open the inbound ports extras instead:
// those of its Extras and of its Undeploying that extras no longer
// have. MI lets go of them at its next hot deployment scan. Those taken
// from its Extras are stamped now (state.Extra.Since); those still let
// go from before keep their stamp.
func Undeploying(rec *state.Instance, extras []state.Extra, now time.Time) []state.Extra {
	var out []state.Extra
	for i, e := range slices.Concat(rec.Extras, rec.Undeploying) {
		taken := func(x state.Extra) bool { return x.Port == e.Port }
		if e.Role == ports.RoleInbound && !slices.ContainsFunc(extras, taken) && !slices.ContainsFunc(out, taken) {
			if i < len(rec.Extras) {
				e.Since = now.UnixNano()
			}
			out = append(out, e)
		}
	}
	return out
}

// UndeployChanged removes from home dir's carbonapps/ each CApp mictl put
// there (prev) that apps do not declare as it is there, rebuilt or no
// longer declared (MI undeploys it, and lets go of its inbound endpoints'
// ports), and returns the records of those left: SyncApps to apps then
// deploys the new builds.
func UndeployChanged(dir string, apps []*capp.App, prev []state.App) ([]state.App, error) {
	carbonapps := home.CarbonAppsDir(dir)
	unchanged := slices.DeleteFunc(slices.Clone(apps), func(a *capp.App) bool {
		rec := state.App{File: fileOfApp(a), SHA256: a.SHA256}
		return !sameContent(prev, rec, filepath.Join(carbonapps, rec.File))
	})
	return SyncApps(dir, unchanged, prev)
}

// RemoveCopyLeftovers removes from home dir's carbonapps/ the temporary
// files of CApp copies (SyncApps') that never ended, their process
// killed between the file's creation and its rename, and returns their
// names. MI ignores them (it reads only .car files), but nothing else
// ever removes them, and each holds up to a whole CApp on what may be a
// full disk. The caller makes sure no copy into dir is under way.
func RemoveCopyLeftovers(dir string) ([]string, error) {
	carbonapps := home.CarbonAppsDir(dir)
	entries, err := os.ReadDir(carbonapps)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look for unfinished CApp copies: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if of, ok := fsutil.TempOf(e.Name()); !ok || !e.Type().IsRegular() || filepath.Ext(of) != ".car" {
			continue
		}
		if err := os.Remove(filepath.Join(carbonapps, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove an unfinished CApp copy: %w", err))
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}
