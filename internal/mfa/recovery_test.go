package mfa

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/kaiin-project/kaiin/internal/errcode"
)

var recoveryShape = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

func TestRecoveryCodes(t *testing.T) {
	e := newEnv(t, generous)
	ctx := t.Context()
	e.enrol(t, "u1")

	if n, err := e.svc.RemainingRecoveryCodes(ctx, "u1"); err != nil || n != 0 {
		t.Errorf("RemainingRecoveryCodes before any = %d, %v; want 0", n, err)
	}
	err := e.svc.UseRecoveryCode(ctx, "u1", "abcde-fghjk")
	wantCode(t, "UseRecoveryCode without codes", err, errcode.MFARecoveryWrong, ErrNotEnrolled)

	codes, err := e.svc.GenerateRecoveryCodes(ctx, "u1")
	mustOK(t, "GenerateRecoveryCodes", err)
	if len(codes) != 10 {
		t.Fatalf("GenerateRecoveryCodes returned %d codes, want 10", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryShape.MatchString(c) {
			t.Errorf("code %q is not xxxxx-xxxxx in Crockford base32", c)
		}
		if seen[c] {
			t.Errorf("code %q given twice", c)
		}
		seen[c] = true
	}
	if n, err := e.svc.RemainingRecoveryCodes(ctx, "u1"); err != nil || n != 10 {
		t.Errorf("RemainingRecoveryCodes = %d, %v; want 10", n, err)
	}

	// Only hashes are stored.
	var data []byte
	if err := e.db.QueryRowContext(ctx, `SELECT data FROM factors WHERE kind = 'recovery'`).Scan(&data); err != nil {
		t.Fatalf("read the recovery factor: %v", err)
	}
	for _, c := range codes {
		if bytes.Contains(data, []byte(c)) || bytes.Contains(data, []byte(strings.ReplaceAll(c, "-", ""))) {
			t.Errorf("the stored data holds code %s in clear", c)
		}
	}

	// Each works once; the inputs vary as people type them.
	typed := func(i int, c string) string {
		switch i % 4 {
		case 1:
			return strings.ToUpper(c)
		case 2:
			return " " + strings.ReplaceAll(c, "-", "") + " "
		case 3:
			return fullWidthASCII(strings.ToUpper(c))
		}
		return c
	}
	for i, c := range codes {
		mustOK(t, "UseRecoveryCode("+typed(i, c)+")", e.svc.UseRecoveryCode(ctx, "u1", typed(i, c)))
		err := e.svc.UseRecoveryCode(ctx, "u1", c)
		wantCode(t, "UseRecoveryCode a second time", err, errcode.MFARecoveryWrong, ErrWrongCode)
		if n, err := e.svc.RemainingRecoveryCodes(ctx, "u1"); err != nil || n != 9-i {
			t.Errorf("RemainingRecoveryCodes after %d uses = %d, %v; want %d", i+1, n, err, 9-i)
		}
	}
	fs, err := e.svc.Factors(ctx, "u1")
	if err != nil || len(fs) != 2 || fs[1].Kind != KindRecovery || fs[1].Remaining != 0 || !fs[1].LastUsedAt.Equal(t0) {
		t.Errorf("Factors = %+v, %v; want the app, then the spent recovery set used at t0", fs, err)
	}
}

func TestRecoveryCodeInput(t *testing.T) {
	e := newEnv(t, generous)
	ctx := t.Context()
	for _, c := range []string{"", "abcde", "abcde-fghjk-m", "abcde-fghj", "abcde_fghjk", "abcdé-fghjk", "123456"} {
		err := e.svc.UseRecoveryCode(ctx, "u1", c)
		wantCode(t, "UseRecoveryCode("+c+")", err, errcode.MFARecoveryMalformed, ErrMalformed)
	}
	// Crockford's look-alikes read as digits.
	for in, want := range map[string]string{
		"O0o1I-lLiab": "00011111ab",
		"ABCDE－FGHJK": "abcdefghjk", // full-width hyphen
		"abcde fghjk": "abcdefghjk",
		"abcde—fghjk": "abcdefghjk",
		"ａｂｃｄｅ　ｆｇｈｊｋ": "abcdefghjk",
	} {
		if got, ok := normalizeRecovery(in); !ok || got != want {
			t.Errorf("normalizeRecovery(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	// A code with look-alikes typed in their place still works.
	codes, err := e.svc.GenerateRecoveryCodes(ctx, "u1")
	mustOK(t, "GenerateRecoveryCodes", err)
	c := strings.NewReplacer("0", "O", "1", "l").Replace(codes[0])
	mustOK(t, "UseRecoveryCode with look-alikes", e.svc.UseRecoveryCode(ctx, "u1", c))
}

func TestRecoveryCodesRegenerate(t *testing.T) {
	e := newEnv(t, generous)
	ctx := t.Context()
	old, err := e.svc.GenerateRecoveryCodes(ctx, "u1")
	mustOK(t, "GenerateRecoveryCodes", err)
	mustOK(t, "UseRecoveryCode (old set)", e.svc.UseRecoveryCode(ctx, "u1", old[0]))

	codes, err := e.svc.GenerateRecoveryCodes(ctx, "u1")
	mustOK(t, "GenerateRecoveryCodes again", err)
	for _, c := range old[1:] {
		err := e.svc.UseRecoveryCode(ctx, "u1", c)
		wantCode(t, "UseRecoveryCode of the replaced set", err, errcode.MFARecoveryWrong, ErrWrongCode)
	}
	if n, err := e.svc.RemainingRecoveryCodes(ctx, "u1"); err != nil || n != 10 {
		t.Errorf("RemainingRecoveryCodes of the new set = %d, %v; want 10", n, err)
	}
	mustOK(t, "UseRecoveryCode (new set)", e.svc.UseRecoveryCode(ctx, "u1", codes[3]))

	fs, err := e.store.ListFactors(ctx, "u1")
	if err != nil || len(fs) != 1 || fs[0].Kind != KindRecovery {
		t.Errorf("stored factors = %+v, %v; want one recovery set", fs, err)
	}
	// Another member's codes are not this member's.
	err = e.svc.UseRecoveryCode(ctx, "u2", codes[4])
	wantCode(t, "UseRecoveryCode by another member", err, errcode.MFARecoveryWrong, nil)
	// Nor do they survive a new recovery key.
	e.svc.RecoveryKey = bytes.Repeat([]byte{1}, 32)
	err = e.svc.UseRecoveryCode(ctx, "u1", codes[5])
	wantCode(t, "UseRecoveryCode under another key", err, errcode.MFARecoveryWrong, ErrWrongCode)
}

// TestRecoveryCodeConcurrent: 20 uses of one code at once; exactly one
// succeeds.
func TestRecoveryCodeConcurrent(t *testing.T) {
	e := newEnv(t, generous)
	codes, err := e.svc.GenerateRecoveryCodes(t.Context(), "u1")
	mustOK(t, "GenerateRecoveryCodes", err)
	const n = 20
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = e.svc.UseRecoveryCode(t.Context(), "u1", codes[0])
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			wantCode(t, "concurrent UseRecoveryCode", err, errcode.MFARecoveryWrong, ErrWrongCode)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent uses of one code succeeded, want 1", ok, n)
	}
	if r, err := e.svc.RemainingRecoveryCodes(t.Context(), "u1"); err != nil || r != 9 {
		t.Errorf("RemainingRecoveryCodes = %d, %v; want 9", r, err)
	}
}

func fullWidthASCII(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > ' ' && r < 0x7f {
			r += 0xFF01 - '!'
		}
		b.WriteRune(r)
	}
	return b.String()
}
