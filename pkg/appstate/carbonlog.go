package appstate

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EventKind is what MI's log says happened to a CApp.
type EventKind int

// The kinds of CApp log events.
const (
	Deployed   EventKind = iota // Successfully Deployed Carbon Application : <id>{super-tenant}
	Undeployed                  // Successfully undeployed ... : <id>, or Undeploying Faulty Carbon Application On : <path>
	Failed                      // a deployment failed: faulty, refused, or a duplicate id
)

// Event is one CApp line of MI's wso2carbon.log (docs/mi-integrations.md,
// "Hot deployment"). MI names the application by its id (name_version)
// in some lines and by its file in others: App or File is set.
type Event struct {
	Kind EventKind
	App  string // name_version, "" when the line names a file
	File string // the .car's base name, "" when the line names the app
	// Message is why a deployment failed: the message of the exception MI
	// logs with the line (for a faulty application, what the Management
	// API calls its errorMessage), else the line itself.
	Message string
}

// The lines, as CappDeployer writes them. Matching ignores case where MI
// versions differ in it ("Successfully Undeployed" before 4.4).
const (
	lineDeployed       = "successfully deployed carbon application : "
	lineUndeployed     = "successfully undeployed carbon application : "
	lineUndeployFaulty = "undeploying faulty carbon application on : "
	lineFaulty         = "error occurred while deploying the carbon application: "
	lineRefused        = "error while deploying carbon application "
	lineDuplicate      = "carbon application : "
	duplicateTail      = " already exists. two applications can't have the same id."
	tenantSuffix       = "{"
	revertingTail      = ". reverting successfully deployed artifacts"
	revertingEnd       = " in the capp."
)

// markers are the lines' texts with the kind of event each starts.
var markers = []struct {
	text string
	kind EventKind
}{
	{lineDeployed, Deployed}, {lineUndeployed, Undeployed}, {lineUndeployFaulty, Undeployed},
	{lineFaulty, Failed}, {lineRefused, Failed}, {lineDuplicate, Failed},
}

// ParseEvents reads MI log text and returns its CApp events in order.
func ParseEvents(r io.Reader) []Event {
	p := eventParser{awaiting: -1}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.line(sc.Text())
	}
	return p.events
}

// eventParser turns log lines into events, one line at a time, so that a
// log read in pieces parses as the whole would.
type eventParser struct {
	events []Event
	// awaiting is the failure whose exception may follow on the next
	// line (layouts older than MI's "%m%ex%n"), -1 for none.
	awaiting int
	// reverting is the application (name_version) that failed while its
	// artifacts deployed: MI then undeploys what it deployed of it
	// (CappDeployer.handleDeployException) and logs it, and that
	// undeployment of it, the next event, belongs to the failure. "" when
	// none.
	reverting string
}

func (p *eventParser) line(line string) {
	line = strings.TrimRight(line, "\r")
	if p.awaiting >= 0 && !strings.HasPrefix(line, "[") && strings.TrimSpace(line) != "" {
		if !isStackFrame(line) {
			p.events[p.awaiting].Message = exceptionMessage(line)
		}
		p.awaiting = -1
		return
	}
	p.awaiting = -1
	msg := line
	if _, after, ok := strings.Cut(line, "} - "); ok && strings.HasPrefix(line, "[") {
		msg = after // "[date] LEVEL {Class} - message"
	}
	ev, exception, ok := parseMessage(msg)
	if !ok {
		return
	}
	reverted := p.reverting != "" && ev.Kind == Undeployed && ev.App == p.reverting
	p.reverting = ""
	if ev.Kind == Failed && strings.Contains(asciiLower(msg), lineFaulty) {
		p.reverting = strings.TrimSuffix(ev.File, ".car")
	}
	if reverted {
		return
	}
	p.events = append(p.events, ev)
	if ev.Kind == Failed && ev.File != "" && !exception {
		p.awaiting = len(p.events) - 1
	}
}

// parseMessage reads the event of a log message, told by the first marker
// in it: an exception's text after it, on the same line, may quote
// another. exception says the message carried its exception.
func parseMessage(msg string) (ev Event, exception bool, ok bool) {
	lower := asciiLower(msg) // same offsets as msg
	at, text, kind := -1, "", Deployed
	for _, m := range markers {
		i := strings.Index(lower, m.text)
		if i < 0 || (at >= 0 && i >= at) {
			continue
		}
		if m.text == lineDuplicate && !strings.Contains(lower[i+len(m.text):], duplicateTail) {
			continue
		}
		at, text, kind = i, m.text, m.kind
	}
	if at < 0 {
		return Event{}, false, false
	}
	after := msg[at+len(text):]
	rest := strings.TrimSpace(after)
	switch text {
	case lineDeployed, lineUndeployed:
		return Event{Kind: kind, App: appID(rest)}, false, true
	case lineUndeployFaulty:
		file, _ := splitFile(rest)
		return Event{Kind: kind, File: filepath.Base(file)}, false, true
	case lineDuplicate:
		id := strings.TrimSpace(after[:strings.Index(asciiLower(after), duplicateTail)])
		return Event{Kind: kind, App: id, Message: msg}, false, true
	}
	file, tail := splitFile(rest)
	ev = Event{Kind: kind, File: filepath.Base(strings.TrimSuffix(file, ".")), Message: msg}
	if tail != "" {
		ev.Message = exceptionMessage(tail)
	}
	return ev, tail != "", true
}

// splitFile cuts a failure's text after the marker into the .car it names
// and the rest of the line: the exception MI's "%m%ex" layout prints after
// a space ("<path>.car org.wso2...CarbonException: <message>"), or after
// MI's "Reverting successfully deployed artifacts in the CApp.".
func splitFile(s string) (file, tail string) {
	lower := asciiLower(s)
	if i := strings.Index(lower, revertingTail); i >= 0 {
		file, tail = s[:i], s[i+len(revertingTail):]
		if j := strings.Index(asciiLower(tail), revertingEnd); j >= 0 {
			return file, strings.TrimSpace(tail[j+len(revertingEnd):])
		}
		return file, ""
	}
	if end := carEnd(lower); end >= 0 {
		return s[:end], strings.TrimSpace(s[end:])
	}
	return s, ""
}

// carEnd is where a .car's path ends in lower: after the first ".car"
// followed by whitespace or the end, so that a path may hold spaces and an
// exception may follow it on the line. -1 when there is none.
func carEnd(lower string) int {
	for from := 0; ; {
		i := strings.Index(lower[from:], ".car")
		if i < 0 {
			return -1
		}
		end := from + i + len(".car")
		if end == len(lower) || strings.IndexByte(" \t\r\n\v\f", lower[end]) >= 0 {
			return end
		}
		from = end
	}
}

// appID cuts MI's tenant suffix ({super-tenant}) and trailing dots.
func appID(s string) string {
	if i := strings.Index(s, tenantSuffix); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, ". ")
}

// exceptionMessage is a logged exception's message: the text after the
// exception's class name ("org.apache.axis2.deployment.DeploymentException: <message>").
func exceptionMessage(text string) string {
	text = strings.TrimSpace(text)
	if class, msg, ok := strings.Cut(text, ": "); ok && !strings.Contains(class, " ") && strings.Contains(class, ".") {
		return msg
	}
	return text
}

// isStackFrame says a line is part of a java stack trace, never an
// exception's message: "\tat pkg.Class.method(File.java:1)", "\t... 20 more".
func isStackFrame(line string) bool {
	t := strings.TrimSpace(line)
	return strings.HasPrefix(t, "at ") || strings.HasPrefix(t, "... ")
}

// asciiLower lowercases ASCII letters only: unlike strings.ToLower it keeps
// every byte offset, so an index found in it cuts the original string.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Last returns the last event about the application id or the file, and
// whether there is one.
func Last(events []Event, id, file string) (Event, bool) {
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if (e.App != "" && e.App == id) || (e.File != "" && e.File == file) {
			return e, true
		}
	}
	return Event{}, false
}

// maxLogTail bounds what is read of a log that is not followed from an
// offset: MI's wso2carbon.log can grow to hundreds of megabytes between
// rotations, and the last deployments of a running server are near its end.
const maxLogTail = 8 << 20

// logFollower reads a log from an offset on, a little more at each call.
type logFollower struct {
	path string
	off  int64
	// skip is true while the first line of a tail, partial or empty, is
	// skipped (tailLog).
	skip bool
	eventParser
}

// followLog starts following path at its current end: what MI logs from
// now on. A missing file is followed from its start once it appears.
func followLog(path string) *logFollower {
	l := &logFollower{path: path, eventParser: eventParser{awaiting: -1}}
	if fi, err := os.Stat(path); err == nil {
		l.off = fi.Size()
	}
	return l
}

// tailLog starts at the last limit bytes of path (at a line start). It
// reads from one byte earlier and skips the first line it meets: when
// that byte ends a line, the line skipped is empty and the whole line
// starting at the limit is read; else the partial line is skipped.
func tailLog(path string, limit int64) *logFollower {
	l := followLog(path)
	if l.off > limit {
		l.off, l.skip = l.off-limit-1, true
	} else {
		l.off = 0
	}
	return l
}

// read adds the events logged since the last read. A log that shrank was
// rotated or truncated: it is read again from its start.
func (l *logFollower) read() error {
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < l.off {
		l.off, l.skip = 0, false
	}
	if fi.Size() == l.off {
		return nil
	}
	data, err := io.ReadAll(io.NewSectionReader(f, l.off, fi.Size()-l.off))
	if err != nil {
		return err
	}
	// Only whole lines: a line MI is writing now is read at the next call.
	end := bytes.LastIndexByte(data, '\n') + 1
	if end == 0 {
		return nil
	}
	l.off += int64(end)
	for _, line := range strings.Split(string(data[:end-1]), "\n") {
		if l.skip {
			l.skip = false
			continue
		}
		l.line(line)
	}
	return nil
}
