package member

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Service keeps member profiles: normalised, sealed under each member's
// data key in the durable store, and found by blind index.
type Service struct {
	Store store.ProfileStore
	Vault *Vault
	Index BlindIndex
	Now   func() time.Time // nil means time.Now
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Get returns the member's profile (empty when they have none yet),
// opening only the groups asked for (all when none are named).
func (s *Service) Get(ctx context.Context, userID string, groups ...string) (Profile, error) {
	rec, err := s.Store.GetProfile(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return Profile{}, nil
	}
	if err != nil {
		return Profile{}, err
	}
	if len(groups) == 0 {
		return s.Vault.OpenProfile(userID, rec.WrappedKey, rec.Blobs)
	}
	return s.Vault.OpenGroups(userID, rec.WrappedKey, rec.Blobs, groups...)
}

// Put normalises and validates p (every problem at once, as Problems) and
// stores it sealed, keeping the member's data key. The email is not part
// of it: the account owns it. A phone number another member holds gets
// KAI-PROFILE-014.
func (s *Service) Put(ctx context.Context, userID string, p Profile) (Profile, error) {
	p.Email, p.EmailVerified = "", false
	p, err := Normalize(p)
	if err != nil {
		return p, err
	}
	rec, err := s.Store.GetProfile(ctx, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		rec = store.SealedProfile{UserID: userID}
		if rec.WrappedKey, err = s.Vault.NewDataKey(userID); err != nil {
			return p, err
		}
	case err != nil:
		return p, err
	default:
		// A phone number keeps its verified flag only while it stays the same.
		if old, err := s.Vault.OpenGroups(userID, rec.WrappedKey, rec.Blobs, GroupPhone); err == nil && old.Phone == p.Phone {
			p.PhoneVerified = old.PhoneVerified
		} else {
			p.PhoneVerified = false
		}
	}
	if rec.Blobs, err = s.Vault.SealProfile(userID, rec.WrappedKey, p); err != nil {
		return p, err
	}
	rec.UpdatedAt = s.now()
	phone := ""
	if p.Phone != "" {
		phone = s.Index.Phone(p.Phone)
	}
	err = s.Store.PutProfile(ctx, rec, map[string]string{"phone": phone})
	if errors.Is(err, store.ErrAlreadyExists) {
		return p, Problems{errcode.New(errcode.ProfilePhoneTaken, FieldPhone)}
	}
	if err != nil {
		return p, fmt.Errorf("store profile: %w", err)
	}
	return p, nil
}

// FindByPhone returns the member whose profile holds this E.164 number.
func (s *Service) FindByPhone(ctx context.Context, e164 string) (string, error) {
	return s.Store.LookupMember(ctx, "phone", s.Index.Phone(e164))
}

// Delete destroys the member's profile for good: the wrapped data key goes
// with it, so every sealed copy (backups included) is unreadable.
func (s *Service) Delete(ctx context.Context, userID string) error {
	if err := s.Store.DeleteProfile(ctx, userID); err != nil {
		return err
	}
	s.Vault.Forget(userID)
	return nil
}
