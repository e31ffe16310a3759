package promtext

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Sample is one series' value as an exposition gives it.
type Sample struct {
	Name   string
	Labels []Label
	Value  float64
	// Family is the family the sample belongs to and Type the type its
	// # TYPE line declares (Untyped without one), found as Prometheus
	// finds them: a histogram x's x_bucket, x_sum and x_count belong to
	// x, as do a summary's x_sum and x_count; any other sample is a family
	// of its own name.
	Family, Type string
}

// Label returns the value of the sample's label name and whether it has
// one; of a label given twice, the last value, as Prometheus reads a
// histogram's le and a summary's quantile.
func (s Sample) Label(name string) (string, bool) {
	for i := len(s.Labels) - 1; i >= 0; i-- {
		if s.Labels[i].Name == name {
			return s.Labels[i].Value, true
		}
	}
	return "", false
}

// ErrQuotedName is the error for a name quoted as a UTF-8 string, which
// Parse does not read.
var ErrQuotedName = errors.New(`names quoted as UTF-8 strings are not supported`)

// maxLine bounds one line of an exposition: a longer one is an error, not
// a buffer that grows with whatever a server sends.
const maxLine = 1 << 20

// Parse reads an exposition and calls each for its samples, in order. It
// stops at the first error each returns, or at the first line that is not
// the format, naming its line number. Parse is more lenient than
// Prometheus about what it does not need to read (a label set twice, a
// # TYPE line after the family's samples); what it reads, it reads as
// Prometheus does. Names quoted as UTF-8 strings (Prometheus 3's escape
// for names outside [a-zA-Z_:][a-zA-Z0-9_:]*, which neither MI nor mictl
// uses) are an error wrapping ErrQuotedName.
func Parse(r io.Reader, each func(Sample) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	// types holds every family met so far: declared by # TYPE, or untyped
	// by a # HELP line or a sample of its own name (Prometheus's rule: a
	// family met first as x_count stays x_count after a # TYPE x).
	types := map[string]string{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		var err error
		switch {
		case line == "":
		case line[0] == '#':
			err = comment(line[1:], types)
		default:
			var s Sample
			if s, err = sample(line); err == nil {
				s.Family, s.Type = family(s.Name, types)
				err = each(s)
			}
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("a line is longer than %d bytes", maxLine)
		}
		return err
	}
	return nil
}

// family finds the family of a sample named name and its type.
func family(name string, types map[string]string) (string, string) {
	if t, ok := types[name]; ok {
		return name, t
	}
	for _, suffix := range []string{"_sum", "_count", "_bucket"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch t := types[base]; {
		case t == Histogram, t == Summary && suffix != "_bucket":
			return base, t
		}
	}
	types[name] = Untyped
	return name, Untyped
}

// comment reads what follows a '#': a HELP or TYPE line, or any other
// comment, which is ignored.
func comment(rest string, types map[string]string) error {
	keyword, rest := token(strings.TrimLeft(rest, " \t"))
	if keyword != "HELP" && keyword != "TYPE" {
		return nil
	}
	name, rest := token(strings.TrimLeft(rest, " \t"))
	if strings.Contains(name, `"`) {
		return fmt.Errorf("# %s: %w", keyword, ErrQuotedName)
	}
	if name == "" && rest == "" {
		return nil // "# TYPE" alone: a comment, as Prometheus reads it
	}
	if !validMetricName(name) {
		return fmt.Errorf("# %s names %q, which is not a metric name", keyword, name)
	}
	if rest == "" {
		return nil // nothing after the name (not even a blank): a comment too
	}
	if _, ok := types[name]; !ok {
		types[name] = Untyped
	}
	if rest = strings.TrimLeft(rest, " \t"); rest == "" {
		return nil // a name and blanks: Prometheus's family, typed by no line
	}
	if keyword == "HELP" {
		if _, err := unescape(rest); err != nil {
			return fmt.Errorf("# HELP %s: %w", name, err)
		}
		return nil
	}
	typ, after := token(rest)
	typ = strings.ToLower(typ)
	switch typ {
	case Counter, Gauge, Histogram, Summary, Untyped:
	default:
		return fmt.Errorf("# TYPE %s %q: not a metric type (counter, gauge, histogram, summary, untyped)", name, typ)
	}
	if strings.TrimLeft(after, " \t") != "" {
		return fmt.Errorf("# TYPE %s %s: unexpected %q after the type", name, typ, after)
	}
	types[name] = typ
	return nil
}

// sample reads a sample line: name, optional labels, value, optional
// timestamp.
func sample(line string) (Sample, error) {
	end := 0
	for end < len(line) && nameByte(line[end], end == 0, true) {
		end++
	}
	s := Sample{Name: line[:end]}
	if s.Name == "" && strings.HasPrefix(strings.TrimLeft(strings.TrimPrefix(line, "{"), " \t"), `"`) ||
		strings.HasPrefix(line[end:], `"`) {
		return s, fmt.Errorf("%q: %w", cut(line), ErrQuotedName)
	}
	if s.Name == "" {
		return s, fmt.Errorf("%q: expected a metric name", cut(line))
	}
	rest := strings.TrimLeft(line[end:], " \t")
	if strings.HasPrefix(rest, "{") {
		var err error
		if s.Labels, rest, err = labels(rest[1:]); err != nil {
			return s, fmt.Errorf("%s: %w", s.Name, err)
		}
		rest = strings.TrimLeft(rest, " \t")
	}
	value, rest := token(rest)
	v, err := ParseFloat(value)
	if err != nil {
		return s, fmt.Errorf("%s: value %q is not a number", s.Name, value)
	}
	s.Value = v
	if ts, after := token(strings.TrimLeft(rest, " \t")); ts != "" {
		if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
			return s, fmt.Errorf("%s: timestamp %q is not an integer", s.Name, ts)
		}
		if after = strings.TrimLeft(after, " \t"); after != "" {
			return s, fmt.Errorf("%s: unexpected %q after the timestamp", s.Name, cut(after))
		}
	}
	return s, nil
}

// labels reads a label set after its '{' up to its '}', and returns what
// follows the '}'.
func labels(s string) ([]Label, string, error) {
	var out []Label
	for {
		s = strings.TrimLeft(s, " \t")
		if rest, ok := strings.CutPrefix(s, "}"); ok {
			return out, rest, nil
		}
		end := 0
		for end < len(s) && nameByte(s[end], end == 0, false) {
			end++
		}
		name := s[:end]
		if strings.HasPrefix(s[end:], `"`) {
			return nil, "", fmt.Errorf("at %q: %w", cut(s), ErrQuotedName)
		}
		if name == "" {
			return nil, "", fmt.Errorf("expected a label name at %q", cut(s))
		}
		s = strings.TrimLeft(s[end:], " \t")
		rest, ok := strings.CutPrefix(s, "=")
		if !ok {
			return nil, "", fmt.Errorf("label %s: expected '=' at %q", name, cut(s))
		}
		rest, ok = strings.CutPrefix(strings.TrimLeft(rest, " \t"), `"`)
		if !ok {
			return nil, "", fmt.Errorf("label %s: expected a quoted value", name)
		}
		closing := closingQuote(rest)
		if closing < 0 {
			return nil, "", fmt.Errorf("label %s: value has no closing quote", name)
		}
		value, err := unescape(rest[:closing])
		if err != nil {
			return nil, "", fmt.Errorf("label %s: %w", name, err)
		}
		out = append(out, Label{Name: name, Value: value})
		s = strings.TrimLeft(rest[closing+1:], " \t")
		if rest, ok := strings.CutPrefix(s, ","); ok {
			s = rest
		} else if !strings.HasPrefix(s, "}") {
			return nil, "", fmt.Errorf("label %s: expected ',' or '}' at %q", name, cut(s))
		}
	}
}

// closingQuote is the index of the first '"' in s not escaped by a
// backslash, -1 when there is none.
func closingQuote(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// unescape undoes the format's escapes: \\, \n and \" (which Prometheus
// reads in help text as in label values).
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i++; i == len(s) {
			return "", errors.New(`a lone '\' ends the text`)
		}
		switch c := s[i]; {
		case c == '\\':
			b.WriteByte('\\')
		case c == 'n':
			b.WriteByte('\n')
		case c == '"':
			b.WriteByte('"')
		default:
			return "", fmt.Errorf(`invalid escape \%c`, c)
		}
	}
	return b.String(), nil
}

// ParseFloat reads a value as Prometheus does: Go's float syntax without
// hexadecimal mantissas or digit separators.
func ParseFloat(s string) (float64, error) {
	if strings.ContainsAny(s, "pP_") {
		return 0, errors.New("unsupported character in a number")
	}
	return strconv.ParseFloat(s, 64)
}

// token splits s at its first blank.
func token(s string) (string, string) {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// validMetricName reports whether s is a metric name.
func validMetricName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i], i == 0, true) {
			return false
		}
	}
	return s != ""
}

func nameByte(c byte, first, metric bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
		!first && '0' <= c && c <= '9' || metric && c == ':'
}

// cut shortens what an error quotes from a line.
func cut(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
