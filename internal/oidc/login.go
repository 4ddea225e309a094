package oidc

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Authentication context classes (the ID token's acr): a password alone,
// or more than one factor. A relying party asks for the second with
// acr_values=urn:kaiin:acr:mfa.
const (
	ACRPassword = "urn:kaiin:acr:pwd"
	ACRMFA      = "urn:kaiin:acr:mfa"
)

// ACRFor is the class of a sign-in whose methods were amr.
func ACRFor(amr []string) string {
	if slices.Contains(amr, "mfa") {
		return ACRMFA
	}
	return ACRPassword
}

// LoginRequest is what the sign-in pages need to know of an authorization
// request.
type LoginRequest struct {
	ID          string
	ClientID    string
	ClientName  string
	Scopes      []string
	Prompt      []string // none, login, consent, select_account
	MaxAge      *time.Duration
	LoginHint   string
	UILocales   []string
	SkipConsent bool
	// RequireMFA: the sign-in must have used a second factor (the client
	// or the operator requires it, or the relying party asked for
	// ACRMFA).
	RequireMFA bool
}

// HasPrompt reports whether the relying party asked for prompt p.
func (l *LoginRequest) HasPrompt(p string) bool { return slices.Contains(l.Prompt, p) }

// FreshEnough reports whether a sign-in at authTime satisfies the request
// (max_age, prompt=login and prompt=select_account ask for a new one).
func (l *LoginRequest) FreshEnough(authTime, now time.Time) bool {
	if l.HasPrompt("login") || l.HasPrompt("select_account") {
		return false
	}
	return l.MaxAge == nil || now.Sub(authTime) <= *l.MaxAge
}

// LoginRequest returns the pending authorization request id, or a
// KAI-OIDC-001 error when it is unknown or expired.
func (p *Provider) LoginRequest(ctx context.Context, id string) (*LoginRequest, error) {
	ar, err := p.st.authRequest(ctx, id)
	if err != nil {
		var nf notFound
		if errors.As(err, &nf) {
			return nil, errcode.New(errcode.AuthRequestUnknown, "")
		}
		return nil, errcode.Wrap(errcode.Internal, err)
	}
	c, err := p.st.clients.get(ctx, ar.ClientID)
	if err != nil {
		return nil, errcode.New(errcode.AuthRequestUnknown, "")
	}
	lr := &LoginRequest{ID: ar.ID, ClientID: ar.ClientID, ClientName: c.c.Name, Scopes: ar.Scopes,
		Prompt: ar.Prompt, LoginHint: ar.LoginHint, UILocales: ar.UILocales, SkipConsent: c.c.SkipConsent,
		RequireMFA: p.opts.RequireMFA || c.c.RequireMFA || slices.Contains(ar.ACRValues, ACRMFA)}
	if ar.MaxAge != nil {
		d := time.Duration(*ar.MaxAge) * time.Second
		lr.MaxAge = &d
	}
	return lr, nil
}

// NeedsConsent reports whether userID must be asked before the client
// receives the requested scopes.
func (p *Provider) NeedsConsent(ctx context.Context, lr *LoginRequest, userID string) (bool, error) {
	if lr.HasPrompt("consent") {
		return true, nil
	}
	if lr.SkipConsent {
		return false, nil
	}
	c, err := p.opts.Store.GetConsent(ctx, userID, lr.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, s := range lr.Scopes {
		if !slices.Contains(c.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

// GrantConsent remembers that userID allowed the client the requested
// scopes (added to what was allowed before).
func (p *Provider) GrantConsent(ctx context.Context, lr *LoginRequest, userID string) error {
	scopes := slices.Clone(lr.Scopes)
	if old, err := p.opts.Store.GetConsent(ctx, userID, lr.ClientID); err == nil {
		for _, s := range old.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	slices.Sort(scopes)
	return p.opts.Store.PutConsent(ctx, store.Consent{UserID: userID, ClientID: lr.ClientID, Scopes: scopes, GrantedAt: p.opts.Now().UTC()})
}

// RevokeConsent withdraws a member's consent to a client and revokes the
// refresh tokens the client holds for them.
func (p *Provider) RevokeConsent(ctx context.Context, userID, clientID string) error {
	if err := p.opts.Store.DeleteConsent(ctx, userID, clientID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return p.st.RevokeUserClient(ctx, userID, clientID)
}

// Finish marks the request signed in by userID in the browser session
// sessionID and returns where to send the browser (the callback that
// issues the code).
func (p *Provider) Finish(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string) (string, error) {
	if err := p.st.complete(ctx, id, userID, sessionID, authTime, amr); err != nil {
		return "", errcode.New(errcode.AuthRequestUnknown, "")
	}
	return op.AuthCallbackURL(p.op)(ctx, id), nil
}

// RevokeUser revokes every refresh token of a member (a deleted account).
func (p *Provider) RevokeUser(ctx context.Context, userID string) {
	fams, err := p.st.state.SMembers(ctx, userFamilies(userID))
	if err != nil {
		p.log.WarnContext(ctx, "revoke a deleted member's tokens", "err", err)
		return
	}
	for _, f := range fams {
		p.st.revokeFamily(ctx, f)
	}
	_ = p.st.state.Delete(ctx, userFamilies(userID))
}

// SessionEnded revokes the refresh tokens issued through a browser session
// that was signed out (session.Manager.OnEnd).
func (p *Provider) SessionEnded(ctx context.Context, sessionID string) {
	if err := p.st.RevokeSession(ctx, sessionID); err != nil {
		p.log.WarnContext(ctx, "revoke the tokens of a signed-out session", "err", err)
	}
}

// Reject ends the request with an error sent back to the relying party:
// "login_required", "consent_required", "account_selection_required" or
// "access_denied".
func (p *Provider) Reject(w http.ResponseWriter, r *http.Request, id, reason string) {
	ar, err := p.st.authRequest(r.Context(), id)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "unknown authorization request")
		return
	}
	var e *zoidc.Error
	switch reason {
	case "login_required":
		e = zoidc.ErrLoginRequired()
	case "consent_required":
		e = zoidc.ErrInteractionRequired()
		e.ErrorType = "consent_required"
	case "interaction_required":
		e = zoidc.ErrInteractionRequired()
	case "account_selection_required":
		e = zoidc.ErrInteractionRequired()
		e.ErrorType = "account_selection_required"
	default:
		e = zoidc.ErrAccessDenied()
	}
	_ = p.st.DeleteAuthRequest(r.Context(), id)
	op.AuthRequestError(w, p.withIssuer(r), ar, e, p.op)
}
