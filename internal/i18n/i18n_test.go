package i18n

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestEveryKeyInBothLanguages(t *testing.T) {
	verb := regexp.MustCompile(`%[a-z]`)
	for key, e := range messages {
		if strings.TrimSpace(e.EN) == "" || strings.TrimSpace(e.JA) == "" {
			t.Errorf("%s: missing a language", key)
		}
		if len(verb.FindAllString(e.EN, -1)) != len(verb.FindAllString(e.JA, -1)) {
			t.Errorf("%s: en and ja take different arguments", key)
		}
	}
}

// Every key the templates and the Go code name exists in the catalogue.
func TestEveryUsedKeyExists(t *testing.T) {
	usedInTemplate := regexp.MustCompile(`\.T "([a-z_.]+)"()`)
	used := regexp.MustCompile(`(?:\.T|T\(\w+,|i18n\.T\([^,]+,) "([a-z_.]+)"|"([a-z_]+\.[a-z_.]+)"`)
	var files []string
	for _, pattern := range []string{"../web/templates/*.html", "../web/*.go", "../account/*.go"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		re := used
		if strings.HasSuffix(f, ".html") {
			re = usedInTemplate // other quoted strings there are field names
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			key := m[1] + m[2]
			if !strings.Contains(key, ".") || strings.HasSuffix(key, ".html") || strings.HasSuffix(key, ".go") || strings.HasPrefix(key, "kaiin") {
				continue
			}
			if _, ok := messages[key]; !ok && !isPrefixOfKey(key) {
				t.Errorf("%s uses %q, which is not in messages.json", f, key)
			}
			checked++
		}
	}
	if checked < 40 {
		t.Fatalf("checked only %d keys: the pattern no longer finds them", checked)
	}
	// Mail kinds are built as "mail."+kind+".subject"/".body".
	for _, kind := range []string{"verify", "exists", "reset", "password_changed", "email_taken", "email_change", "email_changed", "mfa_changed", "new_device"} {
		for _, part := range []string{".subject", ".body"} {
			if _, ok := messages["mail."+kind+part]; !ok {
				t.Errorf("mail.%s%s missing", kind, part)
			}
		}
	}
}

func isPrefixOfKey(p string) bool {
	for k := range messages {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func TestFromRequest(t *testing.T) {
	cases := []struct {
		url, cookie, accept string
		want                Lang
	}{
		{"/", "", "", EN},
		{"/", "", "ja-JP,ja;q=0.9,en;q=0.8", JA},
		{"/", "", "fr-FR,fr;q=0.9", EN},
		{"/", "", "fr-FR,ja;q=0.5", JA},
		{"/", "en", "ja", EN},
		{"/", "xx", "ja", JA},
		{"/?ui_locales=ja", "en", "en", JA},
		{"/?ui_locales=de+en", "ja", "ja", EN},
		{"/?ui_locales=de", "ja", "", JA},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", c.url, nil)
		if c.cookie != "" {
			r.Header.Set("Cookie", CookieName+"="+c.cookie)
		}
		if c.accept != "" {
			r.Header.Set("Accept-Language", c.accept)
		}
		if got := FromRequest(r); got != c.want {
			t.Errorf("%s cookie=%q accept=%q: got %s, want %s", c.url, c.cookie, c.accept, got, c.want)
		}
	}
	if T(JA, "no.such.key") != "[no.such.key]" {
		t.Error("missing key not visible")
	}
}
