package gateway

import (
	"hash/maphash"
	"sync"
	"time"
)

// InvalidTokenLimit bounds the invalid tokens one client IP may send: a
// token bucket of Burst tokens refilled at PerSecond, one token taken per
// invalid token. An address with an empty bucket is answered 429 for any
// token not already verified, without verifying it. The zero value means
// PerSecond 5 and Burst 20; a negative PerSecond turns the limit off.
type InvalidTokenLimit struct {
	PerSecond float64
	Burst     int
	// MaxAddresses bounds the addresses remembered (those that sent at
	// least one invalid token recently); default 100,000.
	MaxAddresses int
}

// badTokens is a keyed token bucket, in memory (as Tailscale's
// util/limiter): an attack needs no coordination across gateways to be
// stopped at each, and the good path pays one map read.
type badTokens struct {
	rate   float64 // tokens per nanosecond
	burst  float64
	max    int // addresses per shard
	seed   maphash.Seed
	shards [16]badShard
	now    func() time.Time
}

type badShard struct {
	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	at     int64 // unix nanoseconds of the last refill
}

func newBadTokens(l InvalidTokenLimit, now func() time.Time) *badTokens {
	if l.PerSecond < 0 {
		return nil
	}
	if l.PerSecond == 0 {
		l.PerSecond = 5
	}
	if l.Burst <= 0 {
		l.Burst = 20
	}
	if l.MaxAddresses <= 0 {
		l.MaxAddresses = 100_000
	}
	b := &badTokens{rate: l.PerSecond / 1e9, burst: float64(l.Burst), max: max(1, l.MaxAddresses/16),
		seed: maphash.MakeSeed(), now: now}
	for i := range b.shards {
		b.shards[i].m = map[string]*bucket{}
	}
	return b
}

func (b *badTokens) shard(ip string) *badShard {
	return &b.shards[maphash.String(b.seed, ip)%16]
}

// refill brings k up to now; the shard is locked.
func (b *badTokens) refill(k *bucket, now int64) {
	k.tokens = min(b.burst, k.tokens+float64(now-k.at)*b.rate)
	k.at = now
}

// allowed reports whether ip may have a token verified in full: it has a
// token left in its bucket (an address never seen has a full bucket).
func (b *badTokens) allowed(ip string) bool {
	if b == nil {
		return true
	}
	s := b.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.m[ip]
	if k == nil {
		return true
	}
	b.refill(k, b.now().UnixNano())
	return k.tokens >= 1
}

// failed takes one token from ip's bucket.
func (b *badTokens) failed(ip string) {
	if b == nil {
		return
	}
	now := b.now().UnixNano()
	s := b.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.m[ip]
	if k == nil {
		if len(s.m) >= b.max {
			// Forget full buckets first (they carry no information), then
			// anything.
			for key, o := range s.m {
				if b.refill(o, now); o.tokens >= b.burst {
					delete(s.m, key)
				}
			}
			for key := range s.m {
				if len(s.m) < b.max {
					break
				}
				delete(s.m, key)
			}
		}
		k = &bucket{tokens: b.burst, at: now}
		s.m[ip] = k
	}
	b.refill(k, now)
	k.tokens = max(0, k.tokens-1)
}

// retryAfter is how long until ip has a token again.
func (b *badTokens) retryAfter() time.Duration {
	return time.Duration(1 / b.rate)
}
