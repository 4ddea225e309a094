package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", url)
}

// A Kaiin node and a separate gateway: a service's token passes the
// gateway to the upstream with its identity; no token, or a revoked one,
// does not.
func TestGatewayCommand(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	code, out, errOut := kaiin(t, ctx, "", "admin", "client", "create", "--name", "batch", "--grant-type", "client_credentials",
		"--scope", "api:read", "--output", "json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("create client: %s", errOut)
	}
	var cl struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	json.Unmarshal([]byte(out), &cl)

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "client=%s scopes=%s path=%s", r.Header.Get("X-Kaiin-Client"), r.Header.Get("X-Kaiin-Scopes"), r.URL.Path)
	}))
	defer upstream.Close()
	routes := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routes, []byte(fmt.Sprintf(`routes:
  - name: api
    path_prefix: /api/
    upstreams: [%q]
    required_scopes: [api:read]
`, upstream.URL)), 0o600)

	kaiinAddr, gwAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	serveDone := make(chan int, 1)
	go func() {
		var o, e bytes.Buffer
		serveDone <- run(ctx, []string{"serve", "--data-dir", dir, "--addr", kaiinAddr}, nil, &o, &e)
	}()
	waitReady(t, "http://"+kaiinAddr+"/readyz")
	// The node's public URL, and so the tokens' issuer, names loopback as localhost.
	issuer := "http://" + strings.Replace(kaiinAddr, "127.0.0.1", "localhost", 1)

	setEnviron(func() []string {
		return []string{"KAIIN_GATEWAY_ROUTES_FILE=" + routes, "KAIIN_GATEWAY_ADDR=" + gwAddr,
			"KAIIN_GATEWAY_METRICS_ADDR=" + metricsAddr, "KAIIN_GATEWAY_ISSUER_URL=" + issuer}
	})
	gwDone := make(chan int, 1)
	var gwErr bytes.Buffer
	go func() {
		var o bytes.Buffer
		gwDone <- run(ctx, []string{"gateway", "--data-dir", dir}, nil, &o, &gwErr)
	}()
	waitReady(t, "http://"+metricsAddr+"/readyz")

	cc := clientcredentials.Config{ClientID: cl.ID, ClientSecret: cl.Secret, TokenURL: "http://" + kaiinAddr + "/oauth/token", Scopes: []string{"api:read"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	call := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+gwAddr+"/api/orders", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("X-Kaiin-Client", "spoofed")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := call(tok.AccessToken); st != 200 || body != "client="+cl.ID+" scopes=api:read path=/api/orders" {
		t.Fatalf("through the gateway: %d %q", st, body)
	}
	if st, _ := call(""); st != 401 {
		t.Fatalf("without a token: %d", st)
	}
	// Revoked at Kaiin: refused by the gateway within a second.
	form := url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}
	req, _ := http.NewRequest("POST", "http://"+kaiinAddr+"/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cl.ID, cl.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v", err)
	}
	resp.Body.Close()
	revoked := time.Now()
	for {
		st, _ := call(tok.AccessToken)
		if st == 401 {
			break
		}
		if time.Since(revoked) > 1500*time.Millisecond {
			t.Fatalf("the gateway still accepts a token revoked %v ago", time.Since(revoked))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if c := <-gwDone; c != 0 {
		t.Fatalf("gateway exit %d: %s", c, gwErr.String())
	}
	<-serveDone
}

// Routes managed with kaiin admin route reach every gateway node within
// the poll interval, without a restart; a bad route is refused whole.
func TestStoredRoutesReachEveryGateway(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "upstream "+r.URL.Path)
	}))
	defer upstream.Close()
	if code, _, errOut := kaiin(t, ctx, "", "admin", "route", "put", "bad", "--path-prefix", "/x/", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "upstreams") {
		t.Fatalf("a route without upstreams: exit %d %s", code, errOut)
	}

	type gw struct{ addr, metrics string }
	gws := []gw{{freeAddr(t), freeAddr(t)}, {freeAddr(t), freeAddr(t)}}
	done := make(chan int, len(gws))
	for _, g := range gws {
		setEnviron(func() []string {
			return []string{"KAIIN_GATEWAY_ADDR=" + g.addr, "KAIIN_GATEWAY_METRICS_ADDR=" + g.metrics, "KAIIN_GATEWAY_POLL_INTERVAL=200ms"}
		})
		go func() {
			var o, e bytes.Buffer
			done <- run(ctx, []string{"gateway", "--data-dir", dir}, nil, &o, &e)
		}()
		waitReady(t, "http://"+g.metrics+"/readyz")
	}
	status := func(addr, path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	everywhere := func(path string, want int) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for _, g := range gws {
			for status(g.addr, path) != want {
				if time.Now().After(deadline) {
					t.Fatalf("gateway %s: %s is not %d within a second", g.addr, path, want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	everywhere("/open/a", 404)
	if code, _, errOut := kaiin(t, ctx, "", "admin", "route", "put", "open", "--path-prefix", "/open/", "--upstream", upstream.URL,
		"--anonymous", "--data-dir", dir); code != 0 {
		t.Fatalf("route put: %s", errOut)
	}
	everywhere("/open/a", 200)
	if code, out, _ := kaiin(t, ctx, "", "admin", "route", "list", "--data-dir", dir); code != 0 || !strings.Contains(out, "/open/") {
		t.Fatalf("route list: %s", out)
	}
	if code, _, errOut := kaiin(t, ctx, "", "admin", "route", "delete", "open", "--data-dir", dir); code != 0 {
		t.Fatalf("route delete: %s", errOut)
	}
	everywhere("/open/a", 404)
	cancel()
	for range gws {
		if c := <-done; c != 0 {
			t.Fatalf("gateway exit %d", c)
		}
	}
}
