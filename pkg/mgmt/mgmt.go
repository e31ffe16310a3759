// Package mgmt is a client of one Micro Integrator's Management API, the
// internal HTTPS API on port 9154+offset (docs/mi-integrations.md,
// "Management API"). One Client talks to one instance.
//
// # Authentication
//
// The first call logs in: GET /management/login with basic auth returns
// {"AccessToken": ...}, a JWT the client keeps in memory (never on disk) and
// sends as "Authorization: Bearer" on every later call. When a call answers
// 401 (the token expired, the server restarted) the client logs in again,
// once, and repeats the call.
//
// # TLS
//
// MI serves the Management API with its own self-signed certificate
// (wso2carbon.jks). The client trusts whatever certificate the server
// presents ONLY when the URL's host is an IP address of this host: a
// loopback address (127.0.0.0/8, ::1), or one assigned to one of this
// host's network interfaces (an instance bound to host = "192.168.1.10").
// The kernel delivers a connection to either on this host, so the request
// never leaves it and the peer is a process here; the client then uses no
// proxy either, which would take the request elsewhere. For any other host
// (another machine's address, a link-local address with a zone, any name,
// "localhost" included) it verifies the certificate against the system's
// roots as usual, so a remote MI needs a certificate the host trusts (or a
// Options.HTTPClient configured by the caller).
//
// # Timeouts
//
// Every call is bounded by its context and by Options.Timeout, whichever
// ends first; the client reuses its connections.
package mgmt

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds one call when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxBody bounds a response body read into memory.
const maxBody = 16 << 20

// Options configure a Client.
type Options struct {
	// URL is the instance's Management API, e.g. https://127.0.0.1:9164.
	URL      string
	User     string // default admin
	Password string // default admin; never logged, never written anywhere
	// CredentialsFrom names where User and Password came from, for the
	// advice of a refused login: "management_user / management_password"
	// when empty.
	CredentialsFrom string
	Timeout         time.Duration
	// HTTPClient replaces the client's own (then TLS trust is the
	// caller's). Its Timeout, if any, still applies.
	HTTPClient *http.Client
}

// Client is a Management API client for one instance. It is safe for
// concurrent use.
type Client struct {
	base     *url.URL
	user     string
	password string
	credsAt  string // Options.CredentialsFrom
	timeout  time.Duration
	http     *http.Client

	loginMu sync.Mutex // one login at a time: concurrent callers share it
	mu      sync.Mutex
	token   string
}

// Defaults of a fresh MI (docs/mi-integrations.md, "Management API").
const (
	DefaultUser     = "admin"
	DefaultPassword = "admin"
)

// New makes a client; it does not connect.
func New(o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("management API URL %q: want https://HOST:PORT", o.URL)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("management API URL %q: want an https:// URL", o.URL)
	}
	c := &Client{base: u, user: o.User, password: o.Password, credsAt: cmp.Or(o.CredentialsFrom, "management_user / management_password"), timeout: o.Timeout, http: o.HTTPClient}
	if c.user == "" {
		c.user = DefaultUser
	}
	if c.password == "" {
		c.password = DefaultPassword
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.http == nil {
		// No Timeout of its own: do bounds every call by c.timeout, and
		// says so when it runs out.
		c.http = &http.Client{Transport: transport(u.Hostname())}
	}
	return c, nil
}

// isThisHost reports whether host (as in a URL) is an IP address of this
// host, loopback or assigned to one of its interfaces: the only hosts
// whose certificate the client trusts unverified (see the package doc).
func isThisHost(host string) bool {
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	if addr.IsLoopback() {
		return true
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return false // cannot tell: verify
	}
	for _, a := range ifaddrs {
		// Interface addresses carry no zone: a zoned address never matches.
		if ipnet, ok := a.(*net.IPNet); ok {
			if local, ok := netip.AddrFromSlice(ipnet.IP); ok && local.Unmap() == addr {
				return true
			}
		}
	}
	return false
}

func transport(host string) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 4
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if isThisHost(host) {
		// MI's own self-signed certificate, on this host, reached directly
		// (see the package doc).
		t.TLSClientConfig.InsecureSkipVerify = true
		t.Proxy = nil
	}
	return t
}

// URL is the instance's Management API base URL.
func (c *Client) URL() string { return c.base.String() }

// Close releases the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// ErrUnauthorized is wrapped by errors for a 401: the login was refused,
// or a token was refused right after a fresh login.
var ErrUnauthorized = errors.New("unauthorized")

// Error is a failed call: which instance, what was asked, what came back.
type Error struct {
	URL        string // the instance's Management API
	Op         string // e.g. "GET /management/applications"
	StatusCode int    // 0 when no response came
	Message    string // MI's {"Error": ...} or the response text, or the failure
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "management API %s: %s", e.URL, e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// login gets a token with basic auth and keeps it.
func (c *Client) login(ctx context.Context) (string, error) {
	const op = "GET /management/login"
	req, err := c.request(ctx, http.MethodGet, "/management/login", nil, "")
	if err != nil {
		return "", c.fail(op, 0, "", err)
	}
	req.SetBasicAuth(c.user, c.password)
	status, body, err := c.do(req)
	if err != nil {
		return "", c.fail(op, 0, "", err)
	}
	if status == http.StatusUnauthorized {
		return "", c.fail(op, status, fmt.Sprintf("login as %s refused: check %s", c.user, c.credsAt), ErrUnauthorized)
	}
	if status != http.StatusOK {
		return "", c.fail(op, status, errorMessage(body), nil)
	}
	var r struct{ AccessToken string }
	if err := json.Unmarshal(body, &r); err != nil || r.AccessToken == "" {
		return "", c.fail(op, status, "the answer holds no AccessToken", err)
	}
	c.mu.Lock()
	c.token = r.AccessToken
	c.mu.Unlock()
	return r.AccessToken, nil
}

// tokenAfter returns a token other than stale ("" for none yet): the one
// another caller got meanwhile, else a fresh login's. Callers waiting
// here share one login.
func (c *Client) tokenAfter(ctx context.Context, stale string) (string, error) {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	cur := c.token
	c.mu.Unlock()
	if cur != "" && cur != stale {
		return cur, nil
	}
	return c.login(ctx)
}

// call sends one authenticated request, logging in first when there is no
// token and once more when the token is refused. body makes the request
// body afresh for each try.
func (c *Client) call(ctx context.Context, method, path string, body func() (io.Reader, string, error), out any) error {
	op := method + " " + path
	c.mu.Lock()
	token := c.token
	c.mu.Unlock()
	fresh := false
	if token == "" {
		t, err := c.tokenAfter(ctx, "")
		if err != nil {
			return err
		}
		token, fresh = t, true
	}
	for {
		var rd io.Reader
		var ctype string
		if body != nil {
			var err error
			if rd, ctype, err = body(); err != nil {
				return c.fail(op, 0, "", err)
			}
		}
		req, err := c.request(ctx, method, path, rd, ctype)
		if err != nil {
			return c.fail(op, 0, "", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		status, data, err := c.do(req)
		if err != nil {
			return c.fail(op, 0, "", err)
		}
		if status == http.StatusUnauthorized && !fresh {
			if token, err = c.tokenAfter(ctx, token); err != nil {
				return err
			}
			fresh = true
			continue
		}
		if status == http.StatusUnauthorized {
			return c.fail(op, status, "the token from a fresh login was refused", ErrUnauthorized)
		}
		if status < 200 || status > 299 {
			return c.fail(op, status, errorMessage(data), nil)
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				// json's own words name Go's struct fields: say what came.
				return c.fail(op, status, fmt.Sprintf("an answer that is not the Management API's JSON (%.80q): is another server listening on this port?", data), err)
			}
		}
		return nil
	}
}

func (c *Client) request(ctx context.Context, method, path string, body io.Reader, ctype string) (*http.Request, error) {
	u := *c.base
	p, query, _ := strings.Cut(path, "?")
	u.Path = strings.TrimRight(u.Path, "/") + p
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req, nil
}

// do sends req within the client's timeout and reads the body.
func (c *Client) do(req *http.Request) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(req.Context(), c.timeout)
	defer cancel()
	// Out of this client's own time (not the caller's): said so.
	ownTimeout := func(err error) error {
		if ctx.Err() != nil && req.Context().Err() == nil {
			return noAnswer{c.timeout}
		}
		return err
	}
	resp, err := c.http.Do(req.WithContext(ctx))
	if err != nil {
		return 0, nil, ownTimeout(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err == nil && ctx.Err() != nil {
		// Cut short by the deadline: an HTTP/2 stream reset may read as
		// a body that simply ended.
		err = ctx.Err()
	}
	if err != nil {
		return resp.StatusCode, nil, ownTimeout(err)
	}
	if len(data) > maxBody {
		return resp.StatusCode, nil, fmt.Errorf("answer larger than %d MiB", maxBody>>20)
	}
	return resp.StatusCode, data, nil
}

// noAnswer is a call that ran out of the client's own time, said in the
// user's terms (Go's is "context deadline exceeded"). It is a
// context.DeadlineExceeded.
type noAnswer struct{ after time.Duration }

func (e noAnswer) Error() string { return fmt.Sprintf("no answer within %s", e.after) }
func (e noAnswer) Unwrap() error { return context.DeadlineExceeded }

func (c *Client) fail(op string, status int, msg string, err error) *Error {
	if msg == "" && err != nil {
		msg = err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			msg = ue.Err.Error()
		}
	}
	return &Error{URL: c.base.String(), Op: op, StatusCode: status, Message: msg, Err: err}
}

// errorMessage is MI's {"Error": "..."} (or {"error": ...}), else the body.
func errorMessage(body []byte) string {
	var e map[string]any
	if json.Unmarshal(body, &e) == nil {
		for _, k := range []string{"Error", "error", "Message", "message"} {
			if s, ok := e[k].(string); ok && s != "" {
				return s
			}
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
