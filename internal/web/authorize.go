package web

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
	"github.com/kaiin-project/kaiin/internal/mfa"
	"github.com/kaiin-project/kaiin/internal/oidc"
	"github.com/kaiin-project/kaiin/internal/session"
	"github.com/kaiin-project/kaiin/internal/store"
)

// The pages' part of an OpenID Connect authorization: /authorize sends the
// browser to /login?authRequestID=…; after sign-in (or with a session that
// is fresh enough) and consent, the browser goes to the provider's
// callback, which sends it back to the relying party with a code.

// authRequest returns the pending authorization request named by the
// request's authRequestID, nil when there is none, or an error already
// answered.
func (h *Handler) authRequest(w http.ResponseWriter, r *http.Request, id string) (*oidc.LoginRequest, bool) {
	if id == "" || h.OIDC == nil {
		return nil, true
	}
	lr, err := h.OIDC.LoginRequest(r.Context(), id)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return nil, false
	}
	return lr, true
}

// langFor chooses the language of a sign-in for a relying party: the
// member's own choice with the language switch wins, then the relying
// party's ui_locales, then the usual choice (Accept-Language).
func langFor(r *http.Request, lr *oidc.LoginRequest) i18n.Lang {
	if _, err := r.Cookie(i18n.CookieName); err == nil {
		return i18n.FromRequest(r)
	}
	if lr != nil && r.URL.Query().Get("ui_locales") == "" {
		for _, l := range lr.UILocales {
			if lang, ok := i18n.Parse(l); ok {
				return lang
			}
		}
	}
	return i18n.FromRequest(r)
}

// continueAuthorization goes on once the member is signed in: to consent
// if needed, else back to the relying party.
func (h *Handler) continueAuthorization(w http.ResponseWriter, r *http.Request, lr *oidc.LoginRequest, u *store.User, s *session.Session) {
	if lr.RequireMFA && !slices.Contains(s.AMR, "mfa") {
		h.stepUp(w, r, lr, u)
		return
	}
	need, err := h.OIDC.NeedsConsent(r.Context(), lr, u.ID)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	if need {
		if lr.HasPrompt("none") {
			h.OIDC.Reject(w, r, lr.ID, "consent_required")
			return
		}
		http.Redirect(w, r, "/consent?authRequestID="+url.QueryEscape(lr.ID), http.StatusSeeOther)
		return
	}
	h.finishAuthorization(w, r, lr, u, s)
}

func (h *Handler) finishAuthorization(w http.ResponseWriter, r *http.Request, lr *oidc.LoginRequest, u *store.User, s *session.Session) {
	next, err := h.OIDC.Finish(r.Context(), lr.ID, u.ID, s.ID(), s.AuthTime, s.AMR)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// stepUp asks a signed-in member for a second factor the relying party
// (or the operator) requires; one who has none is sent to set one up.
func (h *Handler) stepUp(w http.ResponseWriter, r *http.Request, lr *oidc.LoginRequest, u *store.User) {
	if lr.HasPrompt("none") {
		h.OIDC.Reject(w, r, lr.ID, "interaction_required")
		return
	}
	has := false
	if fs, err := h.Store.ListFactors(r.Context(), u.ID); err == nil {
		for _, f := range fs {
			if f.Confirmed && (f.Kind == mfa.KindTOTP || f.Kind == "webauthn") {
				has = true
			}
		}
	}
	if !has || h.MFA == nil {
		p := h.newPage(r, "mfa.title")
		p.Data = message{LinkHref: "/account", LinkText: "link.account"}
		h.fail(w, r, "message", p, errcode.New(errcode.MFARequired, "", lr.ClientName))
		return
	}
	if err := h.startSecondFactor(w, r, u, "", lr.ID); err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
	}
}

// loginForAuthorization answers GET /login?authRequestID=…: a session that
// satisfies the request goes straight on; prompt=none without one goes
// back to the relying party with login_required.
func (h *Handler) loginForAuthorization(w http.ResponseWriter, r *http.Request, lr *oidc.LoginRequest) {
	s, u, err := h.current(w, r)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	fresh := u != nil && lr.FreshEnough(s.AuthTime, time.Now())
	if lr.HasPrompt("none") && !fresh {
		h.OIDC.Reject(w, r, lr.ID, "login_required")
		return
	}
	if fresh {
		h.continueAuthorization(w, r, lr, u, s)
		return
	}
	p := h.newPage(r, "login.title")
	p.Lang = langFor(r, lr)
	p.Form["authRequestID"] = lr.ID
	p.Form["email"] = lr.LoginHint
	p.Data = map[string]string{"ClientName": lr.ClientName}
	h.render(w, r, http.StatusOK, "login", p)
}

type scopeView struct{ Name, Text string }

func (h *Handler) consentPage(w http.ResponseWriter, r *http.Request) {
	lr, ok := h.authRequest(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	if lr == nil {
		h.notFound(w, r)
		return
	}
	_, u, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	p := h.newPage(r, "consent.title")
	p.Lang = langFor(r, lr)
	p.User = u
	var scopes []scopeView
	for _, s := range lr.Scopes {
		if s == "openid" {
			continue
		}
		scopes = append(scopes, scopeView{Name: s, Text: i18n.T(p.Lang, "scope."+s)})
	}
	p.Data = map[string]any{"ClientName": lr.ClientName, "Scopes": scopes, "ID": lr.ID}
	h.render(w, r, http.StatusOK, "consent", p)
}

func (h *Handler) consent(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	lr, ok := h.authRequest(w, r, r.PostForm.Get("authRequestID"))
	if !ok {
		return
	}
	if lr == nil {
		h.errorPage(w, r, errcode.AuthRequestUnknown)
		return
	}
	s, u, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		h.OIDC.Reject(w, r, lr.ID, "access_denied")
		return
	}
	if err := h.OIDC.GrantConsent(r.Context(), lr, u.ID); err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	h.finishAuthorization(w, r, lr, u, s)
}

// revokeConsent withdraws a consent from the account page.
func (h *Handler) revokeConsent(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) {
		return
	}
	if err := h.OIDC.RevokeConsent(r.Context(), u.ID, r.PostForm.Get("client_id")); err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// SessionUser returns the member signed in on r's browser.
func (h *Handler) SessionUser(r *http.Request) (string, bool) {
	s, err := h.Sessions.Get(r.Context(), r)
	if err != nil || s == nil {
		return "", false
	}
	return s.UserID, true
}

// EndSession signs r's browser out (RP-initiated logout).
func (h *Handler) EndSession(w http.ResponseWriter, r *http.Request) {
	if err := h.Sessions.End(r.Context(), w, r); err != nil {
		h.Logger.WarnContext(r.Context(), "end session at logout", "err", err)
	}
}
