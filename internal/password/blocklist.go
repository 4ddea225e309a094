package password

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"hash/maphash"
	"io"
	"math/bits"
	"strings"
	"sync"
)

// blocklistGz is the bundled list: one entry a line, already normalised
// with blocklistKey, sorted, gzipped. Made by scripts/gen-blocklist.sh.
//
//go:embed blocklist/blocklist.txt.gz
var blocklistGz []byte

// Blocklist is a set of disallowed passwords, compared after NFKC and
// lower-casing. It holds only 64-bit keyed hashes of the entries in an
// open-addressing table (linear probing, load at most 1/2), so a lookup is
// one hash and a few probes, and the set costs 16 to 32 bytes per entry
// (2 MiB for the bundled list). Two different strings share a hash with probability about 2^-64,
// which would only make Check refuse one more password. A Blocklist is
// immutable and safe for concurrent use.
type Blocklist struct {
	seed  maphash.Seed
	table []uint64 // 0 = empty slot
	mask  uint64
	n     int
}

// LoadBlocklist returns the blocklist bundled with the package. The list is
// decoded once per process (about 10 ms); later calls return the same set.
func LoadBlocklist() (*Blocklist, error) { return loadBundled() }

var loadBundled = sync.OnceValues(func() (*Blocklist, error) {
	return parseBlocklist(blocklistGz)
})

// parseBlocklist builds a Blocklist from a gzipped list of normalised
// entries, one a line.
func parseBlocklist(gz []byte) (*Blocklist, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("password: blocklist: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("password: blocklist: %w", err)
	}
	return newBlocklist(data), nil
}

// newBlocklist builds the set from entries that are already normalised,
// one a line; blank lines are ignored.
func newBlocklist(data []byte) *Blocklist {
	lines := bytes.Count(data, []byte{'\n'}) + 1
	size := uint64(1) << bits.Len64(uint64(2*lines-1)) // power of two >= 2*lines
	b := &Blocklist{seed: maphash.MakeSeed(), table: make([]uint64, size), mask: size - 1}
	for line := range bytes.Lines(data) {
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			continue
		}
		if b.insert(b.hash(line)) {
			b.n++
		}
	}
	return b
}

func (b *Blocklist) hash(key []byte) uint64 {
	h := maphash.Bytes(b.seed, key)
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	return h
}

func (b *Blocklist) insert(h uint64) bool {
	for i := h & b.mask; ; i = (i + 1) & b.mask {
		switch b.table[i] {
		case 0:
			b.table[i] = h
			return true
		case h:
			return false
		}
	}
}

// blocklistKey is the form entries are stored and looked up in. The
// generator (blocklist/gen.go) applies the same steps.
func blocklistKey(p string) string { return strings.ToLower(Normalize(p)) }

// Contains reports whether p, after NFKC and lower-casing, is on the list.
func (b *Blocklist) Contains(p string) bool {
	return b.containsKey(blocklistKey(p))
}

func (b *Blocklist) containsKey(key string) bool {
	if b == nil || b.n == 0 {
		return false
	}
	h := maphash.String(b.seed, key)
	if h == 0 {
		h = 1
	}
	for i := h & b.mask; ; i = (i + 1) & b.mask {
		switch b.table[i] {
		case h:
			return true
		case 0:
			return false
		}
	}
}

// Len returns the number of distinct entries.
func (b *Blocklist) Len() int {
	if b == nil {
		return 0
	}
	return b.n
}

// sizeBytes returns the memory the set holds.
func (b *Blocklist) sizeBytes() int { return 8 * len(b.table) }
