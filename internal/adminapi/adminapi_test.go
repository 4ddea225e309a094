package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/kaiin-project/kaiin/internal/adminapi"
	"github.com/kaiin-project/kaiin/internal/app/apptest"
	"github.com/kaiin-project/kaiin/internal/oidc"
	"github.com/kaiin-project/kaiin/internal/store"
)

const base = "/admin/api/v1/clients"

// env is a running node, the admin API served beside it, and an operator's
// service client with a kaiin:admin token.
type env struct {
	t           *testing.T
	node        *apptest.Node
	api         string
	admin       store.Client
	adminSecret string
	token       string
	logs        *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func setup(t *testing.T) *env {
	return setupWith(t, nil)
}

// setupWith serves the API with verifier (nil: the node's provider).
func setupWith(t *testing.T, verifier adminapi.Verifier) *env {
	n := apptest.Start(t, apptest.Config(t, apptest.SQLite), nil)
	e := &env{t: t, node: n, logs: &syncBuffer{}}
	if verifier == nil {
		verifier = n.App.OIDC
	}
	h := &adminapi.Handler{Verifier: verifier, Clients: n.App.Clients, Store: n.App.Data.Store,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	mux := http.NewServeMux()
	// The app's mux has a catch-all page; the API must still answer its
	// own wrong methods and paths in JSON.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "<html>not found</html>", 404) })
	h.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.api = srv.URL

	var err error
	e.admin, e.adminSecret, err = n.App.Clients.Create(t.Context(), oidc.ClientSpec{Name: "ops",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{adminapi.Scope}})
	if err != nil {
		t.Fatal(err)
	}
	e.token = e.mustToken(e.admin.ID, e.adminSecret, adminapi.Scope)
	return e
}

func (e *env) tokenFor(id, secret string, scopes ...string) (*oauth2.Token, error) {
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.node.URL + "/oauth/token", Scopes: scopes}
	return cc.Token(e.t.Context())
}

func (e *env) mustToken(id, secret string, scopes ...string) string {
	e.t.Helper()
	tok, err := e.tokenFor(id, secret, scopes...)
	if err != nil {
		e.t.Fatalf("client_credentials token for %s: %v", id, err)
	}
	return tok.AccessToken
}

type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// field returns a string field of the body, or of its "client" object
// ("client.name").
func (r response) str(path string) string {
	var v any = r.body
	for p := range strings.SplitSeq(path, ".") {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// call makes an API request with token (none when empty) and a JSON body
// (none when empty).
func (e *env) call(method, path, token, body string) response {
	e.t.Helper()
	return e.callCT(method, path, token, body, "application/json")
}

func (e *env) callCT(method, path, token, body, contentType string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.api+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		e.t.Errorf("%s %s: Cache-Control %q, want no-store", method, path, cc)
	}
	if resp.StatusCode != http.StatusNoContent {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			e.t.Errorf("%s %s: Content-Type %q\n%s", method, path, ct, raw)
		}
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Errorf("%s %s: body is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	if resp.StatusCode >= 500 {
		e.t.Errorf("%s %s: %d\n%s", method, path, resp.StatusCode, raw)
	}
	if resp.StatusCode >= 400 && (r.str("error") == "" || r.str("error_description") == "") {
		e.t.Errorf("%s %s: error without error/error_description: %s", method, path, raw)
	}
	return r
}

func (e *env) want(r response, status int) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d\n%s", r.status, status, r.raw)
	}
}

func fieldsOf(r response) []string {
	var out []string
	fs, _ := r.body["fields"].([]any)
	for _, f := range fs {
		s, _ := f.(string)
		out = append(out, s)
	}
	return out
}

func TestCRUDRoundTrip(t *testing.T) {
	e := setup(t)

	r := e.call("POST", base, e.token, `{"name":"Shop","redirect_uris":["https://shop.example.com/cb"],
		"post_logout_redirect_uris":["https://shop.example.com/bye"],"scopes":["openid","email"],"skip_consent":true}`)
	e.want(r, http.StatusCreated)
	id := r.str("client_id")
	if id == "" || r.str("client_secret") == "" {
		t.Fatalf("create answered no client_id or secret: %s", r.raw)
	}
	if loc := r.header.Get("Location"); loc != base+"/"+id {
		t.Errorf("Location %q", loc)
	}
	if r.str("client.name") != "Shop" || r.str("client.token_endpoint_auth_method") != "client_secret_basic" ||
		r.str("client.application_type") != "web" || r.str("created_at") == "" {
		t.Errorf("created client: %s", r.raw)
	}

	// Read it back: the same spec, no secret.
	g := e.call("GET", base+"/"+id, e.token, "")
	e.want(g, http.StatusOK)
	if _, has := g.body["client_secret"]; has {
		t.Fatalf("GET shows the secret: %s", g.raw)
	}
	if !jsonEqual(t, g.body["client"], r.body["client"]) {
		t.Fatalf("GET client differs from created:\n%s\n%s", g.raw, r.raw)
	}

	// The list has both clients, and no secrets.
	l := e.call("GET", base, e.token, "")
	e.want(l, http.StatusOK)
	var ids []string
	list, _ := l.body["clients"].([]any)
	for _, c := range list {
		m := c.(map[string]any)
		ids = append(ids, m["client_id"].(string))
		if _, has := m["client_secret"]; has {
			t.Fatalf("list shows a secret: %s", l.raw)
		}
		if _, has := m["client"].(map[string]any); !has {
			t.Fatalf("list entry without client: %s", l.raw)
		}
	}
	if !slices.Contains(ids, id) || !slices.Contains(ids, e.admin.ID) || len(ids) != 2 {
		t.Fatalf("list ids %v", ids)
	}

	// PATCH changes only the fields given.
	p := e.call("PATCH", base+"/"+id, e.token, `{"name":"Shop 2","scopes":["openid","profile"]}`)
	e.want(p, http.StatusOK)
	want := g.body["client"].(map[string]any)
	want["name"] = "Shop 2"
	want["scopes"] = []any{"openid", "profile"}
	if !jsonEqual(t, p.body["client"], want) {
		t.Fatalf("after PATCH:\n%s\nwant client %v", p.raw, want)
	}
	if p.str("updated_at") == g.str("updated_at") || p.str("created_at") != g.str("created_at") {
		t.Errorf("timestamps after PATCH: %s (before %s)", p.raw, g.raw)
	}
	stored, err := e.node.App.Data.Store.GetClient(t.Context(), id)
	if err != nil || stored.Name != "Shop 2" || !stored.SkipConsent || !slices.Equal(stored.RedirectURIs, []string{"https://shop.example.com/cb"}) ||
		!slices.Equal(stored.PostLogoutRedirectURIs, []string{"https://shop.example.com/bye"}) {
		t.Fatalf("stored after PATCH: %+v %v", stored, err)
	}
	// null puts a field back to its default (merge patch).
	p = e.callCT("PATCH", base+"/"+id, e.token, `{"scopes":null,"skip_consent":null}`, "application/merge-patch+json")
	e.want(p, http.StatusOK)
	if !jsonEqual(t, p.body["client"].(map[string]any)["scopes"], []any{"openid", "profile", "email", "offline_access"}) ||
		p.body["client"].(map[string]any)["skip_consent"] != nil || p.str("client.name") != "Shop 2" {
		t.Fatalf("after PATCH with nulls: %s", p.raw)
	}
	// An empty patch changes nothing.
	if p2 := e.call("PATCH", base+"/"+id, e.token, `{}`); p2.status != 200 || p2.str("updated_at") != p.str("updated_at") {
		t.Fatalf("empty PATCH: %d %s", p2.status, p2.raw)
	}

	// A public client gets no secret at all.
	pub := e.call("POST", base, e.token, `{"name":"App","public":true,"application_type":"native","redirect_uris":["com.example.app:/cb"]}`)
	e.want(pub, http.StatusCreated)
	if _, has := pub.body["client_secret"]; has || pub.str("client.token_endpoint_auth_method") != "none" {
		t.Fatalf("public client: %s", pub.raw)
	}

	// Delete, then it is gone.
	d := e.call("DELETE", base+"/"+id, e.token, "")
	e.want(d, http.StatusNoContent)
	e.want(e.call("GET", base+"/"+id, e.token, ""), http.StatusNotFound)
	e.want(e.call("DELETE", base+"/"+id, e.token, ""), http.StatusNotFound)
	if _, err := e.node.App.Data.Store.GetClient(t.Context(), id); err == nil {
		t.Fatal("deleted client still stored")
	}

	// Every change left an audit line naming who, what and which client.
	for _, want := range []struct{ action, id string }{{"create", id}, {"update", id}, {"create", pub.str("client_id")}, {"delete", id}} {
		if !hasAudit(e.logs.String(), e.admin.ID, want.action, want.id) {
			t.Errorf("no audit line for %s %s in:\n%s", want.action, want.id, e.logs)
		}
	}
}

func hasAudit(logs, actor, action, clientID string) bool {
	for line := range strings.SplitSeq(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["msg"] == "admin audit" && m["level"] == "INFO" && m["actor"] == actor && m["action"] == action && m["client_id"] == clientID {
			return true
		}
	}
	return false
}

func jsonEqual(t *testing.T, a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	var va, vb any
	json.Unmarshal(ja, &va)
	json.Unmarshal(jb, &vb)
	ja, _ = json.Marshal(va)
	jb, _ = json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

func TestSecretShownOnceAndWorks(t *testing.T) {
	e := setup(t)
	r := e.call("POST", base, e.token, `{"name":"Batch","grant_types":["client_credentials"],"scopes":["members:read"]}`)
	e.want(r, http.StatusCreated)
	id, secret := r.str("client_id"), r.str("client_secret")
	if _, err := e.tokenFor(id, secret, "members:read"); err != nil {
		t.Fatalf("token with the secret the API gave: %v", err)
	}
	g := e.call("GET", base+"/"+id, e.token, "")
	if _, has := g.body["client_secret"]; has || strings.Contains(g.raw, secret) {
		t.Fatalf("GET shows the secret: %s", g.raw)
	}

	rot := e.call("POST", base+"/"+id+"/rotate-secret", e.token, "")
	e.want(rot, http.StatusOK)
	fresh := rot.str("client_secret")
	if rot.str("client_id") != id || fresh == "" || fresh == secret {
		t.Fatalf("rotate-secret: %s", rot.raw)
	}
	_, err := e.tokenFor(id, secret, "members:read")
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.ErrorCode != "invalid_client" {
		t.Fatalf("old secret after rotation: %v", err)
	}
	if _, err := e.tokenFor(id, fresh, "members:read"); err != nil {
		t.Fatalf("new secret after rotation: %v", err)
	}

	// A public client has no secret to rotate.
	pub := e.call("POST", base, e.token, `{"name":"SPA","public":true,"redirect_uris":["https://spa.example.com/cb"]}`)
	e.want(pub, http.StatusCreated)
	c := e.call("POST", base+"/"+pub.str("client_id")+"/rotate-secret", e.token, "")
	e.want(c, http.StatusConflict)
	if !strings.Contains(c.str("error_description"), "no secret") {
		t.Errorf("rotate on a public client: %s", c.raw)
	}

	// Secrets and tokens never reach the log; the rotation is audited.
	logs := e.logs.String()
	for _, s := range []string{secret, fresh, e.adminSecret, e.token} {
		if strings.Contains(logs, s) {
			t.Fatalf("a secret or token is in the log:\n%s", logs)
		}
	}
	if !hasAudit(logs, e.admin.ID, "rotate-secret", id) {
		t.Errorf("no audit line for the rotation:\n%s", logs)
	}
}

func TestValidationListsEveryField(t *testing.T) {
	e := setup(t)
	r := e.call("POST", base, e.token, `{"name":"","grant_types":["password"],"redirect_uris":["http://shop.example.com/cb#x"],
		"application_type":"desktop","id_token_signed_response_alg":"HS256","token_endpoint_auth_method":"magic","scopes":["bad scope"]}`)
	e.want(r, http.StatusBadRequest)
	if r.str("error") != "invalid_client_metadata" {
		t.Errorf("error %q", r.str("error"))
	}
	fields := fieldsOf(r)
	for _, prefix := range []string{"name:", "grant_types:", "redirect_uris:", "application_type:", "id_token_signed_response_alg:",
		"token_endpoint_auth_method:", "scopes:"} {
		if !slices.ContainsFunc(fields, func(f string) bool { return strings.HasPrefix(f, prefix) }) {
			t.Errorf("no %s problem in %q", prefix, fields)
		}
	}
	if l := e.call("GET", base, e.token, ""); len(l.body["clients"].([]any)) != 1 {
		t.Fatalf("an invalid client was stored: %s", l.raw)
	}

	// PATCH is checked the same way, and a refused one changes nothing.
	c := e.call("POST", base, e.token, `{"name":"Shop","redirect_uris":["https://shop.example.com/cb"]}`)
	e.want(c, http.StatusCreated)
	id := c.str("client_id")
	p := e.call("PATCH", base+"/"+id, e.token, `{"name":"  ","redirect_uris":["ftp://x"]}`)
	e.want(p, http.StatusBadRequest)
	if f := fieldsOf(p); len(f) != 2 || !strings.HasPrefix(f[0], "name:") || !strings.HasPrefix(f[1], "redirect_uris:") {
		t.Fatalf("PATCH fields %q", f)
	}
	if g := e.call("GET", base+"/"+id, e.token, ""); g.str("client.name") != "Shop" || g.str("updated_at") != c.str("updated_at") {
		t.Fatalf("refused PATCH changed the client: %s", g.raw)
	}
	// Turning a confidential client public is refused too.
	p = e.call("PATCH", base+"/"+id, e.token, `{"public":true}`)
	e.want(p, http.StatusBadRequest)
	if len(fieldsOf(p)) == 0 {
		t.Fatalf("PATCH public: %s", p.raw)
	}
}

func TestBadBodies(t *testing.T) {
	e := setup(t)
	c := e.call("POST", base, e.token, `{"name":"Shop","redirect_uris":["https://shop.example.com/cb"]}`)
	e.want(c, http.StatusCreated)
	one := base + "/" + c.str("client_id")

	for _, tc := range []struct {
		name, method, path, ct, body string
		status                       int
		says                         []string // in error_description
	}{
		{"unknown field", "POST", base, "application/json", `{"name":"x","colour":"red"}`, 400, []string{`"colour"`, "known fields: name"}},
		{"unknown field in patch", "PATCH", one, "application/json", `{"secret":"x"}`, 400, []string{`"secret"`}},
		{"field in the wrong case", "POST", base, "application/json", `{"Name":"x"}`, 400, []string{`"Name"`}},
		{"syntax error", "POST", base, "application/json", `{"name": "x",}`, 400, []string{"invalid JSON at byte 14"}},
		{"truncated", "POST", base, "application/json", `{"name": "x"`, 400, []string{"ends early, at byte 12"}},
		{"wrong type", "POST", base, "application/json", `{"name":"x","scopes":"openid"}`, 400, []string{"scopes: expected an array of strings, got JSON string"}},
		{"wrong type in patch", "PATCH", one, "application/json", `{"skip_consent":"yes"}`, 400, []string{"skip_consent: expected true or false"}},
		{"not an object", "POST", base, "application/json", `["name"]`, 400, []string{"must be a JSON object, not array"}},
		{"null", "POST", base, "application/json", `null`, 400, []string{"must be a JSON object, not null"}},
		{"two objects", "POST", base, "application/json", `{"name":"x"} {"name":"y"}`, 400, []string{"after the JSON object, at byte 12"}},
		{"empty", "POST", base, "application/json", " ", 400, []string{"body: empty"}},
		{"form", "POST", base, "application/x-www-form-urlencoded", "name=x", 415, []string{"Content-Type header"}},
		{"merge patch type on create", "POST", base, "application/merge-patch+json", `{"name":"x"}`, 415, []string{"application/json"}},
		{"oversize", "POST", base, "application/json", `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, 413, []string{"larger than 65536 bytes"}},
		{"oversize patch", "PATCH", one, "application/json", `{"redirect_uris":["` + strings.Repeat("a", 70<<10) + `"]}`, 413, []string{"larger than"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			r := e.callCT(tc.method, tc.path, e.token, tc.body, tc.ct)
			e.want(r, tc.status)
			for _, s := range tc.says {
				if !strings.Contains(r.str("error_description"), s) {
					t.Errorf("error_description %q does not say %q", r.str("error_description"), s)
				}
			}
		})
	}
	e.t = t
	if l := e.call("GET", base, e.token, ""); len(l.body["clients"].([]any)) != 2 {
		t.Fatalf("a bad request stored a client: %s", l.raw)
	}
	if g := e.call("GET", one, e.token, ""); g.str("updated_at") != c.str("updated_at") {
		t.Fatalf("a bad PATCH changed the client: %s", g.raw)
	}
	if u := e.call("POST", base, e.token, `{"name":"x","colour":"red","size":1}`); !slices.Equal(fieldsOf(u), []string{"colour: unknown field", "size: unknown field"}) {
		t.Fatalf("unknown fields listed as %q", fieldsOf(u))
	}
}

func TestAuthentication(t *testing.T) {
	e := setup(t)

	r := e.call("GET", base, "", "")
	e.want(r, http.StatusUnauthorized)
	if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") || strings.Contains(h, "error=") {
		t.Errorf("no token: WWW-Authenticate %q", h)
	}
	for _, bad := range []string{"not-a-token", e.token + "x"} {
		r = e.call("POST", base, bad, `{"name":"x"}`)
		e.want(r, http.StatusUnauthorized)
		if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
			t.Errorf("bad token: WWW-Authenticate %q", h)
		}
	}
	// Another scheme is not a bearer token.
	req, _ := http.NewRequest("GET", e.api+base, nil)
	req.SetBasicAuth(e.admin.ID, e.adminSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("basic auth: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// The scheme is case-insensitive (RFC 7235).
	req, _ = http.NewRequest("GET", e.api+base, nil)
	req.Header.Set("Authorization", "bearer "+e.token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("lower-case bearer: %v %v", resp.StatusCode, err)
	}

	// A valid token without kaiin:admin is forbidden.
	svc, ssecret, err := e.node.App.Clients.Create(t.Context(), oidc.ClientSpec{Name: "Batch",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"members:read"}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.call("GET", base, e.mustToken(svc.ID, ssecret, "members:read"), "")
	e.want(r, http.StatusForbidden)
	if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, `scope="kaiin:admin"`) {
		t.Errorf("no scope: WWW-Authenticate %q", h)
	}
	// So is an admin client's token asked without the scope.
	e.want(e.call("GET", base, e.mustToken(e.admin.ID, e.adminSecret), ""), http.StatusForbidden)

	// A revoked token is refused.
	tok := e.mustToken(e.admin.ID, e.adminSecret, adminapi.Scope)
	e.want(e.call("GET", base, tok, ""), http.StatusOK)
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, _ = http.NewRequest("POST", e.node.URL+"/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.admin.ID, e.adminSecret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	r = e.call("GET", base, tok, "")
	e.want(r, http.StatusUnauthorized)
	if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
		t.Errorf("revoked: WWW-Authenticate %q", h)
	}
	e.want(e.call("GET", base, e.token, ""), http.StatusOK) // other tokens still work

	// A second operator client: its tokens stop working when it loses the
	// scope, and when it is deleted.
	ops2, secret2, err := e.node.App.Clients.Create(t.Context(), oidc.ClientSpec{Name: "ops2",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{adminapi.Scope, "members:read"}})
	if err != nil {
		t.Fatal(err)
	}
	tok2 := e.mustToken(ops2.ID, secret2, adminapi.Scope)
	e.want(e.call("GET", base, tok2, ""), http.StatusOK)
	e.want(e.call("PATCH", base+"/"+ops2.ID, e.token, `{"scopes":["members:read"]}`), http.StatusOK)
	e.want(e.call("GET", base, tok2, ""), http.StatusForbidden)
	e.want(e.call("DELETE", base+"/"+ops2.ID, e.token, ""), http.StatusNoContent)
	e.want(e.call("GET", base, tok2, ""), http.StatusUnauthorized)

	if strings.Contains(e.logs.String(), e.token) || strings.Contains(e.logs.String(), tok2) {
		t.Fatalf("a token is in the log:\n%s", e.logs)
	}
}

// memberVerifier answers every token with claims of a token issued to a
// member through a client, which the API must refuse. (Getting a real one
// needs a browser sign-in; internal/oidc's tests cover that flow.)
type memberVerifier struct{ clientID string }

func (v memberVerifier) VerifyAccessToken(context.Context, string) (*zoidc.AccessTokenClaims, bool) {
	c := zoidc.NewAccessTokenClaims("http://kaiin.test", "member-1", nil, time.Now().Add(time.Hour), "jti", v.clientID, 0)
	c.Scopes = []string{"openid", adminapi.Scope}
	return c, true
}

func TestMemberTokenRefused(t *testing.T) {
	v := &memberVerifier{}
	e := setupWith(t, v)
	v.clientID = e.admin.ID
	r := e.call("GET", base, "anything", "")
	e.want(r, http.StatusForbidden)
	if !strings.Contains(r.str("error_description"), "service tokens") {
		t.Errorf("member token: %s", r.raw)
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct{ method, path, body string }{
		{"GET", base + "/nope", ""},
		{"PATCH", base + "/nope", `{"name":"x"}`},
		{"DELETE", base + "/nope", ""},
		{"POST", base + "/nope/rotate-secret", ""},
	} {
		r := e.call(tc.method, tc.path, e.token, tc.body)
		e.want(r, http.StatusNotFound)
		if r.str("error") != "not_found" || !strings.Contains(r.str("error_description"), `"nope"`) {
			t.Errorf("%s %s: %s", tc.method, tc.path, r.raw)
		}
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", base, "GET, HEAD, POST"},
		{"DELETE", base, "GET, HEAD, POST"},
		{"POST", base + "/x", "GET, HEAD, PATCH, DELETE"},
		{"GET", base + "/x/rotate-secret", "POST"},
	} {
		r := e.call(tc.method, tc.path, e.token, "")
		e.want(r, http.StatusMethodNotAllowed)
		if r.header.Get("Allow") != tc.allow || r.str("error") != "method_not_allowed" {
			t.Errorf("%s %s: Allow %q, %s", tc.method, tc.path, r.header.Get("Allow"), r.raw)
		}
	}
	r := e.call("GET", "/admin/api/v1/users", e.token, "")
	e.want(r, http.StatusNotFound)
}
