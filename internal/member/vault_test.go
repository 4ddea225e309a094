package member

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/keys"
)

func newKEK(t testing.TB) []byte {
	k := make([]byte, keys.KEKSize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newSealer(t testing.TB, current []byte, previous ...[]byte) *keys.Sealer {
	s, err := keys.NewSealer(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var fullProfile = Profile{
	FamilyName: "山田", GivenName: "太郎", FamilyNameKana: "ヤマダ", GivenNameKana: "タロウ",
	Nickname: "たろちゃん", Email: "taro@example.com", EmailVerified: true,
	Phone: "+819012345678", PhoneVerified: true,
	Address: &Address{Country: "JP", PostalCode: "100-0001", Region: "東京都",
		Locality: "千代田区", Street: "千代田1-1", Building: "皇居ビル 101"},
	Birthdate: "1990-04-01", Locale: "ja-JP", Zoneinfo: "Asia/Tokyo",
}

func sealFor(t *testing.T, v *Vault, id string, p Profile) ([]byte, map[string][]byte) {
	t.Helper()
	w, err := v.NewDataKey(id)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := v.SealProfile(id, w, p)
	if err != nil {
		t.Fatal(err)
	}
	return w, blobs
}

func cloneBlobs(b map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range b {
		out[k] = bytes.Clone(v)
	}
	return out
}

func TestSealOpenRoundTrip(t *testing.T) {
	for _, cache := range []*DEKCache{nil, NewDEKCache(0, 0)} {
		v := &Vault{Sealer: newSealer(t, newKEK(t)), Cache: cache}
		for _, p := range []Profile{fullProfile, {}, {Phone: "+819012345678"}, {Address: &Address{Country: "US", Street: "1 Market St"}}} {
			w, blobs := sealFor(t, v, "m1", p)
			if len(blobs) != len(Groups()) {
				t.Fatalf("%d blobs", len(blobs))
			}
			got, err := v.OpenProfile("m1", w, blobs)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, p) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, p)
			}
			// No value appears in the sealed form.
			for g, b := range blobs {
				for _, s := range []string{"山田", "ヤマダ", "taro@", "9012345678", "100-0001", "千代田", "1990"} {
					if bytes.Contains(b, []byte(s)) {
						t.Errorf("blob %s holds %q in clear", g, s)
					}
				}
			}
		}
	}
}

func TestAnotherNodeOpens(t *testing.T) {
	kek := newKEK(t)
	a := &Vault{Sealer: newSealer(t, kek), Cache: NewDEKCache(0, 0)}
	b := &Vault{Sealer: newSealer(t, kek)}
	w, blobs := sealFor(t, a, "m1", fullProfile)
	got, err := b.OpenProfile("m1", w, blobs)
	if err != nil || !reflect.DeepEqual(got, fullProfile) {
		t.Fatalf("%+v, %v", got, err)
	}
}

func TestBlobSizeHidesLengths(t *testing.T) {
	v := &Vault{Sealer: newSealer(t, newKEK(t))}
	_, short := sealFor(t, v, "m1", Profile{FamilyName: "李"})
	_, long := sealFor(t, v, "m2", Profile{FamilyName: "寿限無寿限無", GivenName: "五劫の擦り切れ"})
	_, none := sealFor(t, v, "m3", Profile{})
	_, addr := sealFor(t, v, "m4", Profile{Address: &Address{Country: "JP", PostalCode: "100-0001"}})
	for _, g := range Groups() {
		if len(short[g]) != len(long[g]) || len(short[g]) != len(none[g]) {
			t.Errorf("group %s: sizes %d, %d, %d", g, len(short[g]), len(long[g]), len(none[g]))
		}
	}
	if len(none[GroupAddress]) != len(addr[GroupAddress]) {
		t.Errorf("whether there is an address shows in its size")
	}
}

func TestBlobsBoundToMemberAndGroup(t *testing.T) {
	v := &Vault{Sealer: newSealer(t, newKEK(t)), Cache: NewDEKCache(0, 0)}
	wa, blobsA := sealFor(t, v, "alice", fullProfile)
	wb, _ := sealFor(t, v, "bob", Profile{})

	// Alice's blobs in Bob's row: Bob's data key does not open them.
	if _, err := v.OpenProfile("bob", wb, blobsA); !errors.Is(err, ErrCorrupt) {
		t.Errorf("alice's blobs as bob's: %v", err)
	}
	// Alice's wrapped key and blobs both moved to Bob's row: the wrapped
	// key is bound to Alice.
	if _, err := (&Vault{Sealer: v.Sealer}).OpenProfile("bob", wa, blobsA); !errors.Is(err, keys.ErrCorrupt) {
		t.Errorf("alice's wrapped key as bob's: %v", err)
	}
	// Even under Alice's own data key, a blob opens only as Alice's: the
	// member ID is in the additional data.
	a, err := v.aead("alice", wa)
	if err != nil {
		t.Fatal(err)
	}
	c := NewDEKCache(0, 0)
	c.put("bob", wa, a)
	if _, err := (&Vault{Sealer: v.Sealer, Cache: c}).OpenProfile("bob", wa, blobsA); !errors.Is(err, ErrCorrupt) {
		t.Errorf("alice's blobs under alice's key as bob's: %v", err)
	}
	// A blob moved to another group's column does not open.
	for _, pair := range [][2]string{{GroupName, GroupAddress}, {GroupPhone, GroupEmail}, {GroupBirthdate, GroupName}} {
		swapped := cloneBlobs(blobsA)
		swapped[pair[0]], swapped[pair[1]] = swapped[pair[1]], swapped[pair[0]]
		if _, err := v.OpenProfile("alice", wa, swapped); !errors.Is(err, ErrCorrupt) {
			t.Errorf("swapped %v: %v", pair, err)
		}
	}
}

func TestTamperingFails(t *testing.T) {
	v := &Vault{Sealer: newSealer(t, newKEK(t))}
	w, blobs := sealFor(t, v, "m1", fullProfile)
	for _, g := range Groups() {
		for i := range blobs[g] {
			bad := cloneBlobs(blobs)
			bad[g][i] ^= 0x01
			if _, err := v.OpenProfile("m1", w, bad); err == nil {
				t.Fatalf("group %s: flipping byte %d went unnoticed", g, i)
			}
		}
		for _, n := range []int{0, 1, 13, 28, len(blobs[g]) - 1} {
			bad := cloneBlobs(blobs)
			bad[g] = bad[g][:n]
			if _, err := v.OpenProfile("m1", w, bad); !errors.Is(err, ErrCorrupt) {
				t.Errorf("group %s cut to %d bytes: %v", g, n, err)
			}
		}
	}
	for i := range w {
		bad := bytes.Clone(w)
		bad[i] ^= 0x80
		if _, err := v.OpenProfile("m1", bad, blobs); err == nil {
			t.Fatalf("flipping byte %d of the wrapped key went unnoticed", i)
		}
	}
}

func TestOpenGroupsOpensOnlyThose(t *testing.T) {
	v := &Vault{Sealer: newSealer(t, newKEK(t))}
	w, blobs := sealFor(t, v, "m1", fullProfile)
	// Damage every group but phone: OpenGroups(phone) must not touch them.
	bad := cloneBlobs(blobs)
	for g := range bad {
		if g != GroupPhone {
			bad[g][len(bad[g])-1] ^= 1
		}
	}
	got, err := v.OpenGroups("m1", w, bad, GroupPhone)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Profile{Phone: fullProfile.Phone, PhoneVerified: true}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
	got, err = v.OpenGroups("m1", w, blobs, ScopeGroups([]string{"openid", "address"})...)
	if err != nil || got.Address == nil || *got.Address != *fullProfile.Address || got.FamilyName != "" || got.Email != "" {
		t.Errorf("address only: %+v, %v", got, err)
	}
	if _, err := v.OpenGroups("m1", w, blobs, "password"); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("unknown group: %v", err)
	}
	// A group missing from the row reads as empty.
	partial := cloneBlobs(blobs)
	delete(partial, GroupEmail)
	got, err = v.OpenProfile("m1", w, partial)
	if err != nil || got.Email != "" || got.EmailVerified || got.FamilyName != "山田" {
		t.Errorf("missing group: %+v, %v", got, err)
	}
	// SealGroups reseals one group alone, and it fits with the others.
	changed := fullProfile
	changed.Phone = "+81312345678"
	one, err := v.SealGroups("m1", w, changed, GroupPhone)
	if err != nil || len(one) != 1 {
		t.Fatalf("%v, %v", one, err)
	}
	partial = cloneBlobs(blobs)
	partial[GroupPhone] = one[GroupPhone]
	got, err = v.OpenProfile("m1", w, partial)
	if err != nil || got.Phone != "+81312345678" || got.FamilyName != "山田" {
		t.Errorf("after SealGroups: %+v, %v", got, err)
	}
}

func TestKEKRotation(t *testing.T) {
	k1, k2, k3 := newKEK(t), newKEK(t), newKEK(t)
	old := &Vault{Sealer: newSealer(t, k1)}
	w1, blobs := sealFor(t, old, "m1", fullProfile)

	// The new KEK is current, the old one previous: everything still opens.
	rot := &Vault{Sealer: newSealer(t, k2, k1), Cache: NewDEKCache(0, 0)}
	if got, err := rot.OpenProfile("m1", w1, blobs); err != nil || !reflect.DeepEqual(got, fullProfile) {
		t.Fatalf("previous KEK: %+v, %v", got, err)
	}
	w2, changed, err := rot.RewrapDataKey("m1", w1)
	if err != nil || !changed || bytes.Equal(w1, w2) || !rot.Sealer.SealedUnderCurrent(w2) {
		t.Fatalf("rewrap: %v, %v", changed, err)
	}
	w3, changed, err := rot.RewrapDataKey("m1", w2)
	if err != nil || changed || !bytes.Equal(w2, w3) {
		t.Fatalf("second rewrap: %v, %v", changed, err)
	}
	// The old KEK can now go: the blobs, untouched, open under the new one.
	only2 := &Vault{Sealer: newSealer(t, k2)}
	if got, err := only2.OpenProfile("m1", w2, blobs); err != nil || !reflect.DeepEqual(got, fullProfile) {
		t.Fatalf("after rotation: %+v, %v", got, err)
	}
	if _, err := only2.OpenProfile("m1", w1, blobs); !errors.Is(err, keys.ErrUnknownKEK) {
		t.Errorf("old wrapping without the old KEK: %v", err)
	}
	// A wrong KEK altogether.
	if _, err := (&Vault{Sealer: newSealer(t, k3)}).OpenProfile("m1", w2, blobs); !errors.Is(err, keys.ErrUnknownKEK) {
		t.Errorf("wrong KEK: %v", err)
	}
	// Rewrap checks the binding to the member too.
	if _, _, err := rot.RewrapDataKey("m2", w1); !errors.Is(err, keys.ErrCorrupt) {
		t.Errorf("rewrap as another member: %v", err)
	}
	if _, _, err := rot.RewrapDataKey("m1", nil); !errors.Is(err, ErrNoDataKey) {
		t.Errorf("rewrap nothing: %v", err)
	}
}

// Crypto-shredding: once the wrapped data key is gone, nothing opens the
// blobs: not the KEK, not a new data key for the same member, not the
// cache of the node that used it.
func TestCryptoShredding(t *testing.T) {
	kek := newKEK(t)
	v := &Vault{Sealer: newSealer(t, kek), Cache: NewDEKCache(0, 0)}
	w, blobs := sealFor(t, v, "m1", fullProfile)
	backup := cloneBlobs(blobs) // a backup taken before the deletion

	// Delete: the row's wrapped key is gone, and this node forgets it.
	w = nil
	v.Forget("m1")
	if _, err := v.OpenProfile("m1", w, backup); !errors.Is(err, ErrNoDataKey) {
		t.Errorf("without the data key: %v", err)
	}
	// A new data key for the same ID (the ID reused, or an attacker who
	// can write rows) does not open the old blobs.
	w2, err := v.NewDataKey("m1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.OpenProfile("m1", w2, backup); !errors.Is(err, ErrCorrupt) {
		t.Errorf("new data key: %v", err)
	}
	// Nor does any other node, with the KEK and no cache.
	if _, err := (&Vault{Sealer: newSealer(t, kek)}).OpenProfile("m1", w2, backup); !errors.Is(err, ErrCorrupt) {
		t.Errorf("another node: %v", err)
	}
	if len(w2) != 1+4+12+DataKeySize+16 {
		t.Errorf("wrapped data key is %d bytes", len(w2))
	}
}

func TestDEKCache(t *testing.T) {
	kek := newKEK(t)
	now := time.Unix(1_800_000_000, 0)
	c := NewDEKCache(3, time.Minute)
	c.now = func() time.Time { return now }
	v := &Vault{Sealer: newSealer(t, kek), Cache: c}
	w, blobs := sealFor(t, v, "m1", fullProfile)

	// A node without the KEK but sharing the cache opens from the cache
	// alone: proof that the key was cached and the KEK not used.
	nokek := &Vault{Sealer: newSealer(t, newKEK(t)), Cache: c}
	if _, err := nokek.OpenProfile("m1", w, blobs); err != nil {
		t.Fatalf("cached key not used: %v", err)
	}
	// The cached key is used only with the wrapped key it came from.
	other := bytes.Clone(w)
	other[len(other)-1] ^= 1
	if _, err := nokek.OpenProfile("m1", other, blobs); err == nil {
		t.Error("cache hit with another wrapped key")
	}
	if _, err := nokek.OpenProfile("m1", nil, blobs); !errors.Is(err, ErrNoDataKey) {
		t.Errorf("cache hit without a wrapped key: %v", err)
	}
	// It expires.
	now = now.Add(time.Minute)
	if _, err := nokek.OpenProfile("m1", w, blobs); !errors.Is(err, keys.ErrUnknownKEK) {
		t.Errorf("after TTL: %v", err)
	}
	if c.Len() != 0 {
		t.Errorf("expired entry kept: %d", c.Len())
	}
	// Forget.
	if _, err := v.OpenProfile("m1", w, blobs); err != nil {
		t.Fatal(err)
	}
	v.Forget("m1")
	if _, err := nokek.OpenProfile("m1", w, blobs); err == nil {
		t.Error("Forget did not forget")
	}
	// Bounded.
	for i := range 10 {
		if _, err := v.NewDataKey(string(rune('a' + i))); err != nil {
			t.Fatal(err)
		}
		if c.Len() > 3 {
			t.Fatalf("cache holds %d keys", c.Len())
		}
	}
	// A nil cache caches nothing and does not fail.
	var nc *DEKCache
	nc.Forget("x")
	if nc.Len() != 0 || nc.get("x", w) != nil {
		t.Error("nil cache")
	}
}

func TestVaultConcurrent(t *testing.T) {
	v := &Vault{Sealer: newSealer(t, newKEK(t)), Cache: NewDEKCache(8, time.Minute)}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "m" + string(rune('a'+i%12))
			w, err := v.NewDataKey(id)
			if err != nil {
				t.Error(err)
				return
			}
			for range 50 {
				blobs, err := v.SealProfile(id, w, fullProfile)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := v.OpenProfile(id, w, blobs)
				if err != nil || got.FamilyName != "山田" {
					t.Error(got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestGroupEncodingTolerant(t *testing.T) {
	// Older blobs with fewer fields, and newer ones with more, decode.
	var p Profile
	if err := decodeGroup(GroupName, []byte{1, 3, 'a', 'b', 'c'}, &p); err != nil || p.FamilyName != "abc" || p.GivenName != "" {
		t.Errorf("fewer fields: %+v, %v", p, err)
	}
	long, _ := encodeGroup(GroupPhone, &Profile{Phone: "+81"})
	long = append(long, 2, 'x', 'y')
	p = Profile{}
	if err := decodeGroup(GroupPhone, long, &p); err != nil || p.Phone != "+81" {
		t.Errorf("more fields: %+v, %v", p, err)
	}
	for _, b := range [][]byte{{}, {1, 5, 'a'}, {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if err := decodeGroup(GroupName, b, &p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%v: %v", b, err)
		}
	}
	if _, err := encodeGroup("password", &p); !errors.Is(err, ErrUnknownGroup) {
		t.Error(err)
	}
}

func TestNewDataKeyNeedsID(t *testing.T) {
	v := &Vault{Sealer: newSealer(t, newKEK(t))}
	if _, err := v.NewDataKey(""); err == nil || !strings.Contains(err.Error(), "member ID") {
		t.Error(err)
	}
}

// The benchmarks compare reading a member sealed (unwrap the data key or
// find it cached, open five AES-GCM blobs, decode) with reading the same
// profile stored as plain JSON.

func benchSetup(b *testing.B, cache *DEKCache) (*Vault, []byte, map[string][]byte) {
	v := &Vault{Sealer: newSealer(b, newKEK(b)), Cache: cache}
	w, err := v.NewDataKey("m1")
	if err != nil {
		b.Fatal(err)
	}
	blobs, err := v.SealProfile("m1", w, fullProfile)
	if err != nil {
		b.Fatal(err)
	}
	return v, w, blobs
}

func BenchmarkOpenProfile(b *testing.B) {
	v, w, blobs := benchSetup(b, NewDEKCache(0, 0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.OpenProfile("m1", w, blobs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenProfileUncached unwraps the data key every time: the cost
// of a member not read in the last minute.
func BenchmarkOpenProfileUncached(b *testing.B) {
	v, w, blobs := benchSetup(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.OpenProfile("m1", w, blobs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenGroupsPhone is a reader with the phone scope only.
func BenchmarkOpenGroupsPhone(b *testing.B) {
	v, w, blobs := benchSetup(b, NewDEKCache(0, 0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.OpenGroups("m1", w, blobs, GroupPhone); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlainProfile(b *testing.B) {
	raw, err := json.Marshal(fullProfile)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var p Profile
		if err := json.Unmarshal(raw, &p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeGroups is OpenProfile without the cryptography: the
// group encoding alone, to separate the cost of AES-GCM from that of the
// format.
func BenchmarkDecodeGroups(b *testing.B) {
	var pts [][]byte
	for _, g := range Groups() {
		pt, _ := encodeGroup(g, &fullProfile)
		pts = append(pts, pt)
	}
	groups := Groups()
	b.ReportAllocs()
	for b.Loop() {
		var p Profile
		for i, g := range groups {
			if err := decodeGroup(g, pts[i], &p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkSealProfile(b *testing.B) {
	v, w, _ := benchSetup(b, NewDEKCache(0, 0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.SealProfile("m1", w, fullProfile); err != nil {
			b.Fatal(err)
		}
	}
}
