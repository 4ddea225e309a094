// Package account runs the member account flows: registration, email
// verification, sign-in, password reset and change, and email change.
//
// Every flow that takes an email address from a stranger answers the same
// way, doing the same work, whether or not an account exists for it, so
// that nobody can learn who is a member. Mail goes through an asynchronous
// queue for the same reason.
package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
	kmail "github.com/kaiin-project/kaiin/internal/mail"
	"github.com/kaiin-project/kaiin/internal/password"
	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/state"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Hasher hashes and verifies passwords (password.Hasher).
type Hasher interface {
	Hash(ctx context.Context, pw string) (string, error)
	Verify(ctx context.Context, pw, encoded string) (ok, rehash bool, err error)
	VerifyDummy(ctx context.Context, pw string) error
}

// Mailer queues mail for delivery without waiting for it (mail.Queue).
type Mailer interface {
	Enqueue(m kmail.Message) error
}

// Limits are the rate limits of the flows.
type Limits struct {
	SignInIP, SignInAccount, RegisterIP, RegisterAccount, ResetIP, ResetAccount ratelimit.Rate
}

// Link lifetimes.
const (
	VerifyTTL      = 24 * time.Hour
	ResetTTL       = time.Hour
	EmailChangeTTL = time.Hour
)

// Service runs the flows. All fields are required.
type Service struct {
	Store     store.Store
	State     state.State
	Hasher    Hasher
	Policy    password.Policy
	Limiter   *ratelimit.Limiter
	Limits    Limits
	Mailer    Mailer
	PublicURL string // base of the links in mail, without trailing slash
	Logger    *slog.Logger
	Now       func() time.Time // nil means time.Now
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// NormalizeEmail returns the canonical form of an address typed by a
// person (NFKC, trimmed, lower-cased), or a KAI-REG-001 error.
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(norm.NFKC.String(s)))
	if len(e) > 254 || len(e) < 3 {
		return "", errcode.New(errcode.EmailInvalid, "email")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", errcode.New(errcode.EmailInvalid, "email")
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || !strings.Contains(e[at+1:], ".") || strings.HasSuffix(e, ".") {
		return "", errcode.New(errcode.EmailInvalid, "email")
	}
	return e, nil
}

// newID returns a random, opaque member ID.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// newToken returns a random token for a link and the hot-state key it is
// kept under (a hash, so a copy of the hot state holds no usable link).
func newToken(kind string) (token, key string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, tokenKey(kind, token)
}

func tokenKey(kind, token string) string {
	h := sha256.Sum256([]byte(token))
	return "tok:" + kind + ":" + base64.RawURLEncoding.EncodeToString(h[:])
}

// validToken rejects tokens that cannot be ours before any lookup.
func validToken(t string) bool {
	if len(t) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil
}

// tokenData is what a link's token stands for.
type tokenData struct {
	UserID string `json:"u"`
	Email  string `json:"e,omitempty"`
	// PasswordChangedAt pins a reset link to the password it replaces: a
	// link is dead once the password has changed by any means.
	PasswordChangedAt time.Time `json:"p,omitempty"`
}

func (s *Service) putToken(ctx context.Context, kind string, d tokenData, ttl time.Duration) (string, error) {
	token, key := newToken(kind)
	b, _ := json.Marshal(d)
	if err := s.State.Set(ctx, key, b, ttl); err != nil {
		return "", fmt.Errorf("store %s token: %w", kind, err)
	}
	return token, nil
}

func (s *Service) readToken(ctx context.Context, kind, token string, take bool) (tokenData, error) {
	var d tokenData
	if !validToken(token) {
		return d, state.ErrNotFound
	}
	var b []byte
	var err error
	if take {
		b, err = s.State.Take(ctx, tokenKey(kind, token))
	} else {
		b, err = s.State.Get(ctx, tokenKey(kind, token))
	}
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("decode %s token: %w", kind, err)
	}
	return d, nil
}

func (s *Service) link(path, token string) string {
	return s.PublicURL + path + "?token=" + url.QueryEscape(token)
}

// send queues a mail; a full queue is logged, not shown, so that the
// answer stays the same whether or not a mail was due.
func (s *Service) send(lang i18n.Lang, to, kind string, args ...any) {
	m := kmail.Message{
		To:      to,
		Subject: i18n.T(lang, "mail."+kind+".subject"),
		Text:    i18n.T(lang, "mail."+kind+".body", args...),
	}
	if err := s.Mailer.Enqueue(m); err != nil {
		s.Logger.Error("mail not queued", "kind", kind, "err", err)
	}
}

func langOf(u store.User, fallback i18n.Lang) i18n.Lang {
	if l, ok := i18n.Parse(u.Locale); ok {
		return l
	}
	return fallback
}

// limited converts a rate-limit decision into an error.
func (s *Service) limited(ctx context.Context, name string, r ratelimit.Rate, subject string, code *errcode.Code) error {
	ok, _, err := s.Limiter.Allow(ctx, name, r, subject)
	if err != nil {
		return errcode.Wrap(errcode.Internal, err)
	}
	if !ok {
		return errcode.New(code, "")
	}
	return nil
}

// hashErr maps a hashing failure to what a person sees.
func hashErr(err error) error {
	if errors.Is(err, password.ErrBusy) {
		return errcode.Wrap(errcode.Busy, err)
	}
	return errcode.Wrap(errcode.Internal, err)
}

// policyErr maps a policy rejection to its coded error.
func (s *Service) policyErr(err error, field string) error {
	var pe *password.PolicyError
	if !errors.As(err, &pe) {
		return errcode.Wrap(errcode.Internal, err)
	}
	switch pe.Reason {
	case password.TooShort:
		return errcode.New(errcode.PasswordTooShort, field, s.Policy.MinLength)
	case password.TooLong:
		return errcode.New(errcode.PasswordTooLong, field, s.Policy.MaxLength)
	case password.Common:
		return errcode.New(errcode.PasswordCommon, field)
	default:
		return errcode.New(errcode.PasswordContext, field)
	}
}
