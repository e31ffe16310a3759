package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	man, md := filepath.Join(dir, "man"), filepath.Join(dir, "md")
	// A page of a command there is no more goes.
	gone := filepath.Join(md, "mictl_gone.md")
	if err := os.MkdirAll(md, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gone, []byte("# mictl gone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := generate(man, md); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gone); err == nil {
		t.Errorf("%s, of no command, is still there", gone)
	}
	// Another document in the directory is not a page: it stays.
	other := filepath.Join(md, "mi-facts.md")
	if err := os.WriteFile(other, []byte("# facts\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := generate(man, md); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("%s, no page of mictl's, was removed: %v", other, err)
	}
	for _, f := range []string{filepath.Join(man, "mictl-check-conflicts.1"), filepath.Join(md, "mictl_ports_table.md"), filepath.Join(md, "mictl_up.md")} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "mictl") {
			t.Errorf("%s does not mention mictl", f)
		}
	}
}

// The committed pages must be what the commands say now: a help text
// changed without `make docs` fails here.
func TestCommittedDocsAreCurrent(t *testing.T) {
	dir := t.TempDir()
	man, md := filepath.Join(dir, "man"), filepath.Join(dir, "md")
	if err := generate(man, md); err != nil {
		t.Fatal(err)
	}
	for gen, committed := range map[string]string{man: "../../docs/man", md: "../../docs/cli"} {
		want, _ := os.ReadDir(gen)
		have, _ := os.ReadDir(committed)
		if len(want) != len(have) {
			t.Errorf("%s has %d pages, the commands make %d: run make docs", committed, len(have), len(want))
		}
		for _, e := range want {
			a, _ := os.ReadFile(filepath.Join(gen, e.Name()))
			b, err := os.ReadFile(filepath.Join(committed, e.Name()))
			if err != nil || withoutDate(a) != withoutDate(b) {
				t.Errorf("%s/%s is out of date: run make docs", committed, e.Name())
			}
		}
	}
}

// withoutDate drops the month a man page's .TH line carries: the pages are
// current when their text is, whenever they were made.
func withoutDate(page []byte) string {
	lines := strings.Split(string(page), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".TH ") {
			lines[i] = ".TH"
		}
	}
	return strings.Join(lines, "\n")
}
