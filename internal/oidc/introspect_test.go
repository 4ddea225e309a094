package oidc_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kaiin-project/kaiin/internal/app/apptest"
)

// introspectRaw posts token to the introspection endpoint as the service
// client and returns the raw answer.
func (f *fixture) introspectRaw(token string) (int, []byte) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.node.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.service.ID, f.ssecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (f *fixture) ccToken() string {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.node.URL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"members:read"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.service.ID, f.ssecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		f.t.Fatalf("token: %d %v %v", resp.StatusCode, out, err)
	}
	if out["token_type"] != "Bearer" || out["scope"] != "members:read" || out["expires_in"].(float64) <= 0 {
		f.t.Fatalf("token answer %v", out)
	}
	return out["access_token"].(string)
}

// The introspection answer of an active token has every RFC 7662 member,
// and is the same whether the token was verified in full or came from the
// cache of verified tokens.
func TestIntrospectionAnswer(t *testing.T) {
	f := setup(t, apptest.SQLite)
	tok := f.ccToken()
	st, first := f.introspectRaw(tok)
	if st != 200 {
		t.Fatalf("introspection: %d %s", st, first)
	}
	var out map[string]any
	if err := json.Unmarshal(first, &out); err != nil {
		t.Fatal(err)
	}
	now := float64(time.Now().Unix())
	if out["active"] != true || out["scope"] != "members:read" || out["client_id"] != f.service.ID || out["sub"] != f.service.ID ||
		out["token_type"] != "Bearer" || out["iss"] != f.node.URL || !strings.HasPrefix(out["jti"].(string), "at_") {
		t.Fatalf("introspection %s", first)
	}
	if aud, _ := out["aud"].([]any); len(aud) != 1 || aud[0] != f.service.ID {
		t.Fatalf("aud %v", out["aud"])
	}
	for _, c := range []string{"iat", "nbf"} {
		if v, _ := out[c].(float64); v < now-60 || v > now+5 {
			t.Fatalf("%s %v, now %v", c, out[c], now)
		}
	}
	if v, _ := out["exp"].(float64); v <= now {
		t.Fatalf("exp %v, now %v", out["exp"], now)
	}
	for range 3 {
		if _, again := f.introspectRaw(tok); string(again) != string(first) {
			t.Fatalf("second answer %s, first %s", again, first)
		}
	}
	// A token one byte off is not the cached one, and does not verify.
	bad := tok[:len(tok)-2] + map[bool]string{true: "A", false: "B"}[tok[len(tok)-2] != 'A'] + tok[len(tok)-1:]
	if _, b := f.introspectRaw(bad); string(b) != "{\"active\":false}\n" {
		t.Fatalf("tampered token: %s", b)
	}
}

// Only access tokens that Kaiin signed, for this issuer, within their
// times, are active.
func TestIntrospectionRefusals(t *testing.T) {
	f := setup(t, apptest.SQLite)
	ctx := t.Context()
	key, err := f.node.App.Keys.Current(ctx, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(claims map[string]any, kid string) string {
		t.Helper()
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: &jose.JSONWebKey{Key: key.Key(), KeyID: kid}},
			(&jose.SignerOptions{}).WithType("at+jwt"))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(claims)
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}
	now := time.Now().Unix()
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{"iss": f.node.URL, "sub": f.service.ID, "aud": f.service.ID, "exp": now + 300, "iat": now, "nbf": now,
			"jti": "at_test" + base64.RawURLEncoding.EncodeToString([]byte(t.Name())), "client_id": f.service.ID, "scope": "members:read"}
		if change != nil {
			change(c)
		}
		return c
	}
	active := func(tok string) bool {
		t.Helper()
		st, b := f.introspectRaw(tok)
		var out map[string]any
		if st != 200 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("introspection: %d %s", st, b)
		}
		return out["active"] == true
	}
	if !active(sign(claims(nil), key.ID())) {
		t.Fatal("a well-formed token signed by the current key is not active")
	}
	for name, tok := range map[string]string{
		"expired":        sign(claims(func(c map[string]any) { c["exp"] = now - 60 }), key.ID()),
		"not yet valid":  sign(claims(func(c map[string]any) { c["nbf"] = now + 60 }), key.ID()),
		"no expiry":      sign(claims(func(c map[string]any) { delete(c, "exp") }), key.ID()),
		"other issuer":   sign(claims(func(c map[string]any) { c["iss"] = "https://elsewhere.example" }), key.ID()),
		"no jti":         sign(claims(func(c map[string]any) { delete(c, "jti") }), key.ID()),
		"no client_id":   sign(claims(func(c map[string]any) { delete(c, "client_id") }), key.ID()),
		"unknown key id": sign(claims(nil), "no-such-key"),
		"no key id":      sign(claims(nil), ""),
		"alg none":       "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+f.node.URL+`"}`)) + ".",
		"not a token":    "not-a-token",
		"too long":       strings.Repeat("a", 9000),
		"empty":          "",
		"signature of another token": func() string {
			a, b := sign(claims(nil), key.ID()), sign(claims(func(c map[string]any) { c["sub"] = "someone-else" }), key.ID())
			return a[:strings.LastIndexByte(a, '.')] + b[strings.LastIndexByte(b, '.'):]
		}(),
	} {
		if active(tok) {
			t.Errorf("%s: active", name)
		}
	}
}
