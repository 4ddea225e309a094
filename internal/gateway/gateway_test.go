package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/state"
)

func TestValidateRoutesReportsEveryProblem(t *testing.T) {
	err := ValidateRoutes([]Route{
		{Name: "ok", PathPrefix: "/a", Upstreams: []string{"http://127.0.0.1:1"}},
		{Name: "ok", PathPrefix: "/a", Upstreams: []string{"http://127.0.0.1:1"}},
		{Name: "Bad Name", Host: "API.example.com:443", PathPrefix: "a/../b", Upstreams: []string{"ftp://x", "http://h/p?q=1"}},
		{Name: "anon", PathPrefix: "/b", Upstreams: []string{"http://h/x", "http://h2/y"}, Anonymous: true,
			RequiredScopes: []string{"s"}, RateLimit: ratelimit.Rate{N: 5}, Timeout: -time.Second, Retries: 2},
		{Name: "none", PathPrefix: "/c"},
	})
	want := []string{
		`routes[1] (ok).name: "ok" is also the name of routes[0]`,
		`routes[1] (ok).path_prefix: host "" and prefix "/a" are also those of routes[0]`,
		`routes[2] (Bad Name).name:`,
		`routes[2] (Bad Name).host: "API.example.com:443"`,
		`routes[2] (Bad Name).path_prefix: "a/../b"`,
		`routes[2] (Bad Name).upstreams[0]: "ftp://x": want an http:// or https:// URL`,
		`routes[2] (Bad Name).upstreams[1]: "http://h/p?q=1"`,
		`routes[3] (anon).upstreams[1]: path "/y" differs`,
		`routes[3] (anon).anonymous: an anonymous route cannot require scopes or clients`,
		`routes[3] (anon).rate_limit:`,
		`routes[3] (anon).timeout:`,
		`routes[3] (anon).retries: 2: want 0 to 1`,
		`routes[4] (none).upstreams: at least one is required`,
	}
	re, ok := err.(RoutesError)
	if !ok {
		t.Fatalf("err = %v, want RoutesError", err)
	}
	for _, w := range want {
		found := false
		for _, e := range re {
			found = found || strings.HasPrefix(e, w)
		}
		if !found {
			t.Errorf("missing problem %q in:\n%s", w, strings.Join(re, "\n"))
		}
	}
	if len(re) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(re), len(want), strings.Join(re, "\n"))
	}
}

func TestParseRoutes(t *testing.T) {
	routes, err := ParseRoutes([]byte(`
routes:
  - name: billing
    host: api.example.com
    path_prefix: /billing/
    upstreams: [http://10.0.0.5:8080, http://10.0.0.6:8080]
    required_scopes: [billing:read]
    rate_limit: 600/1m
    timeout: 10s
    retries: 1
    strip_prefix: true
  - name: public
    path_prefix: /
    upstreams: [http://10.0.0.7]
    anonymous: true
`))
	must(t, err)
	r := routes[0]
	if r.Name != "billing" || r.RateLimit != (ratelimit.Rate{N: 600, Per: time.Minute}) || r.Timeout != 10*time.Second ||
		r.Retries != 1 || !r.StripPrefix || len(r.Upstreams) != 2 || r.RequiredScopes[0] != "billing:read" {
		t.Errorf("route = %+v", r)
	}
	if !routes[1].Anonymous || !routes[1].RateLimit.Off() {
		t.Errorf("route = %+v", routes[1])
	}
	_, err = ParseRoutes([]byte("routes:\n  - name: x\n    path_prefx: /\n"))
	if err == nil || !strings.Contains(err.Error(), "path_prefx") {
		t.Errorf("unknown key: %v", err)
	}
	_, err = ParseRoutes([]byte("routes:\n  - name: x\n    path_prefix: /\n    upstreams: [http://h]\n    rate_limit: lots\n    timeout: soon\n"))
	if err == nil || !strings.Contains(err.Error(), "routes[0].rate_limit") || !strings.Contains(err.Error(), "routes[0].timeout") {
		t.Errorf("bad values: %v", err)
	}
}

func TestRouting(t *testing.T) {
	a, b, c, d := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c"), newUpstream(t, "d")
	f := newFixture(t, fixtureOpts{routes: []Route{
		{Name: "root", PathPrefix: "/", Upstreams: []string{a.URL}, Anonymous: true},
		{Name: "api", PathPrefix: "/api", Upstreams: []string{b.URL}, Anonymous: true},
		{Name: "api-users", PathPrefix: "/api/users/", Upstreams: []string{c.URL + "/v2"}, Anonymous: true, StripPrefix: true},
		{Name: "host", Host: "svc.example.com", PathPrefix: "/api", Upstreams: []string{d.URL}, Anonymous: true},
	}})
	cases := []struct {
		host, path       string
		upstream, upPath string
	}{
		{"", "/", "a", "/"},
		{"", "/apix", "a", "/apix"},
		{"", "/api", "b", "/api"},
		{"", "/api/orders", "b", "/api/orders"},
		{"", "/api/users", "c", "/v2/"},
		{"", "/api/users/42", "c", "/v2/42"},
		{"", "/api/users/a%2Fb", "c", "/v2/a/b"},
		{"svc.example.com", "/api/x", "d", "/api/x"},
		{"SVC.example.com:8443", "/api", "d", "/api"},
		{"svc.example.com", "/other", "a", "/other"}, // falls back to any host
	}
	for _, tc := range cases {
		r := do(t, f.srv.URL, "GET", tc.path, tc.host, "")
		if r.status != 200 || r.echo.Upstream != tc.upstream || r.echo.Path != tc.upPath {
			t.Errorf("%s%s → %d %s %s, want %s %s", tc.host, tc.path, r.status, r.echo.Upstream, r.echo.Path, tc.upstream, tc.upPath)
		}
	}
	// The escaped form survives prefix stripping.
	if r := do(t, f.srv.URL, "GET", "/api/users/a%2Fb", "", ""); r.echo.RawPath != "/v2/a%2Fb" {
		t.Errorf("raw path = %q", r.echo.RawPath)
	}
	// Paths that could slip past a prefix are refused.
	if r := do(t, f.srv.URL, "GET", "/api/users/..%2f..%2fadmin", "", ""); r.status != 400 || r.errObj["error"] != "invalid_request" {
		t.Errorf("unclean path: %d %s", r.status, r.body)
	}

	g2, err := New(Options{Logger: testLogger(t), Routes: []Route{{Name: "only", Host: "x.example.com", PathPrefix: "/", Upstreams: []string{a.URL}, Anonymous: true}}})
	must(t, err)
	rec := httptest.NewRecorder()
	g2.ServeHTTP(rec, httptest.NewRequest("GET", "http://y.example.com/", nil))
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/json" || !strings.Contains(rec.Body.String(), `"error":"not_found"`) {
		t.Errorf("no route: %d %s", rec.Code, rec.Body)
	}
}

func TestAuthentication(t *testing.T) {
	up := newUpstream(t, "up")
	f := newFixture(t, fixtureOpts{routes: []Route{
		{Name: "open", PathPrefix: "/open", Upstreams: []string{up.URL}, Anonymous: true},
		{Name: "read", PathPrefix: "/read", Upstreams: []string{up.URL}, RequiredScopes: []string{"members:read"}},
		{Name: "admin", PathPrefix: "/admin", Upstreams: []string{up.URL}, RequiredScopes: []string{"members:read", "members:write"}},
		{Name: "batch", PathPrefix: "/batch", Upstreams: []string{up.URL}, AllowedClients: []string{"batch-client"}},
	}})
	good, _ := f.is.sign(tok{scope: "openid members:read", sub: "user-7", clientID: "client-a"})

	t.Run("AnonymousRoute", func(t *testing.T) {
		r := f.get("/open/x", "", "X-Kaiin-Subject: root", "x-kaiin-client: evil")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		for k := range r.echo.Header {
			if isKaiinHeader(k) {
				t.Errorf("upstream received %s: %v", k, r.echo.Header[k])
			}
		}
	})
	t.Run("IdentityHeaders", func(t *testing.T) {
		r := f.get("/read/x", good, "X-Kaiin-Subject: root", "X-Kaiin-Scopes: members:write", "X-KAIIN-Admin: 1", "X-Forwarded-For: 1.2.3.4")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		h := http.Header(r.echo.Header)
		if got := h.Values(HeaderSubject); len(got) != 1 || got[0] != "user-7" {
			t.Errorf("subject %v", got)
		}
		if h.Get(HeaderClient) != "client-a" || h.Get(HeaderScopes) != "openid members:read" || h.Get("X-Kaiin-Admin") != "" {
			t.Errorf("headers %v", h)
		}
		if h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-Request-Id") == "" || h.Get("X-Request-Id") != r.header.Get("X-Request-Id") {
			t.Errorf("forwarding headers %v / response %v", h, r.header)
		}
	})
	t.Run("RS256", func(t *testing.T) {
		rs, _ := f.is.sign(tok{kid: "rs1", scope: "members:read"})
		if r := f.get("/read", rs); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})

	otherKey := func() string {
		// Signed by a key that is not the published one, under its kid.
		is2 := newIssuer(t)
		is2.url = f.is.url
		s, _ := is2.sign(tok{scope: "members:read"})
		return s
	}()
	cases := []struct {
		name, token, challenge, desc string
	}{
		{"Missing", "", `Bearer realm="kaiin"`, ""},
		{"Garbage", "not.a.jwt", `Bearer realm="kaiin", error="invalid_token", error_description="malformed token"`, "malformed token"},
		{"Expired", first(f.is.sign(tok{scope: "members:read", exp: time.Now().Add(-time.Minute)})), "", "token expired"},
		{"NotYetValid", first(f.is.sign(tok{scope: "members:read", nbf: time.Now().Add(time.Hour)})), "", "token not yet valid"},
		{"WrongIssuer", first(f.is.sign(tok{scope: "members:read", iss: "https://evil.example.com"})), "", "wrong issuer"},
		{"BadSignature", otherKey, "", "bad signature"},
		{"IDToken", first(f.is.sign(tok{scope: "members:read", noJTI: true})), "", "not an access token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.get("/read", tc.token)
			if r.status != 401 || r.errObj["error"] != "invalid_token" || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			ch := r.header.Get("WWW-Authenticate")
			if tc.challenge != "" && ch != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", ch, tc.challenge)
			}
			if tc.desc != "" && (r.errObj["error_description"] != tc.desc || !strings.Contains(ch, `error="invalid_token"`)) {
				t.Errorf("description %q / challenge %q, want %q", r.errObj["error_description"], ch, tc.desc)
			}
		})
	}
	t.Run("NotBearer", func(t *testing.T) {
		r := do(t, f.srv.URL, "GET", "/read", "", "", "Authorization: Basic dXNlcjpwYXNz")
		if r.status != 401 || r.header.Get("WWW-Authenticate") != `Bearer realm="kaiin"` {
			t.Fatalf("%d %v", r.status, r.header)
		}
	})
	t.Run("InsufficientScope", func(t *testing.T) {
		r := f.get("/admin", good)
		want := `Bearer realm="kaiin", error="insufficient_scope", scope="members:read members:write"`
		if r.status != 403 || r.errObj["error"] != "insufficient_scope" || r.header.Get("WWW-Authenticate") != want {
			t.Fatalf("%d %s %q", r.status, r.body, r.header.Get("WWW-Authenticate"))
		}
	})
	t.Run("ClientNotAllowed", func(t *testing.T) {
		if r := f.get("/batch", good); r.status != 403 || r.errObj["error"] != "insufficient_scope" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		batch, _ := f.is.sign(tok{clientID: "batch-client"})
		if r := f.get("/batch", batch); r.status != 200 {
			t.Fatalf("allowed client: %d %s", r.status, r.body)
		}
	})
	t.Run("Metrics", func(t *testing.T) {
		if v := counterValue(t, f.reg, "kaiin_gateway_requests_total", "route=read", "code=401"); v < 7 {
			t.Errorf("401s on read = %v", v)
		}
		if v := counterValue(t, f.reg, "kaiin_gateway_token_cache_hits_total", "verifier=jwt"); v < 1 {
			t.Errorf("cache hits = %v", v)
		}
	})
}

func first(s, _ string) string { return s }

func TestUnknownKidRefetchedOnce(t *testing.T) {
	clock := newFakeClock()
	up := newUpstream(t, "up")
	f := newFixture(t, fixtureOpts{clock: clock, routes: []Route{{Name: "r", PathPrefix: "/", Upstreams: []string{up.URL}}}})
	old, _ := f.is.sign(tok{})
	if r := f.get("/", old); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if n := f.is.fetches.Load(); n != 1 {
		t.Fatalf("fetches after first token = %d", n)
	}
	// A rotation: a new key signs before the gateway has seen it.
	f.is.addKey("es2", jose.ES256, false)
	fresh, _ := f.is.sign(tok{kid: "es2"})
	clock.Advance(6 * time.Second)
	var wg sync.WaitGroup
	for range 20 { // many requests at once share one fetch
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := f.get("/", fresh); r.status != 401 || r.errObj["error_description"] != "unknown signing key" {
				t.Errorf("unpublished key: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if n := f.is.fetches.Load(); n != 2 {
		t.Fatalf("fetches after unknown kid = %d, want 2", n)
	}
	// Published now, but the last fetch was too recent: no new fetch.
	f.is.publish("es2")
	if r := f.get("/", fresh); r.status != 401 {
		t.Fatalf("within the refetch interval: %d", r.status)
	}
	if n := f.is.fetches.Load(); n != 2 {
		t.Fatalf("fetches within the interval = %d, want 2", n)
	}
	clock.Advance(6 * time.Second)
	if r := f.get("/", fresh); r.status != 200 {
		t.Fatalf("after the interval: %d %s", r.status, r.body)
	}
	if n := f.is.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
	if v := counterValue(t, f.reg, "kaiin_gateway_jwks_fetches_total", "result=ok"); v != 3 {
		t.Errorf("fetch metric = %v", v)
	}
	// The old key still verifies from the cache without any fetch.
	if r := f.get("/", old); r.status != 200 || f.is.fetches.Load() != 3 {
		t.Fatalf("old token: %d, fetches %d", r.status, f.is.fetches.Load())
	}
}

func TestRevocation(t *testing.T) {
	st, _ := sqliteStates(t)
	up := newUpstream(t, "up")
	for _, maxAge := range []time.Duration{0, -1} {
		t.Run(fmt.Sprintf("MaxAge%v", maxAge), func(t *testing.T) {
			f := newFixture(t, fixtureOpts{revocations: StateRevocations{State: st}, revMaxAge: maxAge,
				routes: []Route{{Name: "r", PathPrefix: "/", Upstreams: []string{up.URL}}}})
			token, jti := f.is.sign(tok{})
			if r := f.get("/", token); r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			// Revoked as Kaiin's provider does it.
			must(t, st.Set(t.Context(), "oidc:revoked:"+jti, []byte("client-a"), 15*time.Minute))
			revokedAt := time.Now()
			for {
				r := f.get("/", token)
				if r.status == 401 {
					if r.errObj["error_description"] != "token revoked" {
						t.Fatalf("%s", r.body)
					}
					break
				}
				if time.Since(revokedAt) > time.Second {
					t.Fatal("revoked token still accepted after 1s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("refused %v after revocation", time.Since(revokedAt).Round(time.Millisecond))
			if maxAge < 0 && time.Since(revokedAt) > 50*time.Millisecond {
				t.Errorf("checking every request took %v", time.Since(revokedAt))
			}
		})
	}
	t.Run("MarkRevoked", func(t *testing.T) {
		f := newFixture(t, fixtureOpts{revocations: StateRevocations{State: st},
			routes: []Route{{Name: "r", PathPrefix: "/", Upstreams: []string{up.URL}}}})
		token, jti := f.is.sign(tok{})
		if r := f.get("/", token); r.status != 200 {
			t.Fatal(r.status)
		}
		f.verifier.MarkRevoked(jti, time.Now().Add(time.Hour))
		if r := f.get("/", token); r.status != 401 {
			t.Fatalf("after MarkRevoked: %d", r.status)
		}
	})
}

func TestRateLimitAcrossGateways(t *testing.T) {
	backends := map[string]func(testing.TB) (state.State, state.State){"SQLite": sqliteStates, "Redis": redisStates}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			s1, s2 := open(t)
			up := newUpstream(t, "up")
			key := []byte("rate-limit-key")
			routes := []Route{
				{Name: "api", PathPrefix: "/api", Upstreams: []string{up.URL}, RateLimit: ratelimit.Rate{N: 5, Per: time.Minute}},
				{Name: "pub", PathPrefix: "/pub", Upstreams: []string{up.URL}, Anonymous: true, RateLimit: ratelimit.Rate{N: 3, Per: time.Minute}},
			}
			f1 := newFixture(t, fixtureOpts{routes: routes, limiter: ratelimit.New(s1, key)})
			// The second gateway trusts the same issuer and counts in the
			// same hot state through its own connection.
			v2, err := NewJWTVerifier(JWTVerifierOptions{Issuer: f1.is.url})
			must(t, err)
			g2, err := New(Options{Routes: routes, Verifier: v2, Limiter: ratelimit.New(s2, key), Logger: testLogger(t)})
			must(t, err)
			srv2 := httptest.NewServer(g2)
			defer srv2.Close()

			tokA, _ := f1.is.sign(tok{clientID: "client-a"})
			tokB, _ := f1.is.sign(tok{clientID: "client-b"})
			for i := range 5 {
				srv := f1.srv.URL
				if i%2 == 1 {
					srv = srv2.URL
				}
				if r := do(t, srv, "GET", "/api", "", tokA); r.status != 200 {
					t.Fatalf("request %d: %d %s", i, r.status, r.body)
				}
			}
			for _, srv := range []string{f1.srv.URL, srv2.URL} {
				r := do(t, srv, "GET", "/api", "", tokA)
				if r.status != 429 || r.header.Get("Retry-After") != "60" || r.errObj["error"] != "rate_limited" {
					t.Fatalf("6th request: %d %v %s", r.status, r.header, r.body)
				}
			}
			// Another client has its own count.
			if r := do(t, srv2.URL, "GET", "/api", "", tokB); r.status != 200 {
				t.Fatalf("other client: %d", r.status)
			}
			// Anonymous: per client IP.
			for i := range 3 {
				if r := do(t, []string{f1.srv.URL, srv2.URL}[i%2], "GET", "/pub", "", ""); r.status != 200 {
					t.Fatalf("anonymous %d: %d", i, r.status)
				}
			}
			if r := do(t, srv2.URL, "GET", "/pub", "", ""); r.status != 429 {
				t.Fatalf("4th anonymous: %d", r.status)
			}
		})
	}
}

func TestLoadBalancingAndPassiveHealth(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	clock := newFakeClock()
	f := newFixture(t, fixtureOpts{clock: clock, routes: []Route{
		{Name: "lb", PathPrefix: "/", Upstreams: []string{a.URL, b.URL}, Anonymous: true, Retries: 1},
	}})
	for range 10 {
		if r := f.get("/x", ""); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	if a.hits.Load() != 5 || b.hits.Load() != 5 {
		t.Fatalf("balance a=%d b=%d", a.hits.Load(), b.hits.Load())
	}

	b.Close() // b goes down
	for i := range 10 {
		if r := f.get("/x", ""); r.status != 200 || r.echo.Upstream != "a" {
			t.Fatalf("GET %d with b down: %d %s", i, r.status, r.body)
		}
	}
	if v := counterValue(t, f.reg, "kaiin_gateway_upstream_errors_total", "route=lb"); v != 1 {
		t.Errorf("upstream errors = %v, want 1 (b is out after its first failure)", v)
	}
	// After the cool-down b is tried again; a POST that lands on it is not
	// retried elsewhere.
	clock.Advance(11 * time.Second)
	statuses := map[int]int{}
	for range 2 {
		r := do(t, f.srv.URL, "POST", "/x", "", "")
		statuses[r.status]++
		if r.status == 502 && r.errObj["error"] != "bad_gateway" {
			t.Errorf("502 body %s", r.body)
		}
	}
	if statuses[502] != 1 || statuses[200] != 1 {
		t.Fatalf("POSTs after cool-down: %v, want one 502 (not retried) and one 200", statuses)
	}
	// The second failure doubles the cool-down: 11 s later b is still out.
	clock.Advance(11 * time.Second)
	for range 4 {
		if r := do(t, f.srv.URL, "POST", "/x", "", ""); r.status != 200 {
			t.Fatalf("POST during the doubled cool-down: %d", r.status)
		}
	}
	a.Close() // both down: tried anyway, answered 502
	if r := f.get("/x", ""); r.status != 502 {
		t.Fatalf("all down: %d", r.status)
	}
}

func TestUpstreamTimeoutAndBusy(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	var busyHits atomic.Int64
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		busyHits.Add(1)
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(503)
	}))
	defer busy.Close()
	f := newFixture(t, fixtureOpts{routes: []Route{
		{Name: "slow", PathPrefix: "/slow", Upstreams: []string{slow.URL}, Anonymous: true, Timeout: 100 * time.Millisecond},
		{Name: "busy", PathPrefix: "/busy", Upstreams: []string{busy.URL}, Anonymous: true},
	}})
	if r := f.get("/slow", ""); r.status != 504 || r.errObj["error"] != "gateway_timeout" {
		t.Fatalf("slow: %d %s", r.status, r.body)
	}
	// An upstream's own 503 reaches the client as it is.
	if r := f.get("/busy", ""); r.status != 503 || r.header.Get("Retry-After") != "3" {
		t.Fatalf("busy: %d %v", r.status, r.header)
	}
}

func TestInvalidTokenFloodIsThrottled(t *testing.T) {
	up := newUpstream(t, "up")
	var ip atomic.Value
	ip.Store("203.0.113.9")
	f := newFixture(t, fixtureOpts{
		routes:    []Route{{Name: "r", PathPrefix: "/", Upstreams: []string{up.URL}}},
		badTokens: InvalidTokenLimit{PerSecond: 0.1, Burst: 5},
		clientIP:  func(*http.Request) string { return ip.Load().(string) },
	})
	good, _ := f.is.sign(tok{})
	if r := f.get("/", good); r.status != 200 { // cached now
		t.Fatal(r.status)
	}
	forged := good[:len(good)-4] + "AAAA"
	for i := range 5 {
		if r := f.get("/", forged); r.status != 401 {
			t.Fatalf("bad token %d: %d", i, r.status)
		}
	}
	r := f.get("/", forged)
	if r.status != 429 || r.errObj["error"] != "too_many_invalid_tokens" || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %s", r.status, r.body)
	}
	// The flooding address keeps its verified token; a new token from it
	// waits, one from elsewhere does not.
	if r := f.get("/", good); r.status != 200 {
		t.Fatalf("cached token from the flooding address: %d", r.status)
	}
	fresh, _ := f.is.sign(tok{})
	if r := f.get("/", fresh); r.status != 429 {
		t.Fatalf("new token from the flooding address: %d", r.status)
	}
	ip.Store("198.51.100.1")
	if r := f.get("/", fresh); r.status != 200 {
		t.Fatalf("new token from another address: %d", r.status)
	}
	if v := counterValue(t, f.reg, "kaiin_gateway_invalid_token_throttled_total"); v != 2 {
		t.Errorf("throttled = %v", v)
	}
}

func TestSetRoutesUnderLoad(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	routesTo := func(u string) []Route {
		return []Route{{Name: "r", PathPrefix: "/", Upstreams: []string{u}}}
	}
	f := newFixture(t, fixtureOpts{routes: routesTo(a.URL)})
	token, _ := f.is.sign(tok{})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var ok, seenB atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequest("GET", f.srv.URL+"/x", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("status %d during swaps", resp.StatusCode)
					return
				}
				ok.Add(1)
			}
		}()
	}
	for i := range 200 {
		u := a.URL
		if i%2 == 1 {
			u = b.URL
		}
		must(t, f.gw.SetRoutes(routesTo(u)))
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	seenB.Store(b.hits.Load())
	if ok.Load() == 0 || seenB.Load() == 0 || a.hits.Load() == 0 {
		t.Fatalf("ok=%d a=%d b=%d", ok.Load(), a.hits.Load(), b.hits.Load())
	}
	// A bad set is refused whole, and the old one stays.
	if err := f.gw.SetRoutes([]Route{{Name: "r", PathPrefix: "/"}}); err == nil {
		t.Fatal("bad routes accepted")
	}
	if r := f.get("/x", token); r.status != 200 {
		t.Fatalf("after a refused swap: %d", r.status)
	}
}
