package config

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

type position struct{ line, col int }

// keyIndex maps where each key of mictl.toml stands, so that a value that
// parses but is wrong (offset_step = 0) is reported at its line and column.
// Keys inside the i-th [[instance]] table are "instance.<i>.<key>"; the
// table header itself is "instance.<i>".
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
				prefix = fmt.Sprintf("instance.%d.", tables)
				idx.put(&p, strings.TrimSuffix(prefix, "."), expr)
				// Point at the header's "[[", the start of its line.
				pos := idx[strings.TrimSuffix(prefix, ".")]
				idx[strings.TrimSuffix(prefix, ".")] = position{pos.line, 1}
			} else {
				prefix = name + "."
			}
		case unstable.Table:
			prefix = joinKey(expr.Key()) + "."
		case unstable.KeyValue:
			idx.put(&p, prefix+joinKey(expr.Key()), expr)
			if v := expr.Value(); v != nil {
				values.put(&p, expr, v)
			}
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

func (idx keyIndex) put(p *unstable.Parser, key string, n *unstable.Node) {
	it := n.Key()
	if it.Next() {
		n = it.Node()
	}
	shape := p.Shape(n.Raw)
	idx[key] = position{shape.Start.Line, shape.Start.Column}
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
