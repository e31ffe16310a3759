// Package proc gives the supervisor the Linux process facts it acts on:
// who a pid really is (pid + start time), which processes belong to an
// instance (process group, descendants), and when a process it did not start
// exits. Everything comes from /proc and system calls, never from ps or
// pgrep: they are slow, their output formats vary, and they race the same
// way /proc does without telling us.
//
// The one idea running through the package: a pid alone names nothing. The
// kernel hands pids out again, and MI leaves stale wso2carbon.pid files
// behind (docs/mi-facts.md, "Start, stop, files"), so every decision that could hit
// the wrong process (signal it, adopt it, call it alive) goes through an
// Identity, the pair (pid, start time), which the kernel never repeats.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// ErrNoProcess is wrapped by every error that means "this pid does not
// exist (any more)", so callers can tell a vanished process, which is
// routine for a supervisor, from a real failure such as EACCES.
var ErrNoProcess = errors.New("no such process")

// Identity names one process incarnation: a pid is reused by the kernel,
// the pair (pid, start time) is not. It is what the state file stores for
// every process mictl may later signal or adopt.
type Identity struct {
	PID int `json:"pid"`
	// StartTime is field 22 of /proc/<pid>/stat: clock ticks since boot.
	// It is only ever compared for equality, so it is kept in the kernel's
	// unit rather than converted to wall time (the conversion needs the
	// boot time and the tick rate and would round).
	StartTime uint64 `json:"start_time"`
}

// String prints the identity the way log lines and errors show it.
func (id Identity) String() string {
	return fmt.Sprintf("pid %d (start %d)", id.PID, id.StartTime)
}

// IsZero reports whether id names no process (never identified).
func (id Identity) IsZero() bool { return id.PID == 0 && id.StartTime == 0 }

// Stat is the part of /proc/<pid>/stat a supervisor needs.
type Stat struct {
	PID   int
	PPID  int
	PGID  int
	SID   int
	State byte // R, S, D, Z, T, t, X, I, ...; Z (zombie) and X (dead) are exited
	// StartTime is field 22, clock ticks after boot (see Identity).
	StartTime uint64
	// Comm is the kernel's command name, at most 15 bytes, possibly holding
	// spaces and parentheses: it is whatever the program set.
	Comm string
	// UTime and STime are the CPU time the process spent in user and
	// kernel mode; CUTime and CSTime that of its children that exited and
	// were waited for by it. All in clock ticks (see ClockTicks), as the
	// kernel counts them (fields 14-17).
	UTime, STime, CUTime, CSTime uint64
	// Threads is the number of threads (field 20).
	Threads int
	// RSSPages is the resident set size in pages (field 24); shared pages
	// count in every process that maps them.
	RSSPages uint64
}

// Identity returns the incarnation s describes.
func (s Stat) Identity() Identity { return Identity{PID: s.PID, StartTime: s.StartTime} }

// Exited reports whether the process has finished running: a zombie
// (waiting to be reaped) or dead. For a supervisor such a process is gone:
// it holds no ports and will never answer a health check.
func (s Stat) Exited() bool { return s.State == 'Z' || s.State == 'X' || s.State == 'x' }

// Field numbers of /proc/<pid>/stat (proc(5), 1-based), counted after comm:
// field 3 (state) is the first one after the closing parenthesis.
const (
	fieldState     = 3
	fieldPPID      = 4
	fieldPGRP      = 5
	fieldSession   = 6
	fieldUTime     = 14
	fieldSTime     = 15
	fieldCUTime    = 16
	fieldCSTime    = 17
	fieldThreads   = 20
	fieldStartTime = 22
	fieldRSS       = 24
	lastField      = fieldRSS
)

// parseStat decodes one /proc/<pid>/stat line.
//
// comm (field 2) is the only free-form field and may contain spaces and ')'
// (a program can name itself "a) b"), so the line is split at the FIRST '('
// and the LAST ')': nothing after comm can contain a parenthesis, everything
// else is space-separated numbers and the one-letter state.
func parseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return s, fmt.Errorf("parse stat %q: no (comm)", truncate(b))
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return s, fmt.Errorf("parse stat %q: pid: %w", truncate(b), err)
	}
	s.PID = pid
	s.Comm = string(b[open+1 : closing])

	rest := b[closing+1:]
	field := fieldState
	for field <= lastField {
		rest = bytes.TrimLeft(rest, " ")
		if len(rest) == 0 {
			return s, fmt.Errorf("parse stat %q: %d fields, want at least %d", truncate(b), field-1, lastField)
		}
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		tok := rest[:end]
		rest = rest[end:]
		switch field {
		case fieldState:
			if len(tok) != 1 {
				return s, fmt.Errorf("parse stat %q: state %q", truncate(b), tok)
			}
			s.State = tok[0]
		case fieldPPID, fieldPGRP, fieldSession, fieldThreads:
			n, err := strconv.Atoi(string(tok))
			if err != nil {
				return s, fmt.Errorf("parse stat %q: field %d: %w", truncate(b), field, err)
			}
			switch field {
			case fieldPPID:
				s.PPID = n
			case fieldPGRP:
				s.PGID = n
			case fieldSession:
				s.SID = n
			default:
				s.Threads = n
			}
		case fieldUTime, fieldSTime, fieldCUTime, fieldCSTime, fieldStartTime, fieldRSS:
			n, err := strconv.ParseUint(string(tok), 10, 64)
			if err != nil {
				return s, fmt.Errorf("parse stat %q: field %d: %w", truncate(b), field, err)
			}
			switch field {
			case fieldUTime:
				s.UTime = n
			case fieldSTime:
				s.STime = n
			case fieldCUTime:
				s.CUTime = n
			case fieldCSTime:
				s.CSTime = n
			case fieldStartTime:
				s.StartTime = n
			default:
				s.RSSPages = n
			}
		}
		field++
	}
	return s, nil
}

// truncate keeps error messages about a malformed line short.
func truncate(b []byte) []byte {
	const max = 80
	if len(b) > max {
		return b[:max]
	}
	return b
}
