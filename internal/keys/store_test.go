package keys

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/kaiin-project/kaiin/internal/store"
)

// memStore is an in-memory SigningKeyStore with the store's semantics:
// copies in and out, microsecond times, updates run under the lock (one
// transaction). It yields inside each call, so that concurrent callers
// interleave.
type memStore struct {
	mu   sync.Mutex
	keys map[string]store.SigningKey
	fail error // returned by every call when set
}

func newMemStore() *memStore { return &memStore{keys: map[string]store.SigningKey{}} }

func norm(k store.SigningKey) store.SigningKey {
	t := func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Time{}
		}
		return t.UTC().Truncate(time.Microsecond)
	}
	k.CreatedAt, k.SignFrom, k.SignUntil, k.PublishUntil = t(k.CreatedAt), t(k.SignFrom), t(k.SignUntil), t(k.PublishUntil)
	k.Sealed, k.Public = bytes.Clone(k.Sealed), bytes.Clone(k.Public)
	return k
}

func (s *memStore) CreateSigningKey(_ context.Context, k store.SigningKey) error {
	runtime.Gosched()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if _, ok := s.keys[k.ID]; ok {
		return store.ErrAlreadyExists
	}
	s.keys[k.ID] = norm(k)
	return nil
}

func (s *memStore) ListSigningKeys(context.Context) ([]store.SigningKey, error) {
	runtime.Gosched()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	var ks []store.SigningKey
	for _, k := range s.keys {
		ks = append(ks, norm(k))
	}
	slices.SortFunc(ks, func(a, b store.SigningKey) int { return older(&a, &b) })
	return ks, nil
}

func (s *memStore) UpdateSigningKey(_ context.Context, id string, update func(store.SigningKey) (store.SigningKey, error)) (store.SigningKey, error) {
	runtime.Gosched()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return store.SigningKey{}, s.fail
	}
	k, ok := s.keys[id]
	if !ok {
		return store.SigningKey{}, store.ErrNotFound
	}
	k, err := update(norm(k))
	if err != nil {
		return store.SigningKey{}, err
	}
	k.ID = id
	s.keys[id] = norm(k)
	return norm(k), nil
}

func (s *memStore) DeleteSigningKey(_ context.Context, id string) error {
	runtime.Gosched()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if _, ok := s.keys[id]; !ok {
		return store.ErrNotFound
	}
	delete(s.keys, id)
	return nil
}

func (s *memStore) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// clock is a settable clock for Manager.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
