package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/kaiin-project/kaiin/internal/oidc"
)

// MaxBody bounds request bodies; larger ones are answered 413.
const MaxBody = 64 << 10

// apiError is the body of every error response.
type apiError struct {
	Code        string   `json:"error"`
	Description string   `json:"error_description"`
	Fields      []string `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, e *apiError) {
	writeJSON(w, status, e)
}

// specFields maps each JSON key of oidc.ClientSpec to its field index, so
// that bodies are checked against exactly the keys the spec has (the
// decoder alone would accept "Name" for "name").
var specFields = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[oidc.ClientSpec]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" && t.Field(i).IsExported() {
			m[name] = i
		}
	}
	return m
}()

// decodeSpec reads a JSON object of ClientSpec fields into spec and
// returns the keys present in it. On failure it has answered: 415 for a
// body that is not JSON, 413 for one too large, 400 naming what is wrong
// and where.
func decodeSpec(w http.ResponseWriter, r *http.Request, spec *oidc.ClientSpec, mediaTypes ...string) (present []string, ok bool) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(mediaTypes, mt) {
		writeError(w, http.StatusUnsupportedMediaType, &apiError{Code: "invalid_request",
			Description: fmt.Sprintf("Content-Type header: %q is not accepted; send %s", clip(ct), strings.Join(mediaTypes, " or "))})
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			writeError(w, http.StatusRequestEntityTooLarge, &apiError{Code: "invalid_request",
				Description: fmt.Sprintf("body: larger than %d bytes", MaxBody)})
			return nil, false
		}
		writeError(w, http.StatusBadRequest, &apiError{Code: "invalid_request", Description: "body: could not be read"})
		return nil, false
	}
	bad := func(format string, args ...any) ([]string, bool) {
		writeError(w, http.StatusBadRequest, &apiError{Code: "invalid_request", Description: fmt.Sprintf(format, args...)})
		return nil, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return bad("body: empty; send a JSON object of client fields")
	}

	// First the shape: one JSON object, and only keys the spec has.
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return bad("body: %s", describeJSONError(err, len(body)))
	}
	if raw == nil {
		return bad("body: must be a JSON object, not null")
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return bad("body: unexpected data after the JSON object, at byte %d", end)
	}
	var unknown []string
	for k := range raw {
		if _, known := specFields[k]; !known {
			unknown = append(unknown, k)
		}
		present = append(present, k)
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		fields := make([]string, len(unknown))
		quoted := make([]string, len(unknown))
		for i, k := range unknown {
			k = clip(k)
			fields[i] = k + ": unknown field"
			quoted[i] = fmt.Sprintf("%q", k)
		}
		writeError(w, http.StatusBadRequest, &apiError{Code: "invalid_request",
			Description: "body: unknown field " + strings.Join(quoted, ", ") + "; known fields: " + strings.Join(knownFields(), ", "),
			Fields:      fields})
		return nil, false
	}

	// Then the values.
	dec = json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(spec); err != nil {
		return bad("body: %s", describeJSONError(err, len(body)))
	}
	// JSON null for jwks means none (the decoder keeps it as "null").
	if string(bytes.TrimSpace(spec.JWKS)) == "null" {
		spec.JWKS = nil
	}
	slices.Sort(present)
	return present, true
}

func knownFields() []string {
	out := make([]string, 0, len(specFields))
	for k := range specFields {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int { return specFields[a] - specFields[b] })
	return out
}

// describeJSONError says what is wrong with a body and where.
func describeJSONError(err error, size int) string {
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Error())
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if e.Field == "" {
			return fmt.Sprintf("must be a JSON object, not %s", e.Value)
		}
		return fmt.Sprintf("%s: expected %s, got JSON %s (at byte %d)", e.Field, jsonKind(e.Type), e.Value, e.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("the JSON ends early, at byte %d", size)
	}
	return "invalid JSON: " + err.Error()
}

// jsonKind names a Go type as the JSON it is read from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}
