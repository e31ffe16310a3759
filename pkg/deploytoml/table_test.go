package deploytoml

import (
	"fmt"
	"strings"
	"testing"
)

// The edits mictl deploy and mictl undeploy make to mictl.toml: a CApp
// path added to (or removed from) the top-level capps array or the capps
// of one [[instance]], every other byte kept.

func TestAppendToArray(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"missing key: a root key line after the last one",
			"instances = 3 # three\n\n# per instance\n[[instance]]\nname = \"mi-2\"\n",
			"instances = 3 # three\ncapps = [\"new.car\"]\n\n# per instance\n[[instance]]\nname = \"mi-2\"\n"},
		{"missing key in a file of comments only: first line",
			"# mictl\n",
			"capps = [\"new.car\"]\n\n# mictl\n"},
		{"empty file", "", "capps = [\"new.car\"]\n"},
		{"empty array", "capps = []\n", "capps = [\"new.car\"]\n"},
		{"empty array with a comment inside",
			"capps = [\n  # none yet\n]\n",
			"capps = [\"new.car\"\n  # none yet\n]\n"},
		{"one line",
			"capps = [\"a.car\", \"b.car\"] # mine\n",
			"capps = [\"a.car\", \"b.car\", \"new.car\"] # mine\n"},
		{"one line, trailing comma",
			"capps = [\"a.car\",]\n",
			"capps = [\"a.car\", \"new.car\",]\n"},
		{"one per line, trailing commas and comments",
			"capps = [\n    \"a.car\",   # orders\n    \"b.car\",   # billing\n]\nx = 1\n",
			"capps = [\n    \"a.car\",   # orders\n    \"b.car\",   # billing\n    \"new.car\",\n]\nx = 1\n"},
		{"one per line, no trailing comma",
			"capps = [\n  \"a.car\", # orders\n  \"b.car\" # billing\n]\n",
			"capps = [\n  \"a.car\", # orders\n  \"b.car\", # billing\n  \"new.car\"\n]\n"},
		{"one per line, bracket on the last line",
			"capps = [\"a.car\",\n         \"b.car\"]\n",
			"capps = [\"a.car\",\n         \"b.car\",\n         \"new.car\"]\n"},
		{"literal strings kept",
			"capps = ['a.car']\n",
			"capps = ['a.car', \"new.car\"]\n"},
		{"CRLF",
			"# c\r\ncapps = [\r\n  \"a.car\",\r\n]\r\n",
			"# c\r\ncapps = [\r\n  \"a.car\",\r\n  \"new.car\",\r\n]\r\n"},
		{"BOM, missing key",
			"\ufeff# mictl\r\ninstances = 2\r\n",
			"\ufeff# mictl\r\ninstances = 2\r\ncapps = [\"new.car\"]\r\n"},
		{"missing key with a commented-out example: right below it",
			"# every instance\n# capps = [\"build/x.car\"]\n\n# the user\nmanagement_user = \"ops\"\n",
			"# every instance\n# capps = [\"build/x.car\"]\ncapps = [\"new.car\"]\n\n# the user\nmanagement_user = \"ops\"\n"},
		{"an example in a commented-out table is that table's",
			"instances = 2\n\n# [[instance]]\n# name = \"mi-2\"\n# capps = [\"e.car\"]\n",
			"instances = 2\ncapps = [\"new.car\"]\n\n# [[instance]]\n# name = \"mi-2\"\n# capps = [\"e.car\"]\n"},
		{"an example in a multi-line value is no line of its own",
			"x = [\n  # capps = []\n  1,\n]\n",
			"x = [\n  # capps = []\n  1,\n]\ncapps = [\"new.car\"]\n"},
		{"an example of another key that begins the same is not this one's",
			"# capps_dir = \"x\"\ninstances = 2\n",
			"# capps_dir = \"x\"\ninstances = 2\ncapps = [\"new.car\"]\n"},
		{"an example in an [[instance]] is that table's, not the top level's",
			"instances = 2\n\n[[instance]]\nname = \"mi-2\"\n# capps = [\"e.car\"]\n",
			"instances = 2\ncapps = [\"new.car\"]\n\n[[instance]]\nname = \"mi-2\"\n# capps = [\"e.car\"]\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustParse(t, tc.src)
			added, err := d.Root().AppendToArray("capps", "new.car")
			if err != nil || !added {
				t.Fatalf("AppendToArray = %v, %v", added, err)
			}
			if got := string(d.Bytes()); got != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
			// A second time changes nothing.
			added, err = d.Root().AppendToArray("capps", "new.car")
			if err != nil || added || string(d.Bytes()) != tc.want {
				t.Fatalf("again: %v, %v\n%q", added, err, d.Bytes())
			}
		})
	}
}

func TestRemoveFromArray(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"one line, first", "capps = [\"old.car\", \"b.car\"]\n", "capps = [\"b.car\"]\n"},
		{"one line, last", "capps = [\"a.car\", \"old.car\"]\n", "capps = [\"a.car\"]\n"},
		{"one line, middle", "capps = [\"a.car\", \"old.car\", \"b.car\"]\n", "capps = [\"a.car\", \"b.car\"]\n"},
		{"the only one", "capps = [\"old.car\"] # left empty\n", "capps = [] # left empty\n"},
		{"its own line goes with its comment",
			"capps = [\n  \"a.car\", # orders\n  \"old.car\", # old\n  \"b.car\"\n]\n",
			"capps = [\n  \"a.car\", # orders\n  \"b.car\"\n]\n"},
		{"last on its own line, no comma",
			"capps = [\n  \"a.car\",\n  \"old.car\"\n]\n",
			"capps = [\n  \"a.car\",\n]\n"},
		{"bracket on its line",
			"capps = [\"a.car\",\n         \"old.car\"]\n",
			"capps = [\"a.car\",\n         ]\n"},
		{"listed twice", "capps = [\"old.car\", \"a.car\", \"old.car\"]\n", "capps = [\"a.car\"]\n"},
		{"CRLF",
			"capps = [\r\n  \"old.car\",\r\n  \"a.car\",\r\n]\r\n",
			"capps = [\r\n  \"a.car\",\r\n]\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustParse(t, tc.src)
			removed, err := d.Root().RemoveFromArray("capps", "old.car")
			if err != nil || !removed {
				t.Fatalf("RemoveFromArray = %v, %v", removed, err)
			}
			if got := string(d.Bytes()); got != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
			removed, err = d.Root().RemoveFromArray("capps", "old.car")
			if err != nil || removed {
				t.Fatalf("again: %v, %v", removed, err)
			}
		})
	}
}

const mictlTOML = "\ufeff# mictl configuration\r\ninstances = 3\r\n\r\n" +
	"# the edge instance\r\n[[instance]]\r\nname = \"mi-2\" # edge\r\noffset = 30\r\n\r\n" +
	"[[instance]]\r\nname = \"mi-3\"\r\ncapps = [\r\n  \"a.car\", # orders\r\n]\r\n" +
	"overrides = { \"server.hostname\" = \"mi-3.local\" }\r\n"

func TestElementEdits(t *testing.T) {
	d := mustParse(t, mictlTOML)
	if _, ok := d.Element("instance", "name", "mi-9"); ok {
		t.Fatal("found an [[instance]] named mi-9")
	}
	mi2, ok := d.Element("instance", "name", "mi-2")
	if !ok {
		t.Fatal("no [[instance]] named mi-2")
	}
	mi3, _ := d.Element("instance", "name", "mi-3")
	if _, err := mi2.AppendToArray("capps", "new.car"); err != nil {
		t.Fatal(err)
	}
	if _, err := mi3.AppendToArray("capps", "new.car"); err != nil {
		t.Fatal(err)
	}
	want := "\ufeff# mictl configuration\r\ninstances = 3\r\n\r\n" +
		"# the edge instance\r\n[[instance]]\r\nname = \"mi-2\" # edge\r\noffset = 30\r\ncapps = [\"new.car\"]\r\n\r\n" +
		"[[instance]]\r\nname = \"mi-3\"\r\ncapps = [\r\n  \"a.car\", # orders\r\n  \"new.car\",\r\n]\r\n" +
		"overrides = { \"server.hostname\" = \"mi-3.local\" }\r\n"
	if got := string(d.Bytes()); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if v, _ := d.Root().Lookup("capps"); v != nil {
		t.Fatalf("the top level got capps = %v", v)
	}
	if _, err := mi3.RemoveFromArray("capps", "a.car"); err != nil {
		t.Fatal(err)
	}
	if v, _ := mi3.Lookup("capps"); len(v.([]any)) != 1 || v.([]any)[0] != "new.car" {
		t.Fatalf("mi-3 capps = %v", v)
	}
	if err := mi2.Set("offset", 31); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(d.Bytes()), "offset = 31\r\n") {
		t.Fatalf("offset not set in mi-2:\n%s", d.Bytes())
	}
}

func TestNewElementThenAppend(t *testing.T) {
	d := mustParse(t, "instances = 2\n")
	if err := d.AppendArrayElement("instance", []KeyValue{{"name", "mi-2"}}); err != nil {
		t.Fatal(err)
	}
	mi2, ok := d.Element("instance", "name", "mi-2")
	if !ok {
		t.Fatal("the new [[instance]] is not found")
	}
	if _, err := mi2.AppendToArray("capps", "x.car"); err != nil {
		t.Fatal(err)
	}
	want := "instances = 2\n\n[[instance]]\nname = \"mi-2\"\ncapps = [\"x.car\"]\n"
	if got := string(d.Bytes()); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

// An element AppendArrayElement made, emptied again, goes without a
// trace; one holding anything more stays.
func TestDeleteIfBare(t *testing.T) {
	const before = "instances = 2\n\n[[instance]]\nname = \"mi-1\" # mine\n\n[[instance]]\nname = \"mi-2\"\n[instance.overrides]\n\"a.b\" = 1\n"
	d := mustParse(t, before)
	if err := d.AppendArrayElement("instance", []KeyValue{{"name", "mi-3"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.AppendArrayElement("instance", []KeyValue{{"name", "mi-4"}}); err != nil {
		t.Fatal(err)
	}
	mi3, _ := d.Element("instance", "name", "mi-3")
	if _, err := mi3.AppendToArray("capps", "x.car"); err != nil {
		t.Fatal(err)
	}
	if deleted, err := mi3.DeleteIfBare(); deleted || err != nil {
		t.Fatalf("mi-3 with capps: deleted %v, %v", deleted, err)
	}
	if _, err := mi3.Delete("capps"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mi-3", "mi-4"} {
		el, _ := d.Element("instance", "name", name)
		if deleted, err := el.DeleteIfBare(); !deleted || err != nil {
			t.Fatalf("bare %s: deleted %v, %v", name, deleted, err)
		}
	}
	if got := string(d.Bytes()); got != before {
		t.Fatalf("after deleting what was added:\n%q\nwant\n%q", got, before)
	}
	for _, name := range []string{"mi-1", "mi-2"} { // a comment; a sub-table
		el, _ := d.Element("instance", "name", name)
		if deleted, err := el.DeleteIfBare(); deleted || err != nil {
			t.Errorf("%s: deleted %v, %v; want it kept", name, deleted, err)
		}
	}
	if deleted, err := d.Root().DeleteIfBare(); deleted || err != nil {
		t.Errorf("the root: deleted %v, %v", deleted, err)
	}
}

func TestArrayEditRefusals(t *testing.T) {
	d := mustParse(t, "capps = \"a.car\"\nnested = [[1], [2]]\n")
	src := string(d.Bytes())
	if _, err := d.Root().AppendToArray("capps", "x.car"); err == nil || !strings.Contains(err.Error(), "not an array") {
		t.Fatalf("append to a string: %v", err)
	}
	if _, err := d.Root().RemoveFromArray("nested", 1); err == nil || !strings.Contains(err.Error(), "edit it by hand") {
		t.Fatalf("remove from nested arrays: %v", err)
	}
	if string(d.Bytes()) != src {
		t.Fatal("a refused edit changed the document")
	}
	if removed, err := d.Root().RemoveFromArray("missing", "x"); removed || err != nil {
		t.Fatalf("remove from a missing key = %v, %v", removed, err)
	}
	gone := Table{d: d, array: "instance", key: "name", value: "mi-9"}
	if err := gone.Set("offset", 1); err == nil || !strings.Contains(err.Error(), `no [[instance]] table has name = "mi-9"`) {
		t.Fatalf("set in a missing element: %v", err)
	}
}

func mustParse(t *testing.T, src string) *Document {
	t.Helper()
	d, err := Parse("mictl.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// FuzzArrayEdits: on any document with an array of strings at key,
// appending a new string then removing it gives a document that parses
// and holds the array as it was, and changes no other value. Run it by
// hand:
//
//	go test ./pkg/deploytoml -run '^$' -fuzz FuzzArrayEdits -fuzztime 20s
func FuzzArrayEdits(f *testing.F) {
	for _, src := range []string{
		mictlTOML, "capps = []\n", "capps = [\"a\", 'b',]\n", "capps = [\n  \"a\", # c\n  \"b\"\n]\n",
		"capps = [ # c\n]\n", "capps = [\"a\",\n   \"b\"]\r\n", "x = 1\n[t]\ncapps = [\"a\"]\n",
	} {
		f.Add(src, "capps")
	}
	f.Fuzz(func(t *testing.T, src, key string) {
		d, err := Parse("fuzz.toml", []byte(src))
		if err != nil {
			return
		}
		before, ok := d.Lookup(key)
		vals, isArray := before.([]any)
		if !ok || !isArray {
			return
		}
		for _, v := range vals {
			if _, isString := v.(string); !isString {
				return
			}
		}
		added, err := d.Root().AppendToArray(key, "\x00new")
		if err != nil {
			if strings.Contains(err.Error(), "bug in mictl") {
				t.Fatalf("append: %v\n%q", err, src)
			}
			return
		}
		if !added {
			t.Fatalf("a new value was not added to %q", src)
		}
		removed, err := d.Root().RemoveFromArray(key, "\x00new")
		if err != nil || !removed {
			t.Fatalf("remove: %v, %v\n%q\n%q", removed, err, src, d.Bytes())
		}
		orig, _ := Parse("fuzz.toml", []byte(src))
		if fmt.Sprint(toAny(orig.root)) != fmt.Sprint(toAny(d.root)) {
			t.Fatalf("values changed:\n%q\n%q", src, d.Bytes())
		}
	})
}

func TestDelete(t *testing.T) {
	tests := []struct{ name, src, path, want string }{
		{"a line and its comment", "a = 1\ncapps = [] # none\nb = 2\n", "capps", "a = 1\nb = 2\n"},
		{"a multi-line array", "capps = [\n  # none\n]\r\nb = 2\r\n", "capps", "b = 2\r\n"},
		{"last line without newline", "a = 1\ncapps = []", "capps", "a = 1\n"},
		{"dotted", "[t]\nx.y = 1\nx.z = 2\n", "t.x.y", "[t]\nx.z = 2\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustParse(t, tc.src)
			deleted, err := d.Root().Delete(tc.path)
			if err != nil || !deleted {
				t.Fatalf("Delete = %v, %v", deleted, err)
			}
			if got := string(d.Bytes()); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	d := mustParse(t, mictlTOML)
	mi3, _ := d.Element("instance", "name", "mi-3")
	if _, err := mi3.Delete("capps"); err != nil {
		t.Fatal(err)
	}
	if v, ok := mi3.Lookup("capps"); ok {
		t.Fatalf("mi-3 still has capps = %v", v)
	}
	if !strings.Contains(string(d.Bytes()), "name = \"mi-3\"\r\noverrides = ") {
		t.Fatalf("got %q", d.Bytes())
	}
	for _, bad := range []struct{ src, path string }{
		{"t = { a = 1, b = 2 }\n", "t.a"},
		{"[t]\na = 1\n", "t"},
	} {
		d := mustParse(t, bad.src)
		if _, err := d.Root().Delete(bad.path); err == nil || !strings.Contains(err.Error(), "by hand") {
			t.Errorf("Delete(%q) in %q: %v", bad.path, bad.src, err)
		}
	}
	if deleted, err := d.Root().Delete("nothing"); deleted || err != nil {
		t.Fatalf("Delete of a missing key = %v, %v", deleted, err)
	}
}

// TOML lets a file write an array of tables inline, and MI reads it as
// [[synapse_handlers]]: metrics = true failed to render such a file
// ("synapse_handlers is array"). The handler goes into the inline array,
// once, whatever its layout and comments.
func TestAppendArrayElementToAnInlineArray(t *testing.T) {
	t.Parallel()
	const handler = `{ name = "H", class = "org.example.H" }, `
	for _, tc := range []struct{ name, src, want string }{
		{"one line", "synapse_handlers = [ { name = \"A\", class = \"a\" } ]\n[server]\n",
			"synapse_handlers = [" + handler + " { name = \"A\", class = \"a\" } ]\n[server]\n"},
		{"empty", "synapse_handlers = []\n", "synapse_handlers = [" + handler + "]\n"},
		{"lines with comments and a trailing comma", "synapse_handlers = [ # handlers\n  { name = \"A\", class = \"a\" }, # audit\n]\n",
			"synapse_handlers = [" + handler + " # handlers\n  { name = \"A\", class = \"a\" }, # audit\n]\n"},
		{"already there", "synapse_handlers = [{ name = \"H\", class = \"other\" }]\n", "synapse_handlers = [{ name = \"H\", class = \"other\" }]\n"},
	} {
		d := mustParse(t, tc.src)
		if err := d.AppendArrayElement("synapse_handlers", []KeyValue{{"name", "H"}, {"class", "org.example.H"}}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := string(d.Bytes()); got != tc.want {
			t.Errorf("%s: got\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
	d := mustParse(t, "synapse_handlers = \"H\"\n")
	err := d.AppendArrayElement("synapse_handlers", []KeyValue{{"name", "H"}})
	if err == nil || !strings.HasSuffix(err.Error(), "synapse_handlers is a string") {
		t.Errorf("synapse_handlers a string: %v, want it said so", err)
	}
}
