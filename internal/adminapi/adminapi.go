// Package adminapi is the admin HTTP API (JSON) for managing OAuth
// clients: the operations of `kaiin admin client`, under /admin/api/v1.
//
// Callers authenticate with a Kaiin access token carrying the scope
// kaiin:admin, obtained by a service client with the client_credentials
// grant (`kaiin admin client create --name ops --grant-type
// client_credentials --scope kaiin:admin`).
//
// Cross-site request forgery does not apply: the API reads credentials
// only from the Authorization header, never from cookies, so a browser
// cannot be tricked into sending them; bodies must also be JSON, which a
// plain HTML form cannot send. Its routes are therefore listed in
// BypassCrossOrigin, since API clients are scripts, not browsers.
package adminapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/kaiin-project/kaiin/internal/oidc"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Scope is the scope an access token needs to use the API.
const Scope = "kaiin:admin"

// Prefix is where the API lives.
const Prefix = "/admin/api/v1"

// BypassCrossOrigin lists the route patterns that cross-origin form
// protection must skip (server.Options.CrossOriginBypass): the API takes
// bearer tokens, not cookies.
var BypassCrossOrigin = []string{Prefix + "/"}

// Verifier checks a Kaiin access token (signature, issuer, expiry,
// revocation) and returns its claims; *oidc.Provider is one.
type Verifier interface {
	VerifyAccessToken(ctx context.Context, token string) (*zoidc.AccessTokenClaims, bool)
}

var _ Verifier = (*oidc.Provider)(nil)

// Handler serves the admin API.
type Handler struct {
	// Verifier checks bearer tokens.
	Verifier Verifier
	// Clients changes clients (and tells the provider's cache).
	Clients *oidc.Clients
	// Store reads clients.
	Store store.ClientStore
	// Logger receives the audit lines (INFO) and store failures (ERROR).
	Logger *slog.Logger
	// RequestID, when set, names the request in log lines
	// (server.RequestID).
	RequestID func(context.Context) string
}

// Mount registers the API's routes on mux. Wrong methods and unknown
// paths under the prefix are answered in JSON here, since the surrounding
// mux may have a catch-all ("/") that would take them instead.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"/clients", h.authed(h.list))
	mux.HandleFunc("POST "+Prefix+"/clients", h.authed(h.create))
	mux.HandleFunc("GET "+Prefix+"/clients/{id}", h.authed(h.get))
	mux.HandleFunc("PATCH "+Prefix+"/clients/{id}", h.authed(h.update))
	mux.HandleFunc("DELETE "+Prefix+"/clients/{id}", h.authed(h.delete))
	mux.HandleFunc("POST "+Prefix+"/clients/{id}/rotate-secret", h.authed(h.rotate))

	mux.HandleFunc(Prefix+"/clients", methodNotAllowed("GET, HEAD, POST"))
	mux.HandleFunc(Prefix+"/clients/{id}", methodNotAllowed("GET, HEAD, PATCH, DELETE"))
	mux.HandleFunc(Prefix+"/clients/{id}/rotate-secret", methodNotAllowed("POST"))
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, &apiError{Code: "not_found",
			Description: "no such endpoint: " + r.Method + " " + clip(r.URL.Path) + "; the API serves " + Prefix + "/clients"})
	})
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, &apiError{Code: "method_not_allowed",
			Description: "method " + r.Method + " is not allowed on " + clip(r.URL.Path) + "; use " + allow})
	}
}

// actor is who makes a request: the service client the token was issued to.
type actor struct {
	ClientID string
}

// authed checks the bearer token before calling next.
func (h *Handler) authed(next func(http.ResponseWriter, *http.Request, actor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		a, ok := h.authenticate(w, r)
		if ok {
			next(w, r, a)
		}
	}
}

// authenticate reads and checks the bearer token (RFC 6750); on failure it
// has answered.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (actor, bool) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		// RFC 6750 3.1: no error code when no credentials were sent.
		w.Header().Set("WWW-Authenticate", `Bearer realm="kaiin"`)
		writeError(w, http.StatusUnauthorized, &apiError{Code: "invalid_token",
			Description: "Authorization header: missing; send Authorization: Bearer <access token with scope " + Scope + ">"})
		return actor{}, false
	}
	invalid := func(desc string) (actor, bool) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kaiin", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, &apiError{Code: "invalid_token", Description: desc})
		return actor{}, false
	}
	scheme, token, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return invalid("Authorization header: expected the Bearer scheme")
	}
	claims, valid := h.Verifier.VerifyAccessToken(r.Context(), strings.TrimSpace(token))
	if !valid {
		return invalid("Authorization header: the access token is invalid, expired or revoked")
	}
	insufficient := func(desc string) (actor, bool) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kaiin", error="insufficient_scope", scope="`+Scope+`"`)
		writeError(w, http.StatusForbidden, &apiError{Code: "insufficient_scope", Description: desc})
		return actor{}, false
	}
	if !slices.Contains(claims.Scopes, Scope) {
		return insufficient("Authorization header: the access token lacks the scope " + Scope)
	}
	// Only service tokens: a token a member obtained through a client
	// allowed kaiin:admin would otherwise make every member who signs in
	// there an operator.
	if claims.Subject == "" || claims.Subject != claims.ClientID {
		h.Logger.WarnContext(r.Context(), "admin api: member token refused", "actor", claims.ClientID, "request_id", h.requestID(r))
		return insufficient("Authorization header: the admin API takes service tokens (client_credentials grant), not tokens issued to a member")
	}
	// The token outlives changes to its client: check the client still
	// exists and is still allowed the scope.
	cl, err := h.Store.GetClient(r.Context(), claims.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return invalid("Authorization header: the token's client no longer exists")
	}
	if err != nil {
		h.storeFailed(w, r, "look up the token's client", claims.ClientID, err)
		return actor{}, false
	}
	if !slices.Contains(cl.Scopes, Scope) {
		return insufficient("Authorization header: the token's client is no longer allowed the scope " + Scope)
	}
	return actor{ClientID: claims.ClientID}, true
}

func (h *Handler) requestID(r *http.Request) string {
	if h.RequestID == nil {
		return ""
	}
	return h.RequestID(r.Context())
}

// audit logs a change: who, what, which client. Never a secret.
func (h *Handler) audit(r *http.Request, a actor, action, clientID string, attrs ...any) {
	args := append([]any{"action", action, "actor", a.ClientID, "client_id", clientID, "request_id", h.requestID(r)}, attrs...)
	h.Logger.InfoContext(r.Context(), "admin audit", args...)
}

// storeFailed logs a store failure and answers 500 with a generic message.
func (h *Handler) storeFailed(w http.ResponseWriter, r *http.Request, what, clientID string, err error) {
	if r.Context().Err() != nil {
		// The caller went away; nobody needs to act.
		h.Logger.InfoContext(r.Context(), "admin api: request cancelled", "op", what, "client_id", clientID, "request_id", h.requestID(r))
	} else {
		h.Logger.ErrorContext(r.Context(), "admin api: store failed", "op", what, "client_id", clientID, "request_id", h.requestID(r), "err", err)
	}
	writeError(w, http.StatusInternalServerError, &apiError{Code: "server_error",
		Description: "the server could not " + what + "; try again later"})
}

// clip bounds text taken from the request before it is echoed.
func clip(s string) string {
	const max = 100
	if len(s) > max {
		return strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
