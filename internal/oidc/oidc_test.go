package oidc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/kaiin-project/kaiin/internal/app/apptest"
	"github.com/kaiin-project/kaiin/internal/member"
	"github.com/kaiin-project/kaiin/internal/oidc"
	"github.com/kaiin-project/kaiin/internal/store"
)

const (
	memberEmail = "rp.member@example.com"
	memberPW    = "correct horse battery staple"
	redirectURI = "https://rp.example.com/callback"
)

// fixture is a running node with a member and two clients.
type fixture struct {
	t        *testing.T
	node     *apptest.Node
	member   store.User
	web      store.Client // confidential, authorization_code + refresh_token
	secret   string
	service  store.Client // client_credentials
	ssecret  string
	provider *gooidc.Provider
}

func setup(t *testing.T, backend apptest.Backend) *fixture {
	n := apptest.Start(t, apptest.Config(t, backend), nil)
	f := &fixture{t: t, node: n}
	var err error
	f.member, err = n.App.Accounts.CreateUser(t.Context(), memberEmail, memberPW, true, false)
	if err != nil {
		t.Fatal(err)
	}
	f.web, f.secret, err = n.App.Clients.Create(t.Context(), oidc.ClientSpec{Name: "Shop", RedirectURIs: []string{redirectURI},
		Scopes: []string{"openid", "profile", "email", "offline_access"}})
	if err != nil {
		t.Fatal(err)
	}
	f.service, f.ssecret, err = n.App.Clients.Create(t.Context(), oidc.ClientSpec{Name: "Batch", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"members:read"}})
	if err != nil {
		t.Fatal(err)
	}
	f.provider, err = gooidc.NewProvider(t.Context(), n.URL)
	if err != nil {
		t.Fatalf("discovery with go-oidc: %v", err)
	}
	return f
}

func (f *fixture) oauth2(scopes ...string) *oauth2.Config {
	return &oauth2.Config{ClientID: f.web.ID, ClientSecret: f.secret, Endpoint: f.provider.Endpoint(),
		RedirectURL: redirectURI, Scopes: append([]string{gooidc.ScopeOpenID}, scopes...)}
}

// browser follows redirects on Kaiin's own pages and stops at the relying
// party's redirect URI.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), "https://rp.example.com") {
				return http.ErrUseLastResponse
			}
			return nil
		}}}
}

type page struct {
	status   int
	location string // a redirect to the relying party
	url      string
	body     string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), url: resp.Request.URL.String(), body: string(body)}
}

func (b *browser) get(u string) page {
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	origin, _ := url.Parse(u)
	req.Header.Set("Origin", origin.Scheme+"://"+origin.Host)
	return b.do(req)
}

var authReqRE = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// signIn answers the login page the browser is on.
func (b *browser) signIn(p page, email, pw string) page {
	b.t.Helper()
	m := authReqRE.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("not a sign-in page for an authorization (%d %s):\n%s", p.status, p.url, p.body)
	}
	u, _ := url.Parse(p.url)
	return b.post(u.Scheme+"://"+u.Host+"/login", url.Values{"authRequestID": {m[1]}, "email": {email}, "password": {pw}})
}

// consent answers the consent page.
func (b *browser) consent(p page, decision string) page {
	b.t.Helper()
	m := authReqRE.FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(p.url, "/consent") {
		b.t.Fatalf("not a consent page (%d %s):\n%s", p.status, p.url, p.body)
	}
	u, _ := url.Parse(p.url)
	return b.post(u.Scheme+"://"+u.Host+"/consent", url.Values{"authRequestID": {m[1]}, "decision": {decision}})
}

// callback returns the query the relying party received.
func callback(t *testing.T, p page) url.Values {
	t.Helper()
	if !strings.HasPrefix(p.location, redirectURI) {
		t.Fatalf("no redirect to the relying party (%d %s, location %q):\n%s", p.status, p.url, p.location, p.body)
	}
	u, _ := url.Parse(p.location)
	return u.Query()
}

func forEachBackend(t *testing.T, f func(t *testing.T, be apptest.Backend)) {
	for _, be := range apptest.Backends {
		t.Run(string(be), func(t *testing.T) { f(t, be) })
	}
}

func TestAuthorizationCodeFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be apptest.Backend) {
		f := setup(t, be)
		ctx := t.Context()
		cfg := f.oauth2("email", "offline_access")
		verifier := oauth2.GenerateVerifier()
		b := newBrowser(t)
		start := b.get(cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n0nce"), oauth2.AccessTypeOffline))
		if !strings.Contains(start.body, "Shop") {
			t.Fatalf("login page does not name the service:\n%s", start.body)
		}
		consent := b.signIn(start, memberEmail, memberPW)
		if !strings.Contains(consent.body, "See your email address") {
			t.Fatalf("consent page does not list the scopes:\n%s", consent.body)
		}
		q := callback(t, b.consent(consent, "allow"))
		if q.Get("state") != "st4te" || q.Get("code") == "" {
			t.Fatalf("callback %v", q)
		}
		tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := f.provider.Verifier(&gooidc.Config{ClientID: f.web.ID}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("verify ID token: %v", err)
		}
		var claims struct {
			Nonce, Email string
			Verified     bool     `json:"email_verified"`
			AMR          []string `json:"amr"`
			AuthTime     int64    `json:"auth_time"`
		}
		if err := idt.Claims(&claims); err != nil || claims.Nonce != "n0nce" || idt.Subject != f.member.ID || strings.Contains(idt.Subject, "@") ||
			strings.Join(claims.AMR, " ") != "pwd" || time.Since(time.Unix(claims.AuthTime, 0)) > time.Minute {
			t.Fatalf("ID token sub=%q claims=%+v err=%v", idt.Subject, claims, err)
		}
		ui, err := f.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil || ui.Email != memberEmail || !ui.EmailVerified || ui.Subject != f.member.ID {
			t.Fatalf("userinfo %+v, %v", ui, err)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}

		// A second authorization skips consent (remembered) and the sign-in
		// (the session is fresh).
		q2 := callback(t, b.get(cfg.AuthCodeURL("two", oauth2.S256ChallengeOption(verifier))))
		if q2.Get("code") == "" || q2.Get("state") != "two" {
			t.Fatalf("second authorization: %v", q2)
		}

		// Refresh rotates; the old refresh token used again revokes the family.
		old := tok.RefreshToken
		fresh, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: old}).Token()
		if err != nil || fresh.RefreshToken == "" || fresh.RefreshToken == old {
			t.Fatalf("refresh: %v (rotated: %v)", err, fresh != nil && fresh.RefreshToken != old)
		}
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: old}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("reused refresh token: %v; want invalid_grant", err)
		}
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("family not revoked after reuse: %v", err)
		}
	})
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	if err == nil {
		return false
	}
	if ok := asRetrieve(err, &re); ok {
		return re.ErrorCode == code
	}
	return strings.Contains(err.Error(), code)
}

func asRetrieve(err error, re **oauth2.RetrieveError) bool {
	for err != nil {
		if r, ok := err.(*oauth2.RetrieveError); ok {
			*re = r
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestClientCredentialsIntrospectionRevocation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be apptest.Backend) {
		f := setup(t, be)
		ctx := t.Context()
		cc := clientcredentials.Config{ClientID: f.service.ID, ClientSecret: f.ssecret, TokenURL: f.provider.Endpoint().TokenURL, Scopes: []string{"members:read"}}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("client_credentials: %v", err)
		}
		// The access token is a JWT that verifies against the published keys.
		keySet := gooidc.NewRemoteKeySet(ctx, f.node.URL+"/keys")
		payload, err := keySet.VerifySignature(ctx, tok.AccessToken)
		if err != nil {
			t.Fatalf("access token signature: %v", err)
		}
		var claims map[string]any
		json.Unmarshal(payload, &claims)
		if claims["sub"] != f.service.ID || claims["iss"] != f.node.URL {
			t.Fatalf("claims %v", claims)
		}

		introspect := func(token, id, secret string) (int, map[string]any) {
			req, _ := http.NewRequest("POST", f.node.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			return resp.StatusCode, out
		}
		if st, out := introspect(tok.AccessToken, f.service.ID, f.ssecret); st != 200 || out["active"] != true || out["scope"] != "members:read" || out["client_id"] != f.service.ID {
			t.Fatalf("introspection %d %v", st, out)
		}
		if st, _ := introspect(tok.AccessToken, f.service.ID, "wrong"); st != 401 {
			t.Fatalf("introspection with a wrong secret: %d", st)
		}
		if st, out := introspect("not-a-token", f.service.ID, f.ssecret); st != 200 || out["active"] != false {
			t.Fatalf("garbage token: %d %v", st, out)
		}

		// Revocation (RFC 7009) makes introspection answer inactive.
		req, _ := http.NewRequest("POST", f.node.URL+"/revoke", strings.NewReader(url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(f.service.ID, f.ssecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("revoke: %v %v", resp.StatusCode, err)
		}
		resp.Body.Close()
		if _, out := introspect(tok.AccessToken, f.service.ID, f.ssecret); out["active"] != false {
			t.Fatalf("revoked token still active: %v", out)
		}

		// A wrong client secret is 401 invalid_client.
		bad := cc
		bad.ClientSecret = "wrong"
		_, err = bad.Token(ctx)
		var re *oauth2.RetrieveError
		if !asRetrieve(err, &re) || re.Response.StatusCode != 401 || re.ErrorCode != "invalid_client" {
			t.Fatalf("wrong secret: %v", err)
		}
	})
}

func TestAuthorizationErrors(t *testing.T) {
	f := setup(t, apptest.SQLite)
	ctx := t.Context()
	cfg := f.oauth2("email")
	verifier := oauth2.GenerateVerifier()

	// An unregistered redirect URI: no redirect happens; an error page.
	evil := *cfg
	evil.RedirectURL = "https://evil.example.com/cb"
	b := newBrowser(t)
	p := b.get(evil.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if u, _ := url.Parse(p.url); p.location != "" || u.Host != strings.TrimPrefix(f.node.URL, "http://") || p.status != 400 ||
		!strings.Contains(p.body, "KAI-OIDC-002") {
		t.Fatalf("unregistered redirect: %d %s %q\n%s", p.status, p.url, p.location, p.body)
	}
	unknown := *cfg
	unknown.ClientID = "no-such-client"
	if p := b.get(unknown.AuthCodeURL("s")); p.status != 400 || !strings.Contains(p.body, "KAI-OIDC-002") {
		t.Fatalf("unknown client: %d\n%s", p.status, p.body)
	}

	// prompt=none without a session: login_required at the relying party.
	q := callback(t, b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none"))))
	if q.Get("error") != "login_required" || q.Get("state") != "s" {
		t.Fatalf("prompt=none: %v", q)
	}

	// plain PKCE is refused.
	q = callback(t, b.get(cfg.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", verifier), oauth2.SetAuthURLParam("code_challenge_method", "plain"))))
	if q.Get("error") != "invalid_request" {
		t.Fatalf("plain PKCE: %v", q)
	}

	// Denying consent: access_denied.
	q = callback(t, b.consent(b.signIn(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), memberEmail, memberPW), "deny"))
	if q.Get("error") != "access_denied" {
		t.Fatalf("deny: %v", q)
	}

	// PKCE verifier mismatch, then a replayed code.
	code := func() string {
		p := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
		if strings.Contains(p.url, "/consent") {
			p = b.consent(p, "allow")
		}
		return callback(t, p).Get("code")
	}
	if _, err := cfg.Exchange(ctx, code(), oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("PKCE mismatch: %v", err)
	}
	c := code()
	if _, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if _, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("replayed code: %v", err)
	}

	// The callback works only for the browser that signed in.
	other := newBrowser(t)
	p = b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	_ = p
	stranger := other.get(f.node.URL + "/authorize/callback?id=whatever")
	if stranger.status != 400 || stranger.location != "" {
		t.Fatalf("callback for a stranger: %d %q", stranger.status, stranger.location)
	}
}

func TestConsentRevocationRevokesRefreshTokens(t *testing.T) {
	f := setup(t, apptest.SQLite)
	ctx := t.Context()
	cfg := f.oauth2("offline_access")
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t)
	q := callback(t, b.consent(b.signIn(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), memberEmail, memberPW), "allow"))
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	acct := b.get(f.node.URL + "/account")
	if !strings.Contains(acct.body, "Shop") {
		t.Fatalf("account page does not list the connected service:\n%s", acct.body)
	}
	p := b.post(f.node.URL+"/account/consents/revoke", url.Values{"client_id": {f.web.ID}})
	if p.status != 200 || strings.Contains(p.body, `<span class="client">Shop`) {
		t.Fatalf("after revoke: %d\n%s", p.status, p.body)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh after consent revoked: %v", err)
	}
}

// startCode runs the browser part of an authorization for cfg up to the
// code (signing in and consenting as needed).
func startCode(t *testing.T, b *browser, cfg *oauth2.Config, verifier string) string {
	t.Helper()
	p := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if authReqRE.MatchString(p.body) && strings.Contains(p.url, "/login") {
		p = b.signIn(p, memberEmail, memberPW)
	}
	if strings.Contains(p.url, "/consent") {
		p = b.consent(p, "allow")
	}
	return callback(t, p).Get("code")
}

func TestExpiredCode(t *testing.T) {
	c := apptest.Config(t, apptest.SQLite)
	c.OIDC.CodeLifetime = time.Second
	n := apptest.Start(t, c, nil)
	f := &fixture{t: t, node: n}
	var err error
	if f.member, err = n.App.Accounts.CreateUser(t.Context(), memberEmail, memberPW, true, false); err != nil {
		t.Fatal(err)
	}
	if f.web, f.secret, err = n.App.Clients.Create(t.Context(), oidc.ClientSpec{Name: "Shop", RedirectURIs: []string{redirectURI}}); err != nil {
		t.Fatal(err)
	}
	if f.provider, err = gooidc.NewProvider(t.Context(), n.URL); err != nil {
		t.Fatal(err)
	}
	cfg := f.oauth2()
	verifier := oauth2.GenerateVerifier()
	code := startCode(t, newBrowser(t), cfg, verifier)
	time.Sleep(1500 * time.Millisecond) // past the one-second code lifetime
	if _, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("expired code: %v; want invalid_grant", err)
	}
}

func TestClientSecretPost(t *testing.T) {
	f := setup(t, apptest.SQLite)
	cl, secret, err := f.node.App.Clients.Create(t.Context(), oidc.ClientSpec{Name: "Post", RedirectURIs: []string{redirectURI},
		AuthMethod: "client_secret_post"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{ClientID: cl.ID, ClientSecret: secret, RedirectURL: redirectURI, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: f.provider.Endpoint().AuthURL, TokenURL: f.provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	if _, err := cfg.Exchange(t.Context(), startCode(t, newBrowser(t), cfg, verifier), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("client_secret_post exchange: %v", err)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	f := setup(t, apptest.SQLite)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: key.Public(), KeyID: "rp-key-1", Algorithm: "ES256", Use: "sig"}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	cl, secret, err := f.node.App.Clients.Create(t.Context(), oidc.ClientSpec{Name: "JWT", RedirectURIs: []string{redirectURI},
		AuthMethod: "private_key_jwt", JWKS: jwks})
	if err != nil || secret != "" {
		t.Fatalf("create: %v (secret %q)", err, secret)
	}
	cfg := &oauth2.Config{ClientID: cl.ID, RedirectURL: redirectURI, Scopes: []string{"openid"}, Endpoint: f.provider.Endpoint()}
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t)

	assertion := func(k *ecdsa.PrivateKey) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: "rp-key-1"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		claims, _ := json.Marshal(map[string]any{"iss": cl.ID, "sub": cl.ID, "aud": f.node.URL, "iat": now.Unix(),
			"exp": now.Add(time.Minute).Unix(), "jti": oauth2.GenerateVerifier()})
		jws, err := signer.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s
	}
	exchange := func(code, assertion string) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
			"code_verifier": {verifier}, "client_id": {cl.ID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
		resp, err := http.PostForm(f.provider.Endpoint().TokenURL, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if st, out := exchange(startCode(t, b, cfg, verifier), assertion(other)); st < 400 || out["access_token"] != nil {
		t.Fatalf("assertion signed by a stranger's key: %d %v", st, out)
	}
	if st, out := exchange(startCode(t, b, cfg, verifier), assertion(key)); st != 200 || out["id_token"] == nil {
		t.Fatalf("private_key_jwt exchange: %d %v", st, out)
	}
}

func TestDeviceAuthorization(t *testing.T) {
	f := setup(t, apptest.SQLite)
	ctx := t.Context()
	tv, secret, err := f.node.App.Clients.Create(ctx, oidc.ClientSpec{Name: "Living-room TV", Public: true, ApplicationType: "native",
		GrantTypes: []string{oidc.GrantDeviceCode, oidc.GrantRefreshToken}, Scopes: []string{"openid", "email", "offline_access"}})
	if err != nil || secret != "" {
		t.Fatalf("create device client: %v", err)
	}
	cfg := &oauth2.Config{ClientID: tv.ID, Scopes: []string{"openid", "email"}, Endpoint: oauth2.Endpoint{
		TokenURL: f.provider.Endpoint().TokenURL, DeviceAuthURL: f.node.URL + "/device_authorization", AuthStyle: oauth2.AuthStyleInParams}}
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	if da.VerificationURI != f.node.URL+"/device" || !strings.Contains(da.VerificationURIComplete, "user_code=") {
		t.Fatalf("verification URIs %q %q", da.VerificationURI, da.VerificationURIComplete)
	}

	// The member opens the complete URI, signs in, and approves.
	b := newBrowser(t)
	p := b.get(da.VerificationURIComplete)
	if !strings.Contains(p.url, "/login") {
		t.Fatalf("not sent to sign in: %s", p.url)
	}
	u, _ := url.Parse(p.url)
	p = b.post(f.node.URL+"/login", url.Values{"email": {memberEmail}, "password": {memberPW}, "next": {u.Query().Get("next")}})
	if !strings.Contains(p.body, `value="`+oidc.NormalizeUserCode(da.UserCode)) && !strings.Contains(p.body, da.UserCode) {
		t.Fatalf("code not carried through sign-in:\n%s", p.body)
	}
	wrong := b.post(f.node.URL+"/device", url.Values{"user_code": {"ZZZZ-ZZZZ"}})
	if wrong.status != 400 || !strings.Contains(wrong.body, "KAI-OIDC-003") {
		t.Fatalf("wrong code: %d", wrong.status)
	}
	confirm := b.post(f.node.URL+"/device", url.Values{"user_code": {strings.ToLower(da.UserCode)}})
	if confirm.status != 200 || !strings.Contains(confirm.body, "Living-room TV") || !strings.Contains(confirm.body, "See your email address") {
		t.Fatalf("confirm page %d:\n%s", confirm.status, confirm.body)
	}
	done := b.post(f.node.URL+"/device/decide", url.Values{"user_code": {da.UserCode}, "decision": {"allow"}})
	if done.status != 200 || !strings.Contains(done.body, "Your device is connected") {
		t.Fatalf("decide %d:\n%s", done.status, done.body)
	}
	if again := b.post(f.node.URL+"/device", url.Values{"user_code": {da.UserCode}}); again.status != 400 {
		t.Fatalf("user code used twice: %d", again.status)
	}

	da.Interval = 1 // poll at once in the test
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("device access token: %v", err)
	}
	idt, err := f.provider.Verifier(&gooidc.Config{ClientID: tv.ID}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil || idt.Subject != f.member.ID {
		t.Fatalf("device ID token: %v", err)
	}

	// Denied: the device is told access_denied.
	da2, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := b.post(f.node.URL+"/device/decide", url.Values{"user_code": {da2.UserCode}, "decision": {"deny"}}); p.status != 200 {
		t.Fatalf("deny: %d", p.status)
	}
	da2.Interval = 1
	if _, err := cfg.DeviceAccessToken(ctx, da2); !isOAuthError(err, "access_denied") {
		t.Fatalf("denied device: %v; want access_denied", err)
	}
}

// A client registered for RS256 (old libraries) gets RS256 tokens; others
// keep ES256. Both keys are published.
func TestRS256Client(t *testing.T) {
	c := apptest.Config(t, apptest.SQLite)
	c.Keys.Algorithms = []string{"ES256", "RS256"}
	n := apptest.Start(t, c, nil)
	ctx := t.Context()
	if _, err := n.App.Accounts.CreateUser(ctx, memberEmail, memberPW, true, false); err != nil {
		t.Fatal(err)
	}
	prov, err := gooidc.NewProvider(ctx, n.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"RS256", "ES256"} {
		cl, secret, err := n.App.Clients.Create(ctx, oidc.ClientSpec{Name: "Legacy " + alg, RedirectURIs: []string{redirectURI}, SigningAlg: alg, SkipConsent: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg := &oauth2.Config{ClientID: cl.ID, ClientSecret: secret, RedirectURL: redirectURI, Scopes: []string{"openid"}, Endpoint: prov.Endpoint()}
		verifier := oauth2.GenerateVerifier()
		tok, err := cfg.Exchange(ctx, startCode(t, newBrowser(t), cfg, verifier), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("%s exchange: %v", alg, err)
		}
		raw := tok.Extra("id_token").(string)
		header, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
		if !strings.Contains(string(header), `"alg":"`+alg+`"`) {
			t.Fatalf("%s client got header %s", alg, header)
		}
		if _, err := prov.Verifier(&gooidc.Config{ClientID: cl.ID, SupportedSigningAlgs: []string{alg}}).Verify(ctx, raw); err != nil {
			t.Fatalf("%s ID token does not verify with the published keys: %v", alg, err)
		}
	}
}

// prompt=login and max_age force a new sign-in even with a session; a
// generous max_age does not.
func TestPromptLoginAndMaxAge(t *testing.T) {
	f := setup(t, apptest.SQLite)
	cfg := f.oauth2()
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t)
	startCode(t, b, cfg, verifier) // signs in and consents
	isLogin := func(p page) bool { return strings.Contains(p.url, "/login") && authReqRE.MatchString(p.body) }

	if p := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("max_age", "3600"))); isLogin(p) {
		t.Fatal("max_age=3600 asked for a new sign-in")
	}
	p := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "login")))
	if !isLogin(p) {
		t.Fatalf("prompt=login did not ask for a sign-in: %s", p.url)
	}
	if q := callback(t, b.signIn(p, memberEmail, memberPW)); q.Get("code") == "" {
		t.Fatalf("after re-authentication: %v", q)
	}
	if p := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("max_age", "0"))); !isLogin(p) {
		t.Fatal("max_age=0 did not ask for a sign-in")
	}
	// login_hint fills in the address; ui_locales chooses the language.
	p = newBrowser(t).get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("login_hint", memberEmail), oauth2.SetAuthURLParam("ui_locales", "ja")))
	if !strings.Contains(p.body, `value="`+memberEmail+`"`) || !strings.Contains(p.body, `lang="ja"`) {
		t.Fatalf("login_hint/ui_locales not honoured:\n%s", p.body)
	}
}

// Signing a device out revokes the refresh tokens issued through its
// session; other sessions' tokens live on.
func TestSignOutRevokesSessionRefreshTokens(t *testing.T) {
	f := setup(t, apptest.SQLite)
	ctx := t.Context()
	cfg := f.oauth2("offline_access")
	grant := func(b *browser) *oauth2.Token {
		verifier := oauth2.GenerateVerifier()
		tok, err := cfg.Exchange(ctx, startCode(t, b, cfg, verifier), oauth2.VerifierOption(verifier))
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("grant: %v", err)
		}
		return tok
	}
	refresh := func(rt string) error {
		_, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
		return err
	}
	laptop, phone := newBrowser(t), newBrowser(t)
	lt, pt := grant(laptop), grant(phone)

	// The laptop signs out: its tokens die, the phone's live.
	if p := laptop.post(f.node.URL+"/logout", nil); p.status != 200 {
		t.Fatalf("logout: %d", p.status)
	}
	if err := refresh(lt.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh after sign-out: %v", err)
	}
	pt2, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: pt.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("the phone's token died too: %v", err)
	}
	// Signing the phone out from another browser ends its tokens as well.
	other := newBrowser(t)
	p := other.post(f.node.URL+"/login", url.Values{"email": {memberEmail}, "password": {memberPW}})
	if !strings.Contains(p.url, "/account") {
		t.Fatalf("sign-in: %s", p.url)
	}
	if p := other.post(f.node.URL+"/account/sessions/end-others", nil); p.status != 200 {
		t.Fatalf("end others: %d", p.status)
	}
	if err := refresh(pt2.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh after the phone was signed out remotely: %v", err)
	}
}

// Profile, phone and address claims come from the sealed profile, each
// only with its scope.
func TestProfileClaimsByScope(t *testing.T) {
	f := setup(t, apptest.SQLite)
	ctx := t.Context()
	if _, err := f.node.App.Members.Put(ctx, f.member.ID, member.Profile{FamilyName: "山田", GivenName: "花子",
		FamilyNameKana: "ヤマダ", GivenNameKana: "ハナコ", Phone: "090-1234-5678",
		Address: &member.Address{Country: "JP", PostalCode: "1000001", Region: "東京都", Locality: "千代田区", Street: "千代田1-1"}}); err != nil {
		t.Fatal(err)
	}
	cl, secret, err := f.node.App.Clients.Create(ctx, oidc.ClientSpec{Name: "Shipping", RedirectURIs: []string{redirectURI},
		Scopes: []string{"openid", "profile", "phone", "address"}, SkipConsent: true})
	if err != nil {
		t.Fatal(err)
	}
	userinfo := func(scopes ...string) map[string]any {
		cfg := &oauth2.Config{ClientID: cl.ID, ClientSecret: secret, RedirectURL: redirectURI, Scopes: append([]string{"openid"}, scopes...), Endpoint: f.provider.Endpoint()}
		verifier := oauth2.GenerateVerifier()
		tok, err := cfg.Exchange(ctx, startCode(t, newBrowser(t), cfg, verifier), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		ui, err := f.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		if err := ui.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		return claims
	}
	all := userinfo("profile", "phone", "address")
	addr, _ := all["address"].(map[string]any)
	if all["family_name"] != "山田" || all["family_name#ja-Kana-JP"] != "ヤマダ" || all["phone_number"] != "+819012345678" ||
		addr == nil || addr["postal_code"] != "100-0001" || addr["region"] != "東京都" {
		t.Fatalf("claims with every scope: %v", all)
	}
	some := userinfo("profile")
	if some["family_name"] != "山田" || some["phone_number"] != nil || some["address"] != nil {
		t.Fatalf("claims with profile only: %v", some)
	}
}

func oathCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", "-N", fmt.Sprintf("@%d", at.Unix()), secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// A relying party that asks for acr urn:kaiin:acr:mfa (or a client that
// requires it) gets a second-factor sign-in: a member without one is told
// to set one up; a session without one is stepped up; the ID token says so.
func TestStepUpToMFA(t *testing.T) {
	f := setup(t, apptest.SQLite)
	ctx := t.Context()
	cfg := f.oauth2()
	verifier := oauth2.GenerateVerifier()
	acrOf := func(code string) (string, []string) {
		tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		idt, err := f.provider.Verifier(&gooidc.Config{ClientID: f.web.ID}).Verify(ctx, tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			ACR string   `json:"acr"`
			AMR []string `json:"amr"`
		}
		idt.Claims(&c)
		return c.ACR, c.AMR
	}
	b := newBrowser(t)
	if acr, _ := acrOf(startCode(t, b, cfg, verifier)); acr != oidc.ACRPassword {
		t.Fatalf("password sign-in acr %q", acr)
	}
	mfaURL := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("acr_values", oidc.ACRMFA))

	// No second factor yet: told to set one up, not sent back.
	p := b.get(mfaURL)
	if p.status != 403 || !strings.Contains(p.body, "KAI-MFA-009") || p.location != "" {
		t.Fatalf("no factor: %d %s", p.status, p.body)
	}
	// prompt=none cannot step up.
	q := callback(t, b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("acr_values", oidc.ACRMFA), oauth2.SetAuthURLParam("prompt", "none"))))
	if q.Get("error") != "interaction_required" {
		t.Fatalf("prompt=none: %v", q)
	}

	// With an authenticator app, the existing password session is stepped up.
	en, err := f.node.App.MFA.BeginTOTP(ctx, f.member.ID, memberEmail)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.node.App.MFA.ConfirmTOTP(ctx, f.member.ID, en.FactorID, oathCode(t, en.Secret, time.Now())); err != nil {
		t.Fatal(err)
	}
	p = b.get(mfaURL)
	if !strings.Contains(p.url, "/login/mfa") {
		t.Fatalf("not asked for a second factor: %s", p.url)
	}
	u, _ := url.Parse(p.url)
	q = callback(t, b.post(u.Scheme+"://"+u.Host+"/login/mfa", url.Values{"code": {oathCode(t, en.Secret, time.Now().Add(30*time.Second))}}))
	acr, amr := acrOf(q.Get("code"))
	if acr != oidc.ACRMFA || !slices.Contains(amr, "otp") || !slices.Contains(amr, "mfa") {
		t.Fatalf("after step-up: acr %q amr %v", acr, amr)
	}
	// The stepped-up session satisfies the next request silently.
	if q := callback(t, b.get(mfaURL)); q.Get("code") == "" {
		t.Fatalf("second request: %v", q)
	}

	// A client registered with require_mfa needs it without asking.
	strict, secret, err := f.node.App.Clients.Create(ctx, oidc.ClientSpec{Name: "Bank", RedirectURIs: []string{redirectURI}, RequireMFA: true, SkipConsent: true})
	if err != nil {
		t.Fatal(err)
	}
	scfg := &oauth2.Config{ClientID: strict.ID, ClientSecret: secret, RedirectURL: redirectURI, Scopes: []string{"openid"}, Endpoint: f.provider.Endpoint()}
	fresh := newBrowser(t)
	p = fresh.signIn(fresh.get(scfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), memberEmail, memberPW)
	if !strings.Contains(p.url, "/login/mfa") {
		t.Fatalf("require_mfa client: not asked for a second factor: %s", p.url)
	}
}

// A code used a second time may be stolen: the tokens issued from it are
// revoked (RFC 6749 4.1.2).
func TestReplayedCodeRevokesItsTokens(t *testing.T) {
	f := setup(t, apptest.SQLite)
	ctx := t.Context()
	cfg := f.oauth2("offline_access")
	verifier := oauth2.GenerateVerifier()
	code := startCode(t, newBrowser(t), cfg, verifier)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange: %v", err)
	}
	active := func() any {
		req, _ := http.NewRequest("POST", f.node.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(f.service.ID, f.ssecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return out["active"]
	}
	if active() != true {
		t.Fatal("the fresh token is not active")
	}
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("replay: %v", err)
	}
	if active() != false {
		t.Fatal("the access token issued from a replayed code is still active")
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh token issued from a replayed code: %v", err)
	}
}
