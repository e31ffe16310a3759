package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/home"
)

type generateOptions struct {
	plan   planOptions
	output string
}

func newCmdGenerate(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &generateOptions{}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write each instance's deployment.toml under instances_dir",
		Long: `Plan the instances and write instances/<name>/conf/deployment.toml for each:
the distribution's own file with [server] offset set (offset_method "toml")
and the instance's overrides applied. Every comment, blank line and key of
the source is kept. Files are written atomically with mode 0600, because
they hold keystore passwords. Every file is rendered before any is written,
so a bad override leaves nothing half-generated.`,
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
	files := make([]generatedFile, len(p.Plan.Instances))
	rendered := make([][]byte, len(p.Plan.Instances))
	for i, inst := range p.Plan.Instances {
		dir, err := home.Dir(p.Config, inst.Name)
		if err != nil {
			return err
		}
		if rendered[i], err = p.Render(inst); err != nil {
			return err
		}
		files[i] = generatedFile{Name: inst.Name, Offset: inst.Offset, Path: home.ConfPath(dir)}
	}
	for i, f := range files {
		dir, _ := home.Dir(p.Config, f.Name)
		if err := home.WriteConf(dir, p.Config.MIHome, rendered[i]); err != nil {
			return fmt.Errorf("generate %s: %w", f.Name, err)
		}
	}
	if o.output == formatJSON {
		return writeJSON(streams.Out, files)
	}
	rows := make([][]string, len(files))
	for i, f := range files {
		rows[i] = []string{f.Name, strconv.Itoa(f.Offset), f.Path}
	}
	return writeTable(streams.Out, formatTable, []string{"NAME", "OFFSET", "DEPLOYMENT.TOML"}, rows)
}
