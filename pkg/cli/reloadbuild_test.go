package cli

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/exitcode"
)

// A daemon of an older build ignores mictl reload's wait for MI to take
// the CApps it changed and answers at once (as answerLosing does): reload
// says that whether MI took them is unknown, and exits 3. It exited 0
// with a table from before MI took them, where a faulty CApp made the
// instance degraded a second later (seen with a daemon built before the
// wait, after the new mictl was installed over it).
func TestReloadUnderADaemonThatDoesNotWaitForTheCApps(t *testing.T) {
	runningUnderAnswers(t, 0) // a daemon that answers at once
	code, _, errOut := run(t, "reload")
	want := fmt.Sprintf("the running mictl daemon (pid %d) is from a build that does not say whether it waited for MI to take the CApps the reload changed", os.Getpid())
	if code != exitcode.Runtime || !strings.Contains(errOut, want) {
		t.Fatalf("reload under a daemon that does not wait: exit %d, stderr:\n%s\nwant 3 and %q", code, errOut, want)
	}
}
