package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/kaiin-project/kaiin/internal/app/apptest"
	"github.com/kaiin-project/kaiin/internal/gateway"
	"github.com/kaiin-project/kaiin/internal/oidc"
	"github.com/kaiin-project/kaiin/internal/ratelimit"
)

// TestWithKaiin puts the gateway in front of an upstream with a real Kaiin
// node as the issuer: tokens from its token endpoint, keys from its /keys,
// revocation through its /revoke, and introspection with the gateway's own
// client credentials.
func TestWithKaiin(t *testing.T) {
	for _, be := range apptest.Backends {
		t.Run(string(be), func(t *testing.T) {
			n := apptest.Start(t, apptest.Config(t, be), nil)
			ctx := t.Context()
			svc, svcSecret, err := n.App.Clients.Create(ctx, oidc.ClientSpec{Name: "Batch",
				GrantTypes: []string{oidc.GrantClientCredentials}, Scopes: []string{"members:read"}})
			if err != nil {
				t.Fatal(err)
			}
			gwClient, gwSecret, err := n.App.Clients.Create(ctx, oidc.ClientSpec{Name: "Gateway",
				GrantTypes: []string{oidc.GrantClientCredentials}, Scopes: []string{"members:read"}})
			if err != nil {
				t.Fatal(err)
			}
			cc := clientcredentials.Config{ClientID: svc.ID, ClientSecret: svcSecret, TokenURL: n.URL + "/oauth/token",
				Scopes: []string{"members:read"}}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("token: %v", err)
			}

			var seen http.Header
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = r.Header.Clone()
				io.WriteString(w, "members")
			}))
			defer up.Close()

			reg := prometheus.NewRegistry()
			revs := gateway.StateRevocations{State: n.App.Data.State}
			jv, err := gateway.NewJWTVerifier(gateway.JWTVerifierOptions{Issuer: n.URL, Revocations: revs, Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			if err := jv.Refresh(ctx); err != nil {
				t.Fatalf("fetch Kaiin's keys: %v", err)
			}
			iv, err := gateway.NewIntrospectionVerifier(gateway.IntrospectionOptions{URL: n.URL + "/oauth/introspect",
				ClientID: gwClient.ID, ClientSecret: gwSecret, Issuer: n.URL, Revocations: revs, Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			gw, err := gateway.New(gateway.Options{
				Routes: []gateway.Route{{Name: "members", PathPrefix: "/members", Upstreams: []string{up.URL},
					RequiredScopes: []string{"members:read"}, AllowedClients: []string{svc.ID},
					RateLimit: ratelimit.Rate{N: 1000, Per: time.Minute}}},
				Verifier: gateway.ByFormat{JWT: jv}, Limiter: ratelimit.New(n.App.Data.State, []byte("k")), Registry: reg,
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(gw)
			defer srv.Close()
			call := func() int {
				req, _ := http.NewRequest("GET", srv.URL+"/members/1", nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				req.Header.Set("X-Kaiin-Subject", "someone-else")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if st := call(); st != 200 {
				t.Fatalf("through the gateway: %d", st)
			}
			if seen.Get("X-Kaiin-Client") != svc.ID || seen.Get("X-Kaiin-Subject") != svc.ID || seen.Get("X-Kaiin-Scopes") != "members:read" {
				t.Fatalf("identity headers: %v", seen)
			}
			call()
			if hits := counterTotal(t, reg, "kaiin_gateway_token_cache_hits_total"); hits < 1 {
				t.Errorf("token cache hits = %v", hits)
			}

			// Introspection with the gateway's own credentials, cached.
			claims, err := iv.Verify(ctx, tok.AccessToken)
			if err != nil || claims.ClientID != svc.ID || !claims.HasScope("members:read") || claims.JWTID == "" {
				t.Fatalf("introspection: %+v %v", claims, err)
			}
			if _, err := iv.Verify(ctx, tok.AccessToken); err != nil {
				t.Fatal(err)
			}
			if _, err := iv.Verify(ctx, "not-a-token"); err == nil {
				t.Fatal("introspection accepted garbage")
			}

			// Revoked at Kaiin: refused by the gateway within a second.
			form := url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}
			req, _ := http.NewRequest("POST", n.URL+"/revoke", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(svc.ID, svcSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("revoke: %v %v", resp, err)
			}
			resp.Body.Close()
			revokedAt := time.Now()
			for call() != 401 {
				if time.Since(revokedAt) > time.Second {
					t.Fatal("revoked token still accepted by the gateway after 1s")
				}
				time.Sleep(20 * time.Millisecond)
			}
			for {
				if _, err := iv.Verify(ctx, tok.AccessToken); err != nil {
					break
				}
				if time.Since(revokedAt) > time.Second {
					t.Fatal("revoked token still active in the introspection cache after 1s")
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("revocation enforced after %v", time.Since(revokedAt).Round(time.Millisecond))
		})
	}
}

// counterTotal sums a counter's series in reg.
func counterTotal(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}
