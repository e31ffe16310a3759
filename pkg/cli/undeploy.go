package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/appstate"
	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/declare"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

func newCmdUndeploy(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &waitOptions{}
	cmd := &cobra.Command{
		Use:   "undeploy APP [NAME...]",
		Short: "Remove a CApp from mictl.toml and undeploy it from the instances",
		Long: `Take a Carbon Application out of the deployment. APP is its name
(orders), its name and version as MI names it (orders_1.0.0), or the path
of its .car file.

Without NAME it is removed from mictl.toml everywhere it is declared: the
top-level capps and every [[instance]] table. With NAMEs, from the capps of
those instances' [[instance]] tables (an application the top level declares
runs on every instance: undeploy it everywhere, or move it into the tables
of the instances that keep it). Comments and layout are kept.

Then the supervisor daemon is asked to reload: it removes the file from
the instances' carbonapps/, and MI's hot deployment undeploys the
application; nothing restarts. --wait waits until MI no longer lists it on
any running target (exit 3 naming those that still do when --timeout ends,
or where a deploy of it landed meanwhile: said at once),
and until mictl's own health view no longer holds an instance degraded for
it (so a mictl status right after agrees).

An APP that mictl.toml does not declare is an error (exit 2) listing the
applications it does declare; one the distribution ships in its own
carbonapps/ (mi_home), which every instance runs, is named with its file
and how to take it out: delete it there, then mictl reload.

Exit status: 0 when taken out (with --wait: MI lists it on no running
target); 2 for an APP mictl.toml does not declare, or another usage or
configuration error; 3 when --wait finds MI still lists it when --timeout
ends, or it was deployed again meanwhile;
` + exitInterrupted + `.`,
		Example: `  mictl undeploy orders --wait
  mictl undeploy orders_1.0.0 mi-2
  mictl undeploy build/orders_1.0.0.car`,
		Args:              usageArgs(cobra.MinimumNArgs(1)),
		ValidArgsFunction: completeFirstThenNames(g, completeDeclared(g)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUndeploy(cmd, streams, g, o, args[0], compact(args[1:]))
		},
	}
	addDirFlag(cmd)
	addWaitFlags(cmd, o, "until MI no longer lists the application on any running target")
	return cmd
}

func runUndeploy(cmd *cobra.Command, streams *IOStreams, g *globalOptions, o *waitOptions, appArg string, names []string) error {
	d, err := openAppDeployment(cmd, g, streams)
	if err != nil {
		return err
	}
	if err := d.checkInstanceNames(names); err != nil {
		return err
	}
	files := declaredFiles{}
	app, err := d.findDeclared(appArg, files)
	if err != nil {
		return err
	}
	cfgFile := configFile(g)
	scopes, err := d.declaringScopes(app.Path, names)
	if err != nil {
		return err
	}
	// A file that cannot be read (deleted since) is named as MI names
	// its app, by the file's name_version.
	what := strings.TrimSuffix(filepath.Base(app.Path), filepath.Ext(app.Path))
	if app.App != nil {
		what = app.App.ID()
	}
	var w *appstate.Waiter
	targets := d.runningIt(app.Path, names)
	if o.wait {
		var s *appstate.Session
		if w, s = d.waiter(cmd.Context(), targets, app, appstate.GoalGone); s != nil {
			defer s.Close()
		}
	}
	keep := d.namedOnlyByTheirTable(scopes)
	r, err := declare.Remove(cfgFile, app.Path, scopes, keep...)
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.ErrOut, "removed %s (%s) from %s of %s\n", what, app.Path, joinScopes(r.Changed), cfgFile)
	for _, s := range r.Dropped {
		fmt.Fprintf(streams.ErrOut, "removed the [[instance]] table of %s too: without the CApp it held only its name\n", s.Instance)
	}
	for _, s := range r.Named {
		fmt.Fprintf(streams.ErrOut, "kept the [[instance]] table of %s: it names %s, which runs beyond instances = %d, and without it the reload would stop %s (delete the table to have it do so, or mictl down %s)\n",
			s.Instance, s.Instance, d.cfg.Instances, s.Instance, s.Instance)
	}
	ctx, stop := caughtUntilTheWait(cmd.Context(), w)
	defer stop()
	reloaded, applied, err := d.reload(ctx, streams)
	if err != nil {
		return err
	}
	switch {
	case !reloaded:
		fmt.Fprintf(streams.ErrOut, "no mictl daemon runs: the instances start without %s at the next mictl up\n", what)
	case w != nil:
		if applied {
			w.Reloaded(d.redeployed(targets))
		}
		until := time.Now().Add(o.timeout)
		_, err := waitApp(ctx, streams, w, what, appstate.StateGone, o.timeout)
		stop() // past the wait, a Ctrl-C ends mictl again: caught, it went unheeded while health is awaited
		if err != nil {
			return err
		}
		file := what + ".car"
		d.awaitHealth(cmd.Context(), until, func(i state.Instance) bool {
			return slices.Contains(targets, i.Name) && degradedFor(i, file)
		})
	case !applied:
		fmt.Fprintf(streams.ErrOut, "mictl down is stopping every instance: mictl up starts them without %s\n", what)
	case !o.wait:
		fmt.Fprintf(streams.ErrOut, "the daemon removes %s from the running instances; MI undeploys it at its next scan\n", what)
	}
	return nil
}

// findDeclared is the one declared CApp appArg names: by path (a .car),
// by MI's name_version, or by name. None, or several, is a usage error
// listing the declared applications.
func (d *appDeployment) findDeclared(appArg string, files declaredFiles) (appstate.Declared, error) {
	var all []appstate.Declared
	for _, p := range d.declaredPaths() {
		all = append(all, files.get(p))
	}
	byPath := strings.EqualFold(filepath.Ext(appArg), ".car")
	abs, _ := filepath.Abs(appArg)
	var found []appstate.Declared
	for _, decl := range all {
		switch {
		case byPath:
			if decl.Path == abs {
				found = append(found, decl)
			}
		case decl.App != nil:
			if decl.App.ID() == appArg || decl.App.Name == appArg {
				found = append(found, decl)
			}
		case fileNames(decl.Path, appArg):
			found = append(found, decl) // unreadable: known by its file name
		}
	}
	switch {
	case len(found) == 1 && found[0].App == nil:
		// Deleted or unreadable since: its id is what mictl deployed
		// from it, else its file's name (name_version.car).
		found[0].ID = d.deployedID(found[0].Path)
		return found[0], nil
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return appstate.Declared{}, exitcode.Usagef("%s names %d declared CApps: %s; name one by name_version or by its path",
			appArg, len(found), describeDeclared(found))
	}
	if path := d.shippedCApp(appArg, abs); path != "" {
		return appstate.Declared{}, exitcode.Usagef("%s is not declared in mictl.toml: the distribution ships it (%s), every home cloned from it has it, and mictl never removes it; to take it out of every instance, delete it there, then mictl reload (which restarts the instances one at a time on homes without it)",
			appArg, path)
	}
	if len(all) == 0 {
		return appstate.Declared{}, exitcode.Usagef("%s is not declared in mictl.toml, which declares no CApp (mictl deploy FILE.car adds one)", appArg)
	}
	return appstate.Declared{}, exitcode.Usagef("%s is not declared in mictl.toml; it declares: %s", appArg, describeDeclared(all))
}

// shippedCApp is the CApp of the distribution's own carbonapps/ that
// appArg names (abs is appArg as an absolute path), as findDeclared
// names a declared one; "" for none. mictl apps lists such a CApp on
// every instance, and an undeploy of it that said only "not declared"
// left the user nowhere.
func (d *appDeployment) shippedCApp(appArg, abs string) string {
	paths, err := home.ShippedCApps(deployment.Dist(d.cfg))
	if err != nil {
		return ""
	}
	for _, p := range paths {
		app, err := capp.Read(p)
		pathAbs, _ := filepath.Abs(p)
		switch {
		case pathAbs == abs,
			err == nil && (app.ID() == appArg || app.Name == appArg),
			err != nil && fileNames(p, appArg):
			return p
		}
	}
	return ""
}

// fileNames reports whether the file name of the .car at path says it is
// app: as MI names them, name_version.car (a deleted declared file can be
// named as its app was, "orders" or "orders_1.0.0").
func fileNames(path, app string) bool {
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if stem == app {
		return true
	}
	i := strings.LastIndex(stem, "_")
	return i > 0 && stem[:i] == app
}

// deployedID is MI's id of the application mictl deployed from the
// declared file path, by the instances' records; else the file's name
// without .car, as MI's tooling names a CApp.
func (d *appDeployment) deployedID(path string) string {
	for _, inst := range d.e.state.Instances {
		for _, a := range inst.Apps {
			if a.Source == path {
				return a.ID
			}
		}
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// declaredPaths are every path mictl.toml declares, top level first,
// each once.
func (d *appDeployment) declaredPaths() []string {
	out := slices.Clone(d.cfg.CApps)
	for _, ic := range d.cfg.Instance {
		for _, p := range ic.CApps {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// completeDeclared completes undeploy's APP with the CApps mictl.toml
// declares, as MI names them (name_version).
func completeDeclared(g *globalOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		d, err := openAppDeployment(cmd, g, &IOStreams{ErrOut: io.Discard})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		files := declaredFiles{}
		var out []string
		for _, p := range d.declaredPaths() {
			id := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)) // unreadable: its file's name
			if decl := files.get(p); decl.App != nil {
				id = decl.App.ID()
			}
			out = append(out, id)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func describeDeclared(decls []appstate.Declared) string {
	out := make([]string, len(decls))
	for i, decl := range decls {
		if decl.App != nil {
			out[i] = fmt.Sprintf("%s (%s)", decl.App.ID(), decl.Path)
		} else {
			out[i] = fmt.Sprintf("%s (unreadable: %v)", decl.Path, decl.Err)
		}
	}
	return strings.Join(out, ", ")
}

// declaringScopes are the lists to remove path from: without names, every
// list that declares it; with names, their [[instance]] tables, which must
// all declare it.
func (d *appDeployment) declaringScopes(path string, names []string) ([]declare.Scope, error) {
	top := slices.Contains(d.cfg.CApps, path)
	var out []declare.Scope
	if len(names) == 0 {
		if top {
			out = append(out, declare.Scope{})
		}
		for _, ic := range d.cfg.Instance {
			if slices.Contains(ic.CApps, path) {
				out = append(out, declare.Scope{Instance: ic.Name})
			}
		}
		return out, nil
	}
	if top {
		return nil, exitcode.Usagef("%s is declared for every instance (capps at %s): undeploy it from all (no NAME), or move it into the [[instance]] tables of the instances that keep it",
			path, d.cfg.CAppsPos)
	}
	var missing []string
	for _, n := range names {
		if ic, ok := d.cfg.InstanceSettings(n); ok && slices.Contains(ic.CApps, path) {
			out = append(out, declare.Scope{Instance: n})
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, exitcode.Usagef("%s is not declared for %s; it is for: %s", path, strings.Join(missing, ", "), strings.Join(d.runningIt(path, nil), ", "))
	}
	return out, nil
}

// namedOnlyByTheirTable are the instances of scopes that run (or are
// meant to) and that only their [[instance]] table names, past the
// configuration's count (a deploy to an instance running beyond it wrote
// it): dropped once bare, the reload would stop them.
func (d *appDeployment) namedOnlyByTheirTable(scopes []declare.Scope) []string {
	var out []string
	for _, s := range scopes {
		generated := false
		for i := 1; i <= d.cfg.Instances && !generated; i++ {
			generated = d.cfg.InstanceName(i) == s.Instance
		}
		if rec, ok := d.e.state.Instance(s.Instance); ok && s.Instance != "" && !generated && reconcile.Active(*rec) {
			out = append(out, s.Instance)
		}
	}
	return out
}

// runningIt are the instances of names (every one when none, see
// orEvery) that the configuration has run path.
func (d *appDeployment) runningIt(path string, names []string) []string {
	if len(names) > 0 {
		return names
	}
	var out []string
	for _, n := range d.orEvery(nil) {
		if slices.ContainsFunc(d.cfg.CAppsOf(n), func(c config.CApp) bool { return c.Path == path }) {
			out = append(out, n)
		}
	}
	return out
}
