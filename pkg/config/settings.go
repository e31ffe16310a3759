package config

import (
	"fmt"
	"strings"
	"time"
)

// Setting is one scalar setting: its key in mictl.toml, its flag, its
// MICTL_* variable and its default. This table drives loading, flags,
// `mictl init` and the documentation, so they cannot drift apart.
type Setting struct {
	Key     string // key in mictl.toml and in viper
	Flag    string // command-line flag, "" if none
	Default any    // int, string, bool or time.Duration
	Help    string // one line: what it does
	// Run marks a setting of the supervisor daemon: its flag belongs to
	// the commands that start one (up, restart), not to planning.
	Run bool
	// Secret settings have no flag (a command line is visible to every
	// user through ps) and are never printed.
	Secret bool
}

// Env is the environment variable that sets the setting.
func (s Setting) Env() string { return "MICTL_" + strings.ToUpper(s.Key) }

// FlagHelp is the help of its flag: what it does, and the key and the
// variable that set it too, so that the "(default ...)" shown after it
// reads as mictl's own default, which mictl.toml may have changed.
func (s Setting) FlagHelp() string {
	return fmt.Sprintf("%s [mictl.toml %s, %s]", s.Help, s.Key, s.Env())
}

// Type names the expected TOML type for error messages.
func (s Setting) Type() string {
	switch s.Default.(type) {
	case int:
		return "an integer"
	case bool:
		return "true or false"
	case time.Duration:
		return `a duration (a string such as "1s" or "500ms")`
	}
	return "a string"
}

// Plan reports whether the setting is a planning flag (of up, ports
// table, check-conflicts, generate, the exports).
func (s Setting) Plan() bool { return s.Flag != "" && !s.Run }

// DefaultHost is the address instances bind unless told otherwise.
const DefaultHost = "127.0.0.1"

// Settings lists every scalar setting in the order `mictl init` writes them.
var Settings = []Setting{
	{Key: "instances", Flag: "instances", Default: 1, Help: "how many instances to run, named <name_prefix>-1 .. <name_prefix>-N"},
	{Key: "name_prefix", Flag: "name-prefix", Default: "mi", Help: "prefix of generated instance names"},
	{Key: "base_offset", Flag: "base-offset", Default: 10, Help: "smallest port offset the planner tries (MI's default offset is 10)"},
	{Key: "offset_step", Flag: "offset-step", Default: 1, Help: "the planner tries base_offset, base_offset+step, ..."},
	{Key: "host", Flag: "host", Default: DefaultHost, Help: "address the instances bind and the conflict check looks at"},
	{Key: "mi_home", Flag: "mi-home", Default: "", Help: "Micro Integrator distribution to run; empty = the built-in simulator"},
	{Key: "instances_dir", Flag: "instances-dir", Default: "instances", Help: "where the instances' generated homes live"},
	{Key: "offset_method", Flag: "offset-method", Default: OffsetMethodTOML, Help: `how MI gets the offset: "toml" ([server] offset in deployment.toml) or "flag" (-DportOffset=N)`},
	{Key: "metrics", Flag: "metrics", Default: false, Help: "serve MI's Prometheus metrics: the MetricHandler in every deployment.toml and -DenablePrometheusApi=true at launch"},
	{Key: "metrics_addr", Flag: "metrics-addr", Default: "", Help: `address the daemon serves its own Prometheus metrics on ("127.0.0.1:9464"); empty: off`, Run: true},
	{Key: "health_interval", Flag: "health-interval", Default: 5 * time.Second, Help: "how often the daemon checks a ready instance's ports while nothing changes (sooner after a change); its /healthz every other time, and at every check for 20 s after its carbonapps/ changes", Run: true},
	{Key: "management_user", Flag: "", Default: "admin", Help: "Management API user mictl logs in as (mictl apps, deploy --wait)"},
	{Key: "management_password", Flag: "", Default: "admin", Help: "Management API password; better set MICTL_MANAGEMENT_PASSWORD than write it here", Secret: true},
}

func settingByKey(key string) Setting {
	for _, s := range Settings {
		if s.Key == key {
			return s
		}
	}
	panic(fmt.Sprintf("config: no setting %q", key))
}

// TopLevelKeys lists the keys mictl.toml accepts at its top level.
func TopLevelKeys() string {
	keys := make([]string, 0, len(Settings)+1)
	for _, s := range Settings {
		keys = append(keys, s.Key)
	}
	return strings.Join(append(keys, "capps", "[[instance]]"), ", ")
}
