package deploytoml

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	toml "github.com/pelletier/go-toml/v2"
)

// Set gives the key at path (dotted, as in Lookup) a new value, changing as
// few bytes as possible:
//
//   - a key that exists keeps its line; only the value's bytes change, so a
//     trailing comment stays;
//   - a missing key whose table exists gets a new "key = value" line right
//     after the table's last key/value line (before the blank lines and
//     comments that lead to the next table), indented like that line; when
//     only a parent table exists ([transport] for transport.http.listener.port)
//     the new line is a dotted key in the closest one (http.listener.port = ...);
//   - when no table on the path exists (or only one named by another header,
//     as [transport] is by [transport.jms]), a blank line, a [table] header
//     and the key are appended at the end of the file; like MI's docs the
//     header names at most two keys and the rest is dotted:
//     [transport.http] then listener.port = 8300.
//
// Values may be strings, integers, floats, booleans, time.Time, go-toml's
// local date/time types, and slices of those. A path through an array of
// tables ([[datasource]]) or through a non-table value is an error, as is a
// path naming a table. After Set the document still parses and Lookup(path)
// returns value; otherwise Set fails and leaves the document unchanged.
func (d *Document) Set(path string, value any) error { return d.Root().Set(path, value) }

func (d *Document) errAt(off int, format string, args ...any) error {
	return errorAt(d.name, d.src, off, format, args...)
}

// edit returns the source with the key at parts, below the table t, set
// to the encoded value.
func (d *Document) edit(t *node, parts []string, enc string) ([]byte, error) {
	full := joinPath(parts)
	for i, k := range parts {
		c, ok := t.children[k]
		if !ok {
			return d.insert(t, parts[i:], enc), nil
		}
		here := joinPath(parts[:i+1])
		last := i == len(parts)-1
		switch {
		case c.kind == kArrayTable:
			return nil, d.errAt(c.pos, "cannot set %s: %s is an array of tables ([[%s]], %d of them) and mictl cannot choose which one to change",
				full, here, here, len(c.elems))
		case c.kind == kValue && last:
			return splice(d.src, c.vStart, c.vEnd, enc), nil
		case c.kind == kValue:
			return nil, d.errAt(c.pos, "cannot set %s: %s is %s, not a table", full, here, withArticle(c.typ))
		case last:
			return nil, d.errAt(c.pos, "cannot set %s: it is a table, not a value; set its keys one by one", full)
		}
		t = c
	}
	panic("unreachable")
}

// insert adds the missing keys rest below the existing table t.
func (d *Document) insert(t *node, rest []string, enc string) []byte {
	if t.tk == tImplicit || (t.tk == tRoot && len(rest) > 1) {
		// A new table. Like MI's documentation ([transport.http]
		// listener.port, [keystore.primary] file_name), its header names
		// at most two keys and deeper keys are dotted below it; an implicit
		// table (only a prefix of another header so far) gets its own header.
		full := append(append([]string(nil), t.path...), rest...)
		n := max(len(t.path), min(2, len(full)-1))
		return d.appendTable(full[:n], full[n:], enc)
	}
	s := d.secs[t.sec]
	rel := append(append([]string(nil), t.path[len(s.table.path):]...), rest...)
	kv := joinPath(rel) + " = " + enc
	if s.inline {
		if s.lastEnd >= 0 {
			return splice(d.src, s.lastEnd, s.lastEnd, ", "+kv)
		}
		return splice(d.src, s.headerEnd, s.headerEnd, kv)
	}
	eol := d.eol()
	var at int
	var nl bool
	switch {
	case s.lastEnd >= 0:
		at, nl, kv = s.lastEnd, s.lastNL, s.indent+kv
	case s.table.tk == tRoot:
		// A root table without keys: the key goes first in the file.
		at = 0
		if bytes.HasPrefix(d.src, bom) {
			at = len(bom)
		}
		text := kv + eol
		if rest := d.src[at:]; len(rest) > 0 && !bytes.HasPrefix(rest, []byte("\n")) && !bytes.HasPrefix(rest, []byte("\r\n")) {
			text += eol
		}
		return splice(d.src, at, at, text)
	default:
		at, nl = s.headerEnd, s.headerNL
	}
	if nl {
		return splice(d.src, at, at, kv+eol)
	}
	return splice(d.src, at, at, eol+kv)
}

// appendTable appends "[table]" and "key = enc" (key may be dotted) at the end of the file,
// after a blank line, keeping whether the file ends with a newline.
func (d *Document) appendTable(table, key []string, enc string) []byte {
	eol := d.eol()
	src := d.src
	var buf bytes.Buffer
	buf.Write(src)
	body := bytes.TrimPrefix(src, bom)
	endsNL := bytes.HasSuffix(body, []byte("\n"))
	if len(body) > 0 {
		if !endsNL {
			buf.WriteString(eol)
		}
		if !endsNL || !lastLineBlank(body) {
			buf.WriteString(eol)
		}
	}
	buf.WriteString("[" + joinPath(table) + "]" + eol + joinPath(key) + " = " + enc)
	if endsNL || len(body) == 0 {
		buf.WriteString(eol)
	}
	return buf.Bytes()
}

// lastLineBlank reports whether the line before src's final newline holds
// only blanks.
func lastLineBlank(src []byte) bool {
	body := bytes.TrimSuffix(bytes.TrimSuffix(src, []byte("\n")), []byte("\r"))
	last := body[bytes.LastIndexByte(body, '\n')+1:]
	return len(bytes.Trim(last, " \t\r")) == 0
}

// eol is the file's line ending: the first one found, LF when there is none.
func (d *Document) eol() string {
	i := bytes.IndexByte(d.src, '\n')
	if i > 0 && d.src[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

func splice(src []byte, from, to int, text string) []byte {
	out := make([]byte, 0, len(src)-(to-from)+len(text))
	out = append(out, src[:from]...)
	out = append(out, text...)
	return append(out, src[to:]...)
}

// encodeValue returns the TOML text of v and the value Lookup gives back
// for it.
func encodeValue(v any) (string, any, error) {
	switch x := v.(type) {
	case nil:
		return "", nil, errors.New("a nil value cannot be written to TOML")
	case time.Time:
		return x.Format(time.RFC3339Nano), x, nil
	case toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		text, err := x.(interface{ MarshalText() ([]byte, error) }).MarshalText()
		return string(text), x, err
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		s := rv.String()
		if !utf8.ValidString(s) {
			return "", nil, fmt.Errorf("string %q is not valid UTF-8", s)
		}
		return encodeString(s), s, nil
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return "", nil, fmt.Errorf("integer %d does not fit TOML's 64-bit signed integers", u)
		}
		return strconv.FormatUint(u, 10), int64(u), nil
	case reflect.Float32, reflect.Float64:
		bits := 64
		if rv.Kind() == reflect.Float32 {
			bits = 32
		}
		s := encodeFloat(rv.Float(), bits)
		f, _ := parseFloat(s)
		return s, f, nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return "[]", []any{}, nil
		}
		parts := make([]string, rv.Len())
		norm := make([]any, rv.Len())
		for i := range parts {
			s, n, err := encodeValue(rv.Index(i).Interface())
			if err != nil {
				return "", nil, fmt.Errorf("element %d: %w", i, err)
			}
			parts[i], norm[i] = s, n
		}
		return "[" + strings.Join(parts, ", ") + "]", norm, nil
	case reflect.Map:
		// Written as an inline table it would have to merge with the
		// tables the file already has at its path.
		return "", nil, errors.New("the value is a table, and only single values can be written: set each of its keys by its own dotted path")
	}
	// No TOML document holds such a value: a caller's mistake, which its
	// Go type names best.
	return "", nil, fmt.Errorf("unsupported value type %T (want a string, integer, float, boolean, date/time or an array of those)", v)
}

func encodeFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, bits)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// encodeString writes s as a TOML basic string.
func encodeString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// sameValue compares a value read back with the one written.
func sameValue(got, want any) bool {
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		return ok && (g == w || math.IsNaN(g) && math.IsNaN(w))
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w)
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !sameValue(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

// KeyValue is one key and its value, for AppendArrayElement.
type KeyValue struct {
	Key   string
	Value any
}

// AppendArrayElement appends a [[array]] table holding kvs, in order, at
// the end of the file, unless an element of array already holds kvs[0]
// (its identity: a synapse handler's name). array is a top-level key; one
// the file writes as an inline array (synapse_handlers = [{...}]), as TOML
// allows, gets the element there instead (see prependInline). Comments and
// layout of the rest stay byte for byte.
func (d *Document) AppendArrayElement(array string, kvs []KeyValue) error {
	if len(kvs) == 0 {
		return fmt.Errorf("cannot add a [[%s]] table with no keys", array)
	}
	id, _, err := encodeValue(kvs[0].Value)
	if err != nil {
		return fmt.Errorf("cannot add [[%s]]: %w", array, err)
	}
	holdsID := func(m map[string]any) bool {
		enc, _, err := encodeValue(m[kvs[0].Key])
		return err == nil && enc == id
	}
	if n, ok := d.root.children[array]; ok {
		if elems, inline := n.val.([]any); n.kind == kValue && inline {
			for _, e := range elems {
				if m, ok := e.(map[string]any); ok && holdsID(m) {
					return nil
				}
			}
			return d.prependInline(n, array, kvs)
		}
		if n.kind != kArrayTable {
			return d.errAt(n.pos, "cannot add a [[%s]] table: %s is %s", array, array, withArticle(describe(n)))
		}
		for _, e := range n.elems {
			if c, ok := e.children[kvs[0].Key]; ok && c.kind == kValue {
				if m := map[string]any{kvs[0].Key: c.val}; holdsID(m) {
					return nil
				}
			}
		}
	}
	eol := d.eol()
	var b bytes.Buffer
	b.Write(d.src)
	body := bytes.TrimPrefix(d.src, bom)
	if len(body) > 0 {
		if !bytes.HasSuffix(body, []byte("\n")) {
			b.WriteString(eol)
		}
		if !lastLineBlank(body) || !bytes.HasSuffix(body, []byte("\n")) {
			b.WriteString(eol)
		}
	}
	b.WriteString("[[" + encodeKey(array) + "]]" + eol)
	for _, kv := range kvs {
		enc, _, err := encodeValue(kv.Value)
		if err != nil {
			return fmt.Errorf("cannot add [[%s]] %s: %w", array, kv.Key, err)
		}
		b.WriteString(encodeKey(kv.Key) + " = " + enc + eol)
	}
	nd, err := Parse(d.name, b.Bytes())
	if err != nil {
		return fmt.Errorf("cannot add [[%s]]: the edited file does not parse (%v); this is a bug in mictl", array, err)
	}
	*d = *nd
	return nil
}

// prependInline adds an inline table holding kvs to n, the inline array
// array, as its first element, just after the opening bracket: a comma
// there is always valid (TOML allows one before the closing bracket),
// where one after the last element may fall in a comment.
func (d *Document) prependInline(n *node, array string, kvs []KeyValue) error {
	fields := make([]string, len(kvs))
	for i, kv := range kvs {
		enc, _, err := encodeValue(kv.Value)
		if err != nil {
			return fmt.Errorf("cannot add to %s: %w", array, err)
		}
		fields[i] = encodeKey(kv.Key) + " = " + enc
	}
	open := n.vStart + 1 // just past '['
	nd, err := Parse(d.name, splice(d.src, open, open, "{ "+strings.Join(fields, ", ")+" }, "))
	if err != nil {
		return fmt.Errorf("cannot add to %s: the edited file does not parse (%v); this is a bug in mictl", array, err)
	}
	*d = *nd
	return nil
}

// SetUnlessSet sets path to value unless path, or one of alternatives
// (other keys MI reads for the same setting), is already set: the user's
// own choice stands. It reports whether it set the key.
func (d *Document) SetUnlessSet(path string, value any, alternatives ...string) (bool, error) {
	for _, p := range append([]string{path}, alternatives...) {
		if _, ok := d.Lookup(p); ok {
			return false, nil
		}
	}
	return true, d.Set(path, value)
}
