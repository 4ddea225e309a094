package member

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/kaiin-project/kaiin/internal/keys"
)

// Field groups: each is sealed as one blob, and a reader opens only the
// groups its scope needs.
const (
	GroupName      = "name"      // names, kana, nickname, locale, zoneinfo
	GroupEmail     = "email"     // email, email_verified
	GroupPhone     = "phone"     // phone_number, phone_number_verified
	GroupAddress   = "address"   // address
	GroupBirthdate = "birthdate" // birthdate
)

// Groups returns every field group.
func Groups() []string {
	return []string{GroupName, GroupEmail, GroupPhone, GroupAddress, GroupBirthdate}
}

// ScopeGroups returns the groups the OpenID Connect scopes need (see
// Claims): profile → name and birthdate, email, phone, address.
func ScopeGroups(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		switch s {
		case "profile":
			out = append(out, GroupName, GroupBirthdate)
		case "email":
			out = append(out, GroupEmail)
		case "phone":
			out = append(out, GroupPhone)
		case "address":
			out = append(out, GroupAddress)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// DataKeySize is the length of a member's data key (AES-256).
const DataKeySize = 32

var (
	// ErrNoDataKey means the member has no wrapped data key: the member
	// was deleted (crypto-shredded) or the row is incomplete.
	ErrNoDataKey = errors.New("member: no data key (the member's personal data was destroyed or never sealed)")
	// ErrCorrupt means a sealed field group failed authentication: it was
	// damaged or tampered with, or it belongs to another member or group.
	ErrCorrupt = errors.New("member: sealed field group is corrupt, tampered with, or belongs to another member or group")
	// ErrUnknownGroup means a group name is not one of Groups().
	ErrUnknownGroup = errors.New("member: unknown field group")
)

// Vault seals and opens members' personal data by envelope encryption:
//
//   - each member has a data key (DEK), 32 random bytes, stored only
//     wrapped by the key-encryption key (KEK) through Sealer, with the
//     additional data "member-dek:"+memberID;
//   - each field group is sealed with AES-256-GCM under the DEK, with the
//     additional data memberID+":"+group followed by the blob's format
//     version byte, so a blob copied to another member's row, or to
//     another group's column, does not open.
//
// A sealed group is
//
//	version (1 byte) | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// and its plaintext is the group's fields, each a uvarint length and the
// bytes, padded with zero bytes to a multiple of 64, so that the stored
// size does not give the lengths of the values away (a typical name group
// and an empty one seal to the same size). Empty groups are sealed too:
// whether a member has given an address is not visible either.
//
// Crypto-shredding: the DEK exists only wrapped, in the member's row, and
// for at most Cache's TTL in the memory of a node that used it. Deleting
// the wrapped DEK (and calling Forget on every node, or waiting for the
// TTL) leaves the blobs — in the database, its replicas and every backup —
// sealed under a key that no longer exists anywhere: they cannot be
// opened, even by someone holding the KEK.
//
// KEK rotation (RewrapDataKey) re-wraps the 65-byte DEKs only; the blobs
// do not change.
//
// A Vault is safe for concurrent use. Sealer is required; Cache is
// optional (nil unwraps the DEK on every call).
type Vault struct {
	Sealer *keys.Sealer
	Cache  *DEKCache
}

func dekAAD(memberID string) []byte { return []byte("member-dek:" + memberID) }

// NewDataKey makes a data key for a new member and returns it wrapped, to
// be stored in the member's row.
func (v *Vault) NewDataKey(memberID string) ([]byte, error) {
	if memberID == "" {
		return nil, errors.New("member: empty member ID")
	}
	dek := make([]byte, DataKeySize)
	if _, err := rand.Read(dek); err != nil {
		return nil, fmt.Errorf("member: data key: %w", err)
	}
	wrapped, err := v.Sealer.Seal(dek, dekAAD(memberID))
	if err != nil {
		return nil, fmt.Errorf("member: wrap data key: %w", err)
	}
	aead, err := newAEAD(dek)
	if err != nil {
		return nil, err
	}
	v.Cache.put(memberID, wrapped, aead)
	return wrapped, nil
}

// RewrapDataKey re-wraps a data key under the current KEK. It returns the
// new wrapped key and true when wrapped was sealed under a previous KEK,
// and wrapped itself and false when it already was under the current one.
// The member's blobs stay as they are.
func (v *Vault) RewrapDataKey(memberID string, wrapped []byte) ([]byte, bool, error) {
	if len(wrapped) == 0 {
		return nil, false, ErrNoDataKey
	}
	if v.Sealer.SealedUnderCurrent(wrapped) {
		return wrapped, false, nil
	}
	dek, err := v.Sealer.Open(wrapped, dekAAD(memberID))
	if err != nil {
		return nil, false, fmt.Errorf("member: unwrap data key: %w", err)
	}
	out, err := v.Sealer.Seal(dek, dekAAD(memberID))
	clear(dek)
	if err != nil {
		return nil, false, fmt.Errorf("member: wrap data key: %w", err)
	}
	v.Cache.Forget(memberID)
	return out, true, nil
}

// Forget drops the member's data key from this node's cache: call it when
// the member is deleted.
func (v *Vault) Forget(memberID string) { v.Cache.Forget(memberID) }

// aead returns the member's data key, ready to use.
func (v *Vault) aead(memberID string, wrapped []byte) (cipher.AEAD, error) {
	if len(wrapped) == 0 {
		return nil, ErrNoDataKey
	}
	if a := v.Cache.get(memberID, wrapped); a != nil {
		return a, nil
	}
	dek, err := v.Sealer.Open(wrapped, dekAAD(memberID))
	if err != nil {
		return nil, fmt.Errorf("member: unwrap data key: %w", err)
	}
	a, err := newAEAD(dek)
	clear(dek)
	if err != nil {
		return nil, err
	}
	v.Cache.put(memberID, wrapped, a)
	return a, nil
}

func newAEAD(dek []byte) (cipher.AEAD, error) {
	if len(dek) != DataKeySize {
		return nil, fmt.Errorf("%w (data key is %d bytes)", ErrCorrupt, len(dek))
	}
	block, err := aes.NewCipher(dek)
	if err != nil {
		return nil, fmt.Errorf("member: data key: %w", err)
	}
	return cipher.NewGCM(block)
}

// SealProfile seals p, which should be normalised, for the member: one
// blob for each of Groups(), to be stored as they are.
func (v *Vault) SealProfile(memberID string, wrappedDEK []byte, p Profile) (map[string][]byte, error) {
	return v.SealGroups(memberID, wrappedDEK, p, Groups()...)
}

// SealGroups seals only the named groups of p (when only the phone
// changed, say).
func (v *Vault) SealGroups(memberID string, wrappedDEK []byte, p Profile, groups ...string) (map[string][]byte, error) {
	a, err := v.aead(memberID, wrappedDEK)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(groups))
	for _, g := range groups {
		pt, err := encodeGroup(g, &p)
		if err != nil {
			return nil, err
		}
		blob := make([]byte, 1+nonceSize, 1+nonceSize+len(pt)+a.Overhead())
		blob[0] = blobVersion
		if _, err := rand.Read(blob[1:]); err != nil {
			return nil, fmt.Errorf("member: seal: %w", err)
		}
		out[g] = a.Seal(blob, blob[1:], pt, blobAAD(memberID, g, blob[0]))
		clear(pt)
	}
	return out, nil
}

// OpenProfile opens every group in blobs. A group missing from blobs is
// left empty in the result (a member stored before the group existed).
func (v *Vault) OpenProfile(memberID string, wrappedDEK []byte, blobs map[string][]byte) (Profile, error) {
	return v.OpenGroups(memberID, wrappedDEK, blobs, Groups()...)
}

// OpenGroups opens only the named groups, and leaves the other fields of
// the result empty: a reader with the phone scope never decrypts the
// address.
func (v *Vault) OpenGroups(memberID string, wrappedDEK []byte, blobs map[string][]byte, groups ...string) (Profile, error) {
	var p Profile
	for _, g := range groups {
		if !validGroup(g) {
			return Profile{}, fmt.Errorf("%w %q", ErrUnknownGroup, g)
		}
	}
	a, err := v.aead(memberID, wrappedDEK)
	if err != nil {
		return Profile{}, err
	}
	var buf []byte
	for _, g := range groups {
		blob, ok := blobs[g]
		if !ok {
			continue
		}
		if len(blob) < 1+nonceSize+a.Overhead() || blob[0] != blobVersion {
			return Profile{}, fmt.Errorf("%w (group %s: malformed)", ErrCorrupt, g)
		}
		buf, err = a.Open(buf[:0], blob[1:1+nonceSize], blob[1+nonceSize:], blobAAD(memberID, g, blob[0]))
		if err != nil {
			return Profile{}, fmt.Errorf("%w (group %s)", ErrCorrupt, g)
		}
		if err := decodeGroup(g, buf, &p); err != nil {
			return Profile{}, err
		}
	}
	clear(buf)
	return p, nil
}

const (
	blobVersion = 1
	nonceSize   = 12
	padTo       = 64
)

// blobAAD binds a blob to its member, group and format version. Group
// names hold no ":", so the split is unambiguous.
func blobAAD(memberID, group string, version byte) []byte {
	b := make([]byte, 0, len(memberID)+len(group)+2)
	b = append(b, memberID...)
	b = append(b, ':')
	b = append(b, group...)
	return append(b, version)
}

func validGroup(g string) bool {
	switch g {
	case GroupName, GroupEmail, GroupPhone, GroupAddress, GroupBirthdate:
		return true
	}
	return false
}

// groupFields lists the fields of group g in p, in their fixed order. New
// fields are only ever appended: a blob sealed before holds fewer fields,
// and the missing ones decode as empty.
func groupFields(g string, p *Profile, a *Address) ([]*string, []*bool) {
	switch g {
	case GroupName:
		return []*string{&p.FamilyName, &p.GivenName, &p.FamilyNameKana, &p.GivenNameKana, &p.Nickname, &p.Locale, &p.Zoneinfo}, nil
	case GroupEmail:
		return []*string{&p.Email}, []*bool{&p.EmailVerified}
	case GroupPhone:
		return []*string{&p.Phone}, []*bool{&p.PhoneVerified}
	case GroupAddress:
		return []*string{&a.Country, &a.PostalCode, &a.Region, &a.Locality, &a.Street, &a.Building}, nil
	case GroupBirthdate:
		return []*string{&p.Birthdate}, nil
	}
	return nil, nil
}

// encodeGroup writes group g of p: a flag byte (bit 0: the group holds a
// value, so an empty address stays nil; bits 1…: the booleans), then each
// string field as a uvarint length and its bytes, then zero padding.
func encodeGroup(g string, p *Profile) ([]byte, error) {
	if !validGroup(g) {
		return nil, fmt.Errorf("%w %q", ErrUnknownGroup, g)
	}
	a := p.Address
	if a == nil {
		a = &Address{}
	}
	ss, bs := groupFields(g, p, a)
	var flags byte
	if g != GroupAddress || p.Address != nil {
		flags = 1
	}
	for i, b := range bs {
		if *b {
			flags |= 2 << i
		}
	}
	n := 1
	for _, s := range ss {
		n += binary.MaxVarintLen32 + len(*s)
	}
	out := make([]byte, 0, n+padTo)
	out = append(out, flags)
	for _, s := range ss {
		out = binary.AppendUvarint(out, uint64(len(*s)))
		out = append(out, *s...)
	}
	for len(out)%padTo != 0 {
		out = append(out, 0)
	}
	return out, nil
}

// decodeGroup reads group g into p. Extra fields (from a newer version)
// and padding (zero-length fields) are ignored.
func decodeGroup(g string, b []byte, p *Profile) error {
	if len(b) == 0 {
		return fmt.Errorf("%w (group %s: empty)", ErrCorrupt, g)
	}
	var a Address
	ss, bs := groupFields(g, p, &a)
	flags := b[0]
	b = b[1:]
	for i, bp := range bs {
		*bp = flags&(2<<i) != 0
	}
	for _, s := range ss {
		if len(b) == 0 {
			break
		}
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return fmt.Errorf("%w (group %s: bad encoding)", ErrCorrupt, g)
		}
		*s = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	if g == GroupAddress {
		if flags&1 != 0 {
			p.Address = &a
		} else {
			p.Address = nil
		}
	}
	return nil
}
