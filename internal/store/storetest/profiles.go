package storetest

// The sealed-profile part of the suite.

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/kaiin-project/kaiin/internal/store"
)

var profileTests = []struct {
	name string
	run  func(ctx context.Context, t *testing.T, s store.Store)
}{
	{"ProfilePutGet", testProfilePutGet},
	{"ProfileLookups", testProfileLookups},
	{"ProfileLookupTaken", testProfileLookupTaken},
	{"ProfileUnknownUser", testProfileUnknownUser},
	{"ProfileDelete", testProfileDelete},
	{"UserDeleteCascadesProfile", testUserDeleteCascadesProfile},
	{"ConcurrentLookupClaim", testConcurrentLookupClaim},
}

func sealedProfile(userID string) store.SealedProfile {
	return store.SealedProfile{UserID: userID, WrappedKey: append([]byte("wrapped:"), allBytes...),
		Blobs: map[string][]byte{"name": allBytes, "phone": reversed(allBytes), "address": {}}, UpdatedAt: base}
}

func testProfilePutGet(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	if _, err := s.GetProfile(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetProfile before Put = %v; want ErrNotFound", err)
	}
	want := sealedProfile("u1")
	if err := s.PutProfile(ctx, want, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetProfile(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.WrappedKey, want.WrappedKey) || !got.UpdatedAt.Equal(base) || len(got.Blobs) != 3 ||
		!bytes.Equal(got.Blobs["name"], allBytes) || !bytes.Equal(got.Blobs["phone"], reversed(allBytes)) || len(got.Blobs["address"]) != 0 {
		t.Fatalf("round trip: %+v", got)
	}
	// Replace: a group may go, another change.
	want.Blobs = map[string][]byte{"name": []byte("v2")}
	if err := s.PutProfile(ctx, want, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetProfile(ctx, "u1"); len(got.Blobs) != 1 || string(got.Blobs["name"]) != "v2" {
		t.Fatalf("after replace: %+v", got.Blobs)
	}
}

func testProfileLookups(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	if err := s.PutProfile(ctx, sealedProfile("u1"), map[string]string{"phone": "idx-phone-1", "email": "idx-mail-1"}); err != nil {
		t.Fatal(err)
	}
	for kind, v := range map[string]string{"phone": "idx-phone-1", "email": "idx-mail-1"} {
		if id, err := s.LookupMember(ctx, kind, v); err != nil || id != "u1" {
			t.Fatalf("LookupMember(%s) = %q, %v", kind, id, err)
		}
	}
	if _, err := s.LookupMember(ctx, "email", "idx-phone-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a value found under another kind: %v", err)
	}
	// Changing the phone replaces its entry; "" removes one; absent kinds stay.
	if err := s.PutProfile(ctx, sealedProfile("u1"), map[string]string{"phone": "idx-phone-2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupMember(ctx, "phone", "idx-phone-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("old phone entry kept")
	}
	if id, _ := s.LookupMember(ctx, "email", "idx-mail-1"); id != "u1" {
		t.Fatal("an untouched kind was lost")
	}
	if err := s.PutProfile(ctx, sealedProfile("u1"), map[string]string{"phone": ""}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupMember(ctx, "phone", "idx-phone-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("removed phone entry kept")
	}
}

func testProfileLookupTaken(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	mustCreate(ctx, t, s, newUser("u2"))
	if err := s.PutProfile(ctx, sealedProfile("u1"), map[string]string{"phone": "same"}); err != nil {
		t.Fatal(err)
	}
	p2 := sealedProfile("u2")
	if err := s.PutProfile(ctx, p2, map[string]string{"phone": "same"}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("taken value = %v; want ErrAlreadyExists", err)
	}
	if _, err := s.GetProfile(ctx, "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("the failed PutProfile wrote the profile anyway")
	}
	if id, _ := s.LookupMember(ctx, "phone", "same"); id != "u1" {
		t.Fatal("the owner lost the value")
	}
}

func testProfileUnknownUser(ctx context.Context, t *testing.T, s store.Store) {
	if err := s.PutProfile(ctx, sealedProfile("nobody"), nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutProfile(unknown user) = %v; want ErrNotFound", err)
	}
}

func testProfileDelete(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	if err := s.PutProfile(ctx, sealedProfile("u1"), map[string]string{"phone": "p"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProfile(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetProfile(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("profile kept")
	}
	if _, err := s.LookupMember(ctx, "phone", "p"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("lookup kept")
	}
	if err := s.DeleteProfile(ctx, "u1"); err != nil {
		t.Fatalf("deleting twice = %v", err)
	}
}

func testUserDeleteCascadesProfile(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	if err := s.PutProfile(ctx, sealedProfile("u1"), map[string]string{"phone": "p"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetProfile(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("profile outlived its member (the wrapped key must go with them)")
	}
	if _, err := s.LookupMember(ctx, "phone", "p"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("lookup outlived its member")
	}
}

// Ten members claim one phone number at once: exactly one gets it.
func testConcurrentLookupClaim(ctx context.Context, t *testing.T, s store.Store) {
	const n = 10
	ids := make([]string, n)
	for i := range ids {
		ids[i] = string(rune('a'+i)) + "-member"
		mustCreate(ctx, t, s, newUser(ids[i]))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = s.PutProfile(ctx, sealedProfile(ids[i]), map[string]string{"phone": "contested"})
		}(i)
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrAlreadyExists):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d members got the same phone number; want 1", won)
	}
}
