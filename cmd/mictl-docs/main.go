// Command mictl-docs writes mictl's man pages and Markdown command pages
// (`make docs`). It is a separate program so that mictl itself does not
// carry the Markdown and man renderers: every mictl process, each simulated
// server included, would pay for their initialisation at start.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra/doc"

	"github.com/mictl/mictl/pkg/cli"
)

func main() {
	manDir := flag.String("man-dir", "docs/man", "directory for man pages")
	mdDir := flag.String("markdown-dir", "docs/cli", "directory for Markdown pages")
	flag.Parse()
	if err := generate(*manDir, *mdDir); err != nil {
		fmt.Fprintf(os.Stderr, "mictl-docs: %v\n", err)
		os.Exit(1)
	}
}

func generate(manDir, mdDir string) error {
	streams := cli.System()
	root := cli.NewRootCmd(streams)
	// Dates in generated pages would change every run and make `make docs`
	// dirty the tree for nothing.
	root.DisableAutoGenTag = true
	root.InitDefaultCompletionCmd() // otherwise added only when a command runs
	header := &doc.GenManHeader{Title: "MICTL", Section: "1", Source: "mictl", Manual: "mictl manual"}
	if err := atomically(manDir, func(dir string) error { return doc.GenManTree(root, header, dir) }); err != nil {
		return fmt.Errorf("man pages in %s: %w", manDir, err)
	}
	if err := atomically(mdDir, func(dir string) error { return doc.GenMarkdownTree(root, dir) }); err != nil {
		return fmt.Errorf("markdown in %s: %w", mdDir, err)
	}
	return nil
}

// atomically runs gen into a fresh directory beside dir, then renames each
// page into dir: cobra's generators write in place, and a page must never
// be seen half-written. A page of dir gen no longer writes (a command
// removed or renamed) is removed after: it would document what is not;
// other files are left alone.
func atomically(dir string, gen func(tmp string) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".mictl-docs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := gen(tmp); err != nil {
		return err
	}
	pages, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	written := map[string]bool{}
	for _, p := range pages {
		if err := os.Chmod(filepath.Join(tmp, p.Name()), 0o644); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(tmp, p.Name()), filepath.Join(dir, p.Name())); err != nil {
			return err
		}
		written[p.Name()] = true
	}
	old, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, p := range old {
		// Only what looks like a page of mictl's: the directory is a flag,
		// and may hold other documents (docs/ itself).
		generated := strings.HasPrefix(p.Name(), "mictl") && (strings.HasSuffix(p.Name(), ".md") || strings.HasSuffix(p.Name(), ".1"))
		if generated && !written[p.Name()] && !p.IsDir() {
			if err := os.Remove(filepath.Join(dir, p.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
