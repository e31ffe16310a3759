package state

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/proc"
)

const (
	helperEnv    = "MICTL_STATE_TEST_HELPER"
	helperDirEnv = "MICTL_STATE_TEST_DIR"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "hold":
		if err := holdLockHelper(os.Getenv(helperDirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "hold helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// holdLockHelper runs in a re-executed test binary: it takes the lock,
// says so, and holds it until its stdin closes or it is killed.
func holdLockHelper(dir string) error {
	s, err := Open(dir)
	if err != nil {
		return err
	}
	unlock, err := s.Lock(context.Background())
	if err != nil {
		return err
	}
	defer unlock()
	fmt.Println("locked")
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "instances", ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sample() *File {
	start := time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)
	return &File{
		Version: SchemaVersion,
		Daemon: &Daemon{
			Identity:  proc.Identity{PID: 4242, StartTime: 1234567},
			Socket:    "/work/instances/.mictl/daemon.sock",
			StartedAt: start,
		},
		Instances: []Instance{
			{
				Name: "mi-1", Offset: 10, Ports: ports.DefaultBases().Shift(10),
				Home: "/work/instances/mi-1", PGID: 5000,
				Script: proc.Identity{PID: 5000, StartTime: 99}, Server: proc.Identity{PID: 5003, StartTime: 101},
				State: StateReady, Restarts: 2, StartedAt: start, LastError: "exit 137",
			},
			{Name: "mi-2", Offset: 11, Ports: ports.DefaultBases().Shift(11), Home: "/work/instances/mi-2", State: StateStopped},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		file *File
	}{
		{"full", sample()},
		{"no daemon, no instances", &File{Instances: []Instance{}}},
		{"nil instances saved as empty", &File{}},
	}
	for _, tt := range tests {
		for _, quick := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, quick %v", tt.name, quick), func(t *testing.T) {
				s := openStore(t)
				w := s
				if quick {
					w = s.Quick() // same file, same lock, without fsync
				}
				if err := w.Save(tt.file); err != nil {
					t.Fatal(err)
				}
				if tt.file.Version != SchemaVersion {
					t.Errorf("Save left Version = %d", tt.file.Version)
				}
				got, err := s.Load()
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.file) {
					t.Errorf("round trip:\n got %+v\nwant %+v", got, tt.file)
				}
			})
		}
	}
}

// TestJSONLayout pins the keys other tools and older files rely on.
func TestJSONLayout(t *testing.T) {
	f := sample()
	f.Instances[1].StartedAt = time.Time{}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Version   int
		Daemon    map[string]any
		Instances []map[string]any
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"pid", "start_time", "socket", "started_at"} {
		if _, ok := m.Daemon[key]; !ok {
			t.Errorf("daemon lacks %q: %v", key, m.Daemon)
		}
	}
	if got := m.Instances[0]["server"]; !reflect.DeepEqual(got, map[string]any{"pid": 5003.0, "start_time": 101.0}) {
		t.Errorf("server = %v", got)
	}
	if got := m.Instances[0]["ports"]; !reflect.DeepEqual(got, map[string]any{"http": 8290.0, "https": 8253.0, "internal_http": 9201.0, "management": 9164.0}) {
		t.Errorf("ports = %v", got)
	}
	for _, key := range []string{"pgid", "started_at", "last_error"} {
		if _, ok := m.Instances[1][key]; ok {
			t.Errorf("zero %q not omitted: %v", key, m.Instances[1])
		}
	}
	data, _ = json.Marshal(&File{Instances: []Instance{}})
	if string(data) != `{"version":0,"instances":[]}` {
		t.Errorf("empty file = %s", data)
	}
}

func TestLoadMissing(t *testing.T) {
	got, err := openStore(t).Load()
	if err != nil {
		t.Fatal(err)
	}
	if want := (&File{Version: SchemaVersion, Instances: []Instance{}}); !reflect.DeepEqual(got, want) {
		t.Errorf("Load of missing file = %+v, want %+v", got, want)
	}
}

func TestLoadCorrupt(t *testing.T) {
	tests := []struct {
		name    string
		content string
		reason  string // substring of the error
		newer   bool
	}{
		{"empty", "", "empty file", false},
		{"blank", " \n", "empty file", false},
		{"garbage", "\x00\x01 not json", "not valid JSON at line 1, column 1: invalid character '\\x00' looking for beginning of value", false},
		{"garbage on line 2", "{\"version\":1,\n \"instances\": [x]}", "not valid JSON at line 2, column 16: invalid character 'x'", false},
		{"truncated", `{"version":1,"instances":[{"name":"mi-1"`, "not valid JSON: it ends before its JSON does (cut short)", false},
		{"trailing garbage", `{"version":1,"instances":[]} x`, "not valid JSON at line 1, column 30: invalid character 'x' after top-level value", false},
		{"array", `[1,2]`, "not a mictl state file: it holds an array where an object is expected", false},
		{"no version", `{"instances":[]}`, "no schema version", false},
		{"version zero", `{"version":0,"instances":[]}`, "invalid schema version 0", false},
		{"newer", `{"version":2,"instances":"a different shape"}`, "written by a newer mictl", true},
		{"newer, same shape", `{"version":2,"instances":[]}`, "written by a newer mictl", true},
		{"wrong type", `{"version":1,"instances":[{"name":7}]}`, `bad content: "instances.name" holds a number where a string is expected`, false},
		{"not a list", `{"version":1,"instances":5}`, `bad content: "instances" holds a number where an array is expected`, false},
		{"bad time", `{"version":1,"instances":[{"name":"a","started_at":"yesterday"}]}`, `bad content: it holds "yesterday" where a time (RFC 3339, as 2026-12-04T18:05:12Z) is expected`, false},
		{"unknown port role", `{"version":1,"instances":[{"name":"a","ports":{"ftp":21}}]}`, "bad content", false},
		{"nameless instance", `{"version":1,"instances":[{"offset":1}]}`, "has no name", false},
		{"duplicate names", `{"version":1,"instances":[{"name":"a"},{"name":"a"}]}`, `"a" listed twice`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			if err := os.WriteFile(s.Path(), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := s.Load()
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %+v, %v; want *CorruptError", f, err)
			}
			if ce.Path != s.Path() || !strings.Contains(err.Error(), s.Path()) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q: want path %s and %q", err, s.Path(), tt.reason)
			}
			if ce.Newer() != tt.newer {
				t.Errorf("Newer() = %v, want %v", ce.Newer(), tt.newer)
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	s := openStore(t)
	if err := os.Mkdir(s.Path(), 0o700); err != nil { // a directory where the file should be
		t.Fatal(err)
	}
	_, err := s.Load()
	var ce *CorruptError
	if err == nil || errors.As(err, &ce) {
		t.Errorf("Load = %v; want an I/O error, not corruption", err)
	}
	if want := "cannot read the state file " + s.Path() + ": is a directory"; err == nil || err.Error() != want {
		t.Errorf("Load = %v; want %q", err, want)
	}
}

// A permission denied says what to do: whose the path is decides.
func TestAccessRemedy(t *testing.T) {
	mine := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(mine, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := accessRemedy(mine); !strings.HasPrefix(got, "give yourself access to "+mine) {
		t.Errorf("own file: %q", got)
	}
	if os.Getuid() != 0 {
		return // only root can give a file away
	}
	if err := os.Chown(mine, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if got := accessRemedy(mine); !strings.HasPrefix(got, "this deployment belongs to uid 65534") || !strings.HasSuffix(got, ": run mictl as that user, or choose another instances_dir") {
		t.Errorf("another user's file: %q", got)
	}
	// Another user's state directory (0700) hides the file: its directory
	// says whose it is.
	theirs := filepath.Join(t.TempDir(), ".mictl")
	if err := os.Mkdir(theirs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if got := accessRemedy(filepath.Join(theirs, "missing", "state.json")); !strings.HasPrefix(got, "this deployment belongs to uid 65534") {
		t.Errorf("a file in another user's directory: %q", got)
	}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestPermissions(t *testing.T) {
	for _, before := range []os.FileMode{0, 0o755, 0o777, 0o750} {
		t.Run(fmt.Sprintf("existing %#o", before), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), ".mictl")
			if before != 0 {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, before); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if m := mode(t, dir); m != 0o700 {
				t.Errorf("dir mode %#o, want 0700", m)
			}
			if err := s.Save(sample()); err != nil {
				t.Fatal(err)
			}
			unlock, err := s.Lock(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			unlock()
			for _, name := range []string{stateFile, lockFile} {
				if m := mode(t, filepath.Join(dir, name)); m != 0o600 {
					t.Errorf("%s mode %#o, want 0600", name, m)
				}
			}
			if s.Dir() != dir {
				t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
			}
		})
	}
}

func TestOpenNotADirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil {
		t.Error("Open(a file) succeeded")
	}
}

// A state directory that cannot be made or used is said once: what
// failed, where, and what to do (not "open state dir: mkdir X: ...").
func TestOpenSaysWhatFailedOnce(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("file", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("x", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("x/.mictl", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		open func(string) (*Store, error)
		dir  string
		want string
	}{
		{Open, "file/.mictl", "the instances directory file is not a directory; move it away or choose another instances_dir"},
		{Open, "file/sub/.mictl", "cannot create the instances directory file/sub: file is not a directory; move it away or choose another instances_dir"},
		{Open, "x/.mictl", "the state directory x/.mictl is not a directory; move it away or choose another instances_dir"},
		{OpenExisting, "x/.mictl", "the state directory x/.mictl is not a directory; move it away or choose another instances_dir"},
		{OpenExisting, "file/.mictl", "cannot read the state directory file/.mictl: file is not a directory; move it away or choose another instances_dir"},
	}
	for _, tt := range tests {
		_, err := tt.open(tt.dir)
		var de *DirError
		if !errors.As(err, &de) || err.Error() != tt.want {
			t.Errorf("open %s:\n got %v\nwant %s", tt.dir, err, tt.want)
		}
	}
	if _, err := OpenExisting("missing/.mictl"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenExisting(missing) = %v; want an error that is fs.ErrNotExist", err)
	}
}

// What the system refuses (which root cannot see for itself) is said with
// what to do about it.
func TestDirErrorAdvice(t *testing.T) {
	tests := []struct {
		verb, what, path string
		err              error
		want             string
	}{
		{"create", "the state directory", "ro/.mictl", &os.PathError{Op: "mkdir", Path: "ro/.mictl", Err: syscall.EACCES},
			"cannot create the state directory ro/.mictl: permission denied; make ro writable or choose another instances_dir"},
		{"create", "the instances directory", "ro/a/b", &os.PathError{Op: "mkdir", Path: "ro/a", Err: syscall.EACCES},
			"cannot create the instances directory ro/a/b: permission denied; make ro writable or choose another instances_dir"},
		{"create", "the state directory", "/mnt/i/.mictl", &os.PathError{Op: "mkdir", Path: "/mnt/i/.mictl", Err: syscall.EROFS},
			"cannot create the state directory /mnt/i/.mictl: read-only file system; choose another instances_dir, on a writable file system"},
		{"read", "the state directory", "missing/.mictl", &os.PathError{Op: "open", Path: "missing/.mictl", Err: syscall.EACCES},
			"cannot read the state directory missing/.mictl: permission denied; give yourself access to missing/.mictl (its mode, or that of a directory above it) or choose another instances_dir"},
	}
	// Another user's directory, where a chmod is refused (made as root:
	// a test running as another user cannot give one away).
	if os.Geteuid() == 0 {
		theirs := filepath.Join(t.TempDir(), ".mictl")
		if err := os.Mkdir(theirs, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(theirs, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			verb, what, path string
			err              error
			want             string
		}{"chmod 0700", "the state directory", theirs, &os.PathError{Op: "chmod", Path: theirs, Err: syscall.EPERM},
			"cannot chmod 0700 the state directory " + theirs + ": operation not permitted; this deployment belongs to " + fsutil.User(65534) + ": run mictl as that user, or choose another instances_dir"})
	}
	for _, tt := range tests {
		if got := dirError(tt.verb, tt.what, tt.path, tt.err).Error(); got != tt.want {
			t.Errorf("\n got %s\nwant %s", got, tt.want)
		}
	}
	if os.Geteuid() == 0 {
		return // root may write where the test would be refused
	}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	want := "cannot create the state directory " + ro + "/.mictl: permission denied; make " + ro + " writable or choose another instances_dir"
	if _, err := Open(filepath.Join(ro, ".mictl")); err == nil || err.Error() != want {
		t.Errorf("Open in a read-only directory:\n got %v\nwant %s", err, want)
	}
}

func TestLockExcludes(t *testing.T) {
	s := openStore(t)
	other, err := Open(s.Dir()) // a second Store: only the flock protects
	if err != nil {
		t.Fatal(err)
	}
	unlock, ok, err := s.TryLock()
	if err != nil || !ok {
		t.Fatalf("TryLock on a free lock = %v, %v", ok, err)
	}
	for name, st := range map[string]*Store{"same store": s, "other store": other} {
		if u, ok, err := st.TryLock(); ok || err != nil {
			if ok {
				u()
			}
			t.Errorf("%s: TryLock while held = %v, %v; want false, nil", name, ok, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		if u, err := st.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
			if err == nil {
				u()
			}
			t.Errorf("%s: Lock while held = %v, want DeadlineExceeded", name, err)
		}
		cancel()
	}
	unlock()
	unlock() // idempotent: must not release someone else's lock
	// The waits that gave up above may take the lock for the moment it
	// takes them to close it: Lock, not TryLock, is what a release serves.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := other.Lock(ctx)
	if err != nil {
		t.Fatalf("Lock after release = %v", err)
	}
	if u2, ok, _ := s.TryLock(); ok {
		u2()
		t.Error("a second unlock call released the lock")
	}
	u()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if u, err := s.Lock(cancelled); !errors.Is(err, context.Canceled) {
		if err == nil {
			u()
		}
		t.Errorf("Lock(cancelled ctx) = %v", err)
	}
}

// TestLockSerialises checks holders never overlap, within one Store and
// between two Stores of the same directory.
func TestLockSerialises(t *testing.T) {
	s := openStore(t)
	other, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	holders := 0
	var wg sync.WaitGroup
	for i := range 8 {
		st := []*Store{s, other}[i%2]
		wg.Go(func() {
			for range 5 {
				unlock, err := st.Lock(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				holders++
				n := holders
				mu.Unlock()
				if n != 1 {
					t.Errorf("%d lock holders at once", n)
				}
				time.Sleep(time.Millisecond)
				mu.Lock()
				holders--
				mu.Unlock()
				unlock()
			}
		})
	}
	wg.Wait()
}

// TestLockAcrossProcesses holds the lock in another process: TryLock here
// fails, and when that process is killed (no chance to unlock) the kernel
// releases the lock and Lock here succeeds.
func TestLockAcrossProcesses(t *testing.T) {
	s := openStore(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=hold", helperDirEnv+"="+s.Dir(), "GORACE=atexit_sleep_ms=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	if u, ok, err := s.TryLock(); ok || err != nil {
		if ok {
			u()
		}
		t.Fatalf("TryLock while another process holds the lock = %v, %v", ok, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err := s.Lock(ctx)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	unlock()
}

// TestLockNotInherited starts a process while holding the lock: it must not
// have the lock file open, or every launched server would hold the lock.
func TestLockNotInherited(t *testing.T) {
	s := openStore(t)
	unlock, err := s.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	fdDir := fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid)
	// The child execs right after fork; until then it shares our table.
	deadline := time.Now().Add(10 * time.Second)
	for !isSleep(cmd.Process.Pid) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err == nil && strings.HasSuffix(target, lockFile) {
			t.Errorf("child inherited the lock file as fd %s", e.Name())
		}
	}
}

func TestUpdate(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		fn       func(*File) error
		wantErr  error
		restarts int // of mi-1 afterwards
	}{
		{"saves on success", func(f *File) error { f.Instances[0].Restarts = 7; return nil }, nil, 7},
		{"no save on error", func(f *File) error { f.Instances[0].Restarts = 7; return boom }, boom, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			if err := s.Save(sample()); err != nil {
				t.Fatal(err)
			}
			if err := s.Update(context.Background(), tt.fn); err != tt.wantErr {
				t.Errorf("Update = %v, want %v", err, tt.wantErr)
			}
			f, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if in, _ := f.Instance("mi-1"); in.Restarts != tt.restarts {
				t.Errorf("restarts = %d, want %d", in.Restarts, tt.restarts)
			}
			if u, ok, _ := s.TryLock(); !ok {
				t.Error("Update kept the lock")
			} else {
				u()
			}
		})
	}
}

func TestUpdateMissingFile(t *testing.T) {
	s := openStore(t)
	err := s.Update(context.Background(), func(f *File) error {
		f.Instances = append(f.Instances, Instance{Name: "mi-1", State: StateStarting})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if f, err := s.Load(); err != nil || len(f.Instances) != 1 {
		t.Errorf("Load = %+v, %v", f, err)
	}
}

func TestUpdateReleasesLockOnPanic(t *testing.T) {
	s := openStore(t)
	func() {
		defer func() { _ = recover() }()
		_ = s.Update(context.Background(), func(*File) error { panic("fn failed") })
	}()
	u, ok, err := s.TryLock()
	if !ok || err != nil {
		t.Fatalf("lock still held after fn panicked: %v, %v", ok, err)
	}
	u()
}

func TestUpdateCorruptOrNewer(t *testing.T) {
	for _, content := range []string{"{not json", `{"version":9,"instances":[]}`} {
		t.Run(content, func(t *testing.T) {
			s := openStore(t)
			if err := os.WriteFile(s.Path(), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			called := false
			err := s.Update(context.Background(), func(*File) error { called = true; return nil })
			var ce *CorruptError
			if !errors.As(err, &ce) || called {
				t.Errorf("Update = %v, fn called %v; want *CorruptError, not called", err, called)
			}
			if data, _ := os.ReadFile(s.Path()); string(data) != content {
				t.Errorf("Update changed the corrupt file to %q", data)
			}
		})
	}
}

func TestUpdateOrRebuild(t *testing.T) {
	good, err := json.Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	tests := []struct {
		name        string
		content     string // "" = no file
		fnErr       error
		wantCalled  bool
		wantCorrupt bool // fn got a *CorruptError
		wantErr     bool
		wantKept    bool // old content kept as state.json.corrupt
		wantSaved   bool // state.json now holds what fn built
	}{
		{"missing", "", nil, true, false, false, false, true},
		{"good", string(good), nil, true, false, false, false, true},
		{"corrupt", "{oops", nil, true, true, false, true, true},
		{"corrupt, fn fails", "{oops", boom, true, true, true, false, false},
		{"newer", `{"version":2}`, nil, false, false, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			if tt.content != "" {
				if err := os.WriteFile(s.Path(), []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			called, gotCorrupt := false, false
			err := s.UpdateOrRebuild(context.Background(), func(f *File, corrupt *CorruptError) error {
				called, gotCorrupt = true, corrupt != nil
				if corrupt != nil && len(f.Instances) != 0 {
					t.Errorf("rebuild got a non-empty file: %+v", f)
				}
				if _, ok := f.Instance("rebuilt"); !ok {
					f.Instances = append(f.Instances, Instance{Name: "rebuilt"})
				}
				return tt.fnErr
			})
			if (err != nil) != tt.wantErr || called != tt.wantCalled || gotCorrupt != tt.wantCorrupt {
				t.Errorf("UpdateOrRebuild = %v, called %v, corrupt %v; want error %v, called %v, corrupt %v",
					err, called, gotCorrupt, tt.wantErr, tt.wantCalled, tt.wantCorrupt)
			}
			kept, err := os.ReadFile(filepath.Join(s.Dir(), corruptFile))
			if tt.wantKept != (err == nil) || (tt.wantKept && string(kept) != tt.content) {
				t.Errorf("kept copy = %q, %v; want kept %v", kept, err, tt.wantKept)
			}
			data, _ := os.ReadFile(s.Path())
			f, err := s.Load()
			saved := err == nil && func() bool { _, ok := f.Instance("rebuilt"); return ok }()
			if saved != tt.wantSaved {
				t.Errorf("saved = %v, want %v; file now %q", saved, tt.wantSaved, data)
			}
			if !tt.wantSaved && tt.content != "" && string(data) != tt.content {
				t.Errorf("file changed to %q without a save", data)
			}
		})
	}
}

// TestUpdateConcurrent increments one counter from 20 goroutines through
// two Stores: every increment must survive.
func TestUpdateConcurrent(t *testing.T) {
	s := openStore(t)
	other, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(&File{Instances: []Instance{{Name: "mi-1"}}}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		st := []*Store{s, other}[i%2]
		wg.Go(func() {
			err := st.Update(context.Background(), func(f *File) error {
				in, ok := f.Instance("mi-1")
				if !ok {
					return errors.New("mi-1 missing")
				}
				in.Restarts++
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := f.Instance("mi-1"); in.Restarts != n {
		t.Errorf("restarts = %d, want %d", in.Restarts, n)
	}
}

func TestInstance(t *testing.T) {
	f := sample()
	tests := []struct {
		name   string
		found  bool
		offset int
	}{
		{"mi-1", true, 10},
		{"mi-2", true, 11},
		{"mi-3", false, 0},
		{"", false, 0},
	}
	for _, tt := range tests {
		in, ok := f.Instance(tt.name)
		if ok != tt.found || (ok && in.Offset != tt.offset) {
			t.Errorf("Instance(%q) = %+v, %v", tt.name, in, ok)
		}
	}
	in, _ := f.Instance("mi-2")
	in.State = StateCrashed
	if f.Instances[1].State != StateCrashed {
		t.Error("Instance does not point into the file")
	}
}

// isSleep reports whether pid runs sleep yet (a child runs Go's code
// between fork and exec).
func isSleep(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return string(b) == "sleep\n"
}

// lockFDs counts this process's descriptors open on s's lock file.
func lockFDs(t testing.TB, s *Store) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.EvalSymlinks(s.Dir()) // as /proc names it
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == filepath.Join(dir, lockFile) {
			n++
		}
	}
	return n
}

// A Lock that gave up while the lock was held leaves its wait in flock(2)
// behind (it cannot be interrupted): once the holder lets go, that wait
// lets go too and closes its descriptor, and the lock is free.
func TestAbandonedLockWaitLetsGo(t *testing.T) {
	s, other, unlock := heldLock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if u, err := other.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			u()
		}
		t.Fatalf("Lock while held = %v, want DeadlineExceeded", err)
	}
	if n := lockFDs(t, s); n != 2 {
		t.Fatalf("%d descriptors open on the lock file while held and waited for, want 2 (the holder's, the wait's)", n)
	}
	unlock()
	deadline := time.Now().Add(10 * time.Second)
	for lockFDs(t, s) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors still open on the lock file after its holder let go", lockFDs(t, s))
		}
		time.Sleep(time.Millisecond)
	}
	u, ok, err := other.TryLock()
	if err != nil || !ok {
		t.Fatalf("TryLock once the abandoned wait let go = %v, %v", ok, err)
	}
	u()
}

// BenchmarkLockHandoff measures how long a waiting Lock takes to hold the
// lock after its holder (another Store: another open file description,
// as another process would be) lets go of it, the holder having held it
// for handoffHold, about what `mictl up` holds it for while the daemon
// waits to launch.
func BenchmarkLockHandoff(b *testing.B) {
	const handoffHold = 10 * time.Millisecond
	dir := filepath.Join(b.TempDir(), "instances", ".mictl")
	holder, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	waiter, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		unlock, err := holder.Lock(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan time.Time, 1)
		go func() {
			u, err := waiter.Lock(context.Background())
			got <- time.Now()
			if err != nil {
				b.Error(err)
				return
			}
			u()
		}()
		time.Sleep(handoffHold)
		released := time.Now()
		unlock()
		total += (<-got).Sub(released)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "handoff-us")
}

// A wait for the lock given up (Ctrl-C while another command holds it)
// says what was waited for and that nothing was changed, in the user's
// words rather than the context's.
func TestInterruptedLockWaitSaysSo(t *testing.T) {
	s, other, unlock := heldLock(t)
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	u, err := other.Lock(ctx)
	if err == nil {
		u()
	}
	var li *LockInterrupted
	want := "interrupted while waiting for another mictl command (an up preparing its instances, say) to let go of the state lock " + filepath.Join(s.Dir(), lockFile) + "; nothing was changed"
	if !errors.As(err, &li) || err.Error() != want || !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock interrupted = %v, want %q", err, want)
	}
}

// heldLock is a store holding its lock, and another on the same
// directory (another open file description, as another process has):
// only the flock keeps the two apart.
func heldLock(t *testing.T) (holder, other *Store, unlock func()) {
	t.Helper()
	holder = openStore(t)
	other, err := Open(holder.Dir())
	if err != nil {
		t.Fatal(err)
	}
	unlock, ok, err := holder.TryLock()
	if err != nil || !ok {
		t.Fatalf("TryLock on a free lock = %v, %v", ok, err)
	}
	return holder, other, unlock
}

// A permission denied inside the deployment says whose it is and to get
// access to it; one the error places outside it (a file of the
// distribution its homes are cloned from) names that file, not the home.
func TestExplainAccessNamesWhatWasDenied(t *testing.T) {
	home := filepath.Join(t.TempDir(), "instances", "mi-1")
	for _, tc := range []struct {
		denied, want string
	}{
		{filepath.Join(home, "conf", "deployment.toml"), "give yourself access to " + home + " "},
		{"/opt/wso2mi-4.4.0/lib/driver.jar", "give yourself access to /opt/wso2mi-4.4.0/lib/driver.jar "},
	} {
		err := ExplainAccess(&fs.PathError{Op: "open", Path: tc.denied, Err: syscall.EACCES}, home)
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("denied at %s: %v, want it to say %q", tc.denied, err, tc.want)
		}
	}
	if err := ExplainAccess(errors.New("disk full"), home); err.Error() != "disk full" {
		t.Errorf("another error became %q", err)
	}
}

// A mark to start again (Restarting) that an mictl up set (MarkedBy)
// counts while that up runs, and the daemon's own (none named) always:
// an up killed before its start reached the daemon left a mark that kept
// the daemon running for good (WantsAny), and the next daemon started
// what the user had stopped (RestartUnderWay).
func TestAMarkCountsWhileTheUpThatSetItRuns(t *testing.T) {
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	killed, err := proc.Identify(sleep.Process.Pid)
	_ = sleep.Process.Kill()
	_ = sleep.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		by     proc.Identity
		counts bool
	}{
		{"the daemon's", proc.Identity{}, true},
		{"an up that runs", self, true},
		{"an up killed", killed, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &File{Instances: []Instance{{Name: "mi-2", State: StateStopped, Restarting: true, MarkedBy: c.by}}}
			if got := f.Instances[0].RestartUnderWay(); got != c.counts {
				t.Errorf("RestartUnderWay() = %v, want %v", got, c.counts)
			}
			if got := f.WantsAny(); got != c.counts {
				t.Errorf("WantsAny() = %v, want %v", got, c.counts)
			}
		})
	}
}
