package memberapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/kaiin-project/kaiin/internal/app/apptest"
	"github.com/kaiin-project/kaiin/internal/member"
	"github.com/kaiin-project/kaiin/internal/oidc"
	"github.com/kaiin-project/kaiin/internal/store"
)

func TestMemberAPI(t *testing.T) {
	for _, be := range apptest.Backends {
		t.Run(string(be), func(t *testing.T) { testMemberAPI(t, be) })
	}
}

func testMemberAPI(t *testing.T, be apptest.Backend) {
	n := apptest.Start(t, apptest.Config(t, be), nil)
	ctx := t.Context()
	m, err := n.App.Accounts.CreateUser(ctx, "api.member@example.com", "correct horse battery staple", true, false)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := n.App.Accounts.CreateUser(ctx, "api.other@example.com", "correct horse battery staple", true, false)
	if _, err := n.App.Members.Put(ctx, m.ID, member.Profile{FamilyName: "佐藤", GivenName: "一郎", Phone: "03-1234-5678",
		Address: &member.Address{Country: "JP", PostalCode: "150-0001", Region: "東京都", Locality: "渋谷区", Street: "神宮前1-1"}}); err != nil {
		t.Fatal(err)
	}
	service := func(name string, firstParty bool, scopes ...string) string {
		cl, secret, err := n.App.Clients.Create(ctx, oidc.ClientSpec{Name: name, GrantTypes: []string{"client_credentials"}, Scopes: scopes, SkipConsent: firstParty})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := (&clientcredentials.Config{ClientID: cl.ID, ClientSecret: secret, TokenURL: n.URL + "/oauth/token", Scopes: scopes}).Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	get := func(token, path string, body any) (int, map[string]any) {
		method := "GET"
		var rd *bytes.Reader
		if body != nil {
			method = "POST"
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(method, n.URL+path, rd)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	// A first-party service reads what its scopes allow.
	first := service("Shipping", true, "members:profile:read", "members:phone:read")
	st, got := get(first, "/api/v1/members/"+m.ID, nil)
	if st != 200 || got["sub"] != m.ID || got["family_name"] != "佐藤" || got["phone_number"] != "+81312345678" || got["email"] != nil || got["address"] != nil {
		t.Fatalf("first party: %d %v", st, got)
	}

	// A third-party service sees only what the member consented to.
	third := service("Partner", false, "members:profile:read", "members:phone:read")
	if st, got := get(third, "/api/v1/members/"+m.ID, nil); st != 200 || got["family_name"] != nil || got["phone_number"] != nil {
		t.Fatalf("third party without consent: %d %v", st, got)
	}
	clients, _ := n.App.Data.Store.ListClients(ctx)
	var partner string
	for _, c := range clients {
		if c.Name == "Partner" {
			partner = c.ID
		}
	}
	if err := n.App.Data.Store.PutConsent(ctx, store.Consent{UserID: m.ID, ClientID: partner, Scopes: []string{"openid", "profile"}}); err != nil {
		t.Fatal(err)
	}
	if st, got := get(third, "/api/v1/members/"+m.ID, nil); st != 200 || got["family_name"] != "佐藤" || got["phone_number"] != nil {
		t.Fatalf("third party with profile consent: %d %v", st, got)
	}

	// Errors.
	if st, _ := get("", "/api/v1/members/"+m.ID, nil); st != 401 {
		t.Fatalf("no token: %d", st)
	}
	if st, _ := get("garbage", "/api/v1/members/"+m.ID, nil); st != 401 {
		t.Fatalf("bad token: %d", st)
	}
	if st, _ := get(service("Nothing", true, "api:other"), "/api/v1/members/"+m.ID, nil); st != 403 {
		t.Fatalf("no member scope: %d", st)
	}
	if st, _ := get(first, "/api/v1/members/no-such-member", nil); st != 404 {
		t.Fatalf("unknown member: %d", st)
	}

	// Batch.
	st, got = get(first, "/api/v1/members/batch", map[string]any{"subs": []string{m.ID, other.ID, "ghost"}})
	if ms, _ := got["members"].([]any); st != 200 || len(ms) != 2 || fmt.Sprint(got["not_found"]) != "[ghost]" {
		t.Fatalf("batch: %d %v", st, got)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = "x"
	}
	if st, _ := get(first, "/api/v1/members/batch", map[string]any{"subs": many}); st != 400 {
		t.Fatalf("oversized batch: %d", st)
	}
	if st, got := get(first, "/api/v1/members/batch", map[string]any{"members": []string{m.ID}}); st != 400 || !strings.Contains(fmt.Sprint(got["error_description"]), "members") {
		t.Fatalf("unknown field: %d %v", st, got)
	}

	// Every read is in the audit log.
	events, err := n.App.Data.Store.ListAudit(ctx, m.ID, 100)
	if err != nil || len(events) != 4 {
		t.Fatalf("audit: %d events, %v", len(events), err)
	}
	if e := events[len(events)-1]; e.ActorKind != "client" || e.Action != "read" || strings.Join(e.Fields, ",") != "birthdate,name,phone" {
		t.Fatalf("first audit event: %+v", e)
	}

	// The member sees who read their data on the account page.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.PostForm(n.URL+"/login", url.Values{"email": {"api.member@example.com"}, "password": {"correct horse battery staple"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `<span class="who">Shipping</span>`) || !strings.Contains(string(page), `<span class="who">Partner</span>`) {
		t.Fatalf("account page lacks the access history:\n%s", page)
	}
}
