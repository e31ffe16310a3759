package cli

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/appstate"
	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/words"
)

type appsOptions struct {
	output  string
	timeout time.Duration
}

func newCmdApps(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &appsOptions{}
	cmd := &cobra.Command{
		Use:   "apps [NAME...]",
		Short: "Show the CApps of every instance: active, faulty (and why) or pending",
		Long: `Show, per instance, each Carbon Application: its name, version, state and
artifacts. The state is MI's own, asked of every running instance's
Management API (at once, one login each):

  active   MI deployed it
  faulty   MI could not deploy it; MI's error message follows the table
           (MI keeps it faulty until its file changes or its server
           restarts: one MI failed on an inbound port taken as it
           deployed it, and whose every inbound port is free now, is
           noted, with the mictl restart that deploys it again; a port
           that is a placeholder counts as the server resolves it now)
  pending  mictl.toml declares it and MI does not run it (yet), or runs
           another build of it (the file in the instance's carbonapps/ is
           not the declared one yet)
  unknown  the instance could not be asked (the reason is shown, and
           mictl apps exits 3); one still starting is not asked yet (MI
           answers once it has deployed its CApps): its apps are pending

Applications MI runs that mictl.toml does not declare are listed too.
Instances that were started once and do not run now show their declared
applications as pending (one never started is not listed: mictl up). An
instance whose Management API is off ([mediation] internal_http_api_enable
= false) is read from its repository/logs/wso2carbon.log instead.

The Management API is reached over HTTPS on the instance's management port
(9154 + offset) with management_user / management_password from mictl.toml
(or MICTL_MANAGEMENT_PASSWORD); MI's self-signed certificate is trusted only
on this host's own addresses, never through a proxy. Each call gives up
after --timeout.

Exit status: 0 when every running instance was asked (a faulty or pending
app is shown, not an error); 2 on usage or configuration errors, such as
a NAME no instance has; 3 when a running instance could not be asked;
` + exitInterrupted + `.`,
		Example: `  mictl apps
  mictl apps mi-2
  mictl apps -o json | jq '.instances[].apps[] | select(.state == "faulty")'`,
		ValidArgsFunction: completeInstanceNames(g),
		RunE: func(cmd *cobra.Command, names []string) error {
			if err := validateFormat(o.output, formatTable, formatJSON); err != nil {
				return err
			}
			if err := exitcode.PositiveFlag("timeout", o.timeout); err != nil {
				return err
			}
			return runApps(cmd, streams, g, o, names)
		},
	}
	addDirFlag(cmd)
	addOutputFlag(cmd, &o.output, formatTable, formatJSON)
	cmd.Flags().DurationVar(&o.timeout, "timeout", appstate.DefaultTimeout, "how long to wait for each instance's Management API")
	return cmd
}

// appsReport is `mictl apps -o json`.
type appsReport struct {
	Instances []appstate.InstanceApps `json:"instances"`
}

func runApps(cmd *cobra.Command, streams *IOStreams, g *globalOptions, o *appsOptions, names []string) error {
	e, err := openExisting(cmd, g, streams, lookOnly)
	if err != nil {
		return err
	}
	if err := checkNames(e.state, e.cfg.InstancesDir, names); err != nil {
		return err
	}
	e.warnConfig(streams)
	printNote(streams, unsupervised(e.state))
	cfg := e.cfg
	if e.cfgErr != nil {
		cfg = nil // its declarations cannot be trusted: show what MI runs
	}
	files := declaredFiles{}
	var targets []appstate.Target
	for _, inst := range e.state.Instances {
		if len(names) == 0 || slices.Contains(names, inst.Name) {
			t := appTarget(inst, cfg, files)
			t.Up = upThatStarts(e.state, inst.Name, e.cfg.Names(), e.here)
			targets = append(targets, t)
		}
	}
	opts := sessionOptions(e.cfg)
	opts.Timeout = o.timeout
	s := appstate.NewSession(targets, opts)
	defer s.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout+time.Second)
	defer cancel()
	r := appsReport{Instances: []appstate.InstanceApps{}}
	for _, obs := range s.Observe(ctx) {
		r.Instances = append(r.Instances, appstate.View(obs))
	}
	noteFreedInboundPorts(r, e.state)
	why := "why is above"
	if o.output == formatJSON {
		err, why = writeJSON(streams.Out, r), "each instance's error says why"
	} else {
		err = printApps(streams, r, e.state, e.noInstances())
	}
	if err != nil {
		return err
	}
	return unasked(r, why)
}

// unasked fails the command (exit 3) when a running instance could not
// be asked for its applications: what it shows of them is not known.
func unasked(r appsReport, why string) error {
	var names []string
	for _, inst := range r.Instances {
		if inst.Error != nil {
			names = append(names, inst.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return exitcode.With(exitcode.Runtime, fmt.Errorf("could not ask %s for %s applications (%s)", strings.Join(names, ", "), words.ItsOrTheir(len(names)), why))
}

func printApps(streams *IOStreams, r appsReport, f *state.File, empty string) error {
	if len(f.Instances) == 0 {
		fmt.Fprintln(streams.ErrOut, empty)
		return nil
	}
	var rows [][]string
	var notes []string
	for _, inst := range r.Instances {
		if len(inst.Apps) == 0 {
			rows = append(rows, []string{inst.Name, "-", "-", "-", "-"})
		}
		for _, a := range inst.Apps {
			arts := make([]string, len(a.Artifacts))
			for i, art := range a.Artifacts {
				arts[i] = art.Name + " (" + art.Type + ")"
			}
			rows = append(rows, []string{inst.Name, a.Name, orDash(deref(a.Version)), a.State, orDash(strings.Join(arts, ", "))})
			if a.ErrorMessage != nil {
				notes = append(notes, fmt.Sprintf("%s %s %s: %s", inst.Name, a.ID, a.State, *a.ErrorMessage))
			}
			if a.Note != nil {
				notes = append(notes, fmt.Sprintf("%s %s: %s", inst.Name, a.ID, *a.Note))
			}
		}
		switch {
		case inst.Error != nil:
			notes = append(notes, fmt.Sprintf("%s: %s", inst.Name, *inst.Error))
		case inst.Note != nil:
			notes = append(notes, fmt.Sprintf("%s: %s", inst.Name, *inst.Note))
		}
	}
	if err := writeTable(streams.Out, formatTable, []string{"NAME", "APP", "VERSION", "STATE", "ARTIFACTS"}, rows); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(streams.Out, n)
	}
	return nil
}

// inboundDeployFailed is in MI's errorMessage of an application it failed
// because an inbound endpoint did not start, its port taken among other
// causes (docs/mi-integrations.md, "Faulty applications").
const inboundDeployFailed = "Inbound Endpoint deployment from the file : "

// noteFreedInboundPorts notes, on each faulty application of r that MI
// failed for an inbound endpoint, when every port its endpoints open on
// its instance is free now, how to bring it back. MI fails an endpoint
// whose port is taken as it deploys it, even for a moment (another
// instance's old build during a redeploy, another program), and keeps
// the CApp faulty until its file changes or its server restarts: its home
// holds the declared file, so diff sees nothing to do, and a reload does
// nothing. Nothing is said where a port is still taken (ports table names
// who holds it) or cannot be told (inboundPortsOn).
func noteFreedInboundPorts(r appsReport, f *state.File) {
	var snap *hostnet.Snapshot
	for _, inst := range r.Instances {
		rec, ok := f.Instance(inst.Name)
		if !ok {
			continue
		}
		bind, _ := netip.ParseAddr(rec.Bind)
		for i := range inst.Apps {
			a := &inst.Apps[i]
			if a.State != appstate.StateFaulty || a.Note != nil || a.ErrorMessage == nil || !strings.Contains(*a.ErrorMessage, inboundDeployFailed) {
				continue
			}
			opened, ok := inboundPortsOn(rec, a.ID)
			if !ok {
				continue
			}
			if snap == nil {
				var err error
				if snap, err = hostnet.Scan(); err != nil {
					return
				}
			}
			if slices.ContainsFunc(opened, func(port int) bool { return len(snap.Holding(hostnet.TCP, port, bind)) > 0 }) {
				continue
			}
			free := make([]string, len(opened))
			for j, port := range opened {
				free[j] = strconv.Itoa(port)
			}
			a.Note = ptr(fmt.Sprintf("its inbound %s %s %s free now: MI failed the endpoint as it deployed it, while the port was taken (mictl logs %s says), and keeps a CApp it failed faulty until its file changes or its server restarts: mictl restart %s deploys it again",
				words.Noun(len(free), "port"), strings.Join(free, ", "), words.IsOrAre(len(free)), inst.Name, inst.Name))
		}
	}
}

// inboundPortsOn are the ports the inbound endpoints of the application
// id open on the running server of rec: the port written in the CApp, or
// its placeholder as that server resolves it now (resolvedPort), each
// offset as MI offsets it on that server (its home's deployment.toml).
// ok is false when they cannot be told: the application's file is not in
// the home's carbonapps/ (read as MI reads it), a placeholder does not
// resolve (MI then failed the endpoint for that, not for a taken port),
// or the application has no inbound endpoint.
func inboundPortsOn(rec *state.Instance, id string) ([]int, bool) {
	app := carbonApp(rec.Home, id)
	if app == nil || len(app.Inbounds) == 0 {
		return nil, false
	}
	path := home.ConfPath(rec.Home)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	enabled, err := deployment.InboundOffsetEnabled(deployment.Source{Path: path, TOML: data}, nil)
	if err != nil {
		return nil, false
	}
	var out []int
	for _, in := range app.Inbounds {
		if in.AtRunTime() {
			port, ok := resolvedPort(rec, in)
			if !ok {
				return nil, false
			}
			in.Port = port
		}
		out = append(out, in.Effective(rec.Offset, enabled))
	}
	return out, true
}

// carbonApp is the application id among the CApps in the carbonapps/ of
// the home dir, nil when none is (or cannot be read). An artifact MI
// fails to deploy does not hide the endpoints (readCApp).
func carbonApp(dir, id string) *capp.App {
	files, _ := home.ShippedCApps(dir)
	for _, file := range files {
		if app, _, err := readCApp(file); err == nil && app.ID() == id {
			return app
		}
	}
	return nil
}
