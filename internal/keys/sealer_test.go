package keys

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func newKEK(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KEKSize)
	rand.Read(k)
	return k
}

func mustSealer(t testing.TB, current []byte, previous ...[]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	kek := newKEK(t)
	s := mustSealer(t, kek)
	aad := []byte("signing-key:abc:ES256")
	for _, pt := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("secret "), 1000)} {
		sealed, err := s.Seal(pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) > 8 && bytes.Contains(sealed, pt) { // a short one may occur by chance
			t.Error("sealed value holds the plaintext")
		}
		if len(sealed) != len(pt)+overhead || sealed[0] != sealVersion {
			t.Errorf("sealed is %d bytes, version %d; want %d, %d", len(sealed), sealed[0], len(pt)+overhead, sealVersion)
		}
		got, err := s.Open(sealed, aad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("Open = %q, %v; want %q", got, err, pt)
		}
		if !s.SealedUnderCurrent(sealed) {
			t.Error("SealedUnderCurrent = false for a fresh value")
		}
	}
	a, _ := s.Seal([]byte("same"), aad)
	b, _ := s.Seal([]byte("same"), aad)
	if bytes.Equal(a, b) {
		t.Error("two seals of one plaintext are equal: nonce reused")
	}
}

func TestOpenFailures(t *testing.T) {
	kek := newKEK(t)
	s := mustSealer(t, kek)
	aad := []byte("signing-key:kid1:ES256")
	sealed, err := s.Seal([]byte("private key"), aad)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("wrong KEK", func(t *testing.T) {
		other := mustSealer(t, newKEK(t))
		_, err := other.Open(sealed, aad)
		if !errors.Is(err, ErrUnknownKEK) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open under another KEK = %v, want ErrUnknownKEK", err)
		}
		if !strings.Contains(err.Error(), s.KEKID()) || !strings.Contains(err.Error(), other.KEKID()) {
			t.Errorf("error does not name both KEK ids: %v", err)
		}
	})
	t.Run("AAD mismatch", func(t *testing.T) {
		if _, err := s.Open(sealed, []byte("signing-key:kid2:ES256")); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open with another aad = %v, want ErrCorrupt", err)
		}
	})
	for name, mutate := range map[string]func([]byte) []byte{
		"flipped ciphertext": func(b []byte) []byte { b[len(b)-20] ^= 1; return b },
		"flipped tag":        func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b },
		"flipped nonce":      func(b []byte) []byte { b[headerSize] ^= 1; return b },
		"truncated":          func(b []byte) []byte { return b[:overhead-1] },
		"empty":              func([]byte) []byte { return nil },
		"bad version":        func(b []byte) []byte { b[0] = 9; return b },
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Open(mutate(bytes.Clone(sealed)), aad)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("errors hold no key material", func(t *testing.T) {
		_, err := mustSealer(t, newKEK(t)).Open(sealed, aad)
		for _, secret := range [][]byte{kek, []byte("private key")} {
			if strings.Contains(err.Error(), string(secret)) || strings.Contains(err.Error(), string(sealed[headerSize:])) {
				t.Errorf("error holds secret bytes: %v", err)
			}
		}
	})
}

func TestPreviousKEK(t *testing.T) {
	old, cur := newKEK(t), newKEK(t)
	sealedOld, _ := mustSealer(t, old).Seal([]byte("v1"), []byte("a"))

	s := mustSealer(t, cur, old)
	got, err := s.Open(sealedOld, []byte("a"))
	if err != nil || string(got) != "v1" {
		t.Fatalf("Open of a value sealed under the previous KEK = %q, %v", got, err)
	}
	if s.SealedUnderCurrent(sealedOld) {
		t.Error("a value sealed under the previous KEK reports it is under the current one")
	}
	resealed, _ := s.Seal(got, []byte("a"))
	if !s.SealedUnderCurrent(resealed) {
		t.Error("re-sealed value is not under the current KEK")
	}
	// Once the old KEK is dropped, the re-sealed value still opens.
	if _, err := mustSealer(t, cur).Open(resealed, []byte("a")); err != nil {
		t.Errorf("re-sealed value under the current KEK alone: %v", err)
	}
	if _, err := mustSealer(t, cur).Open(sealedOld, []byte("a")); !errors.Is(err, ErrUnknownKEK) {
		t.Errorf("old value without the old KEK = %v, want ErrUnknownKEK", err)
	}
}

func TestNewSealerSizes(t *testing.T) {
	if _, err := NewSealer(make([]byte, 16)); err == nil || !strings.Contains(err.Error(), "16 bytes; want 32") {
		t.Errorf("16-byte KEK: %v", err)
	}
	if _, err := NewSealer(newKEK(t), newKEK(t), make([]byte, 31)); err == nil || !strings.Contains(err.Error(), "previous key-encryption key 2") {
		t.Errorf("bad previous KEK: %v", err)
	}
	k := newKEK(t)
	if s := mustSealer(t, k, k); len(s.all) != 1 {
		t.Errorf("current KEK repeated as previous is kept twice")
	}
}
