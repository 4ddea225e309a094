package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// kaiin runs the command line in-process with an empty environment.
func kaiin(t *testing.T, ctx context.Context, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	setEnviron(func() []string { return nil })
	var out, errb bytes.Buffer
	code = run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestErrorsCatalogue(t *testing.T) {
	code, out, _ := kaiin(t, t.Context(), "", "errors")
	if code != 0 || !strings.Contains(out, "KAI-LOGIN-001\t401\tThe email address or password is incorrect.\tメールアドレスまたはパスワードが正しくありません。") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	code, out, _ = kaiin(t, t.Context(), "", "errors", "--json", "--lang", "ja")
	var entries []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &entries) != nil || len(entries) < 10 || entries[0]["en"] != nil {
		t.Fatalf("exit %d, json:\n%s", code, out)
	}
	if code, _, errOut := kaiin(t, t.Context(), "", "errors", "--lang", "fr"); code != 2 || !strings.Contains(errOut, `"fr" is not allowed`) {
		t.Fatalf("bad --lang: exit %d, %s", code, errOut)
	}
}

func TestAdminUserCreate(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := kaiin(t, t.Context(), "a long enough passphrase\n", "admin", "user", "create",
		"--email", "Ops@Example.com", "--password-stdin", "--verified", "--output", "json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var u map[string]any
	if err := json.Unmarshal([]byte(out), &u); err != nil || u["email"] != "ops@example.com" || u["email_verified"] != true || u["id"] == "" {
		t.Fatalf("output %q", out)
	}
	if strings.Contains(out+errOut, "a long enough passphrase") {
		t.Fatal("password echoed")
	}
	cases := []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"a long enough passphrase\n", []string{"--email", "ops@example.com", "--password-stdin"}, 1, "KAI-EMAIL-001"},
		{"password123\n", []string{"--email", "b@example.com", "--password-stdin"}, 1, "KAI-PWD-003"},
		{"short\n", []string{"--email", "b@example.com", "--password-stdin"}, 1, "KAI-PWD-001"},
		{"a long enough passphrase\n", []string{"--email", "not-an-email", "--password-stdin"}, 1, "KAI-REG-001"},
		{"a long enough passphrase\n", []string{"--email", "b@example.com"}, 2, "--password-stdin is required"},
		{"", []string{"--email", "b@example.com", "--password-stdin"}, 2, "no password on standard input"},
		{"x\n", []string{"--password-stdin"}, 2, "--email is required"},
	}
	for _, tc := range cases {
		args := append([]string{"admin", "user", "create", "--data-dir", dir}, tc.args...)
		code, _, errOut := kaiin(t, t.Context(), tc.stdin, args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	code, out, _ = kaiin(t, t.Context(), "another long passphrase\n", "admin", "create-admin", "--email", "root@example.com", "--password-stdin", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "root@example.com") {
		t.Fatalf("create-admin: exit %d %q", code, out)
	}
}

func TestMigrateAndPending(t *testing.T) {
	dir := t.TempDir()
	// Without auto-migration a fresh database is refused with a clear step.
	code, _, errOut := kaiin(t, t.Context(), "", "serve", "--data-dir", dir, "--auto-migrate=false", "--addr", "127.0.0.1:1")
	if code != 1 || !strings.Contains(errOut, "kaiin migrate") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, out, errOut := kaiin(t, t.Context(), "", "migrate", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "applied") || strings.Contains(out, "applied 0 ") {
		t.Fatalf("migrate: exit %d %q %q", code, out, errOut)
	}
	code, out, _ = kaiin(t, t.Context(), "", "migrate", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "applied 0 migrations") {
		t.Fatalf("second migrate: exit %d %q", code, out)
	}
}

func TestBadConfigNamesEveryKey(t *testing.T) {
	setEnviron(func() []string { return []string{"KAIIN_SMTP_TLS=ssl", "KAIIN_SESSION_IDLE_TIMEOUT=forever"} })
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"serve", "--addr", "nope", "--data-dir", t.TempDir()}, nil, &out, &errb)
	for _, want := range []string{"addr", "KAIIN_SMTP_TLS", "KAIIN_SESSION_IDLE_TIMEOUT", "starttls, tls, none"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("error lacks %q:\n%s", want, errb.String())
		}
	}
	if code != 1 || strings.Contains(errb.String(), "goroutine") {
		t.Fatalf("exit %d", code)
	}
	if code, _, errOut := kaiin(t, t.Context(), "", "nonsense"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: %d %s", code, errOut)
	}
}

func TestServeAndGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := kaiin(t, t.Context(), "a long enough passphrase\n", "admin", "create-admin", "--email", "a@example.com", "--password-stdin", "--data-dir", dir); code != 0 {
		t.Fatal(errOut)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		// Costlier hashing (sign-ins re-hash to it) keeps the requests
		// below in flight long enough to be seen together.
		var out, errb bytes.Buffer
		setEnviron(func() []string { return []string{"KAIIN_PASSWORD_HASH_ITERATIONS=12"} })
		c := run(ctx, []string{"serve", "--data-dir", dir, "--addr", addr}, nil, &out, &errb)
		done <- result{c, out.String(), errb.String()}
	}()
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not become ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Sign-ins in flight when shutdown begins still get their answer.
	answers := make(chan string, 8)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := 0; i < 8; i++ {
		go func() {
			resp, err := client.PostForm(base+"/login", url.Values{"email": {"a@example.com"}, "password": {"a long enough passphrase"}})
			if err != nil {
				answers <- err.Error()
				return
			}
			resp.Body.Close()
			answers <- fmt.Sprint(resp.StatusCode)
		}()
	}
	// Shut down once all eight are being served (the hasher takes two at a
	// time, so they queue for a while); the metrics request is the ninth.
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(metrics(t, base), "kaiin_http_requests_in_flight 9") {
		if time.Now().After(deadline) {
			t.Fatal("the sign-ins were never in flight together")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	for i := 0; i < 8; i++ {
		if a := <-answers; a != "303" {
			t.Errorf("in-flight sign-in got %s", a)
		}
	}
	r := <-done
	if r.code != 0 || !strings.Contains(r.out, "Kaiin is running at "+strings.Replace(base, "127.0.0.1", "localhost", 1)) {
		t.Fatalf("serve exit %d\n%s\n%s", r.code, r.out, r.errOut)
	}
	if !strings.Contains(r.errOut, `"msg":"stopped"`) {
		t.Fatalf("no clean stop in logs:\n%s", r.errOut)
	}
}

func metrics(t *testing.T, base string) string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestAdminClientCommands(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	code, out, errOut := kaiin(t, ctx, "", "admin", "client", "create", "--name", "Shop",
		"--redirect-uri", "https://shop.example.com/cb", "--scope", "openid", "--scope", "email", "--output", "json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	var created struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
		Client struct {
			Scopes     []string `json:"scopes"`
			AuthMethod string   `json:"token_endpoint_auth_method"`
		} `json:"client"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" || len(created.Secret) < 40 ||
		created.Client.AuthMethod != "client_secret_basic" || strings.Join(created.Client.Scopes, " ") != "openid email" {
		t.Fatalf("create output %s (%v)", out, err)
	}
	// Every problem of a bad client is named at once.
	code, _, errOut = kaiin(t, ctx, "", "admin", "client", "create", "--name", "Bad", "--redirect-uri", "http://evil.example/cb",
		"--redirect-uri", "https://ok.example/cb#frag", "--grant-type", "password", "--data-dir", dir)
	for _, want := range []string{"http://evil.example/cb", "must use https", "fragment", `"password" is not supported`} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("bad client: exit %d, stderr lacks %q:\n%s", code, want, errOut)
		}
	}
	code, out, _ = kaiin(t, ctx, "", "admin", "client", "list", "--data-dir", dir)
	// One client listed: the bad one was never created.
	if code != 0 || !strings.Contains(out, created.ID) || !strings.Contains(out, "Shop") || strings.Count(out, "\n") != 2 {
		t.Fatalf("list: %d\n%s", code, out)
	}
	code, out, _ = kaiin(t, ctx, "", "admin", "client", "update", created.ID, "--name", "Shop 2", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "Shop 2") || !strings.Contains(out, "openid email") {
		t.Fatalf("update: %d\n%s", code, out)
	}
	code, out, _ = kaiin(t, ctx, "", "admin", "client", "rotate-secret", created.ID, "--output", "json", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "client_secret") || strings.Contains(out, created.Secret) {
		t.Fatalf("rotate-secret: %d\n%s", code, out)
	}
	if code, _, errOut := kaiin(t, ctx, "", "admin", "client", "show", "nope", "--data-dir", dir); code != 1 || !strings.Contains(errOut, `no client with ID "nope"`) {
		t.Fatalf("show unknown: %d %s", code, errOut)
	}
	if code, out, _ := kaiin(t, ctx, "", "admin", "client", "delete", created.ID, "--data-dir", dir); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %s", code, out)
	}
	if code, _, _ := kaiin(t, ctx, "", "admin", "client", "show", created.ID, "--data-dir", dir); code != 1 {
		t.Fatal("deleted client still shown")
	}
}

func TestAdminKeysRotate(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	listed := func() []map[string]any {
		code, out, errOut := kaiin(t, ctx, "", "admin", "keys", "list", "--output", "json", "--data-dir", dir)
		if code != 0 {
			t.Fatalf("keys list: %d %s", code, errOut)
		}
		var rows, es []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows { // by default RS256 keys are kept too
			if r["alg"] == "ES256" {
				es = append(es, r)
			}
		}
		if len(es) == len(rows) {
			t.Fatalf("no RS256 keys by default: %v", rows)
		}
		return es
	}
	before := listed()
	if len(before) != 2 || before[0]["alg"] != "ES256" || before[0]["sign_until"] != nil {
		t.Fatalf("first start: want a signing key and a published next key, got %v", before)
	}
	if code, out, errOut := kaiin(t, ctx, "", "admin", "keys", "rotate", "--data-dir", dir); code != 0 || !strings.Contains(out, "rotated") {
		t.Fatalf("rotate: %d %s %s", code, out, errOut)
	}
	after := listed()
	if len(after) != 3 || after[0]["kid"] != before[0]["kid"] || after[0]["sign_until"] == nil || after[0]["publish_until"] == nil {
		t.Fatalf("after rotate: the old key must stop signing but stay published; got %v", after)
	}
	if code, _, errOut := kaiin(t, ctx, "", "admin", "keys", "rotate", "--alg", "HS256", "--data-dir", dir); code != 2 || !strings.Contains(errOut, "HS256") {
		t.Fatalf("bad alg: %d %s", code, errOut)
	}
}
