//go:build kaiin_plainprofile

package member

// This file is compiled only in the benchmark build
// (go test -tags kaiin_plainprofile): it is the "encryption disabled"
// yardstick of the member API benchmark (internal/memberapi/bench_test.go,
// BENCHMARKS.md §5). It adds methods and types and changes nothing else;
// the default build does not contain it.
//
// How encryption is switched off without touching the read path: a
// member's data key reaches OpenGroups as a cipher.AEAD from the DEKCache.
// PlainProfileForBenchmark puts, in place of the member's AES-256-GCM
// instance, a plainAEAD that copies instead of encrypting (same nonce
// and tag sizes, so the stored blobs keep their sizes), and never lets it
// expire. The read — GetProfile, the cache look-up, OpenGroups,
// decodeGroup, Claims — then runs exactly the same code as in the default
// build, minus AES-GCM and the unwrapping of the data key.

import (
	"errors"
	"sync"
	"time"
)

// plainAEAD is cipher.AEAD without the cryptography: Seal copies the
// plaintext and appends a zero tag; Open checks the length and copies.
type plainAEAD struct{}

const plainTag = 16 // the size of a GCM tag

func (plainAEAD) NonceSize() int { return nonceSize }
func (plainAEAD) Overhead() int  { return plainTag }

func (plainAEAD) Seal(dst, _, plaintext, _ []byte) []byte {
	dst = append(dst, plaintext...)
	var tag [plainTag]byte
	return append(dst, tag[:]...)
}

func (plainAEAD) Open(dst, _, ciphertext, _ []byte) ([]byte, error) {
	if len(ciphertext) < plainTag {
		return nil, errors.New("member: plain blob too short")
	}
	return append(dst, ciphertext[:len(ciphertext)-plainTag]...), nil
}

var plainMu sync.Mutex

// PlainProfileForBenchmark (benchmark build only) opens the member's
// sealed blobs and returns them re-encoded without encryption, and makes
// this Vault use the plain encoding for the member from now on (the
// wrapped data key stays as it was, so the stored record keeps its
// shape). The caller stores the returned blobs in place of the sealed
// ones. It must be called before the node serves reads of the member.
func (v *Vault) PlainProfileForBenchmark(memberID string, wrappedDEK []byte, blobs map[string][]byte) (map[string][]byte, error) {
	p, err := v.OpenProfile(memberID, wrappedDEK, blobs)
	if err != nil {
		return nil, err
	}
	plainMu.Lock()
	if v.Cache == nil || v.Cache.ttl < 24*time.Hour {
		// A cache whose entries never expire nor get evicted: the plain
		// "keys" are not keys, and must not fall back to AES-GCM.
		v.Cache = NewDEKCache(1<<30, 100*365*24*time.Hour)
	}
	v.Cache.put(memberID, wrappedDEK, plainAEAD{})
	plainMu.Unlock()
	return v.SealProfile(memberID, wrappedDEK, p)
}
