package oidc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

func jwk(k op.Key) jose.JSONWebKey {
	return jose.JSONWebKey{KeyID: k.ID(), Algorithm: string(k.Algorithm()), Use: k.Use(), Key: k.Key()}
}

// maxTokenForm bounds the bodies of the token-taking endpoints.
const maxTokenForm = 64 << 10

// acceptedAlgs are the algorithms Kaiin signs access tokens with; a token
// naming any other is refused before its signature is looked at.
var acceptedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256}

// verifyLeeway is the clock skew allowed on exp and nbf, for tokens issued
// by another node whose clock is slightly off.
const verifyLeeway = 5 * time.Second

// atClaims are the claims an access token is read into: one pass into one
// fixed struct (Kaiin's tokens and the library's carry the same ones).
type atClaims struct {
	Issuer    string                    `json:"iss"`
	Subject   string                    `json:"sub"`
	Audience  zoidc.Audience            `json:"aud"`
	Expiry    zoidc.Time                `json:"exp"`
	IssuedAt  zoidc.Time                `json:"iat"`
	NotBefore zoidc.Time                `json:"nbf"`
	JWTID     string                    `json:"jti"`
	ClientID  string                    `json:"client_id"`
	Scopes    zoidc.SpaceDelimitedArray `json:"scope"`
}

// verifiedToken is an access token whose signature, issuer and times
// were checked. Revocation is not part of it: it is checked on every use.
type verifiedToken struct {
	claims  zoidc.AccessTokenClaims
	kid     string
	expires int64 // unix nanoseconds (exp + leeway): unusable from then on
	// introspection is the RFC 7662 answer for the token while active.
	introspection []byte
	// revoked is set once the hot state said so: revocation is final.
	revoked atomic.Bool
}

// VerifyAccessToken checks an access token's signature, issuer and
// expiry, and that it was not revoked; it returns the token's claims.
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (*zoidc.AccessTokenClaims, bool) {
	v, ok := p.verifyAccessToken(ctx, token)
	if !ok {
		return nil, false
	}
	c := v.claims // the cached claims are shared: callers get a copy
	return &c, true
}

// verifyAccessToken checks token and asks the hot state whether it was
// revoked. A token verified before comes from a cache keyed by its
// SHA-256 (until it expires, and while its key is still published), so
// that only its first use pays for the signature; the revocation check is
// never cached as "not revoked": a revocation on any node applies to the
// very next request.
func (p *Provider) verifyAccessToken(ctx context.Context, token string) (*verifiedToken, bool) {
	if token == "" || len(token) > 8192 {
		return nil, false
	}
	key := sha256.Sum256([]byte(token))
	now := p.opts.Now()
	v := p.jwks.tokens.get(key, now.UnixNano())
	if v != nil {
		if _, ok := p.jwks.key(ctx, v.kid); !ok {
			v = nil // the key was retired: verify again (and fail)
		}
	}
	if v == nil {
		var ok bool
		if v, ok = p.verifyJWT(ctx, token, now); !ok {
			return nil, false // failures are never cached
		}
		p.jwks.tokens.put(key, v, now.UnixNano())
	}
	if v.revoked.Load() {
		return nil, false
	}
	revoked, err := p.st.isRevoked(ctx, v.claims.JWTID)
	if err != nil {
		return nil, false
	}
	if revoked {
		v.revoked.Store(true)
		return nil, false
	}
	return v, true
}

// verifyJWT checks a JWT access token in full: its shape, issuer, times,
// that it is an access token, and its signature by a published key of the
// algorithm it names. The cheap checks come first, so an expired or
// foreign token costs no signature check.
func (p *Provider) verifyJWT(ctx context.Context, token string, now time.Time) (*verifiedToken, bool) {
	jws, err := jose.ParseSignedCompact(token, acceptedAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, false
	}
	var c atClaims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		return nil, false
	}
	exp := c.Expiry.AsTime()
	switch {
	case c.Issuer != p.issuer, c.Expiry == 0,
		!now.Before(exp.Add(verifyLeeway)),
		c.NotBefore != 0 && now.Add(verifyLeeway).Before(c.NotBefore.AsTime()),
		// An ID token is signed by the same keys but has no jti or
		// client_id: it is not an access token.
		c.JWTID == "", c.ClientID == "":
		return nil, false
	}
	hdr := jws.Signatures[0].Protected
	k, ok := p.jwks.key(ctx, hdr.KeyID)
	if !ok || hdr.KeyID == "" || k.Algorithm != hdr.Algorithm || (k.Use != "" && k.Use != "sig") {
		return nil, false
	}
	if _, err := jws.Verify(k.Key); err != nil {
		return nil, false
	}
	v := &verifiedToken{kid: hdr.KeyID, expires: exp.Add(verifyLeeway).UnixNano()}
	v.claims = zoidc.AccessTokenClaims{
		TokenClaims: zoidc.TokenClaims{Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience,
			Expiration: c.Expiry, IssuedAt: c.IssuedAt, NotBefore: c.NotBefore, ClientID: c.ClientID, JWTID: c.JWTID,
			SignatureAlg: jose.SignatureAlgorithm(hdr.Algorithm)},
		Scopes: c.Scopes,
	}
	v.introspection = renderJSON(zoidc.IntrospectionResponse{Active: true, Scope: c.Scopes, ClientID: c.ClientID,
		TokenType: "Bearer", Expiration: c.Expiry, IssuedAt: c.IssuedAt, NotBefore: c.NotBefore, Subject: c.Subject,
		Audience: c.Audience, Issuer: c.Issuer, JWTID: c.JWTID})
	return v, true
}

// renderJSON encodes v as the handlers used to write it (with the
// encoder's newline).
func renderJSON(v any) []byte {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v)
	return b.Bytes()
}

// inactiveAnswer is the introspection answer for any token that is not
// active.
var inactiveAnswer = renderJSON(zoidc.IntrospectionResponse{})

// Header values set on every introspection answer, built once.
var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
)

// introspect answers RFC 7662 token introspection for an authenticated
// client (a resource server).
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	if err := r.ParseForm(); err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "malformed form")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if err := p.st.AuthorizeClientIDSecret(r.Context(), id, secret); err != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="kaiin"`)
		writeJSONError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	body := inactiveAnswer
	if v, ok := p.verifyAccessToken(r.Context(), r.PostForm.Get("token")); ok {
		body = v.introspection
	}
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrNoStore
	_, _ = w.Write(body)
}

// userinfo returns the claims the access token's scopes allow.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok && r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
		if r.ParseForm() == nil {
			token = r.PostForm.Get("access_token")
		}
	}
	v, valid := p.verifyAccessToken(r.Context(), strings.TrimSpace(token))
	if !valid || v.claims.Subject == v.claims.ClientID || !slices.Contains(v.claims.Scopes, "openid") {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSONError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
		return
	}
	ui := new(zoidc.UserInfo)
	if err := p.st.setUserinfo(r.Context(), ui, v.claims.Subject, v.claims.Scopes); err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSONError(w, http.StatusUnauthorized, "invalid_token", "the member no longer exists")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(ui)
}

const (
	tokenCacheShards = 64
	// tokenCacheSize bounds the verified tokens kept (about 1 KiB each).
	tokenCacheSize = 100_000
)

// tokenCache maps the SHA-256 of an access token to its verification. Its
// zero value is ready. A full shard first drops its expired entries, then
// arbitrary ones down to seven eighths (Go's map order is random: a cheap
// random eviction; a token evicted early is only verified again).
type tokenCache struct {
	shards [tokenCacheShards]tokenShard
}

type tokenShard struct {
	mu sync.RWMutex
	m  map[[32]byte]*verifiedToken
}

// get returns the live entry for key at now (unix nanoseconds).
func (c *tokenCache) get(key [32]byte, now int64) *verifiedToken {
	s := &c.shards[key[0]%tokenCacheShards]
	s.mu.RLock()
	v := s.m[key]
	s.mu.RUnlock()
	if v != nil && now < v.expires {
		return v
	}
	return nil
}

func (c *tokenCache) put(key [32]byte, v *verifiedToken, now int64) {
	const perShard = tokenCacheSize / tokenCacheShards
	s := &c.shards[key[0]%tokenCacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[[32]byte]*verifiedToken)
	}
	if len(s.m) >= perShard {
		// Make room for an eighth of the shard at once, so the scan is
		// paid once per perShard/8 new tokens, not for each.
		for k, old := range s.m {
			if now >= old.expires {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) <= perShard-perShard/8 {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[key] = v
}
