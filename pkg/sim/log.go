package sim

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mictl/mictl/pkg/fsutil"
)

// LogTimeLayout is MI's log4j2 %d layout: "[2026-11-25 15:04:05,123]".
const LogTimeLayout = "2006-01-02 15:04:05,000"

// logger writes MI's pattern "[%d] %5p {%c{1}} - %m%n" to stdout and to
// repository/logs/wso2carbon.log, as MI's CARBON_CONSOLE and CARBON_LOGFILE
// appenders do (docs/mi-facts.md, "Start, stop, files": start log). Like
// CARBON_LOGFILE (a daily TimeBasedTriggeringPolicy, filePattern
// wso2carbon-%d{MM-dd-yyyy}.log) it rolls the file over at the first line
// of a new day: the day's lines go to wso2carbon-MM-dd-yyyy.log.
type logger struct {
	mu   sync.Mutex
	out  io.Writer
	file *os.File
	path string
	// day is the day of the lines in file (midnight, local time); now is
	// the clock, time.Now but in tests.
	day time.Time
	now func() time.Time
}

// newLogger logs to stdout and to the home's wso2carbon.log; a log file
// that cannot be opened is said on stdout, as log4j2 says it, and the
// server logs to stdout alone.
func newLogger(stdout io.Writer, home string) *logger {
	l := &logger{out: stdout, path: filepath.Join(home, LogPath), now: time.Now}
	err := os.MkdirAll(filepath.Join(home, LogDir), 0o755)
	if err == nil {
		err = l.open()
	}
	if err != nil {
		l.log("ERROR", "Log4j", "Unable to create the log file %s: %v", l.path, err)
	}
	return l
}

// open opens the log for appending; its lines are of the day it was last
// written (as log4j2 takes a file's time at start), today's when new.
func (l *logger) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	l.file, l.day = f, midnight(l.now())
	if info, err := f.Stat(); err == nil && info.Size() > 0 {
		l.day = midnight(info.ModTime())
	}
	return nil
}

func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// rollOver moves the log of an earlier day to wso2carbon-MM-dd-yyyy.log
// (-1, -2, ... when that name is taken) and starts a new one; a failure
// is said in the log, which goes on where it was.
func (l *logger) rollOver() {
	stem := strings.TrimSuffix(l.path, ".log") + "-" + l.day.Format("01-02-2006")
	rolled := stem + ".log"
	for i := 1; fsutil.Exists(rolled); i++ {
		rolled = fmt.Sprintf("%s-%d.log", stem, i)
	}
	if err := os.Rename(l.path, rolled); err != nil {
		l.day = midnight(l.now())
		l.file.WriteString(formatLine(l.now(), "ERROR", "Log4j", fmt.Sprintf("Unable to roll over %s: %v", l.path, err)))
		return
	}
	l.file.Close()
	l.file = nil
	if err := l.open(); err != nil && l.out != nil {
		io.WriteString(l.out, formatLine(l.now(), "ERROR", "Log4j", fmt.Sprintf("Unable to create the log file %s: %v", l.path, err)))
	}
}

func formatLine(t time.Time, level, class, msg string) string {
	return fmt.Sprintf("[%s] %5s {%s} - %s\n", t.Format(LogTimeLayout), level, class, msg)
}

func (l *logger) log(level, class, format string, args ...any) {
	l.write(formatLine(l.now(), level, class, fmt.Sprintf(format, args...)))
}

// errorWith logs an ERROR line with a java exception as MI's layout
// "%m%ex%n" prints one: log4j2's throwable converter adds a space (not a
// line break) after a message that does not end in whitespace, then the
// exception's toString() and its stack frames, each frame on a line of its
// own; the trace's last line break and %n leave an empty line. The
// simulator's trace is one frame naming the logging class.
func (l *logger) errorWith(class, exception, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r, _ := utf8.DecodeLastRuneInString(msg); msg != "" && !unicode.IsSpace(r) {
		msg += " "
	}
	l.write(formatLine(l.now(), "ERROR", class, msg+exception) + "\tat mictl.sim." + class + ".deploy(Unknown Source)\n\n")
}

func (l *logger) write(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.out != nil {
		io.WriteString(l.out, line)
	}
	if l.file != nil && midnight(l.now()).After(l.day) {
		l.rollOver()
	}
	if l.file != nil {
		l.file.WriteString(line)
	}
}

func (l *logger) info(class, format string, args ...any)  { l.log("INFO", class, format, args...) }
func (l *logger) warn(class, format string, args ...any)  { l.log("WARN", class, format, args...) }
func (l *logger) error(class, format string, args ...any) { l.log("ERROR", class, format, args...) }

func (l *logger) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.Close()
		l.file = nil
	}
}
