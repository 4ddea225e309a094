package session_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/session"
	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/state/sqlstate"
)

func newManager(t *testing.T, now *time.Time) *session.Manager {
	db, err := sqldb.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := sqlstate.Migrate(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	st := sqlstate.New(db)
	st.Now = func() time.Time { return *now }
	return &session.Manager{State: st, Idle: time.Hour, Absolute: 24 * time.Hour, Now: func() time.Time { return *now }}
}

// start signs in and returns a request carrying the new cookie.
func start(t *testing.T, m *session.Manager, user string) *http.Request {
	rec := httptest.NewRecorder()
	if _, err := m.Start(t.Context(), rec, httptest.NewRequest("POST", "/login", nil), user, "192.0.2.1", []string{"pwd"}); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/account", nil)
	for _, c := range rec.Result().Cookies() {
		r.AddCookie(c)
	}
	return r
}

func get(t *testing.T, m *session.Manager, r *http.Request) *session.Session {
	s, err := m.Get(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIdleAndAbsoluteTimeouts(t *testing.T) {
	now := time.Now()
	m := newManager(t, &now)
	r := start(t, m, "u1")
	if s := get(t, m, r); s == nil || s.UserID != "u1" {
		t.Fatalf("session = %+v", s)
	}
	// Used every 50 minutes, the session outlives the idle timeout…
	for i := 0; i < 5; i++ {
		now = now.Add(50 * time.Minute)
		if get(t, m, r) == nil {
			t.Fatalf("session ended while in use (step %d)", i)
		}
	}
	// …but not a gap longer than it.
	now = now.Add(61 * time.Minute)
	if get(t, m, r) != nil {
		t.Fatal("session survived the idle timeout")
	}

	// The absolute timeout ends even a busy session.
	r = start(t, m, "u1")
	for i := 0; i < 30; i++ {
		now = now.Add(50 * time.Minute)
		if s := get(t, m, r); s == nil {
			if i < 28 {
				t.Fatalf("session ended early at step %d", i)
			}
			return
		}
	}
	t.Fatal("session outlived the absolute timeout")
}

func TestEndAllKeepsCurrent(t *testing.T) {
	now := time.Now()
	m := newManager(t, &now)
	a, b, c := start(t, m, "u1"), start(t, m, "u1"), start(t, m, "u2")
	keep := get(t, m, a)
	if err := m.EndAll(t.Context(), "u1", keep); err != nil {
		t.Fatal(err)
	}
	if get(t, m, a) == nil || get(t, m, b) != nil || get(t, m, c) == nil {
		t.Fatal("EndAll ended the wrong sessions")
	}
}

func TestCookieAttributes(t *testing.T) {
	now := time.Now()
	m := newManager(t, &now)
	m.Secure = true
	rec := httptest.NewRecorder()
	if _, err := m.Start(t.Context(), rec, httptest.NewRequest("POST", "/login", nil), "u1", "", nil); err != nil {
		t.Fatal(err)
	}
	c := rec.Result().Cookies()[0]
	if c.Name != "__Host-kaiin_session" || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie %+v", c)
	}
	// Sign-out clears it and the server forgets the session.
	r := httptest.NewRequest("POST", "/logout", nil)
	r.AddCookie(c)
	rec = httptest.NewRecorder()
	if err := m.End(t.Context(), rec, r); err != nil {
		t.Fatal(err)
	}
	if got := rec.Result().Cookies()[0]; got.MaxAge >= 0 {
		t.Fatalf("cookie not cleared: %+v", got)
	}
	if get(t, m, r) != nil {
		t.Fatal("session alive after sign-out")
	}
}
