package adminapi

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/kaiin-project/kaiin/internal/oidc"
	"github.com/kaiin-project/kaiin/internal/store"
)

// clientView is a client as the API shows it. ClientSecret is set only in
// the answers that create one (create, rotate-secret): it is not stored.
type clientView struct {
	ClientID     string          `json:"client_id"`
	ClientSecret string          `json:"client_secret,omitempty"`
	Client       oidc.ClientSpec `json:"client"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

// view shows a client. Times are cut to microseconds, as the store keeps
// them, so that the answer to a change matches later reads.
func view(c store.Client) clientView {
	return clientView{ClientID: c.ID, Client: oidc.Spec(c),
		CreatedAt: c.CreatedAt.UTC().Truncate(time.Microsecond), UpdatedAt: c.UpdatedAt.UTC().Truncate(time.Microsecond)}
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, _ actor) {
	cs, err := h.Store.ListClients(r.Context())
	if err != nil {
		h.storeFailed(w, r, "list clients", "", err)
		return
	}
	out := make([]clientView, 0, len(cs))
	for _, c := range cs {
		out = append(out, view(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": out})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request, _ actor) {
	id := r.PathValue("id")
	c, err := h.Store.GetClient(r.Context(), id)
	if err != nil {
		h.clientFailed(w, r, "read the client", id, err)
		return
	}
	writeJSON(w, http.StatusOK, view(c))
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request, a actor) {
	var spec oidc.ClientSpec
	if _, ok := decodeSpec(w, r, &spec, "application/json"); !ok {
		return
	}
	c, secret, err := h.Clients.Create(r.Context(), spec)
	if err != nil {
		h.clientFailed(w, r, "create the client", "", err)
		return
	}
	h.audit(r, a, "create", c.ID)
	v := view(c)
	v.ClientSecret = secret // shown once
	w.Header().Set("Location", Prefix+"/clients/"+c.ID)
	writeJSON(w, http.StatusCreated, v)
}

// update changes only the fields present in the body (JSON merge patch,
// RFC 7396: null puts a field back to its default).
func (h *Handler) update(w http.ResponseWriter, r *http.Request, a actor) {
	id := r.PathValue("id")
	var patch oidc.ClientSpec
	present, ok := decodeSpec(w, r, &patch, "application/json", "application/merge-patch+json")
	if !ok {
		return
	}
	if len(present) == 0 {
		h.get(w, r, a) // nothing to change
		return
	}
	from := reflect.ValueOf(&patch).Elem()
	c, err := h.Clients.Update(r.Context(), id, func(s *oidc.ClientSpec) {
		to := reflect.ValueOf(s).Elem()
		for _, k := range present {
			i := specFields[k]
			to.Field(i).Set(from.Field(i))
		}
	})
	if err != nil {
		h.clientFailed(w, r, "update the client", id, err)
		return
	}
	h.audit(r, a, "update", id, "fields", present)
	writeJSON(w, http.StatusOK, view(c))
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request, a actor) {
	id := r.PathValue("id")
	if err := h.Clients.Delete(r.Context(), id); err != nil {
		h.clientFailed(w, r, "delete the client", id, err)
		return
	}
	h.audit(r, a, "delete", id)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) rotate(w http.ResponseWriter, r *http.Request, a actor) {
	id := r.PathValue("id")
	// Whether a client has a secret never changes (Clients.Update refuses
	// it), so this check holds for the rotation below.
	c, err := h.Store.GetClient(r.Context(), id)
	if err != nil {
		h.clientFailed(w, r, "read the client", id, err)
		return
	}
	if c.SecretHash == "" {
		writeError(w, http.StatusConflict, &apiError{Code: "conflict",
			Description: fmt.Sprintf("client %q has no secret to rotate: it authenticates with %s", id, c.AuthMethod)})
		return
	}
	secret, err := h.Clients.RotateSecret(r.Context(), id)
	if err != nil {
		h.clientFailed(w, r, "rotate the secret", id, err)
		return
	}
	h.audit(r, a, "rotate-secret", id)
	writeJSON(w, http.StatusOK, map[string]string{"client_id": id, "client_secret": secret})
}

// clientFailed answers an error from the store or oidc.Clients: 404 for an
// unknown client, 400 listing a spec's problems, else 500.
func (h *Handler) clientFailed(w http.ResponseWriter, r *http.Request, what, id string, err error) {
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, &apiError{Code: "not_found",
			Description: fmt.Sprintf("path: no client with ID %q", clip(id))})
		return
	}
	if se, ok := errors.AsType[oidc.SpecError](err); ok {
		writeError(w, http.StatusBadRequest, &apiError{Code: "invalid_client_metadata",
			Description: fmt.Sprintf("body: the client is invalid (%s, listed in fields)", problems(len(se))),
			Fields:      []string(se)})
		return
	}
	h.storeFailed(w, r, what, id, err)
}

func problems(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}
