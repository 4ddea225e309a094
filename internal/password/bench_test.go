package password

import (
	"context"
	"testing"

	"golang.org/x/crypto/argon2"
)

// The three benchmarks below run at DefaultParams with b.RunParallel
// (GOMAXPROCS goroutines), so one `go test -bench` run shows what the
// Hasher adds to the bare argon2id cost: ns/op of BenchmarkHasherHash or
// BenchmarkHasherVerify divided by that of BenchmarkArgon2Bare.

const benchPassword = "correct horse battery staple"

func BenchmarkArgon2Bare(b *testing.B) {
	salt := []byte("0123456789abcdef")
	p := DefaultParams
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			argon2.IDKey([]byte(benchPassword), salt, p.Iterations, p.Memory, p.Parallelism, keyLen)
		}
	})
}

func benchHasher(b *testing.B) *Hasher {
	h, err := NewHasher(Options{})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func BenchmarkHasherHash(b *testing.B) {
	h := benchHasher(b)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash(ctx, benchPassword); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkHasherVerify(b *testing.B) {
	h := benchHasher(b)
	ctx := context.Background()
	enc, err := h.Hash(ctx, benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := h.Verify(ctx, benchPassword, enc); !ok || err != nil {
				b.Error("verify failed", err)
				return
			}
		}
	})
}
