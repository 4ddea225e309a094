package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Claims are what the gateway knows of a verified access token. A Claims
// returned by a verifier may be shared between requests: never modify it.
type Claims struct {
	Issuer   string
	Subject  string
	ClientID string
	// JWTID identifies the token for revocation ("jti").
	JWTID    string
	Audience []string
	Scopes   []string
	Expiry   time.Time

	scopeHeader string // Scopes joined by spaces, computed once
}

// newClaims finishes a Claims once its fields are set.
func newClaims(c Claims) *Claims {
	c.scopeHeader = strings.Join(c.Scopes, " ")
	return &c
}

// HasScope reports whether the token carries scope s.
func (c *Claims) HasScope(s string) bool {
	for _, x := range c.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// TokenVerifier checks an access token and returns its claims.
//
// Errors: a token that is not valid (malformed, badly signed, expired,
// revoked, from another issuer) is an error wrapping ErrInvalidToken, whose
// text is safe to show the client; a failure to decide (JWKS, hot state or
// introspection endpoint unreachable) wraps ErrUnavailable. When ctx
// carries CacheOnly, a verifier must not do expensive work (a signature
// check, a network call for a new token): it answers from its cache or
// returns ErrThrottled.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*Claims, error)
}

var (
	// ErrInvalidToken is wrapped by every "this token is not good" error.
	ErrInvalidToken = errors.New("invalid token")
	// ErrUnavailable is wrapped when validity could not be decided.
	ErrUnavailable = errors.New("token verification unavailable")
	// ErrThrottled is returned under CacheOnly for a token not in the cache.
	ErrThrottled = errors.New("too many invalid tokens from this address")
)

// invalid returns an ErrInvalidToken with a reason safe to show clients.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
}

type cacheOnlyKey struct{}

// WithCacheOnly marks ctx so that verifiers answer only from their caches.
func WithCacheOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, cacheOnlyKey{}, true)
}

// CacheOnly reports whether ctx was marked by WithCacheOnly.
func CacheOnly(ctx context.Context) bool {
	v, _ := ctx.Value(cacheOnlyKey{}).(bool)
	return v
}

// ByFormat sends JWTs (three dot-separated parts) to JWT and anything else
// to Opaque. Either may be nil: its tokens are then refused.
type ByFormat struct {
	JWT    TokenVerifier
	Opaque TokenVerifier
}

// Verify implements TokenVerifier.
func (b ByFormat) Verify(ctx context.Context, token string) (*Claims, error) {
	v := b.Opaque
	if strings.Count(token, ".") == 2 {
		v = b.JWT
	}
	if v == nil {
		return nil, invalid("token format not accepted")
	}
	return v.Verify(ctx, token)
}

var _ TokenVerifier = ByFormat{}
