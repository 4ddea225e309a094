package web

import (
	"net/http"

	"github.com/kaiin-project/kaiin/internal/i18n"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Hooks for internal/passkey, whose sign-ins end the way the password
// form's do.

// SignedIn ends a sign-in that passed every step (see signedIn): a new
// session, then on to the authorization request or the next page.
func (h *Handler) SignedIn(w http.ResponseWriter, r *http.Request, u *store.User, amr []string, next, authReqID string) {
	h.signedIn(w, r, u, amr, next, authReqID, i18n.FromRequest(r))
}

// PendingSecondFactor returns the member whose password step is done and
// whose second step is pending on r's browser.
func (h *Handler) PendingSecondFactor(r *http.Request) (string, bool) {
	p, _ := h.pending(r)
	if p == nil {
		return "", false
	}
	return p.UserID, true
}

// TakeSecondFactor uses up r's pending sign-in (of many concurrent
// callers one gets it) and returns where it was headed.
func (h *Handler) TakeSecondFactor(w http.ResponseWriter, r *http.Request) (userID, next, authReqID string, ok bool) {
	p, token := h.pending(r)
	if p == nil {
		return "", "", "", false
	}
	if _, err := h.Accounts.State.Take(r.Context(), pendingKey(token)); err != nil {
		return "", "", "", false
	}
	http.SetCookie(w, &http.Cookie{Name: mfaCookie, Path: "/login", MaxAge: -1, HttpOnly: true, Secure: h.Sessions.Secure, SameSite: http.SameSiteLaxMode})
	return p.UserID, p.Next, p.AuthRequestID, true
}
