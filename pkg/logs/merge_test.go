package logs

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/syncbuf"
)

func TestTailStart(t *testing.T) {
	tests := []struct {
		content       string
		n             int
		partialIsLine bool
		want          string // the content from the returned offset on
		missing       int    // lines short of n
	}{
		{"a\nb\nc\n", 2, true, "b\nc\n", 0},
		{"a\nb\nc\n", 0, true, "", 0},
		{"a\nb\nc\n", 3, true, "a\nb\nc\n", 0},
		{"a\nb\nc\n", 9, true, "a\nb\nc\n", 6},
		{"a\nb\nc", 2, true, "b\nc", 0},
		{"a\nb\nc", 0, true, "", 0},
		{"a\nb\nc", 4, true, "a\nb\nc", 1},
		{"a\nb\nc", 2, false, "a\nb\nc", 0}, // following: "c" is not a line yet
		{"a\nb\nc", 3, false, "a\nb\nc", 1},
		{"a\nb\nc", 0, false, "c", 0}, // ...and is left to Follow to finish
		{"", 3, true, "", 3},
		{strings.Repeat("x\n", 100000), 1, true, "x\n", 0}, // more than one chunk
		{strings.Repeat("x\n", 100000), 100001, true, strings.Repeat("x\n", 100000), 1},
	}
	for _, tt := range tests {
		got, missing, err := tailStart(strings.NewReader(tt.content), int64(len(tt.content)), tt.n, tt.partialIsLine)
		if err != nil || tt.content[got:] != tt.want || missing != tt.missing {
			t.Errorf("tailStart(%.20q, %d, %v) = %d (%.20q), %d missing, %v; want %.20q, %d missing",
				tt.content, tt.n, tt.partialIsLine, got, tt.content[got:], missing, err, tt.want, tt.missing)
		}
	}
}

func TestPrefixer(t *testing.T) {
	p := NewPrefixer([]string{"mi-1", "mi-orders"}, false)
	if got := p.Prefix("mi-1"); got != "mi-1      | " {
		t.Errorf("Prefix(mi-1) = %q", got)
	}
	if got := p.Prefix("mi-orders"); got != "mi-orders | " {
		t.Errorf("Prefix(mi-orders) = %q", got)
	}
	c := NewPrefixer([]string{"mi-1", "mi-2"}, true)
	if a, b := c.Prefix("mi-1"), c.Prefix("mi-2"); a == b || !strings.HasPrefix(a, "\x1b[") || !strings.Contains(a, "mi-1 |\x1b[0m ") {
		t.Errorf("colored prefixes = %q, %q", a, b)
	}
	var none *Prefixer
	if none.Prefix("mi-1") != "" {
		t.Error("nil Prefixer adds a prefix")
	}
}

// twoInstances writes two logs whose records interleave in time; mi-2's
// error has a stack trace and its file ends with a partial line.
func twoInstances(t *testing.T) []Source {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	writeFile(t, a, `starting mi-1
[2026-11-25 15:00:01,000]  INFO - a1
[2026-11-25 15:00:03,000]  INFO - a3
[2026-11-25 15:00:05,000]  INFO - a5
`)
	writeFile(t, b, `[2026-11-25 15:00:02,000] ERROR - b2
java.net.BindException: Address already in use
	at sun.nio.ch.Net.bind(Net.java:555)
[2026-11-25 15:00:04,000]  INFO - b4
[2026-11-25 15:00:06,000]  INFO - b6 partial`)
	return []Source{{Name: "mi-1", Path: a}, {Name: "mi-2", Path: b}}
}

func TestTailMergesByTime(t *testing.T) {
	srcs := twoInstances(t)
	var out bytes.Buffer
	err := Tail(&out, srcs, Options{Lines: -1, Prefix: NewPrefixer([]string{"mi-1", "mi-2"}, false)})
	if err != nil {
		t.Fatal(err)
	}
	want := `mi-1 | starting mi-1
mi-1 | [2026-11-25 15:00:01,000]  INFO - a1
mi-2 | [2026-11-25 15:00:02,000] ERROR - b2
mi-2 | java.net.BindException: Address already in use
mi-2 | 	at sun.nio.ch.Net.bind(Net.java:555)
mi-1 | [2026-11-25 15:00:03,000]  INFO - a3
mi-2 | [2026-11-25 15:00:04,000]  INFO - b4
mi-1 | [2026-11-25 15:00:05,000]  INFO - a5
mi-2 | [2026-11-25 15:00:06,000]  INFO - b6 partial
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestTailLinesAndSince(t *testing.T) {
	srcs := twoInstances(t)
	since := time.Date(2026, 11, 25, 15, 0, 2, 0, time.Local)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"last 2 per file", Options{Lines: 2}, `[2026-11-25 15:00:03,000]  INFO - a3
[2026-11-25 15:00:04,000]  INFO - b4
[2026-11-25 15:00:05,000]  INFO - a5
[2026-11-25 15:00:06,000]  INFO - b6 partial
`},
		{"since", Options{Lines: -1, Since: since}, `starting mi-1
[2026-11-25 15:00:02,000] ERROR - b2
java.net.BindException: Address already in use
	at sun.nio.ch.Net.bind(Net.java:555)
[2026-11-25 15:00:03,000]  INFO - a3
[2026-11-25 15:00:04,000]  INFO - b4
[2026-11-25 15:00:05,000]  INFO - a5
[2026-11-25 15:00:06,000]  INFO - b6 partial
`},
		// The cut can fall inside a record: its first line then has no time
		// and sorts first, after records of earlier files without a time.
		{"since and last 4", Options{Lines: 4, Since: since}, `starting mi-1
java.net.BindException: Address already in use
	at sun.nio.ch.Net.bind(Net.java:555)
[2026-11-25 15:00:03,000]  INFO - a3
[2026-11-25 15:00:04,000]  INFO - b4
[2026-11-25 15:00:05,000]  INFO - a5
[2026-11-25 15:00:06,000]  INFO - b6 partial
`},
		{"none", Options{Lines: 0}, ""},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if err := Tail(&out, srcs, tt.opts); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("%s: got:\n%s\nwant:\n%s", tt.name, out.String(), tt.want)
		}
	}
}

// waitFor waits until the output contains want.
func waitFor(t *testing.T, out *syncbuf.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFollowAll(t *testing.T) {
	srcs := twoInstances(t)
	late := filepath.Join(filepath.Dir(srcs[0].Path), "late.log")
	srcs = append(srcs, Source{Name: "mi-late", Path: late})
	var out syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- FollowAll(ctx, &out, srcs, Options{Lines: 1, Prefix: NewPrefixer([]string{"mi-1", "mi-2", "mi-late"}, false)})
	}()
	// The last complete line of each file; mi-2's partial line waits.
	waitFor(t, &out, "mi-2    | [2026-11-25 15:00:04,000]  INFO - b4\nmi-1    | [2026-11-25 15:00:05,000]  INFO - a5\n")
	appendTo(t, srcs[1].Path, " now complete\n")
	waitFor(t, &out, "mi-2    | [2026-11-25 15:00:06,000]  INFO - b6 partial now complete\n")
	appendTo(t, srcs[0].Path, "a7\n")
	waitFor(t, &out, "mi-1    | a7\n")
	appendTo(t, late, "born late\n")
	waitFor(t, &out, "mi-late | born late\n")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("FollowAll: %v", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 5 {
		t.Errorf("%d lines, want 5:\n%s", n, out.String())
	}
}

// fullWriter fails every write as a full disk does.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) {
	return 0, &fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
}

// A failed write of the merged lines says where they went, in the user's
// terms: "write: write /dev/stdout: no space left on device" named Go's
// descriptor twice.
func TestTailSaysWhyTheOutputFailed(t *testing.T) {
	err := Tail(fullWriter{}, twoInstances(t), Options{Lines: -1, Prefix: NewPrefixer([]string{"mi-1", "mi-2"}, false)})
	if want := "cannot write the logs to the output: no space left on device"; err == nil || err.Error() != want || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Tail into a full disk: %v; want %q", err, want)
	}
}

// A log cut shorter while it is read backwards (copy-truncate rotation
// under the reader) is read from its start, not failed nor read from
// stale bytes: what it held before went with the rotation.
func TestTailStartOfALogCutWhileRead(t *testing.T) {
	long := strings.Repeat("x\n", 100000) // more than one chunk
	for _, now := range []string{"", "new\n", long[:backwardsChunk+3]} {
		got, missing, err := tailStart(strings.NewReader(now), int64(len(long)), 5, true)
		if err != nil || got != 0 || missing != 0 {
			t.Errorf("tailStart of a %d-byte log now %d bytes: %d, %d missing, %v; want 0, 0 missing, no error", len(long), len(now), got, missing, err)
		}
	}
	if err := backwardChunks(strings.NewReader("abc"), 10, func([]byte, int64) bool { return true }); !errors.Is(err, errCut) {
		t.Errorf("backwardChunks of a reader shorter than its size: %v, want errCut", err)
	}
}
