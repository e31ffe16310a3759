package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/spf13/cast"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/ports"
)

// Error is a configuration error: bad syntax, an unknown key, a wrong type
// or a bad value. Where names the source: "mictl.toml:3:15",
// "environment MICTL_INSTANCES", "flag --instances".
type Error struct {
	Where string
	Msg   string
}

func (e *Error) Error() string {
	if e.Where == "" {
		return e.Msg
	}
	return e.Where + ": " + e.Msg
}

// Sources says where to read settings from.
type Sources struct {
	// Path is the --config value; empty means DefaultFile, if it exists.
	Path string
	// Flags is the command's flag set; a flag whose name matches a
	// setting's Flag overrides it when the user set it.
	Flags *pflag.FlagSet
	// NoFile reads no config file at all: flags, environment, defaults.
	NoFile bool
}

// readAccess says what to do about the config file at path that this
// user may not read: "permission denied" alone left the fix to guess.
// Its owner (or, when a directory above it is what denies, that
// directory's), when another user, may run mictl as it is.
func readAccess(path string) string {
	access := fmt.Sprintf("give yourself read access to %s (chmod, or the mode of a directory above it)", path)
	if at, _ := fsutil.NearestExisting(path); at != "" {
		if who, ok := fsutil.OtherOwner(at); ok {
			return fmt.Sprintf("%s belongs to %s: run mictl as that user, or %s", at, who, access)
		}
	}
	return access
}

// fileSchema mirrors mictl.toml. Pointers tell "absent" from "zero".
type fileSchema struct {
	Instances    *int    `toml:"instances"`
	NamePrefix   *string `toml:"name_prefix"`
	BaseOffset   *int    `toml:"base_offset"`
	OffsetStep   *int    `toml:"offset_step"`
	Host         *string `toml:"host"`
	MIHome       *string `toml:"mi_home"`
	InstancesDir *string `toml:"instances_dir"`
	OffsetMethod *string `toml:"offset_method"`
	Metrics      *bool   `toml:"metrics"`
	MetricsAddr  *string `toml:"metrics_addr"`
	// A duration is a string in TOML ("1s"); it is parsed with the rest.
	HealthInterval     *string `toml:"health_interval"`
	ManagementUser     *string `toml:"management_user"`
	ManagementPassword *string `toml:"management_password"`
	// CApps are []any so that a wrong element is checked, and named,
	// with the others (the decoder would say only "an array").
	CApps    []any          `toml:"capps"`
	Instance []fileInstance `toml:"instance"`
}

type fileInstance struct {
	Name      string         `toml:"name"`
	Offset    *int           `toml:"offset"`
	Overrides map[string]any `toml:"overrides"`
	CApps     []any          `toml:"capps"`
}

// Load merges defaults, the config file, MICTL_* variables and flags, and
// validates the result. Every error is an *Error naming where it came from.
func Load(src Sources) (*Config, error) {
	path, explicit := src.Path, src.Path != ""
	if !explicit {
		path = DefaultFile
	}
	data, err := os.ReadFile(path)
	switch {
	case src.NoFile:
		path, data = "", nil
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		path, data = "", nil // no file at all: defaults
	case errors.Is(err, fs.ErrNotExist):
		return nil, &Error{Where: path, Msg: fmt.Sprintf("no such config file (--config); create one with: mictl init --path %s", path)}
	case errors.Is(err, syscall.EISDIR):
		return nil, &Error{Where: path, Msg: fmt.Sprintf("a directory, not a config file: name the file (--config %s)", filepath.Join(path, DefaultFile))}
	case errors.Is(err, fs.ErrPermission):
		return nil, &Error{Where: path, Msg: "cannot read the config file: permission denied; " + readAccess(path)}
	case err != nil:
		return nil, &Error{Where: path, Msg: fmt.Sprintf("cannot read the config file: %v", fsutil.Cause(err))}
	}

	// A BOM is what some Windows editors start a UTF-8 file with; TOML
	// has no place for one.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var file fileSchema
	var keys keyIndex
	if path != "" {
		var values valueIndex
		keys, values = indexKeys(data)
		if err := decodeStrict(path, data, &file, values); err != nil {
			return nil, err
		}
	}

	v := viper.New()
	v.SetEnvPrefix("MICTL")
	fromFile := map[string]any{}
	for _, s := range Settings {
		v.SetDefault(s.Key, s.Default)
		if err := v.BindEnv(s.Key, s.Env()); err != nil {
			return nil, fmt.Errorf("bind %s: %w", s.Env(), err)
		}
		if val := file.value(s.Key); val != nil {
			fromFile[s.Key] = val
		}
		if src.Flags != nil && s.Flag != "" {
			if f := src.Flags.Lookup(s.Flag); f != nil {
				if err := v.BindPFlag(s.Key, f); err != nil {
					return nil, fmt.Errorf("bind --%s: %w", s.Flag, err)
				}
			}
		}
	}
	if err := v.MergeConfigMap(fromFile); err != nil {
		return nil, fmt.Errorf("merge %s: %w", path, err)
	}

	r := resolver{v: v, flags: src.Flags, path: path, keys: keys}
	cfg := &Config{
		File:         path,
		Instances:    r.int("instances"),
		NamePrefix:   r.string("name_prefix"),
		BaseOffset:   r.int("base_offset"),
		OffsetStep:   r.int("offset_step"),
		MIHome:       r.string("mi_home"),
		InstancesDir: r.string("instances_dir"),
		OffsetMethod: r.string("offset_method"),
		Metrics:      r.bool("metrics"),
		MetricsAddr:  r.string("metrics_addr"),

		HealthInterval:     r.duration("health_interval", MinHealthInterval),
		ManagementUser:     r.string("management_user"),
		ManagementPassword: r.string("management_password"),
	}
	host := r.string("host")
	if r.err != nil {
		return nil, r.err
	}
	cfg.origins = map[string]string{}
	for _, s := range Settings {
		cfg.origins[s.Key] = r.where(s.Key)
	}
	cfg.MIHome = r.fileRelative("mi_home", cfg.MIHome)
	cfg.InstancesDir = r.fileRelative("instances_dir", cfg.InstancesDir)
	if cfg.Host, err = netip.ParseAddr(host); err != nil {
		return nil, r.bad("host", fmt.Sprintf("expected an IP address (127.0.0.1, ::1 or 0.0.0.0), got %q", host))
	}
	if cfg.CApps, err = r.capps(file.CApps, "capps"); err != nil {
		return nil, err
	}
	cfg.CAppsPos = r.keys.at("capps", r.path, r.path)
	if cfg.Instance, err = r.instances(file.Instance); err != nil {
		return nil, err
	}
	if err := r.validate(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (f *fileSchema) value(key string) any {
	ptrs := map[string]any{
		"instances": f.Instances, "name_prefix": f.NamePrefix, "base_offset": f.BaseOffset,
		"offset_step": f.OffsetStep, "host": f.Host, "mi_home": f.MIHome,
		"instances_dir": f.InstancesDir, "offset_method": f.OffsetMethod,
		"metrics": f.Metrics, "metrics_addr": f.MetricsAddr, "health_interval": f.HealthInterval,
		"management_user": f.ManagementUser, "management_password": f.ManagementPassword,
	}
	switch p := ptrs[key].(type) {
	case *int:
		if p != nil {
			return *p
		}
	case *string:
		if p != nil {
			return *p
		}
	case *bool:
		if p != nil {
			return *p
		}
	}
	return nil
}

// decodeStrict decodes data, turning go-toml's errors into *Error values with
// file:line:col and, for unknown keys, the list of keys that do exist; for
// a value of the wrong type, what was expected and what was written
// (values describes them; it is empty when the file does not parse).
func decodeStrict(path string, data []byte, out *fileSchema, values valueIndex) error {
	dec := toml.NewDecoder(strings.NewReader(string(data))).DisallowUnknownFields()
	err := dec.Decode(out)
	var missing *toml.StrictMissingError
	var decodeErr *toml.DecodeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &missing) && len(missing.Errors) > 0:
		first := missing.Errors[0]
		line, col := first.Position()
		key := strings.Join(first.Key(), ".")
		expected := TopLevelKeys()
		if len(first.Key()) > 1 && first.Key()[0] == "instance" {
			expected = "name, offset, overrides, capps"
		}
		msg := fmt.Sprintf("unknown key %q; expected one of: %s", key, expected)
		// The key of the table the message lists: the first of a
		// top-level dotted key (metrcs.host), the second of an
		// [[instance]] one.
		typed := first.Key()[0]
		if first.Key()[0] == "instance" && len(first.Key()) > 1 {
			typed = first.Key()[1]
		}
		if meant := closestKeys(typed, strings.Split(expected, ", ")); len(meant) > 0 {
			msg = fmt.Sprintf("unknown key %q; did you mean %s? (expected one of: %s)", key, quotedOr(meant), expected)
		}
		return &Error{Where: fmt.Sprintf("%s:%d:%d", path, line, col), Msg: msg}
	case errors.As(err, &decodeErr):
		line, col := decodeErr.Position()
		return &Error{Where: fmt.Sprintf("%s:%d:%d", path, line, col), Msg: describeDecodeError(decodeErr, values.at(line, col), lineOf(data, line))}
	default:
		return &Error{Where: path, Msg: err.Error()}
	}
}

// describeDecodeError says what is wrong with a value in the user's
// terms: the key, what it expects, and what the file holds (got). A
// syntax error is go-toml's own message, which names the problem, with
// the line it is on (text).
func describeDecodeError(e *toml.DecodeError, got, text string) string {
	key := strings.Join(e.Key(), ".")
	want, known := expectedTypes()[key]
	switch {
	case strings.HasSuffix(e.Error(), "is already defined"):
		return fmt.Sprintf("key %q is set a second time here: keep one of the two", key)
	case strings.HasSuffix(e.Error(), "too large to fit in a 64-bit signed integer"):
		if lo, hi, ok := intRange(key); ok {
			return fmt.Sprintf("key %q: %s is out of range: expected an integer from %d to %d", key, cmp.Or(got, "the integer"), lo, hi)
		}
		msg := fmt.Sprintf("key %q: %s is too large for TOML (64 bits)", key, cmp.Or(got, "the integer"))
		if known && key != "instance.overrides" { // an override's value is in the table
			msg += "; expected " + want
		}
		return msg
	case known && got != "":
		return fmt.Sprintf("key %q: expected %s, got %s", key, want, got)
	case known && key == "instances":
		// [[instances]] for [[instance]]: a table where the count goes.
		return fmt.Sprintf("key %q: expected %s (how many to run); an instance's own table is [[instance]], not [[instances]]", key, want)
	case known:
		return fmt.Sprintf("key %q: expected %s", key, want)
	case key != "":
		return fmt.Sprintf("key %q: %s", key, strings.TrimPrefix(e.Error(), "toml: "))
	}
	return fmt.Sprintf("not valid TOML: %s, in: %s", strings.TrimPrefix(e.Error(), "toml: "), text)
}

// lineOf is the text of data's line n (from 1), trimmed, and shortened to
// what an error message can quote.
func lineOf(data []byte, n int) string {
	const quoted = 80
	i := 0
	for line := range strings.Lines(string(data)) {
		if i++; i == n {
			line = strings.TrimSpace(line)
			if r := []rune(line); len(r) > quoted {
				line = string(r[:quoted]) + "..." // whole characters
			}
			return line
		}
	}
	return ""
}

// expectedTypes says, for each key mictl.toml may hold, what its value
// must be ("instance.name" is the name key of any [[instance]] table).
func expectedTypes() map[string]string {
	out := map[string]string{
		"instance":           "[[instance]] tables, e.g. [[instance]] then name = \"mi-orders\" on the next line",
		"instance.name":      "a string",
		"instance.offset":    "an integer",
		"instance.overrides": `an inline table of deployment.toml keys, e.g. { "server.hostname" = "mi-2.local" }`,
		"instance.capps":     `an array of .car paths, e.g. ["build/orders_1.0.0.car"]`,
		"capps":              `an array of .car paths, e.g. ["build/orders_1.0.0.car"]`,
	}
	for _, s := range Settings {
		out[s.Key] = s.Type()
	}
	return out
}

// intRange is what integer key accepts (ok false: the key is no integer
// with a range): validate checks it, and a number too large for TOML
// (which the decoder refuses first) is told it.
func intRange(key string) (lo, hi int, ok bool) {
	switch key {
	case "instances":
		return 1, ports.MaxInstances(), true
	case "base_offset", "instance.offset":
		return 0, math.MaxUint16, true
	case "offset_step":
		return 1, math.MaxUint16, true
	}
	return 0, 0, false
}

// resolver reads merged settings, remembering the first error, and can say
// where any value came from.
type resolver struct {
	v     *viper.Viper
	flags *pflag.FlagSet
	path  string
	keys  keyIndex
	err   error
}

func (r *resolver) where(key string) string {
	if typed := r.typedAt(key); typed != "" {
		return typed
	}
	if pos, ok := r.keys[key]; ok {
		return fmt.Sprintf("%s:%d:%d", r.path, pos.line, pos.col)
	}
	return "default " + key
}

// typedAt names the flag or MICTL_ variable that set key, or is "" when
// neither did.
func (r *resolver) typedAt(key string) string {
	s := settingByKey(key)
	if r.flags != nil && s.Flag != "" {
		if f := r.flags.Lookup(s.Flag); f != nil && f.Changed {
			return "flag --" + s.Flag
		}
	}
	if _, ok := os.LookupEnv(s.Env()); ok {
		return "environment " + s.Env()
	}
	return ""
}

// bad says what is wrong with key's value the way a type error in the
// file does: `key "x": expected ..., got ...`. A value from a flag or a
// variable is named by Where already.
func (r *resolver) bad(key, msg string) error {
	where := r.where(key)
	if fromCommandLine(where) {
		return &Error{Where: where, Msg: msg}
	}
	return &Error{Where: where, Msg: fmt.Sprintf("key %q: %s", key, msg)}
}

func (r *resolver) int(key string) int {
	n, err := cast.ToIntE(r.v.Get(key))
	if err != nil && r.err == nil {
		r.err = r.bad(key, fmt.Sprintf("expected a whole number, got %q", fmt.Sprint(r.v.Get(key))))
	}
	return n
}

func (r *resolver) string(key string) string {
	s, err := cast.ToStringE(r.v.Get(key))
	if err != nil && r.err == nil {
		r.err = r.bad(key, "expected a string")
	}
	return s
}

func (r *resolver) bool(key string) bool {
	b, err := cast.ToBoolE(r.v.Get(key))
	if err != nil && r.err == nil {
		r.err = r.bad(key, fmt.Sprintf("expected true or false, got %q", fmt.Sprint(r.v.Get(key))))
	}
	return b
}

// duration reads key as a duration of at least least. A string needs
// its unit: "5" is refused rather than taken as 5ns, which would make a
// check loop spin.
func (r *resolver) duration(key string, least time.Duration) time.Duration {
	raw := r.v.Get(key)
	var d time.Duration
	err := errors.New("not a duration")
	switch v := raw.(type) {
	case time.Duration:
		d, err = v, nil
	case string:
		d, err = time.ParseDuration(strings.TrimSpace(v))
	}
	if (err != nil || d < least) && r.err == nil {
		r.err = r.bad(key, fmt.Sprintf("expected a duration of at least %s with its unit, e.g. \"5s\" or \"500ms\", got %q", least, fmt.Sprint(raw)))
	}
	return d
}

// fileRelative resolves the relative directory p of key the way its reader
// means it: written in the config file, or left at its default while there
// is one, it is taken from the file's directory, so `mictl --config
// /srv/mi/mictl.toml down` finds the instances that `up` made beside that
// file wherever it runs from; typed as a flag or a MICTL_ variable, it is
// taken from the working directory, as a shell user expects.
func (r *resolver) fileRelative(key, p string) string {
	if r.path == "" || p == "" || filepath.IsAbs(p) || r.typedAt(key) != "" {
		return p
	}
	return filepath.Join(filepath.Dir(r.path), p)
}

// capps resolves the CApp paths of key (capps, or instance.N.capps, which
// messages call instance.capps as the decoder's do): a relative path is
// taken from the config file's directory, as a user reading the file
// would, wherever mictl runs from. Only .car files are CApps (MI's hot
// deployer ignores anything else).
func (r *resolver) capps(elems []any, key string) ([]string, error) {
	listWhere := r.keys.at(key, r.path, r.path)
	name := key
	if strings.HasPrefix(key, "instance.") {
		name = "instance.capps"
	}
	out := make([]string, 0, len(elems))
	seen := map[string]int{} // path -> its element's number
	for i, e := range elems {
		where := r.keys.at(fmt.Sprintf("%s.%d", key, i), listWhere, r.path)
		elemErr := func(format string, args ...any) error {
			return &Error{Where: where, Msg: fmt.Sprintf("key %q, element %d: ", name, i+1) + fmt.Sprintf(format, args...)}
		}
		p, ok := e.(string)
		if !ok {
			return nil, elemErr("expected a .car path (a string), got %s", describeDecoded(e))
		}
		if strings.TrimSpace(p) == "" || !strings.EqualFold(filepath.Ext(p), ".car") {
			return nil, elemErr("%q is not a CApp: expected the path of a .car file", p)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(r.path), p)
		}
		// Absolute, as Config says: a path from ./mictl.toml would be
		// relative to the working directory, which the daemon and every
		// command comparing paths must not depend on.
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if first, dup := seen[p]; dup {
			return nil, elemErr("%s is listed twice: element %d names it too", p, first)
		}
		seen[p] = i + 1
		out = append(out, p)
	}
	return out, nil
}

func (r *resolver) instances(tables []fileInstance) ([]InstanceConfig, error) {
	out := make([]InstanceConfig, 0, len(tables))
	seen := map[string]string{}
	for i, t := range tables {
		pos := r.keys.table(i)
		where := fmt.Sprintf("%s:%d:%d", r.path, pos.line, pos.col)
		if t.Name == "" {
			return nil, &Error{Where: where, Msg: "[[instance]] needs a name, e.g. name = \"mi-orders\""}
		}
		if err := ValidateName(t.Name); err != nil {
			return nil, &Error{Where: r.keys.at(fmt.Sprintf("instance.%d.name", i), where, r.path), Msg: err.Error()}
		}
		if prev, dup := seen[t.Name]; dup {
			return nil, &Error{Where: where, Msg: fmt.Sprintf("instance %q is already defined at %s", t.Name, prev)}
		}
		seen[t.Name] = where
		if lo, hi, _ := intRange("instance.offset"); t.Offset != nil && (*t.Offset < lo || *t.Offset > hi) {
			return nil, &Error{Where: r.keys.at(fmt.Sprintf("instance.%d.offset", i), where, r.path),
				Msg: fmt.Sprintf("key \"instance.offset\" of instance %q: expected an offset from %d to %d, got %d", t.Name, lo, hi, *t.Offset)}
		}
		overridesPos := r.keys.at(fmt.Sprintf("instance.%d.overrides", i), where, r.path)
		var overridePos map[string]string
		// By name, so that of several bad overrides the same one is told each time.
		for _, key := range slices.Sorted(maps.Keys(t.Overrides)) {
			keyPos := r.keys.at(fmt.Sprintf("instance.%d.overrides.%s", i, key), overridesPos, r.path)
			if msg := overrideProblem(key, t.Overrides[key]); msg != "" {
				return nil, &Error{Where: keyPos, Msg: msg}
			}
			if overridePos == nil {
				overridePos = map[string]string{}
			}
			overridePos[key] = keyPos
		}
		capps, err := r.capps(t.CApps, fmt.Sprintf("instance.%d.capps", i))
		if err != nil {
			return nil, err
		}
		out = append(out, InstanceConfig{Name: t.Name, Offset: t.Offset, Overrides: t.Overrides, CApps: capps, Pos: where,
			OffsetPos:    r.keys.at(fmt.Sprintf("instance.%d.offset", i), where, r.path),
			OverridesPos: overridesPos, OverridePos: overridePos,
			CAppsPos: r.keys.at(fmt.Sprintf("instance.%d.capps", i), where, r.path)})
	}
	return out, nil
}

// overrideProblem says what is wrong with the override key = v of an
// [[instance]], or is "". An override sets one value of deployment.toml:
// a table, or an array of them, would have to merge with the tables the
// file already has, which mictl does not do.
func overrideProblem(key string, v any) string {
	meant := mistypedKeys(key)
	switch {
	case key == "server.offset":
		return `override "server.offset": mictl owns the offset; set offset = N in this [[instance]] instead`
	case key == ports.InternalAPIEnableTOMLKey && v == false:
		return fmt.Sprintf("override %q = false: %s; drop the override", key, ports.InternalAPINeeded)
	case key == "" || strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, ".."):
		return fmt.Sprintf("override key %q is not a dotted deployment.toml path like \"transport.http.listener.port\"", key)
	case len(meant) > 0:
		return fmt.Sprintf("override %q is no key MI reads; did you mean %s? (MI ignores a misspelt key, and leaves what it meant as the distribution sets it)", key, quotedOr(meant))
	case isTable(v):
		// Bare dots make tables too: transport.http.port = 8300 is the
		// override "transport" holding a table. The example is the first
		// key of the table, written as its own override.
		path, leaf := firstLeaf(key, v.(map[string]any))
		example := `"transport.http.listener.port" = 8300`
		// Only an override that would load is offered (not server.offset,
		// nor a value that holds tables itself).
		if text, err := toml.Marshal(map[string]any{"v": leaf}); path != "" && err == nil && overrideProblem(path, leaf) == "" {
			value := strings.TrimSpace(strings.TrimPrefix(string(text), "v = "))
			if s, ok := leaf.(string); ok {
				value = strconv.Quote(s) // as the rest of the message quotes, not 'x'
			}
			example = strconv.Quote(path) + " = " + value
		}
		return fmt.Sprintf("override %q: the value is a table, and an override sets one key: give each of its keys an override of its own, the whole dotted path in quotes, e.g. %s", key, example)
	case holdsTable(v):
		what := describeDecoded(v)
		if what == "an array" {
			what = "an array with a table in it"
		}
		return fmt.Sprintf("override %q: the value is %s, which an override cannot write: give it a string, a number, a boolean, a date/time or an array of those", key, what)
	}
	return ""
}

// firstLeaf finds, in the table t that is the value of path, the first
// key by name that holds a value, not a table: its whole path and value.
// path is "" when t holds no value at all.
func firstLeaf(path string, t map[string]any) (string, any) {
	for _, k := range slices.Sorted(maps.Keys(t)) {
		sub, ok := t[k].(map[string]any)
		if !ok {
			return path + "." + k, t[k]
		}
		if p, v := firstLeaf(path+"."+k, sub); p != "" {
			return p, v
		}
	}
	return "", nil
}

// holdsTable reports whether v is an array with a table in it, at any depth.
func holdsTable(v any) bool {
	a, ok := v.([]any)
	return ok && slices.ContainsFunc(a, func(e any) bool { return isTable(e) || holdsTable(e) })
}

func (r *resolver) validate(c *Config) error {
	baseLo, baseHi, _ := intRange("base_offset")
	stepLo, stepHi, _ := intRange("offset_step")
	switch {
	case c.Instances < 0:
		return r.bad("instances", fmt.Sprintf("expected a count of 1 or more, got %d", c.Instances))
	case c.Instances > ports.MaxInstances():
		return r.bad("instances", fmt.Sprintf("expected at most %d, got %d: no more instances fit in the port space (%d ports each, %d-%d); plan fewer",
			ports.MaxInstances(), c.Instances, ports.NumRoles, ports.MinPort(), ports.MaxPort))
	case c.Instances == 0 && (len(c.Instance) == 0 || strings.HasPrefix(r.where("instances"), "flag")):
		return r.bad("instances", "expected a count of 1 or more (or [[instance]] tables), got 0")
	case c.BaseOffset < baseLo || c.BaseOffset > baseHi:
		return r.bad("base_offset", fmt.Sprintf("expected %d-%d, got %d", baseLo, baseHi, c.BaseOffset))
	case c.OffsetStep < stepLo || c.OffsetStep > stepHi:
		return r.bad("offset_step", fmt.Sprintf("expected %d-%d, got %d", stepLo, stepHi, c.OffsetStep))
	case c.OffsetMethod != OffsetMethodTOML && c.OffsetMethod != OffsetMethodFlag:
		return r.bad("offset_method", fmt.Sprintf("expected %q or %q, got %q", OffsetMethodTOML, OffsetMethodFlag, c.OffsetMethod))
	case strings.TrimSpace(c.InstancesDir) == "":
		return r.bad("instances_dir", `expected a directory, got ""`)
	}
	// The characters first, on as much of the prefix as a name can hold:
	// a prefix too long for its names is said to be, by its own length
	// (the name's, 64 where the prefix has 62, left the fix to work out).
	first := c.InstanceName(1)
	if ValidateName(first[:min(len(first), maxNameLen)]) != nil {
		return r.bad("name_prefix", fmt.Sprintf("%q makes names like %q: %v", c.NamePrefix, first, ValidateName(first)))
	}
	longest := c.InstanceName(max(c.Instances, 1))
	if most := maxNameLen - (len(longest) - len(c.NamePrefix)); len(c.NamePrefix) > most {
		return r.bad("name_prefix", fmt.Sprintf("%q has %d characters, at most %d: an instance's name is the prefix, '-' and its number, at most %d characters in all (%q has %d)",
			c.NamePrefix, len(c.NamePrefix), most, maxNameLen, longest, len(longest)))
	}
	return nil
}
