package sim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/ports"
)

// serverConfig is what the simulated server learns from its home, its
// environment and its arguments before it opens anything.
type serverConfig struct {
	home        string
	offset      int
	offsetFrom  string // "default", "deployment.toml" or "-DportOffset"
	ports       ports.Set
	internalAPI bool // [mediation] internal_http_api_enable
	jmxPort     int  // 0 = random, as the JVM does
	syslog      syslogConfig

	hostname          string // [server] hostname: what API URLs in the Management API name
	hotDeployment     bool   // [server] hot_deployment (default true): scan carbonapps/ after start
	inboundPortOffset bool   // inbound HTTP(S) endpoints get the offset (see ports.InboundOffsetTOMLKey)
	metrics           bool   // MetricHandler in [[synapse_handlers]] and -DenablePrometheusApi=true
	javaHome          string // $JAVA_HOME, for /management/server and the metrics' labels

	// debugger is MI's mediation debugger on (ports.DebuggerOn): its
	// command and event ports, SynapsePropertiesPath's, else MI's 9005
	// and 9006, wait for a client before the server starts.
	debugger                       bool
	debuggerCommand, debuggerEvent int
}

// deployment.toml keys the simulator reads besides the ports
// (docs/mi-integrations.md).
const (
	HostnameTOMLKey      = "server.hostname"
	HotDeploymentTOMLKey = "server.hot_deployment"
)

type syslogConfig struct {
	enabled  bool
	host     string
	port     int
	protocol string // "UDP" or "TCP"
}

// loadConfig reads $CARBON_HOME/conf/deployment.toml and log4j2.properties
// and applies MI's precedence: -DportOffset REPLACES [server] offset, which
// defaults to 10; explicit ports in the toml are still shifted by the offset
// (docs/mi-facts.md, "Ports").
func loadConfig(home string, env func(string) string, args []string) (serverConfig, error) {
	cfg := serverConfig{home: home}
	tomlPath := filepath.Join(home, DeployTOMLPath)
	src, err := os.ReadFile(tomlPath)
	if err != nil {
		return cfg, fmt.Errorf("read %s: %w", tomlPath, err)
	}
	doc, err := deploytoml.Parse(tomlPath, src)
	if err != nil {
		return cfg, err
	}
	bases, err := doc.BasePorts()
	if err != nil {
		return cfg, err
	}
	offset, set, err := doc.Offset()
	if err != nil {
		return cfg, err
	}
	cfg.offset, cfg.offsetFrom = offset, "default"
	if set {
		cfg.offsetFrom = "deployment.toml"
	}
	props := ports.SystemProperties(ports.JavaOpts(env), args)
	flagName := strings.TrimSuffix(strings.TrimPrefix(ports.OffsetFlag, "-D"), "=")
	if v, ok := props[flagName]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return cfg, fmt.Errorf("%s%s: java.lang.NumberFormatException: For input string: %q", ports.OffsetFlag, v, v)
		}
		cfg.offset, cfg.offsetFrom = n, ports.OffsetFlag
	}
	cfg.ports = bases.Shift(cfg.offset)

	cfg.internalAPI = true
	if v, ok := doc.Lookup(ports.InternalAPIEnableTOMLKey); ok {
		b, isBool := v.(bool)
		if !isBool {
			return cfg, fmt.Errorf("%s: %s must be true or false, not %v", tomlPath, ports.InternalAPIEnableTOMLKey, v)
		}
		cfg.internalAPI = b
	}

	if v, ok := props[ports.JMXPortProperty]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > ports.MaxPort {
			return cfg, fmt.Errorf("-D%s=%s: not a port", ports.JMXPortProperty, v)
		}
		cfg.jmxPort = n
	}

	cfg.hostname = "localhost"
	if v, ok := doc.Lookup(HostnameTOMLKey); ok {
		if h, isString := v.(string); isString && strings.TrimSpace(h) != "" {
			cfg.hostname = strings.TrimSpace(h)
		}
	}
	if cfg.hotDeployment, err = boolKey(doc, tomlPath, HotDeploymentTOMLKey, true); err != nil {
		return cfg, err
	}
	for _, key := range []string{ports.InboundOffsetTOMLKey, ports.InboundOffsetSynapseTOMLKey} {
		on, err := boolKey(doc, tomlPath, key, false)
		if err != nil {
			return cfg, err
		}
		cfg.inboundPortOffset = cfg.inboundPortOffset || on
	}
	cfg.metrics = hasMetricHandler(doc) && strings.EqualFold(strings.TrimSpace(props[ports.PrometheusAPIProperty]), "true")
	cfg.javaHome = env("JAVA_HOME")

	if cfg.debugger = ports.DebuggerOn(props); cfg.debugger {
		if cfg.debuggerCommand, cfg.debuggerEvent, err = debuggerPorts(home); err != nil {
			return cfg, err
		}
	}

	l4jPath := filepath.Join(home, Log4j2Path)
	l4j, err := os.ReadFile(l4jPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return cfg, fmt.Errorf("read %s: %w", l4jPath, err)
	default:
		cfg.syslog = syslogFrom(parseProperties(l4j))
	}
	return cfg, nil
}

// boolKey reads a boolean setting, which MI's config mapper also takes as
// the string "true" or "false".
func boolKey(doc *deploytoml.Document, tomlPath, key string, def bool) (bool, error) {
	v, ok := doc.Lookup(key)
	if !ok {
		return def, nil
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		if on, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
			return on, nil
		}
	}
	return def, fmt.Errorf("%s: %s must be true or false, not %v", tomlPath, key, v)
}

// hasMetricHandler reports whether [[synapse_handlers]] registers MI's
// MetricHandler.
func hasMetricHandler(doc *deploytoml.Document) bool {
	v, _ := doc.Lookup("synapse_handlers")
	handlers, _ := v.([]any)
	for _, h := range handlers {
		if m, ok := h.(map[string]any); ok && m["class"] == ports.MetricHandlerClass {
			return true
		}
	}
	return false
}

// The file and keys MI reads its mediation debugger's ports from
// (ServiceBusInitializer.createSynapseDebugEnvironment). MI renders the
// file from its templates at each start; the simulator ships none and
// reads one written there, else takes MI's defaults.
const (
	SynapsePropertiesPath  = "conf/synapse.properties"
	DebuggerCommandPortKey = "synapse.debugger.port.command"
	DebuggerEventPortKey   = "synapse.debugger.port.event"
)

// debuggerPorts are the mediation debugger's command and event ports.
func debuggerPorts(home string) (command, event int, err error) {
	command, event = ports.DebuggerCommandPort, ports.DebuggerEventPort
	path := filepath.Join(home, SynapsePropertiesPath)
	src, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return command, event, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", path, err)
	}
	props := parseProperties(src)
	portAt := func(key string, dst *int) error {
		v, ok := props[key]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > ports.MaxPort {
			return fmt.Errorf("%s: %s = %q is not a port (1-%d)", path, key, v, ports.MaxPort)
		}
		*dst = n
		return nil
	}
	if err := portAt(DebuggerCommandPortKey, &command); err != nil {
		return 0, 0, err
	}
	if err := portAt(DebuggerEventPortKey, &event); err != nil {
		return 0, 0, err
	}
	return command, event, nil
}

// parseProperties reads a java .properties file: "key = value" or
// "key: value", '#' and '!' comment lines, '\' line continuations.
func parseProperties(src []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	var pending string
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if pending == "" && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		if strings.HasSuffix(line, `\`) && !strings.HasSuffix(line, `\\`) {
			pending += strings.TrimSuffix(line, `\`)
			continue
		}
		line, pending = pending+line, ""
		i := strings.IndexAny(line, "=: \t")
		if i < 0 {
			out[line] = ""
			continue
		}
		key := line[:i]
		val := strings.TrimLeft(line[i:], " \t")
		if val != "" && (val[0] == '=' || val[0] == ':') {
			val = val[1:]
		}
		out[key] = strings.TrimSpace(val)
	}
	return out
}

// syslogFrom decides whether log4j2 would open the syslog appender
// (docs/mi-facts.md, "Ports", syslog row): "syslog" listed in appenders, the
// appender.syslog.* block present (its type) and the root logger's
// appenderRef.syslog.ref set. Protocol defaults to TCP as in log4j2; host to
// localhost and port to 514.
func syslogFrom(p map[string]string) syslogConfig {
	listed := false
	for _, a := range strings.Split(p["appenders"], ",") {
		if strings.TrimSpace(a) == "syslog" {
			listed = true
		}
	}
	_, typed := p["appender.syslog.type"]
	_, ref := p["rootLogger.appenderRef.syslog.ref"]
	c := syslogConfig{enabled: listed && typed && ref, host: "localhost", port: 514, protocol: "TCP"}
	if h := p["appender.syslog.host"]; h != "" {
		c.host = h
	}
	if n, err := strconv.Atoi(p["appender.syslog.port"]); err == nil {
		c.port = n
	}
	if strings.EqualFold(p["appender.syslog.protocol"], "UDP") {
		c.protocol = "UDP"
	}
	return c
}
