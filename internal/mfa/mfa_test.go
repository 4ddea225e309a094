package mfa

import (
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/errcode"
)

func TestRemoveFactor(t *testing.T) {
	e := newEnv(t, generous)
	ctx := t.Context()
	a := e.enrol(t, "u1")
	e.clock.add(time.Second) // same step, a later CreatedAt
	b := e.enrol(t, "u1")
	_, err := e.svc.GenerateRecoveryCodes(ctx, "u1")
	mustOK(t, "GenerateRecoveryCodes", err)

	err = e.svc.RemoveFactor(ctx, "u2", a.FactorID)
	wantCode(t, "RemoveFactor of another member's factor", err, errcode.MFAFactorUnknown, ErrUnknownFactor)
	err = e.svc.RemoveFactor(ctx, "u1", "no-such-factor")
	wantCode(t, "RemoveFactor of an unknown factor", err, errcode.MFAFactorUnknown, ErrUnknownFactor)

	// One app left: still on, recovery codes kept.
	mustOK(t, "RemoveFactor (first app)", e.svc.RemoveFactor(ctx, "u1", a.FactorID))
	fs, err := e.svc.Factors(ctx, "u1")
	if err != nil || len(fs) != 2 || fs[0].ID != b.FactorID || fs[1].Kind != KindRecovery || fs[1].Remaining != 10 {
		t.Errorf("Factors after removing one app = %+v, %v; want the other app and the codes", fs, err)
	}
	if err := e.svc.VerifyTOTP(ctx, "u1", e.codeAt(t, a.Secret, 0)); err == nil {
		t.Error("the removed app's code was accepted")
	}

	// The last app: off, and the recovery codes go with it.
	mustOK(t, "RemoveFactor (last app)", e.svc.RemoveFactor(ctx, "u1", b.FactorID))
	if on, err := e.svc.Enabled(ctx, "u1"); err != nil || on {
		t.Errorf("Enabled after removing the last app = %v, %v; want false", on, err)
	}
	if fs, err := e.store.ListFactors(ctx, "u1"); err != nil || len(fs) != 0 {
		t.Errorf("stored factors after removing the last app = %+v, %v; want none", fs, err)
	}
}

// TestRecoveryCodesAloneNotEnabled: recovery codes stand in for a factor;
// they do not turn two-step verification on.
func TestRecoveryCodesAloneNotEnabled(t *testing.T) {
	e := newEnv(t, generous)
	_, err := e.svc.GenerateRecoveryCodes(t.Context(), "u1")
	mustOK(t, "GenerateRecoveryCodes", err)
	if on, err := e.svc.Enabled(t.Context(), "u1"); err != nil || on {
		t.Errorf("Enabled with recovery codes only = %v, %v; want false", on, err)
	}
}
