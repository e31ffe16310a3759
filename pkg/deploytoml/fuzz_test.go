package deploytoml

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

func addSeeds(f *testing.F, add func(src []byte)) {
	files := sources(f)
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		add(src)
	}
	add(Template())
}

// FuzzRender: whenever Parse accepts a source whose ports and offset are
// valid, Render with an offset gives a file that parses, holds that offset,
// and reads back every other value unchanged. Run it by hand:
//
//	go test ./pkg/deploytoml -run '^$' -fuzz FuzzRender -fuzztime 20s
func FuzzRender(f *testing.F) {
	addSeeds(f, func(src []byte) {
		f.Add(src, uint16(0), "")
		f.Add(src, uint16(37), "transport.http.listener.port")
	})
	f.Fuzz(func(t *testing.T, src []byte, offset uint16, key string) {
		d, err := Parse("fuzz.toml", src)
		if err != nil {
			return
		}
		if _, err := d.BasePorts(); err != nil {
			return
		}
		off := int(offset)
		out, err := Render("fuzz.toml", src, &off, nil)
		if err != nil {
			// Legitimate only when the source makes server.offset
			// unreachable: server is a value, an array of tables or
			// the offset is a table.
			if strings.Contains(err.Error(), "bug in mictl") {
				t.Fatalf("Render: %v", err)
			}
			if n, ok := d.find("server"); ok && n.kind == kTable {
				if o, ok := n.children["offset"]; !ok || o.kind == kValue {
					t.Fatalf("Render refused a reachable server.offset: %v", err)
				}
			}
			return
		}
		d2, err := Parse("out.toml", out)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%q", err, out)
		}
		if got, ok, err := d2.Offset(); err != nil || !ok || got != off {
			t.Fatalf("Offset() = %d, %v, %v; want %d", got, ok, err, off)
		}
		// One more override at a fuzzed path: it either fails with an
		// error or reads back, and the file still parses.
		if parts, err := splitPath(key); err == nil && joinPath(parts) != "server.offset" {
			out2, err := Render("fuzz.toml", src, &off, map[string]any{key: 1024})
			if err != nil {
				if strings.Contains(err.Error(), "bug in mictl") {
					t.Fatalf("Render with %q: %v", key, err)
				}
			} else if d3, err := Parse("out.toml", out2); err != nil {
				t.Fatalf("output with %q does not parse: %v", key, err)
			} else if v, ok := d3.Lookup(key); !ok || v != int64(1024) {
				t.Fatalf("Lookup(%q) = %v, %v", key, v, ok)
			}
		}
		before, after := toAny(d.root).(map[string]any), toAny(d2.root).(map[string]any)
		deletePath(before, []string{"server", "offset"})
		deletePath(after, []string{"server", "offset"})
		prune(before)
		prune(after)
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("values changed:\n%v\n%v", before, after)
		}
	})
}

// FuzzParseAgrees: this package and go-toml's own decoder accept the same
// documents (both follow the TOML spec; a difference is a bug in one).
func FuzzParseAgrees(f *testing.F) {
	addSeeds(f, func(src []byte) { f.Add(src) })
	f.Fuzz(func(t *testing.T, src []byte) {
		_, err := Parse("fuzz.toml", src)
		var m map[string]any
		gerr := toml.Unmarshal(src, &m)
		if (err == nil) != (gerr == nil) {
			t.Fatalf("deploytoml: %v\ngo-toml: %v\nsource: %q", err, gerr, src)
		}
	})
}

// FuzzSplitBarePath checks the split without the parser against the
// parser: wherever it takes a path, it splits it as TOML does.
func FuzzSplitBarePath(f *testing.F) {
	for _, seed := range []string{
		"server.offset", "transport.http.listener.port", "a", "a-b_c.D9",
		"", ".", "a.", ".a", "a..b", "a. b", " a.b", "a.\"b.c\".d", "a.'b'", "ä.b", "a.b=1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		bare, ok := splitBarePath(path)
		if !ok {
			return
		}
		parsed, err := parsePath(path)
		if err != nil {
			t.Fatalf("splitBarePath(%q) = %q, but TOML refuses the path: %v", path, bare, err)
		}
		if !slices.Equal(bare, parsed) {
			t.Fatalf("splitBarePath(%q) = %q, TOML splits it into %q", path, bare, parsed)
		}
	})
}
