package password

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func mustBlocklist(t testing.TB) *Blocklist {
	t.Helper()
	b, err := LoadBlocklist()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBlocklist(t *testing.T) {
	b := mustBlocklist(t)
	if b.Len() < 100000 {
		t.Fatalf("Len() = %d, want >= 100000", b.Len())
	}
	for _, p := range []string{
		"password", "123456789", "qwertyuiop", "baseball", "football", "iloveyou", // common passwords
		"PASSWORD", "PassWord", "QwertyUIOP", "ｐａｓｓｗｏｒｄ", // case and width
		"elephant", "mountains", "beautiful", // dictionary words
		"jennifer", "williams", // names
	} {
		if !b.Contains(p) {
			t.Errorf("Contains(%q) = false", p)
		}
	}
	for range 100 {
		if r := rand.Text()[:20]; b.Contains(r) {
			t.Errorf("Contains(random %q) = true", r)
		}
	}
	for _, p := range []string{"", "correct horse battery staple", "kaiin-x9!Zq@2mTv"} {
		if b.Contains(p) {
			t.Errorf("Contains(%q) = true", p)
		}
	}
	var nilList *Blocklist
	if nilList.Contains("password") || nilList.Len() != 0 {
		t.Error("nil Blocklist not empty")
	}
}

// TestBlocklistFile checks the embedded file is what the loader and the
// generator agree on: every line already normalised, no duplicates, at
// least 8 code points, sorted.
func TestBlocklistFile(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(blocklistGz))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	b := mustBlocklist(t)
	if len(lines) != b.Len() {
		t.Fatalf("%d lines but Len() = %d (duplicates or hash collision)", len(lines), b.Len())
	}
	prev := ""
	for i, l := range lines {
		if blocklistKey(l) != l {
			t.Fatalf("line %d %q is not normalised", i+1, l)
		}
		if utf8.RuneCountInString(l) < DefaultMinLength {
			t.Fatalf("line %d %q shorter than %d", i+1, l, DefaultMinLength)
		}
		if l <= prev {
			t.Fatalf("line %d %q not sorted or duplicate", i+1, l)
		}
		prev = l
		if !b.Contains(l) {
			t.Fatalf("line %d %q not found", i+1, l)
		}
	}
}

// TestBlocklistCost reports memory and load time (logged, not asserted).
func TestBlocklistCost(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	b, err := parseBlocklist(blocklistGz)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("blocklist: %d entries, table %d bytes (%.1f per entry), live heap +%d bytes, embedded %d bytes gzipped, load %v",
		b.Len(), b.sizeBytes(), float64(b.sizeBytes())/float64(b.Len()),
		int64(after.HeapAlloc)-int64(before.HeapAlloc), len(blocklistGz), elapsed)
	runtime.KeepAlive(b)
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"ｐａｓｓ１２３":         "pass123",
		"caf\u0065\u0301": "caf\u00e9",
		"ﬁne":             "fine",
		"Ⅻ":               "XII",
		"plain":           "plain",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func reasonOf(err error) Reason {
	var pe *PolicyError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ""
}

func TestPolicyCheck(t *testing.T) {
	p := Policy{Blocklist: mustBlocklist(t)}
	const email = "Alice.Smith@Example.com"
	cases := []struct {
		pw   string
		want Reason
	}{
		{"short", TooShort},
		{"1234567", TooShort},
		{"ａｂｃｄｅｆｇ", TooShort}, // 7 after NFKC
		{"e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301", TooShort}, // 14 code points raw, 7 after NFKC
		{strings.Repeat("z", 65), TooLong},
		{strings.Repeat("界", 65), TooLong},
		{strings.Repeat("界", 64), ""}, // 192 bytes but 64 code points
		{strings.Repeat("x", MaxPasswordBytes+1), TooLong},
		{"password", Common},
		{"Password", Common},
		{"PASSWORD", Common},
		{"123456789", Common},
		{"qwertyuiop", Common},
		{"ｑｗｅｒｔｙｕｉｏｐ", Common},
		{"sunshine", Common},
		{"kaiinkaiin", Context},
		{"Kaiin2024!", Context},
		{"niiak-12345", Context},
		{"alice.smith@example.com", Context},
		{"ALICE.SMITH", Context},
		{"alicesmith99", Context},
		{"smith-alice-1", Context},
		{"example123456", Context},
		{"alice!!!!!!!", Context},
		// Context words inside a longer passphrase are fine.
		{"alice likes green tea at noon", ""},
		{"my kaiin account is safe now", ""},
		{"correct horse battery staple", ""},
		{"tr4vel-Bus-plum", ""},
		{"12345678", Common}, // digits only, on the list
		{"83610429", ""},     // digits only, not on the list: no composition rules
		{"パスワードは長いです", ""},
	}
	for _, c := range cases {
		err := p.Check(c.pw, email, "Alice Smith", "")
		if got := reasonOf(err); got != c.want {
			t.Errorf("Check(%.20q) = %v (%q), want %q", c.pw, err, got, c.want)
		}
	}
}

// TestPolicyErrorHasNoPassword uses distinctive passwords for each reason.
func TestPolicyErrorHasNoPassword(t *testing.T) {
	p := Policy{Blocklist: mustBlocklist(t)}
	for pw, want := range map[string]Reason{
		"Zqx7":                       TooShort,
		strings.Repeat("Zqx7", 20):   TooLong,
		"Pneumonia":                  Common,
		"Zqxalice@example.com":       Context,
		"Zqx7Zqx7Zqx7 Zqx7 is fine!": "",
	} {
		err := p.Check(pw, "Zqxalice@example.com")
		if reasonOf(err) != want {
			t.Fatalf("Check(%q) = %v, want %q", pw, err, want)
		}
		if err != nil && (strings.Contains(strings.ToLower(err.Error()), "zqx") || strings.Contains(strings.ToLower(err.Error()), "pneu")) {
			t.Errorf("error %q contains the password", err)
		}
	}
}

func TestPolicyLimits(t *testing.T) {
	var zero Policy // no blocklist: only length and context
	if err := zero.Check("password"); err != nil {
		t.Fatalf("zero Policy refused a blocklisted password without a blocklist: %v", err)
	}
	if err := zero.Check("kaiin123"); reasonOf(err) != Context {
		t.Fatalf("zero Policy: %v, want Context", err)
	}
	var pe *PolicyError
	if err := (Policy{MinLength: 4}).Check("abcdefg"); !errors.As(err, &pe) || pe.Reason != TooShort || pe.Limit != 8 {
		t.Fatalf("MinLength 4 is raised to 8: got %v", err)
	}
	if err := (Policy{MinLength: 15}).Check("fourteen chars"); !errors.As(err, &pe) || pe.Reason != TooShort || pe.Limit != 15 {
		t.Fatalf("MinLength 15: got %v", err)
	}
	long := strings.Repeat("wxyz", 50)
	if err := (Policy{}).Check(long); !errors.As(err, &pe) || pe.Reason != TooLong || pe.Limit != 64 {
		t.Fatalf("default max: got %v", err)
	}
	if err := (Policy{MaxLength: 256}).Check(long); err != nil {
		t.Fatalf("MaxLength 256: got %v", err)
	}
	for _, r := range []Reason{TooShort, TooLong, Common, Context} {
		if msg := (&PolicyError{Reason: r, Limit: 8}).Error(); !strings.HasPrefix(msg, "password: ") {
			t.Errorf("%s: %q", r, msg)
		}
	}
}

func TestContextWords(t *testing.T) {
	got := map[string]bool{}
	for _, w := range contextWords([]string{"Bob.O'Neil+news@mail.Example.co.uk", "  "}) {
		got[string(w)] = true
	}
	for _, w := range []string{"kaiin", "niiak", "bob.o'neil+news@mail.example.co.uk", "bob.o'neil+news", "bob", "neil", "news", "mail", "example", "elpmaxe"} {
		if !got[w] {
			t.Errorf("missing context word %q in %v", w, got)
		}
	}
	for _, w := range []string{"o", "co", "uk", ""} {
		if got[w] {
			t.Errorf("unexpected context word %q", w)
		}
	}
}

func BenchmarkLoadBlocklist(b *testing.B) {
	for b.Loop() {
		if _, err := parseBlocklist(blocklistGz); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlocklistContains(b *testing.B) {
	bl := mustBlocklist(b)
	words := []string{"password", "Tr0ub4dor&3", "correct horse battery staple", "qwertyuiop"}
	i := 0
	for b.Loop() {
		bl.Contains(words[i&3])
		i++
	}
}

func BenchmarkPolicyCheck(b *testing.B) {
	p := Policy{Blocklist: mustBlocklist(b)}
	for b.Loop() {
		p.Check("correct horse battery staple", "alice.smith@example.com", "Alice Smith")
	}
}
