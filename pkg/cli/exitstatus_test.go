package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Each command's help that has an "Exit status" paragraph lists every
// code the README's exit-code table gives that command: 0, 2 (a bad flag
// is an error of every command) and 130 and 143 ("whichever command it
// interrupts") for all, 1 and 3 where their rows name the command in
// backquotes. down --help listed 0 and 3, while down mi-9 exits 2.
func TestHelpListsTheExitCodesOfTheTable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for line := range strings.SplitSeq(string(readme), "\n") {
		for _, code := range []string{"1", "3"} {
			if strings.HasPrefix(line, "| "+code+" | ") {
				rows[code] = line
			}
		}
	}
	if len(rows) != 2 {
		t.Fatalf("README: no exit-code rows for 1 and 3: %v", rows)
	}
	// A code in the paragraph: a number standing alone, not a range
	// (1-65535) or part of a word.
	codeRE := regexp.MustCompile(`(?:^|[^\w-])(\d+)(?:[^\w-]|$)`)
	streams, _, _ := testStreams()
	var listed []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		at := strings.Index(c.Long, "Exit status")
		if at < 0 {
			return
		}
		listed = append(listed, c.Name())
		paragraph, _, _ := strings.Cut(c.Long[at:], "\n\n")
		codes := map[int]bool{}
		for _, m := range codeRE.FindAllStringSubmatch(paragraph, -1) {
			n, _ := strconv.Atoi(m[1])
			codes[n] = true
		}
		want := []int{0, 2, 130, 143}
		named := regexp.MustCompile("`" + regexp.QuoteMeta(c.Name()) + "[` ]")
		for code, row := range rows {
			if named.MatchString(row) {
				n, _ := strconv.Atoi(code)
				want = append(want, n)
			}
		}
		for _, code := range want {
			if !codes[code] {
				t.Errorf("%s --help: its Exit status paragraph does not list %d, which the README's table gives it:\n%s", c.CommandPath(), code, paragraph)
			}
		}
	}
	walk(NewRootCmd(streams))
	for _, name := range []string{"up", "restart", "status", "down", "deploy", "undeploy", "reload", "check-conflicts", "diff", "inspect"} {
		if !slices.Contains(listed, name) {
			t.Errorf("mictl %s --help has no Exit status paragraph", name)
		}
	}
}
