package account

import (
	"testing"

	"github.com/kaiin-project/kaiin/internal/errcode"
)

func TestNormalizeEmail(t *testing.T) {
	good := map[string]string{
		"Hanako@Example.COM":        "hanako@example.com",
		"  taro@example.jp ":        "taro@example.jp",
		"ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ":           "taro@example.jp", // full-width, NFKC
		"first.last+tag@sub.ex.org": "first.last+tag@sub.ex.org",
	}
	for in, want := range good {
		got, err := NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a", "no-at-sign", "a@localhost", "a@example.", "Name <a@example.com>",
		"a@@example.com", "a b@example.com", "a@example.com\r\nBcc: x@example.com", string(make([]byte, 300))} {
		_, err := NormalizeEmail(in)
		if e, ok := errcode.As(err); !ok || e.Code != errcode.EmailInvalid {
			t.Errorf("NormalizeEmail(%q) = %v; want KAI-REG-001", in, err)
		}
	}
}

func TestTokens(t *testing.T) {
	a, ka := newToken("reset")
	b, kb := newToken("reset")
	if a == b || ka == kb || !validToken(a) {
		t.Fatal("tokens not random or not valid")
	}
	if tokenKey("reset", a) != ka || tokenKey("verify", a) == ka {
		t.Fatal("token keys not bound to kind")
	}
	for _, bad := range []string{"", "short", a + "x", a[:42] + "!"} {
		if validToken(bad) {
			t.Errorf("validToken(%q) = true", bad)
		}
	}
	if id := newID(); len(id) != 26 || id == newID() {
		t.Fatalf("id %q", id)
	}
}
