// Package ratelimit counts attempts per subject (a client IP, an account) in
// fixed windows kept in the hot state, so that a limit holds across every
// node.
package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/kaiin-project/kaiin/internal/state"
)

// Rate allows N events per window Per. The zero Rate allows everything.
type Rate struct {
	N   int
	Per time.Duration
}

// Off reports whether the rate limits nothing.
func (r Rate) Off() bool { return r.N <= 0 || r.Per <= 0 }

// Limiter counts events in the hot state.
type Limiter struct {
	state state.State
	key   []byte // keys subjects, so no email or IP is stored in clear
}

// New returns a Limiter over st; key is a server secret used to hash
// subjects.
func New(st state.State, key []byte) *Limiter {
	return &Limiter{state: st, key: key}
}

// Allow counts one event of kind name for subject and reports whether it is
// within r. When it is not, retryAfter is an upper bound of the wait.
func (l *Limiter) Allow(ctx context.Context, name string, r Rate, subject string) (ok bool, retryAfter time.Duration, err error) {
	if r.Off() {
		return true, 0, nil
	}
	n, err := l.state.Incr(ctx, l.stateKey(name, subject), r.Per)
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", name, err)
	}
	if n > int64(r.N) {
		return false, r.Per, nil
	}
	return true, 0, nil
}

// Reset forgets the count of name for subject (after a successful sign-in,
// the account's failures no longer count).
func (l *Limiter) Reset(ctx context.Context, name, subject string) error {
	return l.state.Delete(ctx, l.stateKey(name, subject))
}

func (l *Limiter) stateKey(name, subject string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(subject))
	return "rl:" + name + ":" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}
