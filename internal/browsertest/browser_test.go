package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// Time limits: a hung browser or a page that never shows what a test waits
// for fails the test instead of hanging CI.
const (
	browserLife  = 3 * time.Minute  // the browser process of one test function
	scenarioLife = 90 * time.Second // the tab (browser context) of one scenario
	stepTimeout  = 15 * time.Second // one navigation, click, wait or read
	mailTimeout  = 10 * time.Second // a mail to show up in the dev outbox
)

// chromiumPath finds the browser: $CHROMIUM, Debian's /usr/bin/chromium,
// or chromium on PATH. Without one the test fails; it never skips.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("CHROMIUM=%q is not an executable (%v); run scripts/test-services to install Chromium", p, err)
		}
		return path
	}
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("no Chromium found (not in $CHROMIUM, /usr/bin/chromium or on PATH); run scripts/test-services to install it")
	return ""
}

// lockedBuffer collects the browser's output for the log of a failed test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is the end of the output, without the harmless complaints about
// the missing D-Bus of a container.
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var keep []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if line != "" && !strings.Contains(line, "dbus") {
			keep = append(keep, line)
		}
	}
	s := strings.Join(keep, "\n")
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// browser is one headless Chromium process, for one test function.
type browser struct {
	ctx context.Context // the chromedp context that owns the process
	ua  string          // its user agent, kept when Accept-Language is set
}

// startBrowser starts Chromium with a fresh profile; it stops when the test
// ends.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	out := &lockedBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests may run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// No network lookups: this machine, like CI, may have no internet.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(out),
	)
	life, cancelLife := context.WithTimeout(context.Background(), browserLife)
	alloc, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelLife()
		if s := out.String(); t.Failed() && s != "" {
			t.Logf("chromium output:\n%s", s)
		}
	})
	// The first run starts the process and binds it to ctx (bounded by
	// browserLife), so it gets no shorter timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v; run scripts/test-services if it is missing or broken", err)
	}
	v, err := chromedp.CallBrowser(ctx, cdpbrowser.GetVersion, cdp.Empty{})
	if err != nil {
		t.Fatalf("chromium version: %v", err)
	}
	return &browser{ctx: ctx, ua: v.UserAgent}
}

// tab is one scenario: a tab in a browser context of its own, so no
// cookies are shared with other scenarios.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string // the node's URL
}

type tabConfig struct {
	noScript bool
	width    int64
	height   int64
}

type tabOption func(*tabConfig)

// withoutJavaScript turns script execution off in the tab.
func withoutJavaScript(c *tabConfig) { c.noScript = true }

// withPhone emulates a phone screen of w×h CSS pixels (viewport meta
// honoured, touch on).
func withPhone(w, h int64) tabOption {
	return func(c *tabConfig) { c.width, c.height = w, h }
}

// newTab opens a fresh incognito-like browser context on node base whose
// requests carry acceptLanguage.
func (b *browser) newTab(t *testing.T, base, acceptLanguage string, opts ...tabOption) *tab {
	t.Helper()
	var cfg tabConfig
	for _, o := range opts {
		o(&cfg)
	}
	life, cancelLife := context.WithTimeout(b.ctx, scenarioLife)
	ctx, cancelTab := chromedp.NewContext(life, chromedp.WithNewBrowserContext())
	t.Cleanup(func() {
		cancelTab()
		cancelLife()
	})
	// The first call creates the tab and binds it to ctx, so it runs on ctx
	// itself (bounded by scenarioLife).
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
		UserAgent: b.ua, AcceptLanguage: acceptLanguage,
	}); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	p := &tab{t: t, ctx: ctx, base: base}
	if cfg.noScript {
		p.do("disable JavaScript", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
	}
	if cfg.width > 0 {
		p.do("emulate phone", chromedp.EmulateViewport(cfg.width, cfg.height, chromedp.EmulateMobile, chromedp.EmulatePortrait))
	}
	return p
}

// run runs one action with the step timeout and fails the test on error.
func run[T any](p *tab, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.t.Fatalf("%s: %v (on %s)", what, err, p.where())
	}
	return v
}

func (p *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	run(p, what, chromedp.Steps(steps...))
}

// where is the current address, for failure messages.
func (p *tab) where() string {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown page"
	}
	return loc
}

// path is the current path and query on the node.
func (p *tab) path() string {
	p.t.Helper()
	loc := run(p, "location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		p.t.Fatalf("location %q: %v", loc, err)
	}
	if got := u.Scheme + "://" + u.Host; got != p.base {
		p.t.Fatalf("left the node: at %s", loc)
	}
	return u.RequestURI()
}

// open navigates to path (or a full URL) and returns the HTTP status.
func (p *tab) open(path string) int64 {
	p.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = p.base + path
	}
	resp := run(p, "open "+path, chromedp.NavigateResponse(path))
	if resp == nil {
		p.t.Fatalf("open %s: no response", path)
	}
	return resp.Status
}

// press clicks what sel finds (a submit button or a link), waits for the
// page it leads to, and returns that page's HTTP status (after redirects).
func (p *tab) press(sel string) int64 {
	p.t.Helper()
	p.mustFind(sel)
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("press %s: %v (on %s)", sel, err, p.where())
	}
	if resp == nil {
		p.t.Fatalf("press %s: no response", sel)
	}
	return resp.Status
}

// fill types value into the empty field sel, as a person would.
func (p *tab) fill(sel, value string) {
	p.t.Helper()
	p.mustFind(sel)
	p.do("fill "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value))
}

// text is the visible text of what sel finds.
func (p *tab) text(sel string) string {
	p.t.Helper()
	p.mustFind(sel)
	return strings.TrimSpace(run(p, "read "+sel, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible)))
}

func (p *tab) attr(sel, name string) string {
	p.t.Helper()
	p.mustFind(sel)
	return run(p, "read "+sel, chromedp.Attributes(chromedp.CSS(sel)))[name]
}

// count is how many elements sel (CSS) finds now, without waiting.
func (p *tab) count(sel string) int {
	p.t.Helper()
	return len(run(p, "count "+sel, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0))))
}

// mustFind fails at once when the loaded page has nothing that sel finds,
// rather than after the step timeout. (Pages are static HTML: open and
// press return once the page has loaded.)
func (p *tab) mustFind(sel string) {
	p.t.Helper()
	if p.count(sel) == 0 {
		p.t.Fatalf("nothing on the page matches %s (on %s)", sel, p.where())
	}
}

// expectPath checks that the browser is at path.
func (p *tab) expectPath(want string) {
	p.t.Helper()
	if got := p.path(); got != want {
		p.t.Fatalf("at %s, want %s", got, want)
	}
}

// expectText checks the visible text of sel.
func (p *tab) expectText(sel, want string) {
	p.t.Helper()
	if got := p.text(sel); got != want {
		p.t.Fatalf("%s reads %q, want %q (on %s)", sel, got, want, p.where())
	}
}

// expectContains checks that the visible text of sel holds want.
func (p *tab) expectContains(sel, want string) {
	p.t.Helper()
	if got := p.text(sel); !strings.Contains(got, want) {
		p.t.Fatalf("%s reads %q, want it to hold %q (on %s)", sel, got, want, p.where())
	}
}

// expectStatus checks an HTTP status returned by open or press.
func (p *tab) expectStatus(got, want int64) {
	p.t.Helper()
	if got != want {
		p.t.Fatalf("status %d, want %d (on %s)", got, want, p.where())
	}
}

// expectLang checks the page's language: <html lang> and the current
// button of the language switch.
func (p *tab) expectLang(lang string) {
	p.t.Helper()
	if got := p.attr("html", "lang"); got != lang {
		p.t.Fatalf("page language %q, want %q (on %s)", got, lang, p.where())
	}
	if got := p.attr(`header form.lang button[aria-current="true"]`, "value"); got != lang {
		p.t.Fatalf("language switch marks %q as current, want %q", got, lang)
	}
}

// switchLang presses the header's language button for lang (the page is in
// the other language before) and checks the same page comes back in lang.
func (p *tab) switchLang(lang string) {
	p.t.Helper()
	before := p.path()
	p.expectLang(other(lang))
	p.expectText(`header form.lang button[value="`+lang+`"]`, txt[lang].langName)
	p.expectStatus(p.press(`header form.lang button[value="`+lang+`"]`), 200)
	p.expectPath(before)
	p.expectLang(lang)
}

// expectError checks the page shows coded error e in #error, in lang.
func (p *tab) expectError(e codedError, lang string, args ...any) {
	p.t.Helper()
	p.expectText("#error .code", e.id)
	want := e.en
	if lang == "ja" {
		want = e.ja
	}
	if len(args) > 0 {
		want = fmt.Sprintf(want, args...)
	}
	p.expectText("#error p:not(.code)", want)
	if role := p.attr("#error", "role"); role != "alert" {
		p.t.Fatalf("#error has role %q, want alert", role)
	}
}

// login fills and sends the sign-in form on the current page and returns
// the answer's status.
func (p *tab) login(email, password string) int64 {
	p.t.Helper()
	p.fill(`input[autocomplete~="username"]`, email) // "username webauthn" on the sign-in page
	p.fill(`input[autocomplete="current-password"]`, password)
	return p.press("#submit")
}

// openMail opens, through the dev outbox page, the newest mail to addr once
// more than after mails to addr are listed, and checks its subject. The
// outbox is polled for a bounded time: mail goes out from a queue.
func (p *tab) openMail(addr string, after int, subject string) {
	p.t.Helper()
	rows := fmt.Sprintf(`//table[contains(@class,"outbox")]/tbody/tr[td[@class="to"]=%q]//a`, addr)
	deadline := time.Now().Add(mailTimeout)
	for {
		p.expectStatus(p.open("/dev/outbox"), 200)
		links := run(p, "list outbox", chromedp.Nodes(chromedp.Search(rows), chromedp.AtLeast(0)))
		if len(links) > after {
			href := links[0].AttributeValue("href") // newest first
			p.expectStatus(p.press(`table.outbox a[href="`+href+`"]`), 200)
			break
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no mail #%d to %s in the outbox page within %v", after+1, addr, mailTimeout)
		}
	}
	p.expectText("#mail-to", addr)
	p.expectText("#mail-subject", subject)
}

// followMailLink presses the link in the open mail that starts with
// prefix (a path on the node).
func (p *tab) followMailLink(prefix string) int64 {
	p.t.Helper()
	return p.press(`#mail-body a[href^="` + p.base + prefix + `"]`)
}

// mailLink returns the address of the link in the open mail that starts
// with prefix.
func (p *tab) mailLink(prefix string) string {
	p.t.Helper()
	return p.attr(`#mail-body a[href^="`+p.base+prefix+`"]`, "href")
}

// screenshot captures the whole page. It is always taken, so a broken
// capture fails; it is written only when KAIIN_SCREENSHOT_DIR is set.
func (p *tab) screenshot(name string) {
	p.t.Helper()
	buf := run(p, "screenshot", chromedp.FullScreenshot(100))
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 300 {
		p.t.Fatalf("screenshot %s is only %v", name, b)
	}
	dir := os.Getenv("KAIIN_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(dir, strings.ReplaceAll(p.t.Name(), "/", "-")+"-"+name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

// evaluate runs a JavaScript expression in the page (not for tabs without
// JavaScript).
func evaluate[T any](p *tab, expr string) T {
	p.t.Helper()
	return run(p, "evaluate "+expr, chromedp.Evaluate[T](expr))
}
