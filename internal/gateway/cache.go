package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaiin-project/kaiin/internal/state"
)

// Revocations tells whether an access token (by its jti) was revoked.
type Revocations interface {
	Revoked(ctx context.Context, jti string) (bool, error)
}

// StateRevocations reads the revocation records Kaiin's OpenID provider
// writes to the hot state ("oidc:revoked:<jti>", kept until the token
// would have expired).
type StateRevocations struct {
	State state.State
}

// Revoked implements Revocations with one hot-state read.
func (s StateRevocations) Revoked(ctx context.Context, jti string) (bool, error) {
	_, err := s.State.Get(ctx, "oidc:revoked:"+jti)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, state.ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

// DefaultRevocationMaxAge is how long a "not revoked" answer is trusted by
// default: with one hot-state round trip on top it stays well inside the
// one-second bound within which every gateway must refuse a revoked token.
const DefaultRevocationMaxAge = 500 * time.Millisecond

// revocationCheck re-checks cached tokens against Revocations.
type revocationCheck struct {
	rev Revocations
	// maxAge is how long a negative answer stands; <= 0 asks every time.
	maxAge time.Duration
	// local holds revocations announced to this process (MarkRevoked):
	// jti → unix nanoseconds until which the mark is kept.
	local sync.Map
	now   func() time.Time
}

func newRevocationCheck(rev Revocations, maxAge time.Duration, now func() time.Time) (*revocationCheck, error) {
	switch {
	case maxAge == 0:
		maxAge = DefaultRevocationMaxAge
	case maxAge > time.Second:
		return nil, fmt.Errorf("revocation max age %v is above the one-second bound on revocation", maxAge)
	}
	return &revocationCheck{rev: rev, maxAge: maxAge, now: now}, nil
}

// mark records that jti is revoked until until, in this process only.
func (r *revocationCheck) mark(jti string, until time.Time) {
	r.local.Store(jti, until.UnixNano())
}

// check returns an ErrInvalidToken error when e's token was revoked.
func (r *revocationCheck) check(ctx context.Context, e *cacheEntry) error {
	if r == nil {
		return nil
	}
	jti := e.claims.JWTID
	if v, ok := r.local.Load(jti); ok {
		if r.now().UnixNano() < v.(int64) {
			return invalid("token revoked")
		}
		r.local.Delete(jti)
	}
	if r.rev == nil || jti == "" {
		return nil
	}
	if r.maxAge > 0 && r.now().UnixNano()-e.checked.Load() < int64(r.maxAge) {
		return nil
	}
	// One request per entry asks; the others wait for its answer rather
	// than each sending the same read.
	e.mu.Lock()
	defer e.mu.Unlock()
	start := r.now().UnixNano()
	if r.maxAge > 0 && start-e.checked.Load() < int64(r.maxAge) {
		return nil
	}
	revoked, err := r.rev.Revoked(ctx, jti)
	if err != nil {
		return fmt.Errorf("%w: revocation check: %w", ErrUnavailable, err)
	}
	if revoked {
		// Later requests with this token are refused without a read.
		r.mark(jti, e.claims.Expiry)
		return invalid("token revoked")
	}
	// The answer is as old as the moment the read started.
	e.checked.Store(start)
	return nil
}

// cacheEntry is one verified token.
type cacheEntry struct {
	claims  *Claims
	expires int64        // unix nanoseconds: drop the entry from then on
	checked atomic.Int64 // unix nanoseconds of the last revocation check
	mu      sync.Mutex   // serializes revocation re-checks
}

const cacheShards = 64

// tokenCache maps the SHA-256 of a token to its verified claims. It holds
// at most about size entries: a full shard first drops its expired
// entries, then an arbitrary one (Go's map order is random, which makes
// this a cheap random eviction; a token evicted early is verified again).
type tokenCache struct {
	shards   [cacheShards]cacheShard
	perShard int
	now      func() time.Time
	hits     prometheus.Counter
	misses   prometheus.Counter
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]*cacheEntry
}

func newTokenCache(size int, now func() time.Time, hits, misses prometheus.Counter) *tokenCache {
	if size <= 0 {
		size = 100_000
	}
	c := &tokenCache{perShard: max(1, size/cacheShards), now: now, hits: hits, misses: misses}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]*cacheEntry)
	}
	return c
}

func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// get returns the live entry for key, counting a hit or a miss.
func (c *tokenCache) get(key [32]byte) *cacheEntry {
	s := &c.shards[key[0]%cacheShards]
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	if e != nil && c.now().UnixNano() < e.expires {
		c.hits.Inc()
		return e
	}
	c.misses.Inc()
	return nil
}

// put stores claims for key until expires; checked is when revocation was
// last checked. It returns the stored entry.
func (c *tokenCache) put(key [32]byte, claims *Claims, expires, checked time.Time) *cacheEntry {
	e := &cacheEntry{claims: claims, expires: expires.UnixNano()}
	e.checked.Store(checked.UnixNano())
	s := &c.shards[key[0]%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		now := c.now().UnixNano()
		for k, old := range s.m {
			if now >= old.expires {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < c.perShard {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[key] = e
	return e
}

// len counts the entries (tests).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// fullChecks bounds the expensive verifications running at once, so that
// a flood of new (or bad) tokens leaves CPU for cached traffic.
type fullChecks chan struct{}

func (f fullChecks) acquire(ctx context.Context) error {
	select {
	case f <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case f <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	case <-t.C:
		return fmt.Errorf("%w: too many token verifications waiting", ErrUnavailable)
	}
}

func (f fullChecks) release() { <-f }
