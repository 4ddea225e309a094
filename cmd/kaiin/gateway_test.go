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

func TestGatewayCommandNeedsRoutes(t *testing.T) {
	code, _, errOut := kaiin(t, t.Context(), "", "gateway", "--data-dir", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "gateway.routes_file") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
