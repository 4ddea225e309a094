package password

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Length limits, in Unicode code points after NFKC.
const (
	DefaultMinLength = 8  // also the floor: a smaller MinLength counts as 8
	DefaultMaxLength = 64 // a larger MaxLength may be configured

	// ServiceName is always treated as a context word.
	ServiceName = "kaiin"

	minContextRunes = 3 // shorter context words are ignored
)

// Normalize returns the NFKC form of p, the form in which passwords are
// checked, hashed and verified (NIST SP 800-63B). Full-width and other
// compatibility characters thus match their plain forms. Hash, Verify,
// VerifyDummy and Policy.Check call it themselves.
func Normalize(p string) string { return norm.NFKC.String(p) }

// Reason says why a password was refused. Its value is a stable,
// machine-readable code for API responses and translations.
type Reason string

// Reasons a Policy refuses a password.
const (
	TooShort Reason = "too_short" // fewer code points than MinLength
	TooLong  Reason = "too_long"  // more code points than MaxLength
	Common   Reason = "common"    // on the blocklist
	Context  Reason = "context"   // mainly the service name or the member's own details
)

// PolicyError is the error Policy.Check returns. It never holds the
// password.
type PolicyError struct {
	Reason Reason
	// Limit is the length limit that was broken, for TooShort and TooLong;
	// 0 otherwise.
	Limit int
}

func (e *PolicyError) Error() string {
	switch e.Reason {
	case TooShort:
		return "password: shorter than " + strconv.Itoa(e.Limit) + " characters"
	case TooLong:
		return "password: longer than " + strconv.Itoa(e.Limit) + " characters"
	case Common:
		return "password: too common or easily guessed"
	case Context:
		return "password: based on the account's or the service's name"
	}
	return "password: not allowed (" + string(e.Reason) + ")"
}

// Policy is the password policy after NIST SP 800-63B: length limits, a
// blocklist and context words, and no composition rules. The zero value
// checks length only (8 to 64) and context words; set Blocklist (usually
// from LoadBlocklist) to refuse common passwords too.
type Policy struct {
	MinLength int // 0 or less than 8 = 8
	MaxLength int // 0 = 64
	Blocklist *Blocklist
}

// Check returns nil if password may be set, or a *PolicyError. context
// holds words specific to the account that the password must not be made
// of: the email address (its local part and domain name count too), the
// user name, the display name. The service name is always included. Empty
// context values are ignored.
//
// Checks run in this order: length, blocklist, context.
func (p Policy) Check(password string, context ...string) error {
	minLen := max(p.MinLength, DefaultMinLength)
	maxLen := p.MaxLength
	if maxLen <= 0 {
		maxLen = DefaultMaxLength
	}
	maxLen = max(maxLen, minLen)
	if len(password) > MaxPasswordBytes {
		return &PolicyError{Reason: TooLong, Limit: maxLen}
	}
	n := Normalize(password)
	switch count := utf8.RuneCountInString(n); {
	case count < minLen:
		return &PolicyError{Reason: TooShort, Limit: minLen}
	case count > maxLen:
		return &PolicyError{Reason: TooLong, Limit: maxLen}
	}
	lower := strings.ToLower(n)
	if p.Blocklist.containsKey(lower) {
		return &PolicyError{Reason: Common}
	}
	if mostlyContext(lower, contextWords(context)) {
		return &PolicyError{Reason: Context}
	}
	return nil
}

// contextWords returns the normalised, lower-cased words to look for:
// each context value whole, its parts split at separators, for an email
// address its local part and the labels of its domain except the last, the
// service name, and each of these reversed.
func contextWords(context []string) [][]rune {
	var words [][]rune
	add := func(w string) {
		r := []rune(w)
		if len(r) < minContextRunes {
			return
		}
		for _, x := range [][]rune{r, reversed(r)} {
			if !slices.ContainsFunc(words, func(y []rune) bool { return slices.Equal(x, y) }) {
				words = append(words, x)
			}
		}
	}
	isSep := func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
	}
	add(ServiceName)
	for _, c := range context {
		c = strings.ToLower(Normalize(strings.TrimSpace(c)))
		add(c)
		local, domain := c, ""
		if at := strings.LastIndexByte(c, '@'); at >= 0 {
			local, domain = c[:at], c[at+1:]
			add(local)
		}
		for _, part := range strings.FieldsFunc(local, isSep) {
			add(part)
		}
		if labels := strings.Split(domain, "."); len(labels) > 1 {
			for _, l := range labels[:len(labels)-1] {
				add(l)
			}
		}
	}
	return words
}

func reversed(r []rune) []rune {
	out := slices.Clone(r)
	slices.Reverse(out)
	return out
}

// mostlyContext reports whether the context words, wherever they occur in
// pw, cover at least half of it, or leave no letter uncovered.
func mostlyContext(pw string, words [][]rune) bool {
	r := []rune(pw)
	covered := make([]bool, len(r))
	n := 0
	for _, w := range words {
		for i := 0; i+len(w) <= len(r); i++ {
			if !slices.Equal(r[i:i+len(w)], w) {
				continue
			}
			for j := i; j < i+len(w); j++ {
				if !covered[j] {
					covered[j] = true
					n++
				}
			}
		}
	}
	if n == 0 {
		return false
	}
	if 2*n >= len(r) {
		return true
	}
	for i, c := range r {
		if !covered[i] && unicode.IsLetter(c) {
			return false
		}
	}
	return true
}
