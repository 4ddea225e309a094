// Package oidc is Kaiin's OpenID Connect provider: authorization code with
// PKCE, refresh tokens with rotation and reuse detection, client
// credentials, introspection, revocation, userinfo and RP-initiated logout.
//
// The protocol state machine is github.com/zitadel/oidc/v3 (op, OpenID
// Certified); this package puts Kaiin's stores behind it (storage.go),
// serves the hot read-only endpoints itself (discovery and keys
// pre-rendered, introspection and userinfo), and gives the sign-in pages
// what they need to finish an authorization request (login.go).
package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/state"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Options configures the provider.
type Options struct {
	// Issuer is the public URL, as in the tokens' iss claim.
	Issuer string
	Store  store.Store
	State  state.State
	Keys   Keys
	// Profiles gives the profile, phone and address claims; may be nil.
	Profiles Profiles
	// SecretKey keys the hashes of client secrets (a server secret).
	SecretKey []byte
	Lifetimes Lifetimes
	Logger    *slog.Logger
	// SessionUser returns the member signed in on the browser making r,
	// and EndSession signs that browser out; the sign-in pages own both.
	SessionUser func(r *http.Request) (userID string, ok bool)
	EndSession  func(w http.ResponseWriter, r *http.Request)
	// RequireMFA makes every sign-in through the provider need a second
	// factor (config mfa.required).
	RequireMFA bool
	// ErrorPage shows a person a coded, translated error (an authorization
	// request that cannot be sent back to any relying party).
	ErrorPage func(w http.ResponseWriter, r *http.Request, c *errcode.Code)
	Now       func() time.Time
}

// Provider is the OpenID provider.
type Provider struct {
	op      *op.Provider
	st      *storage
	issuer  string
	log     *slog.Logger
	opts    Options
	discOne sync.Once
	disc    []byte
	jwks    jwksCache
	signers signers
}

// New builds the provider.
func New(o Options) (*Provider, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Lifetimes == (Lifetimes{}) {
		o.Lifetimes = DefaultLifetimes
	}
	st := &storage{
		profiles: o.Profiles,
		store:    o.Store, state: o.State, keys: o.Keys, secretKey: o.SecretKey, life: o.Lifetimes, now: o.Now,
		clients: &clientCache{store: o.Store, ttl: 5 * time.Second, loginURL: "/login?authRequestID=",
			idTokenLife: o.Lifetimes.IDToken, now: o.Now, entries: map[string]cachedClient{}},
	}
	cfg := &op.Config{
		CryptoKey:                sha256.Sum256(append([]byte("kaiin-op-crypto:"), o.SecretKey...)),
		DefaultLogoutRedirectURI: "/login?n=signed_out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		AuthMethodPrivateKeyJWT:  true,
		GrantTypeRefreshToken:    true,
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime: 10 * time.Minute, PollInterval: 5 * time.Second,
			UserFormPath: "/device", UserCode: op.UserCodeBase20,
		},
		SupportedUILocales: []language.Tag{language.Japanese, language.English},
		SupportedClaims: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr",
			"at_hash", "azp", "email", "email_verified", "locale", "updated_at"},
	}
	var opts []op.Option
	if strings.HasPrefix(o.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	p, err := op.NewProvider(cfg, st, op.StaticIssuer(o.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("oidc provider: %w", err)
	}
	return &Provider{op: p, st: st, issuer: o.Issuer, log: o.Logger, opts: o, jwks: jwksCache{keys: o.Keys, now: o.Now}}, nil
}

// BypassCrossOrigin lists the endpoints that services and apps call from
// anywhere: cross-origin form protection must not apply to them.
var BypassCrossOrigin = []string{
	"POST /oauth/token", "POST /oauth/introspect", "POST /revoke", "POST /userinfo", "POST /end_session",
	"POST /device_authorization",
}

// Mount registers the protocol endpoints on mux.
func (p *Provider) Mount(mux *http.ServeMux) {
	h := p.op // the library's router, for the endpoints it serves
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /keys", p.keys)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /authorize", p.authorize)
	mux.HandleFunc("GET /authorize/callback", p.callback)
	mux.HandleFunc("POST /oauth/token", p.token)
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, p.withIssuer(r)) })
	mux.HandleFunc("POST /oauth/introspect", p.introspect)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	mux.HandleFunc("POST /userinfo", p.userinfo)
	mux.HandleFunc("POST /device_authorization", func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, p.withIssuer(r)) })
	mux.HandleFunc("GET /end_session", p.endSession)
	mux.HandleFunc("POST /end_session", p.endSession)
}

// withIssuer puts the issuer on the request context, as the library's
// handlers expect.
func (p *Provider) withIssuer(r *http.Request) *http.Request {
	return r.WithContext(op.ContextWithIssuer(r.Context(), p.issuer))
}

// discovery serves the provider metadata, rendered once: it changes only
// with the configuration.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	p.discOne.Do(func() {
		ctx := op.ContextWithIssuer(r.Context(), p.issuer)
		cfg := op.CreateDiscoveryConfig(ctx, p.op, p.st)
		cfg.ScopesSupported = SupportedScopes
		cfg.CodeChallengeMethodsSupported = []zoidc.CodeChallengeMethod{zoidc.CodeChallengeMethodS256}
		cfg.ACRValuesSupported = []string{ACRPassword, ACRMFA}
		p.disc, _ = json.Marshal(cfg)
	})
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrCacheHour
	_, _ = w.Write(p.disc)
}

// Header values of the key set and discovery answers, built once: set
// directly under their canonical keys, they cost nothing per request.
var (
	hdrCacheHour = []string{"public, max-age=3600"}
	hdrCache5Min = []string{"public, max-age=300"}
)

// keys serves the published key set, rendered again only when it changes.
func (p *Provider) keys(w http.ResponseWriter, r *http.Request) {
	b, err := p.jwks.get(r.Context())
	if err != nil {
		p.log.ErrorContext(r.Context(), "render key set", "err", err)
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrCache5Min
	_, _ = w.Write(b)
}

// jwksCache keeps the published key set for a few seconds: rendered for
// GET /keys, and by key ID for verifying access tokens (with the tokens
// verified by those keys, see tokenCache). Readers take no lock.
type jwksCache struct {
	keys Keys
	now  func() time.Time

	mu     sync.Mutex // serializes loads
	cur    atomic.Pointer[keySetSnapshot]
	tokens tokenCache
}

type keySetSnapshot struct {
	body    []byte
	byKID   map[string]jose.JSONWebKey
	loaded  time.Time
	expires time.Time
}

// snapshot returns the current key set, loading it when it is older than
// a few seconds (or, with force, older than a second: an unknown key ID).
func (c *jwksCache) snapshot(ctx context.Context, force bool) (*keySetSnapshot, error) {
	now := c.now()
	if s := c.cur.Load(); s != nil && now.Before(s.expires) && (!force || now.Sub(s.loaded) < time.Second) {
		return s, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.cur.Load(); s != nil && now.Before(s.expires) && (!force || now.Sub(s.loaded) < time.Second) {
		return s, nil
	}
	ks, err := c.keys.KeySet(ctx)
	if err != nil {
		return nil, err
	}
	set := struct {
		Keys []any `json:"keys"`
	}{Keys: []any{}}
	byKID := make(map[string]jose.JSONWebKey, len(ks))
	for _, k := range ks {
		j := jwk(k)
		set.Keys = append(set.Keys, j)
		byKID[j.KeyID] = j
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	s := &keySetSnapshot{body: b, byKID: byKID, loaded: now, expires: now.Add(5 * time.Second)}
	c.cur.Store(s)
	return s, nil
}

func (c *jwksCache) get(ctx context.Context) ([]byte, error) {
	s, err := c.snapshot(ctx, false)
	if err != nil {
		return nil, err
	}
	return s.body, nil
}

// key returns the published key kid. An unknown kid reloads the set (at
// most once a second), for a key published since the last load.
func (c *jwksCache) key(ctx context.Context, kid string) (jose.JSONWebKey, bool) {
	s, err := c.snapshot(ctx, false)
	if err != nil {
		return jose.JSONWebKey{}, false
	}
	if k, ok := s.byKID[kid]; ok {
		return k, true
	}
	if s, err = c.snapshot(ctx, true); err != nil {
		return jose.JSONWebKey{}, false
	}
	k, ok := s.byKID[kid]
	return k, ok
}

// authorize checks the client and redirect URI first: errors about them
// cannot go back to the relying party (RFC 6749 4.1.2.1), so the person
// gets Kaiin's own coded, translated page instead of the library's text.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	if err := r.ParseForm(); err != nil {
		p.opts.ErrorPage(w, r, errcode.BadRequest)
		return
	}
	if r.Form.Get("request") == "" { // a request object is checked by the library
		c, err := p.st.clients.get(r.Context(), r.Form.Get("client_id"))
		if err != nil {
			p.opts.ErrorPage(w, r, errcode.ClientUnknown)
			return
		}
		rt := zoidc.ResponseType(r.Form.Get("response_type"))
		if err := op.ValidateAuthReqRedirectURI(c, r.Form.Get("redirect_uri"), rt); err != nil {
			p.opts.ErrorPage(w, r, errcode.ClientUnknown)
			return
		}
	}
	p.op.ServeHTTP(w, p.withIssuer(r))
}

// token passes the token request to the library with its client on the
// context (for the client's signing algorithm).
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	if err := r.ParseForm(); err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "malformed form")
		return
	}
	if r.PostForm.Get("grant_type") == "client_credentials" {
		p.clientCredentials(w, r)
		return
	}
	id := r.PostForm.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
	}
	ctx := context.WithValue(r.Context(), clientCtxKey{}, id)
	p.op.ServeHTTP(w, p.withIssuer(r.WithContext(ctx)))
}

// callback finishes an authorization request, but only for the browser
// that signed in for it: the request's ID alone is not enough.
func (p *Provider) callback(w http.ResponseWriter, r *http.Request) {
	ar, err := p.st.authRequest(r.Context(), r.URL.Query().Get("id"))
	if err == nil && ar.IsDone {
		if uid, ok := p.opts.SessionUser(r); ok && uid == ar.UserID {
			op.AuthorizeCallback(w, p.withIssuer(r), p.op)
			return
		}
	}
	writeJSONError(w, http.StatusBadRequest, "invalid_request", "the authorization request is unknown, expired, or not yours")
}

// endSession signs the browser out, then lets the library validate the
// request and send the browser back to the relying party.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	p.opts.EndSession(w, r)
	p.op.ServeHTTP(w, p.withIssuer(r))
}

func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}
