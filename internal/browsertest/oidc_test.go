package browsertest

import (
	"crypto/rand"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/kaiin-project/kaiin/internal/app/apptest"
	"github.com/kaiin-project/kaiin/internal/oidc"
)

// The relying party's scopes, as it registers and requests them.
var rpScopes = []string{"openid", "profile", "email", "offline_access"}

// relyingParty is a sample web application that signs its users in with
// Kaiin, as one would write it with golang.org/x/oauth2 and go-oidc: GET /
// starts an authorization (authorization code, PKCE S256, state and
// nonce); GET /callback takes the answer, exchanges the code, verifies the
// ID token, reads userinfo and shows who signed in. /?ui_locales=… and
// /?prompt=… are passed on to the authorization request.
//
// Its pages show #signed-in ("Signed in as <email>") and #sub on success,
// #oauth-error (the error the provider sent back), or #rp-error (what went
// wrong in the relying party itself, with status 502).
type relyingParty struct {
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	cfg      oauth2.Config

	mu      sync.Mutex
	pending map[string]pendingAuth // by state
}

// pendingAuth is what the relying party keeps between / and /callback.
type pendingAuth struct{ nonce, verifier string }

// startRelyingParty starts the sample relying party on 127.0.0.1 and
// registers it as a client of node n.
func startRelyingParty(t *testing.T, n *apptest.Node) (*relyingParty, string) {
	t.Helper()
	rp := &relyingParty{pending: map[string]pendingAuth{}}
	srv := httptest.NewUnstartedServer(rp)
	t.Cleanup(srv.Close)
	base := "http://" + srv.Listener.Addr().String()
	cl, secret, err := n.App.Clients.Create(t.Context(), oidc.ClientSpec{Name: "Sample Shop",
		RedirectURIs: []string{base + "/callback"}, Scopes: rpScopes})
	if err != nil {
		t.Fatalf("register the relying party: %v", err)
	}
	rp.provider, err = gooidc.NewProvider(t.Context(), n.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rp.verifier = rp.provider.Verifier(&gooidc.Config{ClientID: cl.ID})
	rp.cfg = oauth2.Config{ClientID: cl.ID, ClientSecret: secret, Endpoint: rp.provider.Endpoint(),
		RedirectURL: base + "/callback", Scopes: rpScopes}
	srv.Start()
	return rp, base
}

func (rp *relyingParty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/":
		rp.start(w, r)
	case "/callback":
		rp.callback(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (rp *relyingParty) start(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = pendingAuth{nonce: nonce, verifier: verifier}
	rp.mu.Unlock()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)}
	for _, k := range []string{"ui_locales", "prompt"} {
		if v := r.URL.Query().Get(k); v != "" {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	http.Redirect(w, r, rp.cfg.AuthCodeURL(state, opts...), http.StatusFound)
}

func (rp *relyingParty) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rp.mu.Lock()
	pa, ok := rp.pending[q.Get("state")]
	delete(rp.pending, q.Get("state"))
	rp.mu.Unlock()
	if !ok {
		rp.fail(w, "unknown state %q", q.Get("state"))
		return
	}
	if e := q.Get("error"); e != "" {
		rp.render(w, http.StatusOK, `<p id="oauth-error">`+html.EscapeString(e)+`</p>`)
		return
	}
	ctx := r.Context()
	tok, err := rp.cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pa.verifier))
	if err != nil {
		rp.fail(w, "exchange the code: %v", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		rp.fail(w, "verify the ID token: %v", err)
		return
	}
	if idt.Nonce != pa.nonce {
		rp.fail(w, "ID token nonce %q, want %q", idt.Nonce, pa.nonce)
		return
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			rp.fail(w, "at_hash: %v", err)
			return
		}
	}
	ui, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		rp.fail(w, "userinfo: %v", err)
		return
	}
	if ui.Subject != idt.Subject {
		rp.fail(w, "userinfo sub %q, ID token sub %q", ui.Subject, idt.Subject)
		return
	}
	if !ui.EmailVerified {
		rp.fail(w, "userinfo: email %q not verified", ui.Email)
		return
	}
	if tok.RefreshToken == "" {
		rp.fail(w, "no refresh token for offline_access")
		return
	}
	rp.render(w, http.StatusOK, `<p id="signed-in">Signed in as `+html.EscapeString(ui.Email)+`</p>`+
		`<p>sub: <code id="sub">`+html.EscapeString(idt.Subject)+`</code></p>`)
}

func (rp *relyingParty) fail(w http.ResponseWriter, format string, args ...any) {
	rp.render(w, http.StatusBadGateway, `<p id="rp-error">`+html.EscapeString(fmt.Sprintf(format, args...))+`</p>`)
}

func (rp *relyingParty) render(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sample Shop</title></head>`+
		`<body><h1>Sample Shop</h1>%s</body></html>`, body)
}

// expectAt checks that the browser is on the page prefix (a full URL)
// begins.
func (p *tab) expectAt(prefix string) {
	p.t.Helper()
	if loc := run(p, "location", chromedp.Location()); !strings.HasPrefix(loc, prefix) {
		p.t.Fatalf("at %s, want %s…", loc, prefix)
	}
}

// expectRP checks that the browser is back at the relying party's callback
// and that what it shows in sel reads want. A failure in the relying party
// is reported with its own message.
func (p *tab) expectRP(rp, sel, want string) {
	p.t.Helper()
	p.expectAt(rp + "/callback?")
	if p.count("#rp-error") > 0 {
		p.t.Fatalf("the relying party failed: %s", p.text("#rp-error"))
	}
	p.expectText(sel, want)
}

// expectSignedIn checks that the relying party shows the member signed in,
// with their address and their subject identifier (the account ID, not
// the address).
func (p *tab) expectSignedIn(rp, email, sub string) {
	p.t.Helper()
	p.expectRP(rp, "#signed-in", "Signed in as "+email)
	if got := p.text("#sub"); got != sub || strings.Contains(got, email) {
		p.t.Fatalf("sub is %q, want %q (the account ID, not the address)", got, sub)
	}
}

// expectAuthLogin checks that the browser is on Kaiin's sign-in page for
// an authorization by Sample Shop, in lang.
func (p *tab) expectAuthLogin(lang string) {
	p.t.Helper()
	tx := txt[lang]
	if path := p.path(); !strings.HasPrefix(path, "/login?authRequestID=") {
		p.t.Fatalf("at %s, want the sign-in page of an authorization", path)
	}
	p.expectLang(lang)
	p.expectText("h1", tx.loginTitle)
	p.expectText("#client", fmt.Sprintf(tx.loginForClient, "Sample Shop"))
	p.expectText("#submit", tx.loginButton)
}

// expectConsent checks the consent page for Sample Shop's scopes, in lang.
func (p *tab) expectConsent(lang, email string) {
	p.t.Helper()
	tx := txt[lang]
	if path := p.path(); !strings.HasPrefix(path, "/consent?authRequestID=") {
		p.t.Fatalf("at %s, want the consent page", path)
	}
	p.expectLang(lang)
	p.expectText("h1", tx.consentTitle)
	p.expectText("#consent-intro", fmt.Sprintf(tx.consentIntro, "Sample Shop"))
	if got := p.count("#consent-scopes li"); got != len(rpScopes) {
		p.t.Fatalf("the consent page lists %d scopes, want %d (%v)", got, len(rpScopes), rpScopes)
	}
	for _, s := range rpScopes {
		p.expectText(`#consent-scopes li[data-scope="`+s+`"]`, tx.scopes[s])
	}
	p.expectText("form .help", fmt.Sprintf(tx.consentAsUser, email))
	p.expectText("#allow", tx.consentAllow)
	p.expectText("#deny", tx.consentDeny)
}

// A sample relying party signs a member in through Kaiin's sign-in and
// consent pages; a second visit goes straight through.
func TestOIDCSignIn(t *testing.T) {
	b := startBrowser(t)
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	_, rp := startRelyingParty(t, n)

	// The language is chosen on Kaiin's sign-in page with the switch (the
	// browser asks for the other one), or by the relying party with
	// ui_locales.
	for _, c := range []struct {
		name, lang string
		uiLocales  bool
	}{
		{"en", "en", false},
		{"ja", "ja", false},
		{"ja-ui_locales", "ja", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			email := "oidc." + c.name + "@example.com"
			u, err := n.App.Accounts.CreateUser(t.Context(), email, pw1, true, false)
			if err != nil {
				t.Fatal(err)
			}
			p := b.newTab(t, n.URL, acceptLanguage(other(c.lang)))
			start := rp + "/"
			if c.uiLocales {
				start += "?ui_locales=" + c.lang
			}
			p.expectStatus(p.open(start), 200)
			if c.uiLocales {
				p.expectAuthLogin(c.lang)
			} else {
				p.expectAuthLogin(other(c.lang))
				p.switchLang(c.lang)
				p.expectAuthLogin(c.lang)
			}
			p.screenshot("login")
			p.expectStatus(p.login(email, pw1), 200)
			p.expectConsent(c.lang, email)
			p.screenshot("consent")
			p.expectStatus(p.press("#allow"), 200)
			p.expectSignedIn(rp, email, u.ID)

			// Again: the session and the remembered consent take the
			// browser straight back, signed in.
			p.expectStatus(p.open(rp+"/"), 200)
			p.expectSignedIn(rp, email, u.ID)
		})
	}
}

// Denying consent sends access_denied back; prompt=none answers without a
// page: login_required with no session, consent_required with a session
// but no consent.
func TestOIDCDenyAndPromptNone(t *testing.T) {
	b := startBrowser(t)
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	_, rp := startRelyingParty(t, n)
	const email = "oidc.deny@example.com"
	if _, err := n.App.Accounts.CreateUser(t.Context(), email, pw1, true, false); err != nil {
		t.Fatal(err)
	}

	t.Run("prompt=none without a session", func(t *testing.T) {
		p := b.newTab(t, n.URL, acceptLanguage("en"))
		p.expectStatus(p.open(rp+"/?prompt=none"), 200)
		p.expectRP(rp, "#oauth-error", "login_required")
	})

	t.Run("deny", func(t *testing.T) {
		// Accept-Language alone chooses Japanese here.
		p := b.newTab(t, n.URL, acceptLanguage("ja"))
		p.expectStatus(p.open(rp+"/"), 200)
		p.expectAuthLogin("ja")
		p.expectStatus(p.login(email, pw1), 200)
		p.expectConsent("ja", email)
		p.expectStatus(p.press("#deny"), 200)
		p.expectRP(rp, "#oauth-error", "access_denied")

		// Signed in, but nothing was allowed: prompt=none may not ask.
		p.expectStatus(p.open(rp+"/?prompt=none"), 200)
		p.expectRP(rp, "#oauth-error", "consent_required")

		// Without prompt=none the consent page asks again.
		p.expectStatus(p.open(rp+"/"), 200)
		p.expectConsent("ja", email)
	})
}
