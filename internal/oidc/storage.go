package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"golang.org/x/text/language"

	"github.com/kaiin-project/kaiin/internal/member"
	"github.com/kaiin-project/kaiin/internal/state"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Profiles opens members' profiles for claims (member.Service).
type Profiles interface {
	Get(ctx context.Context, userID string, groups ...string) (member.Profile, error)
}

// Keys gives the signing key and the published key set (keys.Manager).
type Keys interface {
	// SigningKey returns the current key for alg ("ES256", "RS256").
	SigningKey(ctx context.Context, alg string) (op.SigningKey, error)
	KeySet(ctx context.Context) ([]op.Key, error)
	SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error)
}

// Lifetimes of what the provider issues.
type Lifetimes struct {
	AuthRequest  time.Duration // from /authorize to the end of sign-in
	Code         time.Duration
	AccessToken  time.Duration
	IDToken      time.Duration
	RefreshToken time.Duration // idle: each use starts it again
}

// DefaultLifetimes are the lifetimes used when none are configured.
var DefaultLifetimes = Lifetimes{
	AuthRequest:  30 * time.Minute,
	Code:         time.Minute,
	AccessToken:  15 * time.Minute,
	IDToken:      time.Hour,
	RefreshToken: 30 * 24 * time.Hour,
}

// storage adapts Kaiin's durable store and hot state to the protocol
// library: auth requests, codes, refresh tokens and revocations live in
// the hot state; clients, consents and members in the durable store.
type storage struct {
	profiles  Profiles // nil: no profile claims
	store     store.Store
	state     state.State
	keys      Keys
	clients   *clientCache
	secretKey []byte // keys client-secret hashes
	life      Lifetimes
	now       func() time.Time
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.ClientCredentialsStorage       = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*storage)(nil)
)

// Hot-state keys.
func arKey(id string) string            { return "oidc:ar:" + id }
func codeKey(code string) string        { return "oidc:code:" + hashToken(code) }
func rtKey(token string) string         { return "oidc:rt:" + hashToken(token) }
func familyKey(id string) string        { return "oidc:rtf:" + id }
func revokedKey(jti string) string      { return "oidc:revoked:" + jti }
func userFamilies(uid string) string    { return "oidc:ufam:" + uid }
func sessionFamilies(sid string) string { return "oidc:sfam:" + sid }

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func randomID(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// notFound is what the library treats as a missing object.
type notFound struct{ what string }

func (e notFound) Error() string { return e.what + " not found" }
func (notFound) IsNotFound()     {}

func (s *storage) putJSON(ctx context.Context, key string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.state.Set(ctx, key, b, ttl)
}

func (s *storage) getJSON(ctx context.Context, key string, v any) error {
	b, err := s.state.Get(ctx, key)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// CreateAuthRequest keeps a validated authorization request. Beyond what
// the library checks, PKCE must use S256 (plain is refused) and is
// required of public clients.
func (s *storage) CreateAuthRequest(ctx context.Context, r *zoidc.AuthRequest, hintSubject string) (op.AuthRequest, error) {
	c, err := s.clients.get(ctx, r.ClientID)
	if err != nil {
		return nil, err
	}
	if r.CodeChallenge != "" && r.CodeChallengeMethod != zoidc.CodeChallengeMethodS256 {
		return nil, zoidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if r.CodeChallenge == "" && c.public() {
		return nil, zoidc.ErrInvalidRequest().WithDescription("PKCE (code_challenge with S256) is required for public clients")
	}
	ar := &authRequest{
		ID: randomID(""), CreatedAt: s.now().UTC(), ClientID: r.ClientID, RedirectURI: r.RedirectURI,
		Scopes: r.Scopes, ResponseType: string(r.ResponseType), ResponseMode: string(r.ResponseMode),
		State: r.State, Nonce: r.Nonce, Prompt: r.Prompt, MaxAge: r.MaxAge, LoginHint: r.LoginHint,
		ACRValues: r.ACRValues, HintSubject: hintSubject,
		CodeChallenge: r.CodeChallenge, CodeMethod: string(r.CodeChallengeMethod),
	}
	for _, l := range r.UILocales {
		ar.UILocales = append(ar.UILocales, l.String())
	}
	if err := s.putJSON(ctx, arKey(ar.ID), ar, s.life.AuthRequest); err != nil {
		return nil, zoidc.ErrServerError().WithParent(err)
	}
	return ar, nil
}

func (s *storage) authRequest(ctx context.Context, id string) (*authRequest, error) {
	var ar authRequest
	if id == "" || len(id) > 64 {
		return nil, notFound{"auth request"}
	}
	err := s.getJSON(ctx, arKey(id), &ar)
	if errors.Is(err, state.ErrNotFound) {
		return nil, notFound{"auth request"}
	}
	if err != nil {
		return nil, zoidc.ErrServerError().WithParent(err)
	}
	return &ar, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	ar, err := s.authRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	return ar, nil
}

// AuthRequestByCode takes the code: of two exchanges of one code, only
// the first finds it.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	id, err := s.state.Take(ctx, codeKey(code))
	if errors.Is(err, state.ErrNotFound) {
		// A code used twice may have been stolen: the tokens issued from
		// it are revoked (RFC 6749 4.1.2).
		s.revokeCodeGrant(ctx, code)
		return nil, zoidc.ErrInvalidGrant().WithDescription("the authorization code is invalid, expired or already used")
	}
	if err != nil {
		return nil, zoidc.ErrServerError().WithParent(err)
	}
	ar, err := s.authRequest(ctx, string(id))
	if err != nil {
		return nil, zoidc.ErrInvalidGrant().WithDescription("the authorization code is invalid, expired or already used")
	}
	ar.codeHash = hashToken(code)
	return ar, nil
}

// codeGrant is what was issued for an authorization code, kept so that a
// replay of the code can revoke it.
type codeGrant struct {
	JTIs   []string `json:"j,omitempty"`
	Family string   `json:"f,omitempty"`
}

func codeGrantKey(codeHash string) string { return "oidc:codegrant:" + codeHash }

// recordCodeGrant notes a token issued for the code an auth request was
// exchanged with.
func (s *storage) recordCodeGrant(ctx context.Context, ar *authRequest, jti, family string) {
	if ar.codeHash == "" {
		return
	}
	var g codeGrant
	_ = s.getJSON(ctx, codeGrantKey(ar.codeHash), &g)
	if jti != "" {
		g.JTIs = append(g.JTIs, jti)
	}
	if family != "" {
		g.Family = family
	}
	_ = s.putJSON(ctx, codeGrantKey(ar.codeHash), g, s.life.AuthRequest)
}

func (s *storage) revokeCodeGrant(ctx context.Context, code string) {
	b, err := s.state.Take(ctx, codeGrantKey(hashToken(code)))
	if err != nil {
		return
	}
	var g codeGrant
	if json.Unmarshal(b, &g) != nil {
		return
	}
	if g.Family != "" {
		s.revokeFamily(ctx, g.Family)
	}
	for _, jti := range g.JTIs {
		_ = s.state.Set(ctx, revokedKey(jti), []byte("code replay"), s.life.AccessToken)
	}
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.state.Set(ctx, codeKey(code), []byte(id), s.life.Code)
}

func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.state.Delete(ctx, arKey(id))
}

// complete records that userID signed in and consented for the request.
func (s *storage) complete(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string) error {
	ar, err := s.authRequest(ctx, id)
	if err != nil {
		return err
	}
	ar.UserID, ar.AuthTime, ar.AMR, ar.IsDone, ar.SessionID = userID, authTime.UTC(), amr, true, sessionID
	ar.ACR = ACRFor(amr)
	return s.putJSON(ctx, arKey(id), ar, s.life.AuthRequest)
}

// CreateAccessToken issues the ID of a JWT access token. Nothing is
// written: the token carries its claims, and a revocation is recorded
// against its ID until it would have expired.
func (s *storage) CreateAccessToken(ctx context.Context, r op.TokenRequest) (string, time.Time, error) {
	jti := randomID("at_")
	if ar, ok := r.(*authRequest); ok {
		s.recordCodeGrant(ctx, ar, jti, "")
	}
	return jti, s.now().UTC().Add(s.life.AccessToken), nil
}

// refreshToken is what a refresh token stands for.
type refreshToken struct {
	Family   string    `json:"f"`
	UserID   string    `json:"u"`
	ClientID string    `json:"c"`
	Scopes   []string  `json:"s"`
	AuthTime time.Time `json:"t"`
	AMR      []string  `json:"amr,omitempty"`
}

func (r *refreshToken) GetAMR() []string            { return r.AMR }
func (r *refreshToken) GetAudience() []string       { return []string{r.ClientID} }
func (r *refreshToken) GetAuthTime() time.Time      { return r.AuthTime }
func (r *refreshToken) GetClientID() string         { return r.ClientID }
func (r *refreshToken) GetScopes() []string         { return r.Scopes }
func (r *refreshToken) GetSubject() string          { return r.UserID }
func (r *refreshToken) SetCurrentScopes(s []string) { r.Scopes = s }

// CreateAccessAndRefreshTokens issues a refresh token: a new family for a
// first grant, or the next token of the family on rotation.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	jti, exp, _ := s.CreateAccessToken(ctx, r)
	var rt refreshToken
	switch req := r.(type) {
	case *refreshToken:
		rt = *req
		// Rotation: a token is used once. Of two concurrent uses, the
		// second is a reuse and revokes the family.
		first, err := s.state.SetNX(ctx, "oidc:rtused:"+hashToken(current), []byte{1}, s.life.RefreshToken)
		if err != nil {
			return "", "", time.Time{}, zoidc.ErrServerError().WithParent(err)
		}
		cur, err := s.state.Get(ctx, familyKey(rt.Family))
		if !first {
			err = op.ErrInvalidRefreshToken
		}
		if err != nil || string(cur) != hashToken(current) {
			s.revokeFamily(ctx, rt.Family)
			return "", "", time.Time{}, op.ErrInvalidRefreshToken
		}
	case *authRequest:
		rt = refreshToken{Family: randomID("rtf_"), UserID: req.UserID, ClientID: req.ClientID,
			Scopes: req.Scopes, AuthTime: req.AuthTime, AMR: req.AMR}
		if req.SessionID != "" {
			if err := s.state.SAdd(ctx, sessionFamilies(req.SessionID), rt.Family, s.life.RefreshToken); err != nil {
				return "", "", time.Time{}, err
			}
		}
	default:
		return "", "", time.Time{}, zoidc.ErrInvalidRequest().WithDescription("refresh tokens are not issued for this grant")
	}
	token := randomID("")
	if err := s.putJSON(ctx, rtKey(token), rt, s.life.RefreshToken); err != nil {
		return "", "", time.Time{}, err
	}
	if err := s.state.Set(ctx, familyKey(rt.Family), []byte(hashToken(token)), s.life.RefreshToken); err != nil {
		return "", "", time.Time{}, err
	}
	if err := s.state.SAdd(ctx, userFamilies(rt.UserID), rt.Family, s.life.RefreshToken); err != nil {
		return "", "", time.Time{}, err
	}
	if ar, ok := r.(*authRequest); ok {
		s.recordCodeGrant(ctx, ar, "", rt.Family)
	}
	return jti, token, exp, nil
}

// TokenRequestByRefreshToken finds a refresh token. A token that was
// already rotated away is a sign of theft: its whole family is revoked.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	var rt refreshToken
	if err := s.getJSON(ctx, rtKey(token), &rt); err != nil {
		return nil, op.ErrInvalidRefreshToken
	}
	cur, err := s.state.Get(ctx, familyKey(rt.Family))
	if err != nil {
		return nil, op.ErrInvalidRefreshToken
	}
	if string(cur) != hashToken(token) {
		s.revokeFamily(ctx, rt.Family)
		return nil, op.ErrInvalidRefreshToken
	}
	return &rt, nil
}

// revokeFamily ends every refresh token of a family.
func (s *storage) revokeFamily(ctx context.Context, family string) {
	_ = s.state.Delete(ctx, familyKey(family))
}

func (s *storage) TerminateSession(ctx context.Context, userID, clientID string) error { return nil }

// GetRefreshTokenInfo identifies a refresh token for revocation.
func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	var rt refreshToken
	if err := s.getJSON(ctx, rtKey(token), &rt); err != nil || rt.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.UserID, rt.Family, nil
}

// RevokeToken revokes a refresh token family (by its ID) or an access
// token (by its jti, until it would have expired).
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *zoidc.Error {
	switch {
	case strings.HasPrefix(tokenOrID, "rtf_"):
		s.revokeFamily(ctx, tokenOrID)
	case strings.HasPrefix(tokenOrID, "at_"):
		if err := s.state.Set(ctx, revokedKey(tokenOrID), []byte(clientID), s.life.AccessToken); err != nil {
			return zoidc.ErrServerError().WithParent(err)
		}
	}
	// RFC 7009: an unknown token is not an error.
	return nil
}

// RevokeUserClient revokes every refresh token a member gave a client (when
// the member withdraws consent).
func (s *storage) RevokeUserClient(ctx context.Context, userID, clientID string) error {
	fams, err := s.state.SMembers(ctx, userFamilies(userID))
	if err != nil {
		return err
	}
	for _, f := range fams {
		cur, err := s.state.Get(ctx, familyKey(f))
		if err != nil {
			continue
		}
		var rt refreshToken
		b, err := s.state.Get(ctx, "oidc:rt:"+string(cur))
		if err == nil && json.Unmarshal(b, &rt) == nil && rt.ClientID == clientID {
			s.revokeFamily(ctx, f)
			_ = s.state.SRem(ctx, userFamilies(userID), f)
		}
	}
	return nil
}

// RevokeSession revokes the refresh tokens issued through a browser
// session that was signed out.
func (s *storage) RevokeSession(ctx context.Context, sessionID string) error {
	fams, err := s.state.SMembers(ctx, sessionFamilies(sessionID))
	if err != nil {
		return err
	}
	for _, f := range fams {
		s.revokeFamily(ctx, f)
	}
	return s.state.Delete(ctx, sessionFamilies(sessionID))
}

// isRevoked reports whether an access token was revoked.
func (s *storage) isRevoked(ctx context.Context, jti string) (bool, error) {
	_, err := s.state.Get(ctx, revokedKey(jti))
	if errors.Is(err, state.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// clientCtxKey carries the client of a token request, so that its tokens
// are signed with the algorithm it was registered for.
type clientCtxKey struct{}

// SigningKey is ES256 unless the requesting client asked for RS256.
func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	alg := "ES256"
	if id, ok := ctx.Value(clientCtxKey{}).(string); ok {
		if c, err := s.clients.get(ctx, id); err == nil && c.c.SigningAlg == "RS256" {
			alg = "RS256"
		}
	}
	return s.keys.SigningKey(ctx, alg)
}
func (s *storage) SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	return s.keys.SignatureAlgorithms(ctx)
}
func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) { return s.keys.KeySet(ctx) }

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.clients.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// HashSecret returns the stored form of a client secret: an HMAC-SHA-256
// under a server key. Secrets are long random values we generate, so a
// keyed fast hash protects them fully, and the token endpoint stays as
// cheap as its signature.
func HashSecret(key []byte, secret string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(secret))
	return "hmac-sha256$" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.clients.get(ctx, id)
	if err != nil {
		return err
	}
	if c.c.SecretHash == "" || secret == "" ||
		subtle.ConstantTimeCompare([]byte(HashSecret(s.secretKey, secret)), []byte(c.c.SecretHash)) != 1 {
		return errors.New("wrong client secret")
	}
	return nil
}

func (s *storage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if err := s.AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	c, _ := s.clients.get(ctx, id)
	if !slices.Contains(c.c.GrantTypes, GrantClientCredentials) {
		return nil, zoidc.ErrUnauthorizedClient().WithDescription("client_credentials is not allowed for this client")
	}
	return c, nil
}

// ccRequest is a client_credentials grant: the client is its own subject.
type ccRequest struct {
	clientID string
	scopes   []string
}

func (r *ccRequest) GetSubject() string    { return r.clientID }
func (r *ccRequest) GetAudience() []string { return []string{r.clientID} }
func (r *ccRequest) GetScopes() []string   { return r.scopes }

func (s *storage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c, err := s.clients.get(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		if !c.IsScopeAllowed(sc) {
			return nil, zoidc.ErrInvalidScope().WithDescription("scope not allowed for this client")
		}
	}
	return &ccRequest{clientID: id, scopes: scopes}, nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *zoidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims by scope.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, ui *zoidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(ctx, ui, r.GetSubject(), scopes)
}

func (s *storage) SetUserinfoFromToken(ctx context.Context, ui *zoidc.UserInfo, tokenID, subject, origin string) error {
	return errors.New("userinfo is served by Kaiin's own handler")
}

// setUserinfo fills the standard claims the scopes allow. The subject is
// the member's opaque ID, never the email.
func (s *storage) setUserinfo(ctx context.Context, ui *zoidc.UserInfo, userID string, scopes []string) error {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	ui.Subject = u.ID
	for _, sc := range scopes {
		switch sc {
		case "email":
			ui.Email = u.Email
			ui.EmailVerified = zoidc.Bool(u.EmailVerified)
		case "profile":
			if u.Locale != "" {
				ui.Locale = zoidc.NewLocale(localeTag(u.Locale))
			}
			ui.UpdatedAt = zoidc.FromTime(u.UpdatedAt)
		}
	}
	if s.profiles == nil {
		return nil
	}
	// Profile, phone and address claims come from the sealed profile: only
	// the groups the scopes need are opened.
	groups := member.ScopeGroups(scopes)
	groups = slices.DeleteFunc(groups, func(g string) bool { return g == member.GroupEmail })
	if len(groups) == 0 {
		return nil
	}
	p, err := s.profiles.Get(ctx, userID, groups...)
	if err != nil {
		return err
	}
	for k, v := range member.Claims(p, scopes) {
		switch k {
		case "email", "email_verified", "locale":
			continue // the account's own values, set above
		}
		ui.AppendClaims(k, v)
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, ir *zoidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	return errors.New("introspection is served by Kaiin's own handler")
}

// GetPrivateClaimsFromRequest puts the granted scopes into JWT access
// tokens (RFC 9068 "scope"), so that resource servers, introspection and
// userinfo need no lookup.
func (s *storage) GetPrivateClaimsFromRequest(ctx context.Context, r op.TokenRequest, _ []string) (map[string]any, error) {
	return map[string]any{"scope": strings.Join(r.GetScopes(), " ")}, nil
}

func (s *storage) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	c, err := s.clients.get(ctx, clientID)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if len(c.c.JWKS) == 0 || json.Unmarshal(c.c.JWKS, &set) != nil {
		return nil, notFound{"client key"}
	}
	for _, k := range set.Key(keyID) {
		return &k, nil
	}
	return nil, notFound{"client key"}
}

func (s *storage) ValidateJWTProfileScopes(ctx context.Context, userID string, scopes []string) ([]string, error) {
	return nil, zoidc.ErrInvalidScope().WithDescription("JWT profile grants are not supported")
}

func (s *storage) Health(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return s.state.Ping(ctx)
}

func localeTag(s string) language.Tag {
	t, _ := language.Parse(s)
	return t
}
