package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/ports"
)

type portsTableOptions struct {
	plan   planOptions
	output string
}

func newCmdPorts(streams *IOStreams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ports",
		Short: "Show which instance holds which port",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.AddCommand(newCmdPortsTable(streams, g))
	return cmd
}

func newCmdPortsTable(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &portsTableOptions{}
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Print every instance's offset and fixed ports",
		Long: `Print one row per instance: its name, its offset and its four fixed ports
(HTTP and HTTPS pass-through, the internal HTTP API used for health probes,
and the Management API). Ports set explicitly in deployment.toml are shown
as MI uses them: the configured value plus the offset.`,
		Example: `  mictl ports table --instances 3
  mictl ports table --instances 5 -o json
  mictl ports table -o markdown`,
		Args: usageArgs(cobra.NoArgs),
	}
	return withPlan(cmd, g, &o.plan, &o.output, []string{formatTable, formatJSON, formatMarkdown}, func(p *planned) error {
		return runPortsTable(streams, o, p)
	})
}

// portsRow is one instance in -o json. Keys are stable; new ones are only
// ever added beside them.
type portsRow struct {
	Name     string    `json:"name"`
	Offset   int       `json:"offset"`
	Ports    ports.Set `json:"ports"`
	Explicit bool      `json:"explicit_offset"`
	// The rest describe a running instance, as found live on the host.
	State  string               `json:"state,omitempty"`
	PID    int                  `json:"pid,omitempty"`
	Live   map[string]livePort  `json:"live,omitempty"`
	Random []observe.RandomPort `json:"random,omitempty"`
}

// livePort says whether a fixed port listens and is the instance's own.
type livePort struct {
	Listening bool   `json:"listening"`
	Owned     bool   `json:"owned"`
	Holder    string `json:"holder,omitempty"`
}

func portsRows(p *planned) ([]portsRow, error) {
	rows := make([]portsRow, len(p.Plan.Instances))
	var view *observe.View // one look at the host for every row
	for i, inst := range p.Plan.Instances {
		rows[i] = portsRow{Name: inst.Name, Offset: inst.Offset, Ports: inst.Ports(), Explicit: inst.Explicit}
		rec, ok := p.state.Instance(inst.Name)
		if !ok {
			continue
		}
		rows[i].State = liveState(*rec)
		if rec.Server.IsZero() || !rec.Server.Alive() {
			continue
		}
		if view == nil {
			var err error
			if view, err = observe.NewView(); err != nil {
				return nil, err
			}
		}
		obs := view.Observe(rec, true)
		rows[i].PID, rows[i].Random, rows[i].Live = rec.Server.PID, obs.Random, map[string]livePort{}
		for role, st := range obs.Fixed {
			rows[i].Live[ports.Catalogue[role].Name] = livePort{Listening: st.Listening, Owned: st.Owned, Holder: st.Holder}
		}
	}
	return rows, nil
}

func runPortsTable(streams *IOStreams, o *portsTableOptions, p *planned) error {
	rows, err := portsRows(p)
	if err != nil {
		return err
	}
	if o.output == formatJSON {
		return writeJSON(streams.Out, rows)
	}
	live := false
	for _, r := range rows {
		live = live || r.State != ""
	}
	headers := []string{"NAME", "OFFSET"}
	for _, spec := range ports.Catalogue {
		headers = append(headers, strings.ToUpper(spec.Name))
	}
	if live {
		headers = append(headers, "STATE", "PID", "RANDOM")
	}
	cells := make([][]string, len(rows))
	marked := false
	for i, r := range rows {
		cells[i] = []string{r.Name, strconv.Itoa(r.Offset)}
		for role, port := range r.Ports {
			cell := strconv.Itoa(port)
			if lp, ok := r.Live[ports.Catalogue[role].Name]; ok && !lp.Owned {
				cell += "!" // not listening, or held by another process
				marked = true
			}
			cells[i] = append(cells[i], cell)
		}
		if live {
			cells[i] = append(cells[i], orDash(r.State), orDash(pidString(r.PID)), orDash(randomPorts(r.Random)))
		}
	}
	if err := writeTable(streams.Out, o.output, headers, cells); err != nil {
		return err
	}
	if marked {
		fmt.Fprintln(streams.Out, "! = not listening, or held by another process (see -o json)")
	}
	return nil
}

func randomPorts(rs []observe.RandomPort) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s %s/%d", r.Role, r.Proto, r.Port)
	}
	return strings.Join(parts, ", ")
}

func pidString(pid int) string {
	if pid == 0 {
		return ""
	}
	return strconv.Itoa(pid)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
