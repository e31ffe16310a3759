package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mictl.toml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func flagSet(args ...string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.Int("instances", 0, "")
	fs.Int("base-offset", 0, "")
	fs.String("host", "", "")
	if err := fs.Parse(args); err != nil {
		panic(err)
	}
	return fs
}

func TestLoadDefaultsWithoutFile(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := Load(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != "" || cfg.Instances != 1 || cfg.NamePrefix != "mi" || cfg.BaseOffset != 10 ||
		cfg.OffsetStep != 1 || cfg.Host.String() != "127.0.0.1" || !cfg.UsesSimulator() ||
		cfg.InstancesDir != "instances" || cfg.OffsetMethod != OffsetMethodTOML {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestLoadPrecedence(t *testing.T) {
	path := writeConfig(t, "instances = 4\nbase_offset = 20\nhost = \"::1\"\n")
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		instances int
		base      int
		host      string
	}{
		{"file over defaults", nil, nil, 4, 20, "::1"},
		{"env over file", map[string]string{"MICTL_INSTANCES": "6", "MICTL_HOST": "127.0.0.2"}, nil, 6, 20, "127.0.0.2"},
		{"flag over env", map[string]string{"MICTL_INSTANCES": "6"}, []string{"--instances=8", "--base-offset=30"}, 8, 30, "::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := Load(Sources{Path: path, Flags: flagSet(tt.args...)})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Instances != tt.instances || cfg.BaseOffset != tt.base || cfg.Host.String() != tt.host {
				t.Fatalf("got instances=%d base=%d host=%s", cfg.Instances, cfg.BaseOffset, cfg.Host)
			}
		})
	}
}

func TestLoadErrorsNameTheSource(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		env   map[string]string
		args  []string
		where string // expected Error.Where
		msg   string // substring of Error.Msg
	}{
		{"unknown key", "instances = 2\nofset_step = 3\n", nil, nil, ":2:1", `unknown key "ofset_step"; did you mean "offset_step"? (expected one of: instances`},
		{"unknown dotted key: its first part is the typo", "metrcs.host = 1\n", nil, nil, ":1:1", `unknown key "metrcs.host"; did you mean "metrics"?`},
		{"unknown key close to none", "instances = 2\nreplicas = 3\n", nil, nil, ":2:1", `unknown key "replicas"; expected one of: instances`},
		{"unknown instance key", "[[instance]]\nname = \"a\"\nofset = 3\n", nil, nil, ":3:1", `unknown key "instance.ofset"; did you mean "offset"? (expected one of: name, offset, overrides, capps)`},
		{"wrong type", "instances = \"three\"\n", nil, nil, ":1:", "expected an integer"},
		{"[[instances]] for [[instance]]", "[[instances]]\nname = \"a\"\n", nil, nil, ":1:", `key "instances": expected an integer (how many to run); an instance's own table is [[instance]], not [[instances]]`},
		{"syntax", "instances = \n", nil, nil, ":1:", ""},
		{"a long line quoted in whole characters", "name_prefix = \"" + strings.Repeat("é", 90) + "\" x\n", nil, nil, ":1:", "in: name_prefix = \"" + strings.Repeat("é", 65) + "..."},
		{"syntax names the line", "instances = 2\nbase_offset = 22000 x\n", nil, nil, ":2:21", "not valid TOML: expected newline but got U+0078 'x', in: base_offset = 22000 x"},
		{"bad value", "offset_step = 0\n", nil, nil, ":1:1", `key "offset_step": expected 1-65535, got 0`},
		{"bad method", "\n\noffset_method = \"env\"\n", nil, nil, ":3:1", `expected "toml" or "flag"`},
		{"bad host", "host = \"localhost\"\n", nil, nil, ":1:1", `key "host": expected an IP address (127.0.0.1, ::1 or 0.0.0.0), got "localhost"`},
		{"bad prefix", "name_prefix = \"MI\"\n", nil, nil, ":1:1", "lowercase"},
		// The prefix's own length, and the most it may have, not only
		// the generated name's 64.
		{"prefix too long", "name_prefix = \"" + strings.Repeat("a", 62) + "\"\n", nil, nil, ":1:1", `has 62 characters, at most 61: an instance's name is the prefix, '-' and its number, at most 63 characters in all`},
		{"prefix too long for ten", "instances = 10\nname_prefix = \"" + strings.Repeat("a", 61) + "\"\n", nil, nil, ":2:1", `has 61 characters, at most 60: an instance's name is the prefix, '-' and its number, at most 63 characters in all ("` + strings.Repeat("a", 61) + `-10" has 64)`},
		{"bad and long prefix", "name_prefix = \"B" + strings.Repeat("a", 62) + "\"\n", nil, nil, ":1:1", "lowercase"},
		{"bad env", "", map[string]string{"MICTL_INSTANCES": "many"}, nil, "environment MICTL_INSTANCES", `expected a whole number, got "many"`},
		{"zero flag", "", nil, []string{"--instances=0"}, "flag --instances", "expected a count of 1 or more"},
		{"negative count", "instances = -2\n", nil, nil, ":1:1", "expected a count"},
		{"instance without name", "[[instance]]\noffset = 3\n", nil, nil, ":1:1", "needs a name"},
		{"instance bad name", "[[instance]]\nname = \"../etc\"\n", nil, nil, ":2:1", "lowercase"},
		{"duplicate instance", "[[instance]]\nname = \"a\"\n[[instance]]\nname = \"a\"\n", nil, nil, ":3:1", "already defined at"},
		{"key set twice", "instances = 1\ninstances = 2\n", nil, nil, ":2:1", `key "instances" is set a second time here: keep one of the two`},
		{"unknown instance key", "[[instance]]\nname = \"a\"\nport = 1\n", nil, nil, ":3:1", "expected one of: name, offset, overrides"},
		{"count out of range", "instances = 99999999999999999999\n", nil, nil, ":1:13", `key "instances": the integer 99999999999999999999 is out of range: expected an integer from 1 to `},
		{"offset out of range", "[[instance]]\nname = \"a\"\noffset = -99999999999999999999\n", nil, nil, ":3:10", `key "instance.offset": the integer -99999999999999999999 is out of range: expected an integer from 0 to 65535`},
		{"huge integer for a string key", "instances_dir = 99999999999999999999\n", nil, nil, ":1:", `key "instances_dir": the integer 99999999999999999999 is too large for TOML (64 bits); expected a string`},
		{"override out of range", "[[instance]]\nname = \"a\"\noverrides = { \"x.y\" = 0x7fffffffffffffff0 }\n", nil, nil, ":3:23", `key "instance.overrides": the integer 0x7fffffffffffffff0 is too large for TOML (64 bits)`},
		{"negative instance offset", "[[instance]]\nname = \"a\"\noffset = -1\n", nil, nil, ":3:1", `key "instance.offset" of instance "a": expected an offset from 0 to 65535, got -1`},
		{"offset override", "[[instance]]\nname = \"a\"\noverrides = { \"server.offset\" = 5 }\n", nil, nil, ":3:15", "mictl owns the offset"},
		{"offset override in a table", "[[instance]]\nname = \"a\"\n[instance.overrides]\n\"server.hostname\" = \"x\"\n\"server.offset\" = 5\n", nil, nil, ":5:1", "mictl owns the offset"},
		{"internal API turned off", "[[instance]]\nname = \"a\"\noverrides = { \"mediation.internal_http_api_enable\" = false }\n", nil, nil, ":3:15", `override "mediation.internal_http_api_enable" = false: mictl tells that an instance is ready and alive by MI's internal HTTP API`},
		{"misspelt override of a planned key", "[[instance]]\nname = \"a\"\noverrides = { \"transport.http.listner.port\" = 8300 }\n", nil, nil, ":3:15",
			`override "transport.http.listner.port" is no key MI reads; did you mean "transport.http.listener.port"? (MI ignores a misspelt key, and leaves what it meant as the distribution sets it)`},
		{"bad override key", "[[instance]]\nname = \"a\"\noverrides = { \"x..y\" = 1 }\n", nil, nil, ":3:15", "dotted deployment.toml path"},
		{"override of a table", "instances = 2\n[[instance]]\nname = \"mi-2\"\n[instance.overrides]\n\"server.hostname\" = \"a\"\n\"transport.http\" = { listener = { port = 8300 } }\n", nil, nil, ":6:1",
			`override "transport.http": the value is a table, and an override sets one key: give each of its keys an override of its own, the whole dotted path in quotes, e.g. "transport.http.listener.port" = 8300`},
		{"override with bare dots", "[[instance]]\nname = \"a\"\noverrides = { \"server.hostname\" = \"x\", transport.http.listener.port = 8300 }\n", nil, nil, ":3:40",
			`override "transport": the value is a table, and an override sets one key: give each of its keys an override of its own, the whole dotted path in quotes, e.g. "transport.http.listener.port" = 8300`},
		// The example offered is one that loads: never server.offset, nor a
		// value holding tables (which TOML writes as [[v]] lines).
		{"override of a table holding an array of tables", "[[instance]]\nname = \"a\"\noverrides = { transport.x = [{ a = 1 }] }\n", nil, nil, ":3:15",
			`override "transport": the value is a table, and an override sets one key: give each of its keys an override of its own, the whole dotted path in quotes, e.g. "transport.http.listener.port" = 8300`},
		{"override of a table holding the offset", "[[instance]]\nname = \"a\"\noverrides = { server.offset = 5 }\n", nil, nil, ":3:15",
			`e.g. "transport.http.listener.port" = 8300`},
		{"override of an array of tables", "[[instance]]\nname = \"a\"\noverrides = { \"server.hostname\" = [{ a = 1 }] }\n", nil, nil, ":3:15",
			`override "server.hostname": the value is an array of tables, which an override cannot write: give it a string, a number, a boolean, a date/time or an array of those`},
		{"override of a nested table", "[[instance]]\nname = \"a\"\noverrides = { \"server.hostname\" = [1, [{ a = 1 }]] }\n", nil, nil, ":3:15", "the value is an array with a table in it"},
		{"capps element not a string", "capps = [1, 2]\n", nil, nil, ":1:10", `key "capps", element 1: expected a .car path (a string), got the integer 1`},
		{"capps later element", "capps = [\"a.car\", 3]\n", nil, nil, ":1:19", `key "capps", element 2: expected a .car path (a string), got the integer 3`},
		{"capps nested array", "capps = [[\"a.car\"]]\n", nil, nil, ":1:1", `key "capps", element 1: expected a .car path (a string), got an array`},
		{"capps table element", "capps = [\n  \"a.car\",\n  { path = \"b.car\" },\n]\n", nil, nil, ":3:3", `key "capps", element 2: expected a .car path (a string), got a table`},
		{"instance capps not a car", "[[instance]]\nname = \"a\"\ncapps = [\"a.car\", \"b.txt\"]\n", nil, nil, ":3:19", `key "instance.capps", element 2: "b.txt" is not a CApp`},
		{"capps listed twice", "capps = [\"a.car\", \"./a.car\"]\n", nil, nil, ":1:19", "is listed twice: element 1 names it too"},
		{"duration without unit", "health_interval = \"5\"\n", nil, nil, ":1:1", `key "health_interval": expected a duration of at least 100ms with its unit, e.g. "5s" or "500ms", got "5"`},
		{"duration too short", "health_interval = \"1ns\"\n", nil, nil, ":1:1", `got "1ns"`},
		{"duration env without unit", "", map[string]string{"MICTL_HEALTH_INTERVAL": "5"}, nil, "environment MICTL_HEALTH_INTERVAL", "with its unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			path := writeConfig(t, tt.body)
			_, err := Load(Sources{Path: path, Flags: flagSet(tt.args...)})
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *config.Error", err)
			}
			if !strings.Contains(ce.Where, tt.where) || !strings.Contains(ce.Msg, tt.msg) {
				t.Fatalf("error = %q, want where %q and message containing %q", ce.Error(), tt.where, tt.msg)
			}
			if strings.HasPrefix(tt.where, ":") && !strings.HasPrefix(ce.Where, path) {
				t.Fatalf("error %q does not name the file %s", ce.Error(), path)
			}
		})
	}
}

// Where the overrides of an [[instance]] are: an error about one override
// whose key has no position of its own is reported there.
func TestOverridesPos(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"inline", "[[instance]]\nname = \"a\"\n\noverrides = { \"server.hostname\" = \"x\" }\n", ":4:1"},
		{"a table of their own", "[[instance]]\nname = \"a\"\n\n[instance.overrides]\n\"server.hostname\" = \"x\"\n", ":4:1"},
		{"a table of the second instance", "[[instance]]\nname = \"a\"\n[[instance]]\nname = \"b\"\n[instance.overrides]\n\"server.hostname\" = \"x\"\n", ":5:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.body)
			cfg, err := Load(Sources{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Instance[len(cfg.Instance)-1].OverridesPos; got != path+tt.want {
				t.Errorf("OverridesPos = %s, want %s%s", got, path, tt.want)
			}
		})
	}
}

// Each override's own key is where an error found only when it is
// rendered (through an array of tables of the distribution's file) is
// reported, as load-time override errors are.
func TestOverridePos(t *testing.T) {
	path := writeConfig(t, "[[instance]]\nname = \"a\"\noverrides = { \"server.hostname\" = \"x\",\n  \"datasource.url\" = \"y\" }\n"+
		"[[instance]]\nname = \"b\"\n[instance.overrides]\n\"server.hostname\" = \"x\"\n\n  \"datasource.url\" = \"y\"\n")
	cfg, err := Load(Sources{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]map[string]string{
		"a": {"server.hostname": ":3:15", "datasource.url": ":4:3", "missing": ":3:1"},
		"b": {"server.hostname": ":8:1", "datasource.url": ":10:3", "missing": ":7:1"},
	} {
		ic, _ := cfg.InstanceSettings(name)
		for key, at := range want {
			if got := ic.OverrideWhere(key); got != path+at {
				t.Errorf("instance %s: override %q is at %s, want %s%s", name, key, got, path, at)
			}
		}
	}
}

func TestLoadMissingExplicitFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(Sources{Path: path})
	var ce *Error
	if !errors.As(err, &ce) || ce.Error() != path+": no such config file (--config); create one with: mictl init --path "+path {
		t.Fatalf("err = %v", err)
	}
	// Commands on what runs look past a broken file, never past a typo.
	if _, fileErr, err := LoadLenient(Sources{Path: path}); err == nil || fileErr != nil {
		t.Fatalf("LoadLenient of a missing --config: fileErr %v, err %v; want err", fileErr, err)
	}
}

// --config naming a directory is a mistake to say, not a broken file to
// look past.
func TestLoadDirectoryAsConfig(t *testing.T) {
	dir := t.TempDir()
	want := dir + ": a directory, not a config file: name the file (--config " + filepath.Join(dir, "mictl.toml") + ")"
	if _, err := Load(Sources{Path: dir}); err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if _, fileErr, err := LoadLenient(Sources{Path: dir}); err == nil || fileErr != nil {
		t.Fatalf("LoadLenient of a directory: fileErr %v, err %v; want err", fileErr, err)
	}
}

func TestNames(t *testing.T) {
	path := writeConfig(t, `instances = 2
[[instance]]
name = "mi-2"
offset = 30
[[instance]]
name = "orders"
overrides = { "transport.http.listener.port" = 8300 }
`)
	cfg, err := Load(Sources{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Names(), ","); got != "mi-1,mi-2,orders" {
		t.Fatalf("names = %s", got)
	}
	ic, ok := cfg.InstanceSettings("mi-2")
	if !ok || *ic.Offset != 30 {
		t.Fatalf("mi-2 settings = %+v", ic)
	}
	if orders, _ := cfg.InstanceSettings("orders"); !strings.HasSuffix(orders.OverridesPos, ":7:1") {
		t.Fatalf("orders' overrides are at %q, want line 7", orders.OverridesPos)
	}
	orders, _ := cfg.InstanceSettings("orders")
	if orders.Overrides["transport.http.listener.port"] != int64(8300) {
		t.Fatalf("orders overrides = %#v", orders.Overrides)
	}
}

func TestValidateName(t *testing.T) {
	for name, valid := range map[string]bool{
		"mi-1": true, "a": true, "0": true, strings.Repeat("a", 63): true, "orders-2": true,
		"": false, "-a": false, "A": false, "mi_1": false, "../x": false, "a/b": false, ".": false,
		strings.Repeat("a", 64): false, "mi 1": false, "é": false,
	} {
		if err := ValidateName(name); (err == nil) != valid {
			t.Errorf("ValidateName(%q) = %v, want valid=%v", name, err, valid)
		}
	}
}

// Every key of mictl.toml given a value of the wrong type is reported in
// the user's words: file:line:col, the key, what it expects, what it got;
// never a Go type (issue 10, bug 7).
func TestWrongTypesAreSaidInTheUsersWords(t *testing.T) {
	wrong := map[string]string{ // a value of another type for each kind
		"an integer":    `"two"`,
		"a string":      `5`,
		"true or false": `"yes"`,
		`a duration (a string such as "1s" or "500ms")`: `5`,
	}
	type tc struct{ toml, key, want string }
	var cases []tc
	for _, s := range Settings {
		want := s.Type()
		v := wrong[want]
		cases = append(cases, tc{s.Key + " = " + v + "\n", s.Key, fmt.Sprintf("mictl.toml:1:%d: key %q: expected %s, got ", len(s.Key)+4, s.Key, want)})
	}
	cases = append(cases,
		tc{"capps = \"orders.car\"\n", "capps", `mictl.toml:1:9: key "capps": expected an array of .car paths`},
		tc{"instance = \"x\"\n", "instance", `mictl.toml:1:12: key "instance": expected [[instance]] tables`},
		tc{"[[instance]]\nname = 5\n", "instance.name", `mictl.toml:2:8: key "instance.name": expected a string, got the integer 5`},
		tc{"[[instance]]\nname = \"a\"\noffset = \"x\"\n", "instance.offset", `mictl.toml:3:10: key "instance.offset": expected an integer, got the string "x"`},
		tc{"[[instance]]\nname = \"a\"\noverrides = 3\n", "instance.overrides", `mictl.toml:3:13: key "instance.overrides": expected an inline table`},
		tc{"[[instance]]\nname = \"a\"\ncapps = 3\n", "instance.capps", `mictl.toml:3:9: key "instance.capps": expected an array of .car paths`},
		tc{"instances = [1, 2]\n", "instances", `mictl.toml:1:13: key "instances": expected an integer, got an array`},
	)
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "mictl.toml")
			if err := os.WriteFile(path, []byte(c.toml), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Chdir(dir)
			_, err := Load(Sources{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%q: error %v\nwant it to contain %q", c.toml, err, c.want)
			}
			for _, leak := range []string{"struct field", "fileSchema", "fileInstance", "interface {}", "[]string"} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("%q: error %q shows Go internals (%s)", c.toml, err, leak)
				}
			}
		})
	}
}

// A mictl.toml saved by an editor that starts UTF-8 files with a BOM,
// with CRLF line ends, reads as the same file without them.
func TestLoadBOMAndCRLF(t *testing.T) {
	path := writeConfig(t, "\ufeff# deployment\r\ninstances = 4\r\ncapps = [\"a.car\"]\r\n")
	cfg, err := Load(Sources{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Instances != 4 || len(cfg.CApps) != 1 || cfg.CApps[0] != filepath.Join(filepath.Dir(path), "a.car") {
		t.Fatalf("cfg = %+v", cfg)
	}
	if cfg.Origin("instances") != path+":2:1" {
		t.Fatalf("origin of instances = %s", cfg.Origin("instances"))
	}
}

// A directory written in mictl.toml (or instances_dir left at its default
// beside one) is the file's reader's: relative to the file, wherever mictl
// runs from. One typed as a flag or variable is relative to the shell's
// working directory.
func TestRelativeDirectoriesFollowTheirSource(t *testing.T) {
	t.Chdir(t.TempDir())
	withDirs := writeConfig(t, "mi_home = \"../wso2mi-4.4.0\"\ninstances_dir = \"run\"\n")
	beside := filepath.Dir(withDirs)
	bare := writeConfig(t, "instances = 2\n")
	tests := []struct {
		name          string
		path          string
		env           map[string]string
		args          []string
		miHome, insts string
	}{
		{"written in the file", withDirs, nil, nil, filepath.Join(beside, "..", "wso2mi-4.4.0"), filepath.Join(beside, "run")},
		{"default beside the file", bare, nil, nil, "", filepath.Join(filepath.Dir(bare), "instances")},
		{"typed as a flag", withDirs, nil, []string{"--instances-dir=mine"}, filepath.Join(beside, "..", "wso2mi-4.4.0"), "mine"},
		{"typed as variables", withDirs, map[string]string{"MICTL_INSTANCES_DIR": "env-dir", "MICTL_MI_HOME": "mi"}, nil, "mi", "env-dir"},
		{"absolute stays", writeConfig(t, "instances_dir = \"/srv/mi\"\n"), nil, nil, "", "/srv/mi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			fs := flagSet()
			fs.String("instances-dir", "", "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(Sources{Path: tc.path, Flags: fs})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MIHome != tc.miHome || cfg.InstancesDir != tc.insts {
				t.Errorf("mi_home %q, instances_dir %q; want %q, %q", cfg.MIHome, cfg.InstancesDir, tc.miHome, tc.insts)
			}
		})
	}
}

// Every setting has a value to compare (Value), as mictl.toml writes it.
func TestValueOfEverySetting(t *testing.T) {
	cfg, err := Load(Sources{NoFile: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings {
		if cfg.Value(s.Key) == "" {
			t.Errorf("Value(%q) is empty", s.Key)
		}
	}
	if got := cfg.Value("instances") + " " + cfg.Value("host") + " " + cfg.Value("health_interval"); got != `1 "127.0.0.1" "5s"` {
		t.Errorf("values %s", got)
	}
}

// A refused login's advice names each credential by where it came from:
// the default, a line of mictl.toml, or the environment.
func TestCredentialsFromNamesEachOrigin(t *testing.T) {
	for _, s := range Settings {
		t.Setenv(s.Env(), "")
		os.Unsetenv(s.Env())
	}
	path := writeConfig(t, "instances = 1\nmanagement_user = \"ops\"\n")
	cfg, err := Load(Sources{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.CredentialsFrom(), "management_user ("+path+":2:1) / management_password (not set: MI's default)"; got != want {
		t.Errorf("from the file: %q, want %q", got, want)
	}
	t.Setenv("MICTL_MANAGEMENT_PASSWORD", "wrong")
	if cfg, err = Load(Sources{Path: path}); err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.CredentialsFrom(), "management_user ("+path+":2:1) / management_password (environment MICTL_MANAGEMENT_PASSWORD)"; got != want {
		t.Errorf("from the environment: %q, want %q", got, want)
	}
}
