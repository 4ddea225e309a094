package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/store"
)

const (
	// RecoveryCodeCount is how many codes a set holds.
	RecoveryCodeCount = 10
	// recoveryCodeLen is a code's length without its hyphen: 50 bits.
	recoveryCodeLen = 10
	// recoveryAlphabet is Crockford's base32, lower case: no i, l, o or u.
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	recoveryHashAlg  = "hmac-sha256"
)

// recoveryData is a recovery factor's Data.
type recoveryData struct {
	Alg   string          `json:"alg"`
	Codes []recoveryEntry `json:"codes"`
}

type recoveryEntry struct {
	Hash   []byte    `json:"hash"`             // HMAC-SHA-256, see recoveryHash
	UsedAt time.Time `json:"used_at,omitzero"` // zero: unused
}

func decodeRecovery(b []byte) (recoveryData, error) {
	var d recoveryData
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("recovery codes: %w", err)
	}
	if d.Alg != recoveryHashAlg {
		return d, fmt.Errorf("recovery codes: unknown hash %q", d.Alg)
	}
	return d, nil
}

func (d recoveryData) remaining() int {
	n := 0
	for _, c := range d.Codes {
		if c.UsedAt.IsZero() {
			n++
		}
	}
	return n
}

// GenerateRecoveryCodes makes a new set of RecoveryCodeCount codes for the
// member, shown as xxxxx-xxxxx, and returns them: this is the only time they
// exist in clear. The previous set stops working at once.
func (s *Service) GenerateRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	if len(s.RecoveryKey) == 0 {
		return nil, errcode.Wrap(errcode.Internal, errors.New("mfa: no recovery key"))
	}
	old, err := s.list(ctx, userID)
	if err != nil {
		return nil, err
	}
	id := newID()
	codes := make([]string, 0, RecoveryCodeCount)
	d := recoveryData{Alg: recoveryHashAlg}
	seen := map[string]bool{}
	for len(codes) < RecoveryCodeCount {
		c := randomRecoveryCode()
		if seen[c] {
			continue // 1 in 2⁵⁰; but ten distinct codes are promised
		}
		seen[c] = true
		codes = append(codes, c[:5]+"-"+c[5:])
		d.Codes = append(d.Codes, recoveryEntry{Hash: s.recoveryHash(userID, id, c)})
	}
	data, err := json.Marshal(d)
	if err != nil {
		return nil, errcode.Wrap(errcode.Internal, err)
	}
	// The new set is made before the old ones go, so the member is never
	// without codes; should a delete fail, only the newest set counts
	// anyway (currentRecovery).
	now := s.now()
	if last, ok := currentRecovery(old); ok && !now.After(last.CreatedAt) {
		now = last.CreatedAt.Add(time.Microsecond) // keep "newest" well-defined
	}
	err = s.Store.CreateFactor(ctx, store.Factor{ID: id, UserID: userID, Kind: KindRecovery,
		Data: data, CreatedAt: now, Confirmed: true})
	if err != nil {
		return nil, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
	}
	for _, f := range old {
		if f.Kind != KindRecovery {
			continue
		}
		if err := s.Store.DeleteFactor(ctx, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
		}
	}
	return codes, nil
}

// UseRecoveryCode spends one of the member's recovery codes. Of concurrent
// uses of one code exactly one succeeds. Errors: MFARecoveryMalformed,
// MFARateLimited, MFARecoveryWrong (wrong, used, or no codes).
func (s *Service) UseRecoveryCode(ctx context.Context, userID, code string) error {
	code, ok := normalizeRecovery(code)
	if !ok {
		return fail(errcode.MFARecoveryMalformed, "recovery_code", ErrMalformed)
	}
	if err := s.attempt(ctx, userID); err != nil {
		return err
	}
	fs, err := s.list(ctx, userID)
	if err != nil {
		return err
	}
	r, ok := currentRecovery(fs)
	if !ok {
		return fail(errcode.MFARecoveryWrong, "recovery_code", ErrNotEnrolled)
	}
	wrong := fail(errcode.MFARecoveryWrong, "recovery_code", ErrWrongCode)
	hash := s.recoveryHash(userID, r.ID, code)
	now := s.now()
	_, err = s.Store.UpdateFactor(ctx, r.ID, func(f store.Factor) (store.Factor, error) {
		if f.UserID != userID {
			return f, wrong
		}
		d, err := decodeRecovery(f.Data)
		if err != nil {
			return f, fmt.Errorf("mfa: factor %s: %w", f.ID, err)
		}
		found := -1
		for i, c := range d.Codes {
			// Every entry is compared, each in constant time.
			if hmac.Equal(c.Hash, hash) && c.UsedAt.IsZero() && found < 0 {
				found = i
			}
		}
		if found < 0 {
			return f, wrong
		}
		d.Codes[found].UsedAt = now
		b, err := json.Marshal(d)
		if err != nil {
			return f, err
		}
		f.Data = b
		f.LastUsedAt = now
		return f, nil
	})
	switch {
	case errors.Is(err, wrong):
		return err
	case errors.Is(err, store.ErrNotFound):
		return wrong // replaced or removed meanwhile
	case err != nil:
		return errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
	}
	s.succeeded(ctx, userID)
	return nil
}

// RemainingRecoveryCodes returns how many unused codes the member's current
// set holds (0 without a set).
func (s *Service) RemainingRecoveryCodes(ctx context.Context, userID string) (int, error) {
	fs, err := s.list(ctx, userID)
	if err != nil {
		return 0, err
	}
	r, ok := currentRecovery(fs)
	if !ok {
		return 0, nil
	}
	d, err := decodeRecovery(r.Data)
	if err != nil {
		return 0, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: factor %s: %w", r.ID, err))
	}
	return d.remaining(), nil
}

// currentRecovery returns the member's newest recovery-code set: fs is
// oldest first. Older sets, which only a failed delete leaves, never count.
func currentRecovery(fs []store.Factor) (store.Factor, bool) {
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].Kind == KindRecovery {
			return fs[i], true
		}
	}
	return store.Factor{}, false
}

// recoveryHash is a code's stored hash: HMAC-SHA-256 under the server's
// recovery key, over the member, the set and the normalised code, so a
// hash copied to another member or set matches nothing.
func (s *Service) recoveryHash(userID, factorID, code string) []byte {
	m := hmac.New(sha256.New, s.RecoveryKey)
	m.Write([]byte("kaiin recovery code\x00" + userID + "\x00" + factorID + "\x00" + code))
	return m.Sum(nil)
}

// randomRecoveryCode returns recoveryCodeLen characters of
// recoveryAlphabet, uniformly (32 symbols: five bits each).
func randomRecoveryCode() string {
	var b [recoveryCodeLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = recoveryAlphabet[b[i]&31]
	}
	return string(b[:])
}

// normalizeRecovery returns code in its stored form, or false when it
// cannot be a recovery code. NFKC first (full-width characters), then
// lower case without spaces and hyphens (any dash), and Crockford's
// decoding of look-alikes: o is 0, i and l are 1.
func normalizeRecovery(code string) (string, bool) {
	code = strings.ToLower(norm.NFKC.String(code))
	var b strings.Builder
	for _, r := range code {
		switch {
		case r == 'o':
			r = '0'
		case r == 'i' || r == 'l':
			r = '1'
		}
		switch {
		case strings.ContainsRune(recoveryAlphabet, r):
			b.WriteRune(r)
		case r == ' ' || r == '\t' || r == '-' || r == '‐' || r == '‑' || r == '–' || r == '—' || r == '−' || r == 'ー':
			// separators
		default:
			return "", false
		}
	}
	if b.Len() != recoveryCodeLen {
		return "", false
	}
	return b.String(), true
}
