// Package i18n holds the Japanese and English texts of every page and mail,
// and chooses the language of a request.
//
// Texts live in messages.json, one entry per key with both languages side
// by side, so a translator sees each pair together and a test proves that
// no key lacks a language.
package i18n

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/text/language"
)

// Lang is a supported language tag.
type Lang string

const (
	EN Lang = "en"
	JA Lang = "ja"
)

// Supported lists the languages in the order of the language switch.
var Supported = []Lang{JA, EN}

// CookieName remembers the language a person chose.
const CookieName = "kaiin_lang"

//go:embed messages.json
var messagesJSON []byte

type entry struct {
	EN string `json:"en"`
	JA string `json:"ja"`
}

var messages = mustLoad(messagesJSON)

func mustLoad(b []byte) map[string]entry {
	m := map[string]entry{}
	if err := json.Unmarshal(b, &m); err != nil {
		panic("i18n: messages.json: " + err.Error())
	}
	return m
}

// T returns the text for key in lang, formatted with args. A missing key
// returns the key itself in brackets so it is visible, never empty.
func T(lang Lang, key string, args ...any) string {
	e, ok := messages[key]
	if !ok {
		return "[" + key + "]"
	}
	s := e.EN
	if lang == JA {
		s = e.JA
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Keys returns every message key (for tests).
func Keys() []string {
	out := make([]string, 0, len(messages))
	for k := range messages {
		out = append(out, k)
	}
	return out
}

// Parse returns the supported language named by s ("ja", "ja-JP", "en-US"…).
func Parse(s string) (Lang, bool) {
	tag, err := language.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", false
	}
	base, _ := tag.Base()
	switch base.String() {
	case "ja":
		return JA, true
	case "en":
		return EN, true
	}
	return "", false
}

var matcher = language.NewMatcher([]language.Tag{language.English, language.Japanese})

// FromRequest chooses the language of r: the ui_locales parameter (a
// space-separated list, as in OpenID Connect) first, then the remembered
// choice, then Accept-Language, then English.
func FromRequest(r *http.Request) Lang {
	if ui := r.URL.Query().Get("ui_locales"); ui != "" {
		for _, s := range strings.Fields(ui) {
			if l, ok := Parse(s); ok {
				return l
			}
		}
	}
	if c, err := r.Cookie(CookieName); err == nil {
		if l, ok := Parse(c.Value); ok {
			return l
		}
	}
	if al := r.Header.Get("Accept-Language"); al != "" {
		tags, _, err := language.ParseAcceptLanguage(al)
		if err == nil && len(tags) > 0 {
			_, idx, conf := matcher.Match(tags...)
			if conf != language.No {
				if idx == 1 {
					return JA
				}
				return EN
			}
		}
	}
	return EN
}
