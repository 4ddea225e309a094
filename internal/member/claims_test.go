package member

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestClaimsPerScope(t *testing.T) {
	p := fullProfile
	cases := []struct {
		scopes []string
		want   []string
	}{
		{nil, nil},
		{[]string{"openid"}, nil},
		{[]string{"openid", "members:profile:read", "offline_access"}, nil},
		{[]string{"openid", "profile"}, []string{"birthdate", "family_name", "family_name#ja-Kana-JP", "given_name", "given_name#ja-Kana-JP", "locale", "name", "nickname", "zoneinfo"}},
		{[]string{"openid", "email"}, []string{"email", "email_verified"}},
		{[]string{"openid", "phone"}, []string{"phone_number", "phone_number_verified"}},
		{[]string{"openid", "address"}, []string{"address"}},
		{[]string{"openid", "phone", "address"}, []string{"address", "phone_number", "phone_number_verified"}},
		{[]string{"profile", "email", "phone", "address"}, []string{"address", "birthdate", "email", "email_verified", "family_name", "family_name#ja-Kana-JP", "given_name", "given_name#ja-Kana-JP", "locale", "name", "nickname", "phone_number", "phone_number_verified", "zoneinfo"}},
	}
	for _, c := range cases {
		if got := keysOf(Claims(p, c.scopes)); !slices.Equal(got, c.want) {
			t.Errorf("%v:\n got %v\nwant %v", c.scopes, got, c.want)
		}
	}

	all := Claims(p, []string{"openid", "profile", "email", "phone", "address"})
	for k, want := range map[string]any{
		"name": "山田 太郎", "family_name": "山田", "given_name": "太郎",
		"family_name#ja-Kana-JP": "ヤマダ", "given_name#ja-Kana-JP": "タロウ",
		"phone_number": "+819012345678", "phone_number_verified": true,
		"email": "taro@example.com", "email_verified": true,
		"birthdate": "1990-04-01", "locale": "ja-JP", "zoneinfo": "Asia/Tokyo",
	} {
		if all[k] != want {
			t.Errorf("%s = %v, want %v", k, all[k], want)
		}
	}
	wantAddr := map[string]any{
		"formatted":      "〒100-0001 東京都 千代田区 千代田1-1 皇居ビル 101",
		"street_address": "千代田1-1\n皇居ビル 101",
		"locality":       "千代田区",
		"region":         "東京都",
		"postal_code":    "100-0001",
		"country":        "JP",
	}
	if got := all["address"]; !reflect.DeepEqual(got, wantAddr) {
		t.Errorf("address:\n got %v\nwant %v", got, wantAddr)
	}
	if _, err := json.Marshal(all); err != nil {
		t.Error(err)
	}

	// Scopes granted for values the member has not given: no claims, and
	// no verified flags for absent values.
	if got := Claims(Profile{PhoneVerified: true, EmailVerified: true}, []string{"profile", "email", "phone", "address"}); len(got) != 0 {
		t.Errorf("empty profile: %v", got)
	}
}

func TestNameOrder(t *testing.T) {
	for _, c := range []struct {
		p    Profile
		want string
	}{
		{Profile{FamilyName: "山田", GivenName: "太郎", Locale: "ja-JP"}, "山田 太郎"},
		{Profile{FamilyName: "Yamada", GivenName: "Taro", Locale: "ja"}, "Yamada Taro"},
		{Profile{FamilyName: "山田", GivenName: "太郎", Locale: "en-US"}, "太郎 山田"},
		{Profile{FamilyName: "Smith", GivenName: "Anna", Locale: "en-GB"}, "Anna Smith"},
		{Profile{FamilyName: "Smith", GivenName: "Anna"}, "Anna Smith"},
		{Profile{FamilyName: "山田", GivenName: "太郎"}, "山田 太郎"}, // no locale: by script
		{Profile{FamilyName: "山田"}, "山田"},
		{Profile{GivenName: "Anna", Locale: "ja"}, "Anna"},
		{Profile{}, ""},
	} {
		if got := FullName(c.p); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}

func TestFormatAddressInternational(t *testing.T) {
	a := Address{Country: "US", PostalCode: "94105", Region: "CA", Locality: "San Francisco", Street: "1 Market St", Building: "Suite 300"}
	if got, want := FormatAddress(a), "1 Market St\nSuite 300\nSan Francisco, CA 94105\nUS"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := FormatAddress(Address{Country: "SG", Street: "1 Raffles Place"}), "1 Raffles Place\nSG"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	c := AddressClaim(Address{Country: "JP", PostalCode: "100-0001", Region: "東京都", Locality: "千代田区", Street: "千代田1-1"})
	if c["formatted"] != "〒100-0001 東京都 千代田区 千代田1-1" || c["street_address"] != "千代田1-1" {
		t.Errorf("%v", c)
	}
	if _, ok := c["building"]; ok {
		t.Error("building is no address claim member")
	}
}

func TestScopeGroups(t *testing.T) {
	for _, c := range []struct {
		scopes, want []string
	}{
		{[]string{"openid"}, nil},
		{[]string{"openid", "profile"}, []string{GroupBirthdate, GroupName}},
		{[]string{"phone", "phone"}, []string{GroupPhone}},
		{[]string{"profile", "email", "phone", "address"}, []string{GroupAddress, GroupBirthdate, GroupEmail, GroupName, GroupPhone}},
	} {
		if got := ScopeGroups(c.scopes); !slices.Equal(got, c.want) {
			t.Errorf("%v: %v, want %v", c.scopes, got, c.want)
		}
	}
}
