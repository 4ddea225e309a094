// Package store defines Kaiin's durable store: members, credentials and the
// server secrets every node shares. Backends live in sub-packages and all
// pass the same conformance suite (storetest).
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every backend returns (wrapped or not; test with errors.Is).
var (
	ErrNotFound      = errors.New("store: not found")
	ErrAlreadyExists = errors.New("store: already exists")
)

// User is a member account.
type User struct {
	// ID is opaque, random and stable; it is never derived from the email.
	ID string
	// Email is the normalised address (see account.NormalizeEmail); unique.
	Email         string
	EmailVerified bool
	// PasswordHash is a PHC-format string ("$argon2id$v=19$m=…"), or empty
	// for an account without a password.
	PasswordHash string
	Admin        bool
	// Locale is the member's preferred language for mail ("ja" or "en").
	Locale            string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	PasswordChangedAt time.Time
}

// Store is the durable store. Every method is safe for concurrent use.
type Store interface {
	// CreateUser inserts u. It returns ErrAlreadyExists when the ID or the
	// email is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user with this ID, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByEmail returns the user with exactly this (normalised) email,
	// or ErrNotFound.
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// UpdateUser reads the user, calls update and writes its result, all in
	// one transaction, so that no concurrent update is lost. An error from
	// update aborts and is returned as is. Changing the email to one taken
	// by another user returns ErrAlreadyExists. The ID cannot change.
	UpdateUser(ctx context.Context, id string, update func(User) (User, error)) (User, error)
	// DeleteUser removes the user, or returns ErrNotFound.
	DeleteUser(ctx context.Context, id string) error
	// CountUsers returns the number of users, and how many are admins.
	CountUsers(ctx context.Context) (users, admins int64, err error)

	// GetOrCreateSecret returns the secret stored under name, creating it
	// with generate when it does not exist yet. Concurrent callers on any
	// node all receive the same value.
	GetOrCreateSecret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error)

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}
