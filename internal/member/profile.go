package member

import (
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zoneinfo validates the same in a container without /usr/share/zoneinfo
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"

	"github.com/kaiin-project/kaiin/internal/errcode"
)

// Profile is a member's personal data, normalised. Field names in errors
// and in JSON are the OpenID Connect claim names where there is one.
type Profile struct {
	FamilyName     string   `json:"family_name,omitempty"`
	GivenName      string   `json:"given_name,omitempty"`
	FamilyNameKana string   `json:"family_name_kana,omitempty"` // katakana
	GivenNameKana  string   `json:"given_name_kana,omitempty"`  // katakana
	Nickname       string   `json:"nickname,omitempty"`
	Email          string   `json:"email,omitempty"` // normalised as account.NormalizeEmail does
	EmailVerified  bool     `json:"email_verified,omitempty"`
	Phone          string   `json:"phone_number,omitempty"` // E.164, "+819012345678"
	PhoneVerified  bool     `json:"phone_number_verified,omitempty"`
	Address        *Address `json:"address,omitempty"`
	Birthdate      string   `json:"birthdate,omitempty"` // YYYY-MM-DD, YYYY, or 0000-MM-DD (OIDC)
	Locale         string   `json:"locale,omitempty"`    // BCP 47, canonical ("ja-JP")
	Zoneinfo       string   `json:"zoneinfo,omitempty"`  // IANA time zone ("Asia/Tokyo")
}

// Address is a postal address. For Japan (Country "JP") PostalCode is
// "NNN-NNNN", Region one of the 47 prefectures by its Japanese name
// ("東京都"), Locality the city, ward, town or village, Street the rest
// of the address (町域・番地) and Building the building and room.
type Address struct {
	Country    string `json:"country"` // ISO 3166-1 alpha-2, upper case
	PostalCode string `json:"postal_code,omitempty"`
	Region     string `json:"region,omitempty"`
	Locality   string `json:"locality,omitempty"`
	Street     string `json:"street_address,omitempty"`
	Building   string `json:"building,omitempty"`
}

// Field names used in errors ("address.postal_code"). The label of a field
// is the i18n message FieldLabelKey(field).
const (
	FieldFamilyName     = "family_name"
	FieldGivenName      = "given_name"
	FieldFamilyNameKana = "family_name_kana"
	FieldGivenNameKana  = "given_name_kana"
	FieldNickname       = "nickname"
	FieldEmail          = "email"
	FieldPhone          = "phone_number"
	FieldCountry        = "address.country"
	FieldPostalCode     = "address.postal_code"
	FieldRegion         = "address.region"
	FieldLocality       = "address.locality"
	FieldStreet         = "address.street_address"
	FieldBuilding       = "address.building"
	FieldBirthdate      = "birthdate"
	FieldLocale         = "locale"
	FieldZoneinfo       = "zoneinfo"
)

// Fields lists every field name, in form order.
var Fields = []string{
	FieldFamilyName, FieldGivenName, FieldFamilyNameKana, FieldGivenNameKana, FieldNickname,
	FieldEmail, FieldPhone,
	FieldCountry, FieldPostalCode, FieldRegion, FieldLocality, FieldStreet, FieldBuilding,
	FieldBirthdate, FieldLocale, FieldZoneinfo,
}

// FieldLabelKey is the i18n key of a field's label ("field.address.postal_code").
func FieldLabelKey(field string) string { return "field." + field }

// MaxLen is the longest value, in characters after normalisation, that
// each free-text field accepts. The other fields have formats of bounded
// length (postal codes, E.164, dates, codes) and are also capped before
// parsing, so no input of any length costs more than a few microseconds.
var MaxLen = map[string]int{
	FieldFamilyName:     50,
	FieldGivenName:      50,
	FieldFamilyNameKana: 100,
	FieldGivenNameKana:  100,
	FieldNickname:       50,
	FieldEmail:          254,
	FieldPhone:          32, // as typed, with spaces and hyphens
	FieldCountry:        64, // alpha-2 stored; alpha-3 and numeric codes accepted
	FieldPostalCode:     16,
	FieldRegion:         50,
	FieldLocality:       100,
	FieldStreet:         200,
	FieldBuilding:       200,
	FieldBirthdate:      16, // as typed ("1990年04月01日")
	FieldLocale:         35, // RFC 5646 §4.4.1
	FieldZoneinfo:       64,
}

// Problems is every problem found in a profile, one per field at most,
// each an *errcode.Error naming its field.
type Problems []*errcode.Error

func (p Problems) Error() string {
	var b strings.Builder
	b.WriteString("member: invalid profile: ")
	for i, e := range p {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Field + ": " + e.Code.ID)
	}
	return b.String()
}

// Field returns the problem with field, or nil.
func (p Problems) Field(field string) *errcode.Error {
	for _, e := range p {
		if e.Field == field {
			return e
		}
	}
	return nil
}

// Normalizer normalises and validates profiles. The zero value is ready:
// the clock is time.Now and national phone numbers are Japanese.
type Normalizer struct {
	Now           func() time.Time // for "not in the future"; nil means time.Now
	DefaultRegion string           // region of phone numbers without +; "" means "JP"
}

// Normalize is Normalizer{}.Normalize.
func Normalize(in Profile) (Profile, error) { return Normalizer{}.Normalize(in) }

// Normalize returns in normalised, or a Problems error listing every field
// that is wrong. Every text field goes through NFKC (full-width letters
// and digits become ASCII, half-width katakana full-width), is trimmed,
// has runs of spaces collapsed, must hold no control or bidirectional
// formatting characters, and is capped at MaxLen. Then:
//
//   - kana readings: hiragana become katakana; anything but kana, "ー",
//     "・" and spaces is refused;
//   - phone: to E.164, national numbers in DefaultRegion (090-1234-5678 →
//     +819012345678); PhoneVerified is cleared when there is no number;
//   - email: lower-cased and checked as account.NormalizeEmail does;
//   - address: dropped when every field is empty; country required (ISO
//     3166-1 alpha-2); for JP a 7-digit postal code as NNN-NNNN ("〒１００
//     −０００１" → "100-0001"), one of the 47 prefectures by any of its
//     names ("東京", "Tokyo", "tokyo-to", "JP-13" → "東京都"), locality and
//     street required; elsewhere the street is required;
//   - birthdate: YYYY-MM-DD (also YYYY/M/D and YYYY年M月D日), YYYY, or
//     0000-MM-DD; a real date, not before 1900 nor in the future;
//   - locale: a BCP 47 tag, canonicalised ("ja_jp" → "ja-JP");
//   - zoneinfo: an IANA name time.LoadLocation knows.
//
// On error the returned Profile still holds what could be normalised, for
// the form to show again.
func (n Normalizer) Normalize(in Profile) (Profile, error) {
	var probs Problems
	bad := func(field string, c *errcode.Code, args ...any) {
		probs = append(probs, errcode.New(c, field, args...))
	}
	// text normalises a free-text field; ok is false when it was refused.
	text := func(field, s string) (string, bool) {
		s, c := cleanText(s)
		if c != nil {
			bad(field, c)
			return s, false
		}
		if max := MaxLen[field]; utf8.RuneCountInString(s) > max {
			bad(field, errcode.ProfileTooLong, max)
			return s, false
		}
		return s, true
	}
	out := in
	out.FamilyName, _ = text(FieldFamilyName, in.FamilyName)
	out.GivenName, _ = text(FieldGivenName, in.GivenName)
	out.Nickname, _ = text(FieldNickname, in.Nickname)
	for _, k := range []struct {
		field string
		v     *string
		in    string
	}{{FieldFamilyNameKana, &out.FamilyNameKana, in.FamilyNameKana}, {FieldGivenNameKana, &out.GivenNameKana, in.GivenNameKana}} {
		s, ok := text(k.field, k.in)
		*k.v = s
		if ok {
			if s, ok = toKatakana(s); !ok {
				bad(k.field, errcode.ProfileKanaInvalid)
			} else {
				*k.v = s
			}
		}
	}

	if s, ok := text(FieldEmail, in.Email); ok && s != "" {
		if e, ok := normalizeEmail(s); ok {
			out.Email = e
		} else {
			out.Email = s
			bad(FieldEmail, errcode.EmailInvalid)
		}
	} else {
		out.Email = s
	}
	if out.Email == "" {
		out.EmailVerified = false
	}

	if s, ok := text(FieldPhone, in.Phone); ok && s != "" {
		region := n.DefaultRegion
		if region == "" {
			region = "JP"
		}
		if e, ok := toE164(s, region); ok {
			out.Phone = e
		} else {
			out.Phone = s
			bad(FieldPhone, errcode.ProfilePhoneInvalid)
		}
	} else {
		out.Phone = s
	}
	if out.Phone == "" {
		out.PhoneVerified = false
	}

	if in.Address != nil {
		a := *in.Address
		a.Country, _ = text(FieldCountry, strings.ToUpper(a.Country))
		a.PostalCode, _ = text(FieldPostalCode, a.PostalCode)
		a.Region, _ = text(FieldRegion, a.Region)
		a.Locality, _ = text(FieldLocality, a.Locality)
		a.Street, _ = text(FieldStreet, dashes(a.Street))
		a.Building, _ = text(FieldBuilding, dashes(a.Building))
		if a == (Address{}) {
			out.Address = nil
		} else {
			n.address(&a, in.Address, probs, bad)
			out.Address = &a
		}
	}

	if s, ok := text(FieldBirthdate, in.Birthdate); ok && s != "" {
		out.Birthdate = s
		if d, c := n.birthdate(s); c != nil {
			bad(FieldBirthdate, c)
		} else {
			out.Birthdate = d
		}
	} else {
		out.Birthdate = s
	}

	if s, ok := text(FieldLocale, in.Locale); ok && s != "" {
		out.Locale = s
		if tag, err := language.Parse(s); err != nil || tag == language.Und {
			bad(FieldLocale, errcode.ProfileLocaleInvalid)
		} else {
			out.Locale = tag.String()
		}
	} else {
		out.Locale = s
	}

	if s, ok := text(FieldZoneinfo, in.Zoneinfo); ok && s != "" {
		out.Zoneinfo = s
		if !validZone(s) {
			bad(FieldZoneinfo, errcode.ProfileZoneinfoInvalid)
		}
	} else {
		out.Zoneinfo = s
	}

	if len(probs) > 0 {
		sortProblems(probs)
		return out, probs
	}
	return out, nil
}

// address checks and completes a, whose text fields are cleaned already.
// Fields already refused (in probs) are not reported twice.
func (n Normalizer) address(a, raw *Address, probs Problems, bad func(string, *errcode.Code, ...any)) {
	refused := func(f string) bool { return probs.Field(f) != nil }
	switch {
	case refused(FieldCountry):
	case a.Country == "":
		bad(FieldCountry, errcode.ProfileRequired)
	default:
		// Alpha-3 and numeric codes are accepted and stored as alpha-2.
		r, err := language.ParseRegion(a.Country)
		if err != nil || !r.IsCountry() || len(r.String()) != 2 {
			bad(FieldCountry, errcode.ProfileCountryInvalid)
		} else {
			a.Country = r.String()
		}
	}
	if a.Country == "JP" {
		if !refused(FieldPostalCode) {
			if a.PostalCode == "" {
				bad(FieldPostalCode, errcode.ProfileRequired)
			} else if pc, ok := postalCodeJP(a.PostalCode); ok {
				a.PostalCode = pc
			} else {
				bad(FieldPostalCode, errcode.ProfilePostalCodeJP)
			}
		}
		if !refused(FieldRegion) {
			if a.Region == "" {
				bad(FieldRegion, errcode.ProfileRequired)
			} else if p, ok := LookupPrefecture(a.Region); ok {
				a.Region = p.JA
			} else {
				bad(FieldRegion, errcode.ProfilePrefectureInvalid)
			}
		}
		if a.Locality == "" && !refused(FieldLocality) {
			bad(FieldLocality, errcode.ProfileRequired)
		}
	} else if a.PostalCode != "" && !refused(FieldPostalCode) {
		pc := strings.ToUpper(dashes(a.PostalCode))
		if postalGeneric.MatchString(pc) {
			a.PostalCode = pc
		} else {
			bad(FieldPostalCode, errcode.ProfilePostalCodeInvalid)
		}
	}
	if a.Street == "" && !refused(FieldStreet) {
		bad(FieldStreet, errcode.ProfileRequired)
	}
}

var (
	postalJP      = regexp.MustCompile(`^([0-9]{3})[- ]?([0-9]{4})$`)
	postalGeneric = regexp.MustCompile(`^[A-Z0-9](?:[A-Z0-9 -]{0,14}[A-Z0-9])?$`)
	phoneChars    = regexp.MustCompile(`^\+?[0-9(][0-9 ()\-.]*$`)
	dateYMD       = regexp.MustCompile(`^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})$`)
	dateJA        = regexp.MustCompile(`^([0-9]{4}) ?年 ?([0-9]{1,2}) ?月 ?([0-9]{1,2}) ?日$`)
	dateY         = regexp.MustCompile(`^[0-9]{4}$`)
)

// postalCodeJP returns a Japanese postal code as NNN-NNNN.
func postalCodeJP(s string) (string, bool) {
	s = strings.TrimSpace(strings.TrimPrefix(dashes(s), "〒"))
	m := postalJP.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	return m[1] + "-" + m[2], true
}

// toE164 parses a phone number typed by a person.
func toE164(s, region string) (string, bool) {
	s = dashes(s)
	if !phoneChars.MatchString(s) {
		return "", false
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}

// birthdate returns the canonical form of a date of birth, or the code of
// its problem.
func (n Normalizer) birthdate(s string) (string, *errcode.Code) {
	now := time.Now
	if n.Now != nil {
		now = n.Now
	}
	// The latest "today" anywhere on Earth, so that nobody born today in
	// their own time zone is refused.
	today := now().UTC().Add(14 * time.Hour)
	if dateY.MatchString(s) {
		y, _ := strconv.Atoi(s)
		if y < 1900 || y > today.Year() {
			return "", errcode.ProfileBirthdateRange
		}
		return s, nil
	}
	m := dateYMD.FindStringSubmatch(s)
	if m == nil {
		m = dateJA.FindStringSubmatch(s)
	}
	if m == nil {
		return "", errcode.ProfileBirthdateInvalid
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	d, _ := strconv.Atoi(m[3])
	check := y
	if y == 0 {
		check = 2000 // year withheld (OIDC 0000-MM-DD): any day of a leap year is real
	}
	t := time.Date(check, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != check || int(t.Month()) != mo || t.Day() != d {
		return "", errcode.ProfileBirthdateInvalid
	}
	if y != 0 {
		todayDate := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
		if y < 1900 || t.After(todayDate) {
			return "", errcode.ProfileBirthdateRange
		}
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, mo, d), nil
}

func validZone(s string) bool {
	if s == "Local" || strings.HasPrefix(s, "/") || strings.Contains(s, "..") {
		return false
	}
	_, err := time.LoadLocation(s)
	return err == nil
}

// normalizeEmail applies the rules of account.NormalizeEmail (a test
// checks they agree) to a value cleanText has already normalised; they are
// repeated here so that account may import this package.
func normalizeEmail(s string) (string, bool) {
	e := strings.ToLower(s)
	if len(e) > 254 || len(e) < 3 {
		return "", false
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", false
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || !strings.Contains(e[at+1:], ".") || strings.HasSuffix(e, ".") {
		return "", false
	}
	return e, true
}

// cleanText applies NFKC, trims, collapses runs of white space into one
// space and refuses invalid UTF-8 and characters that have no place in a
// one-line field.
func cleanText(s string) (string, *errcode.Code) {
	if !utf8.ValidString(s) {
		return "", errcode.ProfileBadCharacters
	}
	s = strings.TrimSpace(norm.NFKC.String(s))
	if s == "" {
		return "", nil
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if forbidden(r) {
			return s, errcode.ProfileBadCharacters
		}
		if r == ' ' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	return b.String(), nil
}

// forbidden reports characters refused in every field: controls (line
// breaks and tabs included), line and paragraph separators, the
// bidirectional formatting characters that can make text display other
// than it reads (U+202E…), zero-width space, the byte-order mark and
// noncharacters. Zero-width joiners stay: emoji sequences and some
// scripts need them.
func forbidden(r rune) bool {
	switch {
	case unicode.IsControl(r), unicode.In(r, unicode.Zl, unicode.Zp, unicode.Co):
		return true
	case r == 0x061C, r == 0x200B, r == 0x200E, r == 0x200F, r == 0xFEFF,
		r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	case r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE:
		return true
	}
	return false
}

// dashes maps the dash-like characters people type in numbers to "-":
// hyphens, minus signs and dashes always, and the long-vowel mark "ー"
// after a digit (a common input-method slip: "１００ー０００１").
func dashes(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r > 0x7F }) || !utf8.ValidString(s) {
		return s // ASCII, or invalid UTF-8 that cleanText refuses
	}
	s = norm.NFKC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	prevDigit := false
	for _, r := range s {
		switch {
		case r == 0x2010, r == 0x2011, r == 0x2012, r == 0x2013, r == 0x2014, r == 0x2015,
			r == 0x2212, r == 0xFE63, r == 0xFF0D, r == 0x2043:
			r = '-'
		case (r == 0x30FC || r == 0xFF70) && prevDigit:
			r = '-'
		}
		prevDigit = r >= '0' && r <= '9'
		b.WriteRune(r)
	}
	return b.String()
}

// toKatakana converts hiragana to katakana and reports whether s is then
// kana only (katakana, "ー", "・", iteration marks and spaces).
func toKatakana(s string) (string, bool) {
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case r >= 0x3041 && r <= 0x3096: // ぁ…ゖ → ァ…ヶ
			rs[i] = r + 0x60
		case r == 0x309D || r == 0x309E: // ゝゞ → ヽヾ
			rs[i] = r + 0x60
		}
		r = rs[i]
		if !(r >= 0x30A1 && r <= 0x30FA || r == 0x30FB || r == 0x30FC || r == 0x30FD || r == 0x30FE || r == ' ') {
			return s, false
		}
	}
	return string(rs), true
}

// sortProblems puts problems in form order.
func sortProblems(p Problems) {
	order := map[string]int{}
	for i, f := range Fields {
		order[f] = i
	}
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && order[p[j].Field] < order[p[j-1].Field]; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}
