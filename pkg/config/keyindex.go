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

// indexKeys walks data with go-toml's low-level parser. It is only called
// on data that already decoded, so parse errors cannot occur here.
func indexKeys(data []byte) keyIndex {
	idx := keyIndex{}
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
		}
	}
	return idx
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
