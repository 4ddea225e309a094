package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The client_credentials grant is the token endpoint's busiest path
// (every service asks for tokens), so Kaiin serves it itself: one client
// check (a keyed hash against a cached record), one signature with a
// signer kept per key, fixed claims. It issues the same RFC 9068 JWT
// access tokens as the library does for the other grants.

// accessClaims are the claims of a client_credentials access token.
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	JWTID     string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// signers keeps a jose.Signer per signing key ID.
type signers struct{ m sync.Map }

func (s *signers) get(k op.SigningKey) (jose.Signer, error) {
	if v, ok := s.m.Load(k.ID()); ok {
		return v.(jose.Signer), nil
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: k.SignatureAlgorithm(), Key: &jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, err
	}
	s.m.Store(k.ID(), sg)
	return sg, nil
}

func (p *Provider) clientCredentials(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id) // RFC 6749 2.3.1: form-encoded first
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	c, err := p.st.clients.get(ctx, id)
	if err == nil {
		err = p.st.AuthorizeClientIDSecret(ctx, id, secret)
	}
	if err == nil && !basic && c.c.AuthMethod != "client_secret_post" {
		err = errWrongAuthMethod
	}
	if err != nil {
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="kaiin"`)
		}
		writeJSONError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if !slices.Contains(c.c.GrantTypes, GrantClientCredentials) {
		writeJSONError(w, http.StatusBadRequest, "unauthorized_client", "client_credentials is not allowed for this client")
		return
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	if len(scopes) == 0 { // RFC 6749 3.3: the registered scopes by default
		for _, s := range c.c.Scopes {
			if s != "openid" && s != "offline_access" {
				scopes = append(scopes, s)
			}
		}
	}
	for _, s := range scopes {
		if !c.IsScopeAllowed(s) {
			writeJSONError(w, http.StatusBadRequest, "invalid_scope", "a requested scope is not allowed for this client")
			return
		}
	}
	key, err := p.st.SigningKey(context.WithValue(ctx, clientCtxKey{}, id))
	var signer jose.Signer
	if err == nil {
		signer, err = p.signers.get(key)
	}
	now := p.opts.Now().UTC()
	exp := now.Add(p.st.life.AccessToken)
	scope := strings.Join(scopes, " ")
	var token string
	if err == nil {
		var payload []byte
		payload, err = json.Marshal(accessClaims{Issuer: p.issuer, Subject: id, Audience: []string{id}, Expiry: exp.Unix(),
			IssuedAt: now.Unix(), NotBefore: now.Unix(), JWTID: randomID("at_"), ClientID: id, Scope: scope})
		if err == nil {
			var jws *jose.JSONWebSignature
			if jws, err = signer.Sign(payload); err == nil {
				token, err = jws.CompactSerialize()
			}
		}
	}
	if err != nil {
		p.log.ErrorContext(ctx, "issue a client_credentials token", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "server_error", "the token could not be issued")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(tokenResponse{AccessToken: token, TokenType: "Bearer",
		ExpiresIn: int64(time.Until(exp).Round(time.Second) / time.Second), Scope: scope})
}

type authMethodError struct{}

func (authMethodError) Error() string {
	return "the client is not registered for this authentication method"
}

var errWrongAuthMethod error = authMethodError{}
