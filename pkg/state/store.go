package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/fsutil"
)

const (
	stateFile   = "state.json"
	lockFile    = "state.lock"
	corruptFile = "state.json.corrupt" // where UpdateOrRebuild keeps a file it replaced

	// The directory holds pids mictl will signal and the daemon's control
	// socket: only its owner may list it or swap files in it.
	dirPerm  = 0o700
	filePerm = 0o600
)

// CorruptError says state.json exists but cannot be trusted: it is not
// valid JSON, not a state file, or written by a newer mictl. Callers warn
// and rebuild the state from the instances' pid files (see UpdateOrRebuild);
// they never treat it as "nothing runs", since processes may well run.
type CorruptError struct {
	Path   string // the state file
	Reason string // what is wrong, for the user
	// Version is the schema version found in the file, 0 if none was read.
	Version int
	Err     error // the decoding error, if there was one
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state file %s: %s", e.Path, e.Reason)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Newer reports whether the file was written by a newer mictl. Such a file
// is not damaged: its owner may be running, and it must not be rebuilt over.
func (e *CorruptError) Newer() bool { return e.Version > SchemaVersion }

// Store is the state directory. All its methods may be called from several
// goroutines, and Lock excludes other mictl processes as well.
type Store struct {
	dir string
	// sem serialises lock holders of this process, so its goroutines
	// queue here rather than each holding a descriptor in flock; the
	// flock then contends with other processes, and with waits of this
	// process that gave up (see Lock).
	sem chan struct{}
	// quick writes skip the fsyncs (see Quick).
	quick bool
}

// Quick returns s writing without fsync: still atomically (a reader sees
// the old file or the whole new one), but after a power failure the file
// may be the one before, or even empty, and is then rebuilt from the
// homes. It is for writes that a durable one follows within the same
// command (the daemon answers a request only after a durable write of
// what must outlive a power failure: for a stop, that the instances are
// no longer wanted, not how each stop ended), so that a command pays for
// one fsync'd write, not one per step.
func (s *Store) Quick() *Store {
	q := *s
	q.quick = true
	return &q
}

// Open makes dir (instances/.mictl) ready for use: created with mode 0700
// if missing, its parents 0755, and tightened to 0700 if it exists with
// looser permissions (a group- or world-writable state dir would let
// another user plant pids for mictl to signal). Its errors are DirErrors.
func Open(dir string) (*Store, error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, dirError("create", "the instances directory", parent, err)
	}
	if err := os.Mkdir(dir, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, dirError("create", "the state directory", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, dirError("read", "the state directory", dir, err)
	}
	if !fi.IsDir() {
		return nil, dirError("use", "the state directory", dir, unix.ENOTDIR)
	}
	if fi.Mode().Perm() != dirPerm {
		if err := os.Chmod(dir, dirPerm); err != nil {
			return nil, dirError("chmod 0700", "the state directory", dir, err)
		}
	}
	return &Store{dir: dir, sem: make(chan struct{}, 1)}, nil
}

// OpenExisting opens dir for reading only: nothing is created or
// changed, so a command that only looks works in a directory it may not
// write (and leaves nothing behind before the first mictl up). A missing
// dir gives an error wrapping fs.ErrNotExist. Its errors are DirErrors.
func OpenExisting(dir string) (*Store, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, dirError("read", "the state directory", dir, err)
	}
	if !fi.IsDir() {
		return nil, dirError("use", "the state directory", dir, unix.ENOTDIR)
	}
	return &Store{dir: dir, sem: make(chan struct{}, 1)}, nil
}

// DirError is a state directory (or the instances directory it is in)
// that could not be made or used, said once: what failed, where, and what
// to do, e.g. "cannot create the state directory ro/.mictl: permission
// denied; make ro writable or choose another instances_dir". It wraps the
// system's error (errors.Is(err, fs.ErrNotExist) holds for a missing one).
type DirError struct {
	Verb string // what could not be done: "create", "read", ...
	What string // the directory's role: "the state directory"
	Path string // the directory
	Err  error  // the cause, without the path: an errno
	// at is where Err happened: Path or, for a Path that could not be
	// created, the first of its ancestors that could not.
	at string
}

func (e *DirError) Error() string {
	if errors.Is(e.Err, unix.ENOTDIR) {
		// Some file is where a directory must be: name the file.
		if file := fsutil.FileInTheWay(e.Path); file == e.Path {
			return fmt.Sprintf("%s %s is not a directory; move it away or choose another instances_dir", e.What, e.Path)
		} else if file != "" {
			return fmt.Sprintf("cannot %s %s %s: %s is not a directory; move it away or choose another instances_dir", e.Verb, e.What, e.Path, file)
		}
	}
	msg := fmt.Sprintf("cannot %s %s %s: %v", e.Verb, e.What, e.Path, e.Err)
	switch {
	case errors.Is(e.Err, unix.EROFS):
		msg += "; choose another instances_dir, on a writable file system"
	case e.Verb == "create" && errors.Is(e.Err, fs.ErrPermission):
		msg += fmt.Sprintf("; make %s writable or choose another instances_dir", filepath.Dir(e.at))
	case errors.Is(e.Err, fs.ErrPermission):
		msg += "; " + accessRemedy(e.at)
	}
	return msg
}

// accessRemedy is what to do about a permission denied at path, in the
// state directory or the instances directory it is in: the nearest of
// path and its directories this user can look at says whose they are
// (another user's state directory, 0700, hides the file itself).
func accessRemedy(path string) string {
	if who, ok := fsutil.OtherOwner(path); ok {
		return fmt.Sprintf("this deployment belongs to %s: run mictl as that user, or choose another instances_dir", who)
	}
	return fmt.Sprintf("give yourself access to %s (its mode, or that of a directory above it) or choose another instances_dir", path)
}

// ExplainAccess adds to err, when it is a permission denied, what to do
// about it: path is the deployment's file or directory it was denied at
// (a home, the instances directory), whose owner says whose deployment
// it is. A denial the error places outside path (a file of the
// distribution a home is cloned from) names that file instead. Other
// errors, and a path of "", pass unchanged.
func ExplainAccess(err error, path string) error {
	if path == "" || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	denied, whose := path, "this deployment"
	var pe *fs.PathError
	if errors.As(err, &pe) && !within(pe.Path, path) {
		denied, whose = pe.Path, pe.Path
	}
	access := fmt.Sprintf("give yourself access to %s (its mode, or that of a directory above it)", denied)
	if who, ok := fsutil.OtherOwner(denied); ok {
		return fmt.Errorf("%w; %s belongs to %s: run mictl as that user, or %s", err, whose, who, access)
	}
	return fmt.Errorf("%w; %s", err, access)
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}

func (e *DirError) Unwrap() error { return e.Err }

// dirError is the DirError of verb failing on what at path.
func dirError(verb, what, path string, err error) *DirError {
	at := path
	var pe *fs.PathError
	if errors.As(err, &pe) {
		at, err = pe.Path, pe.Err
	}
	return &DirError{Verb: verb, What: what, Path: path, Err: err, at: at}
}

// Writable reports whether this process may write the state directory.
func (s *Store) Writable() bool {
	return unix.Access(s.dir, unix.W_OK) == nil
}

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

// Path returns the state file's path, for messages.
func (s *Store) Path() string { return filepath.Join(s.dir, stateFile) }

// Load reads the state file. A missing file is a host where nothing was
// started: an empty File and no error. A file that cannot be trusted gives
// a *CorruptError. Load does not take the lock: a reader always sees a
// whole file because every write replaces it atomically, but a
// load-modify-save must hold the lock (use Update).
func (s *Store) Load() (*File, error) {
	data, err := os.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return empty(), nil
	}
	if err != nil {
		msg := fmt.Errorf("cannot read the state file %s: %w", s.Path(), fsutil.Cause(err))
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%w; %s", msg, accessRemedy(s.Path()))
		}
		return nil, msg
	}
	return decode(s.Path(), data)
}

// decode reads a state file in one pass when it is one this mictl reads
// (every load of every command: a first pass for the version alone cost
// a fifth of each load). A file it does not read is looked at again, its
// version before its shape (see unreadable).
func decode(path string, data []byte) (*File, error) {
	f := new(File)
	if err := json.Unmarshal(data, f); err != nil || f.Version < 1 || f.Version > SchemaVersion {
		return nil, unreadable(path, data, err)
	}
	if f.Instances == nil {
		f.Instances = []Instance{}
	}
	// Names are the key of every lookup: an ambiguous file is not usable.
	seen := make(map[string]bool, len(f.Instances))
	for i, in := range f.Instances {
		if in.Name == "" {
			return nil, &CorruptError{Path: path, Reason: fmt.Sprintf("instance %d has no name", i), Version: f.Version}
		}
		if seen[in.Name] {
			return nil, &CorruptError{Path: path, Reason: fmt.Sprintf("instance %q listed twice", in.Name), Version: f.Version}
		}
		seen[in.Name] = true
	}
	f.readOlderReload()
	f.SettleReload()
	return f, nil
}

// unreadable says why data is not a state file this mictl reads, checking
// the version before the shape, so that a newer mictl's file is reported
// as newer rather than as a confusing type error. decodeErr is what
// reading it whole said.
func unreadable(path string, data []byte, decodeErr error) error {
	corrupt := func(version int, err error, format string, args ...any) error {
		return &CorruptError{Path: path, Reason: fmt.Sprintf(format, args...), Version: version, Err: err}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return corrupt(0, nil, "empty file")
	}
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return corrupt(0, err, "%s", jsonProblem(data, err))
	}
	switch {
	case head.Version == nil:
		return corrupt(0, nil, "no schema version: not a mictl state file")
	case *head.Version > SchemaVersion:
		return corrupt(*head.Version, nil,
			"written by a newer mictl (schema version %d; this mictl reads version %d): use that mictl or upgrade",
			*head.Version, SchemaVersion)
	case *head.Version < 1:
		return corrupt(*head.Version, nil, "invalid schema version %d", *head.Version)
	}
	return corrupt(*head.Version, decodeErr, "bad content: %s", jsonProblem(data, decodeErr))
}

// jsonProblem says what is wrong with data, which err says json could not
// decode, in the file's terms (a line and column, a key, JSON's kinds of
// value) rather than Go's (its struct fields and types).
func jsonProblem(data []byte, err error) string {
	var syntax *json.SyntaxError
	var kind *json.UnmarshalTypeError
	var badTime *time.ParseError
	switch {
	case errors.As(err, &syntax) && syntax.Error() == "unexpected end of JSON input":
		return "not valid JSON: it ends before its JSON does (cut short)"
	case errors.As(err, &syntax):
		at := min(max(syntax.Offset-1, 0), int64(len(data))) // Offset is just past the byte it could not take
		line, col := 1+bytes.Count(data[:at], []byte("\n")), int(at)-bytes.LastIndexByte(data[:at], '\n')
		return fmt.Sprintf("not valid JSON at line %d, column %d: %v", line, col, syntax)
	case errors.As(err, &kind) && kind.Field == "":
		return fmt.Sprintf("not a mictl state file: it holds %s where an object is expected", withArticle(kind.Value))
	case errors.As(err, &kind):
		return fmt.Sprintf("%q holds %s where %s is expected", kind.Field, withArticle(kind.Value), jsonKind(kind.Type))
	case errors.As(err, &badTime):
		return fmt.Sprintf("it holds %q where a time (RFC 3339, as 2026-12-04T18:05:12Z) is expected", strings.Trim(badTime.Value, `"`))
	}
	return err.Error()
}

// withArticle is a JSON kind of value as json names it ("number",
// "array") with its article.
func withArticle(kind string) string {
	if kind == "array" || kind == "object" {
		return "an " + kind
	}
	return "a " + kind
}

// jsonKind is the kind of JSON value that decodes into t.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	default:
		return "a number"
	}
}

// Save writes f atomically (and durably, unless s is Quick) with mode
// 0600 and sets f.Version to SchemaVersion; the record of the last
// reload is settled first (SettleReload), whoever changed the instances.
// It does not take the lock: call it under Lock (or use Update), or two
// writers may each save a stale copy.
func (s *Store) Save(f *File) error {
	f.Version = SchemaVersion
	if f.Instances == nil {
		f.Instances = []Instance{} // "instances": [] rather than null
	}
	f.SettleReload()
	// Indented: the file is small and people read it when things go wrong.
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	data = append(data, '\n')
	write := fsutil.WriteFileAtomic
	if s.quick {
		write = fsutil.ReplaceFile
	}
	if err := write(s.Path(), data, filePerm); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// Lock takes the exclusive lock on <dir>/state.lock, waiting until it is
// free or ctx is done, and returns the function that releases it (safe to
// call more than once). Every writer holds it, so two concurrent `mictl up`
// cannot both launch the same instances.
//
// It is an flock(2) on a descriptor that stays open while held: the kernel
// drops it when the holder exits, even by SIGKILL, so a crashed mictl never
// leaves a stale lock behind (unlike a pid or lock file that must be
// cleaned up). The descriptor is O_CLOEXEC, otherwise every server mictl
// launches would inherit it and hold the lock for as long as it runs. The
// lock file is never removed: removing it would let two processes lock two
// different files of the same name.
//
// A contended lock is waited for in flock(2) itself, which hands it over
// the moment its holder lets go. Go cannot interrupt one thread's flock,
// so the wait runs in a goroutine of its own; when ctx ends first, that
// goroutine keeps the descriptor (and its thread) until its flock
// returns, then closes it: the lock is then held for no longer than a
// close. The callers' contexts end with the command or the daemon, so
// such waits do not pile up.
func (s *Store) Lock(ctx context.Context) (unlock func(), err error) {
	if ctx.Err() != nil {
		return nil, s.interrupted(ctx)
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, s.interrupted(ctx)
	}
	fd, err := s.openLock()
	if err != nil {
		<-s.sem
		return nil, err
	}
	ok, err := tryFlock(fd)
	if ok {
		return s.unlocker(fd), nil
	}
	if err == nil && ctx.Err() != nil {
		err = s.interrupted(ctx) // given up already: no wait to leave behind
	}
	if err != nil {
		unix.Close(fd)
		<-s.sem
		return nil, err
	}
	// Unbuffered: the waiter's result is taken here, or (ctx ended) the
	// waiter closes fd itself.
	waited := make(chan error)
	go func() {
		err := waitFlock(fd)
		select {
		case waited <- err:
		case <-ctx.Done():
			unix.Close(fd)
		}
	}()
	select {
	case err := <-waited:
		if err != nil {
			unix.Close(fd)
			<-s.sem
			return nil, err
		}
		return s.unlocker(fd), nil
	case <-ctx.Done():
		<-s.sem
		return nil, s.interrupted(ctx)
	}
}

// LockInterrupted is a wait for the state lock that its command gave up
// (Ctrl-C) while another held the lock: the state was not changed.
type LockInterrupted struct {
	Path string // the lock file
	Err  error  // why the wait ended (the context's error)
}

func (e *LockInterrupted) Error() string {
	return fmt.Sprintf("interrupted while waiting for another mictl command (an up preparing its instances, say) to let go of the state lock %s; nothing was changed", e.Path)
}

func (e *LockInterrupted) Unwrap() error { return e.Err }

// interrupted is the error of a wait for the lock that ctx ended.
func (s *Store) interrupted(ctx context.Context) error {
	return &LockInterrupted{Path: filepath.Join(s.dir, lockFile), Err: ctx.Err()}
}

// TryLock is Lock without the wait: ok is false (and err nil) when the
// lock is held, by this process or another.
func (s *Store) TryLock() (unlock func(), ok bool, err error) {
	select {
	case s.sem <- struct{}{}:
	default:
		return nil, false, nil
	}
	fd, err := s.openLock()
	if err != nil {
		<-s.sem
		return nil, false, err
	}
	if ok, err = tryFlock(fd); !ok {
		unix.Close(fd)
		<-s.sem
		return nil, false, err
	}
	return s.unlocker(fd), true, nil
}

// openLock opens (creating it 0600) the lock file. O_NOFOLLOW: a symlink
// planted in place of the lock file is refused rather than followed.
func (s *Store) openLock() (int, error) {
	path := filepath.Join(s.dir, lockFile)
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, filePerm)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("lock state: open %s: %w", path, err)
		}
		return fd, nil
	}
}

// tryFlock returns true when the lock was taken, false and no error when
// someone else holds it.
func tryFlock(fd int) (bool, error) {
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch err {
		case nil:
			return true, nil
		case unix.EINTR:
			continue
		case unix.EWOULDBLOCK:
			return false, nil
		default:
			return false, fmt.Errorf("lock state: flock: %w", err)
		}
	}
}

// waitFlock waits until the lock is taken (the holder released it, or
// exited).
func waitFlock(fd int) error {
	for {
		err := unix.Flock(fd, unix.LOCK_EX)
		if err == unix.EINTR { // the Go runtime signals its threads
			continue
		}
		if err != nil {
			return fmt.Errorf("lock state: flock: %w", err)
		}
		return nil
	}
}

// unlocker releases by closing: the descriptor is the only reference to its
// open file description (O_CLOEXEC, never dup'ed), so close drops the flock.
func (s *Store) unlocker(fd int) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			unix.Close(fd)
			<-s.sem
		})
	}
}

// Update is Lock, Load, fn, Save, unlock: the one safe way to change the
// state. The file is saved only if fn returns nil; fn's error is returned
// unchanged. The lock is released even if fn panics.
//
// A corrupt file is not handed to fn: Update returns the *CorruptError and
// leaves the file as it is, because an empty File would tell fn that
// nothing runs. Callers able to rebuild the state use UpdateOrRebuild.
func (s *Store) Update(ctx context.Context, fn func(*File) error) error {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := s.Load()
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	return s.Save(f)
}

// UpdateOrRebuild is Update for callers that can reconstruct the state
// (from the instances' wso2carbon.pid files): when the file is corrupt, fn
// gets an empty File and the *CorruptError, so it knows to rebuild and to
// warn; otherwise corrupt is nil and fn sees the file as Update would. When
// fn succeeds over a corrupt file, that file is kept as state.json.corrupt
// for inspection before the new one is saved.
//
// A file written by a newer mictl is never rebuilt over (its owner may be
// running and supervising): UpdateOrRebuild returns its *CorruptError
// without calling fn, as Update does.
func (s *Store) UpdateOrRebuild(ctx context.Context, fn func(f *File, corrupt *CorruptError) error) error {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := s.Load()
	var corrupt *CorruptError
	switch {
	case errors.As(err, &corrupt) && !corrupt.Newer():
		f = empty()
	case err != nil:
		return err
	}
	if err := fn(f, corrupt); err != nil {
		return err
	}
	if corrupt != nil {
		// A copy, not a rename: should the save below fail (a full disk),
		// state.json stays the corrupt file, read as such again, never a
		// missing one, which would read as "nothing ever ran".
		data, err := os.ReadFile(s.Path())
		if err == nil {
			err = fsutil.WriteFileAtomic(filepath.Join(s.dir, corruptFile), data, 0o600)
		}
		if err != nil {
			return fmt.Errorf("set aside corrupt state: %w", err)
		}
	}
	return s.Save(f)
}
