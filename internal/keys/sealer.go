package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// KEKSize is the length of a key-encryption key: an AES-256 key.
const KEKSize = 32

// Sealed value layout: version, KEK id, nonce, then AES-256-GCM ciphertext
// and tag. The header (version and KEK id) is authenticated along with the
// caller's additional data.
const (
	sealVersion = 1
	kekIDSize   = 4
	nonceSize   = 12
	headerSize  = 1 + kekIDSize
	overhead    = headerSize + nonceSize + 16
)

var (
	// ErrUnknownKEK means a value was sealed under a key-encryption key this
	// Sealer does not hold: the server was started with the wrong KEK, or an
	// older one was dropped before everything was re-sealed.
	ErrUnknownKEK = errors.New("keys: sealed under a key-encryption key this server does not have")
	// ErrCorrupt means a sealed value failed authentication: it was damaged
	// or tampered with, or it was sealed for another purpose (its additional
	// data differs).
	ErrCorrupt = errors.New("keys: sealed value is corrupt, tampered with or sealed for another purpose")
)

// Sealer encrypts small secrets (private keys, data keys) under a
// key-encryption key (KEK) with AES-256-GCM, so that the database only
// ever holds them sealed. It seals under the current KEK and opens values
// sealed under the current or any previous one, so that a KEK can be
// rotated by starting with the new one as current and the old as
// previous, then re-sealing. A Sealer is safe for concurrent use.
type Sealer struct {
	current kek
	all     []kek // current first
}

type kek struct {
	id   [kekIDSize]byte
	aead cipher.AEAD
}

// NewSealer returns a Sealer that seals under current and opens values
// sealed under current or any of previous. Every key must be KEKSize bytes.
// The keys are not retained: only their AES key schedules and short ids.
func NewSealer(current []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	for i, k := range append([][]byte{current}, previous...) {
		which := "key-encryption key"
		if i > 0 {
			which = fmt.Sprintf("previous key-encryption key %d", i)
		}
		if len(k) != KEKSize {
			return nil, fmt.Errorf("keys: %s is %d bytes; want %d", which, len(k), KEKSize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("keys: %s: %w", which, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keys: %s: %w", which, err)
		}
		e := kek{id: kekID(k), aead: aead}
		if i > 0 && e.id == s.current.id {
			continue // the current key given again as a previous one
		}
		if i == 0 {
			s.current = e
		}
		s.all = append(s.all, e)
	}
	return s, nil
}

// kekID names a KEK without revealing it: the first bytes of a SHA-256
// hash under a label of its own, so the id is no hash of the key used
// anywhere else.
func kekID(k []byte) [kekIDSize]byte {
	h := sha256.New()
	h.Write([]byte("kaiin kek id\x00"))
	h.Write(k)
	var id [kekIDSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

// KEKID is the short id of the current KEK, in hex: safe to log, and the
// same on every node that holds the same KEK.
func (s *Sealer) KEKID() string { return hex.EncodeToString(s.current.id[:]) }

// Seal encrypts plaintext under the current KEK. aad binds the sealed
// value to its purpose ("signing-key:"+kid): Open with any other aad
// fails, so one sealed value cannot be swapped for another in the store.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, headerSize+nonceSize, overhead+len(plaintext))
	out[0] = sealVersion
	copy(out[1:headerSize], s.current.id[:])
	nonce := out[headerSize : headerSize+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keys: seal: %w", err)
	}
	return s.current.aead.Seal(out, nonce, plaintext, additional(out[:headerSize], aad)), nil
}

// Open decrypts a value Seal made with the same aad, under whichever of
// the Sealer's KEKs sealed it. It returns an error wrapping ErrUnknownKEK
// when none of them did, and ErrCorrupt when the value fails
// authentication.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < overhead {
		return nil, fmt.Errorf("%w (too short)", ErrCorrupt)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w (unknown format version %d)", ErrCorrupt, sealed[0])
	}
	id := [kekIDSize]byte(sealed[1:headerSize])
	nonce := sealed[headerSize : headerSize+nonceSize]
	found := false
	for _, k := range s.all {
		if k.id != id {
			continue
		}
		found = true // ids may collide (1 in 2³²): try every match
		if pt, err := k.aead.Open(nil, nonce, sealed[headerSize+nonceSize:], additional(sealed[:headerSize], aad)); err == nil {
			return pt, nil
		}
	}
	if !found {
		return nil, fmt.Errorf("%w (sealed under KEK id %x; this server has %s)", ErrUnknownKEK, id, s.kekIDs())
	}
	return nil, ErrCorrupt
}

// SealedUnderCurrent reports whether sealed was sealed under the current
// KEK; a value that was not should be re-sealed before the previous KEK is
// dropped.
func (s *Sealer) SealedUnderCurrent(sealed []byte) bool {
	return len(sealed) >= headerSize && sealed[0] == sealVersion && [kekIDSize]byte(sealed[1:headerSize]) == s.current.id
}

func (s *Sealer) kekIDs() string {
	ids := ""
	for i, k := range s.all {
		if i > 0 {
			ids += ", "
		}
		ids += hex.EncodeToString(k.id[:])
	}
	return ids
}

// additional is GCM's additional data: the header, then the caller's aad.
// The header has a fixed length, so the split is unambiguous.
func additional(header, aad []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(aad)), header...), aad...)
}
