package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/sim"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/syncbuf"
)

// callAsEnv makes the test binary a control client (see TestMain): it
// pings the socket named by the variable and prints the outcome; with
// stopAsEnv set, it asks for a stop of everything instead and prints the
// outcome of waiting for the daemon to settle too.
const (
	callAsEnv = "MICTL_TEST_CALL_SOCKET"
	stopAsEnv = "MICTL_TEST_CALL_STOP"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "sim" && os.Args[2] == "run" {
		// The simulator distributions the tests write run this binary as
		// mictl (sim.MictlDistOptions): `<test binary> sim run ARGS`,
		// with the simulator's settings of the test's site.
		if err := takeSiteSettings(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(sim.Serve(os.Args[3:], os.Stdout))
	}
	if sock := os.Getenv(callAsEnv); sock != "" {
		if os.Getenv(stopAsEnv) == "" {
			_, err := Call(context.Background(), sock, Request{Op: OpPing}, nil)
			fmt.Println("result:", err)
			os.Exit(0)
		}
		// Short enough that a wait for a word never sent fails the test
		// quickly, long enough for a word sent at once.
		leaveTimeout = 3 * time.Second
		_, wait, err := CallUntilLeft(context.Background(), sock, Request{Op: OpStop}, nil)
		fmt.Println("result:", err)
		fmt.Println("settled:", wait())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The daemon serves only its own user (SO_PEERCRED), even if the socket's
// permissions were opened up.
func TestControlRefusesOtherUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	// Not t.TempDir: its parent is closed to other users.
	dir, err := os.MkdirTemp("", "mictl-control-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := state.Open(filepath.Join(dir, ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	sup, err := New(store, nil, DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	sock := SocketPath(store)
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(sup)
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	defer func() { ln.Close(); <-served }()

	// Open the way to the socket, as a careless chmod would.
	for _, p := range []string{dir, store.Dir(), sock} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	// The test binary lives in a directory only root may enter: copy it
	// where the other user can run it.
	binDir, err := os.MkdirTemp("", "mictl-client-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(binDir)
	client := filepath.Join(binDir, "client")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(client, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	call := func(uid uint32, extraEnv ...string) string {
		cmd := exec.Command(client, "-test.run=^$")
		cmd.Env = append(append(os.Environ(), callAsEnv+"="+sock), extraEnv...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as uid %d: %v\n%s", uid, err, out)
		}
		return string(out)
	}
	if out := call(0); !strings.Contains(out, "result: <nil>") {
		t.Fatalf("the owner was refused: %s", out)
	}
	const notYours = "this deployment belongs to uid 0 (root)"
	if out := call(65534); !strings.Contains(out, notYours) {
		t.Fatalf("another user was served, or not told whose the deployment is: %s", out)
	}
	// A stop refused ends with the daemon's word that it stays (the state
	// file wants nothing run: without the word, the client would wait for
	// this daemon to leave).
	if out := call(65534, stopAsEnv+"=1"); !strings.Contains(out, notYours) || !strings.Contains(out, "settled: <nil>") {
		t.Fatalf("another user's stop was served, or its client not told the daemon stays: %s", out)
	}
	// As it is (the state directory 0700), another user cannot even reach
	// the socket: told the same, not "no daemon is running".
	if err := os.Chmod(store.Dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if out := call(65534); !strings.Contains(out, notYours) {
		t.Fatalf("another user, kept out of the state directory, was told: %s", out)
	}
}

// A stop of everything that leaves nothing supervised forgets what the
// state file kept of the run (the last up's flags, the configured
// instances, the last reload's error) in the write its reply waits for,
// so that `mictl down` does not write the file a second time. A stop of
// some instances by name keeps them.
func TestStopAllForgetsTheRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		what   string
		names  []string
		forget bool
	}{
		{"down of everything", nil, true},
		{"down of one by name", []string{"mi-1"}, false},
	} {
		store, sup := supervisorOf(t, func(f *state.File) {
			f.UpArgs, f.Configured, f.ReloadError = []string{"--instances=1"}, []string{"mi-1"}, "an old failure"
		})
		var reply Message
		if _, err := NewServer(sup).serve(Request{Op: OpStop, Names: tc.names}, &reply, nil, false); err != nil {
			t.Fatalf("%s: stop: %v", tc.what, err)
		}
		f, err := store.Load()
		if err != nil {
			t.Fatal(err)
		}
		forgot := f.UpArgs == nil && f.Configured == nil && f.ReloadError == ""
		if forgot != tc.forget {
			t.Errorf("%s: up_args %q, configured %q, reload_error %q; want forgotten: %v", tc.what, f.UpArgs, f.Configured, f.ReloadError, tc.forget)
		}
	}
}

// A stop that leaves the daemon nothing to supervise clears its record
// in the write the reply waits for, so the daemon leaving has nothing to
// write, and keeps its client until the daemon settles; one that stays
// after all (an up recorded instances to start meanwhile) is recorded
// again, and lets that client go.
func TestIdleDaemonClearsItsRecordWithTheStop(t *testing.T) {
	t.Parallel()
	self, err := proc.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	record := state.Daemon{Identity: self, Socket: "the daemon's socket", StartedAt: time.Now()}
	store, sup := supervisorOf(t, func(f *state.File) {
		rec := record
		f.Daemon = &rec
	})
	d := &Daemon{Sup: sup, store: store, server: NewServer(sup), record: record}
	d.server.leaving = d.leaving
	recorded := func() *state.Daemon {
		t.Helper()
		f, err := store.Load()
		if err != nil {
			t.Fatal(err)
		}
		return f.Daemon
	}

	var reply Message
	settled, err := d.server.serve(Request{Op: OpStop}, &reply, nil, false)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	if settled == nil {
		t.Fatal("the stop that left nothing supervised does not keep its client until the daemon settles")
	}
	if rec := recorded(); rec != nil {
		t.Fatalf("after the stop that left nothing supervised, the daemon is still recorded: %+v", rec)
	}
	// A concurrent up records an instance to start and asks this daemon.
	err = store.Update(context.Background(), func(f *state.File) error {
		f.Instances[0].State = state.StateStarting
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.Unneeded() {
		t.Fatal("the daemon leaves while an instance is to start")
	}
	select {
	case <-settled.done:
		if settled.left {
			t.Fatal("the daemon stays, but tells the client of the stop that made it idle that it left")
		}
	default:
		t.Fatal("the daemon stays, but the client of the stop that made it idle is kept waiting")
	}
	if err := sup.Flush(); err != nil {
		t.Fatal(err)
	}
	if rec := recorded(); rec == nil || rec.Identity != self {
		t.Errorf("the daemon that stays is recorded as %+v, want pid %d", rec, self.PID)
	}
}

// A stop that comes while the daemon is still resuming what its state
// file wants (its socket serves already) waits until it has: it took the
// servers being launched, which no runner had yet, for processes running
// unrecorded and ended them under their starts (a down racing the up
// whose daemon was starting).
func TestStopWaitsForTheDaemonsTakeOver(t *testing.T) {
	t.Parallel()
	_, sup := supervisorOf(t, func(f *state.File) { f.Instances[0].State = state.StateStarting })
	srv := NewServer(sup)
	srv.takenOver = make(chan struct{})
	events, cancel := sup.Subscribe()
	defer cancel()
	stopped := make(chan error, 1)
	go func() {
		var reply Message
		_, err := srv.serve(Request{Op: OpStop, Names: []string{"mi-1"}, Timeout: time.Second}, &reply, nil, false)
		stopped <- err
	}()
	// The stop of mi-1, starting with nothing running, says so at once
	// once it begins: it must not begin before the take-over ends.
	select {
	case ev := <-events:
		t.Fatalf("the stop began before the daemon took over: %s", ev)
	case err := <-stopped:
		t.Fatalf("the stop ended before the daemon took over: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(srv.takenOver)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// A client that reads the daemon's events slower than they come (a
// terminal in a very large down) loses some: the daemon's answer says
// how many, and the client gets the others. Unsaid, the client read the
// lines it lacked as nothing having happened (down said "already
// stopped" of an instance whose leftover processes it had ended). Only
// the events of the instances the request names count: those of others
// (a big reload's, during a down of mi-1) were never its to show, and
// counted, a down of mi-1 said lines went missing and dropped its
// "already stopped" note.
func TestAnswerSaysHowManyEventsTheClientLost(t *testing.T) {
	for _, c := range []struct {
		name   string
		names  []string
		others int // events of mi-2 emitted after each of mi-1
	}{
		{"every instance", nil, 0},
		{"mi-1, while mi-2's come", []string{"mi-1"}, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			saved := subscriberBuffer
			subscriberBuffer = 1
			t.Cleanup(func() { subscriberBuffer = saved })
			store, sup := supervisorOf(t, func(*state.File) {})
			srv := NewServer(sup)
			srv.takenOver = make(chan struct{}) // a status waits for it: the request stays open
			ln, err := Listen(SocketPath(store))
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan struct{})
			go func() { srv.Serve(ln); close(served) }()
			defer func() { ln.Close(); <-served }()
			// The client stops reading at the first event, until released.
			release, got, others := make(chan struct{}), 0, 0
			answered := make(chan Reply, 1)
			go func() {
				reply, err := Call(context.Background(), SocketPath(store), Request{Op: OpStatus, Names: c.names}, func(ev Event) {
					if got == 0 {
						<-release
					}
					got++
					if ev.Instance != "mi-1" {
						others++
					}
				})
				if err != nil {
					t.Errorf("status: %v", err)
				}
				answered <- reply
			}()
			for deadline := time.Now().Add(time.Minute); subscribers(sup) == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the status request did not subscribe to the events within a minute")
				}
			}
			// More than the socket holds: the daemon's sends wait for the
			// client, and its subscription falls behind, its channel full
			// as mi-2's events come.
			const sent = 32
			big := strings.Repeat("x", 64<<10)
			for range sent {
				sup.emit(Event{Instance: "mi-1", State: StateDegraded, Message: big, Transient: true})
				for range c.others {
					sup.emit(Event{Instance: "mi-2", State: StateDegraded, Transient: true})
				}
			}
			close(release)
			close(srv.takenOver)
			reply := <-answered
			if reply.Lost == 0 || got+reply.Lost != sent || others > 0 {
				t.Fatalf("the client got %d of mi-1's %d events (and %d of others), and the answer says %d were lost; want some lost, and said, and none of another instance's counted or passed on",
					got-others, sent, others, reply.Lost)
			}
		})
	}
}

// subscribers is how many subscribe to sup's events.
func subscribers(sup *Supervisor) int {
	sup.mu.Lock()
	defer sup.mu.Unlock()
	return len(sup.subs)
}

// supervisorOf is a supervisor (closed when the test ends) over a state
// file recording mi-1, stopped, and what fill adds.
func supervisorOf(t *testing.T, fill func(*state.File)) (*state.Store, *Supervisor) {
	t.Helper()
	store, err := state.Open(filepath.Join(t.TempDir(), ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	err = store.Update(context.Background(), func(f *state.File) error {
		f.Instances = []state.Instance{{Name: "mi-1", State: state.StateStopped}}
		fill(f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sup, err := New(store, nil, DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sup.Close)
	return store, sup
}

// fakeDaemon answers one stop on a socket in a new state directory, as a
// daemon whose process is a `sleep` (the returned identity) would, and
// then ends the connection as then says. The sleep ends when the test
// does, or when the returned func is called.
func fakeDaemon(t *testing.T, wanted bool, then func(conn net.Conn, end func())) (sock string, daemon proc.Identity, end func()) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".mictl")
	store, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := state.Instance{Name: "mi-1", State: state.StateStopped}
	if wanted {
		rec.State = state.StateReady
	}
	if err := store.Save(&state.File{Version: state.SchemaVersion, Instances: []state.Instance{rec}}); err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	var once sync.Once
	end = func() { once.Do(func() { _ = sleep.Process.Kill(); _ = sleep.Wait(); close(ended) }) }
	t.Cleanup(end)
	if daemon, err = proc.Identify(sleep.Process.Pid); err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(dir, "mictl.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var req Request
		_ = json.NewDecoder(conn).Decode(&req)
		_ = json.NewEncoder(conn).Encode(Message{Done: true, PID: daemon.PID})
		then(conn, end)
	}()
	return sock, daemon, end
}

// say sends the daemon's word after a stop.
func say(conn net.Conn, word string) { _ = json.NewEncoder(conn).Encode(Message{Settled: word}) }

// CallUntilLeft's wait follows what the daemon says after a stop: it
// stays (at once), or it left (until its main thread has exited); from a
// daemon that says nothing (an earlier build, or one killed since its
// answer), as the state file says: the whole process when it wants
// nothing run, else at once.
func TestCallUntilLeftWaitsAsTheDaemonSays(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		what      string
		wanted    bool
		word      string // "" for none
		waitsExit bool
	}{
		{"stays", false, SettledStays, false},
		{"left", false, SettledLeft, true},
		{"no word, nothing wanted", false, "", true},
		{"no word, an instance wanted", true, "", false},
	} {
		t.Run(tc.what, func(t *testing.T) {
			t.Parallel()
			sock, daemon, _ := fakeDaemon(t, tc.wanted, func(conn net.Conn, end func()) {
				if tc.word != "" {
					say(conn, tc.word)
				} else {
					conn.Close() // no word: the wait must not take this for the exit
				}
				if tc.waitsExit {
					time.Sleep(100 * time.Millisecond) // then exits
					end()
				}
			})
			_, wait, err := CallUntilLeft(context.Background(), sock, Request{Op: OpStop}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if alive := daemon.Alive(); alive == tc.waitsExit {
				t.Fatalf("the wait returned with the daemon alive: %v, want %v", alive, !tc.waitsExit)
			}
		})
	}
}

// A daemon that neither says nor exits ends the wait after leaveTimeout,
// in the user's words.
func TestCallUntilLeftGivesUp(t *testing.T) {
	saved := leaveTimeout
	leaveTimeout = 200 * time.Millisecond
	t.Cleanup(func() { leaveTimeout = saved })
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	sock, daemon, _ := fakeDaemon(t, false, func(net.Conn, func()) { <-hold })
	_, wait, err := CallUntilLeft(context.Background(), sock, Request{Op: OpStop}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("the instances are stopped, but the mictl daemon (pid %d) did not exit within 200ms", daemon.PID)
	if err := wait(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("wait = %v, want %q", err, want)
	}
}

// A configuration watch taken up again after a pause reloads once, for
// what changed while it was paused.
func TestConfigWatchResumedReloads(t *testing.T) {
	t.Parallel()
	_, sup := supervisorOf(t, func(*state.File) {})
	var loads atomic.Int32
	file := filepath.Join(t.TempDir(), "mictl.toml")
	w := newConfigWatch(sup, &Follow{
		Load: func([]string) (*config.Config, []int, error) {
			loads.Add(1)
			return nil, nil, errors.New("not a configuration")
		},
		Files:    func() []string { return []string{file} },
		Debounce: 10 * time.Millisecond,
	})
	t.Cleanup(w.close)
	time.Sleep(50 * time.Millisecond)
	w.pause()
	w.resume()
	deadline := time.Now().Add(2 * time.Second)
	for loads.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if loads.Load() == 0 {
		t.Fatal("the watch taken up again did not reload")
	}
}

// A daemon gone in the middle of a request is said in the user's terms:
// what became of it, not the socket's read error.
func TestCallSaysWhyTheDaemonIsGone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		what string
		end  func(conn *net.UnixConn)
		want string
	}{
		{"closed", func(conn *net.UnixConn) { conn.Close() }, "(reload: it closed the connection: it exited, or was stopped)"},
		{"reset", func(conn *net.UnixConn) {
			// Unread bytes at close make the kernel reset the connection,
			// as at a daemon's SIGKILL in the middle of a request.
			conn.Close()
		}, "(reload: it exited, or was killed)"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			t.Parallel()
			sock, ln := listenAt(t)
			go func() {
				conn, err := ln.AcceptUnix()
				if err != nil {
					return
				}
				if tc.what == "closed" {
					var req Request
					_ = json.NewDecoder(conn).Decode(&req)
				}
				tc.end(conn)
			}()
			_, err := Call(context.Background(), sock, Request{Op: OpReload}, nil)
			if !errors.Is(err, ErrDaemonGone) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "unix") {
				t.Errorf("Call: %v; want ErrDaemonGone saying %q, without the socket's words", err, tc.want)
			}
		})
	}
}

// failingAccepts is a control socket whose first accepts fail as they do
// when the process is out of descriptors.
type failingAccepts struct {
	*net.UnixListener
	fail atomic.Int32
}

func (l *failingAccepts) AcceptUnix() (*net.UnixConn, error) {
	if l.fail.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.UnixListener.AcceptUnix()
}

// A daemon out of descriptors for a while answers again once it has some
// (an accept that fails does not end its control socket for good), says
// so in its log once for the burst, and stops serving only when the
// socket is closed.
func TestServeOutlivesFailedAccepts(t *testing.T) {
	t.Parallel()
	store, sup := supervisorOf(t, func(*state.File) {})
	ln, err := Listen(SocketPath(store))
	if err != nil {
		t.Fatal(err)
	}
	failing := &failingAccepts{UnixListener: ln}
	failing.fail.Store(5)
	srv := NewServer(sup)
	log := &syncbuf.Buffer{}
	srv.log = log
	served := make(chan struct{})
	go func() { srv.Serve(failing); close(served) }()
	if _, err := Call(context.Background(), SocketPath(store), Request{Op: OpPing}, nil); err != nil {
		t.Fatalf("ping after failed accepts: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "cannot take connections (too many open files)") ||
		!strings.Contains(lines[1], "takes connections again, after 5 failed accepts") {
		t.Fatalf("the daemon log says of the burst:\n%s\nwant one line as it began and one as it ended", log)
	}
	ln.Close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return once the socket was closed")
	}
}

// A call interrupted (Ctrl-C) says what the daemon makes of it, with the
// exit code of an interrupt, not the context's "context canceled".
func TestInterruptedCallSaysWhatGoesOn(t *testing.T) {
	t.Parallel()
	sock, ln := listenAt(t)
	asked := make(chan struct{}, 1) // the request reached the daemon
	go func() {
		for {
			conn, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			// Reads the request and works on it, answering nothing.
			go func() {
				if _, err := conn.Read(make([]byte, 1)); err == nil {
					asked <- struct{}{}
				}
				_, _ = io.Copy(io.Discard, conn)
				conn.Close()
			}()
		}
	}()
	for _, tc := range []struct {
		op     string
		before bool // interrupted before the call
		want   string
	}{
		{OpStart, false, "interrupted while the mictl daemon starts the instances: it goes on (mictl status shows where it stands)"},
		{OpPing, false, "interrupted while waiting for the mictl daemon's answer; nothing was changed"},
		{OpStop, true, "interrupted before the mictl daemon was asked; nothing was changed"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		if tc.before {
			cancel()
		} else {
			// Once the daemon has the request: a timer let a loaded
			// machine interrupt the call before it was sent.
			go func() { <-asked; cancel() }()
		}
		_, err := Call(ctx, sock, Request{Op: tc.op}, nil)
		cancel()
		if err == nil || err.Error() != tc.want || exitcode.Of(err) != exitcode.Interrupted {
			t.Errorf("%s interrupted: %v (exit %d), want %q (exit %d)", tc.op, err, exitcode.Of(err), tc.want, exitcode.Interrupted)
		}
	}
}

// A wait for a daemon's start interrupted says that the daemon goes on;
// one that runs out says how long it was, as one wait from the start.
func TestAwaitOtherSaysWhatEndedTheWait(t *testing.T) {
	t.Parallel()
	store, err := state.Open(filepath.Join(t.TempDir(), ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	sock := SocketPath(store) // nobody listens: the other daemon is not serving yet
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	err = awaitOther(ctx, sock, nil, store, nil)
	if want := "interrupted while the mictl daemon starts: it goes on"; err == nil || !strings.HasPrefix(err.Error(), want) || exitcode.Of(err) != exitcode.Interrupted {
		t.Errorf("interrupted: %v (exit %d), want %q (exit %d)", err, exitcode.Of(err), want, exitcode.Interrupted)
	}
	passed := make(chan time.Time, 1)
	passed <- time.Now()
	err = awaitOther(context.Background(), sock, passed, store, nil)
	if want := "no mictl daemon answered within 10s of starting one"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("out of time: %v, want %q", err, want)
	}
}

// A daemon started with no command waiting for it (mictl daemon, up
// --foreground) the moment the one before it was killed takes over once
// the lock is let go: the kernel shows a killed daemon dead as soon as
// its main thread has exited, while its other threads, still exiting,
// hold the lock. It gave up at once, and mictl daemon exited 0 leaving
// a crash loop unsupervised. The test holds the lock as that daemon
// does: answering nothing.
func TestDaemonTakesOverFromOneStillDying(t *testing.T) {
	store, err := state.Open(filepath.Join(t.TempDir(), ".mictl"))
	if err != nil {
		t.Fatal(err)
	}
	dying, err := lockDaemon(store)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, func() { dying.Close() })
	d, err := StartDaemon(store, DaemonOptions{Policy: DefaultPolicy()})
	if err != nil {
		t.Fatalf("a daemon started while the killed one let go of its lock: %v", err)
	}
	d.Close()
}

// listenAt listens on a control socket in a new directory, for a daemon
// the test plays; closed when the test ends.
func listenAt(t *testing.T) (sock string, ln *net.UnixListener) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "mictl.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return sock, ln
}

// A reload planned with the flags of an earlier up does not record what
// its configuration named over what a later up recorded: the up's
// instances, which restart and a plain up advise from, stand.
func TestReloadDoesNotRecordOverALaterUp(t *testing.T) {
	t.Parallel()
	store, sup := supervisorOf(t, func(f *state.File) {
		f.UpArgs, f.Configured = []string{"--instances=2"}, []string{"mi-1", "mi-2"}
	})
	sup.recordReload(nil, []string{"mi-1"}, nil, false, nil, nil) // planned before that up
	f, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Configured, []string{"mi-1", "mi-2"}) {
		t.Fatalf("configured %q after a reload planned before the up, want the up's [mi-1 mi-2]", f.Configured)
	}
	sup.recordReload(nil, []string{"mi-1"}, []string{"--instances=2"}, false, nil, nil)
	if f, err = store.Load(); err != nil || !slices.Equal(f.Configured, []string{"mi-1"}) {
		t.Fatalf("configured %q, %v after a reload planned with the up's flags, want [mi-1]", f.Configured, err)
	}
}
