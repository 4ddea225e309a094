package mfa

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/keys"
	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/state/sqlstate"
	"github.com/kaiin-project/kaiin/internal/store"
	"github.com/kaiin-project/kaiin/internal/store/sqlstore"
)

// t0 is the tests' clock: 15 s into a 30 s step.
var t0 = time.Date(2026, 8, 1, 0, 30, 15, 0, time.UTC)

// clock is a settable time, safe for concurrent use.
type clock struct{ unix atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}
func (c *clock) set(t time.Time)     { c.unix.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.unix.Add(int64(d)) }
func (c *clock) Now() time.Time      { return time.Unix(0, c.unix.Load()).UTC() }
func (c *clock) step() int64         { return c.Now().Unix() / 30 }
func stepTime(step int64) time.Time  { return time.Unix(step*30, 0).UTC() }

// env is a Service on real stores: the SQL durable store and hot state on
// one SQLite database, the clock pinned for both.
type env struct {
	svc    *Service
	db     *sqldb.DB
	store  *sqlstore.Store
	hot    *sqlstate.State
	sealer *keys.Sealer
	clock  *clock
}

// generous is a rate that tests other than the rate limit's never reach.
var generous = ratelimit.Rate{N: 1000, Per: time.Minute}

func newEnv(t *testing.T, rate ratelimit.Rate) *env {
	t.Helper()
	ctx := t.Context()
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "kaiin.db"))
	if err != nil {
		t.Fatalf("open SQLite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := sqlstore.Migrate(ctx, db); err != nil {
		t.Fatalf("migrate store: %v", err)
	}
	if _, err := sqlstate.Migrate(ctx, db); err != nil {
		t.Fatalf("migrate state: %v", err)
	}
	st := sqlstore.New(db)
	clk := newClock(t0)
	hot := sqlstate.New(db)
	hot.Now = clk.Now
	sealer, err := keys.NewSealer(bytes.Repeat([]byte{7}, keys.KEKSize))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"u1", "u2"} {
		if err := st.CreateUser(ctx, store.User{ID: id, Email: id + "@example.com", CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
	}
	svc := &Service{
		Store:       st,
		State:       hot,
		Sealer:      sealer,
		RecoveryKey: bytes.Repeat([]byte{9}, 32),
		Limiter:     ratelimit.New(hot, []byte("rate key")),
		Rate:        rate,
		Now:         clk.Now,
	}
	if err := svc.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return &env{svc: svc, db: db, store: st, hot: hot, sealer: sealer, clock: clk}
}

// oathtool returns the TOTP code of secret (base32) at time at, made by
// OATH Toolkit: an implementation independent of the one under test.
// at zero means oathtool's own clock.
func oathtool(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	args := []string{"--totp", "-b", secret}
	if !at.IsZero() {
		args = append(args, "-N", "@"+strconv.FormatInt(at.Unix(), 10))
	}
	out, err := exec.Command("oathtool", args...).Output()
	if errors.Is(err, exec.ErrNotFound) {
		t.Fatal("these tests need oathtool (Debian package oathtool: apt-get install -y oathtool)")
	}
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	code := strings.TrimSpace(string(out))
	if len(code) != 6 {
		t.Fatalf("oathtool printed %q", out)
	}
	return code
}

// codeAt is oathtool's code for a step relative to the clock's.
func (e *env) codeAt(t *testing.T, secret string, off int64) string {
	t.Helper()
	return oathtool(t, secret, stepTime(e.clock.step()+off).Add(7*time.Second))
}

// enrol begins and confirms a TOTP factor for userID at the current step
// minus one (so the current step stays unspent) and returns it.
func (e *env) enrol(t *testing.T, userID string) Enrollment {
	t.Helper()
	en, err := e.svc.BeginTOTP(t.Context(), userID, userID+"@example.com")
	if err != nil {
		t.Fatalf("BeginTOTP: %v", err)
	}
	if err := e.svc.ConfirmTOTP(t.Context(), userID, en.FactorID, e.codeAt(t, en.Secret, -1)); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	return en
}

// wantCode fails t unless err is a coded error c with cause (nil: any).
func wantCode(t *testing.T, what string, err error, c *errcode.Code, cause error) {
	t.Helper()
	e, ok := errcode.As(err)
	switch {
	case !ok:
		t.Errorf("%s: error = %v, want %s", what, err, c.ID)
	case e.Code != c:
		t.Errorf("%s: error = %v, want %s", what, err, c.ID)
	case cause != nil && !errors.Is(err, cause):
		t.Errorf("%s: error = %v, want cause %v", what, err, cause)
	}
}

func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
