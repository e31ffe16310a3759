package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/daemon"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/planflags"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/words"
)

type inspectOptions struct {
	plan   planOptions
	output string
}

func newCmdInspect(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect FILE.car",
		Short: "Show what a CApp holds and which ports it would open on each instance",
		Long: `Read a Carbon Application (.car) and show what it holds: its name, version,
size and SHA-256, every artifact (type, version, whether the CApp includes
it) and every inbound endpoint (protocol, port, and how MI offsets it:
"if-enabled" for HTTP/HTTPS endpoints, which MI offsets only with
[mediation] inbound.port_offset_enable = true, which mictl renders unless
you set it; "always" for WebSocket endpoints with ws.use.port.offset;
"never" otherwise).

Then plan the current configuration as if every instance declared the
file (mictl.toml; on a running deployment, under the planning flags of the
last mictl up, as its daemon plans, and its offsets; flags given here
override them), and
show the port each inbound endpoint would listen on in each instance, and
the conflicts that plan has. A declared CApp of the same name and version
is replaced by the file in that plan. An inbound endpoint whose port is
a placeholder ($SYSTEM:NAME, $FILE:key) gets the warning mictl deploy
gives when an instance resolves it, or would at its next start, to no
port (-o json: unset_variables). Nothing is written.

Exit status: 0 when the plan has no conflict, 1 when it has, 2 when the
file is not a CApp MI would deploy (not a zip, no artifacts.xml, a path
that escapes the archive, an inbound port outside 1-65535, ...);
` + exitInterrupted + `.`,
		Example: `  mictl inspect build/orders_1.0.0.car
  mictl inspect build/orders_1.0.0.car --instances 3 -o json`,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeCAppFile,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateFormat(o.output, formatTable, formatJSON); err != nil {
				return err
			}
			return runInspect(cmd, streams, g, o, args[0])
		},
	}
	addPlanFlags(cmd, &o.plan)
	addOutputFlag(cmd, &o.output, formatTable, formatJSON)
	return cmd
}

// inspectReport is `mictl inspect -o json`. Every key is always present;
// null means unknown or not applicable.
type inspectReport struct {
	File    string  `json:"file"`
	Name    string  `json:"name"`
	Version *string `json:"version"`
	ID      string  `json:"id"`
	Size    int64   `json:"size"`
	SHA256  string  `json:"sha256"`
	// Faulty is why MI would deploy the application as faulty (an
	// artifact's own XML is broken), null when it would not.
	Faulty    *string           `json:"faulty"`
	Artifacts []inspectArtifact `json:"artifacts"`
	Inbounds  []inspectInbound  `json:"inbound_endpoints"`
	Instances []inspectInstance `json:"instances"`
	Conflicts []check.Finding   `json:"conflicts"`
	Warnings  []check.Finding   `json:"warnings"`
	// UnsetVariables are the placeholder ports ($SYSTEM:, $FILE:) the
	// instances cannot resolve, now or at their next start.
	UnsetVariables []unsetVariable `json:"unset_variables"`
}

type inspectArtifact struct {
	Name       string  `json:"name"`
	Version    *string `json:"version"`
	Type       *string `json:"type"` // null for an artifact the CApp does not include
	Include    bool    `json:"include"`
	ServerRole *string `json:"server_role"`
	File       *string `json:"file"`        // its own file in the archive
	ConfigName *string `json:"config_name"` // the name in its XML (what MI lists)
	Context    *string `json:"context"`     // an API's context
}

type inspectInbound struct {
	Artifact  string  `json:"artifact"`
	Name      string  `json:"name"`
	Protocol  *string `json:"protocol"`
	Class     *string `json:"class"`
	Parameter string  `json:"parameter"`
	Port      *int    `json:"port"` // null when Placeholder is set
	// Placeholder is the port's value when MI resolves it at run time
	// ($SYSTEM:ORDERS_PORT), null for a port written as a number.
	Placeholder *string `json:"placeholder"`
	// OffsetRule is how MI adds the server's offset: never, if-enabled
	// (inbound.port_offset_enable), always (ws.use.port.offset).
	OffsetRule capp.OffsetRule `json:"offset_rule"`
}

// inspectInstance is one instance of the plan with the application.
type inspectInstance struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	// InboundOffset is the instance's inbound.port_offset_enable as MI
	// will read it.
	InboundOffset bool `json:"inbound_port_offset_enable"`
	// InboundPorts are where its inbound endpoints listen: "ports" is
	// the object of the four roles in every other output.
	InboundPorts []inspectPort `json:"inbound_ports"`
}

type inspectPort struct {
	Endpoint  string `json:"endpoint"`
	Parameter string `json:"parameter"`
	Port      int    `json:"port"` // where it listens on this instance
}

func runInspect(cmd *cobra.Command, streams *IOStreams, g *globalOptions, o *inspectOptions, file string) error {
	app, faulty, err := readCApp(file)
	if err != nil {
		return err
	}
	cfg, err := planflags.Load(cmd.Flags(), g.configPath, &o.plan.Options)
	if err != nil {
		return err
	}
	if cfg, err = asRunning(cfg, g, &o.plan); err != nil {
		return err
	}
	cfg, err = inspectConfig(cfg, app)
	if err != nil {
		return err
	}
	p, err := planConfig(cfg, &o.plan)
	if err != nil {
		return err
	}
	r, err := newInspectReport(app, faulty, p)
	if err != nil {
		return err
	}
	var names []string
	for _, inst := range p.Plan.Instances {
		names = append(names, inst.Name)
	}
	r.UnsetVariables = currentPlaceholderEnv(p.Config, p.state, names).unset(app, names)
	if o.output == formatJSON {
		err = writeJSON(streams.Out, r)
	} else {
		err = printInspect(streams, r, p)
	}
	if err != nil {
		return err
	}
	if len(r.Conflicts) > 0 {
		return errReported
	}
	return nil
}

// asRunning is the configuration a running deployment plans with: cfg
// under the planning flags of the last mictl up (the daemon's reloads
// plan so), the flags given now overriding them. po's offsets become the
// ones in force. With nothing started, cfg as it is.
func asRunning(cfg *config.Config, g *globalOptions, po *planOptions) (*config.Config, error) {
	f, err := currentState(cfg)
	if err != nil || len(f.UpArgs) == 0 {
		return cfg, err
	}
	given := map[string]bool{}
	for _, a := range po.Args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		given[name] = true
	}
	var args []string
	for _, a := range f.UpArgs {
		if name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "="); !given[name] {
			args = append(args, a)
		}
	}
	running, offsets, err := daemon.NewFollow(g.configPath, cfg).Load(append(args, po.Args...))
	if err != nil {
		return nil, err
	}
	po.Offsets = offsets
	return running, nil
}

// inspectConfig is cfg with app declared on every instance, in place of
// any declared CApp of the same name and version (which MI could not run
// beside it).
func inspectConfig(cfg *config.Config, app *capp.App) (*config.Config, error) {
	declared, err := reconcile.ReadApps(cfg, cfg.Names())
	if err != nil {
		return nil, err
	}
	same := map[string]bool{}
	for _, apps := range declared {
		for _, a := range apps {
			if a.ID() == app.ID() && a.Path != app.Path {
				same[a.Path] = true
			}
		}
	}
	c := withCApp(cfg, app.Path, nil)
	drop := func(paths []string) []string {
		return slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return same[p] })
	}
	c.CApps = drop(c.CApps)
	c.Instance = slices.Clone(c.Instance)
	for i := range c.Instance {
		c.Instance[i].CApps = drop(c.Instance[i].CApps)
	}
	return c, nil
}

func newInspectReport(app *capp.App, faulty string, p *planned) (inspectReport, error) {
	r := inspectReport{File: app.Path, Name: app.Name, Version: optional(app.Version), ID: app.ID(), Size: app.Size, SHA256: app.SHA256,
		Faulty: optional(faulty), Artifacts: []inspectArtifact{}, Inbounds: []inspectInbound{}, Instances: []inspectInstance{}}
	for _, a := range app.Artifacts {
		r.Artifacts = append(r.Artifacts, inspectArtifact{Name: a.Name, Version: optional(a.Version), Type: optional(a.Type), Include: a.Include,
			ServerRole: optional(a.ServerRole), File: optional(a.File), ConfigName: optional(a.ConfigName), Context: optional(a.Context)})
	}
	for _, in := range app.Inbounds {
		r.Inbounds = append(r.Inbounds, inspectInbound{Artifact: in.Artifact, Name: in.Name, Protocol: optional(in.Protocol),
			Class: optional(in.Class), Parameter: in.Param, Placeholder: optional(in.Placeholder), OffsetRule: in.Offset})
		if !in.AtRunTime() {
			r.Inbounds[len(r.Inbounds)-1].Port = &in.Port
		}
	}
	planned := slices.DeleteFunc(slices.Clone(app.Inbounds), capp.Inbound.AtRunTime) // deployment.Extras' order
	for _, inst := range p.Plan.Instances {
		ic, _ := p.Config.InstanceSettings(inst.Name)
		enabled, err := deployment.InboundOffsetEnabled(p.Source, ic.Overrides)
		if err != nil {
			return r, err
		}
		row := inspectInstance{Name: inst.Name, Offset: inst.Offset, InboundOffset: enabled, InboundPorts: []inspectPort{}}
		// The plan's extras of this application, in the order of its
		// planned inbound endpoints (deployment.Extras).
		k := 0
		for j, e := range inst.Extras {
			if strings.HasPrefix(e.Name, listenerPrefix(app)) && k < len(planned) {
				row.InboundPorts = append(row.InboundPorts, inspectPort{Endpoint: planned[k].Name, Parameter: planned[k].Param, Port: inst.ExtraPorts()[j]})
				k++
			}
		}
		r.Instances = append(r.Instances, row)
	}
	report := p.Conflicts()
	r.Conflicts, r.Warnings = report.Conflicts, report.Warnings
	return r, nil
}

func printInspect(streams *IOStreams, r inspectReport, p *planned) error {
	w := streams.Out
	fmt.Fprintf(w, "%s  %s\n", r.ID, r.File)
	fmt.Fprintf(w, "%s, sha256 %s\n", humanSize(r.Size), r.SHA256)
	if r.Faulty != nil {
		fmt.Fprintf(w, "MI will deploy it as FAULTY: %s\n", *r.Faulty)
	}
	fmt.Fprintln(w)
	rows := make([][]string, len(r.Artifacts))
	for i, a := range r.Artifacts {
		include := "yes"
		if !a.Include {
			include = "no (listed, not shipped)"
		}
		rows[i] = []string{a.Name, orDash(deref(a.Version)), orDash(deref(a.Type)), include}
	}
	if err := writeTable(w, formatTable, []string{"ARTIFACT", "VERSION", "TYPE", "INCLUDED"}, rows); err != nil {
		return err
	}
	if len(r.Inbounds) == 0 {
		fmt.Fprintln(w, "\nno inbound endpoints: the CApp opens no port of its own")
	} else {
		fmt.Fprintln(w)
		rows = make([][]string, len(r.Inbounds))
		for i, in := range r.Inbounds {
			port := deref(in.Placeholder) + " (at run time)"
			if in.Port != nil {
				port = strconv.Itoa(*in.Port)
			}
			rows[i] = []string{in.Name, orDash(deref(in.Protocol)), in.Parameter, port, in.OffsetRule.String()}
		}
		if err := writeTable(w, formatTable, []string{"INBOUND ENDPOINT", "PROTOCOL", "PARAMETER", "PORT", "OFFSET ADDED"}, rows); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nports on the current configuration (%s):\n", words.Count(len(r.Instances), "instance"))
		rows = rows[:0]
		for _, inst := range r.Instances {
			for _, port := range inst.InboundPorts {
				rows = append(rows, []string{inst.Name, strconv.Itoa(inst.Offset), strconv.FormatBool(inst.InboundOffset), port.Endpoint, strconv.Itoa(port.Port)})
			}
		}
		if len(rows) == 0 {
			fmt.Fprintln(w, "none known before MI starts: every endpoint's port is a placeholder")
		} else if err := writeTable(w, formatTable, []string{"NAME", "OFFSET", "INBOUND OFFSET", "ENDPOINT", "PORT"}, rows); err != nil {
			return err
		}
	}
	for _, c := range r.Conflicts {
		fmt.Fprintf(w, "conflict: %s\n", c.Message)
	}
	for _, c := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", c.Message)
	}
	for _, u := range r.UnsetVariables {
		fmt.Fprintf(w, "warning: %s\n", u.Message)
	}
	fmt.Fprintf(w, "%s planned against %s (%s): %s, %s\n", words.Count(len(r.Instances), "instance"),
		words.Count(len(p.Host.Sockets.Sockets), "host socket"), p.Host.Sockets.Source,
		words.Count(len(r.Conflicts), "conflict"), words.Count(len(r.Warnings)+len(r.UnsetVariables), "warning"))
	return nil
}

// optional is s, or nil when empty: null in JSON.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// deref is *s, "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
