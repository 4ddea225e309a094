package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

func jwk(k op.Key) jose.JSONWebKey {
	return jose.JSONWebKey{KeyID: k.ID(), Algorithm: string(k.Algorithm()), Use: k.Use(), Key: k.Key()}
}

// maxTokenForm bounds the bodies of the token-taking endpoints.
const maxTokenForm = 64 << 10

// VerifyAccessToken checks an access token's signature, issuer and
// expiry, and that it was not revoked; it returns the token's claims.
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (*zoidc.AccessTokenClaims, bool) {
	if token == "" || len(token) > 8192 {
		return nil, false
	}
	ctx = op.ContextWithIssuer(ctx, p.issuer)
	claims, err := op.VerifyAccessToken[*zoidc.AccessTokenClaims](ctx, token, p.op.AccessTokenVerifier(ctx))
	if err != nil {
		return nil, false
	}
	revoked, err := p.st.isRevoked(ctx, claims.JWTID)
	if err != nil || revoked {
		return nil, false
	}
	return claims, true
}

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
	resp := zoidc.IntrospectionResponse{}
	if claims, ok := p.VerifyAccessToken(r.Context(), r.PostForm.Get("token")); ok {
		resp.Active = true
		resp.Scope = zoidc.SpaceDelimitedArray(claims.Scopes)
		resp.ClientID = claims.ClientID
		resp.TokenType = "Bearer"
		resp.Expiration = claims.Expiration
		resp.IssuedAt = claims.IssuedAt
		resp.NotBefore = claims.NotBefore
		resp.Subject = claims.Subject
		resp.Audience = claims.Audience
		resp.Issuer = claims.Issuer
		resp.JWTID = claims.JWTID
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(resp)
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
	claims, valid := p.VerifyAccessToken(r.Context(), strings.TrimSpace(token))
	if !valid || claims.Subject == claims.ClientID || !slices.Contains(claims.Scopes, "openid") {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSONError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
		return
	}
	ui := new(zoidc.UserInfo)
	if err := p.st.setUserinfo(r.Context(), ui, claims.Subject, claims.Scopes); err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSONError(w, http.StatusUnauthorized, "invalid_token", "the member no longer exists")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(ui)
}
