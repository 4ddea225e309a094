// Package storetest is the conformance suite for store.Store: every backend
// runs it, so all of them keep the same promises (sentinel errors,
// transactional updates, time and byte round-trips, cascading deletes,
// races between callers and between nodes). The OpenID Connect part
// (clients, signing keys, consents) is in oidc.go, second factors in
// factors.go.
//
// A backend's test calls Run, and RunMultiNode when several nodes can share
// one database:
//
//	func TestSQLite(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { … })
//	}
package storetest

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

// timeout bounds each subtest, so a deadlocked backend fails instead of
// hanging the whole test binary.
const timeout = 30 * time.Second

// Run runs the suite, one subtest per behaviour. newStore must return a
// fresh, empty store, ready to use (migrated), and arrange its own cleanup
// with t.Cleanup; it is called once per subtest.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(ctx context.Context, t *testing.T, s store.Store)
	}{
		{"CreateGet", testCreateGet},
		{"NotFound", testNotFound},
		{"CreateDuplicateID", testCreateDuplicateID},
		{"CreateDuplicateEmail", testCreateDuplicateEmail},
		{"ZeroTimes", testZeroTimes},
		{"Update", testUpdate},
		{"UpdateEmailTaken", testUpdateEmailTaken},
		{"UpdaterError", testUpdaterError},
		{"UpdateCannotChangeID", testUpdateCannotChangeID},
		{"Delete", testDelete},
		{"Count", testCount},
		{"Secrets", testSecrets},
		{"SecretGeneratorError", testSecretGeneratorError},
		{"Ping", testPing},
		{"ConcurrentUpdate", testConcurrentUpdate},
		{"ConcurrentSecret", testConcurrentSecret},
		{"ConcurrentCreateSameEmail", testConcurrentCreateSameEmail},
	}
	tests = append(tests, oidcTests...)
	tests = append(tests, factorTests...)
	tests = append(tests, profileTests...)
	tests = append(tests, auditTests...)
	tests = append(tests, routeTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			tc.run(ctx, t, s)
		})
	}
}

// RunMultiNode runs the races that must hold between nodes. newNodes must
// return n stores on one fresh, empty, migrated database, each as separate
// as two servers would be (for SQL backends: each with its own connection
// pool), and arrange their cleanup with t.Cleanup.
func RunMultiNode(t *testing.T, newNodes func(t *testing.T, n int) []store.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(ctx context.Context, t *testing.T, nodes []store.Store)
	}{
		{"SeenByOtherNode", testSeenByOtherNode},
		{"SecretRace", testSecretRace},
		{"UpdateRace", testUpdateRace},
		{"EmailRace", testEmailRace},
	}
	tests = append(tests, oidcMultiNodeTests...)
	tests = append(tests, factorMultiNodeTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := newNodes(t, 2)
			if len(nodes) != 2 {
				t.Fatalf("newNodes returned %d stores, want 2", len(nodes))
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			tc.run(ctx, t, nodes)
		})
	}
}

// base is a time with microseconds, outside UTC, so that the suite checks
// that backends return UTC without losing the instant.
var base = time.Date(2026, 8, 1, 9, 30, 15, 123456000, time.FixedZone("JST", 9*60*60))

// newUser returns a user with every field set.
func newUser(id string) store.User {
	return store.User{
		ID:                id,
		Email:             id + "@example.com",
		EmailVerified:     true,
		PasswordHash:      "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Admin:             false,
		Locale:            "ja",
		CreatedAt:         base,
		UpdatedAt:         base.Add(time.Minute),
		PasswordChangedAt: base.Add(2 * time.Minute),
	}
}

func mustCreate(ctx context.Context, t *testing.T, s store.Store, u store.User) {
	t.Helper()
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser(%s): %v", u.ID, err)
	}
}

func mustGet(ctx context.Context, t *testing.T, s store.Store, id string) store.User {
	t.Helper()
	u, err := s.GetUser(ctx, id)
	if err != nil {
		t.Fatalf("GetUser(%s): %v", id, err)
	}
	return u
}

// checkUser fails t unless got equals want field by field, with times as
// the same instant and got's in UTC.
func checkUser(t *testing.T, what string, got, want store.User) {
	t.Helper()
	var diffs []string
	field := func(name string, g, w any) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	field("ID", got.ID, want.ID)
	field("Email", got.Email, want.Email)
	field("EmailVerified", got.EmailVerified, want.EmailVerified)
	field("PasswordHash", got.PasswordHash, want.PasswordHash)
	field("Admin", got.Admin, want.Admin)
	field("Locale", got.Locale, want.Locale)
	times := []struct {
		name      string
		got, want time.Time
	}{
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
		{"PasswordChangedAt", got.PasswordChangedAt, want.PasswordChangedAt},
	}
	for _, tm := range times {
		switch {
		case !tm.got.Equal(tm.want):
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", tm.name, tm.got, tm.want))
		case !tm.got.IsZero() && tm.got.Location() != time.UTC:
			diffs = append(diffs, fmt.Sprintf("%s is in %v, want UTC", tm.name, tm.got.Location()))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("%s:\n\t%s", what, strings.Join(diffs, "\n\t"))
	}
}

func testCreateGet(ctx context.Context, t *testing.T, s store.Store) {
	want := newUser("u1")
	mustCreate(ctx, t, s, want)
	mustCreate(ctx, t, s, newUser("u2")) // a neighbour the reads must not return

	got, err := s.GetUser(ctx, "u1")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	checkUser(t, "GetUser", got, want)

	got, err = s.GetUserByEmail(ctx, want.Email)
	if err != nil {
		t.Fatalf("GetUserByEmail: %v", err)
	}
	checkUser(t, "GetUserByEmail", got, want)
}

func testNotFound(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))

	if _, err := s.GetUser(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(missing) error = %v, want ErrNotFound", err)
	}
	// Emails are matched exactly: normalising is the caller's job.
	for _, email := range []string{"missing@example.com", "U1@example.com", ""} {
		if _, err := s.GetUserByEmail(ctx, email); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUserByEmail(%q) error = %v, want ErrNotFound", email, err)
		}
	}
	called := false
	_, err := s.UpdateUser(ctx, "missing", func(u store.User) (store.User, error) {
		called = true
		return u, nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateUser(missing) error = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("UpdateUser(missing) called the updater")
	}
	if err := s.DeleteUser(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUser(missing) error = %v, want ErrNotFound", err)
	}
}

func testCreateDuplicateID(ctx context.Context, t *testing.T, s store.Store) {
	orig := newUser("u1")
	mustCreate(ctx, t, s, orig)

	dup := newUser("u1")
	dup.Email = "other@example.com"
	if err := s.CreateUser(ctx, dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser(same ID) error = %v, want ErrAlreadyExists", err)
	}
	checkUser(t, "original after duplicate", mustGet(ctx, t, s, "u1"), orig)
	if _, err := s.GetUserByEmail(ctx, dup.Email); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("duplicate's email: error = %v, want ErrNotFound", err)
	}
}

func testCreateDuplicateEmail(ctx context.Context, t *testing.T, s store.Store) {
	orig := newUser("u1")
	mustCreate(ctx, t, s, orig)

	dup := newUser("u2")
	dup.Email = orig.Email
	if err := s.CreateUser(ctx, dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser(same email) error = %v, want ErrAlreadyExists", err)
	}
	if _, err := s.GetUser(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(u2) error = %v, want ErrNotFound", err)
	}
	got, err := s.GetUserByEmail(ctx, orig.Email)
	if err != nil {
		t.Fatalf("GetUserByEmail: %v", err)
	}
	checkUser(t, "owner of the email", got, orig)
}

// testZeroTimes: an account without a password has no PasswordChangedAt;
// its zero value must come back as zero.
func testZeroTimes(ctx context.Context, t *testing.T, s store.Store) {
	u := newUser("u1")
	u.PasswordHash = ""
	u.PasswordChangedAt = time.Time{}
	u.EmailVerified = false
	u.Locale = ""
	mustCreate(ctx, t, s, u)
	got := mustGet(ctx, t, s, "u1")
	checkUser(t, "GetUser", got, u)
	if !got.PasswordChangedAt.IsZero() {
		t.Errorf("PasswordChangedAt = %v, want the zero time", got.PasswordChangedAt)
	}
}

func testUpdate(ctx context.Context, t *testing.T, s store.Store) {
	orig := newUser("u1")
	mustCreate(ctx, t, s, orig)
	other := newUser("u2")
	mustCreate(ctx, t, s, other)

	// A time in another zone, and one earlier than the Unix epoch, must
	// both come back as the same instant.
	changed := base.In(time.FixedZone("PST", -8*60*60)).Add(time.Hour + 7*time.Microsecond)
	want := store.User{
		ID:                "u1",
		Email:             "new@example.com",
		EmailVerified:     false,
		PasswordHash:      "$argon2id$v=19$m=65536,t=3,p=4$bmV3$bmV3",
		Admin:             true,
		Locale:            "en",
		CreatedAt:         time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC),
		UpdatedAt:         changed,
		PasswordChangedAt: changed,
	}
	var seen store.User
	got, err := s.UpdateUser(ctx, "u1", func(old store.User) (store.User, error) {
		seen = old
		return want, nil
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	checkUser(t, "updater's argument", seen, orig)
	checkUser(t, "UpdateUser result", got, want)
	checkUser(t, "GetUser after update", mustGet(ctx, t, s, "u1"), want)

	byEmail, err := s.GetUserByEmail(ctx, want.Email)
	if err != nil {
		t.Fatalf("GetUserByEmail(new email): %v", err)
	}
	checkUser(t, "GetUserByEmail(new email)", byEmail, want)
	if _, err := s.GetUserByEmail(ctx, orig.Email); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByEmail(old email) error = %v, want ErrNotFound", err)
	}
	checkUser(t, "the other user", mustGet(ctx, t, s, "u2"), other)

	// Keeping one's own email is not a conflict.
	want.Locale = "ja"
	if _, err := s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
		u.Locale = "ja"
		return u, nil
	}); err != nil {
		t.Fatalf("UpdateUser(same email): %v", err)
	}
	checkUser(t, "GetUser after second update", mustGet(ctx, t, s, "u1"), want)
}

func testUpdateEmailTaken(ctx context.Context, t *testing.T, s store.Store) {
	u1, u2 := newUser("u1"), newUser("u2")
	mustCreate(ctx, t, s, u1)
	mustCreate(ctx, t, s, u2)

	_, err := s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
		u.Email = u2.Email
		u.Locale = "en" // must not be written either
		return u, nil
	})
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("UpdateUser(taken email) error = %v, want ErrAlreadyExists", err)
	}
	checkUser(t, "u1 after refused update", mustGet(ctx, t, s, "u1"), u1)
	checkUser(t, "u2 after refused update", mustGet(ctx, t, s, "u2"), u2)
}

func testUpdaterError(ctx context.Context, t *testing.T, s store.Store) {
	orig := newUser("u1")
	mustCreate(ctx, t, s, orig)

	errStop := errors.New("updater refuses")
	_, err := s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
		u.Locale = "en"
		return u, fmt.Errorf("wrapped: %w", errStop)
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("UpdateUser error = %v, want the updater's error", err)
	}
	checkUser(t, "after aborted update", mustGet(ctx, t, s, "u1"), orig)

	// The aborted transaction must not hold anything: a later update works.
	if _, err := s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
		u.Locale = "en"
		return u, nil
	}); err != nil {
		t.Fatalf("UpdateUser after an aborted one: %v", err)
	}
}

// testUpdateCannotChangeID: a backend may refuse the update or ignore the
// new ID; either way the user stays under its ID and no other appears.
func testUpdateCannotChangeID(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	got, err := s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
		u.ID = "u2"
		return u, nil
	})
	if err == nil && got.ID != "u1" {
		t.Errorf("UpdateUser returned ID %q, want u1", got.ID)
	}
	mustGet(ctx, t, s, "u1")
	if _, err := s.GetUser(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(u2) error = %v, want ErrNotFound", err)
	}
	if n, _, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", n, err)
	}
}

func testDelete(ctx context.Context, t *testing.T, s store.Store) {
	u1 := newUser("u1")
	mustCreate(ctx, t, s, u1)
	u2 := newUser("u2")
	mustCreate(ctx, t, s, u2)

	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.GetUser(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(deleted) error = %v, want ErrNotFound", err)
	}
	if _, err := s.GetUserByEmail(ctx, u1.Email); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByEmail(deleted) error = %v, want ErrNotFound", err)
	}
	if err := s.DeleteUser(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteUser error = %v, want ErrNotFound", err)
	}
	checkUser(t, "the other user", mustGet(ctx, t, s, "u2"), u2)

	// The email is free again.
	u3 := newUser("u3")
	u3.Email = u1.Email
	mustCreate(ctx, t, s, u3)
}

func testCount(ctx context.Context, t *testing.T, s store.Store) {
	check := func(wantUsers, wantAdmins int64) {
		t.Helper()
		users, admins, err := s.CountUsers(ctx)
		if err != nil {
			t.Fatalf("CountUsers: %v", err)
		}
		if users != wantUsers || admins != wantAdmins {
			t.Errorf("CountUsers = %d users, %d admins; want %d, %d", users, admins, wantUsers, wantAdmins)
		}
	}
	check(0, 0)
	for _, id := range []string{"u1", "u2", "u3"} {
		mustCreate(ctx, t, s, newUser(id))
	}
	admin := newUser("a1")
	admin.Admin = true
	mustCreate(ctx, t, s, admin)
	check(4, 1)

	if _, err := s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
		u.Admin = true
		return u, nil
	}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	check(4, 2)
	if err := s.DeleteUser(ctx, "a1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	check(3, 1)
}

func testSecrets(ctx context.Context, t *testing.T, s store.Store) {
	first := []byte{0x00, 0x01, 0xfe, 0xff, 'k', 0x00} // arbitrary bytes, NULs included
	got, err := s.GetOrCreateSecret(ctx, "cookie", func() ([]byte, error) { return first, nil })
	if err != nil {
		t.Fatalf("GetOrCreateSecret (create): %v", err)
	}
	if !bytes.Equal(got, first) {
		t.Fatalf("GetOrCreateSecret (create) = %x, want %x", got, first)
	}

	again, err := s.GetOrCreateSecret(ctx, "cookie", func() ([]byte, error) {
		t.Error("generator called for an existing secret")
		return []byte("other"), nil
	})
	if err != nil {
		t.Fatalf("GetOrCreateSecret (existing): %v", err)
	}
	if !bytes.Equal(again, first) {
		t.Errorf("GetOrCreateSecret (existing) = %x, want %x", again, first)
	}
	// The returned slice is the caller's: changing it changes nothing stored.
	again[0] = 0x42

	other, err := s.GetOrCreateSecret(ctx, "csrf", func() ([]byte, error) { return []byte("second"), nil })
	if err != nil {
		t.Fatalf("GetOrCreateSecret (other name): %v", err)
	}
	if string(other) != "second" {
		t.Errorf("GetOrCreateSecret (other name) = %q, want %q", other, "second")
	}

	got, err = s.GetOrCreateSecret(ctx, "cookie", func() ([]byte, error) { return []byte("late"), nil })
	if err != nil || !bytes.Equal(got, first) {
		t.Errorf("GetOrCreateSecret (cookie, last) = %x, %v; want %x", got, err, first)
	}
}

func testSecretGeneratorError(ctx context.Context, t *testing.T, s store.Store) {
	errGen := errors.New("no entropy")
	if _, err := s.GetOrCreateSecret(ctx, "k", func() ([]byte, error) { return nil, errGen }); !errors.Is(err, errGen) {
		t.Fatalf("GetOrCreateSecret error = %v, want the generator's error", err)
	}
	// Nothing was stored: the next call generates.
	got, err := s.GetOrCreateSecret(ctx, "k", func() ([]byte, error) { return []byte("v"), nil })
	if err != nil || string(got) != "v" {
		t.Errorf("GetOrCreateSecret after a failed generator = %q, %v; want %q", got, err, "v")
	}
}

func testPing(ctx context.Context, t *testing.T, s store.Store) {
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// raceAppend has n goroutines, spread over stores, each append one distinct
// character to the same user's PasswordHash through UpdateUser, all started
// at once. A lost update drops a character.
func raceAppend(ctx context.Context, t *testing.T, stores []store.Store, n int) {
	t.Helper()
	mustCreate(ctx, t, stores[0], newUser("u1"))
	empty := func(u store.User) (store.User, error) { u.PasswordHash = ""; return u, nil }
	if _, err := stores[0].UpdateUser(ctx, "u1", empty); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		c := string(rune('A' + i))
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			_, err := s.UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
				// Widen the window between read and write, where a
				// backend without a lock lets another update in.
				time.Sleep(time.Millisecond)
				u.PasswordHash += c
				return u, nil
			})
			if err != nil {
				t.Errorf("UpdateUser (appending %s): %v", c, err)
			}
		})
	}
	close(start)
	wg.Wait()

	got := mustGet(ctx, t, stores[len(stores)-1], "u1").PasswordHash
	chars := strings.Split(got, "")
	slices.Sort(chars)
	var want []string
	for i := range n {
		want = append(want, string(rune('A'+i)))
	}
	if !slices.Equal(chars, want) {
		t.Errorf("after %d concurrent appends the field is %q: an update was lost", n, got)
	}
}

// raceSecret has n goroutines, spread over stores, each call
// GetOrCreateSecret on one name with its own generator, all started at
// once. All must receive the same value, which must be the one stored.
func raceSecret(ctx context.Context, t *testing.T, stores []store.Store, n int) {
	t.Helper()
	start := make(chan struct{})
	got := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			v, err := s.GetOrCreateSecret(ctx, "race", func() ([]byte, error) {
				// Slow, like a real key generation could be, so that
				// every caller finds the secret missing before any
				// stores it.
				time.Sleep(5 * time.Millisecond)
				return fmt.Appendf(nil, "generator-%d", i), nil
			})
			if err != nil {
				t.Errorf("GetOrCreateSecret (caller %d): %v", i, err)
			}
			got[i] = v
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	stored, err := stores[0].GetOrCreateSecret(ctx, "race", func() ([]byte, error) {
		return nil, errors.New("generator called after the race")
	})
	if err != nil {
		t.Fatalf("GetOrCreateSecret after the race: %v", err)
	}
	for i, v := range got {
		if !bytes.Equal(v, stored) {
			t.Errorf("caller %d got %q, the store holds %q", i, v, stored)
		}
	}
}

// raceEmail has n goroutines, spread over stores, each create a user of its
// own ID with one shared email. Exactly one may succeed.
func raceEmail(ctx context.Context, t *testing.T, stores []store.Store, n int) {
	t.Helper()
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			u := newUser(fmt.Sprintf("u%d", i))
			u.Email = "shared@example.com"
			errs[i] = s.CreateUser(ctx, u)
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrAlreadyExists):
			t.Errorf("CreateUser (caller %d) error = %v, want nil or ErrAlreadyExists", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d CreateUser calls with one email succeeded, want 1", won, n)
	}
	if users, _, err := stores[0].CountUsers(ctx); err != nil || users != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", users, err)
	}
}

func testConcurrentUpdate(ctx context.Context, t *testing.T, s store.Store) {
	raceAppend(ctx, t, []store.Store{s}, 20)
}

func testConcurrentSecret(ctx context.Context, t *testing.T, s store.Store) {
	raceSecret(ctx, t, []store.Store{s}, 10)
}

func testConcurrentCreateSameEmail(ctx context.Context, t *testing.T, s store.Store) {
	raceEmail(ctx, t, []store.Store{s}, 10)
}

func testSeenByOtherNode(ctx context.Context, t *testing.T, nodes []store.Store) {
	want := newUser("u1")
	mustCreate(ctx, t, nodes[0], want)
	checkUser(t, "read on the other node", mustGet(ctx, t, nodes[1], "u1"), want)

	if _, err := nodes[1].UpdateUser(ctx, "u1", func(u store.User) (store.User, error) {
		u.Locale = "en"
		return u, nil
	}); err != nil {
		t.Fatalf("UpdateUser on the other node: %v", err)
	}
	want.Locale = "en"
	checkUser(t, "read back on the first node", mustGet(ctx, t, nodes[0], "u1"), want)
}

func testSecretRace(ctx context.Context, t *testing.T, nodes []store.Store) {
	raceSecret(ctx, t, nodes, 10)
}

func testUpdateRace(ctx context.Context, t *testing.T, nodes []store.Store) {
	raceAppend(ctx, t, nodes, 20)
}

func testEmailRace(ctx context.Context, t *testing.T, nodes []store.Store) {
	raceEmail(ctx, t, nodes, 10)
}
