package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/reconcile"
)

type generateOptions struct {
	plan   planOptions
	output string
}

func newCmdGenerate(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &generateOptions{}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write each instance's home and deployment.toml under instances_dir",
		Long: `Plan the instances and prepare each one's home as mictl up would, without
starting anything: instances/<name>/ cloned from the distribution (jars
hard-linked), its conf/deployment.toml (the distribution's own file with
[server] offset set (offset_method "toml") and the instance's overrides
applied; every comment, blank line and key of the source kept) and its
declared CApps in repository/deployment/server/carbonapps/. These are the
homes the units of "mictl export systemd" run.

deployment.toml is written atomically with mode 0600, because it holds
keystore passwords. Every file is rendered before any is written, so a bad
override leaves nothing half-generated, and a plan whose instances share
ports is refused (exit 1) before anything is written. Instances that run are left alone:
their homes are the supervisor's (mictl reload applies a change of the
configuration to them; mictl restart also brings in the distribution's).

Exit status: 0 when every home is written; 1 when the instances' own ports
clash (nothing is written); 2 on usage or configuration errors; 3 when a
file could not be written;
` + exitInterrupted + `.`,
		Example: `  mictl generate --instances 3
  mictl generate --offsets 10,20 -o json`,
		Args: usageArgs(cobra.NoArgs),
	}
	return withPlan(cmd, g, &o.plan, &o.output, []string{formatTable, formatJSON}, func(p *planned) error {
		return runGenerate(streams, o, p)
	})
}

type generatedFile struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	Path   string `json:"path"`
}

func runGenerate(streams *IOStreams, o *generateOptions, p *planned) error {
	if err := p.refuseSelfClashes(streams, o.output, "refusing to generate the homes"); err != nil {
		return err
	}
	var names, running []string
	for _, inst := range p.Plan.Instances {
		if rec, ok := p.state.Instance(inst.Name); ok && reconcile.Running(*rec) {
			running = append(running, inst.Name)
			continue
		}
		names = append(names, inst.Name)
	}
	if len(running) > 0 {
		fmt.Fprintf(streams.ErrOut, "note: %s running, left alone (mictl reload applies changes of the configuration to running instances; mictl restart NAME also brings in the distribution's)\n", strings.Join(running, ", "))
	}
	records, err := prepareHomes(streams, p.Target, p.state, names)
	if err != nil {
		return err
	}
	files := make([]generatedFile, len(records))
	for i, rec := range records {
		files[i] = generatedFile{Name: rec.Name, Offset: rec.Offset, Path: home.ConfPath(rec.Home)}
	}
	if o.output == formatJSON {
		return writeJSON(streams.Out, files)
	}
	if len(files) == 0 {
		return nil // every instance runs: the note said so
	}
	rows := make([][]string, len(files))
	for i, f := range files {
		rows[i] = []string{f.Name, strconv.Itoa(f.Offset), f.Path}
	}
	return writeTable(streams.Out, formatTable, []string{"NAME", "OFFSET", "DEPLOYMENT.TOML"}, rows)
}
