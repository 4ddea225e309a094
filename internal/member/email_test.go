package member_test

import (
	"testing"

	"github.com/kaiin-project/kaiin/internal/account"
	"github.com/kaiin-project/kaiin/internal/member"
)

// The profile's email is normalised exactly as the account's sign-in
// address is, so that both give the same blind index.
func TestEmailAgreesWithAccount(t *testing.T) {
	for _, s := range []string{
		"taro@example.com", " Taro@Example.COM ", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ", "taro", "taro@localhost",
		"Taro <taro@example.com>", "taro@example.com.", "a@b.c", "\"quoted\"@example.com", "a..b@example.com",
		"taro+tag@example.co.jp", "taro@@example.com", "@example.com", "taro@exa mple.com",
	} {
		want, werr := account.NormalizeEmail(s)
		out, gerr := member.Normalize(member.Profile{Email: s})
		if (werr == nil) != (gerr == nil) || (werr == nil && out.Email != want) {
			t.Errorf("%q: account gives %q, %v; member gives %q, %v", s, want, werr, out.Email, gerr)
		}
	}
}
