package proc_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mictl/mictl/pkg/proc"
)

// ArgsIn reads a fixture procfs as Args reads /proc: NUL-separated
// arguments, the last NUL no empty argument, and nil for a process
// that is gone or has no command line (a kernel thread).
func TestArgsInFixture(t *testing.T) {
	root := t.TempDir()
	mk := func(pid, cmdline string) {
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cmdline"), []byte(cmdline), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	mk("42", "java\x00-Dcarbon.home=/opt/mi\x00\x00org.wso2.Bootstrap\x00")
	mk("2", "")
	if got, want := proc.ArgsIn(root, 42), []string{"java", "-Dcarbon.home=/opt/mi", "", "org.wso2.Bootstrap"}; !slices.Equal(got, want) {
		t.Errorf("ArgsIn(42) = %q, want %q", got, want)
	}
	for _, pid := range []int{2, 7} {
		if got := proc.ArgsIn(root, pid); got != nil {
			t.Errorf("ArgsIn(%d) = %q, want nil", pid, got)
		}
	}
}
