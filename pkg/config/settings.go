package config

import (
	"fmt"
	"strings"
)

// Setting is one scalar setting: its key in mictl.toml, its flag, its
// MICTL_* variable and its default. This table drives loading, flags,
// `mictl init` and the documentation, so they cannot drift apart.
type Setting struct {
	Key     string // key in mictl.toml and in viper
	Flag    string // command-line flag, "" if none
	Default any    // int or string
	Help    string // one line: what it does
}

// Env is the environment variable that sets the setting.
func (s Setting) Env() string { return "MICTL_" + strings.ToUpper(s.Key) }

// Type names the expected TOML type for error messages.
func (s Setting) Type() string {
	if _, ok := s.Default.(int); ok {
		return "an integer"
	}
	return "a string"
}

// DefaultHost is the address instances bind unless told otherwise.
const DefaultHost = "127.0.0.1"

// Settings lists every scalar setting in the order `mictl init` writes them.
var Settings = []Setting{
	{"instances", "instances", 1, "how many instances to run, named <name_prefix>-1 .. <name_prefix>-N"},
	{"name_prefix", "name-prefix", "mi", "prefix of generated instance names"},
	{"base_offset", "base-offset", 10, "smallest port offset the planner tries (MI's default offset is 10)"},
	{"offset_step", "offset-step", 1, "the planner tries base_offset, base_offset+step, ..."},
	{"host", "host", DefaultHost, "address the instances bind and the conflict check looks at"},
	{"mi_home", "mi-home", "", "Micro Integrator distribution to run; empty = the built-in simulator"},
	{"instances_dir", "instances-dir", "instances", "where the instances' generated homes live"},
	{"offset_method", "offset-method", OffsetMethodTOML, `how MI gets the offset: "toml" ([server] offset in deployment.toml) or "flag" (-DportOffset=N)`},
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
	return strings.Join(append(keys, "[[instance]]"), ", ")
}
