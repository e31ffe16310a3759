package capp

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Spec describes a sample CApp for Build: what tests and `mictl sim capp`
// deploy.
type Spec struct {
	Name    string
	Version string // default 1.0.0
	// APIs each get one resource answering GET and POST on every path
	// below their context.
	APIs []APISpec
	// Inbounds are inbound endpoints injecting into the CApp's sequence.
	Inbounds []InboundSpec
	// Sequence names the sequence the CApp ships (and its inbound
	// endpoints inject into); default <Name>Sequence.
	Sequence string
	// Faulty adds an API artifact whose own XML is malformed: MI lists such
	// an application as faulty (Read refuses it at StageArtifact).
	Faulty bool
}

// APISpec is one API of a Spec.
type APISpec struct {
	Name    string // default derived from the context: /orders → ordersAPI
	Context string // e.g. /orders
	Version string // a versioned API's (version-type "url"); "" for none
}

// InboundSpec is one inbound endpoint of a Spec.
type InboundSpec struct {
	Name     string // default e.g. HTTP8085Inbound
	Protocol string // http, https, ws or wss; default http
	Port     int
	// Placeholder, when set, is written instead of Port: a synapse
	// placeholder MI resolves at run time, e.g. $SYSTEM:ORDERS_PORT.
	Placeholder   string
	UsePortOffset bool // ws/wss only: ws.use.port.offset=true
}

// BuildVersion is a Spec's version when it names none.
const BuildVersion = "1.0.0"

// serverRole is the role MI's tooling writes for mediation artifacts.
const serverRole = "EnterpriseServiceBus"

// buildTime is every entry's modification time, so that one Spec always
// builds the same bytes (and the same SHA256).
var buildTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// identRE is compiled at its first use, not at the start of every
// process that links this package (each mictl command and each simulated
// server).
var identRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`) })

// Build writes the .car that spec describes to w: artifacts.xml, and a
// folder per artifact with its artifact.xml and its own XML, as MI's
// tooling lays them out. The same spec always gives the same bytes.
func Build(w io.Writer, spec Spec) error {
	arts, err := spec.artifacts()
	if err != nil {
		return err
	}
	version := spec.version()
	var deps strings.Builder
	for _, a := range arts {
		fmt.Fprintf(&deps, "        <dependency artifact=%s version=%s include=\"true\" serverRole=%q/>\n", attr(a.name), attr(version), serverRole)
	}
	zw := zip.NewWriter(w)
	put := func(name, text string) error {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: buildTime})
		if err != nil {
			return err
		}
		_, err = io.WriteString(fw, text)
		return err
	}
	if err := put(artifactsFile, fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<artifacts>
    <artifact name=%s version=%s type=%q>
%s    </artifact>
</artifacts>
`, attr(spec.Name), attr(version), TypeApplication, deps.String())); err != nil {
		return fmt.Errorf("build CApp %s: %w", spec.Name, err)
	}
	for _, a := range arts {
		dir := a.name + "_" + version
		file := a.name + "-" + version + ".xml"
		desc := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<artifact name=%s version=%s type=%q serverRole=%q>
    <file>%s</file>
</artifact>
`, attr(a.name), attr(version), a.typ, serverRole, text(file))
		if err := put(dir+"/"+artifactFile, desc); err != nil {
			return fmt.Errorf("build CApp %s: %w", spec.Name, err)
		}
		if err := put(dir+"/"+file, a.body); err != nil {
			return fmt.Errorf("build CApp %s: %w", spec.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("build CApp %s: %w", spec.Name, err)
	}
	return nil
}

func (s Spec) version() string {
	if s.Version == "" {
		return BuildVersion
	}
	return s.Version
}

// built is one artifact Build writes.
type built struct {
	name, typ, body string
}

// artifacts checks the spec and renders each artifact's own XML.
func (s Spec) artifacts() ([]built, error) {
	if !identRE().MatchString(s.Name) {
		return nil, fmt.Errorf("build CApp: name %q must be letters, digits, '.', '_' or '-'", s.Name)
	}
	if !identRE().MatchString(s.version()) {
		return nil, fmt.Errorf("build CApp %s: version %q must be letters, digits, '.', '_' or '-'", s.Name, s.Version)
	}
	seq := s.Sequence
	if seq == "" {
		seq = s.Name + "Sequence"
	}
	out := []built{{seq, TypeSequence, fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<sequence name=%s trace="disable" xmlns="http://ws.apache.org/ns/synapse">
    <log level="simple"/>
    <respond/>
</sequence>
`, attr(seq))}}
	seen := map[string]bool{seq: true}
	add := func(b built) error {
		if !identRE().MatchString(b.name) {
			return fmt.Errorf("build CApp %s: artifact name %q must be letters, digits, '.', '_' or '-'", s.Name, b.name)
		}
		if seen[b.name] {
			return fmt.Errorf("build CApp %s: two artifacts are named %s", s.Name, b.name)
		}
		seen[b.name] = true
		out = append(out, b)
		return nil
	}
	for _, api := range s.APIs {
		if !strings.HasPrefix(api.Context, "/") || strings.ContainsAny(api.Context, " \t\n\"<>&") {
			return nil, fmt.Errorf("build CApp %s: API context %q must start with / and hold no spaces or markup", s.Name, api.Context)
		}
		name := api.Name
		if name == "" {
			name = apiName(api.Context)
		}
		versioned := ""
		if api.Version != "" {
			versioned = fmt.Sprintf(` version=%s version-type="url"`, attr(api.Version))
		}
		if err := add(built{name, TypeAPI, fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<api context=%s name=%s%s xmlns="http://ws.apache.org/ns/synapse">
    <resource methods="GET POST" uri-template="/*">
        <inSequence>
            <payloadFactory media-type="json">
                <format>{"api": "%s"}</format>
            </payloadFactory>
            <respond/>
        </inSequence>
    </resource>
</api>
`, attr(api.Context), attr(name), versioned, text(name))}); err != nil {
			return nil, err
		}
	}
	for _, in := range s.Inbounds {
		b, err := in.render(seq)
		if err != nil {
			return nil, fmt.Errorf("build CApp %s: %w", s.Name, err)
		}
		if err := add(b); err != nil {
			return nil, err
		}
	}
	if s.Faulty {
		name := s.Name + "BrokenAPI"
		if err := add(built{name, TypeAPI, fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<api context="/%s" name=%s xmlns="http://ws.apache.org/ns/synapse">
    <resource methods="GET" uri-template="/*">
        <inSequence>
            <respond/>
    </resource>
</api>
`, strings.ToLower(s.Name)+"-broken", attr(name))}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (in InboundSpec) render(seq string) (built, error) {
	proto := strings.ToLower(in.Protocol)
	if proto == "" {
		proto = "http"
	}
	param := map[string]string{"http": "inbound.http.port", "https": "inbound.http.port", "ws": "inbound.ws.port", "wss": "inbound.ws.port"}[proto]
	if param == "" {
		return built{}, fmt.Errorf("inbound endpoint protocol %q: want http, https, ws or wss", in.Protocol)
	}
	port := strconv.Itoa(in.Port)
	switch {
	case in.Placeholder != "":
		if !placeholder().MatchString(in.Placeholder) {
			return built{}, fmt.Errorf("inbound endpoint port %q: want a placeholder such as $SYSTEM:PORT_VARIABLE", in.Placeholder)
		}
		port = in.Placeholder
	case in.Port < 1 || in.Port > 65535:
		return built{}, fmt.Errorf("inbound endpoint port %d: want 1-65535", in.Port)
	}
	if in.UsePortOffset && param != "inbound.ws.port" {
		return built{}, errors.New("ws.use.port.offset applies to ws and wss inbound endpoints only")
	}
	name := in.Name
	if name == "" {
		name = fmt.Sprintf("%sInbound%d", strings.ToUpper(proto), in.Port)
		if in.Placeholder != "" {
			_, key, _ := strings.Cut(in.Placeholder, ":")
			name = strings.ToUpper(proto) + "Inbound" + key
		}
	}
	var params bytes.Buffer
	fmt.Fprintf(&params, "        <parameter name=%q>%s</parameter>\n", param, port)
	if param == "inbound.ws.port" {
		fmt.Fprintf(&params, "        <parameter name=%q>%t</parameter>\n", WSUsePortOffset, in.UsePortOffset)
		fmt.Fprintf(&params, "        <parameter name=\"ws.client.side.broadcast.level\">0</parameter>\n")
	}
	return built{name, TypeInboundEndpoint, fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<inboundEndpoint name=%s protocol=%q sequence=%s onError="fault" suspend="false" xmlns="http://ws.apache.org/ns/synapse">
    <parameters>
%s    </parameters>
</inboundEndpoint>
`, attr(name), proto, attr(seq), params.String())}, nil
}

// apiName derives an API's name from its context: /orders/v1 → orders_v1API.
func apiName(context string) string {
	n := strings.Trim(context, "/")
	n = strings.NewReplacer("/", "_", "{", "", "}", "", "*", "").Replace(n)
	if n == "" {
		n = "root"
	}
	return n + "API"
}

// attr is s as a quoted XML attribute value.
func attr(s string) string { return `"` + text(s) + `"` }

// text is s escaped for XML.
func text(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
