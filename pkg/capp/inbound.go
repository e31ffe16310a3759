package capp

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Inbound is one listener an inbound endpoint opens.
type Inbound struct {
	Artifact string // the CApp artifact holding the endpoint
	Name     string // the endpoint's name (<inboundEndpoint name=...>)
	Protocol string // http, https, ws, wss, hl7, ... ("" for class-based endpoints)
	Class    string // the implementation class of a class-based endpoint, else ""
	Param    string // the parameter carrying the port, e.g. inbound.http.port
	Port     int    // the port as written, before any offset; 0 when AtRunTime
	// Placeholder is the parameter's value when it is a synapse
	// placeholder MI resolves as it deploys the endpoint ($SYSTEM:NAME, the
	// MI process's environment variable NAME; $FILE:key, from
	// conf/file.properties; $config:name; $CUSTOM_<resolver>:key): the
	// port is known only at run time. "" for a port written as a number.
	Placeholder string
	Offset      OffsetRule
}

// AtRunTime says the port is a placeholder MI resolves when it deploys
// the endpoint: it cannot be planned or checked beforehand.
func (i Inbound) AtRunTime() bool { return i.Placeholder != "" }

// EnvVar is the environment variable a $SYSTEM:NAME placeholder port
// reads (NAME), "" for any other port: MI fails the endpoint when its
// process lacks it.
func (i Inbound) EnvVar() string {
	name, ok := strings.CutPrefix(i.Placeholder, "$SYSTEM:")
	if !ok {
		return ""
	}
	return name
}

// OffsetRule is how MI adds the server's port offset to an inbound
// endpoint's port (docs/mi-integrations.md, "Inbound endpoint ports").
type OffsetRule int

const (
	// OffsetNever: MI binds the port as written (HL7, CXF WS-RM, MCP and
	// other class-based listeners parse the port and add nothing).
	OffsetNever OffsetRule = iota
	// OffsetIfEnabled: HTTP and HTTPS endpoints get the offset only when
	// inbound port offsets are enabled for the server ([mediation]
	// inbound.port_offset_enable = true, the synapse property
	// inbound.port.offset.enable); off by default.
	OffsetIfEnabled
	// OffsetAlways: a WebSocket endpoint whose own ws.use.port.offset
	// parameter is true gets the offset whatever the server says.
	OffsetAlways
)

func (r OffsetRule) String() string {
	switch r {
	case OffsetIfEnabled:
		return "if-enabled"
	case OffsetAlways:
		return "always"
	}
	return "never"
}

// MarshalText makes the rule read as its name in JSON.
func (r OffsetRule) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Effective is the port MI binds for the endpoint on a server with the given
// offset, portOffsetEnabled being the server's inbound.port_offset_enable.
// For a port resolved at run time, set Port to the resolved value first.
func (i Inbound) Effective(serverOffset int, portOffsetEnabled bool) int {
	switch {
	case i.Offset == OffsetAlways, i.Offset == OffsetIfEnabled && portOffsetEnabled:
		return i.Port + serverOffset
	}
	return i.Port
}

// The parameters MI's inbound listeners read their ports from, by exact
// name (Properties.getProperty), and the offset each applies
// (InboundHttpListener, InboundWebsocketListener, InboundHL7Listener,
// InboundRMHttpListener, McpInboundListener).
var portParams = map[string]OffsetRule{
	"inbound.http.port":   OffsetIfEnabled,
	"inbound.ws.port":     OffsetNever, // OffsetAlways with ws.use.port.offset=true
	"inbound.hl7.Port":    OffsetNever,
	"inbound.cxf.rm.port": OffsetNever,
	"inbound.mcp.port":    OffsetNever,
}

// anyPortParam catches listeners of inbound connectors mictl does not know
// by name: a parameter inbound.<something>.port names a port to listen on.
// Compiled at its first use (see identRE).
var anyPortParam = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^inbound\.[A-Za-z0-9_.-]+\.port$`) })

// WSUsePortOffset is a WebSocket endpoint's parameter that makes MI add
// the server offset to its port.
const WSUsePortOffset = "ws.use.port.offset"

// placeholder is a value synapse's ResolverFactory resolves: its prefixes
// are case-sensitive ($system:X is a literal, not a port), and the key is
// letters, digits and '_'. Compiled at its first use (see identRE).
var placeholder = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\$(SYSTEM|FILE|config|CUSTOM_[_a-zA-Z0-9]+):[_a-zA-Z0-9]+$`)
})

// portRule says whether a parameter names a port a listener opens, and
// with which offset rule. A known parameter spelt otherwise (inbound.hl7.port,
// inbound.HTTP.port) is not one: its listener never reads it.
func portRule(name string) (OffsetRule, bool) {
	if rule, known := portParams[name]; known {
		return rule, true
	}
	for known := range portParams {
		if strings.EqualFold(name, known) {
			return OffsetNever, false
		}
	}
	return OffsetNever, anyPortParam().MatchString(name)
}

// inboundsOf lists the listeners an inbound endpoint's XML declares. A
// port that is neither an integer in 1-65535 nor a placeholder is an
// error: MI would fail to start that endpoint.
func inboundsOf(artifact string, cfg synapseXML) ([]Inbound, error) {
	params := map[string]string{}
	var names []string
	for _, p := range cfg.Parameters {
		name := strings.TrimSpace(p.Name)
		if _, dup := params[name]; !dup {
			names = append(names, name)
		}
		params[name] = strings.TrimSpace(p.Value)
	}
	sort.Strings(names)
	protocol := strings.ToLower(strings.TrimSpace(cfg.Protocol))
	var out []Inbound
	var err error
	for _, name := range names {
		rule, ok := portRule(name)
		if !ok {
			continue
		}
		if name == "inbound.ws.port" && strings.EqualFold(params[WSUsePortOffset], "true") {
			rule = OffsetAlways
		}
		in := Inbound{Artifact: artifact, Name: strings.TrimSpace(cfg.Name), Protocol: protocol,
			Class: strings.TrimSpace(cfg.Class), Param: name, Offset: rule}
		if value := params[name]; placeholder().MatchString(value) {
			in.Placeholder = value
		} else if in.Port, err = ParsePort(value); err != nil {
			return nil, fmt.Errorf("inbound endpoint %s: %s = %q is not a port (an integer in 1-65535, or a placeholder such as $SYSTEM:PORT_VARIABLE)", cfg.Name, name, value)
		}
		out = append(out, in)
	}
	return out, nil
}

// ReadInboundEndpoint lists the listeners of an inbound endpoint kept as
// a plain synapse file, outside any CApp (MI's hot deployer deploys
// repository/deployment/server/synapse-configs/default/inbound-endpoints/
// as it does carbonapps/). Its errors do not name the file: the caller
// does.
func ReadInboundEndpoint(path string) ([]Inbound, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := parseSynapse(data)
	if err != nil {
		return nil, malformed(err)
	}
	return inboundsOf(filepath.Base(path), cfg)
}

// ParsePort reads a port as MI's listeners do (Integer.parseInt): an
// integer in 1-65535.
func ParsePort(s string) (int, error) {
	port, err := strconv.Atoi(s)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("%q is not a port (an integer in 1-65535)", s)
	}
	return port, nil
}
