package member

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// MinBlindIndexKey is the shortest blind-index key accepted.
const MinBlindIndexKey = 32

// BlindIndex computes the keyed hashes under which emails and phone
// numbers are looked up, so that the database holds neither in plain
// text: HMAC-SHA-256 under a server key, over a domain label and the
// value ("email\x00"+email), in unpadded base64url (43 characters).
//
// The values must be normalised first (Normalize, account.NormalizeEmail)
// so that equal addresses index equally. Phone numbers and many emails
// have little entropy: anyone holding the key can test guesses against
// the index, so the key is a secret of its own, kept like the KEK and
// apart from the database. It is not derived from the KEK, so rotating
// the KEK leaves the index as it is; changing this key means recomputing
// every index value from the decrypted fields.
type BlindIndex struct {
	Key []byte
}

// NewBlindIndex checks the key's length.
func NewBlindIndex(key []byte) (BlindIndex, error) {
	if len(key) < MinBlindIndexKey {
		return BlindIndex{}, fmt.Errorf("member: blind index key is %d bytes; want at least %d", len(key), MinBlindIndexKey)
	}
	return BlindIndex{Key: key}, nil
}

// Email is the index value of a normalised email address.
func (b BlindIndex) Email(normalisedEmail string) string { return b.sum("email", normalisedEmail) }

// Phone is the index value of a phone number in E.164.
func (b BlindIndex) Phone(e164 string) string { return b.sum("phone", e164) }

func (b BlindIndex) sum(domain, v string) string {
	if len(b.Key) < MinBlindIndexKey {
		// A configuration error that NewBlindIndex reports at start-up;
		// an index under an empty or short key would be guessable.
		panic("member: blind index key missing or too short")
	}
	m := hmac.New(sha256.New, b.Key)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
