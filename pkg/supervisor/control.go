package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// Control operations a mictl command asks the daemon for.
const (
	OpPing    = "ping"
	OpStatus  = "status"  // the state as the daemon knows it (its memory, ahead of the file while writes fail)
	OpStart   = "start"   // start (or adopt) instances, stream events until each is ready or failed
	OpStop    = "stop"    // stop instances gracefully
	OpRestart = "restart" // rolling: one at a time, each ready before the next
	OpReload  = "reload"  // re-read the configuration and apply what changed
)

// Request is one control request: a JSON line from client to daemon.
type Request struct {
	Op      string        `json:"op"`
	Names   []string      `json:"names,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
	// Conflicts, with OpStart, is how many conflicts the check of the
	// plan before it found (up --force starts despite them): the
	// daemon's mictl_conflicts until a reload checks again. Absent from a
	// command that checked nothing.
	Conflicts *int `json:"conflicts,omitempty"`
	// AwaitApps, with OpReload, answers once MI has settled the CApps
	// the reload changed (see Supervisor.AwaitApps), Timeout at most:
	// mictl reload's, not deploy's, whose --wait asks MI itself.
	AwaitApps bool `json:"await_apps,omitempty"`
}

// Message is one JSON line from daemon to client: events and keep-alives
// while the request runs, then Done.
type Message struct {
	Event *Event `json:"event,omitempty"`
	// Alive is sent every aliveEvery while a request runs, so that a
	// client tells a long request (a stop drains for up to 180 s) from a
	// daemon that stopped answering.
	Alive bool   `json:"alive,omitempty"`
	Done  bool   `json:"done,omitempty"`
	Error string `json:"error,omitempty"`
	// Code is the exit code Error stands for (exitcode.Of in the daemon).
	Code int `json:"code,omitempty"`
	// The rest come with Done.
	PID int `json:"pid,omitempty"` // the daemon's
	// SaveFailure says the state file is behind the daemon's memory.
	SaveFailure *SaveFailure `json:"save_failure,omitempty"`
	// State is the daemon's own view, for OpStatus.
	State *state.File `json:"state,omitempty"`
	// Lost, with Done, is how many events of the request the daemon could
	// not pass on: the client read them slower than they came (see
	// Subscribe). Only the events of the instances the request names (of
	// all when it names none, and for a reload) count: no other would
	// have been passed on. Its progress then lacks lines: the outcome is
	// the answer's, or the state file's.
	Lost int `json:"lost,omitempty"`
	// Settled follows Done on the connection of a stop: SettledStays at
	// once when the stop left other instances running; when it left the
	// daemon idle, once the daemon decided: SettledStays, or SettledLeft
	// as it exits, having let go of everything (CallUntilLeft).
	Settled string `json:"settled,omitempty"`
	// AppsAwaited, with Done, says that the reload asked with AwaitApps
	// waited for MI to take its CApps: a daemon of an older build
	// ignores AwaitApps, answers at once, and sends no such word.
	AppsAwaited bool `json:"apps_awaited,omitempty"`
}

// What a daemon does once a stop is served (Message.Settled).
const (
	SettledStays = "stays"
	SettledLeft  = "left"
)

// Reply is what the daemon answered a request with, beside its error.
type Reply struct {
	PID         int
	SaveFailure *SaveFailure
	State       *state.File
	// Lost is how many of the request's events never reached the
	// caller's onEvent (Message.Lost).
	Lost int
	// AppsAwaited is Message.AppsAwaited.
	AppsAwaited bool
}

// SocketPath is the daemon's control socket in the state directory.
func SocketPath(store *state.Store) string { return filepath.Join(store.Dir(), "mictl.sock") }

// ErrNoDaemon means no daemon answers on the control socket.
var ErrNoDaemon = errors.New("no mictl daemon is running")

// lostWhy says why a daemon's answer could not be read, in a user's
// terms rather than the socket's ("read unix @->...: connection reset by
// peer").
func lostWhy(err error) string {
	var op *net.OpError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "it closed the connection: it exited, or was stopped"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "it exited, or was killed"
	case errors.As(err, &op):
		return op.Err.Error()
	}
	return err.Error()
}

// goneError is ErrDaemonGone for request op on the socket at path, which
// failed with err.
func goneError(op, path string, err error) error {
	return fmt.Errorf("%w (%s: %s); see %s", ErrDaemonGone, op, lostWhy(err), filepath.Join(filepath.Dir(path), "daemon.log"))
}

// ErrDaemonGone means the daemon went away in the middle of a request.
var ErrDaemonGone = errors.New("the mictl daemon ended the request without an answer")

// ErrNotAnswering means a daemon holds the control socket but sent
// nothing for AnswerTimeout: it is stopped (SIGSTOP, a debugger) or hung.
var ErrNotAnswering = errors.New("the mictl daemon is not answering")

// AnswerTimeout is how long a command waits for any word from the daemon
// before it calls the daemon hung. A daemon at work sends a keep-alive
// every aliveEvery, so only a stopped or hung one stays silent this long.
const (
	AnswerTimeout = 5 * time.Second
	aliveEvery    = time.Second
)

// NotYoursError says the control socket belongs to another user: the
// deployment is theirs, and so are its instances.
type NotYoursError struct {
	Dir string
	UID int
}

func (e *NotYoursError) Error() string {
	return fmt.Sprintf("this deployment belongs to %s (%s is theirs): run mictl as that user", fsutil.User(e.UID), e.Dir)
}

// Call sends req to the daemon listening at path and hands every event to
// onEvent until the daemon says done. A daemon silent for AnswerTimeout
// ends the call with ErrNotAnswering; an error the daemon reports carries
// its exit code (exitcode.Of).
func Call(ctx context.Context, path string, req Request, onEvent func(Event)) (Reply, error) {
	reply, _, err := call(ctx, path, req, onEvent, false)
	return reply, err
}

// leaveTimeout bounds how long the wait CallUntilLeft returns waits for a
// daemon to leave (a variable for tests).
var leaveTimeout = 10 * time.Second

// CallUntilLeft is Call for a stop (OpStop), which may leave the daemon
// nothing to supervise. Beside the answer it returns a wait, which the
// caller must call (also after an error), for what may be done while the
// daemon leaves: the wait returns at once when the daemon stays, and
// when it leaves, once it has let go of the instances directory (its
// lock, control socket and record) and its main thread has exited. Other
// threads may still be releasing its inotify instances in the kernel
// (see watch.Watcher) for up to ~20 ms, which nothing needs to wait for.
func CallUntilLeft(ctx context.Context, path string, req Request, onEvent func(Event)) (Reply, func() error, error) {
	return call(ctx, path, req, onEvent, true)
}

// noWait is the wait of a call that has nothing left to wait for.
func noWait() error { return nil }

func call(ctx context.Context, path string, req Request, onEvent func(Event), untilLeft bool) (Reply, func() error, error) {
	var d net.Dialer
	dialCtx, cancel := context.WithTimeout(ctx, AnswerTimeout)
	conn, err := d.DialContext(dialCtx, "unix", path)
	cancel()
	if err != nil && ctx.Err() != nil {
		return Reply{}, noWait, interruptedCall(path, req.Op, false)
	}
	if err != nil {
		return Reply{}, noWait, dialError(path, err)
	}
	kept := false // by the wait returned
	defer func() {
		if !kept {
			conn.Close()
		}
	}()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetWriteDeadline(time.Now().Add(AnswerTimeout))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		if ctx.Err() != nil {
			return Reply{}, noWait, interruptedCall(path, req.Op, false)
		}
		if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			// Gone before it read the request (killed as it accepted).
			return Reply{}, noWait, goneError(req.Op, path, err)
		}
		return Reply{}, noWait, fmt.Errorf("send %s to the daemon: %w", req.Op, err)
	}
	dec := json.NewDecoder(bufio.NewReader(conn))
	for {
		_ = conn.SetReadDeadline(time.Now().Add(AnswerTimeout))
		var m Message
		if err := dec.Decode(&m); err != nil {
			if ctx.Err() != nil {
				return Reply{}, noWait, interruptedCall(path, req.Op, true)
			}
			if isTimeout(err) {
				return Reply{}, noWait, fmt.Errorf("%w (nothing for %s)", ErrNotAnswering, AnswerTimeout)
			}
			return Reply{}, noWait, goneError(req.Op, path, err)
		}
		if m.Event != nil && onEvent != nil {
			onEvent(*m.Event)
		}
		if !m.Done {
			continue
		}
		reply := Reply{PID: m.PID, SaveFailure: m.SaveFailure, State: m.State, Lost: m.Lost, AppsAwaited: m.AppsAwaited}
		if m.Error != "" {
			cause := errors.New(m.Error)
			if m.Error == ErrInterrupted.Error() {
				cause = ErrInterrupted // a change mictl down ended: no failure
			}
			err = exitcode.With(m.Code, cause)
		}
		wait := noWait
		if untilLeft {
			kept = true
			daemon, _ := proc.Identify(m.PID) // while it surely runs
			stays := m.SaveFailure != nil     // a daemon whose last write failed stays
			wait = sync.OnceValue(func() error {
				defer conn.Close()
				stop := context.AfterFunc(ctx, func() { conn.Close() })
				defer stop()
				return awaitLeave(ctx, conn, dec, daemon, path, stays)
			})
		}
		return reply, wait, err
	}
}

// doing says what the daemon is doing while it serves a request that
// changes something.
var doing = map[string]string{
	OpStart:   "starts the instances",
	OpStop:    "stops the instances",
	OpRestart: "restarts the instances",
	OpReload:  "applies the configuration",
}

// interruptedCall is the error of a call on the control socket at path
// that its command gave up (Ctrl-C) before the answer: what the daemon
// makes of it. sent says whether the request reached the daemon, which
// carries it out all the same.
func interruptedCall(path, op string, sent bool) error {
	what, changes := doing[op]
	var err error
	switch {
	case sent && changes:
		err = fmt.Errorf("interrupted while the mictl daemon %s: it goes on (%s shows where it stands)", what, AsRunFor(daemonArgs(path), "mictl status"))
	case sent:
		err = errors.New("interrupted while waiting for the mictl daemon's answer; nothing was changed")
	default:
		err = errors.New("interrupted before the mictl daemon was asked; nothing was changed")
	}
	return exitcode.With(exitcode.Interrupted, err)
}

// daemonArgs are the arguments of the daemon whose control socket is at
// path, as its state file records them (see AsRunFor); none when it
// cannot be read.
func daemonArgs(path string) []string {
	store, err := state.OpenExisting(filepath.Dir(path))
	if err != nil {
		return nil
	}
	f, err := store.Load()
	if err != nil || f.Daemon == nil {
		return nil
	}
	return f.Daemon.Args
}

// awaitLeave waits for the word the daemon sends on conn once it settles
// what the stop it answered means for it, and when it left, for its main
// thread's exit, which follows at once. A daemon that closes conn without
// a word (one of an earlier build, or one killed since its answer) is
// waited for as those were: whole, when the state file wants nothing run
// and its answer did not say its last write failed (stays: it then stays).
func awaitLeave(ctx context.Context, conn net.Conn, dec *json.Decoder, daemon proc.Identity, path string, stays bool) error {
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout)
	defer cancel()
	late := func(err error) error {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("the instances are stopped, but the mictl daemon (pid %d) did not exit within %s (a detached daemon logs to %s)", daemon.PID, leaveTimeout, filepath.Join(filepath.Dir(path), "daemon.log"))
	}
	_ = conn.SetReadDeadline(time.Now().Add(leaveTimeout))
	for {
		var m Message
		err := dec.Decode(&m)
		switch {
		case err == nil && m.Settled == SettledStays:
			return nil
		case err == nil && m.Settled == SettledLeft:
			if err := proc.WaitMainThreadExit(ctx, daemon); err != nil {
				return late(err)
			}
			return nil
		case err == nil:
			continue
		case ctx.Err() != nil || isTimeout(err):
			return late(ctx.Err())
		}
		if stays || daemon.IsZero() || !leavingByTheFile(filepath.Dir(path)) {
			return nil
		}
		if err := proc.WaitExit(ctx, daemon); err != nil {
			return late(err)
		}
		return nil
	}
}

// leavingByTheFile reports whether the state file in dir wants no
// instance running, which makes a daemon leave.
func leavingByTheFile(dir string) bool {
	store, err := state.OpenExisting(dir)
	if err != nil {
		return true
	}
	f, err := store.Load()
	if err != nil {
		return true
	}
	return !f.WantsAny()
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dialError tells "nobody listens" (no daemon) from "not yours to ask".
func dialError(path string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		dir := filepath.Dir(path)
		var st unix.Stat_t
		if unix.Stat(dir, &st) == nil && int(st.Uid) != os.Getuid() {
			return &NotYoursError{Dir: dir, UID: int(st.Uid)}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (connecting took over %s)", ErrNotAnswering, AnswerTimeout)
	}
	return fmt.Errorf("%w (%v)", ErrNoDaemon, err)
}

// Listen opens the control socket at path, readable and writable by the
// owner only (the state directory is 0700 too).
func Listen(path string) (*net.UnixListener, error) {
	// A socket file left by a dead daemon refuses connections; the caller
	// holds the daemon lock, so no live daemon can be using it.
	_ = os.Remove(path)
	// The kernel refuses a longer path with only "invalid argument": say
	// which limit it is, and what moves the socket.
	if limit := len(unix.RawSockaddrUnix{}.Path) - 1; len(path) > limit {
		return nil, fmt.Errorf("listen on %s: the path is %d bytes long, and a Unix socket's may have at most %d: give instances_dir (in mictl.toml, or --instances-dir) a shorter path", path, len(path), limit)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("protect %s: %w", path, err)
	}
	return ln, nil
}

// peerCred returns the uid and pid of the process at the other end
// (SO_PEERCRED).
func peerCred(conn *net.UnixConn) (uid, pid int, err error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, 0, err
	}
	if credErr != nil {
		return -1, 0, credErr
	}
	return int(cred.Uid), int(cred.Pid), nil
}

// Server answers control requests for a supervisor.
type Server struct {
	sup *Supervisor
	// reload re-reads the configuration and applies it (nil: no config)
	// for the request window marks (see Supervisor.reload).
	reload func(window *rollWindow) (reconcile.Changes, error)
	// watch follows the configuration (nil: none is followed).
	watch *configWatch
	// idle is signalled when a stop left no instance to watch, after
	// leaving (when set) was called, before the reply's write.
	idle    chan struct{}
	leaving func()
	wg      sync.WaitGroup
	// closing is closed once Serve's listener is: a request still
	// waiting on something of its own (AwaitApps) ends, for the daemon
	// waits for every request before it exits.
	closing chan struct{}
	// settlement is what the daemon decides about the stops that left it
	// idle (settle); their connections stay open until then (lingering),
	// for their clients to wait on (CallUntilLeft).
	settleMu   sync.Mutex
	settlement *settlement // nil until a stop leaves the daemon idle
	lingering  sync.WaitGroup
	// log is the daemon's log: its stderr (daemon.log, for a detached
	// daemon), where nobody waits for an answer.
	log io.Writer
	// takenOver, when set (a daemon), is closed once the daemon has
	// resumed the instances its state file wants (Supervisor.Resume):
	// until then its memory holds a dead predecessor's records, ready
	// for servers that may be gone, which status must not show.
	takenOver chan struct{}
	// The command that started the daemon (SpawnDaemon waits for it to
	// answer, then the command asks) is starter, known by the pid it asks
	// from; zero when no command waits, or when it was gone or unnamed
	// as the daemon started (then the first command to ask counts as it).
	// It is answered with its first request other than a ping:
	// answering is set, under askMu, as that answer is made, and asked
	// closed once it is sent (Daemon.Asked); both from the start when no
	// command waits (noCommandWaits). resumed are the instances the
	// daemon started as it took over (see takenOver) for that command
	// (mictl up, which asks for the same instances next), until its
	// answer, which may come first (a restart's does not wait for the
	// takeover).
	starter   proc.Identity
	askMu     sync.Mutex
	answering bool
	asked     chan struct{}
	resumed   []string
}

// settlement is the daemon's decision, once it is idle, to stay or leave:
// left is set before done is closed.
type settlement struct {
	done chan struct{}
	left bool
}

// NewServer serves control requests for sup.
func NewServer(sup *Supervisor) *Server {
	return &Server{sup: sup, idle: make(chan struct{}, 1), log: os.Stderr, asked: make(chan struct{}), closing: make(chan struct{})}
}

// logf writes a line with the time to the daemon's log.
func (srv *Server) logf(format string, a ...any) {
	fmt.Fprintf(srv.log, "%s mictl: %s\n", time.Now().Format(time.RFC3339), fmt.Sprintf(format, a...))
}

// acceptWhy is the system's reason an accept failed ("too many open
// files"), without the socket's address the daemon log names anyway.
func acceptWhy(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// Idle is signalled after a stop leaves nothing running.
func (srv *Server) Idle() <-chan struct{} { return srv.idle }

// unixListener is what Serve accepts connections from: a
// *net.UnixListener, or in tests one whose accepts fail.
type unixListener interface {
	AcceptUnix() (*net.UnixConn, error)
}

// The pauses between accepts that fail grow from the first to the last,
// as net/http's Server's do.
const (
	acceptPauseFirst = 5 * time.Millisecond
	acceptPauseMax   = time.Second
)

// Serve accepts connections until ln is closed, then waits for the
// requests in flight. An accept that fails otherwise (out of descriptors,
// EMFILE, while many requests are in flight or a leak fills the table) is
// tried again after a pause that grows to acceptPauseMax: ending the loop
// would leave a daemon that holds its lock and socket and answers no one,
// which the next mictl command calls hung and `mictl down` kills. Each
// burst of failures is logged once, and its end.
func (srv *Server) Serve(ln unixListener) {
	defer srv.wg.Wait()
	var pause time.Duration
	failures, since := 0, time.Time{}
	for {
		conn, err := ln.AcceptUnix()
		if errors.Is(err, net.ErrClosed) {
			close(srv.closing)
			return
		}
		if err != nil {
			if failures == 0 {
				since = time.Now()
				srv.logf("the control socket cannot take connections (%s); mictl commands wait until it can, trying again", acceptWhy(err))
			}
			failures++
			pause = min(max(2*pause, acceptPauseFirst), acceptPauseMax)
			time.Sleep(pause)
			continue
		}
		if failures > 0 {
			srv.logf("the control socket takes connections again, after %d failed accepts over %s", failures, time.Since(since).Round(time.Millisecond))
			failures, pause = 0, 0
		}
		srv.wg.Add(1)
		go func() {
			defer srv.wg.Done()
			if st := srv.handle(conn); st != nil {
				srv.linger(conn, st)
				return
			}
			conn.Close()
		}()
	}
}

// linger keeps conn open until the daemon settles (st), then tells
// what it decided and closes it.
func (srv *Server) linger(conn *net.UnixConn, st *settlement) {
	go func() {
		defer srv.lingering.Done()
		defer conn.Close()
		<-st.done
		word := SettledStays
		if st.left {
			word = SettledLeft
		}
		_ = conn.SetWriteDeadline(time.Now().Add(AnswerTimeout))
		_ = json.NewEncoder(conn).Encode(Message{Settled: word})
	}()
}

// settling is what the connection of a stop that leaves the daemon idle
// waits for (linger, which each call is counted for): taken before the
// daemon is told it is idle, so that its decision cannot come first.
func (srv *Server) settling() *settlement {
	srv.settleMu.Lock()
	defer srv.settleMu.Unlock()
	if srv.settlement == nil {
		srv.settlement = &settlement{done: make(chan struct{})}
	}
	srv.lingering.Add(1)
	return srv.settlement
}

// settle tells the clients of the stops that left the daemon idle what
// it decided: it stays, or left, having let go of everything (its lock,
// socket and record); for left, it returns once they have been told (the
// daemon's Close, after Serve has returned).
func (srv *Server) settle(left bool) {
	srv.settleMu.Lock()
	if st := srv.settlement; st != nil {
		st.left = left
		close(st.done)
		srv.settlement = nil
	}
	srv.settleMu.Unlock()
	if left {
		srv.lingering.Wait()
	}
}

// handle answers the request on conn. For a stop that left the daemon
// idle it returns what the connection is to stay open for (see
// settling), nil otherwise.
func (srv *Server) handle(conn *net.UnixConn) (settled *settlement) {
	enc := json.NewEncoder(conn)
	var mu sync.Mutex
	broken := false
	send := func(m Message) {
		mu.Lock()
		defer mu.Unlock()
		if broken {
			return
		}
		// A client that stopped reading must not hold this handler (and
		// the daemon's shutdown) for ever.
		_ = conn.SetWriteDeadline(time.Now().Add(AnswerTimeout))
		broken = enc.Encode(m) != nil
	}
	finish := func(m Message, err error) {
		m.Done, m.PID = true, os.Getpid()
		if err != nil {
			m.Error, m.Code = err.Error(), exitcode.Of(err)
		}
		send(m)
	}
	// A client that connects and says nothing must not hold the daemon's
	// shutdown (Serve waits for every handler).
	_ = conn.SetReadDeadline(time.Now().Add(AnswerTimeout))
	var req Request
	// Every stop's connection ends with the daemon's word, refused or
	// served: a stop that did not leave it idle is told it stays (one
	// that did is told by linger, once the daemon settles).
	defer func() {
		if req.Op == OpStop && settled == nil {
			send(Message{Settled: SettledStays})
		}
	}()
	// Requests are a few hundred bytes; a bound keeps anyone from making
	// the daemon buffer more before the peer check.
	if err := json.NewDecoder(bufio.NewReader(io.LimitReader(conn, 64<<10))).Decode(&req); err != nil {
		finish(Message{}, exitcode.Usagef("bad request: %w", err))
		return nil
	}
	// Nobody else on the host may start or stop your instances. (Checked
	// after reading the request, so that the client reads the refusal
	// rather than a broken pipe.)
	uid, pid, err := peerCred(conn)
	if err != nil || uid != os.Getuid() {
		finish(Message{}, &NotYoursError{Dir: filepath.Dir(srv.sup.store.Dir()), UID: os.Getuid()})
		return nil
	}
	fromStarter := srv.isStarter(pid)
	names := req.Names
	if req.Op == OpReload {
		names = nil // a reload's events are about any instance
	}
	// A restart waits its turn behind a roll or a reload under way (see
	// beginRoll): the events of its instances until then are that one's,
	// which its client showed as its own restart's; and so are those of
	// a roll or a reload that waited for it, which begin once it ended.
	// Its subscription takes the events of its window alone: the others
	// took room there, and those that did not fit counted in its answer's
	// Lost, its client saying "up to N lines went missing" of lines it was
	// never to show.
	var window *rollWindow
	var ours func(Event) bool // every event
	if req.Op == OpRestart {
		// Its wait is said to its client alone, outside the window: the
		// restart printed nothing until its turn, through each drain of
		// the roll ahead. Said once, of the whole command: the same line
		// for each instance it names said it as often.
		window = &rollWindow{waiting: func() {
			send(Message{Event: &Event{Time: time.Now(), Instance: ReloadEvent, State: TurnWaiting, Transient: true,
				Message: "this restart begins once the rolling restart or reload under way ends"}})
		}}
		ours = func(ev Event) bool { return window.holds(ev.Time) }
	}
	if req.Op == OpReload {
		// A reload's client (mictl reload, deploy, undeploy) is shown the
		// lines of its own reload alone, and what the instances do from
		// its turn on, its wait for MI's CApps included: the lines of the
		// reload it waited behind, or of the daemon's own that waited
		// behind it, were printed as its own ("reloaded: no change" after
		// its own "reloaded"). What is said to it alone (its wait for its
		// turn, for MI's CApps) goes into its subscription, in order with
		// the rest (see tell).
		window = &rollWindow{}
		ours = func(ev Event) bool {
			return window.began.Load() != nil && (ev.Instance != ReloadEvent || window.holds(ev.Time))
		}
	}
	// A start's events begin with those of its starts so far (see subscribe).
	events, cancel := srv.sup.subscribe(names, req.Op == OpStart, fromStarter, ours)
	defer cancel()
	if req.Op == OpReload {
		window.say = func(ev Event) { srv.sup.tell(events, ev) }
	}
	stopForwarding := forward(events, func(ev Event) { send(Message{Event: &ev}) })
	stopAlive := keepAlive(func() { send(Message{Alive: true}) })
	var reply Message
	settled, err = srv.serve(req, &reply, window, fromStarter)
	stopAlive()
	// Ended before the forwarding, which then passes on what is queued.
	reply.Lost = cancel()
	stopForwarding()
	reply.SaveFailure = srv.sup.SaveFailure()
	if reply.SaveFailure != nil && reply.State == nil {
		// The file is behind: the client shows the outcome from here.
		reply.State, _ = srv.sup.current()
	}
	// Before the answer, which its command may follow at once with
	// another start; asked closed after it.
	first := req.Op != OpPing && srv.answerCommand(fromStarter)
	finish(reply, err)
	if first {
		close(srv.asked)
	}
	return settled
}

// AppsWaiting is the state of the event that says a reload waits for MI
// to take the CApps it changed (Request.AwaitApps).
const AppsWaiting = "apps-waiting"

// TurnWaiting is the state of the event that tells a restart's client
// that it waits its turn: no instance's state, sent to that client alone,
// about the whole command (ReloadEvent). Not "waiting", the client's
// progress line of an instance its roll has not come to yet, which a
// terminal shows below it.
const TurnWaiting = "restart-waiting"

// rollWindow is when a restart's roll or a reload began, its wait for
// its turn over, and when it ended; waiting tells a restart's client that
// it waits its turn, say tells a reload's client an event of its own.
// left is the state as a reload ended (see Supervisor.replyState).
type rollWindow struct {
	began, ended atomic.Pointer[time.Time]
	waiting      func()
	say          func(Event)
	left         atomic.Pointer[state.File]
}

// tell says ev to the window's client alone; nothing for a nil window,
// whose request no client waits for.
func (w *rollWindow) tell(ev Event) {
	if w != nil && w.say != nil {
		w.say(ev)
	}
}

// waits is what beginRoll calls as the roll waits its turn: nil for a
// nil window.
func (w *rollWindow) waits() func() {
	if w == nil {
		return nil
	}
	return w.waiting
}

// holds reports whether at is within the roll.
func (w *rollWindow) holds(at time.Time) bool {
	began, ended := w.began.Load(), w.ended.Load()
	return began != nil && !at.Before(*began) && (ended == nil || !at.After(*ended))
}

// begin marks the roll begun now; a nil window marks nothing.
func (w *rollWindow) begin() {
	if w != nil {
		now := time.Now()
		w.began.Store(&now)
	}
}

// beganAt is when the roll began: CApp checks over since then are the
// reload's (see Supervisor.AwaitApps). Now when it has not begun, or
// the window is nil.
func (w *rollWindow) beganAt() time.Time {
	if w != nil {
		if began := w.began.Load(); began != nil {
			return *began
		}
	}
	return time.Now()
}

// end marks the roll ended now; a nil window marks nothing.
func (w *rollWindow) end() {
	if w != nil {
		now := time.Now()
		w.ended.Store(&now)
	}
}

// serve carries out req, filling in what the reply carries beside an
// error; for a stop that leaves the daemon idle, it returns what the
// client is to be told once the daemon settles (see settling). A restart
// marks its roll's window (when not nil). fromStarter says that req comes
// from the command that started the daemon (see isStarter).
func (srv *Server) serve(req Request, reply *Message, window *rollWindow, fromStarter bool) (settled *settlement, err error) {
	var ended *state.File
	switch req.Op {
	case OpPing:
		return nil, nil
	case OpStatus:
		srv.awaitTakeOver()
		// A change not written yet is tried now: status then says whether
		// the file can hold it.
		_ = srv.sup.Flush()
		srv.sup.repair()
		reply.State, err = srv.sup.current()
		return nil, err
	case OpStart:
		if req.Conflicts != nil {
			srv.sup.SetConflicts(*req.Conflicts)
		}
		srv.following()
		err = srv.start(req.Names, req.Timeout, fromStarter)
	case OpStop:
		// What the daemon resumes as it starts has no runner yet: a stop
		// then took the servers being launched for processes running
		// unrecorded, and ended them under their starts.
		srv.awaitTakeOver()
		if srv.watch != nil && srv.stopsAll(req.Names) {
			// The daemon is about to be idle and leave: no reload
			// while the servers stop.
			srv.watch.pause()
		}
		var stopEnded func()
		if len(req.Names) == 0 {
			// A reload or restart under way would start again what a
			// stop of everything stops.
			stopEnded = srv.sup.interruptChanges(req.Timeout)
		} else {
			// One of named instances leaves them be (they may be
			// restarting others), but they start none of these again.
			stopEnded = srv.sup.leaveStopped(req.Names)
		}
		err = srv.sup.Stop(req.Names, req.Timeout)
		stopEnded()
		if len(srv.sup.Active()) == 0 {
			if srv.leaving != nil {
				srv.leaving() // in the write the reply waits for
				settled = srv.settling()
			}
			notify(srv.idle)
		} else {
			srv.following() // something runs on after all
		}
	case OpRestart:
		srv.following()
		ended, err = srv.restart(req.Names, req.Timeout, window)
	case OpReload:
		if srv.reload == nil {
			err = errors.New("this supervisor does not follow a configuration")
		} else {
			_, err = srv.reload(window)
		}
		if err == nil && req.AwaitApps {
			// For req.Timeout (mictl reload --timeout) at most. Said to
			// its client alone: another mictl reload waiting for its own
			// CApps printed this one's wait too.
			err = srv.sup.AwaitApps(window.beganAt(), srv.closing, req.Timeout, func(msg string) {
				window.tell(Event{Instance: ReloadEvent, State: AppsWaiting, Transient: true, Message: msg})
			})
			reply.AppsAwaited = true
		}
		ended = srv.sup.replyState(window) // not the first steps of the reload queued behind
	default:
		return nil, exitcode.Usagef("unknown operation %q", req.Op)
	}
	// The client reads the state file next: it should hold the outcome,
	// on the disk where it must outlive a power failure (a start's
	// records; not how a stop ended, whose intent Supervisor.Stop wrote
	// durably while the servers stopped). When it cannot be written the
	// reply says so (SaveFailure), and the request's own outcome stands:
	// the servers were started or stopped.
	_ = srv.sup.flushVisible()
	if req.Op == OpStart || req.Op == OpRestart || req.Op == OpReload {
		// The outcome the client shows is the daemon's memory: the file,
		// read after this answer, may be behind a stop that came
		// meanwhile (mictl down during a restart: the restart's table
		// showed instances "ready" whose servers the down had ended).
		reply.State, _ = srv.sup.current()
	}
	if ended != nil {
		reply.State = ended // a restart's or reload's, not the next one's
	}
	srv.sup.trimSoon()
	return settled, err
}

// awaitTakeOver waits until the daemon has resumed what its state file
// wants (see takenOver), or is closing.
func (srv *Server) awaitTakeOver() {
	if srv.takenOver != nil {
		select {
		case <-srv.takenOver:
		case <-srv.sup.ctx.Done():
		}
	}
}

// stopsAll reports whether stopping names leaves no instance supervised.
func (srv *Server) stopsAll(names []string) bool {
	for _, name := range srv.sup.Active() {
		if len(names) > 0 && !slices.Contains(names, name) {
			return false
		}
	}
	return true
}

// following takes up the configuration watch again if a stop paused
// it.
func (srv *Server) following() {
	if srv.watch != nil {
		srv.watch.resume()
	}
}

// keepAlive calls alive every aliveEvery until the returned func is
// called; it returns only after the last call.
func keepAlive(alive func()) func() {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(aliveEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				alive()
			case <-quit:
				return
			}
		}
	}()
	return func() { close(quit); <-done }
}

// forward hands events to send until the returned func is called; it
// returns only after the last send.
func forward(events <-chan Event, send func(Event)) func() {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					return
				}
				send(ev)
			case <-quit:
				// Deliver what is already queued, in order, then stop.
				for {
					select {
					case ev, ok := <-events:
						if !ok {
							return
						}
						send(ev)
					default:
						return
					}
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}

// start starts names and waits until each is ready, failed or stopped,
// or timeout passed. For the command that started the daemon
// (fromStarter), one the daemon started as it took over, which has ended
// since with no stop asked (its restart policy done with it), is not
// started again: its end is the answer. Started again, it ran twice for
// one up (the launch refused at once, under load: four starts of two
// instances), and up reported the second run's outcome, not the first's.
// Another command's start (another up) starts it again.
func (srv *Server) start(names []string, timeout time.Duration, fromStarter bool) error {
	// A start that came before the takeover's would start the instance
	// and the takeover start it again once that had ended.
	srv.awaitTakeOver()
	launch := names
	if fromStarter {
		launch = slices.DeleteFunc(slices.Clone(names), srv.resumedEnded)
	}
	if err := srv.sup.Start(launch); err != nil {
		return err
	}
	return srv.sup.WaitReady(names, timeout)
}

// resumedEnded reports whether name is one the daemon started as it took
// over for the command yet to be answered, whose runner has ended on its
// own since.
func (srv *Server) resumedEnded(name string) bool {
	srv.askMu.Lock()
	resumed := slices.Contains(srv.resumed, name)
	srv.askMu.Unlock()
	return resumed && srv.sup.endedOnItsOwn(name)
}

// resumedFor records names as started at the takeover for the command
// that started the daemon, unless that command had its answer already
// (or none waits).
func (srv *Server) resumedFor(names []string) {
	srv.askMu.Lock()
	defer srv.askMu.Unlock()
	if !srv.answering {
		srv.resumed = names
	}
}

// isStarter reports whether the process pid, which asks, is the command
// that started the daemon (see starter); any is, when that is unknown.
func (srv *Server) isStarter(pid int) bool {
	return srv.starter.IsZero() || (pid == srv.starter.PID && srv.starter.Alive())
}

// answerCommand reports whether the answer now made is the first to the
// command that started the daemon (fromStarter), and ends what
// resumedEnded holds: a later command's start starts again what ended
// (mictl up after a failed one). Another command's answer (a mictl status
// from another shell, which may come between up's start of the daemon and
// up's request) is not that command's, unless that command is gone, or
// unknown (see starter): it will never ask.
func (srv *Server) answerCommand(fromStarter bool) (first bool) {
	srv.askMu.Lock()
	defer srv.askMu.Unlock()
	if srv.answering || (!fromStarter && srv.starter.Alive()) {
		return false
	}
	srv.answering, srv.resumed = true, nil
	srv.sup.forgetKept()
	return true
}

// noCommandWaits says that no command waits to ask the daemon: it has
// nobody's answer to wait for (Daemon.Asked).
func (srv *Server) noCommandWaits() {
	if srv.answerCommand(true) {
		close(srv.asked)
	}
}

// restart stops and starts names one at a time, each ready before the
// next, so a deployment loses one instance at a time, in the order that
// frees each port before it is taken, as a reload's restarts go; but
// instances that take each other's ports, which restart together (see
// reconcile.Target.RestartSteps). One that a stop of named instances
// stops meanwhile (mictl down mi-1 during mictl restart mi-1 mi-2) is
// left stopped and the restart goes on with the others; it ends with an
// error naming it all the same, since not everything asked was done. So
// does one whose home could not be brought up to date (a distribution's
// deployment.toml that does not parse): it starts as it was. ended is
// the state at the end of the roll, before a roll or a reload that waited
// for it changes it; nil when a stop of everything interrupted it, whose
// outcome is that stop's. window (when not nil) is marked as the roll
// begins, its wait for its turn over, and as it ends.
func (srv *Server) restart(names []string, timeout time.Duration, window *rollWindow) (ended *state.File, err error) {
	op, end := srv.sup.beginRoll(window.waits())
	defer end()
	window.begin()
	defer window.end()
	steps, prepare, err := srv.sup.restartPlan(srv.watch.load(), names)
	if err != nil {
		return nil, err
	}
	err = srv.roll(op, steps, timeout, prepare)
	if errors.Is(err, ErrInterrupted) {
		// ErrInterrupted alone, by whose text the client knows it (see
		// call), as a reload's: ending "(the instances after it were not
		// restarted)", it was a failure to the client, which says itself
		// what the roll had not come to.
		return nil, ErrInterrupted
	}
	ended, _ = srv.sup.current()
	return ended, err
}

// roll restarts steps one after the other for op (see restart).
func (srv *Server) roll(op *change, steps [][]string, timeout time.Duration, prepare func(names []string) error) error {
	var unfinished []error
	for i, step := range steps {
		stopped, unprepared, err := srv.sup.restartStep(op, step, nil, timeout, prepare)
		if unprepared != nil {
			unfinished = append(unfinished, fmt.Errorf("restart %s: started as it was, %s not brought up to date: %w", strings.Join(step, ", "), homesOf(step), unprepared))
		}
		if err != nil {
			return errors.Join(append(unfinished, rollEnded(err, i < len(steps)-1))...)
		}
		for _, name := range stopped {
			unfinished = append(unfinished, fmt.Errorf("restart %s: %w", name, errStoppedMeanwhile))
		}
	}
	return errors.Join(unfinished...)
}
