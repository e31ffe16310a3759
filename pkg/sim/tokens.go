package sim

import (
	"sync"
	"time"
)

// MI's defaults for its Management API tokens (internal-apis.xml,
// JWTTokenSecurityHandler): a token expires 3600 s after it is issued
// (TokenConfig expiry) and the store holds at most 200 (TokenStoreConfig
// MaxSize), removing the least recently used one when full
// (RemoveOldestTokenOnOverflow = true).
const (
	tokenLifetime  = time.Hour
	tokenStoreSize = 200
)

// tokenStore is MI's in-memory token store (JWTInMemoryTokenStore): the
// tokens /management/login issued, each with when it was issued and last
// used, so that logins cannot grow it without bound.
type tokenStore struct {
	mu       sync.Mutex
	lifetime time.Duration // a token is refused once this old
	max      int
	tokens   map[string]*tokenUse
}

type tokenUse struct{ issued, used time.Time }

func newTokenStore() *tokenStore {
	return &tokenStore{lifetime: tokenLifetime, max: tokenStoreSize, tokens: map[string]*tokenUse{}}
}

// add stores a new token, first dropping the expired ones and, when the
// store is still full, the least recently used.
func (ts *tokenStore) add(tok string, now time.Time) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for t, u := range ts.tokens {
		if ts.expired(u, now) {
			delete(ts.tokens, t)
		}
	}
	for len(ts.tokens) >= ts.max && len(ts.tokens) > 0 {
		var lru string
		for t, u := range ts.tokens {
			if lru == "" || u.used.Before(ts.tokens[lru].used) {
				lru = t
			}
		}
		delete(ts.tokens, lru)
	}
	ts.tokens[tok] = &tokenUse{issued: now, used: now}
}

// valid says tok was issued and has not expired, and marks it used.
func (ts *tokenStore) valid(tok string, now time.Time) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	u, ok := ts.tokens[tok]
	if !ok || ts.expired(u, now) {
		return false
	}
	u.used = now
	return true
}

func (ts *tokenStore) expired(u *tokenUse, now time.Time) bool {
	return !now.Before(u.issued.Add(ts.lifetime))
}
