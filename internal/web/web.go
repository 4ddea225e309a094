// Package web serves the member pages: registration, email confirmation,
// sign-in and sign-out, password reset and change, email change, the
// language switch and, in development mode, the mail outbox. Pages are
// server-rendered, work without JavaScript, and exist in Japanese and
// English.
package web

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kaiin-project/kaiin/internal/account"
	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
	"github.com/kaiin-project/kaiin/internal/mail"
	"github.com/kaiin-project/kaiin/internal/member"
	"github.com/kaiin-project/kaiin/internal/mfa"
	"github.com/kaiin-project/kaiin/internal/oidc"
	"github.com/kaiin-project/kaiin/internal/session"
	"github.com/kaiin-project/kaiin/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Outbox is the development mail outbox (mail.Outbox).
type Outbox interface {
	List() []mail.Stored
	Get(id string) (mail.Stored, bool)
}

// SignInObserver counts sign-in outcomes ("success", "failure",
// "unverified", "rate_limited", "busy", "error", "second_factor_failure")
// for metrics.
type SignInObserver func(outcome string)

// Handler serves the pages. Fields are its dependencies.
type Handler struct {
	Accounts *account.Service
	Sessions *session.Manager
	Store    store.Store
	Outbox   Outbox // nil unless in development mode
	// OIDC is the OpenID provider whose authorization requests the
	// sign-in pages finish; nil when there is none.
	OIDC *oidc.Provider
	// MFA is the two-step verification service; nil turns it off.
	MFA *mfa.Service
	// Members keeps the members' profiles (required).
	Members   *member.Service
	ClientIP  func(*http.Request) string
	Logger    *slog.Logger
	OnSignIn  SignInObserver
	MinLength int // password policy, shown in forms
	MaxLength int
	// RetryAfter gives the hint sent with 503 Busy answers (the password
	// hasher's estimate of its queue); nil means one second.
	RetryAfter func() time.Duration

	pages map[string]*template.Template
}

// maxForm bounds the size of a form body.
const maxForm = 16 << 10

// Mount parses the templates and registers the routes on mux.
func (h *Handler) Mount(mux *http.ServeMux) error {
	layout, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return err
	}
	h.pages = map[string]*template.Template{}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return err
		}
		h.pages[name] = t
	}
	if h.OnSignIn == nil {
		h.OnSignIn = func(string) {}
	}

	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", h.home)
	mux.HandleFunc("GET /login", h.loginPage)
	mux.HandleFunc("POST /login", h.login)
	mux.HandleFunc("POST /logout", h.logout)
	mux.HandleFunc("GET /register", h.registerPage)
	mux.HandleFunc("POST /register", h.register)
	mux.HandleFunc("GET /verify", h.verifyPage)
	mux.HandleFunc("POST /verify", h.verify)
	mux.HandleFunc("GET /password/forgot", h.forgotPage)
	mux.HandleFunc("POST /password/forgot", h.forgot)
	mux.HandleFunc("GET /password/reset", h.resetPage)
	mux.HandleFunc("POST /password/reset", h.reset)
	mux.HandleFunc("GET /account", h.accountPage)
	mux.HandleFunc("GET /account/password", h.passwordPage)
	mux.HandleFunc("POST /account/password", h.changePassword)
	mux.HandleFunc("GET /account/email", h.emailPage)
	mux.HandleFunc("POST /account/email", h.changeEmail)
	mux.HandleFunc("GET /account/email/confirm", h.emailConfirmPage)
	mux.HandleFunc("POST /account/email/confirm", h.emailConfirm)
	mux.HandleFunc("POST /lang", h.setLang)
	mux.HandleFunc("POST /account/sessions/end", h.endDevice)
	mux.HandleFunc("GET /account/profile", h.profilePage)
	mux.HandleFunc("POST /account/profile", h.saveProfile)
	mux.HandleFunc("GET /account/export", h.exportData)
	mux.HandleFunc("GET /account/delete", h.deletePage)
	mux.HandleFunc("POST /account/delete", h.deleteAccount)
	if h.MFA != nil {
		mux.HandleFunc("GET /login/mfa", h.mfaPage)
		mux.HandleFunc("POST /login/mfa", h.mfaVerify)
		mux.HandleFunc("GET /account/mfa/totp", h.totpSetupPage)
		mux.HandleFunc("POST /account/mfa/totp", h.totpConfirm)
		mux.HandleFunc("POST /account/mfa/recovery", h.regenerateRecovery)
		mux.HandleFunc("POST /account/mfa/remove", h.removeFactor)
	}
	mux.HandleFunc("POST /account/sessions/end-others", h.endOtherDevices)
	if h.OIDC != nil {
		mux.HandleFunc("GET /consent", h.consentPage)
		mux.HandleFunc("POST /consent", h.consent)
		mux.HandleFunc("POST /account/consents/revoke", h.revokeConsent)
		mux.HandleFunc("GET /device", h.devicePage)
		mux.HandleFunc("POST /device", h.deviceLookup)
		mux.HandleFunc("POST /device/decide", h.deviceDecide)
	}
	if h.Outbox != nil {
		mux.HandleFunc("GET /dev/outbox", h.outboxList)
		mux.HandleFunc("GET /dev/outbox/{id}", h.outboxMessage)
	}
	mux.HandleFunc("/", h.notFound)
	return nil
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// page is what every template sees.
type page struct {
	Lang    i18n.Lang
	Title   string // message key
	Path    string // the page's path, for the language switch to return to
	Notice  string // message key
	Err     *errcode.Error
	Form    map[string]string // values to fill back in; never passwords
	User    *store.User
	Data    any
	DevMode bool
}

func (p *page) T(key string, args ...any) string { return i18n.T(p.Lang, key, args...) }

func (p *page) ErrText() string {
	if p.Err == nil {
		return ""
	}
	return p.Err.Text(string(p.Lang))
}

type langChoice struct {
	Code, Name string
	Current    bool
}

func (p *page) Langs() []langChoice {
	names := map[i18n.Lang]string{i18n.JA: "日本語", i18n.EN: "English"}
	var out []langChoice
	for _, l := range i18n.Supported {
		out = append(out, langChoice{Code: string(l), Name: names[l], Current: l == p.Lang})
	}
	return out
}

func (h *Handler) newPage(r *http.Request, title string) *page {
	// Path is where the language switch returns: the same address, query
	// included (links carry their token there). After a post it is the
	// form's own page; handlers that must keep more set it themselves.
	return &page{Lang: i18n.FromRequest(r), Title: title, Path: r.URL.RequestURI(), Form: map[string]string{}, DevMode: h.Outbox != nil}
}

// render writes the page with status.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, ok := h.pages[name]
	if !ok {
		panic("web: no template " + name)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		h.Logger.Error("render page", "page", name, "err", err)
		http.Error(w, errcode.Internal.ID, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Language", string(p.Lang))
	w.Header().Set("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail renders page name again with err shown. A coded error keeps its
// status; anything else is logged and shown as KAI-SYS-001.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, name string, p *page, err error) {
	e, ok := errcode.As(err)
	if !ok {
		e = errcode.Wrap(errcode.Internal, err)
	}
	switch e.Code {
	case errcode.Internal:
		h.Logger.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	case errcode.Busy:
		wait := time.Second
		if h.RetryAfter != nil {
			wait = h.RetryAfter()
		}
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	case errcode.LoginRateLimited, errcode.RegisterRateLimited, errcode.ResetRateLimited:
		w.Header().Set("Retry-After", "60")
	}
	p.Err = e
	h.render(w, r, e.Code.Status, name, p)
}

// errorPage renders a page that only shows a coded error.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, c *errcode.Code) {
	h.fail(w, r, "message", h.newPage(r, "error.title"), errcode.New(c, ""))
}

// ErrorPage shows a page with only the coded error c.
func (h *Handler) ErrorPage(w http.ResponseWriter, r *http.Request, c *errcode.Code) {
	h.errorPage(w, r, c)
}

// CrossOriginDenied answers a blocked cross-origin form post.
func (h *Handler) CrossOriginDenied(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, errcode.CrossOrigin)
}

// Recovered answers a request whose handler panicked.
func (h *Handler) Recovered(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, errcode.Internal)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, errcode.NotFound)
}

// parseForm reads a bounded form body; on failure it answers and returns
// false.
func (h *Handler) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.errorPage(w, r, errcode.TooLarge)
		} else {
			h.errorPage(w, r, errcode.BadRequest)
		}
		return false
	}
	return true
}

// localPath returns next when it is a path on this site, else fallback, so
// that no form can send a member to another site.
func localPath(next, fallback string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n\t\\") || len(next) > 512 {
		return fallback
	}
	return next
}

func (h *Handler) setLang(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	l, ok := i18n.Parse(r.PostForm.Get("lang"))
	if !ok {
		h.errorPage(w, r, errcode.BadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: i18n.CookieName, Value: string(l), Path: "/",
		MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: h.Sessions.Secure, SameSite: http.SameSiteLaxMode})
	next := localPath(r.PostForm.Get("next"), "/")
	// A ui_locales in the address would override the choice just made.
	if u, err := url.Parse(next); err == nil && u.Query().Has("ui_locales") {
		q := u.Query()
		q.Del("ui_locales")
		u.RawQuery = q.Encode()
		next = u.RequestURI()
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) outboxList(w http.ResponseWriter, r *http.Request) {
	p := h.newPage(r, "dev.outbox.title")
	type row struct{ ID, Time, To, Subject string }
	var rows []row
	for _, m := range h.Outbox.List() {
		rows = append(rows, row{ID: m.ID, Time: m.Time.Format(time.DateTime), To: m.To, Subject: m.Subject})
	}
	p.Data = map[string]any{"List": rows}
	h.render(w, r, http.StatusOK, "outbox", p)
}

func (h *Handler) outboxMessage(w http.ResponseWriter, r *http.Request) {
	m, ok := h.Outbox.Get(r.PathValue("id"))
	if !ok {
		h.notFound(w, r)
		return
	}
	type line struct{ Text, Link string }
	var lines []line
	for _, l := range strings.Split(m.Text, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "https://") {
			lines = append(lines, line{Text: t, Link: t})
			continue
		}
		lines = append(lines, line{Text: l})
	}
	p := h.newPage(r, "dev.outbox.title")
	p.Data = map[string]any{"Message": map[string]any{"To": m.To, "Subject": m.Subject, "Lines": lines}}
	h.render(w, r, http.StatusOK, "outbox", p)
}
