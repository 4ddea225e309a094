package web

import (
	"net/http"
	"time"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
	"github.com/kaiin-project/kaiin/internal/ratelimit"
)

// The verification page of the device authorization grant (RFC 8628): the
// member, signed in, enters the code shown on the device and approves it.

// deviceCodeRate bounds user-code guesses per member and per client IP:
// the codes are short (eight letters) so that people can type them.
var deviceCodeRate = ratelimit.Rate{N: 10, Per: 15 * time.Minute}

func (h *Handler) devicePage(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := h.requireUser(w, r); !ok {
		return
	}
	p := h.newPage(r, "device.title")
	p.Form["user_code"] = r.URL.Query().Get("user_code")
	h.render(w, r, http.StatusOK, "device", p)
}

// deviceLookup shows what the code stands for, with Allow and Deny.
func (h *Handler) deviceLookup(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) {
		return
	}
	p := h.newPage(r, "device.title")
	p.Form["user_code"] = r.PostForm.Get("user_code")
	for _, subject := range []string{"u:" + u.ID, "ip:" + h.ClientIP(r)} {
		allowed, _, err := h.Accounts.Limiter.Allow(r.Context(), "device_code", deviceCodeRate, subject)
		if err != nil || !allowed {
			if err == nil {
				err = errcode.New(errcode.DeviceRateLimited, "user_code")
			}
			h.fail(w, r, "device", p, err)
			return
		}
	}
	dr, err := h.OIDC.DeviceRequest(r.Context(), r.PostForm.Get("user_code"))
	if err != nil {
		h.fail(w, r, "device", p, err)
		return
	}
	var scopes []scopeView
	for _, s := range dr.Scopes {
		if s != "openid" {
			scopes = append(scopes, scopeView{Name: s, Text: i18n.T(p.Lang, "scope."+s)})
		}
	}
	p.User = u
	p.Data = map[string]any{"ClientName": dr.ClientName, "Scopes": scopes, "UserCode": dr.UserCode}
	h.render(w, r, http.StatusOK, "device_confirm", p)
}

func (h *Handler) deviceDecide(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) {
		return
	}
	allow := r.PostForm.Get("decision") == "allow"
	if err := h.OIDC.DecideDevice(r.Context(), r.PostForm.Get("user_code"), u.ID, s.AuthTime, allow); err != nil {
		p := h.newPage(r, "device.title")
		h.fail(w, r, "device", p, err)
		return
	}
	p := h.newPage(r, "device.title")
	body := "device.denied"
	if allow {
		body = "device.approved"
	}
	p.Data = message{Body: body}
	h.render(w, r, http.StatusOK, "message", p)
}
