package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/exitcode"
)

// Output formats a command may offer with -o.
const (
	formatTable    = "table"
	formatJSON     = "json"
	formatMarkdown = "markdown"
)

// addOutputFlag registers -o/--output with the formats the command offers.
func addOutputFlag(cmd *cobra.Command, target *string, formats ...string) {
	cmd.Flags().StringVarP(target, "output", "o", formats[0], "output format: "+strings.Join(formats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
}

func validateFormat(format string, formats ...string) error {
	if !slices.Contains(formats, format) {
		return exitcode.Usagef("unknown output format %q: use one of %s", format, strings.Join(formats, ", "))
	}
	return nil
}

// writeJSON prints v as indented JSON with a trailing newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeTable prints rows under headers as a plain ASCII table, or as a
// Markdown table. Headers are printed as given: no auto upper-casing.
func writeTable(w io.Writer, format string, headers []string, rows [][]string) error {
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
	}
	if format == formatMarkdown {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	} else {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Symbols: tw.NewSymbols(tw.StyleASCII),
		})))
	}
	t := tablewriter.NewTable(w, opts...)
	t.Header(headers)
	for _, r := range rows {
		if err := t.Append(r); err != nil {
			return fmt.Errorf("table row: %w", err)
		}
	}
	return t.Render()
}
