package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/kaiin-project/kaiin/internal/i18n"
	"github.com/kaiin-project/kaiin/internal/member"
	"github.com/kaiin-project/kaiin/internal/store"
)

// The member's own data: the profile form, the export, and deleting the
// account.

// profileForm is the profile as form fields, by field name.
func profileForm(p member.Profile) map[string]string {
	f := map[string]string{
		member.FieldFamilyName: p.FamilyName, member.FieldGivenName: p.GivenName,
		member.FieldFamilyNameKana: p.FamilyNameKana, member.FieldGivenNameKana: p.GivenNameKana,
		member.FieldNickname: p.Nickname, member.FieldPhone: p.Phone, member.FieldBirthdate: p.Birthdate,
		member.FieldLocale: p.Locale, member.FieldZoneinfo: p.Zoneinfo, member.FieldCountry: "JP",
	}
	if a := p.Address; a != nil {
		f[member.FieldCountry], f[member.FieldPostalCode], f[member.FieldRegion] = a.Country, a.PostalCode, a.Region
		f[member.FieldLocality], f[member.FieldStreet], f[member.FieldBuilding] = a.Locality, a.Street, a.Building
	}
	return f
}

// profileFromForm reads the posted profile; an address with nothing but
// the country is no address.
func profileFromForm(r *http.Request) member.Profile {
	v := func(k string) string { return r.PostForm.Get(k) }
	p := member.Profile{FamilyName: v(member.FieldFamilyName), GivenName: v(member.FieldGivenName),
		FamilyNameKana: v(member.FieldFamilyNameKana), GivenNameKana: v(member.FieldGivenNameKana),
		Nickname: v(member.FieldNickname), Phone: v(member.FieldPhone), Birthdate: v(member.FieldBirthdate),
		Locale: v(member.FieldLocale), Zoneinfo: v(member.FieldZoneinfo)}
	a := member.Address{Country: v(member.FieldCountry), PostalCode: v(member.FieldPostalCode), Region: v(member.FieldRegion),
		Locality: v(member.FieldLocality), Street: v(member.FieldStreet), Building: v(member.FieldBuilding)}
	if strings.TrimSpace(a.PostalCode+a.Region+a.Locality+a.Street+a.Building) != "" {
		p.Address = &a
	}
	return p
}

type problemView struct{ Field, Label, Text, Code string }

func (h *Handler) profileData(lang i18n.Lang) map[string]any {
	type pref struct{ Value, Name string }
	var prefs []pref
	for _, p := range member.Prefectures() {
		name := p.JA
		if lang == i18n.EN {
			name = p.EN
		}
		prefs = append(prefs, pref{Value: p.JA, Name: name})
	}
	return map[string]any{"Prefectures": prefs}
}

func (h *Handler) profilePage(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	p, err := h.Members.Get(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	pg := h.newPage(r, "profile.title")
	pg.User = u
	pg.Form = profileForm(p)
	pg.Data = h.profileData(pg.Lang)
	if r.URL.Query().Get("n") == "saved" {
		pg.Notice = "profile.saved"
	}
	h.render(w, r, http.StatusOK, "profile", pg)
}

func (h *Handler) saveProfile(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) {
		return
	}
	in := profileFromForm(r)
	_, err := h.Members.Put(r.Context(), u.ID, in)
	if err == nil {
		http.Redirect(w, r, "/account/profile?n=saved", http.StatusSeeOther)
		return
	}
	pg := h.newPage(r, "profile.title")
	pg.User = u
	pg.Form = profileForm(in)
	pg.Form[member.FieldCountry] = r.PostForm.Get(member.FieldCountry)
	data := h.profileData(pg.Lang)
	probs, isProblems := err.(member.Problems)
	if !isProblems {
		pg.Data = data
		h.fail(w, r, "profile", pg, err)
		return
	}
	var views []problemView
	for _, e := range probs {
		views = append(views, problemView{Field: e.Field, Label: i18n.T(pg.Lang, member.FieldLabelKey(e.Field)), Text: e.Text(string(pg.Lang)), Code: e.Code.ID})
	}
	data["Problems"] = views
	pg.Data = data
	h.render(w, r, http.StatusBadRequest, "profile", pg)
}

// exportData sends everything Kaiin holds about the member as JSON.
func (h *Handler) exportData(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	p, err := h.Members.Get(ctx, u.ID)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	out := map[string]any{
		"exported_at": time.Now().UTC(),
		"account": map[string]any{"sub": u.ID, "email": u.Email, "email_verified": u.EmailVerified,
			"locale": u.Locale, "created_at": u.CreatedAt, "password_changed_at": u.PasswordChangedAt},
		"profile": p,
	}
	if h.MFA != nil {
		if fs, err := h.MFA.Factors(ctx, u.ID); err == nil {
			out["second_factors"] = fs
		}
	}
	if cs, err := h.Store.ListConsents(ctx, u.ID); err == nil {
		out["consents"] = cs
	}
	if ss, err := h.Sessions.List(ctx, u.ID); err == nil {
		var devs []map[string]any
		for _, s := range ss {
			devs = append(devs, map[string]any{"signed_in_at": s.AuthTime, "last_seen": s.LastSeen, "ip": s.IP, "user_agent": s.UserAgent})
		}
		out["sessions"] = devs
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="kaiin-data.json"`)
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

func (h *Handler) deletePage(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	p := h.newPage(r, "delete.title")
	p.User = u
	h.render(w, r, http.StatusOK, "delete_account", p)
}

// deleteAccount deletes the member at once: sign-in stops immediately, the
// profile is crypto-shredded, and every session and token ends.
func (h *Handler) deleteAccount(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) {
		return
	}
	if err := h.Accounts.CheckPassword(r.Context(), u.ID, r.PostForm.Get("current_password")); err != nil {
		p := h.newPage(r, "delete.title")
		p.User = u
		h.fail(w, r, "delete_account", p, err)
		return
	}
	ctx := r.Context()
	if err := h.Members.Delete(ctx, u.ID); err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	if err := h.Sessions.EndAll(ctx, u.ID, nil); err != nil {
		h.Logger.WarnContext(ctx, "end sessions of a deleted member", "err", err)
	}
	if h.OIDC != nil {
		h.OIDC.RevokeUser(ctx, u.ID)
	}
	if err := h.Store.DeleteUser(ctx, u.ID); err != nil && err != store.ErrNotFound {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	_ = h.Sessions.End(ctx, w, r)
	p := h.newPage(r, "delete.title")
	p.Data = message{Body: "delete.done"}
	h.render(w, r, http.StatusOK, "message", p)
}
