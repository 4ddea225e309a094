package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
	"github.com/kaiin-project/kaiin/internal/mfa"
	"github.com/kaiin-project/kaiin/internal/state"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Two-step verification: after the password, a member who has turned it
// on is asked for a code before a session exists. Between the two steps
// the browser holds only a short-lived, single-purpose cookie naming a
// "second factor pending" record in the hot state.

const (
	mfaCookie     = "kaiin_mfa"
	mfaPendingTTL = 10 * time.Minute
)

// pendingSignIn is what the password step leaves for the second one.
type pendingSignIn struct {
	UserID        string    `json:"u"`
	Next          string    `json:"n,omitempty"`
	AuthRequestID string    `json:"a,omitempty"`
	PasswordAt    time.Time `json:"t"`
}

func pendingKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return "mfa:pending:" + base64.RawURLEncoding.EncodeToString(h[:])
}

// startSecondFactor records the password step and sends the browser to
// the code page.
func (h *Handler) startSecondFactor(w http.ResponseWriter, r *http.Request, u *store.User, next, authRequestID string) error {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	v, _ := json.Marshal(pendingSignIn{UserID: u.ID, Next: next, AuthRequestID: authRequestID, PasswordAt: time.Now().UTC()})
	if err := h.Accounts.State.Set(r.Context(), pendingKey(token), v, mfaPendingTTL); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: mfaCookie, Value: token, Path: "/login", MaxAge: int(mfaPendingTTL / time.Second),
		HttpOnly: true, Secure: h.Sessions.Secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login/mfa", http.StatusSeeOther)
	return nil
}

// pending returns the browser's pending sign-in, or nil.
func (h *Handler) pending(r *http.Request) (*pendingSignIn, string) {
	c, err := r.Cookie(mfaCookie)
	if err != nil || len(c.Value) != 43 {
		return nil, ""
	}
	b, err := h.Accounts.State.Get(r.Context(), pendingKey(c.Value))
	if err != nil {
		return nil, ""
	}
	var p pendingSignIn
	if json.Unmarshal(b, &p) != nil {
		return nil, ""
	}
	return &p, c.Value
}

func (h *Handler) mfaPage(w http.ResponseWriter, r *http.Request) {
	if p, _ := h.pending(r); p == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	pg := h.newPage(r, "mfa.challenge.title")
	pg.Data = map[string]bool{"Recovery": r.URL.Query().Get("recovery") == "1"}
	h.render(w, r, http.StatusOK, "mfa_challenge", pg)
}

// mfaVerify checks the second factor and, on success, signs the member in
// and goes on where the password step was headed.
func (h *Handler) mfaVerify(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	p, token := h.pending(r)
	if p == nil {
		h.errorPage(w, r, errcode.SignInRequired)
		return
	}
	recovery := r.PostForm.Has("recovery_code")
	var err error
	amr := []string{"pwd", "otp", "mfa"}
	if recovery {
		err = h.MFA.UseRecoveryCode(r.Context(), p.UserID, r.PostForm.Get("recovery_code"))
		amr = []string{"pwd", "mfa"}
	} else {
		err = h.MFA.VerifyTOTP(r.Context(), p.UserID, r.PostForm.Get("code"))
	}
	if err != nil {
		h.OnSignIn(secondFactorOutcome(err))
		pg := h.newPage(r, "mfa.challenge.title")
		pg.Data = map[string]bool{"Recovery": recovery}
		h.fail(w, r, "mfa_challenge", pg, err)
		return
	}
	if _, err := h.Accounts.State.Take(r.Context(), pendingKey(token)); errors.Is(err, state.ErrNotFound) {
		h.errorPage(w, r, errcode.SignInRequired) // used by a concurrent request
		return
	}
	http.SetCookie(w, &http.Cookie{Name: mfaCookie, Path: "/login", MaxAge: -1, HttpOnly: true, Secure: h.Sessions.Secure, SameSite: http.SameSiteLaxMode})
	u, err := h.Store.GetUser(r.Context(), p.UserID)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	lang := i18n.FromRequest(r)
	if recovery {
		h.Accounts.NotifyMFAChange(u, lang, "mfa.change.recovery_used")
	}
	h.signedIn(w, r, &u, amr, p.Next, p.AuthRequestID, lang)
}

func secondFactorOutcome(err error) string {
	if e, ok := errcode.As(err); ok && e.Code == errcode.MFARateLimited {
		return "rate_limited"
	}
	return "second_factor_failure"
}

// mfaSection is the account page's two-step verification part.
type mfaSection struct {
	Enabled   bool
	Factors   []factorView
	Remaining int
	HasCodes  bool
}

type factorView struct {
	ID, Kind, Added, LastUsed string
	Name                      string // the member's label (passkeys)
	Remaining                 int
}

func (h *Handler) mfaSection(r *http.Request, userID string) (*mfaSection, error) {
	if h.MFA == nil {
		return nil, nil
	}
	infos, err := h.MFA.Factors(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	sec := &mfaSection{}
	for _, f := range infos {
		v := factorView{ID: f.ID, Kind: f.Kind, Name: f.Name, Added: f.CreatedAt.Local().Format(time.DateOnly), Remaining: f.Remaining}
		if !f.LastUsedAt.IsZero() {
			v.LastUsed = f.LastUsedAt.Local().Format(time.DateTime)
		}
		if f.Kind == mfa.KindRecovery {
			sec.HasCodes, sec.Remaining = true, f.Remaining
		} else {
			sec.Enabled = true
		}
		sec.Factors = append(sec.Factors, v)
	}
	return sec, nil
}

// totpSetupPage starts an enrolment: QR code and setup key.
func (h *Handler) totpSetupPage(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok {
		return
	}
	en, err := h.MFA.BeginTOTP(r.Context(), u.ID, u.Email)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	h.renderTOTPSetup(w, r, http.StatusOK, u, en.FactorID, en.Secret, en.QRPNG, nil)
}

func (h *Handler) renderTOTPSetup(w http.ResponseWriter, r *http.Request, status int, u *store.User, factorID, secret string, qr []byte, err error) {
	p := h.newPage(r, "mfa.title")
	p.User = u
	var groups []string
	for i := 0; i < len(secret); i += 4 {
		groups = append(groups, secret[i:min(i+4, len(secret))])
	}
	p.Data = map[string]any{"FactorID": factorID, "Secret": strings.Join(groups, " "), "RawSecret": secret,
		"QR": template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(qr))}
	if err != nil {
		h.fail(w, r, "totp_setup", p, err)
		return
	}
	h.render(w, r, status, "totp_setup", p)
}

// totpConfirm turns the app on with a first code; the first factor comes
// with a set of recovery codes, shown once.
func (h *Handler) totpConfirm(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) {
		return
	}
	had, err := h.MFA.Enabled(r.Context(), u.ID)
	if err == nil {
		err = h.MFA.ConfirmTOTP(r.Context(), u.ID, r.PostForm.Get("factor_id"), r.PostForm.Get("code"))
	}
	if err != nil {
		// Show the same QR code again, rebuilt from the setup key the page carried.
		secret := r.PostForm.Get("secret")
		qr, _ := mfa.QRPNG(u.Email, secret)
		h.renderTOTPSetup(w, r, http.StatusBadRequest, u, r.PostForm.Get("factor_id"), secret, qr, err)
		return
	}
	lang := i18n.FromRequest(r)
	h.Accounts.NotifyMFAChange(*u, lang, "mfa.change.totp_added")
	if had {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	h.showRecoveryCodes(w, r, u)
}

func (h *Handler) showRecoveryCodes(w http.ResponseWriter, r *http.Request, u *store.User) {
	codes, err := h.MFA.GenerateRecoveryCodes(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	p := h.newPage(r, "mfa.kind.recovery")
	p.User = u
	p.Data = map[string]any{"Codes": codes}
	h.render(w, r, http.StatusOK, "recovery_codes", p)
}

// regenerateRecovery replaces the recovery codes (password required).
func (h *Handler) regenerateRecovery(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) || !h.recheckPassword(w, r, u) {
		return
	}
	h.Accounts.NotifyMFAChange(*u, i18n.FromRequest(r), "mfa.change.recovery_generated")
	h.showRecoveryCodes(w, r, u)
}

// removeFactor removes an authenticator (password required: a stolen
// session alone must not turn two-step verification off).
func (h *Handler) removeFactor(w http.ResponseWriter, r *http.Request) {
	_, u, ok := h.requireUser(w, r)
	if !ok || !h.parseForm(w, r) || !h.recheckPassword(w, r, u) {
		return
	}
	if err := h.MFA.RemoveFactor(r.Context(), u.ID, r.PostForm.Get("factor_id")); err != nil {
		h.fail(w, r, "message", h.newPage(r, "error.title"), err)
		return
	}
	h.Accounts.NotifyMFAChange(*u, i18n.FromRequest(r), "mfa.change.totp_removed")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// recheckPassword asks for the current password again before a sensitive
// change; on failure it answers and returns false.
func (h *Handler) recheckPassword(w http.ResponseWriter, r *http.Request, u *store.User) bool {
	if err := h.Accounts.CheckPassword(r.Context(), u.ID, r.PostForm.Get("current_password")); err != nil {
		h.fail(w, r, "message", h.newPage(r, "mfa.title"), err)
		return false
	}
	return true
}
