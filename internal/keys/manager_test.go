package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kaiin-project/kaiin/internal/store"
)

// Interface guards: the OIDC provider returns these types as zitadel's.
var (
	_ op.SigningKey = Key{}
	_ op.Key        = PublicKey{}
)

// newManager returns a Manager on st with default timings, the clock c and
// logs sent to the test.
func newManager(t testing.TB, st Store, c *clock, sealer *Sealer, algs ...string) *Manager {
	return &Manager{Store: st, Sealer: sealer, Now: c.Now, Algorithms: algs, Logger: testLogger(t)}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func kids(t *testing.T, m *Manager) []string {
	t.Helper()
	set, err := m.Published(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range set.Keys {
		if k.Use != "sig" || k.Algorithm == "" || !k.IsPublic() {
			t.Errorf("published key %s: use %q alg %q public %v", k.KeyID, k.Use, k.Algorithm, k.IsPublic())
		}
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string { slices.Sort(ids); return ids }

func current(t *testing.T, m *Manager, alg string) Key {
	t.Helper()
	k, err := m.Current(context.Background(), alg)
	if err != nil {
		t.Fatalf("Current(%s): %v", alg, err)
	}
	return k
}

func storedKeys(t *testing.T, st Store) map[string]store.SigningKey {
	t.Helper()
	ks, err := st.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]store.SigningKey{}
	for _, k := range ks {
		m[k.ID] = k
	}
	return m
}

// nextKey returns the key of alg that signs after the current one.
func nextKey(t *testing.T, st Store, alg string, now time.Time) store.SigningKey {
	t.Helper()
	ks, err := st.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := nextOf(ks, alg, now)
	if n == nil {
		t.Fatalf("no next %s key", alg)
	}
	return *n
}

func TestLifecycle(t *testing.T) {
	testLifecycle(t, newMemStore())
}

// testLifecycle follows one algorithm's keys through a rotation, on any
// store: the fake here, the SQL store in sqlstore_test.go.
func testLifecycle(t *testing.T, st Store) {
	ctx := context.Background()
	c := newClock()
	t0 := c.Now()
	m := newManager(t, st, c, mustSealer(t, newKEK(t)))
	margin := DefaultRefreshEvery + clockSkew

	// A new store: the first key signs at once, the next is published.
	if _, err := m.Current(ctx, ES256); !errors.Is(err, ErrNoSigningKey) {
		t.Fatalf("Current before Ensure = %v, want ErrNoSigningKey", err)
	}
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	k1 := current(t, m, ES256)
	if _, ok := k1.Signer().(*ecdsa.PrivateKey); !ok || k1.SignatureAlgorithm() != "ES256" {
		t.Fatalf("Current = %T %s", k1.Signer(), k1.SignatureAlgorithm())
	}
	k2 := nextKey(t, st, ES256, t0)
	if !k2.SignFrom.Equal(t0.Add(DefaultRotateEvery)) {
		t.Errorf("next key signs from %v, want %v", k2.SignFrom, t0.Add(DefaultRotateEvery))
	}
	if got, want := kids(t, m), sorted(k1.ID(), k2.ID); !slices.Equal(got, want) {
		t.Fatalf("published %v, want current and next %v", got, want)
	}
	if err := m.Ensure(ctx); err != nil || len(storedKeys(t, st)) != 2 {
		t.Fatalf("second Ensure: %v, %d keys", err, len(storedKeys(t, st)))
	}

	// Just before RotateEvery, nothing changes.
	c.Advance(DefaultRotateEvery - time.Second)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if k := current(t, m, ES256); k.ID() != k1.ID() {
		t.Fatalf("before RotateEvery %s signs, want %s", k.ID(), k1.ID())
	}

	// At RotateEvery the next key signs, on schedule, even before Ensure.
	c.Advance(time.Second)
	if k := current(t, m, ES256); k.ID() != k2.ID {
		t.Fatalf("at RotateEvery %s signs, want the next key %s", k.ID(), k2.ID)
	}
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	rotated := c.Now()
	old := storedKeys(t, st)[k1.ID()]
	if !old.SignUntil.Equal(rotated) || !old.PublishUntil.Equal(rotated.Add(DefaultMaxTokenLifetime+margin)) {
		t.Errorf("retired key: SignUntil %v PublishUntil %v; want %v, %v", old.SignUntil, old.PublishUntil, rotated, rotated.Add(DefaultMaxTokenLifetime+margin))
	}
	k3 := nextKey(t, st, ES256, rotated)
	if !k3.SignFrom.Equal(rotated.Add(DefaultRotateEvery)) {
		t.Errorf("new next key signs from %v, want %v", k3.SignFrom, rotated.Add(DefaultRotateEvery))
	}
	if got, want := kids(t, m), sorted(k1.ID(), k2.ID, k3.ID); !slices.Equal(got, want) {
		t.Fatalf("after rotation published %v, want old, current and next %v", got, want)
	}

	// The old key stays published while its tokens may live.
	c.Advance(DefaultMaxTokenLifetime + margin - time.Second)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if got := kids(t, m); !slices.Contains(got, k1.ID()) {
		t.Fatalf("old key left the key set %v before its tokens expired", got)
	}
	c.Advance(time.Second)
	if got := kids(t, m); slices.Contains(got, k1.ID()) {
		t.Errorf("old key still published after MaxTokenLifetime and margin: %v", got)
	}
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := storedKeys(t, st)[k1.ID()]; ok || len(storedKeys(t, st)) != 2 {
		t.Errorf("old key not deleted: %d keys stored", len(storedKeys(t, st)))
	}
	if k := current(t, m, ES256); k.ID() != k2.ID {
		t.Errorf("%s signs, want %s", k.ID(), k2.ID)
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	st, c := newMemStore(), newClock()
	m := newManager(t, st, c, mustSealer(t, newKEK(t)))
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	k1 := current(t, m, ES256)
	k2 := nextKey(t, st, ES256, c.Now())

	c.Advance(2 * time.Hour) // next key published for longer than PublishAhead
	if err := m.Rotate(ctx, ES256); err != nil {
		t.Fatal(err)
	}
	now := c.Now()
	if k := current(t, m, ES256); k.ID() != k2.ID {
		t.Fatalf("after Rotate %s signs, want the next key %s", k.ID(), k2.ID)
	}
	old := storedKeys(t, st)[k1.ID()]
	if !old.SignUntil.Equal(now) || !old.PublishUntil.Equal(now.Add(DefaultMaxTokenLifetime+DefaultRefreshEvery+clockSkew)) {
		t.Errorf("rotated-out key: SignUntil %v PublishUntil %v", old.SignUntil, old.PublishUntil)
	}
	k3 := nextKey(t, st, ES256, now)
	if !k3.SignFrom.Equal(now.Add(DefaultRotateEvery)) {
		t.Errorf("new next key signs from %v, want %v", k3.SignFrom, now.Add(DefaultRotateEvery))
	}
	if got, want := kids(t, m), sorted(k1.ID(), k2.ID, k3.ID); !slices.Equal(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
	// Another node sees the rotation when it reloads.
	other := newManager(t, st, c, m.Sealer)
	if k := current(t, other, ES256); k.ID() != k2.ID {
		t.Errorf("other node signs with %s, want %s", k.ID(), k2.ID)
	}

	if err := m.Rotate(ctx, RS256); err == nil {
		t.Error("Rotate of an algorithm not in use succeeded")
	}
	// Rotating twice in a row is allowed (an emergency), if unwise.
	if err := m.Rotate(ctx, ES256); err != nil {
		t.Fatal(err)
	}
	if k := current(t, m, ES256); k.ID() != k3.ID {
		t.Errorf("second Rotate: %s signs, want %s", k.ID(), k3.ID)
	}
}

// TestJWT signs a token with Current, as the OIDC provider does through
// zitadel's op.SignerFromKey, and verifies it as a relying party does:
// with the published key set, fetched as JSON.
func TestJWT(t *testing.T) {
	ctx := context.Background()
	st, c := newMemStore(), newClock()
	m := newManager(t, st, c, mustSealer(t, newKEK(t)), ES256, RS256)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	sign := func(alg string) string {
		k := current(t, m, alg)
		signer, err := op.SignerFromKey(k)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signer.Sign([]byte(`{"sub":"member-1","aud":"client"}`))
		if err != nil {
			t.Fatal(err)
		}
		token, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	verify := func(token string) error {
		set, err := m.Published(ctx)
		if err != nil {
			return err
		}
		body, err := json.Marshal(set)
		if err != nil {
			return err
		}
		var rp jose.JSONWebKeySet
		if err := json.Unmarshal(body, &rp); err != nil {
			return err
		}
		jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
		if err != nil {
			return err
		}
		hdr := jws.Signatures[0].Header
		ks := rp.Key(hdr.KeyID)
		if len(ks) != 1 || ks[0].Algorithm != hdr.Algorithm {
			return errors.New("kid " + hdr.KeyID + " not published once with its alg")
		}
		payload, err := jws.Verify(ks[0].Key)
		if err != nil {
			return err
		}
		if !bytes.Contains(payload, []byte("member-1")) {
			return errors.New("payload changed")
		}
		return nil
	}
	for _, alg := range []string{ES256, RS256} {
		token := sign(alg)
		if err := verify(token); err != nil {
			t.Errorf("%s token: %v", alg, err)
		}
		// Tokens signed before a rotation verify after it.
		if err := m.Rotate(ctx, alg); err != nil {
			t.Fatal(err)
		}
		if err := verify(token); err != nil {
			t.Errorf("%s token after rotation: %v", alg, err)
		}
		if err := verify(sign(alg)); err != nil {
			t.Errorf("%s token of the new key: %v", alg, err)
		}
	}
}

func TestRS256(t *testing.T) {
	ctx := context.Background()
	st, c := newMemStore(), newClock()
	m := newManager(t, st, c, mustSealer(t, newKEK(t)), ES256, RS256)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	es, rs := current(t, m, ES256), current(t, m, RS256)
	if _, ok := es.Signer().(*ecdsa.PrivateKey); !ok {
		t.Errorf("ES256 key is %T", es.Signer())
	}
	if k, ok := rs.Signer().(*rsa.PrivateKey); !ok || k.N.BitLen() != DefaultRSABits || rs.SignatureAlgorithm() != jose.RS256 {
		t.Errorf("RS256 key is %T %s", rs.Signer(), rs.SignatureAlgorithm())
	}
	if got := kids(t, m); len(got) != 4 {
		t.Errorf("published %d keys, want current and next of two algorithms", len(got))
	}
	algs, err := m.SignatureAlgorithms(ctx)
	if err != nil || !slices.Equal(algs, []jose.SignatureAlgorithm{jose.ES256, jose.RS256}) {
		t.Errorf("SignatureAlgorithms = %v, %v", algs, err)
	}
	pks, err := m.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, pk := range pks {
		switch pk.Key().(type) {
		case *ecdsa.PublicKey:
			if pk.Algorithm() != jose.ES256 {
				t.Errorf("EC key %s has alg %s", pk.ID(), pk.Algorithm())
			}
		case *rsa.PublicKey:
			if pk.Algorithm() != jose.RS256 {
				t.Errorf("RSA key %s has alg %s", pk.ID(), pk.Algorithm())
			}
		default:
			t.Errorf("published key %s is %T", pk.ID(), pk.Key())
		}
		if pk.Use() != "sig" {
			t.Errorf("use %q", pk.Use())
		}
	}
}

// checkOneSigner asserts that the store holds, for each algorithm, exactly
// one key that signs at now and exactly one next key.
func checkOneSigner(t *testing.T, st Store, now time.Time, algs ...string) {
	t.Helper()
	ks, err := st.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range algs {
		signing, next := 0, 0
		for i := range ks {
			k := &ks[i]
			if k.Algorithm != alg {
				continue
			}
			if signs(k, now) {
				signing++
			}
			if k.SignFrom.After(now) {
				next++
			}
		}
		if signing != 1 || next != 1 {
			t.Errorf("%s: %d keys sign and %d are next; want 1 and 1", alg, signing, next)
		}
	}
}

// TestConcurrentEnsure starts several nodes on one store at once, then
// makes them rotate at once.
func TestConcurrentEnsure(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	for round := range 20 {
		st, c := newMemStore(), newClock()
		nodes := make([]*Manager, 3)
		for i := range nodes {
			nodes[i] = newManager(t, st, c, mustSealer(t, kek))
		}
		all := func() {
			var wg sync.WaitGroup
			for _, n := range nodes {
				wg.Go(func() {
					if err := n.Ensure(ctx); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		}
		all()
		checkOneSigner(t, st, c.Now(), ES256)
		same := func() {
			var want string
			for i, n := range nodes {
				if err := n.Refresh(ctx); err != nil {
					t.Fatal(err)
				}
				if k := current(t, n, ES256); i == 0 {
					want = k.ID()
				} else if k.ID() != want {
					t.Fatalf("round %d: node %d signs with %s, node 0 with %s", round, i, k.ID(), want)
				}
			}
		}
		same()

		c.Advance(DefaultRotateEvery)
		all()
		checkOneSigner(t, st, c.Now(), ES256)
		same()
		if t.Failed() {
			t.Fatalf("round %d failed", round)
		}
	}
}

func TestConcurrentEnsureTwoAlgorithms(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	st, c := newMemStore(), newClock()
	a := newManager(t, st, c, mustSealer(t, kek), ES256, RS256)
	b := newManager(t, st, c, mustSealer(t, kek), ES256, RS256)
	var wg sync.WaitGroup
	for _, m := range []*Manager{a, b} {
		wg.Go(func() {
			if err := m.Ensure(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	checkOneSigner(t, st, c.Now(), ES256, RS256)
}

// TestDuplicates: keys a race could leave behind (two first keys, two
// next keys) are resolved the same way on every node.
func TestDuplicates(t *testing.T) {
	ctx := context.Background()
	st, c := newMemStore(), newClock()
	sealer := mustSealer(t, newKEK(t))
	now := c.Now()
	var made []store.SigningKey
	for _, from := range []time.Time{now, now, now.Add(DefaultRotateEvery), now.Add(DefaultRotateEvery)} {
		k, err := newSigningKey(sealer, ES256, DefaultRSABits, now, from)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		made = append(made, k)
	}
	firstByID := func(a, b store.SigningKey) store.SigningKey {
		if a.ID < b.ID {
			return a
		}
		return b
	}
	wantCur, wantNext := firstByID(made[0], made[1]), firstByID(made[2], made[3])
	m := newManager(t, st, c, sealer)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	checkOneSigner(t, st, now, ES256)
	if k := current(t, m, ES256); k.ID() != wantCur.ID {
		t.Errorf("%s signs, want the first by ID %s", k.ID(), wantCur.ID)
	}
	if n := nextKey(t, st, ES256, now); n.ID != wantNext.ID {
		t.Errorf("next is %s, want %s", n.ID, wantNext.ID)
	}
	// The losing first key may have signed: it stays published.
	if got := kids(t, m); len(got) != 3 {
		t.Errorf("published %v, want 3 keys (current, next, retired duplicate)", got)
	}
}

func TestWrongKEK(t *testing.T) {
	ctx := context.Background()
	st, c := newMemStore(), newClock()
	oldKEK := newKEK(t)
	if err := newManager(t, st, c, mustSealer(t, oldKEK)).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	wrong := newManager(t, st, c, mustSealer(t, newKEK(t)))
	if err := wrong.Ensure(ctx); !errors.Is(err, ErrUnknownKEK) {
		t.Errorf("Ensure with the wrong KEK = %v, want ErrUnknownKEK", err)
	}
	if _, err := wrong.Current(ctx, ES256); !errors.Is(err, ErrUnknownKEK) {
		t.Errorf("Current with the wrong KEK = %v, want ErrUnknownKEK", err)
	}
	if got := kids(t, wrong); len(got) != 2 {
		t.Errorf("a node with the wrong KEK still publishes the keys: got %v", got)
	}
	if n := len(storedKeys(t, st)); n != 2 {
		t.Errorf("a node with the wrong KEK changed the keys: %d stored", n)
	}
	// Nor does it add a key the others could not open.
	ks := storedKeys(t, st)
	next := nextKey(t, st, ES256, c.Now())
	if err := st.DeleteSigningKey(ctx, next.ID); err != nil {
		t.Fatal(err)
	}
	if err := wrong.Ensure(ctx); !errors.Is(err, ErrUnknownKEK) || len(storedKeys(t, st)) != len(ks)-1 {
		t.Errorf("Ensure with the wrong KEK = %v and %d keys stored; want ErrUnknownKEK and no new key", err, len(storedKeys(t, st)))
	}
	rotated := newManager(t, st, c, mustSealer(t, newKEK(t), oldKEK))
	if err := rotated.Ensure(ctx); err != nil {
		t.Errorf("Ensure with the old KEK as previous: %v", err)
	}
}

// TestStaleStore: when the store fails, the keys loaded before go on
// signing, on schedule, and each private key was unsealed once.
func TestStaleStore(t *testing.T) {
	ctx := context.Background()
	st, c := newMemStore(), newClock()
	m := newManager(t, st, c, mustSealer(t, newKEK(t)))
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	k1 := current(t, m, ES256)
	next := nextKey(t, st, ES256, c.Now())
	c.Advance(time.Minute)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if again := current(t, m, ES256); again.Signer() != k1.Signer() {
		t.Error("reload unsealed the private key again")
	}

	st.setFail(errors.New("database is down"))
	c.Advance(time.Hour)
	if k := current(t, m, ES256); k.ID() != k1.ID() {
		t.Errorf("with the store down %s signs, want %s", k.ID(), k1.ID())
	}
	c.Advance(DefaultRotateEvery)
	if k := current(t, m, ES256); k.ID() != next.ID {
		t.Errorf("with the store down, the scheduled handover did not happen: %s signs, want %s", k.ID(), next.ID)
	}
}

type levelCounter struct {
	mu     sync.Mutex
	levels map[slog.Level]int
	text   strings.Builder
}

func (h *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.levels[r.Level]++
	h.text.WriteString(r.Message + "\n")
	r.Attrs(func(a slog.Attr) bool { h.text.WriteString(a.String() + "\n"); return true })
	return nil
}
func (h *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levelCounter) WithGroup(string) slog.Handler      { return h }

func TestRunLevels(t *testing.T) {
	ctx := context.Background()
	st, c := newMemStore(), newClock()
	logs := &levelCounter{levels: map[slog.Level]int{}}
	m := newManager(t, st, c, mustSealer(t, newKEK(t)))
	m.Logger = slog.New(logs)

	st.setFail(errors.New("database is down"))
	m.runOnce(ctx)
	if logs.levels[slog.LevelError] != 1 {
		t.Errorf("no key and no store: %d ERROR logs, want 1", logs.levels[slog.LevelError])
	}

	st.setFail(nil)
	m.runOnce(ctx)
	st.setFail(errors.New("database is down"))
	c.Advance(time.Minute)
	m.runOnce(ctx)
	if logs.levels[slog.LevelError] != 1 || logs.levels[slog.LevelWarn] < 1 {
		t.Errorf("keys loaded, store down: levels %v; want WARN, no new ERROR", logs.levels)
	}

	for _, k := range storedKeysUnchecked(st) {
		if strings.Contains(logs.text.String(), string(k.Sealed)) {
			t.Error("logs hold a sealed key")
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx, time.Hour); close(done) }()
	cancel()
	<-done
}

func storedKeysUnchecked(st *memStore) []store.SigningKey {
	st.mu.Lock()
	defer st.mu.Unlock()
	var ks []store.SigningKey
	for _, k := range st.keys {
		ks = append(ks, k)
	}
	return ks
}

func TestOptions(t *testing.T) {
	st, c := newMemStore(), newClock()
	for _, m := range []*Manager{
		{Store: st, Now: c.Now},
		{Store: st, Sealer: mustSealer(t, newKEK(t)), Algorithms: []string{"HS256"}},
		{Store: st, Sealer: mustSealer(t, newKEK(t)), Algorithms: []string{ES256, ES256}},
		{Store: st, Sealer: mustSealer(t, newKEK(t)), RSABits: 1024},
		{Store: st, Sealer: mustSealer(t, newKEK(t)), RotateEvery: -time.Hour},
	} {
		if err := m.Ensure(context.Background()); err == nil {
			t.Errorf("Ensure with %+v succeeded", m)
		}
	}
}

// TestDamagedRow: a key whose public half does not match its row is not
// published, and a signing key that cannot be used is reported.
func TestDamagedRow(t *testing.T) {
	ctx := context.Background()
	st, c := newMemStore(), newClock()
	m := newManager(t, st, c, mustSealer(t, newKEK(t)))
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	k1 := current(t, m, ES256)
	if _, err := st.UpdateSigningKey(ctx, k1.ID(), func(k store.SigningKey) (store.SigningKey, error) {
		k.Public = bytes.Replace(k.Public, []byte(k.ID), []byte("other-kid"), 1)
		return k, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(ctx); err == nil {
		t.Error("Ensure with a damaged current key succeeded")
	}
	if got := kids(t, m); slices.Contains(got, k1.ID()) || slices.Contains(got, "other-kid") {
		t.Errorf("damaged key published: %v", got)
	}
}
