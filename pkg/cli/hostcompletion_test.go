package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/config"
)

// --host completes with the addresses the error of a host no interface
// has lists: it completed nothing, though that error named them.
func TestHostCompletesWithTheAddressesItsErrorLists(t *testing.T) {
	t.Chdir(t.TempDir())
	addrs, err := config.MachineAddrs()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1", "0.0.0.0"}
	for _, a := range addrs {
		want = append(want, a.String())
	}
	code, _, errOut := run(t, "check-conflicts", "--host", "203.0.113.77")
	if code != 2 {
		t.Fatalf("check-conflicts --host 203.0.113.77: exit %d, want 2:\n%s", code, errOut)
	}
	for _, cmd := range []string{"up", "check-conflicts", "ports table"} {
		_, out, _ := run(t, slices.Concat([]string{"__complete"}, strings.Fields(cmd), []string{"--host", ""})...)
		var offered []string
		for line := range strings.Lines(out) {
			if !strings.HasPrefix(line, ":") {
				offered = append(offered, strings.SplitN(strings.TrimSpace(line), "\t", 2)[0])
			}
		}
		if strings.Join(offered, " ") != strings.Join(want, " ") {
			t.Errorf("mictl %s --host <TAB> offers %q, want %q", cmd, offered, want)
		}
		for _, addr := range want {
			if !strings.Contains(errOut, addr) {
				t.Errorf("the error of a bad --host does not list %s, which completion offers:\n%s", addr, errOut)
			}
		}
	}
}
