package browsertest

import (
	"context"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/kaiin-project/kaiin/internal/app/apptest"
)

// addAuthenticator gives the tab a virtual platform authenticator (CTAP2,
// internal transport, resident keys, user verification that succeeds), as
// a laptop with a fingerprint reader would be.
func (p *tab) addAuthenticator() webauthn.AuthenticatorID {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		p.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		p.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// credentials lists the passkeys the virtual authenticator holds.
func (p *tab) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		p.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// waitPath waits until the browser is at path (after a script's
// navigation).
func (p *tab) waitPath(want string) {
	p.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		loc := run(p, "location", chromedp.Location())
		if u, err := url.Parse(loc); err == nil && u.RequestURI() == want && p.count("body") == 1 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("at %s, want %s", loc, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// withoutConditionalMediation makes the tab's pages see a browser without
// passkey autofill.
func (p *tab) withoutConditionalMediation() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: "delete PublicKeyCredential.isConditionalMediationAvailable;",
	}); err != nil {
		p.t.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
}

// waitFor waits until sel is visible (the page's script shows it).
func (p *tab) waitFor(sel string) {
	p.t.Helper()
	p.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// A member adds a passkey on the account page, signs out, signs in with
// it and no password, and removes it (password required). WebAuthn needs
// a domain name: the node's public URL is on localhost.
func TestPasskey(t *testing.T) {
	b := startBrowser(t)
	cfg := apptest.Config(t, apptest.SQLite)
	cfg.PublicURL = "http://localhost:0" // apptest keeps localhost, with the node's port
	n := apptest.Start(t, cfg, nil)
	email := "passkey@example.com"
	member, err := n.App.Accounts.CreateUser(t.Context(), email, pw1, true, false)
	if err != nil {
		t.Fatal(err)
	}
	p := b.newTab(t, n.URL, "en")
	auth := p.addAuthenticator()

	// Without a passkey yet, sign in with the password.
	p.expectStatus(p.open("/login"), 200)
	p.waitFor("#passkey-signin")
	p.expectText("#passkey-signin", "Sign in with a passkey")
	if got := p.attr("#email", "autocomplete"); got != "username webauthn" {
		t.Fatalf("email field autocomplete %q", got)
	}
	p.expectStatus(p.login(email, pw1), 200)
	p.expectPath("/account")

	// Add a passkey, named.
	p.waitFor("#passkey-add")
	before := n.CountMail(email)
	p.fill("#passkey-name", "Test laptop")
	p.do("add a passkey", chromedp.Click(chromedp.CSS("#passkey-register")),
		chromedp.WaitVisible(chromedp.CSS("#passkeys li.passkey")))
	p.expectPath("/account")
	p.expectText("#passkeys li.passkey .name", "Test laptop")
	if cs := p.credentials(auth); len(cs) != 1 || !cs[0].IsResidentCredential || cs[0].RpID != "localhost" {
		t.Fatalf("authenticator holds %+v", cs)
	}
	n.WaitMail(t, email, before)
	p.screenshot("passkey-added")

	// Sign out: on the sign-in page the script asks for a passkey through
	// the email field's autofill (conditional mediation). The virtual
	// authenticator answers it at once, as a member picking the passkey
	// from the autofill list: signed in, no password.
	p.expectStatus(p.press("#logout"), 200)
	p.waitPath("/account")
	p.expectContains("#account-email", email)
	p.expectContains("#passkeys li.passkey .help", "Last used")

	// A browser without autofill for passkeys: the button.
	p.withoutConditionalMediation()
	p.expectStatus(p.press("#logout"), 200)
	p.expectPath("/login?n=signed_out")
	p.waitFor("#passkey-signin")
	p.do("sign in with the passkey", chromedp.Click(chromedp.CSS("#passkey-signin")))
	p.waitPath("/account")
	p.expectContains("#account-email", email)
	if cs := p.credentials(auth); len(cs) != 1 || cs[0].SignCount < 2 {
		t.Fatalf("authenticator holds %+v", cs)
	}

	// A passkey alone does not turn two-step verification on (no recovery
	// codes would exist); once an authenticator app does, the passkey is
	// offered as the second step after the password.
	en, err := n.App.MFA.BeginTOTP(t.Context(), member.ID, email)
	if err != nil {
		t.Fatal(err)
	}
	code, err := exec.Command("oathtool", "--totp", "-b", en.Secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	if err := n.App.MFA.ConfirmTOTP(t.Context(), member.ID, en.FactorID, strings.TrimSpace(string(code))); err != nil {
		t.Fatal(err)
	}
	p.expectStatus(p.press("#logout"), 200)
	p.expectStatus(p.login(email, pw1), 200)
	p.expectPath("/login/mfa")
	p.waitFor("#passkey-2fa")
	p.expectText("#passkey-2fa", "Use your passkey")
	p.do("second step with the passkey", chromedp.Click(chromedp.CSS("#passkey-2fa")))
	p.waitPath("/account")
	p.expectContains("#account-email", email)

	// Remove it: a wrong password is refused, the right one removes it.
	form := "#passkeys li.passkey form"
	p.fill(form+` input[name="current_password"]`, "not the password")
	p.expectStatus(p.press(form+" button"), 400)
	p.expectText("#error .code", "KAI-PWD-005")
	p.expectStatus(p.open("/account"), 200)
	before = n.CountMail(email)
	p.fill(form+` input[name="current_password"]`, pw1)
	p.expectStatus(p.press(form+" button"), 200)
	p.expectPath("/account")
	if c := p.count("#passkeys li.passkey"); c != 0 {
		t.Fatalf("%d passkeys listed after removal", c)
	}
	n.WaitMail(t, email, before)

	// The removed passkey no longer signs in: the page says so.
	p.expectStatus(p.press("#logout"), 200)
	p.waitFor("#passkey-signin")
	p.do("sign in with a removed passkey", chromedp.Click(chromedp.CSS("#passkey-signin")),
		chromedp.WaitVisible(chromedp.CSS("#passkey-error")))
	p.expectText("#passkey-error .code", "KAI-PASSKEY-005")
	p.expectPath("/login?n=signed_out")
}
