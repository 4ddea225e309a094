package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/mileusna/useragent"

	"github.com/kaiin-project/kaiin/internal/i18n"
	"github.com/kaiin-project/kaiin/internal/session"
	"github.com/kaiin-project/kaiin/internal/store"
)

// device is one signed-in browser as the account page shows it.
type device struct {
	ID, Browser, OS, IP, SignedIn, LastSeen string
	Current                                 bool
}

func describe(s *session.Session, current *session.Session) device {
	ua := useragent.Parse(s.UserAgent)
	d := device{ID: s.ID(), Browser: ua.Name, OS: ua.OS, IP: s.IP,
		SignedIn: s.AuthTime.Local().Format(time.DateTime), LastSeen: s.LastSeen.Local().Format(time.DateTime),
		Current: current != nil && s.ID() == current.ID()}
	if ua.Version != "" {
		d.Browser += " " + ua.Version
	}
	if d.Browser == "" {
		d.Browser = "?"
	}
	return d
}

// devices lists the member's signed-in browsers for the account page.
func (h *Handler) devices(r *http.Request, userID string, current *session.Session) ([]device, error) {
	list, err := h.Sessions.List(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	out := make([]device, 0, len(list))
	for _, s := range list {
		out = append(out, describe(s, current))
	}
	return out, nil
}

// endDevice signs one of the member's other devices out.
func (h *Handler) endDevice(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) {
		return
	}
	if err := h.Sessions.EndOne(r.Context(), u.ID, r.PostForm.Get("id")); err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// endOtherDevices signs every device but this one out.
func (h *Handler) endOtherDevices(w http.ResponseWriter, r *http.Request) {
	s, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) {
		return
	}
	if err := h.Sessions.EndAll(r.Context(), u.ID, s); err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// deviceCookie names a browser across sessions, so that a sign-in from a
// browser never seen before can be told to the member.
const deviceCookie = "kaiin_device"

// noticeDevice tells the member of a sign-in from a new browser.
func (h *Handler) noticeDevice(w http.ResponseWriter, r *http.Request, u *store.User, s *session.Session, lang i18n.Lang) {
	id := ""
	if c, err := r.Cookie(deviceCookie); err == nil && len(c.Value) == 43 {
		id = c.Value
	} else {
		var b [32]byte
		_, _ = rand.Read(b[:])
		id = base64.RawURLEncoding.EncodeToString(b[:])
	}
	http.SetCookie(w, &http.Cookie{Name: deviceCookie, Value: id, Path: "/", MaxAge: 400 * 24 * 3600,
		HttpOnly: true, Secure: h.Sessions.Secure, SameSite: http.SameSiteLaxMode})
	// Off the sign-in's critical path: the answer does not depend on it.
	d := describe(s, nil)
	ctx, member := context.WithoutCancel(r.Context()), *u
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := h.Accounts.SeenDevice(ctx, member, id, d.Browser+" · "+d.OS, s.IP, lang); err != nil {
			h.Logger.WarnContext(ctx, "record the sign-in device", "err", err)
		}
	}()
}

// access is one read of the member's data by a service, as the account
// page shows it.
type access struct{ When, Who, What string }

// accessHistory lists the latest reads of the member's personal data by
// services (the audit log), so that members see who looked.
func (h *Handler) accessHistory(r *http.Request, userID string) []access {
	events, err := h.Store.ListAudit(r.Context(), userID, 20)
	if err != nil {
		h.Logger.WarnContext(r.Context(), "read the access history", "err", err)
		return nil
	}
	names := map[string]string{}
	var out []access
	for _, e := range events {
		who, ok := names[e.Actor]
		if !ok {
			who = e.Actor
			if c, err := h.Store.GetClient(r.Context(), e.Actor); err == nil {
				who = c.Name
			}
			names[e.Actor] = who
		}
		out = append(out, access{When: e.Time.Local().Format(time.DateTime), Who: who, What: strings.Join(e.Fields, ", ")})
	}
	return out
}
