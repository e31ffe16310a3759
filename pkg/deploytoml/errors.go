package deploytoml

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// Error is a problem at a place in a deployment.toml: a syntax error, a
// duplicate key, a key holding the wrong kind of value, or an edit that
// cannot be made there. Line and Col are 1-based; Col counts characters.
type Error struct {
	File string // the name given to Parse, usually the file's path
	Line int
	Col  int
	Msg  string
	// Key is the dotted key whose value is wrong, when the error is about
	// one ("" otherwise): Msg then starts with it.
	Key string
}

// OverrideError is an override Render could not apply, or whose value
// makes the file wrong (a port that is not a number): Key is the
// override's key as given, for the caller to say where the user wrote it.
type OverrideError struct {
	Key string
	Err error // the whole message, which names the override
}

func (e *OverrideError) Error() string { return e.Err.Error() }
func (e *OverrideError) Unwrap() error { return e.Err }

// Error formats the error as "file:line:col: msg", the form editors and
// compilers use, so a user can jump straight to the spot.
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// lineCol turns a byte offset of src into a 1-based line and a 1-based
// column counted in characters (runes).
func lineCol(src []byte, off int) (line, col int) {
	if off < 0 {
		off = 0
	}
	if off > len(src) {
		off = len(src)
	}
	before := src[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	col = utf8.RuneCount(before[start:]) + 1
	return line, col
}

// errorAt builds an *Error for a byte offset of src.
func errorAt(file string, src []byte, off int, format string, args ...any) *Error {
	line, col := lineCol(src, off)
	return &Error{File: file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}
