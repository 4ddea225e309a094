package passkey

import (
	_ "embed"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
)

// The endpoints. The JSON ones answer errors as
// {"error": {"code": "KAI-…", "message": "…"}} in the page's language (the
// "lang" of the request body), with the code's HTTP status.
const (
	PathScript         = "/passkey/passkey.js"
	PathRegisterBegin  = "/passkey/register/begin"
	PathRegisterFinish = "/passkey/register/finish"
	PathLoginBegin     = "/passkey/login/begin"
	PathLoginFinish    = "/passkey/login/finish"
	PathComplete       = "/passkey/complete"
	PathRemove         = "/passkey/remove"
	// The second step lives under /login: the pending sign-in's cookie
	// (internal/web) is scoped to that path.
	PathSecondBegin  = "/login/mfa/passkey/begin"
	PathSecondFinish = "/login/mfa/passkey/finish"
)

//go:embed passkey.js
var script []byte

// maxBody bounds a JSON request: an attestation with its certificates
// stays well under it.
const maxBody = 64 << 10

// Mount registers the endpoints on mux. Without passkeys (ErrDisabled) it
// serves only a script that does nothing, so pages stay as they are.
func (s *Service) Mount(mux *http.ServeMux) {
	if !s.Enabled() {
		mux.HandleFunc("GET "+PathScript, func(w http.ResponseWriter, r *http.Request) {
			serveScript(w, []byte("/* Passkeys are off on this node: its public URL has no domain name. */\n"))
		})
		return
	}
	mux.HandleFunc("GET "+PathScript, func(w http.ResponseWriter, r *http.Request) { serveScript(w, script) })
	mux.HandleFunc("POST "+PathRegisterBegin, s.registerBegin)
	mux.HandleFunc("POST "+PathRegisterFinish, s.registerFinish)
	mux.HandleFunc("POST "+PathLoginBegin, s.loginBegin)
	mux.HandleFunc("POST "+PathLoginFinish, s.loginFinish)
	mux.HandleFunc("POST "+PathComplete, s.complete)
	mux.HandleFunc("POST "+PathRemove, s.remove)
	if s.o.PendingSecondFactor != nil && s.o.TakeSecondFactor != nil {
		mux.HandleFunc("POST "+PathSecondBegin, s.secondBegin)
		mux.HandleFunc("POST "+PathSecondFinish, s.secondFinish)
	}
}

func serveScript(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// request is the body of every JSON endpoint; each uses what it needs.
type request struct {
	Lang          string          `json:"lang"`
	Name          string          `json:"name"`
	Credential    json.RawMessage `json:"credential"`
	Next          string          `json:"next"`
	AuthRequestID string          `json:"authRequestID"`
}

// read decodes the JSON body; on failure it answers and returns false.
func (s *Service) read(w http.ResponseWriter, r *http.Request) (*request, i18n.Lang, bool) {
	var req request
	lang := i18n.FromRequest(r)
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req)
	if l, ok := i18n.Parse(req.Lang); ok {
		lang = l
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, lang, errcode.New(errcode.TooLarge, ""))
		} else {
			s.fail(w, r, lang, errcode.Wrap(errcode.BadRequest, err))
		}
		return nil, lang, false
	}
	return &req, lang, true
}

// allow counts one request of kind per client IP; over the limit it
// answers and returns false.
func (s *Service) allow(w http.ResponseWriter, r *http.Request, lang i18n.Lang, kind string) bool {
	ok, _, err := s.o.Limiter.Allow(r.Context(), "passkey_"+kind, s.o.Rate, s.clientIP(r))
	if err != nil {
		s.fail(w, r, lang, errcode.Wrap(errcode.Internal, err))
		return false
	}
	if !ok {
		s.fail(w, r, lang, errcode.New(errcode.PasskeyRateLimited, ""))
		return false
	}
	return true
}

func (s *Service) clientIP(r *http.Request) string {
	if s.o.ClientIP != nil {
		return s.o.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// fail answers a JSON error.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, lang i18n.Lang, err error) {
	e, ok := errcode.As(err)
	if !ok {
		e = errcode.Wrap(errcode.Internal, err)
	}
	switch e.Code {
	case errcode.Internal:
		s.o.Logger.ErrorContext(r.Context(), "passkey request failed", "path", r.URL.Path, "err", err)
	case errcode.PasskeyRateLimited:
		w.Header().Set("Retry-After", strconv.Itoa(int(s.o.Rate.Per/time.Second)))
	default:
		s.o.Logger.InfoContext(r.Context(), "passkey refused", "path", r.URL.Path, "code", e.Code.ID, "err", err)
	}
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, e.Code.Status, map[string]body{"error": {Code: e.Code.ID, Message: e.Text(string(lang))}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// cookieName holds a ceremony's token, then a verified sign-in's ticket.
func (s *Service) cookieName() string {
	if s.secure {
		return "__Host-kaiin_passkey"
	}
	return "kaiin_passkey"
}

func (s *Service) setCookie(w http.ResponseWriter, value string, ttl time.Duration) {
	c := &http.Cookie{Name: s.cookieName(), Value: value, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if ttl <= 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func (s *Service) cookie(r *http.Request) string {
	c, err := r.Cookie(s.cookieName())
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	return c.Value
}

// signedInUser returns the signed-in member; without one it answers
// SignInRequired and returns false.
func (s *Service) signedInUser(w http.ResponseWriter, r *http.Request, lang i18n.Lang) (string, bool) {
	if s.o.SessionUser != nil {
		if id, ok := s.o.SessionUser(r); ok {
			return id, true
		}
	}
	s.fail(w, r, lang, errcode.New(errcode.SignInRequired, ""))
	return "", false
}

func (s *Service) registerBegin(w http.ResponseWriter, r *http.Request) {
	_, lang, ok := s.read(w, r)
	if !ok || !s.allow(w, r, lang, "begin") {
		return
	}
	userID, ok := s.signedInUser(w, r, lang)
	if !ok {
		return
	}
	opts, token, err := s.BeginRegistration(r.Context(), userID)
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	s.setCookie(w, token, CeremonyTTL)
	writeJSON(w, http.StatusOK, opts)
}

func (s *Service) registerFinish(w http.ResponseWriter, r *http.Request) {
	req, lang, ok := s.read(w, r)
	if !ok || !s.allow(w, r, lang, "finish") {
		return
	}
	userID, ok := s.signedInUser(w, r, lang)
	if !ok {
		return
	}
	token := s.cookie(r)
	s.setCookie(w, "", 0)
	info, err := s.FinishRegistration(r.Context(), token, userID, req.Name, req.Credential)
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	s.notify(r, userID, lang, "mfa.change.passkey_added")
	writeJSON(w, http.StatusOK, map[string]string{"id": info.ID, "name": info.Name})
}

func (s *Service) notify(r *http.Request, userID string, lang i18n.Lang, change string) {
	if s.o.Notify == nil {
		return
	}
	u, err := s.o.Store.GetUser(r.Context(), userID)
	if err != nil {
		s.o.Logger.ErrorContext(r.Context(), "passkey change notice", "err", err)
		return
	}
	s.o.Notify(u, lang, change)
}

func (s *Service) loginBegin(w http.ResponseWriter, r *http.Request) {
	_, lang, ok := s.read(w, r)
	if !ok || !s.allow(w, r, lang, "begin") {
		return
	}
	opts, token, err := s.BeginLogin(r.Context())
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	s.setCookie(w, token, CeremonyTTL)
	writeJSON(w, http.StatusOK, opts)
}

// ticket is a verified sign-in waiting for /passkey/complete.
type ticket struct {
	UserID        string   `json:"u"`
	AMR           []string `json:"amr"`
	Next          string   `json:"n,omitempty"`
	AuthRequestID string   `json:"a,omitempty"`
}

// issue leaves a ticket for the browser and tells the page to complete.
func (s *Service) issue(w http.ResponseWriter, r *http.Request, lang i18n.Lang, t ticket) {
	v, _ := json.Marshal(t)
	token := newToken()
	if err := s.o.State.Set(r.Context(), ticketKey(token), v, ticketTTL); err != nil {
		s.fail(w, r, lang, errcode.Wrap(errcode.Internal, err))
		return
	}
	s.setCookie(w, token, ticketTTL)
	writeJSON(w, http.StatusOK, map[string]string{"complete": PathComplete})
}

func (s *Service) loginFinish(w http.ResponseWriter, r *http.Request) {
	req, lang, ok := s.read(w, r)
	if !ok || !s.allow(w, r, lang, "finish") {
		return
	}
	token := s.cookie(r)
	s.setCookie(w, "", 0)
	res, err := s.FinishLogin(r.Context(), token, req.Credential)
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	s.issue(w, r, lang, ticket{UserID: res.User.ID, AMR: res.AMR(), Next: req.Next, AuthRequestID: req.AuthRequestID})
}

// complete signs in the member of a verified ticket: a form post, so what
// follows (session cookie, redirects to the relying party) is a plain
// navigation.
func (s *Service) complete(w http.ResponseWriter, r *http.Request) {
	token := s.cookie(r)
	s.setCookie(w, "", 0)
	if token == "" {
		s.errorPage(w, r, errcode.SignInRequired)
		return
	}
	v, err := s.o.State.Take(r.Context(), ticketKey(token))
	if err != nil {
		s.errorPage(w, r, errcode.SignInRequired)
		return
	}
	var t ticket
	if err := json.Unmarshal(v, &t); err != nil {
		s.errorPage(w, r, errcode.Internal)
		return
	}
	u, err := s.o.Store.GetUser(r.Context(), t.UserID)
	if err != nil {
		s.errorPage(w, r, errcode.SignInRequired)
		return
	}
	s.o.SignedIn(w, r, &u, t.AMR, t.Next, t.AuthRequestID)
}

// ErrorPage shows a page with only a coded error (web.Handler.ErrorPage);
// set by Options.ErrorPage or a plain text answer.
func (s *Service) errorPage(w http.ResponseWriter, r *http.Request, c *errcode.Code) {
	if s.o.ErrorPage != nil {
		s.o.ErrorPage(w, r, c)
		return
	}
	http.Error(w, c.ID+" "+c.Text(string(i18n.FromRequest(r))), c.Status)
}

// remove deletes a passkey from the account page: a plain form with the
// current password, like removing an authenticator app.
func (s *Service) remove(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, errcode.BadRequest)
		return
	}
	userID, ok := "", false
	if s.o.SessionUser != nil {
		userID, ok = s.o.SessionUser(r)
	}
	if !ok {
		http.Redirect(w, r, "/login?next=/account", http.StatusSeeOther)
		return
	}
	if s.o.CheckPassword == nil {
		s.errorPage(w, r, errcode.Internal)
		return
	}
	if err := s.o.CheckPassword(r.Context(), userID, r.PostForm.Get("current_password")); err != nil {
		s.errorPageFor(w, r, err)
		return
	}
	if err := s.Remove(r.Context(), userID, r.PostForm.Get("factor_id")); err != nil {
		s.errorPageFor(w, r, err)
		return
	}
	s.notify(r, userID, i18n.FromRequest(r), "mfa.change.passkey_removed")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (s *Service) errorPageFor(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := errcode.As(err)
	if !ok {
		e = errcode.Wrap(errcode.Internal, err)
	}
	if e.Code == errcode.Internal {
		s.o.Logger.ErrorContext(r.Context(), "passkey request failed", "path", r.URL.Path, "err", err)
	}
	s.errorPage(w, r, e.Code)
}

func (s *Service) secondBegin(w http.ResponseWriter, r *http.Request) {
	_, lang, ok := s.read(w, r)
	if !ok || !s.allow(w, r, lang, "begin") {
		return
	}
	userID, ok := s.o.PendingSecondFactor(r)
	if !ok {
		s.fail(w, r, lang, errcode.New(errcode.SignInRequired, ""))
		return
	}
	opts, token, err := s.BeginSecondFactor(r.Context(), userID)
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	s.setCookie(w, token, CeremonyTTL)
	writeJSON(w, http.StatusOK, opts)
}

func (s *Service) secondFinish(w http.ResponseWriter, r *http.Request) {
	req, lang, ok := s.read(w, r)
	if !ok || !s.allow(w, r, lang, "finish") {
		return
	}
	userID, ok := s.o.PendingSecondFactor(r)
	if !ok {
		s.fail(w, r, lang, errcode.New(errcode.SignInRequired, ""))
		return
	}
	token := s.cookie(r)
	s.setCookie(w, "", 0)
	res, err := s.FinishSecondFactor(r.Context(), token, userID, req.Credential)
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	taken, next, authReqID, ok := s.o.TakeSecondFactor(w, r)
	if !ok || taken != userID {
		s.fail(w, r, lang, errcode.New(errcode.SignInRequired, "")) // used by a concurrent request
		return
	}
	key := "hwk"
	if res.Synced {
		key = "swk"
	}
	s.issue(w, r, lang, ticket{UserID: userID, AMR: []string{"pwd", key, "mfa"}, Next: next, AuthRequestID: authReqID})
}
