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
	if err := generate(man, md); err != nil {
		t.Fatal(err)
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
