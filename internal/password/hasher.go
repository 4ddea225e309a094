package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
}

// DefaultParams is the OWASP minimum for argon2id: 19 MiB, 2 passes, 1 lane.
var DefaultParams = Params{Memory: 19456, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32

	// MemoryBudget caps the memory that concurrent hash computations may
	// hold together when Options.MaxConcurrent is left to 0.
	MemoryBudget = 256 << 20 // bytes

	// MaxPasswordBytes is the longest input Hash and Verify accept; it
	// bounds the normalisation and pre-hashing work one request can cause.
	MaxPasswordBytes = 4096

	defaultQueueTimeout = 2 * time.Second
	queuePerSlot        = 32

	// Bounds on the parameters of a stored hash, so that a corrupt or
	// hostile row cannot make one Verify take minutes or gigabytes.
	maxMemory      = 1 << 20 // KiB (1 GiB)
	maxIterations  = 64
	maxParallelism = 64
)

var (
	// ErrBusy means the hash could not start: too many computations were
	// running and the wait queue was full, the wait timed out, or the
	// context ended while waiting. It does not say anything about the
	// password. Answer 429 or 503 with Retry-After: Hasher.RetryAfter().
	// When the context ended the error also matches ctx.Err().
	ErrBusy = errors.New("password: hasher busy")

	// ErrMalformedHash means an encoded hash is not an argon2id PHC string
	// this package can verify. The error never contains the string.
	ErrMalformedHash = errors.New("password: malformed or unsupported password hash")

	// ErrPasswordTooLong means the input is longer than MaxPasswordBytes.
	ErrPasswordTooLong = errors.New("password: input too long")
)

// Options configure a Hasher. The zero value is usable.
type Options struct {
	Params        Params                // zero value = DefaultParams
	MaxConcurrent int                   // 0 = GOMAXPROCS, capped by MemoryBudget
	MaxQueue      int                   // 0 = 32 per concurrent slot
	QueueTimeout  time.Duration         // 0 = 2s
	Registerer    prometheus.Registerer // nil = no metrics
}

// Hasher hashes and verifies passwords with bounded concurrency. It is safe
// for concurrent use.
type Hasher struct {
	params   Params
	slots    chan struct{} // one token per running computation
	maxQueue int64
	waiting  atomic.Int64 // callers queued for a slot
	inFlight atomic.Int64 // computations running
	timeout  time.Duration
	avgNanos atomic.Int64 // moving average of one computation
	dummy    string       // VerifyDummy target, encoded with params
	m        *metrics     // nil without a Registerer

	// testHook, if set, runs while a slot is held, before the hash is
	// computed, with the number of computations in flight.
	testHook func(inFlight int64)
}

// NewHasher returns a Hasher for o.
func NewHasher(o Options) (*Hasher, error) {
	p := o.Params
	if p == (Params{}) {
		p = DefaultParams
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	if o.MaxConcurrent < 0 || o.MaxQueue < 0 || o.QueueTimeout < 0 {
		return nil, errors.New("password: negative MaxConcurrent, MaxQueue or QueueTimeout")
	}
	conc := o.MaxConcurrent
	if conc == 0 {
		conc = runtime.GOMAXPROCS(0)
		if byMem := int(MemoryBudget / (uint64(p.Memory) << 10)); byMem < conc {
			conc = byMem
		}
		conc = max(conc, 1)
	}
	queue := o.MaxQueue
	if queue == 0 {
		queue = queuePerSlot * conc
	}
	timeout := o.QueueTimeout
	if timeout == 0 {
		timeout = defaultQueueTimeout
	}
	h := &Hasher{
		params:   p,
		slots:    make(chan struct{}, conc),
		maxQueue: int64(queue),
		timeout:  timeout,
	}
	var salt [saltLen]byte
	var key [keyLen]byte
	rand.Read(salt[:])
	rand.Read(key[:])
	h.dummy = encode(p, salt[:], key[:])
	if o.Registerer != nil {
		m, err := newMetrics(o.Registerer)
		if err != nil {
			return nil, err
		}
		h.m = m
	}
	return h, nil
}

func (p Params) validate() error {
	switch {
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("password: Iterations %d out of range 1..%d", p.Iterations, maxIterations)
	case p.Parallelism < 1 || p.Parallelism > maxParallelism:
		return fmt.Errorf("password: Parallelism %d out of range 1..%d", p.Parallelism, maxParallelism)
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxMemory:
		return fmt.Errorf("password: Memory %d KiB out of range %d..%d", p.Memory, 8*uint32(p.Parallelism), maxMemory)
	}
	return nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// MaxConcurrent returns how many computations may run at once.
func (h *Hasher) MaxConcurrent() int { return cap(h.slots) }

// Hash returns the PHC-encoded argon2id hash of Normalize(password) with a
// fresh random salt. It returns ErrBusy when the hasher is saturated.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", ErrPasswordTooLong
	}
	var salt [saltLen]byte
	rand.Read(salt[:]) // never fails (crypto/rand panics instead)
	key, err := h.compute(ctx, Normalize(password), salt[:], h.params, keyLen)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt[:], key), nil
}

// Verify reports whether Normalize(password) matches the PHC-encoded hash,
// comparing in constant time. rehash is true when ok and the hash was made
// with weaker parameters than the current ones (less memory, fewer passes,
// shorter salt or key): store a new Hash then. A malformed encoded string
// gives ErrMalformedHash (without spending hash time); a saturated hasher
// gives ErrBusy.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	d, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	if len(password) > MaxPasswordBytes {
		return false, false, ErrPasswordTooLong
	}
	key, err := h.compute(ctx, Normalize(password), d.salt, d.params, uint32(len(d.key)))
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(key, d.key) != 1 {
		return false, false, nil
	}
	rehash = d.params.Memory < h.params.Memory ||
		d.params.Iterations < h.params.Iterations ||
		len(d.salt) < saltLen || len(d.key) < keyLen
	return true, rehash, nil
}

// VerifyDummy does the work of a Verify against a hash made with the current
// parameters and discards the result. Call it when the account does not
// exist (or has no password) so that answer takes as long as a real one. It
// queues like Verify and returns ErrBusy in the same cases.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	if len(password) > MaxPasswordBytes {
		return ErrPasswordTooLong
	}
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

// RetryAfter suggests how long a caller that got ErrBusy should wait: the
// time the current queue needs to drain, rounded up to whole seconds (as
// the Retry-After header counts them), at least 1s and at most 30s.
func (h *Hasher) RetryAfter() time.Duration {
	avg := time.Duration(h.avgNanos.Load())
	if avg <= 0 {
		avg = 50 * time.Millisecond
	}
	pending := h.waiting.Load() + h.inFlight.Load() + 1
	d := avg * time.Duration(pending) / time.Duration(cap(h.slots))
	secs := math.Ceil(d.Seconds())
	return time.Duration(min(max(secs, 1), 30)) * time.Second
}

// compute runs argon2id once a slot is free.
func (h *Hasher) compute(ctx context.Context, password string, salt []byte, p Params, n uint32) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	n0 := h.inFlight.Add(1)
	if h.m != nil {
		h.m.inFlight.Inc()
	}
	if h.testHook != nil {
		h.testHook(n0)
	}
	start := time.Now()
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, n)
	elapsed := time.Since(start)
	h.inFlight.Add(-1)
	<-h.slots
	if h.m != nil {
		h.m.inFlight.Dec()
		h.m.duration.Observe(elapsed.Seconds())
	}
	// Moving average with weight 1/8; races between updates only lose
	// a sample, which a hint can afford.
	old := h.avgNanos.Load()
	if old == 0 {
		h.avgNanos.Store(int64(elapsed))
	} else {
		h.avgNanos.Store(old + (int64(elapsed)-old)/8)
	}
	return key, nil
}

// acquire takes a slot, waiting in the bounded queue if none is free.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return h.reject(reasonCanceled, err)
	}
	start := time.Now()
	select {
	case h.slots <- struct{}{}:
		h.observeWait(start)
		return nil
	default:
	}
	if h.waiting.Add(1) > h.maxQueue {
		h.waiting.Add(-1)
		return h.reject(reasonQueueFull, nil)
	}
	defer h.waiting.Add(-1)
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		h.observeWait(start)
		return nil
	case <-t.C:
		return h.reject(reasonTimeout, nil)
	case <-ctx.Done():
		return h.reject(reasonCanceled, ctx.Err())
	}
}

func (h *Hasher) observeWait(start time.Time) {
	if h.m != nil {
		h.m.queueWait.Observe(time.Since(start).Seconds())
	}
}

func (h *Hasher) reject(reason string, cause error) error {
	if h.m != nil {
		h.m.rejected.WithLabelValues(reason).Inc()
	}
	if cause != nil {
		return fmt.Errorf("%w: %w", ErrBusy, cause)
	}
	return ErrBusy
}

// PHC string format.

var b64 = base64.RawStdEncoding.Strict()

func encode(p Params, salt, key []byte) string {
	var b strings.Builder
	b.Grow(40 + b64.EncodedLen(len(salt)) + b64.EncodedLen(len(key)))
	b.WriteString("$argon2id$v=19$m=")
	b.WriteString(strconv.FormatUint(uint64(p.Memory), 10))
	b.WriteString(",t=")
	b.WriteString(strconv.FormatUint(uint64(p.Iterations), 10))
	b.WriteString(",p=")
	b.WriteString(strconv.FormatUint(uint64(p.Parallelism), 10))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(salt))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(key))
	return b.String()
}

type decoded struct {
	params    Params
	salt, key []byte
}

// decode parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash". Errors are always
// ErrMalformedHash, so nothing of the input reaches logs.
func decode(s string) (decoded, error) {
	var d decoded
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return d, ErrMalformedHash
	}
	ps := strings.Split(parts[3], ",")
	if len(ps) != 3 {
		return d, ErrMalformedHash
	}
	m, err1 := param(ps[0], "m=", maxMemory)
	t, err2 := param(ps[1], "t=", maxIterations)
	p, err3 := param(ps[2], "p=", maxParallelism)
	if err1 != nil || err2 != nil || err3 != nil || t < 1 || p < 1 || m < 8*p {
		return d, ErrMalformedHash
	}
	d.params = Params{Memory: uint32(m), Iterations: uint32(t), Parallelism: uint8(p)}
	var err error
	if d.salt, err = b64.DecodeString(parts[4]); err != nil || len(d.salt) < 8 || len(d.salt) > 64 {
		return decoded{}, ErrMalformedHash
	}
	if d.key, err = b64.DecodeString(parts[5]); err != nil || len(d.key) < 16 || len(d.key) > 128 {
		return decoded{}, ErrMalformedHash
	}
	return d, nil
}

func param(s, prefix string, limit uint64) (uint64, error) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
		return 0, ErrMalformedHash
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n > limit {
		return 0, ErrMalformedHash
	}
	return n, nil
}
