// Package state defines Kaiin's hot state: short-lived, TTL'd data shared by
// every node (browser sessions, one-time tokens, rate-limit counters, and
// later authorization codes and refresh-token families).
//
// A write that has returned is visible to every node's next read: backends
// read and write primaries only. Backends live in sub-packages and all pass
// the same conformance suite (statetest).
package state

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for a key that does not exist or has expired.
var ErrNotFound = errors.New("state: not found")

// State is a key-value store with expiry. Keys are short ASCII strings
// chosen by the caller (for example "sess:<hash>"); values are opaque bytes.
// A ttl must be positive. Every method is safe for concurrent use.
type State interface {
	// Set stores value under key for ttl, replacing any previous value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value only when key does not exist; it reports whether
	// it did. Used for replay prevention.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Get returns the value under key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Take returns the value under key and deletes it atomically: of many
	// concurrent callers exactly one receives it, the others ErrNotFound.
	Take(ctx context.Context, key string) ([]byte, error)
	// Delete removes the keys; missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// Expire sets a new ttl on an existing key, or returns ErrNotFound.
	Expire(ctx context.Context, key string, ttl time.Duration) error
	// Incr adds one to the counter under key and returns the new count. A
	// counter that did not exist starts at 1 and expires after window (a
	// fixed window; later increments do not extend it).
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	// SAdd adds member to the set under key and sets the set's ttl.
	SAdd(ctx context.Context, key, member string, ttl time.Duration) error
	// SMembers returns the members of the set (in no particular order), or
	// an empty slice when it does not exist.
	SMembers(ctx context.Context, key string) ([]string, error)
	// SRem removes members from the set; missing members are not an error.
	SRem(ctx context.Context, key string, members ...string) error

	// Ping reports whether the hot state is reachable.
	Ping(ctx context.Context) error
	Close() error
}
