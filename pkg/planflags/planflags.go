// Package planflags is the command line of planning: a flag for every
// configuration setting a plan reads (so flags, MICTL_* variables and
// mictl.toml keys always match), --offsets, and loading the configuration
// they override. mictl's planning commands use it, and so does the daemon,
// which plans every reload with the flags of the last `mictl up`.
package planflags

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/ports"
)

// Options are the planning flags that are not configuration settings.
type Options struct {
	Offsets []int
	// Args are the planning flags the user gave, as --name=value, for the
	// state file (see state.File.UpArgs); Load sets them.
	Args []string
}

// Register puts the planning flags into fs.
func Register(fs *pflag.FlagSet, o *Options) {
	for _, s := range config.Settings {
		if s.Plan() {
			RegisterSetting(fs, s)
		}
	}
	fs.IntSliceVar(&o.Offsets, "offsets", nil, "explicit offsets for the first instances, e.g. 10,20,30 (kept as given and checked, never moved)")
}

// RegisterSetting puts the flag of setting s into fs.
func RegisterSetting(fs *pflag.FlagSet, s config.Setting) {
	switch def := s.Default.(type) {
	case int:
		fs.Int(s.Flag, def, s.FlagHelp())
	case string:
		fs.String(s.Flag, def, s.FlagHelp())
	case bool:
		fs.Bool(s.Flag, def, s.FlagHelp())
	case time.Duration:
		fs.Duration(s.Flag, def, s.FlagHelp())
	}
}

// Load loads the configuration a plan starts from: configPath (or the
// default file) overridden by fs's flags, which Register made. It records
// the planning flags given in o.Args.
func Load(fs *pflag.FlagSet, configPath string, o *Options) (*config.Config, error) {
	o.Args = nil
	fs.Visit(func(f *pflag.Flag) {
		if isPlanFlag(f.Name) {
			o.Args = append(o.Args, "--"+f.Name+"="+flagValue(f))
		}
	})
	if n := len(o.Offsets); n > 0 && !fs.Changed("instances") {
		if err := fs.Set("instances", fmt.Sprint(n)); err != nil {
			return nil, err
		}
	}
	for _, off := range o.Offsets {
		if off < 0 || off > ports.MaxPort {
			return nil, exitcode.Usagef("--offsets: %d is not an offset: expected 0-%d", off, ports.MaxPort)
		}
	}
	cfg, err := config.Load(config.Sources{Path: configPath, Flags: fs})
	if err != nil {
		return nil, err
	}
	// Refused before anything is planned or started (exit 2).
	if err := cfg.CheckHostLocal(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// isPlanFlag reports whether name is one of Register's flags that a
// later plan must repeat (not instances_dir: the instances never move).
func isPlanFlag(name string) bool {
	if name == "offsets" {
		return true
	}
	for _, s := range config.Settings {
		if s.Flag == name && s.Plan() && s.Key != "instances_dir" {
			return true
		}
	}
	return false
}

// flagValue renders a flag's value so that parsing it again gives the
// same value (a slice flag prints "[10,20]" but parses "10,20").
func flagValue(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(sv.GetSlice(), ",")
	}
	return f.Value.String()
}
