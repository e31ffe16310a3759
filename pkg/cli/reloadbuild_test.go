package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/testports"
)

// A daemon of an older build ignores mictl reload's wait for MI to take
// the CApps it changed and answers at once (as answerLosing does): reload
// says that whether MI took them is unknown, and exits 3. It exited 0
// with a table from before MI took them, where a faulty CApp made the
// instance degraded a second later (seen with a daemon built before the
// wait, after the new mictl was installed over it).
func TestReloadUnderADaemonThatDoesNotWaitForTheCApps(t *testing.T) {
	dir := inTempDir(t)
	off := testports.Base(t, testports.Other, 1)
	toml := fmt.Sprintf("instances = 1\nhost = \"127.0.0.1\"\nbase_offset = %d\n", off)
	if err := os.WriteFile("mictl.toml", []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	// This test's process stands for mi-1's server.
	store, _ := recordRunning(t, filepath.Join(dir, "instances"), off, nil)
	answerLosing(t, store, 0)
	code, _, errOut := run(t, "reload")
	want := fmt.Sprintf("the running mictl daemon (pid %d) is from a build that does not say whether it waited for MI to take the CApps the reload changed", os.Getpid())
	if code != exitcode.Runtime || !strings.Contains(errOut, want) {
		t.Fatalf("reload under a daemon that does not wait: exit %d, stderr:\n%s\nwant 3 and %q", code, errOut, want)
	}
}
