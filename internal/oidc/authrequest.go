package oidc

import (
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
)

// authRequest is an authorization request between /authorize and the code
// exchange, kept in the hot state as JSON under "oidc:ar:<id>".
type authRequest struct {
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	ClientID      string    `json:"client_id"`
	RedirectURI   string    `json:"redirect_uri"`
	Scopes        []string  `json:"scopes"`
	ResponseType  string    `json:"response_type"`
	ResponseMode  string    `json:"response_mode,omitempty"`
	State         string    `json:"state,omitempty"`
	Nonce         string    `json:"nonce,omitempty"`
	Prompt        []string  `json:"prompt,omitempty"`
	MaxAge        *uint     `json:"max_age,omitempty"`
	UILocales     []string  `json:"ui_locales,omitempty"`
	LoginHint     string    `json:"login_hint,omitempty"`
	ACRValues     []string  `json:"acr_values,omitempty"`
	HintSubject   string    `json:"hint_sub,omitempty"` // sub of a valid id_token_hint
	CodeChallenge string    `json:"code_challenge,omitempty"`
	CodeMethod    string    `json:"code_challenge_method,omitempty"`

	// Set when the member has signed in and consented.
	UserID   string    `json:"user_id,omitempty"`
	AuthTime time.Time `json:"auth_time,omitzero"`
	AMR      []string  `json:"amr,omitempty"`
	IsDone   bool      `json:"done,omitempty"`
	ACR      string    `json:"acr,omitempty"`
	// SessionID is the browser session that signed in: signing that
	// device out revokes the refresh tokens issued through it.
	SessionID string `json:"sid,omitempty"`

	// codeHash is set on the request found by its code, for the tokens
	// issued from it (not stored).
	codeHash string
}

func (a *authRequest) GetID() string          { return a.ID }
func (a *authRequest) GetACR() string         { return a.ACR }
func (a *authRequest) GetAMR() []string       { return a.AMR }
func (a *authRequest) GetAudience() []string  { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time { return a.AuthTime }
func (a *authRequest) GetClientID() string    { return a.ClientID }
func (a *authRequest) GetCodeChallenge() *zoidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &zoidc.CodeChallenge{Challenge: a.CodeChallenge, Method: zoidc.CodeChallengeMethod(a.CodeMethod)}
}
func (a *authRequest) GetNonce() string                    { return a.Nonce }
func (a *authRequest) GetRedirectURI() string              { return a.RedirectURI }
func (a *authRequest) GetResponseType() zoidc.ResponseType { return zoidc.ResponseType(a.ResponseType) }
func (a *authRequest) GetResponseMode() zoidc.ResponseMode { return zoidc.ResponseMode(a.ResponseMode) }
func (a *authRequest) GetScopes() []string                 { return a.Scopes }
func (a *authRequest) GetState() string                    { return a.State }
func (a *authRequest) GetSubject() string                  { return a.UserID }
func (a *authRequest) Done() bool                          { return a.IsDone }

// hasPrompt reports whether the request carries prompt p.
func (a *authRequest) hasPrompt(p string) bool {
	for _, x := range a.Prompt {
		if x == p {
			return true
		}
	}
	return false
}
