// Package config reads mictl's settings: mictl.toml (strict, with
// file:line:col errors), then MICTL_* environment variables, then command
// line flags, each overriding the one before, over built-in defaults.
package config

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MinHealthInterval is the shortest health_interval: shorter, the checks
// would cost more than the servers they watch.
const MinHealthInterval = 100 * time.Millisecond

// DefaultFile is the config file mictl reads when --config is not given.
const DefaultFile = "mictl.toml"

// Offset methods: how an instance's offset reaches MI (docs/mi-facts.md, "Ports").
const (
	OffsetMethodTOML = "toml" // written into [server] offset of the instance's deployment.toml
	OffsetMethodFlag = "flag" // passed as -DportOffset=N, which replaces the toml offset
)

// Config is the validated, merged configuration.
type Config struct {
	// File is the config file that was read, empty when none existed.
	File         string
	Instances    int
	NamePrefix   string
	BaseOffset   int
	OffsetStep   int
	Host         netip.Addr
	MIHome       string // empty: the built-in simulator distribution
	InstancesDir string
	OffsetMethod string
	// Metrics turns on MI's Prometheus metrics in every instance.
	Metrics bool
	// MetricsAddr is where the daemon serves its own metrics ("": off).
	MetricsAddr string
	// HealthInterval is how often the daemon checks ready instances.
	HealthInterval time.Duration
	// ManagementUser and ManagementPassword log in to MI's Management API.
	ManagementUser, ManagementPassword string
	// CApps are the Carbon Applications every instance runs (absolute
	// paths); an [[instance]] adds its own. CAppsPos is where the list is.
	CApps    []string
	CAppsPos string
	// Instance holds the [[instance]] tables, in file order.
	Instance []InstanceConfig
	// origins says where each setting's value came from ("mictl.toml:3:8",
	// "flag --host", "environment MICTL_HOST", "default host"), for errors
	// found after loading.
	origins map[string]string
}

// Origin says where the value of setting key came from, for messages.
func (c *Config) Origin(key string) string {
	if o, ok := c.origins[key]; ok {
		return o
	}
	return "default " + key
}

// Value is setting key's value as mictl.toml would write it ("" for a
// key that is no setting's): for saying where two configurations differ.
func (c *Config) Value(key string) string {
	switch key {
	case "instances":
		return strconv.Itoa(c.Instances)
	case "name_prefix":
		return strconv.Quote(c.NamePrefix)
	case "base_offset":
		return strconv.Itoa(c.BaseOffset)
	case "offset_step":
		return strconv.Itoa(c.OffsetStep)
	case "host":
		return strconv.Quote(c.Host.String())
	case "mi_home":
		return strconv.Quote(c.MIHome)
	case "instances_dir":
		return strconv.Quote(c.InstancesDir)
	case "offset_method":
		return strconv.Quote(c.OffsetMethod)
	case "metrics":
		return strconv.FormatBool(c.Metrics)
	case "metrics_addr":
		return strconv.Quote(c.MetricsAddr)
	case "health_interval":
		return strconv.Quote(c.HealthInterval.String())
	case "management_user":
		return strconv.Quote(c.ManagementUser)
	case "management_password":
		return strconv.Quote(c.ManagementPassword)
	}
	return ""
}

// SettingError is msg about setting key's value, where that value comes
// from: the key is named before msg when the origin is a file position
// ("mictl.toml:3:1: metrics_addr: ..."), not when the origin names it
// already ("flag --metrics-addr: ...", "default metrics_addr: ...").
func (c *Config) SettingError(key, msg string) *Error {
	where := c.Origin(key)
	if !fromCommandLine(where) && !c.IsDefault(key) {
		msg = key + ": " + msg
	}
	return &Error{Where: where, Msg: msg}
}

// IsDefault reports whether setting key has its built-in value: no file,
// flag or environment variable set it.
func (c *Config) IsDefault(key string) bool {
	return c.Origin(key) == "default "+key
}

// FromCommandLine reports whether a flag or an environment variable set
// key (the user named it for this command, not in the file).
func (c *Config) FromCommandLine(key string) bool { return fromCommandLine(c.Origin(key)) }

// fromCommandLine reports whether the origin where is a flag or an
// environment variable.
func fromCommandLine(where string) bool {
	return strings.HasPrefix(where, "flag ") || strings.HasPrefix(where, "environment ")
}

// CheckHostLocal refuses a host no network interface of this machine
// has: the instances could not bind it (MI would fail at start with
// "Cannot assign requested address"), and a conflict check of it would
// look at sockets nobody can hold.
func (c *Config) CheckHostLocal() error {
	if c.Host.IsUnspecified() || c.Host.IsLoopback() {
		return nil
	}
	addrs, err := MachineAddrs()
	if err != nil {
		return nil // cannot tell; a start would say
	}
	if slices.Contains(addrs, c.Host.Unmap()) {
		return nil
	}
	local := make([]string, len(addrs))
	for i, addr := range addrs {
		local[i] = addr.String()
	}
	others := ""
	if len(local) > 0 {
		others = " or one of this machine's: " + strings.Join(local, ", ")
	}
	return c.SettingError("host", fmt.Sprintf(
		"%s is not an address of this machine, so no instance could bind it; use 127.0.0.1 (loopback), 0.0.0.0 (every address)%s",
		c.Host, others))
}

// MachineAddrs are the addresses of this machine's network interfaces,
// unmapped, but loopback ones (127.0.0.1 stands for them): with 127.0.0.1
// and 0.0.0.0, what host may be (CheckHostLocal lists them, and the
// shell completes --host with them).
func MachineAddrs() ([]netip.Addr, error) {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range ifaddrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if addr, ok := netip.AddrFromSlice(ipnet.IP); ok && !addr.IsLoopback() {
			out = append(out, addr.Unmap())
		}
	}
	return out, nil
}

// InstanceConfig is one [[instance]] table: settings for one named instance.
type InstanceConfig struct {
	Name      string
	Offset    *int
	Overrides map[string]any // deployment.toml dotted key path -> TOML value
	CApps     []string       // CApps of this instance besides the shared ones (absolute paths)
	// Pos is where the table starts in the file ("mictl.toml:12:1"), for
	// errors; OffsetPos, OverridesPos and CAppsPos are where its offset,
	// overrides and CApps are.
	Pos, OffsetPos, OverridesPos, CAppsPos string
	// OverridePos is where each override's key is, by the key as in
	// Overrides: an error found only when the override is rendered is
	// reported there (OverrideWhere).
	OverridePos map[string]string
}

// OverrideWhere is where the override key is written: at its own key,
// else at the instance's overrides, else at its table.
func (ic InstanceConfig) OverrideWhere(key string) string {
	if where, ok := ic.OverridePos[key]; ok {
		return where
	}
	if ic.OverridesPos != "" {
		return ic.OverridesPos
	}
	return ic.Pos
}

// NamePattern is what an instance name must match: safe as a directory
// name (no "/" or ".."), a process-group label and a DNS label.
const NamePattern = `^[a-z0-9][a-z0-9-]{0,62}$`

// maxNameLen is the longest an instance name may be (NamePattern).
const maxNameLen = 63

// ValidateName explains why name cannot name an instance, or returns nil.
// It checks NamePattern by hand: a regexp compiled at start-up would cost
// every mictl process, each simulated server included.
func ValidateName(name string) error {
	ok := len(name) >= 1 && len(name) <= maxNameLen && name[0] != '-'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
	}
	if !ok {
		return fmt.Errorf("instance name %q must be 1-63 lowercase letters, digits or '-', starting with a letter or digit (%s)", name, NamePattern)
	}
	return nil
}

// CompareNames orders instance names naturally, their digit runs
// compared as numbers: mi-2 before mi-10.
func CompareNames(a, b string) int {
	a0, b0 := a, b
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da > 0 && db > 0 {
			na, _ := strconv.ParseUint(a[:da], 10, 64)
			nb, _ := strconv.ParseUint(b[:db], 10, 64)
			if c := cmp.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		a, b = a[1:], b[1:]
	}
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a0, b0) // mi-01 and mi-1: equal as numbers, two names
}

func digitPrefix(s string) int {
	n := 0
	for n < len(s) && n < 18 && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// InstanceName is the generated name of the i-th instance (1-based).
func (c *Config) InstanceName(i int) string {
	return c.NamePrefix + "-" + strconv.Itoa(i)
}

// Names lists every instance the configuration describes, in plan order:
// <prefix>-1 .. <prefix>-N, then each [[instance]] whose name is not one of
// those, in file order. Planning in this order keeps the generated instances'
// offsets stable when N grows.
func (c *Config) Names() []string {
	names := make([]string, 0, c.Instances+len(c.Instance))
	seen := make(map[string]bool, c.Instances+len(c.Instance))
	for i := 1; i <= c.Instances; i++ {
		n := c.InstanceName(i)
		names, seen[n] = append(names, n), true
	}
	for _, ic := range c.Instance {
		if !seen[ic.Name] {
			names, seen[ic.Name] = append(names, ic.Name), true
		}
	}
	return names
}

// InstanceSettings returns the [[instance]] table for name, if any.
func (c *Config) InstanceSettings(name string) (InstanceConfig, bool) {
	for _, ic := range c.Instance {
		if ic.Name == name {
			return ic, true
		}
	}
	return InstanceConfig{}, false
}

// CredentialsFrom names where the Management API user and password come
// from, for the advice of a refused login: "management_user (not set:
// MI's default) / management_password (environment
// MICTL_MANAGEMENT_PASSWORD)". It said "check management_user /
// management_password" when the wrong password was an environment
// variable, and the user looked in mictl.toml for it.
func (c *Config) CredentialsFrom() string {
	at := func(key string) string {
		if c.IsDefault(key) {
			return key + " (not set: MI's default)"
		}
		return key + " (" + c.Origin(key) + ")"
	}
	return at("management_user") + " / " + at("management_password")
}

// PinOffset says how to give instance name offset (a number, or "N" in
// advice about any instance) in c's file: in the [[instance]] table it
// has there, named by where it is, or in one to add when it has none. It
// said "its [[instance]] table" of an instance that a count (instances =
// 3) or --instances names, which has none to edit. Every advice to pin an
// offset comes from here, so that they all name the same table.
func (c *Config) PinOffset(name, offset string) string {
	ic, ok := c.InstanceSettings(name)
	switch {
	case !ok:
		return fmt.Sprintf("add to %s an [[instance]] table with name = %q and offset = %s", cmp.Or(c.File, DefaultFile), name, offset)
	case ic.Offset != nil:
		return fmt.Sprintf("set offset = %s in its [[instance]] table, where %s has offset = %d", offset, ic.OffsetPos, *ic.Offset)
	default:
		return fmt.Sprintf("set offset = %s in its [[instance]] table at %s", offset, ic.Pos)
	}
}

// CApp is one CApp an instance runs: its file, and where mictl.toml
// declares it (for errors).
type CApp struct {
	Path, Pos string
}

// CAppsOf lists the CApps the named instance runs: the shared ones, then
// its own.
func (c *Config) CAppsOf(name string) []CApp {
	var out []CApp
	for _, p := range c.CApps {
		out = append(out, CApp{p, c.CAppsPos})
	}
	if ic, ok := c.InstanceSettings(name); ok {
		for _, p := range ic.CApps {
			if !slices.ContainsFunc(out, func(a CApp) bool { return a.Path == p }) {
				out = append(out, CApp{p, ic.CAppsPos})
			}
		}
	}
	return out
}

// InstanceDir is the generated home of the named instance.
func (c *Config) InstanceDir(name string) string {
	return filepath.Join(c.InstancesDir, name)
}

// StateDir is where mictl keeps the state of c's instances: the state
// file, the daemon's socket and log, the events.
func (c *Config) StateDir() string { return filepath.Join(c.InstancesDir, ".mictl") }

// UsesSimulator reports whether instances run on the built-in simulator.
func (c *Config) UsesSimulator() bool { return strings.TrimSpace(c.MIHome) == "" }
