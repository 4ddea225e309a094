package keys

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kaiin-project/kaiin/internal/store"
)

// snapshot is the keys as last loaded from the store, with the private
// halves this node has unsealed. It is never modified once installed.
type snapshot struct {
	at   time.Time // when it was loaded (or last tried), by Manager.now
	keys []store.SigningKey
	ents []entry // parallel to keys
}

type entry struct {
	pub  jose.JSONWebKey
	priv crypto.Signer // nil when not needed (retired) or not usable (err)
	err  error         // why the key cannot be published or used
}

// install replaces the snapshot with keys, unsealing each private key that
// signs now or later. A private key already unsealed is reused, so each is
// unsealed once. The caller holds m.mu.
func (m *Manager) install(keys []store.SigningKey, now time.Time) {
	old := map[string]*entry{}
	if s := m.snap.Load(); s != nil {
		for i := range s.keys {
			if s.ents[i].priv != nil {
				old[s.keys[i].ID] = &s.ents[i]
			}
		}
	}
	s := &snapshot{at: now, keys: slices.Clone(keys), ents: make([]entry, len(keys))}
	for i := range s.keys {
		k, e := &s.keys[i], &s.ents[i]
		pub, err := parsePublic(*k)
		if err != nil {
			e.err = err
			continue
		}
		e.pub = pub
		if !k.SignUntil.IsZero() && !now.Before(k.SignUntil) {
			continue // retired: published only
		}
		if prev := old[k.ID]; prev != nil && prev.pub.Key != nil {
			e.priv = prev.priv
			continue
		}
		if e.priv, err = openPrivate(m.Sealer, *k, pub); err != nil {
			e.err = err
		}
	}
	m.snap.Store(s)
}

// usable reports the keys that sign now, or will sign next, but cannot be
// used here: the KEK is wrong, or a row is damaged.
func (m *Manager) usable(o options, now time.Time) error {
	s := m.snap.Load()
	var errs []error
	for _, alg := range o.algs {
		for _, k := range []*store.SigningKey{currentOf(s.keys, alg, now), nextOf(s.keys, alg, now)} {
			if k == nil {
				continue
			}
			if e := s.entry(k.ID); e.priv == nil {
				errs = append(errs, fmt.Errorf("keys: %s key %s cannot be used: %w", alg, k.ID, e.err))
			}
		}
	}
	return errors.Join(errs...)
}

func (s *snapshot) entry(id string) *entry {
	for i := range s.keys {
		if s.keys[i].ID == id {
			return &s.ents[i]
		}
	}
	return nil
}

// Refresh reloads the keys from the store now. The change feed calls it
// when another node announces a rotation; otherwise Current and Published
// reload by themselves every RefreshEvery.
func (m *Manager) Refresh(ctx context.Context) error {
	o, err := m.options()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reload(ctx, o)
}

// reload lists the keys and installs them. The caller holds m.mu.
func (m *Manager) reload(ctx context.Context, o options) error {
	keys, err := m.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	m.install(keys, m.now())
	return nil
}

// loaded returns the snapshot, reloading it first when it is older than
// RefreshEvery. When a reload fails, the keys loaded before go on serving
// (they carry their schedule, so handovers still happen on time) and the
// failure is logged at WARN, at most once per RefreshEvery. Only one
// caller reloads; the others meanwhile use the stale keys.
func (m *Manager) loaded(ctx context.Context) (*snapshot, time.Time, error) {
	o, err := m.options()
	if err != nil {
		return nil, time.Time{}, err
	}
	now := m.now()
	s := m.snap.Load()
	if s != nil && now.Sub(s.at) < o.refresh && !now.Before(s.at) {
		return s, now, nil
	}
	if s == nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		if s = m.snap.Load(); s == nil {
			if err := m.reload(ctx, o); err != nil {
				return nil, now, err
			}
			s = m.snap.Load()
		}
		return s, now, nil
	}
	if !m.mu.TryLock() {
		return s, now, nil
	}
	defer m.mu.Unlock()
	if s2 := m.snap.Load(); s2 != s {
		return s2, now, nil // reloaded meanwhile
	}
	if err := m.reload(ctx, o); err != nil {
		m.logger().Warn("keys: cannot reload signing keys; serving the ones loaded before",
			"error", err, "loaded_at", s.at)
		retry := *s
		retry.at = now
		m.snap.Store(&retry)
	}
	return m.snap.Load(), now, nil
}

// Current returns the key that signs tokens of algorithm alg ("ES256",
// "RS256") now. It reads memory, reloading from the store at most every
// RefreshEvery; the private key was unsealed once, when first loaded.
func (m *Manager) Current(ctx context.Context, alg string) (Key, error) {
	s, now, err := m.loaded(ctx)
	if err != nil {
		return Key{}, err
	}
	k := currentOf(s.keys, alg, now)
	if k == nil {
		return Key{}, fmt.Errorf("%w for %s", ErrNoSigningKey, alg)
	}
	e := s.entry(k.ID)
	if e.priv == nil {
		return Key{}, fmt.Errorf("keys: %s key %s cannot sign: %w", alg, k.ID, e.err)
	}
	return Key{id: k.ID, alg: jose.SignatureAlgorithm(alg), signer: e.priv}, nil
}

// PublicKeys returns the public half of every published key, of every
// algorithm: the key that signs, the next ones, and retired ones whose
// tokens may still be alive. A key whose row is damaged is left out.
func (m *Manager) PublicKeys(ctx context.Context) ([]PublicKey, error) {
	s, now, err := m.loaded(ctx)
	if err != nil {
		return nil, err
	}
	var pks []PublicKey
	for i := range s.keys {
		if publishedAt(&s.keys[i], now) && s.ents[i].pub.Key != nil {
			pks = append(pks, PublicKey{jwk: s.ents[i].pub})
		}
	}
	return pks, nil
}

// Published returns the JSON Web Key Set of PublicKeys, each key with
// kid, alg and use "sig": the body of the jwks_uri.
func (m *Manager) Published(ctx context.Context) (jose.JSONWebKeySet, error) {
	pks, err := m.PublicKeys(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(pks))}
	for i, pk := range pks {
		set.Keys[i] = pk.jwk
	}
	return set, nil
}
