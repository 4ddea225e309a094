package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// kekSize is the length of a key-encryption key: an AES-256 key.
const kekSize = 32

// ParseKEK decodes a key-encryption key written as base64 (standard or
// URL alphabet, padded or not; surrounding white space is ignored) and
// checks that it is 32 bytes long. Its errors never quote s: it is a secret,
// or whatever was put in its place by mistake.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	const how = " (openssl rand -base64 32 makes one)"
	if s == "" {
		return nil, errors.New("is empty; want the base64 of 32 random bytes" + how)
	}
	var (
		key []byte
		err error
	)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("is not base64; want the base64 of 32 random bytes" + how)
	}
	if len(key) != kekSize {
		return nil, fmt.Errorf("decodes to %d bytes; want exactly %d%s", len(key), kekSize, how)
	}
	return key, nil
}
