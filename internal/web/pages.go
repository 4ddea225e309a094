package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
	"github.com/kaiin-project/kaiin/internal/session"
	"github.com/kaiin-project/kaiin/internal/store"
)

// message is the data of the message template: a text and a link onward.
type message struct {
	Body, LinkHref, LinkText string
}

// limits is the data of forms that take a new password.
type limits struct {
	MinLength, MaxLength int
	Token                string
}

func (h *Handler) limits() limits { return limits{MinLength: h.MinLength, MaxLength: h.MaxLength} }

// current returns the signed-in member, or nil.
func (h *Handler) current(w http.ResponseWriter, r *http.Request) (*session.Session, *store.User, error) {
	s, err := h.Sessions.Get(r.Context(), r)
	if err != nil || s == nil {
		return nil, nil, err
	}
	u, err := h.Store.GetUser(r.Context(), s.UserID)
	if err != nil {
		// The account is gone: the session is worthless.
		_ = h.Sessions.End(r.Context(), w, r)
		return nil, nil, nil
	}
	return s, &u, nil
}

// nextEscaper escapes a path for the next parameter, keeping its slashes
// readable.
var nextEscaper = strings.NewReplacer("%", "%25", "&", "%26", "#", "%23", "+", "%2B", "?", "%3F", "=", "%3D", " ", "%20")

// requireUser returns the signed-in member or sends the browser to sign in.
func (h *Handler) requireUser(w http.ResponseWriter, r *http.Request) (*session.Session, *store.User, bool) {
	s, u, err := h.current(w, r)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return nil, nil, false
	}
	if u == nil {
		next := r.URL.EscapedPath()
		if r.Method == http.MethodGet {
			next = r.URL.RequestURI()
		}
		http.Redirect(w, r, "/login?next="+nextEscaper.Replace(next), http.StatusSeeOther)
		return nil, nil, false
	}
	return s, u, true
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	if _, u, _ := h.current(w, r); u != nil {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if lr, ok := h.authRequest(w, r, r.URL.Query().Get("authRequestID")); !ok {
		return
	} else if lr != nil {
		h.loginForAuthorization(w, r, lr)
		return
	}
	next := localPath(r.URL.Query().Get("next"), "/account")
	if _, u, _ := h.current(w, r); u != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	p := h.newPage(r, "login.title")
	p.Form["next"] = next
	if r.URL.Query().Get("n") == "signed_out" {
		p.Notice = "notice.signed_out"
	}
	h.render(w, r, http.StatusOK, "login", p)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	lr, ok := h.authRequest(w, r, r.PostForm.Get("authRequestID"))
	if !ok {
		return
	}
	p := h.newPage(r, "login.title")
	email := r.PostForm.Get("email")
	p.Form["email"] = email
	next := localPath(r.PostForm.Get("next"), "/account")
	p.Form["next"] = next
	if lr != nil {
		p.Lang = langFor(r, lr)
		p.Form["authRequestID"] = lr.ID
		p.Data = map[string]string{"ClientName": lr.ClientName}
	}
	u, err := h.Accounts.SignIn(r.Context(), email, r.PostForm.Get("password"), p.Lang, h.ClientIP(r))
	if err != nil {
		h.OnSignIn(signInOutcome(err))
		h.fail(w, r, "login", p, err)
		return
	}
	authReqID := ""
	if lr != nil {
		authReqID = lr.ID
	}
	if h.MFA != nil {
		on, err := h.MFA.Enabled(r.Context(), u.ID)
		if err == nil && on {
			err = h.startSecondFactor(w, r, &u, next, authReqID)
		}
		if err != nil {
			h.OnSignIn("error")
			h.fail(w, r, "login", p, err)
		}
		if err != nil || on {
			return
		}
	}
	h.signedIn(w, r, &u, []string{"pwd"}, next, authReqID, p.Lang)
}

// signedIn ends a sign-in that passed every step: a new session, then on
// to the authorization request or the next page.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request, u *store.User, amr []string, next, authReqID string, lang i18n.Lang) {
	s, err := h.Sessions.Start(r.Context(), w, r, u.ID, h.ClientIP(r), amr)
	if err != nil {
		h.OnSignIn("error")
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	h.OnSignIn("success")
	h.noticeDevice(w, r, u, s, lang)
	if authReqID != "" {
		lr, ok := h.authRequest(w, r, authReqID)
		if !ok {
			return
		}
		if lr != nil {
			h.continueAuthorization(w, r, lr, u, s)
			return
		}
	}
	http.Redirect(w, r, localPath(next, "/account"), http.StatusSeeOther)
}

func signInOutcome(err error) string {
	e, ok := errcode.As(err)
	if !ok {
		return "error"
	}
	switch e.Code {
	case errcode.LoginFailed:
		return "failure"
	case errcode.LoginUnverified:
		return "unverified"
	case errcode.LoginRateLimited:
		return "rate_limited"
	case errcode.Busy:
		return "busy"
	}
	return "error"
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if err := h.Sessions.End(r.Context(), w, r); err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	http.Redirect(w, r, "/login?n=signed_out", http.StatusSeeOther)
}

func (h *Handler) registerPage(w http.ResponseWriter, r *http.Request) {
	p := h.newPage(r, "register.title")
	p.Data = h.limits()
	h.render(w, r, http.StatusOK, "register", p)
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	p := h.newPage(r, "register.title")
	p.Data = h.limits()
	p.Form["email"] = r.PostForm.Get("email")
	err := h.Accounts.Register(r.Context(), r.PostForm.Get("email"), r.PostForm.Get("password"), p.Lang, h.ClientIP(r))
	if err != nil {
		h.fail(w, r, "register", p, err)
		return
	}
	done := h.newPage(r, "register.sent.title")
	done.Data = message{Body: "register.sent.body"}
	h.render(w, r, http.StatusOK, "message", done)
}

// confirmPage shows a button that posts a link's token. Links in mail are
// opened by scanners too; only the member's press uses the token up.
func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request, title, action, body, button string) {
	p := h.newPage(r, title)
	p.Data = map[string]string{"Action": action, "Token": r.URL.Query().Get("token"), "Body": body, "Button": button}
	h.render(w, r, http.StatusOK, "confirm", p)
}

func (h *Handler) verifyPage(w http.ResponseWriter, r *http.Request) {
	h.confirmPage(w, r, "verify.title", "/verify", "verify.body", "verify.submit")
}

func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	if _, err := h.Accounts.VerifyEmail(r.Context(), r.PostForm.Get("token")); err != nil {
		h.fail(w, r, "message", h.newPage(r, "verify.title"), err)
		return
	}
	p := h.newPage(r, "verified.title")
	p.Data = message{Body: "verified.body", LinkHref: "/login", LinkText: "link.login"}
	h.render(w, r, http.StatusOK, "message", p)
}

func (h *Handler) forgotPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "forgot", h.newPage(r, "forgot.title"))
}

func (h *Handler) forgot(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	p := h.newPage(r, "forgot.title")
	p.Form["email"] = r.PostForm.Get("email")
	if err := h.Accounts.RequestReset(r.Context(), r.PostForm.Get("email"), p.Lang, h.ClientIP(r)); err != nil {
		h.fail(w, r, "forgot", p, err)
		return
	}
	done := h.newPage(r, "forgot.sent.title")
	done.Data = message{Body: "forgot.sent.body"}
	h.render(w, r, http.StatusOK, "message", done)
}

func (h *Handler) resetPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	email, err := h.Accounts.CheckResetToken(r.Context(), token)
	if err != nil {
		p := h.newPage(r, "reset.title")
		p.Data = message{LinkHref: "/password/forgot", LinkText: "forgot.title"}
		h.fail(w, r, "message", p, err)
		return
	}
	p := h.newPage(r, "reset.title")
	p.Form["username"] = email
	l := h.limits()
	l.Token = token
	p.Data = l
	h.render(w, r, http.StatusOK, "reset", p)
}

func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	token := r.PostForm.Get("token")
	u, err := h.Accounts.ResetPassword(r.Context(), token, r.PostForm.Get("password"))
	if err != nil {
		p := h.newPage(r, "reset.title")
		if e, ok := errcode.As(err); ok && e.Code == errcode.ResetLinkInvalid {
			p.Data = message{LinkHref: "/password/forgot", LinkText: "forgot.title"}
			h.fail(w, r, "message", p, err)
			return
		}
		l := h.limits()
		l.Token = token
		p.Data = l
		p.Path = "/password/reset?token=" + url.QueryEscape(token)
		h.fail(w, r, "reset", p, err)
		return
	}
	if err := h.Sessions.EndAll(r.Context(), u.ID, nil); err != nil {
		h.Logger.ErrorContext(r.Context(), "sign out after reset", "err", err)
	}
	_ = h.Sessions.End(r.Context(), w, r)
	p := h.newPage(r, "reset.done.title")
	p.Data = message{Body: "reset.done.body", LinkHref: "/login", LinkText: "link.login"}
	h.render(w, r, http.StatusOK, "message", p)
}

func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	p := h.newPage(r, "account.title")
	p.User = u
	devs, err := h.devices(r, u.ID, s)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	sec, err := h.mfaSection(r, u.ID)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	data := map[string]any{"Devices": devs, "MFA": sec, "Access": h.accessHistory(r, u.ID)}
	p.Data = data
	if h.OIDC != nil {
		consents, err := h.Store.ListConsents(r.Context(), u.ID)
		if err != nil {
			h.fail(w, r, "message", h.newPage(r, "error.title"), err)
			return
		}
		type row struct{ ClientID, Name string }
		var rows []row
		for _, c := range consents {
			name := c.ClientID
			if cl, err := h.Store.GetClient(r.Context(), c.ClientID); err == nil {
				name = cl.Name
			}
			rows = append(rows, row{ClientID: c.ClientID, Name: name})
		}
		data["Consents"], data["ShowConsents"] = rows, true
	}
	h.render(w, r, http.StatusOK, "account", p)
}

func (h *Handler) passwordPage(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	p := h.newPage(r, "password_change.title")
	p.User = u
	p.Data = h.limits()
	h.render(w, r, http.StatusOK, "password_change", p)
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) {
		return
	}
	p := h.newPage(r, "password_change.title")
	p.User = u
	p.Data = h.limits()
	if _, err := h.Accounts.ChangePassword(r.Context(), u.ID, r.PostForm.Get("current_password"), r.PostForm.Get("new_password")); err != nil {
		h.fail(w, r, "password_change", p, err)
		return
	}
	if err := h.Sessions.EndAll(r.Context(), u.ID, s); err != nil {
		h.Logger.ErrorContext(r.Context(), "sign out other sessions", "err", err)
	}
	done := h.newPage(r, "password_change.title")
	done.Data = message{Body: "password_change.done.body", LinkHref: "/account", LinkText: "link.account"}
	h.render(w, r, http.StatusOK, "message", done)
}

func (h *Handler) emailPage(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	p := h.newPage(r, "email_change.title")
	p.User = u
	h.render(w, r, http.StatusOK, "email_change", p)
}

func (h *Handler) changeEmail(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) {
		return
	}
	p := h.newPage(r, "email_change.title")
	p.User = u
	p.Form["email"] = r.PostForm.Get("email")
	err := h.Accounts.RequestEmailChange(r.Context(), u.ID, r.PostForm.Get("current_password"), r.PostForm.Get("email"), p.Lang)
	if err != nil {
		h.fail(w, r, "email_change", p, err)
		return
	}
	done := h.newPage(r, "email_change.title")
	done.Data = message{Body: "email_change.sent.body", LinkHref: "/account", LinkText: "link.account"}
	h.render(w, r, http.StatusOK, "message", done)
}

func (h *Handler) emailConfirmPage(w http.ResponseWriter, r *http.Request) {
	h.confirmPage(w, r, "email_confirm.title", "/account/email/confirm", "email_confirm.body", "email_confirm.submit")
}

func (h *Handler) emailConfirm(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	if _, err := h.Accounts.ConfirmEmailChange(r.Context(), r.PostForm.Get("token")); err != nil {
		h.fail(w, r, "message", h.newPage(r, "email_confirm.title"), err)
		return
	}
	p := h.newPage(r, "email_confirm.title")
	p.Data = message{Body: "email_confirm.done.body", LinkHref: "/account", LinkText: "link.account"}
	h.render(w, r, http.StatusOK, "message", p)
}
