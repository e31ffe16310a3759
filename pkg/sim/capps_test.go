package sim

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/testports"
)

// These tests run the simulator as a process (see e2e_test.go) and check
// what docs/mi-integrations.md says MI does with CApps.

const fastDeploy = EnvDeployInterval + "=50ms"

// carBytes builds a sample CApp.
func carBytes(t testing.TB, spec capp.Spec) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := capp.Build(&buf, spec); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// placeCar puts data into home's carbonapps/ as file, atomically (a
// temporary name the deployer ignores, then a rename), as mictl does.
func placeCar(t testing.TB, home, file string, data []byte) string {
	t.Helper()
	dir := filepath.Join(home, CarbonAppsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+file+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, file)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// mgmtHeader logs in to the Management API and returns the bearer header.
// The Management API is the last listener the server opens (after the
// CApps deploy and after "started in"), so it waits for the port to answer.
func mgmtHeader(t testing.TB, set ports.Set) http.Header {
	t.Helper()
	var code int
	var body string
	eventually(t, 15*time.Second, func() bool {
		code, body = get(fmt.Sprintf("https://127.0.0.1:%d/management/login", set[ports.Management]), http.Header{"Authorization": {"Basic YWRtaW46YWRtaW4="}})
		return code != 0
	}, "the Management API answers /management/login")
	var login struct{ AccessToken string }
	if code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	decodeJSON(t, body, &login)
	return http.Header{"Authorization": {"Bearer " + login.AccessToken}}
}

type appsJSONForTest struct {
	TotalCount, ActiveCount, FaultyCount int
	ActiveList, FaultyList               []struct {
		Name, Version, ErrorMessage string
		Artifacts                   []struct{ Name, Type string }
	}
}

func applications(t testing.TB, set ports.Set, h http.Header) appsJSONForTest {
	t.Helper()
	code, body := get(fmt.Sprintf("https://127.0.0.1:%d/management/applications", set[ports.Management]), h)
	if code != http.StatusOK {
		t.Fatalf("/management/applications: %d %s", code, body)
	}
	var a appsJSONForTest
	decodeJSON(t, body, &a)
	return a
}

func passURL(set ports.Set, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", set[ports.HTTP], path)
}

// startWithCApps starts the script of a fresh distribution at a free offset
// with a fast hot deployment scan; prepare (if any) readies the home first.
// It returns once /healthz is ready.
func startWithCApps(t *testing.T, prepare func(home string, off int), env ...string) (in *instance, home string, set ports.Set) {
	t.Helper()
	home = newDist(t)
	off := freeOffset(t)
	set = ports.DefaultBases().Shift(off)
	if prepare != nil {
		prepare(home, off)
	}
	in = start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}, env: append(env, fastDeploy)})
	waitReady(t, set)
	return in, home, set
}

// waitLog waits until the instance's log holds line n times.
func (in *instance) waitLog(line string, n int) {
	in.t.Helper()
	eventually(in.t, 10*time.Second, func() bool { return strings.Count(in.log(), line) >= n }, fmt.Sprintf("%d× %q in the log", n, line))
}

// docs/mi-integrations.md "CApp layout", "Hot deployment": a .car in
// carbonapps/ at start is deployed before the server says it started and
// before /healthz is ready; its API is served at its context. A changed
// file is undeployed and deployed again, a removed one undeployed; other
// files are ignored.
func TestCAppDeployRedeployUndeploy(t *testing.T) {
	t.Parallel()
	in, home, set := startWithCApps(t, func(home string, _ int) {
		placeCar(t, home, "orders_1.0.0.car", carBytes(t, capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}}))
	})

	log := in.log()
	deployedAt := indexOfLine(log, "INFO {CappDeployer} - Successfully Deployed Carbon Application : orders_1.0.0{super-tenant}")
	if started := indexOfLine(log, "WSO2 Micro Integrator started in"); deployedAt < 0 || started < deployedAt {
		t.Errorf("the CApp must deploy before the server says it started (lines %d, %d)", deployedAt, started)
	}
	if code, body := get(passURL(set, "/orders/42"), nil); code != 200 || !strings.Contains(body, `"api":"ordersAPI"`) {
		t.Errorf("GET /orders/42: %d %s", code, body)
	}
	if code, _ := get(passURL(set, "/nowhere"), nil); code != http.StatusNotFound {
		t.Errorf("GET /nowhere with an app deployed: %d, want 404", code)
	}
	h := mgmtHeader(t, set)
	apps := applications(t, set, h)
	if apps.TotalCount != 1 || apps.ActiveCount != 1 || apps.FaultyCount != 0 || apps.ActiveList[0].Name != "orders" || apps.ActiveList[0].Version != "1.0.0" {
		t.Fatalf("applications %+v", apps)
	}
	if arts := fmt.Sprint(apps.ActiveList[0].Artifacts); arts != "[{ordersSequence sequence} {ordersAPI api}]" {
		t.Errorf("artifacts %s", arts)
	}
	code, body := get(fmt.Sprintf("https://127.0.0.1:%d/management/apis", set[ports.Management]), h)
	if want := fmt.Sprintf(`{"count":1,"list":[{"name":"ordersAPI","url":"http://localhost:%d/orders"}]}`, set[ports.HTTP]); code != 200 || strings.TrimSpace(body) != want {
		t.Errorf("/management/apis: %d %s, want %s", code, body, want)
	}

	// Rebuilt with another API: undeployed, then deployed again.
	placeCar(t, home, "orders_1.0.0.car", carBytes(t, capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders/v2"}}}))
	in.waitLog("Successfully Deployed Carbon Application : orders_1.0.0{super-tenant}", 2)
	if code, _ := get(passURL(set, "/orders/v2/1"), nil); code != 200 {
		t.Errorf("the redeployed API is not served: %d", code)
	}
	if code, _ := get(passURL(set, "/orders/1"), nil); code != http.StatusNotFound {
		t.Errorf("the old API is still served: %d", code)
	}
	log = in.log()
	if u := indexOfLine(log, "Undeploying Carbon Application : orders_1.0.0..."); u < deployedAt || !strings.Contains(log, "Successfully undeployed Carbon Application : orders_1.0.0{super-tenant}") {
		t.Errorf("no undeployment before the redeployment")
	}

	// Not a .car: ignored. Removed: undeployed.
	placeCar(t, home, "other.zip", carBytes(t, capp.Spec{Name: "other"}))
	if err := os.Remove(filepath.Join(home, CarbonAppsDir, "orders_1.0.0.car")); err != nil {
		t.Fatal(err)
	}
	in.waitLog("Successfully undeployed Carbon Application : orders_1.0.0{super-tenant}", 2)
	if apps := applications(t, set, h); apps.TotalCount != 0 {
		t.Errorf("applications after the removal: %+v", apps)
	}
	if strings.Contains(in.log(), "other") {
		t.Errorf("a .zip was looked at")
	}
	if code, _ := get(passURL(set, "/anything"), nil); code != 200 {
		t.Errorf("with no app the pass-through answers as before: %d", code)
	}
}

// docs/mi-integrations.md "Faulty applications": an artifact that fails to
// deploy makes the app faulty (faultyList with errorMessage, /healthz 500
// naming the file) while /liveness stays 200 and the server runs; a .car
// refused before deployment (not a zip) is only logged; removing the
// faulty file makes /healthz 200 again.
func TestFaultyCApp(t *testing.T) {
	t.Parallel()
	in, home, set := startWithCApps(t, nil)
	pid := in.serverPID(0)

	notZip := placeCar(t, home, "junk_1.0.0.car", []byte("not a zip at all"))
	in.waitLog("ERROR {CappDeployer} - Error while deploying carbon application "+notZip, 1)
	if !strings.Contains(in.log(), "org.wso2.micro.core.util.CarbonException: "+notZip+": not a zip archive") {
		t.Errorf("the exception line is missing:\n%s", in.log())
	}
	if code, _ := get(healthzURL(set), nil); code != 200 {
		t.Errorf("/healthz after a .car MI refuses before deploying: %d, want 200 (not faulty)", code)
	}

	placeCar(t, home, "broken_1.0.0.car", carBytes(t, capp.Spec{Name: "broken", APIs: []capp.APISpec{{Context: "/ok"}}, Faulty: true}))
	in.waitLog("ERROR {CappDeployer} - Error occurred while deploying the Carbon application: broken_1.0.0.car. Reverting successfully deployed artifacts in the CApp.", 1)
	code, body := get(healthzURL(set), nil)
	if want := `{"version":"4.4.0","status":"not ready, faulty CAPPs detected","Faulty CAPPs":["broken_1.0.0.car"]}`; code != 500 || strings.TrimSpace(body) != want {
		t.Errorf("/healthz: %d %s, want 500 %s", code, body, want)
	}
	if code, body := get(fmt.Sprintf("http://127.0.0.1:%d/liveness", set[ports.InternalHTTP]), nil); code != 200 || strings.TrimSpace(body) != `{"server":"started"}` {
		t.Errorf("/liveness with a faulty app: %d %s", code, body)
	}
	apps := applications(t, set, mgmtHeader(t, set))
	if apps.FaultyCount != 1 || apps.ActiveCount != 0 || apps.TotalCount != 1 {
		t.Fatalf("applications %+v", apps)
	}
	f := apps.FaultyList[0]
	wantMsg := "org.apache.synapse.deployers.SynapseArtifactDeploymentException: API deployment from the file : " +
		filepath.Join(home, extractDir, "broken_1.0.0.car", "brokenBrokenAPI_1.0.0", "brokenBrokenAPI-1.0.0.xml") + " : Failed."
	if f.Name != "broken" || f.Version != "1.0.0" || f.ErrorMessage != wantMsg {
		t.Errorf("faulty %+v, want errorMessage %q", f, wantMsg)
	}
	if _, body := get(passURL(set, "/ok"), nil); strings.Contains(body, `"api"`) {
		t.Errorf("an API of a faulty app is served: %s", body)
	}
	if !alive(pid) || in.exited() {
		t.Fatal("the server died of a faulty app")
	}

	if err := os.Remove(filepath.Join(home, CarbonAppsDir, "broken_1.0.0.car")); err != nil {
		t.Fatal(err)
	}
	in.waitLog("Undeploying Faulty Carbon Application On : "+filepath.Join(home, CarbonAppsDir, "broken_1.0.0.car"), 1)
	if code, _ := get(healthzURL(set), nil); code != 200 {
		t.Errorf("/healthz after the faulty app went: %d", code)
	}
}

// docs/mi-integrations.md "Hot deployment": two files holding one
// name_version: the second is refused with MI's lines and not listed.
func TestDuplicateCAppID(t *testing.T) {
	t.Parallel()
	data := carBytes(t, capp.Spec{Name: "dup", APIs: []capp.APISpec{{Context: "/dup"}}})
	in, home, set := startWithCApps(t, func(home string, _ int) {
		placeCar(t, home, "a.car", data)
		placeCar(t, home, "b.car", data)
	})
	log := in.log()
	for _, line := range []string{
		"INFO {CappDeployer} - Successfully Deployed Carbon Application : dup_1.0.0{super-tenant}",
		"ERROR {CappDeployer} - Carbon Application : dup_1.0.0 already exists. Two applications can't have the same Id. Deployment aborted.",
		"ERROR {CappDeployer} - Error while deploying carbon application " + filepath.Join(home, CarbonAppsDir, "b.car"),
	} {
		if !strings.Contains(log, line) {
			t.Errorf("log lacks %q", line)
		}
	}
	if apps := applications(t, set, mgmtHeader(t, set)); apps.ActiveCount != 1 || apps.FaultyCount != 0 {
		t.Errorf("applications %+v", apps)
	}
	if code, _ := get(healthzURL(set), nil); code != 200 {
		t.Errorf("/healthz: %d (a duplicate is not faulty)", code)
	}
}

// freeInboundPort returns a port p for an inbound endpoint of a server at
// off: p and p+off are free, whichever of them the endpoint binds.
func freeInboundPort(t testing.TB, off int) int {
	t.Helper()
	return testports.FreePort(t, off)
}

func listensOn(t testing.TB, pid, port int) bool {
	t.Helper()
	return slices.Contains(tcpPorts(socketsOf(t, pid), hostnet.TCP), port)
}

// docs/mi-integrations.md "Inbound endpoint ports": an HTTP inbound
// endpoint binds its port as written unless inbound.port_offset_enable is
// true, then port+offset; a WebSocket one with ws.use.port.offset=true
// always gets the offset. The server's own process holds the ports and the
// endpoint answers.
func TestInboundEndpointPorts(t *testing.T) {
	t.Parallel()
	for _, enabled := range []bool{false, true} {
		t.Run(fmt.Sprintf("port_offset_enable=%v", enabled), func(t *testing.T) {
			t.Parallel()
			home := newDist(t)
			off := freeOffset(t)
			set := ports.DefaultBases().Shift(off)
			httpPort, wsPort := freeInboundPort(t, off), freeInboundPort(t, off)
			extra := ""
			if enabled {
				extra = "inbound.port_offset_enable = true\n"
			}
			writeFile(t, filepath.Join(home, DeployTOMLPath), tomlWithOffset(off, "")+extra)
			placeCar(t, home, "in_1.0.0.car", carBytes(t, capp.Spec{Name: "in", Inbounds: []capp.InboundSpec{
				{Name: "HTTPIn", Port: httpPort}, {Name: "WSIn", Protocol: "ws", Port: wsPort, UsePortOffset: true}}}))
			in := start(t, home, startOpts{env: []string{fastDeploy}})
			pid := in.serverPID(0)
			waitReady(t, set)
			wantHTTP, notHTTP := httpPort, httpPort+off
			if enabled {
				wantHTTP, notHTTP = notHTTP, wantHTTP
			}
			if !listensOn(t, pid, wantHTTP) || listensOn(t, pid, notHTTP) {
				t.Errorf("HTTP inbound: want port %d held by pid %d, have %v", wantHTTP, pid, tcpPorts(socketsOf(t, pid), hostnet.TCP))
			}
			if !listensOn(t, pid, wsPort+off) || listensOn(t, pid, wsPort) {
				t.Errorf("WS inbound with ws.use.port.offset: want port %d", wsPort+off)
			}
			if code, body := get(fmt.Sprintf("http://127.0.0.1:%d/x", wantHTTP), nil); code != 200 || !strings.Contains(body, `"inboundEndpoint":"HTTPIn"`) {
				t.Errorf("inbound endpoint answer: %d %s", code, body)
			}
			code, body := get(fmt.Sprintf("https://127.0.0.1:%d/management/inbound-endpoints", set[ports.Management]), mgmtHeader(t, set))
			if want := `{"count":2,"list":[{"name":"HTTPIn","protocol":"http"},{"name":"WSIn","protocol":"ws"}]}`; code != 200 || strings.TrimSpace(body) != want {
				t.Errorf("/management/inbound-endpoints: %d %s", code, body)
			}
		})
	}
}

// docs/mi-integrations.md "Inbound endpoint ports": a port in use fails the
// endpoint with MI's warning; the application turns faulty and the server
// keeps running.
func TestInboundPortTaken(t *testing.T) {
	t.Parallel()
	var port int
	in, home, set := startWithCApps(t, func(_ string, off int) {
		port = freeInboundPort(t, off)
		squat, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { squat.Close() })
	})
	pid := in.serverPID(0)
	placeCar(t, home, "clash_1.0.0.car", carBytes(t, capp.Spec{Name: "clash", Inbounds: []capp.InboundSpec{{Name: "Clash", Port: port}}}))
	in.waitLog(fmt.Sprintf("WARN {InboundHttpListener} - Port %d used by inbound endpoint Clash is already used by another application hence undeploying inbound endpoint", port), 1)
	in.waitLog("Error occurred while deploying the Carbon application: clash_1.0.0.car.", 1)
	if !strings.Contains(in.log(), "ERROR {InboundEndpoint} - Error initializing inbound endpoint Clash") {
		t.Errorf("no 'Error initializing inbound endpoint' line")
	}
	if code, _ := get(healthzURL(set), nil); code != 500 {
		t.Errorf("/healthz: %d, want 500", code)
	}
	if !alive(pid) || in.exited() {
		t.Fatal("the server died of a taken inbound port")
	}
	if listensOn(t, pid, port) {
		t.Errorf("the server claims the squatted port")
	}
}

// docs/mi-integrations.md "Hot deployment": with [server] hot_deployment =
// false only the CApps present at start are deployed.
func TestHotDeploymentOff(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	off := freeOffset(t)
	set := ports.DefaultBases().Shift(off)
	writeFile(t, filepath.Join(home, DeployTOMLPath), strings.Replace(tomlWithOffset(off, ""), "[server]\n", "[server]\nhot_deployment = \"false\"\n", 1))
	placeCar(t, home, "early_1.0.0.car", carBytes(t, capp.Spec{Name: "early"}))
	in := start(t, home, startOpts{env: []string{fastDeploy}})
	waitReady(t, set)
	placeCar(t, home, "late_1.0.0.car", carBytes(t, capp.Spec{Name: "late"}))
	// Absence cannot be waited for: give the scan ten intervals.
	time.Sleep(500 * time.Millisecond)
	log := in.log()
	if !strings.Contains(log, "Successfully Deployed Carbon Application : early_1.0.0") || strings.Contains(log, "late") {
		t.Errorf("want early deployed and late ignored:\n%s", log)
	}
}

// docs/mi-integrations.md "Management API": POST takes one multipart .car
// into carbonapps/ (deployed at the next scan), DELETE /applications/{name}
// removes <name>.car; both need the token.
func TestManagementPostDelete(t *testing.T) {
	t.Parallel()
	in, dist, set := startWithCApps(t, nil)
	h := mgmtHeader(t, set)
	apps := fmt.Sprintf("https://127.0.0.1:%d/management/applications", set[ports.Management])
	post := func(header http.Header, files map[string][]byte) (int, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for name, data := range files {
			w, _ := mw.CreateFormFile("file", name)
			w.Write(data)
		}
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, apps, &buf)
		req.Header = header.Clone()
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return send(req)
	}
	car := carBytes(t, capp.Spec{Name: "up", APIs: []capp.APISpec{{Context: "/up"}}})
	if code, _ := post(http.Header{}, map[string][]byte{"up_1.0.0.car": car}); code != http.StatusUnauthorized {
		t.Errorf("POST without a token: %d", code)
	}
	if code, body := post(h, map[string][]byte{"up.zip": car}); code != 400 || !strings.Contains(body, "Only files with the extension .car") {
		t.Errorf("POST .zip: %d %s", code, body)
	}
	if code, body := post(h, map[string][]byte{"../up.car": car}); code != 400 || !strings.Contains(body, "Invalid file name") {
		t.Errorf("POST ../up.car: %d %s", code, body)
	}
	if code, body := post(h, map[string][]byte{"a.car": car, "b.car": car}); code != 400 || !strings.Contains(body, "Multiple files") {
		t.Errorf("POST two files: %d %s", code, body)
	}
	if code, body := post(h, map[string][]byte{"up_1.0.0.car": car}); code != 200 || strings.TrimSpace(body) != `{"Message":"Successfully added Carbon Application up_1.0.0.car"}` {
		t.Fatalf("POST: %d %s", code, body)
	}
	in.waitLog("Successfully Deployed Carbon Application : up_1.0.0{super-tenant}", 1)
	if code, _ := get(passURL(set, "/up"), nil); code != 200 {
		t.Errorf("the posted app's API: %d", code)
	}

	del := func(name string, header http.Header) (int, string) {
		req, _ := http.NewRequest(http.MethodDelete, apps+"/"+name, nil)
		req.Header = header
		return send(req)
	}
	if code, _ := del("up_1.0.0", http.Header{}); code != http.StatusUnauthorized {
		t.Errorf("DELETE without a token: %d", code)
	}
	if code, body := del("nope", h); code != 404 || !strings.Contains(body, "nope does not exist") {
		t.Errorf("DELETE nope: %d %s", code, body)
	}
	if code, body := del("up_1.0.0", h); code != 200 || strings.TrimSpace(body) != `{"Message":"Successfully removed Carbon Application named up_1.0.0"}` {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	in.waitLog("Successfully undeployed Carbon Application : up_1.0.0{super-tenant}", 1)

	// A file that cannot be saved is MI's 500, never its "Successfully added".
	if err := os.Mkdir(filepath.Join(dist, CarbonAppsDir, "stuck_1.0.0.car"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, body := post(h, map[string][]byte{"stuck_1.0.0.car": car}); code != http.StatusInternalServerError || !strings.Contains(body, "Error when deploying") {
		t.Errorf("POST over a directory: %d %s, want 500", code, body)
	}
}

// docs/mi-integrations.md "Metrics": with the MetricHandler and
// -DenablePrometheusApi=true the internal API serves MI's metrics, and the
// counters move with the requests really served; without the flag there
// is no endpoint.
func TestMetricsCountRequests(t *testing.T) {
	t.Parallel()
	handler := "[[synapse_handlers]]\nname = \"CustomObservabilityHandler\"\nclass = \"" + ports.MetricHandlerClass + "\"\n"
	t.Run("off-without-flag", func(t *testing.T) {
		t.Parallel()
		home := newDist(t)
		off := freeOffset(t)
		set := ports.DefaultBases().Shift(off)
		writeFile(t, filepath.Join(home, DeployTOMLPath), tomlWithOffset(off, handler))
		start(t, home, startOpts{})
		waitReady(t, set)
		if code, _ := get(fmt.Sprintf("http://127.0.0.1:%d%s", set[ports.InternalHTTP], MetricsPath), nil); code != http.StatusNotFound {
			t.Errorf("metrics without -DenablePrometheusApi: %d, want 404", code)
		}
	})
	t.Run("on", func(t *testing.T) {
		t.Parallel()
		home := newDist(t)
		off := freeOffset(t)
		set := ports.DefaultBases().Shift(off)
		inPort := freeInboundPort(t, off)
		writeFile(t, filepath.Join(home, DeployTOMLPath), tomlWithOffset(off, handler))
		placeCar(t, home, "m_1.0.0.car", carBytes(t, capp.Spec{Name: "m", APIs: []capp.APISpec{{Context: "/m"}}, Inbounds: []capp.InboundSpec{{Name: "MIn", Port: inPort}}}))
		start(t, home, startOpts{env: []string{"JAVA_OPTS=-Xmx256m -D" + ports.PrometheusAPIProperty + "=true"}})
		waitReady(t, set)
		metricsURL := fmt.Sprintf("http://127.0.0.1:%d%s", set[ports.InternalHTTP], MetricsPath)
		scrape := func() (map[string]float64, string) {
			code, body := get(metricsURL, nil)
			if code != 200 {
				t.Fatalf("metrics: %d %s", code, body)
			}
			fams := parseMetrics(t, body)
			url := fmt.Sprintf("http://localhost:%d/m", set[ports.HTTP])
			out := map[string]float64{}
			for key, q := range map[string]struct {
				name   string
				labels map[string]string
			}{
				"api":      {"wso2_integration_api_request_count_total", map[string]string{"service_name": "mAPI", "invocation_url": url}},
				"apiErr":   {"wso2_integration_api_request_count_error_total", map[string]string{"service_name": "mAPI", "invocation_url": url}},
				"apiLat":   {"wso2_integration_api_latency_seconds", map[string]string{"service_name": "mAPI", "invocation_url": url}},
				"inbound":  {"wso2_integration_inbound_endpoint_request_count_total", map[string]string{"service_name": "MIn"}},
				"healthz":  {"wso2_integration_api_request_count_total", map[string]string{"service_name": "mictl-sim-healthz"}},
				"serverUp": {"wso2_integration_server_up", map[string]string{"port": strconv.Itoa(set[ports.HTTP])}},
				"apiUp":    {"wso2_integration_service_up", map[string]string{"service_name": "mAPI", "service_type": "api"}},
			} {
				out[key], _ = sampleValue(fams, q.name, q.labels)
			}
			return out, body
		}
		before, _ := scrape()
		for range 5 {
			get(passURL(set, "/m/x"), nil)
		}
		get(passURL(set, "/m/fault"), nil)
		for range 3 {
			get(fmt.Sprintf("http://127.0.0.1:%d/in", inPort), nil)
		}
		get(healthzURL(set), nil)
		after, body := scrape()
		for key, want := range map[string]float64{"api": 6, "apiErr": 1, "apiLat": 6, "inbound": 3, "healthz": 0} {
			if d := after[key] - before[key]; d != want {
				t.Errorf("%s moved by %v, want %v\n%s", key, d, want, body)
			}
		}
		if after["serverUp"] < 1.7e9 || after["apiUp"] < 1.7e9 {
			t.Errorf("server_up %v, service_up %v: want start and deployment times", after["serverUp"], after["apiUp"])
		}
	})
}

// Signals reach a server with live inbound endpoints and deployed apps: a
// graceful stop closes every port (nothing left behind to clash with the
// next start).
func TestShutdownClosesInbounds(t *testing.T) {
	t.Parallel()
	var p int
	in, _, _ := startWithCApps(t, func(home string, off int) {
		p = freeInboundPort(t, off)
		placeCar(t, home, "s_1.0.0.car", carBytes(t, capp.Spec{Name: "s", Inbounds: []capp.InboundSpec{{Port: p}}}))
	})
	pid := in.serverPID(0)
	syscall.Kill(pid, syscall.SIGTERM)
	in.waitExit(10 * time.Second)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("inbound port %d still held after the stop: %v", p, err)
	}
	ln.Close()
}

// docs/mi-integrations.md "Hot deployment": without MICTL_SIM_DEPLOY_INTERVAL
// the simulator watches carbonapps/ instead of scanning it on a tick: a
// .car written in place (as cp does) deploys, a removed one undeploys, and
// when the directory itself is removed and made again it falls back to
// scanning, so a .car placed in the new directory still deploys.
func TestHotDeploymentWatchesCarbonApps(t *testing.T) {
	t.Parallel()
	home := newDist(t)
	off := freeOffset(t)
	set := ports.DefaultBases().Shift(off)
	in := start(t, home, startOpts{args: []string{ports.OffsetFlag + strconv.Itoa(off)}})
	waitReady(t, set)
	dir := filepath.Join(home, CarbonAppsDir)
	pid := in.serverPID(0)
	eventually(t, 10*time.Second, func() bool { return holdsInotify(t, pid) }, "the server watching carbonapps/ (an inotify instance), not polling it")

	if err := os.WriteFile(filepath.Join(dir, "orders_1.0.0.car"), carBytes(t, capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}}), 0o644); err != nil {
		t.Fatal(err)
	}
	in.waitLog("Successfully Deployed Carbon Application : orders_1.0.0{super-tenant}", 1)
	if code, _ := get(passURL(set, "/orders"), nil); code != 200 {
		t.Errorf("GET /orders after a watched deploy: %d, want 200", code)
	}
	if err := os.Remove(filepath.Join(dir, "orders_1.0.0.car")); err != nil {
		t.Fatal(err)
	}
	in.waitLog("Successfully undeployed Carbon Application : orders_1.0.0{super-tenant}", 1)

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	placeCar(t, home, "stock_1.0.0.car", carBytes(t, capp.Spec{Name: "stock", APIs: []capp.APISpec{{Context: "/stock"}}}))
	in.waitLog("Successfully Deployed Carbon Application : stock_1.0.0{super-tenant}", 1)
	if strings.Contains(in.log(), "Could not read") {
		t.Errorf("the removed directory was reported:\n%s", in.log())
	}
}

// watchLoop keeps watching carbonapps/ (deploying what lands there) until
// done is closed; it hands back to polling only when the directory is
// missing or goes away.
func TestWatchLoopHandsBackOnlyWhenUnwatchable(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	s := &server{home: home, log: newLogger(io.Discard, home)}
	s.deployer = newDeployer(s)
	d := s.deployer
	if !d.watchLoop(make(chan struct{})) {
		t.Fatal("watchLoop on a missing carbonapps/ did not hand back to polling")
	}

	done, ended := make(chan struct{}), make(chan bool, 1)
	deployed := func(file string) func() bool {
		return func() bool {
			d.mu.RLock()
			defer d.mu.RUnlock()
			return d.apps[file] != nil
		}
	}
	// The loop scans once its watch is in place: orders then deploys, and
	// stock, placed after, can only come through the watch.
	placeCar(t, home, "orders_1.0.0.car", carBytes(t, capp.Spec{Name: "orders", APIs: []capp.APISpec{{Context: "/orders"}}}))
	go func() { ended <- d.watchLoop(done) }()
	eventually(t, 10*time.Second, deployed("orders_1.0.0.car"), "orders deployed by the loop's first scan")
	placeCar(t, home, "stock_1.0.0.car", carBytes(t, capp.Spec{Name: "stock", APIs: []capp.APISpec{{Context: "/stock"}}}))
	eventually(t, 10*time.Second, deployed("stock_1.0.0.car"), "stock deployed through the watch")
	select {
	case <-ended:
		t.Fatal("watchLoop stopped watching an existing carbonapps/")
	default:
	}
	close(done)
	if <-ended {
		t.Error("watchLoop asked for polling when it was only told to stop")
	}

	// The loop scans once its watch is in place: the undeploy of a file
	// removed while nothing watched shows the watch is there.
	if err := os.Remove(filepath.Join(home, CarbonAppsDir, "stock_1.0.0.car")); err != nil {
		t.Fatal(err)
	}
	go func() { ended <- d.watchLoop(make(chan struct{})) }()
	eventually(t, 10*time.Second, func() bool {
		d.mu.RLock()
		defer d.mu.RUnlock()
		return len(d.apps) == 1
	}, "the second loop's first scan")
	if err := os.RemoveAll(filepath.Join(home, CarbonAppsDir)); err != nil {
		t.Fatal(err)
	}
	select {
	case polling := <-ended:
		if !polling {
			t.Error("watchLoop ended without asking for polling when carbonapps/ was removed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watchLoop kept watching a removed carbonapps/")
	}
}

// holdsInotify reports whether process pid holds an inotify instance.
func holdsInotify(t *testing.T, pid int) bool {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && target == "anon_inode:inotify" {
			return true
		}
	}
	return false
}

// A new version whose API takes over the old one's, swapped in as the old
// file goes (one scan), deploys cleanly: MI's (Axis2's) hot deployer
// undeploys what left before it deploys what came. Deployed first, it
// failed as a duplicate, and the instance stayed degraded for good.
func TestSwappedVersionDeploysAfterTheOldGoes(t *testing.T) {
	t.Parallel()
	spec := func(version string) capp.Spec {
		return capp.Spec{Name: "hand", Version: version, APIs: []capp.APISpec{{Context: "/hand"}}}
	}
	in, home, set := startWithCApps(t, func(home string, _ int) {
		placeCar(t, home, "hand_1.0.0.car", carBytes(t, spec("1.0.0")))
	})
	next := carBytes(t, spec("1.1.0"))
	if err := os.Remove(filepath.Join(home, CarbonAppsDir, "hand_1.0.0.car")); err != nil {
		t.Fatal(err)
	}
	placeCar(t, home, "hand_1.1.0.car", next)
	in.waitLog("Successfully undeployed Carbon Application : hand_1.0.0{super-tenant}", 1)
	in.waitLog("Carbon Application : hand_1.1.0", 1)
	if apps := applications(t, set, mgmtHeader(t, set)); apps.ActiveCount != 1 || apps.FaultyCount != 0 || apps.ActiveList[0].Version != "1.1.0" {
		t.Fatalf("applications after the swap: %+v\n%s", apps, in.log())
	}
}

// An inbound endpoint kept as a synapse file, outside any CApp, is
// deployed at start as MI's synapse deployer does: its port listens (as
// written: an HL7 port is not offset), the Management API lists it, and a
// file that fails (its port taken) is logged and left out while the
// server runs on.
func TestSynapseInboundEndpointsDeployAtStart(t *testing.T) {
	t.Parallel()
	var hl7, taken int
	in, _, set := startWithCApps(t, func(home string, off int) {
		hl7, taken = freeInboundPort(t, off), freeInboundPort(t, off)
		squat, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(taken)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { squat.Close() })
		dir := filepath.Join(home, InboundEndpointsDir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		endpoint := func(name, protocol, param string, port int) string {
			return fmt.Sprintf(`<inboundEndpoint xmlns="http://ws.apache.org/ns/synapse" name=%q protocol=%q sequence="main">
  <parameters><parameter name=%q>%d</parameter></parameters>
</inboundEndpoint>
`, name, protocol, param, port)
		}
		writeFile(t, filepath.Join(dir, "LegacyHL7.xml"), endpoint("LegacyHL7", "hl7", "inbound.hl7.Port", hl7))
		writeFile(t, filepath.Join(dir, "Squatted.xml"), endpoint("Squatted", "http", "inbound.http.port", taken))
		writeFile(t, filepath.Join(dir, "notes.txt"), "not an endpoint")
	})
	pid := in.serverPID(0)
	if !listensOn(t, pid, hl7) {
		t.Errorf("the synapse file's HL7 inbound endpoint: want port %d held by pid %d, have %v", hl7, pid, tcpPorts(socketsOf(t, pid), hostnet.TCP))
	}
	code, body := get(fmt.Sprintf("https://127.0.0.1:%d/management/inbound-endpoints", set[ports.Management]), mgmtHeader(t, set))
	if want := `{"count":1,"list":[{"name":"LegacyHL7","protocol":"hl7"}]}`; code != 200 || strings.TrimSpace(body) != want {
		t.Errorf("/management/inbound-endpoints: %d %s, want %s", code, body, want)
	}
	log := in.log()
	for _, line := range []string{
		"Inbound Endpoint named 'LegacyHL7' has been deployed from file : ",
		fmt.Sprintf("Port %d used by inbound endpoint Squatted is already used by another application", taken),
		"Squatted.xml : Failed.",
	} {
		if !strings.Contains(log, line) {
			t.Errorf("no %q in the log:\n%s", line, log)
		}
	}
	if !alive(pid) || in.exited() {
		t.Fatal("the server died of a synapse file that failed")
	}
}
