package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// Control operations a mictl command asks the daemon for.
const (
	OpPing    = "ping"
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
}

// Message is one JSON line from daemon to client: events, then Done.
type Message struct {
	Event *Event `json:"event,omitempty"`
	Done  bool   `json:"done,omitempty"`
	Error string `json:"error,omitempty"`
	PID   int    `json:"pid,omitempty"` // the daemon's, in the Done message
}

// SocketPath is the daemon's control socket in the state directory.
func SocketPath(store *state.Store) string { return filepath.Join(store.Dir(), "mictl.sock") }

// ErrNoDaemon means no daemon answers on the control socket.
var ErrNoDaemon = errors.New("no mictl daemon is running")

// ErrDaemonGone means the daemon went away in the middle of a request.
var ErrDaemonGone = errors.New("the mictl daemon ended the request without an answer")

// Call sends req to the daemon listening at path and hands every event to
// onEvent until the daemon says done.
func Call(ctx context.Context, path string, req Request, onEvent func(Event)) (pid int, err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return 0, fmt.Errorf("%w (%v)", ErrNoDaemon, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return 0, fmt.Errorf("send %s to the daemon: %w", req.Op, err)
	}
	dec := json.NewDecoder(bufio.NewReader(conn))
	for {
		var m Message
		if err := dec.Decode(&m); err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("%w (%s: %v); see %s", ErrDaemonGone, req.Op, err, filepath.Join(filepath.Dir(path), "daemon.log"))
		}
		if m.Event != nil && onEvent != nil {
			onEvent(*m.Event)
		}
		if m.Done {
			if m.Error != "" {
				return m.PID, errors.New(m.Error)
			}
			return m.PID, nil
		}
	}
}

// Listen opens the control socket at path, readable and writable by the
// owner only (the state directory is 0700 too).
func Listen(path string) (*net.UnixListener, error) {
	// A socket file left by a dead daemon refuses connections; the caller
	// holds the daemon lock, so no live daemon can be using it.
	_ = os.Remove(path)
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

// peerUID returns the uid of the process at the other end (SO_PEERCRED).
func peerUID(conn *net.UnixConn) (int, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if credErr != nil {
		return -1, credErr
	}
	return int(cred.Uid), nil
}

// Server answers control requests for a supervisor.
type Server struct {
	sup *Supervisor
	// reload re-reads the configuration and applies it (nil: no config).
	reload func() (reconcile.Changes, error)
	// idle is signalled when a stop left no instance to watch.
	idle chan struct{}
	wg   sync.WaitGroup
}

// NewServer serves control requests for sup.
func NewServer(sup *Supervisor) *Server {
	return &Server{sup: sup, idle: make(chan struct{}, 1)}
}

// Idle is signalled after a stop leaves nothing running.
func (srv *Server) Idle() <-chan struct{} { return srv.idle }

// Serve accepts connections until ln is closed, then waits for the
// requests in flight.
func (srv *Server) Serve(ln *net.UnixListener) {
	defer srv.wg.Wait()
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		srv.wg.Add(1)
		go func() {
			defer srv.wg.Done()
			defer conn.Close()
			srv.handle(conn)
		}()
	}
}

func (srv *Server) handle(conn *net.UnixConn) {
	enc := json.NewEncoder(conn)
	var mu sync.Mutex
	send := func(m Message) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(m)
	}
	finish := func(err error) {
		m := Message{Done: true, PID: os.Getpid()}
		if err != nil {
			m.Error = err.Error()
		}
		send(m)
	}
	// A client that connects and says nothing must not hold the daemon's
	// shutdown (Serve waits for every handler).
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var req Request
	// Requests are a few hundred bytes; a bound keeps anyone from making
	// the daemon buffer more before the peer check.
	if err := json.NewDecoder(bufio.NewReader(io.LimitReader(conn, 64<<10))).Decode(&req); err != nil {
		finish(fmt.Errorf("bad request: %w", err))
		return
	}
	// Nobody else on the host may start or stop your instances. (Checked
	// after reading the request, so that the client reads the refusal
	// rather than a broken pipe.)
	if uid, err := peerUID(conn); err != nil || uid != os.Getuid() {
		finish(fmt.Errorf("permission denied: the mictl daemon of uid %d serves only its own user", os.Getuid()))
		return
	}
	events, cancel := srv.sup.Subscribe()
	defer cancel()
	names := req.Names
	if req.Op == OpReload {
		names = nil // a reload's events are about any instance
	}
	stopForwarding := forward(events, names, func(ev Event) { send(Message{Event: &ev}) })
	var err error
	switch req.Op {
	case OpPing:
	case OpStart:
		err = srv.start(req.Names, req.Timeout)
	case OpStop:
		err = srv.sup.Stop(req.Names, req.Timeout)
		if len(srv.sup.Active()) == 0 {
			notify(srv.idle)
		}
	case OpRestart:
		err = srv.restart(req.Names, req.Timeout)
	case OpReload:
		if srv.reload == nil {
			err = errors.New("this supervisor does not follow a configuration")
		} else {
			_, err = srv.reload()
		}
	default:
		err = fmt.Errorf("unknown operation %q", req.Op)
	}
	// The client reads the state file next: it must hold the outcome.
	err = errors.Join(err, srv.sup.Flush())
	stopForwarding()
	finish(err)
}

// forward hands events about names (all when empty) to send until the
// returned func is called; it returns only after the last send.
func forward(events <-chan Event, names []string, send func(Event)) func() {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case ev := <-events:
				if len(want) == 0 || want[ev.Instance] {
					send(ev)
				}
			case <-quit:
				// Deliver what is already queued, in order, then stop.
				for {
					select {
					case ev := <-events:
						if len(want) == 0 || want[ev.Instance] {
							send(ev)
						}
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
// or timeout passed.
func (srv *Server) start(names []string, timeout time.Duration) error {
	if err := srv.sup.Start(names); err != nil {
		return err
	}
	return srv.sup.WaitReady(names, timeout)
}

// restart stops and starts names one at a time, each ready before the
// next, so a deployment never loses more than one instance at once.
func (srv *Server) restart(names []string, timeout time.Duration) error {
	for _, name := range names {
		if err := srv.sup.Stop([]string{name}, srv.sup.policy.StopTimeout); err != nil {
			return fmt.Errorf("restart %s: %w", name, err)
		}
		if err := srv.start([]string{name}, timeout); err != nil {
			return fmt.Errorf("restart %s: %w (instances after it were not restarted)", name, err)
		}
	}
	return nil
}
