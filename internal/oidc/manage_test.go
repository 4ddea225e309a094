package oidc

import (
	"strings"
	"testing"
)

func TestCheckRedirectURI(t *testing.T) {
	cases := []struct {
		uri, app string
		ok       bool
	}{
		{"https://shop.example.com/cb", "web", true},
		{"https://shop.example.com/cb?x=1", "web", true},
		{"http://127.0.0.1:8000/cb", "web", true},
		{"http://localhost/cb", "web", true},
		{"http://[::1]:9/cb", "native", true},
		{"com.example.app:/cb", "native", true},
		{"http://shop.example.com/cb", "web", false},
		{"https://shop.example.com/cb#frag", "web", false},
		{"/relative", "web", false},
		{"com.example.app:/cb", "web", false},
		{"myapp:/cb", "native", false},
		{"https:///nohost", "web", false},
		{"javascript:alert(1)", "web", false},
	}
	for _, c := range cases {
		if got := checkRedirectURI(c.uri, c.app) == ""; got != c.ok {
			t.Errorf("checkRedirectURI(%q, %s) ok=%v, want %v", c.uri, c.app, got, c.ok)
		}
	}
}

func TestSpecDefaultsAndErrors(t *testing.T) {
	s := ClientSpec{Name: "Shop", RedirectURIs: []string{"https://shop.example.com/cb"}}
	if err := s.normalize(); err != nil {
		t.Fatal(err)
	}
	if s.AuthMethod != "client_secret_basic" || s.SigningAlg != "ES256" || s.ApplicationType != "web" ||
		strings.Join(s.GrantTypes, " ") != "authorization_code refresh_token" || strings.Join(s.Scopes, " ") != "openid profile email offline_access" {
		t.Fatalf("defaults: %+v", s)
	}
	bad := ClientSpec{Public: true, GrantTypes: []string{"client_credentials", "password"}, SigningAlg: "HS256", AuthMethod: "private_key_jwt", Scopes: []string{"a b"}}
	err := bad.normalize()
	se, ok := err.(SpecError)
	if !ok || len(se) < 6 {
		t.Fatalf("want every problem listed, got %v", err)
	}
	for _, want := range []string{"name:", "password", "client_credentials needs a confidential client", "HS256", "a public client uses none", `"a b"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}
}
