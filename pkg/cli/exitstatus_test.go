package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Each command's help that has an "Exit status" paragraph lists every
// code the README's exit-code table gives that command: 0, 2 (a bad flag
// is an error of every command) and 130 and 143 ("whichever command it
// interrupts") for all, 1 and 3 where their rows name the command in
// backquotes; and every command those rows name has one. down --help
// listed 0 and 3, while down mi-9 exits 2; apps, generate, export
// systemd and export compose, which the rows name, had none, and a fixed
// list of the commands to have one left them out.
func TestHelpListsTheExitCodesOfTheTable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[int]string{}
	for line := range strings.SplitSeq(string(readme), "\n") {
		for _, code := range []int{1, 3} {
			if strings.HasPrefix(line, fmt.Sprintf("| %d | ", code)) {
				rows[code] = line
			}
		}
	}
	if len(rows) != 2 {
		t.Fatalf("README: no exit-code rows for 1 and 3: %v", rows)
	}
	streams, _, _ := testStreams()
	root := NewRootCmd(streams)
	// The commands a row names: a backquoted span that begins with a
	// command's path (`export systemd`, `deploy --wait`); `metrics_addr`
	// or `/healthz` is none.
	named := map[*cobra.Command][]int{}
	span := regexp.MustCompile("`([^`]+)`")
	for code, row := range rows {
		for _, m := range span.FindAllStringSubmatch(row, -1) {
			if c, _, err := root.Find(strings.Fields(m[1])); err == nil && c != root {
				named[c] = append(named[c], code)
			}
		}
	}
	// A code in the paragraph: a number standing alone, not a range
	// (1-65535) or part of a word.
	codeRE := regexp.MustCompile(`(?:^|[^\w-])(\d+)(?:[^\w-]|$)`)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		at := strings.Index(c.Long, "Exit status")
		if at < 0 {
			if named[c] != nil {
				t.Errorf("%s --help has no Exit status paragraph, and the README's table gives it %v", c.CommandPath(), named[c])
			}
			return
		}
		paragraph, _, _ := strings.Cut(c.Long[at:], "\n\n")
		codes := map[int]bool{}
		for _, m := range codeRE.FindAllStringSubmatch(paragraph, -1) {
			n, _ := strconv.Atoi(m[1])
			codes[n] = true
		}
		for _, code := range append([]int{0, 2, 130, 143}, named[c]...) {
			if !codes[code] {
				t.Errorf("%s --help: its Exit status paragraph does not list %d, which the README's table gives it:\n%s", c.CommandPath(), code, paragraph)
			}
		}
	}
	if len(named) == 0 {
		t.Fatalf("README: the rows for 1 and 3 name no command in backquotes:\n%s\n%s", rows[1], rows[3])
	}
	walk(root)
}
