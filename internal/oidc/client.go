package oidc

import (
	"slices"
	"strings"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kaiin-project/kaiin/internal/store"
)

// Grant types, as registered for clients.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// SupportedScopes are the scopes a client may be registered for.
var SupportedScopes = []string{"openid", "profile", "email", "phone", "address", "offline_access"}

// client adapts a stored client to the protocol library.
type client struct {
	c             store.Client
	loginURL      string // "/login?authRequestID="
	idTokenLife   time.Duration
	accessTokenTy op.AccessTokenType
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }

func (c *client) ApplicationType() op.ApplicationType {
	if c.c.ApplicationType == "native" {
		return op.ApplicationTypeNative
	}
	if c.c.AuthMethod == "none" {
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}

func (c *client) AuthMethod() zoidc.AuthMethod { return zoidc.AuthMethod(c.c.AuthMethod) }

func (c *client) ResponseTypes() []zoidc.ResponseType {
	if slices.Contains(c.c.GrantTypes, GrantAuthorizationCode) {
		return []zoidc.ResponseType{zoidc.ResponseTypeCode}
	}
	return nil
}

func (c *client) GrantTypes() []zoidc.GrantType {
	out := make([]zoidc.GrantType, len(c.c.GrantTypes))
	for i, g := range c.c.GrantTypes {
		out[i] = zoidc.GrantType(g)
	}
	return out
}

func (c *client) LoginURL(id string) string            { return c.loginURL + id }
func (c *client) AccessTokenType() op.AccessTokenType  { return c.accessTokenTy }
func (c *client) IDTokenLifetime() time.Duration       { return c.idTokenLife }
func (c *client) DevMode() bool                        { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) IsScopeAllowed(scope string) bool     { return slices.Contains(c.c.Scopes, scope) }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// public reports whether the client has no secret (PKCE required).
func (c *client) public() bool { return c.c.AuthMethod == "none" }

// allowedScopes filters requested scopes to those the client may have.
func (c *client) allowedScopes(requested []string) []string {
	var out []string
	for _, s := range requested {
		if c.IsScopeAllowed(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// scopeString is a stable text form of a scope set.
func scopeString(scopes []string) string {
	s := slices.Clone(scopes)
	slices.Sort(s)
	return strings.Join(s, " ")
}
