package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateFormat(o.output, formatTable, formatJSON, formatMarkdown); err != nil {
				return err
			}
			p, err := buildPlan(cmd, g, &o.plan)
			if err != nil {
				return err
			}
			return runPortsTable(streams, o, p.plan)
		},
	}
	addPlanFlags(cmd, &o.plan)
	addOutputFlag(cmd, &o.output, formatTable, formatJSON, formatMarkdown)
	return cmd
}

// portsRow is one instance in -o json. Keys are stable; new ones are only
// ever added beside them.
type portsRow struct {
	Name     string    `json:"name"`
	Offset   int       `json:"offset"`
	Ports    ports.Set `json:"ports"`
	Explicit bool      `json:"explicit_offset"`
}

func runPortsTable(streams *IOStreams, o *portsTableOptions, plan ports.Plan) error {
	rows := make([]portsRow, len(plan.Instances))
	for i, inst := range plan.Instances {
		rows[i] = portsRow{Name: inst.Name, Offset: inst.Offset, Ports: inst.Ports(), Explicit: inst.Explicit}
	}
	if o.output == formatJSON {
		return writeJSON(streams.Out, rows)
	}
	headers := []string{"NAME", "OFFSET"}
	for _, spec := range ports.Catalogue {
		headers = append(headers, strings.ToUpper(spec.Name))
	}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = []string{r.Name, strconv.Itoa(r.Offset)}
		for _, port := range r.Ports {
			cells[i] = append(cells[i], strconv.Itoa(port))
		}
	}
	return writeTable(streams.Out, o.output, headers, cells)
}
