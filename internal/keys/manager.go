package keys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kaiin-project/kaiin/internal/store"
)

// Store is what a Manager needs of the durable store: store.SigningKeyStore.
type Store interface {
	CreateSigningKey(ctx context.Context, k store.SigningKey) error
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	UpdateSigningKey(ctx context.Context, id string, update func(store.SigningKey) (store.SigningKey, error)) (store.SigningKey, error)
	DeleteSigningKey(ctx context.Context, id string) error
}

var _ Store = store.SigningKeyStore(nil)

// ErrNoSigningKey means no key can sign for an algorithm: Ensure has not
// run yet, or the algorithm is not one the Manager keeps keys for.
var ErrNoSigningKey = errors.New("keys: no signing key")

// Defaults of the Manager's settings.
const (
	DefaultRotateEvery      = 30 * 24 * time.Hour
	DefaultPublishAhead     = time.Hour
	DefaultMaxTokenLifetime = 24 * time.Hour
	DefaultRefreshEvery     = 30 * time.Second
	DefaultRSABits          = 2048
)

// clockSkew is how far apart the clocks of two nodes may be. It is part
// of the margin a retired key stays published for.
const clockSkew = 5 * time.Minute

// maxPasses bounds Ensure's read-decide-write rounds. One round changes
// what it can; the next sees the result (and any other node's writes) and
// tidies up, such as a duplicate key made by a race. Three suffice.
const maxPasses = 5

// Manager keeps the signing keys of every algorithm rotated in the store,
// and serves the current private keys and the published public keys from
// memory. See the package documentation for the timeline. Set the fields,
// then call Ensure once at start (it fails on a wrong KEK) and run Run in
// the background. The fields must not change after the first call. A
// Manager is safe for concurrent use, and several Managers (one per node)
// may share one store.
type Manager struct {
	// Store keeps the keys. Required.
	Store Store
	// Sealer seals private keys before they reach Store. Required.
	Sealer *Sealer
	// Logger receives rotations (INFO) and failures (WARN, ERROR);
	// nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Algorithms are the JWS algorithms to keep keys for, each with keys
	// of its own: ES256 and, for old relying parties, RS256. Empty means
	// ES256 only.
	Algorithms []string
	// RSABits is the size of new RSA keys: 2048 (the default), 3072 or
	// 4096.
	RSABits int
	// RotateEvery is how long a key signs before the next takes over;
	// 0 means 30 days.
	RotateEvery time.Duration
	// PublishAhead is the least time a new key is published before it
	// signs, so that relying parties and other nodes holding a cached key
	// set already know it; 0 means 1 hour.
	PublishAhead time.Duration
	// MaxTokenLifetime is the longest a token signed by a key may live. A
	// key stays published this long after it stops signing, plus a
	// margin (RefreshEvery and clock skew); 0 means 24 hours.
	MaxTokenLifetime time.Duration
	// RefreshEvery is how stale the in-memory keys may grow before Current
	// or Published reloads them from Store; 0 means 30 seconds.
	RefreshEvery time.Duration

	// mu serialises Ensure, Rotate and reloads on this node, so that keys
	// loaded later are never replaced by keys loaded earlier.
	mu   sync.Mutex
	snap atomic.Pointer[snapshot]
}

// options are the Manager's settings with defaults applied.
type options struct {
	algs                                              []string
	rsaBits                                           int
	rotateEvery, publishAhead, tokenLifetime, refresh time.Duration
}

// margin is how much longer than MaxTokenLifetime a retired key stays
// published: a node still signing with it until its next reload, and
// clocks that disagree.
func (o options) margin() time.Duration { return o.refresh + clockSkew }

func (m *Manager) options() (options, error) {
	if m.Store == nil || m.Sealer == nil {
		return options{}, errors.New("keys: Manager needs a Store and a Sealer")
	}
	o := options{
		algs:          m.Algorithms,
		rsaBits:       cmp.Or(m.RSABits, DefaultRSABits),
		rotateEvery:   cmp.Or(m.RotateEvery, DefaultRotateEvery),
		publishAhead:  cmp.Or(m.PublishAhead, DefaultPublishAhead),
		tokenLifetime: cmp.Or(m.MaxTokenLifetime, DefaultMaxTokenLifetime),
		refresh:       cmp.Or(m.RefreshEvery, DefaultRefreshEvery),
	}
	if len(o.algs) == 0 {
		o.algs = []string{ES256}
	}
	for i, alg := range o.algs {
		if alg != ES256 && alg != RS256 {
			return options{}, fmt.Errorf("keys: algorithm %q is not supported; want ES256 or RS256", alg)
		}
		if slices.Contains(o.algs[:i], alg) {
			return options{}, fmt.Errorf("keys: algorithm %s is listed twice", alg)
		}
	}
	if o.rsaBits != 2048 && o.rsaBits != 3072 && o.rsaBits != 4096 {
		return options{}, fmt.Errorf("keys: RSABits is %d; want 2048, 3072 or 4096", o.rsaBits)
	}
	if o.rotateEvery < 0 || o.publishAhead < 0 || o.tokenLifetime < 0 || o.refresh < 0 {
		return options{}, errors.New("keys: Manager durations must not be negative")
	}
	return o, nil
}

func (m *Manager) now() time.Time {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	// The store keeps microseconds; so do we, so that what we compare is
	// what we wrote.
	return now().UTC().Truncate(time.Microsecond)
}

func (m *Manager) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

// SignatureAlgorithms are the algorithms the Manager keeps keys for, with
// the signature of zitadel/oidc's op.Storage method.
func (m *Manager) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	o, err := m.options()
	if err != nil {
		return nil, err
	}
	algs := make([]jose.SignatureAlgorithm, len(o.algs))
	for i, a := range o.algs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	return algs, nil
}

// The schedule, as functions of the stored keys and the time. Every node
// computes the same answers from the same rows, so a handover planned in
// the rows happens on every node at once, whether or not it has reloaded.

// signs reports whether k may sign at now.
func signs(k *store.SigningKey, now time.Time) bool {
	return !k.SignFrom.After(now) && (k.SignUntil.IsZero() || now.Before(k.SignUntil))
}

// publishedAt reports whether k is in the key set at now.
func publishedAt(k *store.SigningKey, now time.Time) bool {
	return k.PublishUntil.IsZero() || now.Before(k.PublishUntil)
}

// older orders keys by creation, then ID: the deterministic tie-break.
func older(a, b *store.SigningKey) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
}

// currentOf returns the key that signs for alg at now: of the keys that
// may sign, the one that started last (a handover has happened), the
// oldest of equals. It returns nil when none may sign.
func currentOf(keys []store.SigningKey, alg string, now time.Time) *store.SigningKey {
	var cur *store.SigningKey
	for i := range keys {
		k := &keys[i]
		if k.Algorithm != alg || !signs(k, now) {
			continue
		}
		if cur == nil || k.SignFrom.After(cur.SignFrom) || (k.SignFrom.Equal(cur.SignFrom) && older(k, cur) < 0) {
			cur = k
		}
	}
	return cur
}

// nextOf returns the key that will sign for alg after the current one: of
// the keys not signing yet, the one that starts first, the oldest of
// equals. The others are surplus, made by a race.
func nextOf(keys []store.SigningKey, alg string, now time.Time) *store.SigningKey {
	var next *store.SigningKey
	for i := range keys {
		k := &keys[i]
		if k.Algorithm != alg || !k.SignFrom.After(now) || !k.SignUntil.IsZero() {
			continue
		}
		if next == nil || k.SignFrom.Before(next.SignFrom) || (k.SignFrom.Equal(next.SignFrom) && older(k, next) < 0) {
			next = k
		}
	}
	return next
}

// Ensure brings the keys in the store up to date for every algorithm, then
// reloads them into memory: it makes a first key that signs at once, keeps
// a next key published ahead of its turn, retires keys whose turn has
// passed, and deletes keys no token can need any more. It returns an error
// when a key that signs now or next cannot be unsealed (a wrong KEK).
//
// Several nodes may call Ensure at once: each change is re-checked inside
// the store's update transaction, and a duplicate made by a race is
// resolved the same way by every node.
func (m *Manager) Ensure(ctx context.Context) error {
	o, err := m.options()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ensure(ctx, o)
}

func (m *Manager) ensure(ctx context.Context, o options) error {
	for range maxPasses {
		keys, err := m.Store.ListSigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("keys: list signing keys: %w", err)
		}
		now := m.now()
		m.install(keys, now)
		// A node that cannot open the keys in use (a wrong KEK) must not
		// add keys sealed under its KEK, which the others could not open.
		if err := m.usable(o, now); err != nil {
			return err
		}
		changed, err := m.step(ctx, o, keys, now)
		if err != nil {
			return err
		}
		if !changed {
			return nil
		}
	}
	return fmt.Errorf("keys: signing keys still changing after %d rounds; is another node's clock far off?", maxPasses)
}

// step makes one round of changes to keys at now, and reports whether it
// wrote anything.
func (m *Manager) step(ctx context.Context, o options, keys []store.SigningKey, now time.Time) (changed bool, err error) {
	log := m.logger()
	for _, alg := range o.algs {
		cur := currentOf(keys, alg, now)
		next := nextOf(keys, alg, now)
		if cur == nil {
			// Nothing signs: a new store, or every key was retired. A
			// published next key is better known than a new one.
			if next != nil {
				if err := m.startSigning(ctx, next.ID, now); err != nil {
					return true, err
				}
				log.Warn("keys: no key was signing; the next key signs early", "alg", alg, "kid", next.ID)
				return true, nil
			}
			k, err := m.create(ctx, o, alg, now, now)
			if err != nil {
				return true, err
			}
			log.Info("keys: created a signing key that signs now", "alg", alg, "kid", k.ID)
			return true, nil
		}

		for i := range keys {
			k := &keys[i]
			if k.Algorithm != alg || k == cur {
				continue
			}
			switch {
			case signs(k, now):
				// Superseded by cur: a handover has happened, or two
				// nodes made a first key at once. Either way it signed
				// until cur began.
				if err := m.retire(ctx, o, k.ID, cur.SignFrom); err != nil {
					return true, err
				}
				log.Info("keys: signing key retired", "alg", alg, "kid", k.ID, "successor", cur.ID)
				changed = true
			case !k.SignUntil.IsZero() && k.PublishUntil.IsZero():
				if err := m.retire(ctx, o, k.ID, k.SignUntil); err != nil {
					return true, err
				}
				changed = true
			case k != next && next != nil && k.SignFrom.After(now) && k.SignUntil.IsZero():
				// A second next key, made by a race. It has never signed.
				if err := m.Store.DeleteSigningKey(ctx, k.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					return true, fmt.Errorf("keys: delete duplicate next key %s: %w", k.ID, err)
				}
				changed = true
			}
		}

		// The next key takes over RotateEvery after cur began, and never
		// before it has been published for PublishAhead.
		if next == nil {
			k, err := m.create(ctx, o, alg, now, later(now.Add(o.publishAhead), cur.SignFrom.Add(o.rotateEvery)))
			if err != nil {
				return true, err
			}
			log.Info("keys: published the next signing key", "alg", alg, "kid", k.ID, "signs_from", k.SignFrom)
			changed = true
		} else if want := later(next.CreatedAt.Add(o.publishAhead), cur.SignFrom.Add(o.rotateEvery)); absDiff(next.SignFrom, want) > time.Second {
			// RotateEvery or PublishAhead changed since next was planned.
			if err := m.reschedule(ctx, next.ID, later(want, now), now); err != nil {
				return true, err
			}
			changed = true
		}
	}

	for i := range keys {
		k := &keys[i]
		if !publishedAt(k, now) && !signs(k, now) {
			if err := m.Store.DeleteSigningKey(ctx, k.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return true, fmt.Errorf("keys: delete expired key %s: %w", k.ID, err)
			}
			log.Info("keys: signing key expired and was deleted", "alg", k.Algorithm, "kid", k.ID)
			changed = true
		}
	}
	return changed, nil
}

// errSkip aborts an update whose premise another node changed first.
var errSkip = errors.New("keys: key changed meanwhile")

// update runs fn in the store's transaction; errSkip (the change is no
// longer needed) and a key deleted meanwhile are not errors.
func (m *Manager) update(ctx context.Context, id, what string, fn func(*store.SigningKey) error) error {
	_, err := m.Store.UpdateSigningKey(ctx, id, func(k store.SigningKey) (store.SigningKey, error) {
		return k, fn(&k)
	})
	if err == nil || errors.Is(err, errSkip) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("keys: %s %s: %w", what, id, err)
}

// retire ends key id's turn at until (unless it already ended earlier)
// and keeps it published as long as a token it signed may live.
func (m *Manager) retire(ctx context.Context, o options, id string, until time.Time) error {
	return m.update(ctx, id, "retire key", func(k *store.SigningKey) error {
		if k.SignUntil.IsZero() || k.SignUntil.After(until) {
			k.SignUntil = until
		}
		publish := k.SignUntil.Add(o.tokenLifetime + o.margin())
		if !k.PublishUntil.IsZero() && !k.PublishUntil.Before(publish) {
			return errSkip
		}
		k.PublishUntil = publish
		return nil
	})
}

// startSigning moves a next key's turn to now.
func (m *Manager) startSigning(ctx context.Context, id string, now time.Time) error {
	return m.update(ctx, id, "start key", func(k *store.SigningKey) error {
		if !k.SignUntil.IsZero() || !k.SignFrom.After(now) {
			return errSkip
		}
		k.SignFrom = now
		return nil
	})
}

// reschedule moves a next key's turn, if it has not begun.
func (m *Manager) reschedule(ctx context.Context, id string, from, now time.Time) error {
	return m.update(ctx, id, "reschedule key", func(k *store.SigningKey) error {
		if !k.SignUntil.IsZero() || !k.SignFrom.After(now) || k.SignFrom.Equal(from) {
			return errSkip
		}
		k.SignFrom = from
		return nil
	})
}

func (m *Manager) create(ctx context.Context, o options, alg string, now, signFrom time.Time) (store.SigningKey, error) {
	k, err := newSigningKey(m.Sealer, alg, o.rsaBits, now, signFrom)
	if err != nil {
		return k, err
	}
	if err := m.Store.CreateSigningKey(ctx, k); err != nil {
		return k, fmt.Errorf("keys: store new %s key: %w", alg, err)
	}
	return k, nil
}

// Rotate makes the next key of alg sign now and retires the current one
// (it stays published for MaxTokenLifetime and the margin), then runs
// Ensure, which publishes a new next key. It is `kaiin admin keys rotate`.
// Without a next key, a new one signs at once. Other nodes follow when they
// reload (RefreshEvery, or at once on a change-feed announcement).
func (m *Manager) Rotate(ctx context.Context, alg string) error {
	o, err := m.options()
	if err != nil {
		return err
	}
	if !slices.Contains(o.algs, alg) {
		return fmt.Errorf("keys: rotate %s: not one of the algorithms in use (%v)", alg, o.algs)
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	keys, err := m.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	now := m.now()
	cur, next := currentOf(keys, alg, now), nextOf(keys, alg, now)
	var newID string
	if next != nil {
		// First the successor, so that some key signs at every moment.
		if err := m.startSigning(ctx, next.ID, now); err != nil {
			return err
		}
		if now.Sub(next.CreatedAt) < o.publishAhead {
			m.logger().Warn("keys: rotating to a key published only recently; relying parties with a cached key set may refetch it",
				"alg", alg, "kid", next.ID, "published_for", now.Sub(next.CreatedAt).String())
		}
		newID = next.ID
	} else {
		k, err := m.create(ctx, o, alg, now, now)
		if err != nil {
			return err
		}
		newID = k.ID
	}
	if cur != nil {
		if err := m.retire(ctx, o, cur.ID, now); err != nil {
			return err
		}
	}
	oldID := ""
	if cur != nil {
		oldID = cur.ID
	}
	m.logger().Info("keys: signing key rotated", "alg", alg, "kid", newID, "previous", oldID)
	return m.ensure(ctx, o)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func absDiff(a, b time.Time) time.Duration {
	if d := a.Sub(b); d >= 0 {
		return d
	}
	return b.Sub(a)
}

// Run calls Ensure every interval (0 means a minute) until ctx is done.
// A failure is logged at WARN while every algorithm still has a key that
// signs, and at ERROR when one has none: then tokens cannot be issued.
func (m *Manager) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.runOnce(ctx)
	}
}

func (m *Manager) runOnce(ctx context.Context) {
	err := m.Ensure(ctx)
	if err == nil || ctx.Err() != nil {
		return
	}
	algs, oerr := m.SignatureAlgorithms(ctx)
	var none []string
	for _, alg := range algs {
		if _, cerr := m.Current(ctx, string(alg)); cerr != nil {
			none = append(none, string(alg))
		}
	}
	if len(none) > 0 || oerr != nil {
		m.logger().Error("keys: no key can sign tokens", "algorithms", none, "error", err)
		return
	}
	m.logger().Warn("keys: signing key maintenance failed; the current keys still sign", "error", err)
}
