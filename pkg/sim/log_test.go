package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/appstate"
)

// errorWith writes an exception as MI's "[%d] %5p {%c} - %m%ex%n" does:
// the message, a space, the exception's toString() on the same line, then
// stack frames on lines of their own and an empty line
// (docs/mi-integrations.md, "Hot deployment"); mictl's log reader gets the
// file and the message back from it.
func TestErrorWithLayout(t *testing.T) {
	var out bytes.Buffer
	l := newLogger(&out, t.TempDir())
	defer l.close()
	path := "/home/mi/repository/deployment/server/carbonapps/orders_1.0.0.car"
	l.errorWith("CappDeployer", "org.wso2.micro.core.util.CarbonException: not a zip", "Error while deploying carbon application %s", path)
	lines := strings.Split(out.String(), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], "ERROR {CappDeployer} - Error while deploying carbon application "+path+" org.wso2.micro.core.util.CarbonException: not a zip") ||
		!strings.HasPrefix(lines[1], "\tat ") || lines[2] != "" || lines[3] != "" {
		t.Fatalf("log:\n%q", out.String())
	}
	events := appstate.ParseEvents(strings.NewReader(out.String()))
	if len(events) != 1 || events[0].File != "orders_1.0.0.car" || events[0].Message != "not a zip" {
		t.Fatalf("parsed back: %+v", events)
	}
}

// A log file that cannot be opened is said on stdout, where the server
// goes on logging, not passed over in silence.
func TestLogFileThatCannotBeOpenedIsSaid(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "repository"), nil, 0o644); err != nil { // a file where logs' directory goes
		t.Fatal(err)
	}
	var out strings.Builder
	l := newLogger(&out, home)
	l.info("Main", "started")
	if got := out.String(); !strings.Contains(got, "ERROR {Log4j} - Unable to create the log file "+filepath.Join(home, LogPath)) || !strings.Contains(got, "started") {
		t.Fatalf("stdout:\n%s", got)
	}
}
