package deploytoml

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// mustSet sets path and asserts the result re-parses and reads back value.
func mustSet(t *testing.T, src, path string, value any) string {
	t.Helper()
	d, err := Parse("t.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := d.Set(path, value); err != nil {
		t.Fatalf("Set(%s): %v", path, err)
	}
	out := d.Bytes()
	d2, err := Parse("t.toml", out)
	if err != nil {
		t.Fatalf("result does not parse: %v\n%s", err, out)
	}
	_, norm, _ := encodeValue(value)
	if got, ok := d2.Lookup(path); !ok || !sameValue(got, norm) {
		t.Fatalf("Lookup(%s) after Set = %#v, %v; want %#v", path, got, ok, norm)
	}
	return string(out)
}

func TestSet(t *testing.T) {
	tests := []struct {
		name, src, path string
		value           any
		want            string
	}{
		{"present keeps trailing comment",
			"[server]\nhostname = \"a\"   # the host\noffset = 10 # default\n",
			"server.offset", 11,
			"[server]\nhostname = \"a\"   # the host\noffset = 11 # default\n"},
		{"absent after last key, before comments of the next table",
			"[server]\nhostname = \"a\"\n#offset = 10\n\n# next\n[user_store]\ntype = \"x\"\n",
			"server.offset", 3,
			"[server]\nhostname = \"a\"\noffset = 3\n#offset = 10\n\n# next\n[user_store]\ntype = \"x\"\n"},
		{"odd commented offset",
			"[server]\nhostname = \"a\"\n#offset  = 10\n",
			"server.offset", 10,
			"[server]\nhostname = \"a\"\noffset = 10\n#offset  = 10\n"},
		{"indentation of the last key",
			"[server]\n  hostname = \"a\"\n",
			"server.offset", 1,
			"[server]\n  hostname = \"a\"\n  offset = 1\n"},
		{"table without keys",
			"[server]\n# nothing yet\n\n[x]\n",
			"server.offset", 1,
			"[server]\noffset = 1\n# nothing yet\n\n[x]\n"},
		{"[transport.http] exists",
			"[transport.http]\nlistener.secured_port = 8243\n\n[mediation]\n",
			"transport.http.listener.port", 8300,
			"[transport.http]\nlistener.secured_port = 8243\nlistener.port = 8300\n\n[mediation]\n"},
		{"only [transport] exists: dotted key in it",
			"[transport]\njms.sender_enable = false\n",
			"transport.http.listener.port", 8300,
			"[transport]\njms.sender_enable = false\nhttp.listener.port = 8300\n"},
		{"transport only implicit: new [transport.http]",
			"[transport.jms]\nsender_enable = false\n",
			"transport.http.listener.port", 8300,
			"[transport.jms]\nsender_enable = false\n\n[transport.http]\nlistener.port = 8300\n"},
		{"no table: appended after a blank line",
			"[server]\nhostname = \"a\"\n",
			"transport.http.listener.port", 8300,
			"[server]\nhostname = \"a\"\n\n[transport.http]\nlistener.port = 8300\n"},
		{"no table, file ends with a blank line",
			"[server]\nhostname = \"a\"\n\n",
			"mediation.internal_http_api_enable", true,
			"[server]\nhostname = \"a\"\n\n[mediation]\ninternal_http_api_enable = true\n"},
		{"no table, empty file",
			"",
			"server.offset", 4,
			"[server]\noffset = 4\n"},
		{"no trailing newline: present",
			"[server]\noffset = 1",
			"server.offset", 2,
			"[server]\noffset = 2"},
		{"no trailing newline: insert",
			"[server]\nhostname = \"a\"",
			"server.offset", 2,
			"[server]\nhostname = \"a\"\noffset = 2"},
		{"no trailing newline: append table",
			"[server]\nhostname = \"a\"",
			"mediation.x", 2,
			"[server]\nhostname = \"a\"\n\n[mediation]\nx = 2"},
		{"CRLF insert",
			"[server]\r\nhostname = \"a\"\r\n\r\n[x]\r\n",
			"server.offset", 5,
			"[server]\r\nhostname = \"a\"\r\noffset = 5\r\n\r\n[x]\r\n"},
		{"CRLF append",
			"[server]\r\nhostname = \"a\"\r\n",
			"mediation.x", 1,
			"[server]\r\nhostname = \"a\"\r\n\r\n[mediation]\r\nx = 1\r\n"},
		{"dotted keys in root",
			"server.hostname = \"a\"\n\n[other]\n",
			"server.offset", 7,
			"server.hostname = \"a\"\nserver.offset = 7\n\n[other]\n"},
		{"root key",
			"a = 1\n\n[server]\n",
			"b", 2,
			"a = 1\nb = 2\n\n[server]\n"},
		{"root key, no root keys yet",
			"# head\n[server]\n",
			"b", 2,
			"b = 2\n\n# head\n[server]\n"},
		{"inside inline table: replace",
			"[transport]\nhttp = { listener.port = 8281 } # c\n",
			"transport.http.listener.port", 8300,
			"[transport]\nhttp = { listener.port = 8300 } # c\n"},
		{"inside inline table: insert",
			"[transport]\nhttp = { listener.port = 8281 } # c\n",
			"transport.http.listener.secured_port", 8244,
			"[transport]\nhttp = { listener.port = 8281, listener.secured_port = 8244 } # c\n"},
		{"empty inline table",
			"x = {}\n",
			"x.a", "b",
			"x = {a = \"b\"}\n"},
		{"header with spaces and dotted key with spaces",
			"[ transport . http ]\nlistener . port = 1\n",
			"transport.http.listener.port", 2,
			"[ transport . http ]\nlistener . port = 2\n"},
		{"quoted keys",
			"[system.parameter]\n\"carbon.home\" = \"x\"\n",
			`system.parameter."carbon.home"`, "y",
			"[system.parameter]\n\"carbon.home\" = \"y\"\n"},
		{"new quoted key",
			"[system.parameter]\n",
			`system.parameter."a b"`, 1,
			"[system.parameter]\n\"a b\" = 1\n"},
		{"multi-line value replaced whole",
			"[m]\nprotocols = [\"a\",\n  \"b\"] # kept\n",
			"m.protocols", []string{"c"},
			"[m]\nprotocols = [\"c\"] # kept\n"},
		{"type change", "[s]\nv = \"8280\"\n", "s.v", 8280, "[s]\nv = 8280\n"},
		{"string escapes", "[s]\n", "s.v", "a\"b\\c\nd\te\x01",
			"[s]\nv = \"a\\\"b\\\\c\\nd\\te\\u0001\"\n"},
		{"unicode string", "[s]\n", "s.v", "héllo ✓", "[s]\nv = \"héllo ✓\"\n"},
		{"float", "[s]\n", "s.v", 1.5, "[s]\nv = 1.5\n"},
		{"whole float", "[s]\n", "s.v", 3.0, "[s]\nv = 3.0\n"},
		{"big float", "[s]\n", "s.v", 1e300, "[s]\nv = 1e+300\n"},
		{"inf", "[s]\n", "s.v", math.Inf(-1), "[s]\nv = -inf\n"},
		{"nan", "[s]\n", "s.v", math.NaN(), "[s]\nv = nan\n"},
		{"negative int", "[s]\n", "s.v", int64(-5), "[s]\nv = -5\n"},
		{"uint", "[s]\n", "s.v", uint16(80), "[s]\nv = 80\n"},
		{"bool", "[s]\n", "s.v", false, "[s]\nv = false\n"},
		{"array", "[s]\n", "s.v", []any{1, "a", true, 2.5, []any{}}, "[s]\nv = [1, \"a\", true, 2.5, []]\n"},
		{"typed slice", "[s]\n", "s.v", []int{1, 2}, "[s]\nv = [1, 2]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustSet(t, tt.src, tt.path, tt.value); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		name, src, path string
		value           any
		want            string // in the message
		pos             string // "line:col" of the *Error, if any
	}{
		{"through array of tables", "[[datasource]]\nid = \"a\"\n[[datasource]]\nid = \"b\"\n",
			"datasource.id", "c", "datasource is an array of tables ([[datasource]], 2 of them)", "1:1"},
		{"below array of tables", "[[datasource]]\nid = \"a\"\n",
			"datasource.pool.max", 1, "array of tables", "1:1"},
		{"through a value", "[server]\nhostname = \"a\"\n",
			"server.hostname.x", 1, "server.hostname is a string, not a table", "2:1"},
		{"through a static array", "[m]\nl = [1]\n",
			"m.l.x", 1, "m.l is an array, not a table", "2:1"},
		{"a table", "[server]\nhostname = \"a\"\n",
			"server", 1, "it is a table, not a value", "1:1"},
		{"an inline table", "x = {a = 1}\n",
			"x", 1, "it is a table", "1:1"},
		{"map value", "[s]\n", "s.v", map[string]any{"a": 1}, "the value is a table, and only single values can be written: set each of its keys by its own dotted path", ""},
		{"struct value", "[s]\n", "s.v", struct{}{}, "unsupported value type", ""},
		{"nil", "[s]\n", "s.v", nil, "nil value", ""},
		{"map in array", "[s]\n", "s.v", []any{1, map[string]any{}}, "element 1: the value is a table", ""},
		{"uint64 overflow", "[s]\n", "s.v", uint64(math.MaxUint64), "does not fit", ""},
		{"invalid UTF-8", "[s]\n", "s.v", "\xff", "not valid UTF-8", ""},
		{"empty path", "[s]\n", "", 1, "empty key path", ""},
		{"bad path", "[s]\n", "a..b", 1, "invalid key path", ""},
		{"path with a value", "[s]\n", "a = 1", 1, "invalid key path", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse("t.toml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			before := string(d.Bytes())
			err = d.Set(tt.path, tt.value)
			if err == nil {
				t.Fatalf("Set succeeded:\n%s", d.Bytes())
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.pos != "" {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v is not an *Error", err)
				}
				if !strings.HasPrefix(err.Error(), "t.toml:"+tt.pos+": ") {
					t.Errorf("error %q not at %s", err, tt.pos)
				}
			}
			if string(d.Bytes()) != before {
				t.Errorf("failed Set changed the document")
			}
		})
	}
}

// Several edits in a row keep every earlier one.
func TestSetSequence(t *testing.T) {
	d, err := Parse("t.toml", Template())
	if err != nil {
		t.Fatal(err)
	}
	sets := []struct {
		path string
		v    any
	}{
		{"server.offset", 1}, {"server.offset", 2}, {"transport.http.listener.port", 8300},
		{"transport.http.listener.secured_port", 8343}, {"transport.http.listener.port", 8301},
		{"mediation.internal_http_api_port", 9300}, {"a.b.c.d", "x"}, {"a.b.e", "y"},
	}
	for _, s := range sets {
		if err := d.Set(s.path, s.v); err != nil {
			t.Fatalf("Set(%s): %v", s.path, err)
		}
	}
	want := map[string]any{
		"server.offset": int64(2), "transport.http.listener.port": int64(8301),
		"transport.http.listener.secured_port": int64(8343), "mediation.internal_http_api_port": int64(9300),
		"a.b.c.d": "x", "a.b.e": "y", "server.hostname": "localhost",
	}
	for k, v := range want {
		if got, ok := d.Lookup(k); !ok || got != v {
			t.Errorf("Lookup(%s) = %v, %v; want %v", k, got, ok, v)
		}
	}
	if strings.Count(string(d.Bytes()), "\n[transport.http]") != 1 {
		t.Errorf("[transport.http] appended more than once:\n%s", d.Bytes())
	}
}
