package logs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseSince turns a --since value into the earliest time to show. It
// accepts a duration back from now ("90s", "10m", "2h", "1h30m", or whole
// days "2d"), an RFC 3339 time ("2026-11-25T15:04:05+01:00"), or a local
// time as MI writes it ("2026-11-25 15:04:05", also with ",123"
// milliseconds copied from a log line, "2026-11-25T15:04:05", or a date
// "2026-11-25" meaning its midnight). Times without a zone are local, like
// MI's log timestamps.
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("since: empty value: use a duration like 10m or a time like 2026-11-25 15:04:05")
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("since %q: a duration back from now must not be negative", s)
		}
		return now.Add(-d), nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04:05,000", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("since %q: expected a duration like 10m, 2h or 1d, or a time like \"2026-11-25 15:04:05\" (local) or 2026-11-25T15:04:05Z", s)
}

// tsLen is the length of MI's "[2026-11-25 15:04:05,123]" line prefix.
const tsLen = len("[2006-01-02 15:04:05,000]")

// ParseTimestamp reads the local time at the start of an MI log line,
// "[2026-11-25 15:04:05,123]". Lines without one (stack traces, the
// script's own output) report false. It parses the fixed-width digits by
// hand: it runs on every line of every log shown, and time.Parse would be
// most of the cost.
func ParseTimestamp(line string) (time.Time, bool) {
	if len(line) < tsLen || line[0] != '[' || line[tsLen-1] != ']' {
		return time.Time{}, false
	}
	s := line[1 : tsLen-1] // 2006-01-02 15:04:05,000
	if s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' || s[19] != ',' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d := num(0, 4), num(5, 7), num(8, 10)
	h, mi, sec, ms := num(11, 13), num(14, 16), num(17, 19), num(20, 23)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60 || ms < 0 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, ms*int(time.Millisecond), time.Local), true
}

// SinceFilter keeps the lines of one log whose MI timestamp is at or after
// a time. A line without a timestamp belongs to the timestamped line above
// it (a stack trace, a "[ERROR]" from the script) and shares its fate, so a
// record is kept or dropped whole. Lines before the first timestamped line
// have no time to judge them by and are KEPT: they are typically the
// script's start-up output, which explains a failed start, and dropping
// what cannot be dated would hide it. Use one filter per file, in file
// order; it is not safe for concurrent use.
type SinceFilter struct {
	since time.Time
	keep  bool // the decision for the current record
}

// NewSinceFilter returns a filter keeping lines at or after since; the zero
// time keeps everything.
func NewSinceFilter(since time.Time) *SinceFilter {
	return &SinceFilter{since: since, keep: true}
}

// Keep reports whether line is shown.
func (f *SinceFilter) Keep(line string) bool {
	if f == nil || f.since.IsZero() {
		return true
	}
	if ts, ok := ParseTimestamp(line); ok {
		f.keep = !ts.Before(f.since)
	}
	return f.keep
}
