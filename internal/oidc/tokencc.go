package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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

// signers keeps a jwtSigner per signing key ID.
type signers struct{ m sync.Map }

func (s *signers) get(k op.SigningKey) (*jwtSigner, error) {
	if v, ok := s.m.Load(k.ID()); ok {
		return v.(*jwtSigner), nil
	}
	sg, err := newJWTSigner(k)
	if err != nil {
		return nil, err
	}
	s.m.Store(k.ID(), sg)
	return sg, nil
}

// jwtSigner signs compact JWS (RFC 7515) access tokens with one key. The
// protected header is the same for every token of the key, so it is
// rendered once; a token costs the payload's encoding, one SHA-256 and
// the signature itself (go-jose would marshal the header for each one).
type jwtSigner struct {
	head string // base64url of the protected header, and "."
	alg  jose.SignatureAlgorithm
	ec   *ecdsa.PrivateKey // ES256 with an in-memory key
	key  crypto.Signer     // otherwise
}

func newJWTSigner(k op.SigningKey) (*jwtSigner, error) {
	alg := k.SignatureAlgorithm()
	key, ok := k.Key().(crypto.Signer)
	if !ok || (alg != jose.ES256 && alg != jose.RS256) {
		return nil, fmt.Errorf("signing key %s: cannot sign %s with %T", k.ID(), alg, k.Key())
	}
	if _, isEC := key.Public().(*ecdsa.PublicKey); isEC != (alg == jose.ES256) {
		return nil, fmt.Errorf("signing key %s: %T is not a %s key", k.ID(), key, alg)
	}
	head, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{string(alg), k.ID(), "at+jwt"})
	if err != nil {
		return nil, err
	}
	s := &jwtSigner{head: base64.RawURLEncoding.EncodeToString(head) + ".", alg: alg, key: key}
	if ec, ok := key.(*ecdsa.PrivateKey); ok && alg == jose.ES256 {
		s.ec = ec
	}
	return s, nil
}

// sign returns the compact serialization of payload signed by s.
func (s *jwtSigner) sign(payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	b := make([]byte, 0, len(s.head)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	b = append(b, s.head...)
	b = enc.AppendEncode(b, payload)
	digest := sha256.Sum256(b)
	var sig []byte
	switch {
	case s.ec != nil:
		r, ss, err := ecdsa.Sign(rand.Reader, s.ec, digest[:])
		if err != nil {
			return "", err
		}
		sig = make([]byte, 64) // RFC 7518 3.4: R and S, 32 bytes each
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	case s.alg == jose.ES256:
		der, err := s.key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return "", err
		}
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 {
			return "", errors.New("ES256 signature is not ASN.1")
		}
		sig = make([]byte, 64)
		rs.R.FillBytes(sig[:32])
		rs.S.FillBytes(sig[32:])
	default: // RS256: RSASSA-PKCS1-v1_5 with SHA-256
		var err error
		if sig, err = s.key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
			return "", err
		}
	}
	b = append(b, '.')
	return string(enc.AppendEncode(b, sig)), nil
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
	// No scope asked, none granted (RFC 6749 3.3 lets the server choose a
	// default; least privilege chooses nothing: a kaiin:admin client must
	// ask for kaiin:admin).
	scopes := strings.Fields(r.PostForm.Get("scope"))
	for _, s := range scopes {
		if !c.IsScopeAllowed(s) {
			writeJSONError(w, http.StatusBadRequest, "invalid_scope", "a requested scope is not allowed for this client")
			return
		}
	}
	key, err := p.st.SigningKey(context.WithValue(ctx, clientCtxKey{}, id))
	var signer *jwtSigner
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
			token, err = signer.sign(payload)
		}
	}
	if err != nil {
		p.log.ErrorContext(ctx, "issue a client_credentials token", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "server_error", "the token could not be issued")
		return
	}
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrNoStore
	h["Pragma"] = hdrNoCache
	_, _ = w.Write(tokenAnswer(token, int64(time.Until(exp).Round(time.Second)/time.Second), scope))
}

var hdrNoCache = []string{"no-cache"}

// tokenAnswer renders the token response (RFC 6749 5.1) in one buffer,
// as json.Encoder would write tokenResponse: the token is base64url and
// dots, and the scope is escaped as a JSON string.
func tokenAnswer(token string, expiresIn int64, scope string) []byte {
	b := make([]byte, 0, len(token)+len(scope)+96)
	b = append(b, `{"access_token":"`...)
	b = append(b, token...)
	b = append(b, `","token_type":"Bearer","expires_in":`...)
	b = strconv.AppendInt(b, expiresIn, 10)
	if scope != "" {
		q, _ := json.Marshal(scope)
		b = append(b, `,"scope":`...)
		b = append(b, q...)
	}
	return append(b, "}\n"...)
}

type authMethodError struct{}

func (authMethodError) Error() string {
	return "the client is not registered for this authentication method"
}

var errWrongAuthMethod error = authMethodError{}
