package mfa

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/text/unicode/norm"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/store"
)

// TOTP parameters: what authenticator apps assume, whatever the URI says.
const (
	totpPeriod     = 30 // seconds
	totpDigits     = otp.DigitsSix
	totpSecretSize = 20 // bytes: 160 bits, as RFC 4226 recommends
	totpSkew       = 1  // steps accepted either side of the current one
	qrSize         = 256
)

var totpAlgorithm = otp.AlgorithmSHA1

// b32 is how authenticator apps write secrets: RFC 4648 base32, unpadded.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Enrollment is what the enrolment page shows. Secret and URI are the
// secret itself: show them to the member only, never log or store them.
type Enrollment struct {
	// FactorID names the pending factor; ConfirmTOTP takes it back.
	FactorID string
	// Secret is the key as base32 text (32 characters), for apps that
	// cannot scan; the page may group it in fours.
	Secret string
	// URI is the otpauth:// key URI the QR code holds.
	URI string
	// QRPNG is the QR code of URI, a PNG image (serve it as a data: URL).
	QRPNG []byte
}

// totpData is a TOTP factor's Data.
type totpData struct {
	// LastStep is the last time step accepted (0: none yet); it and every
	// earlier step are refused.
	LastStep int64 `json:"last_step"`
}

// BeginTOTP starts enrolling an authenticator app for the member:
// accountName (the email) labels it in the app. It stores an unconfirmed
// factor, with its secret sealed, and drops the member's earlier
// unconfirmed ones.
func (s *Service) BeginTOTP(ctx context.Context, userID, accountName string) (Enrollment, error) {
	if userID == "" || accountName == "" {
		return Enrollment{}, errcode.Wrap(errcode.Internal, errors.New("mfa: begin TOTP: empty user or account name"))
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      s.issuer(),
		AccountName: accountName,
		Period:      totpPeriod,
		SecretSize:  totpSecretSize,
		Digits:      totpDigits,
		Algorithm:   totpAlgorithm,
	})
	if err != nil {
		return Enrollment{}, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: generate TOTP key: %w", err))
	}
	secret, err := b32.DecodeString(key.Secret())
	if err != nil {
		return Enrollment{}, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: generated TOTP secret: %w", err))
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return Enrollment{}, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: QR code: %w", err))
	}
	var qr bytes.Buffer
	if err := png.Encode(&qr, img); err != nil {
		return Enrollment{}, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: QR code: %w", err))
	}

	fs, err := s.list(ctx, userID)
	if err != nil {
		return Enrollment{}, err
	}
	for _, f := range fs {
		if f.Kind == KindTOTP && !f.Confirmed {
			if err := s.Store.DeleteFactor(ctx, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return Enrollment{}, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
			}
		}
	}

	id := newID()
	sealed, err := s.Sealer.Seal(secret, totpAAD(id, userID))
	if err != nil {
		return Enrollment{}, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: seal TOTP secret: %w", err))
	}
	data, err := json.Marshal(totpData{})
	if err != nil {
		return Enrollment{}, errcode.Wrap(errcode.Internal, err)
	}
	err = s.Store.CreateFactor(ctx, store.Factor{ID: id, UserID: userID, Kind: KindTOTP,
		Secret: sealed, Data: data, CreatedAt: s.now()})
	if err != nil {
		return Enrollment{}, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
	}
	return Enrollment{FactorID: id, Secret: key.Secret(), URI: key.URL(), QRPNG: qr.Bytes()}, nil
}

// ConfirmTOTP finishes an enrolment with a first code from the app. The
// code's step is spent, as by VerifyTOTP. Errors: MFACodeMalformed,
// MFARateLimited, MFAFactorUnknown (no such pending factor of the member,
// or already confirmed), MFAEnrollExpired, MFACodeWrong.
func (s *Service) ConfirmTOTP(ctx context.Context, userID, factorID, code string) error {
	code, err := normalizeTOTP(code)
	if err != nil {
		return err
	}
	if err := s.attempt(ctx, userID); err != nil {
		return err
	}
	f, err := s.Store.GetFactor(ctx, factorID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (f.UserID != userID || f.Kind != KindTOTP || f.Confirmed)) {
		return errcode.Wrap(errcode.MFAFactorUnknown, ErrUnknownFactor)
	}
	if err != nil {
		return errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
	}
	now := s.now()
	if now.Sub(f.CreatedAt) > EnrollTimeout {
		return errcode.Wrap(errcode.MFAEnrollExpired, ErrEnrollExpired)
	}
	step, ok, err := s.match(f, code, now)
	if err != nil {
		return err
	}
	if !ok {
		return fail(errcode.MFACodeWrong, "code", ErrWrongCode)
	}
	if err := s.spend(ctx, f, step, func(f store.Factor) (store.Factor, error) {
		if f.Confirmed {
			return f, errcode.Wrap(errcode.MFAFactorUnknown, ErrUnknownFactor)
		}
		f.Confirmed = true
		return f, nil
	}); err != nil {
		return err
	}
	s.succeeded(ctx, userID)
	return nil
}

// VerifyTOTP checks a code against the member's confirmed authenticator
// apps and spends its time step, so the same code is refused afterwards.
// Errors: MFACodeMalformed, MFARateLimited, MFANotEnrolled, MFACodeWrong
// (with cause ErrWrongCode, or ErrReplayed for a spent step).
func (s *Service) VerifyTOTP(ctx context.Context, userID, code string) error {
	code, err := normalizeTOTP(code)
	if err != nil {
		return err
	}
	if err := s.attempt(ctx, userID); err != nil {
		return err
	}
	fs, err := s.list(ctx, userID)
	if err != nil {
		return err
	}
	now := s.now()
	enrolled := false
	for _, f := range fs {
		if f.Kind != KindTOTP || !f.Confirmed {
			continue
		}
		enrolled = true
		step, ok, err := s.match(f, code, now)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := s.spend(ctx, f, step, func(f store.Factor) (store.Factor, error) {
			if !f.Confirmed {
				return f, fail(errcode.MFACodeWrong, "code", ErrWrongCode)
			}
			f.LastUsedAt = now
			return f, nil
		}); err != nil {
			return err
		}
		s.succeeded(ctx, userID)
		return nil
	}
	if !enrolled {
		return errcode.Wrap(errcode.MFANotEnrolled, ErrNotEnrolled)
	}
	return fail(errcode.MFACodeWrong, "code", ErrWrongCode)
}

// match reports whether code is f's code for the step of now or one either
// side, and which step. Every candidate is compared, in constant time.
func (s *Service) match(f store.Factor, code string, now time.Time) (step int64, ok bool, err error) {
	secret, err := s.Sealer.Open(f.Secret, totpAAD(f.ID, f.UserID))
	if err != nil {
		return 0, false, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: open TOTP secret of factor %s: %w", f.ID, err))
	}
	b32secret := b32.EncodeToString(secret)
	current := now.Unix() / totpPeriod
	for st := current - totpSkew; st <= current+totpSkew; st++ {
		if st < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(b32secret, uint64(st), hotp.ValidateOpts{
			Digits: totpDigits, Algorithm: totpAlgorithm})
		if err != nil {
			return 0, false, errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: TOTP code of factor %s: %w", f.ID, err))
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = st, true
		}
	}
	return step, ok, nil
}

// spend records step as used for factor f, first in the hot state (SetNX:
// one winner across nodes) and then in f's Data (monotonic, durable), and
// applies also to f in the same transaction. A spent step gets MFACodeWrong
// with cause ErrReplayed.
func (s *Service) spend(ctx context.Context, f store.Factor, step int64, also func(store.Factor) (store.Factor, error)) error {
	fresh, err := s.State.SetNX(ctx, usedKey(f.ID, step), []byte{1}, usedTTL)
	if err != nil {
		return errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: record TOTP step: %w", err))
	}
	if !fresh {
		return fail(errcode.MFACodeWrong, "code", ErrReplayed)
	}
	_, err = s.Store.UpdateFactor(ctx, f.ID, func(f store.Factor) (store.Factor, error) {
		var d totpData
		if len(f.Data) > 0 {
			if err := json.Unmarshal(f.Data, &d); err != nil {
				return f, fmt.Errorf("mfa: factor %s data: %w", f.ID, err)
			}
		}
		if step <= d.LastStep {
			return f, fail(errcode.MFACodeWrong, "code", ErrReplayed)
		}
		d.LastStep = step
		b, err := json.Marshal(d)
		if err != nil {
			return f, err
		}
		f.Data = b
		return also(f)
	})
	if _, coded := errcode.As(err); coded {
		return err
	}
	if errors.Is(err, store.ErrNotFound) {
		// Removed between the read and now.
		return fail(errcode.MFACodeWrong, "code", ErrWrongCode)
	}
	if err != nil {
		return errcode.Wrap(errcode.Internal, fmt.Errorf("mfa: %w", err))
	}
	return nil
}

// usedTTL keeps a spent step's mark while its code can still be accepted:
// from the start of the step before it to the end of the step after it,
// plus one step of margin.
const usedTTL = (2*totpSkew + 2) * totpPeriod * time.Second

func usedKey(factorID string, step int64) string {
	return "mfa:totp-used:" + factorID + ":" + strconv.FormatInt(step, 10)
}

// totpAAD binds a sealed TOTP secret to its factor and member.
func totpAAD(factorID, userID string) []byte {
	return []byte("mfa-totp\x00" + factorID + "\x00" + userID)
}

// normalizeTOTP returns code as six ASCII digits: NFKC first (full-width
// digits and spaces become ASCII), then spaces are dropped ("123 456").
func normalizeTOTP(code string) (string, error) {
	code = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, norm.NFKC.String(code))
	if len(code) != totpDigits.Length() {
		return "", fail(errcode.MFACodeMalformed, "code", ErrMalformed)
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", fail(errcode.MFACodeMalformed, "code", ErrMalformed)
		}
	}
	return code, nil
}

// QRPNG draws the enrolment QR code of a TOTP secret (base32, as
// Enrollment.Secret) for accountName again, for a setup page shown a
// second time after a wrong first code.
func QRPNG(accountName, secret string) ([]byte, error) {
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/Kaiin:" + accountName}
	q := url.Values{"secret": {secret}, "issuer": {"Kaiin"}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	u.RawQuery = q.Encode()
	key, err := otp.NewKeyFromURL(u.String())
	if err != nil {
		return nil, err
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
