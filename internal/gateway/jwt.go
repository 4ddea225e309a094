package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// JWTVerifierOptions configures a JWTVerifier. Zero values mean the
// documented defaults.
type JWTVerifierOptions struct {
	// Issuer is Kaiin's public URL, as in the tokens' iss claim. Required.
	Issuer string
	// JWKSURL is where the signing keys are published; default Issuer +
	// "/keys".
	JWKSURL string
	// Audience, when set, must be one of the token's aud values.
	Audience string
	// Revocations, when set, is consulted for every token (see
	// RevocationMaxAge). Without it revoked tokens stay valid until they
	// expire.
	Revocations Revocations
	// RevocationMaxAge is how long a token found not revoked is trusted
	// before the hot state is asked again: default 500 ms, at most 1 s; a
	// negative value asks on every request.
	RevocationMaxAge time.Duration
	// CacheSize bounds the verified tokens kept; default 100,000.
	CacheSize int
	// Leeway is the clock skew allowed on exp and nbf; default 10 s.
	Leeway time.Duration
	// RefetchInterval is the least time between two fetches of the key set
	// for an unknown kid; default 5 s.
	RefetchInterval time.Duration
	// KeysMaxAge is how long a fetched key set is used before it is
	// fetched again in the background (to learn of retired keys); default
	// 10 min.
	KeysMaxAge time.Duration
	// HTTPClient fetches the key set; default a client with a 5 s timeout.
	HTTPClient *http.Client
	// Registry receives the cache and key-fetch metrics; nil registers none.
	Registry prometheus.Registerer
	Logger   *slog.Logger
	Now      func() time.Time
}

// JWTVerifier verifies Kaiin's JWT access tokens (ES256 or RS256) against
// its published keys, and caches the claims of valid tokens until they
// expire.
type JWTVerifier struct {
	o       JWTVerifierOptions
	cache   *tokenCache
	revoke  *revocationCheck
	full    fullChecks
	log     *slog.Logger
	fetches *prometheus.CounterVec

	mu        sync.Mutex
	keys      map[string]jose.JSONWebKey // by kid
	fetchedAt time.Time                  // last fetch attempt
	loadedAt  time.Time                  // last successful fetch
	fetching  chan struct{}              // closed when the running fetch ends
}

var _ TokenVerifier = (*JWTVerifier)(nil)

// acceptedAlgs are the signature algorithms Kaiin issues.
var acceptedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256}

// NewJWTVerifier returns a verifier. It fetches the key set on first use;
// call Refresh to fetch it at start.
func NewJWTVerifier(o JWTVerifierOptions) (*JWTVerifier, error) {
	if o.Issuer == "" {
		return nil, errors.New("gateway: JWT verifier needs the issuer")
	}
	if o.JWKSURL == "" {
		o.JWKSURL = strings.TrimSuffix(o.Issuer, "/") + "/keys"
	}
	if o.Leeway == 0 {
		o.Leeway = 10 * time.Second
	}
	if o.RefetchInterval == 0 {
		o.RefetchInterval = 5 * time.Second
	}
	if o.KeysMaxAge == 0 {
		o.KeysMaxAge = 10 * time.Minute
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 5 * time.Second}
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
	hits, misses := cacheCounters(o.Registry, "jwt")
	return &JWTVerifier{
		o: o, cache: newTokenCache(o.CacheSize, o.Now, hits, misses), revoke: rc,
		full: make(fullChecks, max(1, runtime.GOMAXPROCS(0)/2)), log: o.Logger,
		fetches: register(o.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kaiin_gateway_jwks_fetches_total",
			Help: "Fetches of Kaiin's signing keys by the gateway, by result.",
		}, []string{"result"})),
	}, nil
}

// MarkRevoked makes this verifier refuse the token with jti until until,
// at once (for revocations announced on the change feed).
func (v *JWTVerifier) MarkRevoked(jti string, until time.Time) { v.revoke.mark(jti, until) }

// Verify implements TokenVerifier.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*Claims, error) {
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
	claims, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	// The revocation check comes after the signature: only real tokens
	// cost a hot-state read.
	e := v.cache.put(key, claims, claims.Expiry, time.Time{})
	if err := v.revoke.check(ctx, e); err != nil {
		return nil, err
	}
	return claims, nil
}

// jwtClaims are the claims read from an access token.
type jwtClaims struct {
	Issuer    string     `json:"iss"`
	Subject   string     `json:"sub"`
	Audience  audience   `json:"aud"`
	Expiry    *float64   `json:"exp"`
	NotBefore *float64   `json:"nbf"`
	JWTID     string     `json:"jti"`
	ClientID  string     `json:"client_id"`
	Scope     scopeClaim `json:"scope"`
}

// audience reads aud as a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// scopeClaim reads scope as a space-separated string (RFC 9068) or, for
// tolerance, an array.
type scopeClaim []string

func (s *scopeClaim) UnmarshalJSON(b []byte) error {
	var str string
	if json.Unmarshal(b, &str) == nil {
		*s = strings.Fields(str)
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*s = l
	return nil
}

func unixTime(f float64) time.Time {
	return time.Unix(0, int64(f*float64(time.Second)))
}

// verify checks a token in full. The cheap checks (shape, claims, kid)
// come before the signature, so that an expired or foreign token costs
// no signature check.
func (v *JWTVerifier) verify(ctx context.Context, token string) (*Claims, error) {
	jws, err := jose.ParseSignedCompact(token, acceptedAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalid("malformed token")
	}
	var c jwtClaims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		return nil, invalid("malformed claims")
	}
	now := v.o.Now()
	switch {
	case c.Issuer != v.o.Issuer:
		return nil, invalid("wrong issuer")
	case c.Expiry == nil:
		return nil, invalid("no expiry")
	case !now.Before(unixTime(*c.Expiry).Add(v.o.Leeway)):
		return nil, invalid("token expired")
	case c.NotBefore != nil && now.Add(v.o.Leeway).Before(unixTime(*c.NotBefore)):
		return nil, invalid("token not yet valid")
	case c.JWTID == "" || c.ClientID == "":
		// An ID token is signed by the same keys but has no jti: it is
		// not an access token.
		return nil, invalid("not an access token")
	case v.o.Audience != "" && !contains(c.Audience, v.o.Audience):
		return nil, invalid("wrong audience")
	}
	kid := jws.Signatures[0].Protected.KeyID
	alg := jws.Signatures[0].Protected.Algorithm
	k, err := v.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	if k.Algorithm != "" && k.Algorithm != alg {
		return nil, invalid("algorithm does not match the key")
	}
	if CacheOnly(ctx) {
		return nil, ErrThrottled
	}
	if err := v.full.acquire(ctx); err != nil {
		return nil, err
	}
	_, err = jws.Verify(k.Key)
	v.full.release()
	if err != nil {
		return nil, invalid("bad signature")
	}
	return newClaims(Claims{Issuer: c.Issuer, Subject: c.Subject, ClientID: c.ClientID, JWTID: c.JWTID,
		Audience: c.Audience, Scopes: c.Scope, Expiry: unixTime(*c.Expiry)}), nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// key returns the public key kid, fetching the key set when kid is unknown
// (at most once per RefetchInterval) or when the set is old.
func (v *JWTVerifier) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	v.mu.Lock()
	k, ok := v.keys[kid]
	now := v.o.Now()
	stale := v.keys != nil && now.Sub(v.loadedAt) > v.o.KeysMaxAge && now.Sub(v.fetchedAt) >= v.o.RefetchInterval
	if ok {
		if stale && v.fetching == nil {
			v.startFetch()
		}
		v.mu.Unlock()
		return k, nil
	}
	// Unknown kid: join the running fetch, or start one if allowed.
	wait := v.fetching
	if wait == nil {
		if !v.fetchedAt.IsZero() && now.Sub(v.fetchedAt) < v.o.RefetchInterval {
			v.mu.Unlock()
			if v.keys == nil {
				return k, fmt.Errorf("%w: signing keys not loaded", ErrUnavailable)
			}
			return k, invalid("unknown signing key")
		}
		if CacheOnly(ctx) {
			v.mu.Unlock()
			return k, ErrThrottled
		}
		wait = v.startFetch()
	}
	v.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		return k, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok = v.keys[kid]; ok {
		return k, nil
	}
	if v.keys == nil {
		return k, fmt.Errorf("%w: signing keys could not be fetched", ErrUnavailable)
	}
	return k, invalid("unknown signing key")
}

// startFetch starts fetching the key set in the background; v.mu is held.
func (v *JWTVerifier) startFetch() chan struct{} {
	done := make(chan struct{})
	v.fetching = done
	v.fetchedAt = v.o.Now()
	go func() {
		// Not the request's context: other requests wait for this fetch.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := v.fetch(ctx)
		v.mu.Lock()
		if err == nil {
			v.keys, v.loadedAt = keys, v.o.Now()
		}
		v.fetching = nil
		v.mu.Unlock()
		close(done)
	}()
	return done
}

// Refresh fetches the key set now (at start, to fail early).
func (v *JWTVerifier) Refresh(ctx context.Context) error {
	keys, err := v.fetch(ctx)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.keys, v.loadedAt, v.fetchedAt = keys, v.o.Now(), v.o.Now()
	v.mu.Unlock()
	return nil
}

func (v *JWTVerifier) fetch(ctx context.Context) (map[string]jose.JSONWebKey, error) {
	keys, err := v.doFetch(ctx)
	if err != nil {
		v.fetches.WithLabelValues("error").Inc()
		v.log.WarnContext(ctx, "gateway: fetch signing keys", "url", v.o.JWKSURL, "err", err)
		return nil, err
	}
	v.fetches.WithLabelValues("ok").Inc()
	v.log.InfoContext(ctx, "gateway: signing keys fetched", "url", v.o.JWKSURL, "keys", len(keys))
	return keys, nil
}

func (v *JWTVerifier) doFetch(ctx context.Context) (map[string]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.o.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.o.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("key set: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	keys := make(map[string]jose.JSONWebKey, len(set.Keys))
	for _, k := range set.Keys {
		if (k.Use != "" && k.Use != "sig") || !k.Valid() || !k.IsPublic() {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != string(jose.ES256) && k.Algorithm != string(jose.RS256) {
			continue
		}
		keys[k.KeyID] = k
	}
	if len(keys) == 0 {
		return nil, errors.New("key set: no usable signing key")
	}
	return keys, nil
}
