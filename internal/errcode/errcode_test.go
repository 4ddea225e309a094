package errcode

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestCatalogueWellFormed(t *testing.T) {
	id := regexp.MustCompile(`^KAI-[A-Z]+-\d{3}$`)
	all := All()
	if len(all) < 10 {
		t.Fatalf("catalogue has %d codes", len(all))
	}
	for _, c := range all {
		if !id.MatchString(c.ID) {
			t.Errorf("%q: malformed code", c.ID)
		}
		if c.EN == "" || c.JA == "" {
			t.Errorf("%s: missing text", c.ID)
		}
		if c.Status < 400 || c.Status > 599 {
			t.Errorf("%s: status %d is not an error", c.ID, c.Status)
		}
		if strings.Count(c.EN, "%") != strings.Count(c.JA, "%") {
			t.Errorf("%s: en and ja take different arguments", c.ID)
		}
		if got, ok := Lookup(c.ID); !ok || got != c {
			t.Errorf("%s: Lookup does not find it", c.ID)
		}
	}
}

func TestErrorWrapsCause(t *testing.T) {
	cause := errors.New("db down")
	err := error(Wrap(Internal, cause))
	if !errors.Is(err, cause) {
		t.Fatal("cause lost")
	}
	e, ok := As(err)
	if !ok || e.Code != Internal {
		t.Fatal("As failed")
	}
	if got := New(PasswordTooShort, "password", 8).Text("ja"); got != "パスワードは8文字以上にしてください。" {
		t.Fatalf("ja text = %q", got)
	}
	if got := New(PasswordTooShort, "password", 8).Text("en"); got != "The password must be at least 8 characters long." {
		t.Fatalf("en text = %q", got)
	}
}
