package browsertest

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kaiin-project/kaiin/internal/app/apptest"
)

const (
	pw1       = "correct horse battery staple"
	pw2       = "tsukimi dango under the autumn moon"
	minLength = 8 // config.Default().Password.MinLength, as the test node uses
)

// Each scenario runs once with the pages in English and once in Japanese.
// The browser first asks for the other language (Accept-Language); the
// scenario then chooses its language with the switch in the page header on
// its first page, and later pages must keep it.
func forEachLang(t *testing.T, f func(t *testing.T, lang string)) {
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) { f(t, lang) })
	}
}

func TestHappyPath(t *testing.T) {
	b := startBrowser(t)
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	forEachLang(t, func(t *testing.T, lang string) { happyPath(t, b, n, lang) })
}

func TestHappyPathPostgresRedis(t *testing.T) {
	b := startBrowser(t)
	n := apptest.Start(t, apptest.Config(t, apptest.PostgresRedis), nil)
	happyPath(t, b, n, "ja")
}

// happyPath registers, confirms the address from the mail in the dev
// outbox page, signs in and out, resets the forgotten password from the
// mail, and signs in with the new password.
func happyPath(t *testing.T, b *browser, n *apptest.Node, lang string) {
	tx := txt[lang]
	p := b.newTab(t, n.URL, acceptLanguage(other(lang)))
	email := "hanako." + lang + "@example.com"

	p.expectStatus(p.open("/register"), 200)
	p.switchLang(lang)
	p.expectText("h1", tx.registerTitle)
	p.fill(`input[autocomplete="username"]`, email)
	p.fill(`input[autocomplete="new-password"]`, pw1)
	p.expectStatus(p.press("#submit"), 200)
	p.expectText("h1", tx.checkEmail)
	p.expectLang(lang)

	// Confirm the address with the link in the mail.
	p.openMail(email, 0, tx.verifySubject)
	p.expectText("h1", tx.outboxTitle)
	p.expectStatus(p.followMailLink("/verify?token="), 200)
	p.expectText("h1", tx.verifyTitle)
	p.expectText("#submit", tx.verifyButton)
	p.expectStatus(p.press("#submit"), 200)
	p.expectText("h1", tx.verifiedTitle)
	p.expectText("#message", tx.verifiedBody)

	// Sign in.
	p.expectStatus(p.open("/login"), 200)
	p.expectText("h1", tx.loginTitle)
	p.expectText("#submit", tx.loginButton)
	p.screenshot("login-" + lang)
	p.expectStatus(p.login(email, pw1), 200)
	p.expectPath("/account")
	p.expectText("h1", tx.accountTitle)
	p.expectContains("#account-email", email)
	p.expectText("#account-email .badge", tx.confirmedBadge)
	p.screenshot("account-" + lang)

	// Sign out: the account page then sends the browser to sign in.
	p.expectText("#logout", tx.logoutButton)
	p.expectStatus(p.press("#logout"), 200)
	p.expectPath("/login?n=signed_out")
	p.expectText(".notice", tx.signedOut)
	p.expectStatus(p.open("/account"), 200)
	p.expectPath("/login?next=/account")
	p.expectText("h1", tx.loginTitle)

	// Forgot the password: the link on the sign-in page, then the mail.
	p.expectText(`a[href="/password/forgot"]`, tx.forgotLink)
	p.expectStatus(p.press(`a[href="/password/forgot"]`), 200)
	p.expectPath("/password/forgot")
	p.expectText("h1", tx.forgotTitle)
	before := n.CountMail(email)
	p.fill(`input[autocomplete="username"]`, email)
	p.expectStatus(p.press("#submit"), 200)
	p.expectText("h1", tx.checkEmail)
	p.openMail(email, before, tx.resetSubject)
	p.expectStatus(p.followMailLink("/password/reset?token="), 200)
	p.expectText("h1", tx.resetTitle)
	p.fill(`input[autocomplete="new-password"]`, pw2)
	p.expectStatus(p.press("#submit"), 200)
	p.expectText("h1", tx.passwordChanged)

	// The new password signs in; the old one no longer does.
	p.expectStatus(p.open("/login"), 200)
	p.expectStatus(p.login(email, pw2), 200)
	p.expectPath("/account")
	p.expectContains("#account-email", email)
	p.expectStatus(p.press("#logout"), 200)
	p.expectStatus(p.login(email, pw1), 401)
	p.expectError(errLoginFailed, lang)
	p.expectStatus(p.open("/account"), 200)
	p.expectPath("/login?next=/account")
}

// Each error shows its code and its translated text in #error.
func TestErrorMessages(t *testing.T) {
	b := startBrowser(t)
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	forEachLang(t, func(t *testing.T, lang string) {
		tx := txt[lang]
		p := b.newTab(t, n.URL, acceptLanguage(other(lang)))
		member := "taro." + lang + "@example.com"
		if _, err := n.App.Accounts.CreateUser(t.Context(), member, pw1, true, false); err != nil {
			t.Fatal(err)
		}

		// A wrong password; the address stays filled in.
		p.expectStatus(p.open("/login"), 200)
		p.switchLang(lang)
		p.expectStatus(p.login(member, "not the password at all"), 401)
		p.expectError(errLoginFailed, lang)
		p.expectLang(lang)
		if got := run(p, "read #email", chromedp.Value(chromedp.CSS("#email"))); got != member {
			t.Fatalf("email field holds %q after the failed sign-in, want %q", got, member)
		}

		// Weak passwords at registration. The browser itself refuses one
		// shorter than minlength; the server must too, when the browser
		// does not check.
		newcomer := "jiro." + lang + "@example.com"
		p.expectStatus(p.open("/register"), 200)
		p.fill(`input[autocomplete="username"]`, newcomer)
		p.fill(`input[autocomplete="new-password"]`, "short1")
		if !evaluate[bool](p, `document.getElementById("password").validity.tooShort`) {
			t.Fatal("the browser accepts a password shorter than minlength")
		}
		p.do("turn off form validation", chromedp.SetAttributeValue(chromedp.CSS(`form[action="/register"]`), "novalidate", ""))
		p.expectStatus(p.press("#submit"), 400)
		p.expectError(errPasswordTooShort, lang, minLength)
		p.expectLang(lang)
		p.fill(`input[autocomplete="new-password"]`, "password123")
		p.expectStatus(p.press("#submit"), 400)
		p.expectError(errPasswordCommon, lang)

		// A confirmation link that is used up, and a forged one. Expiry
		// itself is covered by the unit tests of the hot state: an expired
		// token is gone from it exactly like a used or a forged one.
		p.fill(`input[autocomplete="new-password"]`, pw1)
		p.expectStatus(p.press("#submit"), 200)
		p.expectText("h1", tx.checkEmail)
		verify := apptest.Link(t, n.WaitMail(t, newcomer, 0), n.URL+"/verify?token=")
		p.expectStatus(p.open(verify), 200)
		p.expectStatus(p.press("#submit"), 200)
		p.expectText("h1", tx.verifiedTitle)
		p.expectStatus(p.open(verify), 200)
		p.expectStatus(p.press("#submit"), 400)
		p.expectError(errVerifyLinkInvalid, lang)
		p.expectStatus(p.open("/verify?token=forged-token"), 200)
		p.expectStatus(p.press("#submit"), 400)
		p.expectError(errVerifyLinkInvalid, lang)

		// A forged reset link, and a used one; both offer to ask anew.
		p.expectStatus(p.open("/password/reset?token=forged-token"), 400)
		p.expectError(errResetLinkInvalid, lang)
		p.expectText("#next-link", tx.forgotTitle)
		p.expectStatus(p.open("/password/forgot"), 200)
		p.fill(`input[autocomplete="username"]`, member)
		p.expectStatus(p.press("#submit"), 200)
		reset := n.WaitLink(t, member, n.URL+"/password/reset?token=")
		p.expectStatus(p.open(reset), 200)
		p.fill(`input[autocomplete="new-password"]`, pw2)
		p.expectStatus(p.press("#submit"), 200)
		p.expectText("h1", tx.passwordChanged)
		p.expectStatus(p.open(reset), 400)
		p.expectError(errResetLinkInvalid, lang)
		p.expectLang(lang)
	})
}

// Accept-Language alone, with no switch pressed, chooses the language.
func TestAcceptLanguage(t *testing.T) {
	b := startBrowser(t)
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	forEachLang(t, func(t *testing.T, lang string) {
		tx := txt[lang]
		p := b.newTab(t, n.URL, acceptLanguage(lang))
		p.expectStatus(p.open("/login"), 200)
		p.expectLang(lang)
		p.expectText("h1", tx.loginTitle)
		p.expectText(`a[href="/password/forgot"]`, tx.forgotLink)
		p.expectStatus(p.login("nobody@example.com", "not the password at all"), 401)
		p.expectError(errLoginFailed, lang)
		p.expectStatus(p.open("/register"), 200)
		p.expectLang(lang)
		p.expectText("h1", tx.registerTitle)
		p.expectStatus(p.open("/password/forgot"), 200)
		p.expectText("h1", tx.forgotTitle)
	})
}

// On a phone-sized screen the pages fit the width: no sideways scrolling,
// and the submit button is on screen.
func TestPhoneLayout(t *testing.T) {
	b := startBrowser(t)
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	type layout struct {
		InnerWidth  float64 `json:"innerWidth"`
		InnerHeight float64 `json:"innerHeight"`
		ScrollWidth float64 `json:"scrollWidth"`
		Left        float64 `json:"left"`
		Right       float64 `json:"right"`
		Top         float64 `json:"top"`
		Bottom      float64 `json:"bottom"`
	}
	const measure = `(() => {
		const r = document.getElementById("submit").getBoundingClientRect();
		return {innerWidth: window.innerWidth, innerHeight: window.innerHeight,
			scrollWidth: document.documentElement.scrollWidth,
			left: r.left, right: r.right, top: r.top, bottom: r.bottom};
	})()`
	forEachLang(t, func(t *testing.T, lang string) {
		p := b.newTab(t, n.URL, acceptLanguage(other(lang)), withPhone(375, 667))
		check := func(page string, submitOnScreen bool) {
			t.Helper()
			p.do("wait for #submit", chromedp.WaitVisible(chromedp.CSS("#submit")))
			l := evaluate[layout](p, measure)
			if l.InnerWidth != 375 {
				t.Fatalf("%s: window.innerWidth = %v, want 375 (viewport meta tag missing, or content wider than the screen)", page, l.InnerWidth)
			}
			if l.ScrollWidth > l.InnerWidth {
				t.Fatalf("%s scrolls sideways: scrollWidth %v > innerWidth %v", page, l.ScrollWidth, l.InnerWidth)
			}
			if l.Left < 0 || l.Right > l.InnerWidth || l.Right-l.Left < 100 {
				t.Fatalf("%s: submit button spans x %v..%v, want inside 0..%v", page, l.Left, l.Right, l.InnerWidth)
			}
			if submitOnScreen && (l.Top < 0 || l.Bottom > l.InnerHeight) {
				t.Fatalf("%s: submit button spans y %v..%v, want inside 0..%v without scrolling", page, l.Top, l.Bottom, l.InnerHeight)
			}
		}
		p.expectStatus(p.open("/login"), 200)
		p.switchLang(lang) // the header's buttons work on a phone too
		check("login page", true)
		p.expectStatus(p.login("nobody@example.com", "not the password at all"), 401)
		p.expectError(errLoginFailed, lang)
		check("login page with an error", false)
		p.expectStatus(p.open("/register"), 200)
		check("registration page", false)
	})
}

// The pages are plain HTML forms: the whole way from registration to
// signing out works with JavaScript turned off.
func TestWithoutJavaScript(t *testing.T) {
	b := startBrowser(t)
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	forEachLang(t, func(t *testing.T, lang string) {
		tx := txt[lang]
		p := b.newTab(t, n.URL, acceptLanguage(other(lang)), withoutJavaScript)
		// Scripts are really off: <noscript> content is parsed as markup
		// only then.
		p.do("open noscript probe", chromedp.Navigate(`data:text/html,<noscript><p id="noscript">off</p></noscript>`))
		if p.count("#noscript") != 1 {
			t.Fatal("JavaScript is still on in the tab")
		}

		email := "saburo." + lang + "@example.com"
		p.expectStatus(p.open("/register"), 200)
		p.switchLang(lang)
		p.fill(`input[autocomplete="username"]`, email)
		p.fill(`input[autocomplete="new-password"]`, pw1)
		p.expectStatus(p.press("#submit"), 200)
		p.expectText("h1", tx.checkEmail)
		p.openMail(email, 0, tx.verifySubject)
		p.expectStatus(p.followMailLink("/verify?token="), 200)
		p.expectStatus(p.press("#submit"), 200)
		p.expectText("h1", tx.verifiedTitle)

		p.expectStatus(p.press("#next-link"), 200) // "sign in" on the confirmation page
		p.expectPath("/login")
		p.expectStatus(p.login(email, pw2), 401)
		p.expectError(errLoginFailed, lang)
		p.expectStatus(p.login(email, pw1), 200)
		p.expectPath("/account")
		p.expectText("h1", tx.accountTitle)
		p.expectContains("#account-email", email)
		p.expectStatus(p.press("#logout"), 200)
		p.expectPath("/login?n=signed_out")
		p.expectText(".notice", tx.signedOut)
		p.expectStatus(p.open("/account"), 200)
		p.expectPath("/login?next=/account")
	})
}
