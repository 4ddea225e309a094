package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// IntrospectionOptions configures an IntrospectionVerifier. Zero values
// mean the documented defaults.
type IntrospectionOptions struct {
	// URL is Kaiin's introspection endpoint (…/oauth/introspect). Required.
	URL string
	// ClientID and ClientSecret are the gateway's own client credentials
	// (a confidential client of Kaiin), sent with HTTP Basic auth.
	ClientID, ClientSecret string
	// Issuer, when set, must equal the answer's iss.
	Issuer string
	// CacheTTL is how long an active answer is kept; default 30 s. It is
	// never kept past the token's exp. Inactive answers and errors are
	// never cached.
	CacheTTL time.Duration
	// Revocations and RevocationMaxAge are as in JWTVerifierOptions: with
	// them a cached answer honours a revocation within one second rather
	// than within CacheTTL.
	Revocations      Revocations
	RevocationMaxAge time.Duration
	// CacheSize bounds the cached answers; default 100,000.
	CacheSize int
	// HTTPClient calls the endpoint; default a client with a 5 s timeout
	// and a keep-alive pool sized for concurrent calls.
	HTTPClient *http.Client
	Registry   prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

// IntrospectionVerifier checks opaque access tokens with RFC 7662 token
// introspection, and caches active answers briefly.
type IntrospectionVerifier struct {
	o      IntrospectionOptions
	cache  *tokenCache
	revoke *revocationCheck
	full   fullChecks
	auth   string // the Authorization header value
}

var _ TokenVerifier = (*IntrospectionVerifier)(nil)

// NewIntrospectionVerifier returns a verifier.
func NewIntrospectionVerifier(o IntrospectionOptions) (*IntrospectionVerifier, error) {
	if o.URL == "" || o.ClientID == "" || o.ClientSecret == "" {
		return nil, errors.New("gateway: introspection needs the endpoint URL and the gateway's client id and secret")
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 30 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
			ForceAttemptHTTP2: true,
		}}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	rc, err := newRevocationCheck(o.Revocations, o.RevocationMaxAge, o.Now)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	hits, misses := cacheCounters(o.Registry, "introspection")
	// RFC 6749 2.3.1: the credentials are form-encoded before Basic auth.
	req, _ := http.NewRequest(http.MethodPost, o.URL, nil)
	req.SetBasicAuth(url.QueryEscape(o.ClientID), url.QueryEscape(o.ClientSecret))
	return &IntrospectionVerifier{
		o: o, cache: newTokenCache(o.CacheSize, o.Now, hits, misses), revoke: rc,
		full: make(fullChecks, 4*runtime.GOMAXPROCS(0)), auth: req.Header.Get("Authorization"),
	}, nil
}

// MarkRevoked makes this verifier refuse the token with jti until until.
func (v *IntrospectionVerifier) MarkRevoked(jti string, until time.Time) { v.revoke.mark(jti, until) }

// Verify implements TokenVerifier.
func (v *IntrospectionVerifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" || len(token) > 8192 {
		return nil, invalid("malformed token")
	}
	key := tokenKey(token)
	if e := v.cache.get(key); e != nil {
		if err := v.revoke.check(ctx, e); err != nil {
			return nil, err
		}
		return e.claims, nil
	}
	if CacheOnly(ctx) {
		return nil, ErrThrottled
	}
	if err := v.full.acquire(ctx); err != nil {
		return nil, err
	}
	start := v.o.Now()
	claims, err := v.introspect(ctx, token)
	v.full.release()
	if err != nil {
		return nil, err
	}
	// The endpoint checked revocation as of start.
	until := start.Add(v.o.CacheTTL)
	if claims.Expiry.Before(until) {
		until = claims.Expiry
	}
	v.cache.put(key, claims, until, start)
	return claims, nil
}

// introspectionResponse is the part of RFC 7662's answer the gateway uses.
type introspectionResponse struct {
	Active    bool       `json:"active"`
	Scope     scopeClaim `json:"scope"`
	ClientID  string     `json:"client_id"`
	Subject   string     `json:"sub"`
	Audience  audience   `json:"aud"`
	Issuer    string     `json:"iss"`
	JWTID     string     `json:"jti"`
	Expiry    float64    `json:"exp"`
	TokenType string     `json:"token_type"`
}

func (v *IntrospectionVerifier) introspect(ctx context.Context, token string) (*Claims, error) {
	body := strings.NewReader(url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.o.URL, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", v.auth)
	resp, err := v.o.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusUnauthorized {
			v.o.Logger.ErrorContext(ctx, "gateway: introspection refused the gateway's client credentials", "url", v.o.URL)
		}
		return nil, fmt.Errorf("%w: introspection: status %d", ErrUnavailable, resp.StatusCode)
	}
	var ir introspectionResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&ir); err != nil {
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	now := v.o.Now()
	exp := unixTime(ir.Expiry)
	switch {
	case !ir.Active:
		return nil, invalid("token not active")
	case v.o.Issuer != "" && ir.Issuer != v.o.Issuer:
		return nil, invalid("wrong issuer")
	case ir.Expiry == 0 || !now.Before(exp):
		return nil, invalid("token expired")
	case ir.ClientID == "":
		return nil, invalid("not an access token")
	}
	return newClaims(Claims{Issuer: ir.Issuer, Subject: ir.Subject, ClientID: ir.ClientID, JWTID: ir.JWTID,
		Audience: ir.Audience, Scopes: ir.Scope, Expiry: exp}), nil
}
