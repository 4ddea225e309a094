package member

import (
	"crypto/cipher"
	"sync"
	"time"
)

// DEKCache keeps recently unwrapped data keys in memory, bounded in number
// and in time, so that a member read by several services in a row costs
// one unwrap. It holds data keys only (as ready AES-GCM instances), never
// a decrypted profile.
//
// Why this is safe enough: the cache lives in the memory of the process
// that also holds the KEK's key schedule, which can unwrap every data key
// at will, so someone who can read that memory gains nothing from the
// cache they did not have already. What the cache could weaken is
// crypto-shredding, and it does not: an entry is used only when the
// caller presents the very wrapped key it came from, which a deleted
// member no longer has in the database, and it disappears at its TTL (or
// at once on the node that deletes, through Forget). The bound keeps the
// memory small (about 300 bytes an entry) and stops a scan of every
// member from keeping every key in memory.
//
// A nil *DEKCache is valid and caches nothing. A DEKCache is safe for
// concurrent use.
type DEKCache struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]dekEntry
}

type dekEntry struct {
	wrapped string // the wrapped key this entry was unwrapped from
	aead    cipher.AEAD
	expires time.Time
}

// Defaults for NewDEKCache.
const (
	DefaultCacheSize = 10000
	DefaultCacheTTL  = 60 * time.Second
)

// NewDEKCache returns a cache of at most max keys, each kept for ttl after
// it was unwrapped. Zero values mean the defaults.
func NewDEKCache(max int, ttl time.Duration) *DEKCache {
	if max <= 0 {
		max = DefaultCacheSize
	}
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	return &DEKCache{max: max, ttl: ttl, now: time.Now, m: make(map[string]dekEntry)}
}

// Len is the number of cached keys (expired ones included until swept).
func (c *DEKCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Forget drops the member's key.
func (c *DEKCache) Forget(memberID string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.m, memberID)
	c.mu.Unlock()
}

func (c *DEKCache) get(memberID string, wrapped []byte) cipher.AEAD {
	if c == nil {
		return nil
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[memberID]
	if !ok {
		return nil
	}
	if !now.Before(e.expires) {
		delete(c.m, memberID)
		return nil
	}
	if e.wrapped != string(wrapped) {
		return nil
	}
	return e.aead
}

func (c *DEKCache) put(memberID string, wrapped []byte, a cipher.AEAD) {
	if c == nil {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[memberID]; !ok && len(c.m) >= c.max {
		c.evict(now)
	}
	c.m[memberID] = dekEntry{wrapped: string(wrapped), aead: a, expires: now.Add(c.ttl)}
}

// evict makes room: it drops expired entries, and if none had expired, a
// few arbitrary ones (map order), which is as good as LRU for keys that
// are cheap to unwrap again. The caller holds c.mu.
func (c *DEKCache) evict(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
	if len(c.m) < c.max {
		return
	}
	drop := c.max/100 + 1 // so that the next inserts do not sweep again
	for k := range c.m {
		if drop == 0 {
			break
		}
		delete(c.m, k)
		drop--
	}
}
