package sim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A Management API token expires as MI's do (3600 s by default): once
// past its lifetime it gets 401, and a new login works.
func TestTokenExpires(t *testing.T) {
	t.Parallel()
	s := &server{home: t.TempDir(), log: newLogger(io.Discard, t.TempDir()), tokens: newTokenStore()}
	s.deployer = newDeployer(s)
	mgmt := httptest.NewServer(s.managementMux())
	defer mgmt.Close()
	login := func() string {
		code, body := get(mgmt.URL+"/management/login", http.Header{"Authorization": {"Basic YWRtaW46YWRtaW4="}})
		var out struct{ AccessToken string }
		decodeJSON(t, body, &out)
		if code != 200 || out.AccessToken == "" {
			t.Fatalf("login: %d %s", code, body)
		}
		return out.AccessToken
	}
	apis := func(tok string) int {
		code, _ := get(mgmt.URL+"/management/apis", http.Header{"Authorization": {"Bearer " + tok}})
		return code
	}
	tok := login()
	if code := apis(tok); code != 200 {
		t.Fatalf("a fresh token: %d", code)
	}
	s.tokens.mu.Lock()
	s.tokens.lifetime = 0 // every token issued so far is now past its lifetime
	s.tokens.mu.Unlock()
	if code := apis(tok); code != http.StatusUnauthorized {
		t.Fatalf("an expired token: %d, want 401", code)
	}
	s.tokens.mu.Lock()
	s.tokens.lifetime = tokenLifetime
	s.tokens.mu.Unlock()
	if code := apis(login()); code != 200 {
		t.Fatalf("a token from a new login: %d", code)
	}
}

// Logins do not grow the store without bound: expired tokens are dropped
// when a token is issued, and a full store drops its least recently used.
func TestTokenStoreBounded(t *testing.T) {
	t.Parallel()
	ts := newTokenStore()
	now := time.Now()
	ts.add("old", now)
	ts.add("new", now.Add(tokenLifetime))
	if _, ok := ts.tokens["old"]; ok || len(ts.tokens) != 1 {
		t.Fatalf("an expired token is kept: %v", ts.tokens)
	}
	ts = newTokenStore()
	ts.max = 2
	ts.add("a", now)
	ts.add("b", now.Add(time.Second))
	if !ts.valid("a", now.Add(2*time.Second)) {
		t.Fatal("a is not valid")
	}
	ts.add("c", now.Add(3*time.Second))
	if len(ts.tokens) != 2 || !ts.valid("a", now.Add(4*time.Second)) || ts.valid("b", now.Add(4*time.Second)) || !ts.valid("c", now.Add(4*time.Second)) {
		t.Fatalf("want b (least recently used) dropped: %v", ts.tokens)
	}
}
