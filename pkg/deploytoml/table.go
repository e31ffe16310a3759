package deploytoml

import (
	"bytes"
	"fmt"
)

// Table is where an edit applies: the whole document (Root), or one table
// of an array of tables picked by the value of one of its keys (Element:
// the [[instance]] whose name is "mi-2"). It names its table, it does not
// hold it: every call finds the table again in the document as it is then,
// so a Table stays valid across edits. The edits keep every other byte of
// the file (comments, blank lines, CRLF line ends, a BOM) as Set does.
type Table struct {
	d *Document
	// array, key and value pick the element; array is "" for the root.
	array, key string
	value      any
}

// Root is the document's top-level table.
func (d *Document) Root() Table { return Table{d: d} }

// Element is the table of the top-level array of tables array whose key
// holds value: Element("instance", "name", "mi-2") is the [[instance]]
// with name = "mi-2". ok is false when there is no such element (the
// first one counts when several match).
func (d *Document) Element(array, key string, value any) (t Table, ok bool) {
	t = Table{d: d, array: array, key: key, value: value}
	_, err := t.table()
	return t, err == nil
}

// String names the table in messages: "the top level", "[[instance]] name = "mi-2"".
func (t Table) String() string {
	if t.array == "" {
		return "the top level"
	}
	enc, _, _ := encodeValue(t.value)
	return fmt.Sprintf("[[%s]] %s = %s", encodeKey(t.array), encodeKey(t.key), enc)
}

// table finds the table t names in the document as it is now.
func (t Table) table() (*node, error) {
	if t.array == "" {
		return t.d.root, nil
	}
	want, norm, err := encodeValue(t.value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	if n, ok := t.d.root.children[t.array]; ok && n.kind == kArrayTable {
		for _, e := range n.elems {
			if c, ok := e.children[t.key]; ok && c.kind == kValue && sameValue(c.val, norm) {
				return e, nil
			}
		}
	}
	return nil, fmt.Errorf("%s: no [[%s]] table has %s = %s", t.d.name, encodeKey(t.array), encodeKey(t.key), want)
}

// find returns the node at path below t's table.
func (t Table) find(path string) (*node, bool) {
	parts, err := splitPath(path)
	if err != nil {
		return nil, false
	}
	n, err := t.table()
	if err != nil {
		return nil, false
	}
	for _, k := range parts {
		if n.kind != kTable {
			return nil, false
		}
		c, ok := n.children[k]
		if !ok {
			return nil, false
		}
		n = c
	}
	return n, true
}

// Lookup is Document.Lookup below the table.
func (t Table) Lookup(path string) (any, bool) {
	n, ok := t.find(path)
	if !ok {
		return nil, false
	}
	return toAny(n), true
}

// Set is Document.Set below the table: in an element, a missing key gets a
// line after the element's last key/value line.
func (t Table) Set(path string, value any) error {
	parts, err := splitPath(path)
	if err != nil {
		return err
	}
	enc, norm, err := encodeValue(value)
	if err != nil {
		return fmt.Errorf("cannot set %s: %w", path, err)
	}
	start, err := t.table()
	if err != nil {
		return err
	}
	out, err := t.d.edit(start, parts, enc)
	if err != nil {
		return err
	}
	return t.commit(out, path, norm, "set "+path)
}

// commit replaces the document with out after checking that it parses
// and that path then reads back want: an edit that would break the file
// is refused and changes nothing.
func (t Table) commit(out []byte, path string, want any, what string) error {
	nd, err := Parse(t.d.name, out)
	if err != nil {
		return fmt.Errorf("cannot %s: the edited file does not parse (%v); this is a bug in mictl", what, err)
	}
	got, ok := Table{d: nd, array: t.array, key: t.key, value: t.value}.Lookup(path)
	if !ok || !sameValue(got, want) {
		return fmt.Errorf("cannot %s: the edited file reads back %v, not %v; this is a bug in mictl", what, got, want)
	}
	*t.d = *nd
	return nil
}

// arrayAt returns the array value at path below t (nil when path is not
// set) and its elements, failing for a key that holds something else.
func (t Table) arrayAt(path string) (*node, []any, error) {
	n, ok := t.find(path)
	if !ok {
		return nil, nil, nil
	}
	if n.kind != kValue || n.typ != "array" {
		return nil, nil, t.d.errAt(n.pos, "%s in %s is %s, not an array", path, t, withArticle(describe(n)))
	}
	vals, _ := n.val.([]any)
	if n.items == nil || len(n.items) != len(vals) {
		return nil, nil, t.d.errAt(n.pos, "cannot edit %s in %s: its elements are arrays or tables; edit it by hand", path, t)
	}
	return n, vals, nil
}

// AppendToArray adds value at the end of the array at path, creating the
// key when it is missing: right after a commented-out example of it in
// the table's section ("# capps = [...]", as mictl init writes, before
// any commented-out table header), so that it sits with its
// documentation; else as Set does. An array holding value already is
// left alone: added is false. The new element follows the array's layout:
// on a line of its own, indented like the last element and with its
// trailing comma style, when the elements are one per line; after ", "
// when they share a line. Comments inside the array stay where they are.
func (t Table) AppendToArray(path string, value any) (added bool, err error) {
	enc, norm, err := encodeValue(value)
	if err != nil {
		return false, fmt.Errorf("cannot add to %s: %w", path, err)
	}
	n, vals, err := t.arrayAt(path)
	if err != nil {
		return false, err
	}
	if n == nil {
		if out, ok := t.besideExample(path, "["+enc+"]"); ok {
			return true, t.commit(out, path, []any{norm}, "add "+path)
		}
		return true, t.Set(path, []any{value})
	}
	for _, v := range vals {
		if sameValue(v, norm) {
			return false, nil
		}
	}
	src := t.d.src
	open, closing := n.vStart, n.vEnd-1
	if src[open] != '[' || src[closing] != ']' {
		return false, fmt.Errorf("cannot add to %s: the array is not where it was parsed; this is a bug in mictl", path)
	}
	var out []byte
	if len(n.items) == 0 {
		if len(bytes.Trim(src[open+1:closing], " \t\r\n")) == 0 {
			out = splice(src, open, closing+1, "["+enc+"]")
		} else { // only comments inside: the element goes first
			out = splice(src, open+1, open+1, enc)
		}
		return true, t.commit(out, path, append(vals, norm), "add to "+path)
	}
	last := n.items[len(n.items)-1]
	comma, hasComma := commaAfter(src, last.end)
	lineStart := bytes.LastIndexByte(src[:last.start], '\n') + 1
	eol := t.d.eol()
	switch {
	case !ownLine(src, open, lineStart, last.start):
		// Elements share a line: ["a", "b"] → ["a", "b", "c"].
		if hasComma {
			out = splice(src, comma+1, comma+1, " "+enc+",")
		} else {
			out = splice(src, last.end, last.end, ", "+enc)
		}
	default:
		indent := string(src[lineStart:last.start])
		le, nl := lineEnd(src, last.end)
		if nl && le <= closing {
			// One per line, the bracket on a later line: a new line
			// after the last element's (its comment stays on it).
			text := indent + enc
			if hasComma {
				text += ","
			}
			out = splice(src, le, le, text+eol)
			if !hasComma {
				out = splice(out, last.end, last.end, ",")
			}
		} else if hasComma { // "b",] : the bracket on the last element's line
			out = splice(src, comma+1, comma+1, eol+indent+enc+",")
		} else {
			out = splice(src, last.end, last.end, ","+eol+indent+enc)
		}
	}
	return true, t.commit(out, path, append(vals, norm), "add to "+path)
}

// besideExample returns the source with "key = enc" (key one bare key)
// on a line right after the first commented-out example of key
// ("# key = ...") in the section where t's own keys are written, indented
// like it; ok is false when there is none (or t is an inline table). The search stops at a commented-out table header:
// examples below one are that table's.
func (t Table) besideExample(key, enc string) (out []byte, ok bool) {
	tn, err := t.table()
	if parts, bare := splitBarePath(key); err != nil || !bare || len(parts) != 1 || tn.sec < 0 || t.d.secs[tn.sec].inline {
		return nil, false
	}
	src := t.d.src
	from, to := t.d.secs[tn.sec].headerEnd, len(src)
	for _, s := range t.d.secs[tn.sec+1:] {
		if !s.inline {
			to = s.table.pos
			break
		}
	}
	values := t.d.valueSpans()
	for at := from; at < to; {
		end, nl := lineEnd(src, at)
		line := bytes.TrimPrefix(src[at:end], bom)
		indent := len(line) - len(bytes.TrimLeft(line, " \t"))
		text := bytes.TrimLeft(bytes.TrimLeft(line[indent:], "#"), " \t")
		switch {
		case len(line) == indent || line[indent] != '#' || inSpan(values, at):
		case bytes.HasPrefix(text, []byte("[")):
			return nil, false
		case bytes.HasPrefix(text, []byte(key)) && bytes.HasPrefix(bytes.TrimLeft(text[len(key):], " \t"), []byte("=")):
			kv := string(line[:indent]) + key + " = " + enc
			if nl {
				return splice(src, end, end, kv+t.d.eol()), true
			}
			return splice(src, end, end, t.d.eol()+kv), true
		}
		at = end
	}
	return nil, false
}

// valueSpans returns where every value of the document is written,
// multi-line arrays and strings included: a line inside one is no line of
// its own.
func (d *Document) valueSpans() []span {
	var out []span
	var walk func(n *node)
	walk = func(n *node) {
		if n.kind == kValue || n.tk == tInline {
			out = append(out, span{n.vStart, n.vEnd})
		}
		for _, c := range n.children {
			walk(c)
		}
		for _, e := range n.elems {
			walk(e)
		}
	}
	walk(d.root)
	return out
}

func inSpan(spans []span, off int) bool {
	for _, s := range spans {
		if off >= s.start && off < s.end {
			return true
		}
	}
	return false
}

// RemoveFromArray removes every element equal to value from the array
// at path; removed is false when there was none (or no such key). An
// element on a line of its own goes with its line (and the comment on
// it); one sharing a line goes with the comma and blanks that separate it
// from its neighbour. The key itself stays, as an empty array when
// nothing is left.
func (t Table) RemoveFromArray(path string, value any) (removed bool, err error) {
	_, norm, err := encodeValue(value)
	if err != nil {
		return false, fmt.Errorf("cannot remove from %s: %w", path, err)
	}
	for {
		n, vals, err := t.arrayAt(path)
		if err != nil || n == nil {
			return removed, err
		}
		i := -1
		for k, v := range vals {
			if sameValue(v, norm) {
				i = k
				break
			}
		}
		if i < 0 {
			return removed, nil
		}
		out := removeItem(t.d.src, n.vStart, n.vEnd-1, n.items[i])
		rest := append(append([]any{}, vals[:i]...), vals[i+1:]...)
		if err := t.commit(out, path, rest, "remove from "+path); err != nil {
			return removed, err
		}
		removed = true
	}
}

// removeItem returns src without the array element el, the array's
// brackets being at open and closing.
func removeItem(src []byte, open, closing int, el span) []byte {
	comma, hasComma := commaAfter(src, el.end)
	lineStart := bytes.LastIndexByte(src[:el.start], '\n') + 1
	if ownLine(src, open, lineStart, el.start) {
		after := el.end
		if hasComma {
			after = comma + 1
		}
		rest := skipBlanks(src, after)
		if le, nl := lineEnd(src, after); nl && le <= closing && (rest == le-1 || src[rest] == '#' || src[rest] == '\r') {
			return splice(src, lineStart, le, "")
		}
	}
	if hasComma { // "a", "b" → "b"
		return splice(src, el.start, skipBlanks(src, comma+1), "")
	}
	prev := el.start
	for prev > open+1 && (src[prev-1] == ' ' || src[prev-1] == '\t') {
		prev--
	}
	if src[prev-1] == ',' { // "a", "b" → "a"
		return splice(src, prev-1, el.end, "")
	}
	return splice(src, el.start, el.end, "")
}

// commaAfter finds a comma following off past blanks.
func commaAfter(src []byte, off int) (int, bool) {
	i := skipBlanks(src, off)
	return i, i < len(src) && src[i] == ','
}

func skipBlanks(src []byte, off int) int {
	for off < len(src) && (src[off] == ' ' || src[off] == '\t') {
		off++
	}
	return off
}

// ownLine reports whether the element at start is the first thing on its
// line (lineStart), on a line after the array's opening bracket.
func ownLine(src []byte, open, lineStart, start int) bool {
	return lineStart > open && len(bytes.Trim(src[lineStart:start], " \t")) == 0
}

// Delete removes the key at path below t, with its line (its comment
// included); deleted is false when there is no such key. Only a key
// written on lines of its own can go: one inside an inline table, or
// sharing a line with another, is an error.
func (t Table) Delete(path string) (deleted bool, err error) {
	n, ok := t.find(path)
	if !ok {
		return false, nil
	}
	src := t.d.src
	if n.kind == kArrayTable || (n.kind == kTable && n.tk != tInline) || n.vEnd < 0 {
		return false, t.d.errAt(n.pos, "cannot delete %s in %s: it is %s; edit it by hand", path, t, withArticle(describe(n)))
	}
	lineStart := bytes.LastIndexByte(src[:n.pos], '\n') + 1
	le, _ := lineEnd(src, n.vEnd)
	rest := skipBlanks(src, n.vEnd)
	if len(bytes.Trim(src[lineStart:n.pos], " \t")) > 0 || (rest < le && src[rest] != '#' && src[rest] != '\r' && src[rest] != '\n') {
		return false, t.d.errAt(n.pos, "cannot delete %s in %s: it shares its line with another key; edit it by hand", path, t)
	}
	out := splice(src, lineStart, le, "")
	nd, err := Parse(t.d.name, out)
	if err != nil {
		return false, fmt.Errorf("cannot delete %s: the edited file does not parse (%v); this is a bug in mictl", path, err)
	}
	if _, still := (Table{d: nd, array: t.array, key: t.key, value: t.value}).Lookup(path); still {
		return false, fmt.Errorf("cannot delete %s: it is still there; this is a bug in mictl", path)
	}
	*t.d = *nd
	return true, nil
}

// IsBare reports whether t is an element of an array of tables that holds
// nothing but the key that picks it (name = "mi-3": what
// AppendArrayElement writes), with no comment: one DeleteIfBare deletes.
func (t Table) IsBare() bool {
	_, _, ok := t.bareSpan()
	return ok
}

// DeleteIfBare removes t when it IsBare: its header and key lines go,
// with the blank line that set it apart. An element with anything more
// (another key, a sub-table, a comment) is the user's, and stays; so does
// the root.
func (t Table) DeleteIfBare() (deleted bool, err error) {
	start, end, ok := t.bareSpan()
	if !ok {
		return false, nil
	}
	src := t.d.src
	nd, err := Parse(t.d.name, splice(src, start, end, ""))
	if err != nil {
		return false, fmt.Errorf("cannot delete %s: the edited file does not parse (%v); this is a bug in mictl", t, err)
	}
	if _, still := (Table{d: nd, array: t.array, key: t.key, value: t.value}).table(); still == nil {
		return false, fmt.Errorf("cannot delete %s: it is still there; this is a bug in mictl", t)
	}
	*t.d = *nd
	return true, nil
}

// bareSpan is the bytes of t when it IsBare: from its header's line (or
// the blank line before it) to the end of its key's line.
func (t Table) bareSpan() (start, end int, ok bool) {
	if t.array == "" {
		return 0, 0, false
	}
	e, err := t.table()
	if err != nil {
		return 0, 0, false
	}
	id, ok := e.children[t.key]
	if len(e.children) != 1 || !ok || id.kind != kValue || id.vEnd < 0 {
		return 0, 0, false
	}
	src := t.d.src
	start = bytes.LastIndexByte(src[:e.pos], '\n') + 1
	end, _ = lineEnd(src, id.vEnd)
	var lines int
	for _, l := range bytes.Split(src[start:end], []byte("\n")) {
		switch l = bytes.Trim(l, " \t\r"); {
		case bytes.ContainsRune(l, '#'):
			return 0, 0, false
		case len(l) > 0:
			lines++
		}
	}
	if lines != 2 {
		return 0, 0, false
	}
	if start > 0 { // the blank line before it, if there is one
		prev := bytes.LastIndexByte(src[:start-1], '\n') + 1
		if len(bytes.Trim(src[prev:start], " \t\r\n")) == 0 {
			start = prev
		}
	}
	return start, end, true
}
