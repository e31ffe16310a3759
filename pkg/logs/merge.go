package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mictl/mictl/pkg/fsutil"
)

// Source is one log file and the name its lines are shown under.
type Source struct {
	Name string // instance name, used by the Prefixer
	Path string
	// Held, when no file is at Path, is the file deleted from there that
	// a running server still writes to. It is read as the file at Path
	// would be, after the rotated copies, and followed until a file
	// appears at Path. Nil for none.
	Held *Held
}

// Options select what Tail and FollowAll show.
type Options struct {
	// Since drops records older than this (see SinceFilter); zero keeps all.
	Since time.Time
	// Lines shows only the last Lines lines of each file's existing content,
	// after Since; negative shows all. Followed lines are not limited.
	Lines int
	// Prefix names each line's instance; nil prints lines bare (one
	// instance needs no prefix).
	Prefix *Prefixer
	// Added, for FollowAll, brings sources found while following (an
	// instance that started meanwhile): each is followed from its first
	// line. Nil: srcs are all there is.
	Added <-chan Source
	// Released, for FollowAll, is told of each source whose Held file it
	// let go: no process holds that file open any more (its server ended,
	// and nothing started it again), and the file at Path is waited for.
	// Nil: said nowhere.
	Released func(Source)
}

// Tail writes the existing content of srcs to w: per file, the lines
// opts selects, and across files the records (a timestamped line and its
// continuation lines) merged in timestamp order, so the instances' logs read
// as one story and a stack trace is never split. Records without a time
// (lines before a file's first timestamp) come first. A missing file is
// empty.
func Tail(w io.Writer, srcs []Source, opts Options) error {
	m := newMerger(w, srcs, opts, false)
	return m.tail()
}

// FollowAll writes what Tail would, then every line appended to any of srcs
// as it arrives, until ctx is done (then it returns nil) or following one
// file fails (then it stops following all of them and returns that error).
// Each file is followed from exactly where its existing content ended, so
// no line is lost or shown twice between the two phases; a file that does
// not exist yet is waited for, and so is its directory (see Follow). Live lines of different files never mix
// within a line, but may interleave between the lines of a multi-line
// record: waiting for a record to end would delay every line.
//
// Each file costs one inotify instance (see Follow); Linux allows 128 per
// user by default, and the files that find none left are polled.
func FollowAll(ctx context.Context, w io.Writer, srcs []Source, opts Options) error {
	m := newMerger(w, srcs, opts, true)
	if err := m.tail(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex // guards errs
	var errs []error
	var wg sync.WaitGroup
	follow := func(s *mergeSource) {
		wg.Go(func() {
			var released func()
			if opts.Released != nil {
				released = func() { opts.Released(s.Source) }
			}
			err := followFile(ctx, s.Path, s.Held, s.resume, func(line string) {
				if s.filter.Keep(line) {
					if m.out.line(s.prefix, line, true) != nil {
						cancel()
					}
				}
			}, released)
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", s.Name, err))
				mu.Unlock()
				cancel()
			}
		})
	}
	for i := range m.srcs {
		follow(&m.srcs[i])
	}
	for added := opts.Added; added != nil; {
		select {
		case <-ctx.Done():
			added = nil
		case src, ok := <-added:
			if !ok {
				added = nil
				break
			}
			follow(&mergeSource{Source: src, prefix: opts.Prefix.Prefix(src.Name), filter: NewSinceFilter(opts.Since)})
		}
	}
	wg.Wait()
	return errors.Join(append([]error{m.out.error()}, errs...)...)
}

// Prefixer makes the "mi-1  | " prefix that names each line's instance,
// padded to the longest name so the lines themselves line up.
type Prefixer struct {
	width  int
	color  bool
	prefix map[string]string
}

// palette holds the ANSI colours given to instances in turn. Red is left
// out: it reads as an error.
var palette = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

// NewPrefixer prepares prefixes for names. With color, each name gets its
// own colour, in the order of names; the caller decides, because only it
// knows whether the output is a terminal and whether NO_COLOR is set.
func NewPrefixer(names []string, color bool) *Prefixer {
	p := &Prefixer{color: color, prefix: make(map[string]string, len(names))}
	for _, n := range names {
		p.width = max(p.width, len(n))
	}
	for _, n := range names {
		p.Prefix(n)
	}
	return p
}

// Prefix returns the prefix for name ("" from a nil Prefixer). A name not
// given to NewPrefixer (an instance found while following) gets the next
// colour; it is padded to the names given, and is not itself cut. Not
// safe for concurrent use.
func (p *Prefixer) Prefix(name string) string {
	if p == nil {
		return ""
	}
	if s, ok := p.prefix[name]; ok {
		return s
	}
	label := name + strings.Repeat(" ", max(p.width-len(name), 0)) + " |"
	if p.color {
		label = "\x1b[" + palette[len(p.prefix)%len(palette)] + "m" + label + "\x1b[0m"
	}
	p.prefix[name] = label + " "
	return p.prefix[name]
}

// lineWriter is the one place lines reach the output. Its mutex makes each
// line (prefix, text, newline) a single write, so lines of files followed
// concurrently never mix.
type lineWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
}

func (o *lineWriter) line(prefix, text string, flush bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	o.w.WriteString(prefix)
	o.w.WriteString(text)
	o.w.WriteByte('\n')
	if flush {
		o.err = o.w.Flush()
	}
	return o.err
}

func (o *lineWriter) flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = o.w.Flush()
	}
	return o.err
}

// outputError is a failed write of the merged lines, in the user's terms:
// "write: write /dev/stdout: no space left on device" named Go's
// descriptor rather than where the lines went.
func outputError(err error) error {
	return fmt.Errorf("cannot write the logs to the output: %w", fsutil.Cause(err))
}

func (o *lineWriter) error() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return outputError(o.err)
	}
	return nil
}

// merger holds, per source, its filter (shared by both phases so a record
// straddling them is judged once) and where following resumes.
type merger struct {
	srcs   []mergeSource
	opts   Options
	follow bool
	out    *lineWriter
}

type mergeSource struct {
	Source
	prefix string
	filter *SinceFilter
	resume int64 // first byte not shown by the tail phase
}

func newMerger(w io.Writer, srcs []Source, opts Options, follow bool) *merger {
	m := &merger{opts: opts, follow: follow, out: &lineWriter{w: bufio.NewWriterSize(w, 64<<10)}}
	for _, s := range srcs {
		m.srcs = append(m.srcs, mergeSource{Source: s, prefix: opts.Prefix.Prefix(s.Name), filter: NewSinceFilter(opts.Since)})
	}
	return m
}

// tail writes the existing content, merging records across files.
func (m *merger) tail() error {
	readers := make([]*recordReader, len(m.srcs))
	for i := range m.srcs {
		it, closer, err := m.open(&m.srcs[i])
		if err != nil {
			return err
		}
		if closer != nil {
			defer closer.Close()
		}
		readers[i] = &recordReader{it: it}
	}
	heads := make([]*record, len(readers))
	for i, r := range readers {
		var err error
		if heads[i], err = r.next(); err != nil {
			return fmt.Errorf("%s: %w", m.srcs[i].Name, err)
		}
	}
	for {
		best := -1
		for i, h := range heads {
			if h != nil && (best < 0 || h.ts.Before(heads[best].ts)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		for _, text := range heads[best].lines {
			if err := m.out.line(m.srcs[best].prefix, text, false); err != nil {
				return outputError(err)
			}
		}
		var err error
		if heads[best], err = readers[best].next(); err != nil {
			return fmt.Errorf("%s: %w", m.srcs[best].Name, err)
		}
	}
	if err := m.out.flush(); err != nil {
		return outputError(err)
	}
	return nil
}

// open selects the existing lines of s that the options ask for: those of
// its rotated copies (see Rotated), oldest first, then those of the file
// itself, read as one log, so --tail and --since see across a rotation.
//
// The file is opened first, then its copies: a copy-truncate rotation in
// between moves lines the file held into the newest copy, where they are
// still found. A rotation while the copies are opened one by one (which
// renames them) can show a copy twice or leave one out.
func (m *merger) open(s *mergeSource) (lineIter, io.Closer, error) {
	fail := func(files multiCloser, err error) (lineIter, io.Closer, error) {
		files.Close()
		return nil, nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	var files multiCloser
	var parts []*filePart
	cur, err := openPart(s.Path)
	if cur == nil && err == nil && s.Held != nil {
		cur, err = openHeldPart(s.Held)
	}
	if err != nil {
		return fail(files, err)
	}
	if cur != nil {
		files = append(files, cur.f)
	}
	rotated, err := Rotated(s.Path)
	if err != nil {
		return fail(files, err)
	}
	for i := len(rotated) - 1; i >= 0; i-- { // newest first, as the tail is found
		p, err := openPart(rotated[i])
		if err != nil {
			return fail(files, err)
		}
		if p != nil {
			files = append(files, p.f)
			parts = append(parts, p)
		}
	}
	slices.Reverse(parts) // oldest first
	if cur != nil {
		cur.current = true
		parts = append(parts, cur)
	}
	if m.opts.Since.IsZero() && m.opts.Lines >= 0 {
		// Without a time filter the last lines can be found from the end,
		// without reading what comes before them: in the file, then as
		// many as are still missing in the newest copy, and so on.
		need := m.opts.Lines
		first := len(parts)
		for first > 0 && need > 0 {
			p := parts[first-1]
			if p.start, need, err = tailStart(p.f, p.size, need, !(p.current && m.follow)); err != nil {
				return fail(files, fmt.Errorf("read %s: %w", p.path, err))
			}
			first--
		}
		if first == len(parts) && cur != nil { // --tail 0: nothing, and follow from the end
			cur.start, _, err = tailStart(cur.f, cur.size, 0, !m.follow)
			if err != nil {
				return fail(files, fmt.Errorf("read %s: %w", cur.path, err))
			}
		}
		parts = parts[first:]
	}
	chain := &chainLines{}
	for _, p := range parts {
		fl := &fileLines{
			r:      bufio.NewReaderSize(io.NewSectionReader(p.f, p.start, p.size-p.start), 64<<10),
			pos:    p.start,
			filter: s.filter,
			path:   p.path,
		}
		if p.current {
			// Only the file itself is followed, from where its lines end;
			// a copy's partial last line will never be completed.
			fl.follow, fl.resume = m.follow, &s.resume
		}
		chain.parts = append(chain.parts, fl)
	}
	if cur != nil {
		s.resume = cur.start
	}
	if m.opts.Since.IsZero() || m.opts.Lines < 0 {
		return chain, files, nil
	}
	// A time filter and a line count: filter everything, keep the last
	// Lines of what passes.
	defer files.Close()
	ring := make([]string, 0, min(m.opts.Lines, 4096))
	n := 0
	for {
		text, ok, err := chain.next()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		if !ok {
			break
		}
		if m.opts.Lines == 0 {
			continue
		}
		if len(ring) < m.opts.Lines {
			ring = append(ring, text)
		} else {
			ring[n%m.opts.Lines] = text
		}
		n++
	}
	if n > len(ring) {
		k := n % m.opts.Lines
		ring = slices.Concat(ring[k:], ring[:k])
	}
	return &sliceLines{lines: ring}, nil, nil
}

// filePart is one open file of a log: a rotated copy or the file itself
// (current), read from start to the size it had when opened.
type filePart struct {
	f           *os.File
	path        string
	size, start int64
	current     bool
}

// openPart opens the file at path; a missing one is nil.
func openPart(path string) (*filePart, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &filePart{f: f, path: path, size: info.Size()}, nil
}

// openHeldPart is openPart of the file h holds.
func openHeldPart(h *Held) (*filePart, error) {
	f, info, err := h.open()
	if f == nil {
		return nil, err
	}
	return &filePart{f: f, path: h.Link, size: info.Size()}, nil
}

// multiCloser closes every file of a log.
type multiCloser []*os.File

func (c multiCloser) Close() error {
	var errs []error
	for _, f := range c {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// tailStart returns the offset where the last n lines of r[0:size] begin,
// and how many of the n lines r lacks (0 unless r holds fewer than n).
// A final piece without a newline counts as a line only if partialIsLine
// (when following, it is left for Follow to complete).
func tailStart(r io.ReaderAt, size int64, n int, partialIsLine bool) (start int64, missing int, err error) {
	if size == 0 {
		return 0, n, nil
	}
	var last [1]byte
	if _, err := r.ReadAt(last[:], size-1); err == io.EOF {
		return 0, 0, nil // rotated under the reader (errCut)
	} else if err != nil {
		return 0, 0, err
	}
	// Newlines to pass going backwards, counting the one ending the last
	// complete line.
	k := n + 1
	if last[0] != '\n' && partialIsLine {
		k = n
	}
	if k == 0 {
		return size, 0, nil
	}
	found := false
	err = backwardChunks(r, size, func(chunk []byte, at int64) bool {
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] == '\n' {
				if k--; k == 0 {
					start, found = at+int64(i)+1, true
					return false
				}
			}
		}
		return true
	})
	if errors.Is(err, errCut) {
		return 0, 0, nil // rotated under the reader: what is there now is new
	}
	if err != nil || found {
		return start, 0, err
	}
	// The first line has no newline before it: every newline still to pass
	// but that one is a line r does not have.
	return 0, k - 1, nil
}

// lineIter yields lines without their newline.
type lineIter interface {
	next() (text string, ok bool, err error)
}

type sliceLines struct{ lines []string }

func (s *sliceLines) next() (string, bool, error) {
	if len(s.lines) == 0 {
		return "", false, nil
	}
	text := s.lines[0]
	s.lines = s.lines[1:]
	return text, true, nil
}

// chainLines reads the lines of several files as one: a log's rotated
// copies, then the file itself.
type chainLines struct{ parts []*fileLines }

func (c *chainLines) next() (string, bool, error) {
	for len(c.parts) > 0 {
		text, ok, err := c.parts[0].next()
		if err != nil || ok {
			return text, ok, err
		}
		c.parts = c.parts[1:]
	}
	return "", false, nil
}

// fileLines reads lines of a snapshot of a file, passes them through the
// filter and, when following, records where the last complete line ended.
type fileLines struct {
	r      *bufio.Reader
	pos    int64
	follow bool
	filter *SinceFilter
	resume *int64 // where following resumes; nil for a rotated copy
	path   string
}

func (l *fileLines) next() (string, bool, error) {
	for {
		var acc []byte
		var err error
		for {
			var chunk []byte
			chunk, err = l.r.ReadSlice('\n')
			acc = append(acc, chunk...)
			if err == bufio.ErrBufferFull && len(acc) < maxLine {
				continue
			}
			break
		}
		switch {
		case err == nil || err == bufio.ErrBufferFull:
		case err == io.EOF:
			// A partial last line: shown when only printing, left to
			// Follow (which starts at its first byte) when following.
			if len(acc) == 0 || l.follow {
				return "", false, nil
			}
		default:
			return "", false, fmt.Errorf("read %s: %w", l.path, err)
		}
		l.pos += int64(len(acc))
		if l.resume != nil {
			*l.resume = l.pos
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(acc), "\n"), "\r")
		if l.filter.Keep(text) {
			return text, true, nil
		}
	}
}

// record is a timestamped line with the lines that continue it; ts is zero
// for lines before a file's first timestamp.
type record struct {
	ts    time.Time
	lines []string
}

// recordReader groups a file's lines into records, looking one line ahead.
type recordReader struct {
	it      lineIter
	peek    string
	hasPeek bool
}

func (r *recordReader) next() (*record, error) {
	first, ok := r.peek, r.hasPeek
	r.hasPeek = false
	if !ok {
		var err error
		if first, ok, err = r.it.next(); err != nil || !ok {
			return nil, err
		}
	}
	rec := &record{lines: []string{first}}
	rec.ts, _ = ParseTimestamp(first)
	for {
		text, ok, err := r.it.next()
		if err != nil || !ok {
			return rec, err
		}
		if _, stamped := ParseTimestamp(text); stamped {
			r.peek, r.hasPeek = text, true
			return rec, nil
		}
		rec.lines = append(rec.lines, text)
	}
}
