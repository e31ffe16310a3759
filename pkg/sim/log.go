package sim

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// LogTimeLayout is MI's log4j2 %d layout: "[2026-11-25 15:04:05,123]".
const LogTimeLayout = "2006-01-02 15:04:05,000"

// logger writes MI's pattern "[%d] %5p {%c{1}} - %m%n" to stdout and to
// repository/logs/wso2carbon.log, as MI's CARBON_CONSOLE and CARBON_LOGFILE
// appenders do (docs/mi-facts.md, "Start, stop, files": start log).
type logger struct {
	mu   sync.Mutex
	out  io.Writer
	file *os.File
}

// newLogger logs to stdout and to the home's wso2carbon.log; a log file
// that cannot be opened is said on stdout, as log4j2 says it, and the
// server logs to stdout alone.
func newLogger(stdout io.Writer, home string) *logger {
	l := &logger{out: stdout}
	err := os.MkdirAll(filepath.Join(home, LogDir), 0o755)
	if err == nil {
		l.file, err = os.OpenFile(filepath.Join(home, LogPath), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	}
	if err != nil {
		l.log("ERROR", "Log4j", "Unable to create the log file %s: %v", filepath.Join(home, LogPath), err)
	}
	return l
}

func formatLine(t time.Time, level, class, msg string) string {
	return fmt.Sprintf("[%s] %5s {%s} - %s\n", t.Format(LogTimeLayout), level, class, msg)
}

func (l *logger) log(level, class, format string, args ...any) {
	l.write(formatLine(time.Now(), level, class, fmt.Sprintf(format, args...)))
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
	l.write(formatLine(time.Now(), "ERROR", class, msg+exception) + "\tat mictl.sim." + class + ".deploy(Unknown Source)\n\n")
}

func (l *logger) write(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.out != nil {
		io.WriteString(l.out, line)
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
