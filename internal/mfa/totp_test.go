package mfa

import (
	"bytes"
	"encoding/base32"
	"errors"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/keys"
	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/store"
)

func TestBeginTOTP(t *testing.T) {
	e := newEnv(t, generous)
	ctx := t.Context()
	en, err := e.svc.BeginTOTP(ctx, "u1", "alice@example.com")
	if err != nil {
		t.Fatalf("BeginTOTP: %v", err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	if err != nil || len(secret) != 20 || len(en.Secret) != 32 {
		t.Errorf("Secret %q: %d bytes, %v; want 32 base32 characters for 20 bytes", en.Secret, len(secret), err)
	}

	u, err := url.Parse(en.URI)
	if err != nil {
		t.Fatalf("URI %q: %v", en.URI, err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Kaiin:alice@example.com" ||
		q.Get("secret") != en.Secret || q.Get("issuer") != "Kaiin" || q.Get("algorithm") != "SHA1" ||
		q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Errorf("URI = %s; want otpauth://totp/Kaiin:alice@example.com with the secret, issuer Kaiin, SHA1, 6 digits, 30 s", en.URI)
	}

	img, err := png.Decode(bytes.NewReader(en.QRPNG))
	if err != nil {
		t.Fatalf("QRPNG is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
		t.Errorf("QR code is %v, want 256×256", b)
	}

	f, err := e.store.GetFactor(ctx, en.FactorID)
	if err != nil {
		t.Fatalf("GetFactor: %v", err)
	}
	if f.UserID != "u1" || f.Kind != KindTOTP || f.Confirmed || !f.CreatedAt.Equal(t0) {
		t.Errorf("stored factor = %+v; want an unconfirmed TOTP factor of u1 made at t0", f)
	}
	// Pending: not enabled, not listed, and no code is checked against it.
	if on, err := e.svc.Enabled(ctx, "u1"); err != nil || on {
		t.Errorf("Enabled before confirmation = %v, %v; want false", on, err)
	}
	if fs, err := e.svc.Factors(ctx, "u1"); err != nil || len(fs) != 0 {
		t.Errorf("Factors before confirmation = %+v, %v; want none", fs, err)
	}
	err = e.svc.VerifyTOTP(ctx, "u1", e.codeAt(t, en.Secret, 0))
	wantCode(t, "VerifyTOTP before confirmation", err, errcode.MFANotEnrolled, ErrNotEnrolled)

	// A second enrolment replaces the pending one.
	en2, err := e.svc.BeginTOTP(ctx, "u1", "alice@example.com")
	if err != nil {
		t.Fatalf("second BeginTOTP: %v", err)
	}
	if en2.Secret == en.Secret || en2.FactorID == en.FactorID {
		t.Error("second BeginTOTP reused the first's secret or ID")
	}
	if _, err := e.store.GetFactor(ctx, en.FactorID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("first pending factor after a second BeginTOTP: error = %v, want ErrNotFound", err)
	}
	err = e.svc.ConfirmTOTP(ctx, "u1", en.FactorID, e.codeAt(t, en.Secret, 0))
	wantCode(t, "ConfirmTOTP of the replaced enrolment", err, errcode.MFAFactorUnknown, ErrUnknownFactor)
}

// TestSecretSealedAtRest: the database holds the TOTP secret only sealed,
// bound to its factor and member.
func TestSecretSealedAtRest(t *testing.T) {
	e := newEnv(t, generous)
	ctx := t.Context()
	en := e.enrol(t, "u1")
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)

	var raw []byte
	if err := e.db.QueryRowContext(ctx, `SELECT secret FROM factors WHERE id = $1`, en.FactorID).Scan(&raw); err != nil {
		t.Fatalf("read the secret column: %v", err)
	}
	for _, plain := range [][]byte{secret, []byte(en.Secret), []byte(strings.ToLower(en.Secret))} {
		if bytes.Contains(raw, plain) {
			t.Errorf("the secret column holds the secret in clear (%q)", plain)
		}
	}
	// Nor anywhere in the database files (the WAL included).
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(dbPath(t, e)), "*"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, secret) || bytes.Contains(b, []byte(en.Secret)) {
			t.Errorf("%s holds the secret in clear", filepath.Base(name))
		}
	}

	got, err := e.sealer.Open(raw, totpAAD(en.FactorID, "u1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Open with the factor's additional data = %x, %v; want the secret", got, err)
	}
	if _, err := e.sealer.Open(raw, totpAAD("other-factor", "u1")); !errors.Is(err, keys.ErrCorrupt) {
		t.Errorf("Open bound to another factor: error = %v, want ErrCorrupt", err)
	}
	if _, err := e.sealer.Open(raw, totpAAD(en.FactorID, "u2")); !errors.Is(err, keys.ErrCorrupt) {
		t.Errorf("Open bound to another member: error = %v, want ErrCorrupt", err)
	}

	// A sealed secret copied into another member's factor does not open:
	// that member's codes fail with an internal error, not a match.
	other := e.enrol(t, "u2")
	if _, err := e.store.UpdateFactor(ctx, other.FactorID, func(f store.Factor) (store.Factor, error) {
		f.Secret = raw
		return f, nil
	}); err != nil {
		t.Fatal(err)
	}
	err = e.svc.VerifyTOTP(ctx, "u2", e.codeAt(t, en.Secret, 0))
	wantCode(t, "VerifyTOTP with a transplanted secret", err, errcode.Internal, keys.ErrCorrupt)
}

func dbPath(t *testing.T, e *env) string {
	t.Helper()
	var seq int
	var name, file string
	if err := e.db.QueryRowContext(t.Context(), `PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		t.Fatalf("database_list: %v", err)
	}
	return file
}

func TestConfirmTOTP(t *testing.T) {
	e := newEnv(t, generous)
	ctx := t.Context()
	en, err := e.svc.BeginTOTP(ctx, "u1", "u1@example.com")
	mustOK(t, "BeginTOTP", err)

	err = e.svc.ConfirmTOTP(ctx, "u1", en.FactorID, wrongCode(e.codeAt(t, en.Secret, 0)))
	wantCode(t, "ConfirmTOTP with a wrong code", err, errcode.MFACodeWrong, ErrWrongCode)
	err = e.svc.ConfirmTOTP(ctx, "u2", en.FactorID, e.codeAt(t, en.Secret, 0))
	wantCode(t, "ConfirmTOTP of another member's factor", err, errcode.MFAFactorUnknown, ErrUnknownFactor)
	err = e.svc.ConfirmTOTP(ctx, "u1", "no-such-factor", e.codeAt(t, en.Secret, 0))
	wantCode(t, "ConfirmTOTP of an unknown factor", err, errcode.MFAFactorUnknown, ErrUnknownFactor)

	mustOK(t, "ConfirmTOTP", e.svc.ConfirmTOTP(ctx, "u1", en.FactorID, e.codeAt(t, en.Secret, 0)))
	if on, err := e.svc.Enabled(ctx, "u1"); err != nil || !on {
		t.Errorf("Enabled after confirmation = %v, %v; want true", on, err)
	}
	if on, err := e.svc.Enabled(ctx, "u2"); err != nil || on {
		t.Errorf("Enabled of another member = %v, %v; want false", on, err)
	}
	fs, err := e.svc.Factors(ctx, "u1")
	if err != nil || len(fs) != 1 || fs[0].ID != en.FactorID || fs[0].Kind != KindTOTP || !fs[0].CreatedAt.Equal(t0) {
		t.Errorf("Factors = %+v, %v; want the TOTP factor", fs, err)
	}

	// Confirming twice is refused, even with a fresh code.
	e.clock.add(30 * time.Second)
	err = e.svc.ConfirmTOTP(ctx, "u1", en.FactorID, e.codeAt(t, en.Secret, 0))
	wantCode(t, "second ConfirmTOTP", err, errcode.MFAFactorUnknown, ErrUnknownFactor)
	// The confirming code's step is spent.
	e.clock.add(-30 * time.Second)
	err = e.svc.VerifyTOTP(ctx, "u1", e.codeAt(t, en.Secret, 0))
	wantCode(t, "VerifyTOTP with the confirming code", err, errcode.MFACodeWrong, ErrReplayed)
}

func TestConfirmTOTPExpired(t *testing.T) {
	e := newEnv(t, generous)
	en, err := e.svc.BeginTOTP(t.Context(), "u1", "u1@example.com")
	mustOK(t, "BeginTOTP", err)
	e.clock.add(EnrollTimeout + time.Minute)
	err = e.svc.ConfirmTOTP(t.Context(), "u1", en.FactorID, e.codeAt(t, en.Secret, 0))
	wantCode(t, "ConfirmTOTP after EnrollTimeout", err, errcode.MFAEnrollExpired, ErrEnrollExpired)
}

// TestVerifyTOTPSteps: the current step and one either side are accepted,
// two steps off are not, and a spent step (or an earlier one) never again.
func TestVerifyTOTPSteps(t *testing.T) {
	e := newEnv(t, generous)
	ctx := t.Context()
	en := e.enrol(t, "u1") // spends the step before the current one
	secret := en.Secret

	for _, off := range []int64{-2, 2, 3, -3} {
		err := e.svc.VerifyTOTP(ctx, "u1", e.codeAt(t, secret, off))
		wantCode(t, "VerifyTOTP two or more steps off", err, errcode.MFACodeWrong, ErrWrongCode)
		if errors.Is(err, ErrReplayed) {
			t.Errorf("a code %d steps off was reported as replayed", off)
		}
	}
	err := e.svc.VerifyTOTP(ctx, "u1", wrongCode(e.codeAt(t, secret, 0)))
	wantCode(t, "VerifyTOTP with a wrong code", err, errcode.MFACodeWrong, ErrWrongCode)

	mustOK(t, "VerifyTOTP (current step)", e.svc.VerifyTOTP(ctx, "u1", e.codeAt(t, secret, 0)))
	err = e.svc.VerifyTOTP(ctx, "u1", e.codeAt(t, secret, 0))
	wantCode(t, "VerifyTOTP replaying the accepted code", err, errcode.MFACodeWrong, ErrReplayed)

	mustOK(t, "VerifyTOTP (next step)", e.svc.VerifyTOTP(ctx, "u1", e.codeAt(t, secret, 1)))
	err = e.svc.VerifyTOTP(ctx, "u1", e.codeAt(t, secret, 1))
	wantCode(t, "VerifyTOTP replaying the next step's code", err, errcode.MFACodeWrong, ErrReplayed)

	// Three steps later the code of the previous step is accepted.
	e.clock.add(3 * 30 * time.Second)
	mustOK(t, "VerifyTOTP (previous step)", e.svc.VerifyTOTP(ctx, "u1", e.codeAt(t, secret, -1)))

	fs, err := e.svc.Factors(ctx, "u1")
	if err != nil || len(fs) != 1 || !fs[0].LastUsedAt.Equal(e.clock.Now()) {
		t.Errorf("Factors = %+v, %v; want LastUsedAt %v", fs, err, e.clock.Now())
	}
	if err := e.svc.VerifyTOTP(ctx, "u2", e.codeAt(t, secret, 0)); err == nil {
		t.Error("another member signed in with u1's code")
	}
}

// TestReplayBothLayers: each of the two records of a spent step refuses a
// replay on its own.
func TestReplayBothLayers(t *testing.T) {
	e := newEnv(t, generous)
	ctx := t.Context()
	en := e.enrol(t, "u1")
	code := e.codeAt(t, en.Secret, 0)
	mustOK(t, "VerifyTOTP", e.svc.VerifyTOTP(ctx, "u1", code))

	// The hot state lost (a new, empty one): the factor's last step refuses.
	fresh := *e.svc
	empty := newEnv(t, generous)
	fresh.State = empty.hot
	err := fresh.VerifyTOTP(ctx, "u1", code)
	wantCode(t, "replay with an empty hot state", err, errcode.MFACodeWrong, ErrReplayed)
	// So is an earlier step the hot state never saw.
	err = fresh.VerifyTOTP(ctx, "u1", e.codeAt(t, en.Secret, -1))
	wantCode(t, "an earlier step with an empty hot state", err, errcode.MFACodeWrong, ErrReplayed)

	// The factor's last step reset: the hot state refuses.
	if _, err := e.store.UpdateFactor(ctx, en.FactorID, func(f store.Factor) (store.Factor, error) {
		f.Data = []byte(`{"last_step":0}`)
		return f, nil
	}); err != nil {
		t.Fatal(err)
	}
	err = e.svc.VerifyTOTP(ctx, "u1", code)
	wantCode(t, "replay with the factor's last step reset", err, errcode.MFACodeWrong, ErrReplayed)
}

// TestVerifyTOTPConcurrent: one code submitted 10 times at once, as a
// phishing proxy racing the member might, is accepted exactly once.
func TestVerifyTOTPConcurrent(t *testing.T) {
	e := newEnv(t, generous)
	en := e.enrol(t, "u1")
	code := e.codeAt(t, en.Secret, 0)
	const n = 10
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = e.svc.VerifyTOTP(t.Context(), "u1", code)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			wantCode(t, "concurrent VerifyTOTP", err, errcode.MFACodeWrong, ErrReplayed)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent submissions of one code succeeded, want 1", ok, n)
	}
}

func TestTOTPInput(t *testing.T) {
	e := newEnv(t, generous)
	ctx := t.Context()
	en := e.enrol(t, "u1")

	for _, code := range []string{"", "12345", "1234567", "12345a", "abcdef", "12-456", "１２３４５", "١٢٣٤٥٦"} {
		err := e.svc.VerifyTOTP(ctx, "u1", code)
		wantCode(t, "VerifyTOTP("+code+")", err, errcode.MFACodeMalformed, ErrMalformed)
		if ce, ok := errcode.As(err); ok && ce.Field != "code" {
			t.Errorf("VerifyTOTP(%q) error field = %q, want code", code, ce.Field)
		}
	}
	// Full-width digits (a Japanese IME's default) are the same code.
	mustOK(t, "VerifyTOTP (full-width)", e.svc.VerifyTOTP(ctx, "u1", fullWidth(e.codeAt(t, en.Secret, 0))))
	// And so is a code typed in two halves, with an ideographic space.
	c := e.codeAt(t, en.Secret, 1)
	mustOK(t, "VerifyTOTP (spaced)", e.svc.VerifyTOTP(ctx, "u1", " "+c[:3]+"\u3000"+c[3:]+"\n"))
}

// TestTOTPRealClock: with the real clock, the code oathtool computes from
// its own clock is accepted.
func TestTOTPRealClock(t *testing.T) {
	e := newEnv(t, generous)
	e.svc.Now = nil
	e.hot.Now = nil
	ctx := t.Context()
	en, err := e.svc.BeginTOTP(ctx, "u1", "u1@example.com")
	mustOK(t, "BeginTOTP", err)
	mustOK(t, "ConfirmTOTP", e.svc.ConfirmTOTP(ctx, "u1", en.FactorID, oathtool(t, en.Secret, time.Time{})))
	// The confirming step is spent; the next one is accepted early.
	next := oathtool(t, en.Secret, time.Now().Add(30*time.Second))
	mustOK(t, "VerifyTOTP", e.svc.VerifyTOTP(ctx, "u1", next))
}

func TestTwoAuthenticators(t *testing.T) {
	e := newEnv(t, generous)
	ctx := t.Context()
	a := e.enrol(t, "u1")
	e.clock.add(time.Second) // same step, a later CreatedAt
	b := e.enrol(t, "u1")
	mustOK(t, "VerifyTOTP (second app)", e.svc.VerifyTOTP(ctx, "u1", e.codeAt(t, b.Secret, 0)))
	// Steps are spent per app: the first app's code of the same step works.
	mustOK(t, "VerifyTOTP (first app)", e.svc.VerifyTOTP(ctx, "u1", e.codeAt(t, a.Secret, 0)))
	fs, err := e.svc.Factors(ctx, "u1")
	if err != nil || len(fs) != 2 || fs[0].ID != a.FactorID || fs[1].ID != b.FactorID {
		t.Errorf("Factors = %+v, %v; want both apps, oldest first", fs, err)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, ratelimit.Rate{}) // zero: DefaultRate, 5 per 5 minutes
	ctx := t.Context()
	en := e.enrol(t, "u1") // a success: the count starts at zero
	e.enrol(t, "u2")
	good := func() string { return e.codeAt(t, en.Secret, 0) }

	for i := range 5 {
		err := e.svc.VerifyTOTP(ctx, "u1", wrongCode(good()))
		wantCode(t, "wrong code "+string(rune('1'+i)), err, errcode.MFACodeWrong, ErrWrongCode)
	}
	err := e.svc.VerifyTOTP(ctx, "u1", good())
	wantCode(t, "sixth attempt, right code", err, errcode.MFARateLimited, ErrRateLimited)
	err = e.svc.UseRecoveryCode(ctx, "u1", "aaaaa-aaaaa")
	wantCode(t, "recovery code while limited", err, errcode.MFARateLimited, ErrRateLimited)
	// Malformed input is refused before it counts, and says so.
	err = e.svc.VerifyTOTP(ctx, "u1", "12")
	wantCode(t, "malformed while limited", err, errcode.MFACodeMalformed, ErrMalformed)

	// Another member is not limited.
	err = e.svc.VerifyTOTP(ctx, "u2", "000000")
	if _, ok := errcode.As(err); !ok || errors.Is(err, ErrRateLimited) {
		t.Errorf("another member's attempt: error = %v, want a wrong code", err)
	}

	// After the window the member may try again, and a success clears
	// the count: five more failures are allowed.
	e.clock.add(DefaultRate.Per + time.Second)
	mustOK(t, "VerifyTOTP after the window", e.svc.VerifyTOTP(ctx, "u1", good()))
	for range 5 {
		err := e.svc.VerifyTOTP(ctx, "u1", wrongCode(good()))
		wantCode(t, "wrong code after a success", err, errcode.MFACodeWrong, nil)
	}
	err = e.svc.VerifyTOTP(ctx, "u1", wrongCode(good()))
	wantCode(t, "sixth failure after a success", err, errcode.MFARateLimited, ErrRateLimited)
}

func TestValidate(t *testing.T) {
	err := (&Service{RecoveryKey: []byte("short")}).Validate()
	if err == nil {
		t.Fatal("Validate of an empty Service passed")
	}
	for _, want := range []string{"Store", "State", "Sealer", "RecoveryKey is 5 bytes", "Limiter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not name %s", err, want)
		}
	}
	// Without a limiter every attempt is refused (fail closed).
	e := newEnv(t, generous)
	en := e.enrol(t, "u1")
	e.svc.Limiter = nil
	err = e.svc.VerifyTOTP(t.Context(), "u1", e.codeAt(t, en.Secret, 0))
	wantCode(t, "VerifyTOTP without a limiter", err, errcode.Internal, nil)
}

// wrongCode returns a six-digit code other than code.
func wrongCode(code string) string {
	b := []byte(code)
	b[5] = '0' + (b[5]-'0'+1)%10
	return string(b)
}

func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r - '0' + '０')
	}
	return b.String()
}
