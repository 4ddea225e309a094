package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kaiin-project/kaiin/internal/store"
)

// ClientSpec is what an operator says of a client when creating or
// updating it.
type ClientSpec struct {
	Name                   string   `json:"name"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes             []string `json:"grant_types,omitempty"`
	Scopes                 []string `json:"scopes,omitempty"`
	// AuthMethod: client_secret_basic (default for confidential clients),
	// client_secret_post, private_key_jwt, or none (public clients).
	AuthMethod      string          `json:"token_endpoint_auth_method,omitempty"`
	Public          bool            `json:"public,omitempty"`
	JWKS            json.RawMessage `json:"jwks,omitempty"`
	ApplicationType string          `json:"application_type,omitempty"` // web (default) or native
	SigningAlg      string          `json:"id_token_signed_response_alg,omitempty"`
	SkipConsent     bool            `json:"skip_consent,omitempty"`
	// RequireMFA: members signing in to this client need a second factor.
	RequireMFA bool `json:"require_mfa,omitempty"`
}

// SpecError lists what is wrong with a ClientSpec, field by field.
type SpecError []string

func (e SpecError) Error() string { return "invalid client: " + strings.Join(e, "; ") }

var knownGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode}

// normalize fills defaults and checks the spec, returning every problem.
func (s *ClientSpec) normalize() error {
	var errs SpecError
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" || len(s.Name) > 200 {
		errs = append(errs, "name: required, at most 200 characters")
	}
	if len(s.GrantTypes) == 0 {
		s.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	for _, g := range s.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			errs = append(errs, fmt.Sprintf("grant_types: %q is not supported; use %s", g, strings.Join(knownGrants, ", ")))
		}
	}
	if len(s.Scopes) == 0 {
		s.Scopes = []string{"openid", "profile", "email"}
		if slices.Contains(s.GrantTypes, GrantRefreshToken) {
			s.Scopes = append(s.Scopes, "offline_access")
		}
	}
	for _, sc := range s.Scopes {
		if !validScope(sc) {
			errs = append(errs, fmt.Sprintf("scopes: %q is not a valid scope name", sc))
		}
	}
	switch s.ApplicationType {
	case "":
		s.ApplicationType = "web"
	case "web", "native":
	default:
		errs = append(errs, fmt.Sprintf("application_type: %q is not allowed; use web or native", s.ApplicationType))
	}
	if s.Public {
		if s.AuthMethod != "" && s.AuthMethod != "none" {
			errs = append(errs, "token_endpoint_auth_method: a public client uses none")
		}
		s.AuthMethod = "none"
		if slices.Contains(s.GrantTypes, GrantClientCredentials) {
			errs = append(errs, "grant_types: client_credentials needs a confidential client")
		}
	} else if s.AuthMethod == "" {
		s.AuthMethod = "client_secret_basic"
	}
	switch s.AuthMethod {
	case "client_secret_basic", "client_secret_post", "none":
	case "private_key_jwt":
		var set jose.JSONWebKeySet
		if len(s.JWKS) == 0 || json.Unmarshal(s.JWKS, &set) != nil || len(set.Keys) == 0 {
			errs = append(errs, "jwks: private_key_jwt needs the client's public keys as a JSON Web Key Set")
		}
	default:
		errs = append(errs, fmt.Sprintf("token_endpoint_auth_method: %q is not allowed; use client_secret_basic, client_secret_post, private_key_jwt or none", s.AuthMethod))
	}
	switch s.SigningAlg {
	case "":
		s.SigningAlg = "ES256"
	case "ES256", "RS256":
	default:
		errs = append(errs, fmt.Sprintf("id_token_signed_response_alg: %q is not allowed; use ES256 or RS256", s.SigningAlg))
	}
	needsRedirect := slices.Contains(s.GrantTypes, GrantAuthorizationCode)
	if needsRedirect && len(s.RedirectURIs) == 0 {
		errs = append(errs, "redirect_uris: at least one is required for authorization_code")
	}
	if len(s.RedirectURIs) > 50 || len(s.PostLogoutRedirectURIs) > 50 {
		errs = append(errs, "redirect_uris: at most 50")
	}
	for _, u := range append(slices.Clone(s.RedirectURIs), s.PostLogoutRedirectURIs...) {
		if msg := checkRedirectURI(u, s.ApplicationType); msg != "" {
			errs = append(errs, fmt.Sprintf("redirect_uris: %q %s", u, msg))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func validScope(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, c := range s {
		if c <= 0x20 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

// checkRedirectURI returns what is wrong with a redirect URI, or "".
// Web clients use https (http only on loopback, for development); native
// clients may use loopback http (any port at use, RFC 8252) or a private
// scheme. Fragments are never allowed (RFC 6749 3.1.2).
func checkRedirectURI(raw, appType string) string {
	if len(raw) > 2000 {
		return "is too long"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "is not an absolute URI"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not have a fragment"
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return "has no host"
		}
	case "http":
		if !isLoopback(u.Hostname()) {
			return "must use https (http only on a loopback address)"
		}
	default:
		if appType != "native" {
			return "must use https; private schemes are for native clients"
		}
		if !strings.Contains(u.Scheme, ".") {
			return "private schemes must be reverse domain names (com.example.app:/cb)"
		}
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// newSecret returns a client secret: 32 random bytes, base64url.
func newSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Clients manages OAuth clients for operators (the admin CLI and API).
type Clients struct {
	Store     store.ClientStore
	SecretKey []byte
	Now       func() time.Time
	// Changed is told of every change (the provider's cache forgets the
	// client); may be nil.
	Changed func(id string)
}

func (c *Clients) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

func (c *Clients) changed(id string) {
	if c.Changed != nil {
		c.Changed(id)
	}
}

// Create registers a client. The secret (empty for public clients) is
// returned once and stored only as a keyed hash.
func (c *Clients) Create(ctx context.Context, s ClientSpec) (store.Client, string, error) {
	if err := s.normalize(); err != nil {
		return store.Client{}, "", err
	}
	now := c.now()
	cl := apply(store.Client{ID: randomID("")[:32], CreatedAt: now}, s, now)
	var secret string
	if s.AuthMethod == "client_secret_basic" || s.AuthMethod == "client_secret_post" {
		secret = newSecret()
		cl.SecretHash = HashSecret(c.SecretKey, secret)
	}
	if err := c.Store.CreateClient(ctx, cl); err != nil {
		return store.Client{}, "", err
	}
	return cl, secret, nil
}

func apply(cl store.Client, s ClientSpec, now time.Time) store.Client {
	cl.Name = s.Name
	cl.RedirectURIs = s.RedirectURIs
	cl.PostLogoutRedirectURIs = s.PostLogoutRedirectURIs
	cl.GrantTypes = s.GrantTypes
	cl.Scopes = s.Scopes
	cl.AuthMethod = s.AuthMethod
	cl.JWKS = nil
	if len(s.JWKS) > 0 {
		cl.JWKS = []byte(s.JWKS)
	}
	cl.ApplicationType = s.ApplicationType
	cl.SigningAlg = s.SigningAlg
	cl.SkipConsent = s.SkipConsent
	cl.RequireMFA = s.RequireMFA
	cl.UpdatedAt = now
	return cl
}

// Spec returns the spec a client was made from.
func Spec(cl store.Client) ClientSpec {
	return ClientSpec{Name: cl.Name, RedirectURIs: cl.RedirectURIs, PostLogoutRedirectURIs: cl.PostLogoutRedirectURIs,
		GrantTypes: cl.GrantTypes, Scopes: cl.Scopes, AuthMethod: cl.AuthMethod, Public: cl.AuthMethod == "none",
		JWKS: cl.JWKS, ApplicationType: cl.ApplicationType, SigningAlg: cl.SigningAlg, SkipConsent: cl.SkipConsent,
		RequireMFA: cl.RequireMFA}
}

// Update changes a client with edit, applied to its current spec.
func (c *Clients) Update(ctx context.Context, id string, edit func(*ClientSpec)) (store.Client, error) {
	cl, err := c.Store.UpdateClient(ctx, id, func(cur store.Client) (store.Client, error) {
		s := Spec(cur)
		edit(&s)
		if err := s.normalize(); err != nil {
			return cur, err
		}
		if (s.AuthMethod == "none" || s.AuthMethod == "private_key_jwt") != (cur.SecretHash == "") {
			return cur, SpecError{"token_endpoint_auth_method: changing between secret and secretless methods needs a new client"}
		}
		return apply(cur, s, c.now()), nil
	})
	c.changed(id)
	return cl, err
}

// RotateSecret gives a confidential client a new secret; the old one stops
// working at once.
func (c *Clients) RotateSecret(ctx context.Context, id string) (string, error) {
	secret := newSecret()
	_, err := c.Store.UpdateClient(ctx, id, func(cur store.Client) (store.Client, error) {
		if cur.SecretHash == "" {
			return cur, errors.New("this client has no secret (public or private_key_jwt)")
		}
		cur.SecretHash = HashSecret(c.SecretKey, secret)
		cur.UpdatedAt = c.now()
		return cur, nil
	})
	c.changed(id)
	if err != nil {
		return "", err
	}
	return secret, nil
}

// Delete removes a client (and the consents given to it).
func (c *Clients) Delete(ctx context.Context, id string) error {
	err := c.Store.DeleteClient(ctx, id)
	c.changed(id)
	return err
}

// ForgetClient drops a client from the provider's cache.
func (p *Provider) ForgetClient(id string) { p.st.clients.forget(id) }
