package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/appstate"
	"github.com/mictl/mictl/pkg/logs"
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

// wso2carbon.log rolls over at the first line of a new day, as MI's
// CARBON_LOGFILE appender does (filePattern wso2carbon-%d{MM-dd-yyyy}.log):
// the day before's lines go to its dated file (-1 when that name is
// taken), the new day's to wso2carbon.log, and mictl logs reads them in
// order.
func TestLogRollsOverDaily(t *testing.T) {
	home := t.TempDir()
	l := newLogger(nil, home)
	defer l.close()
	day := midnight(time.Now())
	l.now = func() time.Time { return day.Add(23 * time.Hour) }
	l.info("Main", "late on the first day")
	l.now = func() time.Time { return day.Add(25 * time.Hour) }
	l.info("Main", "early on the second day")
	l.info("Main", "later on the second day")
	dir := filepath.Join(home, LogDir)
	first := filepath.Join(dir, "wso2carbon-"+day.Format("01-02-2006")+".log")
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(first); strings.Count(got, "\n") != 1 || !strings.Contains(got, "late on the first day") {
		t.Fatalf("%s holds %q, want the first day's line", first, got)
	}
	if got := read(filepath.Join(home, LogPath)); strings.Count(got, "\n") != 2 || !strings.Contains(got, "early on the second day") {
		t.Fatalf("wso2carbon.log holds %q, want the second day's two lines", got)
	}
	// A day's file already there (a restart that day): the next goes beside it.
	second := filepath.Join(dir, "wso2carbon-"+day.Add(25*time.Hour).Format("01-02-2006")+".log")
	if err := os.WriteFile(second, []byte("an earlier roll\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.now = func() time.Time { return day.Add(49 * time.Hour) }
	l.info("Main", "on the third day")
	if got := read(strings.TrimSuffix(second, ".log") + "-1.log"); !strings.Contains(got, "later on the second day") {
		t.Fatalf("the second day's roll holds %q", got)
	}
	copies, err := logs.Rotated(filepath.Join(home, LogPath))
	if err != nil || len(copies) != 3 || copies[0] != first {
		t.Fatalf("mictl logs reads the rolled files %v (%v), want the first day's first of 3", copies, err)
	}
}
