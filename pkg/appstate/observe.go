package appstate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/mgmt"
	"github.com/mictl/mictl/pkg/ports"
)

// DefaultTimeout bounds one call to an instance's Management API.
const DefaultTimeout = 5 * time.Second

// Options configure a Session.
type Options struct {
	User, Password  string        // Management API credentials ("": MI's defaults)
	CredentialsFrom string        // where they came from (mgmt.Options.CredentialsFrom)
	Timeout         time.Duration // per call; DefaultTimeout when zero
	// Follow reads every running instance's log from the session's start
	// on, whatever its Management API: what `--wait` needs to tell a
	// fresh deployment from the one before it. Without it only instances
	// whose API is off have their log read, from its recent end.
	Follow bool
	// Current returns the instance called name as its supervisor records
	// it now (false when it records none), asked once a target's server
	// exited: a wait goes on with the server MI's script started again
	// (exit 121) or mictl restarted, rather than end on the old one's
	// exit. Nil: an exited server ends the wait for its instance.
	Current func(name string) (Target, bool)
}

// Session asks a set of instances about their applications, as many
// times as needed: each instance through one client, which logs in once
// and keeps its connections.
type Session struct {
	targets []Target
	clients []*mgmt.Client // nil where the API is not asked
	logs    []*logFollower // nil where the log is not read
	errs    []error        // why a client could not be made
	hashes  sync.Map       // fileKey → SHA-256, so a poll hashes a file once
	opts    Options
}

// NewSession prepares to ask targets; it connects to nothing yet.
func NewSession(targets []Target, o Options) *Session {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	s := &Session{targets: slices.Clone(targets), clients: make([]*mgmt.Client, len(targets)),
		logs: make([]*logFollower, len(targets)), errs: make([]error, len(targets)), opts: o}
	for i, t := range targets {
		if !t.Running {
			continue
		}
		switch {
		case t.URL == "":
			if o.Follow {
				s.logs[i] = followLog(home.CarbonLog(t.Home))
			} else {
				s.logs[i] = tailLog(home.CarbonLog(t.Home), maxLogTail)
			}
			continue
		case o.Follow:
			s.logs[i] = followLog(home.CarbonLog(t.Home))
		}
		s.connect(i)
	}
	return s
}

// connect makes the Management API client of target i.
func (s *Session) connect(i int) {
	t := s.targets[i]
	s.clients[i], s.errs[i] = mgmt.New(mgmt.Options{URL: t.URL, User: s.opts.User, Password: s.opts.Password, CredentialsFrom: s.opts.CredentialsFrom, Timeout: s.opts.Timeout})
}

// Close releases the clients' connections.
func (s *Session) Close() {
	for _, c := range s.clients {
		if c != nil {
			c.Close()
		}
	}
}

// Observe asks every running instance at once and returns what each said,
// in the targets' order. It returns when every instance has answered or
// failed (each call is bounded by the session's timeout, and by ctx).
func (s *Session) Observe(ctx context.Context) []Observation {
	out := make([]Observation, len(s.targets))
	var wg sync.WaitGroup
	for i, t := range s.targets {
		if t.Running && !t.Server.IsZero() && !t.Server.Alive() {
			next, restarting := s.successor(t)
			switch {
			case next.Running:
				s.targets[i], t = next, next
				if c := s.clients[i]; c != nil && next.URL != c.URL() {
					c.Close() // a reload's restart moved its offset
					s.connect(i)
				}
			case restarting:
				// Asked again at the next look, which may find the new server.
				out[i] = Observation{Target: t, Err: fmt.Errorf("its server (pid %d) exited and is starting again", t.Server.PID)}
				continue
			default:
				s.targets[i].Running = false
				out[i] = Observation{Target: s.targets[i], Exited: true}
				continue
			}
		}
		out[i] = Observation{Target: t}
		if !t.Running {
			// No MI to ask, but its home holds what it was given: -o
			// json's deployed_file said null of a stopped instance's copy.
			out[i].Copies = s.copies(t)
			continue
		}
		wg.Go(func() { s.observe(ctx, i, &out[i]) })
	}
	wg.Wait()
	return out
}

// successor is target t, whose server exited, as its supervisor records
// it now: running another server (next.Running: MI restarted itself with
// exit 121, or mictl restarted it), or about to (restarting); neither
// when it was stopped or ended for good. The wait's declarations stay.
func (s *Session) successor(t Target) (next Target, restarting bool) {
	if s.opts.Current == nil {
		return Target{}, false
	}
	cur, ok := s.opts.Current(t.Name)
	switch {
	case !ok:
		return Target{}, false
	case cur.Running && cur.Server != t.Server:
		cur.Declared = t.Declared
		return cur, false
	}
	return Target{}, cur.Starting
}

func (s *Session) observe(ctx context.Context, i int, o *Observation) {
	t := s.targets[i]
	o.Copies = s.copies(t)
	if l := s.logs[i]; l != nil {
		if err := l.read(); err != nil && t.URL == "" {
			o.Err = fmt.Errorf("read %s: %w", l.path, err)
		}
		o.Events = l.events
	}
	if t.URL == "" {
		o.Source = SourceLog
		return
	}
	o.Source = SourceAPI
	if s.errs[i] != nil {
		o.Err = s.errs[i]
		return
	}
	o.Apps, o.Err = s.clients[i].Applications(ctx)
}

// fileKey identifies a file's contents cheaply, for the hash cache.
type fileKey struct {
	path        string
	size, mtime int64
}

// copies finds, for each declared application, the file of t's
// carbonapps/ with the same bytes: a file of the same size and
// modification time (mictl's copy keeps both), else one of the same size
// whose SHA-256 is the declared file's. Nil when carbonapps/ cannot be
// read.
func (s *Session) copies(t Target) map[string]string {
	dir := home.CarbonAppsDir(t.Home)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return map[string]string{}
		}
		return nil
	}
	type carFile struct {
		name string
		key  fileKey
	}
	var cars []carFile
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".car") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			p := filepath.Join(dir, e.Name())
			cars = append(cars, carFile{e.Name(), fileKey{p, fi.Size(), fi.ModTime().UnixNano()}})
		}
	}
	out := map[string]string{}
	for _, d := range t.Declared {
		if d.App == nil {
			continue
		}
		var mtime int64
		if fi, err := os.Stat(d.Path); err == nil {
			mtime = fi.ModTime().UnixNano()
		}
		for _, c := range cars {
			if c.key.size != d.App.Size {
				continue
			}
			if c.key.mtime == mtime || s.hash(c.key) == d.App.SHA256 {
				out[d.Path] = c.name
				break
			}
		}
	}
	return out
}

// hash is the SHA-256 of the file k names ("" when unreadable), computed
// once per version of the file.
func (s *Session) hash(k fileKey) string {
	if h, ok := s.hashes.Load(k); ok {
		return h.(string)
	}
	h, err := fsutil.SHA256(k.path)
	if err != nil {
		return ""
	}
	s.hashes.Store(k, h)
	return h
}

// APIEnabled reads the rendered deployment.toml of the instance at
// homeDir: MI serves its Management API unless
// [mediation] internal_http_api_enable is false.
func APIEnabled(homeDir string) bool {
	data, err := os.ReadFile(home.ConfPath(homeDir))
	if err != nil {
		return true
	}
	doc, err := deploytoml.Parse(home.ConfPath(homeDir), data)
	if err != nil {
		return true
	}
	v, ok := doc.Lookup(ports.InternalAPIEnableTOMLKey)
	off := ok && (v == false || fmt.Sprint(v) == "false")
	return !off
}
