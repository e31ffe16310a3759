package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newCmdGenDocs writes man pages and Markdown pages for every command
// (`make docs`). Hidden: it is for packagers, not for users.
func newCmdGenDocs() *cobra.Command {
	var manDir, mdDir string
	cmd := &cobra.Command{
		Use:    "gen-docs",
		Short:  "Generate man pages and Markdown command docs",
		Hidden: true,
		Args:   usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			root := cmd.Root()
			// Dates in generated pages would change every run and make
			// `make docs` dirty the tree for nothing.
			root.DisableAutoGenTag = true
			for _, dir := range []string{manDir, mdDir} {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return fmt.Errorf("gen-docs: %w", err)
				}
			}
			header := &doc.GenManHeader{Title: "MICTL", Section: "1", Source: "mictl", Manual: "mictl manual"}
			if err := doc.GenManTree(root, header, manDir); err != nil {
				return fmt.Errorf("gen-docs: man pages in %s: %w", manDir, err)
			}
			if err := doc.GenMarkdownTree(root, mdDir); err != nil {
				return fmt.Errorf("gen-docs: markdown in %s: %w", mdDir, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man-dir", "docs/man", "directory for man pages")
	cmd.Flags().StringVar(&mdDir, "markdown-dir", "docs/cli", "directory for Markdown pages")
	return cmd
}
