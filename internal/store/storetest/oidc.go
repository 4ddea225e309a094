package storetest

// The OpenID Connect part of the suite: clients, signing keys, consents.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/store"
)

// oidcTests run in Run, after the users' and secrets' tests.
var oidcTests = []struct {
	name string
	run  func(ctx context.Context, t *testing.T, s store.Store)
}{
	{"ClientCreateGet", testClientCreateGet},
	{"ClientListsRoundTrip", testClientListsRoundTrip},
	{"ClientEmptyValues", testClientEmptyValues},
	{"ClientNotFound", testClientNotFound},
	{"ClientCreateDuplicateID", testClientCreateDuplicateID},
	{"ClientList", testClientList},
	{"ClientUpdate", testClientUpdate},
	{"ClientUpdaterError", testClientUpdaterError},
	{"ClientUpdateCannotChangeID", testClientUpdateCannotChangeID},
	{"ClientDelete", testClientDelete},
	{"ClientDeleteCascadesConsents", testClientDeleteCascadesConsents},
	{"ConcurrentClientUpdate", testConcurrentClientUpdate},
	{"SigningKeyCreateList", testSigningKeyCreateList},
	{"SigningKeyBytes", testSigningKeyBytes},
	{"SigningKeyNotFound", testSigningKeyNotFound},
	{"SigningKeyCreateDuplicateID", testSigningKeyCreateDuplicateID},
	{"SigningKeyUpdate", testSigningKeyUpdate},
	{"SigningKeyUpdaterError", testSigningKeyUpdaterError},
	{"SigningKeyUpdateCannotChangeID", testSigningKeyUpdateCannotChangeID},
	{"SigningKeyDelete", testSigningKeyDelete},
	{"ConsentPutGet", testConsentPutGet},
	{"ConsentPutReplaces", testConsentPutReplaces},
	{"ConsentNotFound", testConsentNotFound},
	{"ConsentUnknownUserOrClient", testConsentUnknownUserOrClient},
	{"ConsentList", testConsentList},
	{"ConsentDelete", testConsentDelete},
	{"UserDeleteCascadesConsents", testUserDeleteCascadesConsents},
}

// oidcMultiNodeTests run in RunMultiNode.
var oidcMultiNodeTests = []struct {
	name string
	run  func(ctx context.Context, t *testing.T, nodes []store.Store)
}{
	{"ClientSeenByOtherNode", testClientSeenByOtherNode},
	{"ClientUpdateRace", testClientUpdateRace},
}

// allBytes holds every byte value once, NUL first; byte fields must keep
// them all.
var allBytes = func() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// reversed returns a reversed copy of b.
func reversed(b []byte) []byte {
	r := slices.Clone(b)
	slices.Reverse(r)
	return r
}

// newClient returns a client with every field set.
func newClient(id string) store.Client {
	return store.Client{
		ID:                     id,
		Name:                   "Client " + id,
		SecretHash:             "hmac-sha256$" + id,
		RedirectURIs:           []string{"https://" + id + ".example.com/callback", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs: []string{"https://" + id + ".example.com/"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		Scopes:                 []string{"openid", "email", "profile"},
		AuthMethod:             "private_key_jwt",
		JWKS:                   append([]byte(`{"keys":[]}`), allBytes...),
		ApplicationType:        "web",
		SigningAlg:             "ES256",
		SkipConsent:            true,
		RequireMFA:             true,
		CreatedAt:              base,
		UpdatedAt:              base.Add(time.Minute),
	}
}

func mustCreateClient(ctx context.Context, t *testing.T, s store.Store, c store.Client) {
	t.Helper()
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatalf("CreateClient(%s): %v", c.ID, err)
	}
}

func mustGetClient(ctx context.Context, t *testing.T, s store.Store, id string) store.Client {
	t.Helper()
	c, err := s.GetClient(ctx, id)
	if err != nil {
		t.Fatalf("GetClient(%s): %v", id, err)
	}
	return c
}

// diffs collects field differences for the check* functions.
type diffs []string

func (d *diffs) field(name string, got, want any) {
	if got != want {
		*d = append(*d, fmt.Sprintf("%s = %v, want %v", name, got, want))
	}
}

// list compares lists by content: nil and empty are equal here
// (testClientEmptyValues pins how a backend reads them back).
func (d *diffs) list(name string, got, want []string) {
	if !slices.Equal(got, want) {
		*d = append(*d, fmt.Sprintf("%s = %q, want %q", name, got, want))
	}
}

func (d *diffs) bytes(name string, got, want []byte) {
	if !bytes.Equal(got, want) {
		*d = append(*d, fmt.Sprintf("%s = %x, want %x", name, got, want))
	}
}

// time compares instants and requires got in UTC (unless zero).
func (d *diffs) time(name string, got, want time.Time) {
	switch {
	case !got.Equal(want):
		*d = append(*d, fmt.Sprintf("%s = %v, want %v", name, got, want))
	case !got.IsZero() && got.Location() != time.UTC:
		*d = append(*d, fmt.Sprintf("%s is in %v, want UTC", name, got.Location()))
	}
}

func (d diffs) report(t *testing.T, what string) {
	t.Helper()
	if len(d) > 0 {
		t.Errorf("%s:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

func checkClient(t *testing.T, what string, got, want store.Client) {
	t.Helper()
	var d diffs
	d.field("ID", got.ID, want.ID)
	d.field("Name", got.Name, want.Name)
	d.field("SecretHash", got.SecretHash, want.SecretHash)
	d.list("RedirectURIs", got.RedirectURIs, want.RedirectURIs)
	d.list("PostLogoutRedirectURIs", got.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs)
	d.list("GrantTypes", got.GrantTypes, want.GrantTypes)
	d.list("Scopes", got.Scopes, want.Scopes)
	d.field("AuthMethod", got.AuthMethod, want.AuthMethod)
	d.bytes("JWKS", got.JWKS, want.JWKS)
	d.field("ApplicationType", got.ApplicationType, want.ApplicationType)
	d.field("SigningAlg", got.SigningAlg, want.SigningAlg)
	d.field("SkipConsent", got.SkipConsent, want.SkipConsent)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	d.report(t, what)
}

func checkClientIDs(t *testing.T, what string, got []store.Client, want ...string) {
	t.Helper()
	ids := make([]string, len(got))
	for i, c := range got {
		ids[i] = c.ID
	}
	if !slices.Equal(ids, want) {
		t.Errorf("%s: IDs %q, want %q", what, ids, want)
	}
}

func testClientCreateGet(ctx context.Context, t *testing.T, s store.Store) {
	want := newClient("c1")
	mustCreateClient(ctx, t, s, want)
	mustCreateClient(ctx, t, s, newClient("c2")) // a neighbour the reads must not return
	checkClient(t, "GetClient", mustGetClient(ctx, t, s, "c1"), want)

	// A public client: no secret, no keys, no consent skipping.
	pub := store.Client{
		ID:              "c3",
		Name:            "Native app",
		RedirectURIs:    []string{"http://127.0.0.1/callback", "com.example.app:/cb"},
		GrantTypes:      []string{"authorization_code", "urn:ietf:params:oauth:grant-type:device_code"},
		Scopes:          []string{"openid"},
		AuthMethod:      "none",
		ApplicationType: "native",
		SigningAlg:      "RS256",
		CreatedAt:       base,
		UpdatedAt:       base,
	}
	mustCreateClient(ctx, t, s, pub)
	checkClient(t, "GetClient(public client)", mustGetClient(ctx, t, s, "c3"), pub)
}

// testClientListsRoundTrip: lists keep order, duplicates, empty strings
// and any valid UTF-8, JSON's special characters included.
func testClientListsRoundTrip(ctx context.Context, t *testing.T, s store.Store) {
	c := newClient("c1")
	c.RedirectURIs = []string{"https://b.example/", "https://a.example/", "https://b.example/"}
	c.PostLogoutRedirectURIs = []string{"", "https://x.example/?q=\"1\"&r=<2>\\"}
	c.GrantTypes = []string{"z", "a"}
	c.Scopes = []string{"openid", "日本語", "tab\there", "nl\nx", "nul\x00x", "[\"]", "emoji 😀", "\u2028"}
	mustCreateClient(ctx, t, s, c)
	got := mustGetClient(ctx, t, s, "c1")
	checkClient(t, "GetClient", got, c)
	list, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	if len(list) != 1 {
		t.Fatalf("ListClients returned %d clients, want 1", len(list))
	}
	checkClient(t, "ListClients", list[0], c)
}

// testClientEmptyValues: nil and empty lists and byte slices are stored
// alike: whatever a backend reads back (nil or empty), it is the same for
// both and has no elements.
func testClientEmptyValues(ctx context.Context, t *testing.T, s store.Store) {
	withNil := store.Client{ID: "nil", CreatedAt: base, UpdatedAt: base}
	withEmpty := store.Client{
		ID:                     "empty",
		RedirectURIs:           []string{},
		PostLogoutRedirectURIs: []string{},
		GrantTypes:             []string{},
		Scopes:                 []string{},
		JWKS:                   []byte{},
		CreatedAt:              base,
		UpdatedAt:              base,
	}
	mustCreateClient(ctx, t, s, withNil)
	mustCreateClient(ctx, t, s, withEmpty)
	a, b := mustGetClient(ctx, t, s, "nil"), mustGetClient(ctx, t, s, "empty")
	checkClient(t, "client with nil fields", a, withNil)
	checkClient(t, "client with empty fields", b, withEmpty)

	lists := []struct {
		name string
		a, b []string
	}{
		{"RedirectURIs", a.RedirectURIs, b.RedirectURIs},
		{"PostLogoutRedirectURIs", a.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs},
		{"GrantTypes", a.GrantTypes, b.GrantTypes},
		{"Scopes", a.Scopes, b.Scopes},
	}
	for _, l := range lists {
		if (l.a == nil) != (l.b == nil) {
			t.Errorf("%s: written nil reads back as %#v, written empty as %#v: want the same", l.name, l.a, l.b)
		}
	}
	if (a.JWKS == nil) != (b.JWKS == nil) {
		t.Errorf("JWKS: written nil reads back as %#v, written empty as %#v: want the same", a.JWKS, b.JWKS)
	}

	// The same through an update, from full values to empty ones.
	mustCreateClient(ctx, t, s, newClient("full"))
	got, err := s.UpdateClient(ctx, "full", func(c store.Client) (store.Client, error) {
		c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.Scopes = nil, []string{}, nil, []string{}
		c.JWKS = nil
		return c, nil
	})
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	for _, c := range []store.Client{got, mustGetClient(ctx, t, s, "full")} {
		if len(c.RedirectURIs)+len(c.PostLogoutRedirectURIs)+len(c.GrantTypes)+len(c.Scopes)+len(c.JWKS) != 0 {
			t.Errorf("client after emptying its lists: %+v", c)
		}
	}
}

func testClientNotFound(ctx context.Context, t *testing.T, s store.Store) {
	mustCreateClient(ctx, t, s, newClient("c1"))

	if _, err := s.GetClient(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := s.GetClient(ctx, "C1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient(C1) error = %v, want ErrNotFound (IDs match exactly)", err)
	}
	called := false
	_, err := s.UpdateClient(ctx, "missing", func(c store.Client) (store.Client, error) {
		called = true
		return c, nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateClient(missing) error = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("UpdateClient(missing) called the updater")
	}
	if err := s.DeleteClient(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteClient(missing) error = %v, want ErrNotFound", err)
	}
}

func testClientCreateDuplicateID(ctx context.Context, t *testing.T, s store.Store) {
	orig := newClient("c1")
	mustCreateClient(ctx, t, s, orig)
	dup := newClient("c1")
	dup.Name = "Impostor"
	dup.RedirectURIs = []string{"https://evil.example/"}
	if err := s.CreateClient(ctx, dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateClient(same ID) error = %v, want ErrAlreadyExists", err)
	}
	checkClient(t, "original after duplicate", mustGetClient(ctx, t, s, "c1"), orig)
}

func testClientList(ctx context.Context, t *testing.T, s store.Store) {
	list, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients (empty store): %v", err)
	}
	if len(list) != 0 {
		t.Errorf("ListClients (empty store) returned %d clients", len(list))
	}

	// Created out of order; listed by ID, bytewise ("B" < "a" < "b").
	ids := []string{"b2", "a1", "B0", "b10", "a"}
	want := map[string]store.Client{}
	for i, id := range ids {
		c := newClient(id)
		c.CreatedAt = base.Add(-time.Duration(i) * time.Hour) // not the ID order either
		mustCreateClient(ctx, t, s, c)
		want[id] = c
	}
	list, err = s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	checkClientIDs(t, "ListClients", list, "B0", "a", "a1", "b10", "b2")
	for _, c := range list {
		checkClient(t, "ListClients entry "+c.ID, c, want[c.ID])
	}
}

func testClientUpdate(ctx context.Context, t *testing.T, s store.Store) {
	orig := newClient("c1")
	mustCreateClient(ctx, t, s, orig)
	other := newClient("c2")
	mustCreateClient(ctx, t, s, other)

	changed := base.In(time.FixedZone("PST", -8*60*60)).Add(time.Hour + 7*time.Microsecond)
	want := store.Client{
		ID:                     "c1",
		Name:                   "Renamed",
		SecretHash:             "",
		RedirectURIs:           []string{"https://new.example/cb"},
		PostLogoutRedirectURIs: nil,
		GrantTypes:             []string{"client_credentials"},
		Scopes:                 []string{"api:read", "api:write"},
		AuthMethod:             "client_secret_post",
		JWKS:                   reversed(allBytes),
		ApplicationType:        "native",
		SigningAlg:             "RS256",
		SkipConsent:            false,
		RequireMFA:             false,
		CreatedAt:              time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC),
		UpdatedAt:              changed,
	}
	var seen store.Client
	got, err := s.UpdateClient(ctx, "c1", func(old store.Client) (store.Client, error) {
		seen = old
		return want, nil
	})
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	checkClient(t, "updater's argument", seen, orig)
	checkClient(t, "UpdateClient result", got, want)
	checkClient(t, "GetClient after update", mustGetClient(ctx, t, s, "c1"), want)
	checkClient(t, "the other client", mustGetClient(ctx, t, s, "c2"), other)

	// A second update sees the first one's result.
	if _, err := s.UpdateClient(ctx, "c1", func(c store.Client) (store.Client, error) {
		checkClient(t, "updater's argument (second update)", c, want)
		c.SkipConsent = true
		return c, nil
	}); err != nil {
		t.Fatalf("second UpdateClient: %v", err)
	}
	want.SkipConsent = true
	checkClient(t, "GetClient after second update", mustGetClient(ctx, t, s, "c1"), want)
}

func testClientUpdaterError(ctx context.Context, t *testing.T, s store.Store) {
	orig := newClient("c1")
	mustCreateClient(ctx, t, s, orig)

	errStop := errors.New("updater refuses")
	_, err := s.UpdateClient(ctx, "c1", func(c store.Client) (store.Client, error) {
		c.Name = "changed"
		c.Scopes = append(c.Scopes, "admin")
		return c, fmt.Errorf("wrapped: %w", errStop)
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("UpdateClient error = %v, want the updater's error", err)
	}
	checkClient(t, "after aborted update", mustGetClient(ctx, t, s, "c1"), orig)

	// The aborted transaction must not hold anything: a later update works.
	if _, err := s.UpdateClient(ctx, "c1", func(c store.Client) (store.Client, error) {
		c.Name = "changed"
		return c, nil
	}); err != nil {
		t.Fatalf("UpdateClient after an aborted one: %v", err)
	}
	if got := mustGetClient(ctx, t, s, "c1").Name; got != "changed" {
		t.Errorf("Name after update = %q, want %q", got, "changed")
	}
}

// testClientUpdateCannotChangeID: a backend may refuse the update or ignore
// the new ID; either way the client stays under its ID and no other appears.
func testClientUpdateCannotChangeID(ctx context.Context, t *testing.T, s store.Store) {
	mustCreateClient(ctx, t, s, newClient("c1"))
	got, err := s.UpdateClient(ctx, "c1", func(c store.Client) (store.Client, error) {
		c.ID = "c2"
		return c, nil
	})
	if err == nil && got.ID != "c1" {
		t.Errorf("UpdateClient returned ID %q, want c1", got.ID)
	}
	mustGetClient(ctx, t, s, "c1")
	if _, err := s.GetClient(ctx, "c2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient(c2) error = %v, want ErrNotFound", err)
	}
	list, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	checkClientIDs(t, "ListClients", list, "c1")
}

func testClientDelete(ctx context.Context, t *testing.T, s store.Store) {
	mustCreateClient(ctx, t, s, newClient("c1"))
	c2 := newClient("c2")
	mustCreateClient(ctx, t, s, c2)

	if err := s.DeleteClient(ctx, "c1"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, err := s.GetClient(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient(deleted) error = %v, want ErrNotFound", err)
	}
	if err := s.DeleteClient(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteClient error = %v, want ErrNotFound", err)
	}
	checkClient(t, "the other client", mustGetClient(ctx, t, s, "c2"), c2)
	list, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	checkClientIDs(t, "ListClients", list, "c2")

	// The ID is free again.
	mustCreateClient(ctx, t, s, newClient("c1"))
}

// consentFixture makes users u1 and u2, clients c1 and c2, and the consents
// u1→c1, u1→c2 and u2→c1.
func consentFixture(ctx context.Context, t *testing.T, s store.Store) {
	t.Helper()
	mustCreate(ctx, t, s, newUser("u1"))
	mustCreate(ctx, t, s, newUser("u2"))
	mustCreateClient(ctx, t, s, newClient("c1"))
	mustCreateClient(ctx, t, s, newClient("c2"))
	for _, c := range []store.Consent{newConsent("u1", "c1"), newConsent("u1", "c2"), newConsent("u2", "c1")} {
		mustPutConsent(ctx, t, s, c)
	}
}

// checkConsentExists fails t unless GetConsent finds (or, with want false,
// reports ErrNotFound for) the consent.
func checkConsentExists(ctx context.Context, t *testing.T, s store.Store, userID, clientID string, want bool) {
	t.Helper()
	_, err := s.GetConsent(ctx, userID, clientID)
	switch {
	case want && err != nil:
		t.Errorf("GetConsent(%s, %s): %v", userID, clientID, err)
	case !want && !errors.Is(err, store.ErrNotFound):
		t.Errorf("GetConsent(%s, %s) error = %v, want ErrNotFound", userID, clientID, err)
	}
}

func testClientDeleteCascadesConsents(ctx context.Context, t *testing.T, s store.Store) {
	consentFixture(ctx, t, s)
	if err := s.DeleteClient(ctx, "c1"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	checkConsentExists(ctx, t, s, "u1", "c1", false)
	checkConsentExists(ctx, t, s, "u2", "c1", false)
	checkConsentExists(ctx, t, s, "u1", "c2", true)
	checkConsentClientIDs(ctx, t, s, "u1", "c2")
	checkConsentClientIDs(ctx, t, s, "u2")

	// A client made again under the same ID starts without consents.
	mustCreateClient(ctx, t, s, newClient("c1"))
	checkConsentExists(ctx, t, s, "u1", "c1", false)
}

func testUserDeleteCascadesConsents(ctx context.Context, t *testing.T, s store.Store) {
	consentFixture(ctx, t, s)
	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	checkConsentExists(ctx, t, s, "u1", "c1", false)
	checkConsentExists(ctx, t, s, "u1", "c2", false)
	checkConsentExists(ctx, t, s, "u2", "c1", true)
	checkConsentClientIDs(ctx, t, s, "u1")
	checkConsentClientIDs(ctx, t, s, "u2", "c1")

	// The clients stay, and the user made again starts without consents.
	mustGetClient(ctx, t, s, "c1")
	mustGetClient(ctx, t, s, "c2")
	mustCreate(ctx, t, s, newUser("u1"))
	checkConsentClientIDs(ctx, t, s, "u1")
}

// raceAppendScopes has n goroutines, spread over stores, each append one
// distinct scope to the same client through UpdateClient, all started at
// once. A lost update drops a scope.
func raceAppendScopes(ctx context.Context, t *testing.T, stores []store.Store, n int) {
	t.Helper()
	c := newClient("c1")
	c.Scopes = nil
	mustCreateClient(ctx, t, stores[0], c)

	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		scope := fmt.Sprintf("scope-%02d", i)
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			_, err := s.UpdateClient(ctx, "c1", func(c store.Client) (store.Client, error) {
				// Widen the window between read and write.
				time.Sleep(time.Millisecond)
				c.Scopes = append(c.Scopes, scope)
				return c, nil
			})
			if err != nil {
				t.Errorf("UpdateClient (appending %s): %v", scope, err)
			}
		})
	}
	close(start)
	wg.Wait()

	got := slices.Clone(mustGetClient(ctx, t, stores[len(stores)-1], "c1").Scopes)
	slices.Sort(got)
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("scope-%02d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("after %d concurrent appends the scopes are %q: an update was lost", n, got)
	}
}

func testConcurrentClientUpdate(ctx context.Context, t *testing.T, s store.Store) {
	raceAppendScopes(ctx, t, []store.Store{s}, 20)
}

func testClientUpdateRace(ctx context.Context, t *testing.T, nodes []store.Store) {
	raceAppendScopes(ctx, t, nodes, 20)
}

func testClientSeenByOtherNode(ctx context.Context, t *testing.T, nodes []store.Store) {
	want := newClient("c1")
	mustCreateClient(ctx, t, nodes[0], want)
	checkClient(t, "read on the other node", mustGetClient(ctx, t, nodes[1], "c1"), want)

	if _, err := nodes[1].UpdateClient(ctx, "c1", func(c store.Client) (store.Client, error) {
		c.Name = "changed on node 1"
		return c, nil
	}); err != nil {
		t.Fatalf("UpdateClient on the other node: %v", err)
	}
	want.Name = "changed on node 1"
	checkClient(t, "read back on the first node", mustGetClient(ctx, t, nodes[0], "c1"), want)

	if err := nodes[0].DeleteClient(ctx, "c1"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, err := nodes[1].GetClient(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient on the other node after delete: error = %v, want ErrNotFound", err)
	}
}

// ---- signing keys ----

// newSigningKey returns a key with every field set but SignUntil and
// PublishUntil, as a freshly made key has.
func newSigningKey(id string, created time.Time) store.SigningKey {
	return store.SigningKey{
		ID:        id,
		Algorithm: "ES256",
		Sealed:    append([]byte("sealed:"+id+":"), allBytes...),
		Public:    []byte(`{"kty":"EC","crv":"P-256","kid":"` + id + `"}`),
		CreatedAt: created,
		SignFrom:  created.Add(time.Hour),
	}
}

func mustCreateSigningKey(ctx context.Context, t *testing.T, s store.Store, k store.SigningKey) {
	t.Helper()
	if err := s.CreateSigningKey(ctx, k); err != nil {
		t.Fatalf("CreateSigningKey(%s): %v", k.ID, err)
	}
}

func mustListSigningKeys(ctx context.Context, t *testing.T, s store.Store) []store.SigningKey {
	t.Helper()
	keys, err := s.ListSigningKeys(ctx)
	if err != nil {
		t.Fatalf("ListSigningKeys: %v", err)
	}
	return keys
}

// findSigningKey returns the key with this ID from ListSigningKeys (there
// is no GetSigningKey), failing t when it is missing.
func findSigningKey(ctx context.Context, t *testing.T, s store.Store, id string) store.SigningKey {
	t.Helper()
	for _, k := range mustListSigningKeys(ctx, t, s) {
		if k.ID == id {
			return k
		}
	}
	t.Fatalf("signing key %s is not listed", id)
	return store.SigningKey{}
}

func checkSigningKey(t *testing.T, what string, got, want store.SigningKey) {
	t.Helper()
	var d diffs
	d.field("ID", got.ID, want.ID)
	d.field("Algorithm", got.Algorithm, want.Algorithm)
	d.bytes("Sealed", got.Sealed, want.Sealed)
	d.bytes("Public", got.Public, want.Public)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("SignFrom", got.SignFrom, want.SignFrom)
	d.time("SignUntil", got.SignUntil, want.SignUntil)
	d.time("PublishUntil", got.PublishUntil, want.PublishUntil)
	d.report(t, what)
}

func checkSigningKeyIDs(t *testing.T, what string, got []store.SigningKey, want ...string) {
	t.Helper()
	ids := make([]string, len(got))
	for i, k := range got {
		ids[i] = k.ID
	}
	if !slices.Equal(ids, want) {
		t.Errorf("%s: IDs %q, want %q", what, ids, want)
	}
}

func testSigningKeyCreateList(ctx context.Context, t *testing.T, s store.Store) {
	if keys := mustListSigningKeys(ctx, t, s); len(keys) != 0 {
		t.Errorf("ListSigningKeys (empty store) returned %d keys", len(keys))
	}

	// Created out of time order, with IDs in neither order: listed oldest
	// first. One key is older than the Unix epoch, one is a microsecond
	// after another.
	keys := []store.SigningKey{
		newSigningKey("k-mid", base),
		newSigningKey("k-new", base.Add(time.Microsecond)),
		newSigningKey("k-old", time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)),
		newSigningKey("a-newest", base.Add(24*time.Hour)),
	}
	retired := newSigningKey("k-retired", base.Add(-48*time.Hour))
	retired.Algorithm = "RS256"
	retired.SignUntil = base.Add(-24 * time.Hour)
	retired.PublishUntil = base.Add(time.Hour)
	keys = append(keys, retired)
	for _, k := range keys {
		mustCreateSigningKey(ctx, t, s, k)
	}
	got := mustListSigningKeys(ctx, t, s)
	checkSigningKeyIDs(t, "ListSigningKeys", got, "k-old", "k-retired", "k-mid", "k-new", "a-newest")
	want := map[string]store.SigningKey{}
	for _, k := range keys {
		want[k.ID] = k
	}
	for _, k := range got {
		checkSigningKey(t, "listed key "+k.ID, k, want[k.ID])
	}
	for _, k := range got {
		if k.ID == "k-mid" && !(k.SignUntil.IsZero() && k.PublishUntil.IsZero()) {
			t.Errorf("unset SignUntil, PublishUntil read back as %v, %v; want zero times", k.SignUntil, k.PublishUntil)
		}
	}
}

// testSigningKeyBytes: Sealed and Public keep every byte value, through
// create and update, and a returned slice is the caller's.
func testSigningKeyBytes(ctx context.Context, t *testing.T, s store.Store) {
	k := newSigningKey("k1", base)
	k.Sealed = slices.Clone(allBytes)
	k.Public = reversed(allBytes)
	mustCreateSigningKey(ctx, t, s, k)
	got := findSigningKey(ctx, t, s, "k1")
	checkSigningKey(t, "after create", got, k)

	got.Sealed[0] ^= 0xff // must change nothing stored
	checkSigningKey(t, "after changing a returned slice", findSigningKey(ctx, t, s, "k1"), k)

	k.Sealed = bytes.Repeat(reversed(allBytes), 3)
	k.Public = append([]byte{0}, allBytes...)
	if _, err := s.UpdateSigningKey(ctx, "k1", func(old store.SigningKey) (store.SigningKey, error) {
		old.Sealed, old.Public = k.Sealed, k.Public
		return old, nil
	}); err != nil {
		t.Fatalf("UpdateSigningKey: %v", err)
	}
	checkSigningKey(t, "after update", findSigningKey(ctx, t, s, "k1"), k)
}

func testSigningKeyNotFound(ctx context.Context, t *testing.T, s store.Store) {
	mustCreateSigningKey(ctx, t, s, newSigningKey("k1", base))
	called := false
	_, err := s.UpdateSigningKey(ctx, "missing", func(k store.SigningKey) (store.SigningKey, error) {
		called = true
		return k, nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSigningKey(missing) error = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("UpdateSigningKey(missing) called the updater")
	}
	if err := s.DeleteSigningKey(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSigningKey(missing) error = %v, want ErrNotFound", err)
	}
	checkSigningKeyIDs(t, "ListSigningKeys", mustListSigningKeys(ctx, t, s), "k1")
}

func testSigningKeyCreateDuplicateID(ctx context.Context, t *testing.T, s store.Store) {
	orig := newSigningKey("k1", base)
	mustCreateSigningKey(ctx, t, s, orig)
	dup := newSigningKey("k1", base.Add(time.Hour))
	dup.Sealed = []byte("other")
	if err := s.CreateSigningKey(ctx, dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateSigningKey(same ID) error = %v, want ErrAlreadyExists", err)
	}
	got := mustListSigningKeys(ctx, t, s)
	checkSigningKeyIDs(t, "ListSigningKeys", got, "k1")
	if len(got) == 1 {
		checkSigningKey(t, "original after duplicate", got[0], orig)
	}
}

func testSigningKeyUpdate(ctx context.Context, t *testing.T, s store.Store) {
	orig := newSigningKey("k1", base)
	mustCreateSigningKey(ctx, t, s, orig)
	other := newSigningKey("k2", base.Add(time.Hour))
	mustCreateSigningKey(ctx, t, s, other)

	// Retire k1: the usual update, setting the two times left unset.
	want := orig
	want.SignUntil = base.In(time.FixedZone("PST", -8*60*60)).Add(2*time.Hour + 7*time.Microsecond)
	want.PublishUntil = want.SignUntil.Add(24 * time.Hour)
	var seen store.SigningKey
	got, err := s.UpdateSigningKey(ctx, "k1", func(old store.SigningKey) (store.SigningKey, error) {
		seen = old
		old.SignUntil, old.PublishUntil = want.SignUntil, want.PublishUntil
		return old, nil
	})
	if err != nil {
		t.Fatalf("UpdateSigningKey: %v", err)
	}
	checkSigningKey(t, "updater's argument", seen, orig)
	checkSigningKey(t, "UpdateSigningKey result", got, want)
	checkSigningKey(t, "k1 after update", findSigningKey(ctx, t, s, "k1"), want)
	checkSigningKey(t, "the other key", findSigningKey(ctx, t, s, "k2"), other)

	// Every field can change, and the times can be unset again. A new
	// CreatedAt moves the key in the list.
	want = store.SigningKey{
		ID:        "k1",
		Algorithm: "RS256",
		Sealed:    []byte("resealed under a new KEK"),
		Public:    []byte(`{"kty":"RSA"}`),
		CreatedAt: base.Add(2 * time.Hour),
		SignFrom:  base.Add(3 * time.Hour),
	}
	if _, err := s.UpdateSigningKey(ctx, "k1", func(store.SigningKey) (store.SigningKey, error) {
		return want, nil
	}); err != nil {
		t.Fatalf("second UpdateSigningKey: %v", err)
	}
	keys := mustListSigningKeys(ctx, t, s)
	checkSigningKeyIDs(t, "ListSigningKeys after second update", keys, "k2", "k1")
	checkSigningKey(t, "k1 after second update", findSigningKey(ctx, t, s, "k1"), want)
}

func testSigningKeyUpdaterError(ctx context.Context, t *testing.T, s store.Store) {
	orig := newSigningKey("k1", base)
	mustCreateSigningKey(ctx, t, s, orig)
	errStop := errors.New("updater refuses")
	_, err := s.UpdateSigningKey(ctx, "k1", func(k store.SigningKey) (store.SigningKey, error) {
		k.SignUntil = base
		return k, fmt.Errorf("wrapped: %w", errStop)
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("UpdateSigningKey error = %v, want the updater's error", err)
	}
	checkSigningKey(t, "after aborted update", findSigningKey(ctx, t, s, "k1"), orig)
	if _, err := s.UpdateSigningKey(ctx, "k1", func(k store.SigningKey) (store.SigningKey, error) {
		k.SignUntil = base
		return k, nil
	}); err != nil {
		t.Fatalf("UpdateSigningKey after an aborted one: %v", err)
	}
}

func testSigningKeyUpdateCannotChangeID(ctx context.Context, t *testing.T, s store.Store) {
	mustCreateSigningKey(ctx, t, s, newSigningKey("k1", base))
	got, err := s.UpdateSigningKey(ctx, "k1", func(k store.SigningKey) (store.SigningKey, error) {
		k.ID = "k2"
		return k, nil
	})
	if err == nil && got.ID != "k1" {
		t.Errorf("UpdateSigningKey returned ID %q, want k1", got.ID)
	}
	checkSigningKeyIDs(t, "ListSigningKeys", mustListSigningKeys(ctx, t, s), "k1")
}

func testSigningKeyDelete(ctx context.Context, t *testing.T, s store.Store) {
	mustCreateSigningKey(ctx, t, s, newSigningKey("k1", base))
	k2 := newSigningKey("k2", base.Add(time.Hour))
	mustCreateSigningKey(ctx, t, s, k2)
	if err := s.DeleteSigningKey(ctx, "k1"); err != nil {
		t.Fatalf("DeleteSigningKey: %v", err)
	}
	if err := s.DeleteSigningKey(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteSigningKey error = %v, want ErrNotFound", err)
	}
	keys := mustListSigningKeys(ctx, t, s)
	checkSigningKeyIDs(t, "ListSigningKeys", keys, "k2")
	if len(keys) == 1 {
		checkSigningKey(t, "the other key", keys[0], k2)
	}
	if _, err := s.UpdateSigningKey(ctx, "k1", func(k store.SigningKey) (store.SigningKey, error) {
		return k, nil
	}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSigningKey(deleted) error = %v, want ErrNotFound", err)
	}
}

// ---- consents ----

func newConsent(userID, clientID string) store.Consent {
	return store.Consent{
		UserID:    userID,
		ClientID:  clientID,
		Scopes:    []string{"openid", "email", clientID},
		GrantedAt: base.Add(3 * time.Minute),
	}
}

func mustPutConsent(ctx context.Context, t *testing.T, s store.Store, c store.Consent) {
	t.Helper()
	if err := s.PutConsent(ctx, c); err != nil {
		t.Fatalf("PutConsent(%s, %s): %v", c.UserID, c.ClientID, err)
	}
}

func mustGetConsent(ctx context.Context, t *testing.T, s store.Store, userID, clientID string) store.Consent {
	t.Helper()
	c, err := s.GetConsent(ctx, userID, clientID)
	if err != nil {
		t.Fatalf("GetConsent(%s, %s): %v", userID, clientID, err)
	}
	return c
}

func checkConsent(t *testing.T, what string, got, want store.Consent) {
	t.Helper()
	var d diffs
	d.field("UserID", got.UserID, want.UserID)
	d.field("ClientID", got.ClientID, want.ClientID)
	d.list("Scopes", got.Scopes, want.Scopes)
	d.time("GrantedAt", got.GrantedAt, want.GrantedAt)
	d.report(t, what)
}

// checkConsentClientIDs fails t unless ListConsents(userID) returns
// consents to exactly these clients, in this order, all of userID's.
func checkConsentClientIDs(ctx context.Context, t *testing.T, s store.Store, userID string, want ...string) []store.Consent {
	t.Helper()
	list, err := s.ListConsents(ctx, userID)
	if err != nil {
		t.Fatalf("ListConsents(%s): %v", userID, err)
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ClientID
		if c.UserID != userID {
			t.Errorf("ListConsents(%s) returned a consent of %s", userID, c.UserID)
		}
	}
	if !slices.Equal(ids, want) {
		t.Errorf("ListConsents(%s): clients %q, want %q", userID, ids, want)
	}
	return list
}

func testConsentPutGet(ctx context.Context, t *testing.T, s store.Store) {
	consentFixture(ctx, t, s)
	for _, p := range [][2]string{{"u1", "c1"}, {"u1", "c2"}, {"u2", "c1"}} {
		checkConsent(t, "GetConsent", mustGetConsent(ctx, t, s, p[0], p[1]), newConsent(p[0], p[1]))
	}
	checkConsentExists(ctx, t, s, "u2", "c2", false)

	// A consent without scopes.
	mustPutConsent(ctx, t, s, store.Consent{UserID: "u2", ClientID: "c2", GrantedAt: base})
	got := mustGetConsent(ctx, t, s, "u2", "c2")
	checkConsent(t, "consent without scopes", got, store.Consent{UserID: "u2", ClientID: "c2", GrantedAt: base})
	if len(got.Scopes) != 0 {
		t.Errorf("consent without scopes has scopes %q", got.Scopes)
	}
}

func testConsentPutReplaces(ctx context.Context, t *testing.T, s store.Store) {
	consentFixture(ctx, t, s)
	want := store.Consent{
		UserID:    "u1",
		ClientID:  "c1",
		Scopes:    []string{"openid", "profile", "offline_access"},
		GrantedAt: base.In(time.FixedZone("PST", -8*60*60)).Add(time.Hour + 7*time.Microsecond),
	}
	mustPutConsent(ctx, t, s, want)
	checkConsent(t, "replaced consent", mustGetConsent(ctx, t, s, "u1", "c1"), want)
	// The others are untouched, and there is still one consent per pair.
	checkConsent(t, "u1→c2", mustGetConsent(ctx, t, s, "u1", "c2"), newConsent("u1", "c2"))
	checkConsent(t, "u2→c1", mustGetConsent(ctx, t, s, "u2", "c1"), newConsent("u2", "c1"))
	list := checkConsentClientIDs(ctx, t, s, "u1", "c1", "c2")
	if len(list) == 2 {
		checkConsent(t, "listed replaced consent", list[0], want)
	}

	// Replacing with fewer scopes narrows the consent.
	want.Scopes = []string{"openid"}
	mustPutConsent(ctx, t, s, want)
	checkConsent(t, "narrowed consent", mustGetConsent(ctx, t, s, "u1", "c1"), want)
}

func testConsentNotFound(ctx context.Context, t *testing.T, s store.Store) {
	consentFixture(ctx, t, s)
	for _, p := range [][2]string{{"u2", "c2"}, {"missing", "c1"}, {"u1", "missing"}, {"c1", "u1"}} {
		checkConsentExists(ctx, t, s, p[0], p[1], false)
		if err := s.DeleteConsent(ctx, p[0], p[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteConsent(%s, %s) error = %v, want ErrNotFound", p[0], p[1], err)
		}
	}
	checkConsentClientIDs(ctx, t, s, "missing")
}

func testConsentUnknownUserOrClient(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	mustCreateClient(ctx, t, s, newClient("c1"))
	for _, c := range []store.Consent{newConsent("missing", "c1"), newConsent("u1", "missing")} {
		if err := s.PutConsent(ctx, c); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutConsent(%s, %s) error = %v, want ErrNotFound", c.UserID, c.ClientID, err)
		}
		checkConsentExists(ctx, t, s, c.UserID, c.ClientID, false)
	}
	checkConsentClientIDs(ctx, t, s, "u1")
	checkConsentClientIDs(ctx, t, s, "missing")
}

func testConsentList(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	mustCreate(ctx, t, s, newUser("u2"))
	mustCreate(ctx, t, s, newUser("u3"))
	// Given out of order; listed by client ID, bytewise.
	clients := []string{"c2", "B", "c10", "a", "c1"}
	for _, id := range clients {
		mustCreateClient(ctx, t, s, newClient(id))
	}
	for i, id := range clients {
		c := newConsent("u1", id)
		c.GrantedAt = base.Add(-time.Duration(i) * time.Minute)
		mustPutConsent(ctx, t, s, c)
	}
	mustPutConsent(ctx, t, s, newConsent("u2", "c1"))
	mustPutConsent(ctx, t, s, newConsent("u2", "a"))

	list := checkConsentClientIDs(ctx, t, s, "u1", "B", "a", "c1", "c10", "c2")
	for _, c := range list {
		want := newConsent("u1", c.ClientID)
		want.GrantedAt = base.Add(-time.Duration(slices.Index(clients, c.ClientID)) * time.Minute)
		checkConsent(t, "listed consent", c, want)
	}
	for _, c := range checkConsentClientIDs(ctx, t, s, "u2", "a", "c1") {
		checkConsent(t, "listed consent", c, newConsent("u2", c.ClientID))
	}
	checkConsentClientIDs(ctx, t, s, "u3")
}

func testConsentDelete(ctx context.Context, t *testing.T, s store.Store) {
	consentFixture(ctx, t, s)
	if err := s.DeleteConsent(ctx, "u1", "c1"); err != nil {
		t.Fatalf("DeleteConsent: %v", err)
	}
	checkConsentExists(ctx, t, s, "u1", "c1", false)
	if err := s.DeleteConsent(ctx, "u1", "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteConsent error = %v, want ErrNotFound", err)
	}
	checkConsentExists(ctx, t, s, "u1", "c2", true)
	checkConsentExists(ctx, t, s, "u2", "c1", true)
	checkConsentClientIDs(ctx, t, s, "u1", "c2")
	// The user and the client stay.
	mustGet(ctx, t, s, "u1")
	mustGetClient(ctx, t, s, "c1")
	// And the consent can be given again.
	mustPutConsent(ctx, t, s, newConsent("u1", "c1"))
	checkConsentClientIDs(ctx, t, s, "u1", "c1", "c2")
}
