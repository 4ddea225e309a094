// Package statetest is the conformance suite that every state.State
// backend must pass (the pattern of Dex's storage/conformance): a backend's
// test calls Run with a function that opens a fresh, empty backend.
//
// The suite checks real expiry with short ttls, sleeping about half a
// second in all, so that it stays fast enough to run on every change.
package statetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/state"
)

// NewFunc opens one fresh, empty backend and returns two handles on it, as
// two nodes of a deployment would hold (two connection pools, two
// clients). Writes through one must be read back through the other. It
// registers any cleanup with t.Cleanup.
type NewFunc func(t *testing.T) (a, b state.State)

// Run runs the conformance suite, each named subtest on a fresh backend
// from newState. Subtests run one after another, so a NewFunc may reuse
// one server and empty it each time.
func Run(t *testing.T, newState NewFunc) {
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, a, b state.State)
	}{
		{"SetGet", testSetGet},
		{"NotFound", testNotFound},
		{"NonPositiveTTL", testNonPositiveTTL},
		{"SetNX", testSetNX},
		{"Take", testTake},
		{"TakeConcurrent", testTakeConcurrent},
		{"Delete", testDelete},
		{"DeleteAnyKind", testDeleteAnyKind},
		{"Expire", testExpire},
		{"Incr", testIncr},
		{"IncrConcurrent", testIncrConcurrent},
		{"Sets", testSets},
		{"SAddConcurrent", testSAddConcurrent},
		{"BinaryValues", testBinaryValues},
		{"KeysAreExact", testKeysAreExact},
		{"SecondNode", testSecondNode},
		{"Expiry", testExpiry},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newState(t)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			tc.run(t, ctx, a, b)
		})
	}
}

func testSetGet(t *testing.T, ctx context.Context, s, _ state.State) {
	mustSet(t, ctx, s, "k1", "v1", time.Minute)
	mustSet(t, ctx, s, "k2", "v2", time.Minute)
	wantValue(t, ctx, s, "k1", "v1")
	wantValue(t, ctx, s, "k2", "v2")

	mustSet(t, ctx, s, "k1", "v1 again, longer", time.Hour)
	wantValue(t, ctx, s, "k1", "v1 again, longer")
	wantValue(t, ctx, s, "k2", "v2")

	// The stored value must not alias the caller's slice.
	buf := []byte("original")
	if err := s.Set(ctx, "k3", buf, time.Minute); err != nil {
		t.Fatalf("Set: %v", err)
	}
	copy(buf, "changed!")
	wantValue(t, ctx, s, "k3", "original")
}

func testNotFound(t *testing.T, ctx context.Context, s, _ state.State) {
	if v, err := s.Get(ctx, "missing"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get(missing) = %q, %v; want ErrNotFound", v, err)
	}
	if v, err := s.Take(ctx, "missing"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Take(missing) = %q, %v; want ErrNotFound", v, err)
	}
	if err := s.Expire(ctx, "missing", time.Minute); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Expire(missing) = %v; want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "missing", "also missing"); err != nil {
		t.Errorf("Delete(missing keys) = %v; want nil", err)
	}
	if err := s.Delete(ctx); err != nil {
		t.Errorf("Delete() = %v; want nil", err)
	}
	if m, err := s.SMembers(ctx, "missing"); err != nil || len(m) != 0 {
		t.Errorf("SMembers(missing) = %q, %v; want empty", m, err)
	}
	if err := s.SRem(ctx, "missing", "x"); err != nil {
		t.Errorf("SRem(missing) = %v; want nil", err)
	}
}

// A ttl must be positive; a backend must refuse the others rather than
// store a key that never expires (Redis reads 0 as "no expiry").
func testNonPositiveTTL(t *testing.T, ctx context.Context, s, _ state.State) {
	mustSet(t, ctx, s, "live", "v", time.Minute)
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := s.Set(ctx, "k", []byte("v"), ttl); err == nil {
			t.Errorf("Set(ttl %v) = nil; want an error", ttl)
		}
		if _, err := s.SetNX(ctx, "k", []byte("v"), ttl); err == nil {
			t.Errorf("SetNX(ttl %v) = nil; want an error", ttl)
		}
		if err := s.Expire(ctx, "live", ttl); err == nil {
			t.Errorf("Expire(ttl %v) = nil; want an error", ttl)
		}
		if _, err := s.Incr(ctx, "c", ttl); err == nil {
			t.Errorf("Incr(window %v) = nil; want an error", ttl)
		}
		if err := s.SAdd(ctx, "set", "m", ttl); err == nil {
			t.Errorf("SAdd(ttl %v) = nil; want an error", ttl)
		}
	}
	wantValue(t, ctx, s, "live", "v")
	wantMissing(t, ctx, s, "k")
}

func testSetNX(t *testing.T, ctx context.Context, s, _ state.State) {
	wantSetNX(t, ctx, s, "nx", "first", true)
	wantSetNX(t, ctx, s, "nx", "second", false)
	wantValue(t, ctx, s, "nx", "first")

	mustDelete(t, ctx, s, "nx")
	wantSetNX(t, ctx, s, "nx", "third", true)
	wantValue(t, ctx, s, "nx", "third")

	// Set replaces what SetNX stored.
	mustSet(t, ctx, s, "nx", "fourth", time.Minute)
	wantValue(t, ctx, s, "nx", "fourth")
}

func testTake(t *testing.T, ctx context.Context, s, _ state.State) {
	mustSet(t, ctx, s, "once", "token", time.Minute)
	mustSet(t, ctx, s, "other", "kept", time.Minute)
	v, err := s.Take(ctx, "once")
	if err != nil || string(v) != "token" {
		t.Fatalf("Take = %q, %v; want %q", v, err, "token")
	}
	if v, err := s.Take(ctx, "once"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("second Take = %q, %v; want ErrNotFound", v, err)
	}
	wantMissing(t, ctx, s, "once")
	wantValue(t, ctx, s, "other", "kept")
	// A taken key is free again.
	wantSetNX(t, ctx, s, "once", "again", true)
}

// Of many concurrent Takes of one key exactly one gets the value: this is
// what makes authorization codes and one-time tokens single-use.
func testTakeConcurrent(t *testing.T, ctx context.Context, a, b state.State) {
	const takers = 20
	for round := range 3 {
		key := fmt.Sprintf("code%d", round)
		mustSet(t, ctx, a, key, "secret", time.Minute)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
			errs []error
		)
		for i := range takers {
			s := a
			if i%2 == 1 {
				s = b // half through the other node
			}
			wg.Go(func() {
				v, err := s.Take(ctx, key)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && string(v) == "secret":
					wins++
				case err == nil:
					errs = append(errs, fmt.Errorf("Take returned %q", v))
				case !errors.Is(err, state.ErrNotFound):
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("round %d: unexpected Take results: %v", round, errs)
		}
		if wins != 1 {
			t.Fatalf("round %d: %d of %d concurrent Takes got the value; want exactly 1", round, wins, takers)
		}
	}
}

func testDelete(t *testing.T, ctx context.Context, s, _ state.State) {
	// Ten keys: on Redis Cluster they fall in different slots, which a
	// multi-key DEL would refuse.
	var keys []string
	for i := range 10 {
		k := fmt.Sprintf("del:%d", i)
		keys = append(keys, k)
		mustSet(t, ctx, s, k, "v", time.Minute)
	}
	mustDelete(t, ctx, s, append(keys[:9:9], "del:missing")...)
	for _, k := range keys[:9] {
		wantMissing(t, ctx, s, k)
	}
	wantValue(t, ctx, s, keys[9], "v")
	mustDelete(t, ctx, s, keys[9])
	wantMissing(t, ctx, s, keys[9])
}

// Delete removes counters and sets too (as Redis DEL does), so callers can
// reset a rate limit or drop a session index.
func testDeleteAnyKind(t *testing.T, ctx context.Context, s, _ state.State) {
	mustIncr(t, ctx, s, "ctr", time.Minute, 1)
	mustIncr(t, ctx, s, "ctr", time.Minute, 2)
	mustSAdd(t, ctx, s, "set", "m", time.Minute)
	mustDelete(t, ctx, s, "ctr", "set")
	mustIncr(t, ctx, s, "ctr", time.Minute, 1)
	wantMembers(t, ctx, s, "set")
}

func testExpire(t *testing.T, ctx context.Context, s, _ state.State) {
	mustSet(t, ctx, s, "k", "v", time.Minute)
	if err := s.Expire(ctx, "k", time.Hour); err != nil {
		t.Fatalf("Expire(k) = %v", err)
	}
	wantValue(t, ctx, s, "k", "v")
	// Expire applies to counters and sets too.
	mustIncr(t, ctx, s, "ctr", time.Minute, 1)
	if err := s.Expire(ctx, "ctr", time.Hour); err != nil {
		t.Errorf("Expire(counter) = %v", err)
	}
	mustIncr(t, ctx, s, "ctr", time.Minute, 2)
	mustSAdd(t, ctx, s, "set", "m", time.Minute)
	if err := s.Expire(ctx, "set", time.Hour); err != nil {
		t.Errorf("Expire(set) = %v", err)
	}
	wantMembers(t, ctx, s, "set", "m")
	// A deleted key cannot be revived.
	mustDelete(t, ctx, s, "k")
	if err := s.Expire(ctx, "k", time.Hour); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Expire(deleted) = %v; want ErrNotFound", err)
	}
	wantMissing(t, ctx, s, "k")
}

func testIncr(t *testing.T, ctx context.Context, s, _ state.State) {
	for want := int64(1); want <= 5; want++ {
		mustIncr(t, ctx, s, "a", time.Minute, want)
	}
	mustIncr(t, ctx, s, "b", time.Minute, 1)
	mustIncr(t, ctx, s, "a", time.Minute, 6)
}

// Concurrent increments are never lost and never return the same count:
// rate limits depend on both.
func testIncrConcurrent(t *testing.T, ctx context.Context, a, b state.State) {
	const n = 50
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  []int64
		errs []error
	)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			v, err := s.Incr(ctx, "hits", time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			got = append(got, v)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent Incr errors: %v", errs)
	}
	slices.Sort(got)
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("concurrent Incr returned %v; want each of 1..%d once", got, n)
		}
	}
	mustIncr(t, ctx, a, "hits", time.Minute, n+1)
}

func testSets(t *testing.T, ctx context.Context, s, _ state.State) {
	wantMembers(t, ctx, s, "set")
	mustSAdd(t, ctx, s, "set", "a", time.Minute)
	mustSAdd(t, ctx, s, "set", "b", time.Minute)
	mustSAdd(t, ctx, s, "set", "c", time.Minute)
	mustSAdd(t, ctx, s, "set", "b", time.Minute) // already there
	mustSAdd(t, ctx, s, "other", "z", time.Minute)
	wantMembers(t, ctx, s, "set", "a", "b", "c")

	if err := s.SRem(ctx, "set", "b", "not a member"); err != nil {
		t.Fatalf("SRem = %v", err)
	}
	wantMembers(t, ctx, s, "set", "a", "c")
	if err := s.SRem(ctx, "set"); err != nil {
		t.Fatalf("SRem(no members) = %v", err)
	}
	if err := s.SRem(ctx, "set", "a", "c"); err != nil {
		t.Fatalf("SRem = %v", err)
	}
	wantMembers(t, ctx, s, "set")
	wantMembers(t, ctx, s, "other", "z")

	// An emptied set starts afresh.
	mustSAdd(t, ctx, s, "set", "d", time.Minute)
	wantMembers(t, ctx, s, "set", "d")
}

// Sessions of one member are indexed in one set, and requests add to it
// at the same time: no member may be lost and no call may fail.
func testSAddConcurrent(t *testing.T, ctx context.Context, a, b state.State) {
	const n = 20
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		want []string
	)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		m := fmt.Sprintf("m%02d", i)
		want = append(want, m)
		wg.Go(func() {
			if err := s.SAdd(ctx, "set", m, time.Minute); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent SAdd errors: %v", errs)
	}
	wantMembers(t, ctx, a, "set", want...)
}

func testBinaryValues(t *testing.T, ctx context.Context, s, _ state.State) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	reversed := slices.Clone(all)
	slices.Reverse(reversed)
	big := make([]byte, 64<<10)
	rand.Read(big)
	values := map[string][]byte{
		"all bytes": all,
		"reversed":  reversed,
		"nul only":  {0},
		"empty":     {},
		"64 KiB":    big,
	}
	for name, v := range values {
		if err := s.Set(ctx, "bin:"+name, v, time.Minute); err != nil {
			t.Fatalf("Set(%s) = %v", name, err)
		}
	}
	for name, want := range values {
		got, err := s.Get(ctx, "bin:"+name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Get(%s) = %d bytes, %v; want %d bytes back unchanged", name, len(got), err, len(want))
		}
	}
	got, err := s.Take(ctx, "bin:all bytes")
	if err != nil || !bytes.Equal(got, all) {
		t.Errorf("Take(all bytes) = %x, %v; want all 256 byte values", got, err)
	}
}

// Keys are compared exactly: characters that are special to SQL LIKE,
// glob patterns or Redis Cluster hash tags mean nothing to the store.
func testKeysAreExact(t *testing.T, ctx context.Context, s, _ state.State) {
	keys := []string{"a%", "ab", "a_", "a*", "a?", "a[b]", "{a}", "{a}b", "a", "A", "a ", "a:b"}
	for _, k := range keys {
		mustSet(t, ctx, s, k, "value of "+k, time.Minute)
	}
	mustDelete(t, ctx, s, "a%", "a*", "a?", "{a}")
	for _, k := range keys {
		switch k {
		case "a%", "a*", "a?", "{a}":
			wantMissing(t, ctx, s, k)
		default:
			wantValue(t, ctx, s, k, "value of "+k)
		}
	}
}

// A write that has returned is visible through another node's handle at
// once: backends read primaries only.
func testSecondNode(t *testing.T, ctx context.Context, a, b state.State) {
	mustSet(t, ctx, a, "k", "from a", time.Minute)
	wantValue(t, ctx, b, "k", "from a")
	mustSet(t, ctx, b, "k", "from b", time.Minute)
	wantValue(t, ctx, a, "k", "from b")

	if v, err := b.Take(ctx, "k"); err != nil || string(v) != "from b" {
		t.Fatalf("b.Take = %q, %v", v, err)
	}
	wantMissing(t, ctx, a, "k")

	wantSetNX(t, ctx, a, "nx", "a", true)
	wantSetNX(t, ctx, b, "nx", "b", false)

	mustIncr(t, ctx, a, "ctr", time.Minute, 1)
	mustIncr(t, ctx, b, "ctr", time.Minute, 2)
	mustIncr(t, ctx, a, "ctr", time.Minute, 3)

	mustSAdd(t, ctx, a, "set", "x", time.Minute)
	mustSAdd(t, ctx, b, "set", "y", time.Minute)
	wantMembers(t, ctx, a, "set", "x", "y")
	if err := a.SRem(ctx, "set", "y"); err != nil {
		t.Fatal(err)
	}
	wantMembers(t, ctx, b, "set", "x")

	mustSet(t, ctx, a, "gone", "v", time.Minute)
	mustDelete(t, ctx, b, "gone")
	wantMissing(t, ctx, a, "gone")
}

// testExpiry checks real expiry against the backend's own clock. It sleeps
// twice (about 1.6 s in all) and checks everything at each point; ttl
// leaves a wide margin for a machine loaded by the rest of the suite.
func testExpiry(t *testing.T, ctx context.Context, s, _ state.State) {
	const ttl = 1500 * time.Millisecond
	start := time.Now()

	mustSet(t, ctx, s, "short", "v", ttl)
	mustSet(t, ctx, s, "long", "v", time.Minute)
	mustSet(t, ctx, s, "extend", "v", ttl)
	mustSet(t, ctx, s, "shorten", "v", time.Minute)
	mustSet(t, ctx, s, "take", "v", ttl)
	wantSetNX(t, ctx, s, "nx", "first", true)
	if err := s.Expire(ctx, "nx", ttl); err != nil {
		t.Fatal(err)
	}
	mustIncr(t, ctx, s, "ctr", ttl, 1)
	mustSAdd(t, ctx, s, "set", "m1", ttl)
	mustSAdd(t, ctx, s, "set2", "m1", ttl)

	// Halfway: nothing has expired yet.
	time.Sleep(500*time.Millisecond - time.Since(start))
	if el := time.Since(start); el > ttl/2 {
		t.Fatalf("setting up took %v; too slow to check a %v ttl", el, ttl)
	}
	wantValue(t, ctx, s, "short", "v")
	wantSetNX(t, ctx, s, "nx", "second", false)
	mustIncr(t, ctx, s, "ctr", ttl, 2) // must not move the window
	if err := s.Expire(ctx, "extend", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Expire(ctx, "shorten", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	mustSAdd(t, ctx, s, "set2", "m2", time.Minute) // renews the whole set
	if el := time.Since(start); el > ttl-300*time.Millisecond {
		t.Fatalf("the halfway checks ended at %v; too slow to check a %v ttl", el, ttl)
	}

	// Past the ttl.
	time.Sleep(ttl + 50*time.Millisecond - time.Since(start))
	wantMissing(t, ctx, s, "short")
	wantValue(t, ctx, s, "long", "v")
	wantValue(t, ctx, s, "extend", "v")
	wantMissing(t, ctx, s, "shorten")
	if v, err := s.Take(ctx, "take"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Take(expired) = %q, %v; want ErrNotFound", v, err)
	}
	if err := s.Expire(ctx, "short", time.Minute); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Expire(expired) = %v; want ErrNotFound", err)
	}
	wantMissing(t, ctx, s, "short") // Expire did not revive it
	wantSetNX(t, ctx, s, "nx", "third", true)
	wantValue(t, ctx, s, "nx", "third")
	mustIncr(t, ctx, s, "ctr", time.Minute, 1) // a new window
	mustIncr(t, ctx, s, "ctr", time.Minute, 2)
	wantMembers(t, ctx, s, "set")
	mustSAdd(t, ctx, s, "set", "m3", time.Minute)
	wantMembers(t, ctx, s, "set", "m3") // m1 did not come back
	wantMembers(t, ctx, s, "set2", "m1", "m2")
}

func testPing(t *testing.T, ctx context.Context, a, b state.State) {
	if err := a.Ping(ctx); err != nil {
		t.Errorf("a.Ping = %v", err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Errorf("b.Ping = %v", err)
	}
}

func mustSet(t *testing.T, ctx context.Context, s state.State, key, value string, ttl time.Duration) {
	t.Helper()
	if err := s.Set(ctx, key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(%q) = %v", key, err)
	}
}

func mustDelete(t *testing.T, ctx context.Context, s state.State, keys ...string) {
	t.Helper()
	if err := s.Delete(ctx, keys...); err != nil {
		t.Fatalf("Delete(%q) = %v", keys, err)
	}
}

func mustIncr(t *testing.T, ctx context.Context, s state.State, key string, window time.Duration, want int64) {
	t.Helper()
	n, err := s.Incr(ctx, key, window)
	if err != nil || n != want {
		t.Fatalf("Incr(%q) = %d, %v; want %d", key, n, err, want)
	}
}

func mustSAdd(t *testing.T, ctx context.Context, s state.State, key, member string, ttl time.Duration) {
	t.Helper()
	if err := s.SAdd(ctx, key, member, ttl); err != nil {
		t.Fatalf("SAdd(%q, %q) = %v", key, member, err)
	}
}

func wantValue(t *testing.T, ctx context.Context, s state.State, key, want string) {
	t.Helper()
	v, err := s.Get(ctx, key)
	if err != nil || string(v) != want {
		t.Errorf("Get(%q) = %q, %v; want %q", key, v, err, want)
	}
}

func wantMissing(t *testing.T, ctx context.Context, s state.State, key string) {
	t.Helper()
	if v, err := s.Get(ctx, key); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get(%q) = %q, %v; want ErrNotFound", key, v, err)
	}
}

func wantSetNX(t *testing.T, ctx context.Context, s state.State, key, value string, want bool) {
	t.Helper()
	ok, err := s.SetNX(ctx, key, []byte(value), time.Minute)
	if err != nil || ok != want {
		t.Errorf("SetNX(%q, %q) = %v, %v; want %v", key, value, ok, err, want)
	}
}

func wantMembers(t *testing.T, ctx context.Context, s state.State, key string, want ...string) {
	t.Helper()
	got, err := s.SMembers(ctx, key)
	if err != nil {
		t.Errorf("SMembers(%q) = %v", key, err)
		return
	}
	slices.Sort(got)
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("SMembers(%q) = %q; want %q", key, got, want)
	}
}
