package member

import (
	"strings"
	"unicode"

	"golang.org/x/text/language"
)

// Claims returns the OpenID Connect claims (Core 5.1, 5.2) of p that the
// granted scopes allow, for the ID token or userinfo:
//
//   - profile: name, family_name, given_name, the katakana readings as
//     family_name#ja-Kana-JP and given_name#ja-Kana-JP, nickname,
//     birthdate, locale, zoneinfo;
//   - email: email, email_verified;
//   - phone: phone_number (E.164), phone_number_verified;
//   - address: address {formatted, street_address, locality, region,
//     postal_code, country}.
//
// Empty values are left out, and so are the verified flags of absent
// values. Other scopes ("openid", "members:…") add nothing here.
func Claims(p Profile, scopes []string) map[string]any {
	c := map[string]any{}
	set := func(k, v string) {
		if v != "" {
			c[k] = v
		}
	}
	for _, s := range scopes {
		switch s {
		case "profile":
			set("name", FullName(p))
			set("family_name", p.FamilyName)
			set("given_name", p.GivenName)
			set("family_name#ja-Kana-JP", p.FamilyNameKana)
			set("given_name#ja-Kana-JP", p.GivenNameKana)
			set("nickname", p.Nickname)
			set("birthdate", p.Birthdate)
			set("locale", p.Locale)
			set("zoneinfo", p.Zoneinfo)
		case "email":
			if p.Email != "" {
				c["email"] = p.Email
				c["email_verified"] = p.EmailVerified
			}
		case "phone":
			if p.Phone != "" {
				c["phone_number"] = p.Phone
				c["phone_number_verified"] = p.PhoneVerified
			}
		case "address":
			if p.Address != nil {
				c["address"] = AddressClaim(*p.Address)
			}
		}
	}
	return c
}

// FullName is the name claim: family name first ("山田 太郎") when the
// member's locale is Japanese, or when there is no locale and the family
// name is written in Japanese script; given name first otherwise.
func FullName(p Profile) string {
	f, g := p.FamilyName, p.GivenName
	switch {
	case f == "":
		return g
	case g == "":
		return f
	case familyFirst(p):
		return f + " " + g
	}
	return g + " " + f
}

func familyFirst(p Profile) bool {
	if p.Locale != "" {
		if tag, err := language.Parse(p.Locale); err == nil {
			base, _ := tag.Base()
			return base.String() == "ja"
		}
	}
	for _, r := range p.FamilyName {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) {
			return true
		}
	}
	return false
}

// AddressClaim is the address claim (OIDC Core 5.1.1). street_address
// holds the street and, on a second line, the building. formatted is in
// Japanese order for Japan ("〒100-0001 東京都 千代田区 千代田1-1 建物"),
// and otherwise street, building, "locality, region postal_code" and
// country on lines of their own.
func AddressClaim(a Address) map[string]any {
	c := map[string]any{}
	set := func(k, v string) {
		if v != "" {
			c[k] = v
		}
	}
	set("street_address", joinNonEmpty("\n", a.Street, a.Building))
	set("locality", a.Locality)
	set("region", a.Region)
	set("postal_code", a.PostalCode)
	set("country", a.Country)
	set("formatted", FormatAddress(a))
	return c
}

// FormatAddress writes a as it is written on an envelope.
func FormatAddress(a Address) string {
	if a.Country == "JP" {
		pc := a.PostalCode
		if pc != "" {
			pc = "〒" + pc
		}
		return joinNonEmpty(" ", pc, a.Region, a.Locality, a.Street, a.Building)
	}
	last := joinNonEmpty(" ", a.Region, a.PostalCode)
	city := joinNonEmpty(", ", a.Locality, last)
	return joinNonEmpty("\n", a.Street, a.Building, city, a.Country)
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
