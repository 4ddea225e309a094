package storetest

// The second-factor part of the suite.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/store"
)

// factorTests run in Run, after the OpenID Connect tests.
var factorTests = []struct {
	name string
	run  func(ctx context.Context, t *testing.T, s store.Store)
}{
	{"FactorCreateGet", testFactorCreateGet},
	{"FactorEmptyValues", testFactorEmptyValues},
	{"FactorNotFound", testFactorNotFound},
	{"FactorCreateDuplicateID", testFactorCreateDuplicateID},
	{"FactorUnknownUser", testFactorUnknownUser},
	{"FactorList", testFactorList},
	{"FactorUpdate", testFactorUpdate},
	{"FactorUpdaterError", testFactorUpdaterError},
	{"FactorUpdateCannotChangeIDOrUser", testFactorUpdateCannotChangeIDOrUser},
	{"FactorDelete", testFactorDelete},
	{"UserDeleteCascadesFactors", testUserDeleteCascadesFactors},
	{"ConcurrentFactorConsume", testConcurrentFactorConsume},
}

// factorMultiNodeTests run in RunMultiNode.
var factorMultiNodeTests = []struct {
	name string
	run  func(ctx context.Context, t *testing.T, nodes []store.Store)
}{
	{"FactorSeenByOtherNode", testFactorSeenByOtherNode},
	{"FactorConsumeRace", testFactorConsumeRace},
}

// newFactor returns a factor of userID with every field set.
func newFactor(id, userID string, created time.Time) store.Factor {
	return store.Factor{
		ID:         id,
		UserID:     userID,
		Kind:       "totp",
		Name:       "Phone 日本語 " + id,
		Secret:     append([]byte("sealed:"+id+":"), allBytes...),
		Data:       append([]byte(`{"k":"`+id+`"}`), reversed(allBytes)...),
		CreatedAt:  created,
		LastUsedAt: created.Add(time.Hour),
		Confirmed:  true,
	}
}

func mustCreateFactor(ctx context.Context, t *testing.T, s store.Store, f store.Factor) {
	t.Helper()
	if err := s.CreateFactor(ctx, f); err != nil {
		t.Fatalf("CreateFactor(%s): %v", f.ID, err)
	}
}

func mustGetFactor(ctx context.Context, t *testing.T, s store.Store, id string) store.Factor {
	t.Helper()
	f, err := s.GetFactor(ctx, id)
	if err != nil {
		t.Fatalf("GetFactor(%s): %v", id, err)
	}
	return f
}

func checkFactor(t *testing.T, what string, got, want store.Factor) {
	t.Helper()
	var d diffs
	d.field("ID", got.ID, want.ID)
	d.field("UserID", got.UserID, want.UserID)
	d.field("Kind", got.Kind, want.Kind)
	d.field("Name", got.Name, want.Name)
	d.bytes("Secret", got.Secret, want.Secret)
	d.bytes("Data", got.Data, want.Data)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	d.field("Confirmed", got.Confirmed, want.Confirmed)
	d.report(t, what)
}

func checkFactorIDs(t *testing.T, what string, got []store.Factor, want ...string) {
	t.Helper()
	ids := make([]string, len(got))
	for i, f := range got {
		ids[i] = f.ID
	}
	var d diffs
	d.list(what+" IDs", ids, want)
	d.report(t, what)
}

func listFactorIDs(ctx context.Context, t *testing.T, s store.Store, userID string, want ...string) {
	t.Helper()
	got, err := s.ListFactors(ctx, userID)
	if err != nil {
		t.Fatalf("ListFactors(%s): %v", userID, err)
	}
	checkFactorIDs(t, "ListFactors("+userID+")", got, want...)
}

func testFactorCreateGet(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	want := newFactor("f1", "u1", base)
	mustCreateFactor(ctx, t, s, want)
	mustCreateFactor(ctx, t, s, newFactor("f2", "u1", base)) // a neighbour the read must not return
	checkFactor(t, "GetFactor", mustGetFactor(ctx, t, s, "f1"), want)

	// The caller's slices are not kept: changing them changes nothing stored.
	want.Secret[0] ^= 0xff
	got := mustGetFactor(ctx, t, s, "f1")
	want.Secret[0] ^= 0xff
	checkFactor(t, "GetFactor after the caller changed its slice", got, want)
}

// testFactorEmptyValues: a recovery-code set has no secret, and a new
// factor is unconfirmed and never used.
func testFactorEmptyValues(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	want := store.Factor{ID: "f1", UserID: "u1", Kind: "recovery", CreatedAt: base}
	mustCreateFactor(ctx, t, s, want)
	got := mustGetFactor(ctx, t, s, "f1")
	checkFactor(t, "GetFactor", got, want)
	if !got.LastUsedAt.IsZero() {
		t.Errorf("LastUsedAt = %v, want the zero time", got.LastUsedAt)
	}
	if len(got.Secret) != 0 || len(got.Data) != 0 {
		t.Errorf("Secret, Data = %x, %x; want empty", got.Secret, got.Data)
	}

	empty := store.Factor{ID: "f2", UserID: "u1", Kind: "recovery", Secret: []byte{}, Data: []byte{}, CreatedAt: base}
	mustCreateFactor(ctx, t, s, empty)
	checkFactor(t, "GetFactor (empty slices)", mustGetFactor(ctx, t, s, "f2"), empty)
}

func testFactorNotFound(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	mustCreateFactor(ctx, t, s, newFactor("f1", "u1", base))

	if _, err := s.GetFactor(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetFactor(missing) error = %v, want ErrNotFound", err)
	}
	called := false
	_, err := s.UpdateFactor(ctx, "missing", func(f store.Factor) (store.Factor, error) {
		called = true
		return f, nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateFactor(missing) error = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("UpdateFactor(missing) called the updater")
	}
	if err := s.DeleteFactor(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteFactor(missing) error = %v, want ErrNotFound", err)
	}
	// A member without factors, or no member at all, has an empty list.
	mustCreate(ctx, t, s, newUser("u2"))
	listFactorIDs(ctx, t, s, "u2")
	listFactorIDs(ctx, t, s, "nobody")
}

func testFactorCreateDuplicateID(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	mustCreate(ctx, t, s, newUser("u2"))
	orig := newFactor("f1", "u1", base)
	mustCreateFactor(ctx, t, s, orig)

	dup := newFactor("f1", "u2", base.Add(time.Hour))
	dup.Kind = "recovery"
	if err := s.CreateFactor(ctx, dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateFactor(same ID) error = %v, want ErrAlreadyExists", err)
	}
	checkFactor(t, "original after duplicate", mustGetFactor(ctx, t, s, "f1"), orig)
	listFactorIDs(ctx, t, s, "u2")
}

func testFactorUnknownUser(ctx context.Context, t *testing.T, s store.Store) {
	err := s.CreateFactor(ctx, newFactor("f1", "nobody", base))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreateFactor(unknown user) error = %v, want ErrNotFound", err)
	}
	if _, err := s.GetFactor(ctx, "f1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetFactor after a refused create: error = %v, want ErrNotFound", err)
	}
}

func testFactorList(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	mustCreate(ctx, t, s, newUser("u2"))
	// Made out of order; f-b and f-a in the same microsecond (ordered by
	// ID), f-old before the epoch.
	for _, f := range []store.Factor{
		newFactor("f-late", "u1", base.Add(time.Hour)),
		newFactor("f-b", "u1", base),
		newFactor("other", "u2", base.Add(-time.Hour)),
		newFactor("f-a", "u1", base),
		newFactor("f-old", "u1", time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)),
	} {
		mustCreateFactor(ctx, t, s, f)
	}
	got, err := s.ListFactors(ctx, "u1")
	if err != nil {
		t.Fatalf("ListFactors: %v", err)
	}
	checkFactorIDs(t, "ListFactors(u1)", got, "f-old", "f-a", "f-b", "f-late")
	if len(got) == 4 {
		checkFactor(t, "listed f-a", got[1], newFactor("f-a", "u1", base))
	}
	listFactorIDs(ctx, t, s, "u2", "other")
}

func testFactorUpdate(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	orig := newFactor("f1", "u1", base)
	orig.Confirmed = false
	orig.LastUsedAt = time.Time{}
	mustCreateFactor(ctx, t, s, orig)
	other := newFactor("f2", "u1", base)
	mustCreateFactor(ctx, t, s, other)

	used := base.In(time.FixedZone("PST", -8*60*60)).Add(time.Hour + 7*time.Microsecond)
	want := store.Factor{
		ID:         "f1",
		UserID:     "u1",
		Kind:       "recovery",
		Name:       "renamed",
		Secret:     nil,
		Data:       allBytes,
		CreatedAt:  base.Add(-time.Minute),
		LastUsedAt: used,
		Confirmed:  true,
	}
	var seen store.Factor
	got, err := s.UpdateFactor(ctx, "f1", func(old store.Factor) (store.Factor, error) {
		seen = old
		return want, nil
	})
	if err != nil {
		t.Fatalf("UpdateFactor: %v", err)
	}
	checkFactor(t, "updater's argument", seen, orig)
	checkFactor(t, "UpdateFactor result", got, want)
	checkFactor(t, "GetFactor after update", mustGetFactor(ctx, t, s, "f1"), want)
	checkFactor(t, "the other factor", mustGetFactor(ctx, t, s, "f2"), other)
	// The new CreatedAt moves it first.
	listFactorIDs(ctx, t, s, "u1", "f1", "f2")

	// And back to a zero LastUsedAt.
	want.LastUsedAt = time.Time{}
	if _, err := s.UpdateFactor(ctx, "f1", func(f store.Factor) (store.Factor, error) {
		f.LastUsedAt = time.Time{}
		return f, nil
	}); err != nil {
		t.Fatalf("UpdateFactor (clear LastUsedAt): %v", err)
	}
	checkFactor(t, "GetFactor after second update", mustGetFactor(ctx, t, s, "f1"), want)
}

func testFactorUpdaterError(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	orig := newFactor("f1", "u1", base)
	mustCreateFactor(ctx, t, s, orig)

	errStop := errors.New("updater refuses")
	_, err := s.UpdateFactor(ctx, "f1", func(f store.Factor) (store.Factor, error) {
		f.Name = "changed"
		return f, fmt.Errorf("wrapped: %w", errStop)
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("UpdateFactor error = %v, want the updater's error", err)
	}
	checkFactor(t, "after aborted update", mustGetFactor(ctx, t, s, "f1"), orig)
	if _, err := s.UpdateFactor(ctx, "f1", func(f store.Factor) (store.Factor, error) {
		f.Name = "changed"
		return f, nil
	}); err != nil {
		t.Fatalf("UpdateFactor after an aborted one: %v", err)
	}
}

// testFactorUpdateCannotChangeIDOrUser: a backend may refuse the update or
// ignore the new ID or user; either way the factor stays where it was.
func testFactorUpdateCannotChangeIDOrUser(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	mustCreate(ctx, t, s, newUser("u2"))
	mustCreateFactor(ctx, t, s, newFactor("f1", "u1", base))

	got, err := s.UpdateFactor(ctx, "f1", func(f store.Factor) (store.Factor, error) {
		f.ID = "f2"
		return f, nil
	})
	if err == nil && got.ID != "f1" {
		t.Errorf("UpdateFactor returned ID %q, want f1", got.ID)
	}
	if _, err := s.GetFactor(ctx, "f2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetFactor(f2) error = %v, want ErrNotFound", err)
	}

	got, err = s.UpdateFactor(ctx, "f1", func(f store.Factor) (store.Factor, error) {
		f.UserID = "u2"
		return f, nil
	})
	if err == nil && got.UserID != "u1" {
		t.Errorf("UpdateFactor returned UserID %q, want u1", got.UserID)
	}
	if f := mustGetFactor(ctx, t, s, "f1"); f.UserID != "u1" {
		t.Errorf("after an updater moved it, the factor belongs to %q, want u1", f.UserID)
	}
	listFactorIDs(ctx, t, s, "u1", "f1")
	listFactorIDs(ctx, t, s, "u2")
}

func testFactorDelete(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	mustCreateFactor(ctx, t, s, newFactor("f1", "u1", base))
	f2 := newFactor("f2", "u1", base.Add(time.Second))
	mustCreateFactor(ctx, t, s, f2)

	if err := s.DeleteFactor(ctx, "f1"); err != nil {
		t.Fatalf("DeleteFactor: %v", err)
	}
	if _, err := s.GetFactor(ctx, "f1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetFactor(deleted) error = %v, want ErrNotFound", err)
	}
	if err := s.DeleteFactor(ctx, "f1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteFactor error = %v, want ErrNotFound", err)
	}
	checkFactor(t, "the other factor", mustGetFactor(ctx, t, s, "f2"), f2)
	listFactorIDs(ctx, t, s, "u1", "f2")
	mustGet(ctx, t, s, "u1") // the member stays

	// The ID is free again.
	mustCreateFactor(ctx, t, s, newFactor("f1", "u1", base.Add(time.Minute)))
}

func testUserDeleteCascadesFactors(ctx context.Context, t *testing.T, s store.Store) {
	mustCreate(ctx, t, s, newUser("u1"))
	mustCreate(ctx, t, s, newUser("u2"))
	mustCreateFactor(ctx, t, s, newFactor("f1", "u1", base))
	mustCreateFactor(ctx, t, s, newFactor("f2", "u1", base))
	mustCreateFactor(ctx, t, s, newFactor("f3", "u2", base))

	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	for _, id := range []string{"f1", "f2"} {
		if _, err := s.GetFactor(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetFactor(%s) of a deleted user: error = %v, want ErrNotFound", id, err)
		}
	}
	listFactorIDs(ctx, t, s, "u1")
	listFactorIDs(ctx, t, s, "u2", "f3")

	// The user made again starts without factors.
	mustCreate(ctx, t, s, newUser("u1"))
	listFactorIDs(ctx, t, s, "u1")
}

// codeSet is the Data of the factor raceConsume fights over: one-time
// codes and whether each is used, as a recovery-code set keeps them.
type codeSet struct {
	Used map[string]bool `json:"used"`
}

var errCodeUsed = errors.New("code already used")

// raceConsume has n goroutines, spread over stores, each try to consume
// the same one-time code of a factor through UpdateFactor, all started at
// once: the updater fails when the code is used, and marks it used
// otherwise. Exactly one may succeed; a lost update lets two through.
func raceConsume(ctx context.Context, t *testing.T, stores []store.Store, n int) {
	t.Helper()
	mustCreate(ctx, t, stores[0], newUser("u1"))
	data, err := json.Marshal(codeSet{Used: map[string]bool{"abcde-fghij": false, "other": false}})
	if err != nil {
		t.Fatal(err)
	}
	mustCreateFactor(ctx, t, stores[0], store.Factor{ID: "r1", UserID: "u1", Kind: "recovery",
		Data: data, CreatedAt: base, Confirmed: true})

	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			_, errs[i] = s.UpdateFactor(ctx, "r1", func(f store.Factor) (store.Factor, error) {
				var set codeSet
				if err := json.Unmarshal(f.Data, &set); err != nil {
					return f, err
				}
				if set.Used["abcde-fghij"] {
					return f, errCodeUsed
				}
				// Widen the window between read and write, where a
				// backend without a lock lets another caller in.
				time.Sleep(time.Millisecond)
				set.Used["abcde-fghij"] = true
				b, err := json.Marshal(set)
				if err != nil {
					return f, err
				}
				f.Data = b
				f.LastUsedAt = base.Add(time.Duration(i) * time.Second)
				return f, nil
			})
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, errCodeUsed):
			t.Errorf("UpdateFactor (caller %d) error = %v, want nil or the updater's error", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d callers consumed the one-time code, want 1", won, n)
	}
	var set codeSet
	f := mustGetFactor(ctx, t, stores[len(stores)-1], "r1")
	if err := json.Unmarshal(f.Data, &set); err != nil {
		t.Fatalf("stored Data: %v", err)
	}
	if !set.Used["abcde-fghij"] || set.Used["other"] {
		t.Errorf("after the race the codes are %v, want only abcde-fghij used", set.Used)
	}
}

func testConcurrentFactorConsume(ctx context.Context, t *testing.T, s store.Store) {
	raceConsume(ctx, t, []store.Store{s}, 20)
}

func testFactorConsumeRace(ctx context.Context, t *testing.T, nodes []store.Store) {
	raceConsume(ctx, t, nodes, 20)
}

func testFactorSeenByOtherNode(ctx context.Context, t *testing.T, nodes []store.Store) {
	mustCreate(ctx, t, nodes[0], newUser("u1"))
	want := newFactor("f1", "u1", base)
	mustCreateFactor(ctx, t, nodes[0], want)
	checkFactor(t, "read on the other node", mustGetFactor(ctx, t, nodes[1], "f1"), want)

	if _, err := nodes[1].UpdateFactor(ctx, "f1", func(f store.Factor) (store.Factor, error) {
		f.Name = "changed on node 1"
		return f, nil
	}); err != nil {
		t.Fatalf("UpdateFactor on the other node: %v", err)
	}
	want.Name = "changed on node 1"
	checkFactor(t, "read back on the first node", mustGetFactor(ctx, t, nodes[0], "f1"), want)

	if err := nodes[0].DeleteFactor(ctx, "f1"); err != nil {
		t.Fatalf("DeleteFactor: %v", err)
	}
	if _, err := nodes[1].GetFactor(ctx, "f1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetFactor on the other node after delete: error = %v, want ErrNotFound", err)
	}
}
