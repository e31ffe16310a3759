package config

import (
	"encoding"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

type position struct{ line, col int }

// keyIndex maps where each key of mictl.toml stands, so that a value that
// parses but is wrong (offset_step = 0) is reported at its line and column.
// Keys inside the i-th [[instance]] table are "instance.<i>.<key>"; the
// table header itself is "instance.<i>". The j-th element of an array is
// "<key>.<j>" (0-based), where it has a position: a nested array has none.
type keyIndex map[string]position

// valueIndex describes, by where it starts, every value of mictl.toml in
// the user's words ("the string \"two\""), for wrong-type errors, which
// the decoder reports at the value's position.
type valueIndex map[position]string

// indexKeys walks data with go-toml's low-level parser. It is only called
// on data that already decoded, so parse errors cannot occur here.
func indexKeys(data []byte) (keyIndex, valueIndex) {
	idx, values := keyIndex{}, valueIndex{}
	var p unstable.Parser
	p.Reset(data)
	prefix, tables := "", -1
	for p.NextExpression() {
		expr := p.Expression()
		switch expr.Kind {
		case unstable.ArrayTable:
			name := joinKey(expr.Key())
			if name == "instance" {
				tables++
				name = fmt.Sprintf("instance.%d", tables)
				idx.header(&p, name, expr)
			}
			prefix = name + "."
		case unstable.Table:
			name := joinKey(expr.Key())
			// [instance.overrides] belongs to the [[instance]] above it.
			if rest, ok := strings.CutPrefix(name, "instance."); ok && tables >= 0 {
				name = fmt.Sprintf("instance.%d.%s", tables, rest)
				idx.header(&p, name, expr)
			}
			prefix = name + "."
		case unstable.KeyValue:
			key := prefix + joinKey(expr.Key())
			overrides := fmt.Sprintf("instance.%d.overrides", tables)
			v := expr.Value()
			switch {
			case prefix == overrides+".":
				idx.override(&p, prefix, expr)
			case key == overrides && v.Kind == unstable.InlineTable:
				idx.put(&p, key, expr)
				for it := v.Children(); it.Next(); {
					if kv := it.Node(); kv.Kind == unstable.KeyValue {
						idx.override(&p, key+".", kv)
						values.put(&p, kv, kv.Value())
					}
				}
			default:
				idx.put(&p, key, expr)
			}
			values.put(&p, expr, v)
			idx.elements(&p, key, v)
		}
	}
	return idx, values
}

// put records v, the value of expr, at its position. A container value
// (an array) may come without its byte range: it is then recorded by the
// line of its key (column 0).
func (values valueIndex) put(p *unstable.Parser, expr, v *unstable.Node) {
	if v.Raw.Length > 0 {
		start := p.Shape(v.Raw).Start
		values[position{start.Line, start.Column}] = describeValue(v, p.Raw(v.Raw))
		return
	}
	if it := expr.Key(); it.Next() {
		line := p.Shape(it.Node().Raw).Start.Line
		values[position{line, 0}] = describeValue(v, nil)
	}
}

// at describes the value the decoder reported at line:col.
func (values valueIndex) at(line, col int) string {
	if d, ok := values[position{line, col}]; ok {
		return d
	}
	return values[position{line, 0}]
}

// describeValue names a TOML value's type, with the value itself when it
// is short: what a wrong-type error says the user wrote.
func describeValue(v *unstable.Node, raw []byte) string {
	text := string(raw)
	if len(text) > 40 {
		text = text[:37] + "..."
	}
	switch v.Kind {
	case unstable.String:
		return "the string " + text
	case unstable.Integer:
		return "the integer " + text
	case unstable.Float:
		return "the number " + text
	case unstable.Bool:
		return "the boolean " + text
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "an inline table"
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		return "the date/time " + text
	}
	return text
}

// describeDecoded names a decoded value as describeValue names one in the
// file, for the checks made after decoding, which have no node to read.
func describeDecoded(v any) string {
	switch x := v.(type) {
	case string:
		return "the string " + strconv.Quote(x)
	case int64:
		return fmt.Sprintf("the integer %d", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("the boolean %t", x)
	case map[string]any:
		return "a table"
	case []any:
		if len(x) > 0 && !slices.ContainsFunc(x, func(e any) bool { return !isTable(e) }) {
			return "an array of tables"
		}
		return "an array"
	case encoding.TextMarshaler: // time.Time and go-toml's local dates and times
		text, _ := x.MarshalText()
		return "the date/time " + string(text)
	}
	return fmt.Sprint(v)
}

func isTable(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

func (idx keyIndex) put(p *unstable.Parser, key string, n *unstable.Node) {
	it := n.Key()
	if it.Next() {
		n = it.Node()
	}
	shape := p.Shape(n.Raw)
	idx[key] = position{shape.Start.Line, shape.Start.Column}
}

// elements records where the elements of v, the value of key, stand when
// it is an array, so that a wrong element (capps = ["a.car", 3]) is
// reported at its own column.
func (idx keyIndex) elements(p *unstable.Parser, key string, v *unstable.Node) {
	if v.Kind != unstable.Array {
		return
	}
	it, j := v.Children(), 0
	for it.Next() {
		e := it.Node()
		if e.Kind == unstable.Comment {
			continue
		}
		if e.Raw.Length > 0 {
			start := p.Shape(e.Raw).Start
			idx[fmt.Sprintf("%s.%d", key, j)] = position{start.Line, start.Column}
		}
		j++
	}
}

// header records where the table header expr stands: at the start of its
// line, the "[" of "[[instance]]" or "[instance.overrides]".
func (idx keyIndex) header(p *unstable.Parser, key string, expr *unstable.Node) {
	idx.put(p, key, expr)
	idx[key] = position{idx[key].line, 1}
}

// override records where the override kv of an [[instance]] stands, as
// prefix ("instance.<i>.overrides.") and its name: the first part of kv's
// key, which is the whole dotted path when quoted ("transport.http.port")
// and, written with bare dots, the table that holds the rest, which is
// placed at the first of the keys that write it.
func (idx keyIndex) override(p *unstable.Parser, prefix string, kv *unstable.Node) {
	it := kv.Key()
	it.Next()
	key := prefix + string(it.Node().Data)
	if _, seen := idx[key]; !seen {
		idx.put(p, key, kv)
	}
}

// table is where the i-th [[instance]] header stands.
func (idx keyIndex) table(i int) position {
	return idx[fmt.Sprintf("instance.%d", i)]
}

// at renders the position of key as file:line:col, or fallback.
func (idx keyIndex) at(key, fallback, path string) string {
	if pos, ok := idx[key]; ok {
		return fmt.Sprintf("%s:%d:%d", path, pos.line, pos.col)
	}
	return fallback
}

func joinKey(it unstable.Iterator) string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}
