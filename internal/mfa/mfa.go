package mfa

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Factor kinds (store.Factor.Kind).
const (
	KindTOTP     = "totp"
	KindRecovery = "recovery"
)

// DefaultRate is the limit on second-factor attempts per member when
// Service.Rate is zero: five per five minutes.
var DefaultRate = ratelimit.Rate{N: 5, Per: 5 * time.Minute}

// EnrollTimeout is how long a TOTP enrolment may wait for its first code.
const EnrollTimeout = time.Hour

// rateName is the rate limiter's name for second-factor attempts: one count
// per member for TOTP and recovery codes alike.
const rateName = "mfa"

// Causes of the *errcode.Error values the Service returns; test with
// errors.Is.
var (
	// ErrMalformed: the input cannot be a code (not six digits, or not a
	// recovery code's shape). It did not count as an attempt.
	ErrMalformed = errors.New("mfa: malformed code")
	// ErrWrongCode: no confirmed factor produces this code now.
	ErrWrongCode = errors.New("mfa: wrong code")
	// ErrReplayed: the code is right but its time step was already used.
	ErrReplayed = errors.New("mfa: code already used")
	// ErrRateLimited: too many attempts; the code was not checked.
	ErrRateLimited = errors.New("mfa: too many attempts")
	// ErrNotEnrolled: the member has no confirmed factor of the kind.
	ErrNotEnrolled = errors.New("mfa: no factor of this kind")
	// ErrUnknownFactor: no such factor, or it is another member's.
	ErrUnknownFactor = errors.New("mfa: unknown factor")
	// ErrEnrollExpired: the enrolment was not confirmed in time.
	ErrEnrollExpired = errors.New("mfa: enrolment expired")
)

// ReplayState is what the Service needs of the hot state (state.State).
type ReplayState interface {
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
}

// Sealer encrypts secrets at rest (*keys.Sealer).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Limiter counts attempts across nodes (*ratelimit.Limiter).
type Limiter interface {
	Allow(ctx context.Context, name string, r ratelimit.Rate, subject string) (ok bool, retryAfter time.Duration, err error)
	Reset(ctx context.Context, name, subject string) error
}

// Service enrols and checks second factors. Set its fields, call Validate
// once, then use it from any goroutine; the fields must not change after.
type Service struct {
	// Store keeps the factors: the durable store. Required.
	Store store.FactorStore
	// State records spent TOTP time steps: the hot state shared by every
	// node. Required.
	State ReplayState
	// Sealer seals TOTP secrets; keys.Sealer. Required.
	Sealer Sealer
	// RecoveryKey keys the recovery-code hashes: a server secret of at
	// least 32 random bytes, the same on every node and kept apart from
	// the database's rows where possible. Changing it invalidates every
	// recovery code. Required.
	RecoveryKey []byte
	// Limiter and Rate bound second-factor attempts per member. Limiter is
	// required; a zero Rate means DefaultRate (there is no "off").
	Limiter Limiter
	Rate    ratelimit.Rate
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Issuer names the service in authenticator apps; "" means "Kaiin".
	Issuer string
}

// Validate reports every missing dependency at once.
func (s *Service) Validate() error {
	var errs []error
	if s.Store == nil {
		errs = append(errs, errors.New("mfa: Store is required"))
	}
	if s.State == nil {
		errs = append(errs, errors.New("mfa: State is required"))
	}
	if s.Sealer == nil {
		errs = append(errs, errors.New("mfa: Sealer is required"))
	}
	if len(s.RecoveryKey) < 32 {
		errs = append(errs, fmt.Errorf("mfa: RecoveryKey is %d bytes; want at least 32", len(s.RecoveryKey)))
	}
	if s.Limiter == nil {
		errs = append(errs, errors.New("mfa: Limiter is required"))
	}
	return errors.Join(errs...)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) issuer() string {
	if s.Issuer != "" {
		return s.Issuer
	}
	return "Kaiin"
}

func (s *Service) rate() ratelimit.Rate {
	if s.Rate.Off() {
		return DefaultRate
	}
	return s.Rate
}

// attempt counts one second-factor attempt of userID and returns a coded
// error when it is over the limit. Without a Limiter every attempt is
// refused: the limit fails closed.
func (s *Service) attempt(ctx context.Context, userID string) error {
	if s.Limiter == nil {
		return errcode.Wrap(errcode.Internal, errors.New("mfa: no rate limiter"))
	}
	ok, _, err := s.Limiter.Allow(ctx, rateName, s.rate(), userID)
	if err != nil {
		return errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
	}
	if !ok {
		return errcode.Wrap(errcode.MFARateLimited, ErrRateLimited)
	}
	return nil
}

// succeeded clears userID's attempt count. Its failure is not the member's
// problem (the count expires by itself), so it is not returned.
func (s *Service) succeeded(ctx context.Context, userID string) {
	_ = s.Limiter.Reset(ctx, rateName, userID)
}

// fail returns the coded error c about form field, with cause.
func fail(c *errcode.Code, field string, cause error) error {
	return &errcode.Error{Code: c, Field: field, Err: cause}
}

// FactorInfo is what the account page shows of a factor: never a secret
// or a hash.
type FactorInfo struct {
	ID         string
	Kind       string // KindTOTP or KindRecovery
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	// Remaining is the number of unused codes of a recovery-code set
	// (zero for other kinds).
	Remaining int
}

// Enabled reports whether two-step verification is on: the member has a
// confirmed authenticator app. Recovery codes alone do not count, and
// neither do passkeys: a passkey is a way to sign in (and, once two-step
// verification is on, a second step), but a member who only added one
// has no recovery codes and must not be locked out by it.
func (s *Service) Enabled(ctx context.Context, userID string) (bool, error) {
	fs, err := s.list(ctx, userID)
	if err != nil {
		return false, err
	}
	for _, f := range fs {
		if f.Confirmed && f.Kind == KindTOTP {
			return true, nil
		}
	}
	return false, nil
}

// Factors returns the member's confirmed factors, oldest first, with the
// current recovery-code set (if any) last. Pending enrolments are left out.
func (s *Service) Factors(ctx context.Context, userID string) ([]FactorInfo, error) {
	fs, err := s.list(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []FactorInfo
	for _, f := range signInFactors(fs) {
		out = append(out, FactorInfo{ID: f.ID, Kind: f.Kind, Name: f.Name,
			CreatedAt: f.CreatedAt, LastUsedAt: f.LastUsedAt})
	}
	if r, ok := currentRecovery(fs); ok {
		d, err := decodeRecovery(r.Data)
		if err != nil {
			return nil, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: factor %s: %w", r.ID, err))
		}
		out = append(out, FactorInfo{ID: r.ID, Kind: r.Kind, Name: r.Name,
			CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, Remaining: d.remaining()})
	}
	return out, nil
}

// RemoveFactor deletes one of the member's factors. When no factor that
// can sign in is left, the recovery codes go too, and two-step
// verification is off: before removing the last factor the caller must
// require a recent re-authentication (see the package documentation). A
// factor that is not the member's gets MFAFactorUnknown.
func (s *Service) RemoveFactor(ctx context.Context, userID, factorID string) error {
	f, err := s.Store.GetFactor(ctx, factorID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.UserID != userID) {
		return errcode.Wrap(errcode.MFAFactorUnknown, ErrUnknownFactor)
	}
	if err != nil {
		return errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
	}
	if err := s.Store.DeleteFactor(ctx, factorID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
	}
	fs, err := s.list(ctx, userID)
	if err != nil {
		return err
	}
	if len(signInFactors(fs)) > 0 {
		return nil
	}
	for _, f := range fs {
		if f.Kind != KindRecovery {
			continue
		}
		if err := s.Store.DeleteFactor(ctx, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
		}
	}
	return nil
}

func (s *Service) list(ctx context.Context, userID string) ([]store.Factor, error) {
	fs, err := s.Store.ListFactors(ctx, userID)
	if err != nil {
		return nil, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
	}
	return fs, nil
}

// signInFactors returns the confirmed factors that can sign in (all but
// recovery codes), oldest first.
func signInFactors(fs []store.Factor) []store.Factor {
	var out []store.Factor
	for _, f := range fs {
		if f.Confirmed && f.Kind != KindRecovery {
			out = append(out, f)
		}
	}
	return out
}

// newID returns a random, opaque factor ID.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
