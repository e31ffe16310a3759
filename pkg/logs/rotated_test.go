package logs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/syncbuf"
)

func TestRotatedNamesOldestFirst(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		"console.log", "console.log.1", "console.log.2", "console.log.10",
		// Not copies: a rotation's temporary file, compressed, other logs.
		".console.log.1.tmp-123", "console.log.1.gz", "console.log.01", "console.log.x", "other.log.1",
		"wso2carbon.log",
		// MI's log4j2 filePattern, with and without %i.
		"wso2carbon-11-25-2026.log", "wso2carbon-11-24-2026.log", "wso2carbon-01-02-2027.log",
		"wso2carbon-11-26-2026-2.log", "wso2carbon-11-26-2026-10.log", "wso2carbon-11-26-2026-1.log",
		"wso2carbon-13-40-2026.log", "wso2carbon-11-25-2026.log.gz", "wso2carbon-11-25-2026-x.log", "wso2error-11-25-2026.log",
	} {
		writeFile(t, filepath.Join(dir, name), "")
	}
	if err := os.Mkdir(filepath.Join(dir, "console.log.3"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		log  string
		want []string
	}{
		// RotateIfLarger's path.1 is the newest.
		{"console.log", []string{"console.log.10", "console.log.2", "console.log.1"}},
		{"wso2carbon.log", []string{"wso2carbon-11-24-2026.log", "wso2carbon-11-25-2026.log",
			"wso2carbon-11-26-2026-1.log", "wso2carbon-11-26-2026-2.log", "wso2carbon-11-26-2026-10.log",
			"wso2carbon-01-02-2027.log"}},
		{"none.log", nil},
	}
	for _, tt := range tests {
		got, err := Rotated(filepath.Join(dir, tt.log))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range got {
			if filepath.Dir(p) != dir {
				t.Errorf("%s: %s is not in %s", tt.log, p, dir)
			}
			names = append(names, filepath.Base(p))
		}
		if !slices.Equal(names, tt.want) {
			t.Errorf("Rotated(%s) = %q, want %q", tt.log, names, tt.want)
		}
	}
	if got, err := Rotated(filepath.Join(dir, "nope", "console.log")); err != nil || got != nil {
		t.Errorf("missing directory: %q, %v", got, err)
	}
}

// rotatedLog writes a console.log as the daemon leaves it right after a
// rotation (RotateIfLarger): the lines in console.log.2 (oldest) and
// console.log.1, and console.log empty, or holding live, when given.
func rotatedLog(t *testing.T, live string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "console.log")
	writeFile(t, path+".2", "starting\n[2026-11-25 15:00:01,000]  INFO - l1\n[2026-11-25 15:00:02,000]  INFO - l2\n")
	// A stack trace cut by the rotation: its record goes on in the next file.
	writeFile(t, path+".1", "[2026-11-25 15:00:03,000] ERROR - l3\n\tat one\n[2026-11-25 15:00:04,000]  INFO - l4\n[2026-11-25 15:00:05,000] ERROR - l5\n")
	writeFile(t, path, live)
	return path
}

func TestTailAcrossRotation(t *testing.T) {
	since := time.Date(2026, 11, 25, 15, 0, 4, 0, time.Local)
	all := "starting\n[2026-11-25 15:00:01,000]  INFO - l1\n[2026-11-25 15:00:02,000]  INFO - l2\n" +
		"[2026-11-25 15:00:03,000] ERROR - l3\n\tat one\n[2026-11-25 15:00:04,000]  INFO - l4\n[2026-11-25 15:00:05,000] ERROR - l5\n"
	tests := []struct {
		name, live string
		opts       Options
		want       string
	}{
		{"all, log empty after the rotation", "", Options{Lines: -1}, all},
		{"tail within the newest copy", "", Options{Lines: 2}, "[2026-11-25 15:00:04,000]  INFO - l4\n[2026-11-25 15:00:05,000] ERROR - l5\n"},
		{"tail across both copies", "", Options{Lines: 5}, "[2026-11-25 15:00:02,000]  INFO - l2\n" +
			"[2026-11-25 15:00:03,000] ERROR - l3\n\tat one\n[2026-11-25 15:00:04,000]  INFO - l4\n[2026-11-25 15:00:05,000] ERROR - l5\n"},
		{"tail of more than there is", "", Options{Lines: 100}, all},
		{"tail across the log and a copy", "\tat two\n[2026-11-25 15:00:06,000]  INFO - l6", Options{Lines: 3},
			"[2026-11-25 15:00:05,000] ERROR - l5\n\tat two\n[2026-11-25 15:00:06,000]  INFO - l6\n"},
		{"tail 0", "l6\n", Options{Lines: 0}, ""},
		// Lines before the first timestamp cannot be dated and are kept.
		{"since", "", Options{Lines: -1, Since: since}, "starting\n[2026-11-25 15:00:04,000]  INFO - l4\n[2026-11-25 15:00:05,000] ERROR - l5\n"},
		// The stack trace continued in console.log goes with its record,
		// which is in console.log.1.
		{"since, a record across the rotation", "\tat two\n", Options{Lines: -1, Since: since.Add(time.Second)},
			"starting\n[2026-11-25 15:00:05,000] ERROR - l5\n\tat two\n"},
		{"since and tail", "[2026-11-25 15:00:06,000]  INFO - l6\n", Options{Lines: 2, Since: time.Date(2026, 11, 25, 15, 0, 1, 0, time.Local)},
			"[2026-11-25 15:00:05,000] ERROR - l5\n[2026-11-25 15:00:06,000]  INFO - l6\n"},
	}
	for _, tt := range tests {
		path := rotatedLog(t, tt.live)
		var out bytes.Buffer
		if err := Tail(&out, []Source{{Name: "mi-1", Path: path}}, tt.opts); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if out.String() != tt.want {
			t.Errorf("%s: got:\n%s\nwant:\n%s", tt.name, out.String(), tt.want)
		}
	}
}

// --tail reads a log from its end, file by file, and never the lines
// before those it shows: a 10 MB copy costs what its last lines cost.
func TestTailDoesNotReadWholeCopies(t *testing.T) {
	path := rotatedLog(t, "")
	line := "[2026-11-25 14:00:00,000]  INFO - " + strings.Repeat("x", 90) + "\n"
	writeFile(t, path+".3", strings.Repeat(line, (10<<20)/len(line)))
	var out bytes.Buffer
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	// Enough lines to need all three files.
	err := Tail(&out, []Source{{Name: "mi-1", Path: path}}, Options{Lines: 9})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), line+line+"starting\n") {
		t.Errorf("got:\n%s", out.String())
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Errorf("--tail 9 allocated %d bytes: it read the 10 MB copy", alloc)
	}
}

// Following a log just rotated shows the last lines from its copy, then
// what is appended to the log itself, and ends when told to.
func TestFollowAllAfterRotation(t *testing.T) {
	path := rotatedLog(t, "")
	var out syncbuf.Buffer
	stop := followAll(t, &out, []Source{{Name: "mi-1", Path: path}}, Options{Lines: 2})
	waitFor(t, &out, "[2026-11-25 15:00:04,000]  INFO - l4\n[2026-11-25 15:00:05,000] ERROR - l5\n")
	appendTo(t, path, "[2026-11-25 15:00:06,000]  INFO - l6\n")
	waitFor(t, &out, "l5\n[2026-11-25 15:00:06,000]  INFO - l6\n")
	stop()
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("%d lines, want 3:\n%s", n, out.String())
	}
}

func TestTailManyRotatedCopies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "console.log")
	var want strings.Builder
	for i := 12; i >= 1; i-- { // console.log.12 is the oldest
		line := fmt.Sprintf("line from copy %d\n", i)
		writeFile(t, fmt.Sprintf("%s.%d", path, i), line)
		want.WriteString(line)
	}
	var out bytes.Buffer
	if err := Tail(&out, []Source{{Name: "mi-1", Path: path}}, Options{Lines: -1}); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want.String())
	}
}
