package password

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/argon2"
)

// cheap keeps tests fast, also under -race.
var cheap = Params{Memory: 256, Iterations: 1, Parallelism: 1}

func newTestHasher(t testing.TB, o Options) *Hasher {
	t.Helper()
	if o.Params == (Params{}) {
		o.Params = cheap
	}
	h, err := NewHasher(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := newTestHasher(t, Options{})
	ctx := context.Background()
	for _, pw := range []string{"correct horse battery staple", "", "パスワード", strings.Repeat("x", 1000)} {
		enc, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		ok, rehash, err := h.Verify(ctx, pw, enc)
		if err != nil || !ok || rehash {
			t.Fatalf("Verify(own hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
		ok, _, err = h.Verify(ctx, pw+"x", enc)
		if err != nil || ok {
			t.Fatalf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
		}
	}
}

func TestHashSaltsDiffer(t *testing.T) {
	h := newTestHasher(t, Options{})
	a, _ := h.Hash(context.Background(), "same password")
	b, _ := h.Hash(context.Background(), "same password")
	if a == b {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestNormalizedBeforeHashing(t *testing.T) {
	h := newTestHasher(t, Options{})
	ctx := context.Background()
	// Full-width letters and digits are NFKC-equivalent to ASCII.
	enc, err := h.Hash(ctx, "ｐａｓｓｗｏｒｄ１２３")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := h.Verify(ctx, "password123", enc); !ok {
		t.Fatal("NFKC-equivalent password did not verify")
	}
	// "e" + combining acute vs precomposed "é".
	enc, _ = h.Hash(ctx, "caf\u0065\u0301-au-lait")
	if ok, _, _ := h.Verify(ctx, "caf\u00e9-au-lait", enc); !ok {
		t.Fatal("canonically equivalent password did not verify")
	}
}

// TestPHCIndependent decodes the string by hand and recomputes the key with
// argon2.IDKey, as another tool would, at the default parameters.
func TestPHCIndependent(t *testing.T) {
	h := newTestHasher(t, Options{Params: DefaultParams})
	const pw = "Tr0ub4dor&3 but longer"
	enc, err := h.Hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(enc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" || parts[3] != "m=19456,t=2,p=1" {
		t.Fatalf("unexpected PHC layout %q", enc)
	}
	if strings.Contains(parts[4]+parts[5], "=") {
		t.Fatalf("base64 padding in %q", enc)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) != 16 {
		t.Fatalf("salt: %v, len %d", err, len(salt))
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) != 32 {
		t.Fatalf("key: %v, len %d", err, len(key))
	}
	want := argon2.IDKey([]byte(pw), salt, 2, 19456, 1, 32)
	if subtle.ConstantTimeCompare(key, want) != 1 {
		t.Fatal("key differs from argon2.IDKey")
	}
	// And the other way: a hash made outside the package verifies.
	salt2 := []byte("0123456789abcdef")
	ext := "$argon2id$v=19$m=19456,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt2) + "$" +
		base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte(pw), salt2, 2, 19456, 1, 32))
	if ok, rehash, err := h.Verify(context.Background(), pw, ext); !ok || rehash || err != nil {
		t.Fatalf("Verify(external hash) = %v, %v, %v", ok, rehash, err)
	}
}

// TestKnownVector checks a fixed string produced independently of this
// package (argon2.IDKey of "password" with salt "somesaltsomesalt").
func TestKnownVector(t *testing.T) {
	salt := []byte("somesaltsomesalt")
	key := argon2.IDKey([]byte("password"), salt, 1, 64, 1, 32)
	enc := "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$" + base64.RawStdEncoding.EncodeToString(key)
	h := newTestHasher(t, Options{Params: Params{Memory: 64, Iterations: 1, Parallelism: 1}})
	if ok, _, err := h.Verify(context.Background(), "password", enc); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
}

func TestMalformed(t *testing.T) {
	h := newTestHasher(t, Options{})
	ctx := context.Background()
	good, err := h.Hash(ctx, "secret password")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, hash := parts[4], parts[5]
	bad := []string{
		"",
		"not a hash",
		"$argon2i$v=19$m=256,t=1,p=1$" + salt + "$" + hash,
		"$argon2id$v=16$m=256,t=1,p=1$" + salt + "$" + hash,
		"$argon2id$m=256,t=1,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$t=1,m=256,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=256,t=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=256,t=0,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=256,t=1,p=0$" + salt + "$" + hash,
		"$argon2id$v=19$m=4,t=1,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=0256,t=1,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=-1,t=1,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + hash, // 4 GiB
		"$argon2id$v=19$m=256,t=1000,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=256,t=1,p=1$" + salt + "=$" + hash,
		"$argon2id$v=19$m=256,t=1,p=1$" + salt + "$" + hash + "==",
		"$argon2id$v=19$m=256,t=1,p=1$" + salt + "$" + hash[:len(hash)-1] + "!",
		"$argon2id$v=19$m=256,t=1,p=1$" + salt + "$" + hash + "$",
		"$argon2id$v=19$m=256,t=1,p=1$$" + hash,
		"$argon2id$v=19$m=256,t=1,p=1$" + salt + "$",
		"$argon2id$v=19$m=256,t=1,p=1$" + salt[:4] + "$" + hash, // 3-byte salt
		"$argon2id$v=19$m=256,t=1,p=1$" + salt + "$" + hash[:8], // 6-byte key
		"argon2id$v=19$m=256,t=1,p=1$" + salt + "$" + hash,
	}
	for _, enc := range bad {
		ok, rehash, err := h.Verify(ctx, "secret password", enc)
		if !errors.Is(err, ErrMalformedHash) || ok || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want ErrMalformedHash", enc, ok, rehash, err)
			continue
		}
		if strings.Contains(err.Error(), "$") || (len(enc) > 8 && strings.Contains(err.Error(), enc)) {
			t.Errorf("error %q echoes the input", err)
		}
	}
}

func TestTampered(t *testing.T) {
	h := newTestHasher(t, Options{})
	ctx := context.Background()
	good, _ := h.Hash(ctx, "secret password")
	parts := strings.Split(good, "$")
	flip := func(s string) string {
		b, _ := base64.RawStdEncoding.DecodeString(s)
		b[len(b)/2] ^= 1
		return base64.RawStdEncoding.EncodeToString(b)
	}
	tampered := []string{
		strings.Join([]string{"", parts[1], parts[2], parts[3], flip(parts[4]), parts[5]}, "$"),
		strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], flip(parts[5])}, "$"),
		strings.Join([]string{"", parts[1], parts[2], "m=256,t=2,p=1", parts[4], parts[5]}, "$"),
		strings.Join([]string{"", parts[1], parts[2], "m=264,t=1,p=1", parts[4], parts[5]}, "$"),
	}
	for _, enc := range tampered {
		ok, _, err := h.Verify(ctx, "secret password", enc)
		if ok || err != nil {
			t.Errorf("Verify(tampered %q) = %v, %v; want false, nil", enc, ok, err)
		}
	}
}

func TestRehash(t *testing.T) {
	ctx := context.Background()
	weak := newTestHasher(t, Options{Params: Params{Memory: 128, Iterations: 1, Parallelism: 1}})
	strong := newTestHasher(t, Options{Params: Params{Memory: 256, Iterations: 2, Parallelism: 1}})
	moreT := newTestHasher(t, Options{Params: Params{Memory: 128, Iterations: 2, Parallelism: 1}})

	enc, _ := weak.Hash(ctx, "password one")
	if ok, rehash, err := strong.Verify(ctx, "password one", enc); !ok || !rehash || err != nil {
		t.Fatalf("weaker hash: %v, %v, %v; want ok and rehash", ok, rehash, err)
	}
	if ok, rehash, _ := moreT.Verify(ctx, "password one", enc); !ok || !rehash {
		t.Fatal("fewer iterations: want rehash")
	}
	// A wrong password never asks for a rehash.
	if ok, rehash, _ := strong.Verify(ctx, "password two", enc); ok || rehash {
		t.Fatal("wrong password: want false, false")
	}
	// A stronger or equal hash is kept.
	enc, _ = strong.Hash(ctx, "password one")
	if ok, rehash, _ := weak.Verify(ctx, "password one", enc); !ok || rehash {
		t.Fatal("stronger hash: want ok and no rehash")
	}
	// Short salt or key: rehash.
	salt := []byte("8bytesal")
	key := argon2.IDKey([]byte("password one"), salt, 2, 256, 1, 16)
	enc = encode(Params{Memory: 256, Iterations: 2, Parallelism: 1}, salt, key)
	if ok, rehash, err := strong.Verify(ctx, "password one", enc); !ok || !rehash || err != nil {
		t.Fatalf("short salt and key: %v, %v, %v; want ok and rehash", ok, rehash, err)
	}
}

func TestVerifyDummy(t *testing.T) {
	h := newTestHasher(t, Options{Params: Params{Memory: 512, Iterations: 3, Parallelism: 2}})
	d, err := decode(h.dummy)
	if err != nil {
		t.Fatal(err)
	}
	if d.params != h.Params() || len(d.salt) != saltLen || len(d.key) != keyLen {
		t.Fatalf("dummy hash %+v does not use the current parameters %+v", d.params, h.Params())
	}
	var computed atomic.Int64
	h.testHook = func(int64) { computed.Add(1) }
	if err := h.VerifyDummy(context.Background(), "anything"); err != nil {
		t.Fatal(err)
	}
	if computed.Load() != 1 {
		t.Fatalf("VerifyDummy computed %d hashes, want 1", computed.Load())
	}
}

func TestTooLong(t *testing.T) {
	h := newTestHasher(t, Options{})
	long := strings.Repeat("a", MaxPasswordBytes+1)
	if _, err := h.Hash(context.Background(), long); !errors.Is(err, ErrPasswordTooLong) {
		t.Fatalf("Hash: %v", err)
	}
	enc, _ := h.Hash(context.Background(), "short enough")
	if _, _, err := h.Verify(context.Background(), long, enc); !errors.Is(err, ErrPasswordTooLong) {
		t.Fatalf("Verify: %v", err)
	}
}

func TestNewHasherOptions(t *testing.T) {
	h, err := NewHasher(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Params() != DefaultParams {
		t.Fatalf("params %+v", h.Params())
	}
	if c := h.MaxConcurrent(); c < 1 || uint64(c)*uint64(DefaultParams.Memory)<<10 > MemoryBudget {
		t.Fatalf("MaxConcurrent %d breaks the memory budget", c)
	}
	if h.maxQueue != int64(queuePerSlot*h.MaxConcurrent()) || h.timeout != 2*time.Second {
		t.Fatalf("queue %d timeout %v", h.maxQueue, h.timeout)
	}
	// Memory-heavy parameters shrink the automatic concurrency.
	h, err = NewHasher(Options{Params: Params{Memory: 200 << 10, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if h.MaxConcurrent() != 1 {
		t.Fatalf("MaxConcurrent %d with 200 MiB per hash, want 1", h.MaxConcurrent())
	}
	for _, o := range []Options{
		{Params: Params{Memory: 4, Iterations: 1, Parallelism: 1}},
		{Params: Params{Memory: 256, Iterations: 0, Parallelism: 1}},
		{Params: Params{Memory: 256, Iterations: 1, Parallelism: 0}},
		{MaxConcurrent: -1},
		{MaxQueue: -1},
		{QueueTimeout: -1},
	} {
		if _, err := NewHasher(o); err == nil {
			t.Errorf("NewHasher(%+v) accepted", o)
		}
	}
}

// TestConcurrencyBound holds the single slot with the test hook, fills the
// one queue place, and checks that everyone else is refused while the slot
// is still held, i.e. at once, and that no two hashes ever ran together.
func TestConcurrencyBound(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	h := newTestHasher(t, Options{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Hour, Registerer: reg})
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	var maxSeen atomic.Int64
	h.testHook = func(n int64) {
		for {
			m := maxSeen.Load()
			if n <= m || maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		entered <- struct{}{}
		<-release
	}
	ctx := context.Background()
	results := make(chan error, 10)
	hash := func() { _, err := h.Hash(ctx, "some password"); results <- err }

	go hash() // takes the slot
	<-entered
	go hash() // takes the queue place
	waitFor(t, func() bool { return h.waiting.Load() == 1 })

	const overflow = 6
	for range overflow {
		go hash()
	}
	for range overflow {
		select {
		case err := <-results:
			if !errors.Is(err, ErrBusy) {
				t.Fatalf("overflow caller got %v, want ErrBusy", err)
			}
		case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
			t.Fatal("overflow caller was not refused while the slot was held")
		}
	}
	if got := metricValue(t, reg, "kaiin_password_hash_rejected_total", "queue_full"); got != overflow {
		t.Fatalf("rejected{queue_full} = %v, want %d", got, overflow)
	}
	if got := metricValue(t, reg, "kaiin_password_hash_in_flight", ""); got != 1 {
		t.Fatalf("in_flight gauge = %v, want 1", got)
	}
	if ra := h.RetryAfter(); ra < time.Second || ra > 30*time.Second || ra%time.Second != 0 {
		t.Fatalf("RetryAfter %v", ra)
	}

	close(release)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatalf("admitted caller: %v", err)
		}
	}
	if m := maxSeen.Load(); m != 1 {
		t.Fatalf("%d hashes ran at once, want 1", m)
	}
	if got := metricValue(t, reg, "kaiin_password_hash_in_flight", ""); got != 0 {
		t.Fatalf("in_flight gauge = %v after all returned", got)
	}
	if got := metricValue(t, reg, "kaiin_password_hash_queue_wait_seconds", ""); got != 2 {
		t.Fatalf("queue wait observations = %v, want 2", got)
	}
	if got := metricValue(t, reg, "kaiin_password_hash_duration_seconds", ""); got != 2 {
		t.Fatalf("duration observations = %v, want 2", got)
	}
}

func TestQueueTimeoutAndCancel(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newTestHasher(t, Options{MaxConcurrent: 1, MaxQueue: 4, QueueTimeout: 20 * time.Millisecond, Registerer: reg})
	release := make(chan struct{})
	entered := make(chan struct{})
	h.testHook = func(int64) { close(entered); <-release }
	done := make(chan error)
	go func() { _, err := h.Hash(context.Background(), "holder"); done <- err }()
	<-entered

	// Wait times out.
	if _, err := h.Hash(context.Background(), "waiter"); !errors.Is(err, ErrBusy) {
		t.Fatalf("timed-out waiter got %v", err)
	}
	// Context cancelled while waiting.
	h.timeout = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { _, _, err := h.Verify(ctx, "waiter", h.dummy); errc <- err }()
	waitFor(t, func() bool { return h.waiting.Load() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter got %v, want ErrBusy and context.Canceled", err)
	}
	// Context already done: refused without queueing.
	if err := h.VerifyDummy(ctx, "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("done context got %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if h.waiting.Load() != 0 {
		t.Fatalf("waiting = %d after all returned", h.waiting.Load())
	}
	if got := metricValue(t, reg, "kaiin_password_hash_rejected_total", "timeout"); got != 1 {
		t.Fatalf("rejected{timeout} = %v", got)
	}
	if got := metricValue(t, reg, "kaiin_password_hash_rejected_total", "canceled"); got != 2 {
		t.Fatalf("rejected{canceled} = %v", got)
	}
	// A second Hasher on the same registry shares the metrics.
	if _, err := NewHasher(Options{Params: cheap, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrencyBoundRealWork runs real hashes at once through one slot and
// one queue place: every call returns, each either succeeds or gets ErrBusy,
// and the in-flight count never passes 1. Nothing is asserted on timing.
func TestConcurrencyBoundRealWork(t *testing.T) {
	h := newTestHasher(t, Options{
		Params:        Params{Memory: 4 << 10, Iterations: 2, Parallelism: 1},
		MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Minute,
	})
	var maxSeen atomic.Int64
	var mu sync.Mutex
	h.testHook = func(n int64) {
		mu.Lock()
		maxSeen.Store(max(maxSeen.Load(), n))
		mu.Unlock()
	}
	const callers = 8
	start := make(chan struct{})
	var wg sync.WaitGroup
	var ok, busy atomic.Int64
	for range callers {
		wg.Go(func() {
			<-start
			_, err := h.Hash(context.Background(), "pw")
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrBusy):
				busy.Add(1)
			default:
				t.Errorf("Hash: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load()+busy.Load() != callers || ok.Load() < 1 {
		t.Fatalf("ok %d busy %d", ok.Load(), busy.Load())
	}
	if maxSeen.Load() != 1 {
		t.Fatalf("%d ran at once", maxSeen.Load())
	}
	t.Logf("%d hashed, %d refused", ok.Load(), busy.Load())
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 30000 { // a hang guard, not a timing assertion
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("condition never held")
}

func TestEncodeDecode(t *testing.T) {
	p := Params{Memory: 65536, Iterations: 3, Parallelism: 4}
	salt := bytes.Repeat([]byte{0xfb}, 16)
	key := bytes.Repeat([]byte{0x3f}, 32)
	enc := encode(p, salt, key)
	want := "$argon2id$v=19$m=65536,t=3,p=4$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	if enc != want {
		t.Fatalf("encode = %q, want %q", enc, want)
	}
	d, err := decode(enc)
	if err != nil || d.params != p || !bytes.Equal(d.salt, salt) || !bytes.Equal(d.key, key) {
		t.Fatalf("decode = %+v, %v", d, err)
	}
}

// metricValue returns a gauge's or counter's value, or a histogram's sample
// count, from reg; label selects the "reason" label value when not empty.
func metricValue(t *testing.T, reg prometheus.Gatherer, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("metric %s{%s} not found", name, label)
	return 0
}
