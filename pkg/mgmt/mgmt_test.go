package mgmt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeMI is a Management API whose tokens the test can revoke.
type fakeMI struct {
	logins  atomic.Int32
	mu      sync.Mutex
	valid   map[string]bool
	refuse  bool // refuse every token, even fresh ones
	delay   time.Duration
	payload string
}

func (f *fakeMI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/management/login" {
		u, p, ok := r.BasicAuth()
		if !ok || u != "admin" || p != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"Error":"Error while authenticating the user"}`)
			return
		}
		n := f.logins.Add(1)
		tok := fmt.Sprintf("tok-%d", n)
		f.mu.Lock()
		if f.valid == nil {
			f.valid = map[string]bool{}
		}
		f.valid[tok] = true
		f.mu.Unlock()
		fmt.Fprintf(w, `{"AccessToken":%q}`, tok)
		return
	}
	f.mu.Lock()
	ok := f.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] && !f.refuse
	f.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"Error":"Invalid credentials"}`)
		return
	}
	time.Sleep(f.delay)
	switch r.URL.Path {
	case "/management/apis":
		fmt.Fprint(w, `{"count":1,"list":[{"name":"a","url":"http://localhost:8290/a"}]}`)
	case "/management/applications/missing":
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"Error":"Cannot remove the Carbon Application.missing does not exist"}`)
	default:
		fmt.Fprint(w, f.payload)
	}
}

func (f *fakeMI) revoke() {
	f.mu.Lock()
	f.valid = nil
	f.mu.Unlock()
}

func newFake(t *testing.T) (*fakeMI, *Client) {
	t.Helper()
	f := &fakeMI{}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Options{URL: srv.URL, Password: "secret", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return f, c
}

// One login per client, kept in memory; a refused token makes it log in
// again, once.
func TestLoginOnceAndRelogin(t *testing.T) {
	t.Parallel()
	f, c := newFake(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.APIs(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	apis, err := c.APIs(ctx)
	if err != nil || len(apis) != 1 || apis[0].URL != "http://localhost:8290/a" {
		t.Fatalf("APIs: %v %v", apis, err)
	}
	if n := f.logins.Load(); n != 1 {
		t.Errorf("%d logins for 9 calls, 8 of them concurrent; want 1", n)
	}
	f.revoke()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.APIs(ctx); err != nil {
				t.Errorf("after a revoked token: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := f.logins.Load(); n != 2 {
		t.Errorf("logins %d, want one more after the revoked token", n)
	}
	f.mu.Lock()
	f.refuse = true
	f.mu.Unlock()
	_, err = c.APIs(ctx)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "the token from a fresh login was refused") {
		t.Errorf("refused fresh token: %v", err)
	}
}

func TestErrorsNameTheInstance(t *testing.T) {
	t.Parallel()
	f := &fakeMI{}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	c, _ := New(Options{URL: srv.URL, User: "admin", Password: "wrong"})
	_, err := c.Applications(context.Background())
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnauthorized) || e.StatusCode != 401 {
		t.Fatalf("wrong password: %v", err)
	}
	if want := "management API " + srv.URL + ": GET /management/login: HTTP 401: login as admin refused: check management_user / management_password"; err.Error() != want {
		t.Errorf("message %q\nwant    %q", err, want)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the password leaked into the error: %v", err)
	}
	// The advice names where the credentials came from, when told.
	c, _ = New(Options{URL: srv.URL, User: "admin", Password: "wrong", CredentialsFrom: "management_password (environment MICTL_MANAGEMENT_PASSWORD)"})
	if _, err = c.Applications(context.Background()); err == nil || !strings.HasSuffix(err.Error(), "refused: check management_password (environment MICTL_MANAGEMENT_PASSWORD)") {
		t.Errorf("told where the password came from: %v", err)
	}

	_, c2 := newFake(t)
	_, err = c2.UndeployApplication(context.Background(), "missing")
	if err == nil || !strings.Contains(err.Error(), "DELETE /management/applications/missing: HTTP 404: Cannot remove the Carbon Application.missing does not exist") {
		t.Errorf("404: %v", err)
	}
	if _, err := c2.UndeployApplication(context.Background(), "../x"); err == nil {
		t.Errorf("a name with a directory was sent")
	}
	if _, err := c2.DeployApplication(context.Background(), "/tmp/x.zip"); err == nil || !strings.Contains(err.Error(), "only files named *.car") {
		t.Errorf("deploy .zip: %v", err)
	}

	// Another server on the port answers something else than MI's JSON:
	// said with what came, not in json's words of Go's fields.
	f3, c3 := newFake(t)
	f3.payload = "<html>Welcome to nginx</html>"
	_, err = c3.Applications(context.Background())
	if want := `an answer that is not the Management API's JSON ("<html>Welcome to nginx</html>"): is another server listening on this port?`; err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "json:") {
		t.Errorf("an answer not MI's: %v\nwant it to say %s", err, want)
	}
}

// Every call is bounded by the client's timeout and by its context.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	f := &fakeMI{delay: 500 * time.Millisecond, payload: "{}"}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	c, _ := New(Options{URL: srv.URL, Password: "secret", Timeout: 100 * time.Millisecond})
	// Said in the user's terms, and still a deadline to callers.
	if _, err := c.Server(context.Background()); err == nil || !strings.Contains(err.Error(), "no answer within 100ms") ||
		strings.Contains(err.Error(), "deadline exceeded") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("client timeout: %v", err)
	}
	// Headers at once, then a body that stalls: the same words.
	stall := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer stall.Close()
	c3, _ := New(Options{URL: stall.URL, Password: "secret", Timeout: 100 * time.Millisecond})
	if _, err := c3.Server(context.Background()); err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Errorf("client timeout in the body: %v", err)
	}
	c2, _ := New(Options{URL: srv.URL, Password: "secret", Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c2.Server(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context deadline: %v", err)
	}
}

// The certificate is trusted unverified only on an IP address of this
// host; "localhost" and other names are verified (the test server's
// certificate is not trusted, so they fail).
func TestTLSTrustOnlyOnThisHost(t *testing.T) {
	t.Parallel()
	f := &fakeMI{payload: "{}"}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	c, _ := New(Options{URL: "https://localhost:" + port, Password: "secret"})
	if _, err := c.Server(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("localhost: %v, want a certificate error", err)
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "127.1.2.3": true, "[::1]": true, "::1": true, "[::ffff:127.0.0.1]": true,
		"localhost": false, "mi.example.com": false, "": false, "[fe80::1%25eth0]": false} {
		if isThisHost(host) != want {
			t.Errorf("isThisHost(%q) = %v", host, !want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:9164", "ftp://x", "://"} {
		if _, err := New(Options{URL: bad}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

// An instance bound to an address of this host's own interfaces (host =
// "192.168.1.10") is on this host too: its certificate is trusted, and
// the call goes straight to it, never through a proxy.
func TestTLSTrustOnAnInterfaceAddress(t *testing.T) {
	t.Parallel()
	addr := interfaceAddress(t)
	if !isThisHost(addr.String()) {
		t.Errorf("isThisHost(%s) = false for an address of this host's interfaces", addr)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		t.Fatalf("listen on this host's %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(&fakeMI{payload: "{}"})
	srv.Listener.Close()
	srv.Listener = l
	srv.StartTLS()
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Server(context.Background()); err != nil {
		t.Errorf("%s, an address of this host: %v", srv.URL, err)
	}
	if tr := c.http.Transport.(*http.Transport); tr.Proxy != nil {
		t.Error("a call to this host may go through a proxy, where the certificate would matter")
	}
}

// A host that is not this one is verified, and may be proxied as usual.
func TestTLSVerifiedElsewhere(t *testing.T) {
	t.Parallel()
	for _, host := range remoteAddresses(t) {
		if isThisHost(host) {
			t.Errorf("isThisHost(%s) = true for an address of no interface of this host", host)
		}
	}
	for _, host := range append(remoteAddresses(t), "mi.example.com", "localhost") {
		url := "https://" + net.JoinHostPort(strings.Trim(host, "[]"), "9164")
		c, err := New(Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		tr := c.http.Transport.(*http.Transport)
		if tr.TLSClientConfig.InsecureSkipVerify || tr.Proxy == nil {
			t.Errorf("%s: certificate unverified (%v) or proxy dropped", url, tr.TLSClientConfig.InsecureSkipVerify)
		}
	}
}

// remoteAddresses are documentation addresses (TEST-NET-3, 2001:db8::/32)
// that no interface of this host has.
func remoteAddresses(t *testing.T) []string {
	t.Helper()
	local := map[netip.Addr]bool{}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatalf("list this host's addresses: %v", err)
	}
	for _, a := range ifaddrs {
		if ipnet, ok := a.(*net.IPNet); ok {
			addr, _ := netip.AddrFromSlice(ipnet.IP)
			local[addr.Unmap()] = true
		}
	}
	var out []string
	for _, s := range []string{"203.0.113.7", "203.0.113.201", "2001:db8::7", "2001:db8::c9"} {
		if !local[netip.MustParseAddr(s)] {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		t.Fatal("this host has every documentation address the test tries as a remote one")
	}
	return out
}

// interfaceAddress is an address of one of this host's interfaces other
// than loopback (and not link-local, which needs a zone to reach).
func interfaceAddress(t *testing.T) netip.Addr {
	t.Helper()
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatalf("list this host's addresses: %v", err)
	}
	for _, a := range ifaddrs {
		if ipnet, ok := a.(*net.IPNet); ok {
			if addr, ok := netip.AddrFromSlice(ipnet.IP); ok && !addr.IsLoopback() && !addr.IsLinkLocalUnicast() {
				return addr.Unmap()
			}
		}
	}
	t.Skipf("this host has no address but loopback (and link-local) ones, so trust of an interface address cannot be tried: %v", ifaddrs)
	return netip.Addr{}
}
