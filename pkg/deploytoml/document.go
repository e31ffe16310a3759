// Package deploytoml renders a Micro Integrator instance's conf/deployment.toml
// from the distribution's own file, changing only the keys mictl owns (the
// [server] offset and the user's per-instance overrides). Every other byte
// of the source, comments, blank lines, key order, spacing, CRLF line ends
// and keys mictl has never heard of, survives unchanged.
//
// The file is parsed with go-toml's unstable (AST) parser, which keeps the
// byte range of every key and value. On top of it this package builds the
// TOML table tree with TOML's own rules (duplicate keys, tables defined
// twice, dotted keys and inline tables that may not be extended), so a
// malformed file is an error with file:line:col, and an edit is a splice of
// the original bytes at a known offset.
package deploytoml

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Document is a parsed deployment.toml that can be read and edited without
// losing its layout. It is not safe for concurrent use.
type Document struct {
	name string
	src  []byte
	root *node
	secs []*section
}

type nodeKind uint8

const (
	kValue      nodeKind = iota // a key holding a value (inline tables are kTable)
	kTable                      // a table of any origin
	kArrayTable                 // an array of tables, [[name]]
)

type tableKind uint8

const (
	tRoot     tableKind = iota
	tImplicit           // only named as a prefix of a [header]: [a.b] makes a implicit
	tHeader             // defined by its own [header]
	tDotted             // created by a dotted key: listener.port = 1 makes listener
	tInline             // an inline table value: {a = 1}
)

// node is one key of the table tree.
type node struct {
	kind nodeKind
	tk   tableKind
	path []string
	pos  int // byte offset of the header or key that defined it (-1: none)

	// kValue, and tInline tables: the value's bytes, src[vStart:vEnd].
	val          any
	typ          string
	vStart, vEnd int
	// items are where an array value's elements are, for arrays of
	// scalars (nil for any other value, or an array holding arrays or
	// inline tables, whose elements carry no position).
	items []span

	// kTable
	sec      int // index of the section where keys of this table are written (-1: none)
	children map[string]*node

	// kArrayTable
	elems []*node
}

// section is where key/value lines of one table are written: the root
// (before the first header), one [header] or [[header]], or an inline table.
type section struct {
	table     *node
	inline    bool
	array     bool
	headerEnd int  // just past the header line (root: 0; inline: just past '{')
	headerNL  bool // the header line ends with a newline (not at EOF)
	lastEnd   int  // just past the last key/value line (inline: past the last value); -1 none
	lastNL    bool // that line ends with a newline (not at EOF)
	indent    string
}

func newTable(tk tableKind, path []string, pos, sec int) *node {
	return &node{kind: kTable, tk: tk, path: path, pos: pos, sec: sec, children: map[string]*node{}, vStart: -1, vEnd: -1}
}

// Parse parses src, a deployment.toml; name (the file's path) prefixes every
// error. The result keeps its own copy of src.
func Parse(name string, src []byte) (*Document, error) {
	src = bytes.Clone(src)
	if src == nil {
		src = []byte{}
	}
	b := &builder{name: name, src: src}
	if err := b.build(); err != nil {
		return nil, err
	}
	return &Document{name: name, src: src, root: b.root, secs: b.secs}, nil
}

// Bytes returns the document's current text.
func (d *Document) Bytes() []byte { return bytes.Clone(d.src) }

// Lookup returns the decoded value at a dotted key path such as
// "transport.http.listener.port", following [table] headers, dotted keys and
// inline tables. Values are int64, float64, string, bool, time.Time,
// toml.LocalDate, toml.LocalTime, toml.LocalDateTime, []any or
// map[string]any (a table); an array of tables is a []any of maps. A path
// that goes through an array of tables is not found.
func (d *Document) Lookup(path string) (any, bool) {
	n, ok := d.find(path)
	if !ok {
		return nil, false
	}
	return toAny(n), true
}

func (d *Document) find(path string) (*node, bool) { return d.Root().find(path) }

// ValueSpan returns where the value of the key at path is written in the
// document's text (Bytes()[start:end]), when the key holds a value.
func (d *Document) ValueSpan(path string) (start, end int, ok bool) {
	n, found := d.find(path)
	if !found || n.kind != kValue {
		return 0, 0, false
	}
	return n.vStart, n.vEnd, true
}

func toAny(n *node) any {
	switch n.kind {
	case kTable:
		m := make(map[string]any, len(n.children))
		for k, c := range n.children {
			m[k] = toAny(c)
		}
		return m
	case kArrayTable:
		out := make([]any, len(n.elems))
		for i, e := range n.elems {
			out[i] = toAny(e)
		}
		return out
	default:
		return copyValue(n.val)
	}
}

func copyValue(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = copyValue(e)
		}
		return out
	default:
		return v
	}
}

// splitPath splits a dotted key path into its keys. Keys follow TOML's key
// syntax, so a key holding a dot can be quoted: a."b.c".d.
func splitPath(path string) ([]string, error) {
	if parts, ok := splitBarePath(path); ok {
		return parts, nil
	}
	return parsePath(path)
}

// splitBarePath splits a path of bare keys (A-Z a-z 0-9 _ -) joined by
// single dots, as nearly every path is, without TOML's parser: rendering
// a deployment.toml splits a path per key it sets, twenty homes at a time.
// ok is false for any other path, which parsePath then reads.
func splitBarePath(path string) (parts []string, ok bool) {
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '.' {
			if !isBareKeyByte(path[i]) {
				return nil, false
			}
			continue
		}
		if i == start {
			return nil, false // an empty key: a leading, trailing or doubled dot
		}
		parts = append(parts, path[start:i])
		start = i + 1
	}
	return parts, true
}

// parsePath splits any key path with TOML's parser.
func parsePath(path string) ([]string, error) {
	if strings.TrimSpace(path) == "" {
		return nil, errors.New("empty key path")
	}
	data := []byte(path + " = 0")
	var p unstable.Parser
	p.Reset(data)
	if !p.NextExpression() {
		return nil, fmt.Errorf("invalid key path %q", path)
	}
	e := p.Expression()
	if e.Kind != unstable.KeyValue {
		return nil, fmt.Errorf("invalid key path %q", path)
	}
	if v := e.Value(); v.Kind != unstable.Integer || int(v.Raw.Offset) != len(path)+3 {
		return nil, fmt.Errorf("invalid key path %q", path)
	}
	var parts []string
	it := e.Key()
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	if p.NextExpression() || p.Error() != nil {
		return nil, fmt.Errorf("invalid key path %q", path)
	}
	return parts, nil
}

// builder turns the parser's expressions into the table tree.
type builder struct {
	name string
	src  []byte
	base int // offset in src of the bytes handed to the parser (3 after a BOM)
	p    unstable.Parser
	root *node
	secs []*section
	cur  *section
	curI int // index of cur in secs
}

var bom = []byte("\xef\xbb\xbf")

func (b *builder) build() error {
	data := b.src
	if bytes.HasPrefix(data, bom) {
		b.base = len(bom)
		data = data[len(bom):]
	}
	b.root = newTable(tRoot, nil, -1, 0)
	b.cur = &section{table: b.root, lastEnd: -1}
	b.secs = []*section{b.cur}
	b.p.Reset(data)
	for b.p.NextExpression() {
		e := b.p.Expression()
		var err error
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			err = b.header(e)
		case unstable.KeyValue:
			err = b.keyValue(b.cur, b.curI, e)
		}
		if err != nil {
			return err
		}
	}
	if err := b.p.Error(); err != nil {
		return b.parserError(err)
	}
	return nil
}

func (b *builder) parserError(err error) error {
	var perr *unstable.ParserError
	if !errors.As(err, &perr) {
		return &Error{File: b.name, Line: 1, Col: 1, Msg: err.Error()}
	}
	off := b.base + len(b.p.Data()) // fall back to the end of the input
	func() {
		defer func() { _ = recover() }() // Range panics on a foreign slice
		off = b.base + int(b.p.Range(perr.Highlight).Offset)
	}()
	return errorAt(b.name, b.src, off, "%s", perr.Message)
}

func (b *builder) off(r unstable.Range) int { return b.base + int(r.Offset) }
func (b *builder) end(r unstable.Range) int { return b.base + int(r.Offset) + int(r.Length) }

// lineEnd returns the offset just past the newline ending the line holding
// off, and whether there is such a newline (false: the line ends at EOF).
func lineEnd(src []byte, off int) (int, bool) {
	i := bytes.IndexByte(src[off:], '\n')
	if i < 0 {
		return len(src), false
	}
	return off + i + 1, true
}

func lineIndent(src []byte, off int) string {
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	i := start
	for i < off && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	return string(src[start:i])
}

type keyPart struct {
	name      string
	off, end_ int
}

func (b *builder) keys(it unstable.Iterator) []keyPart {
	var ks []keyPart
	for it.Next() {
		k := it.Node()
		ks = append(ks, keyPart{name: string(k.Data), off: b.off(k.Raw), end_: b.end(k.Raw)})
	}
	return ks
}

func pathOf(ks []keyPart) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.name
	}
	return out
}

func (b *builder) at(off int, format string, args ...any) error {
	return errorAt(b.name, b.src, off, format, args...)
}

func (b *builder) where(n *node) string {
	if n.pos < 0 {
		return ""
	}
	line, col := lineCol(b.src, n.pos)
	return fmt.Sprintf(" (defined at %d:%d)", line, col)
}

func (b *builder) header(e *unstable.Node) error {
	ks := b.keys(e.Key())
	array := e.Kind == unstable.ArrayTable
	start := ks[0].off
	for start > b.base && (b.src[start-1] == ' ' || b.src[start-1] == '\t' || b.src[start-1] == '[') {
		start--
	}
	hEnd, hNL := lineEnd(b.src, ks[len(ks)-1].end_)
	sec := &section{array: array, headerEnd: hEnd, headerNL: hNL, lastEnd: -1}
	secIdx := len(b.secs)
	path := pathOf(ks)
	name := joinPath(path)

	t := b.root
	for i, k := range ks[:len(ks)-1] {
		c := t.children[k.name]
		switch {
		case c == nil:
			c = newTable(tImplicit, append([]string(nil), path[:i+1]...), start, -1)
			t.children[k.name] = c
		case c.kind == kArrayTable:
			c = c.elems[len(c.elems)-1]
		case c.kind == kValue:
			return b.at(k.off, "cannot define table [%s]: %s is already %s%s", name, joinPath(path[:i+1]), withArticle(c.typ), b.where(c))
		case b.sealed(c):
			return b.at(k.off, "cannot define table [%s]: %s is an inline table%s, which cannot be extended", name, joinPath(path[:i+1]), b.where(c))
		}
		t = c
	}
	last := ks[len(ks)-1]
	c := t.children[last.name]
	if array {
		switch {
		case c == nil:
			c = &node{kind: kArrayTable, path: path, pos: start, sec: -1}
			t.children[last.name] = c
		case c.kind != kArrayTable:
			return b.at(start, "cannot define array of tables [[%s]]: %s is already %s%s", name, name, withArticle(describe(c)), b.where(c))
		}
		elem := newTable(tHeader, path, start, secIdx)
		c.elems = append(c.elems, elem)
		sec.table = elem
	} else {
		switch {
		case c == nil:
			c = newTable(tHeader, path, start, secIdx)
			t.children[last.name] = c
		case c.kind == kTable && c.tk == tImplicit:
			c.tk, c.pos, c.sec = tHeader, start, secIdx
		default:
			return b.at(start, "table [%s] is defined twice: %s is already %s%s", name, name, withArticle(describe(c)), b.where(c))
		}
		sec.table = c
	}
	b.secs = append(b.secs, sec)
	b.cur, b.curI = sec, secIdx
	return nil
}

// sealed reports whether t belongs to an inline table, which TOML closes
// once written: no header or dotted key elsewhere may add to it.
func (b *builder) sealed(t *node) bool {
	return t.kind == kTable && (t.tk == tInline || (t.sec >= 0 && b.secs[t.sec].inline))
}

func describe(n *node) string {
	switch n.kind {
	case kArrayTable:
		return "array of tables"
	case kTable:
		switch n.tk {
		case tInline:
			return "inline table"
		case tDotted:
			return "table defined by dotted keys"
		default:
			return "table"
		}
	default:
		return n.typ
	}
}

// keyValue adds one key/value expression to section s (index si).
func (b *builder) keyValue(s *section, si int, kv *unstable.Node) error {
	ks := b.keys(kv.Key())
	kvStart := ks[0].off
	t := s.table
	for _, k := range ks[:len(ks)-1] {
		c := t.children[k.name]
		p := append(append([]string(nil), t.path...), k.name)
		switch {
		case c == nil:
			c = newTable(tDotted, p, kvStart, si)
			t.children[k.name] = c
		case c.kind == kTable && c.tk == tDotted && c.sec == si:
		case c.kind == kValue:
			return b.at(k.off, "cannot set %s: %s is already %s%s", joinPath(append(p, restNames(ks, k)...)), joinPath(p), withArticle(c.typ), b.where(c))
		default:
			return b.at(k.off, "cannot add keys to %s here: it is %s%s", joinPath(p), withArticle(describe(c)), b.where(c))
		}
		t = c
	}
	last := ks[len(ks)-1]
	path := append(append([]string(nil), t.path...), last.name)
	if prev := t.children[last.name]; prev != nil {
		return b.at(kvStart, "duplicate key %s%s", joinPath(path), b.where(prev))
	}
	vStart := valueStart(b.src, last.end_)
	vEnd := b.end(kv.Raw)
	v := kv.Value()
	var n *node
	if v.Kind == unstable.InlineTable {
		var err error
		if n, err = b.inline(path, kvStart, v); err != nil {
			return err
		}
	} else {
		val, typ, err := b.decode(v, vStart)
		if err != nil {
			return err
		}
		n = &node{kind: kValue, path: path, pos: kvStart, val: val, typ: typ, sec: -1}
		if v.Kind == unstable.Array {
			n.items = b.items(v)
		}
	}
	n.vStart, n.vEnd = vStart, vEnd
	t.children[last.name] = n
	if s.inline {
		s.lastEnd = vEnd
	} else {
		s.lastEnd, s.lastNL = lineEnd(b.src, vEnd)
		s.indent = lineIndent(b.src, kvStart)
	}
	return nil
}

func restNames(ks []keyPart, from keyPart) []string {
	for i, k := range ks {
		if k == from {
			return pathOf(ks[i+1:])
		}
	}
	return nil
}

// span is a range of the source, src[start:end].
type span struct{ start, end int }

// items returns where the elements of the array value v are, nil when an
// element has no position of its own (a nested array or inline table).
func (b *builder) items(v *unstable.Node) []span {
	out := []span{}
	it := v.Children()
	for it.Next() {
		c := it.Node()
		switch {
		case c.Kind == unstable.Comment:
			continue
		case c.Kind == unstable.Array || c.Kind == unstable.InlineTable || c.Raw.Length == 0:
			return nil
		}
		out = append(out, span{b.off(c.Raw), b.end(c.Raw)})
	}
	return out
}

// inline builds the table of an inline table value v.
func (b *builder) inline(path []string, pos int, v *unstable.Node) (*node, error) {
	si := len(b.secs)
	t := newTable(tInline, path, pos, si)
	open := b.off(v.Raw)
	s := &section{table: t, inline: true, headerEnd: open + 1, lastEnd: -1}
	b.secs = append(b.secs, s)
	it := v.Children()
	for it.Next() {
		c := it.Node()
		if c.Kind != unstable.KeyValue {
			continue
		}
		if err := b.keyValue(s, si, c); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// valueStart returns the offset of the value after a key ending at keyEnd:
// past blanks, the '=' and blanks again.
func valueStart(src []byte, keyEnd int) int {
	i := keyEnd
	for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	if i < len(src) && src[i] == '=' {
		i++
	}
	for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	return i
}

// decode turns a value node into its Go value and TOML type name; pos is
// where errors point when the node carries no range of its own.
func (b *builder) decode(v *unstable.Node, pos int) (any, string, error) {
	if v.Raw.Length > 0 {
		pos = b.off(v.Raw)
	}
	s := string(v.Data)
	switch v.Kind {
	case unstable.String:
		return s, "string", nil
	case unstable.Bool:
		return s == "true", "boolean", nil
	case unstable.Integer:
		i, err := parseInt(s)
		if err != nil {
			return nil, "", b.at(pos, "invalid integer %s: %v", s, errors.Unwrap(err))
		}
		return i, "integer", nil
	case unstable.Float:
		f, err := parseFloat(s)
		if err != nil {
			return nil, "", b.at(pos, "invalid float %s: %v", s, errors.Unwrap(err))
		}
		return f, "float", nil
	case unstable.DateTime, unstable.LocalDateTime, unstable.LocalDate, unstable.LocalTime:
		// Rare in deployment.toml: let go-toml's decoder give the value
		// exactly the meaning it gives it everywhere else.
		var m map[string]any
		if err := toml.Unmarshal([]byte("v = "+s), &m); err != nil {
			var derr *toml.DecodeError
			msg := err.Error()
			if errors.As(err, &derr) {
				msg = derr.Error()
			}
			return nil, "", b.at(pos, "invalid date/time %s: %s", s, strings.TrimPrefix(msg, "toml: "))
		}
		return m["v"], "date-time", nil
	case unstable.Array:
		out := []any{}
		it := v.Children()
		for it.Next() {
			c := it.Node()
			var e any
			var err error
			switch c.Kind {
			case unstable.Comment:
				continue
			case unstable.InlineTable:
				var t *node
				if t, err = b.inline(nil, b.off(c.Raw), c); err == nil {
					e = toAny(t)
				}
			default:
				e, _, err = b.decode(c, pos)
			}
			if err != nil {
				return nil, "", err
			}
			out = append(out, e)
		}
		return out, "array", nil
	}
	return nil, "", b.at(pos, "unsupported value of kind %s", v.Kind)
}

func parseInt(s string) (int64, error) {
	s = strings.ReplaceAll(s, "_", "")
	base := 10
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x':
			base, s = 16, s[2:]
		case 'o':
			base, s = 8, s[2:]
		case 'b':
			base, s = 2, s[2:]
		}
	}
	return strconv.ParseInt(s, base, 64)
}

func parseFloat(s string) (float64, error) {
	switch strings.TrimLeft(s, "+-") {
	case "inf":
		if s[0] == '-' {
			return math.Inf(-1), nil
		}
		return math.Inf(1), nil
	case "nan":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
}

// joinPath writes a key path the way TOML would, quoting keys that need it.
func joinPath(path []string) string {
	parts := make([]string, len(path))
	for i, k := range path {
		parts[i] = encodeKey(k)
	}
	return strings.Join(parts, ".")
}

func encodeKey(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		if !isBareKeyByte(k[i]) {
			return encodeString(k)
		}
	}
	return k
}

// isBareKeyByte reports whether c may appear in a bare (unquoted) key.
func isBareKeyByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func withArticle(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}
