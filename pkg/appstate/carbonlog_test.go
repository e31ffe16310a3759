package appstate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// MI's CappDeployer lines (docs/mi-integrations.md, "Hot deployment"), as
// MI 4.4 and older versions write them, with the exception MI prints on
// the line after an error and the stack trace after that.
const miLog = "[2026-01-01 10:00:00,001]  INFO {CappDeployer} - Successfully Deployed Carbon Application : orders_1.0.0{super-tenant}\r\n" +
	"[2026-01-01 10:00:01,001] ERROR {CappDeployer} - Error occurred while deploying the Carbon application: broken_1.0.0.car. Reverting successfully deployed artifacts in the CApp.\r\n" +
	"org.apache.axis2.deployment.DeploymentException: org.apache.synapse.deployers.SynapseArtifactDeploymentException: API deployment from the file : /x/tmp/carbonapps/-1234/broken_1.0.0.car/b/b.xml : Failed.\r\n" +
	"\tat org.wso2.micro.integrator.initializer.deployment.application.deployer.CappDeployer.deploy(CappDeployer.java:1)\r\n" +
	"[2026-01-01 10:00:02,001] ERROR {CappDeployer} - Error occurred while deploying the Carbon application: /home/mi/repository/deployment/server/carbonapps/old_1.0.0.car\r\n" +
	"[2026-01-01 10:00:03,001] ERROR {CappDeployer} - Carbon Application : orders_1.0.0 already exists. Two applications can't have the same Id. Deployment aborted.\r\n" +
	"[2026-01-01 10:00:03,002] ERROR {CappDeployer} - Error while deploying carbon application /home/mi/repository/deployment/server/carbonapps/copy.car\r\n" +
	"org.wso2.micro.core.util.CarbonException: Carbon Application : orders_1.0.0 already exists. Two applications can't have the same Id. Deployment aborted.\r\n" +
	"[2026-01-01 10:00:04,001]  INFO {CappDeployer} - Undeploying Carbon Application : orders_1.0.0...\r\n" +
	"[2026-01-01 10:00:04,002]  INFO {CappDeployer} - Successfully Undeployed Carbon Application : orders_1.0.0{super-tenant}\r\n" +
	"[2026-01-01 10:00:05,001]  INFO {CappDeployer} - Undeploying Faulty Carbon Application On : /home/mi/repository/deployment/server/carbonapps/broken_1.0.0.car\r\n" +
	"[2026-01-01 10:00:06,001]  INFO {API} - Initializing API: ordersAPI\r\n"

func TestParseEvents(t *testing.T) {
	got := ParseEvents(strings.NewReader(miLog))
	want := []Event{
		{Kind: Deployed, App: "orders_1.0.0"},
		{Kind: Failed, File: "broken_1.0.0.car", Message: "org.apache.synapse.deployers.SynapseArtifactDeploymentException: API deployment from the file : /x/tmp/carbonapps/-1234/broken_1.0.0.car/b/b.xml : Failed."},
		{Kind: Failed, File: "old_1.0.0.car", Message: "Error occurred while deploying the Carbon application: /home/mi/repository/deployment/server/carbonapps/old_1.0.0.car"},
		{Kind: Failed, App: "orders_1.0.0", Message: "Carbon Application : orders_1.0.0 already exists. Two applications can't have the same Id. Deployment aborted."},
		{Kind: Failed, File: "copy.car", Message: "Carbon Application : orders_1.0.0 already exists. Two applications can't have the same Id. Deployment aborted."},
		{Kind: Undeployed, App: "orders_1.0.0"},
		{Kind: Undeployed, File: "broken_1.0.0.car"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	if e, ok := Last(got, "orders_1.0.0", ""); !ok || e.Kind != Undeployed {
		t.Fatalf("last of orders = %+v, %v", e, ok)
	}
	if e, ok := Last(got, "broken_1.0.0", "broken_1.0.0.car"); !ok || e.Kind != Undeployed {
		t.Fatalf("last of broken = %+v, %v", e, ok)
	}
	if _, ok := Last(got, "none_1.0.0", "none.car"); ok {
		t.Fatal("found an event of an application the log does not name")
	}
}

// MI reverts an application whose artifact failed (CappDeployer's
// handleDeployException undeploys what it deployed of it, and logs that
// it did): the revert is part of the failure, not an undeployment, so the
// application's last event stays the failure.
func TestParseEventsFoldsTheRevertIntoTheFailure(t *testing.T) {
	got := ParseEvents(strings.NewReader(
		"[x] ERROR {CappDeployer} - Error occurred while deploying the Carbon application: orders_1.0.0.car. Reverting successfully deployed artifacts in the CApp. org.apache.axis2.deployment.DeploymentException: it broke\n" +
			"\tat CappDeployer.deploy(Unknown Source)\n\n" +
			"[x]  INFO {CappDeployer} - Undeploying Carbon Application : orders_1.0.0...\n" +
			"[x]  INFO {CappDeployer} - Successfully undeployed Carbon Application : orders_1.0.0{super-tenant}\n" +
			// A later undeployment is one.
			"[x]  INFO {CappDeployer} - Successfully undeployed Carbon Application : billing_1.0.0{super-tenant}\n"))
	want := []Event{
		{Kind: Failed, File: "orders_1.0.0.car", Message: "it broke"},
		{Kind: Undeployed, App: "billing_1.0.0"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	if e, ok := Last(got, "orders_1.0.0", "orders_1.0.0.car"); !ok || e.Kind != Failed {
		t.Fatalf("last of orders = %+v, %v; want the failure", e, ok)
	}
	// Only the failed application's own undeployment is its revert: one
	// of another application right after is kept.
	got = ParseEvents(strings.NewReader(
		"[x] ERROR {CappDeployer} - Error occurred while deploying the Carbon application: orders_1.0.0.car. Reverting successfully deployed artifacts in the CApp. org.apache.axis2.deployment.DeploymentException: it broke\n" +
			"[x]  INFO {CappDeployer} - Successfully undeployed Carbon Application : billing_1.0.0{super-tenant}\n"))
	if want := []Event{{Kind: Failed, File: "orders_1.0.0.car", Message: "it broke"}, {Kind: Undeployed, App: "billing_1.0.0"}}; !slices.Equal(got, want) {
		t.Fatalf("another application's undeployment after a failure:\ngot\n%+v\nwant\n%+v", got, want)
	}
}

// A followed log is read as MI writes it: in pieces, a failure's
// exception line possibly in the next piece, a half-written line left for
// later, and a rotated (shorter) file read from its start.
func TestLogFollower(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wso2carbon.log")
	old := "[2026-01-01 09:00:00,000]  INFO {CappDeployer} - Successfully Deployed Carbon Application : before_1.0.0{super-tenant}\n"
	write(t, path, old)
	l := followLog(path)
	lines := strings.SplitAfter(strings.ReplaceAll(miLog, "\r\n", "\n"), "\n")
	appendTo(t, path, lines[0]+lines[1])
	if err := l.read(); err != nil || len(l.events) != 2 {
		t.Fatalf("after two lines: %+v, %v", l.events, err)
	}
	appendTo(t, path, lines[2]+"[2026-01-01 10:00:02,001] ERROR {CappDeployer} - Error occurred while deploying")
	if err := l.read(); err != nil || len(l.events) != 2 || !strings.HasPrefix(l.events[1].Message, "org.apache.synapse") {
		t.Fatalf("the exception on the next read: %+v, %v", l.events, err)
	}
	appendTo(t, path, " the Carbon application: x.car\n")
	if err := l.read(); err != nil || len(l.events) != 3 || l.events[2].File != "x.car" {
		t.Fatalf("a line finished later: %+v, %v", l.events, err)
	}
	write(t, path, lines[0]) // rotated
	if err := l.read(); err != nil || len(l.events) != 4 || l.events[3].App != "orders_1.0.0" {
		t.Fatalf("after rotation: %+v, %v", l.events, err)
	}
	tail := tailLog(path, maxLogTail)
	if err := tail.read(); err != nil || len(tail.events) != 1 {
		t.Fatalf("tail: %+v, %v", tail.events, err)
	}
	if err := followLog(filepath.Join(t.TempDir(), "none.log")).read(); err != nil {
		t.Fatalf("a log that does not exist yet: %v", err)
	}
}

// MI's layout is "[%d] %5p {%c} - %m%ex%n": log4j2's throwable converter
// puts a space, not a line break, between a message that does not end in
// whitespace and the exception, whose stack frames follow on lines of
// their own, then an empty line (docs/mi-integrations.md, "Hot deployment").
const miLogReal = "[2026-01-01 10:00:01,001] ERROR {org.wso2.micro.integrator.initializer.deployment.application.deployer.CappDeployer} - " +
	"Error occurred while deploying the Carbon application: broken_1.0.0.car. Reverting successfully deployed artifacts in the CApp. " +
	"org.apache.axis2.deployment.DeploymentException: org.apache.synapse.deployers.SynapseArtifactDeploymentException: API deployment from the file : /x/tmp/carbonapps/-1234/broken_1.0.0.car/b/b.xml : Failed.\n" +
	"\tat org.wso2.micro.integrator.initializer.deployment.application.deployer.CappDeployer.deployCarbonApplications(CappDeployer.java:180)\n" +
	"Caused by: org.apache.synapse.deployers.SynapseArtifactDeploymentException: API deployment from the file : /x/b.xml : Failed.\n" +
	"\t... 20 more\n" +
	"\n" +
	"[2026-01-01 10:00:03,002] ERROR {org.wso2.micro.integrator.initializer.deployment.application.deployer.CappDeployer} - " +
	"Error while deploying carbon application /home/my mi/repository/deployment/server/carbonapps/orders_1.0.0.car " +
	"org.wso2.micro.core.util.CarbonException: Carbon Application : orders_1.0.0 already exists. Two applications can't have the same Id. Deployment aborted.\n" +
	"\tat org.wso2.micro.integrator.initializer.deployment.application.deployer.CappDeployer.deploy(CappDeployer.java:160)\n" +
	"\tat org.apache.axis2.deployment.repository.util.DeploymentFileData.deploy(DeploymentFileData.java:136)\n" +
	"\n" +
	// An older layout whose exception is on the next line, and a failure
	// line followed straight by a stack frame, which is no message.
	"[2026-01-01 10:00:04,001] ERROR {CappDeployer} - Error while deploying carbon application /home/mi/repository/deployment/server/carbonapps/junk.car\n" +
	"org.wso2.micro.core.util.CarbonException: not a zip\n" +
	"\tat org.wso2.micro.integrator.initializer.deployment.application.deployer.CappDeployer.deploy(CappDeployer.java:150)\n" +
	"[2026-01-01 10:00:05,001] ERROR {CappDeployer} - Error occurred while deploying the Carbon application: /home/mi/repository/deployment/server/carbonapps/old_1.0.0.car\n" +
	"   at org.wso2.micro.integrator.initializer.deployment.application.deployer.CappDeployer.deploy(CappDeployer.java:150)\n"

func TestParseEventsRealLayout(t *testing.T) {
	got := ParseEvents(strings.NewReader(miLogReal))
	want := []Event{
		{Kind: Failed, File: "broken_1.0.0.car", Message: "org.apache.synapse.deployers.SynapseArtifactDeploymentException: API deployment from the file : /x/tmp/carbonapps/-1234/broken_1.0.0.car/b/b.xml : Failed."},
		{Kind: Failed, File: "orders_1.0.0.car", Message: "Carbon Application : orders_1.0.0 already exists. Two applications can't have the same Id. Deployment aborted."},
		{Kind: Failed, File: "junk.car", Message: "not a zip"},
		{Kind: Failed, File: "old_1.0.0.car", Message: "Error occurred while deploying the Carbon application: /home/mi/repository/deployment/server/carbonapps/old_1.0.0.car"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
}

// A line names one event, the first marker in it: an exception's text on
// the same line may quote another CApp line, and case folding must not
// move offsets (Turkish İ lowercases to three bytes).
func TestParseEventsFirstMarker(t *testing.T) {
	got := ParseEvents(strings.NewReader(
		"[x] ERROR {CappDeployer} - Error while deploying carbon application /home/İ/copy.car org.wso2.micro.core.util.CarbonException: Successfully Deployed Carbon Application : no_1.0.0\n"))
	want := []Event{{Kind: Failed, File: "copy.car", Message: "Successfully Deployed Carbon Application : no_1.0.0"}}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	// A layout with the artifact container between the class and " - ".
	got = ParseEvents(strings.NewReader("[x] ERROR {org.wso2.micro.integrator.initializer.deployment.application.deployer.CappDeployer} [ Deployment ] - " +
		"Error while deploying carbon application /x/junk.car org.wso2.micro.core.util.CarbonException: not a zip\n"))
	want = []Event{{Kind: Failed, File: "junk.car", Message: "not a zip"}}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
}

// A tail of a log starts at a line: the line cut by the tail's start is
// skipped, a whole line starting exactly there is read.
func TestTailLogLineStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wso2carbon.log")
	first := "[2026-01-01 10:00:00,001]  INFO {CappDeployer} - Successfully Deployed Carbon Application : first_1.0.0{super-tenant}\n"
	second := "[2026-01-01 10:00:00,002]  INFO {CappDeployer} - Successfully Deployed Carbon Application : second_1.0.0{super-tenant}\n"
	write(t, path, first+second)
	for _, c := range []struct {
		limit int64
		want  []string
	}{
		{int64(len(second)), []string{"second_1.0.0"}},                        // starts exactly at second
		{int64(len(second)) + 1, []string{"second_1.0.0"}},                    // starts at first's line end
		{int64(len(second)) + 2, []string{"second_1.0.0"}},                    // cuts first
		{int64(len(first + second)), []string{"first_1.0.0", "second_1.0.0"}}, // the whole file
		{int64(len(second)) - 1, nil},                                         // cuts second
	} {
		l := tailLog(path, c.limit)
		if err := l.read(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range l.events {
			got = append(got, e.App)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("tail of %d bytes: %q, want %q", c.limit, got, c.want)
		}
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// ParseEvents reads any text without panicking: its cuts are offsets found
// in the line itself.
func FuzzParseEvents(f *testing.F) {
	for _, seed := range []string{miLog, miLogReal, "Carbon Application : already exists. Two applications can't have the same Id.",
		"Error while deploying carbon application .car", "Error occurred while deploying the Carbon application: x. Reverting successfully deployed artifacts"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ParseEvents(strings.NewReader(text))
	})
}
