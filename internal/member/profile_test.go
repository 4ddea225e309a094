package member

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
)

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

var testNormalizer = Normalizer{Now: func() time.Time { return testNow }}

// fieldCase is one input of one field: the value it normalises to, or the
// code of its problem.
type fieldCase struct {
	in, want string
	code     *errcode.Code
}

// checkField runs cases through Normalize on the field set by set and read
// by get, and checks the result and that the problem names the field.
func checkField(t *testing.T, field string, cases []fieldCase, base Profile, set func(*Profile, string), get func(Profile) string) {
	t.Helper()
	for _, c := range cases {
		p := base
		if p.Address != nil {
			a := *p.Address
			p.Address = &a
		}
		set(&p, c.in)
		out, err := testNormalizer.Normalize(p)
		name := fmt.Sprintf("%s %q", field, c.in)
		if c.code == nil {
			if err != nil {
				t.Errorf("%s: unexpected error %v", name, err)
				continue
			}
			if got := get(out); got != c.want {
				t.Errorf("%s: got %q, want %q", name, got, c.want)
			}
			continue
		}
		var probs Problems
		if !errors.As(err, &probs) {
			t.Errorf("%s: got %v (%q), want %s", name, err, get(out), c.code.ID)
			continue
		}
		if len(probs) != 1 || probs[0].Field != field || probs[0].Code != c.code {
			t.Errorf("%s: got %v, want %s on %s", name, probs, c.code.ID, field)
		}
	}
}

func TestNormalizeNames(t *testing.T) {
	long := strings.Repeat("あ", 50)
	cases := []fieldCase{
		{"山田", "山田", nil},
		{"  山田  ", "山田", nil},
		{"ＹＡＭＡＤＡ", "YAMADA", nil},
		{"ﾔﾏﾀﾞ", "ヤマダ", nil},
		{"van\u3000der  Berg", "van der Berg", nil},
		{"O'Brien-Smith", "O'Brien-Smith", nil},
		{"", "", nil},
		{"   ", "", nil},
		{long, long, nil},
		{long + "あ", "", errcode.ProfileTooLong},
		{"a\tb", "", errcode.ProfileBadCharacters},
		{"a\nb", "", errcode.ProfileBadCharacters},
		{"a\x00b", "", errcode.ProfileBadCharacters},
		{"abc\u202Egpj.exe", "", errcode.ProfileBadCharacters},
		{"a\u2066b", "", errcode.ProfileBadCharacters},
		{"a\u200Bb", "", errcode.ProfileBadCharacters},
		{"a\u2028b", "", errcode.ProfileBadCharacters},
		{"a\uFEFFb", "", errcode.ProfileBadCharacters},
		{"a\uE000b", "", errcode.ProfileBadCharacters},
		{"bad\xffutf8", "", errcode.ProfileBadCharacters},
	}
	checkField(t, FieldFamilyName, cases, Profile{}, func(p *Profile, s string) { p.FamilyName = s }, func(p Profile) string { return p.FamilyName })
	checkField(t, FieldGivenName, cases, Profile{}, func(p *Profile, s string) { p.GivenName = s }, func(p Profile) string { return p.GivenName })
	checkField(t, FieldNickname, append(cases,
		fieldCase{"👩\u200D👩\u200D👧 family", "👩\u200D👩\u200D👧 family", nil}, // zero-width joiners stay
	), Profile{}, func(p *Profile, s string) { p.Nickname = s }, func(p Profile) string { return p.Nickname })
}

func TestNormalizeKana(t *testing.T) {
	cases := []fieldCase{
		{"ヤマダ", "ヤマダ", nil},
		{"やまだ", "ヤマダ", nil},
		{"ﾔﾏﾀﾞ", "ヤマダ", nil},
		{"ヤマダ　タロウ", "ヤマダ タロウ", nil},
		{"  やまだ ", "ヤマダ", nil},
		{"ゔぁいおりん", "ヴァイオリン", nil},
		{"ゝゞ", "ヽヾ", nil},
		{"じょーじ・すみす", "ジョージ・スミス", nil},
		{"ｼﾞｮｰｼﾞ･ｽﾐｽ", "ジョージ・スミス", nil},
		{"ヵヶ", "ヵヶ", nil},
		{"山田", "", errcode.ProfileKanaInvalid},
		{"yamada", "", errcode.ProfileKanaInvalid},
		{"ヤマダ1", "", errcode.ProfileKanaInvalid},
		{"ヤマダ。", "", errcode.ProfileKanaInvalid},
		{strings.Repeat("ア", 100), strings.Repeat("ア", 100), nil},
		{strings.Repeat("あ", 101), "", errcode.ProfileTooLong},
		{"ヤ\u0007マダ", "", errcode.ProfileBadCharacters},
	}
	checkField(t, FieldFamilyNameKana, cases, Profile{}, func(p *Profile, s string) { p.FamilyNameKana = s }, func(p Profile) string { return p.FamilyNameKana })
	checkField(t, FieldGivenNameKana, cases, Profile{}, func(p *Profile, s string) { p.GivenNameKana = s }, func(p Profile) string { return p.GivenNameKana })
}

func TestNormalizeEmail(t *testing.T) {
	checkField(t, FieldEmail, []fieldCase{
		{"taro@example.com", "taro@example.com", nil},
		{" Taro@Example.COM ", "taro@example.com", nil},
		{"ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ", "taro@example.com", nil},
		{"", "", nil},
		{"taro", "", errcode.EmailInvalid},
		{"taro@localhost", "", errcode.EmailInvalid},
		{"Taro <taro@example.com>", "", errcode.EmailInvalid},
		{"taro@example.com.", "", errcode.EmailInvalid},
		{strings.Repeat("a", 250) + "@example.com", "", errcode.ProfileTooLong},
	}, Profile{}, func(p *Profile, s string) { p.Email = s }, func(p Profile) string { return p.Email })
}

func TestNormalizePhone(t *testing.T) {
	checkField(t, FieldPhone, []fieldCase{
		{"090-1234-5678", "+819012345678", nil},
		{"09012345678", "+819012345678", nil},
		{"０９０－１２３４－５６７８", "+819012345678", nil},
		{"０９０ー１２３４ー５６７８", "+819012345678", nil}, // long-vowel mark for a hyphen
		{"090−1234−5678", "+819012345678", nil}, // U+2212 minus
		{"090‐1234‐5678", "+819012345678", nil}, // U+2010 hyphen
		{"090 1234 5678", "+819012345678", nil},
		{"+81 90-1234-5678", "+819012345678", nil},
		{"＋８１　９０　１２３４　５６７８", "+819012345678", nil},
		{"+819012345678", "+819012345678", nil},
		{"03-1234-5678", "+81312345678", nil},
		{"(03) 1234-5678", "+81312345678", nil},
		{"06.1234.5678", "+81612345678", nil},
		{"+1 415-555-2671", "+14155552671", nil},
		{"+44 20 7946 0958", "+442079460958", nil},
		{"", "", nil},
		{"12345", "", errcode.ProfilePhoneInvalid},
		{"090-1234-567", "", errcode.ProfilePhoneInvalid},
		{"090-1234-567a", "", errcode.ProfilePhoneInvalid},
		{"090-1234-5678 ext. 12", "", errcode.ProfilePhoneInvalid},
		{"tel:+819012345678", "", errcode.ProfilePhoneInvalid},
		{"+81", "", errcode.ProfilePhoneInvalid},
		{"--", "", errcode.ProfilePhoneInvalid},
		{strings.Repeat("0", 33), "", errcode.ProfileTooLong},
	}, Profile{}, func(p *Profile, s string) { p.Phone = s }, func(p Profile) string { return p.Phone })

	// A non-Japanese default region for national numbers.
	out, err := Normalizer{DefaultRegion: "US"}.Normalize(Profile{Phone: "(415) 555-2671"})
	if err != nil || out.Phone != "+14155552671" {
		t.Errorf("US default region: %q, %v", out.Phone, err)
	}
}

func TestVerifiedFlagsNeedAValue(t *testing.T) {
	out, err := Normalize(Profile{Phone: "  ", PhoneVerified: true, EmailVerified: true})
	if err != nil || out.PhoneVerified || out.EmailVerified {
		t.Fatalf("verified flags kept without values: %+v, %v", out, err)
	}
	out, err = Normalize(Profile{Phone: "090-1234-5678", PhoneVerified: true})
	if err != nil || !out.PhoneVerified {
		t.Fatalf("verified flag lost: %+v, %v", out, err)
	}
}

var jpAddress = Address{Country: "JP", PostalCode: "100-0001", Region: "東京都", Locality: "千代田区", Street: "千代田1-1"}

func addr(get func(*Address) *string) (func(*Profile, string), func(Profile) string) {
	return func(p *Profile, s string) { *get(p.Address) = s },
		func(p Profile) string {
			if p.Address == nil {
				return "<nil>"
			}
			return *get(p.Address)
		}
}

func TestNormalizePostalCode(t *testing.T) {
	set, get := addr(func(a *Address) *string { return &a.PostalCode })
	checkField(t, FieldPostalCode, []fieldCase{
		{"100-0001", "100-0001", nil},
		{"1000001", "100-0001", nil},
		{"〒１００−０００１", "100-0001", nil},
		{"〒１００－０００１", "100-0001", nil},
		{"〒 100-0001", "100-0001", nil},
		{"１００ー０００１", "100-0001", nil},
		{"100 0001", "100-0001", nil},
		{" 100‐0001 ", "100-0001", nil},
		{"", "", errcode.ProfileRequired},
		{"100-001", "", errcode.ProfilePostalCodeJP},
		{"10000011", "", errcode.ProfilePostalCodeJP},
		{"10-00001", "", errcode.ProfilePostalCodeJP},
		{"100--0001", "", errcode.ProfilePostalCodeJP},
		{"abc-defg", "", errcode.ProfilePostalCodeJP},
		{"〒〒100-0001", "", errcode.ProfilePostalCodeJP},
		{strings.Repeat("1", 17), "", errcode.ProfileTooLong},
	}, Profile{Address: &jpAddress}, set, get)

	us := Address{Country: "US", Street: "1 Market St", Locality: "San Francisco", Region: "CA"}
	checkField(t, FieldPostalCode, []fieldCase{
		{"94105", "94105", nil},
		{"94105-1234", "94105-1234", nil},
		{"sw1a 1aa", "SW1A 1AA", nil},
		{"", "", nil}, // optional outside Japan
		{"!!", "", errcode.ProfilePostalCodeInvalid},
		{"-123", "", errcode.ProfilePostalCodeInvalid},
		{strings.Repeat("1", 17), "", errcode.ProfileTooLong},
	}, Profile{Address: &us}, set, get)
}

func TestNormalizePrefectureField(t *testing.T) {
	set, get := addr(func(a *Address) *string { return &a.Region })
	checkField(t, FieldRegion, []fieldCase{
		{"東京都", "東京都", nil},
		{"東京", "東京都", nil},
		{"Tokyo", "東京都", nil},
		{"tokyo-to", "東京都", nil},
		{"ＴＯＫＹＯ", "東京都", nil},
		{"", "", errcode.ProfileRequired},
		{"東京府", "", errcode.ProfilePrefectureInvalid},
		{"California", "", errcode.ProfilePrefectureInvalid},
		{"48", "", errcode.ProfilePrefectureInvalid},
	}, Profile{Address: &jpAddress}, set, get)

	// Outside Japan the region is free text.
	us := Address{Country: "US", Street: "1 Market St"}
	checkField(t, FieldRegion, []fieldCase{
		{"California", "California", nil},
		{" CA ", "CA", nil},
		{strings.Repeat("x", 51), "", errcode.ProfileTooLong},
	}, Profile{Address: &us}, set, get)
}

func TestNormalizeCountry(t *testing.T) {
	set, get := addr(func(a *Address) *string { return &a.Country })
	base := Address{Street: "1 Main St"}
	checkField(t, FieldCountry, []fieldCase{
		{"US", "US", nil},
		{"us", "US", nil},
		{"ｇｂ", "GB", nil},
		{"USA", "US", nil},
		{"", "", errcode.ProfileRequired},
		{"XX", "", errcode.ProfileCountryInvalid},
		{"ZZ", "", errcode.ProfileCountryInvalid},
		{"EU", "", errcode.ProfileCountryInvalid},
		{"U", "", errcode.ProfileCountryInvalid},
		{"United States", "", errcode.ProfileCountryInvalid},
		{strings.Repeat("A", 65), "", errcode.ProfileTooLong},
	}, Profile{Address: &base}, set, get)
}

func TestNormalizeAddressLines(t *testing.T) {
	set, get := addr(func(a *Address) *string { return &a.Street })
	checkField(t, FieldStreet, []fieldCase{
		{"千代田１−１", "千代田1-1", nil},
		{"千代田１ー１", "千代田1-1", nil},
		{"丸の内１丁目９番１号", "丸の内1丁目9番1号", nil},
		{"", "", errcode.ProfileRequired},
		{strings.Repeat("丁", 201), "", errcode.ProfileTooLong},
		{"1-1\n2-2", "", errcode.ProfileBadCharacters},
		{"千代田\xff1−1", "", errcode.ProfileBadCharacters},
	}, Profile{Address: &jpAddress}, set, get)

	set, get = addr(func(a *Address) *string { return &a.Building })
	checkField(t, FieldBuilding, []fieldCase{
		{"コーポ山田　１０１号室", "コーポ山田 101号室", nil}, // the long-vowel mark of a word stays
		{"ｺｰﾎﾟ山田１０１", "コーポ山田101", nil},
		{"", "", nil},
		{strings.Repeat("B", 201), "", errcode.ProfileTooLong},
	}, Profile{Address: &jpAddress}, set, get)

	set, get = addr(func(a *Address) *string { return &a.Locality })
	checkField(t, FieldLocality, []fieldCase{
		{"千代田区", "千代田区", nil},
		{"", "", errcode.ProfileRequired},
		{strings.Repeat("区", 101), "", errcode.ProfileTooLong},
	}, Profile{Address: &jpAddress}, set, get)

	// An address with every field blank is no address.
	out, err := Normalize(Profile{Address: &Address{Country: " ", Street: "\u3000"}})
	if err != nil || out.Address != nil {
		t.Errorf("blank address: %+v, %v", out.Address, err)
	}
	// Outside Japan only the country and the street are required.
	out, err = Normalize(Profile{Address: &Address{Country: "SG", Street: "1 Raffles Place"}})
	if err != nil || out.Address == nil || out.Address.Country != "SG" {
		t.Errorf("minimal address: %+v, %v", out.Address, err)
	}
}

func TestNormalizeBirthdate(t *testing.T) {
	// testNow is 2026-11-23 12:00 UTC: it is already 2026-11-24 in Kiribati (UTC+14).
	checkField(t, FieldBirthdate, []fieldCase{
		{"1990-04-01", "1990-04-01", nil},
		{"1990/4/1", "1990-04-01", nil},
		{"1990.04.01", "1990-04-01", nil},
		{"１９９０－０４－０１", "1990-04-01", nil},
		{"１９９０年４月１日", "1990-04-01", nil},
		{"1990年 4月 1日", "1990-04-01", nil},
		{"2000-02-29", "2000-02-29", nil},
		{"1900-01-01", "1900-01-01", nil},
		{"2026-11-24", "2026-11-24", nil},
		{"1990", "1990", nil},
		{"2026", "2026", nil},
		{"0000-04-01", "0000-04-01", nil},
		{"0000-02-29", "0000-02-29", nil},
		{"", "", nil},
		{"1990-02-29", "", errcode.ProfileBirthdateInvalid},
		{"1990-02-30", "", errcode.ProfileBirthdateInvalid},
		{"1990-13-01", "", errcode.ProfileBirthdateInvalid},
		{"1990-00-10", "", errcode.ProfileBirthdateInvalid},
		{"0000-02-30", "", errcode.ProfileBirthdateInvalid},
		{"90-04-01", "", errcode.ProfileBirthdateInvalid},
		{"April 1, 1990", "", errcode.ProfileBirthdateInvalid},
		{"1990-04-01T00:00:00Z", "", errcode.ProfileTooLong},
		{"1899-12-31", "", errcode.ProfileBirthdateRange},
		{"1899", "", errcode.ProfileBirthdateRange},
		{"0000", "", errcode.ProfileBirthdateRange},
		{"2026-11-25", "", errcode.ProfileBirthdateRange},
		{"2027", "", errcode.ProfileBirthdateRange},
		{"3000-01-01", "", errcode.ProfileBirthdateRange},
	}, Profile{}, func(p *Profile, s string) { p.Birthdate = s }, func(p Profile) string { return p.Birthdate })
}

func TestNormalizeLocaleAndZone(t *testing.T) {
	checkField(t, FieldLocale, []fieldCase{
		{"ja-JP", "ja-JP", nil},
		{"ja", "ja", nil},
		{"ja_jp", "ja-JP", nil},
		{"EN-us", "en-US", nil},
		{"zh-Hant-TW", "zh-Hant-TW", nil},
		{"", "", nil},
		{"und", "", errcode.ProfileLocaleInvalid},
		{"xx-!!", "", errcode.ProfileLocaleInvalid},
		{"japanese", "", errcode.ProfileLocaleInvalid},
		{"ja JP", "", errcode.ProfileLocaleInvalid},
		{strings.Repeat("a", 36), "", errcode.ProfileTooLong},
	}, Profile{}, func(p *Profile, s string) { p.Locale = s }, func(p Profile) string { return p.Locale })

	checkField(t, FieldZoneinfo, []fieldCase{
		{"Asia/Tokyo", "Asia/Tokyo", nil},
		{" America/New_York ", "America/New_York", nil},
		{"UTC", "UTC", nil},
		{"", "", nil},
		{"Mars/Olympus_Mons", "", errcode.ProfileZoneinfoInvalid},
		{"Local", "", errcode.ProfileZoneinfoInvalid},
		{"../../../etc/passwd", "", errcode.ProfileZoneinfoInvalid},
		{"/etc/localtime", "", errcode.ProfileZoneinfoInvalid},
		{"+09:00", "", errcode.ProfileZoneinfoInvalid},
		{strings.Repeat("A", 65), "", errcode.ProfileTooLong},
	}, Profile{}, func(p *Profile, s string) { p.Zoneinfo = s }, func(p Profile) string { return p.Zoneinfo })
}

func TestNormalizeWholeProfile(t *testing.T) {
	in := Profile{
		FamilyName: "　山田 ", GivenName: "太郎", FamilyNameKana: "やまだ", GivenNameKana: "ﾀﾛｳ",
		Nickname: "たろちゃん", Email: "Taro@Example.com", Phone: "０９０－１２３４－５６７８",
		Address: &Address{Country: "jp", PostalCode: "〒１００−０００１", Region: "tokyo-to",
			Locality: "千代田区", Street: "千代田１−１", Building: "皇居ビル　１０１"},
		Birthdate: "１９９０年４月１日", Locale: "ja_JP", Zoneinfo: "Asia/Tokyo",
	}
	want := Profile{
		FamilyName: "山田", GivenName: "太郎", FamilyNameKana: "ヤマダ", GivenNameKana: "タロウ",
		Nickname: "たろちゃん", Email: "taro@example.com", Phone: "+819012345678",
		Address: &Address{Country: "JP", PostalCode: "100-0001", Region: "東京都",
			Locality: "千代田区", Street: "千代田1-1", Building: "皇居ビル 101"},
		Birthdate: "1990-04-01", Locale: "ja-JP", Zoneinfo: "Asia/Tokyo",
	}
	got, err := testNormalizer.Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Address != *want.Address {
		t.Errorf("address:\n got %+v\nwant %+v", *got.Address, *want.Address)
	}
	got.Address, want.Address = nil, nil
	if got != want {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
	if in.Address.Region != "tokyo-to" {
		t.Error("Normalize changed its input's address")
	}
	// Normalising twice changes nothing.
	again, err := testNormalizer.Normalize(mustNormalize(t, in))
	if err != nil || again.Address.PostalCode != "100-0001" || again.Phone != "+819012345678" || again.Birthdate != "1990-04-01" {
		t.Errorf("not idempotent: %+v, %v", again, err)
	}
}

func mustNormalize(t *testing.T, p Profile) Profile {
	t.Helper()
	out, err := testNormalizer.Normalize(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryProblemAtOnce(t *testing.T) {
	in := Profile{
		FamilyName:     strings.Repeat("山", 51),
		GivenName:      "太\x00郎",
		FamilyNameKana: "山田",
		GivenNameKana:  "Taro",
		Nickname:       "ok",
		Email:          "not-an-email",
		Phone:          "12345",
		Address:        &Address{Country: "JP", PostalCode: "100-001", Region: "Tokio", Street: "千代田1-1"},
		Birthdate:      "1990-02-30",
		Locale:         "und",
		Zoneinfo:       "Mars/Base",
	}
	_, err := testNormalizer.Normalize(in)
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("got %v", err)
	}
	want := []struct {
		field string
		code  *errcode.Code
	}{
		{FieldFamilyName, errcode.ProfileTooLong},
		{FieldGivenName, errcode.ProfileBadCharacters},
		{FieldFamilyNameKana, errcode.ProfileKanaInvalid},
		{FieldGivenNameKana, errcode.ProfileKanaInvalid},
		{FieldEmail, errcode.EmailInvalid},
		{FieldPhone, errcode.ProfilePhoneInvalid},
		{FieldPostalCode, errcode.ProfilePostalCodeJP},
		{FieldRegion, errcode.ProfilePrefectureInvalid},
		{FieldLocality, errcode.ProfileRequired},
		{FieldBirthdate, errcode.ProfileBirthdateInvalid},
		{FieldLocale, errcode.ProfileLocaleInvalid},
		{FieldZoneinfo, errcode.ProfileZoneinfoInvalid},
	}
	if len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d: %v", len(probs), len(want), probs)
	}
	for i, w := range want {
		if probs[i].Field != w.field || probs[i].Code != w.code {
			t.Errorf("problem %d: got %s %s, want %s %s", i, probs[i].Field, probs[i].Code.ID, w.field, w.code.ID)
		}
	}
	if probs.Field(FieldPhone) == nil || probs.Field(FieldNickname) != nil {
		t.Error("Problems.Field")
	}
	// The error text names fields and codes, never the values.
	msg := err.Error()
	for _, v := range []string{"12345", "not-an-email", "Tokio", "山田", "Taro"} {
		if strings.Contains(msg, v) {
			t.Errorf("error text %q holds the value %q", msg, v)
		}
	}
	if !strings.Contains(msg, "address.postal_code: KAI-PROFILE-005") {
		t.Errorf("error text %q", msg)
	}
	// Each problem reads well in both languages; the too-long one says the limit.
	if got := probs.Field(FieldFamilyName).Text("ja"); got != "長すぎます。50文字以内で入力してください。" {
		t.Errorf("ja: %q", got)
	}
	if got := probs.Field(FieldFamilyName).Text("en"); got != "This is too long: please enter at most 50 characters." {
		t.Errorf("en: %q", got)
	}
}

// Every field has a label, and every profile code a text, in both languages.
func TestLabelsAndTexts(t *testing.T) {
	for _, f := range Fields {
		for _, l := range []i18n.Lang{i18n.JA, i18n.EN} {
			if got := i18n.T(l, FieldLabelKey(f)); strings.HasPrefix(got, "[") {
				t.Errorf("no %s label for %s", l, f)
			}
		}
		if _, ok := MaxLen[f]; !ok {
			t.Errorf("no length limit for %s", f)
		}
	}
	n := 0
	for _, c := range errcode.All() {
		if strings.HasPrefix(c.ID, "KAI-PROFILE-") {
			n++
			if c.EN == "" || c.JA == "" || c.Status != 400 {
				t.Errorf("%s: %+v", c.ID, c)
			}
		}
	}
	if n < 13 {
		t.Errorf("%d profile codes", n)
	}
}

func TestPrefectures(t *testing.T) {
	ps := Prefectures()
	if len(ps) != 47 {
		t.Fatalf("%d prefectures", len(ps))
	}
	seenJA, seenEN := map[string]bool{}, map[string]bool{}
	for i, p := range ps {
		if p.Code != fmt.Sprintf("%02d", i+1) || seenJA[p.JA] || seenEN[p.EN] {
			t.Errorf("prefecture %d: %+v", i, p)
		}
		seenJA[p.JA], seenEN[p.EN] = true, true
		if i18n.T(i18n.JA, p.I18nKey()) != p.JA || i18n.T(i18n.EN, p.I18nKey()) != p.EN {
			t.Errorf("%s: messages.json has %q / %q", p.I18nKey(), i18n.T(i18n.JA, p.I18nKey()), i18n.T(i18n.EN, p.I18nKey()))
		}
		if p.Name("ja") != p.JA || p.Name("en") != p.EN || p.ISO() != "JP-"+p.Code {
			t.Errorf("%+v: Name/ISO", p)
		}
		suffix := map[string]string{"都": "-to", "府": "-fu", "県": "-ken", "道": ""}[p.JA[len(p.JA)-3:]]
		short := p.JA
		if suffix != "" {
			short = p.JA[:len(p.JA)-3] // 東京, 京都, 神奈川
		}
		// Every spelling round-trips to the canonical Japanese name, and
		// the English one back.
		for _, s := range []string{
			p.JA, short, " " + p.JA + " ", p.EN, strings.ToLower(p.EN), strings.ToUpper(p.EN),
			p.EN + suffix, strings.ToLower(p.EN) + " prefecture", p.Code, p.ISO(),
			strings.ToLower(p.ISO()), fullWidth(p.EN),
		} {
			got, ok := LookupPrefecture(s)
			if !ok || got != p {
				t.Errorf("LookupPrefecture(%q) = %+v, %v; want %s", s, got, ok, p.JA)
			}
		}
		out, err := Normalize(Profile{Address: &Address{Country: "JP", PostalCode: "1000001", Region: p.EN, Locality: "x", Street: "y"}})
		if err != nil || out.Address.Region != p.JA {
			t.Errorf("Normalize region %s: %+v, %v", p.EN, out.Address, err)
		}
		if back, _ := LookupPrefecture(out.Address.Region); back.EN != p.EN {
			t.Errorf("%s does not come back as %s", out.Address.Region, p.EN)
		}
	}
	// Hepburn with macrons, wāpuro spellings, and other common forms.
	for s, want := range map[string]string{
		"Tōkyō": "東京都", "Toukyou": "東京都", "Tokyo Metropolis": "東京都", "TOKYO-TO": "東京都", "tokyoto": "東京都",
		"Kōchi": "高知県", "Kouchi": "高知県", "Ōsaka": "大阪府", "Oosaka": "大阪府", "Osaka-fu": "大阪府",
		"Hyōgo": "兵庫県", "Hyougo": "兵庫県", "Ōita": "大分県", "Ooita": "大分県", "Kyōto": "京都府", "Kyoto-fu": "京都府",
		"京都": "京都府", "Hokkaidō": "北海道", "Hokkai-do": "北海道", "Hokkaido Prefecture": "北海道",
		"Aichi Prefecture": "愛知県", "aichiken": "愛知県", "Gumma": "群馬県", "JP-01": "北海道", "1": "北海道",
		"神奈川": "神奈川県", "ｶﾅｶﾞﾜ": "", "Tokio": "", "京": "", "0": "", "48": "", "JP-48": "", "": "", "to": "", "ken": "",
		"北海": "", "Kyo": "", "Tōkyō-to-to-to": "東京都",
	} {
		got, ok := LookupPrefecture(s)
		if ok != (want != "") || got.JA != want {
			t.Errorf("LookupPrefecture(%q) = %q, %v; want %q", s, got.JA, ok, want)
		}
	}
}

func fullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r > ' ' && r < 0x7F {
			return r + 0xFEE0
		}
		return r
	}, s)
}
