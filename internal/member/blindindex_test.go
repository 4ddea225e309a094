package member

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"testing"
)

func TestBlindIndex(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	b1, err := NewBlindIndex(k1)
	if err != nil {
		t.Fatal(err)
	}
	b2 := BlindIndex{Key: k2}
	email, phone := "taro@example.com", "+819012345678"

	// Deterministic: the same value always gives the same index, so an
	// exact-match lookup works.
	if b1.Email(email) != b1.Email(email) || b1.Phone(phone) != (BlindIndex{Key: bytes.Clone(k1)}).Phone(phone) {
		t.Error("not deterministic")
	}
	// Keyed: another key gives unrelated values.
	if b1.Email(email) == b2.Email(email) || b1.Phone(phone) == b2.Phone(phone) {
		t.Error("not key-dependent")
	}
	// Different values differ.
	if b1.Email(email) == b1.Email("jiro@example.com") || b1.Phone(phone) == b1.Phone("+819012345679") {
		t.Error("collision")
	}
	// Domain-separated: the same string as an email and as a phone number
	// indexes differently.
	if b1.Email(phone) == b1.Phone(phone) {
		t.Error("not domain-separated")
	}
	// HMAC-SHA-256 over "email\x00"+value, unpadded base64url.
	m := hmac.New(sha256.New, k1)
	m.Write([]byte("email\x00" + email))
	if want := base64.RawURLEncoding.EncodeToString(m.Sum(nil)); b1.Email(email) != want {
		t.Errorf("got %s, want %s", b1.Email(email), want)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(b1.Phone(phone)) {
		t.Errorf("format: %q", b1.Phone(phone))
	}
	// The value is not in the index.
	if bytes.Contains([]byte(b1.Email(email)), []byte("taro")) {
		t.Error("value visible")
	}

	if _, err := NewBlindIndex(make([]byte, 16)); err == nil {
		t.Error("short key accepted")
	}
	defer func() {
		if recover() == nil {
			t.Error("empty key did not panic")
		}
	}()
	BlindIndex{}.Email(email)
}

func BenchmarkBlindIndexEmail(b *testing.B) {
	bi := BlindIndex{Key: bytes.Repeat([]byte{1}, 32)}
	b.ReportAllocs()
	for b.Loop() {
		bi.Email("taro@example.com")
	}
}
