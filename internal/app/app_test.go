package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/app/apptest"
	"github.com/kaiin-project/kaiin/internal/config"
	"github.com/kaiin-project/kaiin/internal/store"
)

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so each answer can be checked.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	lang string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, lang: "en", c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) answer {
	b.t.Helper()
	req.Header.Set("Accept-Language", b.lang)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(path string) answer {
	b.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = b.base + path
	}
	req, _ := http.NewRequest("GET", path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) answer {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// What a browser sends for a same-origin form.
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

func expect(t *testing.T, a answer, status int, contains ...string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body:\n%s", a.status, status, a.body)
	}
	for _, c := range contains {
		if !strings.Contains(a.body, c) {
			t.Fatalf("answer lacks %q; body:\n%s", c, a.body)
		}
	}
}

func expectRedirect(t *testing.T, a answer, to string) {
	t.Helper()
	if a.status != http.StatusSeeOther || a.header.Get("Location") != to {
		t.Fatalf("got %d to %q, want 303 to %q; body:\n%s", a.status, a.header.Get("Location"), to, a.body)
	}
}

var tokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// confirm opens a link from a mail and presses its button.
func (b *browser) confirm(link string) answer {
	b.t.Helper()
	page := b.get(link)
	expect(b.t, page, 200)
	m := tokenRE.FindStringSubmatch(page.body)
	if m == nil {
		b.t.Fatalf("no token on %s", link)
	}
	u, _ := url.Parse(link)
	return b.post(u.Path, url.Values{"token": {m[1]}})
}

func forEachBackend(t *testing.T, f func(t *testing.T, backend apptest.Backend)) {
	for _, be := range apptest.Backends {
		t.Run(string(be), func(t *testing.T) { f(t, be) })
	}
}

const pw1 = "correct horse battery staple"
const pw2 = "tsukimi dango under the autumn moon"

func TestMemberLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be apptest.Backend) {
		n := apptest.Start(t, apptest.Config(t, be), nil)
		b := newBrowser(t, n.URL)
		email := "hanako@example.com"

		expect(t, b.get("/register"), 200, `autocomplete="new-password"`, `autocomplete="username"`)
		expect(t, b.post("/register", url.Values{"email": {"Hanako@Example.com"}, "password": {pw1}}), 200, "Check your email")
		verify := apptest.Link(t, n.WaitMail(t, email, 0), n.URL+"/verify?token=")

		// Before verification, the right password gives KAI-LOGIN-003 and a new link.
		expect(t, b.post("/login", url.Values{"email": {email}, "password": {pw1}}), 403, "KAI-LOGIN-003")
		n.WaitMail(t, email, 1)

		expect(t, b.confirm(verify), 200, "Email address confirmed")
		expect(t, b.confirm(verify), 400, "KAI-VERIFY-001") // used up

		expect(t, b.post("/login", url.Values{"email": {email}, "password": {"wrong password here"}}), 401, "KAI-LOGIN-001")
		expectRedirect(t, b.get("/account"), "/login?next=/account")
		expectRedirect(t, b.post("/login", url.Values{"email": {email}, "password": {pw1}, "next": {"/account"}}), "/account")
		expect(t, b.get("/account"), 200, email)

		// Sign-out ends the session server-side: the old cookie is worthless.
		u, _ := url.Parse(n.URL)
		old := b.c.Jar.Cookies(u)
		expectRedirect(t, b.post("/logout", nil), "/login?n=signed_out")
		expectRedirect(t, b.get("/account"), "/login?next=/account")
		b.c.Jar.SetCookies(u, old)
		expectRedirect(t, b.get("/account"), "/login?next=/account")

		// Reset a forgotten password; a second browser signed in is signed out.
		other := newBrowser(t, n.URL)
		expectRedirect(t, other.post("/login", url.Values{"email": {email}, "password": {pw1}}), "/account")
		expect(t, b.post("/password/forgot", url.Values{"email": {email}}), 200, "If an account exists")
		reset := n.WaitLink(t, email, n.URL+"/password/reset?token=")
		page := b.get(reset)
		expect(t, page, 200, `autocomplete="new-password"`, `autocomplete="username" value="`+email+`"`)
		tok := tokenRE.FindStringSubmatch(page.body)[1]
		expect(t, b.post("/password/reset", url.Values{"token": {tok}, "password": {"short1"}}), 400, "KAI-PWD-001")
		expect(t, b.post("/password/reset", url.Values{"token": {tok}, "password": {"password123"}}), 400, "KAI-PWD-003")
		expect(t, b.post("/password/reset", url.Values{"token": {tok}, "password": {pw2}}), 200, "Password changed")
		expect(t, b.post("/password/reset", url.Values{"token": {tok}, "password": {pw2}}), 400, "KAI-RESET-001")
		expectRedirect(t, other.get("/account"), "/login?next=/account")
		expect(t, b.post("/login", url.Values{"email": {email}, "password": {pw1}}), 401, "KAI-LOGIN-001")
		expectRedirect(t, b.post("/login", url.Values{"email": {email}, "password": {pw2}}), "/account")

		// Change the password while signed in.
		expect(t, b.post("/account/password", url.Values{"current_password": {"not it at all"}, "new_password": {pw1}}), 400, "KAI-PWD-005")
		expect(t, b.post("/account/password", url.Values{"current_password": {pw2}, "new_password": {pw1}}), 200, "Your password has been changed")
		expect(t, b.get("/account"), 200, email) // this browser stays signed in

		// Change the email address, confirmed from the new mailbox.
		newEmail := "hanako.new@example.com"
		expect(t, b.post("/account/email", url.Values{"email": {newEmail}, "current_password": {pw1}}), 200, "Open the link")
		change := n.WaitLink(t, newEmail, n.URL+"/account/email/confirm?token=")
		expect(t, b.confirm(change), 200, "Your email address has been changed")
		expect(t, b.get("/account"), 200, newEmail)
		n.WaitSubject(t, email, "Your email address was changed") // the old address is told
		expect(t, b.post("/login", url.Values{"email": {email}, "password": {pw1}}), 401, "KAI-LOGIN-001")
		expectRedirect(t, b.post("/login", url.Values{"email": {newEmail}, "password": {pw1}}), "/account")
	})
}

// The answers to registration and reset must not tell whether an account
// exists.
func TestNoAccountEnumeration(t *testing.T) {
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	b := newBrowser(t, n.URL)
	expect(t, b.post("/register", url.Values{"email": {"taken@example.com"}, "password": {pw1}}), 200)

	reg := func(email string) answer {
		return b.post("/register", url.Values{"email": {email}, "password": {pw1}})
	}
	a1, a2 := reg("taken@example.com"), reg("fresh@example.com")
	if a1.status != a2.status || a1.body != a2.body {
		t.Fatalf("registration answers differ:\n%d %s\n---\n%d %s", a1.status, a1.body, a2.status, a2.body)
	}
	// The owner of the taken address is told by mail instead.
	if m := n.WaitMail(t, "taken@example.com", 1); !strings.Contains(m.Text, "/password/forgot") {
		t.Fatalf("existing member got %q", m.Text)
	}
	r1 := b.post("/password/forgot", url.Values{"email": {"taken@example.com"}})
	r2 := b.post("/password/forgot", url.Values{"email": {"nobody@example.com"}})
	if r1.status != r2.status || r1.body != r2.body {
		t.Fatalf("reset answers differ")
	}
	l1 := b.post("/login", url.Values{"email": {"taken@example.com"}, "password": {"wrong password 1"}})
	l2 := b.post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"wrong password 1"}})
	if l1.status != l2.status || strings.ReplaceAll(l1.body, "taken@", "") != strings.ReplaceAll(l2.body, "nobody@", "") {
		t.Fatalf("sign-in answers differ:\n%s\n---\n%s", l1.body, l2.body)
	}
}

func TestJapanese(t *testing.T) {
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	b := newBrowser(t, n.URL)
	b.lang = "ja-JP,ja;q=0.9"
	expect(t, b.get("/login"), 200, `lang="ja"`, "ログイン")
	expect(t, b.post("/login", url.Values{"email": {"a@example.com"}, "password": {"wrong password"}}), 401,
		"メールアドレスまたはパスワードが正しくありません。", "KAI-LOGIN-001")
	expect(t, b.post("/register", url.Values{"email": {"taro@example.jp"}, "password": {"short"}}), 400,
		"パスワードは8文字以上にしてください。", "KAI-PWD-001")

	// The switch wins over Accept-Language and is remembered.
	b.lang = "ja"
	expectRedirect(t, b.post("/lang", url.Values{"lang": {"en"}, "next": {"/register"}}), "/register")
	expect(t, b.get("/register"), 200, `lang="en"`, "Create an account")
	expectRedirect(t, b.post("/lang", url.Values{"lang": {"ja"}, "next": {"https://evil.example/"}}), "/")
	expect(t, b.get("/login?ui_locales=en"), 200, `lang="en"`)
	// The switch returns to the same address, query included, so that a
	// link's token survives; a ui_locales there would undo the choice.
	expect(t, b.get("/password/reset?token=abc"), 400, `name="next" value="/password/reset?token=abc"`)
	expectRedirect(t, b.post("/lang", url.Values{"lang": {"ja"}, "next": {"/verify?token=abc&ui_locales=en"}}), "/verify?token=abc")

	// Mail follows the language of the page.
	expect(t, b.post("/register", url.Values{"email": {"taro@example.jp"}, "password": {pw1}}), 200, "メールをご確認ください")
	if m := n.WaitMail(t, "taro@example.jp", 0); m.Subject != "メールアドレスの確認" {
		t.Fatalf("subject %q", m.Subject)
	}
}

func TestCrossOriginFormsBlocked(t *testing.T) {
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		req, _ := http.NewRequest("POST", n.URL+"/login", strings.NewReader("email=a%40example.com&password=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		a := newBrowser(t, n.URL).do(req)
		expect(t, a, 403, "KAI-SYS-003")
	}
}

func TestHeadersAndCookies(t *testing.T) {
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	if _, err := n.App.Accounts.CreateUser(t.Context(), "c@example.com", pw1, true, false); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, n.URL)
	a := b.get("/login")
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	} {
		if got := a.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	csp := a.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(a.body, "<script>") || strings.Contains(a.body, "style=") {
		t.Errorf("inline script or style present")
	}
	if a.header.Get("X-Request-Id") == "" {
		t.Error("no request id")
	}
	login := b.post("/login", url.Values{"email": {"c@example.com"}, "password": {pw1}})
	expectRedirect(t, login, "/account")
	var sc string
	for _, c := range login.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "kaiin_session=") {
			sc = c
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(sc, attr) {
			t.Errorf("session cookie %q lacks %s", sc, attr)
		}
	}
	// Signing in again replaces the session id (no fixation).
	first := sc
	login2 := b.post("/login", url.Values{"email": {"c@example.com"}, "password": {pw1}})
	if got := login2.header.Get("Set-Cookie"); got == first || got == "" {
		t.Errorf("session not rotated")
	}
	// A too-large form is refused with a coded error, not a crash.
	big := b.post("/login", url.Values{"email": {strings.Repeat("a", 20000)}})
	expect(t, big, 413, "KAI-SYS-006")
	expect(t, b.get("/no/such/page"), 404, "KAI-SYS-005")
	expectRedirect(t, b.post("/login", url.Values{"email": {"c@example.com"}, "password": {pw1}, "next": {"//evil.example/x"}}), "/account")
}

func TestHealthReadyMetrics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be apptest.Backend) {
		n := apptest.Start(t, apptest.Config(t, be), nil)
		b := newBrowser(t, n.URL)
		expect(t, b.get("/healthz"), 200, "ok")
		expect(t, b.get("/readyz"), 200, "ok")
		b.post("/login", url.Values{"email": {"x@example.com"}, "password": {"wrong password"}})
		m := b.get("/metrics")
		expect(t, m, 200,
			`kaiin_http_requests_total{code="4xx",method="POST",route="POST /login"} 1`,
			`kaiin_signin_attempts_total{outcome="failure"} 1`,
			"kaiin_password_hash_duration_seconds_count",
			"kaiin_password_hash_queue_wait_seconds_count",
			"go_sql_open_connections",
			"kaiin_http_request_duration_seconds_bucket")
		if strings.Contains(m.body, "x@example.com") {
			t.Fatal("metrics hold an email address")
		}
	})
}

func TestReadyzNamesFailedDependency(t *testing.T) {
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	if err := n.App.Data.DB.Close(); err != nil {
		t.Fatal(err)
	}
	expect(t, newBrowser(t, n.URL).get("/readyz"), 503, "database: unreachable")
}

func TestSignInRateLimits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be apptest.Backend) {
		cfg := apptest.Config(t, be)
		cfg.RateLimit.SigninAccount = config.Rate{N: 3, Per: time.Minute}
		n := apptest.Start(t, cfg, nil)
		b := newBrowser(t, n.URL)
		for i := 0; i < 3; i++ {
			expect(t, b.post("/login", url.Values{"email": {"v@example.com"}, "password": {"wrong password"}}), 401)
		}
		a := b.post("/login", url.Values{"email": {"v@example.com"}, "password": {"wrong password"}})
		expect(t, a, 429, "KAI-LOGIN-002")
		if a.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		// Another account from the same browser is not affected.
		expect(t, b.post("/login", url.Values{"email": {"w@example.com"}, "password": {"wrong password"}}), 401)
	})
}

func TestRegisterAndResetRateLimits(t *testing.T) {
	cfg := apptest.Config(t, apptest.SQLite)
	cfg.RateLimit.RegisterAccount = config.Rate{N: 2, Per: time.Minute}
	cfg.RateLimit.ResetAccount = config.Rate{N: 2, Per: time.Minute}
	cfg.RateLimit.ResetIP = config.Rate{N: 3, Per: time.Minute}
	n := apptest.Start(t, cfg, nil)
	b := newBrowser(t, n.URL)
	for i := 0; i < 2; i++ {
		expect(t, b.post("/register", url.Values{"email": {"r@example.com"}, "password": {pw1}}), 200)
	}
	expect(t, b.post("/register", url.Values{"email": {"r@example.com"}, "password": {pw1}}), 429, "KAI-REG-002")
	expect(t, b.post("/register", url.Values{"email": {"s@example.com"}, "password": {pw1}}), 200)

	for i := 0; i < 2; i++ {
		expect(t, b.post("/password/forgot", url.Values{"email": {"r@example.com"}}), 200)
	}
	expect(t, b.post("/password/forgot", url.Values{"email": {"r@example.com"}}), 429, "KAI-RESET-002")
	// The per-IP limit (3) is reached by the next address too.
	expect(t, b.post("/password/forgot", url.Values{"email": {"s@example.com"}}), 429, "KAI-RESET-002")
}

// A flood beyond the hashing capacity is answered 503 with Retry-After at
// once; nothing fails with 500 and legitimate sign-ins still get through.
func TestHashOverflowAnswers503(t *testing.T) {
	cfg := apptest.Config(t, apptest.SQLite)
	cfg.Password.MaxConcurrentHashes = 1
	cfg.Password.HashQueue = 1
	cfg.Password.HashQueueTimeout = 5 * time.Millisecond
	cfg.RateLimit.SigninIP = config.Rate{}
	cfg.RateLimit.SigninAccount = config.Rate{}
	n := apptest.Start(t, cfg, nil)
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b := newBrowser(t, n.URL)
			a := b.post("/login", url.Values{"email": {fmt.Sprintf("f%d@example.com", i)}, "password": {"wrong password"}})
			if a.status == 503 && (a.header.Get("Retry-After") == "" || !strings.Contains(a.body, "KAI-SYS-002")) {
				t.Errorf("503 without Retry-After or code")
			}
			mu.Lock()
			counts[a.status]++
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if counts[503] == 0 || counts[401] == 0 || counts[401]+counts[503] != 40 {
		t.Fatalf("answers %v: want a mix of 401 and 503 only", counts)
	}
}

// Nothing secret or personal reaches the logs.
func TestLogsHoldNoSecrets(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), lockedWriter{&mu, &logs})
	b := newBrowser(t, n.URL)
	email := "secret.person@example.com"
	b.post("/register", url.Values{"email": {email}, "password": {pw1}})
	link := apptest.Link(t, n.WaitMail(t, email, 0), n.URL+"/verify?token=")
	b.confirm(link)
	b.post("/login", url.Values{"email": {email}, "password": {pw1}})
	b.post("/password/forgot", url.Values{"email": {email}})
	token := strings.TrimPrefix(link, n.URL+"/verify?token=")
	mu.Lock()
	defer mu.Unlock()
	for _, secret := range []string{email, "secret.person", pw1, token} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(logs.String(), `"route":"POST /login"`) {
		t.Fatalf("request log missing; logs:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var deviceRE = regexp.MustCompile(`data-id="([^"]+)"`)

// A member sees each signed-in browser and can sign one out, or all others.
func TestSignedInDevices(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be apptest.Backend) {
		n := apptest.Start(t, apptest.Config(t, be), nil)
		if _, err := n.App.Accounts.CreateUser(t.Context(), "d@example.com", pw1, true, false); err != nil {
			t.Fatal(err)
		}
		signIn := func(ua string) *browser {
			b := newBrowser(t, n.URL)
			req, _ := http.NewRequest("POST", n.URL+"/login", strings.NewReader(url.Values{"email": {"d@example.com"}, "password": {pw1}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("User-Agent", ua)
			expectRedirect(t, b.do(req), "/account")
			return b
		}
		phone := signIn("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
		pc := signIn("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36")
		tablet := signIn("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0")

		page := pc.get("/account")
		expect(t, page, 200, "Chrome 120", "Windows", "iOS", "Firefox", "127.0.0.1", "this device")
		if strings.Count(page.body, "this device") != 1 {
			t.Fatal("more than one device marked as this one")
		}
		// Sign the phone out from the PC.
		var phoneID string
		for _, m := range deviceRE.FindAllStringSubmatch(page.body, -1) {
			if i := strings.Index(page.body, m[0]); strings.Contains(page.body[i:i+300], "iOS") {
				phoneID = m[1]
			}
		}
		if phoneID == "" {
			t.Fatalf("phone not listed:\n%s", page.body)
		}
		expectRedirect(t, pc.post("/account/sessions/end", url.Values{"id": {phoneID}}), "/account")
		expectRedirect(t, phone.get("/account"), "/login?next=/account")
		expect(t, tablet.get("/account"), 200)
		// Another member's device cannot be named.
		expectRedirect(t, tablet.post("/account/sessions/end", url.Values{"id": {"not-mine"}}), "/account")
		// All others: only the PC stays.
		expectRedirect(t, pc.post("/account/sessions/end-others", nil), "/account")
		expectRedirect(t, tablet.get("/account"), "/login?next=/account")
		if got := pc.get("/account"); strings.Count(got.body, `class="device"`) != 1 {
			t.Fatalf("after ending the others:\n%s", got.body)
		}
	})
}

// A sign-in from a browser never seen before is mailed to the member; the
// first one, and later ones from a known browser, are not.
func TestNewDeviceNotice(t *testing.T) {
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	email := "newdev@example.com"
	if _, err := n.App.Accounts.CreateUser(t.Context(), email, pw1, true, false); err != nil {
		t.Fatal(err)
	}
	signIn := func(b *browser) {
		expectRedirect(t, b.post("/login", url.Values{"email": {email}, "password": {pw1}}), "/account")
	}
	first := newBrowser(t, n.URL)
	signIn(first)
	signIn(first)
	expectRedirect(t, first.post("/logout", nil), "/login?n=signed_out")
	signIn(first)
	time.Sleep(200 * time.Millisecond) // mail is queued asynchronously
	if c := n.CountMail(email); c != 0 {
		t.Fatalf("%d mails for the first, known browser", c)
	}
	second := newBrowser(t, n.URL)
	second.lang = "ja"
	signIn(second)
	m := n.WaitMail(t, email, 0)
	if m.Subject != "新しい端末からのログイン" || !strings.Contains(m.Text, n.URL+"/account") || !strings.Contains(m.Text, "127.0.0.1") {
		t.Fatalf("notice %q:\n%s", m.Subject, m.Text)
	}
	signIn(second)
	time.Sleep(200 * time.Millisecond)
	if c := n.CountMail(email); c != 1 {
		t.Fatalf("%d mails; the second browser is known now", c)
	}
}

var (
	secretRE   = regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`)
	factorIDRE = regexp.MustCompile(`name="factor_id" value="([^"]+)"`)
	codeRE     = regexp.MustCompile(`<li><code>([0-9a-z]{5}-[0-9a-z]{5})</code></li>`)
)

// totpCode asks oathtool, an independent implementation, for the code of
// secret at time at.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", "-N", fmt.Sprintf("@%d", at.Unix()), secret).Output()
	if err != nil {
		t.Fatalf("oathtool (install the oathtool package; scripts/test-services does): %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestTwoStepVerification(t *testing.T) {
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	email := "twostep@example.com"
	if _, err := n.App.Accounts.CreateUser(t.Context(), email, pw1, true, false); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, n.URL)
	expectRedirect(t, b.post("/login", url.Values{"email": {email}, "password": {pw1}}), "/account")
	expect(t, b.get("/account"), 200, `id="mfa-state">Off`)

	// Enrol an authenticator app: QR code, setup key, first code.
	setup := b.get("/account/mfa/totp")
	expect(t, setup, 200, `src="data:image/png;base64,`, `autocomplete="one-time-code"`)
	secret, factor := secretRE.FindStringSubmatch(setup.body)[1], factorIDRE.FindStringSubmatch(setup.body)[1]
	expect(t, b.post("/account/mfa/totp", url.Values{"factor_id": {factor}, "secret": {secret}, "code": {"000000"}}), 401, "KAI-MFA-002")
	codes := b.post("/account/mfa/totp", url.Values{"factor_id": {factor}, "secret": {secret}, "code": {totpCode(t, secret, time.Now())}})
	expect(t, codes, 200, "recovery-codes")
	recovery := codeRE.FindAllStringSubmatch(codes.body, -1)
	if len(recovery) != 10 {
		t.Fatalf("%d recovery codes", len(recovery))
	}
	n.WaitSubject(t, email, "Your two-step verification was changed")
	expect(t, b.get("/account"), 200, `id="mfa-state">On`, "10 codes left")

	// Sign-in now asks for a code; the password alone opens nothing.
	c := newBrowser(t, n.URL)
	expectRedirect(t, c.post("/login", url.Values{"email": {email}, "password": {pw1}}), "/login/mfa")
	expectRedirect(t, c.get("/account"), "/login?next=/account")
	expect(t, c.get("/login/mfa"), 200, `autocomplete="one-time-code"`)
	expect(t, c.post("/login/mfa", url.Values{"code": {"123"}}), 400, "KAI-MFA-001")
	expect(t, c.post("/login/mfa", url.Values{"code": {"000000"}}), 401, "KAI-MFA-002")
	next := totpCode(t, secret, time.Now().Add(30*time.Second)) // the next step: not yet used
	expectRedirect(t, c.post("/login/mfa", url.Values{"code": {next}}), "/account")
	expect(t, c.get("/account"), 200, email)

	// The same code cannot be used again, on any browser.
	d := newBrowser(t, n.URL)
	expectRedirect(t, d.post("/login", url.Values{"email": {email}, "password": {pw1}}), "/login/mfa")
	expect(t, d.post("/login/mfa", url.Values{"code": {next}}), 401, "KAI-MFA")
	// A recovery code works once.
	rc := recovery[0][1]
	expectRedirect(t, d.post("/login/mfa", url.Values{"recovery_code": {strings.ToUpper(rc)}}), "/account")
	e := newBrowser(t, n.URL)
	expectRedirect(t, e.post("/login", url.Values{"email": {email}, "password": {pw1}}), "/login/mfa")
	expect(t, e.post("/login/mfa", url.Values{"recovery_code": {rc}}), 401, "KAI-MFA-005")
	expect(t, b.get("/account"), 200, "9 codes left")

	// Removing the app needs the password again.
	expect(t, b.post("/account/mfa/remove", url.Values{"factor_id": {factor}, "current_password": {"wrong one"}}), 400, "KAI-PWD-005")
	expectRedirect(t, b.post("/account/mfa/remove", url.Values{"factor_id": {factor}, "current_password": {pw1}}), "/account")
	expect(t, b.get("/account"), 200, `id="mfa-state">Off`)
	f := newBrowser(t, n.URL)
	expectRedirect(t, f.post("/login", url.Values{"email": {email}, "password": {pw1}}), "/account")
}

func TestProfileExportDelete(t *testing.T) {
	cfg := apptest.Config(t, apptest.SQLite)
	n := apptest.Start(t, cfg, nil)
	email := "profile@example.com"
	u, err := n.App.Accounts.CreateUser(t.Context(), email, pw1, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.App.Accounts.CreateUser(t.Context(), "other@example.com", pw1, true, false); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, n.URL)
	expectRedirect(t, b.post("/login", url.Values{"email": {email}, "password": {pw1}}), "/account")
	expect(t, b.get("/account/profile"), 200, `autocomplete="family-name"`, `autocomplete="postal-code"`, `autocomplete="tel"`)

	form := func(kv ...string) url.Values {
		v := url.Values{"address.country": {"JP"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	// Every problem is named at once, with its code.
	bad := b.post("/account/profile", form("family_name_kana", "山田", "phone_number", "abc", "address.postal_code", "12",
		"address.region", "東京都", "address.locality", "千代田区", "address.street_address", "千代田1-1"))
	expect(t, bad, 400, "KAI-PROFILE-003", "KAI-PROFILE-004", "KAI-PROFILE-005", `data-field="address.postal_code"`)

	good := form("family_name", "山田", "given_name", "花子", "family_name_kana", "やまだ", "given_name_kana", "ハナコ",
		"phone_number", "０９０－１２３４－５６７８", "address.postal_code", "〒１００−０００１", "address.region", "東京",
		"address.locality", "千代田区", "address.street_address", "千代田1-1", "birthdate", "1990-04-01")
	expectRedirect(t, b.post("/account/profile", good), "/account/profile?n=saved")
	expect(t, b.get("/account/profile?n=saved"), 200, `value="ヤマダ"`, `value="&#43;819012345678"`, `value="100-0001"`, `value="東京都"`)

	// The database holds none of it in plain text.
	raw, err := os.ReadFile(cfg.SQLitePath())
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(cfg.SQLitePath() + "-wal")
	for _, secret := range []string{"ヤマダ", "山田", "花子", "+819012345678", "9012345678", "100-0001", "千代田区", "1990-04-01"} {
		if bytes.Contains(raw, []byte(secret)) || bytes.Contains(wal, []byte(secret)) {
			t.Errorf("the SQLite file holds %q in plain text", secret)
		}
	}

	// One phone number, one member.
	o := newBrowser(t, n.URL)
	expectRedirect(t, o.post("/login", url.Values{"email": {"other@example.com"}, "password": {pw1}}), "/account")
	expect(t, o.post("/account/profile", form("phone_number", "090-1234-5678")), 400, "KAI-PROFILE-014")

	// Export.
	ex := b.get("/account/export")
	if ex.status != 200 || !strings.Contains(ex.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export %d %v", ex.status, ex.header)
	}
	var data struct {
		Account struct{ Sub, Email string }
		Profile struct {
			FamilyName string `json:"family_name"`
			Phone      string `json:"phone_number"`
		}
	}
	if err := json.Unmarshal([]byte(ex.body), &data); err != nil || data.Account.Sub != u.ID || data.Account.Email != email ||
		data.Profile.FamilyName != "山田" || data.Profile.Phone != "+819012345678" {
		t.Fatalf("export: %v\n%s", err, ex.body)
	}

	// Delete: the password again, then gone for good.
	expect(t, b.post("/account/delete", url.Values{"current_password": {"not the password"}}), 400, "KAI-PWD-005")
	expect(t, b.post("/account/delete", url.Values{"current_password": {pw1}}), 200, "Your account has been deleted")
	expectRedirect(t, b.get("/account"), "/login?next=/account")
	expect(t, newBrowser(t, n.URL).post("/login", url.Values{"email": {email}, "password": {pw1}}), 401, "KAI-LOGIN-001")
	if _, err := n.App.Data.Store.GetProfile(t.Context(), u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("profile after deletion: %v", err)
	}
	// The phone number is free again.
	expectRedirect(t, o.post("/account/profile", form("phone_number", "090-1234-5678")), "/account/profile?n=saved")
}
