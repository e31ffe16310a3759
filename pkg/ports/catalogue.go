// Package ports knows Micro Integrator's fixed ports, the offset arithmetic
// that shifts them, the planner that gives co-located instances offsets whose
// whole port sets never meet, and the rules that explain a clash.
//
// It is the ONE place in mictl that names MI's base ports and the
// deployment.toml keys that move them (see docs/mi-facts.md, "Ports").
package ports

import (
	"encoding/json"
	"fmt"
	"os"
)

// Role is one of the four fixed ports every MI instance opens.
type Role int

// The roles, in the order tables and JSON print them.
const (
	HTTP         Role = iota // pass-through HTTP listener
	HTTPS                    // pass-through HTTPS listener
	InternalHTTP             // internal HTTP API: /healthz, /liveness
	Management               // internal HTTPS API = Management API
	NumRoles     = 4
)

// Spec describes one fixed port: its default base, and the deployment.toml
// key that sets the base explicitly (MI still adds the offset to it).
type Spec struct {
	Role Role
	// Name is the role's one spelling, in tables, messages and as the
	// key in -o json: "internal_http".
	Name    string
	Base    int    // base port at offset 0
	TOMLKey string // dotted path in deployment.toml
	What    string // one-line description for help and docs
}

// Catalogue lists the fixed ports in Role order (docs/mi-facts.md, "Ports").
var Catalogue = [NumRoles]Spec{
	{HTTP, "http", 8280, "transport.http.listener.port", "HTTP pass-through"},
	{HTTPS, "https", 8243, "transport.http.listener.secured_port", "HTTPS pass-through"},
	{InternalHTTP, "internal_http", 9191, "mediation.internal_http_api_port", "internal HTTP API (health probes)"},
	{Management, "management", 9154, "mediation.internal_https_api_port", "Management API (internal HTTPS)"},
}

const (
	// DefaultOffset is the offset MI uses when deployment.toml sets none.
	DefaultOffset = 10
	// OffsetTOMLKey is where deployment.toml carries the offset.
	OffsetTOMLKey = "server.offset"
	// OffsetFlag is the system property that REPLACES the toml offset.
	OffsetFlag = "-DportOffset="
	// InternalAPIEnableTOMLKey turns on the internal HTTP/HTTPS APIs.
	InternalAPIEnableTOMLKey = "mediation.internal_http_api_enable"
	// InternalAPINeeded is why mictl refuses InternalAPIEnableTOMLKey =
	// false: its readiness and liveness checks are MI's internal HTTP API
	// (docs/mi-facts.md, "Health and management"), which that turns off
	// with the Management API.
	InternalAPINeeded = "mictl tells that an instance is ready and alive by MI's internal HTTP API (/healthz and /liveness on internal_http_api_port), which this turns off"
	// InboundOffsetTOMLKey makes MI add the server's offset to the ports of
	// inbound HTTP/HTTPS endpoints (default false: every co-located
	// instance binds the port as written). WSO2's docs also name the synapse
	// property itself, InboundOffsetSynapseTOMLKey; MI reads either.
	InboundOffsetTOMLKey        = "mediation.inbound.port_offset_enable"
	InboundOffsetSynapseTOMLKey = `synapse_properties."inbound.port.offset.enable"`
	// MetricHandlerName and MetricHandlerClass are the [[synapse_handlers]]
	// entry that, with -DPrometheusAPIProperty=true at launch, turns on
	// MI's Prometheus metrics at /metric-service/metrics.
	MetricHandlerName     = "CustomObservabilityHandler"
	MetricHandlerClass    = "org.wso2.micro.integrator.observability.metric.handler.MetricHandler"
	PrometheusAPIProperty = "enablePrometheusApi"
	// MaxPort is the highest valid TCP/UDP port.
	MaxPort = 65535
	// FirstUnprivileged is the lowest port a non-root process may bind.
	FirstUnprivileged = 1024
)

func (r Role) String() string {
	if r < 0 || r >= NumRoles {
		return fmt.Sprintf("role(%d)", int(r))
	}
	return Catalogue[r].Name
}

// Spell names a port in messages the one way every command does: what
// uses it (a role, "http", or an extra's "inbound orders_1.0.0/In"),
// then "port" and the number, "http port 8290". check-conflicts said
// "http 8290" where status said "http port 8290", so one port read as two
// things.
func Spell(what string, port int) string {
	return fmt.Sprintf("%s port %d", what, port)
}

// Set holds one port per role, indexed by Role.
type Set [NumRoles]int

// DefaultBases is the base port set of an unmodified distribution.
func DefaultBases() Set {
	var s Set
	for _, spec := range Catalogue {
		s[spec.Role] = spec.Base
	}
	return s
}

// Shift returns the effective ports of bases under offset: MI adds the
// offset to every fixed port, explicit ones included.
func (s Set) Shift(offset int) Set {
	var out Set
	for i, p := range s {
		out[i] = p + offset
	}
	return out
}

// MarshalJSON writes the set as an object with stable, documented keys in
// catalogue order: {"http":8290,"https":8253,"internal_http":9201,"management":9164}.
func (s Set) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, spec := range Catalogue {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = fmt.Appendf(buf, "%q:%d", spec.Name, s[spec.Role])
	}
	return append(buf, '}'), nil
}

// UnmarshalJSON reads the object MarshalJSON writes; unknown keys are errors
// so that a renamed key is never silently read as port 0.
func (s *Set) UnmarshalJSON(data []byte) error {
	var m map[string]int
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	var out Set
	for key, port := range m {
		found := false
		for _, spec := range Catalogue {
			if spec.Name == key {
				out[spec.Role], found = port, true
			}
		}
		if !found {
			return fmt.Errorf("unknown port role %q", key)
		}
	}
	*s = out
	return nil
}

// MinPort is the lowest port this process may bind: any for root, else
// the first unprivileged one.
func MinPort() int {
	if os.Geteuid() == 0 {
		return 1
	}
	return FirstUnprivileged
}

// MaxInstances is how many instances could ever fit in the port space:
// each needs NumRoles ports of its own, all between MinPort and MaxPort.
// The real limit is lower (offsets 37, 874, 911 and 948 apart clash
// across roles) and the planner stops as soon as it meets it; this bound
// refuses, at once and without allocating, counts that could never fit.
func MaxInstances() int { return (MaxPort - MinPort() + 1) / NumRoles }
