package deploytoml

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/mictl/mictl/pkg/ports"
)

const lookupSrc = `# comment
top = "t"
server.hostname = "h"

[transport.http]
listener.port = 8300
listener.secured_port = 0x20FB # hex 8443

[mediation]
internal = { http_api_port = 9191, nested.deep = true }
floats = [1.5, -2e3, inf]
mixed = [1, "a", [true], {k = "v"}]
when = 1979-05-27T07:32:00Z
day = 1979-05-27
big = 1_000_000

[[datasource]]
id = "a"
[[datasource]]
id = "b"
`

func TestLookup(t *testing.T) {
	d, err := Parse("t.toml", []byte(lookupSrc))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"top", "t", true},
		{"server.hostname", "h", true},
		{"transport.http.listener.port", int64(8300), true},
		{"transport.http.listener.secured_port", int64(8443), true},
		{"transport.http.listener", map[string]any{"port": int64(8300), "secured_port": int64(8443)}, true},
		{"mediation.internal.http_api_port", int64(9191), true},
		{"mediation.internal.nested.deep", true, true},
		{"mediation.big", int64(1000000), true},
		{"mediation.when", time.Date(1979, 5, 27, 7, 32, 0, 0, time.UTC), true},
		{"mediation.day", toml.LocalDate{Year: 1979, Month: 5, Day: 27}, true},
		{"mediation.mixed", []any{int64(1), "a", []any{true}, map[string]any{"k": "v"}}, true},
		{"datasource", []any{map[string]any{"id": "a"}, map[string]any{"id": "b"}}, true},
		{`"transport".http."listener".port`, int64(8300), true},
		{"datasource.id", nil, false},
		{"server.offset", nil, false},
		{"top.x", nil, false},
		{"nope", nil, false},
		{"", nil, false},
	}
	for _, tt := range tests {
		got, ok := d.Lookup(tt.path)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			if w, isTime := tt.want.(time.Time); isTime && ok {
				if g, _ := got.(time.Time); g.Equal(w) {
					continue
				}
			}
			t.Errorf("Lookup(%q) = %#v, %v; want %#v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	// Lookup hands out copies.
	m, _ := d.Lookup("mediation.mixed")
	m.([]any)[0] = "changed"
	if again, _ := d.Lookup("mediation.mixed"); again.([]any)[0] != int64(1) {
		t.Error("Lookup result aliases the document")
	}
}

func TestPosition(t *testing.T) {
	d, err := Parse("t.toml", []byte(lookupSrc))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path      string
		line, col int
	}{
		{"top", 2, 1},
		{"server.hostname", 3, 1},
		{"transport.http", 5, 1},
		{"transport.http.listener.secured_port", 7, 1},
		{"mediation.internal.http_api_port", 10, 14},
	}
	for _, tt := range tests {
		line, col, ok := d.Position(tt.path)
		if !ok || line != tt.line || col != tt.col {
			t.Errorf("Position(%s) = %d:%d %v; want %d:%d", tt.path, line, col, ok, tt.line, tt.col)
		}
	}
	if _, _, ok := d.Position("missing.key"); ok {
		t.Error("Position of a missing key is ok")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"syntax", "[server]\nhostname = \"a\"\noffset = = 3\n", "t.toml:3:10: "},
		{"unterminated string", "[s]\na = \"abc\n", "t.toml:2:9: "},
		{"unclosed header", "[server\nx = 1\n", "t.toml:1:8: "},
		{"utf-8 column", "[s]\nä = 1\n", "t.toml:2:1: "},
		{"duplicate key", "[server]\noffset = 1\noffset = 2\n", "t.toml:3:1: duplicate key server.offset (defined at 2:1)"},
		{"duplicate via dotted", "[transport]\nhttp.port = 1\nhttp.port = 2\n", "t.toml:3:1: duplicate key transport.http.port"},
		{"table twice", "[server]\n[user_store]\n[server]\n", "t.toml:3:1: table [server] is defined twice"},
		{"header over dotted table", "[a]\nb.c = 1\n[a.b]\n", "t.toml:3:1: table [a.b] is defined twice"},
		{"header over value", "[a]\nb = 1\n[a.b.c]\n", "t.toml:3:4: cannot define table [a.b.c]: a.b is already an integer"},
		{"dotted key into header table", "[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n", "t.toml:4:1: cannot add keys to a.b here"},
		{"extend inline table", "[a]\nb = {c = 1}\n[a.b.d]\n", "t.toml:3:4: cannot define table [a.b.d]: a.b is an inline table"},
		{"array of tables over table", "[a]\n[[a]]\n", "t.toml:2:1: cannot define array of tables [[a]]"},
		{"table over array of tables", "[[a]]\n[a]\n", "t.toml:2:1: table [a] is defined twice: a is already an array of tables"},
		{"duplicate in inline table", "a = {b = 1, b = 2}\n", "t.toml:1:13: duplicate key a.b"},
		{"integer overflow", "a = 9223372036854775808\n", "t.toml:1:5: invalid integer"},
		{"bad date", "a = 1979-13-27\n", "t.toml:1:5: invalid date/time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tt.src))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not an *Error", err)
			}
			if e.File != "t.toml" || e.Line < 1 || e.Col < 1 || e.Msg == "" {
				t.Errorf("bad *Error fields: %+v", e)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q, want prefix %q", err, tt.want)
			}
		})
	}
}

// Valid TOML that a strict parser might wrongly refuse.
func TestParseValid(t *testing.T) {
	for _, src := range []string{
		"[fruit]\napple.color = \"red\"\n[fruit.apple.texture]\nsmooth = true\n",
		"[x.y.z.w]\n[x]\n",
		"[a.b]\nc = 1\n[a]\nd = 2\n",
		"[[fruits]]\nname = \"apple\"\n[fruits.physical]\ncolor = \"red\"\n[[fruits]]\nname = \"banana\"\n",
		"\xef\xbb\xbf[server]\noffset = 1\n",
		"",
		"\n\n# only comments\n",
	} {
		if _, err := Parse("t.toml", []byte(src)); err != nil {
			t.Errorf("Parse(%q): %v", src, err)
		}
	}
}

func TestBasePortsAndOffset(t *testing.T) {
	tests := []struct {
		name, src  string
		want       ports.Set
		offset     int
		offsetSet  bool
		err, errAt string
	}{
		{name: "defaults", src: string(Template()), want: ports.DefaultBases(), offset: ports.DefaultOffset},
		{name: "explicit", src: "[server]\noffset = 3\n[transport.http]\nlistener.port = 8300\nlistener.secured_port = 8343\n[mediation]\ninternal_http_api_port = 9291\ninternal_https_api_port = 9254\n",
			want: ports.Set{8300, 8343, 9291, 9254}, offset: 3, offsetSet: true},
		{name: "inline and dotted", src: "server.offset = 0\ntransport.http = { listener.port = 1025 }\n",
			want: ports.Set{1025, 8243, 9191, 9154}, offset: 0, offsetSet: true},
		{name: "string port", src: "[transport.http]\nlistener.port = \"8300\"\n",
			err: `transport.http.listener.port = "8300": must be a port, an integer from 1 to 65535, not a string`, errAt: "t.toml:2:17: "},
		// MI resolves these as it starts; a plan needs the number first.
		{name: "port from the environment", src: "[transport.http]\nlistener.port = \"$env{HTTP_PORT}\"\n",
			err: `transport.http.listener.port = "$env{HTTP_PORT}": mictl plans every instance's ports from this key before MI starts, and does not resolve MI's $env{} and $sys{} placeholders: write the port itself (MI adds each instance's offset to it), or remove the line for MI's default, 8280`, errAt: "t.toml:2:17: "},
		{name: "port out of range", src: "[mediation]\ninternal_http_api_port = 70000\n",
			err: "mediation.internal_http_api_port = 70000: must be a port from 1 to 65535", errAt: "t.toml:2:26: "},
		{name: "port is a table", src: "[transport.http.listener.port]\n",
			err: "must be a port", errAt: "t.toml:1:1: "},
		// Every offset shifts both alike: no plan separates them, and
		// check-conflicts failed with exit 3, naming neither file nor line.
		{name: "one port for two roles, the other's default", src: "[transport.http]\nlistener.port = 8243\n",
			err: "transport.http.listener.port = 8243: 8243 is the https port too (MI's default for transport.http.listener.secured_port)", errAt: "t.toml:2:17: "},
		{name: "one port for two roles, both set", src: "[mediation]\ninternal_http_api_port = 9300\ninternal_https_api_port = 9300\n",
			err: "mediation.internal_https_api_port = 9300: 9300 is the internal_http port too (mediation.internal_http_api_port)", errAt: "t.toml:3:27: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse("t.toml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.BasePorts()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), tt.errAt) {
					t.Fatalf("BasePorts error = %v; want %s...%s", err, tt.errAt, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("BasePorts = %v, %v; want %v", got, err, tt.want)
			}
			off, set, err := d.Offset()
			if err != nil || off != tt.offset || set != tt.offsetSet {
				t.Errorf("Offset = %d, %v, %v; want %d, %v", off, set, err, tt.offset, tt.offsetSet)
			}
		})
	}
	for src, want := range map[string]string{
		"[server]\noffset = \"10\"\n": "t.toml:2:10: server.offset = \"10\": must be a port offset",
		"[server]\noffset = -1\n":     "t.toml:2:10: server.offset = -1: must be a port offset from 0 to 65535",
		"[server]\noffset = 1.5\n":    "not a float",
		"[server]\noffset = \"$sys{offset}\"\n": `server.offset = "$sys{offset}": mictl plans every instance's ports from this key before MI starts, ` +
			`and does not resolve MI's $env{} and $sys{} placeholders: remove the line: mictl gives each instance its own offset`,
	} {
		d, err := Parse("t.toml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.Offset(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Offset(%q) error = %v; want %q", src, err, want)
		}
	}
}

func TestRender(t *testing.T) {
	off := 5
	out, err := Render("t.toml", Template(), &off, map[string]any{"server.hostname": "mi1.local"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse("out", out)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok, _ := d.Offset(); o != 5 || !ok {
		t.Errorf("Offset = %d, %v", o, ok)
	}
	// offset_method = flag: nil offset leaves the source alone.
	same, err := Render("t.toml", Template(), nil, nil)
	if err != nil || string(same) != string(Template()) {
		t.Errorf("Render with nothing to do changed the file (%v)", err)
	}
}

func TestRenderErrors(t *testing.T) {
	src := []byte("[server]\nhostname = \"a\"\n\n[[datasource]]\nid = \"x\"\n")
	off := 1
	tests := []struct {
		name      string
		offset    *int
		overrides map[string]any
		want      []string
	}{
		{"through [[datasource]]", &off, map[string]any{"datasource.url": "jdbc:x"},
			[]string{`override "datasource.url"`, "t.toml:4:1:", "array of tables"}},
		{"unsupported type", &off, map[string]any{"server.hostname": map[string]any{}},
			[]string{`override "server.hostname": the value is a table`}},
		{"port not an integer", &off, map[string]any{"transport.http.listener.port": "8300"},
			[]string{"transport.http.listener.port", "must be a port"}},
		{"offset twice", &off, map[string]any{"server.offset": 3},
			[]string{`override "server.offset"`, "sets the port offset itself"}},
		{"same key twice", nil, map[string]any{"server.offset": 3, `"server".offset`: 4},
			[]string{"name the same key"}},
		{"bad path", nil, map[string]any{"a..b": 1}, []string{`override "a..b"`, "invalid key path"}},
		{"negative offset", intp(-1), nil, []string{"port offset -1 out of range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Render("t.toml", src, tt.offset, tt.overrides)
			if err == nil || out != nil {
				t.Fatalf("Render = %q, %v; want no bytes and an error", out, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := Render("bad.toml", []byte("[server\n"), &off, nil); err == nil || !strings.HasPrefix(err.Error(), "bad.toml:1:8: ") {
		t.Errorf("malformed source: %v", err)
	}
	// offset_method = flag may carry the offset as an override.
	if _, err := Render("t.toml", src, nil, map[string]any{"server.offset": 3}); err != nil {
		t.Errorf("flag method with server.offset override: %v", err)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mi-1", "conf", "deployment.toml")
	if err := WriteFile(path, []byte("[server]\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (the file holds passwords)", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil || di.Mode().Perm()&^0o755 != 0 {
		t.Errorf("conf dir mode %v, %v", di.Mode().Perm(), err)
	}
	if err := WriteFile(path, []byte("[server]\noffset = 1\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "[server]\noffset = 1\n" {
		t.Errorf("rewrite: %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("rewritten mode %v", fi.Mode().Perm())
	}
}

// Found by FuzzRender: dotted keys after an inline table in the same table.
func TestDottedAfterInline(t *testing.T) {
	src := "a = \"\"\nserver.x = {y = 0}\nserver.z = 1\n"
	if got := mustSet(t, src, "server.offset", 3); got != src+"server.offset = 3\n" {
		t.Errorf("got %q", got)
	}
}

// Position returns the 1-based line and column of the key (or table header)
// that defines path: the positions errors name.
func (d *Document) Position(path string) (line, col int, ok bool) {
	n, ok := d.find(path)
	if !ok || n.pos < 0 {
		return 0, 0, false
	}
	line, col = lineCol(d.src, n.pos)
	return line, col, true
}
