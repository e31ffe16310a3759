package capp

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/goldentest"
)

type entry struct{ name, body string }

// zipOf writes entries, in the order given, into a zip.
func zipOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		// Stored, not deflated: a deflate writer per entry makes a zip of
		// MaxEntries entries slow to build.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func read(data []byte) (*App, error) {
	return ReadFrom(bytes.NewReader(data), int64(len(data)), "test.car")
}

const (
	appXML = `<?xml version="1.0" encoding="UTF-8"?>
<artifacts>
    <artifact name="OrdersApp" version="1.2.0" type="carbon/application">
        <dependency artifact="OrdersAPI" version="1.2.0" include="true" serverRole="EnterpriseServiceBus"/>
        <dependency artifact="OrdersInbound" version="1.2.0" include="true" serverRole="EnterpriseServiceBus"/>
        <dependency artifact="Shared" version="1.0.0" include="false" serverRole="EnterpriseServiceBus"/>
    </artifact>
</artifacts>`
	apiDesc     = `<artifact name="OrdersAPI" version="1.2.0" type="synapse/api" serverRole="EnterpriseServiceBus"><file>OrdersAPI-1.2.0.xml</file></artifact>`
	apiBody     = `<api xmlns="http://ws.apache.org/ns/synapse" name="OrdersAPI" context="/orders"><resource methods="GET" uri-template="/*"/></api>`
	inboundDesc = `<artifact name="OrdersInbound" version="1.2.0" type="synapse/inbound-endpoint" serverRole="EnterpriseServiceBus"><file>OrdersInbound-1.2.0.xml</file></artifact>`
	inboundBody = `<inboundEndpoint xmlns="http://ws.apache.org/ns/synapse" name="OrdersHTTP" protocol="http" sequence="s" suspend="false">
  <parameters><parameter name="inbound.http.port">8085</parameter></parameters></inboundEndpoint>`
)

func sample() []entry {
	return []entry{
		{"artifacts.xml", appXML},
		{"OrdersAPI_1.2.0/artifact.xml", apiDesc},
		{"OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", apiBody},
		{"OrdersInbound_1.2.0/artifact.xml", inboundDesc},
		{"OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", inboundBody},
	}
}

// replace returns entries with the body of name replaced (or the entry
// dropped when body is "-").
func replace(entries []entry, name, body string) []entry {
	var out []entry
	for _, e := range entries {
		if e.name == name {
			if body == "-" {
				continue
			}
			e.body = body
		}
		out = append(out, e)
	}
	return out
}

func TestReadSample(t *testing.T) {
	app, err := read(zipOf(t, sample()...))
	if err != nil {
		t.Fatal(err)
	}
	if app.ID() != "OrdersApp_1.2.0" || app.Path != "test.car" || app.Size == 0 || len(app.SHA256) != 64 {
		t.Errorf("app %+v", app)
	}
	want := []Artifact{
		{Name: "OrdersAPI", Version: "1.2.0", Type: TypeAPI, ServerRole: "EnterpriseServiceBus", Include: true, File: "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", ConfigName: "OrdersAPI", Context: "/orders"},
		{Name: "OrdersInbound", Version: "1.2.0", Type: TypeInboundEndpoint, ServerRole: "EnterpriseServiceBus", Include: true, File: "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", ConfigName: "OrdersHTTP"},
		{Name: "Shared", Version: "1.0.0", ServerRole: "EnterpriseServiceBus", Include: false},
	}
	if fmt.Sprint(app.Artifacts) != fmt.Sprint(want) {
		t.Errorf("artifacts\n got %+v\nwant %+v", app.Artifacts, want)
	}
	wantIn := []Inbound{{Artifact: "OrdersInbound", Name: "OrdersHTTP", Protocol: "http", Param: "inbound.http.port", Port: 8085, Offset: OffsetIfEnabled}}
	if fmt.Sprint(app.Inbounds) != fmt.Sprint(wantIn) {
		t.Errorf("inbounds\n got %+v\nwant %+v", app.Inbounds, wantIn)
	}
}

// What real tools write: namespaces with prefixes, a BOM, CRLF line ends,
// folders not named <name>_<version> and stored in any order, an ISO-8859-1
// declaration, an application with no version.
func TestReadRobust(t *testing.T) {
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	bom := "\xef\xbb\xbf"
	entries := []entry{
		{"zz/OrdersInbound-1.2.0.xml", crlf(`<?xml version="1.0" encoding="UTF-8"?>
<syn:inboundEndpoint xmlns:syn="http://ws.apache.org/ns/synapse" name="WS" protocol="WS">
  <syn:parameters>
    <syn:parameter name="inbound.ws.port"> 9091 </syn:parameter>
    <syn:parameter name="ws.use.port.offset">TRUE</syn:parameter>
  </syn:parameters>
</syn:inboundEndpoint>`)},
		{"OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", bom + `<?xml version="1.0" encoding="ISO-8859-1"?>` + "\n<api xmlns=\"http://ws.apache.org/ns/synapse\" name=\"Caf\xe9\" context=\"/caf\xe9\"/>"},
		{"OrdersAPI_1.2.0/artifact.xml", bom + crlf(apiDesc)},
		{"zz/artifact.xml", `<a:artifact xmlns:a="urn:x" a:name="OrdersInbound" version="1.2.0" type="synapse/inbound-endpoint"><a:file>OrdersInbound-1.2.0.xml</a:file></a:artifact>`},
		{"artifacts.xml", bom + crlf(`<?xml version="1.0"?><!-- made by hand -->
<artifacts xmlns="urn:car"><artifact name="NoVersion" type="carbon/application">
  <dependency artifact="OrdersInbound" version="1.2.0"/>
  <dependency artifact="OrdersAPI" version="1.2.0" include="TRUE"/>
</artifact></artifacts>
<!-- trailer -->`)},
	}
	app, err := read(zipOf(t, entries...))
	if err != nil {
		t.Fatal(err)
	}
	if app.ID() != "NoVersion" {
		t.Errorf("ID %q", app.ID())
	}
	if len(app.Artifacts) != 2 || app.Artifacts[0].File != "zz/OrdersInbound-1.2.0.xml" || app.Artifacts[1].ConfigName != "Café" || app.Artifacts[1].Context != "/café" {
		t.Errorf("artifacts %+v", app.Artifacts)
	}
	if len(app.Inbounds) != 1 || app.Inbounds[0].Port != 9091 || app.Inbounds[0].Offset != OffsetAlways || app.Inbounds[0].Protocol != "ws" {
		t.Errorf("inbounds %+v", app.Inbounds)
	}
}

func TestReadRefusals(t *testing.T) {
	badAPI := `<api name="OrdersAPI" context="/orders"><resource></api>`
	cases := []struct {
		name    string
		data    []byte
		stage   Stage
		entry   string
		reason  string
		partial bool // Error.App is set
	}{
		{"not a zip", []byte("PK? not really"), StageArchive, "", "not a zip archive", false},
		{"empty file", nil, StageArchive, "", "not a zip archive", false},
		{"no artifacts.xml", zipOf(t, sample()[1:]...), StageArchive, "", "no artifacts.xml at the root", false},
		{"artifacts.xml in a folder", zipOf(t, entry{"app/artifacts.xml", appXML}), StageArchive, "", "no artifacts.xml at the root", false},
		{"parent traversal", zipOf(t, append(sample(), entry{"../evil.sh", "x"})...), StageArchive, "../evil.sh", "climbs out", false},
		{"inner traversal", zipOf(t, append(sample(), entry{"a/../../evil", "x"})...), StageArchive, "a/../../evil", "climbs out", false},
		{"backslash traversal", zipOf(t, append(sample(), entry{`a\..\..\evil`, "x"})...), StageArchive, `a\..\..\evil`, "climbs out", false},
		{"absolute", zipOf(t, append(sample(), entry{"/etc/cron.d/x", "x"})...), StageArchive, "/etc/cron.d/x", "absolute path", false},
		{"drive letter", zipOf(t, append(sample(), entry{`C:\x`, "x"})...), StageArchive, `C:\x`, "absolute path", false},
		{"duplicate entry", zipOf(t, append(sample(), entry{"artifacts.xml", appXML})...), StageArchive, "artifacts.xml", "twice", false},
		{"malformed artifacts.xml", zipOf(t, replace(sample(), "artifacts.xml", "<artifacts><artifact")...), StageDescriptor, "artifacts.xml", "malformed XML: it ends on line 1 before its elements do (cut short)", false},
		{"artifacts.xml closing the wrong element", zipOf(t, replace(sample(), "artifacts.xml", "<artifacts>\n<artifact></artifacts>")...), StageDescriptor, "artifacts.xml", "malformed XML on line 2: element <artifact> closed by </artifacts>", false},
		{"empty artifacts.xml", zipOf(t, replace(sample(), "artifacts.xml", "")...), StageDescriptor, "artifacts.xml", "empty", false},
		{"trailing element", zipOf(t, replace(sample(), "artifacts.xml", appXML+"<x/>")...), StageDescriptor, "artifacts.xml", "after the root", false},
		{"wrong root", zipOf(t, replace(sample(), "artifacts.xml", "<project/>")...), StageDescriptor, "artifacts.xml", "not <artifacts>", false},
		{"no application", zipOf(t, replace(sample(), "artifacts.xml", `<artifacts><artifact name="x" type="synapse/api"/></artifacts>`)...), StageDescriptor, "artifacts.xml", "no <artifact type=", false},
		{"nameless application", zipOf(t, replace(sample(), "artifacts.xml", `<artifacts><artifact type="carbon/application"/></artifacts>`)...), StageDescriptor, "artifacts.xml", "no name", false},
		{"unsupported encoding", zipOf(t, replace(sample(), "artifacts.xml", `<?xml version="1.0" encoding="UTF-16"?>`+appXML[38:])...), StageDescriptor, "artifacts.xml", "unsupported encoding", false},
		{"missing dependency folder", zipOf(t, replace(replace(sample(), "OrdersAPI_1.2.0/artifact.xml", "-"), "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", "-")...), StageDescriptor, "", "dependency OrdersAPI (version 1.2.0) has no folder", false},
		{"version mismatch", zipOf(t, replace(sample(), "OrdersAPI_1.2.0/artifact.xml", strings.Replace(apiDesc, `version="1.2.0"`, `version="1.1.0"`, 1))...), StageDescriptor, "", "dependency OrdersAPI (version 1.2.0) has no folder", false},
		{"malformed artifact.xml", zipOf(t, replace(sample(), "OrdersAPI_1.2.0/artifact.xml", "<artifact name=")...), StageDescriptor, "OrdersAPI_1.2.0/artifact.xml", "malformed XML", false},
		{"typeless artifact.xml", zipOf(t, replace(sample(), "OrdersAPI_1.2.0/artifact.xml", `<artifact name="OrdersAPI" version="1.2.0"/>`)...), StageDescriptor, "OrdersAPI_1.2.0/artifact.xml", "no type", false},
		{"file outside its folder", zipOf(t, replace(sample(), "OrdersAPI_1.2.0/artifact.xml", `<artifact name="OrdersAPI" version="1.2.0" type="synapse/api"><file>../x.xml</file></artifact>`)...), StageDescriptor, "OrdersAPI_1.2.0/artifact.xml", "own folder", false},
		{"missing artifact file", zipOf(t, replace(sample(), "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", "-")...), StageArtifact, "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", "archive lacks it", true},
		{"malformed API", zipOf(t, replace(sample(), "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", badAPI)...), StageArtifact, "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", "malformed XML", true},
		{"API without context", zipOf(t, replace(sample(), "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", `<api name="OrdersAPI"/>`)...), StageArtifact, "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", "must start with /", true},
		{"API that is a proxy", zipOf(t, replace(sample(), "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", `<proxy name="OrdersAPI"/>`)...), StageArtifact, "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", "must be a <api> element", true},
		{"port not an integer", zipOf(t, replace(sample(), "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", strings.Replace(inboundBody, "8085", "${PORT}", 1))...), StageArtifact, "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", `inbound.http.port = "${PORT}" is not a port`, true},
		{"port zero", zipOf(t, replace(sample(), "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", strings.Replace(inboundBody, "8085", "0", 1))...), StageArtifact, "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", "is not a port", true},
		{"placeholder in lower case", zipOf(t, replace(sample(), "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", strings.Replace(inboundBody, "8085", "$system:PORT", 1))...), StageArtifact, "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", `"$system:PORT" is not a port`, true},
		{"placeholder with a dotted key", zipOf(t, replace(sample(), "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", strings.Replace(inboundBody, "8085", "$FILE:orders.port", 1))...), StageArtifact, "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", "is not a port", true},
		{"port too high", zipOf(t, replace(sample(), "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", strings.Replace(inboundBody, "8085", "65536", 1))...), StageArtifact, "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", "is not a port", true},
	}
	// zip's own "zip: not a valid zip file" said the reason twice.
	if _, err := read([]byte("hello")); err == nil || strings.Contains(err.Error(), "zip:") {
		t.Errorf("a text file: %v; want not a zip archive, in mictl's words only", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app, err := read(c.data)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got app %+v, err %v; want an *Error", app, err)
			}
			if e.Stage != c.stage || e.Entry != c.entry || !strings.Contains(e.Reason, c.reason) || e.Path != "test.car" || (e.App != nil) != c.partial {
				t.Errorf("got stage %v entry %q reason %q app %v; want %v %q %q app %v", e.Stage, e.Entry, e.Reason, e.App != nil, c.stage, c.entry, c.reason, c.partial)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "test.car: ") || (e.Hint != "" && !strings.Contains(msg, e.Hint)) {
				t.Errorf("message %q must name the file, the reason and what to do", msg)
			}
			if c.partial && e.App.ID() != "OrdersApp_1.2.0" {
				t.Errorf("partial app %+v", e.App)
			}
		})
	}
}

// A StageArtifact error names the type of the artifact at fault.
func TestReadArtifactErrorType(t *testing.T) {
	_, err := read(zipOf(t, replace(sample(), "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", "<inboundEndpoint")...))
	var e *Error
	if !errors.As(err, &e) || e.ArtifactType != TypeInboundEndpoint {
		t.Fatalf("err %v", err)
	}
}

// failingReaderAt fails the test when anything reads it.
type failingReaderAt struct{ t *testing.T }

func (f failingReaderAt) ReadAt([]byte, int64) (int, error) {
	f.t.Error("the file was read although its size alone refuses it")
	return 0, io.EOF
}

func TestTooLargeIsNotRead(t *testing.T) {
	_, err := ReadFrom(failingReaderAt{t}, 2<<30, "huge.car")
	var e *Error
	if !errors.As(err, &e) || e.Stage != StageArchive || !strings.Contains(e.Reason, "larger than the 512 MiB") {
		t.Fatalf("err %v", err)
	}
	// Read refuses by the size the file system reports (a sparse file:
	// 2 GiB that take no disk).
	path := filepath.Join(t.TempDir(), "huge.car")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2 << 30); err != nil {
		t.Skipf("no sparse file here: %v", err)
	}
	f.Close()
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "larger than the 512 MiB") {
		t.Fatalf("Read(2 GiB): %v", err)
	}
}

// A zip bomb: a small entry that inflates beyond MaxXMLSize, its header
// lying about its size, is stopped after MaxXMLSize+1 bytes of work.
func TestZipBomb(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	w, _ := zw.Create("artifacts.xml")
	zeros := make([]byte, 1<<20)
	for range MaxXMLSize>>20 + 1 {
		w.Write(zeros)
	}
	zw.Close()
	data := buf.Bytes()
	if len(data) > 1<<20 {
		t.Fatalf("bomb is %d bytes, not a bomb", len(data))
	}
	_, err := read(data)
	var e *Error
	if !errors.As(err, &e) || e.Entry != "artifacts.xml" || !strings.Contains(e.Reason, "more than the 16 MiB") {
		t.Fatalf("declared size: %v", err)
	}
	// The same bomb with its declared sizes rewritten to 1 byte.
	lie := bytes.Clone(data)
	for _, sig := range [][]byte{{'P', 'K', 3, 4}, {'P', 'K', 1, 2}} {
		for off := 0; ; {
			i := bytes.Index(lie[off:], sig)
			if i < 0 {
				break
			}
			i += off
			field := 22 // uncompressed size in a local header
			if sig[2] == 1 {
				field = 24 // ... and in a central directory header
			}
			copy(lie[i+field:], []byte{1, 0, 0, 0})
			off = i + 4
		}
	}
	_, err = read(lie)
	if !errors.As(err, &e) || e.Entry != "artifacts.xml" {
		t.Fatalf("lying sizes: %v", err)
	}
}

func TestTooManyEntries(t *testing.T) {
	entries := sample()
	for i := range MaxEntries {
		entries = append(entries, entry{fmt.Sprintf("junk/%d", i), ""})
	}
	if _, err := read(zipOf(t, entries...)); err == nil || !strings.Contains(err.Error(), "entries, more than") {
		t.Fatalf("err %v", err)
	}
}

func TestReadPathErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(filepath.Join(dir, "missing.car")); err == nil || !strings.Contains(err.Error(), "missing.car: cannot open: no such file") {
		t.Errorf("missing: %v", err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
}

func TestEffective(t *testing.T) {
	cases := []struct {
		rule    OffsetRule
		enabled bool
		want    int
	}{
		{OffsetNever, false, 8085}, {OffsetNever, true, 8085},
		{OffsetIfEnabled, false, 8085}, {OffsetIfEnabled, true, 8095},
		{OffsetAlways, false, 8095}, {OffsetAlways, true, 8095},
	}
	for _, c := range cases {
		if got := (Inbound{Port: 8085, Offset: c.rule}).Effective(10, c.enabled); got != c.want {
			t.Errorf("%v enabled=%v: %d, want %d", c.rule, c.enabled, got, c.want)
		}
	}
}

// Every parameter naming a listening port is found, with MI's offset rule.
func TestInboundPorts(t *testing.T) {
	cases := []struct {
		protocol, class, params string
		want                    string
	}{
		{"https", "", `<parameter name="inbound.http.port">8443</parameter><parameter name="keystore"><KeyStore/></parameter>`, "[{A E https  inbound.http.port 8443  if-enabled}]"},
		{"ws", "", `<parameter name="inbound.ws.port">9091</parameter>`, "[{A E ws  inbound.ws.port 9091  never}]"},
		{"wss", "", `<parameter name="inbound.ws.port">9092</parameter><parameter name="ws.use.port.offset">true</parameter>`, "[{A E wss  inbound.ws.port 9092  always}]"},
		{"hl7", "", `<parameter name="inbound.hl7.Port">20000</parameter><parameter name="inbound.hl7.AutoAck">true</parameter>`, "[{A E hl7  inbound.hl7.Port 20000  never}]"},
		{"", "org.wso2.carbon.inbound.endpoint.ext.wsrm.InboundRMHttpListener", `<parameter name="inbound.cxf.rm.port">20940</parameter><parameter name="inbound.cxf.rm.host">127.0.0.1</parameter>`, "[{A E  org.wso2.carbon.inbound.endpoint.ext.wsrm.InboundRMHttpListener inbound.cxf.rm.port 20940  never}]"},
		{"", "com.example.TcpListener", `<parameter name="inbound.tcp.port">7000</parameter>`, "[{A E  com.example.TcpListener inbound.tcp.port 7000  never}]"},
		{"jms", "", `<parameter name="interval">1000</parameter>`, "[]"},
		// MI's listeners read their parameter by its exact name: another
		// spelling opens no port (the HL7 one is "inbound.hl7.Port").
		{"http", "", `<parameter name="inbound.HTTP.port">8085</parameter>`, "[]"},
		{"http", "", `<parameter name="Inbound.http.port">8085</parameter>`, "[]"},
		{"hl7", "", `<parameter name="inbound.hl7.port">20000</parameter>`, "[]"},
		{"ws", "", `<parameter name="inbound.WS.port">9091</parameter><parameter name="inbound.ws.port">9092</parameter>`, "[{A E ws  inbound.ws.port 9092  never}]"},
		// A synapse placeholder MI resolves as it deploys the endpoint:
		// the port is known at run time only.
		{"http", "", `<parameter name="inbound.http.port">$SYSTEM:ORDERS_PORT</parameter>`, "[{A E http  inbound.http.port 0 $SYSTEM:ORDERS_PORT if-enabled}]"},
		{"hl7", "", `<parameter name="inbound.hl7.Port"> $FILE:hl7_port </parameter>`, "[{A E hl7  inbound.hl7.Port 0 $FILE:hl7_port never}]"},
		{"ws", "", `<parameter name="inbound.ws.port">$config:ws_port</parameter><parameter name="ws.use.port.offset">true</parameter>`, "[{A E ws  inbound.ws.port 0 $config:ws_port always}]"},
	}
	for _, c := range cases {
		cfg, err := parseSynapse([]byte(fmt.Sprintf(`<inboundEndpoint name="E" protocol=%q class=%q><parameters>%s</parameters></inboundEndpoint>`, c.protocol, c.class, c.params)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := inboundsOf("A", cfg)
		if err != nil || fmt.Sprint(got) != c.want {
			t.Errorf("%s%s: got %v %v, want %s", c.protocol, c.class, got, err, c.want)
		}
	}
}

func sampleSpec() Spec {
	return Spec{Name: "Orders", Version: "2.0.0",
		APIs:     []APISpec{{Context: "/orders"}, {Name: "Stock", Context: "/stock/v1"}},
		Inbounds: []InboundSpec{{Port: 8085}, {Protocol: "wss", Port: 9443, UsePortOffset: true}},
	}
}

func TestBuildRoundTrip(t *testing.T) {
	var a, b bytes.Buffer
	if err := Build(&a, sampleSpec()); err != nil {
		t.Fatal(err)
	}
	if err := Build(&b, sampleSpec()); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two builds of one spec differ (%v)", err)
	}
	app, err := read(a.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range app.Artifacts {
		got = append(got, x.Type+" "+x.Name+" "+x.Context)
	}
	want := []string{"synapse/sequence OrdersSequence ", "synapse/api ordersAPI /orders", "synapse/api Stock /stock/v1",
		"synapse/inbound-endpoint HTTPInbound8085 ", "synapse/inbound-endpoint WSSInbound9443 "}
	if fmt.Sprint(got) != fmt.Sprint(want) || app.ID() != "Orders_2.0.0" {
		t.Errorf("artifacts %q, id %s", got, app.ID())
	}
	if fmt.Sprint(app.Inbounds) != "[{HTTPInbound8085 HTTPInbound8085 http  inbound.http.port 8085  if-enabled} {WSSInbound9443 WSSInbound9443 wss  inbound.ws.port 9443  always}]" {
		t.Errorf("inbounds %v", app.Inbounds)
	}

	var faulty bytes.Buffer
	spec := sampleSpec()
	spec.Faulty = true
	if err := Build(&faulty, spec); err != nil {
		t.Fatal(err)
	}
	_, err = read(faulty.Bytes())
	var e *Error
	if !errors.As(err, &e) || e.Stage != StageArtifact || e.ArtifactType != TypeAPI || e.App == nil || e.App.ID() != "Orders_2.0.0" {
		t.Fatalf("faulty build: %v", err)
	}
	if e.App.Size != int64(faulty.Len()) || len(e.App.SHA256) != 64 || e.App.Path != "test.car" {
		t.Fatalf("a faulty build's file: %q, %d bytes, sha256 %q", e.App.Path, e.App.Size, e.App.SHA256)
	}
}

func TestBuildRefusals(t *testing.T) {
	for _, spec := range []Spec{
		{Name: ""},
		{Name: "a/b"},
		{Name: "x", Version: "1 0"},
		{Name: "x", APIs: []APISpec{{Context: "orders"}}},
		{Name: "x", APIs: []APISpec{{Context: "/a"}, {Context: "/a"}}},
		{Name: "x", Inbounds: []InboundSpec{{Port: 0}}},
		{Name: "x", Inbounds: []InboundSpec{{Port: 70000}}},
		{Name: "x", Inbounds: []InboundSpec{{Placeholder: "${PORT}"}}},
		{Name: "x", Inbounds: []InboundSpec{{Protocol: "jms", Port: 80}}},
		{Name: "x", Inbounds: []InboundSpec{{Protocol: "http", Port: 80, UsePortOffset: true}}},
	} {
		if err := Build(io.Discard, spec); err == nil {
			t.Errorf("Build(%+v) succeeded", spec)
		}
	}
}

// The text of every entry Build writes, against testdata/orders.golden.
func TestBuildGolden(t *testing.T) {
	var buf bytes.Buffer
	spec := sampleSpec()
	spec.Faulty = true
	if err := Build(&buf, spec); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	bodies := map[string]string{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		names = append(names, f.Name)
		bodies[f.Name] = string(b)
	}
	sort.Strings(names)
	var out strings.Builder
	for _, n := range names {
		fmt.Fprintf(&out, "==> %s <==\n%s", n, bodies[n])
	}
	goldentest.Check(t, filepath.Join("testdata", "orders.golden"), []byte(out.String()))
}

// A CApp as WSO2's VS Code MI extension builds it: every API comes with a
// synapse/metadata YAML pair (<API>_metadata.yaml, <API>_swagger.yaml) and
// connectors ship as synapse/lib zips. MI deploys it; only the types its
// synapse deployers parse are XML (docs/mi-integrations.md, "CApp layout").
func TestReadToolingLayout(t *testing.T) {
	desc := func(name, version, typ, file string) string {
		return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><artifact name=%q version=%q type=%q serverRole="EnterpriseServiceBus"><file>%s</file></artifact>`, name, version, typ, file)
	}
	connector := zipOf(t, entry{"connector.xml", "<connector/>"}, entry{"lib/http-connector.jar", "PK\x03\x04 not really a jar"})
	entries := []entry{
		{"artifacts.xml", `<?xml version="1.0" encoding="UTF-8"?>
<artifacts><artifact name="OrdersProject" version="1.0.0" type="carbon/application">
  <dependency artifact="OrdersAPI" version="1.0.0" include="true" serverRole="EnterpriseServiceBus"/>
  <dependency artifact="OrdersAPI_metadata" version="1.0.0" include="true" serverRole="EnterpriseServiceBus"/>
  <dependency artifact="OrdersAPI_swagger" version="1.0.0" include="true" serverRole="EnterpriseServiceBus"/>
  <dependency artifact="mi-connector-http" version="0.1.8" include="true" serverRole="EnterpriseServiceBus"/>
</artifact></artifacts>`},
		{"OrdersAPI_1.0.0/artifact.xml", desc("OrdersAPI", "1.0.0", TypeAPI, "OrdersAPI-1.0.0.xml")},
		{"OrdersAPI_1.0.0/OrdersAPI-1.0.0.xml", apiBody},
		{"OrdersAPI_metadata_1.0.0/artifact.xml", desc("OrdersAPI_metadata", "1.0.0", "synapse/metadata", "OrdersAPI_metadata.yaml")},
		{"OrdersAPI_metadata_1.0.0/OrdersAPI_metadata.yaml", "---\nkey: \"OrdersProject-OrdersAPI-1.0.0\"\nversion: \"1.0.0\"\nserviceUrl: \"http://{MI_HOST}:{MI_PORT}/orders\"\n"},
		{"OrdersAPI_swagger_1.0.0/artifact.xml", desc("OrdersAPI_swagger", "1.0.0", "synapse/metadata", "OrdersAPI_swagger.yaml")},
		{"OrdersAPI_swagger_1.0.0/OrdersAPI_swagger.yaml", "openapi: 3.0.1\ninfo:\n  title: OrdersAPI\n  version: 1.0.0\npaths:\n  /:\n    get:\n      responses:\n        default:\n          description: ok\n"},
		{"mi-connector-http_0.1.8/artifact.xml", desc("mi-connector-http", "0.1.8", "synapse/lib", "mi-connector-http-0.1.8.zip")},
		{"mi-connector-http_0.1.8/mi-connector-http-0.1.8.zip", string(connector)},
	}
	app, err := read(zipOf(t, entries...))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range app.Artifacts {
		got = append(got, a.Type+" "+a.Name+" "+a.File+" "+a.ConfigName)
	}
	want := []string{
		"synapse/api OrdersAPI OrdersAPI_1.0.0/OrdersAPI-1.0.0.xml OrdersAPI",
		"synapse/metadata OrdersAPI_metadata OrdersAPI_metadata_1.0.0/OrdersAPI_metadata.yaml ",
		"synapse/metadata OrdersAPI_swagger OrdersAPI_swagger_1.0.0/OrdersAPI_swagger.yaml ",
		"synapse/lib mi-connector-http mi-connector-http_0.1.8/mi-connector-http-0.1.8.zip ",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("artifacts\n got %q\nwant %q", got, want)
	}

	// An opaque artifact is still checked to be in the archive.
	_, err = read(zipOf(t, replace(entries, "mi-connector-http_0.1.8/mi-connector-http-0.1.8.zip", "-")...))
	var e *Error
	if !errors.As(err, &e) || e.Stage != StageArtifact || e.ArtifactType != "synapse/lib" || !strings.Contains(e.Reason, "archive lacks it") {
		t.Fatalf("connector zip missing: %v", err)
	}
}

// Build writes a placeholder port as is; Read gives it back.
func TestBuildPlaceholder(t *testing.T) {
	var buf bytes.Buffer
	if err := Build(&buf, Spec{Name: "env", Inbounds: []InboundSpec{{Placeholder: "$SYSTEM:ORDERS_PORT"}}}); err != nil {
		t.Fatal(err)
	}
	app, err := read(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(app.Inbounds) != 1 || app.Inbounds[0].Name != "HTTPInboundORDERS_PORT" || app.Inbounds[0].Placeholder != "$SYSTEM:ORDERS_PORT" {
		t.Fatalf("inbounds %+v", app.Inbounds)
	}
}

// Every synapse type MI deploys from XML is still parsed as XML.
func TestReadSynapseXMLTypes(t *testing.T) {
	for _, typ := range []string{"synapse/endpoint", "synapse/local-entry", "synapse/task", "synapse/template",
		"synapse/message-store", "synapse/message-processors", "synapse/event-source"} {
		entries := replace(sample(), "OrdersAPI_1.2.0/artifact.xml", strings.Replace(apiDesc, TypeAPI, typ, 1))
		entries = replace(entries, "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", "key: not xml\n")
		_, err := read(zipOf(t, entries...))
		var e *Error
		if !errors.As(err, &e) || e.Stage != StageArtifact || e.ArtifactType != typ || !strings.Contains(e.Reason, "malformed XML") {
			t.Errorf("%s with a YAML body: %v", typ, err)
		}
	}
}

// An inbound endpoint whose port is a placeholder deploys in MI (it
// resolves $SYSTEM:ORDERS_PORT from its environment): Read keeps the
// application, its port known at run time only.
func TestReadPlaceholderPort(t *testing.T) {
	app, err := read(zipOf(t, replace(sample(), "OrdersInbound_1.2.0/OrdersInbound-1.2.0.xml", strings.Replace(inboundBody, "8085", "$SYSTEM:ORDERS_PORT", 1))...))
	if err != nil {
		t.Fatal(err)
	}
	if len(app.Inbounds) != 1 || !app.Inbounds[0].AtRunTime() || app.Inbounds[0].Port != 0 || app.Inbounds[0].Placeholder != "$SYSTEM:ORDERS_PORT" {
		t.Fatalf("inbounds %+v", app.Inbounds)
	}
	// Only $SYSTEM: reads the environment ($FILE: reads
	// conf/file.properties).
	for placeholder, want := range map[string]string{"$SYSTEM:ORDERS_PORT": "ORDERS_PORT", "$FILE:ORDERS_PORT": "", "": ""} {
		if got := (Inbound{Placeholder: placeholder}).EnvVar(); got != want {
			t.Errorf("EnvVar of %q = %q, want %q", placeholder, got, want)
		}
	}
}

// Two versions of an app whose APIs share a name or a context cannot run
// side by side (MI fails the second as faulty); apps that share neither
// can.
func TestClashes(t *testing.T) {
	build := func(spec Spec) *App {
		t.Helper()
		var buf bytes.Buffer
		if err := Build(&buf, spec); err != nil {
			t.Fatal(err)
		}
		app, err := read(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	old := build(Spec{Name: "orders", Version: "1.0.0", APIs: []APISpec{{Name: "OrdersAPI", Context: "/orders"}}})
	for _, tc := range []struct {
		name string
		apis []APISpec
		want string
	}{
		{"same API", []APISpec{{Name: "OrdersAPI", Context: "/orders"}}, "[API OrdersAPI]"},
		{"same context", []APISpec{{Name: "OrdersV2API", Context: "/orders"}}, "[API context /orders]"},
		{"neither", []APISpec{{Name: "OrdersV2API", Context: "/orders/v2"}}, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upgrade := build(Spec{Name: "orders", Version: "1.1.0", APIs: tc.apis})
			if got := fmt.Sprint(old.Clashes(upgrade)); got != tc.want {
				t.Errorf("Clashes = %s, want %s", got, tc.want)
			}
		})
	}
	// Synapse keys a versioned API by name and version: versions of one
	// API on one context run side by side; the same version clashes.
	v1 := build(Spec{Name: "shop", Version: "1.0.0", APIs: []APISpec{{Name: "ShopAPI", Context: "/shop", Version: "1.0.0"}}})
	v2 := build(Spec{Name: "shop", Version: "2.0.0", APIs: []APISpec{{Name: "ShopAPI", Context: "/shop", Version: "2.0.0"}}})
	again := build(Spec{Name: "shop", Version: "1.0.1", APIs: []APISpec{{Name: "ShopAPI", Context: "/shop", Version: "1.0.0"}}})
	if got := fmt.Sprint(v1.Clashes(v2)); got != "[]" {
		t.Errorf("API versions 1.0.0 and 2.0.0: Clashes = %s, want none", got)
	}
	if got := fmt.Sprint(v1.Clashes(again)); got != "[API ShopAPI]" {
		t.Errorf("API version 1.0.0 twice: Clashes = %s, want [API ShopAPI]", got)
	}
}
