// Package session keeps browser sessions in the hot state. The cookie holds
// a random token; the hot state holds the session under a hash of it, so a
// copy of the hot state opens no session. Sessions end after an idle
// timeout and an absolute timeout, and on sign-out server-side.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kaiin-project/kaiin/internal/state"
)

// Session is one signed-in browser.
type Session struct {
	UserID    string    `json:"u"`
	CreatedAt time.Time `json:"c"`
	AuthTime  time.Time `json:"a"`
	LastSeen  time.Time `json:"l"`
	// AMR lists how the member authenticated (RFC 8176: "pwd", "otp",
	// "hwk"…), for the ID tokens of this session.
	AMR       []string `json:"amr,omitempty"`
	UserAgent string   `json:"ua,omitempty"`
	IP        string   `json:"ip,omitempty"`

	key string // hot-state key; never the token
}

// Manager creates, reads and ends sessions.
type Manager struct {
	State    state.State
	Idle     time.Duration // ends a session unused this long
	Absolute time.Duration // ends a session this long after sign-in
	// Secure marks cookies Secure and names them with the __Host- prefix;
	// set it whenever the public URL is https.
	Secure bool
	Now    func() time.Time // nil means time.Now
	// OnEnd, if set, is told of every session that ends by sign-out (one
	// device, all others, or all): the OpenID provider revokes the refresh
	// tokens issued in it. Not called for sessions that simply expire.
	OnEnd func(ctx context.Context, id string)
}

// ID is the session's handle: the hash under which the hot state keeps it.
// It names a device on the account page; it cannot open the session.
func (s *Session) ID() string { return strings.TrimPrefix(s.key, "sess:") }

// touchEvery bounds how often a read writes LastSeen back (one write per
// minute per session, not one per request).
const touchEvery = time.Minute

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// CookieName is the session cookie's name.
func (m *Manager) CookieName() string {
	if m.Secure {
		return "__Host-kaiin_session"
	}
	return "kaiin_session"
}

func userKey(userID string) string { return "usess:" + userID }

func stateKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return "sess:" + base64.RawURLEncoding.EncodeToString(h[:])
}

// Start signs userID in on this browser: it ends any session the browser
// had (so a session id fixed before sign-in is worthless) and sets a new
// cookie.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, userID, ip string, amr []string) (*Session, error) {
	if old, err := r.Cookie(m.CookieName()); err == nil {
		_ = m.endToken(ctx, old.Value, false)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	now := m.now().UTC()
	s := &Session{UserID: userID, CreatedAt: now, AuthTime: now, LastSeen: now, AMR: amr,
		UserAgent: truncate(r.UserAgent(), 256), IP: ip, key: stateKey(token)}
	if err := m.save(ctx, s); err != nil {
		return nil, err
	}
	if err := m.State.SAdd(ctx, userKey(userID), s.key, m.Absolute); err != nil {
		return nil, fmt.Errorf("index session: %w", err)
	}
	http.SetCookie(w, m.cookie(token, int(m.Absolute/time.Second)))
	return s, nil
}

// Get returns the browser's session, or nil when it has none (no cookie,
// unknown, or expired). It refreshes the idle timeout.
func (m *Manager) Get(ctx context.Context, r *http.Request) (*Session, error) {
	c, err := r.Cookie(m.CookieName())
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, nil
	}
	key := stateKey(c.Value)
	b, err := m.State.Get(ctx, key)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	s.key = key
	now := m.now()
	if !now.Before(s.CreatedAt.Add(m.Absolute)) {
		_ = m.State.Delete(ctx, key)
		return nil, nil
	}
	if now.Sub(s.LastSeen) >= touchEvery {
		s.LastSeen = now.UTC()
		if err := m.save(ctx, &s); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

// End signs the browser out: the session is deleted server-side and the
// cookie cleared.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, m.cookie("", -1))
	c, err := r.Cookie(m.CookieName())
	if err != nil {
		return nil
	}
	return m.endToken(ctx, c.Value, true)
}

// EndAll ends every session of userID except keep (may be nil): after a
// password change or reset, other browsers are signed out.
func (m *Manager) EndAll(ctx context.Context, userID string, keep *Session) error {
	keys, err := m.State.SMembers(ctx, userKey(userID))
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	var drop []string
	for _, k := range keys {
		if keep == nil || k != keep.key {
			drop = append(drop, k)
		}
	}
	return m.endKeys(ctx, userID, drop)
}

// EndOne ends the session id of userID (signing one device out from
// another). An unknown id is not an error.
func (m *Manager) EndOne(ctx context.Context, userID, id string) error {
	key := "sess:" + id
	keys, err := m.State.SMembers(ctx, userKey(userID))
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	for _, k := range keys {
		if k == key { // only the member's own sessions
			return m.endKeys(ctx, userID, []string{key})
		}
	}
	return nil
}

func (m *Manager) endKeys(ctx context.Context, userID string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := m.State.Delete(ctx, keys...); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	if m.OnEnd != nil {
		for _, k := range keys {
			m.OnEnd(ctx, strings.TrimPrefix(k, "sess:"))
		}
	}
	return m.State.SRem(ctx, userKey(userID), keys...)
}

// List returns the member's live sessions, most recently seen first, and
// forgets the index entries of sessions that have expired.
func (m *Manager) List(ctx context.Context, userID string) ([]*Session, error) {
	keys, err := m.State.SMembers(ctx, userKey(userID))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	var out []*Session
	var gone []string
	now := m.now()
	for _, k := range keys {
		b, err := m.State.Get(ctx, k)
		if errors.Is(err, state.ErrNotFound) {
			gone = append(gone, k)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read session: %w", err)
		}
		var s Session
		if json.Unmarshal(b, &s) != nil || !now.Before(s.CreatedAt.Add(m.Absolute)) {
			gone = append(gone, k)
			continue
		}
		s.key = k
		out = append(out, &s)
	}
	if len(gone) > 0 {
		_ = m.State.SRem(ctx, userKey(userID), gone...)
	}
	slices.SortFunc(out, func(a, b *Session) int { return b.LastSeen.Compare(a.LastSeen) })
	return out, nil
}

// endToken deletes the session of token; notify tells OnEnd (not when a
// new sign-in merely replaces the browser's session).
func (m *Manager) endToken(ctx context.Context, token string, notify bool) error {
	if token == "" || len(token) > 128 {
		return nil
	}
	key := stateKey(token)
	b, err := m.State.Take(ctx, key)
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	var s Session
	if json.Unmarshal(b, &s) == nil && s.UserID != "" {
		_ = m.State.SRem(ctx, userKey(s.UserID), key)
	}
	if notify && m.OnEnd != nil {
		m.OnEnd(ctx, strings.TrimPrefix(key, "sess:"))
	}
	return nil
}

// save writes s with a TTL of the idle timeout, cut at the absolute end.
func (m *Manager) save(ctx context.Context, s *Session) error {
	ttl := m.Idle
	if left := s.CreatedAt.Add(m.Absolute).Sub(m.now()); left < ttl {
		ttl = left
	}
	if ttl <= 0 {
		return m.State.Delete(ctx, s.key)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := m.State.Set(ctx, s.key, b, ttl); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

func (m *Manager) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     m.CookieName(),
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   m.Secure,
		SameSite: http.SameSiteLaxMode,
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
