// Package memberapi serves members' data to back-end services:
// GET /api/v1/members/{sub} and POST /api/v1/members/batch, authorised by
// a client-credentials access token whose scopes name the field groups
// (members:profile:read, members:email:read, members:phone:read,
// members:address:read). A third-party client also needs the member's
// consent for the matching OpenID Connect scope; a first-party client
// (registered to skip consent) does not. Every read is written to the
// audit log: which client, which member, which field groups, when.
//
// The API takes bearer tokens, never cookies, so cross-site request
// forgery does not apply: its routes bypass the cross-origin check.
package memberapi

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/kaiin-project/kaiin/internal/member"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Scopes a service asks for, and the OpenID Connect scope each matches
// (for the member's consent and the claims).
var scopeToOIDC = map[string]string{
	"members:profile:read": "profile",
	"members:email:read":   "email",
	"members:phone:read":   "phone",
	"members:address:read": "address",
}

// BypassCrossOrigin is the route prefix the cross-origin check must skip.
var BypassCrossOrigin = []string{"/api/v1/"}

// MaxBatch bounds the members one batch request may name.
const MaxBatch = 100

// Verifier checks Kaiin access tokens (oidc.Provider).
type Verifier interface {
	VerifyAccessToken(ctx context.Context, token string) (*zoidc.AccessTokenClaims, bool)
}

// Handler serves the member API.
type Handler struct {
	Verifier Verifier
	Members  *member.Service
	Store    store.Store
	Logger   *slog.Logger
	Now      func() time.Time
}

// Mount registers the routes.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/members/{sub}", h.one)
	mux.HandleFunc("POST /api/v1/members/batch", h.batch)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// caller is an authenticated service.
type caller struct {
	client      store.Client
	oidcScopes  []string // what the token allows, as OpenID Connect scopes
	firstParty  bool
	requestedBy string
}

func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (*caller, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kaiin"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "a bearer token is required")
		return nil, false
	}
	claims, valid := h.Verifier.VerifyAccessToken(r.Context(), strings.TrimSpace(token))
	if !valid {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kaiin", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
		return nil, false
	}
	// Only a service's own token (client_credentials: the client is its
	// subject); a token a member obtained must not read other members.
	if claims.Subject != claims.ClientID {
		writeError(w, http.StatusForbidden, "insufficient_scope", "the member API takes client_credentials tokens only")
		return nil, false
	}
	c, err := h.Store.GetClient(r.Context(), claims.ClientID)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kaiin", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "the client no longer exists")
		return nil, false
	}
	cl := &caller{client: c, firstParty: c.SkipConsent, requestedBy: claims.ClientID}
	for _, s := range claims.Scopes {
		if o, ok := scopeToOIDC[s]; ok && slices.Contains(c.Scopes, s) {
			cl.oidcScopes = append(cl.oidcScopes, o)
		}
	}
	if len(cl.oidcScopes) == 0 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kaiin", error="insufficient_scope", scope="members:profile:read members:email:read members:phone:read members:address:read"`)
		writeError(w, http.StatusForbidden, "insufficient_scope", "the token has no members:*:read scope")
		return nil, false
	}
	return cl, true
}

// read returns what the caller may see of a member, and records the read.
func (h *Handler) read(ctx context.Context, c *caller, sub string) (map[string]any, *store.AuditEvent, error) {
	u, err := h.Store.GetUser(ctx, sub)
	if err != nil {
		return nil, nil, err
	}
	scopes := c.oidcScopes
	if !c.firstParty {
		consent, err := h.Store.GetConsent(ctx, sub, c.client.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		scopes = slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return !slices.Contains(consent.Scopes, s) })
	}
	out := map[string]any{"sub": u.ID}
	groups := member.ScopeGroups(scopes)
	var profileGroups []string
	for _, g := range groups {
		if g != member.GroupEmail {
			profileGroups = append(profileGroups, g)
		}
	}
	if len(profileGroups) > 0 {
		p, err := h.Members.Get(ctx, sub, profileGroups...)
		if err != nil {
			return nil, nil, err
		}
		for k, v := range member.Claims(p, scopes) {
			out[k] = v
		}
	}
	if slices.Contains(scopes, "email") {
		out["email"], out["email_verified"] = u.Email, u.EmailVerified
	}
	ev := &store.AuditEvent{ID: newID(), Time: h.now(), Actor: c.client.ID, ActorKind: "client", Subject: sub, Action: "read", Fields: groups}
	return out, ev, nil
}

func (h *Handler) one(w http.ResponseWriter, r *http.Request) {
	c, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	data, ev, err := h.read(r.Context(), c, r.PathValue("sub"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such member")
		return
	}
	if err == nil {
		err = h.audit(r.Context(), *ev)
	}
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "member API read", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "the member could not be read")
		return
	}
	writeJSON(w, http.StatusOK, data)
}

func (h *Handler) batch(w http.ResponseWriter, r *http.Request) {
	c, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	var req struct {
		Subs []string `json:"subs"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body must be {\"subs\": [\"…\"]}: "+err.Error())
		return
	}
	if len(req.Subs) == 0 || len(req.Subs) > MaxBatch {
		writeError(w, http.StatusBadRequest, "invalid_request", "subs: give 1 to 100 member IDs")
		return
	}
	var members []map[string]any
	var missing []string
	var events []store.AuditEvent
	for _, sub := range req.Subs {
		data, ev, err := h.read(r.Context(), c, sub)
		if errors.Is(err, store.ErrNotFound) {
			missing = append(missing, sub)
			continue
		}
		if err != nil {
			h.Logger.ErrorContext(r.Context(), "member API batch read", "err", err)
			writeError(w, http.StatusInternalServerError, "server_error", "the members could not be read")
			return
		}
		members = append(members, data)
		events = append(events, *ev)
	}
	if err := h.audit(r.Context(), events...); err != nil {
		h.Logger.ErrorContext(r.Context(), "member API audit", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "the members could not be read")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": members, "not_found": missing})
}

// audit records reads; no data is served unless its reading is recorded.
func (h *Handler) audit(ctx context.Context, events ...store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		h.Logger.InfoContext(ctx, "member data read", "client_id", e.Actor, "sub", e.Subject, "groups", e.Fields)
	}
	return h.Store.AppendAudit(ctx, events...)
}

func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}
